//! Reliability, garbage input. Every tool that reads lines (kds-put, kds-window with the
//! flag query, `--sql` and `--merge`, kds-s3sink raw and with dynamic partitioning) is fed one
//! corpus that mixes good trade events with random bytes, invalid UTF-8, a 10 MiB line, empty
//! and blank lines, deeply nested JSON (100k `[`), numbers out of range (1e400, 2^64+1, -0),
//! CRLF line ends and NUL bytes. kds-tail and kds-gen read no lines: their flags and kds-tail's
//! checkpoint file get the garbage instead.
//!
//! Claims, per tool: no panic (exit status never 101, no "panicked" on stderr), every
//! diagnostic is one line starting with the tool's name, the first bad lines are named by their
//! line number (the first few verbatim, then a count), and the good lines
//! are processed exactly as in a run on the good lines alone. Each test runs its children under
//! a watchdog (a hang fails the test) and records `Figures` (sent / delivered / dead-lettered /
//! lost) for bench/RELIABILITY.md.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use testkit::reliability::Figures;
use testkit::scenario_outcome;
use testkit::{list_objects_all, read_stream_all, reported_records, Stack, TestBucket, TestStream};

use common::rel::runtime;

// ---------------------------------------------------------------------------------------------
// Running a child under a watchdog
// ---------------------------------------------------------------------------------------------

// One copy of the bounded run for every test crate: testkit::process::run_bounded (it names the
// command, never its environment, and shows the end of stderr when it fires).
use testkit::process::{run_bounded, tail_of, Bounded as Run};

/// No panic: a normal exit (not a signal), status not 101, no panic message.
fn assert_no_panic(tool: &str, run: &Run) {
    assert!(
        run.status.code().is_some(),
        "{tool} was killed by a signal ({:?}); stderr:\n{}",
        run.status,
        tail_of(&run.stderr)
    );
    assert_ne!(
        run.status.code(),
        Some(101),
        "{tool} panicked; stderr:\n{}",
        tail_of(&run.stderr)
    );
    assert!(
        !run.stderr.contains("panicked") && !run.stderr.contains("RUST_BACKTRACE"),
        "{tool} printed a panic; stderr:\n{}",
        tail_of(&run.stderr)
    );
}

/// Every diagnostic is one line starting with `tool: `.
fn assert_one_line_diagnostics(tool: &str, stderr: &str) {
    for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            line.starts_with(&format!("{tool}: ")),
            "{tool}: stderr line not in the one-line `{tool}: ...` form: {:?}\nstderr:\n{}",
            line.chars().take(300).collect::<String>(),
            tail_of(stderr)
        );
    }
}

/// A usage error: one line `tool: ...` from the tool's own checks, or clap's whole message
/// (the flag and value named, then its usage or `--help` hint, a few lines) for values clap
/// refuses itself.
fn assert_usage_error_shape(tool: &str, stderr: &str) {
    let lines = stderr.trim_end().lines().count();
    assert!(stderr.starts_with(&format!("{tool}: ")), "{stderr}");
    assert!(
        lines == 1 || (lines <= 10 && stderr.trim_end().ends_with("try '--help'.")),
        "{stderr}"
    );
}

/// Line numbers `N` of stderr lines `tool: line N: ...`, in order.
fn reported_line_numbers(tool: &str, stderr: &str) -> Vec<u64> {
    let prefix = format!("{tool}: line ");
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .filter_map(|rest| rest.split(':').next())
        .filter_map(|n| n.parse().ok())
        .collect()
}

