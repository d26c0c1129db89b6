//! Command-line flags and their validation into a [`Config`], before any I/O.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use kds_aws::AwsArgs;
use kds_common::duration::parse_duration;
use kds_common::exit::usage;
use kds_common::size::parse_size;

use crate::limits::{
    AGGREGATE_TARGET_BYTES, MAX_BATCH_RECORDS, MAX_RECORD_BYTES, SHARD_BYTES_PER_SEC,
    SHARD_RECORDS_PER_SEC,
};
use crate::partition::{check_partition_key, KeySource};
use crate::shard_map::parse_hash_key;
use kds_aws::retry::Backoff;

/// The end of `--help`: the lab's commands first.
const EXAMPLES: &str = "\
Examples:
  # The lab's producer: simulated trades into the stream
  kds-gen 2021-03-19 | kds-put --stream kds-lab1

  # The lab's KDA destination: per-minute rows into a second stream
  kds-tail --stream kds-lab1 | kds-window \\
      | kds-put --stream kds-lab1-out --partition-key-field window_start

  # A file, keeping what fails, with one receipt per delivered record
  kds-put --stream s trades.ndjson --dead-letter failed.ndjson --receipts > receipts.ndjson

  # Environment instead of flags (kds-put reads only KDS_PUT_* variables, and AWS_*)
  KDS_PUT_STREAM=kds-lab1 kds-put < trades.ndjson";

/// Write NDJSON lines to a Kinesis data stream: one line, one record.
///
/// Lines are batched into PutRecords calls (500 records / 5 MiB), rate-limited per shard,
/// retried with jittered exponential backoff; records that still fail go to --dead-letter.
/// Nothing is written on stdout unless --receipts is given.
#[derive(Parser, Debug, Clone)]
#[command(name = "kds-put", version, max_term_width = 100, after_long_help = EXAMPLES)]
pub struct Args {
    /// Input files, read one after another (default: stdin; `-` is stdin).
    #[arg(value_name = "FILE")]
    pub inputs: Vec<PathBuf>,

