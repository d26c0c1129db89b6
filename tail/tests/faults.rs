//! Through the fault-injecting proxy: throttling, 500s, 503s, connection resets and expired
//! iterators on GetRecords / GetShardIterator lose nothing and repeat nothing.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use support::*;
use testkit::fault_proxy::{FaultConfig, FaultProxy};
use testkit::process::run_bounded;
use testkit::{Stack, TestStream};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_server_errors_resets_and_expired_iterators_lose_and_repeat_nothing(
) -> anyhow::Result<()> {
    let stack = Stack::get();
    let stream = TestStream::create(&stack, 2).await?;
    let client = stack.kinesis_client().await;
    let total = 2_000;
    let puts = put_all(&client, &stream.name, &keyed_records(total, 20, "fault")).await?;

    let proxy = FaultProxy::start(
        &stack.kinesis_endpoint,
        FaultConfig::new()
            .seed(7)
            .only(["GetRecords", "GetShardIterator"])
            .throttle(0.1)
            .http_500(0.1)
            .http_503_slowdown(0.03)
            .expired_iterator(0.1)
            .reset_before(0.03)
            .reset_after(0.05),
    );
    let mut cmd = tail(&stack);
    cmd.args([
        "--stream",
        &stream.name,
        "--from",
        "trim-horizon",
        "-e",
        "--envelope",
        "-v",
    ])
    .args(["--batch-limit", "100", "--endpoint-url", &proxy.url()]);
    let out = tokio::task::spawn_blocking(move || run_bounded(cmd, None, Duration::from_secs(120)))
        .await?;
    let stderr = &out.stderr;
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    let stats = proxy.stats();
    eprintln!("proxy: {stats:?}");
    assert!(stats.throttle > 0, "throttling was injected");
    assert!(stats.http_500 > 0, "500s were injected");
    assert!(
        stats.expired_iterator > 0,
        "expired iterators were injected"
    );
    assert!(
        stats.reset_before + stats.reset_after > 0,
        "resets were injected"
    );

    let got = envelopes(&out.stdout);
    let ids: HashSet<(String, String)> = got
        .iter()
        .map(|e| (e.shard_id.clone(), e.sequence_number.clone()))
        .collect();
    assert_eq!(ids.len(), got.len(), "no duplicates");
    let want: HashSet<(String, String)> = puts
        .iter()
        .map(|p| (p.shard_id.clone(), p.sequence_number.clone()))
        .collect();
    assert_eq!(got.len(), total, "no loss (count)");
    assert!(ids == want, "exactly the records written");
    let values: Vec<serde_json::Value> = got
        .iter()
        .map(|e| serde_json::from_str(&e.data).expect("JSON"))
        .collect();
    assert_key_order(&values);
    assert!(
        stderr.contains("iterator renewals"),
        "the summary counts renewals: {stderr}"
    );
    Ok(())
}
