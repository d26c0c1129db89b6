//! Reliability, resharding under load (scenario 3): shards are split and merged twice
//! (SplitShard / MergeShards; kinesis-local runs with 0 ms state transitions) while
//! `kds-gen --rate R | kds-put --ordered` writes and two consumers follow the stream:
//! `kds-tail | kds-window` and `kds-tail --envelope | kds-s3sink --input envelope`.
//!
//! Asserted: the window totals (sum of `count_tno`, sum of `sum_tnum`) equal the generator's
//! totals; S3 holds every generated record exactly once; per partition key (`uno`, 40 keys) the
//! records come out of kds-tail in the order kds-gen wrote them (`tid` increasing), across
//! parent → child shards; both split children and merge children carried records.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use aws_sdk_kinesis::Client;
use common::rel::*;
use testkit::reliability::{Figures, Scale};
use testkit::scenario_outcome;
use testkit::{merge, open_shards, read_stream_all, split_in_half, Stack, TestBucket, TestStream};

/// Splits the open shard with the widest hash range in the middle. Returns what it did.
async fn split_widest(client: &Client, stream: &str) -> anyhow::Result<String> {
    let shards = open_shards(client, stream).await?;
    let id = &shards
        .iter()
        .max_by_key(|s| s.last - s.first)
        .context("no open shard")?
        .id;
    split_in_half(client, stream, id).await?;
    Ok(format!("split {id}"))
}

/// Merges the two adjacent open shards with the narrowest combined range.
async fn merge_narrowest(client: &Client, stream: &str) -> anyhow::Result<String> {
    let shards = open_shards(client, stream).await?;
    let pair = shards
        .windows(2)
        .filter(|w| w[0].last.checked_add(1) == Some(w[1].first))
        .min_by_key(|w| w[1].last - w[0].first)
        .context("no adjacent open shards")?;
    merge(client, stream, &pair[0].id, &pair[1].id).await?;
    Ok(format!("merged {}+{}", pair[0].id, pair[1].id))
}

fn field_u64(v: &serde_json::Value, k: &str) -> u64 {
    match &v[k] {
        serde_json::Value::String(s) => s.parse().expect("number in a string"),
        x => x.as_u64().unwrap_or_else(|| panic!("{k} in {v}")),
    }
}

/// What the resharding scenario left, for the tests of its behaviours.
struct Outcome {
    /// Generated lines against the stream read back, and against S3.
    stream: Tally,
    s3: Tally,
    /// Keys of objects outside the input prefix (error output).
    errors: Vec<String>,
    /// The window totals (sum of count_tno, of sum_tnum) and the generator's.
    window_totals: (u64, u64),
    generated_totals: (u64, u64),
    /// Records kds-tail (the one feeding kds-s3sink) wrote.
    tail_records: u64,
    /// Keys whose tids came out of kds-tail out of order, with how many times.
    out_of_order: Vec<(String, usize)>,
    keys_seen: usize,
    /// Shards records were read from that resharding created.
    new_shards: Vec<String>,
    producer_still_running: bool,
}

