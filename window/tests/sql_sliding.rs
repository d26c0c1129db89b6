//! Sliding windows (`aggregate OVER window`) in per-row pumps, and KDA's "Example: Creating
//! Throttled Alerts" verbatim (`tests/golden/throttled_alerts.kda.sql`): three pumps chained
//! through `CHANGE_STREAM` and a subquery in FROM with a sliding `COUNT(*) OVER W1`.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use common::json_rows as rows;
use serde_json::{json, Value};

const THROTTLED_ALERTS_SQL: &str = include_str!("golden/throttled_alerts.kda.sql");

/// The demo stream's schema as the tumbling-window page prints it.
const DEMO_SCHEMA: &str = r#"[{"Name":"TICKER_SYMBOL","SqlType":"VARCHAR(4)"},{"Name":"SECTOR","SqlType":"VARCHAR(16)"},{"Name":"CHANGE","SqlType":"REAL"},{"Name":"PRICE","SqlType":"REAL"}]"#;

fn run_sql(sql: &str, schema: Option<&str>, input: &str) -> Vec<Value> {
    rows(&common::run_sql(sql, schema, input))
}

#[test]
fn throttled_alerts_example_counts_each_tickers_alerts_of_the_last_minute() {
    let input = [
        // 1.5 / 48.5 = 3.1 %: an alert, AAA's first.
        r#"{"TICKER_SYMBOL":"AAA","SECTOR":"TECHNOLOGY","CHANGE":1.5,"PRICE":50.0}"#,
        // 0.4 %: no alert.
        r#"{"TICKER_SYMBOL":"AAA","SECTOR":"TECHNOLOGY","CHANGE":0.2,"PRICE":50.0}"#,
        r#"{"TICKER_SYMBOL":"BBB","SECTOR":"ENERGY","CHANGE":-2.0,"PRICE":40.0}"#,
        r#"{"TICKER_SYMBOL":"AAA","SECTOR":"TECHNOLOGY","CHANGE":3.0,"PRICE":52.0}"#,
        r#"{"TICKER_SYMBOL":"AAA","SECTOR":"TECHNOLOGY","CHANGE":-1.0,"PRICE":49.0}"#,
    ]
    .join("\n");
    let got: Vec<Value> = run_sql(THROTTLED_ALERTS_SQL, Some(DEMO_SCHEMA), &input)
        .iter()
        .map(|r| json!([r["ticker_symbol"], r["change"], r["trigger_count"]]))
        .collect();
    // The run takes far less than the window's minute, so each alert's count is the number of
    // its ticker's alerts so far. The guide says "no more than one alert per minute", but its
    // WHERE trigger_count >= 1 holds for every row (the count includes the row itself): every
    // alert passes, with its count, as the SQL says.
    assert_eq!(
        got,
        vec![
            json!(["AAA", 1.5, 1]),
            json!(["BBB", -2.0, 1]),
            json!(["AAA", 3.0, 2]),
            json!(["AAA", -1.0, 3]),
        ]
    );
}

#[test]
fn rows_windows_and_inline_over_in_a_per_row_pump() {
    let sql = r#"CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (k VARCHAR(4), x INTEGER, last3_sum INTEGER, last3_max INTEGER, seen BIGINT, avg_all DOUBLE);
CREATE OR REPLACE PUMP "P" AS INSERT INTO "DESTINATION_SQL_STREAM"
  SELECT STREAM k, x, SUM(x) OVER last3, MAX(x) OVER last3,
         COUNT(*) OVER (PARTITION BY k RANGE INTERVAL '1' HOUR PRECEDING),
         AVG(x) OVER (ROWS 1000 PRECEDING)
  FROM "SOURCE_SQL_STREAM_001"
  WHERE x IS NOT NULL
  WINDOW last3 AS (PARTITION BY k ROWS 2 PRECEDING);"#;
    let input = [
        r#"{"k":"a","x":5}"#,
        r#"{"k":"b","x":100}"#,
        r#"{"k":"a","x":1}"#,
        r#"{"k":"a"}"#,
        r#"{"k":"a","x":2}"#,
        r#"{"k":"a","x":0}"#,
    ]
    .join("\n");
    let got: Vec<Value> = run_sql(sql, None, &input)
        .iter()
        .map(|r| {
            json!([
                r["k"],
                r["x"],
                r["last3_sum"],
                r["last3_max"],
                r["seen"],
                r["avg_all"]
            ])
        })
        .collect();
    assert_eq!(
        got,
        vec![
            json!(["a", 5, 5, 5, 1, 5.0]),
            json!(["b", 100, 100, 100, 1, 52.5]),
            json!(["a", 1, 6, 5, 2, 106.0 / 3.0]),
            // The row without x was dropped by WHERE before the windows saw it.
            json!(["a", 2, 8, 5, 3, 27.0]),
            json!(["a", 0, 3, 2, 4, 108.0 / 5.0]),
        ]
    );
}

