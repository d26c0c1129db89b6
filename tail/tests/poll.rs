//! `--poll-interval` against kinesis-local, counted through a recording proxy: each shard gets
//! at most one GetRecords call per interval (AWS page "Quotas and Limits": 5 calls per second
//! per shard, shared by every reader of the stream).

mod support;

use std::time::{Duration, Instant};

use support::*;
use testkit::process::run_bounded;
use testkit::recorder::{Answer, Recorder};
use testkit::{Stack, TestStream};

/// Runs kds-tail on an idle 2-shard stream for a few seconds and returns the GetRecords calls
/// it made and how long it ran.
async fn get_records_calls(stack: &Stack, stream: &str, poll: &str) -> (usize, Duration) {
    let recorder = Recorder::start(Answer::Forward(stack.kinesis_endpoint.clone()));
    let mut cmd = tail(stack);
    cmd.args([
        "--stream",
        stream,
        "--from",
        "latest",
        "--idle-timeout",
        "3s",
    ])
    .args(["--poll-interval", poll, "--endpoint-url", recorder.url()]);
    let started = Instant::now();
    let out = tokio::task::spawn_blocking(move || run_bounded(cmd, None, Duration::from_secs(60)))
        .await
        .expect("join");
    let ran = started.elapsed();
    assert!(out.status.success(), "{}", out.stderr);
    let calls = recorder
        .seen()
        .iter()
        .filter(|s| s.operation == "GetRecords")
        .count();
    (calls, ran)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_records_stays_within_one_call_per_interval_per_shard() {
    let stack = Stack::get();
    let stream = TestStream::create(&stack, 2).await.expect("stream");
    for (poll, interval) in [("200ms", 0.2), ("500ms", 0.5)] {
        let (calls, ran) = get_records_calls(&stack, &stream.name, poll).await;
        // Per shard: one call at start, then at most one per interval while it ran.
        let allowed = 2.0 * (ran.as_secs_f64() / interval + 1.0);
        assert!(
            calls as f64 <= allowed,
            "--poll-interval {poll}: {calls} GetRecords in {ran:?} on 2 shards (allowed {allowed})"
        );
        assert!(calls >= 2, "--poll-interval {poll}: each shard was polled");
    }
    stream.delete().await.expect("delete stream");
}
