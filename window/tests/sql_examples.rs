//! The KDA SQL Developer Guide's string examples, their SQL verbatim (`tests/golden/*.kda.sql`):
//! "Example: Replacing a Substring using Regex (REGEX_REPLACE Function)" and "Example:
//! Extracting a Portion of a String (SUBSTRING Function)", on the guide's sample record
//! `{"REFERRER": "http://www.amazon.com"}` read as `kds-tail --envelope` lines (both select
//! `APPROXIMATE_ARRIVAL_TIME`); "Example: Transforming DateTime Values" on its five sample
//! records. Also the other scalar functions of the select list.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use common::{json_rows as rows, run_window as run};
use serde_json::{json, Value};

const REGEX_REPLACE_SQL: &str = include_str!("golden/regex_replace.kda.sql");
const SUBSTRING_SQL: &str = include_str!("golden/substring.kda.sql");
const TRANSFORMING_DATES_SQL: &str = include_str!("golden/transforming_dates.kda.sql");

/// The guide's record, put three times, arriving one second apart.
fn referrer_envelopes() -> (String, Vec<String>) {
    let arrivals: Vec<String> = (0..3)
        .map(|i| format!("2026-01-27T10:00:0{i}.250Z"))
        .collect();
    let lines: Vec<String> = arrivals
        .iter()
        .enumerate()
        .map(|(i, t)| {
            json!({
                "shard_id": "shardId-000000000000",
                "sequence_number": (49_000_000 + i).to_string(),
                "partition_key": "partitionkey",
                "arrival": t,
                "data": {"REFERRER": "http://www.amazon.com"},
            })
            .to_string()
        })
        .collect();
    (lines.join("\n") + "\n", arrivals)
}

/// Runs `sql` (a golden file's text) with a schema file on `input`.
fn run_example(sql: &str, schema: &str, input: &str) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let sql_path = dir.path().join("app.sql");
    std::fs::write(&sql_path, sql).unwrap();
    let schema_path = dir.path().join("schema.json");
    std::fs::write(&schema_path, schema).unwrap();
    rows(&run(
        &[
            "--sql",
            sql_path.to_str().unwrap(),
            "--schema",
            schema_path.to_str().unwrap(),
        ],
        input,
    ))
}

#[test]
fn regex_replace_example_rewrites_the_scheme() {
    let (input, arrivals) = referrer_envelopes();
    // The console's discovered schema: one column REFERRER.
    let got = run_example(
        REGEX_REPLACE_SQL,
        r#"[{"Name":"REFERRER","SqlType":"VARCHAR(32)"}]"#,
        &input,
    );
    assert_eq!(got.len(), 3);
    for (row, arrival) in got.iter().zip(&arrivals) {
        assert_eq!(row["ingest_time"], json!(arrival), "{row}");
        assert_eq!(row["referrer"], json!("https://www.amazon.com"), "{row}");
    }
}

#[test]
fn substring_example_extracts_the_company_name() {
    let (input, arrivals) = referrer_envelopes();
    // The guide's SQL reads "referrer" (quoted, lower case) while discovery names the column
    // REFERRER: the schema file names the column as the SQL reads it, mapped to the field.
    let got = run_example(
        SUBSTRING_SQL,
        r#"[{"Name":"referrer","SqlType":"VARCHAR(32)","Mapping":"$.REFERRER"}]"#,
        &input,
    );
    assert_eq!(got.len(), 3);
    for (row, arrival) in got.iter().zip(&arrivals) {
        assert_eq!(row["ingest_time"], json!(arrival), "{row}");
        // 'http://www.' is 11 characters; '.com' at 18, 'www.' at 8: 18 - 8 - 4 = 6.
        assert_eq!(row["referrer"], json!("amazon"), "{row}");
    }
}

#[test]
fn select_list_functions_compute_per_row() {
    let sql = r#"CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (
        ticker VARCHAR(4), day VARCHAR(10), at_ms BIGINT, parsed TIMESTAMP, price_int INTEGER,
        doubled DOUBLE, read_at TIMESTAMP);
    CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
      SELECT STREAM LOWER(TICKER), TIMESTAMP_TO_CHAR('dd.MM.yyyy', EVENT_TIME),
             UNIX_TIMESTAMP(EVENT_TIME), CHAR_TO_TIMESTAMP('yyyy-MM-dd hh:mm:ss', "raw"),
             CAST(PRICE AS INTEGER), PRICE * 2, CURRENT_ROW_TIMESTAMP
      FROM "SOURCE_SQL_STREAM_001";"#;
    let schema = r#"[{"Name":"EVENT_TIME","SqlType":"TIMESTAMP"},{"Name":"TICKER","SqlType":"VARCHAR(4)"},{"Name":"PRICE","SqlType":"REAL"},{"Name":"raw","SqlType":"VARCHAR(32)"}]"#;
    let input = [
        r#"{"EVENT_TIME":"2018-05-09T12:50:41.337","TICKER":"AAPL","PRICE":33.11,"raw":"2009-09-16 03:15:24"}"#,
        r#"{"EVENT_TIME":"2018-05-10T00:00:00Z","TICKER":"MSFT","PRICE":"40.5","raw":"not a time"}"#,
    ]
    .join("\n");
    let got = run_example(sql, schema, &input);
    assert_eq!(got.len(), 2);
    let first = &got[0];
    assert_eq!(first["ticker"], json!("aapl"));
    assert_eq!(first["day"], json!("09.05.2018"));
    assert_eq!(first["at_ms"], json!(1_525_870_241_337i64));
    assert_eq!(first["parsed"], json!("2009-09-16T03:15:24.000Z"));
    assert_eq!(first["price_int"], json!(33));
    assert!((first["doubled"].as_f64().unwrap() - 66.22).abs() < 1e-4);
    // CURRENT_ROW_TIMESTAMP is the row's ROWTIME.
    for row in &got {
        assert_eq!(row["read_at"], row["ROWTIME"], "{row}");
    }
    let second = &got[1];
    assert_eq!(second["day"], json!("10.05.2018"));
    assert_eq!(second["parsed"], Value::Null);
    assert_eq!(second["price_int"], json!(40));
}

#[test]
fn transforming_dates_example_converts_the_event_time() {
    // The guide's sample records, and its schema: discovered, EVENT_TIME edited to TIMESTAMP.
    let input = include_str!("golden/transforming_dates.input.ndjson");
    let schema = include_str!("golden/transforming_dates.schema.json");
    let got: Vec<Value> = run_example(TRANSFORMING_DATES_SQL, schema, input)
        .into_iter()
        .map(|mut r| {
            r.as_object_mut().unwrap().remove("ROWTIME");
            r
        })
        .collect();
    // Timestamps to the millisecond (KDA's TIMESTAMP precision); 12:50:41 is 12 on the
    // 12-hour clock (`hh`); 2018-05-09T12:50:41Z is 1525870241 s after the epoch.
    let want: Vec<Value> = [
        ("AAPL", 337),
        ("MSFT", 427),
        ("INTC", 520),
        ("MSFT", 610),
        ("AAPL", 704),
    ]
    .iter()
    .map(|(ticker, ms)| {
        json!({
            "TICKER": ticker,
            "event_time": format!("2018-05-09T12:50:41.{ms:03}Z"),
            "five_minutes_before": format!("2018-05-09T12:45:41.{ms:03}Z"),
            "event_unix_timestamp": 1_525_870_241_000i64 + ms,
            "event_timestamp_as_char": "2018-05-09 12:50:41",
            "event_second": 41,
        })
    })
    .collect();
    assert_eq!(got, want);
}
