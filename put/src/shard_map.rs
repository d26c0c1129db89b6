//! Which shard a record lands on: the MD5 of its partition key read as a 128-bit big-endian
//! integer (or its explicit hash key) falls in exactly one open shard's hash-key range.
//!
//! The map comes from ListShards and is refreshed when a PutRecords result names a shard the
//! map does not know (the stream was resharded): the pending records are then re-routed to
//! the new shards (`collect.rs`). A stale map costs only accuracy of the per-shard rate
//! limit and `--ordered` grouping: Kinesis itself routes every record.

use std::sync::Arc;

use anyhow::Context;
use aws_sdk_kinesis::error::ProvideErrorMetadata;
use kds_aws::kinesis::{self, KinesisApi};
use kds_aws::retry::Policy;

/// One open shard and its inclusive hash-key range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardRange {
    pub shard_id: Arc<str>,
    pub start: u128,
    pub end: u128,
}

/// The open shards of a stream, sorted by starting hash key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardMap {
    shards: Vec<ShardRange>,
}

/// The hash key Kinesis derives from a partition key.
pub fn hash_key(partition_key: &str) -> u128 {
    kds_common::kpl::partition_key_hash(partition_key)
}

/// Parses an explicit hash key: a decimal integer in `0..=2^128-1` written as AWS's pattern
/// `0|([1-9]\d{0,38})` requires (Kinesis API Reference, "PutRecordsRequestEntry":
/// ExplicitHashKey), so no sign and no leading zero.
pub fn parse_hash_key(text: &str) -> Result<u128, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "invalid hash key '{text}': expected a decimal integer 0..2^128-1"
        ));
    }
    if text.len() > 1 && text.starts_with('0') {
        return Err(format!(
            "invalid hash key '{text}': no leading zeros (AWS pattern 0|([1-9]\\d{{0,38}}))"
        ));
    }
    text.parse::<u128>()
        .map_err(|_| format!("invalid hash key '{text}': larger than 2^128-1"))
}

impl ShardMap {
    pub fn new(mut shards: Vec<ShardRange>) -> anyhow::Result<ShardMap> {
        anyhow::ensure!(!shards.is_empty(), "the stream has no open shards");
        shards.sort_by_key(|s| s.start);
        Ok(ShardMap { shards })
    }

    pub fn len(&self) -> usize {
        self.shards.len()
    }

    pub fn is_empty(&self) -> bool {
        self.shards.is_empty()
    }

    pub fn shards(&self) -> &[ShardRange] {
        &self.shards
    }

    /// The shard owning `hash`. Ranges of open shards cover the whole key space; should a gap
    /// appear (a map caught mid-reshard), the nearest shard below is used.
    pub fn shard_for_hash(&self, hash: u128) -> &Arc<str> {
        &self.shards[self.index_for_hash(hash)].shard_id
    }

    /// Position in [`ShardMap::shards`] of the shard owning `hash`.
    pub fn index_for_hash(&self, hash: u128) -> usize {
        self.shards
            .partition_point(|s| s.start <= hash)
            .saturating_sub(1)
    }

    pub fn shard_for_key(&self, partition_key: &str, explicit_hash_key: Option<u128>) -> &Arc<str> {
        self.shard_for_hash(explicit_hash_key.unwrap_or_else(|| hash_key(partition_key)))
    }

    pub fn contains(&self, shard_id: &str) -> bool {
        self.shards.iter().any(|s| &*s.shard_id == shard_id)
    }
}

/// Why the shard list could not be read.
#[derive(Debug)]
pub enum ListShardsFailure {
    /// The stream does not exist: a usage error (exit 2).
    StreamNotFound(String),
    Other(anyhow::Error),
}

