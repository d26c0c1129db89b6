//! Kinesis Data Streams service limits that kds-put enforces client-side.
//!
//! Values from the PutRecords API reference and the Kinesis quotas page.

/// Records per PutRecords call.
pub const MAX_BATCH_RECORDS: usize = 500;
/// Bytes per PutRecords call: data plus partition keys of every entry.
pub const MAX_BATCH_BYTES: usize = 5 * 1024 * 1024;
/// Bytes per record: its data plus its partition key.
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;
/// Partition keys are Unicode strings of 1 to 256 characters.
pub const MIN_PARTITION_KEY_CHARS: usize = 1;
pub const MAX_PARTITION_KEY_CHARS: usize = 256;
/// Writes per shard per second.
pub const SHARD_RECORDS_PER_SEC: u64 = 1000;
/// Bytes written per shard per second (data plus partition key).
pub const SHARD_BYTES_PER_SEC: u64 = 1024 * 1024;
/// Target size of one KPL-aggregated Kinesis record (50 KB: large enough to cut per-record overhead, well under the 1 MiB record limit).
pub const AGGREGATE_TARGET_BYTES: usize = 50 * 1024;

/// Size a record counts for against the per-record, per-call and per-shard limits.
#[inline]
pub fn record_size(data_len: usize, partition_key: &str) -> usize {
    data_len + partition_key.len()
}

// Five maximal records fill a call exactly; a sixth never fits, so the batcher must cut on
// bytes as well as on count.
const _: () = assert!(5 * MAX_RECORD_BYTES <= MAX_BATCH_BYTES);
const _: () = assert!(6 * MAX_RECORD_BYTES > MAX_BATCH_BYTES);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_size_counts_the_key() {
        assert_eq!(record_size(10, "abc"), 13);
    }
}
