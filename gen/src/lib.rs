//! kds-gen: simulated trade events of the lab (gen/README.md), as fast or as slow as asked.
//!
//! `lib.rs` holds the flags ([`Args`]), their validation into a [`Config`] (before any I/O)
//! and [`run`]; `generate.rs` is the loop, `event.rs` the formatting, `clock.rs` real vs
//! simulated time, `rng.rs` the PRNG (kds-common's) and `keys.rs` the (skewed) key choice.

pub mod clock;
pub mod event;
pub mod generate;
pub mod keys;
pub mod rng;

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use kds_common::exit::{usage, Exit};
use kds_common::io::Output;
use kds_common::progress::{Bar, Spec};
use kds_common::signal::Shutdown;
use kds_common::stats::{rate, Reporter, Tick};

pub use clock::{Clock, RealClock, SimulatedClock};
pub use event::Format;
pub use generate::generate;

/// The end of `--help`: the lab's commands first.
const EXAMPLES: &str = "\
Examples:
  # The lab's producer: one trade every 100 ms for trade date 2021-03-19, into Kinesis
  kds-gen --log lab1.log 2021-03-19 | kds-put --stream kds-lab1

  # A day of events at once, reproducibly, with realistic noise
  kds-gen --simulated-clock --start 2021-03-19 --duration 24h --seed 7 --late 0.01 --duplicates 0.001

  # As fast as possible, a million lines of CSV
  kds-gen --rate 0 -n 1000000 --format csv > trades.csv";

/// Simulate the lab's trade events as NDJSON (or CSV) on stdout.
#[derive(Parser, Debug, Clone)]
#[command(name = "kds-gen", version, about, long_about = None, after_long_help = EXAMPLES)]
pub struct Args {
    /// Trade date written in every event's `tdate`, YYYY-MM-DD [default: the UTC date of
    /// --start with --simulated-clock, else today, UTC].
    #[arg(help_heading = "Events", value_name = "TDATE", env = "KDS_GEN_TDATE")]
    pub tdate: Option<String>,

    /// Stop after N lines (duplicates and malformed lines count; a CSV header does not).
    #[arg(help_heading = "Events", short = 'n', long, value_name = "N")]
    pub count: Option<u64>,

    /// Stop after this much (real or simulated) time, e.g. 90s, 5m, 1h.
    #[arg(help_heading = "Events", long, value_name = "DURATION", value_parser = kds_common::duration::parse_duration)]
    pub duration: Option<Duration>,

    /// Events per second; 0 = as fast as possible.
    #[arg(
        help_heading = "Events",
        long,
        value_name = "R",
        default_value_t = 10.0,
        env = "KDS_GEN_RATE",
        allow_negative_numbers = true
    )]
    pub rate: f64,

    /// Seed for the random choices: the same seed gives the same events [default: random].
    #[arg(help_heading = "Events", long, value_name = "S", env = "KDS_GEN_SEED")]
    pub seed: Option<u64>,

    /// Start of simulated time (RFC 3339 or YYYY-MM-DD; needs --simulated-clock) [default: now].
    #[arg(help_heading = "Events", long, value_name = "TIME")]
    pub start: Option<String>,

    /// Don't sleep: tuptime advances by 1/rate per event from --start (instant backfill).
    #[arg(help_heading = "Events", long)]
    pub simulated_clock: bool,

    /// Output format.
    #[arg(help_heading = "Output", long, value_enum, default_value_t = Format::Ndjson)]
    pub format: Format,

    /// Number of distinct customers: uno is U1000 up to U(1000+N-1), N in 1..=9000.
    #[arg(help_heading = "Keys", long, value_name = "N", default_value_t = 100)]
    pub users: u32,

    /// Number of distinct products: pno is P1000 up to P(1000+N-1), N in 1..=9000.
    #[arg(help_heading = "Keys", long, value_name = "N", default_value_t = 100)]
    pub products: u32,

    /// Key popularity: `uniform`, or `zipf:S` (S > 0) so U1000/P1000 are hottest.
    #[arg(help_heading = "Keys", long, value_name = "zipf:S")]
    pub skew: Option<String>,

    /// Append the lab script's start-up line to FILE before the first event.
    #[arg(help_heading = "Output", long, value_name = "FILE")]
    pub log: Option<PathBuf>,

    /// Print a stats line (events, rate) every second on stderr, and a summary at the end.
    #[arg(short, long)]
    pub verbose: bool,

    /// Draw a progress line on stderr (default: only when stderr is a terminal).
    #[arg(long, env = "KDS_GEN_PROGRESS", overrides_with = "no_progress")]
    pub progress: bool,

    /// Never draw the progress line.
    #[arg(long, overrides_with = "progress")]
    pub no_progress: bool,

    // Last: the heading it sets stays set for the flags after it.
    #[command(flatten, next_help_heading = "Noise")]
    pub noise: Knobs,
}

