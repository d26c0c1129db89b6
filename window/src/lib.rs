//! kds-window: tumbling-window aggregation of NDJSON, the lab's Kinesis Data Analytics SQL
//! application as a Unix filter.
//!
//! Flags become a [`query::Query`] plus [`engine::Options`] ([`Args::config`]); the
//! [`engine::Engine`] turns lines into window rows; [`driver`] feeds it ([`input`] reads stdin and files
//! with `poll()`) so rowtime windows close on the clock; [`threads`] splits files across cores.

pub mod agg;
pub mod driver;
pub mod engine;
pub mod extract;
pub mod input;
pub mod output;
pub mod query;
pub mod scan;
pub mod sql;
pub mod threads;

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use clap::Parser;
use kds_common::exit::{usage, Exit};
use kds_common::io::Output;
use kds_common::progress::{Bar, Spec};
use kds_common::signal::Shutdown;
use kds_common::stats::{Reporter, Tick};

pub use engine::{Config, LatePolicy, Options, Stats};
pub use output::Format;
pub use query::{AggFunc, Aggregate, Column, GroupBy, Path, Query, TimeBasis};

/// The end of `--help`: the lab's commands first.
const EXAMPLES: &str = "\
Examples:
  # The lab's KDA application: count(*) and sum(tnum) per minute of ROWTIME
  kds-tail --stream kds-lab1 | kds-window

  # The same from the lab's SQL, verbatim
  kds-tail --stream kds-lab1 | kds-window --sql lab1.sql

  # Per product and 10 s window of event time, from a file
  kds-window --time event:tuptime --size 10s --group-by pno --agg count,sum:tnum,max:tnum trades.ndjson

  # Late rows as corrections instead of dropped
  kds-window --time event --allowed-lateness 30s --late emit trades.ndjson";

/// Tumbling-window aggregation of NDJSON lines: with no flags, the lab's KDA application
/// (60 s windows on ROWTIME, count(*) AS count_tno, sum(tnum) AS sum_tnum).
#[derive(Debug, Parser)]
#[command(name = "kds-window", version, about, long_about = None, after_long_help = EXAMPLES)]
pub struct Args {
    /// Input files, read one after another (none or `-`: stdin).
    pub files: Vec<PathBuf>,

    /// Time basis: rowtime (when the line is read), arrival (`arrival` of a
    /// `kds-tail --envelope` line; fields are read inside `data`), or event:FIELD (a record
    /// field, RFC 3339 or epoch milliseconds; `event` alone is event:tuptime).
    #[arg(help_heading = "Windows", long, default_value = "rowtime", env = "KDS_WINDOW_TIME", value_parser = query::parse_time_basis)]
    pub time: TimeBasis,

    /// Window size (tumbling, aligned to the Unix epoch): 500ms, 10s, 1m, 1h.
    #[arg(help_heading = "Windows", long, default_value = "60s", env = "KDS_WINDOW_SIZE", value_parser = kds_common::duration::parse_duration)]
    pub size: Duration,

    /// Group-by fields, comma separated, each PATH or PATH=NAME (dotted paths for nesting).
    #[arg(help_heading = "Windows", long, value_delimiter = ',', value_parser = query::parse_group_by)]
    pub group_by: Vec<GroupBy>,

    /// Aggregates, comma separated: count, count:P, sum:P, min:P, max:P, avg:P,
    /// count_distinct:P, each with an optional =NAME. Default names: count, count_P, sum_P, ...
    /// Without --agg: count=count_tno,sum:tnum=sum_tnum.
    #[arg(help_heading = "Windows", long, value_delimiter = ',', value_parser = query::parse_agg)]
    pub agg: Vec<Aggregate>,

    /// Event/arrival time: how far the watermark trails the largest time seen. Default: 0 for
    /// event time; 5s for arrival time, where `kds-tail` interleaves shards out of arrival order.
    #[arg(help_heading = "Windows", long, value_parser = kds_common::duration::parse_duration)]
    pub allowed_lateness: Option<Duration>,

    /// Records for windows already emitted: drop, emit (a correction row marked "late":true),
    /// or side:FILE (append the line to FILE). Counted in the summary either way.
    #[arg(help_heading = "Windows", long, default_value = "drop", value_parser = parse_late)]
    pub late: LatePolicy,

