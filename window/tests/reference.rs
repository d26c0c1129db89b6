//! The engine against the independent reference in tests/common: random event streams with
//! out-of-order and late events, several sizes, group-bys and every aggregate, arrival-time
//! envelopes, bad lines mixed in; outputs compared row for row.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use kds_common::io::{Output, SharedBuf};
use kds_common::signal::Shutdown;
use kds_window::driver::{run_input, ManualClock, Progress};
use kds_window::engine::{Config, LatePolicy, Options, Stats};
use kds_window::query::{parse_agg, parse_group_by, Path, Query, TimeBasis};
use serde_json::Value;

fn config(q: &RefQuery, opts: Options) -> Config {
    let mut query = Query::lab();
    query.time = match &q.time {
        RefTime::Event(p) => TimeBasis::Event(Path::parse(p).unwrap()),
        RefTime::Arrival => TimeBasis::Arrival,
    };
    query.size_ms = q.size_ms;
    query.group_by = q
        .group_by
        .iter()
        .map(|(p, n)| parse_group_by(&format!("{p}={n}")).unwrap())
        .collect();
    query.aggregates = q
        .aggs
        .iter()
        .map(|(f, p, n)| {
            let spec = match p {
                Some(p) => format!("{f}:{p}={n}"),
                None => format!("{f}={n}"),
            };
            parse_agg(&spec).unwrap()
        })
        .collect();
    query.columns = query.default_columns();
    Config {
        query,
        options: Options {
            allowed_lateness_ms: q.lateness_ms,
            late: if q.late_emit {
                LatePolicy::Emit
            } else {
                LatePolicy::Drop
            },
            ..opts
        },
    }
}

/// Runs the tool's engine through the real driver on an in-memory input.
fn run_tool(cfg: &Config, input: &str) -> (Vec<Value>, Stats, String) {
    let out = SharedBuf::default();
    let diag = SharedBuf::default();
    let stats = run_input(
        cfg,
        input_of(input.as_bytes()),
        &ManualClock::new(T0),
        Output::new(out.clone()),
        Box::new(diag.clone()),
        &Shutdown::manual(),
        &Progress::default(),
    )
    .unwrap();
    (
        parse_rows(&out.contents()),
        stats,
        String::from_utf8(diag.contents()).unwrap(),
    )
}

fn all_aggs(field: &str) -> Vec<(String, Option<String>, String)> {
    let mut v = vec![("count".to_string(), None, "n".to_string())];
    for f in ["count", "sum", "min", "max", "avg", "count_distinct"] {
        v.push((
            f.into(),
            Some(field.to_string()),
            format!("{f}_{}", field.replace('.', "_")),
        ));
    }
    v.push(("count_distinct".into(), Some("uno".into()), "users".into()));
    v
}

fn assert_same(q: &RefQuery, input: &str, what: &str) {
    let expected = reference(q, input);
    let (rows, stats, _) = run_tool(&config(q, Options::default()), input);
    assert_eq!(rows.len(), expected.rows.len(), "{what}: row count");
    for (i, (got, want)) in rows.iter().zip(&expected.rows).enumerate() {
        assert_eq!(got, want, "{what}: row {i}");
    }
    assert_eq!(stats.bad, expected.bad, "{what}: bad lines");
    assert_eq!(stats.late, expected.late, "{what}: late records");
    assert_eq!(stats.records, expected.records, "{what}: records");
}

#[test]
fn event_time_matches_reference_across_sizes_groupings_and_lateness() {
    let groupings: Vec<Vec<(String, String)>> = vec![
        vec![],
        vec![("pno".into(), "pno".into())],
        vec![
            ("pno".into(), "pno".into()),
            ("meta.region".into(), "region".into()),
        ],
    ];
    let mut case = 0;
    for size_ms in [1_000, 10_000, 60_000, 3_600_000] {
        for group_by in &groupings {
            for (lateness_ms, late_emit) in [(0, false), (30_000, false), (0, true), (45_000, true)]
            {
                for floats in [false, true] {
                    case += 1;
                    let events = gen_events(GenOpts {
                        seed: case,
                        floats,
                        ..GenOpts::default()
                    });
                    let q = RefQuery {
                        time: RefTime::Event("tuptime".into()),
                        size_ms,
                        group_by: group_by.clone(),
                        aggs: all_aggs("tnum"),
                        lateness_ms,
                        late_emit,
                    };
                    let what = format!(
                        "size {size_ms} group {group_by:?} lateness {lateness_ms} emit {late_emit} floats {floats}"
                    );
                    assert_same(&q, &to_lines(&events), &what);
                }
            }
        }
    }
}

#[test]
fn the_stream_really_has_late_and_out_of_order_records() {
    let events = gen_events(GenOpts::default());
    let q = RefQuery {
        time: RefTime::Event("tuptime".into()),
        size_ms: 10_000,
        group_by: vec![],
        aggs: all_aggs("tnum"),
        lateness_ms: 0,
        late_emit: false,
    };
    let r = reference(&q, &to_lines(&events));
    assert!(
        r.late > 50,
        "generator should produce late records, got {}",
        r.late
    );
    assert!(r.rows.len() > 50);
}

