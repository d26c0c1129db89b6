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
    /// S3 retry duration default (Firehose's RetryOptions.DurationInSeconds default).
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
(`{..}{..}`), exactly as Firehose stores what kds-put wrote. Give --newline to end every record
with `\\n` (then the objects are the input lines byte for byte).

Keys: <evaluated prefix><name>-<version>-<yyyy-MM-dd-HH-mm-ss>-<UUID>[.gz]. A prefix without
!{timestamp:..} gets yyyy/MM/dd/HH/ appended (plain concatenation); an error prefix without
expressions gets <error-output-type>/yyyy/MM/dd/HH/ appended.

The lab's delivery stream:
  kds-s3sink --bucket lab-<acct>-wzlinux-com --prefix lab1-input/ --error-prefix lab1-error/ \\
      --buffer-size 1MiB --buffer-interval 60s --name lab1-kfh

Each object written is printed on stdout as {\"bucket\":..,\"key\":..,\"records\":..,\"bytes\":..}.
Exit status: 0 ok, 1 some records could not be delivered (they are in --spill DIR), 2 usage.";

/// Buffer NDJSON lines into S3 objects with Kinesis Data Firehose's keys and buffering.
#[derive(Parser, Debug, Clone)]
#[command(name = "kds-s3sink", after_help = AFTER_HELP)]
pub struct Args {
    /// Input files (default: stdin; `-` is stdin).
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Destination bucket.
    #[arg(long, env = "KDS_BUCKET", value_name = "BUCKET")]
    pub bucket: String,

    /// Key prefix, with Firehose expressions (!{timestamp:yyyy}, !{firehose:random-string},
    /// !{partitionKeyFromQuery:NAME}).
    #[arg(long, env = "KDS_PREFIX", value_name = "PREFIX")]
    pub prefix: Option<String>,

    /// Prefix for error output (may use !{firehose:error-output-type}).
    #[arg(long, env = "KDS_ERROR_PREFIX", value_name = "PREFIX")]
    pub error_prefix: Option<String>,

    /// Delivery stream name used in object keys.
    #[arg(
        long,
        env = "KDS_NAME",
        value_name = "NAME",
        default_value = "kds-s3sink"
    )]
    pub name: String,

    /// Delivery stream version used in object keys.
    #[arg(
        long = "version",
        env = "KDS_STREAM_VERSION",
        value_name = "N",
        default_value_t = 1
    )]
    pub stream_version: u32,

    /// Write an object when this much is buffered (1MiB–128MiB, before compression).
    #[arg(long, env = "KDS_BUFFER_SIZE", value_name = "SIZE", default_value = limits::DEFAULT_BUFFER_SIZE, value_parser = parse_size)]
    pub buffer_size: u64,

    /// Write an object when its oldest record has been buffered this long (0s–900s).
    #[arg(long, env = "KDS_BUFFER_INTERVAL", value_name = "DURATION", default_value = limits::DEFAULT_BUFFER_INTERVAL, value_parser = parse_duration)]
    pub buffer_interval: Duration,

    /// Compress objects (gzip adds .gz to the key; no Content-Encoding header, as Firehose).
    #[arg(long, env = "KDS_COMPRESSION", value_enum, default_value = "none")]
    pub compression: Compression,

    /// End each record with `\n` unless it already ends with one.
    #[arg(long)]
    pub newline: bool,

    /// Input format.
    #[arg(long, env = "KDS_INPUT", value_enum, default_value = "raw")]
    pub input: InputMode,

    /// Dynamic partitioning key NAME=JSONPATH (dotted, e.g. uno or .type.device); use it in
    /// the prefix as !{partitionKeyFromQuery:NAME}. Repeatable.
    #[arg(long = "partition-key", value_name = "NAME=PATH")]
    pub partition_keys: Vec<String>,

    /// Time zone for timestamps in keys (IANA name, e.g. Asia/Tokyo).
    #[arg(
        long,
        env = "KDS_TIME_ZONE",
        value_name = "ZONE",
        default_value = "UTC"
    )]
    pub time_zone: String,

    /// Keep retrying a failed S3 upload this long before spilling it.
    #[arg(long, env = "KDS_RETRY_DURATION", value_name = "DURATION", default_value = limits::DEFAULT_RETRY_DURATION, value_parser = parse_duration)]
    pub retry_duration: Duration,

    /// Directory for objects that could not be delivered.
    #[arg(
        long,
        env = "KDS_SPILL",
        value_name = "DIR",
        default_value = "./kds-s3sink-spill"
    )]
    pub spill: PathBuf,

    /// Uploads in flight at most (input is paused while they are all busy).
    #[arg(long, env = "KDS_CONCURRENCY", value_name = "N", default_value_t = 4)]
    pub concurrency: usize,

    /// Exit 1 at the first record that goes to the error output.
    #[arg(long)]
    pub strict: bool,

    /// Periodic stats and a summary on stderr.
    #[arg(short, long)]
    pub verbose: bool,

    #[command(flatten)]
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
    pub concurrency: usize,
    pub strict: bool,
    pub verbose: bool,
    pub aws: AwsArgs,
}

fn size_text(bytes: u64) -> String {
    if bytes.is_multiple_of(1 << 20) {
        format!("{}MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

impl TryFrom<Args> for Config {
    type Error = anyhow::Error;

    fn try_from(a: Args) -> anyhow::Result<Config> {
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
        if a.bucket.is_empty() {
            return Err(usage("--bucket must not be empty"));
        }
        if a.name.is_empty() {
            return Err(usage("--name must not be empty"));
        }
        if a.stream_version == 0 {
            return Err(usage("--version must be 1 or more"));
        }
        if !(1..=MAX_CONCURRENCY).contains(&a.concurrency) {
            return Err(usage(format!(
                "--concurrency {} is out of range: it must be between 1 and {MAX_CONCURRENCY}",
                a.concurrency
            )));
        }
        let tz: Tz = a.time_zone.parse().map_err(|_| {
            usage(format!(
                "--time-zone '{}' is not a known IANA time zone (e.g. UTC, Asia/Tokyo)",
                a.time_zone
            ))
        })?;
        let prefixes = Prefixes::parse(a.prefix.as_deref(), a.error_prefix.as_deref())
            .map_err(|e| usage(format!("invalid prefix: {e}")))?;

        let mut declared: Vec<PartitionKey> = Vec::new();
        for spec in &a.partition_keys {
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
            if declared.iter().any(|k| k.name == name) {
                return Err(usage(format!("--partition-key {name} is given twice")));
            }
            declared.push(PartitionKey {
                name: name.to_string(),
                path: path.to_string(),
            });
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
        let partition_keys = used
            .iter()
            .filter_map(|n| declared.iter().find(|k| k.name == *n).cloned())
            .collect();

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
            concurrency: a.concurrency,
            strict: a.strict,
            verbose: a.verbose,
            aws: a.aws,
        })
    }
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
        assert!(config(&["--buffer-size", "1MiB", "--buffer-interval", "900s"]).is_ok());
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
