//! The window engine: records in, closed windows out.
//!
//! Open windows live in a small vector sorted by start (usually one or two are open); each holds
//! its groups' accumulators. Event and arrival time close windows when the watermark (max time
//! seen − allowed lateness) reaches their end; rowtime closes them when the clock does.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::anyhow;
use kds_common::io::Output;
use serde_json::Value;

use crate::agg::Acc;
use crate::extract::{Extractor, TimestampCache};
use crate::output::{Format, Marker, RowWriter};
use crate::query::{Path, Query, TimeBasis};
use crate::scan::Val;

mod emit;
mod late;
mod record;
mod windows;

use windows::{new_accs, window_index};
pub use windows::{FxHasher, Groups, Win};

/// Event and arrival times must lie in the years 0000–9999 (what RFC 3339 can write): an epoch
/// millisecond integer outside is a bad timestamp, not a window no date can name.
pub const MIN_TIME_MS: i64 = -62_167_219_200_000;
/// 9999-12-31T23:59:59.999Z.
pub const MAX_TIME_MS: i64 = 253_402_300_799_999;

/// `--emit-empty` fills a gap of at most this many empty windows. A longer gap (a timestamp far
/// from the others, a clock jump) is skipped with a message on stderr instead of printing up to
/// billions of rows.
pub const MAX_EMPTY_RUN: i64 = 100_000;

/// What happens to a record whose window was already emitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LatePolicy {
    Drop,
    /// Print a correction row: the window's updated full row, marked `"late":true`.
    Emit,
    /// Append the late line, verbatim, to a file.
    Side(PathBuf),
}

/// Everything besides the query itself.
#[derive(Debug, Clone)]
pub struct Options {
    pub late: LatePolicy,
    pub allowed_lateness_ms: i64,
    pub emit_empty: bool,
    pub strict: bool,
    pub format: Format,
    /// Emit mergeable partial rows instead of final rows.
    pub partial: bool,
    /// Input lines are partial rows from other processes (`--merge`).
    pub merge: bool,
    /// How many bad lines are reported verbatim on stderr.
    pub report_bad: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            late: LatePolicy::Drop,
            allowed_lateness_ms: 0,
            emit_empty: false,
            strict: false,
            format: Format::Ndjson,
            partial: false,
            merge: false,
            report_bad: 5,
        }
    }
}

/// A validated query plus options: what the engine runs.
#[derive(Debug, Clone)]
pub struct Config {
    pub query: Query,
    pub options: Options,
}

/// Counters for the summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Lines read (including bad and late ones; not blank lines).
    pub lines: u64,
    /// Records aggregated into a window (not late, not bad).
    pub records: u64,
    pub late: u64,
    pub bad: u64,
    pub windows: u64,
    pub rows: u64,
}

/// The engine. Output goes to an [`Output`]; diagnostics (bad lines) to `diag`.
pub struct Engine {
    q: Query,
    o: Options,
    ex: Extractor,
    time_slot: Option<usize>,
    group_slots: Vec<usize>,
    agg_slots: Vec<Option<usize>>,
    numeric_aggs: Vec<(usize, usize)>,
    key: Vec<u8>,
    dkey: Vec<u8>,
    ts: TimestampCache,
    /// Open windows, sorted by start.
    windows: Vec<Win>,
    hint: usize,
    /// Start of the window of the last record (a cache for the division).
    cur_ws: i64,
    /// Windows ending at or before this are closed: a record for them is late.
    closed_upto: i64,
    /// End of the last window emitted (for `--emit-empty` gap filling).
    emitted_upto: Option<i64>,
    max_time: i64,
    last_now: i64,
    /// Closed windows kept for correction rows (`--late emit`).
    closed: BTreeMap<i64, Win>,
    /// No closing at all until `finish` (a `--threads` worker, or `--merge` of event/arrival
    /// partials: order does not matter).
    batch: bool,
    /// A `--threads` worker: bad lines go to `bad_log`, nothing is written.
    worker: bool,
    rows: RowWriter,
    out: Output,
    side: Option<Output>,
    diag: Box<dyn Write + Send>,
    pub stats: Stats,
    /// Batch workers log bad lines here (chunk, line within chunk, message) instead of
    /// printing them: their global line numbers are known only after all chunks are read.
    pub bad_log: Vec<(usize, u64, String)>,
    /// The chunk a batch worker is reading.
    pub chunk: usize,
}