#[test]
fn lab_query_on_event_time_matches_reference() {
    for seed in 0..5 {
        let events = gen_events(GenOpts {
            seed: 100 + seed,
            n: 5000,
            nulls: seed % 2 == 0,
            ..GenOpts::default()
        });
        let q = RefQuery {
            time: RefTime::Event("tuptime".into()),
            size_ms: 60_000,
            group_by: vec![],
            aggs: vec![
                ("count".into(), None, "count_tno".into()),
                ("sum".into(), Some("tnum".into()), "sum_tnum".into()),
            ],
            lateness_ms: 0,
            late_emit: false,
        };
        assert_same(&q, &to_lines(&events), &format!("lab seed {seed}"));
    }
}

#[test]
fn arrival_time_envelopes_match_reference() {
    for (i, group_by) in [vec![], vec![("pno".to_string(), "pno".to_string())]]
        .into_iter()
        .enumerate()
    {
        let events = gen_events(GenOpts {
            seed: 40 + i as u64,
            ..GenOpts::default()
        });
        let q = RefQuery {
            time: RefTime::Arrival,
            size_ms: 5_000,
            group_by,
            aggs: all_aggs("tnum"),
            lateness_ms: 2_000,
            late_emit: i == 1,
        };
        assert_same(&q, &to_envelopes(&events, 9), &format!("arrival case {i}"));
    }
}

#[test]
fn bad_lines_are_skipped_counted_and_do_not_change_valid_rows() {
    let events = gen_events(GenOpts {
        seed: 77,
        disorder: 0.0,
        ..GenOpts::default()
    });
    let clean = to_lines(&events);
    let bad_kinds = [
        "not json at all",
        "{\"tnum\":1,",
        "[1,2,3]",
        "42",
        "{\"tid\":\"x\",\"tnum\":\"7\",\"tuptime\":\"2021-03-19T13:15:48Z\"}",
        "{\"tid\":\"x\",\"tnum\":{\"a\":1},\"tuptime\":\"2021-03-19T13:15:48Z\"}",
        "{\"tid\":\"x\",\"tnum\":3,\"tuptime\":\"2021-02-30T13:15:48Z\"}",
        "{\"tid\":\"x\",\"tnum\":3,\"tuptime\":\"yesterday\"}",
        "{\"tid\":\"x\",\"tnum\":3}",
        "{\"tid\":\"x\",\"tnum\":3,\"tuptime\":null}",
        "{\"tid\":\"x\",\"tnum\":3,\"tuptime\":true}",
        "\u{1}\u{2}garbage\u{7f}",
    ];
    let mut mixed = String::new();
    let mut n_bad = 0;
    for (i, line) in clean.lines().enumerate() {
        mixed.push_str(line);
        mixed.push('\n');
        if i % 7 == 3 {
            mixed.push_str(bad_kinds[n_bad % bad_kinds.len()]);
            mixed.push('\n');
            n_bad += 1;
        }
    }
    let q = RefQuery {
        time: RefTime::Event("tuptime".into()),
        size_ms: 60_000,
        group_by: vec![("pno".into(), "pno".into())],
        aggs: all_aggs("tnum"),
        lateness_ms: 0,
        late_emit: false,
    };
    let (clean_rows, _, _) = run_tool(&config(&q, Options::default()), &clean);
    let (mixed_rows, stats, diag) = run_tool(&config(&q, Options::default()), &mixed);
    assert_eq!(clean_rows, mixed_rows, "valid rows must not change");
    assert_eq!(stats.bad, n_bad as u64);
    assert_eq!(reference(&q, &mixed).bad, n_bad as u64);
    // The first five are reported with their line numbers, no more.
    let reported: Vec<&str> = diag.lines().collect();
    assert_eq!(reported.len(), 5, "{diag}");
    assert!(
        reported[0].starts_with("kds-window: line 5: not valid JSON: "),
        "{diag}"
    );
    assert!(reported[4].contains("sum of tnum: not a number"), "{diag}");
}

#[test]
fn strict_stops_at_the_first_bad_line() {
    let input = format!("{}\nnope\n{}\n", trade_line(1, T0, 5), trade_line(2, T0, 6));
    let q = RefQuery {
        time: RefTime::Event("tuptime".into()),
        size_ms: 60_000,
        group_by: vec![],
        aggs: all_aggs("tnum"),
        lateness_ms: 0,
        late_emit: false,
    };
    let cfg = config(
        &q,
        Options {
            strict: true,
            ..Options::default()
        },
    );
    let err = run_input(
        &cfg,
        input_of(input.as_bytes()),
        &ManualClock::new(T0),
        Output::new(SharedBuf::default()),
        Box::new(SharedBuf::default()),
        &Shutdown::manual(),
        &Progress::default(),
    )
    .unwrap_err();
    assert!(
        err.to_string().starts_with("line 2: not valid JSON"),
        "{err}"
    );
}

