//! Command-line flags and the validated configuration built from them before any I/O.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use kds_aws::AwsArgs;
use kds_common::duration::parse_duration;
use kds_common::exit::usage;

use crate::output::DataMode;

/// The end of `--help`: the lab's commands first.
const EXAMPLES: &str = "\
Examples:
  # The lab's consumers: per-minute aggregates, and Firehose-like delivery to S3
  kds-tail --stream kds-lab1 | kds-window
  kds-tail --stream kds-lab1 --envelope | kds-s3sink --input envelope --bucket B --prefix lab1-input/

  # Everything in the stream so far, then exit
  kds-tail --stream kds-lab1 --from trim-horizon -e

  # From cron: resume after the last record the previous run wrote
  kds-tail --stream kds-lab1 --from trim-horizon --checkpoint state/kds-lab1.checkpoint -e

  # Records that arrived after a time, with their metadata
  kds-tail --stream kds-lab1 --from at-timestamp:2021-03-19T13:00:00Z --envelope";

/// Read every shard of a Kinesis data stream and write the records to stdout as NDJSON.
///
/// Parents are read to their end before their children, so per-key order holds across
/// resharding. With --checkpoint, a restart resumes after the last record written.
#[derive(Parser, Debug, Clone)]
#[command(name = "kds-tail", version, after_long_help = EXAMPLES)]
pub struct Args {
    /// Stream to read.
    #[arg(
        help_heading = "Input",
        long,
        env = "KDS_TAIL_STREAM",
        value_name = "NAME"
    )]
    pub stream: String,

    /// Where to start: trim-horizon | latest | TIME | -DURATION | "DURATION ago" |
    /// at-timestamp:TIME | at-sequence:SHARD:SEQ. TIME is RFC 3339 or epoch milliseconds; a
    /// bare TIME and a relative one (-10m, "10m ago") start at that time (AT_TIMESTAMP).
    /// `latest` applies to shards open at start; shards that appear later are read from their
    /// first record. Ignored for shards that the checkpoint knows.
    #[arg(
        help_heading = "Input",
        long,
        env = "KDS_TAIL_FROM",
        default_value = "latest",
        value_name = "POS",
        allow_hyphen_values = true
    )]
    pub from: String,

    /// Stop when every open shard has been caught up once (MillisBehindLatest 0 on a page the
    /// limit did not cut short; it is not read further) and every closed shard has been read
    /// to its end.
    #[arg(help_heading = "Input", short = 'e', long)]
    pub exit_at_tip: bool,

    /// Stop at records that arrived after TIME (RFC 3339 or epoch ms), or once the wall clock
    /// has passed TIME and every shard is caught up.
    #[arg(
        help_heading = "Input",
        long,
        env = "KDS_TAIL_UNTIL",
        value_name = "TIME"
    )]
    pub until: Option<String>,

    /// Stop after N records.
    #[arg(help_heading = "Input", short = 'n', long, value_name = "N")]
    pub count: Option<u64>,

    /// Checkpoint file: per-shard last sequence number written, and finished shards. Read on
    /// start (resume after it), written atomically every --checkpoint-interval and on exit.
    #[arg(
        help_heading = "Input",
        long,
        env = "KDS_TAIL_CHECKPOINT",
        value_name = "FILE"
    )]
    pub checkpoint: Option<PathBuf>,

    /// How often the checkpoint is written while running.
    #[arg(help_heading = "Input", long, env = "KDS_TAIL_CHECKPOINT_INTERVAL", default_value = "5s", value_name = "DUR",
          value_parser = parse_duration)]
    pub checkpoint_interval: Duration,

    /// Data that is not a single valid UTF-8 line: json-escape (a JSON string), base64, raw
    /// (as is), or auto (JSON string for several lines, base64 for invalid UTF-8; counted).
    #[arg(
        help_heading = "Output",
        long,
        env = "KDS_TAIL_DATA",
        value_enum,
        default_value = "auto",
        value_name = "MODE"
    )]
    pub data: DataMode,

    /// Wrap each record: {"shard_id","sequence_number","partition_key","arrival","data"}.
    #[arg(help_heading = "Output", long, env = "KDS_TAIL_ENVELOPE")]
    pub envelope: bool,

    /// Read only subset I of N (0-based): shard lineages by a hash of their root shard id, so
    /// N processes with 0/N .. N-1/N together read every record once.
    #[arg(
        help_heading = "Input",
        long,
        env = "KDS_TAIL_SHARDS",
        value_name = "I/N"
    )]
    pub shards: Option<String>,

    /// Read only this shard (e.g. shardId-000000000001), not its children.
    #[arg(
        help_heading = "Input",
        long,
        env = "KDS_TAIL_SHARD_ID",
        value_name = "ID",
        conflicts_with = "shards"
    )]
    pub shard_id: Option<String>,

    /// Stop after this long without a new record written (e.g. 30s).
    #[arg(help_heading = "Input", long, env = "KDS_TAIL_IDLE_TIMEOUT", value_name = "DUR", value_parser = parse_duration)]
    pub idle_timeout: Option<Duration>,

    /// Write KPL-aggregated records as they are instead of as their user records.
    #[arg(help_heading = "Output", long)]
    pub no_deaggregate: bool,

    /// Drop de-aggregated records whose hash key is outside their shard's range, as the KCL
    /// does (default: keep them, counted and reported on stderr).
    #[arg(help_heading = "Output", long, env = "KDS_TAIL_KCL_DROP_OUTSIDE_SHARD")]
    pub kcl_drop_outside_shard: bool,

    /// Records asked for per GetRecords call (1-10000).
    #[arg(
        help_heading = "Tuning",
        long,
        default_value_t = 10_000,
        value_name = "N"
    )]
    pub batch_limit: i32,

    /// Time between two GetRecords calls on one shard (default 200ms: 5 calls/s, the per-shard
    /// limit shared by all readers of the stream; give each of several readers a longer one).
    #[arg(help_heading = "Tuning", long, env = "KDS_TAIL_POLL_INTERVAL", default_value = "200ms", value_name = "DUR", value_parser = parse_duration)]
    pub poll_interval: Duration,

    /// How often the shard list is re-read to find new shards.
    #[arg(help_heading = "Tuning", long, default_value = "10s", value_name = "DUR", value_parser = parse_duration)]
    pub list_interval: Duration,

    /// Print per-shard stats on stderr every few seconds, and a summary on exit.
    #[arg(short, long)]
    pub verbose: bool,

    /// Draw a progress line on stderr (default: only when stderr is a terminal).
    #[arg(long, env = "KDS_TAIL_PROGRESS", overrides_with = "no_progress")]
    pub progress: bool,

    /// Never draw the progress line.
    #[arg(long, overrides_with = "progress")]
    pub no_progress: bool,

    #[command(flatten, next_help_heading = "AWS")]
    pub aws: AwsArgs,
}

