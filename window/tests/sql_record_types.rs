//! KDA's "Example: Streaming Source With Multiple Record Types" verbatim
//! (`tests/golden/multiple_record_types.kda.sql`, the guide's two sample records plus generated
//! orders and trades, the schema `--discover` gives them): two pumps split the source into
//! `Order_Stream` and `Trade_Stream`, a third counts trades per ticker and minute into
//! `DESTINATION_SQL_STREAM`, the output; `Order_Stream` reaches no output and is left out.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::run_window;
use kds_window::sql::{parse_app, Application};
use serde_json::Value;

const SQL: &str = include_str!("golden/multiple_record_types.kda.sql");
const INPUT: &str = include_str!("golden/multiple_record_types.input.ndjson");

fn golden(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

#[test]
fn the_output_is_destination_sql_stream_and_the_other_branch_is_left_out() {
    let Application::Windowed(plan) = parse_app(SQL).unwrap() else {
        panic!("the last pump groups by a window");
    };
    assert_eq!(plan.destination, "DESTINATION_SQL_STREAM");
    let upstream: Vec<&str> = plan.upstream.iter().map(|p| p.pump.as_str()).collect();
    assert_eq!(upstream, ["Trade_Pump"]);
}

#[test]
fn trades_are_counted_per_ticker() {
    let (sql, schema) = (
        golden("multiple_record_types.kda.sql"),
        golden("multiple_record_types.schema.json"),
    );
    let out = run_window(&["--sql", &sql, "--schema", &schema], INPUT);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Read by the wall clock: all in one ROWTIME minute, or in two when the run crosses a
    // minute's end; the counts per ticker add up either way.
    let mut got: BTreeMap<String, i64> = BTreeMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let r: Value = serde_json::from_str(line).unwrap();
        *got.entry(r["ticker"].as_str().unwrap().to_string())
            .or_default() += r["trade_count"].as_i64().unwrap();
    }
    let mut want: BTreeMap<String, i64> = BTreeMap::new();
    for line in INPUT.lines() {
        let r: Value = serde_json::from_str(line).unwrap();
        if r["RecordType"] == "Trade" {
            *want
                .entry(r["Tticker"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
    }
    assert!(!want.is_empty());
    assert_eq!(got, want);
}

#[test]
fn several_outputs_without_destination_sql_stream_are_still_refused() {
    let renamed = SQL.replace("DESTINATION_SQL_STREAM", "TRADE_COUNTS");
    let err = parse_app(&renamed).unwrap_err().to_string();
    assert!(err.contains("unsupported a second output stream"), "{err}");
}
