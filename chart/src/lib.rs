//! kds-chart: a live terminal chart of numeric fields in NDJSON rows (kds-window's per-minute
//! results, for example), or a static SVG/PNG of all rows for reports and cron.
//!
//! `lib.rs` holds the flags ([`Args`]), their validation into a [`Config`] and [`run`];
//! `input.rs` reads and passes the input through, `data.rs` turns rows into series,
//! `live.rs` + `view.rs` are the terminal view, `render.rs` the static picture.

pub mod data;
pub mod input;
pub mod live;
pub mod render;
pub mod view;

use std::io::{self, BufWriter, IsTerminal};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use clap::Parser;
use kds_common::diag;
use kds_common::exit::{usage, Exit};
use kds_common::signal::Shutdown;

use data::{Fields, Store};
use input::{feed, BadLines, PassThrough};

const EXAMPLES: &str = "\
Examples:
  # the lab's per-minute count and sum, live, while the rows go on to the next tool
  kds-tail --stream kds-lab1 | kds-window | kds-chart --y count_tno,sum_tnum --x window_end | kds-put --stream kds-lab1-out

  # one line per ticker, counted per 10 seconds
  kds-tail --stream kds-lab1 | kds-window --size 10s --group-by tic | kds-chart --y count_tno --x window_end --group-by tic

  # a picture of a finished run, for a report or from cron
  kds-window trades.ndjson | kds-chart --y count_tno,sum_tnum --x window_end --svg minutes.svg
  kds-window trades.ndjson | kds-chart --y count_tno --x window_end --png minutes.png --size 1280x720

Keys in the live view: q (or Esc, Ctrl-C) quit the view, p (or space) pause/resume.";

/// Chart numeric fields of NDJSON rows live in the terminal, or as an SVG/PNG at EOF.
///
/// When stdout is not a terminal the input is passed through to it byte for byte and the
/// chart is drawn on /dev/tty, so kds-chart can sit inside a pipeline.
#[derive(Parser, Debug, Clone)]
#[command(name = "kds-chart", version, about, after_long_help = EXAMPLES)]
pub struct Args {
    /// Inputs, read one after another; none or `-` is stdin.
    #[arg(value_name = "FILE", help_heading = "Input")]
    pub inputs: Vec<PathBuf>,

    /// Numeric fields to draw, comma-separated (dotted paths reach into objects); one panel each.
    #[arg(
        long = "y",
        value_name = "FIELD,...",
        env = "KDS_CHART_Y",
        value_delimiter = ',',
        required = true,
        help_heading = "Fields"
    )]
    pub y: Vec<String>,

    /// Field of the x axis: an RFC 3339 time or a number [default: the time each row was read].
    #[arg(
        long = "x",
        value_name = "FIELD",
        env = "KDS_CHART_X",
        help_heading = "Fields"
    )]
    pub x: Option<String>,

    /// One line per value of FIELD in every panel.
    #[arg(
        long,
        value_name = "FIELD",
        env = "KDS_CHART_GROUP_BY",
        help_heading = "Fields"
    )]
    pub group_by: Option<String>,

    /// Most groups drawn (1-64); rows of later groups are passed through and counted, not drawn.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 8,
        env = "KDS_CHART_MAX_GROUPS",
        help_heading = "Fields"
    )]
    pub max_groups: usize,

    /// Points kept per line in the live view; older ones scroll out (min/max cover all rows).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 600,
        env = "KDS_CHART_POINTS",
        help_heading = "Live view"
    )]
    pub points: usize,

    /// Redraw interval of the live view, e.g. 250ms, 1s.
    #[arg(long, value_name = "DURATION", default_value = "250ms", value_parser = kds_common::duration::parse_duration, env = "KDS_CHART_TICK", help_heading = "Live view")]
    pub tick: Duration,

    /// Leave the live view when the input ends [default: keep showing it until q].
    #[arg(
        long,
        env = "KDS_CHART_EXIT_ON_EOF",
        value_parser = clap::builder::BoolishValueParser::new(),
        help_heading = "Live view"
    )]
    pub exit_on_eof: bool,

    /// Write an SVG chart of all rows to FILE at the end of the input, instead of the live view.
    #[arg(
        long,
        value_name = "FILE",
        env = "KDS_CHART_SVG",
        help_heading = "Static chart"
    )]
    pub svg: Option<PathBuf>,

    /// Write a PNG chart of all rows to FILE at the end of the input, instead of the live view.
    #[arg(
        long,
        value_name = "FILE",
        env = "KDS_CHART_PNG",
        help_heading = "Static chart"
    )]
    pub png: Option<PathBuf>,

    /// Size of the SVG/PNG in pixels, WIDTHxHEIGHT (each 100-10000).
    #[arg(
        long,
        value_name = "WxH",
        default_value = "1000x600",
        env = "KDS_CHART_SIZE",
        help_heading = "Static chart"
    )]
    pub size: String,

    /// Title above the SVG/PNG panels.
    #[arg(
        long,
        value_name = "TEXT",
        env = "KDS_CHART_TITLE",
        help_heading = "Static chart"
    )]
    pub title: Option<String>,
}

