//! Per-destination buffers with Firehose's two triggers: size and interval.
//!
//! One buffer per [`Dest`] (the main prefix per set of partition values, and the error prefix
//! per error type). A buffer becomes an object when
//! * adding a record would take it over the size limit (the buffer is written first, so an
//!   object is never larger than the limit unless one record alone is), or it reaches the limit
//!   exactly;
//! * its first record has waited `interval` (checked by [`Buffers::take_due`], which the sink
//!   calls from a timer, so it fires while input is idle);
//! * at the end ([`Buffers::take_all`]).
//!
//! Time is passed in (clock milliseconds), so tests drive it without sleeping.

use std::collections::HashMap;

use crate::input::Dest;

// One clock for the tools that act on wall-clock time (kds-common); re-exported for the sink.
pub use kds_common::clock::{Clock, ManualClock, SystemClock};

#[derive(Debug)]
struct Buffer {
    data: Vec<u8>,
    records: u64,
    oldest_arrival_ms: i64,
    first_received_ms: i64,
}

impl Buffer {
    /// Its contents as an object for `dest`, leaving it empty (its times stay for the caller).
    fn drain(&mut self, dest: Dest) -> Flushed {
        Flushed {
            dest,
            data: std::mem::take(&mut self.data),
            records: std::mem::take(&mut self.records),
            oldest_arrival_ms: self.oldest_arrival_ms,
        }
    }
}

/// A buffer's contents, ready to become an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flushed {
    pub dest: Dest,
    pub data: Vec<u8>,
    pub records: u64,
    /// Arrival time of the oldest record: the instant of every timestamp in the key.
    pub oldest_arrival_ms: i64,
}

/// All buffers together hold at most this much (or two full buffers, if that is more): past
/// it, the buffer waiting longest is written early. Bounds memory with many partitions.
pub const MAX_BUFFERED_BYTES: usize = 256 << 20;

pub struct Buffers {
    size_limit: usize,
    total_limit: usize,
    interval_ms: i64,
    map: HashMap<Dest, Buffer>,
    buffered_bytes: usize,
}

impl Buffers {
    pub fn new(size_limit: u64, interval: std::time::Duration) -> Buffers {
        let size_limit = usize::try_from(size_limit).unwrap_or(usize::MAX);
        Buffers {
            size_limit,
            total_limit: MAX_BUFFERED_BYTES.max(size_limit.saturating_mul(2)),
            interval_ms: i64::try_from(interval.as_millis()).unwrap_or(i64::MAX),
            map: HashMap::new(),
            buffered_bytes: 0,
        }
    }

