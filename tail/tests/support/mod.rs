//! Helpers shared by kds-tail's integration tests: writing records with the SDK, running the
//! binary, parsing its output.
#![allow(dead_code)]

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use aws_sdk_kinesis::Client;
use testkit::Stack;

pub const BIN: &str = env!("CARGO_BIN_EXE_kds-tail");

/// One record as written by a test.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Put {
    pub partition_key: String,
    pub data: Vec<u8>,
    pub shard_id: String,
    pub sequence_number: String,
}

/// Writes `records` (partition key, data) with PutRecords in batches of up to 500, in order,
/// resending failed entries (and everything after them in the batch, to keep per-key order).
pub async fn put_all(
    client: &Client,
    stream: &str,
    records: &[(String, Vec<u8>)],
) -> Result<Vec<Put>> {
    let mut out = Vec::with_capacity(records.len());
    let mut i = 0;
    while i < records.len() {
        let end = (i + 500).min(records.len());
        let entries: Vec<PutRecordsRequestEntry> = records[i..end]
            .iter()
            .map(|(pk, data)| {
                PutRecordsRequestEntry::builder()
                    .partition_key(pk)
                    .data(Blob::new(data.clone()))
                    .build()
                    .expect("entry")
            })
            .collect();
        let resp = client
            .put_records()
            .stream_name(stream)
            .set_records(Some(entries))
            .send()
            .await
            .with_context(|| format!("PutRecords on {stream}"))?;
        let mut accepted = 0;
        for (j, r) in resp.records().iter().enumerate() {
            if r.error_code().is_some() {
                break;
            }
            let (pk, data) = &records[i + j];
            out.push(Put {
                partition_key: pk.clone(),
                data: data.clone(),
                shard_id: r.shard_id().unwrap_or_default().to_string(),
                sequence_number: r.sequence_number().unwrap_or_default().to_string(),
            });
            accepted += 1;
        }
        if accepted < end - i {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        i += accepted;
    }
    Ok(out)
}

/// `n` trade-like records over `keys` partition keys: `{"k":"key-07","i":123}`.
pub fn keyed_records(n: usize, keys: usize, tag: &str) -> Vec<(String, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let k = format!("key-{:03}", i % keys);
            (
                k.clone(),
                format!("{{\"k\":\"{k}\",\"i\":{i},\"t\":\"{tag}\"}}").into_bytes(),
            )
        })
        .collect()
}

/// Sequence numbers are decimal strings without leading zeros, longer than u128.
pub fn seq_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// `kds-tail` with the stack's environment.
pub fn tail(stack: &Stack) -> Command {
    let mut cmd = stack.command(BIN);
    cmd.stdin(Stdio::null());
    cmd
}

/// Lines of the output (each without its `\n`); a trailing partial line is dropped.
pub fn lines(out: &[u8]) -> Vec<Vec<u8>> {
    let complete = match out.iter().rposition(|&b| b == b'\n') {
        Some(p) => &out[..=p],
        None => &[][..],
    };
    complete
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

/// A parsed `--envelope` line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Env {
    pub shard_id: String,
    pub sequence_number: String,
    pub sub: Option<u64>,
    pub partition_key: String,
    pub data: String,
}

pub fn envelopes(out: &[u8]) -> Vec<Env> {
    lines(out)
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_slice(l)
                .unwrap_or_else(|e| panic!("not JSON: {e}: {}", String::from_utf8_lossy(l)));
            Env {
                shard_id: v["shard_id"].as_str().expect("shard_id").to_string(),
                sequence_number: v["sequence_number"].as_str().expect("seq").to_string(),
                sub: v.get("sub_sequence_number").and_then(|s| s.as_u64()),
                partition_key: v["partition_key"].as_str().expect("pk").to_string(),
                data: match &v["data"] {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                },
            }
        })
        .collect()
}

/// Asserts that, for every key, the `i` fields of `{"k":..,"i":..}` lines appear in
/// increasing order.
pub fn assert_key_order(datas: &[serde_json::Value]) {
    let mut last: HashMap<String, i64> = HashMap::new();
    for v in datas {
        let k = v["k"].as_str().expect("k").to_string();
        let i = v["i"].as_i64().expect("i");
        if let Some(prev) = last.insert(k.clone(), i) {
            assert!(prev < i, "key {k}: record {i} came after {prev}");
        }
    }
}

/// Counts lines in a file (complete lines only).
pub fn count_lines(path: &std::path::Path) -> usize {
    std::fs::read(path).map(|b| lines(&b).len()).unwrap_or(0)
}
