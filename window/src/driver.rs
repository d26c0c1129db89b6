//! Feeding the engine so that rowtime windows close on the clock even while input is idle, and
//! signals are served whatever the input does.
//!
//! [`run_input`] (the command line: stdin, files, pipes) reads in the engine's thread with
//! `poll()` and a timeout; [`run_stream`] (any `Read`, e.g. a filtered reader) has a reader
//! thread hand copies of its blocks over a channel.

use std::io::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use kds_common::io::{LineReader, Output};
use kds_common::signal::Shutdown;

use crate::engine::{Config, Engine, Stats};
use crate::input::{Input, Next};

/// Longest the main loop sleeps before looking at the clock and the shutdown flag again.
pub const POLL: Duration = Duration::from_millis(100);

/// Blocks in flight between the reader thread and the engine (each about 1 MiB).
const BLOCKS_IN_FLIGHT: usize = 2;

/// Wall-clock time in epoch milliseconds. Injectable so tests drive rowtime without sleeping.
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        kds_common::time::now_ms()
    }
}

/// A clock that only moves when told to (tests).
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn new(ms: i64) -> ManualClock {
        ManualClock(Arc::new(AtomicI64::new(ms)))
    }
    pub fn set(&self, ms: i64) {
        self.0.store(ms, Ordering::SeqCst);
    }
    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

enum Msg {
    Block(Vec<u8>, u64),
    Eof,
    Err(std::io::Error),
}

/// Where progress is published for the `-v` stats line.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    pub lines: Arc<AtomicU64>,
}

/// How long to wait for input before the clock needs looking at: until the next rowtime
/// deadline, at most [`POLL`] (the shutdown flag is checked at least that often).
fn wait_time(engine: &Engine, clock: &dyn Clock) -> Duration {
    match engine.next_deadline() {
        Some(deadline) => {
            let ms = (deadline - clock.now_ms()).clamp(0, POLL.as_millis() as i64);
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
    mut input: Input,
    clock: &dyn Clock,
    out: Output,
    diag: Box<dyn Write + Send>,
    shutdown: &Shutdown,
    progress: &Progress,
) -> anyhow::Result<Stats> {
    let mut engine = Engine::new(cfg, out, diag)?;
    engine.start_clock(clock.now_ms());
    loop {
        if shutdown.requested() {
            engine.finish(true)?;
            break;
        }
        let wait = wait_time(&engine, clock);
        match input.next(wait).context("reading input")? {
            Next::Block(block) => {
                engine.push_block(block.bytes, block.first_line, clock.now_ms())?;
                engine.flush()?;
                progress.lines.store(engine.stats.lines, Ordering::Relaxed);
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

/// Runs one engine over any reader until its end or a shutdown request (a reader thread
/// copies its blocks to this one; the command line uses [`run_input`]).
pub fn run_stream(
    cfg: &Config,
    mut reader: LineReader,
    clock: &dyn Clock,
    out: Output,
    diag: Box<dyn Write + Send>,
    shutdown: &Shutdown,
    progress: &Progress,
) -> anyhow::Result<Stats> {
    let mut engine = Engine::new(cfg, out, diag)?;
    let (tx, rx) = mpsc::sync_channel::<Msg>(BLOCKS_IN_FLIGHT);
    let (recycle_tx, recycle_rx) = mpsc::channel::<Vec<u8>>();
    // The reader thread ends when the input ends or when this function returns (send fails).
    // A thread blocked in read() on a live pipe is left behind; the process exits after us.
    std::thread::Builder::new()
        .name("kds-window-read".into())
        .spawn(move || loop {
            let msg = match reader.next_block() {
                Ok(Some(block)) => {
                    let mut buf = recycle_rx.try_recv().unwrap_or_default();
                    buf.clear();
                    buf.extend_from_slice(block.bytes);
                    Msg::Block(buf, block.first_line)
                }
                Ok(None) => Msg::Eof,
                Err(e) => Msg::Err(e),
            };
            let last = !matches!(msg, Msg::Block(..));
            if tx.send(msg).is_err() || last {
                return;
            }
        })
        .context("cannot start the reader thread")?;

    engine.start_clock(clock.now_ms());
    loop {
        if shutdown.requested() {
            engine.finish(true)?;
            break;
        }
        match rx.recv_timeout(wait_time(&engine, clock)) {
            Ok(Msg::Block(buf, first_line)) => {
                engine.push_block(&buf, first_line, clock.now_ms())?;
                engine.flush()?;
                progress.lines.store(engine.stats.lines, Ordering::Relaxed);
                let _ = recycle_tx.send(buf);
            }
            Ok(Msg::Eof) | Err(RecvTimeoutError::Disconnected) => {
                engine.finish(false)?;
                break;
            }
            Ok(Msg::Err(e)) => return Err(anyhow::Error::new(e).context("reading input")),
            Err(RecvTimeoutError::Timeout) => {
                engine.observe_clock(clock.now_ms())?;
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
