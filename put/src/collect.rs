//! The collector: per-shard queues and rate limits, and the PutRecords call being packed
//! with entries of any shards (what the KPL calls "collection"; its aggregation stays per
//! shard).
//!
//! A record is routed to its shard's slot (MD5 of the key over the shard map), optionally
//! aggregated there, and queued. [`Collector::fill`] moves queue heads into the open call
//! while their shard has tokens (1,000 records/s, 1 MiB/s: taken per entry before it joins),
//! the call has room (500 entries, 5 MiB) and, with `--ordered`, the shard has no call in
//! flight and the call does not hold the key yet. The dispatcher sends the call when it is
//! full or has waited `--linger`, with at most `--concurrency` calls in flight.
//!
//! Failed entries come back through [`Collector::requeue`]: with `--ordered`, to the front
//! of their shard's queue, and the shard waits for the backoff (nothing of that shard can
//! overtake them); otherwise they wait for their backoff apart and then go to the front,
//! re-packed with whatever else is pending.
//!
//! Synchronous on purpose: the dispatcher drives it with the current time, tests with made-up
//! times.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::aggregate::{split_by_shard, Aggregator};
use crate::batch::{Admit, Call, Entry, UserRecord};
use crate::rate::ShardLimit;
use crate::shard_map::ShardMap;

/// The collector's settings (from the flags).
#[derive(Debug, Clone)]
pub struct Options {
    pub max_records: usize,
    /// Bytes per PutRecords call (see [`crate::limits::max_batch_bytes`]).
    pub max_call_bytes: usize,
    pub ordered: bool,
    pub linger: Duration,
    /// `--aggregate`: the largest aggregated record.
    pub aggregate: Option<usize>,
    pub records_per_sec: u64,
    pub bytes_per_sec: u64,
}

/// One shard's pending entries and budget.
#[derive(Debug)]
struct Slot {
    id: Arc<str>,
    queue: VecDeque<Entry>,
    limit: ShardLimit,
    aggregator: Option<Aggregator>,
    /// When the oldest record in the aggregator arrived.
    agg_oldest: Option<Instant>,
    /// `--ordered`: a call with entries of this shard is in flight.
    busy: bool,
    /// `--ordered`: retries at the head of the queue back off until then.
    not_before: Option<Instant>,
}

/// What one shard added to the call in one round of [`Collector::fill`].
#[derive(Debug, Default)]
struct Step {
    taken: usize,
    /// `--ordered`: the shard's head holds a key the call has already.
    key_repeated: bool,
}

/// A packed call, ready to send.
#[derive(Debug)]
pub struct Outgoing {
    pub entries: Vec<Entry>,
    /// Collector slots with entries in the call: hand them back to [`Collector::release`].
    pub slots: Vec<usize>,
}

#[derive(Debug)]
pub struct Collector {
    opts: Options,
    map: Arc<ShardMap>,
    /// Map position (see [`ShardMap::index_for_hash`]) -> slot.
    route: Vec<usize>,
    slots: Vec<Slot>,
    call: Call,
    /// Retries backing off (without `--ordered`): when they may go, and the entries.
    delayed: Vec<(Instant, Vec<Entry>)>,
    cursor: usize,
    /// Scratch for [`Collector::fill`]: slots that can add nothing more this time.
    done: Vec<bool>,
    /// The earliest time a shard held back only by its tokens may add to the call.
    token_wake: Option<Instant>,
    /// `--ordered`, after a reshard: no call goes out while older calls are in flight.
    barrier: bool,
}

impl Collector {
    pub fn new(map: Arc<ShardMap>, opts: Options, now: Instant) -> Collector {
        let mut c = Collector {
            call: Call::new(opts.max_records, opts.max_call_bytes, opts.ordered),
            opts,
            map: Arc::clone(&map),
            route: Vec::new(),
            slots: Vec::new(),
            delayed: Vec::new(),
            cursor: 0,
            done: Vec::new(),
            token_wake: None,
            barrier: false,
        };
        c.install_map(map, now);
        c
    }

    /// Points the routing at `map`, creating slots for shards not seen before.
    fn install_map(&mut self, map: Arc<ShardMap>, now: Instant) {
        self.route.clear();
        for shard in map.shards() {
            let slot = match self.slots.iter().position(|s| s.id == shard.shard_id) {
                Some(i) => i,
                None => {
                    self.slots.push(Slot {
                        id: Arc::clone(&shard.shard_id),
                        queue: VecDeque::new(),
                        limit: ShardLimit::new(
                            self.opts.records_per_sec,
                            self.opts.bytes_per_sec,
                            now,
                        ),
                        aggregator: self.opts.aggregate.map(Aggregator::new),
                        agg_oldest: None,
                        busy: false,
                        not_before: None,
                    });
                    self.slots.len() - 1
                }
            };
            self.route.push(slot);
        }
        self.map = map;
    }

    fn slot_for_hash(&self, hash: u128) -> usize {
        self.route[self.map.index_for_hash(hash)]
    }

