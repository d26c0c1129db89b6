//! Records, PutRecords entries, and one PutRecords call being packed: at most
//! [`MAX_BATCH_RECORDS`] entries and [`MAX_BATCH_BYTES`](crate::limits::MAX_BATCH_BYTES) per call, entries of any shards.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashSet;
use std::hash::{BuildHasher, BuildHasherDefault};
use std::time::Instant;

use crate::limits::{record_size, MAX_BATCH_RECORDS};

/// One input line on its way to Kinesis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub line: u64,
    pub data: Vec<u8>,
    pub partition_key: String,
    pub explicit_hash_key: Option<String>,
    /// The 128-bit hash key Kinesis routes this record by (explicit, or MD5 of the key).
    pub hash: u128,
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
    /// The 128-bit hash key Kinesis routes this record by (explicit, or MD5 of the key).
    pub hash: u128,
}

impl Entry {
    pub fn plain(rec: UserRecord) -> Entry {
        Entry {
            hash: rec.hash,
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

    /// Calls `f` with each partition key of the input lines carried (several for an aggregate).
    pub fn for_each_key(&self, mut f: impl FnMut(&str)) {
        match &self.origin {
            Origin::Line(_) => f(&self.partition_key),
            Origin::Aggregate(r) => r.iter().for_each(|u| f(&u.partition_key)),
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

type KeyHasher = BuildHasherDefault<DefaultHasher>;

/// A 64-bit digest of a partition key for the `--ordered` "each key once per call" check.
/// A collision only cuts a call early, which is safe.
fn key_digest(key: &str) -> u64 {
    KeyHasher::default().hash_one(key)
}

/// One PutRecords call being packed: entries of any shards, within the call limits.
#[derive(Debug)]
pub struct Call {
    pub entries: Vec<Entry>,
    pub bytes: usize,
    /// When the first entry joined: the call waits at most `--linger` after that.
    pub oldest: Option<Instant>,
    /// Collector slots (shards) with entries in this call, each once.
    pub slots: Vec<usize>,
    max_records: usize,
    /// Bytes per call: [`MAX_BATCH_BYTES`](crate::limits::MAX_BATCH_BYTES), more for a stream with larger records.
    max_bytes: usize,
    /// `--ordered`: the partition keys in the call (see [`Call::admits`]).
    keys: Option<HashSet<u64, KeyHasher>>,
    /// An entry did not fit (bytes): nothing more will, send it.
    pub full: bool,
}

impl Call {
    /// An empty call that takes up to `max_records` entries (at most [`MAX_BATCH_RECORDS`]) and
    /// `max_bytes` bytes; `ordered`: each partition key at most once.
    pub fn new(max_records: usize, max_bytes: usize, ordered: bool) -> Call {
        Call {
            entries: Vec::new(),
            bytes: 0,
            oldest: None,
            slots: Vec::new(),
            max_records: max_records.clamp(1, MAX_BATCH_RECORDS),
            max_bytes,
            keys: ordered.then(HashSet::default),
            full: false,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// No further entry can join (count, or bytes after one did not fit).
    pub fn is_full(&self) -> bool {
        self.full || self.entries.len() >= self.max_records || self.bytes >= self.max_bytes
    }

    /// Why `entry` may not join now.
    pub fn admits(&self, entry: &Entry) -> Admit {
        if self.entries.len() >= self.max_records {
            return Admit::Full;
        }
        if self.bytes + entry.size() > self.max_bytes {
            return Admit::NoRoom;
        }
        // PutRecords may accept some entries of a call and reject others; with at most one
        // record per key in a call, a rejected record is resent before its key's next record
        // is sent, so per-key order holds even under partial failures.
        if let Some(keys) = &self.keys {
            let mut repeats = false;
            entry.for_each_key(|k| repeats |= keys.contains(&key_digest(k)));
            if repeats {
                return Admit::KeyRepeats;
            }
        }
        Admit::Yes
    }

    /// Adds an entry of collector slot `slot` (the caller checked [`Call::admits`]).
    pub fn push(&mut self, entry: Entry, slot: usize, now: Instant) {
        if let Some(keys) = &mut self.keys {
            entry.for_each_key(|k| {
                keys.insert(key_digest(k));
            });
        }
        if !self.slots.contains(&slot) {
            self.slots.push(slot);
        }
        self.oldest.get_or_insert(now);
        self.bytes += entry.size();
        self.entries.push(entry);
    }

    /// The packed entries and their slots; the call is empty again (its buffers are reused
    /// for the key set only: the entries travel with the request).
    pub fn take(&mut self) -> Option<(Vec<Entry>, Vec<usize>)> {
        if self.entries.is_empty() {
            return None;
        }
        self.oldest = None;
        self.bytes = 0;
        self.full = false;
        if let Some(keys) = &mut self.keys {
            keys.clear();
        }
        Some((
            std::mem::replace(&mut self.entries, Vec::with_capacity(self.max_records)),
            std::mem::take(&mut self.slots),
        ))
    }
}

/// Whether an entry may join a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    Yes,
    /// The call has its maximum number of entries.
    Full,
    /// The entry's bytes would pass the call's byte limit.
    NoRoom,
    /// `--ordered`: the call already holds a record of this partition key.
    KeyRepeats,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::{MAX_BATCH_BYTES, MAX_RECORD_BYTES};

    fn entry(line: u64, len: usize, key: &str) -> Entry {
        Entry::plain(UserRecord {
            line,
            data: vec![b'x'; len],
            partition_key: key.into(),
            explicit_hash_key: None,
            hash: 0,
        })
    }

    #[test]
    fn call_takes_500_entries() {
        let mut c = Call::new(MAX_BATCH_RECORDS, MAX_BATCH_BYTES, false);
        let now = Instant::now();
        for i in 0..500 {
            assert_eq!(c.admits(&entry(i, 10, "k")), Admit::Yes);
            c.push(entry(i, 10, "k"), (i % 3) as usize, now);
        }
        assert!(c.is_full());
        assert_eq!(c.admits(&entry(500, 10, "k")), Admit::Full);
        let (entries, mut slots) = c.take().unwrap();
        assert_eq!(entries.len(), 500);
        slots.sort_unstable();
        assert_eq!(slots, vec![0, 1, 2]);
        assert!(c.is_empty() && !c.is_full() && c.oldest.is_none());
    }

    #[test]
    fn smaller_calls_on_request() {
        let mut c = Call::new(20, MAX_BATCH_BYTES, false);
        let now = Instant::now();
        for i in 0..20 {
            c.push(entry(i, 10, "k"), 0, now);
        }
        assert_eq!(c.admits(&entry(20, 10, "k")), Admit::Full);
    }

    #[test]
    fn call_bytes_stop_at_5_mib() {
        let mut c = Call::new(MAX_BATCH_RECORDS, MAX_BATCH_BYTES, false);
        let now = Instant::now();
        // Maximal records: data + key = 1 MiB each; five fill a call exactly.
        for i in 0..5 {
            let e = entry(i, MAX_RECORD_BYTES - 1, "k");
            assert_eq!(c.admits(&e), Admit::Yes);
            c.push(e, 0, now);
        }
        assert_eq!(c.bytes, MAX_BATCH_BYTES);
        assert!(c.is_full());
        assert_eq!(c.admits(&entry(6, 1, "k")), Admit::NoRoom);
        // One byte more each: the fifth does not fit.
        let mut c = Call::new(MAX_BATCH_RECORDS, MAX_BATCH_BYTES, false);
        for i in 0..4 {
            c.push(entry(i, MAX_RECORD_BYTES, "k"), 0, now);
        }
        assert_eq!(c.admits(&entry(5, MAX_RECORD_BYTES, "k")), Admit::NoRoom);
    }

    #[test]
    fn ordered_calls_hold_each_key_once() {
        let mut c = Call::new(MAX_BATCH_RECORDS, MAX_BATCH_BYTES, true);
        let now = Instant::now();
        for (i, k) in ["a", "b", "c"].iter().enumerate() {
            c.push(entry(i as u64, 1, k), 0, now);
        }
        assert_eq!(c.admits(&entry(3, 1, "a")), Admit::KeyRepeats);
        assert_eq!(c.admits(&entry(3, 1, "d")), Admit::Yes);
        c.take().unwrap();
        assert_eq!(c.admits(&entry(3, 1, "a")), Admit::Yes);
        // Unordered calls take repeats.
        let mut c = Call::new(MAX_BATCH_RECORDS, MAX_BATCH_BYTES, false);
        c.push(entry(0, 1, "a"), 0, now);
        assert_eq!(c.admits(&entry(1, 1, "a")), Admit::Yes);
    }

    #[test]
    fn linger_starts_with_the_first_entry() {
        let mut c = Call::new(MAX_BATCH_RECORDS, MAX_BATCH_BYTES, false);
        let t0 = Instant::now();
        assert_eq!(c.oldest, None);
        c.push(entry(1, 1, "k"), 0, t0);
        c.push(
            entry(2, 1, "k"),
            0,
            t0 + std::time::Duration::from_millis(50),
        );
        assert_eq!(c.oldest, Some(t0));
    }

    #[test]
    fn a_large_record_stream_takes_calls_up_to_its_record_limit() {
        let big = 8 * MAX_RECORD_BYTES;
        let mut c = Call::new(
            MAX_BATCH_RECORDS,
            crate::limits::max_batch_bytes(big),
            false,
        );
        let now = Instant::now();
        assert_eq!(c.admits(&entry(0, big - 1, "k")), Admit::Yes);
        c.push(entry(0, big - 1, "k"), 0, now);
        assert_eq!(c.admits(&entry(1, 2, "k")), Admit::NoRoom);
    }
}