/// Checks DESIGN's reporting rule: the first bad lines are named (at least one, all if there
/// are at most 5 of them), only bad lines are named, in input order.
fn assert_reports_bad_lines(tool: &str, stderr: &str, bad: &[u64]) {
    let named = reported_line_numbers(tool, stderr);
    let shown = bad.len().min(5);
    assert!(
        named.len() >= shown,
        "{tool}: expected the first {shown} bad lines {:?} named on stderr, got {named:?}\nstderr:\n{}",
        &bad[..shown],
        tail_of(stderr)
    );
    assert_eq!(
        &named[..shown],
        &bad[..shown],
        "{tool}: the lines named on stderr are not the first bad lines\nstderr:\n{}",
        tail_of(stderr)
    );
    for n in &named {
        assert!(
            bad.contains(n),
            "{tool}: line {n} was reported bad but is a good line\nstderr:\n{}",
            tail_of(stderr)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The corpus
// ---------------------------------------------------------------------------------------------

/// What a corpus line is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// A valid trade event.
    Good,
    /// Random bytes (no `\n`).
    Random,
    /// A trade whose `tid` string holds invalid UTF-8.
    BadUtf8InString,
    /// Bytes that are not UTF-8 at all.
    BadUtf8Bare,
    /// 100,000 `[`.
    NestedArrays,
    /// 100,000 `{"a":`.
    NestedObjects,
    /// A complete trade with a 200-deep array in an extra field.
    DeepValid,
    /// A valid trade padded to 10 MiB.
    Huge,
    /// An empty line.
    Empty,
    /// Spaces only.
    Blank,
    /// A lone `\r` (an empty line with a CRLF end).
    LoneCr,
    /// `"tnum":1e400` (out of f64 range).
    Num1e400,
    /// `"tnum":18446744073709551617` (2^64 + 1).
    Num2p64,
    /// `"tnum":-0`.
    NegZero,
    /// `"tnum":-9223372036854775809` (below i64).
    NumBelowI64,
    /// A valid trade ending in `\r` (CRLF line end).
    Crlf,
    /// A valid trade followed by a NUL byte.
    NulTrailing,
    /// A raw NUL byte inside a string.
    NulInString,
    /// A lone UTF-16 surrogate escape `"\ud800"`.
    LoneSurrogate,
    /// A UTF-8 byte-order mark before a valid trade.
    Bom,
    /// JSON that is not an object (`[1,2,3]`).
    NotObject,
    /// `"tnum":"7"` (a string).
    TnumString,
}

struct Line {
    kind: Kind,
    bytes: Vec<u8>,
}

/// 2021-03-19T13:15:00Z plus `sec` seconds, as `(tno suffix, tuptime)`.
fn times(sec: u32) -> (String, String) {
    let m = 15 + sec / 60;
    let s = sec % 60;
    (
        format!("2021031913{m:02}{s:02}"),
        format!("2021-03-19T13:{m:02}:{s:02}Z"),
    )
}

fn trade(tid: &str, letters: &str, sec: u32, uno: u32, tnum: &str) -> String {
    let (stamp, tuptime) = times(sec);
    format!(
        r#"{{"tid":"{tid}","tno":"{letters}{stamp}","tdate":"2021-03-19","uno":"U{uno}","pno":"P{}","tnum":{tnum},"tuptime":"{tuptime}"}}"#,
        1000 + uno % 13
    )
}

struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// One garbage line of `kind` (the `i`-th of its kind).
fn garbage(kind: Kind, i: u32, rng: &mut XorShift) -> Vec<u8> {
    let sec = 30 + i * 7 % 200;
    let uno = 1000 + i % 9;
    match kind {
        Kind::Good => trade(&format!("g{i}"), "GOOD", sec, uno, "5").into_bytes(),
        Kind::Random => (0..300)
            .map(|_| match (rng.next() >> 24) as u8 {
                b'\n' => b' ',
                b => b,
            })
            .collect(),
        Kind::BadUtf8InString => {
            let mut v = br#"{"tid":"x"#.to_vec();
            v.extend_from_slice(b"\xff\xfe\xc3\x28");
            v.extend_from_slice(
                trade("", "UTF8", sec, uno, "3")
                    .as_bytes()
                    .get(8..)
                    .unwrap_or(b""),
            );
            v
        }
        Kind::BadUtf8Bare => b"\xc3\x28\xa0\xa1\xe2\x28\xa1\xf0\x28\x8c\xbc trade \xff".to_vec(),
        Kind::NestedArrays => vec![b'['; 100_000],
        Kind::NestedObjects => b"{\"a\":".repeat(100_000),
        Kind::DeepValid => {
            let t = trade(&format!("d{i}"), "DEEP", sec, uno, "4");
            let t = t.strip_suffix('}').unwrap_or(&t);
            format!("{t},\"pad\":{}{}}}", "[".repeat(200), "]".repeat(200)).into_bytes()
        }
        Kind::Huge => {
            let t = trade(&format!("h{i}"), "HUGE", sec, uno, "7");
            let t = t.strip_suffix('}').unwrap_or(&t);
            let pad = 10 * 1024 * 1024 - t.len() - 12;
            format!("{t},\"pad\":\"{}\"}}", "x".repeat(pad)).into_bytes()
        }
        Kind::Empty => Vec::new(),
        Kind::Blank => b"    ".to_vec(),
        Kind::LoneCr => b"\r".to_vec(),
        Kind::Num1e400 => trade(&format!("n{i}"), "NUMA", sec, uno, "1e400").into_bytes(),
        Kind::Num2p64 => {
            trade(&format!("n{i}"), "NUMB", sec, uno, "18446744073709551617").into_bytes()
        }
        Kind::NegZero => trade(&format!("n{i}"), "NUMC", sec, uno, "-0").into_bytes(),
        Kind::NumBelowI64 => {
            trade(&format!("n{i}"), "NUMD", sec, uno, "-9223372036854775809").into_bytes()
        }
        Kind::Crlf => {
            let mut v = trade(&format!("c{i}"), "CRLF", sec, uno, "6").into_bytes();
            v.push(b'\r');
            v
        }
        Kind::NulTrailing => {
            let mut v = trade(&format!("z{i}"), "NULT", sec, uno, "2").into_bytes();
            v.push(0);
            v
        }
        Kind::NulInString => trade(&format!("z\0{i}"), "NULS", sec, uno, "2").into_bytes(),
        Kind::LoneSurrogate => trade(&format!("s\\ud800{i}"), "SURR", sec, uno, "2").into_bytes(),
        Kind::Bom => {
            let mut v = b"\xef\xbb\xbf".to_vec();
            v.extend_from_slice(trade(&format!("b{i}"), "BOMM", sec, uno, "2").as_bytes());
            v
        }
        Kind::NotObject => b"[1,2,3]".to_vec(),
        Kind::TnumString => trade(&format!("t{i}"), "TSTR", sec, uno, "\"7\"").into_bytes(),
    }
}

const GARBAGE_KINDS: &[Kind] = &[
    Kind::Random,
    Kind::BadUtf8InString,
    Kind::BadUtf8Bare,
    Kind::NestedArrays,
    Kind::NestedObjects,
    Kind::DeepValid,
    Kind::Empty,
    Kind::Blank,
    Kind::LoneCr,
    Kind::Num1e400,
    Kind::Num2p64,
    Kind::NegZero,
    Kind::NumBelowI64,
    Kind::Crlf,
    Kind::NulTrailing,
    Kind::NulInString,
    Kind::LoneSurrogate,
    Kind::Bom,
    Kind::NotObject,
    Kind::TnumString,
];

/// `good` trade events over four minutes of 2021-03-19T13:15, with every garbage kind mixed
/// in twice (the 10 MiB line once, when `huge`), deterministically.
fn corpus(good: u32, huge: bool) -> Vec<Line> {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut lines: Vec<Line> = (0..good)
        .map(|i| Line {
            kind: Kind::Good,
            bytes: trade(
                &i.to_string(),
                ["AbCd", "EfGh", "IjKl"][i as usize % 3],
                i * 240 / good.max(1),
                1000 + i % 17,
                &(1 + i % 100).to_string(),
            )
            .into_bytes(),
        })
        .collect();
    let mut extra: Vec<Line> = Vec::new();
    for round in 0..2 {
        for (k, kind) in GARBAGE_KINDS.iter().enumerate() {
            extra.push(Line {
                kind: *kind,
                bytes: garbage(*kind, (round * 100 + k) as u32, &mut rng),
            });
        }
    }
    if huge {
        extra.push(Line {
            kind: Kind::Huge,
            bytes: garbage(Kind::Huge, 1, &mut rng),
        });
    }
    // Spread the garbage through the good lines (not the first line: a tool that fails at
    // line 1 would hide the "good lines still processed" claim).
    let step = (lines.len() / (extra.len() + 1)).max(1);
    let mut at = 1;
    for g in extra {
        let pos = at.min(lines.len());
        lines.insert(pos, g);
        at = pos + step + 1;
    }
    lines
}

fn join_lines<'a>(lines: impl IntoIterator<Item = &'a Line>) -> Vec<u8> {
    let mut v = Vec::new();
    for l in lines {
        v.extend_from_slice(&l.bytes);
        v.push(b'\n');
    }
    v
}

/// 1-based line numbers of the lines `pred` selects.
fn numbers(lines: &[Line], pred: impl Fn(Kind) -> bool) -> Vec<u64> {
    lines
        .iter()
        .enumerate()
        .filter(|(_, l)| pred(l.kind))
        .map(|(i, _)| i as u64 + 1)
        .collect()
}

fn count_kinds(lines: &[Line], pred: impl Fn(Kind) -> bool) -> u64 {
    lines.iter().filter(|l| pred(l.kind)).count() as u64
}

fn record(f: &Figures) {
    let path = f.record().expect("record figures");
    eprintln!("figures: {}", path.display());
}

// ---------------------------------------------------------------------------------------------
// kds-window
// ---------------------------------------------------------------------------------------------

/// What kds-window makes of each kind with the lab aggregates (count, sum:tnum): numbers that
/// serde_json can represent are numbers (2^64+1 and below-i64 as floats, -0 as 0); a CRLF line
/// is JSON followed by whitespace. Empty lines are skipped silently (README), blank and `\r`
/// lines are not JSON.
fn window_good(k: Kind) -> bool {
    matches!(
        k,
        Kind::Good | Kind::Huge | Kind::Num2p64 | Kind::NegZero | Kind::NumBelowI64 | Kind::Crlf
    )
}

fn window_bad(k: Kind) -> bool {
    !window_good(k) && k != Kind::Empty
}

fn window(args: &[&str], input: Vec<u8>) -> Run {
    let mut cmd = Command::new(testkit::bin_path("kds-window"));
    cmd.args(args);
    run_bounded(cmd, Some(input), Duration::from_secs(120))
}

fn window_rows(out: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(out)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("output row {l}: {e}")))
        .collect()
}

/// Totals over rows (rowtime rows depend on when the lines were read, totals do not).
fn totals(rows: &[serde_json::Value]) -> (u64, f64) {
    rows.iter().fold((0, 0.0), |(c, s), r| {
        (
            c + r["count_tno"].as_u64().unwrap_or(0),
            s + r["sum_tnum"].as_f64().unwrap_or(0.0),
        )
    })
}

