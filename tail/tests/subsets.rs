//! `--shards i/n`: n processes together read every record once; children follow parents.

mod support;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;

use anyhow::Context;
use support::*;
use testkit::process::run_bounded;
use testkit::{split_in_half, Stack, TestStream};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_subsets_partition_every_record_and_keep_lineages_together() -> anyhow::Result<()> {
    let stack = Stack::get();
    let stream = TestStream::create(&stack, 5).await?;
    let client = stack.kinesis_client().await;
    let mut puts = put_all(&client, &stream.name, &keyed_records(600, 40, "a")).await?;
    // Split shard 0 so that one lineage has children.
    split_in_half(&client, &stream.name, "shardId-000000000000").await?;
    puts.extend(put_all(&client, &stream.name, &keyed_records(600, 40, "b")).await?);

    let n = 3;
    let mut handles = Vec::new();
    for i in 0..n {
        let mut cmd = tail(&stack);
        cmd.args([
            "--stream",
            &stream.name,
            "--from",
            "trim-horizon",
            "-e",
            "--envelope",
        ])
        .args(["--shards", &format!("{i}/{n}")]);
        handles.push(tokio::task::spawn_blocking(move || {
            run_bounded(cmd, None, Duration::from_secs(60))
        }));
    }
    let mut subsets: Vec<Vec<Env>> = Vec::new();
    for h in handles {
        let out = h.await?;
        assert!(out.status.success(), "{}", out.stderr);
        subsets.push(envelopes(&out.stdout));
    }

    let key = |e: &Env| (e.shard_id.clone(), e.sequence_number.clone());
    let sets: Vec<HashSet<(String, String)>> = subsets
        .iter()
        .map(|s| s.iter().map(key).collect())
        .collect();
    for (i, s) in subsets.iter().enumerate() {
        assert_eq!(sets[i].len(), s.len(), "subset {i} has no duplicates");
    }
    for a in 0..n {
        for b in a + 1..n {
            assert!(sets[a].is_disjoint(&sets[b]), "subsets {a} and {b} overlap");
        }
    }
    let union: HashSet<_> = sets.iter().flatten().cloned().collect();
    let all: HashSet<_> = puts
        .iter()
        .map(|p| (p.shard_id.clone(), p.sequence_number.clone()))
        .collect();
    assert_eq!(union.len(), all.len(), "union count");
    assert!(union == all, "the union is every record");

    // Each shard is read by exactly one process, and the split children go with their parent.
    let mut owner: BTreeMap<String, usize> = BTreeMap::new();
    for (i, s) in subsets.iter().enumerate() {
        for sh in s
            .iter()
            .map(|e| e.shard_id.clone())
            .collect::<BTreeSet<_>>()
        {
            assert!(owner.insert(sh.clone(), i).is_none(), "{sh} read twice");
        }
    }
    let parent = owner.get("shardId-000000000000").context("shard 0 read")?;
    for child in ["shardId-000000000005", "shardId-000000000006"] {
        if let Some(o) = owner.get(child) {
            assert_eq!(o, parent, "{child} follows its parent");
        }
    }
    assert!(
        owner.contains_key("shardId-000000000005") || owner.contains_key("shardId-000000000006"),
        "children were read: {owner:?}"
    );
    assert!(
        subsets.iter().filter(|s| !s.is_empty()).count() >= 2,
        "work is spread"
    );
    Ok(())
}
