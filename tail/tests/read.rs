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

/// `-e` ends while a producer keeps writing: each shard is read until it is caught up once
/// (MillisBehindLatest 0 on a page the limit did not cut short, records or not), not until every
/// shard shows an empty page at the same moment (which a steady producer never allows).
/// What it read is a prefix of each shard; a second run from the checkpoint reads the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_at_tip_ends_while_a_producer_keeps_writing() -> anyhow::Result<()> {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let stack = Stack::get();
    let stream = TestStream::create(&stack, 2).await?;
    let client = stack.kinesis_client().await;
    let mut puts = put_all(&client, &stream.name, &keyed_records(200, 16, "before")).await?;

    // Back to back, so every GetRecords of either shard finds fresh records.
    let stop = Arc::new(AtomicBool::new(false));
    let producer = {
        let (client, name, stop) = (client.clone(), stream.name.clone(), Arc::clone(&stop));
        tokio::spawn(async move {
            let mut written = Vec::new();
            let mut round = 0;
            while !stop.load(Ordering::Relaxed) {
                let batch = keyed_records(20, 16, &format!("during-{round}"));
                written.extend(put_all(&client, &name, &batch).await?);
                round += 1;
            }
            anyhow::Ok(written)
        })
    };
    let dir = tempfile::tempdir()?;
    let cp = dir.path().join("cp.json");
    let run = |cp: std::path::PathBuf| {
        let mut cmd = tail(&stack);
        cmd.args(["--stream", &stream.name, "--from", "trim-horizon", "-e"])
            .args(["--envelope", "--checkpoint"])
            .arg(cp);
        tokio::task::spawn_blocking(move || run_with_timeout(cmd, Duration::from_secs(60)))
    };
    // Let the producer write for a while first, so the run starts behind a moving tip.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let first = run(cp.clone()).await??;
    assert!(
        first.status.success(),
        "-e ended with exit 0 while the producer wrote: {:?}: {}",
        first.status,
        String::from_utf8_lossy(&first.stderr)
    );
    stop.store(true, Ordering::Relaxed);
    puts.extend(producer.await??);
    let second = run(cp.clone()).await??;
    assert!(second.status.success(), "second run: {:?}", second.status);

    let first = envelopes(&first.stdout);
    let second = envelopes(&second.stdout);
    let mut by_shard: BTreeMap<&str, Vec<&Put>> = BTreeMap::new();
    for p in &puts {
        by_shard.entry(&p.shard_id).or_default().push(p);
    }
    assert_eq!(by_shard.len(), 2, "records on both shards");
    for (shard, written) in &mut by_shard {
        written.sort_by(|a, b| seq_cmp(&a.sequence_number, &b.sequence_number));
        let seqs = |run: &[Env]| -> Vec<String> {
            run.iter()
                .filter(|e| e.shard_id == *shard)
                .map(|e| e.sequence_number.clone())
                .collect()
        };
        let (a, b) = (seqs(&first), seqs(&second));
        let want: Vec<String> = written.iter().map(|p| p.sequence_number.clone()).collect();
        assert_eq!(
            a[..],
            want[..a.len()],
            "{shard}: the first run read a prefix in order"
        );
        assert_eq!(
            b[..],
            want[a.len()..],
            "{shard}: the second run read exactly the rest"
        );
    }
    let before = puts
        .iter()
        .filter(|p| p.data.ends_with(b"\"before\"}"))
        .count();
    assert!(
        first.len() >= before,
        "the first run read at least what was there before it"
    );
    assert!(
        !second.is_empty(),
        "the producer wrote records after the first run ended (it did not wait for them)"
    );
    Ok(())
}
