//! Counters shared by the reader, the dispatcher and the senders, and the summary line.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

#[derive(Debug, Default)]
pub struct Stats {
    /// Input lines read.
    pub read: AtomicU64,
    /// Input lines delivered to Kinesis.
    pub delivered: AtomicU64,
    /// Data bytes of the delivered lines.
    pub bytes: AtomicU64,
    /// PutRecords calls made (every attempt counts).
    pub calls: AtomicU64,
    /// Calls that carried resent records (failed before, re-packed with others).
    pub retries: AtomicU64,
    /// Kinesis records sent again in those retries.
    pub resent: AtomicU64,
    /// Lines refused before sending (bad JSON, missing key, too large).
    pub bad_lines: AtomicU64,
    /// Lines that failed delivery after all attempts.
    pub failed: AtomicU64,
    /// Kinesis records sent (aggregates count once).
    pub kinesis_records: AtomicU64,
}

fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

impl Stats {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Relaxed)
    }

    /// Lines not delivered: refused or failed.
    pub fn undelivered(&self) -> u64 {
        Stats::get(&self.bad_lines) + Stats::get(&self.failed)
    }

    /// `records 20000 (2.6 MiB), calls 45, retries 3 (120 resent), dead letters 0, 950 records/s`
    pub fn line(&self, elapsed: Duration) -> String {
        let delivered = Stats::get(&self.delivered);
        format!(
            "records {} of {} read ({}), calls {}, retries {} ({} resent), dead letters {} ({} bad lines), {:.0} records/s in {:.1}s",
            delivered,
            Stats::get(&self.read),
            human_bytes(Stats::get(&self.bytes)),
            Stats::get(&self.calls),
            Stats::get(&self.retries),
            Stats::get(&self.resent),
            self.undelivered(),
            Stats::get(&self.bad_lines),
            kds_common::stats::rate(delivered, elapsed),
            elapsed.as_secs_f64(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_names_every_counter() {
        let s = Stats::default();
        Stats::add(&s.read, 10);
        Stats::add(&s.delivered, 8);
        Stats::add(&s.bytes, 2048);
        Stats::add(&s.calls, 3);
        Stats::add(&s.retries, 2);
        Stats::add(&s.resent, 5);
        Stats::add(&s.bad_lines, 1);
        Stats::add(&s.failed, 1);
        assert_eq!(
            s.line(Duration::from_secs(2)),
            "records 8 of 10 read (2.0 KiB), calls 3, retries 2 (5 resent), dead letters 2 (1 bad lines), 4 records/s in 2.0s"
        );
    }
}
