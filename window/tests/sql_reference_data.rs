//! "Example: Adding Reference Data to a Kinesis Data Analytics Application", its SQL verbatim
//! (`tests/golden/reference_data.kda.sql`) and its `TickerReference.csv`
//! (`tests/golden/reference_data.csv`), loaded with `--reference-data CompanyName=FILE`, on the
//! demo stream's records; an inner JOIN and a JSON table; the flag's and the JOIN's errors.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use std::collections::BTreeMap;

use common::{json_rows as rows, run_window as run};
use serde_json::{json, Value};

const SQL: &str = include_str!("golden/reference_data.kda.sql");
const DEMO_INPUT: &str = include_str!("golden/demo_stream.input.ndjson");
const DEMO_SCHEMA: &str = include_str!("golden/demo_stream.schema.json");

/// The guide's reference data: ticker → company.
fn companies() -> BTreeMap<&'static str, &'static str> {
    [
        ("AMZN", "Amazon"),
        ("ASD", "SomeCompanyA"),
        ("MMB", "SomeCompanyB"),
        ("WAS", "SomeCompanyC"),
    ]
    .into_iter()
    .collect()
}

/// Runs `sql` on the demo records with the demo schema and extra flags (paths in `dir`).
fn run_demo(sql: &str, extra: &[String]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let sql_path = dir.path().join("app.sql");
    std::fs::write(&sql_path, sql).unwrap();
    let schema_path = dir.path().join("schema.json");
    std::fs::write(&schema_path, DEMO_SCHEMA).unwrap();
    let mut args = vec![
        "--sql".to_string(),
        sql_path.display().to_string(),
        "--schema".to_string(),
        schema_path.display().to_string(),
    ];
    args.extend(extra.iter().cloned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(&args, DEMO_INPUT)
}

fn guide_table() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/golden/reference_data.csv"
    );
    format!("--reference-data=CompanyName={path}")
}

#[test]
fn left_join_names_the_company_of_each_known_ticker() {
    let got = rows(&run_demo(SQL, &[guide_table()]));
    let input: Vec<Value> = DEMO_INPUT
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // LEFT JOIN: every record, in order, with its company or NULL.
    assert_eq!(got.len(), input.len());
    let known = companies();
    let mut named = 0;
    for (row, record) in got.iter().zip(&input) {
        let ticker = record["TICKER_SYMBOL"].as_str().unwrap();
        assert_eq!(row["ticker_symbol"], json!(ticker));
        assert_eq!(row["sector"], record["SECTOR"]);
        match known.get(ticker) {
            Some(company) => {
                named += 1;
                assert_eq!(row["Company"], json!(company));
            }
            None => assert_eq!(row["Company"], Value::Null, "{row}"),
        }
    }
    assert!(named > 0, "the demo records hold known tickers");
}

#[test]
fn inner_join_keeps_only_records_with_a_row_and_reads_json_tables() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("companies.ndjson");
    let lines: String = companies()
        .iter()
        .map(|(t, c)| format!("{}\n", json!({"Ticker": t, "Company": c})))
        .collect();
    std::fs::write(&table, lines).unwrap();
    // The guide's SQL with JOIN for LEFT JOIN.
    let sql = SQL.replace("LEFT JOIN", "JOIN");
    let flag = format!("--reference-data=CompanyName={}", table.display());
    let got = rows(&run_demo(&sql, &[flag]));
    let expected = DEMO_INPUT
        .lines()
        .filter(|l| {
            let r: Value = serde_json::from_str(l).unwrap();
            companies().contains_key(r["TICKER_SYMBOL"].as_str().unwrap())
        })
        .count();
    assert!(expected > 0);
    assert_eq!(got.len(), expected);
    for row in &got {
        let ticker = row["ticker_symbol"].as_str().unwrap();
        assert_eq!(row["Company"], json!(companies()[ticker]));
    }
}

