//! KDA at the edges: AWS's two-window pattern with `APPROXIMATE_ARRIVAL_TIME` run verbatim
//! ("Timestamps and the ROWTIME Column"), JSON-to-SQL conversion against a schema with the
//! in-application error stream ("Mapping JSON Data Types to SQL Data Types", "Error Handling"),
//! and KDA's discovered types.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use common::{demo_envelope as envelope, ms, push_batches, run_window as run, SharedBuf};
use kds_common::io::Output;
use kds_window::engine::{Config, Engine, Options};
use kds_window::sql::cli::to_query;
use kds_window::sql::{bind, parse_schema_json, parse_sql, ErrorStream, RowPrep, Schema};
use serde_json::Value;

/// The guide's query, verbatim (trailing spaces included).
const TWO_WINDOW_SQL: &str = include_str!("golden/two_window.kda.sql");

/// Runs `sql` through the row preparation stage and the engine; each batch of lines is read at
/// its own ROWTIME. Returns the output rows and the error stream's rows.
fn run_batches(
    sql: &str,
    schema: Option<Schema>,
    batches: &[(i64, Vec<String>)],
) -> (Vec<Value>, Vec<Value>) {
    let plan = parse_sql(sql).unwrap();
    let bound = bind(&plan, schema.as_ref()).unwrap();
    let cfg = Config {
        query: to_query(&bound).unwrap(),
        options: Options::default(),
    };
    let rows = SharedBuf::default();
    let errors = SharedBuf::default();
    let stream = ErrorStream::new(
        Some(Output::new(errors.clone())),
        Box::new(std::io::sink()),
        &plan.pump,
    );
    let mut prep = RowPrep::for_query(&bound, schema, None, stream)
        .unwrap()
        .expect("this query needs the row preparation stage");
    let mut engine =
        Engine::new(&cfg, Output::new(rows.clone()), Box::new(std::io::sink())).unwrap();
    push_batches(&mut prep, &mut engine, batches);
    (rows.json_lines(), errors.json_lines())
}

#[test]
fn the_two_window_pattern_runs_verbatim_and_gives_the_guides_rows() {
    // The guide's scenario: in the first ROWTIME minute ABC 10, DEF 15 and XYZ 6 records that
    // arrived in 17:05; in the second, ABC 11 and DEF 11 that arrived in 17:06 and one XYZ that
    // arrived in 17:05 but was brought in late.
    let mut seq = 0;
    let mut batch = |counts: &[(&str, usize, &str)]| -> Vec<String> {
        let mut lines = Vec::new();
        for (ticker, n, arrival) in counts {
            for _ in 0..*n {
                seq += 1;
                lines.push(envelope(seq, arrival, ticker));
            }
        }
        lines
    };
    let first = batch(&[
        ("ABC", 10, "2016-07-19T17:05:01.250Z"),
        ("DEF", 15, "2016-07-19T17:05:02Z"),
        ("XYZ", 6, "2016-07-19T17:05:03Z"),
    ]);
    let second = batch(&[
        ("ABC", 11, "2016-07-19T17:06:01Z"),
        ("DEF", 11, "2016-07-19T17:06:02Z"),
        ("XYZ", 1, "2016-07-19T17:05:59.999Z"),
    ]);
    let (rows, errors) = run_batches(
        TWO_WINDOW_SQL,
        None,
        &[
            (ms("2016-07-19T17:05:10Z"), first),
            (ms("2016-07-19T17:06:10Z"), second),
        ],
    );
    assert!(errors.is_empty(), "{errors:?}");
    // The guide prints ROWTIME (here "ingest_time", the ROWTIME window's start), the arrival
    // minute (its INGEST_TIME column), the ticker and the count.
    let got: Vec<(String, String, String, i64)> = rows
        .iter()
        .map(|r| {
            (
                r["ingest_time"].as_str().unwrap().to_string(),
                r["APPROXIMATE_ARRIVAL_TIME"].as_str().unwrap().to_string(),
                r["ticker_symbol"].as_str().unwrap().to_string(),
                r["symbol_count"].as_i64().unwrap(),
            )
        })
        .collect();
    let want: Vec<(String, String, String, i64)> = [
        ("17:05", "17:05", "ABC", 10),
        ("17:05", "17:05", "DEF", 15),
        ("17:05", "17:05", "XYZ", 6),
        ("17:06", "17:06", "ABC", 11),
        ("17:06", "17:06", "DEF", 11),
        ("17:06", "17:05", "XYZ", 1),
    ]
    .iter()
    .map(|(row, arr, t, n)| {
        (
            format!("2016-07-19T{row}:00.000Z"),
            format!("2016-07-19T{arr}:00.000Z"),
            t.to_string(),
            *n,
        )
    })
    .collect();
    assert_eq!(got, want);
    // Output columns: the window's, then the destination stream's in declaration order.
    let keys: Vec<&String> = rows[0].as_object().unwrap().keys().collect();
    assert!(keys.contains(&&"window_end".to_string()), "{keys:?}");
}

