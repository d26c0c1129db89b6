//! The pipeline: a reader thread parses input blocks into record batches and sends them over a
//! bounded channel; the sink loop buffers them per destination, turns due buffers into objects
//! and hands each to an upload task, at most `--concurrency` at once. While all upload slots
//! are busy the loop stops taking batches, the channel fills and the reader blocks: stdin is
//! back-pressured and memory stays bounded (channel + buffers + objects in flight). While an
//! upload is failing (being retried) the loop stops taking batches as well, as Firehose stops
//! reading its Kinesis source while S3 delivery fails ("Handle data delivery failure"): behind
//! a pipe, kds-tail then blocks too and its checkpoint stays close to what was delivered.
//! Before reading, objects that earlier runs spilled are re-sent.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use kds_aws::client::Plane;
use kds_common::exit::Exit;
use kds_common::io::{LineReader, Output};
use kds_common::signal::Shutdown;
use tokio::sync::{mpsc, Semaphore};

use crate::buffer::{Buffers, Clock, Flushed};
use crate::config::Config;
use crate::input::{Batch, Dest, RecordParser};
use crate::key::{self, EvalContext};
use crate::outcome::{print_outcomes, Outcome, Stats, REPORTED_BAD_LINES};
use crate::retry::Failing;
use crate::upload::Uploader;

/// Batches (each at most about one 1 MiB read block) queued between reader and sink.
pub const CHANNEL_BATCHES: usize = 4;
/// On a signal, how long the input is read on, waiting for its end, before giving up on it.
///
/// Why read on: lines already written into the pipe by the upstream tool are lost if the sink
/// stops reading, yet kds-tail has checkpointed them. When the whole pipeline is signalled
/// (Ctrl-C, a process-group SIGTERM, a cron job's timeout), kds-tail stops and closes the pipe
/// within moments, so reading to the end delivers everything exactly once.
pub const SHUTDOWN_DRAIN: Duration = Duration::from_secs(10);

/// One S3 call's attempt: our own retries run until `--retry-duration`.
const S3_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(120);

/// The object key for a flushed buffer.
pub fn object_key(config: &Config, f: &Flushed) -> Result<String, key::PrefixError> {
    let (prefix, error_type, values): (_, &str, &[String]) = match &f.dest {
        Dest::Main(values) => (&config.prefixes.main, "", values),
        Dest::Error(t) => (&config.prefixes.error, t, &[]),
    };
    let pairs: Vec<(String, String)> = config
        .partition_keys
        .iter()
        .zip(values)
        .map(|(k, v)| (k.name.clone(), v.clone()))
        .collect();
    let mut random = key::random_string;
    let mut ctx = EvalContext {
        arrival_ms: f.oldest_arrival_ms,
        tz: config.tz,
        error_output_type: error_type,
        partition_values: &pairs,
        random_string: &mut random,
    };
    let mut k = key::evaluate(prefix, &mut ctx)?;
    k.push_str(&key::object_suffix(
        &config.name,
        config.stream_version,
        f.oldest_arrival_ms,
        config.tz,
        &uuid::Uuid::new_v4(),
        config.gzip,
    ));
    Ok(k)
}

pub fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 4 + 64),
        flate2::Compression::default(),
    );
    enc.write_all(data)?;
    enc.finish()
}

struct Shipper {
    config: Arc<Config>,
    uploader: Uploader,
    slots: Arc<Semaphore>,
    outcomes: mpsc::UnboundedSender<Outcome>,
}

impl Shipper {
    /// Starts the upload of every flushed buffer, waiting for a free slot for each.
    async fn ship(&self, flushed: &mut Vec<Flushed>) -> anyhow::Result<()> {
        for f in flushed.drain(..) {
            let permit = Arc::clone(&self.slots)
                .acquire_owned()
                .await
                .context("upload slots closed")?;
            let config = Arc::clone(&self.config);
            let uploader = self.uploader.clone();
            let outcomes = self.outcomes.clone();
            tokio::spawn(async move {
                let outcome = deliver(&config, &uploader, f).await;
                drop(permit);
                let _ = outcomes.send(outcome);
            });
        }
        Ok(())
    }

