//! The pipeline: a reader thread parses input blocks into record batches and sends them over a
//! bounded channel; the sink loop buffers them per destination, turns due buffers into objects
//! and hands each to an upload task, at most `--concurrency` at once. While all upload slots
//! are busy the loop stops taking batches, the channel fills and the reader blocks: stdin is
//! back-pressured and memory stays bounded (channel + buffers + objects in flight). While an
//! upload is failing (being retried) the loop stops taking batches as well, as Firehose stops
//! reading its Kinesis source while S3 delivery fails ("Handle data delivery failure"): behind
//! a pipe, kds-tail then blocks too and its checkpoint stays close to what was delivered.
//! Before reading, objects that earlier runs spilled are re-sent.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use kds_aws::client::Plane;
use kds_aws::s3::S3Api;
use kds_common::exit::Exit;
use kds_common::io::{LineReader, Output};
use kds_common::signal::Shutdown;
use tokio::sync::{mpsc, watch, Semaphore};

use crate::buffer::{Buffers, Clock, Flushed};
use crate::config::Config;
use crate::deliver::Shipper;
use crate::input::{Batch, Dest, RecordParser};
use crate::outcome::{print_outcomes, Stats, REPORTED_BAD_LINES};
use crate::retry::Failing;
use crate::upload::Uploader;

pub use crate::deliver::{gzip, object_key};

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

