//! Per-row pumps: KDA's "Example: Creating Simple Alerts" runs verbatim against the demo
//! stream's discovered schema and writes each record whose price changed by more than 1 %.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use common::run_window as run;
use serde_json::Value;

const SIMPLE_ALERTS_SQL: &str = include_str!("golden/simple_alerts.kda.sql");

/// The demo stream's schema as the tumbling-window page prints it.
const DEMO_SCHEMA: &str = r#"[{"Name":"TICKER_SYMBOL","SqlType":"VARCHAR(4)"},{"Name":"SECTOR","SqlType":"VARCHAR(16)"},{"Name":"CHANGE","SqlType":"REAL"},{"Name":"PRICE","SqlType":"REAL"}]"#;

#[test]
fn the_simple_alerts_example_writes_each_record_over_one_percent() {
    let dir = tempfile::tempdir().unwrap();
    let sql = dir.path().join("alerts.sql");
    std::fs::write(&sql, SIMPLE_ALERTS_SQL).unwrap();
    let schema = dir.path().join("schema.json");
    std::fs::write(&schema, DEMO_SCHEMA).unwrap();
    let errors = dir.path().join("errors.ndjson");
    let input = [
        // 1.5 / 48.5 = 3.1 %: an alert.
        r#"{"TICKER_SYMBOL":"AAA","SECTOR":"TECHNOLOGY","CHANGE":1.5,"PRICE":50.0}"#,
        // 0.2 / 49.8 = 0.4 %: none.
        r#"{"TICKER_SYMBOL":"BBB","SECTOR":"ENERGY","CHANGE":0.2,"PRICE":50.0}"#,
        // |-2 / 42| = 4.8 %: an alert; the sector is cut to VARCHAR(16), no error.
        r#"{"TICKER_SYMBOL":"CCC","SECTOR":"TELECOMMUNICATIONS","CHANGE":-2,"PRICE":40}"#,
        // Not a number: the error stream.
        r#"{"TICKER_SYMBOL":"DDD","SECTOR":"RETAIL","CHANGE":"x","PRICE":10}"#,
        // Division by zero is NULL: not an alert.
        r#"{"TICKER_SYMBOL":"EEE","SECTOR":"RETAIL","CHANGE":0.5,"PRICE":0.5}"#,
        "not json",
        // A numeric string converts (REAL): 1 / 9 = 11 %.
        r#"{"TICKER_SYMBOL":"FFF","SECTOR":"HEALTHCARE","CHANGE":"1","PRICE":10}"#,
    ]
    .join("\n");
    let out = run(
        &[
            "--sql",
            sql.to_str().unwrap(),
            "--schema",
            schema.to_str().unwrap(),
            "--errors",
            errors.to_str().unwrap(),
        ],
        &input,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let mut got = Vec::new();
    for line in stdout.lines() {
        // Columns in the destination's order, after ROWTIME.
        let keys: Vec<&str> = line
            .split(&[',', '{'][..])
            .filter_map(|p| p.split_once("\":").map(|(k, _)| k.trim_matches('"')))
            .collect();
        assert_eq!(
            keys,
            ["ROWTIME", "ticker_symbol", "sector", "change", "price"],
            "{line}"
        );
        let v: Value = serde_json::from_str(line).unwrap();
        assert!(
            kds_common::time::parse_timestamp(v["ROWTIME"].as_str().unwrap().as_bytes()).is_some()
        );
        got.push((
            v["ticker_symbol"].as_str().unwrap().to_string(),
            v["sector"].as_str().unwrap().to_string(),
            v["change"].as_f64().unwrap(),
        ));
    }
    let want: Vec<(String, String, f64)> = [
        ("AAA", "TECHNOLOGY", 1.5),
        ("CCC", "TELECOMMUNICATIO", -2.0),
        ("FFF", "HEALTHCARE", 1.0),
    ]
    .iter()
    .map(|(t, s, c)| (t.to_string(), s.to_string(), *c))
    .collect();
    assert_eq!(got, want);
    let error_rows = std::fs::read_to_string(&errors).unwrap();
    assert_eq!(error_rows.lines().count(), 1, "{error_rows}");
    assert!(
        error_rows.contains("line 4: column CHANGE: \\\"x\\\" is not a number"),
        "{error_rows}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line 6: not valid JSON"), "{stderr}");
}

#[test]
fn a_pump_without_group_by_refuses_aggregates_and_window_flags() {
    let agg = "CREATE STREAM d (n INTEGER); CREATE PUMP p AS INSERT INTO d SELECT STREAM COUNT(*) FROM s;";
    let out = run(&["--sql", agg], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("query without GROUP BY"));
    let rows = "CREATE STREAM d (a INTEGER); CREATE PUMP p AS INSERT INTO d SELECT STREAM \"a\" FROM s WHERE \"a\" > 1;";
    let out = run(&["--sql", rows, "--emit-empty"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("need windows"));
    // Without a schema, fields are read as the JSON holds them.
    let out = run(&["--sql", rows], "{\"a\":1}\n{\"a\":5}\n{\"b\":9}\n");
    assert!(out.status.success());
    let got: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["a"], 5);
}
