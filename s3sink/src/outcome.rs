//! What became of each object, counted and reported: one NDJSON receipt on stdout per
//! delivered object, a line on stderr for what could not be delivered.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use kds_common::io::Output;
use tokio::sync::mpsc;

/// Failures reported one by one on stderr before only counting.
pub const REPORTED_BAD_LINES: u64 = 5;

#[derive(Default)]
pub struct Stats {
    pub lines: AtomicU64,
    pub records: AtomicU64,
    pub error_records: AtomicU64,
    pub objects: AtomicU64,
    pub records_out: AtomicU64,
    pub bytes_out: AtomicU64,
    pub spilled_objects: AtomicU64,
    pub spilled_records: AtomicU64,
    pub lost_records: AtomicU64,
    /// Objects of earlier runs' spill directory delivered by this run ...
    pub resent_objects: AtomicU64,
    /// ... and those still there.
    pub unsent_objects: AtomicU64,
}

/// What became of one object.
pub enum Outcome {
    Delivered {
        key: String,
        records: u64,
        bytes: usize,
    },
    Spilled {
        key: String,
        records: u64,
        path: PathBuf,
        error: String,
    },
    Lost {
        key: String,
        records: u64,
        error: String,
    },
    /// A spilled object delivered (its file removed). Its record count is not known: records
    /// are not delimited in an object.
    Resent { key: String, bytes: usize },
    /// A spilled object still in the spill directory.
    NotResent { path: PathBuf, error: String },
}

/// Prints one NDJSON line per delivered object (flushed each time) and counts the rest.
pub async fn print_outcomes(
    mut rx: mpsc::UnboundedReceiver<Outcome>,
    mut out: Output,
    bucket: String,
    stats: Arc<Stats>,
) -> std::io::Result<()> {
    let mut write_error: Option<std::io::Error> = None;
    while let Some(outcome) = rx.recv().await {
        let Some(line) = account(outcome, &bucket, &stats) else {
            continue;
        };
        if write_error.is_some() {
            continue;
        }
        if let Err(e) = out.write_all(&line).and_then(|()| out.flush()) {
            // Keep delivering: the data matters more than the receipts.
            write_error = Some(e);
        }
    }
    match write_error {
        Some(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e),
        _ => Ok(()),
    }
}

/// Counts one outcome, reports failures on stderr, and returns the receipt to print.
fn account(outcome: Outcome, bucket: &str, stats: &Stats) -> Option<Vec<u8>> {
    match outcome {
        Outcome::Delivered {
            key,
            records,
            bytes,
        } => {
            stats.objects.fetch_add(1, Ordering::Relaxed);
            stats.records_out.fetch_add(records, Ordering::Relaxed);
            stats.bytes_out.fetch_add(bytes as u64, Ordering::Relaxed);
            Some(receipt(
                bucket,
                &key,
                &format!(",\"records\":{records},\"bytes\":{bytes}"),
            ))
        }
        Outcome::Resent { key, bytes } => {
            stats.resent_objects.fetch_add(1, Ordering::Relaxed);
            stats.bytes_out.fetch_add(bytes as u64, Ordering::Relaxed);
            Some(receipt(
                bucket,
                &key,
                &format!(",\"bytes\":{bytes},\"resent\":true"),
            ))
        }
        Outcome::Spilled {
            key,
            records,
            path,
            error,
        } => {
            let n = stats.spilled_objects.fetch_add(1, Ordering::Relaxed);
            stats.spilled_records.fetch_add(records, Ordering::Relaxed);
            if n < REPORTED_BAD_LINES {
                kds_common::diag!(
                    "kds-s3sink: could not deliver {key} ({records} records): {error}; written to {}",
                    path.display()
                );
            }
            None
        }
        Outcome::Lost {
            key,
            records,
            error,
        } => {
            stats.lost_records.fetch_add(records, Ordering::Relaxed);
            kds_common::diag!(
                "kds-s3sink: could not deliver or spill {key} ({records} records): {error}"
            );
            None
        }
        Outcome::NotResent { path, error } => {
            let n = stats.unsent_objects.fetch_add(1, Ordering::Relaxed);
            if n < REPORTED_BAD_LINES {
                kds_common::diag!(
                    "kds-s3sink: could not re-send spilled {}: {error}; it stays there",
                    path.display()
                );
            }
            None
        }
    }
}

/// `{"bucket":..,"key":..<rest>}\n`
fn receipt(bucket: &str, key: &str, rest: &str) -> Vec<u8> {
    let mut line = Vec::with_capacity(128 + key.len());
    line.extend_from_slice(b"{\"bucket\":");
    kds_common::json::write_json_string(&mut line, bucket);
    line.extend_from_slice(b",\"key\":");
    kds_common::json::write_json_string(&mut line, key);
    line.extend_from_slice(rest.as_bytes());
    line.extend_from_slice(b"}\n");
    line
}
