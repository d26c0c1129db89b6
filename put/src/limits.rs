//! Kinesis Data Streams service limits that kds-put enforces client-side.
//!
//! Values from the PutRecords API reference and the Kinesis quotas page.

/// Records per PutRecords call.
pub const MAX_BATCH_RECORDS: usize = 500;
/// Bytes per PutRecords call: data plus partition keys of every entry.
pub const MAX_BATCH_BYTES: usize = 5 * 1024 * 1024;
/// Bytes per record: its data plus its partition key, unless the stream allows more.
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;
/// The most any stream allows per record (AWS page "UpdateMaxRecordSize": 10240 KiB).
pub const LARGEST_MAX_RECORD_BYTES: usize = 10 * 1024 * 1024;
/// Partition keys are Unicode strings of 1 to 256 characters.
pub const MIN_PARTITION_KEY_CHARS: usize = 1;
pub const MAX_PARTITION_KEY_CHARS: usize = 256;
/// Writes per shard per second.
pub const SHARD_RECORDS_PER_SEC: u64 = 1000;
/// Bytes written per shard per second (data plus partition key).
pub const SHARD_BYTES_PER_SEC: u64 = 1024 * 1024;
/// Target size of one KPL-aggregated Kinesis record (50 KB: large enough to cut per-record overhead, well under the 1 MiB record limit).
pub const AGGREGATE_TARGET_BYTES: usize = 50 * 1024;

/// The record limit of a stream whose DescribeStreamSummary said `stream_says` bytes (1 MiB when
/// it said nothing or could not be asked), kept within the range AWS allows.
pub fn max_record_bytes(stream_says: Option<usize>) -> usize {
    stream_says
        .unwrap_or(MAX_RECORD_BYTES)
        .clamp(MAX_RECORD_BYTES, LARGEST_MAX_RECORD_BYTES)
}

/// Bytes per PutRecords call for records of up to `max_record` bytes: 5 MiB, or the record
/// limit when larger (AWS API Reference "PutRecords": with large records a request may be as
/// large as the stream's maximum record size, up to 10 MiB).
pub fn max_batch_bytes(max_record: usize) -> usize {
    MAX_BATCH_BYTES.max(max_record)
}

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
    fn stream_limit_sets_record_and_call_sizes() {
        assert_eq!(max_record_bytes(None), MAX_RECORD_BYTES);
        assert_eq!(max_record_bytes(Some(2048 * 1024)), 2 * 1024 * 1024);
        assert_eq!(max_record_bytes(Some(20 << 20)), LARGEST_MAX_RECORD_BYTES);
        assert_eq!(max_batch_bytes(MAX_RECORD_BYTES), MAX_BATCH_BYTES);
        assert_eq!(max_batch_bytes(8 << 20), 8 << 20);
    }

    #[test]
    fn record_size_counts_the_key() {
        assert_eq!(record_size(10, "abc"), 13);
    }
}
