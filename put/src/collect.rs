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
    /// Entries in the queues and backing off (their bytes are bounded by the reader's budget,
    /// `budget.rs`, not here).
    queued: usize,
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
            queued: 0,
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
    /// reshard) is re-packed per shard, the queue count following the extra parts.
    fn split_for_map(&mut self, entry: Entry) -> Vec<(usize, Entry)> {
        let parts = split_by_shard(entry, |h| self.slot_for_hash(h));
        self.queued += parts.len() - 1;
        parts
    }

    fn enqueue_back(&mut self, slot: usize, entry: Entry) {
        self.queued += 1;
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
            && self.queued == 0
            && self.delayed.is_empty()
            && self.slots.iter().all(|s| s.agg_oldest.is_none())
    }

    /// Takes back entries that failed with a retryable error; they may go at `ready_at`.
    pub fn requeue(&mut self, entries: Vec<Entry>, ready_at: Instant) {
        if entries.is_empty() {
            return;
        }
        self.queued += entries.len();
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
            self.queued -= 1;
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
        let mut pending: Vec<(Entry, Option<Instant>)> = Vec::with_capacity(self.queued);
        if let Some((entries, _)) = self.call.take() {
            self.queued += entries.len();
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
mod tests {
    use super::*;
    use crate::batch::Origin;
    use crate::limits::MAX_RECORD_BYTES;
    use crate::shard_map::{hash_key, ShardRange};

    fn map(ids: &[(&str, u128, u128)]) -> Arc<ShardMap> {
        Arc::new(
            ShardMap::new(
                ids.iter()
                    .map(|(id, start, end)| ShardRange {
                        shard_id: Arc::from(*id),
                        start: *start,
                        end: *end,
                    })
                    .collect(),
            )
            .unwrap(),
        )
    }

    fn two_shards() -> Arc<ShardMap> {
        map(&[("lo", 0, (1 << 127) - 1), ("hi", 1 << 127, u128::MAX)])
    }

    fn opts() -> Options {
        Options {
            max_records: 500,
            max_call_bytes: crate::limits::MAX_BATCH_BYTES,
            ordered: false,
            linger: Duration::from_millis(100),
            aggregate: None,
            records_per_sec: 1000,
            bytes_per_sec: 1 << 20,
        }
    }

    fn rec(line: u64, key: &str, len: usize) -> UserRecord {
        UserRecord {
            line,
            data: vec![b'x'; len],
            partition_key: key.into(),
            explicit_hash_key: None,
            hash: hash_key(key),
        }
    }

    fn lines(entries: &[Entry]) -> Vec<u64> {
        entries
            .iter()
            .map(|e| match e.origin {
                Origin::Line(n) => n,
                Origin::Aggregate(_) => 0,
            })
            .collect()
    }

    /// Keys that land on the "lo" and "hi" shards.
    fn key_on(lo: bool, i: usize) -> String {
        (0..)
            .map(|j| format!("k{i}-{j}"))
            .find(|k| (hash_key(k) < 1 << 127) == lo)
            .unwrap()
    }

    #[test]
    fn one_call_packs_entries_of_every_shard() {
        let t0 = Instant::now();
        let mut c = Collector::new(two_shards(), opts(), t0);
        for i in 0..600 {
            c.push(rec(i, &format!("key{i}"), 50), t0);
        }
        c.fill(t0);
        assert!(c.ready_to_send(t0, false), "a full call goes at once");
        let call = c.take_call().unwrap();
        assert_eq!(call.entries.len(), 500);
        assert_eq!(call.slots.len(), 2, "both shards in one call");
        c.fill(t0);
        assert!(!c.ready_to_send(t0, false), "a partial call lingers");
        assert!(c.ready_to_send(t0 + Duration::from_millis(100), false));
        assert!(
            c.ready_to_send(t0, true),
            "at the end of input it goes at once"
        );
        let rest = c.take_call().unwrap();
        let mut all = lines(&call.entries);
        all.extend(lines(&rest.entries));
        all.sort_unstable();
        assert_eq!(all, (0..600).collect::<Vec<_>>());
        assert!(c.is_idle());
    }

    #[test]
    fn per_shard_order_is_kept_in_calls() {
        let t0 = Instant::now();
        let mut c = Collector::new(two_shards(), opts(), t0);
        for i in 0..300 {
            c.push(rec(i, &key_on(i % 3 == 0, i as usize), 10), t0);
        }
        c.fill(t0);
        let call = c.take_call().unwrap();
        let l = lines(&call.entries);
        let lo: Vec<u64> = l.iter().copied().filter(|n| n % 3 == 0).collect();
        let hi: Vec<u64> = l.iter().copied().filter(|n| n % 3 != 0).collect();
        assert!(lo.windows(2).all(|w| w[0] < w[1]));
        assert!(hi.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn tokens_are_taken_per_entry_before_it_joins() {
        let t0 = Instant::now();
        let o = Options {
            records_per_sec: 100,
            ..opts()
        };
        let mut c = Collector::new(two_shards(), o, t0);
        // 300 records of one shard: 100 tokens now, then 1 per 10 ms.
        for i in 0..300 {
            c.push(rec(i, &key_on(true, i as usize), 10), t0);
        }
        c.fill(t0);
        assert_eq!(c.call.len(), 100);
        assert_eq!(c.next_wake(true), Some(t0 + Duration::from_millis(10)));
        let t1 = t0 + Duration::from_millis(100);
        c.fill(t1);
        assert_eq!(c.call.len(), 110, "ten more tokens after 100 ms");
        let call = c.take_call().unwrap();
        assert_eq!(lines(&call.entries), (0..110).collect::<Vec<_>>());
        // The other shard's bucket is its own.
        for i in 0..50 {
            c.push(rec(1000 + i, &key_on(false, i as usize), 10), t1);
        }
        c.fill(t1);
        assert_eq!(c.call.len(), 50);
    }

    #[test]
    fn calls_stop_at_5_mib() {
        let t0 = Instant::now();
        let o = Options {
            bytes_per_sec: 0,
            ..opts()
        };
        let mut c = Collector::new(two_shards(), o, t0);
        for i in 0..12 {
            c.push(rec(i, &format!("k{i}"), MAX_RECORD_BYTES - 4), t0);
        }
        let mut sizes = Vec::new();
        loop {
            c.fill(t0);
            match c.take_call() {
                Some(call) => {
                    assert!(call.entries.iter().map(Entry::size).sum::<usize>() <= 5 << 20);
                    sizes.push(call.entries.len());
                }
                None => break,
            }
        }
        assert_eq!(sizes, vec![5, 5, 2]);
    }

    #[test]
    fn ordered_one_call_per_shard_and_each_key_once() {
        let t0 = Instant::now();
        let o = Options {
            ordered: true,
            ..opts()
        };
        let mut c = Collector::new(two_shards(), o, t0);
        let a = key_on(true, 1);
        let b = key_on(true, 2);
        let z = key_on(false, 3);
        for (i, k) in [&a, &b, &a, &z, &z].iter().enumerate() {
            c.push(rec(i as u64, k, 10), t0);
        }
        c.fill(t0);
        assert!(c.ready_to_send(t0, false), "cut where a key repeats");
        let first = c.take_call().unwrap();
        assert_eq!(lines(&first.entries).len(), 3, "a, b and one z");
        // Both shards are busy: nothing joins until the call comes back.
        c.fill(t0);
        assert!(c.take_call().is_none());
        // The first `a` failed: it goes back to the front, and its shard waits for the backoff.
        let mut failed: Vec<Entry> = first
            .entries
            .into_iter()
            .filter(|e| e.origin == Origin::Line(0))
            .collect();
        failed[0].attempts = 1;
        let backoff = t0 + Duration::from_millis(50);
        c.requeue(failed, backoff);
        c.release(&first.slots);
        c.fill(t0);
        let only_z = c.take_call().unwrap();
        assert_eq!(lines(&only_z.entries), vec![4], "the lo shard backs off");
        c.release(&only_z.slots);
        c.expire_backoffs(backoff);
        c.fill(backoff);
        let retry = c.take_call().unwrap();
        assert_eq!(
            lines(&retry.entries),
            vec![0],
            "the retry first, then a's next"
        );
        c.release(&retry.slots);
        c.fill(backoff);
        assert_eq!(lines(&c.take_call().unwrap().entries), vec![2]);
    }

    #[test]
    fn unordered_retries_wait_apart_then_go_first() {
        let t0 = Instant::now();
        let mut c = Collector::new(two_shards(), opts(), t0);
        let k = key_on(true, 7);
        for i in 0..3 {
            c.push(rec(i, &k, 10), t0);
        }
        c.fill(t0);
        let call = c.take_call().unwrap();
        for i in 3..5 {
            c.push(rec(i, &k, 10), t0);
        }
        let back = t0 + Duration::from_millis(30);
        c.requeue(call.entries.into_iter().take(1).collect(), back);
        c.fill(t0);
        assert_eq!(lines(&c.take_call().unwrap().entries), vec![3, 4]);
        assert_eq!(c.next_wake(true), Some(back));
        c.fill(back);
        assert_eq!(lines(&c.take_call().unwrap().entries), vec![0]);
        assert!(c.is_idle());
    }

    #[test]
    fn reshard_moves_pending_records_to_the_new_shards() {
        let t0 = Instant::now();
        let o = Options {
            ordered: true,
            ..opts()
        };
        let mut c = Collector::new(two_shards(), o, t0);
        let in_flight = {
            c.push(rec(0, &key_on(true, 0), 10), t0);
            c.fill(t0);
            c.take_call().unwrap()
        };
        for i in 1..200 {
            c.push(rec(i, &format!("key{i}"), 10), t0);
        }
        c.fill(t0);
        // "lo" splits in two halves.
        let split = map(&[
            ("lo-a", 0, (1 << 126) - 1),
            ("lo-b", 1 << 126, (1 << 127) - 1),
            ("hi", 1 << 127, u128::MAX),
        ]);
        c.reshard(split, t0);
        c.fill(t0);
        assert!(c.take_call().is_none(), "ordered: wait for the old call");
        c.release(&in_flight.slots);
        c.lift_barrier();
        let mut seen = Vec::new();
        let mut shards = std::collections::HashSet::new();
        loop {
            c.fill(t0);
            let Some(call) = c.take_call() else { break };
            for s in &call.slots {
                shards.insert(c.shard_id(*s).to_string());
            }
            seen.extend(lines(&call.entries));
            c.release(&call.slots);
        }
        seen.sort_unstable();
        assert_eq!(seen, (1..200).collect::<Vec<_>>());
        assert!(
            !shards.contains("lo"),
            "nothing is routed to the closed shard"
        );
        assert!(
            shards.contains("lo-a") && shards.contains("lo-b"),
            "{shards:?}"
        );
    }

    #[test]
    fn reshard_repacks_aggregates_per_child_shard() {
        let t0 = Instant::now();
        let o = Options {
            aggregate: Some(50 * 1024),
            ..opts()
        };
        let mut c = Collector::new(two_shards(), o, t0);
        // One aggregate sent and failed (a retry waiting), one still queued, both on "lo".
        for i in 0..40 {
            c.push(rec(i, &key_on(true, i as usize), 10), t0);
        }
        c.flush_aggregators(t0, true);
        c.fill(t0);
        let failed = c.take_call().unwrap();
        c.release(&failed.slots);
        c.requeue(failed.entries, t0 + Duration::from_millis(50));
        for i in 40..80 {
            c.push(rec(i, &key_on(true, i as usize), 10), t0);
        }
        c.flush_aggregators(t0, true);
        let lo_mid = 1u128 << 126;
        let split = map(&[
            ("lo-a", 0, lo_mid - 1),
            ("lo-b", lo_mid, (1 << 127) - 1),
            ("hi", 1 << 127, u128::MAX),
        ]);
        c.reshard(split, t0);
        let t1 = t0 + Duration::from_secs(1);
        let mut lines_seen = Vec::new();
        loop {
            c.fill(t1);
            let Some(call) = c.take_call() else { break };
            let shard_of = |h: u128| c.map().shards()[c.map().index_for_hash(h)].shard_id.clone();
            for e in &call.entries {
                // Kinesis routes the aggregate by its outer hash key: every user record in it
                // must belong to that shard.
                let shard = shard_of(e.hash);
                match &e.origin {
                    Origin::Aggregate(recs) => {
                        for r in recs {
                            assert_eq!(shard_of(r.hash), shard, "line {}", r.line);
                            lines_seen.push(r.line);
                        }
                    }
                    Origin::Line(n) => lines_seen.push(*n),
                }
            }
            c.release(&call.slots);
        }
        lines_seen.sort_unstable();
        assert_eq!(lines_seen, (0..80).collect::<Vec<_>>(), "nothing lost");
    }

    #[test]
    fn aggregates_wait_at_most_the_linger() {
        let t0 = Instant::now();
        let o = Options {
            aggregate: Some(50 * 1024),
            ..opts()
        };
        let mut c = Collector::new(two_shards(), o, t0);
        for i in 0..10 {
            c.push(rec(i, &key_on(true, i as usize), 10), t0);
        }
        c.fill(t0);
        assert!(c.take_call().is_none(), "still aggregating");
        assert_eq!(c.next_wake(true), Some(t0 + Duration::from_millis(100)));
        let t1 = t0 + Duration::from_millis(100);
        c.flush_aggregators(t1, false);
        c.fill(t1);
        let call = c.take_call().unwrap();
        assert_eq!(call.entries.len(), 1);
        assert_eq!(call.entries[0].records(), 10);
    }
}
