//! kds-put against kinesis-local: delivery, order, receipts, dead letters, exit statuses,
//! aggregation. Needs `scripts/stack start`; fails (never skips) without it.

mod util;

use std::collections::HashMap;

use testkit::{Stack, TestStream};
use util::*;

/// 20,000 lines over 2,000 partition keys into 4 shards with --ordered: the stream holds
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
                r#"{{"tid":"{i}","tno":"KEY{:04}","tnum":{},"pad":"{}"}}"#,
                i % 2000,
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
    assert_eq!(by_key.len(), 2000);
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

/// A missing stream and bad flag values are usage errors: exit 2, one line naming the problem;
/// an unknown flag gets clap's whole message with the usage line.
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
    ] {
        let out = run_put(&stack, None, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with("kds-put: "), "{stderr}");
    }
    let out = run_put(&stack, None, &["-s", "x", "--no-such-flag", input]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("kds-put: unexpected argument '--no-such-flag'"),
        "{stderr}"
    );
    assert!(stderr.contains("Usage: kds-put"), "{stderr}");
}

/// A decoder written apart from `aggregate.rs` (so a symmetric bug cannot cancel out):
/// magic, protobuf AggregatedRecord, MD5 trailer. Returns (partition key, data) per user record.
fn kpl_decode(blob: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    use md5::{Digest, Md5};
    if !blob.starts_with(&[0xF3, 0x89, 0x9A, 0xC2]) {
        return None;
    }
    let body = &blob[4..blob.len() - 16];
    assert_eq!(
        Md5::digest(body).as_slice(),
        &blob[blob.len() - 16..],
        "MD5 trailer"
    );
    fn varint(b: &[u8], i: &mut usize) -> u64 {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let byte = b[*i];
            *i += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return v;
            }
            shift += 7;
        }
    }
    fn fields(b: &[u8]) -> Vec<(u64, Result<u64, Vec<u8>>)> {
        let mut i = 0;
        let mut out = Vec::new();
        while i < b.len() {
            let tag = varint(b, &mut i);
            match tag & 7 {
                0 => out.push((tag >> 3, Ok(varint(b, &mut i)))),
                2 => {
                    let n = varint(b, &mut i) as usize;
                    out.push((tag >> 3, Err(b[i..i + n].to_vec())));
                    i += n;
                }
                w => panic!("unexpected wire type {w}"),
            }
        }
        out
    }
    let mut keys = Vec::new();
    let mut records = Vec::new();
    for (field, value) in fields(body) {
        match (field, value) {
            (1, Err(k)) => keys.push(String::from_utf8(k).expect("UTF-8 key")),
            (3, Err(r)) => records.push(r),
            (2, _) => {}
            other => panic!("unexpected field {other:?}"),
        }
    }
    Some(
        records
            .iter()
            .map(|r| {
                let mut key = None;
                let mut data = None;
                for (field, value) in fields(r) {
                    match (field, value) {
                        (1, Ok(k)) => key = Some(keys[k as usize].clone()),
                        (3, Err(d)) => data = Some(d),
                        _ => {}
                    }
                }
                (key.expect("partition_key_index"), data.expect("data"))
            })
            .collect(),
    )
}

