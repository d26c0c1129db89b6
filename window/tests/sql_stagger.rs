//! Stagger windows, the guide's SQL verbatim: "Example: Stagger Window"
//! (`tests/golden/stagger.kda.sql`) on its twelve sample records, and the "Stagger Windows"
//! page's query with `FLOOR(EVENT_TIME TO MINUTE)` as a key (`tests/golden/stagger_floor.kda.sql`)
//! on its four records. Here every record is read within a moment, far less than the
//! one-minute range, so each key's window holds all of its records and closes when the input
//! ends; the guide's records arrive ten seconds apart and give the same counts.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use common::{json_rows, run_window as run};
use serde_json::{json, Value};

const STAGGER_SQL: &str = include_str!("golden/stagger.kda.sql");
const STAGGER_FLOOR_SQL: &str = include_str!("golden/stagger_floor.kda.sql");

fn run_sql(sql: &str, schema: &str, input: &str) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let sql_path = dir.path().join("app.sql");
    std::fs::write(&sql_path, sql).unwrap();
    let schema_path = dir.path().join("schema.json");
    std::fs::write(&schema_path, schema).unwrap();
    let out = run(
        &[
            "--sql",
            sql_path.to_str().unwrap(),
            "--schema",
            schema_path.to_str().unwrap(),
        ],
        input,
    );
    json_rows(&out)
}

#[test]
fn stagger_example_counts_each_ticker_and_event_time() {
    // The guide's twelve records: six AMZN, then six INTC.
    let input = include_str!("golden/stagger.input.ndjson");
    let schema = include_str!("golden/stagger.schema.json");
    let got = run_sql(STAGGER_SQL, schema, input);
    let picked: Vec<Value> = got
        .iter()
        .map(|r| json!([r["event_time"], r["ticker_symbol"], r["ticker_count"]]))
        .collect();
    assert_eq!(
        picked,
        vec![
            json!(["2018-08-01T20:17:20.797Z", "AMZN", 6]),
            json!(["2018-08-01T20:18:21.043Z", "INTC", 6]),
        ]
    );
    // Each row's ROWTIME is its window's close: one minute after the key's first record.
    for r in &got {
        assert!(
            kds_common::time::parse_timestamp(r["ROWTIME"].as_str().unwrap().as_bytes()).is_some()
        );
    }
}

#[test]
fn stagger_page_example_partitions_by_the_event_minute() {
    // The page's records (times of day only; the date is ours).
    let input = include_str!("golden/stagger_floor.input.ndjson");
    let schema = include_str!("golden/stagger_floor.schema.json");
    let got: Vec<Value> = run_sql(STAGGER_FLOOR_SQL, schema, input)
        .iter()
        .map(|r| json!([r["event_time"], r["ticker_symbol"], r["ticker_count"]]))
        .collect();
    // The page's result rows: 11:00:00 AMZN 3, 11:01:00 AMZN 1.
    assert_eq!(
        got,
        vec![
            json!(["2018-08-01T11:00:00.000Z", "AMZN", 3]),
            json!(["2018-08-01T11:01:00.000Z", "AMZN", 1]),
        ]
    );
}
