//! Regressions found by the cargo-fuzz targets in fuzz/ (see fuzz/README.md), run through the
//! command line's configuration (`Args`) and the real driver.
#![allow(clippy::unwrap_used)]

mod common;

use clap::Parser;
use kds_common::io::{Output, SharedBuf};
use kds_common::signal::Shutdown;
use kds_window::driver::{run_input, ManualClock, Progress};
use kds_window::Stats;
use serde_json::Value;

/// Runs `kds-window ARGS` over `input` with the clock at `now`: (rows, stats, stderr).
fn run(args: &[&str], input: &str, now: i64) -> (Vec<Value>, Stats, String) {
    let mut argv = vec!["kds-window"];
    argv.extend_from_slice(args);
    let cfg = kds_window::Args::try_parse_from(argv)
        .unwrap()
        .config()
        .unwrap();
    let out = SharedBuf::default();
    let diag = SharedBuf::default();
    let stats = run_input(
        &cfg,
        common::input_of(input.as_bytes()),
        &ManualClock::new(now),
        Output::new(out.clone()),
        Box::new(diag.clone()),
        &Shutdown::manual(),
        &Progress::default(),
    )
    .unwrap();
    (
        common::parse_rows(&out.contents()),
        stats,
        String::from_utf8(diag.contents()).unwrap(),
    )
}

/// Years after the data: what the wall clock says when old data is backfilled.
const LATER: i64 = common::T0 + 5 * 365 * 86_400_000;

fn starts_and_counts(rows: &[Value]) -> Vec<(String, i64)> {
    rows.iter()
        .map(|r| {
            (
                r["window_start"].as_str().unwrap()[11..16].to_string(),
                r["count_tno"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn emit_empty_on_event_time_fills_gaps_whatever_the_wall_clock() {
    // The engine started --emit-empty at the wall clock's window for every time basis, so on
    // data older than the clock no empty window was ever emitted.
    let input = "{\"tuptime\":\"2021-03-19T13:15:00Z\",\"tnum\":1}\n\
                 {\"tuptime\":\"2021-03-19T13:18:30Z\",\"tnum\":2}\n\
                 {\"tuptime\":\"2021-03-19T13:20:00Z\",\"tnum\":3}\n";
    for now in [common::T0, LATER] {
        let (rows, _, _) = run(&["--time", "event:tuptime", "--emit-empty"], input, now);
        assert_eq!(
            starts_and_counts(&rows),
            [
                ("13:15", 1),
                ("13:16", 0),
                ("13:17", 0),
                ("13:18", 1),
                ("13:19", 0),
                ("13:20", 1)
            ]
            .map(|(s, n)| (s.to_string(), n)),
            "clock at {now}"
        );
    }
}

#[test]
fn emit_empty_skips_a_gap_of_millions_of_windows_instead_of_printing_them() {
    // One far-off timestamp made --emit-empty print every window in between (years of 10 s
    // windows: the fuzzer's input timed out; 9999-... ran for hours).
    let input = "{\"tuptime\":\"2021-03-19T13:15:00Z\",\"tnum\":1}\n\
                 {\"tuptime\":\"9999-03-19T13:15:00Z\",\"tnum\":2}\n";
    let (rows, stats, diag) = run(
        &["--time", "event:tuptime", "--emit-empty", "--size", "10s"],
        input,
        LATER,
    );
    assert_eq!(stats.records, 2);
    let starts: Vec<&str> = rows
        .iter()
        .map(|r| r["window_start"].as_str().unwrap())
        .collect();
    assert_eq!(
        starts,
        ["2021-03-19T13:15:00.000Z", "9999-03-19T13:15:00.000Z"]
    );
    assert!(
        diag.contains("--emit-empty: skipped")
            && diag.contains(
                "empty windows from 2021-03-19T13:15:10.000Z to 9999-03-19T13:15:00.000Z"
            ),
        "{diag}"
    );
    // A gap within the bound is still filled.
    let input = "{\"tuptime\":\"2021-03-19T13:15:00Z\"}\n{\"tuptime\":\"2021-03-19T14:15:00Z\"}\n";
    let (rows, _, diag) = run(
        &["--time", "event:tuptime", "--emit-empty", "--size", "10s"],
        input,
        LATER,
    );
    assert_eq!(rows.len(), 361);
    assert!(diag.is_empty(), "{diag}");
}

#[test]
fn epoch_milliseconds_outside_years_0000_to_9999_are_bad_timestamps() {
    // i64::MIN as an event time overflowed the window arithmetic (a panic in debug builds).
    let input = "{\"tuptime\":-9223372036854775808,\"tnum\":1}\n\
                 {\"tuptime\":\"-9223372036854775808\",\"tnum\":1}\n\
                 {\"tuptime\":9223372036854775807,\"tnum\":1}\n\
                 {\"tuptime\":253402300800000,\"tnum\":1}\n\
                 {\"tuptime\":-62167219200000,\"tnum\":7}\n\
                 {\"tuptime\":253402300799999,\"tnum\":5}\n";
    let (rows, stats, diag) = run(&["--time", "event:tuptime"], input, LATER);
    assert_eq!((stats.bad, stats.records), (4, 2), "{diag}");
    assert!(
        diag.contains(
            "line 1: bad timestamp in tuptime: -9223372036854775808 is outside the years 0000-9999"
        ),
        "{diag}"
    );
    let starts: Vec<&str> = rows
        .iter()
        .map(|r| r["window_start"].as_str().unwrap())
        .collect();
    assert_eq!(
        starts,
        ["0000-01-01T00:00:00.000Z", "9999-12-31T23:59:00.000Z"]
    );

    // The same for arrival times, with any allowed lateness.
    let input = "{\"arrival\":-9223372036854775808,\"data\":{\"tnum\":1}}\n\
                 {\"arrival\":\"2021-03-19T13:15:00Z\",\"data\":{\"tnum\":2}}\n";
    for lateness in ["0", "5s", "5000000h"] {
        let (rows, stats, diag) = run(
            &["--time", "arrival", "--allowed-lateness", lateness],
            input,
            LATER,
        );
        assert_eq!((stats.bad, stats.records, rows.len()), (1, 1, 1), "{diag}");
        assert!(diag.contains("bad timestamp in arrival"), "{diag}");
    }
}

#[test]
fn partial_rows_with_window_times_out_of_range_are_bad_lines() {
    // `end - start` of i64 extremes overflowed (a panic in debug builds).
    let input = "{\"kds_window_partial\":1,\"window_start\":\"-9223372036854775808\",\"window_end\":\"9223372036854775807\",\"key\":[],\"aggs\":{}}\n";
    let (rows, stats, diag) = run(&["--merge", "--time", "event:tuptime"], input, LATER);
    assert_eq!((stats.bad, rows.len()), (1, 0));
    assert!(
        diag.contains("partial row without a valid window_start"),
        "{diag}"
    );
}