fn check_window_run(what: &str, run: &Run, bad: &[u64]) {
    let tool = "kds-window";
    assert_no_panic(tool, run);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{what}: bad lines are skipped, exit 0; stderr:\n{}",
        tail_of(&run.stderr)
    );
    assert_one_line_diagnostics(tool, &run.stderr);
    assert_reports_bad_lines(tool, &run.stderr, bad);
    assert!(
        run.stderr
            .contains(&format!("kds-window: {} bad lines skipped", bad.len())),
        "{what}: no count of {} bad lines; stderr:\n{}",
        bad.len(),
        tail_of(&run.stderr)
    );
}

/// The flag-query scenario's runs: each query on the corpus and on its good lines alone.
struct WindowOutcome {
    lines: Vec<Line>,
    /// Line numbers kds-window must skip and report.
    bad: Vec<u64>,
    /// `(query, run on the corpus, run on the good lines alone)`: event time, every aggregate
    /// with a group-by, the lab query on rowtime.
    queries: Vec<(&'static str, Run, Run)>,
    /// `--strict` on the corpus.
    strict: Run,
}

impl WindowOutcome {
    fn query(&self, name: &str) -> (&Run, &Run) {
        let (_, with_garbage, clean) = self
            .queries
            .iter()
            .find(|(n, _, _)| *n == name)
            .unwrap_or_else(|| panic!("no query {name}"));
        (with_garbage, clean)
    }
}

/// kds-window (event time, every aggregate, rowtime, `--strict`) on a 3,000-line corpus with
/// the 10 MiB line; the tests below each assert one behaviour of these runs.
fn window_scenario() -> WindowOutcome {
    let lines = corpus(3000, true);
    let all = join_lines(&lines);
    let good_only = join_lines(lines.iter().filter(|l| window_good(l.kind)));
    let bad = numbers(&lines, window_bad);
    let started = Instant::now();
    // Garbage lines carry times out of order: allow for it, so every good line counts.
    let event_time = ["--time", "event:tuptime", "--allowed-lateness", "10m"];
    // Every aggregate and a group-by (string and number paths through the scanner).
    let every_aggregate = [
        "--time",
        "event:tuptime",
        "--allowed-lateness",
        "10m",
        "--size",
        "10s",
        "--group-by",
        "uno",
        "--agg",
        "count,sum:tnum,min:tnum,max:tnum,avg:tnum,count_distinct:pno",
    ];
    let queries: Vec<(&'static str, Run, Run)> = [
        ("event time", &event_time[..]),
        ("all aggregates", &every_aggregate[..]),
        ("rowtime", &[][..]),
    ]
    .into_iter()
    .map(|(name, q)| (name, window(q, all.clone()), window(q, good_only.clone())))
    .collect();
    let strict = window(&["--time", "event:tuptime", "--strict"], all);

    let mut f = Figures::new(
        "garbage-window",
        "kds-window (event time, all aggregates, rowtime, --strict) on trades mixed with garbage lines",
    );
    f.sent = lines.len() as u64;
    f.delivered = count_kinds(&lines, window_good);
    f.lost = 0;
    f.dead_lettered = 0;
    f.peak_rss_kib = vec![(
        "kds-window".into(),
        queries.first().map_or(0, |(_, r, _)| r.rss_kib),
    )];
    f.seconds = started.elapsed().as_secs_f64();
    f.command = "cargo test -p kds-pipeline-tests --test reliability_garbage window_".into();
    f.notes = format!(
        "{} bad lines skipped and reported (first 5 by line number, then a count); {} empty lines ignored; rows equal a run on the good lines alone",
        bad.len(),
        count_kinds(&lines, |k| k == Kind::Empty)
    );
    record(&f);
    WindowOutcome {
        lines,
        bad,
        queries,
        strict,
    }
}

scenario_outcome!(fn window_outcome() -> WindowOutcome = window_scenario);

/// Asserts the run on the good lines alone worked, so a comparison with it means something.
fn assert_clean_run(what: &str, clean: &Run) {
    assert_no_panic("kds-window", clean);
    assert!(
        clean.status.success(),
        "{what} on the good lines alone: {}",
        tail_of(&clean.stderr)
    );
}

/// Every query skips the bad lines, names the first ones and counts them, and exits 0.
#[test]
fn window_skips_and_reports_the_bad_lines_in_every_query() {
    let o = window_outcome();
    for (query, with_garbage, _) in &o.queries {
        check_window_run(query, with_garbage, &o.bad);
    }
}

/// Event time: rows are deterministic, so the run on everything must equal the run on the
/// good lines alone, row for row.
#[test]
fn window_event_time_rows_equal_a_run_on_the_good_lines() {
    let (with_garbage, clean) = window_outcome().query("event time");
    assert_clean_run("event time", clean);
    let rows = window_rows(&with_garbage.stdout);
    assert!(!rows.is_empty(), "no rows at all");
    assert_eq!(
        rows,
        window_rows(&clean.stdout),
        "rows with garbage differ from rows of the good lines alone"
    );
}

#[test]
fn window_event_time_counts_every_good_line() {
    let o = window_outcome();
    let rows = window_rows(&o.query("event time").0.stdout);
    let good = count_kinds(&o.lines, window_good);
    assert_eq!(totals(&rows).0, good, "count_tno over all windows");
}

#[test]
fn window_all_aggregates_rows_equal_a_run_on_the_good_lines() {
    let (with_garbage, clean) = window_outcome().query("all aggregates");
    assert_clean_run("all aggregates", clean);
    assert_eq!(
        window_rows(&with_garbage.stdout),
        window_rows(&clean.stdout),
        "all aggregates: rows with garbage differ from the good lines alone"
    );
}

/// The lab query on rowtime: rows depend on when lines were read, totals do not.
#[test]
fn window_rowtime_totals_are_the_good_lines() {
    let o = window_outcome();
    let (with_garbage, clean) = o.query("rowtime");
    assert_clean_run("rowtime", clean);
    let (c1, s1) = totals(&window_rows(&with_garbage.stdout));
    let (c2, s2) = totals(&window_rows(&clean.stdout));
    assert_eq!(c1, count_kinds(&o.lines, window_good), "count_tno");
    assert_eq!((c1, s1), (c2, s2), "rowtime totals");
}

/// `--strict`: exit 1 at the first bad line, with that line's number.
#[test]
fn window_strict_exits_1_naming_the_first_bad_line() {
    let o = window_outcome();
    let strict = &o.strict;
    assert_no_panic("kds-window", strict);
    assert_eq!(strict.status.code(), Some(1), "{}", strict.stderr);
    assert_one_line_diagnostics("kds-window", &strict.stderr);
    assert!(
        strict.stderr.contains(&format!("line {}", o.bad[0])),
        "--strict names the first bad line {}: {}",
        o.bad[0],
        strict.stderr
    );
}

const LAB_SQL: &str = r#"CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (count_tno integer, sum_tnum integer);
CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
SELECT STREAM count(*), sum("tnum")
FROM "SOURCE_SQL_STREAM_001"
GROUP BY FLOOR(("SOURCE_SQL_STREAM_001".ROWTIME - TIMESTAMP '1970-01-01 00:00:00') SECOND / 60 TO SECOND);
"#;

#[test]
fn window_sql_skips_garbage_and_counts_the_good_lines() {
    let lines = corpus(2000, true);
    let all = join_lines(&lines);
    let good_only = join_lines(lines.iter().filter(|l| window_good(l.kind)));
    let bad = numbers(&lines, window_bad);
    let with_garbage = window(&["--sql", LAB_SQL], all);
    check_window_run("--sql", &with_garbage, &bad);
    let clean = window(&["--sql", LAB_SQL], good_only);
    assert!(clean.status.success(), "{}", clean.stderr);
    let (c1, s1) = totals(&window_rows(&with_garbage.stdout));
    assert_eq!(c1, count_kinds(&lines, window_good));
    assert_eq!(
        (c1, s1),
        totals(&window_rows(&clean.stdout)),
        "--sql totals with garbage vs good lines alone"
    );
}

/// Lines a merger must skip: every corpus garbage line but the empty one, a good trade line
/// (not a partial row) and broken partial rows.
fn merge_junk() -> Vec<Vec<u8>> {
    let mut rng = XorShift(7);
    let mut junk: Vec<Vec<u8>> = GARBAGE_KINDS
        .iter()
        .enumerate()
        .filter(|(_, k)| **k != Kind::Empty)
        .map(|(i, k)| garbage(*k, i as u32, &mut rng))
        .collect();
    junk.push(trade("1", "AbCd", 3, 1001, "5").into_bytes());
    let w = r#""window_start":"2021-03-19T13:15:00.000Z","window_end":"2021-03-19T13:15:30.000Z""#;
    for bad_partial in [
        format!(r#"{{"kds_window_partial":1,{w},"key":[],"aggs":{{"count_tno":{{"count":"x"}},"sum_tnum":{{"sum":1,"n":1}}}}}}"#),
        format!(r#"{{"kds_window_partial":1,{w},"key":[],"aggs":{{"count_tno":{{"count":1e400}},"sum_tnum":{{"sum":1,"n":1}}}}}}"#),
        format!(r#"{{"kds_window_partial":1,{w},"key":[],"aggs":{{"count_tno":{{"count":18446744073709551617}},"sum_tnum":{{"sum":1,"n":1}}}}}}"#),
        format!(r#"{{"kds_window_partial":1,{w},"key":[1,2,3],"aggs":{{"count_tno":{{"count":1}},"sum_tnum":{{"sum":1,"n":1}}}}}}"#),
        format!(r#"{{"kds_window_partial":1,{w},"key":[],"aggs":{{}}}}"#),
        r#"{"kds_window_partial":1,"window_start":"2021-03-19T13:15:30.000Z","window_end":"2021-03-19T13:15:00.000Z","key":[],"aggs":{"count_tno":{"count":1},"sum_tnum":{"sum":1,"n":1}}}"#.to_string(),
        r#"{"kds_window_partial":1,"window_start":"garbage","window_end":"2021-03-19T13:15:00.000Z","key":[],"aggs":{"count_tno":{"count":1},"sum_tnum":{"sum":1,"n":1}}}"#.to_string(),
        r#"{"kds_window_partial":"yes"}"#.to_string(),
    ] {
        junk.push(bad_partial.into_bytes());
    }
    junk
}

/// The merger's input: two junk lines before each partial row, the rest of the junk at the
/// end. Returns it with the junk's line numbers.
fn interleave(partials: &[Vec<u8>], junk: &[Vec<u8>]) -> (Vec<u8>, Vec<u64>) {
    let mut input = Vec::new();
    let mut bad = Vec::new();
    let mut line_no = 0u64;
    let mut j = junk.iter();
    for p in partials {
        for g in j.by_ref().take(2) {
            line_no += 1;
            bad.push(line_no);
            input.extend_from_slice(g);
            input.push(b'\n');
        }
        line_no += 1;
        input.extend_from_slice(p);
        input.push(b'\n');
    }
    for g in j {
        line_no += 1;
        bad.push(line_no);
        input.extend_from_slice(g);
        input.push(b'\n');
    }
    (input, bad)
}

/// The `--merge` scenario's runs.
struct MergeOutcome {
    /// `--partial` on each half of the good lines.
    partial_runs: [Run; 2],
    /// The partial rows both wrote.
    partials: Vec<Vec<u8>>,
    /// `--merge` of the partial rows mixed with junk, and the junk's line numbers.
    merged: Run,
    bad: Vec<u64>,
    /// One process on all the good lines.
    single: Run,
}

/// Partial rows of two halves of a 2,000-line corpus's good lines, merged with junk between
/// them, against one process on the good lines.
fn merge_scenario() -> MergeOutcome {
    let lines = corpus(2000, false);
    let good_only = join_lines(lines.iter().filter(|l| window_good(l.kind)));
    let q = ["--time", "event:tuptime", "--size", "30s"];
    let half = good_only.len() / 2;
    let cut = good_only[..half]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let mut partial_args = q.to_vec();
    partial_args.push("--partial");
    let partial_runs = [
        window(&partial_args, good_only[..cut].to_vec()),
        window(&partial_args, good_only[cut..].to_vec()),
    ];
    let partials: Vec<Vec<u8>> = partial_runs
        .iter()
        .flat_map(|r| r.stdout.split(|&b| b == b'\n').filter(|l| !l.is_empty()))
        .map(<[u8]>::to_vec)
        .collect();
    let (input, bad) = interleave(&partials, &merge_junk());
    let mut merge_args = q.to_vec();
    merge_args.push("--merge");
    MergeOutcome {
        merged: window(&merge_args, input),
        single: window(&q, good_only),
        partial_runs,
        partials,
        bad,
    }
}

scenario_outcome!(fn merge_outcome() -> MergeOutcome = merge_scenario);

#[test]
fn window_partial_writes_partial_rows() {
    let o = merge_outcome();
    for run in &o.partial_runs {
        assert!(run.status.success(), "{}", tail_of(&run.stderr));
    }
    assert!(o.partials.len() >= 4, "expected partial rows");
}

#[test]
fn window_merge_skips_and_reports_garbage_between_partial_rows() {
    let o = merge_outcome();
    check_window_run("--merge", &o.merged, &o.bad);
}

#[test]
fn window_merge_of_partials_equals_one_process_on_the_good_lines() {
    let o = merge_outcome();
    assert!(o.single.status.success(), "{}", tail_of(&o.single.stderr));
    assert_eq!(
        window_rows(&o.merged.stdout),
        window_rows(&o.single.stdout),
        "--merge of partials mixed with garbage differs from one process on the good lines"
    );
}

/// A partial row's count is never negative: a merger must refuse `"count":-1` as garbage
/// rather than subtract it.
#[test]
fn window_merge_refuses_negative_counts() {
    let row = r#"{"kds_window_partial":1,"window_start":"2021-03-19T13:15:00.000Z","window_end":"2021-03-19T13:16:00.000Z","key":[],"aggs":{"count_tno":{"count":-1},"sum_tnum":{"sum":1,"n":1}}}"#;
    let good = r#"{"kds_window_partial":1,"window_start":"2021-03-19T13:15:00.000Z","window_end":"2021-03-19T13:16:00.000Z","key":[],"aggs":{"count_tno":{"count":2},"sum_tnum":{"sum":3,"n":2}}}"#;
    let run = window(
        &["--merge", "--time", "event:tuptime"],
        format!("{good}\n{row}\n").into_bytes(),
    );
    assert_no_panic("kds-window", &run);
    assert_reports_bad_lines("kds-window", &run.stderr, &[2]);
    let rows = window_rows(&run.stdout);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["count_tno"], 2, "{rows:?}");
}

/// Event times that cannot be a window (epoch milliseconds at the ends of i64, or past year
/// 9999, which RFC 3339 cannot write) are bad lines, like an unparsable time.
#[test]
fn window_event_times_out_of_range_are_bad_lines() {
    let good = r#"{"tnum":1,"tuptime":"2021-03-19T13:15:00Z"}"#;
    for t in [
        "9223372036854775807",
        "-9223372036854775808",
        "253402300800000",
        "-62167219200001",
    ] {
        let input = format!("{good}\n{{\"tnum\":1,\"tuptime\":{t}}}\n{good}\n");
        let run = window(&["--time", "event:tuptime"], input.into_bytes());
        assert_no_panic("kds-window", &run);
        assert_eq!(run.status.code(), Some(0), "tuptime {t}: {}", run.stderr);
        assert_reports_bad_lines("kds-window", &run.stderr, &[2]);
        let rows = window_rows(&run.stdout);
        assert_eq!(rows.len(), 1, "tuptime {t}: {rows:?}");
        assert_eq!(rows[0]["count_tno"], 2, "tuptime {t}: {rows:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// kds-gen (flags only)
// ---------------------------------------------------------------------------------------------

#[test]
fn gen_refuses_garbage_flags_naming_them() {
    let gen = testkit::bin_path("kds-gen");
    let cases: &[&[&str]] = &[
        &["--rate", "1e400"],
        &["--rate", "NaN"],
        &["--rate", "-0.5"],
        &["--late", "NaN"],
        &["--late", "1e400"],
        &["--skew", "zipf:1e400"],
        &["--skew", "zipf:"],
        &["-n", "18446744073709551617"],
        &["-n", "-1"],
        &["--duration", "99999999999999999999h"],
        &["--duration", "1e400s"],
        &["--start", "+275760-09-13T00:00:00Z", "--simulated-clock"],
        &["--users", "4294967296"],
        &["2021-02-30"],
        &["\u{feff}2021-03-19"],
        &["--format", "xml"],
    ];
    for args in cases {
        let mut cmd = Command::new(&gen);
        cmd.args(*args).args(["-n", "1"]);
        let run = run_bounded(cmd, None, Duration::from_secs(30));
        assert_no_panic("kds-gen", &run);
        assert_eq!(run.status.code(), Some(2), "{args:?}: {}", run.stderr);
        assert_usage_error_shape("kds-gen", &run.stderr);
    }
    // Invalid UTF-8 in an argument.
    let mut cmd = Command::new(&gen);
    cmd.arg(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(b"20\xff21-03-19"));
    let run = run_bounded(cmd, None, Duration::from_secs(30));
    assert_no_panic("kds-gen", &run);
    assert_eq!(run.status.code(), Some(2), "{}", run.stderr);
}

/// A simulated clock that would run past 9999-12-31T23:59:59Z stops with an error instead of
/// writing times that go backwards (RFC 3339 years have four digits).
#[test]
fn gen_simulated_clock_stops_at_year_9999() {
    let mut cmd = Command::new(testkit::bin_path("kds-gen"));
    cmd.args([
        "2021-03-19",
        "--simulated-clock",
        "--start",
        "9998-12-31T00:00:00Z",
        "--rate",
        "0.0001", // one event every 10,000 s: ~3.2 years in 10,000 events
        "-n",
        "10000",
        "--seed",
        "1",
    ]);
    let run = run_bounded(cmd, None, Duration::from_secs(30));
    assert_no_panic("kds-gen", &run);
    assert_eq!(run.status.code(), Some(1), "{}", run.stderr);
    assert_one_line_diagnostics("kds-gen", &run.stderr);
    assert!(run.stderr.contains("9999"), "{}", run.stderr);
    let mut last = String::new();
    for line in String::from_utf8_lossy(&run.stdout).lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("event JSON");
        let t = v["tuptime"].as_str().expect("tuptime").to_string();
        assert!(t >= last, "time went backwards: {last} then {t}");
        assert!(t.starts_with("999"), "{t}");
        last = t;
    }
    assert!(!last.is_empty(), "events before the limit are written");
}

// ---------------------------------------------------------------------------------------------
// kds-put (needs the stack)
// ---------------------------------------------------------------------------------------------

/// kds-put (partition key field `tno`): JSON with a string `tno` is a record (a CRLF line is
/// JSON plus whitespace and is sent with its `\r`; a string `tnum` is no concern of kds-put);
/// the 10 MiB line exceeds the 1 MiB record limit; a line that is not JSON (invalid UTF-8, raw
/// control characters, trailing bytes, a BOM, unbalanced nesting) or has no `tno` is a bad line.
fn put_good(k: Kind) -> bool {
    matches!(
        k,
        Kind::Good
            | Kind::Num2p64
            | Kind::NegZero
            | Kind::NumBelowI64
            | Kind::Crlf
            | Kind::TnumString
    )
}

/// Valid JSON by RFC 8259's grammar that serde_json refuses to represent (1e400, 200-deep
/// nesting, a lone surrogate escape): kds-put may send them (they are JSON, and kds-put needs
/// only the key) or dead-letter them (with a reason); either way exactly once, never lost.
fn put_either(k: Kind) -> bool {
    matches!(k, Kind::Num1e400 | Kind::DeepValid | Kind::LoneSurrogate)
}

/// What kds-put made of the corpus.
struct PutOutcome {
    lines: Vec<Line>,
    run: Run,
    /// The dead-letter file's records, in file order (each parsed as JSON).
    dead: Vec<serde_json::Value>,
    /// The stream's records and the lines not dead-lettered, both sorted.
    got: Vec<Vec<u8>>,
    want: Vec<Vec<u8>>,
}

impl PutOutcome {
    /// Dead letters by line number (the last one where a line has two).
    fn dead_lines(&self) -> BTreeMap<u64, &serde_json::Value> {
        self.dead
            .iter()
            .map(|v| (v["line"].as_u64().expect("dead letter line"), v))
            .collect()
    }
}

/// kds-put `--dead-letter` on a 400-line corpus with the 10 MiB line into a 2-shard stream.
fn put_scenario() -> PutOutcome {
    let rt = runtime();
    let stack = Stack::get();
    let stream = rt.block_on(TestStream::create(&stack, 2)).expect("stream");
    let dir = tempfile::tempdir().expect("tempdir");
    let dead_path = dir.path().join("dead.ndjson");
    let lines = corpus(400, true);
    let mut cmd = stack.command(testkit::bin_path("kds-put"));
    cmd.args(["--stream", &stream.name, "--dead-letter"])
        .arg(&dead_path)
        .arg("-v");
    let run = run_bounded(cmd, Some(join_lines(&lines)), Duration::from_secs(180));
    let dead_text = std::fs::read_to_string(&dead_path).expect("dead-letter file");
    let dead: Vec<serde_json::Value> = dead_text
        .lines()
        .map(|l| serde_json::from_str(l).expect("dead letter is JSON"))
        .collect();
    let dead_numbers: BTreeSet<u64> = dead.iter().filter_map(|v| v["line"].as_u64()).collect();
    let client = rt.block_on(stack.kinesis_client());
    let mut got: Vec<Vec<u8>> = rt
        .block_on(read_stream_all(&client, &stream.name))
        .expect("read back")
        .into_iter()
        .map(|r| r.data)
        .collect();
    got.sort();
    let mut want: Vec<Vec<u8>> = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| !dead_numbers.contains(&(*i as u64 + 1)))
        .map(|(_, l)| l.bytes.clone())
        .collect();
    want.sort();
    let either_sent: Vec<Kind> = lines
        .iter()
        .enumerate()
        .filter(|(i, l)| put_either(l.kind) && !dead_numbers.contains(&(*i as u64 + 1)))
        .map(|(_, l)| l.kind)
        .collect();

    let mut f = Figures::new(
        "garbage-put",
        "kds-put on trades mixed with garbage lines (incl. a 10 MiB line), --dead-letter",
    );
    f.sent = lines.len() as u64;
    f.delivered = got.len() as u64;
    f.dead_lettered = dead_numbers.len() as u64;
    f.lost = missing(&want, &got);
    f.peak_rss_kib = vec![("kds-put".into(), run.rss_kib)];
    f.seconds = run.seconds;
    f.command = "cargo test -p kds-pipeline-tests --test reliability_garbage put_".into();
    f.notes = format!(
        "every bad line dead-lettered with its line number and exact bytes (data_base64 for invalid UTF-8); exit 1 as documented without --allow-dead-letters; JSON serde_json cannot represent, sent as records: {either_sent:?}"
    );
    record(&f);
    rt.block_on(stream.delete()).ok();
    PutOutcome {
        lines,
        run,
        dead,
        got,
        want,
    }
}

scenario_outcome!(fn put_outcome() -> PutOutcome = put_scenario);

/// How many of `want` (sorted) are not in `got` (sorted).
fn missing(want: &[Vec<u8>], got: &[Vec<u8>]) -> u64 {
    want.iter()
        .filter(|w| got.binary_search(w).is_err())
        .count() as u64
}

#[test]
fn put_exits_1_on_dead_letters_without_allow_dead_letters() {
    let run = &put_outcome().run;
    assert_no_panic("kds-put", run);
    assert_eq!(
        run.status.code(),
        Some(1),
        "dead letters without --allow-dead-letters exit 1; stderr:\n{}",
        tail_of(&run.stderr)
    );
}

#[test]
fn put_diagnostics_are_one_line_each() {
    assert_one_line_diagnostics("kds-put", &put_outcome().run.stderr);
}

#[test]
fn put_dead_letters_each_line_at_most_once() {
    let mut seen = BTreeSet::new();
    for v in &put_outcome().dead {
        let n = v["line"].as_u64().expect("dead letter line");
        assert!(seen.insert(n), "line {n} dead-lettered twice");
    }
}

#[test]
fn put_dead_letters_every_line_that_is_not_a_record() {
    let o = put_outcome();
    let dead_lines = o.dead_lines();
    for n in numbers(&o.lines, |k| !put_good(k) && !put_either(k)) {
        assert!(
            dead_lines.contains_key(&n),
            "line {n} ({:?}) is not dead-lettered",
            o.lines[n as usize - 1].kind
        );
    }
}

#[test]
fn put_dead_letters_no_good_line() {
    let o = put_outcome();
    for (n, v) in o.dead_lines() {
        let kind = o.lines[n as usize - 1].kind;
        assert!(
            !put_good(kind),
            "good line {n} ({kind:?}) was dead-lettered: {v}"
        );
    }
}

#[test]
fn put_names_the_dead_lettered_lines_on_stderr() {
    let o = put_outcome();
    let bad: Vec<u64> = o.dead_lines().keys().copied().collect();
    assert_reports_bad_lines("kds-put", &o.run.stderr, &bad);
}

/// The dead-letter file holds each bad line's exact bytes (`data_base64` when not UTF-8).
#[test]
fn put_dead_letters_hold_the_lines_bytes() {
    let o = put_outcome();
    for (n, v) in o.dead_lines() {
        let original = &o.lines[n as usize - 1].bytes;
        let got = match v.get("data_base64").and_then(|b| b.as_str()) {
            Some(b64) => base64_decode(b64),
            None => v["data"].as_str().expect("data").as_bytes().to_vec(),
        };
        assert!(
            &got == original,
            "line {n} ({:?}): dead letter data differs from the line",
            o.lines[n as usize - 1].kind
        );
    }
}

#[test]
fn put_refuses_bad_lines_before_sending_them() {
    for (n, v) in put_outcome().dead_lines() {
        assert_eq!(v["attempts"], 0, "line {n}: refused before sending");
    }
}

#[test]
fn put_dead_letters_the_10_mib_line_as_record_too_large() {
    let too_large = put_outcome()
        .dead
        .iter()
        .filter(|v| v["error_code"] == "RecordTooLarge")
        .count();
    assert_eq!(too_large, 1, "the 10 MiB line is RecordTooLarge");
}

#[test]
fn put_stream_holds_exactly_the_lines_not_dead_lettered() {
    let o = put_outcome();
    assert_eq!(
        missing(&o.want, &o.got),
        0,
        "good lines missing from the stream"
    );
    assert_eq!(o.got, o.want, "stream contents");
}

fn base64_decode(s: &str) -> Vec<u8> {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes().filter(|&c| c != b'=') {
        let v = A.iter().position(|&a| a == c).expect("base64 alphabet") as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// kds-s3sink (needs the stack)
// ---------------------------------------------------------------------------------------------

fn s3sink_run(stack: &Stack, args: &[&str], input: Vec<u8>, spill: &Path) -> Run {
    let mut cmd = stack.command(testkit::bin_path("kds-s3sink"));
    cmd.args(args).arg("--spill").arg(spill).arg("-v");
    run_bounded(cmd, Some(input), Duration::from_secs(180))
}

/// What kds-s3sink wrote for the corpus.
struct SinkOutcome {
    lines: Vec<Line>,
    run: Run,
    /// The bucket's objects, key and body.
    objects: Vec<(String, Vec<u8>)>,
}

impl SinkOutcome {
    /// The lines `pred` selects, sorted.
    fn want(&self, pred: impl Fn(Kind) -> bool) -> Vec<Vec<u8>> {
        sorted(
            self.lines
                .iter()
                .filter(|l| pred(l.kind))
                .map(|l| l.bytes.clone())
                .collect(),
        )
    }
}

fn sorted(mut v: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    v.sort();
    v
}

/// Runs kds-s3sink with `args` on a 3,000-line corpus with the 10 MiB line into a new bucket,
/// and lists what it wrote; the bucket is deleted.
fn sink_corpus(args: &[&str]) -> SinkOutcome {
    let rt = runtime();
    let stack = Stack::get();
    let bucket = rt.block_on(TestBucket::create(&stack)).expect("bucket");
    let dir = tempfile::tempdir().expect("tempdir");
    let lines = corpus(3000, true);
    let mut all = vec!["--bucket", &bucket.name];
    all.extend_from_slice(args);
    let run = s3sink_run(&stack, &all, join_lines(&lines), &dir.path().join("spill"));
    let s3 = rt.block_on(stack.s3_client());
    let objects = rt
        .block_on(list_objects_all(&s3, &bucket.name))
        .expect("list");
    rt.block_on(bucket.delete()).ok();
    SinkOutcome {
        lines,
        run,
        objects,
    }
}

/// The records of raw objects (each record ends with `\n`, `--newline`).
fn raw_records(objects: &[(String, Vec<u8>)]) -> Vec<Vec<u8>> {
    let records = objects.iter().flat_map(|(_, body)| {
        let body = body.strip_suffix(b"\n").unwrap_or(body);
        body.split(|&b| b == b'\n').map(<[u8]>::to_vec)
    });
    sorted(records.collect())
}

/// Raw input: every line is a record, whatever its bytes. With `--newline` the objects hold
/// the input lines exactly.
fn raw_scenario() -> SinkOutcome {
    let o = sink_corpus(&["--prefix", "raw/", "--buffer-size", "1MiB", "--newline"]);
    let got = raw_records(&o.objects);
    let mut f = Figures::new(
        "garbage-s3sink-raw",
        "kds-s3sink --newline (raw records) on trades mixed with garbage lines incl. a 10 MiB line",
    );
    f.sent = o.lines.len() as u64;
    f.delivered = got.len() as u64;
    f.lost = missing(&o.want(|_| true), &got);
    f.peak_rss_kib = vec![("kds-s3sink".into(), o.run.rss_kib)];
    f.seconds = o.run.seconds;
    f.command = "cargo test -p kds-pipeline-tests --test reliability_garbage s3sink_raw".into();
    f.notes = "raw records are bytes: every line, garbage included, is stored exactly once".into();
    record(&f);
    o
}

scenario_outcome!(fn raw_outcome() -> SinkOutcome = raw_scenario);

/// Garbage is data to kds-s3sink: no panic, exit 0.
fn assert_sink_exits_0(run: &Run) {
    assert_no_panic("kds-s3sink", run);
    assert_eq!(run.status.code(), Some(0), "{}", tail_of(&run.stderr));
}

#[test]
fn s3sink_raw_exits_0_on_garbage() {
    assert_sink_exits_0(&raw_outcome().run);
}

#[test]
fn s3sink_raw_diagnostics_are_one_line_each() {
    assert_one_line_diagnostics("kds-s3sink", &raw_outcome().run.stderr);
}

#[test]
fn s3sink_raw_reports_every_line_as_a_record() {
    let o = raw_outcome();
    assert_eq!(
        reported_records(&o.run.stdout).expect("object reports"),
        o.lines.len() as u64,
        "records in the report lines"
    );
}

#[test]
fn s3sink_raw_objects_are_under_the_prefix_and_end_with_newline() {
    for (key, body) in &raw_outcome().objects {
        assert!(key.starts_with("raw/"), "{key}");
        assert!(body.ends_with(b"\n"), "{key}: records end with \\n");
    }
}

#[test]
fn s3sink_raw_stores_every_line_byte_for_byte() {
    let o = raw_outcome();
    let (got, want) = (raw_records(&o.objects), o.want(|_| true));
    assert_eq!(missing(&want, &got), 0, "lines missing from S3");
    assert!(got == want, "S3 holds other lines than the input");
}

/// kds-s3sink with dynamic partitioning on `uno`: a record that is JSON with a string `uno`
/// goes to its partition; anything else (not JSON for serde_json, incl. empty lines) becomes a
/// Firehose error record under the error prefix, with its exact bytes in `rawData`.
fn s3sink_partitioned(k: Kind) -> bool {
    matches!(
        k,
        Kind::Good
            | Kind::Huge
            | Kind::Num2p64
            | Kind::NegZero
            | Kind::NumBelowI64
            | Kind::Crlf
            | Kind::TnumString
    )
}

/// `(partition, record)` of every record under `in/uno=<partition>/`.
fn partition_records(objects: &[(String, Vec<u8>)]) -> Vec<(String, Vec<u8>)> {
    let mut records = Vec::new();
    for (key, body) in objects {
        if let Some(rest) = key.strip_prefix("in/uno=") {
            let uno = rest.split('/').next().unwrap_or("");
            let body = body.strip_suffix(b"\n").unwrap_or(body);
            for rec in body.split(|&b| b == b'\n') {
                records.push((uno.to_string(), rec.to_vec()));
            }
        }
    }
    records
}

/// `(key, error record)` of every line of the objects outside the input prefix.
fn error_records(objects: &[(String, Vec<u8>)]) -> Vec<(String, serde_json::Value)> {
    let error_objects = objects.iter().filter(|(k, _)| !k.starts_with("in/uno="));
    error_objects
        .flat_map(|(key, body)| {
            String::from_utf8_lossy(body)
                .lines()
                .map(|l| {
                    let v = serde_json::from_str(l)
                        .unwrap_or_else(|e| panic!("{key}: error record JSON: {e}"));
                    (key.clone(), v)
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The raw data of each error record, sorted (`--newline` applies to the record: its `\n`
/// is part of the raw data and dropped here).
fn error_raw_data(objects: &[(String, Vec<u8>)]) -> Vec<Vec<u8>> {
    let raw = error_records(objects).into_iter().map(|(_, v)| {
        let mut raw = base64_decode(v["rawData"].as_str().expect("rawData"));
        if raw.last() == Some(&b'\n') {
            raw.pop();
        }
        raw
    });
    sorted(raw.collect())
}

fn partitioned_scenario() -> SinkOutcome {
    let o = sink_corpus(&[
        "--prefix",
        "in/uno=!{partitionKeyFromQuery:uno}/",
        "--error-prefix",
        "err/!{firehose:error-output-type}/",
        "--partition-key",
        "uno=uno",
        "--buffer-size",
        "1MiB",
        "--newline",
    ]);
    let main = sorted(
        partition_records(&o.objects)
            .into_iter()
            .map(|(_, r)| r)
            .collect(),
    );
    let errors = error_raw_data(&o.objects);
    let mut f = Figures::new(
        "garbage-s3sink-partitioned",
        "kds-s3sink with dynamic partitioning on uno, trades mixed with garbage lines",
    );
    f.sent = o.lines.len() as u64;
    f.delivered = main.len() as u64;
    f.dead_lettered = errors.len() as u64;
    f.lost = missing(&o.want(s3sink_partitioned), &main)
        + missing(&o.want(|k| !s3sink_partitioned(k)), &errors);
    f.peak_rss_kib = vec![("kds-s3sink".into(), o.run.rss_kib)];
    f.seconds = o.run.seconds;
    f.command =
        "cargo test -p kds-pipeline-tests --test reliability_garbage s3sink_partition".into();
    f.notes = "unroutable lines are Firehose error records (MetadataExtractionFailed) with their exact bytes in rawData".into();
    record(&f);
    o
}

scenario_outcome!(fn partitioned_outcome() -> SinkOutcome = partitioned_scenario);

#[test]
fn s3sink_partitioning_exits_0_on_garbage() {
    assert_sink_exits_0(&partitioned_outcome().run);
}

#[test]
fn s3sink_partitioning_names_the_unroutable_lines() {
    let o = partitioned_outcome();
    let bad = numbers(&o.lines, |k| !s3sink_partitioned(k));
    assert_reports_bad_lines("kds-s3sink", &o.run.stderr, &bad);
}

#[test]
fn s3sink_partitioning_diagnostics_are_one_line_each() {
    assert_one_line_diagnostics("kds-s3sink", &partitioned_outcome().run.stderr);
}

#[test]
fn s3sink_partitioning_puts_each_record_in_its_uno_partition() {
    for (uno, rec) in partition_records(&partitioned_outcome().objects) {
        assert!(
            String::from_utf8_lossy(&rec).contains(&format!("\"uno\":\"{uno}\"")),
            "uno={uno}: record of another partition"
        );
    }
}

#[test]
fn s3sink_partitioning_writes_only_partitions_and_partitioning_failed_errors() {
    for (key, _) in &partitioned_outcome().objects {
        assert!(
            key.starts_with("in/uno=") || key.starts_with("err/partitioning-failed/"),
            "unexpected key {key}"
        );
    }
}

#[test]
fn s3sink_partitioning_error_records_are_metadata_extraction_failed() {
    for (key, v) in error_records(&partitioned_outcome().objects) {
        assert_eq!(
            v["errorCode"], "DynamicPartitioning.MetadataExtractionFailed",
            "{key}"
        );
        assert!(
            v["errorMessage"].as_str().is_some_and(|m| !m.is_empty()),
            "{key}: no errorMessage"
        );
    }
}

#[test]
fn s3sink_partitioning_stores_exactly_the_routable_lines() {
    let o = partitioned_outcome();
    let main = sorted(
        partition_records(&o.objects)
            .into_iter()
            .map(|(_, r)| r)
            .collect(),
    );
    let want = o.want(s3sink_partitioned);
    assert_eq!(missing(&want, &main), 0, "routable records missing");
    assert!(
        main == want,
        "partitioned records differ from the good lines"
    );
}

#[test]
fn s3sink_partitioning_sends_exactly_the_unroutable_lines_to_the_error_prefix() {
    let o = partitioned_outcome();
    let errors = error_raw_data(&o.objects);
    let want = o.want(|k| !s3sink_partitioned(k));
    assert_eq!(missing(&want, &errors), 0, "error records missing");
    assert!(errors == want, "error records differ from the bad lines");
}

// ---------------------------------------------------------------------------------------------
// kds-tail: garbage flags and checkpoint files (needs the stack for the stream)
// ---------------------------------------------------------------------------------------------

/// kds-tail's runs on garbage flags and checkpoint files.
struct TailOutcome {
    /// `(flags, run)`.
    flags: Vec<(Vec<&'static str>, Run)>,
    checkpoints: Vec<Checkpoint>,
}

/// A garbage checkpoint file: its bytes before kds-tail ran with it, the run, its bytes after.
struct Checkpoint {
    name: &'static str,
    path: String,
    written: Vec<u8>,
    run: Run,
    after: Vec<u8>,
}

/// Flags kds-tail must refuse as usage errors.
fn tail_garbage_flags() -> Vec<Vec<&'static str>> {
    vec![
        vec!["--from", "at-timestamp:1e400"],
        vec!["--from", "at-sequence::"],
        vec!["--from", "at-sequence:shardId-000000000000:-1"],
        vec!["--shards", "3/3"],
        vec!["--shards", "0/0"],
        vec!["--shards", "18446744073709551617/1"],
        vec!["--until", "yesterday"],
        vec!["--batch-limit", "0"],
        vec!["--batch-limit", "99999999999"],
        vec!["-n", "-5"],
        vec!["--checkpoint-interval", "1e400s"],
        vec!["--list-interval", "99999999999999999999h"],
        vec!["--data", "bogus"],
    ]
}

/// Checkpoint files with garbage, for stream `stream`.
fn garbage_checkpoints(stream: &str) -> Vec<(&'static str, Vec<u8>)> {
    let valid_seq = "49590338271490256608559692538361571095921575989136588898";
    let mut rng = XorShift(99);
    vec![
        ("random", (0..500).map(|_| (rng.next() >> 11) as u8).collect()),
        ("invalid-utf8", b"{\"version\":1,\"stream\":\"\xff\xfe\"}".to_vec()),
        ("truncated", br#"{"version":1,"stream":"#.to_vec()),
        ("nested", vec![b'['; 100_000]),
        ("nul", b"\0\0\0\0".to_vec()),
        ("not-an-object", b"[1,2,3]".to_vec()),
        ("version-1e400", br#"{"version":1e400,"stream":"s","from":"latest"}"#.to_vec()),
        (
            "version-2p64",
            br#"{"version":18446744073709551617,"stream":"s","from":"latest"}"#.to_vec(),
        ),
        (
            "bad-from",
            format!(r#"{{"version":1,"stream":"{stream}","from":"yesterday"}}"#).into_bytes(),
        ),
        (
            "bad-sequence",
            format!(
                r#"{{"version":1,"stream":"{stream}","from":"trim-horizon","shards":{{"shardId-000000000000":"not a number"}}}}"#
            )
            .into_bytes(),
        ),
        (
            "sequence-not-a-string",
            format!(
                r#"{{"version":1,"stream":"{stream}","from":"trim-horizon","shards":{{"shardId-000000000000":{valid_seq}}}}}"#
            )
            .into_bytes(),
        ),
        (
            "finished-not-a-list",
            format!(
                r#"{{"version":1,"stream":"{stream}","from":"trim-horizon","finished":"shardId-000000000000"}}"#
            )
            .into_bytes(),
        ),
    ]
}

/// kds-tail on a one-shard stream with each garbage flag, then with each garbage checkpoint.
fn tail_scenario() -> TailOutcome {
    let rt = runtime();
    let stack = Stack::get();
    let stream = rt.block_on(TestStream::create(&stack, 1)).expect("stream");
    let dir = tempfile::tempdir().expect("tempdir");
    let tail = testkit::bin_path("kds-tail");
    let flags = tail_garbage_flags()
        .into_iter()
        .map(|args| {
            let mut cmd = stack.command(&tail);
            cmd.args(["--stream", &stream.name, "-e"]).args(&args);
            (args, run_bounded(cmd, None, Duration::from_secs(60)))
        })
        .collect();
    let checkpoints = garbage_checkpoints(&stream.name)
        .into_iter()
        .map(|(name, written)| {
            let path = dir.path().join(format!("{name}.checkpoint"));
            std::fs::write(&path, &written).expect("write checkpoint");
            let mut cmd = stack.command(&tail);
            cmd.args(["--stream", &stream.name, "-e", "--from", "trim-horizon"])
                .arg("--checkpoint")
                .arg(&path);
            let run = run_bounded(cmd, None, Duration::from_secs(90));
            Checkpoint {
                name,
                path: path.to_string_lossy().into_owned(),
                after: std::fs::read(&path).expect("read back"),
                written,
                run,
            }
        })
        .collect();
    rt.block_on(stream.delete()).ok();
    TailOutcome { flags, checkpoints }
}

scenario_outcome!(fn tail_outcome() -> TailOutcome = tail_scenario);

/// Flags: usage errors (exit 2), naming the flag.
#[test]
fn tail_refuses_garbage_flags_as_usage_errors() {
    for (args, run) in &tail_outcome().flags {
        assert_no_panic("kds-tail", run);
        assert_eq!(run.status.code(), Some(2), "{args:?}: {}", run.stderr);
        assert_usage_error_shape("kds-tail", &run.stderr);
    }
}

/// Checkpoint files with garbage: refused (exit 1 or 2) with one line naming the file; never
/// read from the start silently, never a panic.
#[test]
fn tail_refuses_garbage_checkpoints_with_one_line_naming_the_file() {
    for c in &tail_outcome().checkpoints {
        let (name, run) = (c.name, &c.run);
        assert_no_panic("kds-tail", run);
        assert!(
            matches!(run.status.code(), Some(1 | 2)),
            "checkpoint {name}: expected exit 1 or 2, got {:?}; stderr: {}",
            run.status,
            run.stderr
        );
        assert_one_line_diagnostics("kds-tail", &run.stderr);
        assert!(
            run.stderr.lines().count() == 1 && run.stderr.contains(&c.path),
            "checkpoint {name}: one line naming the file; stderr: {}",
            run.stderr
        );
    }
}

#[test]
fn tail_leaves_a_refused_checkpoint_as_it_was() {
    for c in &tail_outcome().checkpoints {
        assert_eq!(
            c.after, c.written,
            "checkpoint {}: a refused checkpoint must be left as it was",
            c.name
        );
    }
}
