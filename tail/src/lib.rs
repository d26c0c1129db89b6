//! kds-tail: read every shard of a Kinesis data stream as NDJSON.
//!
//! `run` validates the flags, then [`tail`] lists the shards, starts one reader task per shard
//! whose parents are done ([`shards::Coordinator`]), and writes every page the tasks send into
//! ONE output, in the order pages arrive (so per-shard order is kept). The checkpoint only ever
//! names records that have been written and flushed: at-least-once.

pub mod checkpoint;
pub mod config;
pub mod lister;
pub mod output;
pub mod range;
pub mod reader;
mod report;
pub mod shards;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context};
use aws_sdk_kinesis::Client;
use kds_aws::client::Plane;
use kds_aws::kinesis::KinesisApi;
use kds_common::exit::{usage, Exit};
use kds_common::io::Output;
use kds_common::signal::Shutdown;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use config::{Args, Config};

use checkpoint::Checkpoint;
use config::From;
use kds_common::kpl::{self, Decoded};
use lister::Lister;
use output::{Formatter, OutRecord};
use reader::{Event, ShardReader, ShardStats, Start};
use shards::{Coordinator, State};

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

struct Session {
    config: Config,
    client: Client,
    reader_client: Arc<dyn KinesisApi>,
    coord: Coordinator,
    /// Shards in the first listing; shards found later start at their first record.
    initial: HashSet<String>,
    /// The `from` that applies to shards the checkpoint does not name.
    from: From,
    resumed: bool,
    checkpoint: Option<Checkpoint>,
    state: checkpoint::State,
    tasks: HashMap<String, JoinHandle<()>>,
    /// Relists the shards on its own task.
    lister: Lister,
    at_tip: HashMap<String, bool>,
    stats: StatsMap,
    tx: mpsc::Sender<Event>,
    out: Output,
    fmt: Formatter,
    written: u64,
    bad_aggregates: u64,
    /// User records outside their shard's hash-key range (see [`range`]).
    outside_shard: u64,
    warned: bool,
}

/// Reads the stream per `config`, writing to `out` until a stop condition or `shutdown`.
pub async fn tail(config: Config, out: Output, shutdown: Shutdown) -> anyhow::Result<Exit> {
    let Some(aws) = kds_aws::start(&config.aws, &[kds_aws::Service::Kinesis]).await? else {
        return Ok(Exit::Ok);
    };
    let client = kds_aws::client::kinesis(&aws, Plane::Control);
    let reader_client: Arc<dyn KinesisApi> = Arc::new(kds_aws::client::kinesis(
        &aws,
        Plane::Data {
            attempt_timeout: READ_ATTEMPT_TIMEOUT,
        },
    ));

    // Lock and read the checkpoint before any AWS call: a second run must refuse at once.
    let (checkpoint, saved) = match &config.checkpoint {
        Some(path) => {
            let (cp, saved) = Checkpoint::open(path)?;
            (Some(cp), saved)
        }
        None => (None, None),
    };
    if let Some(s) = &saved {
        if s.stream != config.stream {
            return Err(usage(format!(
                "checkpoint {} belongs to stream {}, not {}",
                config
                    .checkpoint
                    .as_deref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                s.stream,
                config.stream
            )));
        }
    }
    let start_ms = kds_common::time::now_ms();
    let resumed = saved.is_some();
    let (from, state) = match saved {
        Some(s) => {
            let from = From::parse(&s.from)
                .map_err(|e| anyhow::anyhow!("checkpoint has a bad \"from\": {e}"))?;
            (from, s)
        }
        None => {
            let stored = match &config.from {
                From::Latest => From::AtTimestamp(start_ms),
                f => f.clone(),
            };
            let state = checkpoint::State {
                version: checkpoint::VERSION,
                stream: config.stream.clone(),
                from: stored.render(),
                ..Default::default()
            };
            (config.from.clone(), state)
        }
    };

    // kds-tail reads records of any size the stream holds: the limit is not needed here.
    let _max_record = kds_aws::preflight::stream_active(&client, &config.stream, TOOL).await?;
    let (tx, mut rx) = mpsc::channel::<Event>(64);
    let lister = Lister::spawn(client.clone(), config.stream.clone(), config.list_interval);
    let mut s = Session {
        fmt: Formatter::new(config.data, config.envelope),
        coord: match &config.shard_id {
            Some(id) => Coordinator::only(id.clone()),
            None => Coordinator::new(config.subset),
        },
        config,
        client,
        reader_client,
        initial: HashSet::new(),
        from,
        resumed,
        checkpoint,
        state,
        tasks: HashMap::new(),
        lister,
        at_tip: HashMap::new(),
        stats: Arc::new(Mutex::new(BTreeMap::new())),
        tx,
        out,
        written: 0,
        bad_aggregates: 0,
        outside_shard: 0,
        warned: false,
    };

    let reporter = report::start(s.config.verbose, s.config.progress, Arc::clone(&s.stats));
    let started = Instant::now();
    let result = s.main_loop(&mut rx, &shutdown).await;
    for (_, task) in s.tasks.drain() {
        task.abort();
    }
    s.lister.abort();
    // Whatever happened, the positions in `state` name only flushed records: save them.
    let flushed = s.out.flush();
    let saved = s.save_checkpoint();
    let renewals: u64 = s
        .stats
        .lock()
        .map(|m| {
            m.values()
                .map(|st| st.renewals.load(Ordering::Relaxed))
                .sum()
        })
        .unwrap_or(0);
    let elapsed = started.elapsed();
    let mut summary = format!(
        "{} records in {:.1}s ({:.0}/s), {} iterator renewals",
        s.written,
        elapsed.as_secs_f64(),
        kds_common::stats::rate(s.written, elapsed),
        renewals
    );
    let w = s.fmt.warnings;
    if s.outside_shard > 0 {
        let line = range::summary(s.outside_shard, s.config.kcl_drop_outside_shard);
        kds_common::diag!("{TOOL}: warning: {line}");
    }
    if w.total() > 0 || s.bad_aggregates > 0 {
        let warn = format!(
            "warning: {} records not a single UTF-8 line ({} as JSON strings, {} as base64), {} bad KPL aggregates",
            w.total(),
            w.escaped,
            w.base64,
            s.bad_aggregates
        );
        if !(s.config.verbose || reporter.prints_summary()) {
            kds_common::diag!("{TOOL}: {warn}");
        }
        summary.push_str("; ");
        summary.push_str(&warn);
    }
    reporter.finish(&summary);
    result?;
    flushed.context("writing stdout")?;
    saved?;
    Ok(Exit::Ok)
}

