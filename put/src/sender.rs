//! Sending batches: one worker task per shard (rate limit, `--ordered`), PutRecords calls
//! bounded by `--concurrency`, retries of failed entries only, receipts and dead letters.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use kds_common::io::Output;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use crate::batch::{Batch, Entry, Origin};
use crate::dead_letter::{write_dead_letter, DeadLetter};
use crate::rate::RateLimiter;
use crate::receipt::write_receipt;
use crate::retry::{classify_call_error, entry_error_is_retryable, Backoff, CallVerdict};
use crate::shard_map::ShardMap;
use crate::stats::Stats;
use kds_common::rng::Rng;

/// How many per-line problems of each kind are printed on stderr before only counting.
pub const MAX_REPORTED: u64 = 5;

/// Where results go: receipts on stdout, dead letters to a file, first problems on stderr.
pub struct Sink {
    receipts: Option<Mutex<Output>>,
    dead_letters: Option<Mutex<Output>>,
    reported_bad: AtomicU64,
    reported_failed: AtomicU64,
    write_error: Mutex<Option<io::Error>>,
    broken: AtomicBool,
}

impl Sink {
    pub fn new(receipts: Option<Output>, dead_letters: Option<Output>) -> Sink {
        Sink {
            receipts: receipts.map(Mutex::new),
            dead_letters: dead_letters.map(Mutex::new),
            reported_bad: AtomicU64::new(0),
            reported_failed: AtomicU64::new(0),
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
        if self.reported_bad.fetch_add(1, Ordering::Relaxed) < MAX_REPORTED {
            kds_common::diag!("kds-put: line {line}: {message}");
        }
    }

    /// Prints the first few delivery failures.
    pub fn report_failure(&self, line: u64, attempts: u32, code: &str, message: &str) {
        if self.reported_failed.fetch_add(1, Ordering::Relaxed) < MAX_REPORTED {
            kds_common::diag!(
                "kds-put: line {line}: not delivered after {attempts} attempt{}: {code}: {message}",
                if attempts == 1 { "" } else { "s" }
            );
        }
    }

    /// Counts of problems that were not printed: (bad lines, failures).
    pub fn unreported(&self) -> (u64, u64) {
        let left = |c: &AtomicU64| c.load(Ordering::Relaxed).saturating_sub(MAX_REPORTED);
        (left(&self.reported_bad), left(&self.reported_failed))
    }
}

/// Everything the senders share.
pub struct Ctx {
    pub client: aws_sdk_kinesis::Client,
    pub stream: String,
    pub ordered: bool,
    pub concurrency: usize,
    pub max_retries: u32,
    pub backoff: Backoff,
    pub limiter: RateLimiter,
    pub permits: Arc<Semaphore>,
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