/// --aggregate packs lines into KPL aggregated records: far fewer Kinesis records, each
/// decodes back to the original lines with their partition keys, and receipts carry the
/// aggregate's sequence number plus the line's index inside it.
#[tokio::test(flavor = "multi_thread")]
async fn aggregate_round_trip() {
    let stack = Stack::get();
    let stream = TestStream::create(&stack, 2).await.expect("create stream");
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<String> = (0..3000)
        .map(|i| format!(r#"{{"tid":"{i}","tno":"AGG{:02}","tnum":{i}}}"#, i % 40))
        .collect();
    let input = write_lines(dir.path(), "in.ndjson", &lines);
    let out = run_put(
        &stack,
        None,
        &[
            "-s",
            &stream.name,
            "--aggregate",
            "--receipts",
            "-v",
            input.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    let records = read_back(&stack, &stream.name).await;
    assert!(
        records.len() < 60,
        "{} Kinesis records for 3000 lines",
        records.len()
    );
    let mut user = Vec::new();
    let mut seq_of_line_text = HashMap::new();
    for r in &records {
        assert!(r.data.len() + r.partition_key.len() <= 50 * 1024);
        let decoded =
            kpl_decode(&r.data).unwrap_or_else(|| vec![(r.partition_key.clone(), r.data.clone())]);
        // The library's own decoder agrees.
        if let kds_common::kpl::Decoded::Aggregated(lib) = kds_common::kpl::decode(&r.data).unwrap()
        {
            assert_eq!(lib.len(), decoded.len());
        }
        for (i, (key, data)) in decoded.into_iter().enumerate() {
            let text = String::from_utf8(data).unwrap();
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(key, v["tno"].as_str().unwrap());
            seq_of_line_text.insert(text.clone(), (r.sequence_number.clone(), i));
            user.push(text);
        }
    }
    assert_eq!(multiset(user), multiset(lines.iter().cloned()));
    let receipts = ndjson(&out.stdout);
    assert_eq!(receipts.len(), 3000);
    for rc in &receipts {
        let line = rc["line"].as_u64().unwrap() as usize;
        let (seq, sub) = &seq_of_line_text[&lines[line - 1]];
        assert_eq!(rc["sequence_number"], seq.as_str());
        assert_eq!(rc["sub_sequence_number"].as_u64(), Some(*sub as u64));
    }
    stream.delete().await.unwrap();
}

/// SIGINT while reading a live pipe: kds-put stops reading, sends what it has read, exits 0.
#[tokio::test(flavor = "multi_thread")]
async fn sigint_sends_what_was_read_and_exits_cleanly() {
    use std::io::Write;
    use std::process::Stdio;
    let stack = Stack::get();
    let stream = TestStream::create(&stack, 1).await.expect("create stream");
    let lines: Vec<String> = (0..300)
        .map(|i| format!(r#"{{"tid":"{i}","tno":"S{}"}}"#, i % 7))
        .collect();
    let mut child = stack
        .command(BIN)
        .args(["-s", &stream.name, "--linger", "10s", "-v"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kds-put");
    let mut stdin = child.stdin.take().unwrap();
    for l in &lines {
        writeln!(stdin, "{l}").unwrap();
    }
    stdin.flush().unwrap();
    // The lines wait in a 10 s linger; stdin stays open. Interrupt.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    drop(stdin);
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0));
    let back = read_back(&stack, &stream.name).await;
    assert_eq!(multiset(back.iter().map(|r| r.text())), multiset(lines));
    stream.delete().await.unwrap();
}

/// Partition-key options route records as Kinesis would: an explicit hash key pins every
/// record to the shard owning it, a random key spreads lines (JSON or not) over all shards,
/// a dotted path reads nested numbers.
#[tokio::test(flavor = "multi_thread")]
async fn key_options_route_records() {
    let stack = Stack::get();
    let stream = TestStream::create(&stack, 2).await.expect("create stream");
    let client = stack.kinesis_client().await;
    let shards = testkit::shard_ranges(&client, &stream.name)
        .await
        .expect("ListShards");
    let owner = |hash: u128| -> String {
        let owner = shards.iter().find(|s| s.owns(hash));
        owner.expect("a shard owns every hash key").id.clone()
    };
    let dir = tempfile::tempdir().unwrap();
    let max = u128::MAX.to_string();
    let runs: Vec<(&str, Vec<&str>)> = vec![
        ("low", vec!["--explicit-hash-key", "0"]),
        ("high", vec!["--explicit-hash-key", max.as_str()]),
        ("random", vec!["--random-partition-key"]),
        ("nested", vec!["--partition-key-field", "a.b"]),
    ];
    for (tag, flags) in &runs {
        let lines: Vec<String> = (0..200)
            .map(|i| {
                if *tag == "random" {
                    format!("{tag} plain text {i}")
                } else {
                    format!(r#"{{"tag":"{tag}","a":{{"b":{i}}}}}"#)
                }
            })
            .collect();
        let input = write_lines(dir.path(), &format!("{tag}.ndjson"), &lines);
        let mut args = vec!["-s", stream.name.as_str()];
        args.extend(flags.iter().copied());
        args.push(input.to_str().unwrap());
        let out = run_put(&stack, None, &args);
        assert_eq!(out.status.code(), Some(0), "{tag}");
    }
    let back = read_back(&stack, &stream.name).await;
    let of = |tag: &str| -> Vec<&testkit::RecordOut> {
        back.iter()
            .filter(|r| {
                r.text().contains(&format!("\"tag\":\"{tag}\"")) || r.text().starts_with(tag)
            })
            .collect()
    };
    let low = of("low");
    assert_eq!(low.len(), 200);
    assert!(low
        .iter()
        .all(|r| r.shard_id == owner(0) && r.partition_key == "0"));
    let high = of("high");
    assert_eq!(high.len(), 200);
    assert!(high
        .iter()
        .all(|r| r.shard_id == owner(u128::MAX) && r.partition_key == max));
    assert_ne!(owner(0), owner(u128::MAX));
    let random = of("random");
    assert_eq!(random.len(), 200);
    assert!(random.iter().all(|r| r.partition_key.len() == 32));
    let spread: std::collections::HashSet<&str> =
        random.iter().map(|r| r.shard_id.as_str()).collect();
    assert_eq!(spread.len(), 2);
    let nested = of("nested");
    assert_eq!(nested.len(), 200);
    for r in nested {
        let v: serde_json::Value = serde_json::from_slice(&r.data).unwrap();
        assert_eq!(r.partition_key, v["a"]["b"].to_string());
        assert_eq!(
            r.shard_id,
            owner(kds_put::shard_map::hash_key(&r.partition_key))
        );
    }
    stream.delete().await.unwrap();
}
