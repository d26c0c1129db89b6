//! The keys the fast path looks for, and the shape of the last line: which key came at which
//! member. A line of the usual shape then finds each member's slot with one compare that is
//! always true (a predictable branch), instead of comparing every member with every key.

use super::shape::Template;
use super::Val;

/// A top-level key the fast path looks for; keys of up to 8 bytes compare as one word.
#[derive(Debug, Clone)]
pub struct FastKey {
    bytes: Box<[u8]>,
    word: Option<u64>,
}

#[inline]
pub(super) fn load8(b: &[u8], at: usize) -> Option<u64> {
    let w = <[u8; 8]>::try_from(b.get(at..at + 8)?).ok()?;
    Some(u64::from_le_bytes(w))
}

#[inline]
fn low_bytes_mask(len: usize) -> u64 {
    if len >= 8 {
        u64::MAX
    } else {
        (1u64 << (len * 8)) - 1
    }
}

impl FastKey {
    pub fn new(name: &[u8]) -> FastKey {
        let word = (name.len() <= 8).then(|| {
            let mut w = [0u8; 8];
            w[..name.len()].copy_from_slice(name);
            u64::from_le_bytes(w)
        });
        FastKey {
            bytes: name.into(),
            word,
        }
    }

    /// True when `b[ks..ke]` is this key.
    #[inline]
    pub(super) fn matches(&self, b: &[u8], ks: usize, ke: usize) -> bool {
        let len = ke - ks;
        if len != self.bytes.len() {
            return false;
        }
        if let (Some(w), Some(x)) = (self.word, load8(b, ks)) {
            return x & low_bytes_mask(len) == w;
        }
        b[ks..ke] == *self.bytes
    }
}

/// The member at one position of the last line: its key (up to 8 bytes, as one word) and the
/// slot it fills.
#[derive(Debug, Clone, Copy)]
struct Member {
    word: u64,
    /// The key's bytes of a word loaded at its start.
    mask: u64,
    len: u32,
    slot: u32,
}

/// The query's top-level keys and the shape of the last line scanned.
#[derive(Debug, Clone)]
pub struct FastKeys {
    keys: Vec<FastKey>,
    shape: Vec<Member>,
    /// The last line's shape as a template, for lines of that same shape.
    pub(super) template: Template,
}

impl FastKeys {
    pub fn new<'a>(names: impl IntoIterator<Item = &'a [u8]>) -> FastKeys {
        FastKeys {
            keys: names.into_iter().map(FastKey::new).collect(),
            shape: Vec::new(),
            template: Template::default(),
        }
    }

    /// Values for the fast path to fill: one slot per key, and a last one that takes the
    /// values of the members the query does not need (so that storing is not a branch).
    pub fn new_vals(&self) -> Vec<Val> {
        vec![Val::Missing; self.keys.len() + 1]
    }

    /// True when `vals` has the slots [`FastKeys::new_vals`] gives.
    #[inline]
    pub(super) fn fits(&self, vals: &[Val]) -> bool {
        vals.len() > self.keys.len()
    }

    /// The slot of the key `b[ks..ke]`, member number `m` of its object: the key's, or the
    /// last slot for a key the query does not need.
    #[inline(always)]
    pub(super) fn slot(&mut self, m: usize, b: &[u8], ks: usize, ke: usize) -> usize {
        let len = ke - ks;
        if let (Some(seen), Some(x)) = (self.shape.get(m), load8(b, ks)) {
            if seen.len as usize == len && x & seen.mask == seen.word {
                return seen.slot as usize;
            }
        }
        self.learn(m, b, ks, ke)
    }

    /// A member unlike the last line's at this position: found by comparing it with every key,
    /// and remembered (keys of up to 8 bytes) for the next line.
    #[inline(never)]
    fn learn(&mut self, m: usize, b: &[u8], ks: usize, ke: usize) -> usize {
        let slot = self
            .keys
            .iter()
            .position(|k| k.matches(b, ks, ke))
            .unwrap_or(self.keys.len());
        let len = ke - ks;
        self.shape.truncate(m);
        if let (true, true, Some(x)) = (len <= 8, self.shape.len() == m, load8(b, ks)) {
            self.shape.push(Member {
                word: x & low_bytes_mask(len),
                mask: low_bytes_mask(len),
                len: len as u32,
                slot: slot as u32,
            });
        }
        slot
    }
}
