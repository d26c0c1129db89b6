//! Shard discovery and the lineage rules: which shard may be read when, and by which process.
//!
//! - A child is started only when ALL its parents are finished (read to their end by this
//!   process). A split child has one parent, a merge child two (`ParentShardId` and
//!   `AdjacentParentShardId`). A parent that ListShards no longer returns (past retention) counts
//!   as finished.
//! - `--shards i/n`: a shard belongs to subset `fnv1a64(root) % n`, where `root` is found by
//!   following `ParentShardId` links while the parent is listed. Split children therefore go
//!   where their parent went. A merge child follows its `ParentShardId` parent; when its
//!   adjacent parent belongs to another subset, this process cannot see that parent being read,
//!   so it waits only until the adjacent parent is closed (ListShards shows an ending sequence
//!   number). Per-key order across such a merge is guaranteed only within one process.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_kinesis::types::Shard;
use kds_aws::kinesis::{self, KinesisApi};
use kds_aws::retry::Policy;

use crate::config::Subset;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardInfo {
    pub id: String,
    pub parent: Option<String>,
    pub adjacent_parent: Option<String>,
    /// ListShards shows an ending sequence number: no records will be added.
    pub closed: bool,
    /// The shard's HashKeyRange (first, last), when ListShards gave a parsable one.
    pub hash_range: Option<(u128, u128)>,
}

impl ShardInfo {
    pub fn parents(&self) -> impl Iterator<Item = &str> {
        self.parent
            .iter()
            .chain(self.adjacent_parent.iter())
            .map(String::as_str)
    }
}

/// Lists every shard of the stream (open and closed) with the shared pager; throttling and
/// transient failures are retried (9 attempts per page).
pub async fn list_shards(client: &dyn KinesisApi, stream: &str) -> anyhow::Result<Vec<ShardInfo>> {
    let listed = kinesis::list_shards(client, stream, Policy::attempts(9))
        .await
        .map_err(|e| {
            if kinesis::is_stream_not_found(&e) {
                return kds_common::exit::usage(format!("stream {stream} does not exist"));
            }
            anyhow::Error::new(e).context(format!("ListShards on stream {stream}"))
        })?;
    Ok(listed.iter().map(shard_info).collect())
}

/// The lineage facts of one listed shard.
fn shard_info(s: &Shard) -> ShardInfo {
    ShardInfo {
        id: s.shard_id().to_string(),
        parent: s.parent_shard_id().map(str::to_string),
        adjacent_parent: s.adjacent_parent_shard_id().map(str::to_string),
        closed: !kinesis::is_open(s),
        hash_range: s.hash_key_range().and_then(|r| {
            Some((
                r.starting_hash_key().parse().ok()?,
                r.ending_hash_key().parse().ok()?,
            ))
        }),
    }
}

/// FNV-1a, 64 bit: stable across versions and machines (unlike std's hasher).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Known, not started.
    Waiting,
    Running,
    /// Read to its end (closed shard), or nothing to read under the start position.
    Finished,
    /// Stopped early (by --until, or caught up once under -e); its children are not read.
    Stopped,
}

/// The shard graph and what this process has done with each shard.
#[derive(Debug, Default)]
pub struct Coordinator {
    /// Listing order (ListShards returns parents before children).
    order: Vec<String>,
    shards: HashMap<String, ShardInfo>,
    states: HashMap<String, State>,
    subset: Option<Subset>,
    /// `--shard-id`: the one shard this process reads.
    only: Option<String>,
}

impl Coordinator {
    pub fn new(subset: Option<Subset>) -> Coordinator {
        Coordinator {
            subset,
            ..Coordinator::default()
        }
    }

    /// A coordinator that reads only shard `id` (not its children).
    pub fn only(id: String) -> Coordinator {
        Coordinator {
            only: Some(id),
            ..Coordinator::default()
        }
    }

