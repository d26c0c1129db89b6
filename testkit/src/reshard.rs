//! Resharding a test stream: every shard with its hash-key range (ListShards through the tools'
//! own pager), and SplitShard / MergeShards calls that wait until the stream is ACTIVE again
//! (Kinesis Data Streams developer guide, "Resharding a Stream").

use anyhow::{Context, Result};
use aws_sdk_kinesis::types::Shard;
use aws_sdk_kinesis::Client;

use crate::stream::wait_active;

/// A shard's id, its hash-key range (first and last key, inclusive) and whether it is open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardRange {
    pub id: String,
    pub first: u128,
    pub last: u128,
    pub open: bool,
}

impl ShardRange {
    /// True when `hash` (a 128-bit hash key) falls in this shard's range.
    pub fn owns(&self, hash: u128) -> bool {
        self.first <= hash && hash <= self.last
    }
}

/// Every shard of `stream` (ListShards, all pages, open and closed), in the service's order:
/// the tools' own pager (the test client retries each page itself).
pub async fn all_shards(client: &Client, stream: &str) -> Result<Vec<Shard>> {
    kds_aws::kinesis::list_shards(client, stream, kds_aws::retry::Policy::attempts(1))
        .await
        .with_context(|| format!("ListShards {stream}"))
}

/// Every shard of `stream` with its range, in hash-key order (a parent before its children).
pub async fn shard_ranges(client: &Client, stream: &str) -> Result<Vec<ShardRange>> {
    let mut out = Vec::new();
    for s in all_shards(client, stream).await? {
        let r = s
            .hash_key_range()
            .with_context(|| format!("hash key range of {}", s.shard_id()))?;
        out.push(ShardRange {
            id: s.shard_id().to_string(),
            first: r.starting_hash_key().parse()?,
            last: r.ending_hash_key().parse()?,
            open: kds_aws::kinesis::is_open(&s),
        });
    }
    out.sort_by_key(|s| s.first);
    Ok(out)
}

/// The open shards of `stream`, in hash-key order.
pub async fn open_shards(client: &Client, stream: &str) -> Result<Vec<ShardRange>> {
    let mut shards = shard_ranges(client, stream).await?;
    shards.retain(|s| s.open);
    Ok(shards)
}

/// Splits open shard `id` in the middle of its hash-key range, then waits for ACTIVE.
pub async fn split_in_half(client: &Client, stream: &str, id: &str) -> Result<()> {
    let shards = open_shards(client, stream).await?;
    let s = shards
        .iter()
        .find(|s| s.id == id)
        .with_context(|| format!("no open shard {id} in {stream}"))?;
    client
        .split_shard()
        .stream_name(stream)
        .shard_to_split(id)
        .new_starting_hash_key((s.first + (s.last - s.first) / 2).to_string())
        .send()
        .await
        .with_context(|| format!("SplitShard {id}"))?;
    wait_active(client, stream).await?;
    Ok(())
}

/// Merges adjacent open shards `a` and `b`, then waits for ACTIVE.
pub async fn merge(client: &Client, stream: &str, a: &str, b: &str) -> Result<()> {
    client
        .merge_shards()
        .stream_name(stream)
        .shard_to_merge(a)
        .adjacent_shard_to_merge(b)
        .send()
        .await
        .with_context(|| format!("MergeShards {a} {b}"))?;
    wait_active(client, stream).await?;
    Ok(())
}