/// Where reading a shard starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum From {
    TrimHorizon,
    Latest,
    AtTimestamp(i64),
    AtSequence { shard: String, sequence: String },
}

impl From {
    /// Parses `--from`; relative times count back from now.
    pub fn parse(text: &str) -> Result<From, String> {
        From::parse_at(text, kds_common::time::now_ms())
    }

    /// Parses `--from` with `now_ms` as the present. Besides the named positions, a bare time
    /// (`2021-03-19T13:00:00Z`, epoch ms) and a time relative to now (`-10m`, `10m ago`) are
    /// AT_TIMESTAMP positions, as kcat's `-o s@TIME` / `-o -N` read.
    pub fn parse_at(text: &str, now_ms: i64) -> Result<From, String> {
        if let Some(ago) = relative_ago(text) {
            let d = kds_common::duration::parse_duration(ago)
                .map_err(|e| format!("--from {text}: {e}"))?;
            let back = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
            return Ok(From::AtTimestamp(now_ms.saturating_sub(back).max(0)));
        }
        if text.starts_with(|c: char| c.is_ascii_digit()) {
            if let Some(ms) = kds_common::time::parse_timestamp(text.as_bytes()) {
                return Ok(From::AtTimestamp(ms));
            }
        }
        match text {
            "trim-horizon" | "trim_horizon" | "TRIM_HORIZON" => return Ok(From::TrimHorizon),
            "latest" | "LATEST" => return Ok(From::Latest),
            _ => {}
        }
        if let Some(t) = text.strip_prefix("at-timestamp:") {
            return kds_common::time::parse_timestamp(t.as_bytes())
                .map(From::AtTimestamp)
                .ok_or_else(|| {
                    format!("--from {text}: not an RFC 3339 time or epoch milliseconds")
                });
        }
        if let Some(rest) = text.strip_prefix("at-sequence:") {
            if let Some((shard, seq)) = rest.split_once(':') {
                if !shard.is_empty() && !seq.is_empty() && seq.bytes().all(|b| b.is_ascii_digit()) {
                    return Ok(From::AtSequence {
                        shard: shard.to_string(),
                        sequence: seq.to_string(),
                    });
                }
            }
            return Err(format!("--from {text}: expected at-sequence:SHARD:SEQ"));
        }
        Err(format!(
            "--from {text}: expected trim-horizon, latest, TIME, -DURATION, 'DURATION ago', \
             at-timestamp:TIME or at-sequence:SHARD:SEQ"
        ))
    }

