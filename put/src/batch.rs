//! Records and PutRecords batches: at most [`MAX_BATCH_RECORDS`] entries and
//! [`MAX_BATCH_BYTES`] per call, and a partial batch waits at most `--linger`.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::limits::{record_size, MAX_BATCH_BYTES, MAX_BATCH_RECORDS};

/// One input line on its way to Kinesis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub line: u64,
    pub data: Vec<u8>,
    pub partition_key: String,
    pub explicit_hash_key: Option<String>,
}

/// Which input lines a Kinesis record carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Line(u64),
    /// A KPL aggregate: the user records packed into it, in order.
    Aggregate(Vec<UserRecord>),
}

/// One PutRecords entry (a Kinesis record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub data: Vec<u8>,
    pub partition_key: String,
    pub explicit_hash_key: Option<String>,
    pub origin: Origin,
    /// PutRecords attempts made so far.
    pub attempts: u32,
}

impl Entry {
    pub fn plain(rec: UserRecord) -> Entry {
        Entry {
            data: rec.data,
            partition_key: rec.partition_key,
            explicit_hash_key: rec.explicit_hash_key,
            origin: Origin::Line(rec.line),
            attempts: 0,
        }
    }

    /// Bytes counted against the per-record, per-call and per-shard limits.
    pub fn size(&self) -> usize {
        record_size(self.data.len(), &self.partition_key)
    }

    /// The partition keys of the input lines carried (several for an aggregate).
    pub fn keys(&self) -> Vec<&str> {
        match &self.origin {
            Origin::Line(_) => vec![self.partition_key.as_str()],
            Origin::Aggregate(r) => r.iter().map(|u| u.partition_key.as_str()).collect(),
        }
    }

    /// Input lines carried.
    pub fn records(&self) -> usize {
        match &self.origin {
            Origin::Line(_) => 1,
            Origin::Aggregate(r) => r.len(),
        }
    }
}

/// Entries for one shard, sent in one PutRecords call.
#[derive(Debug)]
pub struct Batch {
    pub shard: Arc<str>,
    pub entries: Vec<Entry>,
    pub bytes: usize,
}

impl Batch {
    pub fn records(&self) -> usize {
        self.entries.iter().map(Entry::records).sum()
    }
}

/// Collects entries for one shard into batches within the PutRecords limits.
#[derive(Debug)]
pub struct Batcher {
    shard: Arc<str>,
    max_records: usize,
    /// `--ordered`: no partition key twice in a batch (see [`Batcher::ordered`]).
    distinct_keys: Option<HashSet<String>>,
    entries: Vec<Entry>,
    bytes: usize,
    oldest: Option<Instant>,
}

impl Batcher {
    pub fn new(shard: Arc<str>) -> Batcher {
        Batcher::with_max_records(shard, MAX_BATCH_RECORDS)
    }

    /// A batcher that cuts at `max_records` (at most [`MAX_BATCH_RECORDS`]).
    pub fn with_max_records(shard: Arc<str>, max_records: usize) -> Batcher {
        Batcher {
            shard,
            max_records: max_records.clamp(1, MAX_BATCH_RECORDS),
            distinct_keys: None,
            entries: Vec::new(),
            bytes: 0,
            oldest: None,
        }
    }