/// A bad line found by a batch worker, reported later with its global line number.
#[derive(Debug, Clone)]
pub struct BadLine {
    pub line: u64,
    pub message: String,
}

impl Engine {
    pub fn new(cfg: &Config, out: Output, diag: Box<dyn Write + Send>) -> anyhow::Result<Engine> {
        let q = cfg.query.clone();
        q.validate().map_err(kds_common::exit::usage)?;
        let o = cfg.options.clone();
        let paths = q.input_paths();
        let slot = |p: &Path| {
            paths
                .iter()
                .position(|x| x == p)
                .expect("input_paths has every path")
        };
        let time_slot = match &q.time {
            TimeBasis::Event(p) => Some(slot(p)),
            _ => None,
        };
        let group_slots = q.group_by.iter().map(|g| slot(&g.path)).collect();
        let agg_slots: Vec<Option<usize>> = q
            .aggregates
            .iter()
            .map(|a| a.path.as_ref().map(slot))
            .collect();
        let numeric_aggs = q
            .aggregates
            .iter()
            .enumerate()
            .filter(|(_, a)| a.func.numeric())
            .filter_map(|(i, _)| agg_slots[i].map(|s| (i, s)))
            .collect();
        let side = match &o.late {
            LatePolicy::Side(path) => Some(Output::append(path)?),
            _ => None,
        };
        let rows = RowWriter::new(&q, o.format, o.partial);
        Ok(Engine {
            ex: Extractor::new(paths, q.time == TimeBasis::Arrival),
            time_slot,
            group_slots,
            agg_slots,
            numeric_aggs,
            key: Vec::new(),
            dkey: Vec::new(),
            ts: TimestampCache::default(),
            windows: Vec::new(),
            hint: 0,
            cur_ws: i64::MIN,
            closed_upto: i64::MIN,
            emitted_upto: None,
            max_time: i64::MIN,
            last_now: i64::MIN,
            closed: BTreeMap::new(),
            // Partials of event/arrival-time queries are merged whatever their order and
            // emitted at the end; rowtime partials close by the window starts seen.
            batch: o.merge && q.time != TimeBasis::Rowtime,
            worker: false,
            rows,
            out,
            side,
            diag,
            stats: Stats::default(),
            bad_log: Vec::new(),
            chunk: 0,
            q,
            o,
        })
    }

    /// A worker for `--threads`: aggregates everything, closes nothing, writes nothing.
    pub fn batch_worker(cfg: &Config) -> anyhow::Result<Engine> {
        let mut e = Engine::new(cfg, Output::new(std::io::sink()), Box::new(std::io::sink()))?;
        e.batch = true;
        e.worker = true;
        Ok(e)
    }

    pub fn query(&self) -> &Query {
        &self.q
    }

    /// For rowtime with `--emit-empty`: empty windows are emitted from the one holding `now`.
    /// (Event and arrival time fill from the first window emitted: the clock does not matter.)
    pub fn start_clock(&mut self, now: i64) {
        if self.q.time == TimeBasis::Rowtime && self.o.emit_empty && self.emitted_upto.is_none() {
            self.emitted_upto = Some(self.window_of(now));
        }
    }

    #[inline]
    fn window_of(&self, t: i64) -> i64 {
        t.div_euclid(self.q.size_ms) * self.q.size_ms
    }

