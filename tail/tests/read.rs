//! kds-tail against kinesis-local: every record, once, in per-key order.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use support::*;
use testkit::process::run_bounded;
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
    let out = tokio::task::spawn_blocking(move || run_bounded(cmd, None, Duration::from_secs(90)))
        .await?;
    let stderr = &out.stderr;
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
        tokio::task::spawn_blocking(move || run_bounded(cmd, None, Duration::from_secs(60)))
    };
    // Let the producer write for a while first, so the run starts behind a moving tip.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let first = run(cp.clone()).await?;
    assert!(
        first.status.success(),
        "-e ended with exit 0 while the producer wrote: {:?}: {}",
        first.status,
        first.stderr
    );
    stop.store(true, Ordering::Relaxed);
    puts.extend(producer.await??);
    let second = run(cp.clone()).await?;
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

/// kcat-like positions: a bare time and a relative one (`-1h`, `1h ago`) start at that
/// arrival time (AT_TIMESTAMP); `--shard-id` reads one shard; `--idle-timeout` ends a run that
/// would otherwise follow the stream forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_time_shard_id_and_idle_timeout() -> anyhow::Result<()> {
    let stack = Stack::get();
    let stream = TestStream::create(&stack, 2).await?;
    let client = stack.kinesis_client().await;
    let before = put_all(&client, &stream.name, &keyed_records(40, 8, "before")).await?;
    // Arrival times have millisecond resolution: keep the two batches apart.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let cut = kds_common::time::rfc3339_ms(kds_common::time::now_ms());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let after = put_all(&client, &stream.name, &keyed_records(40, 8, "after")).await?;
    let datas = |puts: &[Put]| multiset(&puts.iter().map(|p| p.data.clone()).collect::<Vec<_>>());
    let read = |args: Vec<String>| {
        let mut cmd = tail(&stack);
        cmd.args(["--stream", &stream.name]).args(args);
        tokio::task::spawn_blocking(move || run_bounded(cmd, None, Duration::from_secs(90)))
    };

    let out = read(vec!["--from".into(), cut.clone(), "-e".into()]).await?;
    assert!(out.status.success(), "{}", out.stderr);
    assert!(
        multiset(&lines(&out.stdout)) == datas(&after),
        "--from {cut}: only the later batch"
    );

    let all: Vec<Put> = before.iter().chain(&after).cloned().collect();
    for relative in ["--from=-1h", "--from=1h ago"] {
        let out = read(vec![relative.into(), "-e".into()]).await?;
        assert!(out.status.success(), "{}", out.stderr);
        assert!(
            multiset(&lines(&out.stdout)) == datas(&all),
            "{relative}: every record"
        );
    }

    let shard = all[0].shard_id.clone();
    let one: Vec<Put> = all
        .iter()
        .filter(|p| p.shard_id == shard)
        .cloned()
        .collect();
    assert!(one.len() < all.len(), "the records spread over both shards");
    let args = ["--shard-id", &shard, "--from", "trim-horizon", "-e"].map(String::from);
    let out = read(args.to_vec()).await?;
    assert!(out.status.success(), "{}", out.stderr);
    assert!(
        multiset(&lines(&out.stdout)) == datas(&one),
        "--shard-id {shard}: that shard only"
    );

    let out = read(
        ["--shard-id", "shardId-999999999999"]
            .map(String::from)
            .to_vec(),
    )
    .await?;
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown shard is a usage error"
    );

    // No -e: only the idle timeout can end this run (run_with_timeout fails a hang). The idle
    // clock starts with the readers: 5 s leaves a loaded machine time to read the first page.
    let out = read(
        ["--from", "trim-horizon", "--idle-timeout", "5s"]
            .map(String::from)
            .to_vec(),
    )
    .await?;
    assert!(out.status.success(), "{}", out.stderr);
    assert!(
        multiset(&lines(&out.stdout)) == datas(&all),
        "every record before going idle"
    );
    stream.delete().await?;
    Ok(())
}