    /// Also emit windows that had no rows (count 0, other aggregates null).
    #[arg(help_heading = "Windows", long)]
    pub emit_empty: bool,

    /// Output format.
    #[arg(help_heading = "Output", long, value_enum, default_value = "ndjson")]
    pub format: Format,

    /// Exit 1 at the first bad line (and on an i64 sum overflow) instead of skipping it.
    #[arg(help_heading = "Input", long)]
    pub strict: bool,

    /// Emit mergeable partial rows (for `kds-window --merge`) instead of final rows.
    #[arg(help_heading = "Output", long)]
    pub partial: bool,

    /// Input is partial rows from `kds-window --partial` processes run with the same query
    /// flags; combine them into final rows.
    #[arg(help_heading = "Input", long)]
    pub merge: bool,

    /// Worker threads for FILE inputs with event or arrival time (record order then does not
    /// matter: no record is late).
    #[arg(help_heading = "Tuning", long, default_value_t = 1)]
    pub threads: usize,

    /// Print a stats line every second and a summary on stderr.
    #[arg(short, long)]
    pub verbose: bool,

    /// Draw a progress line on stderr (bytes, lines/s; ETA for files); default: only when
    /// stderr is a terminal. Not with --threads.
    #[arg(long, env = "KDS_WINDOW_PROGRESS", overrides_with = "no_progress")]
    pub progress: bool,

    /// Never draw the progress line.
    #[arg(long, overrides_with = "progress")]
    pub no_progress: bool,

    /// The KDA SQL front end (`--sql`, `--discover`, `--schema`, `--explain-flink`).
    #[command(flatten, next_help_heading = "SQL")]
    pub sql: sql::cli::SqlArgs,
}

fn parse_late(text: &str) -> Result<LatePolicy, String> {
    match text {
        "drop" => Ok(LatePolicy::Drop),
        "emit" => Ok(LatePolicy::Emit),
        _ => match text.strip_prefix("side:") {
            Some(f) if !f.is_empty() => Ok(LatePolicy::Side(PathBuf::from(f))),
            _ => Err(format!(
                "invalid late policy '{text}' (use drop, emit or side:FILE)"
            )),
        },
    }
}

/// `--allowed-lateness` for `--time arrival` when none is given. `kds-tail` reads shards
/// concurrently and writes each GetRecords page as it comes, so arrival times interleave out of
/// order across shards by up to a polling interval (500 ms when idle) plus any throttling
/// back-off (up to 5 s); with no lateness, a window would close on one shard's newer record and
/// drop another shard's older ones.
pub const DEFAULT_ARRIVAL_LATENESS: Duration = Duration::from_secs(5);

impl Args {
    /// `--allowed-lateness`, or its default for the time basis: [`DEFAULT_ARRIVAL_LATENESS`] for
    /// arrival time, 0 otherwise.
    pub fn allowed_lateness(&self) -> Duration {
        match (self.allowed_lateness, &self.time) {
            (Some(d), _) => d,
            (None, TimeBasis::Arrival) => DEFAULT_ARRIVAL_LATENESS,
            (None, _) => Duration::ZERO,
        }
    }

    /// The validated query and options (usage errors map to exit 2).
    pub fn config(&self) -> anyhow::Result<Config> {
        let size_ms = i64::try_from(self.size.as_millis()).unwrap_or(i64::MAX);
        if size_ms <= 0 {
            return Err(usage("--size must be at least 1ms"));
        }
        let mut query = Query::lab();
        query.time = self.time.clone();
        query.size_ms = size_ms;
        query.group_by = self.group_by.clone();
        if !self.agg.is_empty() {
            query.aggregates = self.agg.clone();
        }
        query.columns = query.default_columns();
        query.validate().map_err(usage)?;
        if self.partial && self.format == Format::Csv {
            return Err(usage(
                "--partial writes NDJSON; it cannot be combined with --format csv",
            ));
        }
        if self.threads == 0 {
            return Err(usage("--threads must be at least 1"));
        }
        if self.threads > 1 {
            if self.files.is_empty() || self.files.iter().any(|f| f.as_os_str() == "-") {
                return Err(usage(
                    "--threads needs FILE arguments (stdin cannot be split)",
                ));
            }
            if query.time == TimeBasis::Rowtime && !self.merge {
                return Err(usage(
                    "--threads needs --time event:FIELD or arrival (rowtime depends on reading order)",
                ));
            }
        }
        let options = Options {
            late: self.late.clone(),
            allowed_lateness_ms: i64::try_from(self.allowed_lateness().as_millis())
                .unwrap_or(i64::MAX),
            emit_empty: self.emit_empty,
            strict: self.strict,
            format: self.format,
            partial: self.partial,
            merge: self.merge,
            report_bad: 5,
        };
        Ok(Config { query, options })
    }
}