/// The realism knobs, each a probability (the "Noise" flags).
#[derive(clap::Args, Debug, Clone, Copy, PartialEq, Default)]
pub struct Knobs {
    /// Fraction of events whose tuptime lags the clock by 60–300 s (more than one window).
    #[arg(
        long,
        value_name = "P",
        default_value_t = 0.0,
        allow_negative_numbers = true
    )]
    pub late: f64,

    /// Fraction of events whose tuptime lags by 1–5 s, inside the current minute.
    #[arg(
        long,
        value_name = "P",
        default_value_t = 0.0,
        allow_negative_numbers = true
    )]
    pub out_of_order: f64,

    /// Fraction of lines that repeat one of the last 64 valid lines verbatim (same tid).
    #[arg(
        long,
        value_name = "P",
        default_value_t = 0.0,
        allow_negative_numbers = true
    )]
    pub duplicates: f64,

    /// Fraction of lines that are broken: truncated, not a record, wrong type, missing field.
    #[arg(
        long,
        value_name = "P",
        default_value_t = 0.0,
        allow_negative_numbers = true
    )]
    pub malformed: f64,
}

/// Validated settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub tdate: [u8; 10],
    pub count: Option<u64>,
    pub duration: Option<Duration>,
    pub rate: f64,
    pub seed: u64,
    /// Some(start in epoch ms) for the simulated clock (None there = start now).
    pub simulated_start_ms: Option<i64>,
    pub simulated: bool,
    pub format: Format,
    pub users: u32,
    pub products: u32,
    /// Zipf exponent, None for uniform keys.
    pub skew: Option<f64>,
    pub knobs: Knobs,
    pub log: Option<PathBuf>,
    pub verbose: bool,
    pub progress: bool,
}

/// Parses and checks a `YYYY-MM-DD` date.
pub fn parse_tdate(text: &str) -> Option<[u8; 10]> {
    let b = text.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape || kds_common::time::parse_timestamp(format!("{text}T00:00:00Z").as_bytes()).is_none()
    {
        return None;
    }
    b.try_into().ok()
}

/// Today's date in UTC as `YYYY-MM-DD`.
pub fn today_utc() -> [u8; 10] {
    date_utc(kds_common::time::now_ms())
}

/// The UTC date YYYY-MM-DD of the instant `ms` (epoch milliseconds).
pub fn date_utc(ms: i64) -> [u8; 10] {
    let (y, m, d) = kds_common::time::days_to_civil(ms.div_euclid(86_400_000));
    let s = format!("{y:04}-{m:02}-{d:02}");
    let mut out = *b"1970-01-01";
    if s.len() == 10 {
        out.copy_from_slice(s.as_bytes());
    }
    out
}

fn probability(flag: &str, p: f64) -> anyhow::Result<()> {
    if !(0.0..=1.0).contains(&p) {
        return Err(usage(format!("{flag} must be between 0 and 1, got {p}")));
    }
    Ok(())
}

fn parse_skew(text: &str) -> anyhow::Result<Option<f64>> {
    if text == "uniform" {
        return Ok(None);
    }
    let bad = || {
        usage(format!(
            "--skew must be 'uniform' or 'zipf:S' with S > 0, got '{text}'"
        ))
    };
    let s: f64 = text
        .strip_prefix("zipf:")
        .ok_or_else(bad)?
        .parse()
        .map_err(|_| bad())?;
    if !(s.is_finite() && s > 0.0 && s <= 100.0) {
        return Err(bad());
    }
    Ok(Some(s))
}

