//! kds-put through testkit's fault-injecting proxy in front of kinesis-local: partial
//! failures, 500s, resets and stalls are retried; what never succeeds is dead-lettered.
//! The stream is read back from kinesis-local directly, so the proxy cannot hide anything.

mod util;

use std::time::Duration;

use testkit::fault_proxy::{FaultConfig, FaultProxy};
use testkit::{Stack, TestStream};
use util::*;

fn lines(n: usize, tag: &str) -> Vec<String> {
    (0..n)
        .map(|i| {
            format!(
                r#"{{"tid":"{tag}-{i}","tno":"K{:04}","tnum":{i}}}"#,
                i % 211
            )
        })
        .collect()
}

/// 20% of entries fail with ProvisionedThroughputExceededException and 5% of calls get a 500:
/// everything arrives exactly once, nothing is dead-lettered, and the retries show in the
/// summary. Every attempt is kds-put's own: its call count equals the calls the proxy saw.
#[tokio::test(flavor = "multi_thread")]
async fn partial_failures_and_500s_are_retried_until_all_are_delivered() {
    let stack = Stack::get();
    let stream = TestStream::create(&stack, 2).await.expect("create stream");
    let proxy = FaultProxy::start(
        &stack.kinesis_endpoint,
        FaultConfig::new()
            .seed(4)
            .only(["PutRecords"])
            .put_records_entry_failure(0.2)
            .http_500(0.05),
    );
    let input = lines(3000, "a");
    let args = ["--retry-base", "10ms", "--retry-max", "200ms", "-v"];
    let (out, dead) = put_lines(&stack, Some(&proxy.url()), &stream.name, &input, &args);
    assert_eq!(out.status.code(), Some(0));
    assert!(dead.is_empty(), "no dead letters expected");
    let faults = proxy.stats();
    assert!(faults.entries_failed > 300, "{faults:?}");
    assert!(faults.http_500 > 0, "{faults:?}");

    let retries = summary_counter(&out.stderr, "retries").expect("summary line");
    let calls = summary_counter(&out.stderr, "calls").expect("summary line");
    assert!(retries > 0);
    assert_eq!(
        calls,
        faults.operation("PutRecords"),
        "SDK retries must be off"
    );
    // The resent entries are those the proxy failed plus those in calls it answered with 500.
    let resent: u64 = {
        let text = String::from_utf8_lossy(&out.stderr);
        let line = text
            .lines()
            .rev()
            .find(|l| l.starts_with("kds-put: records "))
            .unwrap();
        let i = line.find(" resent)").unwrap();
        line[..i].rsplit('(').next().unwrap().parse().unwrap()
    };
    assert!(
        resent >= faults.entries_failed,
        "{resent} < {}",
        faults.entries_failed
    );

    let back = read_back(&stack, &stream.name).await;
    assert_eq!(multiset(back.iter().map(|r| r.text())), multiset(input));
    stream.delete().await.unwrap();
}

