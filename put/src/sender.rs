//! Sending one PutRecords call (one attempt): receipts and stats for the delivered entries,
//! dead letters for those that cannot succeed, and the retryable rest handed back to the
//! collector with the backoff to wait (`collect.rs` re-packs them).

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use kds_aws::kinesis::KinesisApi;
use kds_aws::retry::{describe, entry_is_retryable, Backoff, ErrorClass, Failure};
use kds_common::first_few::FirstFew;
use kds_common::io::Output;

use crate::batch::{Entry, Origin};
use crate::dead_letter::{write_dead_letter, DeadLetter};
use crate::receipt::write_receipt;
use crate::shard_map::ShardMap;
use crate::stats::Stats;
use kds_common::rng::Rng;

/// Where results go: receipts on stdout, dead letters to a file, first problems on stderr.
pub struct Sink {
    receipts: Option<Mutex<Output>>,
    dead_letters: Option<Mutex<Output>>,
    reported_bad: FirstFew,
    reported_failed: FirstFew,
    write_error: Mutex<Option<io::Error>>,
    broken: AtomicBool,
}

impl Sink {
    pub fn new(receipts: Option<Output>, dead_letters: Option<Output>) -> Sink {
        Sink {
            receipts: receipts.map(Mutex::new),
            dead_letters: dead_letters.map(Mutex::new),
            reported_bad: FirstFew::new(),
            reported_failed: FirstFew::new(),
            write_error: Mutex::new(None),
            broken: AtomicBool::new(false),
        }
    }

    fn write(&self, out: &Mutex<Output>, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let mut out = out.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = out.write_all(bytes).and_then(|()| out.flush()) {
            self.broken.store(true, Ordering::Relaxed);
            let mut slot = self.write_error.lock().unwrap_or_else(|p| p.into_inner());
            slot.get_or_insert(e);
        }
    }

    /// True once a write failed (stdout closed, disk full): reading stops.
    pub fn is_broken(&self) -> bool {
        self.broken.load(Ordering::Relaxed)
    }

    /// The first write error (stdout closed, disk full).
    pub fn take_error(&self) -> Option<io::Error> {
        self.write_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    pub fn write_receipts(&self, bytes: &[u8]) {
        if let Some(out) = &self.receipts {
            self.write(out, bytes);
        }
    }

    pub fn wants_receipts(&self) -> bool {
        self.receipts.is_some()
    }

    /// Records dead letters (already formatted) and prints the first few problems.
    pub fn write_dead_letters(&self, bytes: &[u8]) {
        if let Some(out) = &self.dead_letters {
            self.write(out, bytes);
        }
    }

    /// Prints `kds-put: line N: message` for the first few bad lines.
    pub fn report_bad_line(&self, line: u64, message: &str) {
        if self.reported_bad.next().is_some() {
            kds_common::diag!("kds-put: line {line}: {message}");
        }
    }

    /// Prints the first few delivery failures.
    pub fn report_failure(&self, line: u64, attempts: u32, code: &str, message: &str) {
        if self.reported_failed.next().is_some() {
            kds_common::diag!(
                "kds-put: line {line}: not delivered after {attempts} attempt{}: {code}: {message}",
                if attempts == 1 { "" } else { "s" }
            );
        }
    }

    /// Counts of problems that were not printed: (bad lines, failures).
    pub fn unreported(&self) -> (u64, u64) {
        (self.reported_bad.unshown(), self.reported_failed.unshown())
    }
}

/// Everything the senders share.
pub struct Ctx {
    pub client: Arc<dyn KinesisApi>,
    pub stream: String,
    pub max_retries: u32,
    pub backoff: Backoff,
    pub stats: Arc<Stats>,
    pub sink: Sink,
    pub shard_map: RwLock<Arc<ShardMap>>,
    /// Set when a result names a shard the map does not know: the dispatcher re-lists.
    pub refresh_shards: AtomicBool,
    /// A fatal error (stream deleted, access denied): stop reading, fail the run.
    pub fatal: Mutex<Option<String>>,
}

impl Ctx {
    pub fn is_fatal(&self) -> bool {
        self.fatal.lock().map(|f| f.is_some()).unwrap_or(true)
    }

