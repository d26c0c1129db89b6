//! In-process tests of the generator through its library API: schema, determinism, pacing on a
//! simulated clock, the realism knobs' fractions, CSV, counts.

#![allow(clippy::unwrap_used)] // test code: helpers outside #[test] unwrap too

mod common;

use std::collections::{HashMap, HashSet};
use std::io;
use std::time::Duration;

use clap::Parser;
use common::{epoch_s, within, Schema};
use kds_common::io::{Output, SharedBuf};
use kds_common::signal::Shutdown;
use kds_gen::{generate, run_with, Args, Clock, Config};

const START: &str = "2021-03-19T13:00:00Z";

fn config(args: &[&str]) -> Config {
    let args = Args::try_parse_from(std::iter::once("kds-gen").chain(args.iter().copied()))
        .expect("flags parse");
    Config::try_from(args).expect("flags are valid")
}

fn generate_text(args: &[&str]) -> String {
    let buf = SharedBuf::default();
    let mut out = Output::new(buf.clone());
    run_with(&config(args), &mut out, &Shutdown::manual()).unwrap();
    String::from_utf8(buf.contents()).unwrap()
}

/// Simulated-clock run from START at `rate`, with extra flags.
fn simulated(n: u64, rate: &str, extra: &[&str]) -> String {
    let n = n.to_string();
    let mut args = vec![
        "2021-03-19",
        "-n",
        &n,
        "--rate",
        rate,
        "--simulated-clock",
        "--start",
        START,
        "--seed",
        "42",
    ];
    args.extend_from_slice(extra);
    generate_text(&args)
}

#[test]
fn every_line_matches_the_schema_with_keys_in_order() {
    let schema = Schema::new();
    for text in [
        simulated(20_000, "1000", &[]),
        generate_text(&["2021-03-19", "-n", "20000", "--rate", "0", "--seed", "3"]),
    ] {
        assert!(text.ends_with('\n'));
        let mut last_tid = 0u64;
        for line in text.lines() {
            let e = schema
                .check_json(line)
                .unwrap_or_else(|err| panic!("{err}: {line}"));
            assert_eq!(e.tdate, "2021-03-19");
            let tid: u64 = e.tid.parse().unwrap();
            assert!(tid > last_tid, "tid must increase (unique): {line}");
            last_tid = tid;
            let u: u32 = e.uno[1..].parse().unwrap();
            let p: u32 = e.pno[1..].parse().unwrap();
            assert!(
                (1000..1100).contains(&u) && (1000..1100).contains(&p),
                "{line}"
            );
        }
        assert_eq!(text.lines().count(), 20_000);
    }
}

#[test]
fn real_clock_tuptime_is_the_wall_clock_at_emission() {
    let before = kds_common::time::now_ms() / 1000;
    let text = generate_text(&["2021-03-19", "-n", "1000", "--rate", "0", "--seed", "1"]);
    let after = kds_common::time::now_ms() / 1000;
    let schema = Schema::new();
    for line in text.lines() {
        let t = schema.check_json(line).unwrap().tuptime_s;
        assert!((before..=after).contains(&t), "{line}");
    }
}

#[test]
fn default_tdate_is_today_utc() {
    let text = generate_text(&["-n", "1", "--rate", "0", "--seed", "1"]);
    let e = Schema::new().check_json(text.trim_end()).unwrap();
    let today = kds_common::time::rfc3339_ms(kds_common::time::now_ms());
    assert_eq!(e.tdate, today[..10]);
}

#[test]
fn default_tdate_on_the_simulated_clock_is_the_start_date() {
    let args = ["-n", "1", "--seed", "1", "--simulated-clock"];
    let text = generate_text(&[&args[..], &["--start", "2021-03-19T23:59:59Z"]].concat());
    let e = Schema::new().check_json(text.trim_end()).unwrap();
    assert_eq!(e.tdate, "2021-03-19");
    // Given, TDATE still wins.
    let text = generate_text(
        &[
            &args[..],
            &["--start", "2021-03-19T13:00:00Z", "2020-01-02"],
        ]
        .concat(),
    );
    let e = Schema::new().check_json(text.trim_end()).unwrap();
    assert_eq!(e.tdate, "2020-01-02");
}

