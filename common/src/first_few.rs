//! "The first five, then a count": a tool describes the first few problems of one kind (bad
//! lines, undeliverable records) one by one on stderr and only counts the rest, so a file of
//! garbage cannot flood the terminal while the total still reaches the closing summary. Like
//! ripgrep and jq, the messages name the line; unlike them, a long run of errors stays readable.

use std::sync::atomic::{AtomicU64, Ordering};

/// How many problems of one kind are described one by one.
pub const SHOWN: u64 = 5;

/// Counts problems of one kind and says which ones to describe. Shared by reference between
/// threads (the counter is atomic).
#[derive(Debug, Default)]
pub struct FirstFew {
    seen: AtomicU64,
}

impl FirstFew {
    pub const fn new() -> FirstFew {
        FirstFew {
            seen: AtomicU64::new(0),
        }
    }

    /// Counts one more problem. `Some(n)` (1-based) when it is to be described, `None` when it
    /// is only counted. `n == SHOWN` is the last one described (a message may say so).
    pub fn next(&self) -> Option<u64> {
        let n = self.seen.fetch_add(1, Ordering::Relaxed) + 1;
        (n <= SHOWN).then_some(n)
    }

    /// Problems counted so far.
    pub fn seen(&self) -> u64 {
        self.seen.load(Ordering::Relaxed)
    }

    /// Problems counted but not described: what the closing summary has to add.
    pub fn unshown(&self) -> u64 {
        self.seen().saturating_sub(SHOWN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_the_first_five_then_only_counts() {
        let few = FirstFew::new();
        let turns: Vec<Option<u64>> = (0..7).map(|_| few.next()).collect();
        assert_eq!(
            turns,
            [Some(1), Some(2), Some(3), Some(4), Some(5), None, None]
        );
        assert_eq!((few.seen(), few.unshown()), (7, 2));
    }

    #[test]
    fn nothing_unshown_below_the_limit() {
        let few = FirstFew::default();
        few.next();
        assert_eq!((few.seen(), few.unshown()), (1, 0));
    }
}
