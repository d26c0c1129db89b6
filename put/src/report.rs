//! Reporting: receipts for what Kinesis acknowledged, dead letters for what cannot be
//! delivered, the first problems on stderr, and the run's exit status. Every record that ends
//! here gives its bytes back to the in-flight budget (`budget.rs`).

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use kds_common::exit::Exit;
use kds_common::first_few::FirstFew;
use kds_common::io::Output;

use crate::batch::{Entry, Origin};
use crate::config::Config;
use crate::dead_letter::{write_dead_letter, DeadLetter};
use crate::input::BadLine;
use crate::receipt::write_receipt;
use crate::sender::Ctx;
use crate::stats::Stats;

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

    /// Records dead letters (already formatted).
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

/// Counts an acknowledged entry and writes its receipts into `receipts`; returns the bytes
/// it held (the caller gives them back to the budget, once per call).
pub fn delivered(
    ctx: &Ctx,
    entry: &Entry,
    shard_id: &str,
    seq: &str,
    receipts: &mut Vec<u8>,
) -> usize {
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
    entry.held_bytes()
}

/// Entries that failed this attempt, with their errors (code, message), in order.
#[derive(Debug, Default)]
pub struct Failed {
    pub entries: Vec<Entry>,
    pub errors: Vec<(String, String)>,
}

impl Failed {
    /// The whole call failed with one error.
    pub fn all(entries: Vec<Entry>, code: String, message: String) -> Failed {
        let errors = vec![(code, message); entries.len()];
        Failed { entries, errors }
    }

    pub fn push(&mut self, entry: Entry, code: String, message: String) {
        self.entries.push(entry);
        self.errors.push((code, message));
    }
}

/// Dead-letters entries (every user record of an aggregate) with their last errors, and
/// gives their bytes back to the budget.
pub fn dead_letter(ctx: &Ctx, failed: Failed) {
    let Failed { entries, errors } = failed;
    if entries.is_empty() {
        return;
    }
    let mut out = Vec::new();
    let mut held = 0;
    for (e, (code, msg)) in entries.iter().zip(&errors) {
        held += e.held_bytes();
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
    ctx.budget.give(held);
}

/// Reports a line refused before sending (dead letter with attempts 0) and gives back what the
/// reader charged for it.
pub fn bad_line(ctx: &Ctx, bad: BadLine) {
    Stats::add(&ctx.stats.bad_lines, 1);
    ctx.sink.report_bad_line(bad.line, &bad.message);
    let mut out = Vec::new();
    write_dead_letter(
        &mut out,
        &DeadLetter {
            data: &bad.data,
            partition_key: bad.partition_key.as_deref(),
            error_code: bad.code,
            error_message: &bad.message,
            attempts: 0,
            line: bad.line,
        },
    );
    ctx.sink.write_dead_letters(&out);
    ctx.budget.give(bad.held_bytes());
}

/// The end of a run: the counts of problems not shown, then the exit status (an error for
/// output that could not be written, a fatal AWS error, a reader failure or records
/// unaccounted for; 1 for dead letters unless `--allow-dead-letters`).
pub fn finish_run(
    config: &Config,
    ctx: &Ctx,
    reader_result: anyhow::Result<()>,
) -> anyhow::Result<Exit> {
    let (bad_unshown, failed_unshown) = ctx.sink.unreported();
    if bad_unshown > 0 {
        kds_common::diag!("kds-put: {bad_unshown} more bad lines not shown");
    }
    if failed_unshown > 0 {
        kds_common::diag!("kds-put: {failed_unshown} more undelivered records not shown");
    }
    if let Some(err) = ctx.sink.take_error() {
        return Err(anyhow::Error::new(err).context("cannot write output"));
    }
    if let Some(msg) = ctx.fatal.lock().ok().and_then(|f| f.clone()) {
        return Err(anyhow::anyhow!(msg));
    }
    reader_result?;
    let stats = &ctx.stats;
    let undelivered = stats.undelivered();
    let unaccounted =
        Stats::get(&stats.read).saturating_sub(Stats::get(&stats.delivered) + undelivered);
    if unaccounted > 0 {
        anyhow::bail!("{unaccounted} records neither delivered nor dead-lettered");
    }
    Ok(dead_letter_status(config, undelivered))
}

/// Exit 1 when records were not delivered, unless they went to `--dead-letter` with
/// `--allow-dead-letters`.
fn dead_letter_status(config: &Config, undelivered: u64) -> Exit {
    if undelivered == 0 {
        return Exit::Ok;
    }
    let s = if undelivered == 1 { "" } else { "s" };
    match &config.dead_letter {
        None => {
            kds_common::diag!(
                "kds-put: {undelivered} record{s} not delivered (keep them with --dead-letter FILE)"
            );
            Exit::Failure
        }
        Some(path) if !config.allow_dead_letters => {
            kds_common::diag!(
                "kds-put: {undelivered} record{s} dead-lettered to {}",
                path.display()
            );
            Exit::Failure
        }
        Some(_) => Exit::Ok,
    }
}
