//! The KDA SQL front end (`kds_window::sql`): arbitrary text. Lexing, parsing, binding (with and
//! without a schema), turning the plan into an engine query, explaining it as Flink SQL and
//! evaluating its WHERE clause on sample records return errors, never panic. The text is also
//! fed to the `--schema` JSON reader and to schema discovery.
#![no_main]

use kds_window::sql::cli::to_query;
use kds_window::sql::{
    bind, discover, eval_filter, explain_flink, parse_schema_json, parse_sql, FlinkOptions, Schema,
};
use libfuzzer_sys::fuzz_target;

const RECORDS: &[&str] = &[
    r#"{"tid":"123","tno":"AwGi20200904131249","tdate":"2021-03-19","uno":"U1030","pno":"P1002","tnum":10,"tuptime":"2021-03-19T13:15:48Z"}"#,
    r#"{"tnum":-9223372036854775808,"pno":null,"uno":"%_\\","tuptime":1616159748000,"a":{"b":[1,1.7e308]}}"#,
    r#"{"tnum":1.5,"pno":"P1","uno":"é✓","tuptime":"x"}"#,
    r#"{}"#,
];

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = parse_schema_json(&text);
    let _ = discover(text.lines());
    let Ok(plan) = parse_sql(&text) else {
        return;
    };
    let trades = Schema::trade_events();
    let opts = FlinkOptions {
        stream: "kds-lab1".into(),
        region: "us-east-1".into(),
        account_id: "123456789012".into(),
    };
    let _ = explain_flink(&plan, &trades, &opts);
    let records: Vec<serde_json::Value> = RECORDS
        .iter()
        .map(|r| serde_json::from_str(r).expect("valid sample record"))
        .collect();
    for schema in [None, Some(&trades)] {
        let Ok(bound) = bind(&plan, schema) else {
            continue;
        };
        let _ = to_query(&bound);
        if let Some(filter) = &bound.filter {
            for r in &records {
                eval_filter(filter, r);
            }
        }
    }
});