    /// Re-sends, under the keys they were meant for, the objects earlier runs spilled. PUT
    /// of the same key with the same bytes leaves one object, so an object whose first
    /// delivery did land (its answer was lost) is not duplicated. A file is removed once
    /// delivered; one that still fails stays for the next run.
    async fn resend_spilled(&self) -> anyhow::Result<()> {
        // Once one re-send has used up its retries S3 is likely still down: leave the rest for
        // the next run rather than spend the retry duration on each of them.
        let gave_up = Arc::new(std::sync::atomic::AtomicBool::new(false));
        for (path, key) in crate::spill::pending(&self.config.spill)? {
            if gave_up.load(Ordering::Relaxed) {
                break;
            }
            let Some(key) = key else {
                let error = "not an object key; deliver or remove it by hand".to_string();
                let _ = self.outcomes.send(Outcome::NotResent { path, error });
                continue;
            };
            let permit = Arc::clone(&self.slots)
                .acquire_owned()
                .await
                .context("upload slots closed")?;
            let uploader = self.uploader.clone();
            let outcomes = self.outcomes.clone();
            let gave_up = Arc::clone(&gave_up);
            tokio::spawn(async move {
                let outcome = resend(&uploader, path, key).await;
                if matches!(outcome, Outcome::NotResent { .. }) {
                    gave_up.store(true, Ordering::Relaxed);
                }
                drop(permit);
                let _ = outcomes.send(outcome);
            });
        }
        Ok(())
    }
}

async fn resend(uploader: &Uploader, path: PathBuf, key: String) -> Outcome {
    let body = match tokio::fs::read(&path).await {
        Ok(b) => Bytes::from(b),
        Err(e) => {
            let error = format!("cannot read it: {e}");
            return Outcome::NotResent { path, error };
        }
    };
    let bytes = body.len();
    if let Err(e) = uploader.upload(&key, body).await {
        let error = format!("{e:#}");
        return Outcome::NotResent { path, error };
    }
    match std::fs::remove_file(&path) {
        Ok(()) => Outcome::Resent { key, bytes },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Outcome::Resent { key, bytes },
        Err(e) => {
            // Delivered: the next run will PUT it again, harmlessly (same key, same bytes).
            let error = format!("delivered to {key}, but cannot remove the file: {e}");
            Outcome::NotResent { path, error }
        }
    }
}

async fn deliver(config: &Config, uploader: &Uploader, f: Flushed) -> Outcome {
    let records = f.records;
    let key = match object_key(config, &f) {
        Ok(k) => k,
        Err(e) => {
            // Only an over-long evaluated prefix gets here: keep the data, named by its time.
            let key = format!("unnamed-{}", uuid::Uuid::new_v4());
            return spill(
                config,
                key,
                records,
                &f.data,
                format!("cannot name the object: {e}"),
            );
        }
    };
    let body = if config.gzip {
        match tokio::task::spawn_blocking(move || gzip(&f.data)).await {
            Ok(Ok(b)) => b,
            Ok(Err(e)) => {
                return Outcome::Lost {
                    key,
                    records,
                    error: format!("gzip: {e}"),
                }
            }
            Err(e) => {
                return Outcome::Lost {
                    key,
                    records,
                    error: format!("gzip task: {e}"),
                }
            }
        }
    } else {
        f.data
    };
    let body = Bytes::from(body);
    match uploader.upload(&key, body.clone()).await {
        Ok(()) => Outcome::Delivered {
            key,
            records,
            bytes: body.len(),
        },
        Err(e) => spill(config, key, records, &body, format!("{e:#}")),
    }
}

fn spill(config: &Config, key: String, records: u64, body: &[u8], error: String) -> Outcome {
    match crate::spill::write(&config.spill, &key, body) {
        Ok(path) => Outcome::Spilled {
            key,
            records,
            path,
            error,
        },
        Err(e) => Outcome::Lost {
            key,
            records,
            error: format!("{error}; and {e:#}"),
        },
    }
}

/// Moves parsed batches into the buffers, counting and reporting bad lines.
struct Intake {
    stats: Arc<Stats>,
    strict: bool,
    bad_lines: u64,
    strict_error: Option<String>,
}

