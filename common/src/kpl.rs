//! The KPL aggregated record format: many small user records packed into one Kinesis record.
//! kds-put writes it (`--aggregate`), kds-tail reads it; it is what the KPL writes and the KCL
//! de-aggregates (amazon-kinesis-producer `aggregation-format.md`):
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
//!   repeated Tag    tags                    = 4;   // key = 1, value = 2; skipped, never written
//! }
//! ```
//!
//! As in the KCL, a record that starts with the magic but whose checksum does not match is an
//! ordinary record. A record with a good checksum that does not decode is an error the caller
//! counts.

use std::collections::HashMap;

use md5::{Digest, Md5};

pub const MAGIC: [u8; 4] = [0xF3, 0x89, 0x9A, 0xC2];
pub const DIGEST_LEN: usize = 16;

/// One user record inside an aggregate, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    pub partition_key: &'a str,
    pub explicit_hash_key: Option<&'a str>,
    pub data: &'a [u8],
}

/// The 128-bit hash key Kinesis routes a record by: its explicit hash key (decimal) when it has
/// one, else the MD5 of its partition key as a big-endian integer (AWS API Reference
/// "PutRecords": "An MD5 hash function is used to map partition keys to 128-bit integer
/// values"). `None` for an explicit hash key that is not a decimal below 2^128.
pub fn routing_hash(partition_key: &str, explicit_hash_key: Option<&str>) -> Option<u128> {
    match explicit_hash_key {
        Some(k) => k.parse().ok(),
        None => Some(partition_key_hash(partition_key)),
    }
}

/// MD5 of a partition key as a 128-bit big-endian integer.
pub fn partition_key_hash(partition_key: &str) -> u128 {
    u128::from_be_bytes(Md5::digest(partition_key.as_bytes()).into())
}