    /// Bytes in all buffers.
    pub fn buffered_bytes(&self) -> usize {
        self.buffered_bytes
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    fn take(&mut self, dest: &Dest) -> Option<Flushed> {
        let (dest, mut b) = self.map.remove_entry(dest)?;
        self.buffered_bytes -= b.data.len();
        Some(b.drain(dest))
    }

    /// Adds one record; objects that became due by size are pushed to `out`.
    pub fn add(
        &mut self,
        dest: &Dest,
        bytes: &[u8],
        arrival_ms: i64,
        received_ms: i64,
        out: &mut Vec<Flushed>,
    ) {
        // One hash lookup per record (hashing the destination was half of the sink's
        // instructions per line): a buffer that this record would overflow is written out and
        // starts again in place, as a new buffer would.
        let b = match self.map.get_mut(dest) {
            Some(b) => b,
            None => self.map.entry(dest.clone()).or_insert_with(|| Buffer {
                data: Vec::new(),
                records: 0,
                oldest_arrival_ms: arrival_ms,
                first_received_ms: received_ms,
            }),
        };
        if !b.data.is_empty() && b.data.len() + bytes.len() > self.size_limit {
            self.buffered_bytes -= b.data.len();
            out.push(b.drain(dest.clone()));
            b.oldest_arrival_ms = arrival_ms;
            b.first_received_ms = received_ms;
        }
        b.data.extend_from_slice(bytes);
        b.records += 1;
        b.oldest_arrival_ms = b.oldest_arrival_ms.min(arrival_ms);
        self.buffered_bytes += bytes.len();
        if b.data.len() >= self.size_limit {
            out.extend(self.take(dest));
        }
        while self.buffered_bytes > self.total_limit {
            let oldest = self
                .map
                .iter()
                .min_by_key(|(_, b)| b.first_received_ms)
                .map(|(d, _)| d.clone());
            match oldest {
                Some(d) => out.extend(self.take(&d)),
                None => break,
            }
        }
    }

    #[cfg(test)]
    fn with_total_limit(mut self, total: usize) -> Buffers {
        self.total_limit = total;
        self
    }

    /// Takes every buffer whose first record has waited at least the interval.
    pub fn take_due(&mut self, now_ms: i64, out: &mut Vec<Flushed>) {
        let due: Vec<Dest> = self
            .map
            .iter()
            .filter(|(_, b)| now_ms.saturating_sub(b.first_received_ms) >= self.interval_ms)
            .map(|(d, _)| d.clone())
            .collect();
        for d in due {
            out.extend(self.take(&d));
        }
    }

    /// When the next buffer becomes due by interval (clock ms), if any is buffered.
    pub fn next_due_ms(&self) -> Option<i64> {
        self.map
            .values()
            .map(|b| b.first_received_ms.saturating_add(self.interval_ms))
            .min()
    }

    /// Takes every buffer (end of input, signal).
    pub fn take_all(&mut self, out: &mut Vec<Flushed>) {
        let all: Vec<Dest> = self.map.keys().cloned().collect();
        for d in all {
            out.extend(self.take(&d));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn main() -> Dest {
        Dest::Main(vec![])
    }

    #[test]
    fn size_trigger_never_exceeds_the_limit() {
        let mut b = Buffers::new(10, Duration::from_secs(60));
        let mut out = Vec::new();
        for r in [&b"abcd"[..], b"efgh", b"ijkl", b"mn", b"op"] {
            b.add(&main(), r, 5, 0, &mut out);
        }
        // abcd+efgh = 8; +ijkl would be 12 > 10 -> flush "abcdefgh"; ijkl+mn+op = 8.
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].data, b"abcdefgh");
        assert_eq!(out[0].records, 2);
        b.add(&main(), b"qr", 5, 0, &mut out);
        // Exactly 10: flushed at once.
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].data, b"ijklmnopqr");
        assert!(b.is_empty());
        assert_eq!(b.buffered_bytes(), 0);
    }

    #[test]
    fn a_record_larger_than_the_limit_is_an_object_of_its_own() {
        let mut b = Buffers::new(4, Duration::from_secs(60));
        let mut out = Vec::new();
        b.add(&main(), b"ab", 0, 0, &mut out);
        b.add(&main(), b"0123456789", 0, 0, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].data, b"ab");
        assert_eq!(out[1].data, b"0123456789");
    }

    #[test]
    fn interval_trigger_uses_the_injected_clock() {
        let clock = ManualClock::default();
        clock.advance(1_000_000);
        let mut b = Buffers::new(1 << 20, Duration::from_secs(60));
        let mut out = Vec::new();
        b.add(&main(), b"first", 111, clock.now_ms(), &mut out);
        clock.advance(30_000);
        b.add(&main(), b"second", 99, clock.now_ms(), &mut out);
        assert_eq!(b.next_due_ms(), Some(1_060_000));
        clock.advance(29_999);
        b.take_due(clock.now_ms(), &mut out);
        assert!(out.is_empty(), "59.999 s is not yet due");
        clock.advance(1);
        b.take_due(clock.now_ms(), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].data, b"firstsecond");
        assert_eq!(
            out[0].oldest_arrival_ms, 99,
            "oldest arrival, not first added"
        );
        assert_eq!(b.next_due_ms(), None);
        // The next record starts a new interval.
        b.add(&main(), b"third", 5, clock.now_ms(), &mut out);
        assert_eq!(b.next_due_ms(), Some(clock.now_ms() + 60_000));
    }

    #[test]
    fn zero_interval_is_due_at_once() {
        let mut b = Buffers::new(1 << 20, Duration::ZERO);
        let mut out = Vec::new();
        b.add(&main(), b"x", 0, 500, &mut out);
        b.take_due(500, &mut out);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn total_memory_is_bounded_by_writing_the_oldest_buffer() {
        let mut b = Buffers::new(100, Duration::from_secs(60)).with_total_limit(10);
        let mut out = Vec::new();
        b.add(&Dest::Main(vec!["a".into()]), b"aaaa", 0, 1, &mut out);
        b.add(&Dest::Main(vec!["b".into()]), b"bbbb", 0, 2, &mut out);
        assert!(out.is_empty());
        b.add(&Dest::Main(vec!["c".into()]), b"cccc", 0, 3, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].data, b"aaaa",
            "the buffer waiting longest goes first"
        );
        assert_eq!(b.buffered_bytes(), 8);
    }

    #[test]
    fn destinations_are_buffered_apart() {
        let mut b = Buffers::new(1 << 20, Duration::from_secs(1));
        let mut out = Vec::new();
        let u1 = Dest::Main(vec!["U1".into()]);
        let u2 = Dest::Main(vec!["U2".into()]);
        let err = Dest::Error("x");
        b.add(&u1, b"a", 0, 0, &mut out);
        b.add(&u2, b"b", 0, 500, &mut out);
        b.add(&err, b"c", 0, 0, &mut out);
        b.add(&u1, b"d", 0, 700, &mut out);
        b.take_due(1_000, &mut out);
        out.sort_by(|a, b| a.data.cmp(&b.data));
        assert_eq!(out.len(), 2);
        assert_eq!(
            (out[0].dest.clone(), out[0].data.clone()),
            (u1, b"ad".to_vec())
        );
        assert_eq!(
            (out[1].dest.clone(), out[1].data.clone()),
            (err, b"c".to_vec())
        );
        out.clear();
        b.take_all(&mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].dest, u2);
    }
}
