//! `--explain-flink` output against reviewed golden files, and schema discovery on kds-gen-like
//! lines. Regenerate a golden file after an intended change with
//! `UPDATE_GOLDEN=1 cargo test -p kds-window --test sql_flink` and review the diff.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::path::PathBuf;

use kds_window::sql::{discover_wide, explain_flink, parse_sql, FlinkOptions, Schema, SqlType};

const LAB_SQL: &str = include_str!("golden/lab1.kda.sql");

/// Lines as kds-gen writes them (gen/README.md).
const GEN_LINES: &[&str] = &[
    r#"{"tid":"1","tno":"AwGi20210319131548","tdate":"2021-03-19","uno":"U1030","pno":"P1002","tnum":10,"tuptime":"2021-03-19T13:15:48Z"}"#,
    r#"{"tid":"2","tno":"QxZb20210319131549","tdate":"2021-03-19","uno":"U1004","pno":"P1007","tnum":3,"tuptime":"2021-03-19T13:15:49Z"}"#,
    r#"{"tid":"3","tno":"KkLm20210319131550","tdate":"2021-03-19","uno":"U1111","pno":"P1000","tnum":97,"tuptime":"2021-03-19T13:15:50Z"}"#,
];

fn golden(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

fn check_golden(name: &str, got: &str) {
    let path = golden(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, got).unwrap();
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    assert_eq!(
        got,
        want,
        "{} differs from the output; review and regenerate with UPDATE_GOLDEN=1",
        path.display()
    );
}

#[test]
fn discovery_on_generator_lines_gives_the_trade_types() {
    let s = discover_wide(GEN_LINES);
    let got: Vec<(&str, SqlType, &str)> = s
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.sql_type, c.mapping.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("tid", SqlType::Varchar(1), "$.tid"),
            ("tno", SqlType::Varchar(32), "$.tno"),
            ("tdate", SqlType::Varchar(16), "$.tdate"),
            ("uno", SqlType::Varchar(8), "$.uno"),
            ("pno", SqlType::Varchar(8), "$.pno"),
            ("tnum", SqlType::Integer, "$.tnum"),
            ("tuptime", SqlType::Timestamp, "$.tuptime"),
        ]
    );
}

#[test]
fn lab_query_explains_as_the_golden_flink_sql() {
    let plan = parse_sql(LAB_SQL).unwrap();
    let schema = discover_wide(GEN_LINES);
    let sql = explain_flink(&plan, &schema, &FlinkOptions::default()).unwrap();
    check_golden("lab1.flink.sql", &sql);
    // The parts the migration guide promises.
    for part in [
        "'connector' = 'kinesis'",
        "'stream.arn' = 'arn:aws:kinesis:us-east-1:123456789012:stream/kds-lab1'",
        "'aws.region' = 'us-east-1'",
        "'format' = 'json'",
        "`proctime` AS PROCTIME()",
        "TUMBLE(TABLE `SOURCE_SQL_STREAM_001`, DESCRIPTOR(`proctime`), INTERVAL '60' SECOND)",
        "GROUP BY window_start, window_end;",
    ] {
        assert!(sql.contains(part), "missing {part}:\n{sql}");
    }
}

#[test]
fn event_time_grouped_filtered_query_explains_as_golden() {
    let sql = include_str!("golden/event_time_by_product.kda.sql");
    let plan = parse_sql(sql).unwrap();
    let out = explain_flink(&plan, &Schema::trade_events(), &FlinkOptions::default()).unwrap();
    check_golden("event_time_by_product.flink.sql", &out);
    assert!(out.contains("WATERMARK FOR `tuptime`"), "{out}");
    assert!(
        out.contains("DESCRIPTOR(`tuptime`), INTERVAL '5' MINUTE"),
        "{out}"
    );
}

#[test]
fn explain_flink_translates_pumps_without_group_by_and_says_why_not_where_it_cannot() {
    use kds_window::sql::{explain_app, parse_app, parse_schema_json, FlinkOptions};
    let demo = parse_schema_json(include_str!("golden/demo_stream.schema.json")).unwrap();
    let explain = |sql: &str, schema: &kds_window::sql::Schema| {
        explain_app(&parse_app(sql).unwrap(), schema, &FlinkOptions::default())
    };
    let alerts = explain(include_str!("golden/simple_alerts.kda.sql"), &demo).unwrap();
    assert!(alerts.contains("`proctime` AS PROCTIME()"), "{alerts}");
    assert!(
        alerts.contains(
            "  CAST(`proctime` AS TIMESTAMP(3)) AS `ROWTIME`,\n  CAST(`TICKER_SYMBOL` AS STRING) AS `ticker_symbol`,"
        ),
        "{alerts}"
    );
    assert!(
        alerts.contains("FROM `SOURCE_SQL_STREAM_001`\nWHERE ((ABS((`CHANGE` / (`PRICE` - `CHANGE`))) * 100) > 1);"),
        "{alerts}"
    );
    let sliding = explain(include_str!("golden/sliding_range.kda.sql"), &demo).unwrap();
    assert!(
        sliding.contains("CAST(MIN(`PRICE`) OVER (PARTITION BY `TICKER_SYMBOL` ORDER BY `proctime` RANGE BETWEEN INTERVAL '60' SECOND(2) PRECEDING AND CURRENT ROW) AS DOUBLE) AS `Min_Price`"),
        "{sliding}"
    );
    let dates = parse_schema_json(include_str!("golden/transforming_dates.schema.json")).unwrap();
    let refusals = [(
        include_str!("golden/stagger.kda.sql"),
        &dates,
        "stagger windows (Flink has no window that opens per key)",
    )];
    for (sql, schema, why) in refusals {
        let err = explain(sql, schema).unwrap_err().to_string();
        assert!(
            err.contains("--explain-flink does not translate") && err.contains(why),
            "{err}"
        );
    }
}
