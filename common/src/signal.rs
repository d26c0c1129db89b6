//! SIGINT/SIGTERM: the first asks the tool to finish cleanly, a second one exits at once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::Context;

/// Status used when a second signal ends the process at once: work may have been lost.
pub const IMMEDIATE_EXIT_STATUS: i32 = 1;

/// Shared view of "has a shutdown been requested". Cheap to clone and to poll.
#[derive(Clone, Debug, Default)]
pub struct Shutdown {
    count: Arc<AtomicUsize>,
}

impl Shutdown {
    /// Installs handlers for SIGINT and SIGTERM. The first signal sets the flag; a second one
    /// (of either kind) exits the process immediately with [`IMMEDIATE_EXIT_STATUS`].
    pub fn install() -> anyhow::Result<Shutdown> {
        let shutdown = Shutdown::default();
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            let count = Arc::clone(&shutdown.count);
            // SAFETY: the handler only touches an atomic and calls `_exit`, both
            // async-signal-safe.
            unsafe {
                signal_hook::low_level::register(sig, move || {
                    if count.fetch_add(1, Ordering::SeqCst) >= 1 {
                        signal_hook::low_level::exit(IMMEDIATE_EXIT_STATUS);
                    }
                })
            }
            .with_context(|| format!("cannot install handler for signal {sig}"))?;
        }
        Ok(shutdown)
    }

    /// A flag that no signal sets: for tests and library callers.
    pub fn manual() -> Shutdown {
        Shutdown::default()
    }

    /// Requests shutdown as a first signal would.
    pub fn trigger(&self) {
        self.count.fetch_add(1, Ordering::SeqCst);
    }

    #[inline]
    pub fn requested(&self) -> bool {
        self.count.load(Ordering::Relaxed) > 0
    }

    pub fn signal_count(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_sets_the_flag() {
        let s = Shutdown::manual();
        let seen = s.clone();
        assert!(!seen.requested());
        s.trigger();
        assert!(seen.requested());
        assert_eq!(seen.signal_count(), 1);
    }
}
