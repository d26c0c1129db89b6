//! The collector with made-up times: packing, tokens, `--ordered`, retries, resharding and
//! aggregates.

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

/// A collector over two shards making aggregates of up to 50 KiB.
fn aggregating(t0: Instant) -> Collector {
    collector(|o| o.aggregate = Some(50 * 1024), t0)
}

/// A collector over the two shards "lo" and "hi", with [`opts`] as `set` changes them.
fn collector(set: impl FnOnce(&mut Options), t0: Instant) -> Collector {
    let mut o = opts();
    set(&mut o);
    Collector::new(two_shards(), o, t0)
}

/// Pushes 10-byte records of `lines`, each with its own key on the "lo" shard.
fn push_lo(c: &mut Collector, lines: std::ops::Range<u64>, t0: Instant) {
    for i in lines {
        c.push(rec(i, &key_on(true, i as usize), 10), t0);
    }
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
    let mut c = collector(|o| o.records_per_sec = 100, t0);
    // 300 records of one shard: 100 tokens now, then 1 per 10 ms.
    push_lo(&mut c, 0..300, t0);
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
    let mut c = collector(|o| o.bytes_per_sec = 0, t0);
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
    let mut c = collector(|o| o.ordered = true, t0);
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
    let mut c = collector(|o| o.ordered = true, t0);
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
    let mut c = aggregating(t0);
    // One aggregate sent and failed (a retry waiting), one still queued, both on "lo".
    push_lo(&mut c, 0..40, t0);
    c.flush_aggregators(t0, true);
    c.fill(t0);
    let failed = c.take_call().unwrap();
    c.release(&failed.slots);
    c.requeue(failed.entries, t0 + Duration::from_millis(50));
    push_lo(&mut c, 40..80, t0);
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
    let mut c = aggregating(t0);
    push_lo(&mut c, 0..10, t0);
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