    /// Feeds a block of whole lines (the last one may lack its `\n`) read at `now`. Returns
    /// how many lines it held.
    pub fn push_block(&mut self, bytes: &[u8], first_line: u64, now: i64) -> anyhow::Result<u64> {
        let now = self.observe_clock(now)?;
        let mut line_no = first_line;
        let mut start = 0;
        if self.ex.fast_keys.is_some() && !self.o.merge {
            // One classification pass over the block finds the line ends and the strings of
            // every line for the fast path.
            let mut index = std::mem::take(&mut self.ex.index);
            index.build(bytes);
            self.ex.index = index;
            while let Some(end) = self.ex.index.next_newline(start) {
                self.push_line_at(bytes, start, end, line_no, now)?;
                line_no += 1;
                start = end + 1;
            }
            if start < bytes.len() {
                self.push_line_at(bytes, start, bytes.len(), line_no, now)?;
                line_no += 1;
            }
            return Ok(line_no - first_line);
        }
        for end in memchr::memchr_iter(b'\n', bytes) {
            self.push_line(&bytes[start..end], line_no, now)?;
            line_no += 1;
            start = end + 1;
        }
        if start < bytes.len() {
            self.push_line(&bytes[start..], line_no, now)?;
            line_no += 1;
        }
        Ok(line_no - first_line)
    }

    /// Rowtime: closes the windows the clock has passed. Returns the (monotonic) time used.
    pub fn observe_clock(&mut self, now: i64) -> anyhow::Result<i64> {
        let now = now.max(self.last_now);
        self.last_now = now;
        if self.q.time == TimeBasis::Rowtime && !self.o.merge && !self.batch {
            self.close_until(now)?;
        }
        Ok(now)
    }

