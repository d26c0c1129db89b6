//! Resharding while kds-tail reads: a split and a merge mid-stream while a producer writes.

mod support;

use std::collections::{BTreeSet, HashSet};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use aws_sdk_kinesis::Client;
use support::*;
use testkit::{wait_active, Stack, TestStream};

async fn hash_range(client: &Client, stream: &str, shard: &str) -> anyhow::Result<(u128, u128)> {
    let out = client.list_shards().stream_name(stream).send().await?;
    let s = out
        .shards()
        .iter()
        .find(|s| s.shard_id() == shard)
        .with_context(|| format!("no shard {shard}"))?;
    let r = s.hash_key_range().context("hash range")?;
    Ok((r.starting_hash_key().parse()?, r.ending_hash_key().parse()?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_and_merge_while_reading_emit_every_record_once_in_key_order() -> anyhow::Result<()> {
    let stack = Stack::get();
    let stream = TestStream::create(&stack, 4).await?;
    let client = stack.kinesis_client().await;
    let dir = tempfile::tempdir()?;
    let out_path = dir.path().join("out.ndjson");
    let err_path = dir.path().join("err.txt");

    let mut cmd = tail(&stack);
    cmd.args([
        "--stream",
        &stream.name,
        "--from",
        "trim-horizon",
        "--envelope",
        "--list-interval",
        "500ms",
    ])
    .stdout(Stdio::from(std::fs::File::create(&out_path)?))
    .stderr(Stdio::from(std::fs::File::create(&err_path)?));
    let mut child = cmd.spawn()?;

    let total = 3_000;
    let records = keyed_records(total, 48, "reshard");
    let mut puts = Vec::new();
    for (batch, chunk) in records.chunks(100).enumerate() {
        puts.extend(put_all(&client, &stream.name, chunk).await?);
        if batch == 9 {
            let (lo, hi) = hash_range(&client, &stream.name, "shardId-000000000000").await?;
            client
                .split_shard()
                .stream_name(&stream.name)
                .shard_to_split("shardId-000000000000")
                .new_starting_hash_key((lo + (hi - lo) / 2).to_string())
                .send()
                .await
                .context("SplitShard")?;
            wait_active(&client, &stream.name).await?;
        }
        if batch == 19 {
            client
                .merge_shards()
                .stream_name(&stream.name)
                .shard_to_merge("shardId-000000000002")
                .adjacent_shard_to_merge("shardId-000000000003")
                .send()
                .await
                .context("MergeShards")?;
            wait_active(&client, &stream.name).await?;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let waited = {
        let p = out_path.clone();
        tokio::task::spawn_blocking(move || {
            wait_for(
                Duration::from_secs(90),
                "every record in the output",
                || count_lines(&p) >= total,
            )
        })
        .await?
    };
    // Give late duplicates a chance to show up before stopping.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    signal(&child, libc::SIGTERM);
    let status = child.wait()?;
    let stderr = std::fs::read_to_string(&err_path)?;
    waited.with_context(|| format!("stderr: {stderr}"))?;
    assert!(
        status.success(),
        "SIGTERM ends cleanly: {status:?}: {stderr}"
    );

    let got = envelopes(&std::fs::read(&out_path)?);
    assert_eq!(got.len(), total, "every record exactly once (count)");
    let ids: HashSet<(&str, &str)> = got
        .iter()
        .map(|e| (e.shard_id.as_str(), e.sequence_number.as_str()))
        .collect();
    assert_eq!(ids.len(), total, "no (shard, sequence) twice");
    let want: BTreeSet<(String, String, String)> = puts
        .iter()
        .map(|p| {
            let v: serde_json::Value = serde_json::from_slice(&p.data).expect("JSON");
            (p.shard_id.clone(), p.sequence_number.clone(), v.to_string())
        })
        .collect();
    let have: BTreeSet<(String, String, String)> = got
        .iter()
        .map(|e| {
            (
                e.shard_id.clone(),
                e.sequence_number.clone(),
                e.data.clone(),
            )
        })
        .collect();
    let missing: Vec<_> = want.difference(&have).take(5).collect();
    let extra: Vec<_> = have.difference(&want).take(5).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "the records written, in the shards they were written to; missing {missing:?}, unexpected {extra:?}"
    );

    let new_shards: BTreeSet<&str> = got
        .iter()
        .map(|e| e.shard_id.as_str())
        .filter(|s| {
            ![
                "shardId-000000000000",
                "shardId-000000000001",
                "shardId-000000000002",
                "shardId-000000000003",
            ]
            .contains(s)
        })
        .collect();
    assert!(
        new_shards.len() >= 3,
        "records read from both split children and the merge child: {new_shards:?}"
    );

    let values: Vec<serde_json::Value> = got
        .iter()
        .map(|e| serde_json::from_str(&e.data).expect("JSON data"))
        .collect();
    assert_key_order(&values);
    Ok(())
}
