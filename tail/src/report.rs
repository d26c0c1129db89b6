//! The `-v` per-shard stats line and the progress line: records read and how far the reader
//! is behind the tip of the stream, both from the counters each shard task keeps per page.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kds_common::progress::{Bar, Spec};
use kds_common::stats::{Reporter, Tick, View};

use crate::{StatsMap, TOOL};

/// Starts the reporter: the `-v` line every 5 s and, with `progress`, the progress line.
pub fn start(verbose: bool, progress: bool, stats: StatsMap) -> Reporter {
    let started = Instant::now();
    let bar = progress.then(|| {
        let spec = Spec {
            total: None,
            bytes: false,
        };
        Bar::new(TOOL, spec)
    });
    let for_bar = StatsMap::clone(&stats);
    let view = View {
        tick: Box::new(move || Tick {
            pos: 0,
            text: progress_text(&for_bar, started.elapsed()),
        }),
        line: per_shard_line(stats),
    };
    Reporter::with_view(TOOL, verbose, bar, Duration::from_secs(5), view)
}

/// `records 1200, 400/s, behind tip 1.5s`: the records read and the largest
/// MillisBehindLatest of the shards (the lag of the slowest one; see the Kinesis Data Streams
/// API reference, "GetRecords": "The number of milliseconds the GetRecords response is from
/// the tip of the stream").
fn progress_text(stats: &StatsMap, elapsed: Duration) -> String {
    let Ok(map) = stats.lock() else {
        return "statistics unavailable".to_string();
    };
    let records: u64 = map
        .values()
        .map(|st| st.records.load(Ordering::Relaxed))
        .sum();
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
    use std::sync::Arc;

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
            progress_text(&stats, Duration::from_secs(1)),
            "no shard read yet"
        );
        for (id, records, behind) in [("a", 10, 200), ("b", 30, 90_000)] {
            let st = ShardStats::default();
            st.records.store(records, Ordering::Relaxed);
            st.millis_behind.store(behind, Ordering::Relaxed);
            stats.lock().unwrap().insert(id.into(), Arc::new(st));
        }
        assert_eq!(
            progress_text(&stats, Duration::from_secs(4)),
            "records 40, 10/s, behind tip 1m30s"
        );
    }
}
