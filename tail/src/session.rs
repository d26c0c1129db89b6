//! One run of kds-tail: the shards and their reader tasks ([`Coordinator`]), the writer loop
//! that takes pages, listings and ticks, the stop conditions (`-c`, `-e`, `--until`,
//! `--idle-timeout`), and the positions saved in the checkpoint.

mod page;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::bail;
use aws_sdk_kinesis::Client;
use kds_aws::kinesis::KinesisApi;
use kds_common::exit::usage;
use kds_common::io::Output;
use kds_common::signal::Shutdown;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::checkpoint::{self, Checkpoint};
use crate::config::{Config, From};
use crate::lister::Lister;
use crate::output::Formatter;
use crate::reader::{Event, ShardReader, ShardStats, Start};
use crate::shards::{self, Coordinator, State};
use crate::{range, StatsMap, TOOL};

/// Where a run starts: the checkpoint's positions, or `--from` for a first run.
pub(crate) struct Resume {
    /// The `from` that applies to shards the checkpoint does not name.
    pub(crate) from: From,
    /// A checkpoint was read.
    pub(crate) resumed: bool,
    pub(crate) state: checkpoint::State,
}

/// The two Kinesis clients: control-plane calls (ListShards) and the readers' data plane.
pub(crate) struct Clients {
    pub(crate) control: Client,
    pub(crate) reader: Arc<dyn KinesisApi>,
}

pub(crate) struct Session {
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
    /// `written` as of the last page, for the progress line's thread.
    written_shown: Arc<AtomicU64>,
    bad_aggregates: u64,
    /// User records outside their shard's hash-key range (see [`range`]).
    outside_shard: u64,
    warned: bool,
}

impl Session {
    /// A session that has started nothing yet; the lister relists on its own task.
    pub(crate) fn new(
        config: Config,
        clients: Clients,
        resume: Resume,
        checkpoint: Option<Checkpoint>,
        tx: mpsc::Sender<Event>,
        out: Output,
    ) -> Session {
        let lister = Lister::spawn(
            clients.control.clone(),
            config.stream.clone(),
            config.list_interval,
        );
        Session {
            fmt: Formatter::new(config.data, config.envelope),
            coord: match &config.shard_id {
                Some(id) => Coordinator::only(id.clone()),
                None => Coordinator::new(config.subset),
            },
            config,
            client: clients.control,
            reader_client: clients.reader,
            initial: HashSet::new(),
            from: resume.from,
            resumed: resume.resumed,
            checkpoint,
            state: resume.state,
            tasks: HashMap::new(),
            lister,
            at_tip: HashMap::new(),
            stats: Arc::new(Mutex::new(BTreeMap::new())),
            tx,
            out,
            written: 0,
            written_shown: Arc::new(AtomicU64::new(0)),
            bad_aggregates: 0,
            outside_shard: 0,
            warned: false,
        }
    }

    pub(crate) fn stats(&self) -> StatsMap {
        Arc::clone(&self.stats)
    }

    /// The count of records written (user records), updated once per page.
    pub(crate) fn written(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.written_shown)
    }

    pub(crate) fn verbose(&self) -> bool {
        self.config.verbose
    }

    pub(crate) fn progress(&self) -> bool {
        self.config.progress
    }

    /// Stops every task; flushes the output and saves the checkpoint (whatever happened, the
    /// positions in `state` name only flushed records). Both results, flush first.
    pub(crate) fn close(&mut self) -> (std::io::Result<()>, anyhow::Result<()>) {
        for (_, task) in self.tasks.drain() {
            task.abort();
        }
        self.lister.abort();
        (self.out.flush(), self.save_checkpoint())
    }

    /// The closing stats line; the data warnings are also printed here, on stderr, unless
    /// `-v` or the progress line will show the summary anyway.
    pub(crate) fn summary(&self, elapsed: Duration, reporter_prints_summary: bool) -> String {
        let renewals: u64 = self
            .stats
            .lock()
            .map(|m| {
                m.values()
                    .map(|st| st.renewals.load(Ordering::Relaxed))
                    .sum()
            })
            .unwrap_or(0);
        let mut summary = format!(
            "{} records in {:.1}s ({:.0}/s), {} iterator renewals",
            self.written,
            elapsed.as_secs_f64(),
            kds_common::stats::rate(self.written, elapsed),
            renewals
        );
        if self.outside_shard > 0 {
            let line = range::summary(self.outside_shard, self.config.kcl_drop_outside_shard);
            kds_common::diag!("{TOOL}: warning: {line}");
        }
        let w = self.fmt.warnings;
        if w.total() > 0 || self.bad_aggregates > 0 {
            let warn = format!(
                "warning: {} records not a single UTF-8 line ({} as JSON strings, {} as base64), {} bad KPL aggregates",
                w.total(),
                w.escaped,
                w.base64,
                self.bad_aggregates
            );
            if !(self.config.verbose || reporter_prints_summary) {
                kds_common::diag!("{TOOL}: {warn}");
            }
            summary.push_str("; ");
            summary.push_str(&warn);
        }
        summary
    }
}

impl Session {
    pub(crate) async fn main_loop(
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

    fn save_checkpoint(&mut self) -> anyhow::Result<()> {
        let Some(cp) = &self.checkpoint else {
            return Ok(());
        };
        cp.save(&self.state)
    }
}
