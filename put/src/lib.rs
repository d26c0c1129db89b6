//! kds-put: write NDJSON lines to a Kinesis data stream, one line per record.
//!
//! Shape of a run:
//! - a blocking reader thread turns lines into records (partition key, size check) and feeds
//!   a channel bounded in records and bytes (`budget.rs`), so memory stays flat when Kinesis
//!   is slow;
//! - the dispatcher routes records to their shard (MD5 of the key over the shard map),
//!   aggregates them per shard when `--aggregate`, queues them per shard, and packs
//!   PutRecords calls with entries of any shards, each entry taking its shard's rate-limit
//!   tokens before it joins (`collect.rs`, `batch.rs`); a call goes when full or after
//!   `--linger`, with up to `--concurrency` calls in flight (`sender.rs`), and with
//!   `--ordered` at most one call in flight per shard;
//! - failed entries alone are resent, re-packed with other entries, after a backoff
//!   (`kds_aws::retry`); what still fails is dead-lettered (`dead_letter.rs`);
//! - a result naming an unknown shard (resharding) makes the dispatcher re-read the shard
//!   map and move pending records to the shards that now own them.

pub mod aggregate;
pub mod batch;
pub mod budget;
pub mod collect;
pub mod config;
pub mod dead_letter;
pub mod limits;
pub mod partition;
pub mod rate;
pub mod receipt;
pub mod sender;
pub mod shard_map;
pub mod stats;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use kds_aws::client::Plane;
use kds_aws::kinesis::KinesisApi;
use kds_common::exit::{usage, Exit};
use kds_common::io::{LineReader, Output};
use kds_common::signal::Shutdown;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

pub use config::{Args, Config};

use crate::batch::UserRecord;
use crate::budget::ByteBudget;
use crate::collect::{Collector, Options};
use crate::dead_letter::{codes, write_dead_letter, DeadLetter};
use crate::partition::{KeyError, Keyer};
use crate::sender::{send_call, Ctx, Outcome, Sink};
use crate::shard_map::{hash_key, list_open_shards, ListShardsFailure};
use crate::stats::Stats;
use kds_common::rng::Rng;

/// Lines buffered between the reader thread and the dispatcher.
const INPUT_CHANNEL: usize = 4096;
/// Input items taken per turn of the dispatcher loop.
const ITEMS_PER_TURN: usize = 256;
/// Least time between two ListShards refreshes.
const SHARD_REFRESH_INTERVAL: Duration = Duration::from_secs(5);

/// What the reader thread hands to the dispatcher.
enum Item {
    Record(UserRecord),
    Bad {
        line: u64,
        data: Vec<u8>,
        partition_key: Option<String>,
        code: &'static str,
        message: String,
    },
}

impl Item {
    /// What the item holds of the input, for the reader-to-dispatcher byte budget.
    fn input_bytes(&self) -> usize {
        match self {
            Item::Record(r) => r.data.len() + r.partition_key.len(),
            Item::Bad { data, .. } => data.len(),
        }
    }
}

/// Parses, validates, runs; the exit status for `main`.
pub fn run(args: Args) -> anyhow::Result<Exit> {
    let config = Config::try_from(args)?;
    let shutdown = Shutdown::install()?;
    run_with(config, shutdown)
}

/// Runs with a given shutdown flag (tests trigger it themselves).
pub fn run_with(config: Config, shutdown: Shutdown) -> anyhow::Result<Exit> {
    let reader = LineReader::open(&config.inputs)?;
    let dead_letters = match &config.dead_letter {
        Some(p) => Some(Output::append(p)?),
        None => None,
    };
    let receipts = config.receipts.then(Output::stdout);
    let runtime = kds_aws::runtime()?;
    runtime.block_on(run_async(
        config,
        shutdown,
        reader,
        Sink::new(receipts, dead_letters),
    ))
}