#[test]
fn missing_tnum_counts_but_is_not_summed_and_missing_group_is_null() {
    let input = [
        r#"{"pno":"P1","tnum":5,"tuptime":"2021-03-19T13:15:01Z"}"#,
        r#"{"pno":"P1","tuptime":"2021-03-19T13:15:02Z"}"#,
        r#"{"pno":"P1","tnum":null,"tuptime":"2021-03-19T13:15:03Z"}"#,
        r#"{"tnum":7,"tuptime":"2021-03-19T13:15:04Z"}"#,
        r#"{"pno":null,"tuptime":"2021-03-19T13:15:05Z"}"#,
    ]
    .join("\n");
    let q = RefQuery {
        time: RefTime::Event("tuptime".into()),
        size_ms: 60_000,
        group_by: vec![("pno".into(), "pno".into())],
        aggs: vec![
            ("count".into(), None, "count_tno".into()),
            ("sum".into(), Some("tnum".into()), "sum_tnum".into()),
        ],
        lateness_ms: 0,
        late_emit: false,
    };
    let (rows, stats, _) = run_tool(&config(&q, Options::default()), &input);
    assert_eq!(stats.bad, 0);
    let brief: Vec<(Value, Value, Value)> = rows
        .iter()
        .map(|r| {
            (
                r["pno"].clone(),
                r["count_tno"].clone(),
                r["sum_tnum"].clone(),
            )
        })
        .collect();
    // Rows sort by the group value's JSON text: "\"P1\"" before "null".
    assert_eq!(
        brief,
        vec![
            (Value::from("P1"), Value::from(3), Value::from(5)),
            (Value::Null, Value::from(2), Value::from(7)),
        ]
    );
}

/// Envelopes from two shards as `kds-tail` writes them: each shard in arrival order, shard B's
/// records written `lag_ms` after shard A's records of the same arrival time, so arrival times
/// go back by up to `lag_ms` across shards. Records every 100 ms per shard for `seconds`.
fn two_shard_envelopes(seconds: i64, lag_ms: i64) -> (String, usize) {
    let mut recs: Vec<(i64, String)> = Vec::new();
    for (shard, lag) in [(0, 0), (1, lag_ms)] {
        for i in 0..seconds * 10 {
            let t = T0 + i * 100;
            let line = serde_json::json!({
                "shard_id": format!("shardId-00000000000{shard}"),
                "sequence_number": (49_000_000 + i).to_string(),
                "partition_key": "k",
                "arrival": rfc3339(t, true),
                "data": {"tnum": 1},
            });
            recs.push((t + lag, serde_json::to_string(&line).unwrap()));
        }
    }
    recs.sort_by_key(|r| r.0);
    let n = recs.len();
    let text: String = recs.into_iter().map(|(_, l)| l + "\n").collect();
    (text, n)
}

fn arrival_config(extra: &[&str]) -> Config {
    use clap::Parser;
    let mut argv = vec!["kds-window", "--time", "arrival", "--size", "10s"];
    argv.extend_from_slice(extra);
    kds_window::Args::try_parse_from(argv)
        .unwrap()
        .config()
        .unwrap()
}

#[test]
fn arrival_time_allows_5s_of_disorder_across_shards_by_default() {
    let (input, n) = two_shard_envelopes(40, 3_000);
    let cfg = arrival_config(&[]);
    assert_eq!(cfg.options.allowed_lateness_ms, 5_000);
    let (rows, stats, _) = run_tool(&cfg, &input);
    assert_eq!(stats.late, 0, "no record is late");
    let counted: i64 = rows.iter().map(|r| r["count_tno"].as_i64().unwrap()).sum();
    assert_eq!(counted, n as i64, "every record is in a window");
    assert_eq!(rows.len(), 4);

    // The same input with no allowed lateness drops shard B's records at each window end.
    let cfg = arrival_config(&["--allowed-lateness", "0"]);
    assert_eq!(cfg.options.allowed_lateness_ms, 0);
    let (rows, stats, _) = run_tool(&cfg, &input);
    let counted: i64 = rows.iter().map(|r| r["count_tno"].as_i64().unwrap()).sum();
    assert!(stats.late > 0, "records are late without lateness");
    assert_eq!(counted + stats.late as i64, n as i64);
}

#[test]
fn event_time_keeps_no_allowed_lateness_by_default() {
    use clap::Parser;
    let args = kds_window::Args::try_parse_from(["kds-window", "--time", "event:tuptime"]).unwrap();
    assert_eq!(args.config().unwrap().options.allowed_lateness_ms, 0);
    let args = kds_window::Args::try_parse_from([
        "kds-window",
        "--time",
        "event:tuptime",
        "--allowed-lateness",
        "2s",
    ])
    .unwrap();
    assert_eq!(args.config().unwrap().options.allowed_lateness_ms, 2_000);
}
