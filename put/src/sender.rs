//! The service: one PutRecords attempt per call. Delivered entries go to reporting
//! (`report.rs`: receipts, stats, their bytes back to the budget), entries that cannot succeed
//! are dead-lettered, and the retryable rest is handed back to the collector with the backoff
//! to wait (`collect.rs` re-packs them; attempts are kds-put's own, the SDK's are off).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_kinesis::operation::put_records::PutRecordsOutput;
use kds_aws::kinesis::KinesisApi;
use kds_aws::retry::{describe, entry_is_retryable, Backoff, ErrorClass, Failure};
use kds_common::rng::Rng;

use crate::batch::Entry;
use crate::budget::ByteBudget;
use crate::report::{dead_letter, delivered, Failed, Sink};
use crate::request::request_entries;
use crate::stats::Stats;

/// Everything the senders share.
pub struct Ctx {
    pub client: Arc<dyn KinesisApi>,
    pub stream: String,
    pub max_retries: u32,
    pub backoff: Backoff,
    pub stats: Arc<Stats>,
    pub sink: Sink,
    /// The bytes in flight: given back as records are acknowledged or dead-lettered.
    pub budget: Arc<ByteBudget>,
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
    /// The shards that acknowledged entries, each once: one the shard map does not know
    /// means the stream was resharded.
    pub shards: Vec<String>,
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
    count_attempt(&ctx, &mut entries);
    let request = match request_entries(&entries) {
        Ok(r) => r,
        Err(msg) => {
            ctx.set_fatal(format!("cannot build PutRecords request: {msg}"));
            dead_letter(&ctx, Failed::all(entries, "ClientError".into(), msg));
            return finish(&ctx, slots, Failed::default(), Vec::new(), &mut rng);
        }
    };
    let (retry, shards) = match ctx.client.put_records(&ctx.stream, request).await {
        Ok(out) if out.records().len() == entries.len() => per_entry(&ctx, entries, &out),
        Ok(out) => {
            let msg = format!(
                "PutRecords answered {} results for {} entries",
                out.records().len(),
                entries.len()
            );
            (Failed::all(entries, "BadResponse".into(), msg), Vec::new())
        }
        Err(err) => (whole_call_failed(&ctx, entries, describe(&err)), Vec::new()),
    };
    finish(&ctx, slots, retry, shards, &mut rng)
}

/// Counts the attempt in the stats (a call carrying resent entries is a retry).
fn count_attempt(ctx: &Ctx, entries: &mut [Entry]) {
    let mut resent = 0u64;
    for e in entries.iter_mut() {
        resent += u64::from(e.attempts > 0);
        e.attempts += 1;
    }
    Stats::add(&ctx.stats.calls, 1);
    Stats::add(&ctx.stats.kinesis_records, entries.len() as u64);
    if resent > 0 {
        Stats::add(&ctx.stats.retries, 1);
        Stats::add(&ctx.stats.resent, resent);
    }
}

/// Sorts a full answer: delivered entries to reporting, failed ones to retry or to dead
/// letters by their code. Returns the retryable ones and the shards that acknowledged.
fn per_entry(ctx: &Ctx, entries: Vec<Entry>, out: &PutRecordsOutput) -> (Failed, Vec<String>) {
    let mut receipts = Vec::new();
    let mut retry = Failed::default();
    let mut failed = Failed::default();
    let mut shards: Vec<String> = Vec::new();
    let mut acked = 0;
    for (entry, res) in entries.into_iter().zip(out.records()) {
        match (res.error_code(), res.shard_id(), res.sequence_number()) {
            (None, Some(shard_id), Some(seq)) => {
                acked += delivered(ctx, &entry, shard_id, seq, &mut receipts);
                if !shards.iter().any(|s| s == shard_id) {
                    shards.push(shard_id.to_string());
                }
            }
            (code, _, _) => {
                let code = code.unwrap_or("InternalFailure").to_string();
                let msg = res.error_message().unwrap_or_default().to_string();
                if entry_is_retryable(&code) {
                    retry.push(entry, code, msg);
                } else {
                    failed.push(entry, code, msg);
                }
            }
        }
    }
    ctx.sink.write_receipts(&receipts);
    ctx.budget.give(acked);
    dead_letter(ctx, failed);
    (retry, shards)
}

/// A call that failed as a whole: what may be retried comes back, the rest is dead-lettered.
fn whole_call_failed(ctx: &Ctx, entries: Vec<Entry>, failure: Failure) -> Failed {
    let Failure {
        class,
        code,
        message,
        ..
    } = failure;
    match class {
        // Throttling, 5xx, connection reset, timeout: back off, resend the whole batch.
        ErrorClass::Throttled | ErrorClass::Transient => Failed::all(entries, code, message),
        // Rejected: the batch cannot succeed (e.g. InvalidArgument): dead-letter its entries.
        // Fatal: nothing else can succeed either (stream deleted, access denied): dead-letter
        // the batch and stop reading.
        ErrorClass::Rejected | ErrorClass::Fatal => {
            if class == ErrorClass::Fatal {
                ctx.set_fatal(format!(
                    "PutRecords on stream '{}' failed: {code}: {message}",
                    ctx.stream
                ));
            }
            dead_letter(ctx, Failed::all(entries, code, message));
            Failed::default()
        }
    }
}

/// Splits failed entries into those with attempts left (back to the collector) and those
/// without (dead letters, with their last error).
fn finish(
    ctx: &Ctx,
    slots: Vec<usize>,
    failed: Failed,
    shards: Vec<String>,
    rng: &mut Rng,
) -> Outcome {
    let fatal = ctx.is_fatal();
    let mut retry = Vec::new();
    let mut out_of_attempts = Failed::default();
    for (e, (code, msg)) in failed.entries.into_iter().zip(failed.errors) {
        if fatal || e.attempts > ctx.max_retries {
            out_of_attempts.push(e, code, msg);
        } else {
            retry.push(e);
        }
    }
    dead_letter(ctx, out_of_attempts);
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
        shards,
    }
}

#[cfg(test)]
pub(crate) mod fake_tests;
