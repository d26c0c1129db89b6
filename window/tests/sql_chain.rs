//! In-application streams chained by pumps: pump 1 writes `STREAM_A`, pump 2 reads it into
//! `DESTINATION_SQL_STREAM` ("In-Application Streams and Pumps", KDA SQL Developer Guide).

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use common::{json_rows as rows, run_window as run};
use kds_window::sql::{parse_app, Application};
use serde_json::{json, Value};

/// Pump 1 parses the event time from text and computes the change in percent (dropping
/// records without a price); pump 2 counts the large changes per ticker and event-time minute.
const CHAIN_TO_WINDOW: &str = r#"
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (ticker VARCHAR(4), minute TIMESTAMP, alerts INTEGER, max_pct DOUBLE);
CREATE OR REPLACE STREAM "STREAM_A" (ticker VARCHAR(4), event_time TIMESTAMP, pct DOUBLE);
CREATE OR REPLACE PUMP "PUMP_B" AS INSERT INTO "DESTINATION_SQL_STREAM"
  SELECT STREAM ticker, FLOOR(event_time TO MINUTE), COUNT(*), MAX(pct)
  FROM "STREAM_A"
  WHERE ABS(pct) > 1
  GROUP BY ticker, FLOOR(event_time TO MINUTE);
CREATE OR REPLACE PUMP "PUMP_A" AS INSERT INTO "STREAM_A"
  SELECT STREAM UPPER(sym), CHAR_TO_TIMESTAMP('dd/MM/yyyy HH:mm:ss', "when"), change / (price - change) * 100
  FROM "SOURCE_SQL_STREAM_001"
  WHERE price IS NOT NULL;
"#;

#[test]
fn a_per_row_pump_feeds_a_windowed_pump() {
    let input = [
        // 2 / 48 = 4.2 %: counted in 10:00.
        r#"{"sym":"aaa","when":"27/01/2026 10:00:05","change":2.0,"price":50.0}"#,
        // 0.5 %: not counted.
        r#"{"sym":"aaa","when":"27/01/2026 10:00:30","change":0.25,"price":50.25}"#,
        // -5 / 105 = -4.8 %: counted, its max is the other one's.
        r#"{"sym":"aaa","when":"27/01/2026 10:00:59","change":-5.0,"price":100.0}"#,
        // No price: dropped by pump 1.
        r#"{"sym":"bbb","when":"27/01/2026 10:00:10","change":9}"#,
        // 10 / 10 = 100 % in the next minute.
        r#"{"sym":"bbb","when":"27/01/2026 10:01:00","change":10.0,"price":20.0}"#,
    ]
    .join("\n");
    let dir = tempfile::tempdir().unwrap();
    let sql = dir.path().join("app.sql");
    std::fs::write(&sql, CHAIN_TO_WINDOW).unwrap();
    let got = rows(&run(&["--sql", sql.to_str().unwrap()], input));
    let picked: Vec<Value> = got
        .iter()
        .map(|r| json!([r["ticker"], r["minute"], r["alerts"], r["max_pct"]]))
        .collect();
    let pct = |c: f64, p: f64| c / (p - c) * 100.0;
    assert_eq!(
        picked,
        vec![
            json!(["AAA", "2026-01-27T10:00:00.000Z", 2, pct(2.0, 50.0)]),
            json!(["BBB", "2026-01-27T10:01:00.000Z", 1, pct(10.0, 20.0)]),
        ],
        "{got:?}"
    );
}

#[test]
fn per_row_pumps_chain_and_convert_to_each_streams_types() {
    let sql = r#"
CREATE OR REPLACE STREAM "CHANGE_STREAM" (ticker_symbol VARCHAR(2), change INTEGER);
CREATE OR REPLACE PUMP "change_pump" AS INSERT INTO "CHANGE_STREAM"
  SELECT STREAM ticker_symbol, change FROM "SOURCE_SQL_STREAM_001";
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (t VARCHAR(8), doubled INTEGER);
CREATE OR REPLACE PUMP "out_pump" AS INSERT INTO "DESTINATION_SQL_STREAM"
  SELECT STREAM ticker_symbol || '!', change * 2 FROM "CHANGE_STREAM" WHERE change > 1 AND change < 100;
"#;
    let input = [
        r#"{"ticker_symbol":"ABCD","change":5}"#,
        r#"{"ticker_symbol":"EFGH","change":1}"#,
        // A string that converts to CHANGE_STREAM's INTEGER.
        r#"{"ticker_symbol":"IJKL","change":"7"}"#,
        r#"{"ticker_symbol":"MNOP","change":500}"#,
        // Not an integer: CHANGE_STREAM's column sends it to the error stream.
        r#"{"ticker_symbol":"QRST","change":2.5}"#,
    ]
    .join("\n");
    let out = run(&["--sql", sql], input);
    let got: Vec<Value> = rows(&out)
        .iter()
        .map(|r| json!([r["t"], r["doubled"]]))
        .collect();
    // VARCHAR(2) in the middle stream cuts the ticker before pump 2 appends to it.
    assert_eq!(got, vec![json!(["AB!", 10]), json!(["IJ!", 14])]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 5: to the error stream: column CHANGE: 2.5"),
        "{stderr}"
    );
}

