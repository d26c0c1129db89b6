//! Per-test Kinesis streams and reading a whole stream back.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use aws_sdk_kinesis::types::{ShardIteratorType, StreamStatus};
use aws_sdk_kinesis::Client;

use crate::names::unique_name;
use crate::stack::Stack;

/// How long [`TestStream::create`] waits for ACTIVE, and [`read_stream_all`] waits without progress.
const WAIT: Duration = Duration::from_secs(120);

/// A uniquely named stream on the local stack, deleted when dropped (best effort) or by
/// [`TestStream::delete`].
///
/// ```no_run
/// # async fn t() -> anyhow::Result<()> {
/// let stack = testkit::Stack::get();
/// let stream = testkit::TestStream::create(&stack, 2).await?;
/// let client = stack.kinesis_client().await;
/// // ... run the tool with stack.command(...) and `--stream stream.name` ...
/// let records = testkit::read_stream_all(&client, &stream.name).await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct TestStream {
    /// The stream name (`kds-test-<pid>-<n>-<random>`).
    pub name: String,
    /// Number of shards it was created with.
    pub shards: i32,
    /// Its ARN, as DescribeStreamSummary reports it.
    pub arn: String,
    stack: Stack,
    deleted: bool,
}

impl TestStream {
    /// Creates a stream named `kds-test-...` with `shards` shards and waits until it is ACTIVE.
    pub async fn create(stack: &Stack, shards: i32) -> Result<TestStream> {
        TestStream::create_named(stack, "kds-test", shards).await
    }

    /// Like [`TestStream::create`] with a name made by [`unique_name`]`(prefix)`.
    pub async fn create_named(stack: &Stack, prefix: &str, shards: i32) -> Result<TestStream> {
        let name = unique_name(prefix);
        let client = stack.kinesis_client().await;
        client
            .create_stream()
            .stream_name(&name)
            .shard_count(shards)
            .send()
            .await
            .with_context(|| format!("CreateStream {name}"))?;
        // From here on, Drop deletes it even if waiting fails.
        let mut stream = TestStream {
            name,
            shards,
            arn: String::new(),
            stack: stack.clone(),
            deleted: false,
        };
        stream.arn = wait_active(&client, &stream.name).await?;
        Ok(stream)
    }

    /// Deletes the stream now (and does not wait for it to disappear).
    pub async fn delete(mut self) -> Result<()> {
        self.deleted = true;
        let client = self.stack.kinesis_client().await;
        delete_stream(&client, &self.name).await
    }
}

impl Drop for TestStream {
    fn drop(&mut self) {
        if self.deleted {
            return;
        }
        let (stack, name) = (self.stack.clone(), self.name.clone());
        // Drop cannot be async, and may run inside a runtime: delete from a fresh thread with
        // its own small runtime, and wait for it a bounded time.
        crate::run_detached(Duration::from_secs(15), async move {
            let client = stack.kinesis_client().await;
            if let Err(e) = delete_stream(&client, &name).await {
                eprintln!("testkit: could not delete stream {name}: {e:#}");
            }
        });
    }
}

async fn delete_stream(client: &Client, name: &str) -> Result<()> {
    match client
        .delete_stream()
        .stream_name(name)
        .enforce_consumer_deletion(true)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            Ok(())
        }
        Err(e) => Err(e).with_context(|| format!("DeleteStream {name}")),
    }
}

/// Polls DescribeStreamSummary every 100 ms until the stream is ACTIVE; returns its ARN.
pub async fn wait_active(client: &Client, stream: &str) -> Result<String> {
    let start = Instant::now();
    loop {
        let out = client
            .describe_stream_summary()
            .stream_name(stream)
            .send()
            .await
            .with_context(|| format!("DescribeStreamSummary {stream}"))?;
        if let Some(s) = out.stream_description_summary() {
            if s.stream_status() == &StreamStatus::Active {
                return Ok(s.stream_arn().to_string());
            }
        }
        if start.elapsed() > WAIT {
            bail!("stream {stream} not ACTIVE after {WAIT:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One record as read back from a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordOut {
    pub shard_id: String,
    pub sequence_number: String,
    pub partition_key: String,
    pub data: Vec<u8>,
    /// ApproximateArrivalTimestamp in epoch milliseconds (0 if the service sent none).
    pub arrival: i64,
}

impl RecordOut {
    /// The data as UTF-8 (lossy), for assertions on NDJSON payloads.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }
}

/// Every shard id of `stream` (open and closed), in the service's order.
pub async fn list_shard_ids(client: &Client, stream: &str) -> Result<Vec<String>> {
    let shards = crate::reshard::all_shards(client, stream).await?;
    Ok(shards.iter().map(|s| s.shard_id().to_string()).collect())
}

/// Reads every record of `stream`: all shards (including closed ones) from TRIM_HORIZON to the
/// end. A closed shard is read until `NextShardIterator` is null; an open shard until a page is
/// empty and `MillisBehindLatest` is 0. Records are grouped by shard, each shard in sequence
/// order. Gives up when a shard makes no progress (no records, not at its end) for 120 s.
pub async fn read_stream_all(client: &Client, stream: &str) -> Result<Vec<RecordOut>> {
    let mut out = Vec::new();
    for shard_id in list_shard_ids(client, stream).await? {
        read_shard(client, stream, &shard_id, &mut out).await?;
    }
    Ok(out)
}

async fn read_shard(
    client: &Client,
    stream: &str,
    shard_id: &str,
    out: &mut Vec<RecordOut>,
) -> Result<()> {
    let it = client
        .get_shard_iterator()
        .stream_name(stream)
        .shard_id(shard_id)
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .with_context(|| format!("GetShardIterator {stream}/{shard_id}"))?;
    let mut iterator = it.shard_iterator().map(str::to_string);
    let mut last_progress = Instant::now();
    while let Some(current) = iterator.take() {
        if last_progress.elapsed() > WAIT {
            bail!("reading {stream}/{shard_id}: no progress for {WAIT:?}");
        }
        let page = match client
            .get_records()
            .shard_iterator(&current)
            .limit(10_000)
            .send()
            .await
        {
            Ok(p) => p,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_provisioned_throughput_exceeded_exception()) =>
            {
                tokio::time::sleep(Duration::from_millis(250)).await;
                iterator = Some(current);
                continue;
            }
            Err(e) => return Err(e).with_context(|| format!("GetRecords {stream}/{shard_id}")),
        };
        let empty = page.records().is_empty();
        if !empty {
            last_progress = Instant::now();
        }
        for r in page.records() {
            out.push(RecordOut {
                shard_id: shard_id.to_string(),
                sequence_number: r.sequence_number().to_string(),
                partition_key: r.partition_key().unwrap_or_default().to_string(),
                data: r.data().as_ref().to_vec(),
                arrival: r
                    .approximate_arrival_timestamp()
                    .and_then(|t| t.to_millis().ok())
                    .unwrap_or(0),
            });
        }
        let caught_up = page.millis_behind_latest().unwrap_or(0) == 0;
        if empty && caught_up {
            break; // open shard, at the tip
        }
        iterator = page.next_shard_iterator().map(str::to_string); // None: closed shard done
        if empty {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(())
}
