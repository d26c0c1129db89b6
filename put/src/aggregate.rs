//! KPL record aggregation: many small user records packed into one Kinesis record, in the
//! format the KCL and kds-tail de-aggregate
//! (amazon-kinesis-producer `aggregation-format.md`):
//!
//! ```text
//! 0xF3 0x89 0x9A 0xC2 | protobuf AggregatedRecord | MD5(protobuf bytes), 16 bytes
//!
//! message AggregatedRecord {
//!   repeated string partition_key_table     = 1;
//!   repeated string explicit_hash_key_table = 2;
//!   repeated Record records                 = 3;
//! }
//! message Record {
//!   required uint64 partition_key_index     = 1;
//!   optional uint64 explicit_hash_key_index = 2;
//!   required bytes  data                    = 3;
//!   repeated Tag    tags                    = 4;   // key = 1, value = 2; never written here
//! }
//! ```
//!
//! [`encode`] and [`decode`] are pure; [`Aggregator`] packs records of one shard up to a target
//! size. As the KPL does, the Kinesis record carries the first user record's partition key
//! (and explicit hash key), so it lands on the shard all its user records map to; an aggregate
//! of a single record is sent as that plain record.

use std::collections::HashMap;

use md5::{Digest, Md5};

use crate::batch::{Entry, Origin, UserRecord};

pub const MAGIC: [u8; 4] = [0xF3, 0x89, 0x9A, 0xC2];
const DIGEST_LEN: usize = 16;

/// One user record inside an aggregate, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AggRecord<'a> {
    pub partition_key: &'a str,
    pub explicit_hash_key: Option<&'a str>,
    pub data: &'a [u8],
}

/// One user record decoded from an aggregate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub partition_key: String,
    pub explicit_hash_key: Option<String>,
    pub data: Vec<u8>,
}

fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes_field(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_varint(out, u64::from(field << 3 | 2));
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Size of a length-delimited field with a one-byte tag.
fn bytes_field_len(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

/// Size of one `Record` message body.
fn record_body_len(pk_index: u64, ehk_index: Option<u64>, data_len: usize) -> usize {
    1 + varint_len(pk_index)
        + ehk_index.map_or(0, |i| 1 + varint_len(i))
        + bytes_field_len(data_len)
}

/// Encodes records as one aggregated Kinesis record (magic, protobuf, MD5).
pub fn encode(records: &[AggRecord<'_>]) -> Vec<u8> {
    let mut pk_table: Vec<&str> = Vec::new();
    let mut pk_index: HashMap<&str, u64> = HashMap::new();
    let mut ehk_table: Vec<&str> = Vec::new();
    let mut ehk_index: HashMap<&str, u64> = HashMap::new();
    let mut indices = Vec::with_capacity(records.len());
    for r in records {
        let p = *pk_index.entry(r.partition_key).or_insert_with(|| {
            pk_table.push(r.partition_key);
            pk_table.len() as u64 - 1
        });
        let e = r.explicit_hash_key.map(|k| {
            *ehk_index.entry(k).or_insert_with(|| {
                ehk_table.push(k);
                ehk_table.len() as u64 - 1
            })
        });
        indices.push((p, e));
    }
    let mut out = Vec::with_capacity(
        MAGIC.len() + DIGEST_LEN + records.iter().map(|r| r.data.len() + 8).sum::<usize>(),
    );
    out.extend_from_slice(&MAGIC);
    for k in &pk_table {
        put_bytes_field(&mut out, 1, k.as_bytes());
    }
    for k in &ehk_table {
        put_bytes_field(&mut out, 2, k.as_bytes());
    }
    for (r, &(p, e)) in records.iter().zip(&indices) {
        put_varint(&mut out, 3 << 3 | 2);
        put_varint(&mut out, record_body_len(p, e, r.data.len()) as u64);
        put_varint(&mut out, 1 << 3);
        put_varint(&mut out, p);
        if let Some(e) = e {
            put_varint(&mut out, 2 << 3);
            put_varint(&mut out, e);
        }
        put_bytes_field(&mut out, 3, r.data);
    }
    let digest = Md5::digest(&out[MAGIC.len()..]);
    out.extend_from_slice(&digest);
    out
}

/// Why an aggregated record could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bad KPL aggregated record: {}", self.0)
    }
}

impl std::error::Error for DecodeError {}

/// True when `data` starts with the KPL magic and is long enough to hold a digest.
pub fn is_aggregated(data: &[u8]) -> bool {
    data.len() >= MAGIC.len() + DIGEST_LEN && data.starts_with(&MAGIC)
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = *self
                .buf
                .get(self.pos)
                .ok_or_else(|| DecodeError("truncated varint".into()))?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(DecodeError("varint longer than 10 bytes".into()))
    }

    fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let len =
            usize::try_from(self.varint()?).map_err(|_| DecodeError("length overflow".into()))?;
        let end = self
            .pos
            .checked_add(len)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| DecodeError("field runs past the end".into()))?;
        let b = &self.buf[self.pos..end];
        self.pos = end;
        Ok(b)
    }

    fn skip(&mut self, wire: u64) -> Result<(), DecodeError> {
        let n = match wire {
            0 => return self.varint().map(drop),
            1 => 8,
            2 => return self.bytes().map(drop),
            5 => 4,
            w => return Err(DecodeError(format!("unsupported wire type {w}"))),
        };
        if self.pos + n > self.buf.len() {
            return Err(DecodeError("field runs past the end".into()));
        }
        self.pos += n;
        Ok(())
    }
}

fn utf8(b: &[u8], what: &str) -> Result<String, DecodeError> {
    String::from_utf8(b.to_vec()).map_err(|_| DecodeError(format!("{what} is not UTF-8")))
}

