//! Packing the user records of one shard into KPL aggregated records (format and codec in
//! [`kds_common::kpl`]). As the KPL does, the Kinesis record carries the first user record's
//! partition key (and explicit hash key), so it lands on the shard all its user records map
//! to; an aggregate of a single record is sent as that plain record.

use std::collections::HashMap;

use kds_common::kpl::{
    bytes_field_len, encode, record_body_len, varint_len, Record, DIGEST_LEN, MAGIC,
};

use crate::batch::{Entry, Origin, UserRecord};

/// Packs the user records of one shard into aggregated entries of at most `target` bytes
/// (data plus outer partition key).
#[derive(Debug)]
pub struct Aggregator {
    target: usize,
    records: Vec<UserRecord>,
    pk_index: HashMap<String, u64>,
    ehk_index: HashMap<String, u64>,
    /// Bytes of the protobuf body so far.
    body_len: usize,
}

impl Aggregator {
    pub fn new(target: usize) -> Aggregator {
        Aggregator {
            target,
            records: Vec::new(),
            pk_index: HashMap::new(),
            ehk_index: HashMap::new(),
            body_len: 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Body growth if `rec` were added, and its table indices.
    fn growth(&self, rec: &UserRecord) -> usize {
        let mut grow = 0;
        let pk = match self.pk_index.get(&rec.partition_key) {
            Some(&i) => i,
            None => {
                grow += bytes_field_len(rec.partition_key.len());
                self.pk_index.len() as u64
            }
        };
        let ehk = rec
            .explicit_hash_key
            .as_ref()
            .map(|k| match self.ehk_index.get(k) {
                Some(&i) => i,
                None => {
                    grow += bytes_field_len(k.len());
                    self.ehk_index.len() as u64
                }
            });
        let body = record_body_len(pk, ehk, rec.data.len());
        grow + 1 + varint_len(body as u64) + body
    }

    /// Size of the Kinesis record (data plus outer partition key) with a body of `body` bytes.
    fn total(&self, body: usize, first_key: &str) -> usize {
        MAGIC.len() + body + DIGEST_LEN + first_key.len()
    }

    /// Adds a record; returns the entries that became ready, in input order: the previous
    /// aggregate when `rec` does not fit in it, and `rec` itself, plain, when it alone exceeds
    /// the target.
    pub fn push(&mut self, rec: UserRecord) -> Vec<Entry> {
        let mut ready = Vec::new();
        let first_key = self
            .records
            .first()
            .map_or(rec.partition_key.as_str(), |r| r.partition_key.as_str())
            .to_string();
        if !self.records.is_empty()
            && self.total(self.body_len + self.growth(&rec), &first_key) > self.target
        {
            ready.extend(self.take());
        }
        let alone = Aggregator::new(self.target);
        if alone.total(alone.growth(&rec), &rec.partition_key) > self.target {
            ready.extend(self.take());
            ready.push(Entry::plain(rec));
            return ready;
        }
        self.body_len += self.growth(&rec);
        let n = self.pk_index.len() as u64;
        self.pk_index.entry(rec.partition_key.clone()).or_insert(n);
        if let Some(k) = &rec.explicit_hash_key {
            let n = self.ehk_index.len() as u64;
            self.ehk_index.entry(k.clone()).or_insert(n);
        }
        self.records.push(rec);
        ready
    }

    /// The pending records as one entry (plain when there is only one).
    pub fn take(&mut self) -> Option<Entry> {
        if self.records.is_empty() {
            return None;
        }
        let records = std::mem::take(&mut self.records);
        self.pk_index.clear();
        self.ehk_index.clear();
        self.body_len = 0;
        Some(pack(records))
    }
}

/// Splits an entry so that every part holds only user records of one shard, as `shard_of`
/// (hash key to shard) says; each part is returned with its shard, parts in input order.
///
/// The KCL's de-aggregation (AWS page "Consumer De-aggregation" of the KPL guide) drops user
/// records whose hash key lies outside the range of the shard the aggregate was read from:
/// after a reshard an aggregate packed for a parent shard is re-packed per child before it is
/// sent (or sent again).
pub fn split_by_shard(entry: Entry, shard_of: impl Fn(u128) -> usize) -> Vec<(usize, Entry)> {
    let first = shard_of(entry.hash);
    let Origin::Aggregate(recs) = &entry.origin else {
        return vec![(first, entry)];
    };
    if recs.iter().all(|r| shard_of(r.hash) == first) {
        return vec![(first, entry)];
    }
    let attempts = entry.attempts;
    let Origin::Aggregate(recs) = entry.origin else {
        unreachable!("checked above")
    };
    let mut groups: Vec<(usize, Vec<UserRecord>)> = Vec::new();
    for r in recs {
        let shard = shard_of(r.hash);
        match groups.iter_mut().find(|(s, _)| *s == shard) {
            Some((_, g)) => g.push(r),
            None => groups.push((shard, vec![r])),
        }
    }
    groups
        .into_iter()
        .map(|(shard, g)| {
            let mut part = pack(g);
            part.attempts = attempts;
            (shard, part)
        })
        .collect()
}

/// Turns user records into one entry: a plain record for one, an aggregate for several.
pub fn pack(mut records: Vec<UserRecord>) -> Entry {
    if records.len() == 1 {
        return Entry::plain(records.remove(0));
    }
    let borrowed: Vec<Record<'_>> = records
        .iter()
        .map(|r| Record {
            partition_key: &r.partition_key,
            explicit_hash_key: r.explicit_hash_key.as_deref(),
            data: &r.data,
        })
        .collect();
    let data = encode(&borrowed);
    let partition_key = records[0].partition_key.clone();
    let explicit_hash_key = records[0].explicit_hash_key.clone();
    Entry {
        hash: records[0].hash,
        data,
        partition_key,
        explicit_hash_key,
        origin: Origin::Aggregate(records),
        attempts: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kds_common::kpl::{decode, Decoded};

    fn rec(line: u64, pk: &str, data: &[u8]) -> UserRecord {
        UserRecord {
            line,
            data: data.to_vec(),
            partition_key: pk.into(),
            explicit_hash_key: None,
            hash: 0,
        }
    }

    #[test]
    fn aggregator_respects_the_target_and_order() {
        let target = 1000;
        let mut agg = Aggregator::new(target);
        let mut entries = Vec::new();
        for i in 0..200u64 {
            entries.extend(agg.push(rec(i + 1, &format!("key{}", i % 5), &[b'x'; 40])));
        }
        entries.extend(agg.take());
        let mut lines = Vec::new();
        for e in &entries {
            assert!(
                e.data.len() + e.partition_key.len() <= target,
                "{}",
                e.data.len()
            );
            let Decoded::Aggregated(decoded) = decode(&e.data).unwrap() else {
                panic!("not aggregated")
            };
            let Origin::Aggregate(recs) = &e.origin else {
                panic!("plain")
            };
            assert_eq!(decoded.len(), recs.len());
            assert_eq!(e.partition_key, recs[0].partition_key);
            lines.extend(recs.iter().map(|r| r.line));
        }
        assert!(entries.len() > 5);
        assert_eq!(lines, (1..=200).collect::<Vec<_>>());
        // The size accounting is exact: the fullest aggregate is close to the target.
        assert!(entries
            .iter()
            .any(|e| e.data.len() + e.partition_key.len() > target - 60));
    }

    #[test]
    fn split_by_shard_repacks_each_shard_apart() {
        let mut agg = Aggregator::new(10_000);
        for (line, hash) in [(1, 10u128), (2, 900), (3, 20), (4, 950), (5, 30)] {
            let mut r = rec(line, &format!("k{line}"), b"data");
            r.hash = hash;
            assert!(agg.push(r).is_empty());
        }
        let mut whole = agg.take().unwrap();
        whole.attempts = 2;
        // One shard below 500, one from 500 up: the aggregate must become two.
        let shard_of = |h: u128| usize::from(h >= 500);
        let parts = split_by_shard(whole, shard_of);
        assert_eq!(parts.len(), 2);
        for (shard, part) in &parts {
            let Origin::Aggregate(recs) = &part.origin else {
                panic!("three and two records stay aggregates")
            };
            assert!(recs.iter().all(|r| shard_of(r.hash) == *shard));
            assert_eq!(
                shard_of(part.hash),
                *shard,
                "routed by its own first record"
            );
            let Decoded::Aggregated(decoded) = decode(&part.data).unwrap() else {
                panic!("not aggregated")
            };
            assert_eq!(decoded.len(), recs.len());
            assert_eq!(part.attempts, 2);
        }
        let lines = |i: usize| match &parts[i].1.origin {
            Origin::Aggregate(recs) => recs.iter().map(|r| r.line).collect::<Vec<_>>(),
            Origin::Line(_) => Vec::new(),
        };
        assert_eq!(lines(0), [1, 3, 5]);
        assert_eq!(lines(1), [2, 4]);
        // An aggregate within one shard is left as it is.
        let mut agg = Aggregator::new(10_000);
        agg.push(rec(1, "a", b"x"));
        agg.push(rec(2, "b", b"y"));
        let one = split_by_shard(agg.take().unwrap(), |_| 0);
        assert_eq!(one.len(), 1);
    }

    #[test]
    fn big_or_single_records_go_plain() {
        let mut agg = Aggregator::new(100);
        assert!(agg.push(rec(1, "a", b"small")).is_empty());
        let out = agg.push(rec(2, "b", &[b'y'; 200]));
        assert_eq!(out.len(), 2);
        assert!(matches!(out[0].origin, Origin::Line(1)));
        assert_eq!(out[0].data, b"small");
        assert!(matches!(out[1].origin, Origin::Line(2)));
        assert!(agg.take().is_none());
    }
}
