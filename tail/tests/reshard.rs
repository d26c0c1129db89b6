//! Resharding while kds-tail reads: a split and a merge mid-stream while a producer writes.

mod support;

use std::collections::{BTreeSet, HashSet};
use std::process::Stdio;
use std::time::Duration;

use support::*;
use testkit::process::Watchdog;
use testkit::{merge, split_in_half, Stack, TestStream};

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
    let wd = Watchdog::start("kds-tail while resharding", Duration::from_secs(240));
    let child = wd.spawn("kds-tail", &mut cmd);

    let total = 3_000;
    let records = keyed_records(total, 48, "reshard");
    let mut puts = Vec::new();
    for (batch, chunk) in records.chunks(100).enumerate() {
        puts.extend(put_all(&client, &stream.name, chunk).await?);
        if batch == 9 {
            split_in_half(&client, &stream.name, "shardId-000000000000").await?;
        }
        if batch == 19 {
            let (a, b) = ("shardId-000000000002", "shardId-000000000003");
            merge(&client, &stream.name, a, b).await?;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::task::block_in_place(|| {
        wd.wait_until("every record in the output", || {
            count_lines(&out_path) >= total
        })
    });
    // Give late duplicates a chance to show up before stopping.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    child.signal(libc::SIGTERM);
    let status = child.finish(&wd).status;
    let stderr = std::fs::read_to_string(&err_path)?;
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