async fn run_async(
    config: Config,
    shutdown: Shutdown,
    reader: LineReader,
    sink: Sink,
) -> anyhow::Result<Exit> {
    let started = Instant::now();
    let Some(aws) = kds_aws::start(&config.aws, &[kds_aws::Service::Kinesis]).await? else {
        return Ok(Exit::Ok);
    };
    let aws_control = kds_aws::client::kinesis(&aws, Plane::Control);
    // PutRecords: no SDK retries, so every attempt is ours and counted.
    let data_plane: Arc<dyn KinesisApi> = Arc::new(kds_aws::client::kinesis(
        &aws,
        Plane::Data {
            attempt_timeout: config.call_timeout,
        },
    ));
    let stream_says =
        kds_aws::preflight::stream_active(&aws_control, &config.stream, "kds-put").await?;
    let max_record = limits::max_record_bytes(stream_says);
    let control: Arc<dyn KinesisApi> = Arc::new(aws_control);
    let map = match list_open_shards(&*control, &config.stream).await {
        Ok(m) => m,
        Err(ListShardsFailure::StreamNotFound(msg)) => {
            return Err(usage(format!(
                "stream '{}' not found: {msg}",
                config.stream
            )))
        }
        Err(ListShardsFailure::Other(e)) => return Err(e),
    };

    let map = Arc::new(map);
    let stats = Arc::new(Stats::default());
    let ctx = Arc::new(Ctx {
        client: data_plane,
        stream: config.stream.clone(),
        max_retries: config.max_retries,
        backoff: config.backoff,
        stats: Arc::clone(&stats),
        sink,
        shard_map: RwLock::new(Arc::clone(&map)),
        refresh_shards: AtomicBool::new(false),
        fatal: Mutex::new(None),
    });

    let mut reader = reader;
    let reporter = stats::reporter(&config, &stats, &mut reader, started);

    // Reader thread.
    let (tx, rx) = mpsc::channel::<Item>(INPUT_CHANNEL);
    let input_budget = Arc::new(ByteBudget::new(budget::input_bytes(config.read_ahead)));
    let stop_reading = Arc::new(AtomicBool::new(false));
    let reader_thread = {
        let budget = Arc::clone(&input_budget);
        let keyer = Keyer::new(config.key_source.clone());
        let ehk = config.explicit_hash_key.clone();
        let stats = Arc::clone(&stats);
        let stop = Arc::clone(&stop_reading);
        let shutdown = shutdown.clone();
        let strict = config.strict;
        let limits = InputLimits { strict, max_record };
        std::thread::Builder::new()
            .name("kds-put-reader".into())
            .spawn(move || {
                let handoff = Handoff { tx, budget };
                read_input(
                    reader, keyer, ehk, limits, handoff, &stats, &stop, &shutdown,
                )
            })
            .context("cannot start the reader thread")?
    };

    let collector = Collector::new(
        map,
        Options {
            max_records: config.batch_records,
            max_call_bytes: limits::max_batch_bytes(max_record),
            ordered: config.ordered,
            linger: config.linger,
            aggregate: config.aggregate,
            records_per_sec: config.shard_records_per_sec,
            bytes_per_sec: config.shard_bytes_per_sec,
            max_queued_bytes: config.read_ahead,
        },
        Instant::now(),
    );
    let mut dispatcher = Dispatcher {
        ctx: Arc::clone(&ctx),
        control,
        verbose: config.verbose,
        concurrency: config.concurrency,
        collector,
        calls: JoinSet::new(),
        rng: Rng::from_entropy(),
        last_refresh: Instant::now(),
        input_budget: Arc::clone(&input_budget),
    };
    dispatcher.run(rx, &shutdown, &stop_reading).await;
    stop_reading.store(true, Ordering::Relaxed);
    input_budget.close();

    // The reader is done unless it is blocked on live input after a signal or fatal error;
    // then it is left behind (the process exits).
    let reader_result = if reader_thread.is_finished() {
        match reader_thread.join() {
            Ok(r) => r,
            Err(_) => Err(anyhow::anyhow!("the reader thread panicked")),
        }
    } else {
        Ok(())
    };

    let summary = stats.line(started.elapsed());
    reporter.finish(&summary);
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
    let undelivered = stats.undelivered();
    let unaccounted =
        Stats::get(&stats.read).saturating_sub(Stats::get(&stats.delivered) + undelivered);
    if unaccounted > 0 {
        anyhow::bail!("{unaccounted} records neither delivered nor dead-lettered");
    }
    if undelivered > 0 {
        match &config.dead_letter {
            None => {
                kds_common::diag!(
                    "kds-put: {undelivered} record{} not delivered (keep them with --dead-letter FILE)",
                    if undelivered == 1 { "" } else { "s" }
                );
                return Ok(Exit::Failure);
            }
            Some(path) if !config.allow_dead_letters => {
                kds_common::diag!(
                    "kds-put: {undelivered} record{} dead-lettered to {}",
                    if undelivered == 1 { "" } else { "s" },
                    path.display()
                );
                return Ok(Exit::Failure);
            }
            Some(_) => {}
        }
    }
    Ok(Exit::Ok)
}