#[test]
fn a_missing_or_stray_table_and_unsupported_joins_are_usage_errors() {
    let cases: Vec<(String, Vec<String>, &str)> = vec![
        (
            SQL.to_string(),
            vec![],
            "give --reference-data CompanyName=FILE",
        ),
        (
            include_str!("golden/simple_alerts.kda.sql").to_string(),
            vec![guide_table()],
            "the SQL joins no reference table",
        ),
        (
            SQL.replace(
                "\"c\".\"Ticker\";",
                "\"c\".\"Ticker\"\n   WHERE \"c\".\"Company\" IS NOT NULL;",
            ),
            vec![guide_table()],
            "a reference table's column in WHERE",
        ),
        (
            SQL.replace("LEFT JOIN", "RIGHT JOIN"),
            vec![guide_table()],
            "RIGHT JOIN",
        ),
        (
            SQL.to_string(),
            vec!["--reference-data=CompanyName=/nonexistent/t.csv".to_string()],
            "--reference-data CompanyName: reading /nonexistent/t.csv",
        ),
    ];
    for (sql, flags, message) in cases {
        let out = run_demo(&sql, &flags);
        assert_eq!(out.status.code(), Some(2), "{sql}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(message), "{message}: {err}");
    }
}

/// A JOIN no pump takes is refused, not dropped: in the top-K pump, in a pump reading a GROUP BY
/// pump's stream, and a second JOIN in the application (an upstream pump's and the last one's).
#[test]
fn a_join_no_pump_takes_is_a_usage_error_not_dropped() {
    let cases = [
        (
            r#"CREATE OR REPLACE STREAM DESTINATION_SQL_STREAM (ITEM VARCHAR(1024), ITEM_COUNT DOUBLE);
CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
  SELECT STREAM * FROM TABLE(TOP_K_ITEMS_TUMBLING(CURSOR(SELECT STREAM * FROM "SOURCE_SQL_STREAM_001"), 'TICKER_SYMBOL', 10, 60))
  JOIN "T" AS t ON "SOURCE_SQL_STREAM_001".TICKER_SYMBOL = t.k;"#,
            "unsupported clause JOIN in a pump that aggregates",
        ),
        (
            r#"CREATE OR REPLACE STREAM "CALC" (TICKER VARCHAR(4), C DOUBLE);
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (TICKER VARCHAR(4), C DOUBLE, NAME VARCHAR(10));
CREATE PUMP "P1" AS INSERT INTO "CALC" SELECT STREAM "TICKER_SYMBOL", COUNT(*) FROM "SOURCE_SQL_STREAM_001"
  GROUP BY STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '1' MINUTE), TICKER_SYMBOL;
CREATE PUMP "P2" AS INSERT INTO "DESTINATION_SQL_STREAM" SELECT STREAM "CALC".TICKER, "CALC".C, t.NAME FROM "CALC"
  JOIN "T" AS t ON "CALC".TICKER = t.K;"#,
            "reads a GROUP BY pump's stream",
        ),
        (
            r#"CREATE OR REPLACE STREAM "MID" (TICKER VARCHAR(4), N VARCHAR(10));
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (TICKER VARCHAR(4), N VARCHAR(10), M VARCHAR(10));
CREATE PUMP "P1" AS INSERT INTO "MID" SELECT STREAM "SOURCE_SQL_STREAM_001".TICKER_SYMBOL, a.NAME FROM "SOURCE_SQL_STREAM_001"
  JOIN "A" AS a ON "SOURCE_SQL_STREAM_001".TICKER_SYMBOL = a.K;
CREATE PUMP "P2" AS INSERT INTO "DESTINATION_SQL_STREAM" SELECT STREAM "MID".TICKER, "MID".N, b.NAME FROM "MID"
  LEFT JOIN "B" AS b ON "MID".TICKER = b.K;"#,
            "line 6, column 3: unsupported a second JOIN in the application",
        ),
    ];
    for (sql, message) in cases {
        let out = run_demo(sql, &[]);
        assert_eq!(out.status.code(), Some(2), "{sql}");
        assert!(out.stdout.is_empty(), "{sql}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(message), "{message}: {err}");
    }
}