impl Intake {
    fn absorb(&mut self, batch: Batch, buffers: &mut Buffers, flushed: &mut Vec<Flushed>) {
        self.stats.lines.fetch_add(batch.lines, Ordering::Relaxed);
        for r in &batch.records {
            if matches!(r.dest, Dest::Error(_)) {
                self.stats.error_records.fetch_add(1, Ordering::Relaxed);
            } else {
                self.stats.records.fetch_add(1, Ordering::Relaxed);
            }
            buffers.add(
                &r.dest,
                batch.record_bytes(r),
                r.arrival_ms,
                batch.received_ms,
                flushed,
            );
        }
        for e in &batch.errors {
            self.bad_lines += 1;
            if self.bad_lines <= REPORTED_BAD_LINES {
                kds_common::diag!("kds-s3sink: {e}; sent to the error prefix");
            }
            if self.strict && self.strict_error.is_none() {
                self.strict_error = Some(e.clone());
            }
        }
    }
}

/// Runs the sink over `input` until its end or a shutdown request.
pub async fn run(
    config: Config,
    input: LineReader,
    out: Output,
    shutdown: Shutdown,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Exit> {
    let started = std::time::Instant::now();
    let config = Arc::new(config);
    let Some(aws) = kds_aws::start(&config.aws, &[kds_aws::Service::S3]).await? else {
        return Ok(Exit::Ok);
    };
    let control = kds_aws::client::s3(&aws, Plane::Control);
    kds_aws::preflight::bucket_reachable(&control, &config.bucket, &aws.region).await?;
    let client = kds_aws::client::s3(
        &aws,
        Plane::Data {
            attempt_timeout: S3_ATTEMPT_TIMEOUT,
        },
    );

    let stats = Arc::new(Stats::default());
    let retries = Arc::new(AtomicU64::new(0));
    let reporter = crate::report::start(config.verbose, config.progress, &stats, &retries);

    // Reader thread: blocks of whole lines -> batches of records.
    let (tx, mut rx) = mpsc::channel::<Batch>(CHANNEL_BATCHES);
    let parser = RecordParser::new(&config);
    let reader_clock = Arc::clone(&clock);
    let reader = std::thread::Builder::new()
        .name("kds-s3sink-reader".into())
        .spawn(move || parser.send_batches(input, reader_clock.as_ref(), &tx))
        .context("cannot start the reader thread")?;

    let (outcome_tx, outcome_rx) = mpsc::unbounded_channel();
    let printer = tokio::spawn(print_outcomes(
        outcome_rx,
        out,
        config.bucket.clone(),
        Arc::clone(&stats),
    ));
    let slots = Arc::new(Semaphore::new(config.concurrency));
    let failing = Failing::default();
    let mut failing_now = failing.subscribe();
    let shipper = Shipper {
        config: Arc::clone(&config),
        uploader: Uploader {
            client: Arc::new(client),
            bucket: config.bucket.clone(),
            retry_duration: config.retry_duration,
            retries: Arc::clone(&retries),
            failing: failing.clone(),
        },
        slots: Arc::clone(&slots),
        outcomes: outcome_tx,
    };

    let mut buffers = Buffers::new(config.buffer_size, config.buffer_interval);
    let mut flushed = Vec::new();
    let mut intake = Intake {
        stats: Arc::clone(&stats),
        strict: config.strict,
        bad_lines: 0,
        strict_error: None,
    };
    let mut end_of_input = false;
    // Set by the first signal: read on until the input ends, at most until then.
    let mut drain_until: Option<tokio::time::Instant> = None;
    let mut gave_up_on_input = false;
    shipper.resend_spilled().await?;

    loop {
        let paused = *failing_now.borrow_and_update() > 0;
        let wait = buffers
            .next_due_ms()
            .map(|due| Duration::from_millis(u64::try_from(due - clock.now_ms()).unwrap_or(0)));
        tokio::select! {
            _ = kds_aws::wait_for_shutdown(&shutdown), if drain_until.is_none() => {
                if config.verbose {
                    kds_common::diag!(
                        "kds-s3sink: signal: reading the input to its end (at most {}), then flushing",
                        kds_common::duration::format_duration(SHUTDOWN_DRAIN)
                    );
                }
                drain_until = Some(tokio::time::Instant::now() + SHUTDOWN_DRAIN);
            }
            _ = async {
                if let Some(t) = drain_until {
                    tokio::time::sleep_until(t).await;
                }
            }, if drain_until.is_some() => {
                gave_up_on_input = true;
                break;
            }
            _ = failing_now.changed(), if paused => {}
            batch = rx.recv(), if !paused => match batch {
                Some(batch) => {
                    intake.absorb(batch, &mut buffers, &mut flushed);
                    buffers.take_due(clock.now_ms(), &mut flushed);
                    shipper.ship(&mut flushed).await?;
                    if intake.strict_error.is_some() {
                        break;
                    }
                }
                None => {
                    end_of_input = true;
                    break;
                }
            },
            _ = async { tokio::time::sleep(wait.unwrap_or_default()).await }, if wait.is_some() => {
                buffers.take_due(clock.now_ms(), &mut flushed);
                shipper.ship(&mut flushed).await?;
            }
        }
    }
    buffers.take_all(&mut flushed);
    shipper.ship(&mut flushed).await?;
    drop(shipper);
    // Every upload holds a slot until it is done: taking them all waits for the last one.
    let _all = slots
        .acquire_many(u32::try_from(config.concurrency)?)
        .await
        .context("upload slots closed")?;
    let printed = printer.await.context("output task failed")?;

    let input_result = if end_of_input {
        match reader.join() {
            Ok(r) => r.context("reading input"),
            Err(_) => Err(anyhow::anyhow!("the reader thread panicked")),
        }
    } else {
        Ok(())
    };

    let elapsed = started.elapsed();
    let records = stats.records.load(Ordering::Relaxed);
    let bytes_out = stats.bytes_out.load(Ordering::Relaxed);
    reporter.finish(&format!(
        "{records} records ({} to the error prefix) in {} objects, {bytes_out} bytes in {:.1}s ({:.1} MB/s), {} retries, {} records spilled",
        stats.error_records.load(Ordering::Relaxed),
        stats.objects.load(Ordering::Relaxed),
        elapsed.as_secs_f64(),
        bytes_out as f64 / 1e6 / elapsed.as_secs_f64().max(1e-9),
        retries.load(Ordering::Relaxed),
        stats.spilled_records.load(Ordering::Relaxed),
    ));
    if intake.bad_lines > REPORTED_BAD_LINES {
        kds_common::diag!(
            "kds-s3sink: {} lines in all were sent to the error prefix",
            intake.bad_lines
        );
    }

    let lost = stats.lost_records.load(Ordering::Relaxed);
    if lost > 0 {
        anyhow::bail!(
            "{lost} records could not be delivered nor written to the spill directory {}",
            config.spill.display()
        );
    }
    let spilled = stats.spilled_records.load(Ordering::Relaxed);
    if spilled > 0 {
        let message = format!(
            "{spilled} records in {} objects could not be delivered to s3://{} (retried for {}); they are in {}",
            stats.spilled_objects.load(Ordering::Relaxed),
            config.bucket,
            kds_common::duration::format_duration(config.retry_duration),
            config.spill.display()
        );
        spill_failure(&config, message)?;
    }
    let unsent = stats.unsent_objects.load(Ordering::Relaxed);
    if unsent > 0 {
        // The files left, including those not tried after a re-send gave up.
        let left = crate::spill::pending(&config.spill).map_or(unsent as usize, |p| p.len());
        let message = format!(
            "objects spilled by earlier runs could not be re-sent: {left} files stay in {}",
            config.spill.display()
        );
        spill_failure(&config, message)?;
    }
    input_result?;
    printed.context("writing stdout")?;
    if let Some(e) = intake.strict_error {
        anyhow::bail!("{e} (--strict)");
    }
    if gave_up_on_input {
        // Every record read is delivered, but the writer kept the input open: what it wrote
        // and we did not read is in neither place, so a cron job must not commit its checkpoint.
        anyhow::bail!(
            "stopped by a signal while the input was still open after {}: {records} records read were delivered; lines not yet read may remain in the input",
            kds_common::duration::format_duration(SHUTDOWN_DRAIN)
        );
    }
    Ok(Exit::Ok)
}

/// Spilled objects fail the run, unless `--allow-spill` (then the next run re-sends them).
fn spill_failure(config: &Config, message: String) -> anyhow::Result<()> {
    if !config.allow_spill {
        anyhow::bail!(message);
    }
    kds_common::diag!("kds-s3sink: {message}; the next run re-sends them (--allow-spill)");
    Ok(())
}