    /// Cuts a batch before a partition key would appear in it twice. PutRecords may accept
    /// some entries of a call and reject others; with at most one record per key in a call,
    /// a rejected record is resent before its key's next record is sent, so per-key order
    /// holds even under partial failures (`--ordered`, one batch in flight per shard).
    pub fn ordered(mut self) -> Batcher {
        self.distinct_keys = Some(HashSet::new());
        self
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds an entry (at most one record's size: the caller refuses bigger ones). Returns a
    /// batch that is ready: the current one when the entry does not fit in it, or the current
    /// one including the entry when that fills it.
    pub fn push(&mut self, entry: Entry, now: Instant) -> Option<Batch> {
        let size = entry.size();
        let mut ready = None;
        let repeats_a_key = self
            .distinct_keys
            .as_ref()
            .is_some_and(|seen| entry.keys().iter().any(|k| seen.contains(*k)));
        if !self.entries.is_empty() && (self.bytes + size > MAX_BATCH_BYTES || repeats_a_key) {
            ready = self.take();
        }
        if let Some(seen) = &mut self.distinct_keys {
            seen.extend(entry.keys().into_iter().map(str::to_string));
        }
        self.oldest.get_or_insert(now);
        self.bytes += size;
        self.entries.push(entry);
        if self.entries.len() >= self.max_records || self.bytes >= MAX_BATCH_BYTES {
            debug_assert!(ready.is_none(), "a fresh batch cannot be full");
            ready = self.take();
        }
        ready
    }

    /// When the oldest pending entry has waited `linger`.
    pub fn deadline(&self, linger: Duration) -> Option<Instant> {
        self.oldest.map(|t| t + linger)
    }

    /// The pending entries as a batch.
    pub fn take(&mut self) -> Option<Batch> {
        if self.entries.is_empty() {
            return None;
        }
        self.oldest = None;
        if let Some(seen) = &mut self.distinct_keys {
            seen.clear();
        }
        let bytes = std::mem::take(&mut self.bytes);
        Some(Batch {
            shard: Arc::clone(&self.shard),
            entries: std::mem::take(&mut self.entries),
            bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::MAX_RECORD_BYTES;

    fn entry(line: u64, len: usize) -> Entry {
        Entry::plain(UserRecord {
            line,
            data: vec![b'x'; len],
            partition_key: "k".into(),
            explicit_hash_key: None,
        })
    }

    #[test]
    fn cuts_at_500_records() {
        let mut b = Batcher::new("s".into());
        let now = Instant::now();
        let mut batches = Vec::new();
        for i in 0..1234 {
            batches.extend(b.push(entry(i, 10), now));
        }
        batches.extend(b.take());
        let sizes: Vec<usize> = batches.iter().map(|b| b.entries.len()).collect();
        assert_eq!(sizes, vec![500, 500, 234]);
        let lines: Vec<u64> = batches
            .iter()
            .flat_map(|b| b.entries.iter())
            .map(|e| match e.origin {
                Origin::Line(n) => n,
                Origin::Aggregate(_) => unreachable!(),
            })
            .collect();
        assert_eq!(lines, (0..1234).collect::<Vec<_>>());
    }

    #[test]
    fn smaller_batches_on_request() {
        let mut b = Batcher::with_max_records("s".into(), 20);
        let now = Instant::now();
        let n = (0..45).filter_map(|i| b.push(entry(i, 10), now)).count();
        assert_eq!(n, 2);
        assert_eq!(b.take().unwrap().entries.len(), 5);
    }

    #[test]
    fn ordered_batches_hold_each_key_once() {
        let mut b = Batcher::new("s".into()).ordered();
        let now = Instant::now();
        let keys = ["a", "b", "c", "a", "d", "b", "b"];
        let mut batches = Vec::new();
        for (i, k) in keys.iter().enumerate() {
            let mut e = entry(i as u64, 1);
            e.partition_key = (*k).into();
            batches.extend(b.push(e, now));
        }
        batches.extend(b.take());
        let got: Vec<Vec<&str>> = batches
            .iter()
            .map(|b| b.entries.iter().map(|e| e.partition_key.as_str()).collect())
            .collect();
        assert_eq!(
            got,
            vec![vec!["a", "b", "c"], vec!["a", "d", "b"], vec!["b"]]
        );
    }

    #[test]
    fn cuts_at_5_mib() {
        let mut b = Batcher::new("s".into());
        let now = Instant::now();
        let mut batches = Vec::new();
        // Maximal records: data + key = 1 MiB each; five fill a call exactly.
        for i in 0..12 {
            batches.extend(b.push(entry(i, MAX_RECORD_BYTES - 1), now));
        }
        batches.extend(b.take());
        let sizes: Vec<usize> = batches.iter().map(|b| b.entries.len()).collect();
        assert_eq!(sizes, vec![5, 5, 2]);
        assert!(batches.iter().all(|b| b.bytes <= MAX_BATCH_BYTES));
        // One byte more each: only four fit.
        let mut b = Batcher::new("s".into());
        let mut batches = Vec::new();
        for i in 0..8 {
            batches.extend(b.push(entry(i, MAX_RECORD_BYTES), now));
        }
        batches.extend(b.take());
        let sizes: Vec<usize> = batches.iter().map(|b| b.entries.len()).collect();
        assert_eq!(sizes, vec![4, 4]);
    }

    #[test]
    fn linger_deadline_from_the_oldest_entry() {
        let mut b = Batcher::new("s".into());
        let t0 = Instant::now();
        let linger = Duration::from_millis(100);
        assert_eq!(b.deadline(linger), None);
        assert!(b.push(entry(1, 1), t0).is_none());
        assert!(b
            .push(entry(2, 1), t0 + Duration::from_millis(50))
            .is_none());
        assert_eq!(b.deadline(linger), Some(t0 + linger));
        assert_eq!(b.take().unwrap().entries.len(), 2);
        assert_eq!(b.deadline(linger), None);
    }
}