    /// Merges a fresh listing; returns the ids not seen before.
    pub fn update(&mut self, listing: Vec<ShardInfo>) -> Vec<String> {
        let mut new = Vec::new();
        for s in listing {
            if !self.shards.contains_key(&s.id) {
                self.order.push(s.id.clone());
                self.states.insert(s.id.clone(), State::Waiting);
                new.push(s.id.clone());
            }
            self.shards.insert(s.id.clone(), s);
        }
        new
    }

    pub fn info(&self, id: &str) -> Option<&ShardInfo> {
        self.shards.get(id)
    }

    pub fn state(&self, id: &str) -> Option<State> {
        self.states.get(id).copied()
    }

    pub fn set_state(&mut self, id: &str, state: State) {
        if let Some(s) = self.states.get_mut(id) {
            *s = state;
        }
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.order.iter().map(String::as_str)
    }

    /// The oldest listed ancestor along `ParentShardId` links.
    pub fn root_of<'a>(&'a self, id: &'a str) -> &'a str {
        let mut cur = id;
        // Bounded walk, in case a listing ever had a cycle.
        for _ in 0..10_000 {
            match self.shards.get(cur).and_then(|s| s.parent.as_deref()) {
                Some(p) if self.shards.contains_key(p) => cur = p,
                _ => break,
            }
        }
        cur
    }

    /// True when this process reads the shard under `--shards`.
    pub fn is_mine(&self, id: &str) -> bool {
        if let Some(only) = &self.only {
            return only == id;
        }
        match self.subset {
            None => true,
            Some(s) => fnv1a64(self.root_of(id).as_bytes()) % s.count == s.index,
        }
    }

    /// True when every ancestor of `id` along parent links is... (see module docs).
    fn parent_done(&self, parent: &str) -> bool {
        let Some(info) = self.shards.get(parent) else {
            return true; // past retention
        };
        match self.states.get(parent) {
            Some(State::Finished) => true,
            _ if !self.is_mine(parent) => info.closed,
            _ => false,
        }
    }

    /// Shards of this process that may start now, in listing order.
    pub fn ready(&self) -> Vec<String> {
        self.order
            .iter()
            .filter(|id| self.states.get(*id) == Some(&State::Waiting) && self.is_mine(id))
            .filter(|id| {
                self.shards
                    .get(*id)
                    .is_some_and(|s| s.parents().all(|p| self.parent_done(p)))
            })
            .cloned()
            .collect()
    }

    /// Shards of this process in a state.
    pub fn mine_in(&self, state: State) -> impl Iterator<Item = &str> {
        self.order
            .iter()
            .map(String::as_str)
            .filter(move |id| self.states.get(*id) == Some(&state) && self.is_mine(id))
    }

    /// True when a shard of this process that is waiting could still start later (none of its
    /// ancestors was stopped by --until).
    pub fn waiting_can_start(&self) -> bool {
        self.mine_in(State::Waiting)
            .any(|id| !self.has_stopped_ancestor(id))
    }

    fn has_stopped_ancestor(&self, id: &str) -> bool {
        let mut stack: Vec<&str> = vec![id];
        let mut seen = 0;
        while let Some(cur) = stack.pop() {
            seen += 1;
            if seen > 10_000 {
                return false;
            }
            if let Some(info) = self.shards.get(cur) {
                for p in info.parents() {
                    if self.states.get(p) == Some(&State::Stopped) {
                        return true;
                    }
                    stack.push(p);
                }
            }
        }
        false
    }

