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

/// kds-window on `sql` with its input pipe held open: `input` written, stdout lines read by a
/// thread into a channel.
struct OpenPipe {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    lines: mpsc::Receiver<String>,
    reader: std::thread::JoinHandle<()>,
}

impl OpenPipe {
    fn start(sql: &str, input: &[u8]) -> OpenPipe {
        let mut child = spawn_window(&["--sql", sql]);
        let mut stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        stdin.write_all(input).unwrap();
        stdin.flush().unwrap();
        OpenPipe {
            child,
            stdin,
            lines,
            reader,
        }
    }

    /// The next output row, which must come while the input is still open.
    fn next_row(&self, what: &str) -> Value {
        let line = self.lines.recv_timeout(BOUND).expect(what);
        serde_json::from_str(&line).unwrap()
    }

    /// Checks kds-window still runs, closes its input, and checks it ends well with nothing more
    /// written: the windows were written once, on the clock.
    fn finish(mut self) {
        assert!(
            self.child.try_wait().unwrap().is_none(),
            "kds-window ended before its input did"
        );
        drop(self.stdin);
        let status = self.child.wait().unwrap();
        assert!(status.success());
        self.reader.join().unwrap();
        assert!(self.lines.try_recv().is_err());
    }
}

#[test]
fn a_stagger_window_is_written_while_the_pipe_stays_open() {
    let pipe = OpenPipe::start(
        SQL,
        b"{\"ticker\":\"ABC\"}\n{\"ticker\":\"ABC\"}\n{\"ticker\":\"XYZ\"}\n",
    );
    // The pipe stays open: both windows must come out on the clock.
    let mut got: Vec<(String, i64)> = (0..2)
        .map(|_| pipe.next_row("the stagger rows while the input is open"))
        .map(|r| {
            (
                r["ticker"].as_str().unwrap().to_string(),
                r["n"].as_i64().unwrap(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(got, vec![("ABC".to_string(), 2), ("XYZ".to_string(), 1)]);
    pipe.finish();
}

const TOP_K_SQL: &str = r#"
CREATE OR REPLACE STREAM DESTINATION_SQL_STREAM (ITEM VARCHAR(1024), ITEM_COUNT DOUBLE);
CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
SELECT STREAM * FROM TABLE(TOP_K_ITEMS_TUMBLING(
    CURSOR(SELECT STREAM * FROM "SOURCE_SQL_STREAM_001"), 'column1', 10, 1));
"#;

#[test]
fn a_top_k_window_is_written_while_the_pipe_stays_open() {
    // Written at once: the three records fall in one 1-second window, or (read across a second's
    // edge) in two; either way each window closes on the clock.
    let pipe = OpenPipe::start(
        TOP_K_SQL,
        b"{\"column1\":\"a\"}\n{\"column1\":\"a\"}\n{\"column1\":\"b\"}\n",
    );
    // The pipe stays open: the counts must come out on the clock, three records in all.
    let mut counts: Vec<(String, u64)> = Vec::new();
    while counts.iter().map(|(_, n)| n).sum::<u64>() < 3 {
        let row = pipe.next_row("the top-K rows while the input is open");
        counts.push((
            row["ITEM"].as_str().unwrap().to_string(),
            row["ITEM_COUNT"].as_u64().unwrap(),
        ));
    }
    let mut per_item: Vec<(String, u64)> = Vec::new();
    for (item, n) in counts {
        match per_item.iter_mut().find(|(i, _)| *i == item) {
            Some((_, total)) => *total += n,
            None => per_item.push((item, n)),
        }
    }
    per_item.sort();
    assert_eq!(per_item, vec![("a".to_string(), 2), ("b".to_string(), 1)]);
    pipe.finish();
}
