//! One source of "now" for the tools that act on wall-clock time (kds-window's rowtime windows,
//! kds-s3sink's buffering interval): the system clock in production, a hand-moved clock in tests
//! so they drive time without sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// Wall-clock time in epoch milliseconds.
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        crate::time::now_ms()
    }
}

/// A clock that only moves when told to (tests). Clones share one time.
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn new(ms: i64) -> ManualClock {
        ManualClock(Arc::new(AtomicI64::new(ms)))
    }
    pub fn set(&self, ms: i64) {
        self.0.store(ms, Ordering::SeqCst);
    }
    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told_and_clones_share_it() {
        let clock = ManualClock::new(1_000);
        let seen = clock.clone();
        assert_eq!(seen.now_ms(), 1_000);
        clock.advance(250);
        assert_eq!(seen.now_ms(), 1_250);
        clock.set(7);
        assert_eq!(seen.now_ms(), 7);
    }

    #[test]
    fn system_clock_is_epoch_milliseconds() {
        // 2020-01-01T00:00:00Z in ms: any real clock is past it.
        assert!(SystemClock.now_ms() > 1_577_836_800_000);
    }
}