    /// `self` unless it is an arrival time more than [`CLOCK_SKEW_ALLOWANCE_MS`] after `now_ms`:
    /// Kinesis refuses a start in its future, and waiting longer than clocks may differ would
    /// look like a hang.
    pub fn reached_by(self, now_ms: i64, text: &str) -> Result<From, String> {
        match self {
            From::AtTimestamp(ms) if ms > now_ms.saturating_add(CLOCK_SKEW_ALLOWANCE_MS) => {
                Err(format!(
                    "--from {text}: {} s in the future (a start time may be at most {} s ahead of \
                 this machine's clock, for clocks that differ)",
                    (ms - now_ms) / 1000,
                    CLOCK_SKEW_ALLOWANCE_MS / 1000
                ))
            }
            f => Ok(f),
        }
    }

    /// The text form, as stored in a checkpoint.
    pub fn render(&self) -> String {
        match self {
            From::TrimHorizon => "trim-horizon".into(),
            From::Latest => "latest".into(),
            From::AtTimestamp(ms) => format!("at-timestamp:{}", kds_common::time::rfc3339_ms(*ms)),
            From::AtSequence { shard, sequence } => format!("at-sequence:{shard}:{sequence}"),
        }
    }
}

/// The duration of a relative `--from`: `-10m` or `10m ago`.
fn relative_ago(text: &str) -> Option<&str> {
    text.strip_prefix('-')
        .or_else(|| text.strip_suffix(" ago").map(str::trim_end))
        .filter(|d| d.starts_with(|c: char| c.is_ascii_digit()))
}

/// How far, in milliseconds, a start time may lie ahead of this machine's clock. Kinesis refuses
/// AT_TIMESTAMP in its own future (InvalidArgumentException, "The timestampInMillis parameter
/// cannot be greater than the currentTimestampInMillis"), so a service clock behind this one is
/// waited for up to this long ([`crate::reader`]).
pub const CLOCK_SKEW_ALLOWANCE_MS: i64 = 60_000;

/// `--shards i/n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subset {
    pub index: u64,
    pub count: u64,
}

