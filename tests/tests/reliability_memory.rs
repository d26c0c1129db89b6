//! Reliability, back-pressure and memory. A fast producer in front of a slow service must
//! not make a tool buffer without bound:
//! - kds-s3sink behind a slow S3 (every PutObject stalled by the fault proxy): its peak RSS
//!   stays under the bound its buffer flags give (s3sink/README.md, "Buffering"), on an
//!   input several times that bound, and every record is delivered;
//! - kds-window on kds-gen output: peak RSS flat in the input size (200k vs 2M lines in CI, 10M
//!   at full scale) and a few MB for the lab query;
//! - kds-put behind a slow Kinesis (every PutRecords stalled): peak RSS under the bound of its
//!   read-ahead and calls in flight, and flat between two inputs above the read-ahead (the
//!   larger three times the smaller), every record delivered.
//!
//! RSS is each child's own peak (`VmHWM` polled from /proc; `testkit::reliability::HwmSampler`
//! says why not `wait4`'s `ru_maxrss`), recorded in `target/reliability/`.
//! Every child runs under a watchdog; no wall-clock assertions.

use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use testkit::fault_proxy::{FaultConfig, FaultProxy};
use testkit::process::{collect, run_bounded, Watchdog};
use testkit::reliability::{Figures, Scale};
use testkit::{list_objects_all, Stack, TestBucket, TestStream};

const MIB: u64 = 1024 * 1024;

struct Piped {
    producer: (ExitStatus, u64),
    consumer: (ExitStatus, u64),
    stdout: Vec<u8>,
    stderr: String,
    seconds: f64,
}

