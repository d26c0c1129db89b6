//! kds-put's one memory bound: the bytes in flight from the reader to the acknowledgement.
//!
//! The reader thread takes a line's bytes ([`UserRecord::held_bytes`]) before it hands the
//! line on, and blocks while the budget (`--read-ahead`) is spent. The bytes stay taken while
//! the record waits in the channel, its shard's queue or aggregator, the call being packed, a
//! call in flight or a retry's backoff; they are given back when the record is acknowledged
//! by Kinesis, dead-lettered, or counted failed (`report.rs`). So every record kds-put holds
//! is inside the budget, whatever stage it is in.

use std::sync::{Condvar, Mutex, PoisonError};

use crate::batch::{Entry, Origin, UserRecord};
use crate::limits::record_size;

/// What a record costs besides its data and keys: the entry that carries it through the
/// queues and the headers of its two heap blocks (data and partition key). Counting it keeps
/// many small records within the budget as well as a few large ones.
pub const RECORD_OVERHEAD: usize = std::mem::size_of::<Entry>() + 32;

impl UserRecord {
    /// Bytes this record is charged against the budget, from the moment it is read until it
    /// is acknowledged or dead-lettered.
    pub fn held_bytes(&self) -> usize {
        held_bytes(
            &self.data,
            &self.partition_key,
            self.explicit_hash_key.as_deref(),
        )
    }
}

impl Entry {
    /// Bytes the input lines this entry carries were charged (an aggregate: the sum of its
    /// user records; the aggregated copy of their data is not charged, see the README).
    pub fn held_bytes(&self) -> usize {
        match &self.origin {
            Origin::Line(_) => held_bytes(
                &self.data,
                &self.partition_key,
                self.explicit_hash_key.as_deref(),
            ),
            Origin::Aggregate(records) => records.iter().map(UserRecord::held_bytes).sum(),
        }
    }
}

/// Bytes a line is charged: its data, partition key and explicit hash key, and the overhead.
pub fn held_bytes(data: &[u8], partition_key: &str, explicit_hash_key: Option<&str>) -> usize {
    record_size(data.len(), partition_key) + explicit_hash_key.map_or(0, str::len) + RECORD_OVERHEAD
}

/// A count of bytes that a thread may wait on: taken by the reader, given back by whoever
/// finishes with a record.
#[derive(Debug)]
pub struct ByteBudget {
    limit: usize,
    state: Mutex<State>,
    freed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    used: usize,
    closed: bool,
}

impl ByteBudget {
    pub fn new(limit: usize) -> ByteBudget {
        ByteBudget {
            limit,
            state: Mutex::new(State::default()),
            freed: Condvar::new(),
        }
    }

    /// Blocks until `n` bytes fit (one item larger than the whole budget passes alone);
    /// returns false once the budget is closed (the dispatcher has stopped).
    pub fn take(&self, n: usize) -> bool {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        while !s.closed && s.used > 0 && s.used + n > self.limit {
            s = self.freed.wait(s).unwrap_or_else(PoisonError::into_inner);
        }
        if s.closed {
            return false;
        }
        s.used += n;
        true
    }

    pub fn give(&self, n: usize) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.used = s.used.saturating_sub(n);
        self.freed.notify_all();
    }

    /// Wakes and refuses every taker from now on.
    pub fn close(&self) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.closed = true;
        self.freed.notify_all();
    }

    /// Bytes taken and not given back.
    #[cfg(test)]
    pub(crate) fn used(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .used
    }
}

#[cfg(test)]
mod fake_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    /// Starts `take(n)` on another thread and checks it is still waiting a moment later.
    fn blocked_taker(b: &Arc<ByteBudget>, n: usize) -> std::thread::JoinHandle<bool> {
        let b2 = Arc::clone(b);
        let t = std::thread::spawn(move || b2.take(n));
        std::thread::sleep(Duration::from_millis(50));
        assert!(!t.is_finished(), "{n} more bytes exceed the budget");
        t
    }

    #[test]
    fn take_blocks_until_bytes_are_given_back() {
        let b = Arc::new(ByteBudget::new(10));
        assert!(b.take(6));
        let t = blocked_taker(&b, 6);
        b.give(6);
        assert!(t.join().expect("taker"));
        assert_eq!(b.used(), 6);
    }

    #[test]
    fn one_item_over_the_budget_passes_alone() {
        let b = ByteBudget::new(10);
        assert!(b.take(25));
        assert_eq!(b.used(), 25);
        b.give(25);
        assert_eq!(b.used(), 0);
    }

    #[test]
    fn close_releases_a_blocked_taker() {
        let b = Arc::new(ByteBudget::new(10));
        assert!(b.take(10));
        let t = blocked_taker(&b, 1);
        b.close();
        assert!(!t.join().expect("taker"), "a closed budget refuses");
    }

    #[test]
    fn an_aggregate_is_charged_what_its_lines_were() {
        let rec = |line: u64, key: &str| UserRecord {
            line,
            data: vec![b'x'; 40],
            partition_key: key.into(),
            explicit_hash_key: None,
            hash: 0,
        };
        let records = vec![rec(1, "a"), rec(2, "bb")];
        let charged: usize = records.iter().map(UserRecord::held_bytes).sum();
        assert_eq!(charged, 2 * (40 + RECORD_OVERHEAD) + 3);
        let mut agg = crate::aggregate::Aggregator::new(50 * 1024);
        for r in records {
            assert!(agg.push(r).is_empty());
        }
        let entry = agg.take().expect("an aggregate");
        assert_eq!(entry.held_bytes(), charged);
        let plain = Entry::plain(rec(3, "c"));
        assert_eq!(plain.held_bytes(), rec(3, "c").held_bytes());
    }
}