#[test]
fn same_seed_gives_identical_bytes_and_other_seeds_differ() {
    let knobs = [
        "--late",
        "0.05",
        "--out-of-order",
        "0.1",
        "--duplicates",
        "0.05",
        "--malformed",
        "0.05",
        "--skew",
        "zipf:1.2",
    ];
    for extra in [&[][..], &knobs[..], &["--format", "csv"][..]] {
        let a = simulated(5000, "10", extra);
        let b = simulated(5000, "10", extra);
        assert_eq!(a, b, "same seed must give the same output ({extra:?})");
        let mut other = extra.to_vec();
        other.extend(["--seed", "43"]); // a later --seed wins
        let c = generate_text(
            &[
                &[
                    "2021-03-19",
                    "-n",
                    "5000",
                    "--rate",
                    "10",
                    "--simulated-clock",
                    "--start",
                    START,
                ][..],
                &other,
            ]
            .concat(),
        );
        assert_ne!(a, c, "different seeds must differ ({extra:?})");
        assert_eq!(a.lines().count(), c.lines().count());
    }
}

#[test]
fn rate_is_measured_on_the_simulated_clock() {
    // 1000 events at 50/s: 50 events in each of 20 consecutive seconds from --start.
    let text = simulated(1000, "50", &[]);
    let schema = Schema::new();
    let mut per_second: HashMap<i64, usize> = HashMap::new();
    for line in text.lines() {
        *per_second
            .entry(schema.check_json(line).unwrap().tuptime_s)
            .or_default() += 1;
    }
    let start = epoch_s(START);
    let expected: HashMap<i64, usize> = (start..start + 20).map(|s| (s, 50)).collect();
    assert_eq!(per_second, expected);

    // A fractional rate: 0.5/s puts consecutive events 2 s apart.
    let text = simulated(10, "0.5", &[]);
    let times: Vec<i64> = text
        .lines()
        .map(|l| schema.check_json(l).unwrap().tuptime_s)
        .collect();
    assert_eq!(times, (0..10).map(|i| start + 2 * i).collect::<Vec<_>>());
}

#[test]
fn duration_on_the_simulated_clock_bounds_the_run() {
    let text = generate_text(&[
        "2021-03-19",
        "--duration",
        "90s",
        "--rate",
        "10",
        "--simulated-clock",
        "--start",
        START,
        "--seed",
        "1",
    ]);
    assert_eq!(text.lines().count(), 900);
    let last = Schema::new()
        .check_json(text.lines().last().unwrap())
        .unwrap();
    assert_eq!(last.tuptime_s, epoch_s(START) + 89);
    // -n and --duration together: whichever comes first.
    let text = simulated(50, "10", &["--duration", "90s"]);
    assert_eq!(text.lines().count(), 50);
}

#[test]
fn count_is_exact() {
    for n in [0u64, 1, 7, 12_345] {
        assert_eq!(simulated(n, "100", &[]).lines().count() as u64, n);
        let csv = simulated(n, "100", &["--format", "csv"]);
        assert_eq!(csv.lines().count() as u64, n + 1, "csv: header plus n rows");
        // With knobs, -n counts every line, duplicates and malformed ones included.
        let noisy = simulated(n, "100", &["--duplicates", "0.2", "--malformed", "0.2"]);
        assert_eq!(noisy.lines().count() as u64, n);
    }
}

#[test]
fn csv_has_the_header_and_the_same_events_as_ndjson() {
    let schema = Schema::new();
    let csv = simulated(2000, "10", &["--format", "csv"]);
    let json = simulated(2000, "10", &[]);
    let mut rows = csv.lines();
    assert_eq!(rows.next(), Some("tid,tno,tdate,uno,pno,tnum,tuptime"));
    for (row, line) in rows.zip(json.lines()) {
        let from_csv = schema
            .check_csv(row)
            .unwrap_or_else(|e| panic!("{e}: {row}"));
        let from_json = schema.check_json(line).unwrap();
        assert_eq!(from_csv, from_json);
    }
}

