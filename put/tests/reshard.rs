//! kds-put while the stream is resharded under it: a shard is split, then its children are
//! merged, while lines keep arriving through a pipe. kds-put must notice each reshard (a
//! result names a shard its map does not know), re-read the shard map and route pending and
//! new records to the new shards; nothing is lost, duplicated or dead-lettered, and with
//! `--ordered` each key's records stay in input order across parent and child shards.
//! Needs `scripts/stack start`; fails (never skips) without it.

mod util;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{ChildStdin, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use testkit::{list_shard_ids, merge, shard_ranges, split_in_half, Stack, TestStream};
use util::*;

/// Bounds every wait of this test: a kds-put that never refreshes its map fails the test
/// instead of hanging it.
const WATCHDOG: Duration = Duration::from_secs(120);

struct Feeder {
    stdin: ChildStdin,
    lines: Vec<String>,
}

impl Feeder {
    /// Writes 10 lines (over 150 keys) and pauses 50 ms: a slow, steady producer.
    async fn batch(&mut self) {
        for _ in 0..10 {
            let i = self.lines.len();
            let line = format!(r#"{{"tid":"{i}","tno":"R{:03}"}}"#, i % 150);
            writeln!(self.stdin, "{line}").expect("write to kds-put");
            self.lines.push(line);
        }
        self.stdin.flush().expect("flush kds-put's stdin");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    /// Feeds until kds-put's stderr has a line containing `needle`, then `extra` batches more.
    async fn until(&mut self, stderr: &Mutex<Vec<String>>, needle: &str, extra: usize) {
        let start = Instant::now();
        while !stderr
            .lock()
            .expect("stderr lines")
            .iter()
            .any(|l| l.contains(needle))
        {
            assert!(
                start.elapsed() < WATCHDOG,
                "kds-put did not report {needle:?} while writing"
            );
            self.batch().await;
        }
        for _ in 0..extra {
            self.batch().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn shard_map_follows_split_and_merge_while_writing() {
    let stack = Stack::get();
    let stream = TestStream::create(&stack, 2).await.expect("create stream");
    let client = stack.kinesis_client().await;
    let dir = tempfile::tempdir().unwrap();
    let dl = dir.path().join("dead.ndjson");
    let mut child = stack
        .command(BIN)
        .args(["-s", &stream.name, "--ordered", "--receipts", "-v"])
        .arg("--dead-letter")
        .arg(&dl)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kds-put");
    let mut stdout = child.stdout.take().unwrap();
    let receipts = std::thread::spawn(move || {
        let mut b = Vec::new();
        stdout.read_to_end(&mut b).map(|_| b)
    });
    let stderr_lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let stderr_thread = {
        let lines = Arc::clone(&stderr_lines);
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("{l}");
                lines.lock().unwrap().push(l);
            }
        })
    };
    let mut feed = Feeder {
        stdin: child.stdin.take().unwrap(),
        lines: Vec::new(),
    };
    for _ in 0..20 {
        feed.batch().await;
    }

    // Split the lower shard in the middle of its range.
    let before: HashSet<String> = list_shard_ids(&client, &stream.name)
        .await
        .unwrap()
        .into_iter()
        .collect();
    let ranges = shard_ranges(&client, &stream.name).await.unwrap();
    let lower = ranges.iter().find(|s| s.open).expect("an open shard");
    split_in_half(&client, &stream.name, &lower.id)
        .await
        .expect("SplitShard");
    let after_split: Vec<String> = list_shard_ids(&client, &stream.name).await.unwrap();
    let children: Vec<String> = after_split
        .iter()
        .filter(|id| !before.contains(*id))
        .cloned()
        .collect();
    assert_eq!(children.len(), 2, "{after_split:?}");

    feed.until(
        &stderr_lines,
        "shard map refreshed: 3 open shards (was 2)",
        20,
    )
    .await;

    // Merge the two children back into one shard.
    merge(&client, &stream.name, &children[0], &children[1])
        .await
        .expect("MergeShards");
    let merged: Vec<String> = list_shard_ids(&client, &stream.name)
        .await
        .unwrap()
        .into_iter()
        .filter(|id| !before.contains(id) && !children.contains(id))
        .collect();
    assert_eq!(merged.len(), 1, "{merged:?}");

    feed.until(
        &stderr_lines,
        "shard map refreshed: 2 open shards (was 3)",
        20,
    )
    .await;
    let input = std::mem::take(&mut feed.lines);
    drop(feed); // end of input

    let status = tokio::time::timeout(WATCHDOG, tokio::task::spawn_blocking(move || child.wait()))
        .await
        .expect("kds-put did not exit after the end of its input")
        .unwrap()
        .unwrap();
    stderr_thread.join().unwrap();
    let receipts = ndjson(&receipts.join().unwrap().unwrap());
    assert_eq!(status.code(), Some(0));
    assert!(ndjson_file(&dl).is_empty(), "no dead letters expected");

    // Every line exactly once.
    let back = read_back(&stack, &stream.name).await;
    assert_eq!(back.len(), input.len(), "records read back");
    assert_eq!(
        multiset(back.iter().map(|r| r.text())),
        multiset(input.clone())
    );

    // Per key, input order across parent, children and merged shard: the stream is read
    // back shard by shard in the service's order (parents before children).
    let mut by_key: HashMap<String, Vec<u64>> = HashMap::new();
    for r in &back {
        let v: serde_json::Value = serde_json::from_slice(&r.data).unwrap();
        let tid: u64 = v["tid"].as_str().unwrap().parse().unwrap();
        by_key.entry(r.partition_key.clone()).or_default().push(tid);
    }
    for (key, tids) in &by_key {
        assert!(
            tids.windows(2).all(|w| w[0] < w[1]),
            "key {key} out of input order"
        );
    }

    // The new shards took records: receipts name the children and the merged shard.
    assert_eq!(receipts.len(), input.len());
    let lines: HashSet<u64> = receipts
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines.len(), input.len(), "one receipt per line");
    let receipt_shards: HashSet<&str> = receipts
        .iter()
        .map(|r| r["shard_id"].as_str().unwrap())
        .collect();
    for id in children.iter().chain(&merged) {
        assert!(
            receipt_shards.contains(id.as_str()),
            "no receipt names shard {id}: {receipt_shards:?}"
        );
    }
    stream.delete().await.unwrap();
}