impl Session {
    async fn main_loop(
        &mut self,
        rx: &mut mpsc::Receiver<Event>,
        shutdown: &Shutdown,
    ) -> anyhow::Result<()> {
        self.init().await?;
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        let mut last_save = Instant::now();
        // --idle-timeout counts from the last record written (or from the start).
        let (mut last_written, mut last_record) = (self.written, Instant::now());
        loop {
            if self.done() || shutdown.requested() {
                return Ok(());
            }
            if self.written != last_written {
                (last_written, last_record) = (self.written, Instant::now());
            } else if self
                .config
                .idle_timeout
                .is_some_and(|idle| last_record.elapsed() >= idle)
            {
                return Ok(());
            }
            tokio::select! {
                ev = rx.recv() => match ev {
                    Some(ev) => self.handle(ev).await?,
                    None => bail!("internal: event channel closed"),
                },
                Some(listing) = self.lister.listings.recv() => {
                    self.lister.received();
                    self.coord.update(listing?);
                    self.start_ready();
                }
                _ = tick.tick() => {
                    if last_save.elapsed() >= self.config.checkpoint_interval {
                        self.save_checkpoint()?;
                        last_save = Instant::now();
                    }
                    self.until_by_clock();
                }
                _ = kds_aws::wait_for_shutdown(shutdown) => return Ok(()),
            }
        }
    }

