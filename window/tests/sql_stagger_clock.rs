//! Stagger windows close on the clock ("Stagger Windows", KDA SQL Developer Guide: a window
//! closes its range after its key's first record): on a live input that goes quiet, the row is
//! written while the pipe is still open, not at the next record or the end of input.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use std::io::{BufRead, BufReader, Write};
use std::sync::mpsc;
use std::time::Duration;

use common::spawn_window;
use serde_json::Value;

const SQL: &str = r#"
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (ticker VARCHAR(4), n INTEGER);
CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
SELECT STREAM "ticker", COUNT(*)
FROM "SOURCE_SQL_STREAM_001"
WINDOWED BY STAGGER (PARTITION BY "ticker" RANGE INTERVAL '1' SECOND);
"#;

/// Generous: a loaded machine may be slow to start the binary; the window itself is 1 s.
const BOUND: Duration = Duration::from_secs(60);

#[test]
fn a_stagger_window_is_written_while_the_pipe_stays_open() {
    let mut child = spawn_window(&["--sql", SQL]);
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    stdin
        .write_all(b"{\"ticker\":\"ABC\"}\n{\"ticker\":\"ABC\"}\n{\"ticker\":\"XYZ\"}\n")
        .unwrap();
    stdin.flush().unwrap();
    // The pipe stays open: both windows must come out on the clock.
    let mut rows: Vec<Value> = Vec::new();
    while rows.len() < 2 {
        let line = rx
            .recv_timeout(BOUND)
            .expect("the stagger rows while the input is open");
        rows.push(serde_json::from_str(&line).unwrap());
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "kds-window ended before its input did"
    );
    let mut got: Vec<(String, i64)> = rows
        .iter()
        .map(|r| {
            (
                r["ticker"].as_str().unwrap().to_string(),
                r["n"].as_i64().unwrap(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(got, vec![("ABC".to_string(), 2), ("XYZ".to_string(), 1)]);
    drop(stdin);
    let status = child.wait().unwrap();
    assert!(status.success());
    reader.join().unwrap();
    // Nothing more at the end: the windows were written once.
    assert!(rx.try_recv().is_err());
}