/// `producer | consumer`, both direct children (no shell), under one watchdog.
fn pipe(mut producer: Command, mut consumer: Command, limit: Duration) -> Piped {
    let started = Instant::now();
    let wd = Watchdog::start("pipeline", limit);
    let mut p = wd.spawn(
        "producer",
        producer.stdout(Stdio::piped()).stderr(Stdio::null()),
    );
    let mut c = wd.spawn(
        "consumer",
        consumer
            .stdin(p.stdout_stdio())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let out = collect(c.child.stdout.take().expect("stdout"));
    let err = c.collect_stderr();
    let consumer_done = c.finish(&wd);
    let producer_done = p.finish(&wd);
    let stdout = out.get();
    let stderr = err.text();
    assert!(
        !wd.fired(),
        "watchdog: pipeline did not finish within {limit:?}; stderr:\n{stderr}"
    );
    Piped {
        producer: (producer_done.status, producer_done.rss_kib),
        consumer: (consumer_done.status, consumer_done.rss_kib),
        stdout,
        stderr,
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// `consumer` reading `input` from a writer thread (as fast as the pipe takes it): its status,
/// peak RSS (KiB), stdout and stderr.
fn feed(consumer: Command, input: Vec<u8>, limit: Duration) -> (ExitStatus, u64, Vec<u8>, String) {
    let run = run_bounded(consumer, Some(input), limit);
    (run.status, run.rss_kib, run.stdout, run.stderr)
}

fn gen_command(lines: u64, extra: &[&str]) -> Command {
    let mut cmd = Command::new(testkit::bin_path("kds-gen"));
    cmd.args(["2021-03-19", "--seed", "7", "-n", &lines.to_string()]);
    if !extra.contains(&"--rate") {
        cmd.args(["--rate", "0"]);
    }
    cmd.args(extra);
    cmd
}

// ---------------------------------------------------------------------------------------------
// kds-s3sink
// ---------------------------------------------------------------------------------------------

/// Baseline RSS allowed for any of the tools as debug builds (code, runtime, SDK clients),
/// measured at 20-30 MiB on this machine; the bounds below add what the flags allow.
const BASE_KIB: u64 = 48 * 1024;

/// kds-s3sink's memory bound from its flags (README "Buffering"): the buffer being filled and
/// one flushed object waiting for an upload slot (2 × buffer size), `--concurrency` objects
/// uploading (concurrency × buffer size), and the reader's channel of 4 parsed blocks plus the
/// one being parsed and the read buffer (each block ≤ ~1 MiB of input, held as input + record
/// copy + per-record metadata: ≤ 3 MiB each, 16 MiB in all).
fn s3sink_bound_kib(buffer_size_mib: u64, concurrency: u64) -> u64 {
    BASE_KIB + (2 + concurrency) * buffer_size_mib * 1024 + 16 * 1024
}

#[tokio::test(flavor = "multi_thread")]
async fn s3sink_memory_stays_bounded_behind_a_slow_s3() {
    let scale = Scale::from_env();
    let stack = Stack::get();
    let bucket = TestBucket::create(&stack).await.expect("bucket");
    let lines: u64 = scale.pick(1_200_000, 4_000_000);
    let (buffer_mib, concurrency) = (1u64, 2u64);
    let bound = s3sink_bound_kib(buffer_mib, concurrency);
    // Every PutObject stalls 250 ms: S3 takes ~8 MB/s at most, kds-gen writes ~100x that.
    let proxy = FaultProxy::start(
        &stack.s3_endpoint,
        FaultConfig::new()
            .only(["PutObject"])
            .delay(1.0, Duration::from_millis(250)),
    );
    let mut sink = stack.command(testkit::bin_path("kds-s3sink"));
    let spill = tempfile::tempdir().expect("tempdir");
    sink.args([
        "--bucket",
        &bucket.name,
        "--prefix",
        "mem/",
        "--buffer-size",
        &format!("{buffer_mib}MiB"),
        "--concurrency",
        &concurrency.to_string(),
        "--newline",
        "--endpoint-url",
        &proxy.url(),
    ])
    .arg("--spill")
    .arg(spill.path().join("spill"));
    let gen = gen_command(lines, &[]);
    let run = tokio::task::spawn_blocking(move || pipe(gen, sink, Duration::from_secs(300)))
        .await
        .expect("join");
    assert!(run.producer.0.success(), "kds-gen: {:?}", run.producer.0);
    assert!(run.consumer.0.success(), "kds-s3sink: {}", run.stderr);
    let rss = run.consumer.1;
    let stalls = proxy.stats().delay;

    // Every record is in S3, once.
    let reported: u64 = String::from_utf8_lossy(&run.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("report")["records"]
                .as_u64()
                .expect("records")
        })
        .sum();
    let s3 = stack.s3_client().await;
    let objects = list_objects_all(&s3, &bucket.name).await.expect("list");
    let input_bytes: u64 = objects.iter().map(|(_, b)| b.len() as u64).sum();
    let stored: u64 = objects
        .iter()
        .map(|(_, b)| b.iter().filter(|&&c| c == b'\n').count() as u64)
        .sum();
    assert_eq!(reported, lines, "records reported");
    assert_eq!(stored, lines, "records in S3");
    assert!(stalls >= objects.len() as u64, "every PutObject was slow");

    eprintln!(
        "kds-s3sink peak RSS {rss} KiB, bound {bound} KiB, input {} KiB",
        input_bytes / 1024
    );
    // The claim is meaningful only if the input is far larger than the bound.
    assert!(
        input_bytes / 1024 > 2 * bound,
        "input {} KiB is not larger than twice the bound {bound} KiB",
        input_bytes / 1024
    );
    assert!(
        rss <= bound,
        "kds-s3sink peak RSS {rss} KiB exceeds the bound {bound} KiB (buffer {buffer_mib} MiB, concurrency {concurrency}) on {} KiB of input",
        input_bytes / 1024
    );

    let mut f = Figures::new(
        "memory-s3sink",
        "kds-gen --rate 0 | kds-s3sink --buffer-size 1MiB --concurrency 2, every PutObject stalled 250 ms",
    );
    f.sent = lines;
    f.delivered = stored;
    f.lost = lines.saturating_sub(stored);
    f.peak_rss_kib = vec![
        ("kds-gen".into(), run.producer.1),
        ("kds-s3sink".into(), rss),
    ];
    f.seconds = run.seconds;
    f.command = "scripts/reliability --full (test reliability_memory s3sink_memory)".into();
    f.notes = format!(
        "{} MB of input through {} objects; bound {} KiB = 48 MiB base + (2 + concurrency) x buffer + 16 MiB reader channel",
        input_bytes / 1_000_000,
        objects.len(),
        bound
    );
    f.record().expect("record");
    bucket.delete().await.ok();
}

// ---------------------------------------------------------------------------------------------
// kds-window
// ---------------------------------------------------------------------------------------------

/// The lab query (rowtime) and an event-time query over many windows, on two input sizes.
#[test]
fn window_memory_is_flat_in_the_input_size() {
    let scale = Scale::from_env();
    let (small, large): (u64, u64) = scale.pick((200_000, 2_000_000), (1_000_000, 10_000_000));
    let limit = Duration::from_secs(scale.pick(120, 900));
    let mut figures = Vec::new();
    let started = Instant::now();
    for (name, window_args, gen_extra) in [
        ("lab query (rowtime)", vec![], vec![]),
        (
            "event time, 10 s windows by pno",
            vec![
                "--time",
                "event:tuptime",
                "--size",
                "10s",
                "--group-by",
                "pno",
            ],
            vec![
                "--simulated-clock",
                "--rate",
                "1000",
                "--start",
                "2021-03-19T13:00:00Z",
            ],
        ),
    ] {
        let mut rss = Vec::new();
        for n in [small, large] {
            let mut window = Command::new(testkit::bin_path("kds-window"));
            window.args(&window_args);
            let run = pipe(gen_command(n, &gen_extra), window, limit);
            assert!(run.producer.0.success());
            assert!(run.consumer.0.success(), "kds-window: {}", run.stderr);
            let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&run.stdout)
                .lines()
                .map(|l| serde_json::from_str(l).expect("row"))
                .collect();
            let counted: u64 = rows
                .iter()
                .map(|r| r["count_tno"].as_u64().unwrap_or(0))
                .sum();
            assert_eq!(counted, n, "{name}: every line counted");
            rss.push(run.consumer.1);
        }
        // Flat: ten times the input (~230 MB more) may cost at most 2 MiB more (allocator and
        // pipe-buffer noise; measured +0.1 to +1.3 MiB), under 1% of the extra input.
        assert!(
            rss[1] <= rss[0] + 2 * 1024,
            "{name}: peak RSS {} KiB for {large} lines vs {} KiB for {small}",
            rss[1],
            rss[0]
        );
        // A few MB (debug build included).
        assert!(rss[1] <= 16 * 1024, "{name}: peak RSS {} KiB", rss[1]);
        figures.push((name, rss));
    }
    let mut f = Figures::new(
        "memory-window",
        "kds-gen --rate 0 -n N | kds-window, N = small and large, lab query and an event-time group-by",
    );
    f.sent = small + large;
    f.delivered = small + large;
    f.peak_rss_kib = figures
        .iter()
        .flat_map(|(name, rss)| {
            [
                (format!("kds-window {name} {small} lines"), rss[0]),
                (format!("kds-window {name} {large} lines"), rss[1]),
            ]
        })
        .collect();
    f.seconds = started.elapsed().as_secs_f64();
    f.command = "scripts/reliability --full (test reliability_memory window_memory)".into();
    f.notes =
        "flat: the larger input costs at most 2 MiB more peak RSS; under 16 MiB (debug build)"
            .into();
    f.record().expect("record");
}

// ---------------------------------------------------------------------------------------------
// kds-put
// ---------------------------------------------------------------------------------------------

/// Bytes in one line of [`big_lines`].
const BIG_LINE: u64 = 64 * 1024;

/// `n` lines of [`BIG_LINE`] bytes (newline included) with distinct partition keys.
fn big_lines(n: u64) -> Vec<u8> {
    let pad = "x".repeat(BIG_LINE as usize - 29);
    let mut v = Vec::with_capacity((n * BIG_LINE) as usize);
    for i in 0..n {
        v.extend_from_slice(format!("{{\"tno\":\"K{i:08}\",\"pad\":\"{pad}\"}}\n").as_bytes());
    }
    v
}

/// kds-put's memory bound (put README "Memory"): `--read-ahead` (every record from the reader
/// to its acknowledgement, the calls in flight included), plus `--concurrency` requests of
/// `call_mib` each held up to three times while out (the SDK's copy of the entries, the JSON
/// body with base64 data and its growth), plus the base.
fn put_bound_kib(read_ahead_mib: u64, concurrency: u64, call_mib: u64) -> u64 {
    BASE_KIB + read_ahead_mib * 1024 + concurrency * 3 * call_mib * 1024
}

/// A fast input into an 8-shard stream whose every PutRecords the proxy stalls 500 ms:
/// kds-put reads far ahead of what it can send, so its memory is what its bound allows,
/// whatever the input size. Both inputs (6 and 18 MiB in CI, 6 and 48 at full scale) are
/// above what the flags let kds-put hold (`--read-ahead 2MiB`, 2 calls of 16 records of
/// 64 KiB: 4.5 MiB); the small flags keep the data moved through kinesis-local small
/// (kinesis-local takes well under 1 MiB/s of 64 KiB records). Every record is
/// acknowledged by Kinesis (`--receipts`: one shard and sequence number per input line).
#[tokio::test(flavor = "multi_thread")]
async fn put_memory_is_flat_when_kinesis_is_slow() {
    let scale = Scale::from_env();
    let stack = Stack::get();
    let (read_ahead_mib, concurrency, call_records) = (2u64, 2u64, 16u64);
    let call_mib = call_records * BIG_LINE / MIB;
    let (small, large): (u64, u64) = scale.pick((96, 288), (96, 768));
    let started = Instant::now();
    let mut rss = Vec::new();
    let mut delivered = 0;
    for n in [small, large] {
        let stream = TestStream::create(&stack, 8).await.expect("stream");
        let proxy = FaultProxy::start(
            &stack.kinesis_endpoint,
            FaultConfig::new()
                .only(["PutRecords"])
                .delay(1.0, Duration::from_millis(500)),
        );
        let mut put = stack.command(testkit::bin_path("kds-put"));
        put.args(["--stream", &stream.name, "--endpoint-url", &proxy.url()])
            .args(["--read-ahead", &format!("{read_ahead_mib}MiB")])
            .args(["--concurrency", &concurrency.to_string()])
            .args(["--batch-records", &call_records.to_string(), "--receipts"]);
        let input = big_lines(n);
        let (status, peak, receipts, stderr) =
            tokio::task::spawn_blocking(move || feed(put, input, Duration::from_secs(300)))
                .await
                .expect("join");
        assert!(status.success(), "kds-put ({n} lines): {stderr}");
        let mut lines = std::collections::BTreeSet::new();
        let mut sequences = std::collections::BTreeSet::new();
        for r in receipts.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let v: serde_json::Value = serde_json::from_slice(r).expect("a receipt is JSON");
            lines.insert(v["line"].as_u64().expect("receipt line"));
            sequences.insert((
                v["shard_id"].as_str().expect("shard_id").to_string(),
                v["sequence_number"]
                    .as_str()
                    .expect("sequence_number")
                    .to_string(),
            ));
        }
        assert_eq!(
            lines,
            (1..=n).collect(),
            "every input line acknowledged by Kinesis"
        );
        assert_eq!(sequences.len() as u64, n, "one sequence number per line");
        delivered += n;
        assert!(proxy.stats().delay > 0, "the proxy stalled calls");
        rss.push(peak);
        stream.delete().await.ok();
    }
    let (small_mib, large_mib) = (small * BIG_LINE / MIB, large * BIG_LINE / MIB);
    eprintln!("kds-put peak RSS {rss:?} KiB for {small_mib} and {large_mib} MiB of input");
    let bound = put_bound_kib(read_ahead_mib, concurrency, call_mib);
    for (peak, mib) in rss.iter().zip([small_mib, large_mib]) {
        assert!(
            *peak <= bound,
            "kds-put peak RSS {peak} KiB on {mib} MiB of input, over its bound {bound} KiB"
        );
    }
    // Flat: the larger input costs less than half its extra size more (a tool holding its
    // input, as kds-put did when its channel held 4,096 records of any size, costs all of it).
    // Measured: 37 -> 38 MiB for 6 -> 18 MiB here; with 4 calls, 41 -> 46 MiB for 8 -> 24.
    let extra_kib = (large - small) * BIG_LINE / 1024;
    assert!(
        rss[1] <= rss[0] + extra_kib / 2,
        "kds-put peak RSS {} KiB on {large_mib} MiB vs {} KiB on {small_mib} MiB",
        rss[1],
        rss[0]
    );
    let mut f = Figures::new(
        "memory-put",
        "64 KiB lines written fast into kds-put --read-ahead 2MiB, every PutRecords stalled 500 ms",
    );
    f.sent = small + large;
    f.delivered = delivered;
    f.lost = (small + large).saturating_sub(delivered);
    f.peak_rss_kib = vec![
        (format!("kds-put {small_mib} MiB"), rss[0]),
        (format!("kds-put {large_mib} MiB"), rss[1]),
    ];
    f.seconds = started.elapsed().as_secs_f64();
    f.command =
        "scripts/reliability --only memory (test put_memory_is_flat_when_kinesis_is_slow)".into();
    f.notes = format!(
        "{small_mib} MiB vs {large_mib} MiB of input into 8 shards, --read-ahead \
         {read_ahead_mib}MiB --concurrency {concurrency} --batch-records {call_records} \
         ({call_mib} MiB calls); bound {} MiB; flat means less than half the extra input in extra \
         peak RSS; delivery checked by --receipts (Kinesis' sequence numbers)",
        bound / 1024
    );
    f.record().expect("record");
}
