//! The two measurements: PutRecords of pre-built bodies, and a GetRecords loop per shard.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::json;

use crate::http::{request, Connection, Endpoint};

/// Records per PutRecords call: the API's maximum.
const BATCH: usize = 500;
/// Records per GetRecords page: the API's maximum.
const PAGE: usize = 10_000;

/// Sends every line of `file` as a record; the JSON result line.
pub fn put(endpoint: &Endpoint, stream: &str, file: &Path, connections: usize) -> Result<String> {
    let requests = put_requests(endpoint, stream, file)?;
    let records: usize = requests.iter().map(|(n, _)| n).sum();
    let next = AtomicUsize::new(0);
    let start = Instant::now();
    let failed: usize = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..connections)
            .map(|_| scope.spawn(|| send_requests(endpoint, &requests, &next)))
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a sender panicked")))
            })
            .sum::<Result<usize>>()
    })?;
    let seconds = start.elapsed().as_secs_f64();
    ensure!(
        failed == 0,
        "{failed} records failed (the emulator refused them)"
    );
    Ok(
        json!({"records": records, "seconds": seconds, "calls": requests.len(),
              "connections": connections})
        .to_string(),
    )
}

/// Every PutRecords request, built before the clock starts: (records, HTTP bytes).
fn put_requests(endpoint: &Endpoint, stream: &str, file: &Path) -> Result<Vec<(usize, Vec<u8>)>> {
    let text = std::fs::read_to_string(file).with_context(|| format!("{}", file.display()))?;
    let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    let mut requests = Vec::with_capacity(lines.len() / BATCH + 1);
    for (batch_no, batch) in lines.chunks(BATCH).enumerate() {
        let entries = batch
            .iter()
            .enumerate()
            .map(|(i, line)| {
                let key = partition_key(line).unwrap_or_else(|| format!("k{batch_no}-{i}"));
                json!({"Data": base64::engine::general_purpose::STANDARD.encode(line),
                       "PartitionKey": key})
            })
            .collect::<Vec<_>>();
        let body = json!({"StreamName": stream, "Records": entries}).to_string();
        requests.push((
            batch.len(),
            request(endpoint, "PutRecords", body.as_bytes()),
        ));
    }
    Ok(requests)
}

/// The line's `tno`, kds-put's default partition key field.
fn partition_key(line: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    value.get("tno")?.as_str().map(str::to_string)
}

/// One connection's share of the requests; the number of records the emulator refused.
fn send_requests(
    endpoint: &Endpoint,
    requests: &[(usize, Vec<u8>)],
    next: &AtomicUsize,
) -> Result<usize> {
    #[derive(Deserialize)]
    struct PutRecordsOutput {
        #[serde(rename = "FailedRecordCount", default)]
        failed: usize,
    }
    let mut conn = Connection::open(endpoint)?;
    let mut failed = 0;
    while let Some((_, bytes)) = requests.get(next.fetch_add(1, Ordering::Relaxed)) {
        let body = conn.call(bytes).context("PutRecords")?;
        let out: PutRecordsOutput = serde_json::from_slice(&body).context("PutRecords response")?;
        failed += out.failed;
    }
    Ok(failed)
}

/// Reads every shard from TRIM_HORIZON until `expected` records were read; the JSON result line.
pub fn get(endpoint: &Endpoint, stream: &str, expected: usize) -> Result<String> {
    let shards = list_shards(endpoint, stream)?;
    let read = AtomicUsize::new(0);
    let start = Instant::now();
    let calls: usize = std::thread::scope(|scope| {
        let readers: Vec<_> = shards
            .iter()
            .map(|shard| scope.spawn(|| read_shard(endpoint, stream, shard, expected, &read)))
            .collect();
        readers
            .into_iter()
            .map(|r| {
                r.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a reader panicked")))
            })
            .sum::<Result<usize>>()
    })?;
    let seconds = start.elapsed().as_secs_f64();
    let records = read.load(Ordering::Relaxed);
    ensure!(
        records == expected,
        "read {records} records, expected {expected}"
    );
    Ok(
        json!({"records": records, "seconds": seconds, "calls": calls, "shards": shards.len()})
            .to_string(),
    )
}

fn list_shards(endpoint: &Endpoint, stream: &str) -> Result<Vec<String>> {
    #[derive(Deserialize)]
    struct Shard {
        #[serde(rename = "ShardId")]
        id: String,
    }
    #[derive(Deserialize)]
    struct ListShardsOutput {
        #[serde(rename = "Shards")]
        shards: Vec<Shard>,
        #[serde(rename = "NextToken")]
        next: Option<String>,
    }
    let body = json!({"StreamName": stream, "MaxResults": 1000}).to_string();
    let reply = Connection::open(endpoint)?
        .call(&request(endpoint, "ListShards", body.as_bytes()))
        .context("ListShards")?;
    let out: ListShardsOutput = serde_json::from_slice(&reply).context("ListShards response")?;
    if out.next.is_some() {
        bail!("more than 1000 shards: not supported here");
    }
    Ok(out.shards.into_iter().map(|s| s.id).collect())
}

/// Pages through one shard until it is caught up (an empty page at the tip) or every stream
/// record was read; the number of GetRecords calls.
fn read_shard(
    endpoint: &Endpoint,
    stream: &str,
    shard: &str,
    expected: usize,
    read: &AtomicUsize,
) -> Result<usize> {
    #[derive(Deserialize)]
    struct Iterator {
        #[serde(rename = "ShardIterator")]
        iterator: String,
    }
    #[derive(Deserialize)]
    struct GetRecordsOutput {
        #[serde(rename = "Records")]
        records: Vec<serde::de::IgnoredAny>,
        #[serde(rename = "NextShardIterator")]
        next: Option<String>,
        #[serde(rename = "MillisBehindLatest", default)]
        behind: u64,
    }
    let mut conn = Connection::open(endpoint)?;
    let body = json!({"StreamName": stream, "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON"});
    let reply = conn
        .call(&request(
            endpoint,
            "GetShardIterator",
            body.to_string().as_bytes(),
        ))
        .context("GetShardIterator")?;
    let mut iterator = Some(serde_json::from_slice::<Iterator>(&reply)?.iterator);
    let mut calls = 0;
    while let Some(it) = iterator.take() {
        let body = json!({"ShardIterator": it, "Limit": PAGE}).to_string();
        let reply = conn
            .call(&request(endpoint, "GetRecords", body.as_bytes()))
            .context("GetRecords")?;
        calls += 1;
        let out: GetRecordsOutput =
            serde_json::from_slice(&reply).context("GetRecords response")?;
        let total = read.fetch_add(out.records.len(), Ordering::Relaxed) + out.records.len();
        let caught_up = out.records.is_empty() && out.behind == 0;
        if total < expected && !caught_up {
            iterator = out.next;
        }
    }
    Ok(calls)
}
