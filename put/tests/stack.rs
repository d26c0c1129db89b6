//! kds-put against kinesis-local: delivery, order, receipts, dead letters, exit statuses,
//! aggregation. Needs `scripts/stack start`; fails (never skips) without it.

mod util;

use std::collections::HashMap;

use testkit::{Stack, TestStream};
use util::*;

/// 20,000 lines over 100 partition keys into 4 shards with --ordered: the stream holds
/// exactly the input multiset, each key's records are in input order, and every receipt
/// names the shard and sequence number the record was read back from.
#[tokio::test(flavor = "multi_thread")]
async fn twenty_thousand_lines_read_back_exactly_and_in_key_order() {
    let stack = Stack::get();
    let stream = TestStream::create(&stack, 4).await.expect("create stream");
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<String> = (0..20_000)
        .map(|i| {
            format!(
                r#"{{"tid":"{i}","tno":"KEY{:03}","tnum":{},"pad":"{}"}}"#,
                i % 100,
                i % 97,
                "x".repeat(i % 50)
            )
        })
        .collect();
    let input = write_lines(dir.path(), "in.ndjson", &lines);
    let out = run_put(
        &stack,
        None,
        &[
            "--stream",
            &stream.name,
            "--ordered",
            "--concurrency",
            "8",
            "--receipts",
            "-v",
            input.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "exit status {:?}", out.status);
    assert_eq!(summary_counter(&out.stderr, "records"), Some(20_000));

    let records = read_back(&stack, &stream.name).await;
    let got = multiset(records.iter().map(|r| r.text()));
    assert_eq!(
        got,
        multiset(lines.iter().cloned()),
        "stream content differs from input"
    );
    let shards: std::collections::HashSet<&str> =
        records.iter().map(|r| r.shard_id.as_str()).collect();
    assert_eq!(shards.len(), 4, "records should spread over all 4 shards");

    // Per key, the order in the stream (records come back per shard in sequence order, and a
    // key lives on one shard) is the input order.
    let mut by_key: HashMap<String, Vec<u64>> = HashMap::new();
    for r in &records {
        let v: serde_json::Value = serde_json::from_slice(&r.data).unwrap();
        assert_eq!(r.partition_key, v["tno"].as_str().unwrap());
        let tid: u64 = v["tid"].as_str().unwrap().parse().unwrap();
        by_key.entry(r.partition_key.clone()).or_default().push(tid);
    }
    assert_eq!(by_key.len(), 100);
    for (key, tids) in &by_key {
        let mut sorted = tids.clone();
        sorted.sort_unstable();
        assert_eq!(tids, &sorted, "records of key {key} out of input order");
    }

    // Receipts: one per line, naming where the line was read back from.
    let receipts = ndjson(&out.stdout);
    assert_eq!(receipts.len(), 20_000);
    let by_data: HashMap<String, (&str, &str)> = records
        .iter()
        .map(|r| (r.text(), (r.shard_id.as_str(), r.sequence_number.as_str())))
        .collect();
    let mut seen = vec![false; 20_001];
    for rc in &receipts {
        let line = rc["line"].as_u64().unwrap() as usize;
        assert!(!seen[line], "two receipts for line {line}");
        seen[line] = true;
        let (shard, seq) = by_data[&lines[line - 1]];
        assert_eq!(rc["shard_id"], shard, "receipt of line {line}");
        assert_eq!(rc["sequence_number"], seq, "receipt of line {line}");
    }
    stream.delete().await.unwrap();
}

/// Invalid JSON, a missing key field and an oversize record are each dead-lettered with
/// their reason and line number; the good lines are delivered; exit statuses follow
/// --dead-letter / --allow-dead-letters / --strict.
#[tokio::test(flavor = "multi_thread")]
async fn bad_lines_are_dead_lettered_with_reason_and_line_number() {
    let stack = Stack::get();
    let stream = TestStream::create(&stack, 1).await.expect("create stream");
    let dir = tempfile::tempdir().unwrap();
    let big = format!(r#"{{"tno":"BIG","pad":"{}"}}"#, "y".repeat(1024 * 1024));
    let lines = vec![
        r#"{"tno":"A1","n":1}"#.to_string(),
        r#"{"tno": oops}"#.to_string(),
        r#"{"tno":"A2","n":2}"#.to_string(),
        r#"{"other":"x"}"#.to_string(),
        big.clone(),
        r#"{"tno":"A3","n":3}"#.to_string(),
    ];
    let input = write_lines(dir.path(), "in.ndjson", &lines);
    let input = input.to_str().unwrap();
    let dl = dir.path().join("dead.ndjson");
    let dl_s = dl.to_str().unwrap();

    // With --dead-letter: exit 1, three dead letters, three lines delivered.
    let out = run_put(
        &stack,
        None,
        &["-s", &stream.name, "--dead-letter", dl_s, input],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("kds-put: line 2: not valid JSON: "),
        "{stderr}"
    );
    assert!(
        stderr.contains("kds-put: line 4: partition key field 'tno' not found"),
        "{stderr}"
    );
    assert!(stderr.contains("kds-put: line 5: record is "), "{stderr}");
    assert!(stderr.contains("3 records dead-lettered"), "{stderr}");
    let dead = ndjson_file(&dl);
    let summary: Vec<(u64, &str)> = dead
        .iter()
        .map(|d| {
            (
                d["line"].as_u64().unwrap(),
                d["error_code"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (2, "InvalidJson"),
            (4, "MissingPartitionKey"),
            (5, "RecordTooLarge")
        ]
    );
    assert_eq!(dead[0]["data"], lines[1]);
    assert_eq!(dead[1]["data"], lines[3]);
    assert_eq!(
        dead[2]["data"].as_str().unwrap().len(),
        big.len(),
        "never truncated"
    );
    assert_eq!(dead[2]["partition_key"], "BIG");
    assert!(dead
        .iter()
        .all(|d| d["attempts"] == 0 && d["error_message"].as_str().is_some_and(|m| !m.is_empty())));
    let records = read_back(&stack, &stream.name).await;
    let mut got: Vec<String> = records.iter().map(|r| r.text()).collect();
    got.sort();
    assert_eq!(
        got,
        vec![lines[0].clone(), lines[2].clone(), lines[5].clone()]
    );

    // --allow-dead-letters: exit 0, the dead-letter file is appended to.
    let out = run_put(
        &stack,
        None,
        &[
            "-s",
            &stream.name,
            "--dead-letter",
            dl_s,
            "--allow-dead-letters",
            input,
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(ndjson_file(&dl).len(), 6);

    // No --dead-letter: exit 1 and the summary says how many were not delivered.
    let out = run_put(&stack, None, &["-s", &stream.name, input]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("3 records not delivered"));

    // --strict: exit 1 at the first bad line, naming it; later lines are not read.
    let out = run_put(&stack, None, &["-s", &stream.name, "--strict", input]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("kds-put: line 2: not valid JSON"),
        "{stderr}"
    );
    let after: Vec<String> = read_back(&stack, &stream.name)
        .await
        .iter()
        .map(|r| r.text())
        .collect();
    // Runs 1-3 delivered A1, A2, A3 each; --strict delivered only A1 (line 1) before stopping.
    assert_eq!(after.iter().filter(|t| **t == lines[0]).count(), 4);
    assert_eq!(after.iter().filter(|t| **t == lines[5]).count(), 3);
    stream.delete().await.unwrap();
}

/// A missing stream and bad flag values are usage errors: exit 2, one line.
#[tokio::test(flavor = "multi_thread")]
async fn usage_errors_exit_2() {
    let stack = Stack::get();
    let dir = tempfile::tempdir().unwrap();
    let input = write_lines(dir.path(), "in.ndjson", &[r#"{"tno":"A"}"#.to_string()]);
    let input = input.to_str().unwrap();
    let missing = testkit::unique_name("kds-missing");
    for args in [
        vec!["-s", missing.as_str(), input],
        vec!["-s", "x", "--concurrency", "0", input],
        vec!["-s", "x", "--explicit-hash-key", "12x", input],
        vec!["-s", "x", "--no-such-flag", input],
    ] {
        let out = run_put(&stack, None, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with("kds-put: "), "{stderr}");
    }
}