/// Validated settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub inputs: Vec<PathBuf>,
    pub fields: Fields,
    pub max_groups: usize,
    pub points: usize,
    pub tick: Duration,
    pub exit_on_eof: bool,
    pub svg: Option<PathBuf>,
    pub png: Option<PathBuf>,
    pub size: (u32, u32),
    pub title: String,
}

impl TryFrom<Args> for Config {
    type Error = anyhow::Error;

    fn try_from(args: Args) -> anyhow::Result<Config> {
        let y: Vec<String> = args.y.iter().map(|f| f.trim().to_string()).collect();
        if y.iter().any(String::is_empty) {
            return Err(usage("--y: empty field name"));
        }
        if let Some(dup) = y
            .iter()
            .enumerate()
            .find_map(|(i, f)| y[..i].contains(f).then_some(f))
        {
            return Err(usage(format!("--y: field {dup:?} named twice")));
        }
        for (flag, value) in [("--x", &args.x), ("--group-by", &args.group_by)] {
            if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                return Err(usage(format!("{flag}: empty field name")));
            }
        }
        if !(1..=64).contains(&args.max_groups) {
            return Err(usage(format!(
                "--max-groups {}: must be 1-64",
                args.max_groups
            )));
        }
        if args.points < 2 {
            return Err(usage(format!(
                "--points {}: must be at least 2",
                args.points
            )));
        }
        if args.tick < Duration::from_millis(10) {
            return Err(usage("--tick: must be at least 10ms"));
        }
        Ok(Config {
            inputs: args.inputs,
            fields: Fields {
                x: args.x,
                y,
                group_by: args.group_by,
            },
            max_groups: args.max_groups,
            points: args.points,
            tick: args.tick,
            exit_on_eof: args.exit_on_eof,
            svg: args.svg,
            png: args.png,
            size: parse_size(&args.size)
                .map_err(|e| usage(format!("--size {}: {e}", args.size)))?,
            title: args.title.unwrap_or_default(),
        })
    }
}

/// `1000x600` → (1000, 600).
pub fn parse_size(text: &str) -> Result<(u32, u32), String> {
    let (w, h) = text
        .split_once(['x', 'X'])
        .ok_or("expected WIDTHxHEIGHT, e.g. 1000x600")?;
    let side = |s: &str| match s.trim().parse::<u32>() {
        Ok(n) if (100..=10_000).contains(&n) => Ok(n),
        _ => Err(format!("{s:?} is not a number of pixels in 100-10000")),
    };
    Ok((side(w)?, side(h)?))
}

/// Runs kds-chart: a static picture when `--svg`/`--png` is given, else the live view.
pub fn run(args: Args) -> anyhow::Result<Exit> {
    let config = Config::try_from(args)?;
    let pass = if io::stdout().is_terminal() {
        PassThrough::Off
    } else {
        PassThrough::On(Box::new(BufWriter::with_capacity(64 * 1024, io::stdout())))
    };
    if config.svg.is_some() || config.png.is_some() {
        return run_static(&config, pass);
    }
    if config.inputs.is_empty() && io::stdin().is_terminal() {
        return Err(usage("stdin is a terminal: pipe rows in or name FILEs"));
    }
    let shutdown = Shutdown::install()?;
    live::run(&config, pass, &shutdown)
}

/// Reads everything (passing it through), then writes the pictures.
fn run_static(config: &Config, mut pass: PassThrough) -> anyhow::Result<Exit> {
    let store = Mutex::new(Store::new(config.fields.y.clone(), config.max_groups, None));
    let bad = BadLines::default();
    feed(&config.inputs, &mut pass, &config.fields, &store, &bad)?;
    drop(pass);
    bad.summary();
    let store = store
        .into_inner()
        .map_err(|_| anyhow::anyhow!("chart state lost"))?;
    if store.rows == 0 {
        diag!("kds-chart: no rows to draw: the chart is empty");
    }
    if let Some(path) = &config.svg {
        render::write_svg(&store, path, config.size, &config.title)?;
    }
    if let Some(path) = &config.png {
        render::write_png(&store, path, config.size, &config.title)?;
    }
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &[&str]) -> anyhow::Result<Config> {
        let argv = ["kds-chart", "--y", "count_tno,sum_tnum"]
            .iter()
            .chain(extra);
        Config::try_from(Args::try_parse_from(argv)?)
    }

    #[test]
    fn validates_flags_before_any_io() {
        let ok = config(&["--x", "window_end"]).expect("valid");
        assert_eq!(ok.fields.y, vec!["count_tno", "sum_tnum"]);
        assert_eq!(ok.size, (1000, 600));
        for bad in [
            &["--max-groups", "0"][..],
            &["--points", "1"],
            &["--size", "10x10"],
            &["--size", "big"],
            &["--x", " "],
        ] {
            let err = config(bad).expect_err("invalid");
            assert!(kds_common::exit::is_usage(&err), "{bad:?}: {err}");
            assert!(
                err.to_string().contains(bad[0]),
                "{bad:?} not named in {err}"
            );
        }
    }

    #[test]
    fn parses_sizes() {
        assert_eq!(parse_size("1280x720"), Ok((1280, 720)));
        assert!(parse_size("1280").is_err());
        assert!(parse_size("0x720").is_err());
    }
}