    /// Stream to write to.
    #[arg(
        help_heading = "Output",
        short,
        long,
        env = "KDS_PUT_STREAM",
        value_name = "NAME"
    )]
    pub stream: String,

    /// Dotted JSON path of the partition key in each line (string or number value).
    #[arg(help_heading = "Output", 
        long,
        env = "KDS_PUT_PARTITION_KEY_FIELD",
        value_name = "PATH",
        default_value = "tno",
        conflicts_with_all = ["partition_key", "random_partition_key"]
    )]
    pub partition_key_field: String,

    /// Use this partition key for every record (lines need not be JSON).
    #[arg(
        help_heading = "Output",
        long,
        env = "KDS_PUT_PARTITION_KEY",
        value_name = "KEY",
        conflicts_with = "random_partition_key"
    )]
    pub partition_key: Option<String>,

    /// A random partition key per record: spreads records over all shards.
    #[arg(help_heading = "Output", long)]
    pub random_partition_key: bool,

    /// Route every record by this explicit hash key (decimal, 0..2^128-1, no leading zeros).
    /// The partition key is then --partition-key if given, else the hash key itself.
    #[arg(
        help_heading = "Output",
        long,
        env = "KDS_PUT_EXPLICIT_HASH_KEY",
        value_name = "HASH"
    )]
    pub explicit_hash_key: Option<String>,

    /// Longest time a partial PutRecords call waits for more records.
    #[arg(help_heading = "Tuning", long, env = "KDS_PUT_LINGER", value_name = "DURATION", default_value = "10ms", value_parser = parse_duration)]
    pub linger: Duration,

    /// Most records per PutRecords call (Kinesis allows 500). Smaller calls cut latency.
    #[arg(help_heading = "Tuning", long, value_name = "N", default_value_t = MAX_BATCH_RECORDS)]
    pub batch_records: usize,

    /// PutRecords calls in flight (each packs records of any shards).
    #[arg(
        help_heading = "Tuning",
        long,
        env = "KDS_PUT_CONCURRENCY",
        value_name = "N",
        default_value_t = 4
    )]
    pub concurrency: usize,

    /// Keep the order of records per partition key, even under partial failures: at most one
    /// call in flight holding records of a shard, each key at most once per call.
    #[arg(help_heading = "Tuning", long)]
    pub ordered: bool,

    /// Attempts after the first for an entry that keeps failing.
    #[arg(
        help_heading = "Tuning",
        long,
        env = "KDS_PUT_MAX_RETRIES",
        value_name = "N",
        default_value_t = 10
    )]
    pub max_retries: u32,

    /// Backoff before the first retry; doubles per attempt, with jitter.
    #[arg(help_heading = "Tuning", long, value_name = "DURATION", default_value = "100ms", value_parser = parse_duration)]
    pub retry_base: Duration,

    /// Longest backoff between attempts.
    #[arg(help_heading = "Tuning", long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub retry_max: Duration,

    /// Time limit for one PutRecords attempt (then it is retried).
    #[arg(help_heading = "Tuning", long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub call_timeout: Duration,

    /// Records per second per shard (Kinesis' limit; 0 = no limit).
    #[arg(help_heading = "Tuning", long, value_name = "N", default_value_t = SHARD_RECORDS_PER_SEC)]
    pub shard_records_per_sec: u64,

    /// Bytes per second per shard, data plus partition key (Kinesis' limit; 0 = no limit).
    #[arg(help_heading = "Tuning", long, value_name = "SIZE", default_value = "1MiB", value_parser = parse_size)]
    pub shard_bytes_per_sec: u64,

    /// Records read ahead of what Kinesis acknowledged: input stops being read while the
    /// records read and not yet acknowledged or dead-lettered hold SIZE (waiting, being
    /// sent or retried). Bounds memory when Kinesis is slower than the input.
    #[arg(help_heading = "Tuning", long, value_name = "SIZE", default_value = "32MiB", value_parser = parse_size)]
    pub read_ahead: u64,

    /// Write records that could not be delivered to FILE as NDJSON (appends).
    #[arg(
        help_heading = "Errors",
        long,
        env = "KDS_PUT_DEAD_LETTER",
        value_name = "FILE"
    )]
    pub dead_letter: Option<PathBuf>,

    /// Exit 0 even when records were dead-lettered (needs --dead-letter).
    #[arg(help_heading = "Errors", long, requires = "dead_letter")]
    pub allow_dead_letters: bool,

    /// Print one NDJSON line per delivered record on stdout: line, shard_id, sequence_number.
    #[arg(help_heading = "Output", long)]
    pub receipts: bool,

    /// Pack small records into KPL aggregated records (de-aggregated by the KCL and kds-tail).
    #[arg(help_heading = "Output", long)]
    pub aggregate: bool,

    /// Largest aggregated record (data plus partition key).
    #[arg(help_heading = "Output", long, value_name = "SIZE", default_value = "50KiB", value_parser = parse_size, requires = "aggregate")]
    pub aggregate_size: u64,

    /// Exit 1 at the first bad line instead of dead-lettering it and going on.
    #[arg(help_heading = "Errors", long)]
    pub strict: bool,

    /// Print progress every few seconds and a summary on stderr.
    #[arg(short, long)]
    pub verbose: bool,

    /// Draw a progress line on stderr (default: only when stderr is a terminal).
    #[arg(long, env = "KDS_PUT_PROGRESS", overrides_with = "no_progress")]
    pub progress: bool,

    /// Never draw the progress line.
    #[arg(long, overrides_with = "progress")]
    pub no_progress: bool,

    #[command(flatten, next_help_heading = "AWS")]
    pub aws: AwsArgs,
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub inputs: Vec<PathBuf>,
    pub stream: String,
    pub key_source: KeySource,
    pub explicit_hash_key: Option<(String, u128)>,
    pub linger: Duration,
    pub batch_records: usize,
    pub concurrency: usize,
    pub ordered: bool,
    pub max_retries: u32,
    pub backoff: Backoff,
    pub call_timeout: Duration,
    pub shard_records_per_sec: u64,
    pub shard_bytes_per_sec: u64,
    pub read_ahead: usize,
    pub dead_letter: Option<PathBuf>,
    pub allow_dead_letters: bool,
    pub receipts: bool,
    pub aggregate: Option<usize>,
    pub strict: bool,
    pub verbose: bool,
    /// Draw the progress line (`--progress`, or stderr is a terminal; not `--no-progress`).
    pub progress: bool,
    pub aws: AwsArgs,
}

