//! The dispatcher: takes records from the reader into the collector (batching), sends calls
//! when they are ready with up to `--concurrency` in flight (`sender.rs`), takes back what
//! they leave to retry, and re-reads the shard map when a result names a shard it does not
//! know (resharding).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kds_aws::kinesis::KinesisApi;
use kds_common::rng::Rng;
use kds_common::signal::Shutdown;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::collect::Collector;
use crate::config::Config;
use crate::input::Item;
use crate::report;
use crate::sender::{send_call, Ctx, Outcome};
use crate::shard_map::{list_open_shards, ListShardsFailure};

/// Input items taken per turn of the dispatcher loop.
const ITEMS_PER_TURN: usize = 256;
/// Least time between two ListShards refreshes.
const SHARD_REFRESH_INTERVAL: Duration = Duration::from_secs(5);

pub struct Dispatcher {
    ctx: Arc<Ctx>,
    control: Arc<dyn KinesisApi>,
    verbose: bool,
    concurrency: usize,
    /// The per-shard queues and the call being packed; its shard map is the only one.
    collector: Collector,
    calls: JoinSet<Outcome>,
    rng: Rng,
    last_refresh: Instant,
    /// A result named a shard the map does not know: re-list (at most every 5 s).
    refresh_wanted: bool,
}

impl Dispatcher {
    pub fn new(
        ctx: Arc<Ctx>,
        control: Arc<dyn KinesisApi>,
        config: &Config,
        collector: Collector,
    ) -> Dispatcher {
        Dispatcher {
            ctx,
            control,
            verbose: config.verbose,
            concurrency: config.concurrency,
            collector,
            calls: JoinSet::new(),
            rng: Rng::from_entropy(),
            last_refresh: Instant::now(),
            refresh_wanted: false,
        }
    }

    /// Runs until the input is done and everything read is delivered or dead-lettered, or
    /// (after a signal or a fatal error) until what was read is finished.
    pub async fn run(
        &mut self,
        mut rx: mpsc::UnboundedReceiver<Item>,
        shutdown: &Shutdown,
        stop: &AtomicBool,
    ) {
        let mut closing = false;
        let mut input_done = false;
        loop {
            if !closing && (shutdown.requested() || self.ctx.should_stop()) {
                // Stop reading; what was read is still sent (or dead-lettered).
                closing = true;
                stop.store(true, Ordering::Relaxed);
                rx.close();
                self.ctx.budget.close();
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
            tokio::select! {
                item = rx.recv(), if !input_done => match item {
                    Some(item) => self.take_input(item, &mut rx),
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

    /// Routes `first` and what else is waiting, up to a bound, before packing again.
    fn take_input(&mut self, first: Item, rx: &mut mpsc::UnboundedReceiver<Item>) {
        let now = Instant::now();
        self.route(first, now);
        for _ in 1..ITEMS_PER_TURN {
            match rx.try_recv() {
                Ok(item) => self.route(item, now),
                Err(_) => break,
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
                let map = self.collector.map();
                if out.shards.iter().any(|s| !map.contains(s)) {
                    self.refresh_wanted = true;
                }
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
        if !self.refresh_wanted || self.last_refresh.elapsed() < SHARD_REFRESH_INTERVAL {
            return;
        }
        self.last_refresh = Instant::now();
        self.refresh_wanted = false;
        match list_open_shards(&*self.control, &self.ctx.stream).await {
            Ok(map) => {
                if self.verbose {
                    kds_common::diag!(
                        "kds-put: shard map refreshed: {} open shards (was {})",
                        map.len(),
                        self.collector.map().len()
                    );
                }
                self.collector.reshard(Arc::new(map), Instant::now());
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
        match item {
            Item::Bad(bad) => report::bad_line(&self.ctx, bad),
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