/// The reader's side of the channel to the dispatcher, with the byte budget it spends.
struct Handoff {
    tx: mpsc::Sender<Item>,
    budget: Arc<ByteBudget>,
}

/// What the reader thread checks each line against.
#[derive(Debug, Clone, Copy)]
struct InputLimits {
    /// `--strict`: stop at the first bad line.
    strict: bool,
    /// Largest record (data plus partition key) the stream accepts.
    max_record: usize,
}

/// Reads lines into records until the end of input, a signal, a fatal error, or (with
/// `--strict`) the first bad line.
///
/// [`InputLimits::max_record`] is the stream's own record limit (see [`limits::max_record_bytes`]).
#[allow(clippy::too_many_arguments)]
fn read_input(
    mut reader: LineReader,
    mut keyer: Keyer,
    explicit_hash_key: Option<(String, u128)>,
    limits: InputLimits,
    handoff: Handoff,
    stats: &Stats,
    stop: &AtomicBool,
    shutdown: &Shutdown,
) -> anyhow::Result<()> {
    while let Some(line) = reader.next_line().context("cannot read input")? {
        if shutdown.requested() || stop.load(Ordering::Relaxed) {
            break;
        }
        let number = line.number;
        let item = match keyer.key_for(line.bytes) {
            Ok(key) if line.bytes.len() + key.len() > limits.max_record => Item::Bad {
                line: number,
                message: format!(
                    "record is {} bytes with its partition key, over the stream's {}-byte limit",
                    line.bytes.len() + key.len(),
                    limits.max_record
                ),
                data: line.bytes.to_vec(),
                partition_key: Some(key),
                code: codes::RECORD_TOO_LARGE,
            },
            Ok(key) => {
                let (ehk, hash) = match &explicit_hash_key {
                    Some((text, value)) => (Some(text.clone()), *value),
                    None => (None, hash_key(&key)),
                };
                Item::Record(UserRecord {
                    line: number,
                    data: line.bytes.to_vec(),
                    partition_key: key,
                    explicit_hash_key: ehk,
                    hash,
                })
            }
            Err(e) => Item::Bad {
                line: number,
                data: line.bytes.to_vec(),
                partition_key: None,
                code: match e {
                    KeyError::NotJson(_) => codes::INVALID_JSON,
                    KeyError::MissingField(_) => codes::MISSING_PARTITION_KEY,
                    KeyError::BadValue(_) => codes::INVALID_PARTITION_KEY,
                },
                message: e.to_string(),
            },
        };
        if limits.strict {
            if let Item::Bad { line, message, .. } = &item {
                Stats::add(&stats.read, 1);
                stop.store(true, Ordering::Relaxed);
                anyhow::bail!("line {line}: {message}");
            }
        }
        // Counted once handed over: a line still read after the dispatcher stopped
        // listening (a fatal error) is neither read nor lost.
        if !handoff.budget.take(item.input_bytes()) || handoff.tx.blocking_send(item).is_err() {
            break;
        }
        Stats::add(&stats.read, 1);
    }
    Ok(())
}

struct Dispatcher {
    ctx: Arc<Ctx>,
    control: Arc<dyn KinesisApi>,
    verbose: bool,
    concurrency: usize,
    collector: Collector,
    calls: JoinSet<Outcome>,
    rng: Rng,
    last_refresh: Instant,
    /// Given back as items move from the channel into the collector.
    input_budget: Arc<ByteBudget>,
}

