//! kds-put: write NDJSON lines to a Kinesis data stream, one line per record.
//!
//! Shape of a run, one file a stage:
//! - input (`input.rs`): a blocking reader thread turns lines into records (partition key,
//!   size check) and hands them to the dispatcher, each line's bytes taken first from the one
//!   in-flight budget (`budget.rs`, `--read-ahead`) and given back only when its record is
//!   acknowledged or dead-lettered, so memory stays flat when Kinesis is slow;
//! - batching (`collect.rs`, `batch.rs`, `aggregate.rs`): the dispatcher (`dispatch.rs`)
//!   routes records to their shard (MD5 of the key over the shard map), aggregates them per
//!   shard when `--aggregate`, queues them per shard, and packs PutRecords calls with entries
//!   of any shards, each entry taking its shard's rate-limit tokens before it joins; a call
//!   goes when full or after `--linger`, with up to `--concurrency` calls in flight, and with
//!   `--ordered` at most one call in flight per shard;
//! - request building (`request.rs`) and the service (`sender.rs`): one PutRecords attempt per
//!   call; failed entries alone are resent, re-packed with other entries, after a backoff
//!   (`kds_aws::retry`);
//! - reporting (`report.rs`): receipts, dead letters (`dead_letter.rs`), the summary and the
//!   exit status;
//! - a result naming an unknown shard (resharding) makes the dispatcher re-read the shard
//!   map and move pending records to the shards that now own them.

pub mod aggregate;
pub mod batch;
pub mod budget;
pub mod collect;
pub mod config;
pub mod dead_letter;
pub mod dispatch;
pub mod input;
pub mod limits;
pub mod partition;
pub mod rate;
pub mod receipt;
pub mod report;
pub mod request;
pub mod sender;
pub mod shard_map;
pub mod stats;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use kds_aws::client::Plane;
use kds_aws::kinesis::KinesisApi;
use kds_common::exit::{usage, Exit};
use kds_common::io::{LineReader, Output};
use kds_common::signal::Shutdown;
use tokio::sync::mpsc;

pub use config::{Args, Config};

use crate::budget::ByteBudget;
use crate::collect::{Collector, Options};
use crate::dispatch::Dispatcher;
use crate::input::{spawn_reader, Handoff, InputLimits, Parse};
use crate::partition::Keyer;
use crate::report::Sink;
use crate::sender::Ctx;
use crate::shard_map::{list_open_shards, ListShardsFailure, ShardMap};
use crate::stats::Stats;

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

/// What start-up learns from AWS: the clients, the stream's record limit, its shard map.
struct Stream {
    control: Arc<dyn KinesisApi>,
    /// PutRecords: no SDK retries, so every attempt is ours and counted.
    data_plane: Arc<dyn KinesisApi>,
    max_record: usize,
    map: ShardMap,
}

/// Resolves the AWS configuration, waits for the stream and lists its shards; `None` when
/// `--show-config` answered instead.
async fn connect(config: &Config) -> anyhow::Result<Option<Stream>> {
    let Some(aws) = kds_aws::start(&config.aws, &[kds_aws::Service::Kinesis]).await? else {
        return Ok(None);
    };
    let aws_control = kds_aws::client::kinesis(&aws, Plane::Control);
    let data_plane = kds_aws::client::kinesis(
        &aws,
        Plane::Data {
            attempt_timeout: config.call_timeout,
        },
    );
    let stream_says =
        kds_aws::preflight::stream_active(&aws_control, &config.stream, "kds-put").await?;
    let map = match list_open_shards(&aws_control, &config.stream).await {
        Ok(m) => m,
        Err(ListShardsFailure::StreamNotFound(msg)) => {
            return Err(usage(format!(
                "stream '{}' not found: {msg}",
                config.stream
            )))
        }
        Err(ListShardsFailure::Other(e)) => return Err(e),
    };
    Ok(Some(Stream {
        control: Arc::new(aws_control),
        data_plane: Arc::new(data_plane),
        max_record: limits::max_record_bytes(stream_says),
        map,
    }))
}

async fn run_async(
    config: Config,
    shutdown: Shutdown,
    mut reader: LineReader,
    sink: Sink,
) -> anyhow::Result<Exit> {
    let started = Instant::now();
    let Some(stream) = connect(&config).await? else {
        return Ok(Exit::Ok);
    };
    let stats = Arc::new(Stats::default());
    let ctx = Arc::new(Ctx {
        client: stream.data_plane,
        stream: config.stream.clone(),
        max_retries: config.max_retries,
        backoff: config.backoff,
        stats: Arc::clone(&stats),
        sink,
        budget: Arc::new(ByteBudget::new(config.read_ahead)),
        fatal: Mutex::new(None),
    });
    let reporter = stats::reporter(&config, &stats, &mut reader, started);

    let (tx, rx) = mpsc::unbounded_channel();
    let stop_reading = Arc::new(AtomicBool::new(false));
    let parse = Parse {
        keyer: Keyer::new(config.key_source.clone()),
        explicit_hash_key: config.explicit_hash_key.clone(),
        limits: InputLimits {
            strict: config.strict,
            max_record: stream.max_record,
        },
    };
    let handoff = Handoff {
        tx,
        budget: Arc::clone(&ctx.budget),
        stats: Arc::clone(&stats),
        stop: Arc::clone(&stop_reading),
        shutdown: shutdown.clone(),
    };
    let reader_thread = spawn_reader(reader, parse, handoff)?;

    let collector = Collector::new(
        Arc::new(stream.map),
        collector_options(&config, stream.max_record),
        Instant::now(),
    );
    let mut dispatcher = Dispatcher::new(Arc::clone(&ctx), stream.control, &config, collector);
    dispatcher.run(rx, &shutdown, &stop_reading).await;
    stop_reading.store(true, Ordering::Relaxed);
    ctx.budget.close();

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
    reporter.finish(&stats.line(started.elapsed()));
    report::finish_run(&config, &ctx, reader_result)
}

/// The collector's settings from the flags and the stream's record limit.
fn collector_options(config: &Config, max_record: usize) -> Options {
    Options {
        max_records: config.batch_records,
        max_call_bytes: limits::max_batch_bytes(max_record),
        ordered: config.ordered,
        linger: config.linger,
        aggregate: config.aggregate,
        records_per_sec: config.shard_records_per_sec,
        bytes_per_sec: config.shard_bytes_per_sec,
    }
}
