//! Flags (`Args`, clap) and the validated configuration (`Config`), checked before any I/O.

use std::path::PathBuf;
use std::time::Duration;

use chrono_tz::Tz;
use clap::{Parser, ValueEnum};
use kds_aws::AwsArgs;
use kds_common::duration::{format_duration, parse_duration};
use kds_common::exit::usage;
use kds_common::size::parse_size;

use crate::key::Prefixes;

/// Firehose's buffering and delivery limits.
pub mod limits {
    use std::time::Duration;

    /// BufferingHints.SizeInMBs: 1–128 MiB.
    pub const MIN_BUFFER_SIZE: u64 = 1 << 20;
    pub const MAX_BUFFER_SIZE: u64 = 128 << 20;
    pub const DEFAULT_BUFFER_SIZE: &str = "5MiB";
    /// BufferingHints.IntervalInSeconds: 0–900 s.
    pub const MIN_BUFFER_INTERVAL: Duration = Duration::ZERO;
    pub const MAX_BUFFER_INTERVAL: Duration = Duration::from_secs(900);
    pub const DEFAULT_BUFFER_INTERVAL: &str = "300s";
    /// How long one object's delivery is retried before it is spilled. Firehose has two rules
    /// ("Handle data delivery failure"): plain S3 delivery retries for up to 24 hours (and,
    /// with a Kinesis source, stops reading meanwhile); with dynamic partitioning the
    /// RetryOptions DurationInSeconds apply, 0–7200 s, default 300 s ("Dynamic partitioning").
    pub const MAX_RETRY_DURATION: Duration = Duration::from_secs(24 * 3600);
    pub const MAX_RETRY_DURATION_PARTITIONED: Duration = Duration::from_secs(7200);
    /// Our default for both: a cron run must end before the next one starts, and what it
    /// could not deliver in 300 s is spilled and re-sent by the next run, so nothing waits for
    /// a person; `--retry-duration 24h` gives Firehose's plain-delivery behaviour.
    pub const DEFAULT_RETRY_DURATION: &str = "300s";
    /// Objects this large or larger go up as multipart uploads ...
    pub const MULTIPART_THRESHOLD: usize = 16 << 20;
    /// ... in parts of this size (S3's minimum part size is 5 MiB).
    pub const PART_SIZE: usize = 8 << 20;
    /// Upper bound for `--concurrency`.
    pub const MAX_CONCURRENCY: usize = 64;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Compression {
    None,
    Gzip,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InputMode {
    /// Each line is one record (the line without its `\n`).
    Raw,
    /// Lines from `kds-tail --envelope`: the record is `data`, its arrival time `arrival`.
    Envelope,
}

const AFTER_HELP: &str = "\
Record framing: Firehose adds no delimiter between records. A record is one input line WITHOUT
its newline (as kds-put sends it), so by default an object holds the lines run together
(`{..}{..}`), exactly as Firehose stores what kds-put wrote. --newline appends `\\n` after
every record, like Firehose's AppendDelimiterToRecord. With --input envelope an object holds
each record's bytes exactly as they were put.

Keys: <evaluated prefix><name>-<version>-<yyyy-MM-dd-HH-mm-ss>-<UUID>[.gz]. A prefix without
!{timestamp:..} gets yyyy/MM/dd/HH/ appended (plain concatenation); an error prefix without
expressions gets <error-output-type>/yyyy/MM/dd/HH/ appended.

Each object written is printed on stdout as {\"bucket\":..,\"key\":..,\"records\":..,\"bytes\":..}.
Objects spilled by earlier runs are re-sent first, under their own keys (exactly once).
Exit status: 0 ok, 1 some records could not be delivered (they are in --spill DIR; 0 with
--allow-spill), 2 usage.

Examples:
  # The lab's delivery stream, fed from the lab's Kinesis stream
  kds-tail --stream kds-lab1 --envelope | kds-s3sink --input envelope --bucket lab-<acct>-wzlinux-com \\
      --prefix lab1-input/ --error-prefix lab1-error/ --buffer-size 1MiB --buffer-interval 60s --name lab1-kfh

  # A file into gzip objects per customer, one line per record
  kds-s3sink --bucket B --prefix 'by-user/!{partitionKeyFromQuery:uno}/' --partition-key uno=uno \\
      --compression gzip --newline trades.ndjson";

/// Buffer NDJSON lines into S3 objects with Kinesis Data Firehose's keys and buffering.
#[derive(Parser, Debug, Clone)]
#[command(name = "kds-s3sink", version, after_long_help = AFTER_HELP)]
pub struct Args {
    /// Input files (default: stdin; `-` is stdin).
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Destination bucket.
    #[arg(
        help_heading = "Output",
        long,
        env = "KDS_S3SINK_BUCKET",
        value_name = "BUCKET"
    )]
    pub bucket: String,

    /// Key prefix, with Firehose expressions (!{timestamp:yyyy}, !{firehose:random-string},
    /// !{partitionKeyFromQuery:NAME}).
    #[arg(
        help_heading = "Output",
        long,
        env = "KDS_S3SINK_PREFIX",
        value_name = "PREFIX"
    )]
    pub prefix: Option<String>,

    /// Prefix for error output (may use !{firehose:error-output-type}).
    #[arg(
        help_heading = "Output",
        long,
        env = "KDS_S3SINK_ERROR_PREFIX",
        value_name = "PREFIX"
    )]
    pub error_prefix: Option<String>,

    /// Delivery stream name used in object keys.
    #[arg(
        help_heading = "Output",
        long,
        env = "KDS_S3SINK_NAME",
        value_name = "NAME",
        default_value = "kds-s3sink"
    )]
    pub name: String,

    /// Delivery stream version used in object keys.
    #[arg(
        help_heading = "Output",
        long = "stream-version",
        env = "KDS_S3SINK_STREAM_VERSION",
        value_name = "N",
        default_value_t = 1
    )]
    pub stream_version: u32,

    /// Write an object when this much is buffered (1MiB–128MiB, before compression).
    #[arg(help_heading = "Tuning", long, env = "KDS_S3SINK_BUFFER_SIZE", value_name = "SIZE", default_value = limits::DEFAULT_BUFFER_SIZE, value_parser = parse_size)]
    pub buffer_size: u64,

    /// Write an object when its oldest record has been buffered this long (0s–900s).
    #[arg(help_heading = "Tuning", long, env = "KDS_S3SINK_BUFFER_INTERVAL", value_name = "DURATION", default_value = limits::DEFAULT_BUFFER_INTERVAL, value_parser = parse_duration)]
    pub buffer_interval: Duration,

    /// Compress objects (gzip adds .gz to the key; no Content-Encoding header, as Firehose).
    #[arg(
        help_heading = "Output",
        long,
        env = "KDS_S3SINK_COMPRESSION",
        value_enum,
        default_value = "none"
    )]
    pub compression: Compression,

    /// Append `\n` after every record (Firehose's AppendDelimiterToRecord).
    #[arg(help_heading = "Output", long)]
    pub newline: bool,

    /// Input format.
    #[arg(
        help_heading = "Input",
        long,
        env = "KDS_S3SINK_INPUT",
        value_enum,
        default_value = "raw"
    )]
    pub input: InputMode,

    /// Dynamic partitioning key NAME=JSONPATH (dotted, e.g. uno or .type.device); use it in
    /// the prefix as !{partitionKeyFromQuery:NAME}. Repeatable.
    #[arg(
        help_heading = "Output",
        long = "partition-key",
        value_name = "NAME=PATH"
    )]
    pub partition_keys: Vec<String>,

    /// Time zone for timestamps in keys (IANA name, e.g. Asia/Tokyo).
    #[arg(
        help_heading = "Output",
        long,
        env = "KDS_S3SINK_TIME_ZONE",
        value_name = "ZONE",
        default_value = "UTC"
    )]
    pub time_zone: String,

    /// Keep retrying a failed S3 upload this long before spilling it (0s–24h; 0s–7200s with
    /// dynamic partitioning). Input is not read while an upload is failing.
    #[arg(help_heading = "Tuning", long, env = "KDS_S3SINK_RETRY_DURATION", value_name = "DURATION", default_value = limits::DEFAULT_RETRY_DURATION, value_parser = parse_duration)]
    pub retry_duration: Duration,

    /// Directory for objects that could not be delivered.
    #[arg(
        help_heading = "Errors",
        long,
        env = "KDS_S3SINK_SPILL",
        value_name = "DIR",
        default_value = "./kds-s3sink-spill"
    )]
    pub spill: PathBuf,

    /// Exit 0 even when objects were spilled: they are safe on disk and the next run re-sends
    /// them (for cron jobs that advance a checkpoint on success).
    #[arg(help_heading = "Errors", long)]
    pub allow_spill: bool,

    /// Uploads in flight at most (input is paused while they are all busy).
    #[arg(
        help_heading = "Tuning",
        long,
        env = "KDS_S3SINK_CONCURRENCY",
        value_name = "N",
        default_value_t = 4
    )]
    pub concurrency: usize,

    /// Exit 1 at the first record that goes to the error output.
    #[arg(help_heading = "Errors", long)]
    pub strict: bool,

    /// Periodic stats and a summary on stderr.
    #[arg(short, long)]
    pub verbose: bool,

    /// Draw a progress line on stderr (default: only when stderr is a terminal).
    #[arg(long, env = "KDS_S3SINK_PROGRESS", overrides_with = "no_progress")]
    pub progress: bool,

    /// Never draw the progress line.
    #[arg(long, overrides_with = "progress")]
    pub no_progress: bool,

    #[command(flatten, next_help_heading = "AWS")]
    pub aws: AwsArgs,
}

