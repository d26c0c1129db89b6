//! Counters shared by the reader, the dispatcher and the senders, the summary line and the
//! progress line.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kds_common::io::LineReader;
use kds_common::progress::{self, Bar, Spec};
use kds_common::stats::{Reporter, Tick, View};

use crate::config::Config;

/// Starts the `-v` stats line (every 2 s) and, when wanted, the progress line: the input's
/// bytes read (with percent and ETA when every input is a regular file), the records delivered
/// and their rate. The bytes are counted by `reader` once per read block, the records once per
/// call: nothing per line.
pub fn reporter(
    config: &Config,
    stats: &Arc<Stats>,
    reader: &mut LineReader,
    started: Instant,
) -> Reporter {
    let read_bytes = config.progress.then(|| reader.count_bytes());
    let bar = config.progress.then(|| {
        let spec = Spec {
            total: progress::input_size(&config.inputs),
            bytes: true,
        };
        Bar::new("kds-put", spec)
    });
    let for_bar = Arc::clone(stats);
    let for_line = Arc::clone(stats);
    let view = View {
        tick: Box::new(move || Tick {
            pos: read_bytes.as_ref().map_or(0, |b| b.load(Relaxed)),
            text: for_bar.progress_text(started.elapsed()),
        }),
        line: Box::new(move || for_line.line(started.elapsed())),
    };
    Reporter::with_view("kds-put", config.verbose, bar, Duration::from_secs(2), view)
}

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

    /// `records 20000, 950/s` and `, dead letters 3` when there are any: what fits beside the bar.
    pub fn progress_text(&self, elapsed: Duration) -> String {
        let delivered = Stats::get(&self.delivered);
        let rate = kds_common::stats::rate(delivered, elapsed);
        match self.undelivered() {
            0 => format!("records {delivered}, {rate:.0}/s"),
            dead => format!("records {delivered}, {rate:.0}/s, dead letters {dead}"),
        }
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
    fn progress_text_counts_delivered_and_names_dead_letters_only_when_any() {
        let s = Stats::default();
        Stats::add(&s.delivered, 30);
        assert_eq!(s.progress_text(Duration::from_secs(3)), "records 30, 10/s");
        Stats::add(&s.failed, 2);
        assert_eq!(
            s.progress_text(Duration::from_secs(3)),
            "records 30, 10/s, dead letters 2"
        );
    }

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