/// Decodes an aggregated record. `Ok(None)` when `data` is not aggregated (no magic): it is a
/// plain record. The MD5 trailer is checked.
pub fn decode(data: &[u8]) -> Result<Option<Vec<Decoded>>, DecodeError> {
    if !is_aggregated(data) {
        return Ok(None);
    }
    let body = &data[MAGIC.len()..data.len() - DIGEST_LEN];
    let digest = &data[data.len() - DIGEST_LEN..];
    if Md5::digest(body).as_slice() != digest {
        return Err(DecodeError("MD5 trailer does not match".into()));
    }
    let mut pk_table = Vec::new();
    let mut ehk_table = Vec::new();
    let mut raw_records = Vec::new();
    let mut r = Reader { buf: body, pos: 0 };
    while !r.done() {
        let tag = r.varint()?;
        match (tag >> 3, tag & 7) {
            (1, 2) => pk_table.push(utf8(r.bytes()?, "partition key")?),
            (2, 2) => ehk_table.push(utf8(r.bytes()?, "explicit hash key")?),
            (3, 2) => raw_records.push(r.bytes()?),
            (_, wire) => r.skip(wire)?,
        }
    }
    let mut out = Vec::with_capacity(raw_records.len());
    for raw in raw_records {
        let mut r = Reader { buf: raw, pos: 0 };
        let (mut pk, mut ehk, mut payload) = (None, None, None);
        while !r.done() {
            let tag = r.varint()?;
            match (tag >> 3, tag & 7) {
                (1, 0) => pk = Some(r.varint()?),
                (2, 0) => ehk = Some(r.varint()?),
                (3, 2) => payload = Some(r.bytes()?),
                (_, wire) => r.skip(wire)?,
            }
        }
        let pk = pk.ok_or_else(|| DecodeError("record without partition_key_index".into()))?;
        let partition_key = pk_table
            .get(pk as usize)
            .ok_or_else(|| DecodeError(format!("partition_key_index {pk} out of range")))?
            .clone();
        let explicit_hash_key = match ehk {
            None => None,
            Some(i) => Some(
                ehk_table
                    .get(i as usize)
                    .ok_or_else(|| {
                        DecodeError(format!("explicit_hash_key_index {i} out of range"))
                    })?
                    .clone(),
            ),
        };
        let data = payload
            .ok_or_else(|| DecodeError("record without data".into()))?
            .to_vec();
        out.push(Decoded {
            partition_key,
            explicit_hash_key,
            data,
        });
    }
    Ok(Some(out))
}

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

/// Turns user records into one entry: a plain record for one, an aggregate for several.
pub fn pack(mut records: Vec<UserRecord>) -> Entry {
    if records.len() == 1 {
        return Entry::plain(records.remove(0));
    }
    let borrowed: Vec<AggRecord<'_>> = records
        .iter()
        .map(|r| AggRecord {
            partition_key: &r.partition_key,
            explicit_hash_key: r.explicit_hash_key.as_deref(),
            data: &r.data,
        })
        .collect();
    let data = encode(&borrowed);
    let partition_key = records[0].partition_key.clone();
    let explicit_hash_key = records[0].explicit_hash_key.clone();
    Entry {
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

    fn rec(line: u64, pk: &str, data: &[u8]) -> UserRecord {
        UserRecord {
            line,
            data: data.to_vec(),
            partition_key: pk.into(),
            explicit_hash_key: None,
        }
    }

    #[test]
    fn known_bytes() {
        // Hand-assembled: pk table ["k"], one record {pk 0, data "hi"}.
        let got = encode(&[AggRecord {
            partition_key: "k",
            explicit_hash_key: None,
            data: b"hi",
        }]);
        let body = [
            0x0A, 0x01, b'k', 0x1A, 0x06, 0x08, 0x00, 0x1A, 0x02, b'h', b'i',
        ];
        assert_eq!(&got[..4], &MAGIC);
        assert_eq!(&got[4..got.len() - 16], &body);
        assert_eq!(&got[got.len() - 16..], Md5::digest(body).as_slice());
    }

    #[test]
    fn round_trip_with_shared_keys_and_hash_keys() {
        let data: Vec<Vec<u8>> = (0..300)
            .map(|i| format!("{{\"i\":{i}}}").into_bytes())
            .collect();
        let keys: Vec<String> = (0..300).map(|i| format!("k{}", i % 7)).collect();
        let recs: Vec<AggRecord<'_>> = (0..300)
            .map(|i| AggRecord {
                partition_key: &keys[i],
                explicit_hash_key: (i % 3 == 0).then_some("12345"),
                data: &data[i],
            })
            .collect();
        let blob = encode(&recs);
        let back = decode(&blob).unwrap().unwrap();
        assert_eq!(back.len(), 300);
        for (i, d) in back.iter().enumerate() {
            assert_eq!(d.data, data[i]);
            assert_eq!(d.partition_key, keys[i]);
            assert_eq!(
                d.explicit_hash_key.as_deref(),
                (i % 3 == 0).then_some("12345")
            );
        }
    }

    #[test]
    fn plain_records_and_corruption() {
        assert_eq!(decode(b"{\"plain\":true}").unwrap(), None);
        let mut blob = encode(&[
            AggRecord {
                partition_key: "a",
                explicit_hash_key: None,
                data: b"1",
            },
            AggRecord {
                partition_key: "b",
                explicit_hash_key: None,
                data: b"2",
            },
        ]);
        let mid = blob.len() / 2;
        blob[mid] ^= 0xff;
        assert!(decode(&blob).unwrap_err().0.contains("MD5"));
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
            let decoded = decode(&e.data).unwrap().expect("aggregated");
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