/// Runs the sink over `input` until its end or a shutdown request.
pub async fn run(
    config: Config,
    input: LineReader,
    out: Output,
    shutdown: Shutdown,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Exit> {
    let started = Instant::now();
    let config = Arc::new(config);
    let Some(client) = connect(&config).await? else {
        return Ok(Exit::Ok);
    };
    run_with(
        config,
        Arc::new(client),
        input,
        out,
        shutdown,
        clock,
        started,
    )
    .await
}

/// The sink once connected: `input` into `client` (the SDK's S3 client; the benchmark of the
/// sink's own ceiling passes a store that keeps nothing), spilled objects re-sent first.
/// `started` is when the run began, for its summary.
pub async fn run_with(
    config: Arc<Config>,
    client: Arc<dyn S3Api>,
    input: LineReader,
    out: Output,
    shutdown: Shutdown,
    clock: Arc<dyn Clock>,
    started: Instant,
) -> anyhow::Result<Exit> {
    let stats = Arc::new(Stats::default());
    let retries = Arc::new(AtomicU64::new(0));
    let reporter = crate::report::start(config.verbose, config.progress, &stats, &retries);
    let (reader, batches) = spawn_reader(input, RecordParser::new(&config), Arc::clone(&clock))?;

    let (outcome_tx, outcome_rx) = mpsc::unbounded_channel();
    let printer = tokio::spawn(print_outcomes(
        outcome_rx,
        out,
        config.bucket.clone(),
        Arc::clone(&stats),
    ));
    let slots = Arc::new(Semaphore::new(config.concurrency));
    let failing = Failing::default();
    let shipper = Shipper {
        config: Arc::clone(&config),
        uploader: Uploader {
            client,
            bucket: config.bucket.clone(),
            retry_duration: config.retry_duration,
            retries: Arc::clone(&retries),
            failing: failing.clone(),
        },
        slots: Arc::clone(&slots),
        outcomes: outcome_tx,
    };
    let mut pipeline = Pipeline {
        buffers: Buffers::new(config.buffer_size, config.buffer_interval),
        flushed: Vec::new(),
        intake: Intake::new(Arc::clone(&stats), config.strict),
        clock,
        shipper,
    };
    let failing_now = failing.subscribe();
    pipeline.shipper.resend_spilled().await?;
    let ended = pipeline.pump(batches, &shutdown, failing_now).await?;
    let intake = pipeline.flush_all().await?;
    // Every upload holds a slot until it is done: taking them all waits for the last one.
    let _all = slots
        .acquire_many(u32::try_from(config.concurrency)?)
        .await
        .context("upload slots closed")?;
    let printed = printer.await.context("output task failed")?;
    let input_result = match ended {
        Ended::InputClosed => match reader.join() {
            Ok(r) => r.context("reading input"),
            Err(_) => Err(anyhow::anyhow!("the reader thread panicked")),
        },
        Ended::Strict | Ended::DrainTimedOut => Ok(()),
    };
    reporter.finish(&summary(&stats, &retries, started.elapsed()));
    if intake.bad_lines > REPORTED_BAD_LINES {
        kds_common::diag!(
            "kds-s3sink: {} lines in all were sent to the error prefix",
            intake.bad_lines
        );
    }
    undelivered(&config, &stats)?;
    input_result?;
    printed.context("writing stdout")?;
    verdict(ended, intake, &stats)
}

/// The end of a run whose records were all delivered: `--strict` and a drain that timed out
/// still fail it.
fn verdict(ended: Ended, intake: Intake, stats: &Stats) -> anyhow::Result<Exit> {
    if let Some(e) = intake.strict_error {
        anyhow::bail!("{e} (--strict)");
    }
    if ended == Ended::DrainTimedOut {
        // Every record read is delivered, but the writer kept the input open: what it wrote
        // and we did not read is in neither place, so a cron job must not commit its checkpoint.
        anyhow::bail!(
            "stopped by a signal while the input was still open after {}: {} records read were delivered; lines not yet read may remain in the input",
            kds_common::duration::format_duration(SHUTDOWN_DRAIN),
            stats.records.load(Ordering::Relaxed)
        );
    }
    Ok(Exit::Ok)
}

/// The start-up every AWS tool shares, the bucket check, and the client for the uploads;
/// `None` after `--show-config`.
async fn connect(config: &Config) -> anyhow::Result<Option<aws_sdk_s3::Client>> {
    let Some(aws) = kds_aws::start(&config.aws, &[kds_aws::Service::S3]).await? else {
        return Ok(None);
    };
    let control = kds_aws::client::s3(&aws, Plane::Control);
    kds_aws::preflight::bucket_reachable(&control, &config.bucket, &aws.region).await?;
    Ok(Some(kds_aws::client::s3(
        &aws,
        Plane::Data {
            attempt_timeout: S3_ATTEMPT_TIMEOUT,
        },
    )))
}

/// The reader thread: blocks of whole lines become batches of records, sent over a bounded
/// channel (a full channel blocks the thread: back-pressure on the input).
fn spawn_reader(
    input: LineReader,
    parser: RecordParser,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<(
    std::thread::JoinHandle<std::io::Result<()>>,
    mpsc::Receiver<Batch>,
)> {
    let (tx, rx) = mpsc::channel::<Batch>(CHANNEL_BATCHES);
    let reader = std::thread::Builder::new()
        .name("kds-s3sink-reader".into())
        .spawn(move || parser.send_batches(input, clock.as_ref(), &tx))
        .context("cannot start the reader thread")?;
    Ok((reader, rx))
}

/// Why the sink loop stopped taking input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// The input ended: every line was read.
    InputClosed,
    /// A bad line under `--strict`.
    Strict,
    /// A signal came, and the input stayed open for [`SHUTDOWN_DRAIN`] after it.
    DrainTimedOut,
}

/// The sink loop's state: batches in, buffers, due buffers out to the shipper.
struct Pipeline {
    buffers: Buffers,
    flushed: Vec<Flushed>,
    intake: Intake,
    clock: Arc<dyn Clock>,
    shipper: Shipper,
}

impl Pipeline {
    /// Takes batches until the input ends, `--strict` stops at a bad line, or the drain after
    /// a signal times out; ships buffers as they fall due. While an upload is failing (is
    /// being retried) no batch is taken.
    async fn pump(
        &mut self,
        mut batches: mpsc::Receiver<Batch>,
        shutdown: &Shutdown,
        mut failing_now: watch::Receiver<usize>,
    ) -> anyhow::Result<Ended> {
        // Set by the first signal: read on until the input ends, at most until then.
        let mut drain_until: Option<tokio::time::Instant> = None;
        loop {
            let paused = *failing_now.borrow_and_update() > 0;
            let wait = self.buffers.next_due_ms().map(|due| {
                Duration::from_millis(u64::try_from(due - self.clock.now_ms()).unwrap_or(0))
            });
            tokio::select! {
                _ = kds_aws::wait_for_shutdown(shutdown), if drain_until.is_none() => {
                    drain_until = Some(self.start_drain());
                }
                _ = async {
                    if let Some(t) = drain_until {
                        tokio::time::sleep_until(t).await;
                    }
                }, if drain_until.is_some() => return Ok(Ended::DrainTimedOut),
                _ = failing_now.changed(), if paused => {}
                batch = batches.recv(), if !paused => match batch {
                    Some(batch) => {
                        self.take(batch).await?;
                        if self.intake.strict_error.is_some() {
                            return Ok(Ended::Strict);
                        }
                    }
                    None => return Ok(Ended::InputClosed),
                },
                _ = async { tokio::time::sleep(wait.unwrap_or_default()).await }, if wait.is_some() => {
                    self.buffers.take_due(self.clock.now_ms(), &mut self.flushed);
                    self.shipper.ship(&mut self.flushed).await?;
                }
            }
        }
    }

    /// The moment the input is given up on after a signal.
    fn start_drain(&self) -> tokio::time::Instant {
        if self.shipper.config.verbose {
            kds_common::diag!(
                "kds-s3sink: signal: reading the input to its end (at most {}), then flushing",
                kds_common::duration::format_duration(SHUTDOWN_DRAIN)
            );
        }
        tokio::time::Instant::now() + SHUTDOWN_DRAIN
    }

    async fn take(&mut self, batch: Batch) -> anyhow::Result<()> {
        self.intake
            .absorb(batch, &mut self.buffers, &mut self.flushed);
        self.buffers
            .take_due(self.clock.now_ms(), &mut self.flushed);
        self.shipper.ship(&mut self.flushed).await
    }

    /// Ships every buffer, due or not, and lets go of the shipper (once its uploads are done
    /// the printer's channel closes); what remains is the count of the input.
    async fn flush_all(mut self) -> anyhow::Result<Intake> {
        self.buffers.take_all(&mut self.flushed);
        self.shipper.ship(&mut self.flushed).await?;
        Ok(self.intake)
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
    fn new(stats: Arc<Stats>, strict: bool) -> Intake {
        Intake {
            stats,
            strict,
            bad_lines: 0,
            strict_error: None,
        }
    }

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

/// The closing stats line.
fn summary(stats: &Stats, retries: &AtomicU64, elapsed: Duration) -> String {
    let bytes_out = stats.bytes_out.load(Ordering::Relaxed);
    format!(
        "{} records ({} to the error prefix) in {} objects, {bytes_out} bytes in {:.1}s ({:.1} MB/s), {} retries, {} records spilled",
        stats.records.load(Ordering::Relaxed),
        stats.error_records.load(Ordering::Relaxed),
        stats.objects.load(Ordering::Relaxed),
        elapsed.as_secs_f64(),
        bytes_out as f64 / 1e6 / elapsed.as_secs_f64().max(1e-9),
        retries.load(Ordering::Relaxed),
        stats.spilled_records.load(Ordering::Relaxed),
    )
}

/// Records lost, spilled by this run, or left by earlier runs' spills fail the run (the last
/// two unless `--allow-spill`).
fn undelivered(config: &Config, stats: &Stats) -> anyhow::Result<()> {
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
        spill_failure(config, message)?;
    }
    let unsent = stats.unsent_objects.load(Ordering::Relaxed);
    if unsent > 0 {
        // The files left, including those not tried after a re-send gave up.
        let left = crate::spill::pending(&config.spill).map_or(unsent as usize, |p| p.len());
        let message = format!(
            "objects spilled by earlier runs could not be re-sent: {left} files stay in {}",
            config.spill.display()
        );
        spill_failure(config, message)?;
    }
    Ok(())
}

/// Spilled objects fail the run, unless `--allow-spill` (then the next run re-sends them).
fn spill_failure(config: &Config, message: String) -> anyhow::Result<()> {
    if !config.allow_spill {
        anyhow::bail!(message);
    }
    kds_common::diag!("kds-s3sink: {message}; the next run re-sends them (--allow-spill)");
    Ok(())
}