#[test]
fn late_and_out_of_order_fractions_over_100k_events() {
    let (late_p, ooo_p) = (0.05, 0.10);
    let n = 100_000;
    let text = simulated(n, "10", &["--late", "0.05", "--out-of-order", "0.1"]);
    let schema = Schema::new();
    let start = epoch_s(START);
    let (mut late, mut ooo, mut eligible) = (0usize, 0usize, 0usize);
    for (i, line) in text.lines().enumerate() {
        let e = schema.check_json(line).unwrap();
        // Slot i is emitted at start + i/rate on the simulated clock.
        let clock = start + i as i64 / 10;
        let lag = clock - e.tuptime_s;
        if clock % 60 != 0 {
            eligible += 1;
        }
        match lag {
            0 => {}
            1..=5 => {
                ooo += 1;
                assert_eq!(
                    e.tuptime_s.div_euclid(60),
                    clock.div_euclid(60),
                    "out-of-order stays in the current minute: {line}"
                );
            }
            60..=300 => late += 1,
            _ => panic!("unexpected lag {lag}: {line}"),
        }
    }
    assert!(within(late, n as usize, late_p, 5.0), "late {late} of {n}");
    // Events at second 0 of a minute cannot lag inside their minute: the fraction applies to
    // the others, which are drawn late first (so ooo is p_ooo of the eligible ones).
    assert!(
        within(ooo, eligible, ooo_p, 5.0),
        "out-of-order {ooo} of {eligible}"
    );
}

#[test]
fn duplicate_and_malformed_fractions_over_100k_lines() {
    let n = 100_000usize;
    let text = simulated(
        n as u64,
        "100",
        &["--duplicates", "0.05", "--malformed", "0.04"],
    );
    let schema = Schema::new();
    let mut seen: HashMap<String, String> = HashMap::new();
    let (mut dups, mut bad) = (0usize, 0usize);
    let mut kinds: HashMap<&str, usize> = HashMap::new();
    let mut last_fresh_tid = 0u64;
    for line in text.lines() {
        match schema.check_json(line) {
            Ok(e) => {
                if let Some(earlier) = seen.get(&e.tid) {
                    assert_eq!(earlier, line, "a duplicate repeats its event verbatim");
                    dups += 1;
                } else {
                    let tid: u64 = e.tid.parse().unwrap();
                    assert!(tid > last_fresh_tid);
                    last_fresh_tid = tid;
                    seen.insert(e.tid, line.to_string());
                }
            }
            Err(_) => {
                bad += 1;
                let kind = match serde_json::from_str::<serde_json::Value>(line) {
                    Ok(v) if v.as_object().is_some_and(|o| o.len() == 6) => "missing field",
                    Ok(v) if v.get("tnum").is_some_and(serde_json::Value::is_string) => {
                        "wrong type"
                    }
                    Ok(_) => "other",
                    Err(_) if line.starts_with("tid=") => "not a record",
                    Err(_) if line.starts_with('{') => "truncated",
                    Err(_) => "other",
                };
                *kinds.entry(kind).or_default() += 1;
            }
        }
    }
    assert!(within(dups, n, 0.05, 5.0), "duplicates {dups} of {n}");
    assert!(within(bad, n, 0.04, 5.0), "malformed {bad} of {n}");
    assert_eq!(kinds.get("other"), None, "{kinds:?}");
    for kind in ["missing field", "wrong type", "not a record", "truncated"] {
        let k = kinds.get(kind).copied().unwrap_or(0);
        assert!(
            within(k, bad, 0.25, 5.0),
            "{kind}: {k} of {bad} ({kinds:?})"
        );
    }
}

#[test]
fn malformed_csv_rows_fail_the_csv_schema() {
    let n = 20_000usize;
    let text = simulated(n as u64, "100", &["--format", "csv", "--malformed", "0.1"]);
    let schema = Schema::new();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("tid,tno,tdate,uno,pno,tnum,tuptime"));
    let bad = lines.filter(|row| schema.check_csv(row).is_err()).count();
    assert!(within(bad, n, 0.1, 5.0), "{bad} of {n}");
}