/// Slowest pacing accepted: one event a day (slower schedules overflow time arithmetic).
pub const MIN_RATE: f64 = 1.0 / 86_400.0;

/// Earliest and latest simulated start accepted (4-digit years, with room for lags).
const START_RANGE_MS: (i64, i64) = (0, 253_370_764_800_000); // 1970-01-01 .. 9999-01-01

/// `--rate`: 0 (as fast as possible) or at least one event a day.
fn check_rate(rate: f64) -> anyhow::Result<()> {
    if !(rate.is_finite() && rate >= 0.0) {
        return Err(usage(format!("--rate must be a number >= 0, got {rate}")));
    }
    if rate > 0.0 && rate < MIN_RATE {
        return Err(usage(format!(
            "--rate must be 0 or at least 1/86400 (one event a day), got {rate:?}"
        )));
    }
    Ok(())
}

/// The noise flags, each a probability, the lags and the line faults each summing to 1 at most.
fn knobs(a: &Args) -> anyhow::Result<Knobs> {
    let knobs = a.noise;
    for (flag, p) in [
        ("--late", knobs.late),
        ("--out-of-order", knobs.out_of_order),
        ("--duplicates", knobs.duplicates),
        ("--malformed", knobs.malformed),
    ] {
        probability(flag, p)?;
    }
    if knobs.late + knobs.out_of_order > 1.0 {
        return Err(usage(format!(
            "--late plus --out-of-order must be at most 1, got {}",
            knobs.late + knobs.out_of_order
        )));
    }
    if knobs.duplicates + knobs.malformed > 1.0 {
        return Err(usage(format!(
            "--duplicates plus --malformed must be at most 1, got {}",
            knobs.duplicates + knobs.malformed
        )));
    }
    Ok(knobs)
}

/// `--start` (with `--simulated-clock` only) in epoch ms; the simulated clock needs a rate.
fn simulated_start(a: &Args) -> anyhow::Result<Option<i64>> {
    let start = a.start.as_deref().map(|t| start_ms(a, t)).transpose()?;
    if a.simulated_clock && a.rate == 0.0 {
        return Err(usage(
            "--simulated-clock needs --rate > 0 (simulated time advances by 1/rate per event)",
        ));
    }
    Ok(start)
}

/// `--start T` in epoch ms.
fn start_ms(a: &Args, t: &str) -> anyhow::Result<i64> {
    if !a.simulated_clock {
        return Err(usage("--start needs --simulated-clock"));
    }
    parse_tdate(t)
        .map(|_| format!("{t}T00:00:00Z"))
        .and_then(|full| kds_common::time::parse_timestamp(full.as_bytes()))
        .or_else(|| kds_common::time::parse_timestamp(t.as_bytes()))
        .filter(|ms| (START_RANGE_MS.0..START_RANGE_MS.1).contains(ms))
        .ok_or_else(|| {
            usage(format!(
                "--start must be an RFC 3339 time or YYYY-MM-DD between 1970 and 9998, got '{t}'"
            ))
        })
}

impl TryFrom<Args> for Config {
    type Error = anyhow::Error;

    fn try_from(a: Args) -> anyhow::Result<Config> {
        let simulated_start_ms = simulated_start(&a)?;
        // A backfill's trades are dated on the day its simulated clock starts, not the day it runs.
        let tdate = match (&a.tdate, simulated_start_ms) {
            (Some(t), _) => parse_tdate(t)
                .ok_or_else(|| usage(format!("TDATE must be a date YYYY-MM-DD, got '{t}'")))?,
            (None, Some(start)) => date_utc(start),
            (None, None) => today_utc(),
        };
        check_rate(a.rate)?;
        for (flag, n) in [("--users", a.users), ("--products", a.products)] {
            if !(1..=keys::MAX_KEYS).contains(&n) {
                return Err(usage(format!(
                    "{flag} must be between 1 and {}, got {n}",
                    keys::MAX_KEYS
                )));
            }
        }
        let knobs = knobs(&a)?;
        let skew = a.skew.as_deref().map(parse_skew).transpose()?.flatten();
        if a.duration == Some(Duration::ZERO) {
            return Err(usage("--duration must be greater than 0"));
        }
        Ok(Config {
            tdate,
            count: a.count,
            duration: a.duration,
            rate: a.rate,
            seed: a.seed.unwrap_or_else(rng::random_seed),
            simulated_start_ms,
            simulated: a.simulated_clock,
            format: a.format,
            users: a.users,
            products: a.products,
            skew,
            knobs,
            log: a.log,
            verbose: a.verbose,
            progress: kds_common::progress::wanted(a.progress, a.no_progress),
        })
    }
}

