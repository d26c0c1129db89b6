//! Per-shard write limits as token buckets: 1,000 records/s and 1 MiB/s by default.
//!
//! An entry takes its shard's tokens (one record, its bytes) before it joins a PutRecords
//! call; when the tokens are not there it waits in its shard's queue, and the collector
//! wakes up when they will be ([`ShardLimit::ready_in`]). A bucket holds one second's worth.
//! An entry bigger than a whole second's budget (possible only with a tiny
//! `--shard-bytes-per-sec`) passes when the bucket is full, leaving it in debt, so it
//! still goes at the average rate instead of waiting forever.

use std::time::{Duration, Instant};

/// One refilling budget. A rate of 0 means unlimited.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A bucket that holds one second's worth and starts full.
    pub fn per_second(rate: u64, now: Instant) -> TokenBucket {
        TokenBucket {
            rate: rate as f64,
            capacity: rate as f64,
            tokens: rate as f64,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = self.last.max(now);
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
    }

    /// What must be in the bucket before `n` can be taken.
    fn needed(&self, n: f64) -> f64 {
        n.min(self.capacity)
    }

    /// Whether `n` tokens are there now (after refilling).
    pub fn has(&mut self, n: f64, now: Instant) -> bool {
        if self.rate <= 0.0 {
            return true;
        }
        self.refill(now);
        self.tokens >= self.needed(n)
    }

    /// Takes `n` tokens (the caller checked [`TokenBucket::has`]).
    pub fn take(&mut self, n: f64) {
        if self.rate > 0.0 {
            self.tokens -= n;
        }
    }

    /// How long until `n` tokens are there (zero if they are).
    pub fn ready_in(&mut self, n: f64, now: Instant) -> Duration {
        if self.rate <= 0.0 {
            return Duration::ZERO;
        }
        self.refill(now);
        let missing = self.needed(n) - self.tokens;
        if missing <= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(missing / self.rate)
        }
    }
}

/// Records and bytes budgets of one shard.
#[derive(Debug, Clone)]
pub struct ShardLimit {
    records: TokenBucket,
    bytes: TokenBucket,
}

impl ShardLimit {
    pub fn new(records_per_sec: u64, bytes_per_sec: u64, now: Instant) -> ShardLimit {
        ShardLimit {
            records: TokenBucket::per_second(records_per_sec, now),
            bytes: TokenBucket::per_second(bytes_per_sec, now),
        }
    }

    /// Takes one record of `bytes` if both budgets allow it now.
    pub fn try_take(&mut self, bytes: usize, now: Instant) -> bool {
        let bytes = bytes as f64;
        if self.records.has(1.0, now) && self.bytes.has(bytes, now) {
            self.records.take(1.0);
            self.bytes.take(bytes);
            true
        } else {
            false
        }
    }

    /// How long until one record of `bytes` may be taken.
    pub fn ready_in(&mut self, bytes: usize, now: Instant) -> Duration {
        self.records
            .ready_in(1.0, now)
            .max(self.bytes.ready_in(bytes as f64, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bucket_passes_one_second_then_paces() {
        let t0 = Instant::now();
        let mut s = ShardLimit::new(1000, 0, t0);
        let passed = (0..1500).filter(|_| s.try_take(10, t0)).count();
        assert_eq!(passed, 1000);
        // Empty now: the next record is 1 ms away.
        assert_eq!(s.ready_in(10, t0), Duration::from_millis(1));
        let later = t0 + Duration::from_millis(250);
        assert_eq!(s.ready_in(10, later), Duration::ZERO);
        let passed = (0..1000).filter(|_| s.try_take(10, later)).count();
        assert_eq!(passed, 250);
    }

    #[test]
    fn refill_is_capped_at_capacity() {
        let t0 = Instant::now();
        let mut s = ShardLimit::new(100, 0, t0);
        let later = t0 + Duration::from_secs(60);
        let passed = (0..1000).filter(|_| s.try_take(1, later)).count();
        assert_eq!(passed, 100);
    }

    #[test]
    fn bytes_or_records_whichever_is_tighter() {
        let t0 = Instant::now();
        let mut s = ShardLimit::new(1000, 1 << 20, t0);
        // 256 KiB records: four per second by bytes, although records would allow 1,000.
        let passed = (0..10).filter(|_| s.try_take(256 << 10, t0)).count();
        assert_eq!(passed, 4);
        assert_eq!(s.ready_in(256 << 10, t0), Duration::from_millis(250));
        let mut u = ShardLimit::new(0, 0, t0);
        assert!((0..100_000).all(|_| u.try_take(1 << 20, t0)));
        assert_eq!(u.ready_in(1 << 30, t0), Duration::ZERO);
    }

    #[test]
    fn a_record_over_a_second_of_budget_passes_when_the_bucket_is_full() {
        let t0 = Instant::now();
        let mut s = ShardLimit::new(1000, 100, t0);
        assert!(s.try_take(400, t0));
        // In debt by 300 bytes: full again after 4 s (300 to repay, 100 to refill).
        assert!(!s.try_take(400, t0));
        assert_eq!(s.ready_in(400, t0), Duration::from_secs(4));
        assert!(s.try_take(400, t0 + Duration::from_secs(4)));
    }
}
