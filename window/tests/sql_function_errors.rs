//! A function's bad argument at run time sends the row to the error stream and the run goes on
//! ("REGEX_REPLACE", KDA SQL Reference: a start below 1, a negative occurrence; here also a
//! regular expression from a column that does not compile).

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use common::{json_rows, ndjson, run_window};

const SQL: &str = r#"
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (id INTEGER, replaced VARCHAR(32));
CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
SELECT STREAM "id", REGEX_REPLACE("s", "re", '#', "start", 0)
FROM "SOURCE_SQL_STREAM_001";
"#;

const INPUT: &str = r#"{"id":1,"s":"a1b2","re":"[0-9]","start":1}
{"id":2,"s":"a1b2","re":"([0-9]","start":1}
{"id":3,"s":"a1b2","re":"[a-z]","start":0}
{"id":4,"s":"a1b2","re":"[a-z]","start":2}
"#;

#[test]
fn bad_regex_replace_arguments_go_to_the_error_stream_and_good_rows_flow() {
    let dir = tempfile::tempdir().unwrap();
    let errors = dir.path().join("errors.ndjson");
    let out = run_window(&["--sql", SQL, "--errors", errors.to_str().unwrap()], INPUT);
    let summary = String::from_utf8_lossy(&out.stderr).into_owned();
    let rows = json_rows(&out);
    let got: Vec<(i64, &str)> = rows
        .iter()
        .map(|r| (r["id"].as_i64().unwrap(), r["replaced"].as_str().unwrap()))
        .collect();
    assert_eq!(got, vec![(1, "a#b#"), (4, "a1#2")]);
    // Each error-stream row: its name, and a message naming the line and what was wrong.
    let errs = ndjson(&std::fs::read(&errors).unwrap());
    let want = [
        "line 2: REGEX_REPLACE: bad regular expression '([0-9]'",
        "line 3: REGEX_REPLACE: startPosition 0 is less than 1",
    ];
    assert_eq!(errs.len(), want.len(), "{errs:?}");
    for (e, message) in errs.iter().zip(want) {
        assert_eq!(e["ERROR_NAME"], "FUNCTION_ERROR", "{e}");
        assert!(e["MESSAGE"].as_str().unwrap().starts_with(message), "{e}");
    }
    assert!(
        summary.contains("2 records sent to the error stream"),
        "{summary}"
    );
}

#[test]
fn without_an_errors_file_the_rejections_are_named_on_stderr() {
    let out = run_window(&["--sql", SQL], INPUT);
    assert!(out.status.success());
    assert_eq!(ndjson(&out.stdout).len(), 2);
    // The first few rejections are named on stderr, each with its line.
    let stderr = String::from_utf8_lossy(&out.stderr);
    let named = [
        "line 2: to the error stream: REGEX_REPLACE: bad regular expression",
        "line 3: to the error stream: REGEX_REPLACE: startPosition 0",
    ];
    for part in named {
        assert!(stderr.contains(part), "{stderr}");
    }
}

/// A GROUP BY pump's WHERE, run in front of the engine (no schema), raises a function error on
/// one record: that record goes to the error stream, and the error does not follow a later row
/// (it went to the next pump's first row, a good one, to the error stream).
#[test]
fn a_function_error_in_a_group_by_where_stays_with_its_record() {
    let sql = r#"
CREATE OR REPLACE STREAM "CALC" (id INTEGER, n INTEGER);
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (id INTEGER, n INTEGER);
CREATE OR REPLACE PUMP "P1" AS INSERT INTO "CALC"
SELECT STREAM "id", COUNT(*) FROM "SOURCE_SQL_STREAM_001"
WHERE REGEX_REPLACE("s", "re", '#', "start", 0) IS NOT NULL
GROUP BY STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '1' MINUTE), "id";
CREATE OR REPLACE PUMP "P2" AS INSERT INTO "DESTINATION_SQL_STREAM"
SELECT STREAM "CALC".id, "CALC".n FROM "CALC";
"#;
    let input = r#"{"id":1,"s":"a1b2","re":"[0-9]","start":1}
{"id":3,"s":"a1b2","re":"[a-z]","start":0}
{"id":4,"s":"a1b2","re":"[a-z]","start":2}
"#;
    let dir = tempfile::tempdir().unwrap();
    let errors = dir.path().join("errors.ndjson");
    let out = run_window(&["--sql", sql, "--errors", errors.to_str().unwrap()], input);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut got: Vec<(i64, i64)> = json_rows(&out)
        .iter()
        .map(|r| (r["id"].as_i64().unwrap(), r["n"].as_i64().unwrap()))
        .collect();
    got.sort();
    assert_eq!(got, vec![(1, 1), (4, 1)]);
    let errs = ndjson(&std::fs::read(&errors).unwrap());
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0]["ERROR_NAME"], "FUNCTION_ERROR", "{}", errs[0]);
    let message = errs[0]["MESSAGE"].as_str().unwrap();
    assert!(
        message.starts_with("line 2: REGEX_REPLACE: startPosition 0 is less than 1"),
        "{message}"
    );
}