    /// Ancestors (along both parent links) of a shard, for `--from at-sequence`.
    pub fn ancestors(&self, id: &str) -> Vec<String> {
        let mut out: BTreeMap<String, ()> = BTreeMap::new();
        let mut stack = vec![id.to_string()];
        while let Some(cur) = stack.pop() {
            if let Some(info) = self.shards.get(&cur) {
                for p in info.parents() {
                    if self.shards.contains_key(p) && out.insert(p.to_string(), ()).is_none() {
                        stack.push(p.to_string());
                    }
                }
            }
        }
        out.into_keys().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(id: &str, parent: Option<&str>, adjacent: Option<&str>, closed: bool) -> ShardInfo {
        ShardInfo {
            id: id.into(),
            parent: parent.map(Into::into),
            adjacent_parent: adjacent.map(Into::into),
            closed,
            hash_range: None,
        }
    }

    /// 0 split into 2,3; 1 and 2 merged into 4.
    fn graph(subset: Option<Subset>) -> Coordinator {
        let mut c = Coordinator::new(subset);
        c.update(vec![
            shard("s0", None, None, true),
            shard("s1", None, None, true),
            shard("s2", Some("s0"), None, true),
            shard("s3", Some("s0"), None, false),
            shard("s4", Some("s2"), Some("s1"), false),
        ]);
        c
    }

    #[test]
    fn shard_id_reads_that_shard_alone_at_once() {
        let mut c = Coordinator::only("s3".into());
        c.update(vec![
            shard("s0", None, None, true),
            shard("s3", Some("s0"), None, false),
            shard("s4", Some("s0"), None, false),
        ]);
        // Its closed parent is another process's business: s3 starts without it.
        assert_eq!(c.ready(), vec!["s3".to_string()]);
        assert!(!c.is_mine("s0") && !c.is_mine("s4"));
    }

    #[test]
    fn children_wait_for_all_parents() {
        let mut c = graph(None);
        assert_eq!(c.ready(), vec!["s0", "s1"]);
        c.set_state("s0", State::Running);
        c.set_state("s1", State::Running);
        assert!(c.ready().is_empty());
        c.set_state("s0", State::Finished);
        assert_eq!(c.ready(), vec!["s2", "s3"]);
        c.set_state("s2", State::Finished);
        assert!(c.ready().iter().all(|s| s != "s4"), "s1 not finished yet");
        c.set_state("s1", State::Finished);
        assert!(c.ready().contains(&"s4".to_string()));
    }

    #[test]
    fn unlisted_parents_count_as_finished() {
        let mut c = Coordinator::new(None);
        c.update(vec![shard("s5", Some("gone"), Some("gone2"), false)]);
        assert_eq!(c.ready(), vec!["s5"]);
    }

    #[test]
    fn subsets_partition_lineages() {
        let n = 3;
        let mut owners: HashMap<String, Vec<u64>> = HashMap::new();
        for i in 0..n {
            let c = graph(Some(Subset { index: i, count: n }));
            for id in ["s0", "s1", "s2", "s3", "s4"] {
                if c.is_mine(id) {
                    owners.entry(id.into()).or_default().push(i);
                }
            }
            assert_eq!(c.root_of("s4"), "s0");
            assert_eq!(c.root_of("s3"), "s0");
        }
        for id in ["s0", "s1", "s2", "s3", "s4"] {
            assert_eq!(owners[id].len(), 1, "{id}: {:?}", owners.get(id));
        }
        assert_eq!(owners["s2"], owners["s0"]);
        assert_eq!(
            owners["s4"], owners["s0"],
            "merge child follows ParentShardId"
        );
    }

    #[test]
    fn adjacent_parent_of_another_subset_only_needs_to_be_closed() {
        // Find a subset count where s0 and s1 land apart.
        let c0 = graph(None);
        let n = (2..50)
            .find(|n| fnv1a64(c0.root_of("s0").as_bytes()) % n != fnv1a64(b"s1") % n)
            .unwrap();
        let mine = fnv1a64(b"s0") % n;
        let mut c = graph(Some(Subset {
            index: mine,
            count: n,
        }));
        assert!(!c.is_mine("s1"));
        c.set_state("s0", State::Finished);
        c.set_state("s2", State::Finished);
        assert!(c.ready().contains(&"s4".to_string()), "s1 is closed");
    }

    #[test]
    fn stopped_parents_block_children_for_good() {
        let mut c = graph(None);
        c.set_state("s0", State::Stopped);
        c.set_state("s1", State::Finished);
        assert!(!c.waiting_can_start());
        assert_eq!(c.ancestors("s4"), vec!["s0", "s1", "s2"]);
    }
}
