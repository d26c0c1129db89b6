//! kds-tail: read every shard of a Kinesis data stream as NDJSON.
//!
//! `run` validates the flags, then [`tail`] opens the checkpoint, checks the stream and hands
//! over to the session (`session`): it lists the shards, starts one reader task per shard
//! whose parents are done ([`shards::Coordinator`], [`reader`]), and writes every page the
//! tasks send into ONE output (`session::page`), in the order pages arrive (so per-shard order
//! is kept). The checkpoint only ever names records that have been written and flushed:
//! at-least-once.

pub mod checkpoint;
pub mod config;
pub mod lister;
pub mod output;
pub mod range;
pub mod reader;
mod report;
mod session;
pub mod shards;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use kds_aws::client::Plane;
use kds_aws::kinesis::KinesisApi;
use kds_common::exit::{usage, Exit};
use kds_common::io::Output;
use kds_common::signal::Shutdown;
use tokio::sync::mpsc;
use tokio::time::Instant;

pub use config::{Args, Config};

use checkpoint::Checkpoint;
use config::From;
use reader::{Event, ShardStats};
use session::{Clients, Resume, Session};

const TOOL: &str = "kds-tail";
/// One GetShardIterator or GetRecords attempt (our own retries follow).
const READ_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);

/// Entry point for `main`: validate, then run on a small multi-threaded runtime.
pub fn run(args: Args) -> anyhow::Result<Exit> {
    let config = Config::try_from(args)?;
    let shutdown = Shutdown::install()?;
    let runtime = kds_aws::runtime()?;
    let result = runtime.block_on(tail(config, Output::stdout(), shutdown));
    runtime.shutdown_timeout(Duration::from_millis(200));
    result
}

type StatsMap = Arc<Mutex<BTreeMap<String, Arc<ShardStats>>>>;

/// Reads the stream per `config`, writing to `out` until a stop condition or `shutdown`.
pub async fn tail(config: Config, out: Output, shutdown: Shutdown) -> anyhow::Result<Exit> {
    let Some(aws) = kds_aws::start(&config.aws, &[kds_aws::Service::Kinesis]).await? else {
        return Ok(Exit::Ok);
    };
    let clients = Clients {
        control: kds_aws::client::kinesis(&aws, Plane::Control),
        reader: Arc::new(kds_aws::client::kinesis(
            &aws,
            Plane::Data {
                attempt_timeout: READ_ATTEMPT_TIMEOUT,
            },
        )) as Arc<dyn KinesisApi>,
    };
    // Lock and read the checkpoint before any AWS call: a second run must refuse at once.
    let (checkpoint, resume) = open_checkpoint(&config)?;
    // kds-tail reads records of any size the stream holds: the limit is not needed here.
    let _max_record =
        kds_aws::preflight::stream_active(&clients.control, &config.stream, TOOL).await?;
    let (tx, mut rx) = mpsc::channel::<Event>(64);
    let mut s = Session::new(config, clients, resume, checkpoint, tx, out);

    let reporter = report::start(s.verbose(), s.progress(), s.stats(), s.written());
    let started = Instant::now();
    let result = s.main_loop(&mut rx, &shutdown).await;
    let (flushed, saved) = s.close();
    let summary = s.summary(started.elapsed(), reporter.prints_summary());
    reporter.finish(&summary);
    result?;
    flushed.context("writing stdout")?;
    saved?;
    Ok(Exit::Ok)
}

/// The checkpoint (locked) and where the run starts: its positions when it has some, else
/// `--from` (`latest` stored as the start time, so a resumed run skips nothing after it).
fn open_checkpoint(config: &Config) -> anyhow::Result<(Option<Checkpoint>, Resume)> {
    let (checkpoint, saved) = match &config.checkpoint {
        Some(path) => {
            let (cp, saved) = Checkpoint::open(path)?;
            (Some(cp), saved)
        }
        None => (None, None),
    };
    let Some(state) = saved else {
        let stored = match &config.from {
            From::Latest => From::AtTimestamp(kds_common::time::now_ms()),
            f => f.clone(),
        };
        let state = checkpoint::State {
            version: checkpoint::VERSION,
            stream: config.stream.clone(),
            from: stored.render(),
            ..Default::default()
        };
        let from = config.from.clone();
        let resume = Resume {
            from,
            resumed: false,
            state,
        };
        return Ok((checkpoint, resume));
    };
    if state.stream != config.stream {
        return Err(usage(format!(
            "checkpoint {} belongs to stream {}, not {}",
            config
                .checkpoint
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            state.stream,
            config.stream
        )));
    }
    let from = From::parse(&state.from)
        .map_err(|e| anyhow::anyhow!("checkpoint has a bad \"from\": {e}"))?;
    let resume = Resume {
        from,
        resumed: true,
        state,
    };
    Ok((checkpoint, resume))
}