/// Runs the tool: stdin/files to stdout, diagnostics on stderr.
pub fn run(args: Args) -> anyhow::Result<Exit> {
    if args.sql.active() {
        return sql::cli::run(&args, &args.sql);
    }
    let cfg = args.config()?;
    run_query(&args, &cfg, &mut driver::NoFilter)
}

/// The stats line and, unless `--threads` (whose workers keep no shared counters), the
/// progress bar: bytes of the inputs, with an ETA when they are all regular files.
fn start_reporter(args: &Args, progress: &driver::Progress, started: Instant) -> Reporter {
    let show_bar =
        args.threads <= 1 && kds_common::progress::wanted(args.progress, args.no_progress);
    let bar = show_bar.then(|| {
        let spec = Spec {
            total: kds_common::progress::input_size(&args.files),
            bytes: true,
        };
        Bar::new("kds-window", spec)
    });
    let progress = progress.clone();
    Reporter::with_progress(
        "kds-window",
        args.verbose,
        bar,
        Duration::from_secs(1),
        move || {
            let n = progress.lines.load(Ordering::Relaxed);
            let rate = kds_common::stats::rate(n, started.elapsed());
            Tick {
                pos: progress.bytes.load(Ordering::Relaxed),
                text: format!("{n} lines, {rate:.0} lines/s"),
            }
        },
    )
}

/// Runs a validated query over the command line's inputs (the flags' query, or `--sql`'s with
/// its WHERE clause as `filter`): `--threads` splits files across cores, otherwise stdin and
/// files are read with `poll()` in this thread ([`driver::run_filtered`]). Prints the bad-line
/// count and, with `-v` or on a terminal, the summary on stderr.
pub fn run_query<F: driver::BlockFilter + ?Sized>(
    args: &Args,
    cfg: &Config,
    filter: &mut F,
) -> anyhow::Result<Exit> {
    run_query_to(args, cfg, filter, Output::stdout())
}

/// [`run_query`] writing its rows to `out` (the SQL front end puts the pumps that read a GROUP
/// BY pump's stream there).
pub fn run_query_to<F: driver::BlockFilter + ?Sized>(
    args: &Args,
    cfg: &Config,
    filter: &mut F,
    out: Output,
) -> anyhow::Result<Exit> {
    let shutdown = Shutdown::install()?;
    let progress = driver::Progress::default();
    let started = Instant::now();
    let reporter = start_reporter(args, &progress, started);
    let stats = if args.threads > 1 {
        // The SQL front end refuses --threads with a WHERE clause (sql_config), so no filter
        // is lost here.
        threads::run_files(
            cfg,
            &args.files,
            args.threads,
            out,
            Box::new(std::io::stderr()),
            &shutdown,
        )?
    } else {
        driver::run_filtered(
            cfg,
            input::open(&args.files)?,
            filter,
            &driver::SystemClock,
            out,
            Box::new(std::io::stderr()),
            &shutdown,
            &progress,
        )?
    };
    if stats.bad > 0 {
        let _ = writeln!(
            std::io::stderr(),
            "kds-window: {} bad line{} skipped",
            stats.bad,
            if stats.bad == 1 { "" } else { "s" }
        );
    }
    let secs = started.elapsed();
    reporter.finish(&format!(
        "{} lines, {} records, {} windows, {} rows, {} late, {} bad, {:.0} lines/s",
        stats.lines,
        stats.records,
        stats.windows,
        stats.rows,
        stats.late,
        stats.bad,
        kds_common::stats::rate(stats.lines, secs)
    ));
    Ok(Exit::Ok)
}