impl Subset {
    pub fn parse(text: &str) -> Result<Subset, String> {
        let err = || format!("--shards {text}: expected I/N with 0 <= I < N, e.g. 0/3");
        let (i, n) = text.split_once('/').ok_or_else(err)?;
        let index: u64 = i.trim().parse().map_err(|_| err())?;
        let count: u64 = n.trim().parse().map_err(|_| err())?;
        if count == 0 || index >= count {
            return Err(err());
        }
        Ok(Subset { index, count })
    }
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub stream: String,
    pub from: From,
    pub exit_at_tip: bool,
    pub until_ms: Option<i64>,
    pub count: Option<u64>,
    pub checkpoint: Option<PathBuf>,
    pub checkpoint_interval: Duration,
    pub data: DataMode,
    pub envelope: bool,
    pub subset: Option<Subset>,
    pub shard_id: Option<String>,
    pub idle_timeout: Option<Duration>,
    pub deaggregate: bool,
    pub kcl_drop_outside_shard: bool,
    pub batch_limit: i32,
    pub poll_interval: Duration,
    pub list_interval: Duration,
    pub verbose: bool,
    /// Draw the progress line (`--progress`, or stderr is a terminal; not `--no-progress`).
    pub progress: bool,
    pub aws: AwsArgs,
}

impl TryFrom<Args> for Config {
    type Error = anyhow::Error;