#[test]
fn an_event_time_column_can_be_the_second_time_group() {
    let sql = "CREATE STREAM \"D\" (\"minute\" TIMESTAMP, \"event_minute\" TIMESTAMP, n INTEGER);\n\
               CREATE PUMP \"P\" AS INSERT INTO \"D\"\n\
               SELECT STREAM STEP(s.ROWTIME BY INTERVAL '1' MINUTE), FLOOR(s.\"tuptime\" TO MINUTE), COUNT(*)\n\
               FROM \"SOURCE_SQL_STREAM_001\" AS s\n\
               GROUP BY FLOOR(s.\"tuptime\" TO MINUTE), STEP(s.ROWTIME BY INTERVAL '1' MINUTE);";
    let lines: Vec<String> = [
        "2021-03-19T13:14:59Z",
        "2021-03-19T13:15:00Z",
        "2021-03-19T13:15:30Z",
    ]
    .iter()
    .map(|t| format!(r#"{{"tnum":1,"tuptime":"{t}"}}"#))
    .collect();
    let (rows, _) = run_batches(sql, None, &[(ms("2021-03-19T13:20:05Z"), lines)]);
    let got: Vec<(&str, &str, i64)> = rows
        .iter()
        .map(|r| {
            (
                r["minute"].as_str().unwrap(),
                r["event_minute"].as_str().unwrap(),
                r["n"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("2021-03-19T13:20:00.000Z", "2021-03-19T13:14:00.000Z", 1),
            ("2021-03-19T13:20:00.000Z", "2021-03-19T13:15:00.000Z", 2),
        ]
    );
}

const CHANGE_SQL: &str = "CREATE OR REPLACE STREAM \"DESTINATION_SQL_STREAM\" (n INTEGER, changes INTEGER, total INTEGER);\n\
CREATE OR REPLACE PUMP \"STREAM_PUMP\" AS INSERT INTO \"DESTINATION_SQL_STREAM\"\n\
SELECT STREAM COUNT(*), COUNT(\"CHANGE\"), SUM(\"CHANGE\") FROM \"SOURCE_SQL_STREAM_001\"\n\
GROUP BY STEP(\"SOURCE_SQL_STREAM_001\".ROWTIME BY INTERVAL '60' SECOND);";

/// The schema KDA's discovery gives the demo stream's small CHANGE values.
fn change_schema(change_type: &str) -> Schema {
    parse_schema_json(&format!(
        r#"[{{"Name":"TICKER_SYMBOL","SqlType":"VARCHAR(4)","Mapping":"$.TICKER_SYMBOL"}},{{"Name":"CHANGE","SqlType":"{change_type}","Mapping":"$.CHANGE"}}]"#
    ))
    .unwrap()
}

fn hex_decode(s: &str) -> String {
    let bytes: Vec<u8> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect();
    String::from_utf8(bytes).unwrap()
}

#[test]
fn values_convert_as_kda_documents_and_the_rest_go_to_the_error_stream() {
    let lines: Vec<String> = [
        r#"{"TICKER_SYMBOL":"ABC","CHANGE":5}"#,
        r#"{"TICKER_SYMBOL":"ABC","CHANGE":"7"}"#,
        r#"{"TICKER_SYMBOL":"ABC","CHANGE":true}"#,
        r#"{"TICKER_SYMBOL":"ABC","CHANGE":null}"#,
        r#"{"TICKER_SYMBOL":"ABC","CHANGE":123.4}"#,
        r#"{"TICKER_SYMBOL":"ABC","CHANGE":"abc"}"#,
        r#"{"TICKER_SYMBOL":"ABC","CHANGE":200}"#,
        r#"{"TICKER_SYMBOL":"ABC","CHANGE":-3}"#,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let batches = [(ms("2021-03-19T13:15:00Z"), lines.clone())];
    let (rows, errors) = run_batches(CHANGE_SQL, Some(change_schema("TINYINT")), &batches);
    // 5 + 7 + 1 (true) - 3; null counts in COUNT(*) only; 123.4, "abc" and 200 (> TINYINT's 127)
    // never reach the aggregates.
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (&rows[0]["n"], &rows[0]["changes"], &rows[0]["total"]),
        (&Value::from(5), &Value::from(4), &Value::from(10))
    );
    let reasons: Vec<(&str, &str)> = errors
        .iter()
        .map(|e| {
            (
                e["ERROR_NAME"].as_str().unwrap(),
                e["MESSAGE"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        reasons,
        [
            (
                "COERCION_ERROR",
                "line 5: column CHANGE: 123.4 is not a whole number in the range of TINYINT"
            ),
            (
                "COERCION_ERROR",
                "line 6: column CHANGE: \"abc\" is not a number"
            ),
            (
                "COERCION_ERROR",
                "line 7: column CHANGE: 200 is out of the range of TINYINT (-128 to 127)"
            ),
        ]
    );
    for (e, line) in errors.iter().zip([4, 5, 6]) {
        assert_eq!(hex_decode(e["DATA_ROW"].as_str().unwrap()), lines[line]);
        assert_eq!(e["PUMP_NAME"], "STREAM_PUMP");
        assert_eq!(e["ERROR_LEVEL"], "ERROR");
        for t in ["ERROR_TIME", "DATA_ROWTIME"] {
            assert!(kds_common::time::parse_timestamp(e[t].as_str().unwrap().as_bytes()).is_some());
        }
    }
    // Widened to INTEGER (as the anomaly-detection tutorial does with heartRate), 200 counts.
    let (rows, errors) = run_batches(CHANGE_SQL, Some(change_schema("INTEGER")), &batches);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(rows[0]["total"], 210);
}

#[test]
fn the_binary_writes_the_error_stream_where_errors_says() {
    let dir = tempfile::tempdir().unwrap();
    let schema = dir.path().join("schema.json");
    std::fs::write(
        &schema,
        serde_json::to_string(&change_schema("TINYINT").to_json()).unwrap(),
    )
    .unwrap();
    let input = "{\"TICKER_SYMBOL\":\"ABC\",\"CHANGE\":5}\n{\"TICKER_SYMBOL\":\"ABC\",\"CHANGE\":300}\nnot json\n";
    let errors = dir.path().join("errors.ndjson");
    let out = run(
        &[
            "--sql",
            CHANGE_SQL,
            "--schema",
            schema.to_str().unwrap(),
            "--errors",
            errors.to_str().unwrap(),
        ],
        input,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!((rows.len(), &rows[0]["total"]), (1, &Value::from(5)));
    let written = std::fs::read_to_string(&errors).unwrap();
    let error_rows: Vec<Value> = written
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(error_rows.len(), 1, "{written}");
    assert!(error_rows[0]["MESSAGE"]
        .as_str()
        .unwrap()
        .starts_with("line 2: column CHANGE: 300"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line 3: not valid JSON"), "{stderr}");
    assert!(
        stderr.contains("1 record sent to the error stream"),
        "{stderr}"
    );

    // Without --errors: reported on stderr and counted.
    let out = run(
        &["--sql", CHANGE_SQL, "--schema", schema.to_str().unwrap()],
        input,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "line 2: to the error stream: column CHANGE: 300 is out of the range of TINYINT"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("1 record sent to the error stream (keep them with --errors FILE)"),
        "{stderr}"
    );
}

#[test]
fn the_binary_runs_the_two_window_sql_on_envelopes() {
    let dir = tempfile::tempdir().unwrap();
    let sql = dir.path().join("app.sql");
    std::fs::write(&sql, TWO_WINDOW_SQL).unwrap();
    let mut input = String::new();
    for i in 0..30 {
        let arrival = if i < 20 {
            "2016-07-19T17:05:30Z"
        } else {
            "2016-07-19T17:06:30Z"
        };
        input.push_str(&envelope(
            i,
            arrival,
            if i % 2 == 0 { "ABC" } else { "DEF" },
        ));
        input.push('\n');
    }
    input.push_str("{\"arrival\":\"2016-07-19T17:06:30Z\"}\n");
    let out = run(&["--sql", sql.to_str().unwrap()], &input);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // ROWTIME is the clock here: compare totals per arrival minute and ticker.
    let mut totals = std::collections::BTreeMap::new();
    for l in String::from_utf8(out.stdout).unwrap().lines() {
        let r: Value = serde_json::from_str(l).unwrap();
        let key = (
            r["APPROXIMATE_ARRIVAL_TIME"].as_str().unwrap().to_string(),
            r["ticker_symbol"].as_str().unwrap().to_string(),
        );
        *totals.entry(key).or_insert(0) += r["symbol_count"].as_i64().unwrap();
    }
    let want: std::collections::BTreeMap<(String, String), i64> = [
        ("2016-07-19T17:05:00.000Z", "ABC", 10),
        ("2016-07-19T17:05:00.000Z", "DEF", 10),
        ("2016-07-19T17:06:00.000Z", "ABC", 5),
        ("2016-07-19T17:06:00.000Z", "DEF", 5),
    ]
    .iter()
    .map(|(a, t, n)| ((a.to_string(), t.to_string()), *n))
    .collect();
    assert_eq!(totals, want);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 31: to the error stream: missing field data"),
        "{stderr}"
    );
}

#[test]
fn discover_assigns_kdas_types_and_wide_types_keeps_the_wider_ones() {
    let input = "{\"t\":\"ABC\",\"small\":5,\"mid\":300,\"big\":70000,\"huge\":5000000000,\"price\":50.5,\"at\":\"2021-03-19T13:15:48Z\"}\n\
                 {\"t\":\"DEFG\",\"small\":-7,\"mid\":2,\"big\":1,\"huge\":1,\"price\":3,\"at\":\"2021-03-19T13:15:49Z\"}\n";
    let types = |args: &[&str]| -> Vec<(String, String)> {
        let out = run(args, input);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v["RecordColumns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["Name"].as_str().unwrap().into(),
                    c["SqlType"].as_str().unwrap().into(),
                )
            })
            .collect()
    };
    let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    assert_eq!(
        types(&["--discover"]),
        pairs(&[
            ("t", "VARCHAR(4)"),
            ("small", "TINYINT"),
            ("mid", "SMALLINT"),
            ("big", "INTEGER"),
            ("huge", "BIGINT"),
            ("price", "REAL"),
            ("at", "VARCHAR(32)"),
        ])
    );
    assert_eq!(
        types(&["--discover", "--wide-types"]),
        pairs(&[
            ("t", "VARCHAR(4)"),
            ("small", "INTEGER"),
            ("mid", "INTEGER"),
            ("big", "INTEGER"),
            ("huge", "BIGINT"),
            ("price", "DOUBLE"),
            ("at", "TIMESTAMP"),
        ])
    );
}