#[test]
fn chains_that_are_not_one_line_are_refused() {
    let err = |sql: &str| parse_app(sql).unwrap_err().to_string();
    let two_outputs = r#"CREATE STREAM "A" (x INTEGER); CREATE STREAM "B" (x INTEGER);
CREATE PUMP "P1" AS INSERT INTO "A" SELECT STREAM x FROM "SOURCE_SQL_STREAM_001";
CREATE PUMP "P2" AS INSERT INTO "B" SELECT STREAM x FROM "SOURCE_SQL_STREAM_001";"#;
    assert!(
        err(two_outputs).starts_with("line 3, column 33: unsupported a second output stream"),
        "{}",
        err(two_outputs)
    );
    let grouped_first = r#"CREATE STREAM "A" (n INTEGER); CREATE STREAM "B" (n INTEGER);
CREATE PUMP "P1" AS INSERT INTO "A" SELECT STREAM COUNT(*) FROM "SOURCE_SQL_STREAM_001"
  GROUP BY STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '60' SECOND);
CREATE PUMP "P2" AS INSERT INTO "B" SELECT STREAM n FROM "A";"#;
    // A GROUP BY pump feeds pumps without GROUP BY ("Aggregating Partial Results"), not
    // another GROUP BY pump.
    let Ok(kds_window::sql::Application::Windowed(plan)) = parse_app(grouped_first) else {
        panic!("a GROUP BY pump feeding a per-row pump parses as a windowed application");
    };
    assert_eq!(plan.downstream.len(), 1);
    let grouped_twice = grouped_first.replace(
        r#"SELECT STREAM n FROM "A";"#,
        r#"SELECT STREAM SUM(n) FROM "A" GROUP BY STEP("A".ROWTIME BY INTERVAL '60' SECOND);"#,
    );
    assert!(
        err(&grouped_twice)
            .contains("unsupported a GROUP BY or stagger pump reading a GROUP BY pump's stream"),
        "{}",
        err(&grouped_twice)
    );
    let circle = r#"CREATE STREAM "A" (x INTEGER); CREATE STREAM "B" (x INTEGER);
CREATE PUMP "P1" AS INSERT INTO "A" SELECT STREAM x FROM "B";
CREATE PUMP "P2" AS INSERT INTO "B" SELECT STREAM x FROM "A";"#;
    assert!(err(circle).contains("in a circle"), "{}", err(circle));
    let undeclared = r#"CREATE STREAM "B" (x INTEGER);
CREATE PUMP "P1" AS INSERT INTO "A" SELECT STREAM x FROM "SOURCE_SQL_STREAM_001";
CREATE PUMP "P2" AS INSERT INTO "B" SELECT STREAM x FROM "A";"#;
    assert!(
        err(undeclared).starts_with("line 2, column 33: stream \"A\" is not declared"),
        "{}",
        err(undeclared)
    );
    // The chain parses into the last pump with the first in front of it.
    let Application::Windowed(plan) = parse_app(CHAIN_TO_WINDOW).unwrap() else {
        panic!("a windowed application")
    };
    assert_eq!(plan.source, "STREAM_A");
    assert_eq!(plan.upstream.len(), 1);
    assert_eq!(plan.upstream[0].destination, "STREAM_A");
    let names: Vec<&str> = plan.upstream[0]
        .columns
        .iter()
        .map(|(n, _, _)| n.as_str())
        .collect();
    assert_eq!(names, ["TICKER", "EVENT_TIME", "PCT"]);
}
