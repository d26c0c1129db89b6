//! Per-shard write limits as token buckets: 1,000 records/s and 1 MiB/s by default.
//!
//! A batch reserves its records and bytes up front; the balance may go negative, and the
//! caller sleeps for the returned delay before sending. Reservations made in order are thus
//! served in order, and a batch bigger than one second's budget (a 5 MiB call) still passes,
//! at the average rate.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
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

    /// Takes `n` tokens; returns how long to wait before using them.
    pub fn reserve(&mut self, n: f64, now: Instant) -> Duration {
        if self.rate <= 0.0 {
            return Duration::ZERO;
        }
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = self.last.max(now);
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        self.tokens -= n;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
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

    pub fn reserve(&mut self, records: usize, bytes: usize, now: Instant) -> Duration {
        let a = self.records.reserve(records as f64, now);
        let b = self.bytes.reserve(bytes as f64, now);
        a.max(b)
    }
}

/// The limits of every shard, created on first use.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    records_per_sec: u64,
    bytes_per_sec: u64,
    shards: Arc<Mutex<HashMap<Arc<str>, ShardLimit>>>,
}

impl RateLimiter {
    pub fn new(records_per_sec: u64, bytes_per_sec: u64) -> RateLimiter {
        RateLimiter {
            records_per_sec,
            bytes_per_sec,
            shards: Arc::default(),
        }
    }

    /// Reserves budget on `shard`; returns the delay before sending.
    pub fn reserve(&self, shard: &Arc<str>, records: usize, bytes: usize) -> Duration {
        let now = Instant::now();
        let mut shards = self.shards.lock().unwrap_or_else(|p| p.into_inner());
        shards
            .entry(Arc::clone(shard))
            .or_insert_with(|| ShardLimit::new(self.records_per_sec, self.bytes_per_sec, now))
            .reserve(records, bytes, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bucket_passes_one_second_then_paces() {
        let t0 = Instant::now();
        let mut b = TokenBucket::per_second(1000, t0);
        assert_eq!(b.reserve(1000.0, t0), Duration::ZERO);
        // Empty now: 500 more wait half a second, then 500 more a full second.
        assert_eq!(b.reserve(500.0, t0), Duration::from_millis(500));
        assert_eq!(b.reserve(500.0, t0), Duration::from_secs(1));
        // Time passing refills.
        let later = t0 + Duration::from_secs(2);
        assert_eq!(b.reserve(0.0, later), Duration::ZERO);
    }

    #[test]
    fn refill_is_capped_at_capacity() {
        let t0 = Instant::now();
        let mut b = TokenBucket::per_second(100, t0);
        let later = t0 + Duration::from_secs(60);
        assert_eq!(b.reserve(100.0, later), Duration::ZERO);
        assert!(b.reserve(100.0, later) >= Duration::from_millis(999));
    }

    #[test]
    fn bytes_or_records_whichever_is_tighter() {
        let t0 = Instant::now();
        let mut s = ShardLimit::new(1000, 1 << 20, t0);
        // 10 records of 5 MiB total: records fine, bytes need 4 more seconds.
        let d = s.reserve(10, 5 << 20, t0);
        assert_eq!(d, Duration::from_secs(4));
        let mut u = ShardLimit::new(0, 0, t0);
        assert_eq!(u.reserve(1_000_000, 1 << 30, t0), Duration::ZERO);
    }
}
