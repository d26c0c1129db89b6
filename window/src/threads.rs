//! `--threads N` for files: each file is cut into chunks at line boundaries, worker threads
//! aggregate chunks into their own windows (nothing closes, so record order does not matter),
//! and the windows are merged with the same code `--merge` uses, then emitted in order.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use anyhow::{anyhow, Context};
use kds_common::io::{LineReader, Output};
use kds_common::signal::Shutdown;

use crate::engine::{Config, Engine, Stats, Win};

/// Chunks per thread: a few, so a slow chunk does not leave a core idle.
const CHUNKS_PER_THREAD: u64 = 4;

/// One piece of one file: bytes `start..end`, starting at a line start.
#[derive(Debug, Clone)]
struct Chunk {
    path: PathBuf,
    start: u64,
    end: u64,
}

/// The offset of the first line start at or after `offset`.
fn next_line_start(file: &mut File, offset: u64, len: u64) -> std::io::Result<u64> {
    if offset == 0 || offset >= len {
        return Ok(offset.min(len));
    }
    // The line holding byte offset-1 ends at the first '\n' at or after offset-1.
    file.seek(SeekFrom::Start(offset - 1))?;
    let mut pos = offset - 1;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(len);
        }
        if let Some(i) = memchr::memchr(b'\n', &buf[..n]) {
            return Ok(pos + i as u64 + 1);
        }
        pos += n as u64;
    }
}

fn split_file(path: &Path, pieces: u64) -> anyhow::Result<Vec<Chunk>> {
    let mut file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let len = file
        .metadata()
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    let mut bounds = vec![0u64];
    for i in 1..pieces {
        let b = next_line_start(&mut file, len * i / pieces, len)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if b > *bounds.last().unwrap_or(&0) && b < len {
            bounds.push(b);
        }
    }
    bounds.push(len);
    Ok(bounds
        .windows(2)
        .filter(|w| w[1] > w[0])
        .map(|w| Chunk {
            path: path.to_path_buf(),
            start: w[0],
            end: w[1],
        })
        .collect())
}

struct WorkerResult {
    windows: Vec<Win>,
    stats: Stats,
    bad_log: Vec<(usize, u64, String)>,
    /// Lines in each chunk this worker read completely.
    chunk_lines: Vec<(usize, u64)>,
    error: Option<anyhow::Error>,
}

fn worker(cfg: &Config, chunks: &[Chunk], next: &AtomicUsize, shutdown: &Shutdown) -> WorkerResult {
    let mut result = WorkerResult {
        windows: Vec::new(),
        stats: Stats::default(),
        bad_log: Vec::new(),
        chunk_lines: Vec::new(),
        error: None,
    };
    let mut engine = match Engine::batch_worker(cfg) {
        Ok(e) => e,
        Err(e) => {
            result.error = Some(e);
            return result;
        }
    };
    let outcome = (|| -> anyhow::Result<()> {
        loop {
            let i = next.fetch_add(1, Ordering::SeqCst);
            let Some(chunk) = chunks.get(i) else {
                return Ok(());
            };
            let mut file = File::open(&chunk.path)
                .with_context(|| format!("cannot open {}", chunk.path.display()))?;
            file.seek(SeekFrom::Start(chunk.start))
                .with_context(|| format!("cannot read {}", chunk.path.display()))?;
            let mut reader = LineReader::new(file.take(chunk.end - chunk.start));
            engine.chunk = i;
            while let Some(block) = reader
                .next_block()
                .with_context(|| format!("reading {}", chunk.path.display()))?
            {
                engine.push_block(block.bytes, block.first_line, 0)?;
                if shutdown.requested() {
                    return Ok(());
                }
            }
            result.chunk_lines.push((i, reader.next_line_number() - 1));
        }
    })();
    result.error = outcome.err();
    result.windows = engine.take_windows();
    result.stats = engine.stats;
    result.bad_log = std::mem::take(&mut engine.bad_log);
    result
}

/// Aggregates `files` with `threads` workers and writes the rows to `out`.
pub fn run_files(
    cfg: &Config,
    files: &[PathBuf],
    threads: usize,
    out: Output,
    mut diag: Box<dyn Write + Send>,
    shutdown: &Shutdown,
) -> anyhow::Result<Stats> {
    let mut chunks = Vec::new();
    for f in files {
        chunks.extend(split_file(f, threads as u64 * CHUNKS_PER_THREAD)?);
    }
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let r = worker(cfg, &chunks, &next, shutdown);
                if let Ok(mut all) = results.lock() {
                    all.push(r);
                }
            });
        }
    });
    let results = results
        .into_inner()
        .map_err(|_| anyhow!("a worker thread panicked"))?;

    // Global line numbers: chunk i starts after the lines of chunks 0..i.
    let mut lines_in = vec![0u64; chunks.len()];
    for r in &results {
        for &(i, n) in &r.chunk_lines {
            lines_in[i] = n;
        }
    }
    let mut first_line = vec![1u64; chunks.len()];
    for i in 1..chunks.len() {
        first_line[i] = first_line[i - 1] + lines_in[i - 1];
    }
    let mut bad: Vec<(usize, u64, String)> =
        results.iter().flat_map(|r| r.bad_log.clone()).collect();
    bad.sort_by_key(|b| (b.0, b.1));
    let global = |b: &(usize, u64, String)| first_line[b.0] + b.1 - 1;
    if results.iter().any(|r| r.error.is_some()) {
        if cfg.options.strict {
            if let Some(b) = bad.first() {
                return Err(anyhow!("line {}: {}", global(b), b.2));
            }
        }
        if let Some(e) = results.into_iter().find_map(|r| r.error) {
            return Err(e);
        }
        return Err(anyhow!("a worker failed"));
    }
    for b in bad.iter().take(cfg.options.report_bad) {
        let _ = writeln!(diag, "kds-window: line {}: {}", global(b), b.2);
    }

    let mut engine = Engine::new(cfg, out, diag)?;
    let mut stats = Stats::default();
    for r in results {
        stats.lines += r.stats.lines;
        stats.records += r.stats.records;
        stats.bad += r.stats.bad;
        engine.absorb(r.windows)?;
    }
    engine.finish(shutdown.requested())?;
    stats.windows = engine.stats.windows;
    stats.rows = engine.stats.rows;
    Ok(stats)
}
