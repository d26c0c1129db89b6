//! The KDA SQL Developer Guide's stage-C examples, their SQL verbatim (`tests/golden/*.kda.sql`):
//! "Example: Most Frequently Occurring Values" (`TOP_K_ITEMS_TUMBLING`), "Parsing Log Strings"
//! (`REGEX_LOG_PARSE`), "Parsing Web Logs" (`W3C_LOG_PARSE`), "Split Strings into Multiple
//! Fields" (`VARIABLE_COLUMN_LOG_PARSE`), each on the guide's sample records; and the
//! machine-learning examples (`tests/golden/refused/`) and Lambda preprocessing, refused with
//! the reason.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use std::collections::BTreeMap;

use common::{json_rows as rows, run_sql};
use serde_json::{json, Value};

const TOP_K_SQL: &str = include_str!("golden/top_k_items.kda.sql");
const DEMO_INPUT: &str = include_str!("golden/demo_stream.input.ndjson");
const DEMO_SCHEMA: &str = include_str!("golden/demo_stream.schema.json");

/// Rows grouped by their ROWTIME (one group per closed window).
fn by_window(rows: &[Value]) -> BTreeMap<String, Vec<(String, u64)>> {
    let mut out: BTreeMap<String, Vec<(String, u64)>> = BTreeMap::new();
    for r in rows {
        out.entry(r["ROWTIME"].as_str().unwrap().to_string())
            .or_default()
            .push((
                r["ITEM"].as_str().unwrap().to_string(),
                r["ITEM_COUNT"].as_u64().unwrap(),
            ));
    }
    out
}

#[test]
fn top_k_template_counts_each_value_of_its_column() {
    // The template verbatim reads 'column1'; ten items of three values, fewer than K = 10.
    let values = ["b", "a", "c", "a", "b", "a", "c", "a", "b", "a"];
    let input: String = values
        .iter()
        .map(|v| format!("{}\n", json!({ "column1": v })))
        .collect();
    let got = rows(&run_sql(TOP_K_SQL, None, &input));
    // All rows are read within a moment: one window, or two when a minute boundary fell
    // between them; the counts per value add up to the input's either way.
    let mut totals: BTreeMap<String, u64> = BTreeMap::new();
    for window in by_window(&got).values() {
        let counts: Vec<u64> = window.iter().map(|(_, n)| *n).collect();
        assert!(counts.windows(2).all(|w| w[0] >= w[1]), "{window:?}");
        for (item, n) in window {
            *totals.entry(item.clone()).or_default() += n;
        }
    }
    let expected: BTreeMap<String, u64> = [("a", 5), ("b", 3), ("c", 2)]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    assert_eq!(totals, expected);
}

