//! `--time arrival` on `kds-tail --envelope` lines: the fast path (data verbatim, members in
//! kds-tail's order, docs/ENVELOPE.md) gives the same rows as the full parser and as the
//! independent reference in tests/common, whatever mix of forms the input holds: encoded data
//! (utf8, base64), escapes, KPL sub-sequence numbers, integer arrival times, other member orders,
//! bad lines.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use kds_common::io::{Output, SharedBuf};
use kds_common::signal::Shutdown;
use kds_window::driver::{run_input, ManualClock, Progress};
use kds_window::engine::{Config, Options, Stats};
use kds_window::query::{parse_agg, parse_group_by, Query, TimeBasis};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

fn arrival_config(group_by: &[&str]) -> Config {
    let mut query = Query::lab();
    query.time = TimeBasis::Arrival;
    query.size_ms = 5_000;
    query.group_by = group_by
        .iter()
        .map(|g| parse_group_by(g).unwrap())
        .collect();
    query.aggregates = [
        "count=n",
        "count:tnum=count_tnum",
        "sum:tnum=sum_tnum",
        "min:tnum=min_tnum",
        "max:tnum=max_tnum",
        "avg:tnum=avg_tnum",
        "count_distinct:uno=users",
    ]
    .iter()
    .map(|a| parse_agg(a).unwrap())
    .collect();
    query.columns = query.default_columns();
    Config {
        query,
        options: Options {
            allowed_lateness_ms: 2_000,
            ..Options::default()
        },
    }
}

fn run_tool(cfg: &Config, input: &str) -> (Vec<Value>, Stats, String) {
    let out = SharedBuf::default();
    let diag = SharedBuf::default();
    let stats = run_input(
        cfg,
        input_of(input.as_bytes()),
        &ManualClock::new(0),
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

/// One record as kds-tail writes it (tail/src/output.rs): shard_id, sequence_number,
/// [sub_sequence_number], partition_key, arrival, data, [encoding].
fn tail_envelope(record: &str, i: usize, arrival: &Value, form: usize) -> String {
    use base64::Engine;
    let sub = if form == 1 {
        format!(",\"sub_sequence_number\":{}", i % 7)
    } else {
        String::new()
    };
    // An escape in a member the engine does not need (the fast path refuses the line).
    let key = if form == 5 { "k\\\"1" } else { "AwGi20210319" };
    let (data, encoding) = match form {
        2 => (
            json!(format!("{record}\n")).to_string(),
            ",\"encoding\":\"utf8\"",
        ),
        3 => {
            let b64 = base64::engine::general_purpose::STANDARD.encode(record);
            (json!(b64).to_string(), ",\"encoding\":\"base64\"")
        }
        _ => (record.to_string(), ""),
    };
    if form == 4 {
        // Another member order: data first (valid JSON, not kds-tail's shape).
        return format!(
            "{{\"data\":{data},\"arrival\":{arrival},\"shard_id\":\"shardId-000000000001\"}}"
        );
    }
    format!(
        "{{\"shard_id\":\"shardId-000000000001\",\"sequence_number\":\"{}\"{sub},\
         \"partition_key\":\"{key}\",\"arrival\":{arrival},\"data\":{data}{encoding}}}",
        49_000_000 + i
    )
}

/// Trade events as envelopes in every form, arrival times slightly out of order.
fn envelopes(seed: u64, integer_arrival: bool) -> String {
    let events = gen_events(GenOpts {
        seed,
        nulls: false,
        ..GenOpts::default()
    });
    let mut rng = StdRng::seed_from_u64(seed);
    let mut t = 1_616_159_700_000i64;
    let mut s = String::new();
    for (i, e) in events.iter().enumerate() {
        t += rng.random_range(0..400);
        let at = t - rng.random_range(0..1500);
        let arrival = if integer_arrival && i % 4 == 0 {
            json!(at)
        } else {
            json!(rfc3339(at, true))
        };
        let mut record = e.clone();
        if i % 11 == 0 {
            // An escaped string inside the record.
            record["note"] = json!("say \"hi\"\n");
        }
        let form = if i % 2 == 0 { 0 } else { (i / 2) % 6 };
        s.push_str(&tail_envelope(&record.to_string(), i, &arrival, form));
        s.push('\n');
        if i % 97 == 0 {
            s.push_str("{\"shard_id\":\"s\",\"arrival\":\"nope\",\"data\":{\"tnum\":1}}\n");
        }
    }
    s
}

/// The same envelopes with their members in serde_json's sorted order (`data` before
/// `partition_key`): never the fast path's shape, so the full parser reads every line.
fn through_full_parser(input: &str) -> String {
    input
        .lines()
        .map(|l| match serde_json::from_str::<Value>(l) {
            Ok(v) => v.to_string() + "\n",
            Err(_) => l.to_string() + "\n",
        })
        .collect()
}

#[test]
fn fast_envelopes_give_the_rows_of_the_full_parser() {
    for (seed, group_by) in [(1, vec![]), (2, vec!["pno=pno"]), (3, vec!["uno=u"])] {
        let input = envelopes(seed, true);
        let slow = through_full_parser(&input);
        assert_ne!(input, slow, "the full-parser input differs in member order");
        let cfg = arrival_config(&group_by);
        let fast = run_tool(&cfg, &input);
        let full = run_tool(&cfg, &slow);
        assert!(!fast.0.is_empty(), "seed {seed}: no rows");
        assert_eq!(fast.0, full.0, "seed {seed}: rows");
        assert_eq!(fast.1.bad, full.1.bad, "seed {seed}: bad lines");
        assert_eq!(fast.1.records, full.1.records, "seed {seed}: records");
        assert_eq!(fast.1.late, full.1.late, "seed {seed}: late");
        assert_eq!(fast.2, full.2, "seed {seed}: messages");
        assert!(fast.1.bad > 0, "seed {seed}: the bad lines were counted");
    }
}

#[test]
fn fast_envelopes_match_the_reference() {
    let input = envelopes(4, false);
    let q = RefQuery {
        time: RefTime::Arrival,
        size_ms: 5_000,
        group_by: vec![("pno".into(), "pno".into())],
        aggs: vec![
            ("count".into(), None, "n".into()),
            ("sum".into(), Some("tnum".into()), "sum_tnum".into()),
            ("count_distinct".into(), Some("uno".into()), "users".into()),
        ],
        lateness_ms: 2_000,
        late_emit: false,
    };
    let expected = reference(&q, &input);
    let cfg = arrival_config(&["pno=pno"]);
    let mut cfg = cfg;
    cfg.query.aggregates = ["count=n", "sum:tnum=sum_tnum", "count_distinct:uno=users"]
        .iter()
        .map(|a| parse_agg(a).unwrap())
        .collect();
    cfg.query.columns = cfg.query.default_columns();
    let (rows, stats, _) = run_tool(&cfg, &input);
    assert_eq!(rows, expected.rows);
    assert_eq!(stats.bad, expected.bad);
    assert_eq!(stats.records, expected.records);
}