/// One `--partition-key NAME=PATH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionKey {
    pub name: String,
    /// Dotted path without a leading '.'.
    pub path: String,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub files: Vec<PathBuf>,
    pub bucket: String,
    pub prefixes: Prefixes,
    pub name: String,
    pub stream_version: u32,
    pub buffer_size: u64,
    pub buffer_interval: Duration,
    pub gzip: bool,
    pub newline: bool,
    pub input: InputMode,
    /// In the order of first use in the prefix.
    pub partition_keys: Vec<PartitionKey>,
    pub tz: Tz,
    pub retry_duration: Duration,
    pub spill: PathBuf,
    pub allow_spill: bool,
    pub concurrency: usize,
    pub strict: bool,
    pub verbose: bool,
    /// Draw the progress line (`--progress`, or stderr is a terminal; not `--no-progress`).
    pub progress: bool,
    pub aws: AwsArgs,
}

fn size_text(bytes: u64) -> String {
    if bytes.is_multiple_of(1 << 20) {
        format!("{}MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

/// Firehose counts intervals in whole seconds: `1500ms` is refused, not rounded.
fn whole_seconds(flag: &str, value: Duration, range: &str) -> anyhow::Result<()> {
    if value.subsec_nanos() == 0 {
        return Ok(());
    }
    Err(usage(format!(
        "{flag} {} is not a whole number of seconds: it must be between {range}",
        format_duration(value)
    )))
}

impl TryFrom<Args> for Config {
    type Error = anyhow::Error;

    fn try_from(a: Args) -> anyhow::Result<Config> {
        check_buffering(&a)?;
        check_retry_duration(&a)?;
        check_names(&a)?;
        let tz: Tz = a.time_zone.parse().map_err(|_| {
            usage(format!(
                "--time-zone '{}' is not a known IANA time zone (e.g. UTC, Asia/Tokyo)",
                a.time_zone
            ))
        })?;
        let prefixes = Prefixes::parse(a.prefix.as_deref(), a.error_prefix.as_deref())
            .map_err(|e| usage(format!("invalid prefix: {e}")))?;
        let partition_keys = partition_keys(&a.partition_keys, &prefixes)?;
        Ok(Config {
            files: a.files,
            bucket: a.bucket,
            prefixes,
            name: a.name,
            stream_version: a.stream_version,
            buffer_size: a.buffer_size,
            buffer_interval: a.buffer_interval,
            gzip: a.compression == Compression::Gzip,
            newline: a.newline,
            input: a.input,
            partition_keys,
            tz,
            retry_duration: a.retry_duration,
            spill: a.spill,
            allow_spill: a.allow_spill,
            concurrency: a.concurrency,
            strict: a.strict,
            verbose: a.verbose,
            progress: kds_common::progress::wanted(a.progress, a.no_progress),
            aws: a.aws,
        })
    }
}

/// `--buffer-size` and `--buffer-interval` within Firehose's ranges and units.
fn check_buffering(a: &Args) -> anyhow::Result<()> {
    use limits::*;
    if !(MIN_BUFFER_SIZE..=MAX_BUFFER_SIZE).contains(&a.buffer_size) {
        return Err(usage(format!(
            "--buffer-size {} is out of range: it must be between 1MiB and 128MiB",
            size_text(a.buffer_size)
        )));
    }
    if !(MIN_BUFFER_INTERVAL..=MAX_BUFFER_INTERVAL).contains(&a.buffer_interval) {
        return Err(usage(format!(
            "--buffer-interval {} is out of range: it must be between 0s and 900s",
            format_duration(a.buffer_interval)
        )));
    }
    if !a.buffer_size.is_multiple_of(1 << 20) {
        return Err(usage(format!(
            "--buffer-size {} is not a whole number of MiB: Firehose takes 1 to 128 MiB in whole MiB",
            size_text(a.buffer_size)
        )));
    }
    whole_seconds("--buffer-interval", a.buffer_interval, "0s and 900s")?;
    if !a.partition_keys.is_empty() && a.buffer_interval.is_zero() {
        // "Buffer data for dynamic partitioning": zero buffering is not available.
        return Err(usage(
            "--buffer-interval 0s is not allowed with dynamic partitioning (--partition-key): Firehose takes 1s to 900s there",
        ));
    }
    Ok(())
}

/// `--retry-duration` in whole seconds, up to 24 h (2 h with dynamic partitioning).
fn check_retry_duration(a: &Args) -> anyhow::Result<()> {
    use limits::*;
    let (max_retry, retry_range) = if a.partition_keys.is_empty() {
        (MAX_RETRY_DURATION, "0s and 24h")
    } else {
        (
            MAX_RETRY_DURATION_PARTITIONED,
            "0s and 7200s with dynamic partitioning",
        )
    };
    whole_seconds("--retry-duration", a.retry_duration, retry_range)?;
    if a.retry_duration > max_retry {
        return Err(usage(format!(
            "--retry-duration {} is out of range: it must be between {retry_range}",
            format_duration(a.retry_duration)
        )));
    }
    Ok(())
}

/// Bucket, delivery stream name and version, and the upload concurrency.
fn check_names(a: &Args) -> anyhow::Result<()> {
    if a.bucket.is_empty() {
        return Err(usage("--bucket must not be empty"));
    }
    if a.name.is_empty() {
        return Err(usage("--name must not be empty"));
    }
    if a.stream_version == 0 {
        return Err(usage("--stream-version must be 1 or more"));
    }
    if !(1..=limits::MAX_CONCURRENCY).contains(&a.concurrency) {
        return Err(usage(format!(
            "--concurrency {} is out of range: it must be between 1 and {}",
            a.concurrency,
            limits::MAX_CONCURRENCY
        )));
    }
    Ok(())
}

/// The `--partition-key NAME=JSONPATH` specs, each declared once and each used in the prefix
/// (and every key the prefix uses declared), in the order the prefix uses them.
fn partition_keys(specs: &[String], prefixes: &Prefixes) -> anyhow::Result<Vec<PartitionKey>> {
    let mut declared: Vec<PartitionKey> = Vec::new();
    for spec in specs {
        let key = partition_key(spec)?;
        if declared.iter().any(|k| k.name == key.name) {
            return Err(usage(format!(
                "--partition-key {} is given twice",
                key.name
            )));
        }
        declared.push(key);
    }
    let used = prefixes.main.partition_keys();
    for name in &used {
        if !declared.iter().any(|k| k.name == *name) {
            return Err(usage(format!(
                "the prefix uses !{{partitionKeyFromQuery:{name}}} but no --partition-key {name}=PATH is given"
            )));
        }
    }
    for k in &declared {
        if !used.contains(&k.name.as_str()) {
            return Err(usage(format!(
                "--partition-key {} is not used in --prefix: add !{{partitionKeyFromQuery:{}}}",
                k.name, k.name
            )));
        }
    }
    Ok(used
        .iter()
        .filter_map(|n| declared.iter().find(|k| k.name == *n).cloned())
        .collect())
}

/// One `NAME=JSONPATH` spec (a leading `.` of the path is optional).
fn partition_key(spec: &str) -> anyhow::Result<PartitionKey> {
    let Some((name, path)) = spec.split_once('=') else {
        return Err(usage(format!(
            "--partition-key '{spec}' must be NAME=JSONPATH, e.g. uno=uno"
        )));
    };
    let path = path.strip_prefix('.').unwrap_or(path);
    if name.is_empty() || path.is_empty() || path.split('.').any(str::is_empty) {
        return Err(usage(format!(
            "--partition-key '{spec}' must be NAME=JSONPATH with a dotted path, e.g. device=type.device"
        )));
    }
    Ok(PartitionKey {
        name: name.to_string(),
        path: path.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kds_common::exit::is_usage;

    fn config(extra: &[&str]) -> anyhow::Result<Config> {
        let mut argv = vec!["kds-s3sink", "--bucket", "b"];
        argv.extend_from_slice(extra);
        Config::try_from(Args::try_parse_from(argv)?)
    }

    #[test]
    fn lab_configuration_parses() {
        let c = config(&[
            "--prefix",
            "lab1-input/",
            "--error-prefix",
            "lab1-error/",
            "--buffer-size",
            "1MiB",
            "--buffer-interval",
            "60s",
            "--name",
            "lab1-kfh",
        ])
        .unwrap();
        assert_eq!(c.buffer_size, 1 << 20);
        assert_eq!(c.buffer_interval, Duration::from_secs(60));
        assert_eq!(c.name, "lab1-kfh");
        assert_eq!(c.stream_version, 1);
    }

    #[test]
    fn defaults_are_firehose_defaults() {
        let c = config(&[]).unwrap();
        assert_eq!(c.buffer_size, 5 << 20);
        assert_eq!(c.buffer_interval, Duration::from_secs(300));
        assert_eq!(c.retry_duration, Duration::from_secs(300));
        assert!(!c.gzip && !c.newline);
    }

    #[test]
    fn out_of_range_buffering_is_a_usage_error_naming_the_range() {
        for (flag, value, range) in [
            ("--buffer-size", "200MiB", "between 1MiB and 128MiB"),
            ("--buffer-size", "512KiB", "between 1MiB and 128MiB"),
            ("--buffer-interval", "901s", "between 0s and 900s"),
            ("--buffer-interval", "1h", "between 0s and 900s"),
        ] {
            let e = config(&[flag, value]).unwrap_err();
            assert!(is_usage(&e), "{flag} {value}");
            let msg = e.to_string();
            assert!(msg.contains(range) && msg.contains(flag), "{msg}");
            assert!(!msg.contains('\n'));
        }
        assert!(config(&["--buffer-size", "128MiB", "--buffer-interval", "0"]).is_ok());
        assert_eq!(
            config(&["--retry-duration", "24h"]).unwrap().retry_duration,
            Duration::from_secs(86_400)
        );
        assert!(config(&["--buffer-size", "1MiB", "--buffer-interval", "900s"]).is_ok());
    }

    /// Values Firehose refuses: fractions of its units, retries beyond its ranges ("Handle data
    /// delivery failure", "Dynamic partitioning") and zero buffering with dynamic partitioning
    /// ("Buffer data for dynamic partitioning").
    #[test]
    fn values_firehose_refuses_are_usage_errors_naming_the_range() {
        let dp = [
            "--prefix",
            "u=!{partitionKeyFromQuery:u}/",
            "--error-prefix",
            "err/",
            "--partition-key",
            "u=uno",
        ];
        let with_dp = |extra: &[&'static str]| [&dp[..], extra].concat();
        for (args, says) in [
            (vec!["--buffer-size", "1.5MiB"], "whole number of MiB"),
            (vec!["--buffer-size", "5MB"], "whole number of MiB"),
            (
                vec!["--buffer-interval", "1500ms"],
                "whole number of seconds",
            ),
            (vec!["--retry-duration", "2.5s"], "whole number of seconds"),
            (vec!["--retry-duration", "25h"], "between 0s and 24h"),
            (
                with_dp(&["--retry-duration", "7201s"]),
                "0s and 7200s with dynamic",
            ),
            (
                with_dp(&["--buffer-interval", "0s"]),
                "not allowed with dynamic partitioning",
            ),
        ] {
            let e = config(&args).unwrap_err();
            assert!(is_usage(&e), "{args:?}");
            let msg = e.to_string();
            assert!(msg.contains(says), "{args:?}: {msg}");
            assert!(!msg.contains('\n'));
        }
        assert!(config(&with_dp(&[
            "--retry-duration",
            "7200s",
            "--buffer-interval",
            "1s"
        ]))
        .is_ok());
        assert!(config(&with_dp(&["--retry-duration", "0s"])).is_ok());
        assert!(config(&["--buffer-interval", "0s", "--retry-duration", "0s"]).is_ok());
    }

    #[test]
    fn prefix_errors_are_usage_errors() {
        let e = config(&["--prefix", "!{timestamp:yyyy}/"]).unwrap_err();
        assert!(is_usage(&e));
        assert!(e.to_string().contains("ErrorOutputPrefix can't be null"));
        let e = config(&[
            "--prefix",
            "a/!{firehose:error-output-type}",
            "--error-prefix",
            "e/",
        ])
        .unwrap_err();
        assert!(is_usage(&e));
    }

    #[test]
    fn partition_keys_must_match_the_prefix() {
        let ok = config(&[
            "--prefix",
            "u=!{partitionKeyFromQuery:u}/d=!{partitionKeyFromQuery:dev}/",
            "--error-prefix",
            "err/",
            "--partition-key",
            "dev=.type.device",
            "--partition-key",
            "u=uno",
        ])
        .unwrap();
        assert_eq!(
            ok.partition_keys,
            vec![
                PartitionKey {
                    name: "u".into(),
                    path: "uno".into()
                },
                PartitionKey {
                    name: "dev".into(),
                    path: "type.device".into()
                }
            ]
        );
        let missing = config(&[
            "--prefix",
            "u=!{partitionKeyFromQuery:u}/",
            "--error-prefix",
            "err/",
        ])
        .unwrap_err();
        assert!(is_usage(&missing) && missing.to_string().contains("--partition-key u=PATH"));
        let unused = config(&["--prefix", "p/", "--partition-key", "u=uno"]).unwrap_err();
        assert!(is_usage(&unused) && unused.to_string().contains("not used"));
        let bad = config(&["--prefix", "p/", "--partition-key", "uno"]).unwrap_err();
        assert!(is_usage(&bad));
    }

    #[test]
    fn time_zone_is_checked() {
        assert_eq!(
            config(&["--time-zone", "Asia/Tokyo"]).unwrap().tz,
            chrono_tz::Asia::Tokyo
        );
        let e = config(&["--time-zone", "Mars/Olympus"]).unwrap_err();
        assert!(is_usage(&e));
    }
}