/// Splits and merges twice while the producer writes and both consumers follow the stream.
fn scenario() -> Outcome {
    let scale = Scale::from_env();
    // Build (if stale) before any watchdog starts: a build is not the scenario's time.
    common::tool_dir_for(&["kds-gen", "kds-put", "kds-tail", "kds-window", "kds-s3sink"]);
    let n: u64 = scale.pick(3_000, 20_000);
    let rate: u64 = scale.pick(200, 500);
    // Time between resharding operations: four of them within the producer's run.
    let gap = Duration::from_millis(scale.pick(2_500, 7_000));
    let rt = runtime();
    let stack = Stack::get();
    let kinesis = rt.block_on(stack.kinesis_client());
    let stream = rt
        .block_on(TestStream::create_named(&stack, "rel-reshard", 4))
        .expect("create stream");
    let bucket = rt
        .block_on(TestBucket::create_named(&stack, "rel-reshard"))
        .expect("create bucket");
    let (_guard, dir) = scratch();
    let wd = Watchdog::start("reshard", Duration::from_secs(scale.pick(240, 900)));
    let started = Instant::now();

    // Consumers first, following from the start of the stream, each stopping after n records.
    let tail_args = |cmd: &mut std::process::Command| {
        cmd.args(["--stream", &stream.name, "--from", "trim-horizon"])
            .args(["--list-interval", "500ms", "-n", &n.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
    };
    let mut tail_w_cmd = tool(&stack, "kds-tail");
    tail_args(&mut tail_w_cmd);
    let mut tail_w = wd.spawn("kds-tail", &mut tail_w_cmd);
    let mut window_cmd = tool(&stack, "kds-window");
    window_cmd
        .args(["--size", "5s"])
        .stdin(tail_w.stdout_stdio())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut window = wd.spawn("kds-window", &mut window_cmd);

    let mut tail_s_cmd = tool(&stack, "kds-tail");
    tail_args(&mut tail_s_cmd);
    tail_s_cmd.arg("--envelope");
    let mut tail_s = wd.spawn("kds-tail", &mut tail_s_cmd);
    let mut sink_cmd = tool(&stack, "kds-s3sink");
    sink_cmd
        .args(["--bucket", &bucket.name, "--prefix", "rel-input/"])
        .args(["--error-prefix", "rel-error/", "--name", "rel-reshard"])
        .args(["--input", "envelope", "--buffer-interval", "2s", "--spill"])
        .arg(dir.join("spill"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut sink = wd.spawn("kds-s3sink", &mut sink_cmd);
    let envelopes = tee(
        tail_s.child.stdout.take().expect("piped"),
        sink.child.stdin.take().expect("piped"),
    );

    // The producer.
    let mut gen_cmd = tool(&stack, "kds-gen");
    gen_cmd
        .args([
            "2021-03-19",
            "--rate",
            &rate.to_string(),
            "-n",
            &n.to_string(),
        ])
        .args(["--seed", "5", "--users", "40"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut g = wd.spawn("kds-gen", &mut gen_cmd);
    let mut put_cmd = tool(&stack, "kds-put");
    put_cmd
        .args([
            "-s",
            &stream.name,
            "--ordered",
            "--partition-key-field",
            "uno",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut p = wd.spawn("kds-put", &mut put_cmd);
    let sent_copy = tee(
        g.child.stdout.take().expect("piped"),
        p.child.stdin.take().expect("piped"),
    );
    let errs: Vec<(&str, Collected)> = vec![
        ("kds-put", p.collect_stderr()),
        ("kds-tail | kds-window: kds-tail", tail_w.collect_stderr()),
        ("kds-window", window.collect_stderr()),
        ("kds-tail | kds-s3sink: kds-tail", tail_s.collect_stderr()),
        ("kds-s3sink", sink.collect_stderr()),
    ];
    let window_out = collect(window.child.stdout.take().expect("piped"));

    // Split and merge twice while all of that runs.
    let mut ops = Vec::new();
    for op in 0..4 {
        wd.sleep(gap);
        let did = if op % 2 == 0 {
            rt.block_on(split_widest(&kinesis, &stream.name))
        } else {
            rt.block_on(merge_narrowest(&kinesis, &stream.name))
        }
        .expect("resharding");
        let open = rt
            .block_on(open_shards(&kinesis, &stream.name))
            .expect("list shards")
            .len();
        eprintln!(
            "reshard: {did} at {:?}: {open} open shards",
            started.elapsed()
        );
        ops.push(format!("{did} ({open} open)"));
    }
    let producer_still_running = p.alive();

    let mut rss = Rss::default();
    let ends: Vec<Finished> = vec![
        g.finish(&wd),
        p.finish(&wd),
        tail_w.finish(&wd),
        window.finish(&wd),
        tail_s.finish(&wd),
        sink.finish(&wd),
    ];
    let seconds = started.elapsed().as_secs_f64();
    let errs: Vec<(&str, String)> = errs.into_iter().map(|(n, e)| (n, e.text())).collect();
    let stderr: String = errs
        .iter()
        .map(|(name, e)| format!("--- {name} ---\n{e}\n"))
        .collect();
    let put_summary = errs[0]
        .1
        .lines()
        .rev()
        .find(|l| l.starts_with("kds-put: records"))
        .unwrap_or("kds-put: no summary")
        .to_string();
    wd.check();
    for e in &ends {
        e.assert_ok(&stderr);
        rss.add(e);
    }
    let sent = lines(&sent_copy.get());
    assert_eq!(sent.len() as u64, n, "kds-gen wrote {n} lines");
    let envs: Vec<serde_json::Value> = lines(&envelopes.get())
        .iter()
        .map(|l| serde_json::from_slice(l).expect("envelope is JSON"))
        .collect();
    let windows: Vec<serde_json::Value> = lines(&window_out.get())
        .iter()
        .map(|l| serde_json::from_slice(l).expect("window row is JSON"))
        .collect();

    // What was generated.
    let sent_values: Vec<serde_json::Value> = sent
        .iter()
        .map(|l| serde_json::from_slice(l).expect("trade is JSON"))
        .collect();
    let want_sum: u64 = sent_values.iter().map(|v| field_u64(v, "tnum")).sum();
    let got_count: u64 = windows.iter().map(|w| field_u64(w, "count_tno")).sum();
    let got_sum: u64 = windows.iter().map(|w| field_u64(w, "sum_tnum")).sum();

    // The stream itself and S3.
    let in_stream: Vec<Vec<u8>> = rt
        .block_on(read_stream_all(&kinesis, &stream.name))
        .expect("read the stream back")
        .into_iter()
        .map(|r| r.data)
        .collect();
    let stream_tally = Tally::of(&sent, &in_stream);
    let s3 = rt.block_on(stack.s3_client());
    let objects = rt
        .block_on(s3_records(&s3, &bucket.name, ""))
        .expect("read S3 back");
    let errors: Vec<&String> = objects
        .iter()
        .map(|(k, _)| k)
        .filter(|k| !k.starts_with("rel-input/"))
        .collect();
    let got: Vec<&Vec<u8>> = objects.iter().flat_map(|(_, r)| r).collect();
    let tally = Tally::of(&sent, &got);

    // Per-key order in what kds-tail read.
    let mut by_key: HashMap<String, Vec<u64>> = HashMap::new();
    let mut shards_seen = BTreeSet::new();
    for e in &envs {
        let key = e["partition_key"]
            .as_str()
            .expect("partition_key")
            .to_string();
        by_key
            .entry(key)
            .or_default()
            .push(field_u64(&e["data"], "tid"));
        shards_seen.insert(e["shard_id"].as_str().expect("shard_id").to_string());
    }
    let out_of_order: Vec<(&String, usize)> = by_key
        .iter()
        .filter_map(|(k, tids)| {
            let bad = tids.windows(2).filter(|w| w[0] >= w[1]).count();
            (bad > 0).then_some((k, bad))
        })
        .collect();
    let original: BTreeSet<String> = (0..4).map(|i| format!("shardId-{i:012}")).collect();
    let new_shards: Vec<&String> = shards_seen.difference(&original).collect();

    let mut f = Figures::new(
        "reshard",
        "split and merge twice under load: kds-gen | kds-put --ordered, kds-tail | kds-window, kds-tail | kds-s3sink",
    );
    tally.fill(&mut f);
    f.dead_lettered = errors.len() as u64 + count_files(&dir.join("spill"));
    f.peak_rss_kib = rss.into_vec();
    f.seconds = seconds;
    f.command = reproduce("reliability_reshard");
    f.notes = format!(
        "4 shards at start, kds-gen --rate {rate} --users 40, put --ordered keyed by uno; {}. \
         Window totals: count {got_count} (generated {n}), sum of tnum {got_sum} (generated \
         {want_sum}) over {} windows of 5 s. kds-tail read {} shards ({} created by resharding); \
         keys out of order: {}. {put_summary}.",
        ops.join(", "),
        windows.len(),
        shards_seen.len(),
        new_shards.len(),
        out_of_order.len(),
    );
    f.record().expect("record figures");

    rt.block_on(stream.delete()).expect("delete stream");
    rt.block_on(bucket.delete()).expect("delete bucket");
    Outcome {
        stream: stream_tally,
        s3: tally,
        errors: errors.into_iter().cloned().collect(),
        window_totals: (got_count, got_sum),
        generated_totals: (n, want_sum),
        tail_records: envs.len() as u64,
        out_of_order: out_of_order
            .into_iter()
            .map(|(k, bad)| (k.clone(), bad))
            .collect(),
        keys_seen: by_key.len(),
        new_shards: new_shards.into_iter().cloned().collect(),
        producer_still_running,
    }
}

scenario_outcome!(fn outcome() -> Outcome = scenario);

#[test]
fn reshard_stream_holds_every_record_once() {
    let o = outcome();
    o.stream.assert_complete("the stream");
    assert_eq!(o.stream.duplicated, 0);
}

#[test]
fn reshard_s3_holds_every_record_once() {
    let o = outcome();
    o.s3.assert_complete("kds-tail | kds-s3sink across resharding");
    assert_eq!(o.s3.duplicated, 0);
}

#[test]
fn reshard_writes_no_error_output() {
    let o = outcome();
    assert!(o.errors.is_empty(), "{:?}", o.errors);
}

#[test]
fn reshard_window_totals_equal_the_generators() {
    let o = outcome();
    assert_eq!(o.window_totals, o.generated_totals, "(count, sum of tnum)");
}

#[test]
fn reshard_tail_reads_every_record_once() {
    let o = outcome();
    assert_eq!(o.tail_records, o.generated_totals.0);
}

#[test]
fn reshard_keeps_each_keys_order_across_parent_and_child_shards() {
    let o = outcome();
    assert!(
        o.out_of_order.is_empty(),
        "per-key order broken for {} keys, e.g. {:?}",
        o.out_of_order.len(),
        o.out_of_order.first()
    );
    assert_eq!(o.keys_seen, 40, "every key seen");
}

/// Guards the scenario itself: resharding happened under load, and children carried records.
#[test]
fn reshard_children_of_splits_and_merges_carry_records_while_the_producer_writes() {
    let o = outcome();
    assert!(o.new_shards.len() >= 3, "{:?}", o.new_shards);
    assert!(o.producer_still_running);
}