    async fn init(&mut self) -> anyhow::Result<()> {
        let listing = shards::list_shards(&self.client, &self.config.stream).await?;
        self.initial = listing.iter().map(|s| s.id.clone()).collect();
        self.coord.update(listing);
        if let Some(shard) = &self.config.shard_id {
            if !self.initial.contains(shard) {
                return Err(usage(format!(
                    "--shard-id: stream {} has no shard {shard}",
                    self.config.stream
                )));
            }
        }
        if let From::AtSequence { shard, .. } = &self.from {
            if !self.initial.contains(shard) {
                return Err(usage(format!(
                    "--from at-sequence: stream {} has no shard {shard}",
                    self.config.stream
                )));
            }
        }
        if self.resumed {
            let finished: Vec<String> = self.state.finished.iter().cloned().collect();
            for id in finished {
                self.coord.set_state(&id, State::Finished);
            }
        } else {
            let ids: Vec<String> = self.coord.ids().map(str::to_string).collect();
            match &self.from {
                From::Latest => {
                    // Nothing will arrive in a shard that is closed already.
                    for id in ids {
                        if self.coord.info(&id).is_some_and(|i| i.closed) {
                            self.finish(&id);
                        }
                    }
                }
                From::AtSequence { shard, .. } => {
                    for id in self.coord.ancestors(shard) {
                        self.finish(&id);
                    }
                }
                _ => {}
            }
        }
        self.start_ready();
        Ok(())
    }

    fn finish(&mut self, id: &str) {
        self.coord.set_state(id, State::Finished);
        self.state.shards.remove(id);
        self.state.finished.insert(id.to_string());
        self.at_tip.remove(id);
        self.tasks.remove(id);
    }

    fn start_position(&self, id: &str) -> Start {
        if let Some(seq) = self.state.shards.get(id) {
            return Start::AfterSequence(seq.clone());
        }
        if !self.initial.contains(id) {
            return Start::TrimHorizon;
        }
        match &self.from {
            From::TrimHorizon => Start::TrimHorizon,
            From::Latest => Start::Latest,
            From::AtTimestamp(ms) => Start::AtTimestamp(*ms),
            From::AtSequence { shard, sequence } if shard == id => {
                Start::AtSequence(sequence.clone())
            }
            From::AtSequence { .. } => Start::TrimHorizon,
        }
    }

    fn start_ready(&mut self) {
        for id in self.coord.ready() {
            let stats = Arc::new(ShardStats::default());
            if let Ok(mut m) = self.stats.lock() {
                m.insert(id.clone(), Arc::clone(&stats));
            }
            let reader = ShardReader {
                client: Arc::clone(&self.reader_client),
                stream: self.config.stream.clone(),
                shard: Arc::from(id.as_str()),
                start: self.start_position(&id),
                limit: self.config.batch_limit,
                poll_interval: self.config.poll_interval,
                tx: self.tx.clone(),
                stats,
            };
            self.coord.set_state(&id, State::Running);
            self.at_tip.insert(id.clone(), false);
            self.tasks.insert(id, tokio::spawn(reader.run()));
        }
    }

    fn limit_reached(&self) -> bool {
        self.config.count.is_some_and(|n| self.written >= n)
    }

    fn done(&self) -> bool {
        if self.limit_reached() {
            return true;
        }
        // Every shard of ours is finished or stopped (under -e, an open shard is stopped as soon
        // as it is caught up: see `handle`), or waits on a parent that will never finish here.
        // A listing asked for after a shard ended may bring its children: wait for it.
        self.coord.mine_in(State::Running).next().is_none()
            && !self.lister.pending()
            && self.coord.ready().is_empty()
            && !self.coord.waiting_can_start()
    }

    /// --until: once the wall clock has passed it, a shard caught up is done.
    fn until_by_clock(&mut self) {
        let Some(until) = self.config.until_ms else {
            return;
        };
        if kds_common::time::now_ms() <= until {
            return;
        }
        let caught_up: Vec<String> = self
            .coord
            .mine_in(State::Running)
            .filter(|id| self.at_tip.get(*id).copied().unwrap_or(false))
            .map(str::to_string)
            .collect();
        for id in caught_up {
            self.stop(&id);
        }
    }

    fn stop(&mut self, id: &str) {
        self.coord.set_state(id, State::Stopped);
        if let Some(t) = self.tasks.remove(id) {
            t.abort();
        }
    }

    async fn handle(&mut self, ev: Event) -> anyhow::Result<()> {
        match ev {
            Event::Page {
                shard,
                records,
                at_tip,
            } => {
                if self.coord.state(&shard) != Some(State::Running) {
                    return Ok(()); // stopped meanwhile
                }
                self.at_tip.insert(shard.to_string(), at_tip);
                self.write_page(&shard, &records)?;
                // -e: a shard caught up once is done, as a partition at EOF is for `kcat -e`.
                // Waiting for every shard to be at the tip at the same moment never ends while
                // a producer keeps writing (some shard always has a fresh record).
                if at_tip
                    && self.config.exit_at_tip
                    && !self.coord.info(&shard).is_some_and(|i| i.closed)
                {
                    self.stop(&shard);
                }
            }
            Event::Finished { shard } => {
                if self.coord.state(&shard) != Some(State::Running) {
                    return Ok(());
                }
                self.finish(&shard);
                // Children already listed start now; a new listing (on the lister's task)
                // brings those not listed yet.
                self.start_ready();
                self.lister.request();
            }
            Event::Failed { shard, error } => {
                return Err(error.context(format!("reading shard {shard}")));
            }
        }
        Ok(())
    }