    fn try_from(a: Args) -> anyhow::Result<Config> {
        if a.stream.trim().is_empty() {
            return Err(usage("--stream must not be empty"));
        }
        let now_ms = kds_common::time::now_ms();
        let from = From::parse_at(&a.from, now_ms)
            .and_then(|f| f.reached_by(now_ms, &a.from))
            .map_err(usage)?;
        let until_ms = match &a.until {
            None => None,
            Some(t) => Some(
                kds_common::time::parse_timestamp(t.as_bytes()).ok_or_else(|| {
                    usage(format!(
                        "--until {t}: not an RFC 3339 time or epoch milliseconds"
                    ))
                })?,
            ),
        };
        if a.count == Some(0) {
            return Err(usage("--count must be at least 1"));
        }
        if !(1..=10_000).contains(&a.batch_limit) {
            return Err(usage(format!(
                "--batch-limit {}: must be between 1 and 10000",
                a.batch_limit
            )));
        }
        if a.checkpoint_interval.is_zero() {
            return Err(usage("--checkpoint-interval must be greater than 0"));
        }
        if a.poll_interval.is_zero() {
            return Err(usage("--poll-interval must be greater than 0"));
        }
        if a.list_interval < Duration::from_millis(100) {
            return Err(usage("--list-interval must be at least 100ms"));
        }
        if let Some(path) = &a.checkpoint {
            if path.as_os_str().is_empty() || path.is_dir() {
                return Err(usage(format!(
                    "--checkpoint {}: must be a file path",
                    path.display()
                )));
            }
        }
        if a.shard_id.as_deref().is_some_and(|id| id.trim().is_empty()) {
            return Err(usage("--shard-id must not be empty"));
        }
        if a.idle_timeout.is_some_and(|d| d.is_zero()) {
            return Err(usage("--idle-timeout must be greater than 0"));
        }
        let subset = a
            .shards
            .as_deref()
            .map(Subset::parse)
            .transpose()
            .map_err(usage)?;
        Ok(Config {
            stream: a.stream,
            from,
            exit_at_tip: a.exit_at_tip,
            until_ms,
            count: a.count,
            checkpoint: a.checkpoint,
            checkpoint_interval: a.checkpoint_interval,
            data: a.data,
            envelope: a.envelope,
            subset,
            shard_id: a.shard_id,
            idle_timeout: a.idle_timeout,
            deaggregate: !a.no_deaggregate,
            kcl_drop_outside_shard: a.kcl_drop_outside_shard,
            batch_limit: a.batch_limit,
            poll_interval: a.poll_interval,
            list_interval: a.list_interval,
            verbose: a.verbose,
            progress: kds_common::progress::wanted(a.progress, a.no_progress),
            aws: a.aws,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &[&str]) -> anyhow::Result<Config> {
        let mut argv = vec!["kds-tail", "--stream", "s"];
        argv.extend_from_slice(extra);
        Config::try_from(Args::try_parse_from(argv)?)
    }

    #[test]
    fn from_positions_parse_and_render() {
        assert_eq!(From::parse("trim-horizon"), Ok(From::TrimHorizon));
        assert_eq!(From::parse("latest"), Ok(From::Latest));
        assert_eq!(
            From::parse("at-timestamp:2021-03-19T13:15:48Z"),
            Ok(From::AtTimestamp(1_616_159_748_000))
        );
        let seq = From::parse("at-sequence:shardId-000000000001:4959").unwrap();
        assert_eq!(
            seq,
            From::AtSequence {
                shard: "shardId-000000000001".into(),
                sequence: "4959".into()
            }
        );
        for f in [
            From::TrimHorizon,
            From::Latest,
            From::AtTimestamp(1_616_159_748_123),
            seq,
        ] {
            assert_eq!(From::parse(&f.render()), Ok(f));
        }
        for bad in [
            "",
            "earliest",
            "at-timestamp:yesterday",
            "at-sequence:x",
            "at-sequence:s:12a",
        ] {
            assert!(From::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bare_and_relative_times_are_at_timestamp() {
        let now = 1_616_159_748_000;
        assert_eq!(
            From::parse_at("2021-03-19T13:15:48Z", now),
            Ok(From::AtTimestamp(1_616_159_748_000))
        );
        assert_eq!(
            From::parse_at("1616159748000", now),
            Ok(From::AtTimestamp(now))
        );
        assert_eq!(
            From::parse_at("-10m", now),
            Ok(From::AtTimestamp(now - 600_000))
        );
        assert_eq!(
            From::parse_at("90s ago", now),
            Ok(From::AtTimestamp(now - 90_000))
        );
        assert_eq!(From::parse_at("-1000000h", now), Ok(From::AtTimestamp(0)));
        let soon = From::AtTimestamp(now + 59_000);
        assert_eq!(soon.clone().reached_by(now, "t"), Ok(soon));
        let later = From::AtTimestamp(now + 61_000).reached_by(now, "t");
        assert!(later.is_err_and(|e| e.contains("61 s in the future")));
        for bad in [
            "-",
            "-x",
            "ago",
            "10 parsecs ago",
            "2021-13-01T00:00:00Z",
            "-10",
        ] {
            assert!(From::parse_at(bad, now).is_err(), "{bad}");
        }
    }

    #[test]
    fn subsets() {
        assert_eq!(Subset::parse("0/3"), Ok(Subset { index: 0, count: 3 }));
        assert_eq!(Subset::parse("2/3"), Ok(Subset { index: 2, count: 3 }));
        for bad in ["3/3", "0/0", "1", "a/b", "-1/3"] {
            assert!(Subset::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn validation_is_a_usage_error() {
        for bad in [
            &["--from", "nope"][..],
            &["--until", "x"],
            &["-n", "0"],
            &["--batch-limit", "0"],
            &["--batch-limit", "10001"],
            &["--shards", "1/1"],
            &["--checkpoint-interval", "0"],
            &["--idle-timeout", "0s"],
            &["--shard-id", ""],
        ] {
            let err = config(bad).unwrap_err();
            assert!(kds_common::exit::is_usage(&err), "{bad:?}: {err}");
        }
        let ok = config(&["--from", "trim-horizon", "-e", "--shards", "1/2", "-n", "5"]).unwrap();
        assert!(ok.exit_at_tip);
        assert_eq!(ok.subset, Some(Subset { index: 1, count: 2 }));
        assert_eq!(ok.count, Some(5));
        assert!(ok.deaggregate);
    }
}
