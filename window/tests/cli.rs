//! The built binary on real files and pipes.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use testkit::usage::assert_usage_shape;

fn run(args: &[&str], stdin: &[u8]) -> (i32, String, String) {
    let out = run_window(args, stdin);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn lines(n: u64, t0: i64, step_ms: i64) -> String {
    (0..n)
        .map(|i| trade_line(i, t0 + i as i64 * step_ms, (i % 50) as i64) + "\n")
        .collect()
}

#[test]
fn usage_errors_exit_2_naming_the_problem() {
    for args in [
        &["--bogus"][..],
        &["--size", "0s"],
        &["--size", "ten"],
        &["--time", "proctime"],
        &["--agg", "median:tnum"],
        &["--agg", "sum"],
        &["--late", "keep"],
        &["--threads", "2"],
        &["--threads", "2", "--time", "rowtime", "x.ndjson"],
        &["--partial", "--format", "csv"],
        &["--group-by", "a..b"],
        &["--agg", "count=n,sum:tnum=n"],
    ] {
        let (code, out, err) = run(args, b"");
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(out.is_empty());
        assert_usage_shape("kds-window", &err);
    }
}

#[test]
fn missing_file_is_a_runtime_failure() {
    let (code, _, err) = run(&["/nonexistent/in.ndjson"], b"");
    assert_eq!(code, 1);
    assert!(err.contains("/nonexistent/in.ndjson"), "{err}");
}

#[test]
fn default_query_is_the_lab_application() {
    let n = 1000;
    let input = lines(n, T0, 10);
    let (code, out, err) = run(&[], input.as_bytes());
    assert_eq!(code, 0, "{err}");
    // Rowtime on a pipe read in well under a minute: one window, or two at a minute boundary.
    let rows: Vec<&str> = out.lines().collect();
    assert!((1..=2).contains(&rows.len()), "{out}");
    let mut count = 0;
    let mut sum = 0;
    for row in &rows {
        // Column order is part of the contract.
        let keys: Vec<String> = serde_json::from_str::<serde_json::Map<String, Value>>(row)
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(keys.len(), 5);
        assert!(row.starts_with("{\"window_start\":\""), "{row}");
        let order = [
            "\"window_start\"",
            "\"window_end\"",
            "\"ROWTIME\"",
            "\"count_tno\"",
            "\"sum_tnum\"",
        ];
        let pos: Vec<usize> = order.iter().map(|k| row.find(k).unwrap()).collect();
        assert!(pos.windows(2).all(|w| w[0] < w[1]), "{row}");
        let v: Value = serde_json::from_str(row).unwrap();
        assert_eq!(v["ROWTIME"], v["window_end"]);
        count += v["count_tno"].as_i64().unwrap();
        sum += v["sum_tnum"].as_i64().unwrap();
    }
    assert_eq!(count, n as i64);
    assert_eq!(sum, (0..n as i64).map(|i| i % 50).sum::<i64>());
}

#[test]
fn event_time_csv_and_strict() {
    let input = lines(300, T0, 1000); // 5 minutes
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.ndjson");
    std::fs::write(&file, &input).unwrap();
    let f = file.to_str().unwrap();
    let (code, out, err) = run(
        &[
            "--time",
            "event:tuptime",
            "--format",
            "csv",
            "--group-by",
            "pno",
            f,
        ],
        b"",
    );
    assert_eq!(code, 0, "{err}");
    let mut rdr = csv::Reader::from_reader(out.as_bytes());
    assert_eq!(
        rdr.headers().unwrap().iter().collect::<Vec<_>>(),
        vec![
            "window_start",
            "window_end",
            "ROWTIME",
            "pno",
            "count_tno",
            "sum_tnum",
            "final",
            "late"
        ]
    );
    let recs: Vec<csv::StringRecord> = rdr.records().map(|r| r.unwrap()).collect();
    assert_eq!(recs.len(), 5 * 3);
    assert_eq!(&recs[0][0], "2021-03-19T13:15:00.000Z");
    assert_eq!(&recs[0][3], "P1000");
    let total: i64 = recs.iter().map(|r| r[4].parse::<i64>().unwrap()).sum();
    assert_eq!(total, 300);

    let bad = format!(
        "{}\nnot json\n{}\n",
        trade_line(1, T0, 1),
        trade_line(2, T0, 2)
    );
    let (code, out, err) = run(&["--time", "event", "--strict"], bad.as_bytes());
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert!(
        err.starts_with("kds-window: line 2: not valid JSON"),
        "{err}"
    );
    let (code, out, err) = run(&["--time", "event"], bad.as_bytes());
    assert_eq!(code, 0);
    assert!(out.contains("\"count_tno\":2"), "{out}");
    assert!(
        err.contains("line 2: not valid JSON") && err.contains("1 bad line skipped"),
        "{err}"
    );
}

/// A live pipe: the writer keeps it open and writes 200 lines/s; with 2 s windows a row must
/// come out while it is still writing.
#[test]
fn live_pipe_prints_windows_before_the_writer_stops() {
    let mut child = window_bin()
        .args(["--size", "2s"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stop_w = stop.clone();
    let writer = std::thread::spawn(move || {
        let mut i = 0u64;
        // Bounded: at most 15 s of writing even if the reader never answers.
        let end = Instant::now() + Duration::from_secs(15);
        while !stop_w.load(Ordering::SeqCst) && Instant::now() < end {
            let line = trade_line(i, T0, 1) + "\n";
            if stdin.write_all(line.as_bytes()).is_err() {
                break;
            }
            i += 1;
            std::thread::sleep(Duration::from_millis(5));
        }
        i
    });
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let first = rx.recv_timeout(Duration::from_secs(10));
    let still_writing = !writer.is_finished();
    stop.store(true, Ordering::SeqCst);
    let written = writer.join().unwrap();
    let first = first.expect("no window row while the writer was running");
    assert!(still_writing, "the row came only after the writer stopped");
    let v: Value = serde_json::from_str(&first).unwrap();
    let start = v["window_start"].as_str().unwrap();
    let end = v["window_end"].as_str().unwrap();
    assert_eq!(
        parse_ts(end).unwrap() - parse_ts(start).unwrap(),
        2000,
        "{first}"
    );
    assert!(v["count_tno"].as_i64().unwrap() > 0);
    let status = child.wait().unwrap();
    assert!(status.success());
    let mut total = v["count_tno"].as_i64().unwrap();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(5)) {
        total += serde_json::from_str::<Value>(&line).unwrap()["count_tno"]
            .as_i64()
            .unwrap();
    }
    assert_eq!(total, written as i64, "every line is in exactly one window");
}

#[test]
fn sigterm_emits_open_windows_marked_not_final_and_exits_0() {
    let mut child = window_bin()
        .args(["--time", "event"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(lines(10, T0, 100).as_bytes()).unwrap();
    stdin.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    assert_eq!(out.status.code(), Some(0));
    let rows = parse_rows(&out.stdout);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["count_tno"], 10);
    assert_eq!(rows[0]["final"], false);
}

#[test]
fn partials_of_a_split_input_merge_to_the_single_process_result_and_threads_agree() {
    let events = gen_events(GenOpts {
        n: 6000,
        seed: 5,
        floats: true,
        ..GenOpts::default()
    });
    let text = to_lines(&events);
    let dir = tempfile::tempdir().unwrap();
    let all = dir.path().join("all.ndjson");
    std::fs::write(&all, &text).unwrap();
    let query = [
        "--time",
        "event:tuptime",
        "--size",
        "10s",
        "--allowed-lateness",
        "1h",
        "--group-by",
        "pno,meta.region=region",
        "--agg",
        "count,sum:tnum,min:tnum,max:tnum,avg:tnum,count_distinct:uno=users",
    ];
    fn with<'a>(query: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
        query.iter().chain(extra).copied().collect()
    }
    let (code, single, err) = run(&with(&query, &[all.to_str().unwrap()]), b"");
    assert_eq!(code, 0, "{err}");
    assert!(single.lines().count() > 100);

    // Three processes on three parts (interleaved lines, so every part sees every window).
    let mut partials = String::new();
    for part in 0..3 {
        let piece: String = text
            .lines()
            .enumerate()
            .filter(|(i, _)| i % 3 == part)
            .map(|(_, l)| format!("{l}\n"))
            .collect();
        let (code, out, err) = run(&with(&query, &["--partial"]), piece.as_bytes());
        assert_eq!(code, 0, "{err}");
        assert!(out.lines().all(|l| l.contains("\"kds_window_partial\":1")));
        partials.push_str(&out);
    }
    let (code, merged, err) = run(&with(&query, &["--merge"]), partials.as_bytes());
    assert_eq!(code, 0, "{err}");
    assert_eq!(parse_rows(merged.as_bytes()), parse_rows(single.as_bytes()));

    let (code, threaded, err) = run(
        &with(&query, &["--threads", "2", all.to_str().unwrap()]),
        b"",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        parse_rows(threaded.as_bytes()),
        parse_rows(single.as_bytes())
    );
}

#[test]
fn threads_report_bad_lines_with_global_line_numbers() {
    let mut text = lines(50_000, T0, 10);
    text.push_str("broken\n");
    text.push_str(&lines(10, T0 + 600_000, 10));
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("in.ndjson");
    std::fs::write(&f, &text).unwrap();
    let (code, out, err) = run(
        &["--time", "event", "--threads", "2", f.to_str().unwrap()],
        b"",
    );
    assert_eq!(code, 0);
    assert!(
        err.contains("kds-window: line 50001: not valid JSON"),
        "{err}"
    );
    let total: i64 = parse_rows(out.as_bytes())
        .iter()
        .map(|r| r["count_tno"].as_i64().unwrap())
        .sum();
    assert_eq!(total, 50_010);
    let (code, _, err) = run(
        &[
            "--time",
            "event",
            "--threads",
            "2",
            "--strict",
            f.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(code, 1);
    assert!(
        err.starts_with("kds-window: line 50001: not valid JSON"),
        "{err}"
    );
}

#[test]
fn late_side_file_gets_the_late_lines_verbatim() {
    let dir = tempfile::tempdir().unwrap();
    let side = dir.path().join("late.ndjson");
    let late_line = trade_line(99, T0 + 5_000, 3);
    let input = format!(
        "{}\n{}\n{late_line}\n{}\n",
        trade_line(1, T0 + 1_000, 1),
        trade_line(2, T0 + 61_000, 2),
        trade_line(3, T0 + 62_000, 4)
    );
    let spec = format!("side:{}", side.display());
    let (code, out, err) = run(&["--time", "event", "--late", &spec], input.as_bytes());
    assert_eq!(code, 0, "{err}");
    let rows = parse_rows(out.as_bytes());
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["count_tno"], 1);
    assert_eq!(
        std::fs::read_to_string(&side).unwrap(),
        format!("{late_line}\n")
    );
    let (_, out, _) = run(&["--time", "event", "--late", "emit"], input.as_bytes());
    let rows = parse_rows(out.as_bytes());
    assert_eq!(rows.len(), 3);
    // The correction is the window's updated full row.
    assert_eq!(rows[1]["late"], true);
    assert_eq!(rows[1]["window_start"], "2021-03-19T13:15:00.000Z");
    assert_eq!(
        (rows[1]["count_tno"].clone(), rows[1]["sum_tnum"].clone()),
        (Value::from(2), Value::from(4))
    );
}

#[test]
fn closed_stdout_is_success() {
    let input = lines(20_000, T0, 100);
    let mut child = window_bin()
        .args(["--time", "event", "--size", "1s"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut first = String::new();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    BufReader::new(stdout).read_line(&mut first).unwrap();
    // stdout is dropped here: the reader went away.
    let status = child.wait().unwrap();
    feeder.join().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(first.contains("window_start"));
}