#[test]
fn sliding_windows_are_refused_where_they_do_not_run() {
    use kds_window::sql::parse_app;
    let err = |sql: &str| parse_app(sql).unwrap_err().to_string();
    let grouped = r#"CREATE STREAM "D" (n INTEGER);
CREATE PUMP "P" AS INSERT INTO "D" SELECT STREAM COUNT(*) OVER w FROM "S"
WINDOW w AS (ROWS 2 PRECEDING)
GROUP BY STEP("S".ROWTIME BY INTERVAL '60' SECOND);"#;
    assert!(
        err(grouped).starts_with(
            "line 3, column 1: unsupported clause WINDOW (sliding windows) in a GROUP BY pump"
        ),
        "{}",
        err(grouped)
    );
    let unknown = r#"CREATE STREAM "D" (n INTEGER);
CREATE PUMP "P" AS INSERT INTO "D" SELECT STREAM COUNT(*) OVER w2 FROM "S"
WINDOW w AS (ROWS 2 PRECEDING);"#;
    assert!(
        err(unknown).starts_with("line 2, column 64: window w2 is not defined"),
        "{}",
        err(unknown)
    );
    let ordered = r#"CREATE STREAM "D" (n INTEGER);
CREATE PUMP "P" AS INSERT INTO "D" SELECT STREAM COUNT(*) OVER (ORDER BY x ROWS 2 PRECEDING) FROM "S";"#;
    assert!(
        err(ordered).contains("unsupported ORDER BY in a window"),
        "{}",
        err(ordered)
    );
    let unnamed = r#"CREATE STREAM "D" (n INTEGER);
CREATE PUMP "P" AS INSERT INTO "D" SELECT STREAM n FROM (SELECT STREAM x + 1 FROM "S");"#;
    assert!(
        err(unnamed).contains("needs a name: add AS name"),
        "{}",
        err(unnamed)
    );
}

#[test]
fn sliding_window_page_examples_run_verbatim() {
    let input = [
        r#"{"TICKER_SYMBOL":"AAA","SECTOR":"TECH","CHANGE":1.0,"PRICE":10.0}"#,
        r#"{"TICKER_SYMBOL":"AAA","SECTOR":"TECH","CHANGE":2.0,"PRICE":12.0}"#,
        r#"{"TICKER_SYMBOL":"BBB","SECTOR":"ENERGY","CHANGE":-1.0,"PRICE":20.0}"#,
        r#"{"TICKER_SYMBOL":"AAA","SECTOR":"TECH","CHANGE":-1.0,"PRICE":11.0}"#,
    ]
    .join("\n");
    let pick = |rows: Vec<Value>, cols: &[&str]| -> Vec<Value> {
        rows.iter()
            .map(|r| Value::Array(cols.iter().map(|c| r[*c].clone()).collect()))
            .collect()
    };
    let range = run_sql(
        include_str!("golden/sliding_range.kda.sql"),
        Some(DEMO_SCHEMA),
        &input,
    );
    assert_eq!(
        pick(
            range,
            &["ticker_symbol", "Min_Price", "Max_Price", "Avg_Price"]
        ),
        vec![
            json!(["AAA", 10.0, 10.0, 10.0]),
            json!(["AAA", 10.0, 12.0, 11.0]),
            json!(["BBB", 20.0, 20.0, 20.0]),
            json!(["AAA", 10.0, 12.0, 11.0]),
        ]
    );
    // AVG of an expression: the change in percent of the price before it.
    let pct = run_sql(
        include_str!("golden/sliding_percent.kda.sql"),
        Some(DEMO_SCHEMA),
        &input,
    );
    let (a1, a2, a3) = (1.0 / 9.0, 2.0 / 10.0, -1.0 / 12.0);
    let got: Vec<f64> = pct
        .iter()
        .map(|r| r["Avg_Percent_Change"].as_f64().unwrap())
        .collect();
    let want = [a1, (a1 + a2) / 2.0, -1.0 / 21.0, (a1 + a2 + a3) / 3.0];
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-12, "{got:?} vs {want:?}");
    }
    let rows = run_sql(
        include_str!("golden/sliding_rows.kda.sql"),
        Some(DEMO_SCHEMA),
        &input,
    );
    assert_eq!(
        pick(
            rows,
            &[
                "ticker_symbol",
                "price",
                "average_last2rows",
                "average_last10rows"
            ]
        ),
        vec![
            json!(["AAA", 10.0, 10.0, 10.0]),
            json!(["AAA", 12.0, 11.0, 11.0]),
            json!(["BBB", 20.0, 20.0, 20.0]),
            json!(["AAA", 11.0, 11.0, 11.0]),
        ]
    );
}
