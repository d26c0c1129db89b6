//! A byte budget between the reader thread and the dispatcher. The input channel bounds the
//! number of records waiting in it, but records are up to 1 MiB each: 4,096 of them could hold
//! 4 GiB. The reader takes a record's bytes before sending it and blocks while the budget is
//! spent; the dispatcher gives them back when it has moved the record into the collector
//! (which has its own bound, `collect::MAX_QUEUED_BYTES`).

use std::sync::{Condvar, Mutex, PoisonError};

/// Bytes of input that may wait between the reader and the dispatcher: a quarter of the
/// collector's read-ahead (8 MiB by default).
pub fn input_bytes(read_ahead: usize) -> usize {
    read_ahead / 4
}

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

    #[cfg(test)]
    fn used(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .used
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn take_blocks_until_bytes_are_given_back() {
        let b = Arc::new(ByteBudget::new(10));
        assert!(b.take(6));
        let b2 = Arc::clone(&b);
        let t = std::thread::spawn(move || b2.take(6));
        std::thread::sleep(Duration::from_millis(50));
        assert!(!t.is_finished(), "6 + 6 bytes exceed the budget of 10");
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
        let b2 = Arc::clone(&b);
        let t = std::thread::spawn(move || b2.take(1));
        std::thread::sleep(Duration::from_millis(50));
        b.close();
        assert!(!t.join().expect("taker"), "a closed budget refuses");
    }
}