pub fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub fn put_bytes_field(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_varint(out, u64::from(field << 3 | 2));
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Size of a length-delimited field with a one-byte tag.
pub fn bytes_field_len(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

/// Size of one `Record` message body.
pub fn record_body_len(pk_index: u64, ehk_index: Option<u64>, data_len: usize) -> usize {
    1 + varint_len(pk_index)
        + ehk_index.map_or(0, |i| 1 + varint_len(i))
        + bytes_field_len(data_len)
}

/// Encodes records as one aggregated Kinesis record (magic, protobuf, MD5).
/// Partition keys and explicit hash keys are stored once each, in tables.
pub fn encode(records: &[Record<'_>]) -> Vec<u8> {
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

/// What a record turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// Not an aggregated record (no magic, or the checksum does not match).
    Plain,
    /// The user records, in order.
    Aggregated(Vec<Record<'a>>),
}

#[derive(Debug, PartialEq, Eq)]
pub struct DecodeError(pub &'static str);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bad KPL aggregated record: {}", self.0)
    }
}

impl std::error::Error for DecodeError {}

/// True when `data` starts with the KPL magic and is long enough to be aggregated.
#[inline]
pub fn looks_aggregated(data: &[u8]) -> bool {
    data.len() >= MAGIC.len() + DIGEST_LEN && data[..4] == MAGIC
}

/// Splits an aggregated record into its user records.
pub fn decode(data: &[u8]) -> Result<Decoded<'_>, DecodeError> {
    if !looks_aggregated(data) {
        return Ok(Decoded::Plain);
    }
    let body = &data[MAGIC.len()..data.len() - DIGEST_LEN];
    let digest = &data[data.len() - DIGEST_LEN..];
    if Md5::digest(body).as_slice() != digest {
        return Ok(Decoded::Plain);
    }
    let mut keys: Vec<&str> = Vec::new();
    let mut hash_keys: Vec<&str> = Vec::new();
    let mut raw: Vec<&[u8]> = Vec::new();
    let mut p = Parser { buf: body, pos: 0 };
    while let Some((field, wire)) = p.key()? {
        match (field, wire) {
            (1, 2) => keys.push(p.string()?),
            (2, 2) => hash_keys.push(p.string()?),
            (3, 2) => raw.push(p.bytes()?),
            _ => p.skip(wire)?,
        }
    }
    let mut out = Vec::with_capacity(raw.len());
    for r in raw {
        let mut p = Parser { buf: r, pos: 0 };
        let mut pk_index = None;
        let mut ehk_index = None;
        let mut payload = None;
        while let Some((field, wire)) = p.key()? {
            match (field, wire) {
                (1, 0) => pk_index = Some(p.varint()?),
                (2, 0) => ehk_index = Some(p.varint()?),
                (3, 2) => payload = Some(p.bytes()?),
                _ => p.skip(wire)?,
            }
        }
        let pk_index = pk_index.ok_or(DecodeError("record without partition_key_index"))?;
        let partition_key = *keys
            .get(pk_index as usize)
            .ok_or(DecodeError("partition_key_index out of range"))?;
        let explicit_hash_key = match ehk_index {
            None => None,
            Some(i) => Some(
                *hash_keys
                    .get(i as usize)
                    .ok_or(DecodeError("explicit_hash_key_index out of range"))?,
            ),
        };
        out.push(Record {
            partition_key,
            explicit_hash_key,
            data: payload.ok_or(DecodeError("record without data"))?,
        });
    }
    Ok(Decoded::Aggregated(out))
}

struct Parser<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Parser<'a> {
    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = *self
                .buf
                .get(self.pos)
                .ok_or(DecodeError("truncated varint"))?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError("varint too long"))
    }

    fn key(&mut self) -> Result<Option<(u64, u8)>, DecodeError> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let k = self.varint()?;
        Ok(Some((k >> 3, (k & 7) as u8)))
    }

    fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.varint()?;
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| self.pos.checked_add(l))
            .filter(|&e| e <= self.buf.len())
            .ok_or(DecodeError("field runs past the end"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn string(&mut self) -> Result<&'a str, DecodeError> {
        std::str::from_utf8(self.bytes()?).map_err(|_| DecodeError("key is not UTF-8"))
    }

    fn skip(&mut self, wire: u8) -> Result<(), DecodeError> {
        let n = match wire {
            0 => return self.varint().map(|_| ()),
            1 => 8,
            2 => return self.bytes().map(|_| ()),
            5 => 4,
            _ => return Err(DecodeError("unsupported wire type")),
        };
        if self.pos + n > self.buf.len() {
            return Err(DecodeError("field runs past the end"));
        }
        self.pos += n;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use md5::{Digest, Md5};

    fn varint(out: &mut Vec<u8>, v: u64) {
        put_varint(out, v)
    }
    fn field(out: &mut Vec<u8>, num: u32, bytes: &[u8]) {
        put_bytes_field(out, num, bytes)
    }
    /// Hand-assembled aggregate with arbitrary indices and a tag per record, to test the
    /// decoder on input `encode` would never write.
    fn encode_raw(keys: &[&str], records: &[(u64, &[u8])]) -> Vec<u8> {
        let mut body = Vec::new();
        for k in keys {
            field(&mut body, 1, k.as_bytes());
        }
        for (i, data) in records {
            let mut r = Vec::new();
            varint(&mut r, 1 << 3);
            varint(&mut r, *i);
            field(&mut r, 3, data);
            // A tag, which decoders must skip.
            let mut tag = Vec::new();
            field(&mut tag, 1, b"k");
            field(&mut r, 4, &tag);
            field(&mut body, 3, &r);
        }
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&body);
        out.extend_from_slice(&Md5::digest(&body));
        out
    }

    #[test]
    fn decodes_user_records_in_order() {
        let agg = encode_raw(&["a", "b"], &[(0, b"one"), (1, b"two"), (0, b"")]);
        let Decoded::Aggregated(recs) = decode(&agg).unwrap() else {
            panic!("not decoded")
        };
        let got: Vec<(&str, &[u8])> = recs.iter().map(|r| (r.partition_key, r.data)).collect();
        assert_eq!(got, vec![("a", &b"one"[..]), ("b", b"two"), ("a", b"")]);
    }

    #[test]
    fn plain_records_and_bad_checksums_are_plain() {
        assert_eq!(decode(b"{\"a\":1}").unwrap(), Decoded::Plain);
        let mut agg = encode_raw(&["a"], &[(0, b"x")]);
        let last = agg.len() - 1;
        agg[last] ^= 1;
        assert_eq!(decode(&agg).unwrap(), Decoded::Plain);
    }

    #[test]
    fn broken_body_with_good_checksum_is_an_error() {
        let body = vec![0x1a, 0x05, 0x08]; // field 3, length 5, only one byte follows
        let mut agg = MAGIC.to_vec();
        agg.extend_from_slice(&body);
        agg.extend_from_slice(&Md5::digest(&body));
        assert!(decode(&agg).is_err());
        let agg = encode_raw(&["a"], &[(3, b"x")]);
        assert_eq!(
            decode(&agg).unwrap_err(),
            DecodeError("partition_key_index out of range")
        );
    }

    #[test]
    fn known_bytes() {
        // Hand-assembled: pk table ["k"], one record {pk 0, data "hi"}.
        let got = encode(&[Record {
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
        let recs: Vec<Record<'_>> = (0..300)
            .map(|i| Record {
                partition_key: &keys[i],
                explicit_hash_key: (i % 3 == 0).then_some("12345"),
                data: &data[i],
            })
            .collect();
        let blob = encode(&recs);
        let Decoded::Aggregated(back) = decode(&blob).unwrap() else {
            panic!("not decoded")
        };
        assert_eq!(back.len(), 300);
        for (i, d) in back.iter().enumerate() {
            assert_eq!(d.data, data[i]);
            assert_eq!(d.partition_key, keys[i].as_str());
            assert_eq!(d.explicit_hash_key, (i % 3 == 0).then_some("12345"));
        }
    }
}