    fn write_page(
        &mut self,
        shard: &str,
        records: &[aws_sdk_kinesis::types::Record],
    ) -> anyhow::Result<()> {
        let mut position: Option<&str> = None;
        for r in records {
            if self.limit_reached() {
                break;
            }
            let arrival_ms = r
                .approximate_arrival_timestamp
                .and_then(|t| t.to_millis().ok());
            if let (Some(until), Some(at)) = (self.config.until_ms, arrival_ms) {
                if at > until {
                    self.stop(shard);
                    break;
                }
            }
            let data = r.data.as_ref();
            let pk = r.partition_key.as_deref().unwrap_or("");
            let base = OutRecord {
                shard_id: shard,
                sequence_number: &r.sequence_number,
                sub_sequence: None,
                partition_key: pk,
                arrival_ms,
                data,
            };
            let decoded = if self.config.deaggregate && kpl::looks_aggregated(data) {
                match kpl::decode(data) {
                    Ok(d) => d,
                    Err(e) => {
                        self.bad_aggregates += 1;
                        if self.bad_aggregates == 1 {
                            kds_common::diag!(
                                "{TOOL}: warning: {shard} {}: {e}; written as is (further ones are counted)",
                                r.sequence_number
                            );
                        }
                        Decoded::Plain
                    }
                }
            } else {
                Decoded::Plain
            };
            let before = self.fmt.warnings.total();
            match decoded {
                Decoded::Plain => {
                    self.fmt.write(&base, self.out.buffer());
                    self.written += 1;
                }
                Decoded::Aggregated(users) => {
                    let mut complete = true;
                    let range = self.coord.info(shard).and_then(|i| i.hash_range);
                    for (i, u) in users.iter().enumerate() {
                        if self.limit_reached() {
                            complete = false;
                            break;
                        }
                        if range::outside_shard(u, range) && self.outside(shard, r, i) {
                            continue;
                        }
                        let rec = OutRecord {
                            sub_sequence: Some(i as u64),
                            partition_key: u.partition_key,
                            data: u.data,
                            ..base
                        };
                        self.fmt.write(&rec, self.out.buffer());
                        self.written += 1;
                    }
                    if !complete {
                        // Part of an aggregate: don't checkpoint it, a restart re-reads it.
                        self.out.commit().context("writing stdout")?;
                        break;
                    }
                }
            }
            if !self.warned && self.fmt.warnings.total() > before && !self.config.envelope {
                self.warned = true;
                kds_common::diag!(
                    "{TOOL}: warning: {shard} {}: data is not a single UTF-8 line, written per --data {} (further ones are counted)",
                    r.sequence_number,
                    self.fmt.mode.name()
                );
            }
            self.out.commit().context("writing stdout")?;
            position = Some(&r.sequence_number);
        }
        self.out.flush().context("writing stdout")?;
        if let Some(seq) = position {
            self.state.shards.insert(shard.to_string(), seq.to_string());
        }
        Ok(())
    }

    /// Counts user record `i` of `r`, outside `shard`'s range; true when it is to be dropped.
    fn outside(&mut self, shard: &str, r: &aws_sdk_kinesis::types::Record, i: usize) -> bool {
        self.outside_shard += 1;
        if self.outside_shard == 1 || self.config.verbose {
            kds_common::diag!(
                "{TOOL}: warning: {shard} {} user record {i}: hash key outside the shard's range, {}",
                r.sequence_number,
                if self.config.kcl_drop_outside_shard { "dropped" } else { "kept" }
            );
        }
        self.config.kcl_drop_outside_shard
    }

    fn save_checkpoint(&mut self) -> anyhow::Result<()> {
        let Some(cp) = &self.checkpoint else {
            return Ok(());
        };
        cp.save(&self.state)
    }
}