    /// Reading should stop: a fatal error, or an output that can no longer be written.
    pub fn should_stop(&self) -> bool {
        self.is_fatal() || self.sink.is_broken()
    }

    pub fn set_fatal(&self, msg: String) {
        let mut f = self.fatal.lock().unwrap_or_else(|p| p.into_inner());
        f.get_or_insert(msg);
    }

    fn knows_shard(&self, id: &str) -> bool {
        self.shard_map
            .read()
            .map(|m| m.contains(id))
            .unwrap_or(true)
    }
}

/// What a call leaves for the collector.
#[derive(Debug)]
pub struct Outcome {
    /// The collector slots the call held (`--ordered` releases them).
    pub slots: Vec<usize>,
    /// Entries to send again, in their order.
    pub retry: Vec<Entry>,
    /// How long they back off first.
    pub delay: Duration,
}

fn request_entries(pending: &[Entry]) -> Result<Vec<PutRecordsRequestEntry>, String> {
    pending
        .iter()
        .map(|e| {
            PutRecordsRequestEntry::builder()
                .data(Blob::new(e.data.clone()))
                .partition_key(&e.partition_key)
                .set_explicit_hash_key(e.explicit_hash_key.clone())
                .build()
                .map_err(|err| err.to_string())
        })
        .collect()
}

/// Makes one PutRecords attempt with `entries` (of any shards). Delivered entries get their
/// receipts; entries that failed with a retryable error and have attempts left come back in
/// the [`Outcome`]; the others are dead-lettered.
pub async fn send_call(
    ctx: Arc<Ctx>,
    mut entries: Vec<Entry>,
    slots: Vec<usize>,
    mut rng: Rng,
) -> Outcome {
    let mut resent = 0u64;
    for e in &mut entries {
        resent += u64::from(e.attempts > 0);
        e.attempts += 1;
    }
    Stats::add(&ctx.stats.calls, 1);
    Stats::add(&ctx.stats.kinesis_records, entries.len() as u64);
    if resent > 0 {
        Stats::add(&ctx.stats.retries, 1);
        Stats::add(&ctx.stats.resent, resent);
    }
    let request = match request_entries(&entries) {
        Ok(r) => r,
        Err(msg) => {
            let n = entries.len();
            ctx.set_fatal(format!("cannot build PutRecords request: {msg}"));
            dead_letter(&ctx, entries, vec![("ClientError".into(), msg); n]);
            return finish(&ctx, slots, Vec::new(), Vec::new(), &mut rng);
        }
    };
    let result = ctx.client.put_records(&ctx.stream, request).await;
    match result {
        Ok(out) if out.records().len() == entries.len() => {
            let mut receipts = Vec::new();
            let mut retry = Vec::new();
            let mut retry_errors = Vec::new();
            let mut failed = Vec::new();
            let mut failed_errors = Vec::new();
            for (entry, res) in entries.into_iter().zip(out.records()) {
                match (res.error_code(), res.shard_id(), res.sequence_number()) {
                    (None, Some(shard_id), Some(seq)) => {
                        delivered(&ctx, &entry, shard_id, seq, &mut receipts);
                    }
                    (code, _, _) => {
                        let code = code.unwrap_or("InternalFailure").to_string();
                        let msg = res.error_message().unwrap_or_default().to_string();
                        if entry_is_retryable(&code) {
                            retry.push(entry);
                            retry_errors.push((code, msg));
                        } else {
                            failed.push(entry);
                            failed_errors.push((code, msg));
                        }
                    }
                }
            }
            ctx.sink.write_receipts(&receipts);
            dead_letter(&ctx, failed, failed_errors);
            finish(&ctx, slots, retry, retry_errors, &mut rng)
        }
        Ok(out) => {
            let msg = format!(
                "PutRecords answered {} results for {} entries",
                out.records().len(),
                entries.len()
            );
            let n = entries.len();
            finish(
                &ctx,
                slots,
                entries,
                vec![("BadResponse".into(), msg); n],
                &mut rng,
            )
        }
        Err(err) => {
            let Failure {
                class,
                code,
                message,
            } = describe(&err);
            let n = entries.len();
            match class {
                // Throttling, 5xx, connection reset, timeout: back off, resend the whole batch.
                ErrorClass::Throttled | ErrorClass::Transient => {
                    finish(&ctx, slots, entries, vec![(code, message); n], &mut rng)
                }
                // The batch cannot succeed (e.g. InvalidArgument): dead-letter its entries.
                ErrorClass::Rejected => {
                    dead_letter(&ctx, entries, vec![(code, message); n]);
                    finish(&ctx, slots, Vec::new(), Vec::new(), &mut rng)
                }
                // Nothing else can succeed either (stream deleted, access denied): dead-letter
                // the batch and stop reading.
                ErrorClass::Fatal => {
                    ctx.set_fatal(format!(
                        "PutRecords on stream '{}' failed: {code}: {message}",
                        ctx.stream
                    ));
                    dead_letter(&ctx, entries, vec![(code, message); n]);
                    finish(&ctx, slots, Vec::new(), Vec::new(), &mut rng)
                }
            }
        }
    }
}

/// Splits failed entries into those with attempts left (back to the collector) and those
/// without (dead letters, with their last error).
fn finish(
    ctx: &Ctx,
    slots: Vec<usize>,
    failed: Vec<Entry>,
    errors: Vec<(String, String)>,
    rng: &mut Rng,
) -> Outcome {
    let fatal = ctx.is_fatal();
    let mut retry = Vec::new();
    let mut out_of_attempts = Vec::new();
    let mut last_errors = Vec::new();
    for (e, err) in failed.into_iter().zip(errors) {
        if fatal || e.attempts > ctx.max_retries {
            out_of_attempts.push(e);
            last_errors.push(err);
        } else {
            retry.push(e);
        }
    }
    dead_letter(ctx, out_of_attempts, last_errors);
    let attempts = retry.iter().map(|e| e.attempts).max().unwrap_or(0);
    let delay = if retry.is_empty() {
        Duration::ZERO
    } else {
        ctx.backoff.delay(attempts, rng)
    };
    Outcome {
        slots,
        retry,
        delay,
    }
}

fn delivered(ctx: &Ctx, entry: &Entry, shard_id: &str, seq: &str, receipts: &mut Vec<u8>) {
    if !ctx.knows_shard(shard_id) {
        ctx.refresh_shards.store(true, Ordering::Relaxed);
    }
    match &entry.origin {
        Origin::Line(line) => {
            Stats::add(&ctx.stats.delivered, 1);
            Stats::add(&ctx.stats.bytes, entry.data.len() as u64);
            if ctx.sink.wants_receipts() {
                write_receipt(receipts, *line, shard_id, seq, None);
            }
        }
        Origin::Aggregate(recs) => {
            Stats::add(&ctx.stats.delivered, recs.len() as u64);
            Stats::add(
                &ctx.stats.bytes,
                recs.iter().map(|r| r.data.len() as u64).sum(),
            );
            if ctx.sink.wants_receipts() {
                for (i, r) in recs.iter().enumerate() {
                    write_receipt(receipts, r.line, shard_id, seq, Some(i));
                }
            }
        }
    }
}

/// Dead-letters entries (every user record of an aggregate) with their last errors.
fn dead_letter(ctx: &Ctx, entries: Vec<Entry>, errors: Vec<(String, String)>) {
    if entries.is_empty() {
        return;
    }
    let mut out = Vec::new();
    for (e, (code, msg)) in entries.iter().zip(&errors) {
        let mut one = |line: u64, data: &[u8], key: &str| {
            Stats::add(&ctx.stats.failed, 1);
            ctx.sink.report_failure(line, e.attempts, code, msg);
            write_dead_letter(
                &mut out,
                &DeadLetter {
                    data,
                    partition_key: Some(key),
                    error_code: code,
                    error_message: msg,
                    attempts: e.attempts,
                    line,
                },
            );
        };
        match &e.origin {
            Origin::Line(line) => one(*line, &e.data, &e.partition_key),
            Origin::Aggregate(recs) => {
                for r in recs {
                    one(r.line, &r.data, &r.partition_key);
                }
            }
        }
    }
    ctx.sink.write_dead_letters(&out);
}

#[cfg(test)]
mod fake_tests;