/// Upper bounds that catch typos (a concurrency of 40000) before they hurt.
pub const MAX_CONCURRENCY: usize = 256;
pub const MAX_RETRIES: u32 = 100;

impl TryFrom<Args> for Config {
    type Error = anyhow::Error;

    fn try_from(a: Args) -> anyhow::Result<Config> {
        check_call_flags(&a)?;
        let explicit_hash_key = explicit_hash_key(&a)?;
        let key_source = key_source(&a, explicit_hash_key.as_ref())?;
        let read_ahead = usize::try_from(a.read_ahead).unwrap_or(usize::MAX);
        if !(1 << 20..=1 << 30).contains(&read_ahead) {
            return Err(usage(format!(
                "--read-ahead must be 1MiB..=1GiB, got {}",
                a.read_ahead
            )));
        }
        let aggregate = aggregate_size(&a)?;
        Ok(Config {
            inputs: a.inputs,
            stream: a.stream,
            key_source,
            explicit_hash_key,
            linger: a.linger,
            batch_records: a.batch_records,
            concurrency: a.concurrency,
            ordered: a.ordered,
            max_retries: a.max_retries,
            backoff: Backoff {
                base: a.retry_base,
                max: a.retry_max,
            },
            call_timeout: a.call_timeout,
            shard_records_per_sec: a.shard_records_per_sec,
            shard_bytes_per_sec: a.shard_bytes_per_sec,
            read_ahead,
            dead_letter: a.dead_letter,
            allow_dead_letters: a.allow_dead_letters,
            receipts: a.receipts,
            aggregate,
            strict: a.strict,
            verbose: a.verbose,
            progress: kds_common::progress::wanted(a.progress, a.no_progress),
            aws: a.aws,
        })
    }
}

/// The stream name and the flags that shape calls and retries, within their ranges.
fn check_call_flags(a: &Args) -> anyhow::Result<()> {
    if a.stream.trim().is_empty() {
        return Err(usage("--stream must not be empty"));
    }
    if a.concurrency == 0 || a.concurrency > MAX_CONCURRENCY {
        return Err(usage(format!(
            "--concurrency must be 1..={MAX_CONCURRENCY}, got {}",
            a.concurrency
        )));
    }
    if a.batch_records == 0 || a.batch_records > MAX_BATCH_RECORDS {
        return Err(usage(format!(
            "--batch-records must be 1..={MAX_BATCH_RECORDS}, got {}",
            a.batch_records
        )));
    }
    if a.max_retries > MAX_RETRIES {
        return Err(usage(format!(
            "--max-retries must be 0..={MAX_RETRIES}, got {}",
            a.max_retries
        )));
    }
    if a.retry_max < a.retry_base {
        return Err(usage("--retry-max must not be below --retry-base"));
    }
    if a.call_timeout.is_zero() {
        return Err(usage("--call-timeout must be > 0"));
    }
    Ok(())
}

/// `--explicit-hash-key` as given and as a number.
fn explicit_hash_key(a: &Args) -> anyhow::Result<Option<(String, u128)>> {
    let Some(text) = &a.explicit_hash_key else {
        return Ok(None);
    };
    let value = parse_hash_key(text).map_err(|e| usage(format!("--explicit-hash-key: {e}")))?;
    Ok(Some((text.clone(), value)))
}