impl Dispatcher {
    async fn run(&mut self, mut rx: mpsc::Receiver<Item>, shutdown: &Shutdown, stop: &AtomicBool) {
        let mut closing = false;
        let mut input_done = false;
        loop {
            if !closing && (shutdown.requested() || self.ctx.should_stop()) {
                // Stop reading; what was read is still sent (or dead-lettered).
                closing = true;
                stop.store(true, Ordering::Relaxed);
                rx.close();
                self.input_budget.close();
            }
            self.maybe_refresh_shards().await;
            let now = Instant::now();
            self.collector.flush_aggregators(now, input_done);
            self.send_ready(now, input_done);
            if input_done && self.collector.is_idle() && self.calls.is_empty() {
                break;
            }
            let can_send = self.calls.len() < self.concurrency;
            let wake = self.collector.next_wake(can_send);
            let reading = !input_done && self.collector.has_room();
            tokio::select! {
                item = rx.recv(), if reading => match item {
                    Some(item) => {
                        let now = Instant::now();
                        self.route(item, now);
                        // Take what else is waiting, up to a bound, before packing again.
                        for _ in 1..ITEMS_PER_TURN {
                            if !self.collector.has_room() {
                                break;
                            }
                            match rx.try_recv() {
                                Ok(item) => self.route(item, now),
                                Err(_) => break,
                            }
                        }
                    }
                    None => input_done = true,
                },
                Some(done) = self.calls.join_next(), if !self.calls.is_empty() => {
                    self.completed(done);
                    while let Some(done) = self.calls.try_join_next() {
                        self.completed(done);
                    }
                }
                () = sleep_until(wake) => {}
                () = wait_for_stop(shutdown, &self.ctx), if !closing => {}
            }
        }
    }

    /// Packs and sends calls while there is room in flight and a call is ready.
    fn send_ready(&mut self, now: Instant, draining: bool) {
        loop {
            if self.calls.is_empty() {
                self.collector.lift_barrier();
            }
            self.collector.fill(now);
            if self.calls.len() >= self.concurrency || !self.collector.ready_to_send(now, draining)
            {
                return;
            }
            let Some(call) = self.collector.take_call() else {
                return;
            };
            let rng = Rng::seeded(self.rng.next_u64());
            self.calls.spawn(send_call(
                Arc::clone(&self.ctx),
                call.entries,
                call.slots,
                rng,
            ));
        }
    }

    fn completed(&mut self, done: Result<Outcome, tokio::task::JoinError>) {
        match done {
            Ok(out) => {
                let ready_at = Instant::now() + out.delay;
                self.collector.requeue(out.retry, ready_at);
                self.collector.release(&out.slots);
            }
            // A sender task cannot panic by design; should one, its records are unaccounted
            // for, which the end of the run reports.
            Err(e) => self.ctx.set_fatal(format!("a PutRecords task failed: {e}")),
        }
    }

    async fn maybe_refresh_shards(&mut self) {
        if !self.ctx.refresh_shards.load(Ordering::Relaxed)
            || self.last_refresh.elapsed() < SHARD_REFRESH_INTERVAL
        {
            return;
        }
        self.last_refresh = Instant::now();
        self.ctx.refresh_shards.store(false, Ordering::Relaxed);
        match list_open_shards(&*self.control, &self.ctx.stream).await {
            Ok(map) => {
                let map = Arc::new(map);
                if self.verbose {
                    kds_common::diag!(
                        "kds-put: shard map refreshed: {} open shards (was {})",
                        map.len(),
                        self.collector.map().len()
                    );
                }
                if let Ok(mut m) = self.ctx.shard_map.write() {
                    *m = Arc::clone(&map);
                }
                self.collector.reshard(map, Instant::now());
            }
            Err(ListShardsFailure::StreamNotFound(m)) => {
                kds_common::diag!("kds-put: cannot refresh the shard map: stream not found: {m}")
            }
            Err(ListShardsFailure::Other(e)) => {
                kds_common::diag!("kds-put: cannot refresh the shard map: {e:#}")
            }
        }
    }

    fn route(&mut self, item: Item, now: Instant) {
        self.input_budget.give(item.input_bytes());
        match item {
            Item::Bad {
                line,
                data,
                partition_key,
                code,
                message,
            } => {
                Stats::add(&self.ctx.stats.bad_lines, 1);
                self.ctx.sink.report_bad_line(line, &message);
                let mut out = Vec::new();
                write_dead_letter(
                    &mut out,
                    &DeadLetter {
                        data: &data,
                        partition_key: partition_key.as_deref(),
                        error_code: code,
                        error_message: &message,
                        attempts: 0,
                        line,
                    },
                );
                self.ctx.sink.write_dead_letters(&out);
            }
            Item::Record(rec) => self.collector.push(rec, now),
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}

async fn wait_for_stop(shutdown: &Shutdown, ctx: &Ctx) {
    while !shutdown.requested() && !ctx.should_stop() {
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