/// --ordered under 20% entry failures: every key's records still arrive in input order (a
/// batch holds each key once, and a shard's retries finish before its next batch).
#[tokio::test(flavor = "multi_thread")]
async fn ordered_keeps_key_order_under_partial_failures() {
    let stack = Stack::get();
    let stream = TestStream::create(&stack, 2).await.expect("create stream");
    let proxy = FaultProxy::start(
        &stack.kinesis_endpoint,
        FaultConfig::new()
            .seed(9)
            .only(["PutRecords"])
            .put_records_entry_failure(0.2),
    );
    let input: Vec<String> = (0..1500)
        .map(|i| format!(r#"{{"tid":"{i}","tno":"O{:02}"}}"#, i % 40))
        .collect();
    let args = [
        "--ordered",
        "--retry-base",
        "5ms",
        "--retry-max",
        "50ms",
        "-v",
    ];
    let (out, dead) = put_lines(&stack, Some(&proxy.url()), &stream.name, &input, &args);
    assert_eq!(out.status.code(), Some(0));
    assert!(dead.is_empty());
    assert!(proxy.stats().entries_failed > 100, "{:?}", proxy.stats());
    assert!(summary_counter(&out.stderr, "retries").unwrap_or(0) > 0);
    let back = read_back(&stack, &stream.name).await;
    assert_eq!(multiset(back.iter().map(|r| r.text())), multiset(input));
    let mut by_key: std::collections::HashMap<String, Vec<u64>> = Default::default();
    for r in &back {
        let v: serde_json::Value = serde_json::from_slice(&r.data).unwrap();
        let tid: u64 = v["tid"].as_str().unwrap().parse().unwrap();
        by_key.entry(r.partition_key.clone()).or_default().push(tid);
    }
    assert_eq!(by_key.len(), 40);
    for (key, tids) in &by_key {
        assert!(
            tids.windows(2).all(|w| w[0] < w[1]),
            "key {key} out of order: {tids:?}"
        );
    }
    stream.delete().await.unwrap();
}

/// When every attempt fails, every line ends in the dead-letter file with the service's error
/// code and the number of attempts, and the exit status is 1.
#[tokio::test(flavor = "multi_thread")]
async fn failures_on_every_attempt_dead_letter_every_line() {
    let stack = Stack::get();
    let stream = TestStream::create(&stack, 2).await.expect("create stream");
    for (name, config, code) in [
        (
            "entries",
            FaultConfig::new()
                .only(["PutRecords"])
                .put_records_entry_failure(1.0),
            "ProvisionedThroughputExceededException",
        ),
        (
            "calls",
            FaultConfig::new().only(["PutRecords"]).http_500(1.0),
            "InternalFailure",
        ),
    ] {
        let proxy = FaultProxy::start(&stack.kinesis_endpoint, config);
        let input = lines(300, name);
        let args = [
            "--max-retries",
            "2",
            "--retry-base",
            "1ms",
            "--retry-max",
            "5ms",
        ];
        let (out, dead) = put_lines(&stack, Some(&proxy.url()), &stream.name, &input, &args);
        assert_eq!(out.status.code(), Some(1), "{name}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("300 records dead-lettered"), "{stderr}");
        assert!(
            stderr.contains("not delivered after 3 attempts"),
            "{stderr}"
        );
        assert_eq!(dead.len(), 300, "{name}");
        let mut seen_lines: Vec<u64> = dead.iter().map(|d| d["line"].as_u64().unwrap()).collect();
        seen_lines.sort_unstable();
        assert_eq!(seen_lines, (1..=300).collect::<Vec<_>>());
        for d in &dead {
            let line = d["line"].as_u64().unwrap() as usize;
            assert_eq!(d["data"], input[line - 1]);
            assert_eq!(d["error_code"], code, "{d}");
            assert_eq!(d["attempts"], 3, "{d}");
            let key: serde_json::Value = serde_json::from_str(&input[line - 1]).unwrap();
            assert_eq!(d["partition_key"], key["tno"]);
        }
    }
    assert!(read_back(&stack, &stream.name).await.is_empty());
    stream.delete().await.unwrap();
}

/// Connection resets before and after forwarding, and stalled calls cut by --call-timeout:
/// a reset after the request reached Kinesis is ambiguous and its retry duplicates records
/// (Kinesis producers are at-least-once). Duplicates are counted; none may be lost.
#[tokio::test(flavor = "multi_thread")]
async fn resets_and_timeouts_may_duplicate_but_lose_nothing() {
    let stack = Stack::get();
    let stream = TestStream::create(&stack, 2).await.expect("create stream");
    let proxy = FaultProxy::start(
        &stack.kinesis_endpoint,
        FaultConfig::new()
            .seed(11)
            .only(["PutRecords"])
            .reset_before(0.1)
            .reset_after(0.15)
            .delay(0.1, Duration::from_secs(3)),
    );
    let input = lines(1500, "r");
    let args = [
        "--batch-records",
        "25",
        "--retry-base",
        "10ms",
        "--retry-max",
        "100ms",
        // Stalls of 3 s always time out; 2 s and 20 retries leave room for an emulator
        // slowed by a busy machine (with 1 s and the default 10, a loaded CI run once
        // exhausted a call's attempts).
        "--call-timeout",
        "2s",
        "--max-retries",
        "20",
        "-v",
    ];
    let (out, dead) = put_lines(&stack, Some(&proxy.url()), &stream.name, &input, &args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dead.is_empty());
    let faults = proxy.stats();
    assert!(
        faults.reset_before > 0 && faults.reset_after > 0 && faults.delay > 0,
        "{faults:?}"
    );

    let back = read_back(&stack, &stream.name).await;
    let got = multiset(back.iter().map(|r| r.text()));
    let missing: Vec<&String> = input.iter().filter(|l| !got.contains_key(*l)).collect();
    assert!(
        missing.is_empty(),
        "lost {} lines, e.g. {:?}",
        missing.len(),
        missing.first()
    );
    assert!(
        got.keys().all(|k| input.contains(k)),
        "records that were never input"
    );
    let duplicates = back.len() - input.len();
    eprintln!(
        "{duplicates} duplicates after {} resets after forwarding and {} stalled calls",
        faults.reset_after, faults.delay
    );
    // Only calls that may have reached Kinesis (reset after forwarding, stalled past the
    // timeout) can duplicate, and by at most their batch size each.
    assert!(duplicates as u64 <= (faults.reset_after + faults.delay) * 500);
    stream.delete().await.unwrap();
}