/// Reads the open shards of `stream` with ListShards (all pages, the shared pager; the
/// control-plane client retries each page itself).
pub async fn list_open_shards(
    client: &dyn KinesisApi,
    stream: &str,
) -> Result<ShardMap, ListShardsFailure> {
    let listed = kinesis::list_shards(client, stream, Policy::attempts(1))
        .await
        .map_err(|err| {
            if kinesis::is_stream_not_found(&err) {
                let message = err.last.message().unwrap_or("not found").to_string();
                return ListShardsFailure::StreamNotFound(message);
            }
            ListShardsFailure::Other(anyhow::anyhow!(
                "ListShards on stream '{stream}' failed: {}",
                kds_aws::describe_sdk_error(&err.last)
            ))
        })?;
    let mut shards = Vec::new();
    for shard in listed.iter().filter(|s| kinesis::is_open(s)) {
        let range = shard.hash_key_range();
        let parse = |s: Option<&str>| -> anyhow::Result<u128> {
            parse_hash_key(s.unwrap_or_default()).map_err(anyhow::Error::msg)
        };
        let start = parse(range.map(|r| r.starting_hash_key()))
            .with_context(|| format!("shard {}", shard.shard_id()))
            .map_err(ListShardsFailure::Other)?;
        let end = parse(range.map(|r| r.ending_hash_key()))
            .with_context(|| format!("shard {}", shard.shard_id()))
            .map_err(ListShardsFailure::Other)?;
        shards.push(ShardRange {
            shard_id: Arc::from(shard.shard_id()),
            start,
            end,
        });
    }
    ShardMap::new(shards).map_err(ListShardsFailure::Other)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn even_map(n: u128) -> ShardMap {
        let step = u128::MAX / n;
        let shards = (0..n)
            .map(|i| ShardRange {
                shard_id: Arc::from(format!("shardId-{i:012}")),
                start: i * step + i.min(1) * i, // slightly uneven starts are fine
                end: if i == n - 1 {
                    u128::MAX
                } else {
                    (i + 1) * step + i
                },
            })
            .collect();
        ShardMap::new(shards).unwrap()
    }

    #[test]
    fn md5_big_endian() {
        // md5("a") = 0cc175b9c0f1b6a831c399e269772661
        assert_eq!(hash_key("a"), 0x0cc175b9c0f1b6a831c399e269772661);
        // md5("") = d41d8cd98f00b204e9800998ecf8427e
        assert_eq!(hash_key(""), 0xd41d8cd98f00b204e9800998ecf8427e);
    }

    #[test]
    fn lookup_by_range() {
        let map = ShardMap::new(vec![
            ShardRange {
                shard_id: "s2".into(),
                start: 1 << 127,
                end: u128::MAX,
            },
            ShardRange {
                shard_id: "s1".into(),
                start: 0,
                end: (1 << 127) - 1,
            },
        ])
        .unwrap();
        assert_eq!(&**map.shard_for_hash(0), "s1");
        assert_eq!(&**map.shard_for_hash((1 << 127) - 1), "s1");
        assert_eq!(&**map.shard_for_hash(1 << 127), "s2");
        assert_eq!(&**map.shard_for_hash(u128::MAX), "s2");
        // md5("a") starts with 0x0c: lower half; md5("") starts with 0xd4: upper half.
        assert_eq!(&**map.shard_for_key("a", None), "s1");
        assert_eq!(&**map.shard_for_key("", None), "s2");
        assert_eq!(&**map.shard_for_key("a", Some(u128::MAX)), "s2");
        assert!(map.contains("s2") && !map.contains("s3"));
    }

    #[test]
    fn keys_spread_over_shards() {
        let map = even_map(4);
        let mut counts = std::collections::HashMap::new();
        for i in 0..4000 {
            *counts
                .entry(map.shard_for_key(&format!("key{i}"), None).clone())
                .or_insert(0) += 1;
        }
        assert_eq!(counts.len(), 4);
        assert!(counts.values().all(|&c| c > 800), "{counts:?}");
    }

    #[test]
    fn hash_key_parsing() {
        assert_eq!(parse_hash_key("0"), Ok(0));
        assert_eq!(
            parse_hash_key("340282366920938463463374607431768211455"),
            Ok(u128::MAX)
        );
        assert!(parse_hash_key("340282366920938463463374607431768211456").is_err());
        assert!(parse_hash_key("-1").is_err());
        assert!(parse_hash_key("").is_err());
        assert!(parse_hash_key("0x10").is_err());
        assert!(parse_hash_key("007").is_err());
        assert!(parse_hash_key("00").is_err());
        assert!(parse_hash_key("+7").is_err());
        assert_eq!(parse_hash_key("7"), Ok(7));
    }
}