#[test]
fn zipf_skew_makes_hot_keys_and_users_bounds_them() {
    let schema = Schema::new();
    let count = |text: &str| {
        let mut users: HashMap<String, usize> = HashMap::new();
        for line in text.lines() {
            *users
                .entry(schema.check_json(line).unwrap().uno)
                .or_default() += 1;
        }
        users
    };
    let skewed = count(&simulated(
        50_000,
        "100",
        &["--users", "50", "--skew", "zipf:1.1"],
    ));
    let flat = count(&simulated(50_000, "100", &["--users", "50"]));
    let allowed: HashSet<String> = (1000..1050).map(|k| format!("U{k}")).collect();
    assert!(skewed
        .keys()
        .chain(flat.keys())
        .all(|k| allowed.contains(k)));
    let hottest = skewed.iter().max_by_key(|(_, &c)| c).unwrap();
    assert_eq!(hottest.0, "U1000");
    // Zipf(1.1) over 50 keys gives the top key about 22% of the events; uniform gives 2%.
    assert!(*hottest.1 > 50_000 / 6, "{hottest:?}");
    assert!(
        flat.values().all(|&c| within(c, 50_000, 1.0 / 50.0, 5.0)),
        "{flat:?}"
    );
}

/// A clock that records the offsets it is asked to wait for and what had been written by then.
struct RecordingClock {
    start_ms: i64,
    offsets: Vec<Duration>,
    flushed_lines_at_wait: Vec<usize>,
    buf: SharedBuf,
    stop_after: Option<(usize, Shutdown)>,
}

impl Clock for RecordingClock {
    fn now_ms(&mut self) -> i64 {
        self.start_ms + self.offsets.last().map_or(0, |d| d.as_millis() as i64)
    }
    fn elapsed(&mut self) -> Duration {
        self.offsets.last().copied().unwrap_or_default()
    }
    fn wait_until(
        &mut self,
        offset: Duration,
        before_sleep: &mut dyn FnMut() -> io::Result<()>,
    ) -> io::Result<()> {
        // Behave like a clock that always has to sleep.
        before_sleep()?;
        self.flushed_lines_at_wait
            .push(self.buf.contents().iter().filter(|&&b| b == b'\n').count());
        self.offsets.push(offset);
        if let Some((n, s)) = &self.stop_after {
            if self.offsets.len() == *n {
                s.trigger(); // a signal arrives while waiting
            }
        }
        Ok(())
    }
}

#[test]
fn pacing_follows_an_absolute_schedule_and_flushes_before_each_sleep() {
    let cfg = config(&["2021-03-19", "-n", "1000", "--rate", "7", "--seed", "1"]);
    let buf = SharedBuf::default();
    let mut out = Output::new(buf.clone());
    let mut clock = RecordingClock {
        start_ms: 1_616_158_800_000,
        offsets: Vec::new(),
        flushed_lines_at_wait: Vec::new(),
        buf: buf.clone(),
        stop_after: None,
    };
    let n = generate(&cfg, &mut out, &mut clock, &Shutdown::manual()).unwrap();
    assert_eq!(n, 1000);
    for (i, d) in clock.offsets.iter().enumerate() {
        // Event i is due at i/rate from the start: no accumulated drift after 1000 events.
        let due = i as f64 / 7.0;
        assert!(
            (d.as_secs_f64() - due).abs() < 1e-6,
            "event {i}: {d:?} vs {due}"
        );
        // Everything written before the wait reached the writer (live pipes see it).
        assert_eq!(clock.flushed_lines_at_wait[i], i);
    }
}

#[test]
fn shutdown_stops_after_the_current_event_and_flushes() {
    let cfg = config(&["2021-03-19", "--rate", "5", "--seed", "1"]); // forever
    let buf = SharedBuf::default();
    let mut out = Output::new(buf.clone());
    let shutdown = Shutdown::manual();
    let mut clock = RecordingClock {
        start_ms: 1_616_158_800_000,
        offsets: Vec::new(),
        flushed_lines_at_wait: Vec::new(),
        buf: buf.clone(),
        stop_after: Some((26, shutdown.clone())),
    };
    let n = generate(&cfg, &mut out, &mut clock, &shutdown).unwrap();
    assert_eq!(n, 25, "the signal arrived while waiting for the 26th event");
    let text = String::from_utf8(buf.contents()).unwrap();
    assert_eq!(text.lines().count(), 25);
    assert!(text.ends_with('\n'));
}