    fn set_fatal(&self, msg: String) {
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

/// Sends the batches of one shard, in the order they arrive.
pub async fn shard_worker(ctx: Arc<Ctx>, mut rx: mpsc::Receiver<Batch>) {
    let mut tasks = JoinSet::new();
    let mut rng = Rng::from_entropy();
    while let Some(batch) = rx.recv().await {
        let wait = ctx
            .limiter
            .reserve(&batch.shard, batch.entries.len(), batch.bytes);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        if ctx.ordered {
            // One batch (and its retries) in flight for this shard.
            let Ok(permit) = Arc::clone(&ctx.permits).acquire_owned().await else {
                return;
            };
            send_batch(&ctx, batch, permit, &mut rng).await;
        } else {
            // Bound the batches held by this shard, including those backing off.
            while tasks.len() >= ctx.concurrency * 2 {
                let _ = tasks.join_next().await;
            }
            let Ok(permit) = Arc::clone(&ctx.permits).acquire_owned().await else {
                return;
            };
            let ctx = Arc::clone(&ctx);
            let mut rng = Rng::seeded(rng.next_u64());
            tasks.spawn(async move { send_batch(&ctx, batch, permit, &mut rng).await });
            while tasks.try_join_next().is_some() {}
        }
    }
    while tasks.join_next().await.is_some() {}
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

/// Sends one batch until every entry is delivered or out of attempts. Only the entries that
/// failed are resent; the permit is released while backing off.
pub async fn send_batch(ctx: &Ctx, batch: Batch, permit: OwnedSemaphorePermit, rng: &mut Rng) {
    let shard = batch.shard;
    let mut pending: Vec<Entry> = batch.entries;
    // The last error of each pending entry, for its dead letter.
    let mut errors: Vec<(String, String)>;
    let mut permit = Some(permit);
    let mut attempt: u32 = 0;
    loop {
        attempt += 1;
        let held = match permit.take() {
            Some(p) => p,
            None => match Arc::clone(&ctx.permits).acquire_owned().await {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        for e in &mut pending {
            e.attempts += 1;
        }
        Stats::add(&ctx.stats.calls, 1);
        Stats::add(&ctx.stats.kinesis_records, pending.len() as u64);
        if attempt > 1 {
            Stats::add(&ctx.stats.retries, 1);
            Stats::add(&ctx.stats.resent, pending.len() as u64);
        }
        let request = match request_entries(&pending) {
            Ok(r) => r,
            Err(msg) => {
                let n = pending.len();
                dead_letter(ctx, pending, vec![("ClientError".into(), msg.clone()); n]);
                ctx.set_fatal(format!("cannot build PutRecords request: {msg}"));
                return;
            }
        };
        let result = ctx
            .client
            .put_records()
            .stream_name(&ctx.stream)
            .set_records(Some(request))
            .send()
            .await;
        drop(held);
        match result {
            Ok(out) if out.records().len() == pending.len() => {
                let mut receipts = Vec::new();
                let mut retry = Vec::new();
                let mut retry_errors = Vec::new();
                let mut failed = Vec::new();
                let mut failed_errors = Vec::new();
                for (entry, res) in pending.into_iter().zip(out.records()) {
                    match (res.error_code(), res.shard_id(), res.sequence_number()) {
                        (None, Some(shard_id), Some(seq)) => {
                            delivered(ctx, &entry, shard_id, seq, &mut receipts);
                        }
                        (code, _, _) => {
                            let code = code.unwrap_or("InternalFailure").to_string();
                            let msg = res.error_message().unwrap_or_default().to_string();
                            if entry_error_is_retryable(&code) {
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
                dead_letter(ctx, failed, failed_errors);
                pending = retry;
                errors = retry_errors;
            }
            Ok(out) => {
                let msg = format!(
                    "PutRecords answered {} results for {} entries",
                    out.records().len(),
                    pending.len()
                );
                errors = vec![("BadResponse".into(), msg); pending.len()];
            }
            Err(err) => match classify_call_error(&err) {
                CallVerdict::Retry { code, message } => {
                    errors = vec![(code, message); pending.len()];
                }
                CallVerdict::Fail { code, message } => {
                    let n = pending.len();
                    dead_letter(ctx, pending, vec![(code, message); n]);
                    return;
                }
                CallVerdict::Fatal { code, message } => {
                    let n = pending.len();
                    ctx.set_fatal(format!(
                        "PutRecords on stream '{}' failed: {code}: {message}",
                        ctx.stream
                    ));
                    dead_letter(ctx, pending, vec![(code, message); n]);
                    return;
                }
            },
        }
        if pending.is_empty() {
            return;
        }
        if attempt > ctx.max_retries || ctx.is_fatal() {
            dead_letter(ctx, pending, errors);
            return;
        }
        tokio::time::sleep(ctx.backoff.delay(attempt, rng)).await;
        let bytes = pending.iter().map(Entry::size).sum();
        let wait = ctx.limiter.reserve(&shard, pending.len(), bytes);
        if wait > Duration::ZERO {
            tokio::time::sleep(wait).await;
        }
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