    /// The shard id of a slot.
    pub fn shard_id(&self, slot: usize) -> &Arc<str> {
        &self.slots[slot].id
    }

    pub fn map(&self) -> &Arc<ShardMap> {
        &self.map
    }

    /// An entry as the current map routes it: an aggregate packed by an older map (before a
    /// reshard) is re-packed per shard.
    fn split_for_map(&self, entry: Entry) -> Vec<(usize, Entry)> {
        split_by_shard(entry, |h| self.slot_for_hash(h))
    }

    fn enqueue_back(&mut self, slot: usize, entry: Entry) {
        self.slots[slot].queue.push_back(entry);
    }

    /// Routes a record to its shard (through the shard's aggregator with `--aggregate`).
    pub fn push(&mut self, rec: UserRecord, now: Instant) {
        let slot = self.slot_for_hash(rec.hash);
        let s = &mut self.slots[slot];
        let Some(agg) = s.aggregator.as_mut() else {
            self.enqueue_back(slot, Entry::plain(rec));
            return;
        };
        let ready = agg.push(rec);
        if ready.is_empty() {
            s.agg_oldest.get_or_insert(now);
        } else {
            s.agg_oldest = (!agg.is_empty()).then_some(now);
        }
        for e in ready {
            self.enqueue_back(slot, e);
        }
    }

    /// Moves aggregates that have waited `--linger` (all of them with `force`) to the queues.
    pub fn flush_aggregators(&mut self, now: Instant, force: bool) {
        for slot in 0..self.slots.len() {
            let s = &mut self.slots[slot];
            let due = s
                .agg_oldest
                .is_some_and(|t| force || t + self.opts.linger <= now);
            if !due {
                continue;
            }
            s.agg_oldest = None;
            if let Some(e) = s.aggregator.as_mut().and_then(Aggregator::take) {
                self.enqueue_back(slot, e);
            }
        }
    }

    /// Nothing is pending here (calls in flight are the dispatcher's).
    pub fn is_idle(&self) -> bool {
        self.call.is_empty()
            && self.delayed.is_empty()
            && self
                .slots
                .iter()
                .all(|s| s.agg_oldest.is_none() && s.queue.is_empty())
    }

    /// Takes back entries that failed with a retryable error; they may go at `ready_at`.
    pub fn requeue(&mut self, entries: Vec<Entry>, ready_at: Instant) {
        if entries.is_empty() {
            return;
        }
        if self.opts.ordered {
            self.push_fronts(entries, Some(ready_at));
        } else {
            self.delayed.push((ready_at, entries));
        }
    }

    /// Puts entries (in their order) at the fronts of their shards' queues.
    fn push_fronts(&mut self, entries: Vec<Entry>, not_before: Option<Instant>) {
        for e in entries.into_iter().rev() {
            for (slot, part) in self.split_for_map(e).into_iter().rev() {
                let s = &mut self.slots[slot];
                if let Some(t) = not_before {
                    s.not_before = Some(s.not_before.map_or(t, |n| n.max(t)));
                }
                s.queue.push_front(part);
            }
        }
    }

    /// `--ordered`: the call holding entries of these slots has come back (after
    /// [`Collector::requeue`] of its failures).
    pub fn release(&mut self, slots: &[usize]) {
        for &s in slots {
            self.slots[s].busy = false;
        }
    }

    /// Moves retries whose backoff is over to the fronts of their queues.
    fn promote_due(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.delayed.len() {
            if self.delayed[i].0 <= now {
                let (_, entries) = self.delayed.swap_remove(i);
                self.push_fronts(entries, None);
            } else {
                i += 1;
            }
        }
    }

    /// Packs queue heads into the open call while shards have tokens and the call has room.
    pub fn fill(&mut self, now: Instant) {
        self.promote_due(now);
        self.expire_backoffs(now);
        self.token_wake = None;
        let n = self.slots.len();
        if self.barrier || n == 0 {
            return;
        }
        // Rounds over the shards, a share of the room each, so one deep queue does not fill
        // every call while the others wait.
        let mut key_repeated = false;
        self.done.clear();
        self.done.resize(n, false);
        loop {
            let room = self.opts.max_records.saturating_sub(self.call.len());
            if room == 0 || self.call.is_full() {
                break;
            }
            let share = room.div_ceil(n).max(8);
            let mut progress = false;
            for k in 0..n {
                let slot = (self.cursor + k) % n;
                if self.done[slot] {
                    continue;
                }
                let step = self.take_from(slot, share, now);
                progress |= step.taken > 0;
                key_repeated |= step.key_repeated;
                if self.call.is_full() {
                    break;
                }
            }
            if !progress {
                break;
            }
        }
        self.cursor = (self.cursor + 1) % n;
        if key_repeated {
            // As with per-shard batches: the call is cut where a key would repeat.
            self.call.full = true;
        }
    }