#[test]
fn invalid_flags_are_usage_errors_naming_the_flag() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["--late", "1.5"],
            "--late must be between 0 and 1, got 1.5",
        ),
        (
            &["--out-of-order", "-0.1"],
            "--out-of-order must be between 0 and 1",
        ),
        (
            &["--duplicates", "2"],
            "--duplicates must be between 0 and 1",
        ),
        (
            &["--malformed", "NaN"],
            "--malformed must be between 0 and 1",
        ),
        (
            &["--late", "0.6", "--out-of-order", "0.6"],
            "--late plus --out-of-order",
        ),
        (
            &["--duplicates", "0.6", "--malformed", "0.6"],
            "--duplicates plus --malformed",
        ),
        (&["--rate", "-1"], "--rate must be a number >= 0"),
        (&["--rate", "inf"], "--rate"),
        (&["--rate", "1e-300"], "--rate must be 0 or at least"),
        (&["--users", "0"], "--users must be between 1 and 9000"),
        (
            &["--products", "9001"],
            "--products must be between 1 and 9000",
        ),
        (&["--skew", "zipf:0"], "--skew"),
        (&["--skew", "pareto:1"], "--skew"),
        (
            &["2021-02-30"],
            "TDATE must be a date YYYY-MM-DD, got '2021-02-30'",
        ),
        (&["19-03-2021"], "TDATE"),
        (&["--start", START], "--start needs --simulated-clock"),
        (
            &["--simulated-clock", "--start", "yesterday"],
            "--start must be",
        ),
        (
            &["--simulated-clock", "--rate", "0"],
            "--simulated-clock needs --rate > 0",
        ),
        (&["--duration", "0"], "--duration must be greater than 0"),
    ];
    for (flags, message) in cases {
        let args = Args::try_parse_from(std::iter::once("kds-gen").chain(flags.iter().copied()))
            .unwrap_or_else(|e| panic!("{flags:?} should parse: {e}"));
        let err = Config::try_from(args).expect_err(&format!("{flags:?} must be refused"));
        assert!(kds_common::exit::is_usage(&err), "{flags:?}");
        let text = kds_common::exit::one_line(&err);
        assert!(text.contains(message), "{flags:?}: {text}");
    }
}

#[test]
fn start_accepts_a_date_or_rfc3339_with_offset() {
    let schema = Schema::new();
    for (start, expected) in [
        ("2021-03-19", "2021-03-19T00:00:00Z"),
        ("2021-03-19T14:15:48+01:00", "2021-03-19T13:15:48Z"),
    ] {
        let text = generate_text(&[
            "2021-03-19",
            "-n",
            "1",
            "--simulated-clock",
            "--start",
            start,
            "--seed",
            "1",
        ]);
        assert_eq!(
            schema.check_json(text.trim_end()).unwrap().tuptime,
            expected
        );
    }
}

#[test]
fn a_simulated_clock_stops_before_year_10000_with_an_error() {
    // One event every 10,000 s from 9998-12-31: year 10000 comes after ~3,162 events.
    let buf = SharedBuf::default();
    let mut out = Output::new(buf.clone());
    let cfg = config(&[
        "2021-03-19",
        "-n",
        "10000",
        "--rate",
        "0.0001",
        "--simulated-clock",
        "--start",
        "9998-12-31T00:00:00Z",
        "--seed",
        "1",
    ]);
    let err = run_with(&cfg, &mut out, &Shutdown::manual()).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("10000-01-01T00:00:00Z"), "{msg}");
    let text = String::from_utf8(buf.contents()).unwrap();
    let times: Vec<&str> = text
        .lines()
        .map(|l| l.split("\"tuptime\":\"").nth(1).unwrap())
        .collect();
    assert!(times.len() > 3000 && times.len() < 3200, "{}", times.len());
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "time went backwards"
    );
    assert!(times.last().unwrap().starts_with("9999-12-"));
}