#[test]
fn top_k_as_the_guide_edits_it_gives_the_three_most_traded_tickers() {
    // The guide: replace 'column1' with 'TICKER_SYMBOL' and 10 with 3.
    let sql = TOP_K_SQL
        .replace("'column1'", "'TICKER_SYMBOL'")
        .replace("10,", "3,");
    let got = rows(&run_sql(&sql, Some(DEMO_SCHEMA), DEMO_INPUT));
    let windows = by_window(&got);
    // The demo records, counted here: the three largest counts, ties by name.
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for line in DEMO_INPUT.lines() {
        let r: Value = serde_json::from_str(line).unwrap();
        *counts
            .entry(r["TICKER_SYMBOL"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    let mut ranked: Vec<(String, u64)> = counts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked.truncate(3);
    for window in windows.values() {
        assert!(window.len() <= 3, "{window:?}");
    }
    if windows.len() == 1 {
        assert_eq!(windows.values().next().unwrap(), &ranked);
    }
}

#[test]
fn top_k_arguments_outside_the_reference_s_ranges_are_refused() {
    for (from, to, message) in [
        ("10,", "0,", "K must be a whole number from 1 to 100000"),
        (
            "60 ",
            "3601 ",
            "window size in seconds must be a whole number from 1 to 3600",
        ),
        (
            "SELECT STREAM * FROM    \"SOURCE",
            "SELECT STREAM ITEM FROM \"SOURCE",
            "only CURSOR(SELECT STREAM * FROM \"stream\")",
        ),
        (
            "SELECT STREAM * \n",
            "SELECT STREAM ITEM, ITEM_COUNT\n",
            "a select list on TOP_K_ITEMS_TUMBLING",
        ),
    ] {
        let sql = TOP_K_SQL.replacen(from, to, 1);
        assert_ne!(sql, TOP_K_SQL, "{from}");
        let out = run_sql(&sql, None, "");
        assert_eq!(out.status.code(), Some(2), "{sql}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(message), "{err}");
    }
}

/// Two TOP_K_ITEMS_TUMBLING pumps: the second call is refused (the first one was dropped).
#[test]
fn a_second_top_k_in_the_application_is_refused() {
    let sql = r#"CREATE OR REPLACE STREAM "MID" (ITEM VARCHAR(1024), ITEM_COUNT DOUBLE);
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (ITEM VARCHAR(1024), ITEM_COUNT DOUBLE);
CREATE OR REPLACE PUMP "P1" AS INSERT INTO "MID" SELECT STREAM * FROM TABLE(TOP_K_ITEMS_TUMBLING(
    CURSOR(SELECT STREAM * FROM "SOURCE_SQL_STREAM_001"), 'column1', 10, 60));
CREATE OR REPLACE PUMP "P2" AS INSERT INTO "DESTINATION_SQL_STREAM" SELECT STREAM * FROM TABLE(TOP_K_ITEMS_TUMBLING(
    CURSOR(SELECT STREAM * FROM "MID"), 'ITEM', 10, 60));"#;
    let out = run_sql(sql, None, "{\"column1\":\"a\"}\n");
    assert_eq!(out.status.code(), Some(2), "{sql}");
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "line 5, column 96: unsupported a second TOP_K_ITEMS_TUMBLING in the application"
        ),
        "{err}"
    );
}

#[test]
fn regex_log_parse_example_gives_the_first_two_groups() {
    let got = rows(&run_sql(
        include_str!("golden/regex_log_parse.kda.sql"),
        None,
        include_str!("golden/regex_log_parse.input.ndjson"),
    ));
    let entry = r#"203.0.113.24 - - [25/Mar/2018:15:25:37 -0700] "GET /index.php HTTP/1.1" 200 125 "-" "Mozilla/5.0 [en] Gecko/20100101 Firefox/52.0""#;
    assert_eq!(got.len(), 3);
    for r in &got {
        // Greedy groups, as Java matches them: the first runs to the last " <digit>" that
        // leaves two more words for the last two groups.
        assert_eq!(r["logentry"], json!(entry));
        assert_eq!(
            r["match1"],
            json!(r#"203.0.113.24 - - [25/Mar/2018:15:25:37 -0700] "GET /index.php HTTP/1.1" 200"#)
        );
        assert_eq!(r["match2"], json!(r#"125 "-" "Mozilla/5.0 [en]"#));
    }
}

#[test]
fn w3c_log_parse_example_splits_the_common_log_format() {
    let got = rows(&run_sql(
        include_str!("golden/w3c_log_parse.kda.sql"),
        None,
        include_str!("golden/w3c_log_parse.input.ndjson"),
    ));
    let picked: Vec<Value> = got
        .iter()
        .map(|r| {
            (1..=7)
                .map(|i| r[format!("column{i}")].clone())
                .collect::<Value>()
        })
        .collect();
    let row = |second: u32, file: &str| {
        json!([
            "192.168.254.30",
            "-",
            "John",
            format!("[24/May/2004:22:01:0{second} -0700]"),
            format!("GET /icons/apache_{file}.gif HTTP/1.1"),
            "304",
            "0"
        ])
    };
    assert_eq!(picked, vec![row(2, "pba"), row(3, "pbb"), row(4, "pbc")]);
}

#[test]
fn variable_column_log_parse_example_splits_at_commas() {
    let got = rows(&run_sql(
        include_str!("golden/variable_column_log_parse.kda.sql"),
        None,
        include_str!("golden/variable_column_log_parse.input.ndjson"),
    ));
    assert_eq!(got.len(), 2);
    for r in &got {
        let mut r = r.clone();
        r.as_object_mut().unwrap().remove("ROWTIME");
        assert_eq!(
            r,
            json!({"column_A": "a", "column_B": "b", "column_C": "c",
                   "COL_1": "x", "COL_2": "y", "COL_3": "z"})
        );
    }
}

#[test]
fn log_parsers_give_null_without_a_match_and_refuse_bad_arguments() {
    let sql = include_str!("golden/regex_log_parse.kda.sql");
    let got = rows(&run_sql(sql, None, "{\"LOGENTRY\": \"no digits here\"}\n"));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["logentry"], json!("no digits here"));
    assert_eq!(got[0]["match1"], Value::Null);
    assert_eq!(got[0]["match2"], Value::Null);
    let w3c = include_str!("golden/w3c_log_parse.kda.sql");
    for (bad, message) in [
        (
            sql.replace(r"(\w.+) (\d.+)", r"(\w.+ (\d.+)"),
            "REGEX_LOG_PARSE: bad regular expression",
        ),
        (
            sql.replace(r"(\w.+) (\d.+) (\w.+) (\w.+)", "no groups"),
            "has no groups",
        ),
        (
            w3c.replace("'COMMON'", "'IIS'"),
            "W3C_LOG_PARSE: W3C_LOG_PARSE format IIS",
        ),
    ] {
        let out = run_sql(&bad, None, "");
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(message), "{err}");
    }
}

#[test]
fn machine_learning_examples_are_refused_with_the_reason() {
    for (sql, name, line) in [
        (
            include_str!("golden/refused/anomaly_detection.kda.sql"),
            "RANDOM_CUT_FOREST",
            18,
        ),
        (
            include_str!("golden/refused/anomaly_explanation.kda.sql"),
            "RANDOM_CUT_FOREST_WITH_EXPLANATION",
            22,
        ),
        (
            include_str!("golden/refused/hotspots.kda.sql"),
            "HOTSPOTS",
            11,
        ),
    ] {
        let out = run_sql(sql, None, "{}\n");
        assert_eq!(out.status.code(), Some(2), "{name}");
        assert!(out.stdout.is_empty());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("line {line}, column "))
                && err.contains(&format!("{name} is not supported"))
                && err.contains("AWS's own")
                && err.contains("Apache Flink"),
            "{err}"
        );
    }
}

#[test]
fn lambda_preprocessing_in_the_input_configuration_is_refused() {
    // A KDA input configuration (CreateApplication's Inputs[0]) with a Lambda preprocessor.
    let input_config = json!({
        "NamePrefix": "SOURCE_SQL_STREAM",
        "InputProcessingConfiguration": {
            "InputLambdaProcessor": {"ResourceARN": "arn:aws:lambda:us-east-1:123456789012:function:f"}
        },
        "InputSchema": {"RecordColumns": [{"Name": "TICKER_SYMBOL", "SqlType": "VARCHAR(4)"}]}
    });
    let sql = include_str!("golden/simple_alerts.kda.sql");
    let out = run_sql(sql, Some(&input_config.to_string()), "{}\n");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("InputProcessingConfiguration") && err.contains("runs no Lambda functions"),
        "{err}"
    );
}
