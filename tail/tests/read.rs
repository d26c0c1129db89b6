//! kds-tail against kinesis-local: every record, once, in per-key order.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use support::*;
use testkit::{Stack, TestStream};

fn multiset<T: Ord + Clone>(items: &[T]) -> BTreeMap<T, usize> {
    let mut m = BTreeMap::new();
    for i in items {
        *m.entry(i.clone()).or_insert(0) += 1;
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_10000_records_of_4_shards_exactly_once_in_key_order() -> anyhow::Result<()> {
    let stack = Stack::get();
    let stream = TestStream::create(&stack, 4).await?;
    let client = stack.kinesis_client().await;
    let records = keyed_records(10_000, 64, "r");
    let puts = put_all(&client, &stream.name, &records).await?;
    let shards: std::collections::BTreeSet<_> = puts.iter().map(|p| &p.shard_id).collect();
    assert_eq!(shards.len(), 4, "records spread over every shard");

    let mut cmd = tail(&stack);
    cmd.args(["--stream", &stream.name, "--from", "trim-horizon", "-e"]);
    let out = tokio::task::spawn_blocking(move || run_with_timeout(cmd, Duration::from_secs(90)))
        .await??;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status);

    let got = lines(&out.stdout);
    let want: Vec<Vec<u8>> = records.iter().map(|(_, d)| d.clone()).collect();
    assert_eq!(got.len(), want.len(), "record count");
    assert!(
        multiset(&got) == multiset(&want),
        "exact multiset of records"
    );
    let values: Vec<serde_json::Value> = got
        .iter()
        .map(|l| serde_json::from_slice(l).expect("JSON line"))
        .collect();
    assert_key_order(&values);
    Ok(())
}
