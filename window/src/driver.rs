//! Feeding the engine so that rowtime windows close on the clock even while input is idle, and
//! signals are served whatever the input does.
//!
//! [`run_input`] (the command line: stdin, files, pipes, with the flags or with `--sql`) reads
//! in the engine's thread with `poll()` and a timeout; a [`BlockFilter`] (the SQL front end's
//! WHERE clause) may rewrite each block before the engine sees it.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use kds_common::io::Output;
use kds_common::signal::Shutdown;

use crate::engine::{Config, Engine, Stats};
use crate::input::{Input, Next};

/// Longest the main loop sleeps before looking at the clock and the shutdown flag again.
pub const POLL: Duration = Duration::from_millis(100);

// The clock lives in kds-common (kds-s3sink's buffering interval uses it too); re-exported so
// tests keep naming it `driver::ManualClock`.
pub use kds_common::clock::{Clock, ManualClock, SystemClock};

/// Rewrites each block of whole lines before the engine sees it (the SQL front end's WHERE
/// clause). The result holds the same lines in the same order, except that a line may be
/// blanked (an empty line, which the engine skips), so line numbers stay right.
pub trait BlockFilter {
    /// Rewrites a block of whole lines whose first line is number `first_line`. Lines keep
    /// their places (a dropped record leaves an empty line) so line numbers stay right.
    fn apply<'a>(&'a mut self, block: &'a [u8], first_line: u64) -> &'a [u8];
}

/// No filter: blocks go to the engine as read, without a copy.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoFilter;

impl BlockFilter for NoFilter {
    #[inline]
    fn apply<'a>(&'a mut self, block: &'a [u8], _first_line: u64) -> &'a [u8] {
        block
    }
}

/// An optional filter: `None` passes blocks through.
impl<F: BlockFilter> BlockFilter for Option<F> {
    #[inline]
    fn apply<'a>(&'a mut self, block: &'a [u8], first_line: u64) -> &'a [u8] {
        match self {
            Some(f) => f.apply(block, first_line),
            None => block,
        }
    }
}

/// Where progress is published (once per block) for the `-v` stats line and progress bar.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    pub lines: Arc<AtomicU64>,
    pub bytes: Arc<AtomicU64>,
}

/// How long to wait for input before the clock needs looking at: until the next rowtime
/// deadline, at most [`POLL`] (the shutdown flag is checked at least that often).
fn wait_time(engine: &Engine, clock: &dyn Clock) -> Duration {
    wait_for(engine.next_deadline(), clock.now_ms())
}

/// How long to wait for input at `now` (epoch ms) before the clock needs looking at: until
/// `deadline`, at most [`POLL`]; [`POLL`] without a deadline.
pub(crate) fn wait_for(deadline: Option<i64>, now: i64) -> Duration {
    match deadline {
        Some(deadline) => {
            let ms = deadline
                .saturating_sub(now)
                .clamp(0, POLL.as_millis() as i64);
            Duration::from_millis(ms as u64)
        }
        None => POLL,
    }
}

/// Runs one engine over the command line's inputs until their end or a shutdown request.
/// Input is read in this thread into one reusable buffer (no copy, no channel): pipes are
/// `poll()`ed with a timeout until the next rowtime deadline (at most [`POLL`]), so windows
/// close on the clock while input is idle and a signal is noticed within [`POLL`]. Output is
/// flushed after every block, and by the engine after every emission.
pub fn run_input(
    cfg: &Config,
    input: Input,
    clock: &dyn Clock,
    out: Output,
    diag: Box<dyn Write + Send>,
    shutdown: &Shutdown,
    progress: &Progress,
) -> anyhow::Result<Stats> {
    run_filtered(
        cfg,
        input,
        &mut NoFilter,
        clock,
        out,
        diag,
        shutdown,
        progress,
    )
}

/// [`run_input`] with `filter` applied to every block before the engine sees it.
#[allow(clippy::too_many_arguments)]
pub fn run_filtered<F: BlockFilter + ?Sized>(
    cfg: &Config,
    mut input: Input,
    filter: &mut F,
    clock: &dyn Clock,
    out: Output,
    diag: Box<dyn Write + Send>,
    shutdown: &Shutdown,
    progress: &Progress,
) -> anyhow::Result<Stats> {
    let mut engine = Engine::new(cfg, out, diag)?;
    engine.start_clock(clock.now_ms());
    let mut bytes_read = 0u64;
    loop {
        if shutdown.requested() {
            engine.finish(true)?;
            break;
        }
        let wait = wait_time(&engine, clock);
        match input.next(wait).context("reading input")? {
            Next::Block(block) => {
                bytes_read += block.bytes.len() as u64;
                let bytes = filter.apply(block.bytes, block.first_line);
                // Unfiltered, the engine's count of the block's lines saves the input a count.
                let unfiltered = std::ptr::eq(bytes, block.bytes);
                let lines = engine.push_block(bytes, block.first_line, clock.now_ms())?;
                if unfiltered {
                    input.block_lines(lines);
                }
                engine.flush()?;
                progress.lines.store(engine.stats.lines, Ordering::Relaxed);
                progress.bytes.store(bytes_read, Ordering::Relaxed);
            }
            Next::Idle => {
                engine.observe_clock(clock.now_ms())?;
            }
            Next::End => {
                engine.finish(false)?;
                break;
            }
        }
    }
    progress.lines.store(engine.stats.lines, Ordering::Relaxed);
    Ok(engine.stats)
}

/// True when every input is a regular file (stdin included), so reads never wait for a writer.
pub fn inputs_are_regular_files(files: &[std::path::PathBuf]) -> bool {
    let stdin = std::path::Path::new("/dev/stdin");
    if files.is_empty() {
        return std::fs::metadata(stdin).is_ok_and(|m| m.is_file());
    }
    files.iter().all(|f| {
        let p = if f.as_os_str() == "-" {
            stdin
        } else {
            f.as_path()
        };
        std::fs::metadata(p).is_ok_and(|m| m.is_file())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_runs_to_the_deadline_at_most_one_poll() {
        assert_eq!(wait_for(None, 1_000), POLL);
        assert_eq!(wait_for(Some(1_040), 1_000), Duration::from_millis(40));
        assert_eq!(wait_for(Some(1_000), 1_000), Duration::ZERO);
        // A deadline passed or far away: no wait, or one poll.
        assert_eq!(wait_for(Some(900), 1_000), Duration::ZERO);
        assert_eq!(wait_for(Some(i64::MAX), i64::MIN), POLL);
        assert_eq!(wait_for(Some(i64::MIN), i64::MAX), Duration::ZERO);
    }
}
