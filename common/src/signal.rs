//! SIGINT/SIGTERM: the first asks the tool to finish cleanly, a second one exits at once.
//!
//! Both through signal-hook's safe `flag` API: no handler code of our own runs in signal context.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::flag;

/// Status used when a second signal ends the process at once: work may have been lost.
pub const IMMEDIATE_EXIT_STATUS: i32 = 1;

/// Shared view of "has a shutdown been requested". Cheap to clone and to poll.
#[derive(Clone, Debug, Default)]
pub struct Shutdown {
    requested: Arc<AtomicBool>,
}

impl Shutdown {
    /// Installs handlers for SIGINT and SIGTERM. The first signal sets the flag; a second one
    /// (of either kind) exits the process immediately with [`IMMEDIATE_EXIT_STATUS`].
    pub fn install() -> anyhow::Result<Shutdown> {
        let shutdown = Shutdown::default();
        for sig in [SIGINT, SIGTERM] {
            // Registered first, so it runs before the flag is set: on the first signal the flag
            // is still clear (no exit), on any later one it is set (exit at once).
            flag::register_conditional_shutdown(
                sig,
                IMMEDIATE_EXIT_STATUS,
                Arc::clone(&shutdown.requested),
            )
            .with_context(|| format!("cannot install the second-signal exit for signal {sig}"))?;
            flag::register(sig, Arc::clone(&shutdown.requested))
                .with_context(|| format!("cannot install handler for signal {sig}"))?;
        }
        Ok(shutdown)
    }

    /// A flag that no signal sets: for tests and library callers.
    pub fn manual() -> Shutdown {
        Shutdown::default()
    }

    /// Requests shutdown as a first signal would (a signal after it exits at once).
    pub fn trigger(&self) {
        self.requested.store(true, Ordering::SeqCst);
    }

    #[inline]
    pub fn requested(&self) -> bool {
        self.requested.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_sets_the_flag_for_every_clone() {
        let s = Shutdown::manual();
        let seen = s.clone();
        assert!(!seen.requested());
        s.trigger();
        assert!(seen.requested());
    }
}
