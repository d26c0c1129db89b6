//! The `-v` per-shard stats line and the progress line: records read and how far the reader
//! is behind the tip of the stream, both from the counters each shard task keeps per page.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kds_common::stats::Reporter;

use crate::{StatsMap, TOOL};

/// Starts the reporter: the `-v` line every 5 s and, with `progress`, the progress line.
/// `written` is the session's count of records written to the output (user records after
/// KPL de-aggregation), published once per page.
pub fn start(verbose: bool, progress: bool, stats: StatsMap, written: Arc<AtomicU64>) -> Reporter {
    let for_bar = StatsMap::clone(&stats);
    Reporter::with_status(
        TOOL,
        verbose,
        progress,
        Duration::from_secs(5),
        move |elapsed| progress_text(&for_bar, written.load(Ordering::Relaxed), elapsed),
        per_shard_line(stats),
    )
}

/// `records 1200, 400/s, behind tip 1.5s`: the records written (what `-n` and the summary
/// count: user records of de-aggregated KPL records, not Kinesis records) and the largest
/// MillisBehindLatest of the shards (the lag of the slowest one; see the Kinesis Data Streams
/// API reference, "GetRecords": "The number of milliseconds the GetRecords response is from
/// the tip of the stream").
fn progress_text(stats: &StatsMap, records: u64, elapsed: Duration) -> String {
    let Ok(map) = stats.lock() else {
        return "statistics unavailable".to_string();
    };
    let rate = kds_common::stats::rate(records, elapsed);
    let behind = map
        .values()
        .map(|st| st.millis_behind.load(Ordering::Relaxed))
        .max();
    match behind {
        Some(ms) => format!("records {records}, {rate:.0}/s, behind tip {}", lag(ms)),
        None => "no shard read yet".to_string(),
    }
}

/// `850ms`, `12.3s`, `4m05s`, `2h03m`: readable at a glance, as precise as a lag needs.
fn lag(ms: i64) -> String {
    let ms = ms.max(0);
    match ms {
        0..1_000 => format!("{ms}ms"),
        1_000..60_000 => format!("{:.1}s", ms as f64 / 1000.0),
        60_000..3_600_000 => format!("{}m{:02}s", ms / 60_000, ms % 60_000 / 1000),
        _ => format!("{}h{:02}m", ms / 3_600_000, ms % 3_600_000 / 60_000),
    }
}

/// Per shard: records per second since the previous line, lag, renewals, throttles, errors.
fn per_shard_line(stats: StatsMap) -> Box<dyn Fn() -> String + Send> {
    let previous: Mutex<(Instant, HashMap<String, u64>)> =
        Mutex::new((Instant::now(), HashMap::new()));
    Box::new(move || {
        let Ok(map) = stats.lock() else {
            return "statistics unavailable".to_string();
        };
        let Ok(mut prev) = previous.lock() else {
            return "statistics unavailable".to_string();
        };
        let secs = prev.0.elapsed().as_secs_f64().max(0.001);
        prev.0 = Instant::now();
        let mut parts = Vec::new();
        for (id, st) in map.iter() {
            let n = st.records.load(Ordering::Relaxed);
            let before = prev.1.insert(id.clone(), n).unwrap_or(0);
            parts.push(format!(
                "{id} {:.0} rec/s behind {}ms renewals {} throttles {} errors {}",
                (n - before) as f64 / secs,
                st.millis_behind.load(Ordering::Relaxed),
                st.renewals.load(Ordering::Relaxed),
                st.throttles.load(Ordering::Relaxed),
                st.errors.load(Ordering::Relaxed),
            ));
        }
        if parts.is_empty() {
            // Before the first ListShards answer (or when it keeps failing).
            return "no shard read yet".to_string();
        }
        parts.join("; ")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    use crate::reader::ShardStats;

    #[test]
    fn lag_reads_at_a_glance() {
        assert_eq!(lag(-5), "0ms");
        assert_eq!(lag(850), "850ms");
        assert_eq!(lag(12_340), "12.3s");
        assert_eq!(lag(245_000), "4m05s");
        assert_eq!(lag(7_380_000), "2h03m");
    }

    #[test]
    fn progress_shows_the_largest_lag_of_the_shards() {
        let stats: StatsMap = Arc::new(Mutex::new(BTreeMap::new()));
        assert_eq!(
            progress_text(&stats, 0, Duration::from_secs(1)),
            "no shard read yet"
        );
        for (id, behind) in [("a", 200), ("b", 90_000)] {
            let st = ShardStats::default();
            st.millis_behind.store(behind, Ordering::Relaxed);
            stats.lock().unwrap().insert(id.into(), Arc::new(st));
        }
        assert_eq!(
            progress_text(&stats, 40, Duration::from_secs(4)),
            "records 40, 10/s, behind tip 1m30s"
        );
    }

    #[test]
    fn progress_counts_records_written_not_kinesis_records_read() {
        let stats: StatsMap = Arc::new(Mutex::new(BTreeMap::new()));
        let st = ShardStats::default();
        // Two KPL aggregates read, holding ten user records written.
        st.records.store(2, Ordering::Relaxed);
        stats.lock().unwrap().insert("a".into(), Arc::new(st));
        let text = progress_text(&stats, 10, Duration::from_secs(1));
        assert!(text.starts_with("records 10, 10/s,"), "{text}");
    }
}
