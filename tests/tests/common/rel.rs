//! Helpers for the reliability scenarios (`tests/tests/reliability_*.rs`): spawning
//! the tools on the local stack, a watchdog that kills every child when a scenario takes too
//! long, a tee that keeps a copy of what flows through a pipe, reading S3 back, and comparing
//! what was sent with what was delivered as multisets.
//!
//! Stable API (other reliability test files use it; only add to it):
//! - [`tool`]`(stack, name)`: a `Command` for a workspace binary with the stack's environment.
//! - [`Watchdog`]: `start(what, limit)`, `spawn(name, cmd)` → [`Proc`], `fired()`; on timeout (or
//!   when dropped during a panic) every child it spawned and did not reap yet is SIGKILLed.
//! - [`Proc`]: `pid()`, `signal(sig)`, `alive()`, `finish(&wd)` → [`Finished`] (status + peak RSS).
//! - [`tee`]`(from, to)`: copies bytes on a thread and returns them all at the end.
//! - [`lines`], [`s3_records`], [`Tally::of`], [`Rss`], [`SplitMix`], [`reproduce`].
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Stdio};

use testkit::Stack;
// The process helpers and the tally live in testkit (one copy for every test crate); each test
// binary uses some of them.
#[allow(unused_imports)]
pub use testkit::process::{collect, collect_stderr, tee, Collected, Finished, Proc, Watchdog};
#[allow(unused_imports)]
pub use testkit::tally::{lines, s3_records, Rss, Tally};

/// `stack.command(<debug binary of name>)` with stdin closed (set another one if needed).
pub fn tool(stack: &Stack, name: &str) -> Command {
    let mut cmd = stack.command(testkit::bin_path(name));
    cmd.stdin(Stdio::null());
    cmd
}

/// The command that reproduces one scenario, for [`testkit::reliability::Figures::command`].
pub fn reproduce(test_binary: &str) -> String {
    match testkit::reliability::Scale::from_env() {
        testkit::reliability::Scale::Full => {
            format!("scripts/reliability --full --only {test_binary}")
        }
        testkit::reliability::Scale::Ci => format!("scripts/reliability --only {test_binary}"),
    }
}

/// Small seedable RNG for kill times and targets (`KDS_RELIABILITY_SEED` overrides the seed,
/// which every scenario prints): kds_common's splitmix64.
pub struct SplitMix {
    seed: u64,
    rng: kds_common::rng::SplitMix64,
}

impl SplitMix {
    pub fn from_env(default: u64) -> SplitMix {
        let seed = std::env::var("KDS_RELIABILITY_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default);
        eprintln!("reliability seed {seed} (set KDS_RELIABILITY_SEED to change it)");
        SplitMix {
            seed,
            rng: kds_common::rng::SplitMix64(seed),
        }
    }
    pub fn seed(&self) -> u64 {
        self.seed
    }
    pub fn next_u64(&mut self) -> u64 {
        self.rng.next_u64()
    }
    /// Uniform in `lo..hi` (hi > lo).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo)
    }
}

/// A fresh temporary directory for a scenario's files (deleted when the guard drops).
pub fn scratch() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::Builder::new()
        .prefix("kds-rel-")
        .tempdir()
        .expect("temp dir");
    let path = dir.path().to_path_buf();
    (dir, path)
}

/// A multi-thread tokio runtime for the AWS calls of a synchronous scenario test (the tools
/// run as processes; the test thread blocks on them).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The number of lines of a file (0 if it does not exist).
pub fn count_file_lines(path: &std::path::Path) -> u64 {
    std::fs::read(path)
        .map(|b| lines(&b).len() as u64)
        .unwrap_or(0)
}

/// The number of files in a directory (0 if it does not exist).
pub fn count_files(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|d| d.flatten().count() as u64)
        .unwrap_or(0)
}

/// No object of error output and no file spilled: nothing dead-lettered.
pub fn assert_nothing_dead_lettered(error_objects: &[String], spilled: u64) {
    assert!(
        error_objects.is_empty(),
        "no error output: {error_objects:?}"
    );
    assert_eq!(spilled, 0, "nothing spilled");
}