    /// Moves up to `share` heads of `slot`'s queue into the open call; marks the slot done
    /// when it can add nothing more this time (empty, busy, backing off, out of tokens, or
    /// its head's key is in the call already).
    fn take_from(&mut self, slot: usize, share: usize, now: Instant) -> Step {
        let mut step = Step::default();
        let s = &mut self.slots[slot];
        if s.queue.is_empty()
            || (self.opts.ordered && (s.busy || s.not_before.is_some_and(|t| t > now)))
        {
            self.done[slot] = true;
            return step;
        }
        while step.taken < share {
            let Some(head) = s.queue.front() else {
                self.done[slot] = true;
                break;
            };
            match self.call.admits(head) {
                Admit::Yes => {}
                Admit::Full => break,
                Admit::NoRoom => {
                    self.call.full = true;
                    break;
                }
                Admit::KeyRepeats => {
                    step.key_repeated = true;
                    self.done[slot] = true;
                    break;
                }
            }
            let size = head.size();
            if !s.limit.try_take(size, now) {
                let at = now + s.limit.ready_in(size, now);
                self.token_wake = Some(self.token_wake.map_or(at, |w| w.min(at)));
                self.done[slot] = true;
                break;
            }
            let Some(e) = s.queue.pop_front() else { break };
            self.call.push(e, slot, now);
            step.taken += 1;
        }
        step
    }

    /// The open call should go now: it is full, has waited `--linger`, or (`draining`) no
    /// more input will come.
    pub fn ready_to_send(&self, now: Instant, draining: bool) -> bool {
        !self.barrier
            && !self.call.is_empty()
            && (draining
                || self.call.is_full()
                || self
                    .call
                    .oldest
                    .is_some_and(|t| t + self.opts.linger <= now))
    }

    /// Takes the open call to send it; with `--ordered` its shards are busy until released.
    pub fn take_call(&mut self) -> Option<Outgoing> {
        let (entries, slots) = self.call.take()?;
        if self.opts.ordered {
            for &s in &slots {
                self.slots[s].busy = true;
            }
        }
        Some(Outgoing { entries, slots })
    }

    /// When something here may change without new input or a call coming back: the open
    /// call's linger (if it may be sent then), tokens, backoffs, aggregates.
    pub fn next_wake(&self, can_send: bool) -> Option<Instant> {
        let mut wake: Option<Instant> = None;
        let mut at = |t: Instant| wake = Some(wake.map_or(t, |w| w.min(t)));
        if can_send && !self.barrier {
            if let Some(t) = self.call.oldest {
                at(t + self.opts.linger);
            }
        }
        if !self.call.is_full() {
            if let Some(t) = self.token_wake {
                at(t);
            }
        }
        for s in &self.slots {
            if let Some(t) = s.not_before.filter(|_| !s.queue.is_empty() && !s.busy) {
                at(t);
            }
            if let Some(t) = s.agg_oldest {
                at(t + self.opts.linger);
            }
        }
        for (t, _) in &self.delayed {
            at(*t);
        }
        wake
    }

    /// Clears `not_before` marks that have passed (keeps [`Collector::next_wake`] from
    /// returning times in the past).
    pub fn expire_backoffs(&mut self, now: Instant) {
        for s in &mut self.slots {
            if s.not_before.is_some_and(|t| t <= now) {
                s.not_before = None;
            }
        }
    }

    /// The stream was resharded: route by `map` from now on, and move everything pending
    /// (aggregates, the open call, the queues) to the shards that now own it, keeping each
    /// key's order. With `--ordered`, no call goes out until the calls in flight (packed by
    /// the old map) have come back: see [`Collector::lift_barrier`].
    pub fn reshard(&mut self, map: Arc<ShardMap>, now: Instant) {
        for slot in 0..self.slots.len() {
            let s = &mut self.slots[slot];
            s.agg_oldest = None;
            if let Some(e) = s.aggregator.as_mut().and_then(Aggregator::take) {
                self.enqueue_back(slot, e);
            }
        }
        // Oldest first: the open call (its entries left their queues first), then each
        // queue in order; the backoff of a queue's head travels with its entries.
        let mut pending: Vec<(Entry, Option<Instant>)> = Vec::new();
        if let Some((entries, _)) = self.call.take() {
            pending.extend(entries.into_iter().map(|e| (e, None)));
        }
        for s in &mut self.slots {
            let nb = s.not_before.take();
            pending.extend(s.queue.drain(..).map(|e| (e, nb)));
        }
        self.install_map(map, now);
        for (e, nb) in pending {
            for (slot, part) in self.split_for_map(e) {
                let s = &mut self.slots[slot];
                if let Some(t) = nb {
                    s.not_before = Some(s.not_before.map_or(t, |n| n.max(t)));
                }
                s.queue.push_back(part);
            }
        }
        if self.opts.ordered {
            self.barrier = true;
        }
    }

    /// Called when no call is in flight: the reshard barrier (if any) is over.
    pub fn lift_barrier(&mut self) {
        self.barrier = false;
    }

    pub fn barrier(&self) -> bool {
        self.barrier
    }
}

#[cfg(test)]
mod tests;
