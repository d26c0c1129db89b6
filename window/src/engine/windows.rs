//! Open windows: a window's groups and their accumulators, and the sorted vector they live in.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::agg::{Acc, Overflow};
use crate::query::{Aggregate, Query};

/// FxHash: group keys are short and trusted enough; SipHash would cost more than the lookup.
#[derive(Default, Clone, Copy)]
pub struct FxHasher(u64);

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ b as u64).wrapping_mul(K);
        }
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// The groups of one window.
#[derive(Debug, Clone)]
pub enum Groups {
    /// No group-by: one set of accumulators.
    Single(Vec<Acc>),
    /// Group key (JSON values joined by NUL) → accumulators.
    Map(FxMap<Box<[u8]>, Vec<Acc>>),
}

/// One window's state.
#[derive(Debug, Clone)]
pub struct Win {
    pub start: i64,
    pub groups: Groups,
    /// Some contribution was emitted on a signal before its window closed (merge input).
    pub not_final: bool,
}

pub(super) fn new_accs(aggs: &[Aggregate]) -> Vec<Acc> {
    aggs.iter().map(|a| Acc::new(a.func)).collect()
}

impl Win {
    pub(super) fn new(start: i64, query: &Query) -> Win {
        Win {
            start,
            groups: if query.group_by.is_empty() {
                Groups::Single(new_accs(&query.aggregates))
            } else {
                Groups::Map(FxMap::default())
            },
            not_final: false,
        }
    }

    /// The accumulators of group `key`: inlined for the one-group case (no GROUP BY), the
    /// lookup of a group out of line.
    #[inline(always)]
    pub(super) fn accs(&mut self, key: &[u8], aggs: &[Aggregate]) -> &mut Vec<Acc> {
        match &mut self.groups {
            Groups::Single(accs) => accs,
            Groups::Map(map) => group_accs(map, key, aggs),
        }
    }

    /// Merges another window's state into this one.
    pub fn merge(&mut self, other: &Win, aggs: &[Aggregate], strict: bool) -> Result<(), Overflow> {
        self.not_final |= other.not_final;
        match &other.groups {
            Groups::Single(b) => {
                let a = self.accs(b"", aggs);
                for (x, y) in a.iter_mut().zip(b) {
                    x.merge(y, strict)?;
                }
            }
            Groups::Map(m) => {
                for (k, b) in m {
                    let a = self.accs(k, aggs);
                    for (x, y) in a.iter_mut().zip(b) {
                        x.merge(y, strict)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Groups in output order: by key bytes.
    pub(super) fn sorted(&self) -> Vec<(&[u8], &Vec<Acc>)> {
        match &self.groups {
            Groups::Single(a) => vec![(&b""[..], a)],
            Groups::Map(m) => {
                let mut v: Vec<(&[u8], &Vec<Acc>)> = m.iter().map(|(k, a)| (&**k, a)).collect();
                v.sort_unstable_by(|a, b| a.0.cmp(b.0));
                v
            }
        }
    }
}

/// The accumulators of group `key` in `map`, created when missing.
#[inline(never)]
fn group_accs<'a>(
    map: &'a mut FxMap<Box<[u8]>, Vec<Acc>>,
    key: &[u8],
    aggs: &[Aggregate],
) -> &'a mut Vec<Acc> {
    if !map.contains_key(key) {
        map.insert(key.into(), new_accs(aggs));
    }
    map.get_mut(key).expect("inserted above")
}

/// Index of the open window starting at `ws`, created when missing. The window of the last
/// record (`hint`) is tested inline; any other is found out of line.
#[inline(always)]
pub(super) fn window_index(windows: &mut Vec<Win>, hint: &mut usize, ws: i64, q: &Query) -> usize {
    if let Some(w) = windows.get(*hint) {
        if w.start == ws {
            return *hint;
        }
    }
    find_window(windows, hint, ws, q)
}

#[inline(never)]
fn find_window(windows: &mut Vec<Win>, hint: &mut usize, ws: i64, q: &Query) -> usize {
    let idx = match windows.binary_search_by_key(&ws, |w| w.start) {
        Ok(i) => i,
        Err(i) => {
            windows.insert(i, Win::new(ws, q));
            i
        }
    };
    *hint = idx;
    idx
}