/// Where partition keys come from: `--partition-key`, `--random-partition-key`, the explicit
/// hash key itself, or `--partition-key-field`.
fn key_source(a: &Args, explicit_hash_key: Option<&(String, u128)>) -> anyhow::Result<KeySource> {
    if let Some(k) = &a.partition_key {
        check_partition_key(k).map_err(|e| usage(format!("--partition-key: {e}")))?;
        return Ok(KeySource::Constant(k.clone()));
    }
    if a.random_partition_key {
        return Ok(KeySource::Random);
    }
    if let Some((text, _)) = explicit_hash_key {
        return Ok(KeySource::Constant(text.clone()));
    }
    if a.partition_key_field.is_empty() {
        return Err(usage("--partition-key-field must not be empty"));
    }
    Ok(KeySource::Field(a.partition_key_field.clone()))
}

/// `--aggregate-size` when `--aggregate` is on.
fn aggregate_size(a: &Args) -> anyhow::Result<Option<usize>> {
    if !a.aggregate {
        return Ok(None);
    }
    let size = usize::try_from(a.aggregate_size).unwrap_or(usize::MAX);
    if !(1024..=MAX_RECORD_BYTES).contains(&size) {
        return Err(usage(format!(
            "--aggregate-size must be 1KiB..=1MiB, got {}",
            a.aggregate_size
        )));
    }
    Ok(Some(size))
}

/// The default aggregate size, for docs and tests.
pub const DEFAULT_AGGREGATE_SIZE: usize = AGGREGATE_TARGET_BYTES;
pub const DEFAULT_SHARD_BYTES_PER_SEC: u64 = SHARD_BYTES_PER_SEC;

#[cfg(test)]
mod tests {
    use super::*;
    use kds_common::exit::is_usage;

    fn parse(args: &[&str]) -> anyhow::Result<Config> {
        let mut all = vec!["kds-put"];
        all.extend_from_slice(args);
        Config::try_from(Args::try_parse_from(all)?)
    }

    #[test]
    fn defaults() {
        let c = parse(&["--stream", "s"]).unwrap();
        assert_eq!(c.key_source, KeySource::Field("tno".into()));
        assert_eq!(c.linger, Duration::from_millis(10));
        assert_eq!(c.concurrency, 4);
        assert_eq!(c.max_retries, 10);
        assert_eq!(c.shard_records_per_sec, 1000);
        assert_eq!(c.shard_bytes_per_sec, DEFAULT_SHARD_BYTES_PER_SEC);
        assert!(c.aggregate.is_none());
        let c = parse(&["--stream", "s", "--aggregate"]).unwrap();
        assert_eq!(c.aggregate, Some(DEFAULT_AGGREGATE_SIZE));
    }

    #[test]
    fn key_sources() {
        let c = parse(&["-s", "s", "--partition-key", "K"]).unwrap();
        assert_eq!(c.key_source, KeySource::Constant("K".into()));
        let c = parse(&["-s", "s", "--random-partition-key"]).unwrap();
        assert_eq!(c.key_source, KeySource::Random);
        let c = parse(&["-s", "s", "--explicit-hash-key", "42"]).unwrap();
        assert_eq!(c.key_source, KeySource::Constant("42".into()));
        assert_eq!(c.explicit_hash_key, Some(("42".into(), 42)));
        assert!(parse(&["-s", "s", "--partition-key", "K", "--random-partition-key"]).is_err());
    }

    #[test]
    fn bad_values_are_usage_errors() {
        for args in [
            &["-s", "s", "--concurrency", "0"][..],
            &["-s", "s", "--batch-records", "501"],
            &["-s", "s", "--max-retries", "1000"],
            &["-s", "s", "--explicit-hash-key=-5"],
            &["-s", "s", "--explicit-hash-key", "042"],
            &["-s", "s", "--partition-key", ""],
            &["-s", "s", "--aggregate", "--aggregate-size", "2MiB"],
            &["-s", "s", "--read-ahead", "512KiB"],
            &["-s", "s", "--read-ahead", "2GiB"],
            &["-s", " "],
        ] {
            let err = parse(args).unwrap_err();
            assert!(is_usage(&err), "{args:?}: {err}");
        }
    }
}