/// The start-up log line (without `\n`):
/// `<RFC 3339 ms> kds-gen started: tdate=2021-03-19 rate=10/s seed=42 format=ndjson pid=1234`.
pub fn log_line(config: &Config, now_ms: i64) -> String {
    let format = match config.format {
        Format::Ndjson => "ndjson",
        Format::Csv => "csv",
    };
    format!(
        "{} kds-gen started: tdate={} rate={}/s seed={} format={format} pid={}",
        kds_common::time::rfc3339_ms(now_ms),
        String::from_utf8_lossy(&config.tdate),
        config.rate,
        config.seed,
        std::process::id()
    )
}

fn append_log(config: &Config, now_ms: i64) -> anyhow::Result<()> {
    let Some(path) = &config.log else {
        return Ok(());
    };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open log file {}", path.display()))?;
    writeln!(f, "{}", log_line(config, now_ms))
        .with_context(|| format!("cannot write log file {}", path.display()))
}

/// Runs with the given writer and shutdown flag (tests pass a `Vec`-backed writer).
pub fn run_with(config: &Config, out: &mut Output, shutdown: &Shutdown) -> anyhow::Result<u64> {
    run_counted(config, out, shutdown, &AtomicU64::new(0))
}

fn run_counted(
    config: &Config,
    out: &mut Output,
    shutdown: &Shutdown,
    progress: &AtomicU64,
) -> anyhow::Result<u64> {
    let written = if config.simulated {
        let start = config
            .simulated_start_ms
            .unwrap_or_else(kds_common::time::now_ms);
        let mut clock = SimulatedClock::new(start);
        append_log(config, start)?;
        generate::generate_counted(config, out, &mut clock, shutdown, progress)
    } else {
        let mut clock = RealClock::new(shutdown.clone());
        append_log(config, clock.now_ms())?;
        generate::generate_counted(config, out, &mut clock, shutdown, progress)
    };
    written.map_err(|e| {
        let limit = e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<generate::TimeLimitReached>())
            .map(ToString::to_string);
        match limit {
            Some(msg) => anyhow::anyhow!(msg),
            None => anyhow::Error::new(e).context("writing events"),
        }
    })
}

/// The tool: validate flags, install signal handlers, write events to stdout.
pub fn run(args: Args) -> anyhow::Result<Exit> {
    let config = Config::try_from(args)?;
    let shutdown = Shutdown::install()?;
    let mut out = Output::stdout();
    let progress = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let reporter = {
        let progress = Arc::clone(&progress);
        let spec = Spec {
            total: config.count,
            bytes: false,
        };
        let bar = config.progress.then(|| Bar::new("kds-gen", spec));
        Reporter::with_progress(
            "kds-gen",
            config.verbose,
            bar,
            Duration::from_secs(1),
            move || {
                let n = progress.load(Ordering::Relaxed);
                Tick {
                    pos: n,
                    text: format!("events {n}, {:.0}/s", rate(n, started.elapsed())),
                }
            },
        )
    };
    let written = run_counted(&config, &mut out, &shutdown, &progress)?;
    let elapsed = started.elapsed();
    reporter.finish(&format!(
        "wrote {written} events in {:.1}s ({:.0}/s)",
        elapsed.as_secs_f64(),
        rate(written, elapsed)
    ));
    Ok(Exit::Ok)
}
