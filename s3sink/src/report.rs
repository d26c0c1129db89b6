//! The `-v` stats line and the progress line, read from the counters the sink keeps per
//! batch of input and per object: records read, objects and bytes written to S3.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kds_common::progress::HumanBytes;
use kds_common::stats::Reporter;

use crate::outcome::Stats;

const TOOL: &str = "kds-s3sink";

/// Starts the reporter: the `-v` line every 2 s and, with `progress`, the progress line.
pub fn start(
    verbose: bool,
    progress: bool,
    stats: &Arc<Stats>,
    retries: &Arc<AtomicU64>,
) -> Reporter {
    let for_bar = Arc::clone(stats);
    let for_line = Arc::clone(stats);
    let retries = Arc::clone(retries);
    Reporter::with_status(
        TOOL,
        verbose,
        progress,
        Duration::from_secs(2),
        move |elapsed| progress_text(&for_bar, elapsed),
        move || stats_line(&for_line, &retries),
    )
}

/// `records 2000, 650/s, objects 3 (1.20 MiB)`: records read, objects delivered and their bytes.
fn progress_text(stats: &Stats, elapsed: Duration) -> String {
    let records = stats.records.load(Ordering::Relaxed);
    format!(
        "records {records}, {:.0}/s, objects {} ({})",
        kds_common::stats::rate(records, elapsed),
        stats.objects.load(Ordering::Relaxed),
        HumanBytes(stats.bytes_out.load(Ordering::Relaxed)),
    )
}

fn stats_line(stats: &Stats, retries: &AtomicU64) -> String {
    format!(
        "{} records read, {} objects ({} records, {} bytes) written, {} retries, {} records spilled",
        stats.records.load(Ordering::Relaxed),
        stats.objects.load(Ordering::Relaxed),
        stats.records_out.load(Ordering::Relaxed),
        stats.bytes_out.load(Ordering::Relaxed),
        retries.load(Ordering::Relaxed),
        stats.spilled_records.load(Ordering::Relaxed),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_counts_records_objects_and_bytes() {
        let stats = Stats::default();
        stats.records.store(2000, Ordering::Relaxed);
        stats.objects.store(3, Ordering::Relaxed);
        stats
            .bytes_out
            .store(3 * 1024 * 1024 / 2, Ordering::Relaxed);
        assert_eq!(
            progress_text(&stats, Duration::from_secs(4)),
            "records 2000, 500/s, objects 3 (1.50 MiB)"
        );
    }
}
