//! Stagger windows close on the clock ("Stagger Windows", KDA SQL Developer Guide: a window
//! closes its range after its key's first record), and so do `TOP_K_ITEMS_TUMBLING` windows (at
//! their end): on a live input that goes quiet, the rows are written while the pipe is still
//! open, not at the next record or the end of input.

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

const TOP_K_SQL: &str = r#"
CREATE OR REPLACE STREAM DESTINATION_SQL_STREAM (ITEM VARCHAR(1024), ITEM_COUNT DOUBLE);
CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
SELECT STREAM * FROM TABLE(TOP_K_ITEMS_TUMBLING(
    CURSOR(SELECT STREAM * FROM "SOURCE_SQL_STREAM_001"), 'column1', 10, 1));
"#;

#[test]
fn a_top_k_window_is_written_while_the_pipe_stays_open() {
    let mut child = spawn_window(&["--sql", TOP_K_SQL]);
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
    // Written at once: the three records fall in one 1-second window, or (read across a second's
    // edge) in two; either way each window closes on the clock.
    stdin
        .write_all(b"{\"column1\":\"a\"}\n{\"column1\":\"a\"}\n{\"column1\":\"b\"}\n")
        .unwrap();
    stdin.flush().unwrap();
    // The pipe stays open: the counts must come out on the clock, three records in all.
    let mut counts: Vec<(String, u64)> = Vec::new();
    while counts.iter().map(|(_, n)| n).sum::<u64>() < 3 {
        let line = rx
            .recv_timeout(BOUND)
            .expect("the top-K rows while the input is open");
        let row: Value = serde_json::from_str(&line).unwrap();
        counts.push((
            row["ITEM"].as_str().unwrap().to_string(),
            row["ITEM_COUNT"].as_u64().unwrap(),
        ));
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "kds-window ended before its input did"
    );
    let mut per_item: Vec<(String, u64)> = Vec::new();
    for (item, n) in counts {
        match per_item.iter_mut().find(|(i, _)| *i == item) {
            Some((_, total)) => *total += n,
            None => per_item.push((item, n)),
        }
    }
    per_item.sort();
    assert_eq!(per_item, vec![("a".to_string(), 2), ("b".to_string(), 1)]);
    drop(stdin);
    let status = child.wait().unwrap();
    assert!(status.success());
    reader.join().unwrap();
    // Nothing more at the end: the windows were written once.
    assert!(rx.try_recv().is_err());
}