    /// The wall-clock time at which rowtime must next emit something, if any.
    pub fn next_deadline(&self) -> Option<i64> {
        if self.q.time != TimeBasis::Rowtime || self.o.merge {
            return None;
        }
        let open = self.windows.first().map(|w| w.start + self.q.size_ms);
        let empty = self
            .o
            .emit_empty
            .then(|| self.emitted_upto.map(|e| e + self.q.size_ms))
            .flatten();
        match (open, empty) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn bad(&mut self, line_no: u64, msg: &str) -> anyhow::Result<()> {
        self.stats.bad += 1;
        if self.worker {
            if self.bad_log.len() < self.o.report_bad || self.o.strict {
                self.bad_log.push((self.chunk, line_no, msg.to_string()));
            }
            if self.o.strict {
                return Err(anyhow!("line {line_no}: {msg}"));
            }
            return Ok(());
        }
        if self.o.strict {
            return Err(anyhow!("line {line_no}: {msg}"));
        }
        if self.stats.bad as usize <= self.o.report_bad {
            let _ = writeln!(self.diag, "kds-window: line {line_no}: {msg}");
        }
        Ok(())
    }

    /// Feeds one line read at `now` (used by rowtime).
    #[inline]
    pub fn push_line(&mut self, line: &[u8], line_no: u64, now: i64) -> anyhow::Result<()> {
        if line.is_empty() {
            return Ok(());
        }
        self.stats.lines += 1;
        if self.o.merge {
            return self.push_partial(line, line_no);
        }
        let extracted = self.ex.extract(line);
        self.push_extracted(extracted, line, line_no, now)
    }

    /// [`Engine::push_line`] for the line `block[start..end]` of the block just indexed by
    /// [`Engine::push_block`] (not `--merge`).
    #[inline]
    fn push_line_at(
        &mut self,
        block: &[u8],
        start: usize,
        end: usize,
        line_no: u64,
        now: i64,
    ) -> anyhow::Result<()> {
        if start == end {
            return Ok(());
        }
        self.stats.lines += 1;
        let extracted = self.ex.extract_at(block, start, end);
        self.push_extracted(extracted, &block[start..end], line_no, now)
    }

    /// Aggregates one record whose fields were extracted (or reports why they could not be).
    #[inline(always)]
    fn push_extracted(
        &mut self,
        extracted: Result<(bool, Option<i64>), String>,
        line: &[u8],
        line_no: u64,
        now: i64,
    ) -> anyhow::Result<()> {
        let (in_scratch, arrival) = match extracted {
            Ok(x) => x,
            Err(msg) => return self.bad(line_no, &msg),
        };
        let text: &[u8] = if in_scratch { &self.ex.scratch } else { line };
        let vals: &[Val] = &self.ex.vals;
        let slot = self.time_slot.unwrap_or_default();
        let ts =
            match record::record_time(&self.q.time, &mut self.ts, (vals, text), slot, now, arrival)
            {
                Ok(ts) => ts,
                Err(msg) => return self.bad(line_no, &msg),
            };
        if let Err(msg) = record::check_numeric(&self.numeric_aggs, &self.q.aggregates, vals, text)
        {
            return self.bad(line_no, &msg);
        }
        let size = self.q.size_ms;
        let ws = record::window_start(&mut self.cur_ws, ts, size);
        record::group_key(&mut self.key, &self.group_slots, vals, text);
        if !self.batch && ws.saturating_add(size) <= self.closed_upto {
            let text = text.to_vec();
            return self.late(line, line_no, ws, &text);
        }
        let idx = window_index(&mut self.windows, &mut self.hint, ws, &self.q);
        let win = &mut self.windows[idx];
        let accs = win.accs(&self.key, &self.q.aggregates);
        for (acc, slot) in accs.iter_mut().zip(&self.agg_slots) {
            if acc
                .add(slot.map(|s| vals[s]), text, &mut self.dkey, self.o.strict)
                .is_err()
            {
                return Err(anyhow!(
                    "line {line_no}: integer sum overflows i64 (--strict)"
                ));
            }
        }
        self.stats.records += 1;
        self.advance_watermark(ts)
    }

    /// Event and arrival time: a record later than any before moves the watermark (its time
    /// less the allowed lateness); windows it passed close.
    #[inline(always)]
    fn advance_watermark(&mut self, ts: i64) -> anyhow::Result<()> {
        if self.q.time.uses_watermark() && ts > self.max_time {
            self.max_time = ts;
            let wm = ts
                .saturating_sub(self.o.allowed_lateness_ms)
                .max(MIN_TIME_MS);
            // The watermark crossed a window boundary: close what it passed.
            if !self.batch && wm >= self.closed_upto.saturating_add(self.q.size_ms) {
                self.close_until(wm)?;
            }
        }
        Ok(())
    }

    /// End of input (`signal` false) or a signal (`signal` true: rows marked `"final":false`):
    /// emits every open window in order and flushes.
    pub fn finish(&mut self, signal: bool) -> anyhow::Result<()> {
        let marker = Marker {
            late: false,
            not_final: signal,
        };
        for win in std::mem::take(&mut self.windows) {
            self.emit_window(win, marker)?;
        }
        self.out.flush()?;
        if let Some(side) = &mut self.side {
            side.flush()?;
        }
        let _ = self.diag.flush();
        Ok(())
    }

    /// Flushes output (after a block of live input).
    pub fn flush(&mut self) -> anyhow::Result<()> {
        self.out.flush()?;
        if let Some(side) = &mut self.side {
            side.flush()?;
        }
        Ok(())
    }

    /// Takes the open windows (a `--threads` worker's result).
    pub fn take_windows(&mut self) -> Vec<Win> {
        std::mem::take(&mut self.windows)
    }

    /// Merges a worker's windows into this engine's open windows.
    pub fn absorb(&mut self, wins: Vec<Win>) -> anyhow::Result<()> {
        for w in wins {
            let idx = window_index(&mut self.windows, &mut self.hint, w.start, &self.q);
            if self.windows[idx]
                .merge(&w, &self.q.aggregates, self.o.strict)
                .is_err()
            {
                return Err(anyhow!("integer sum overflows i64 (--strict)"));
            }
        }
        Ok(())
    }
}
