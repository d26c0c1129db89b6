//! The tables `--explain-flink` reads and writes: the source on the Kinesis stream of
//! `--flink-stream-arn`, the destination on `--flink-sink-arn`'s (or `print`). Option names are
//! those of the Amazon Kinesis Data Streams SQL connector (`flink-sql-connector-aws-kinesis-streams`,
//! connector identifier `kinesis`; 5.x for Flink 1.19 and 1.20, 6.x for Flink 2.x), as its page "Amazon Kinesis Data
//! Streams SQL Connector" (Flink documentation, "Connector Options" and "Sink Partitioning")
//! lists them: `stream.arn`, `aws.region`, `format`; `source.init.position` for the source;
//! `sink.partitioner` for the sink. A pump that reads `APPROXIMATE_ARRIVAL_TIME` reads the stream
//! through the same page's `kinesis-legacy` source instead (see `flink_arrival`). The connector's
//! jar is not on this machine: the tables are printed, never run here (`scripts/flink-check` swaps
//! them for files).

use std::fmt::Write as _;

use super::flink::{lit_str, FlinkOptions};

impl FlinkOptions {
    /// `arn:aws:kinesis:REGION:ACCOUNT:stream/NAME` (`--flink-stream-arn`).
    pub fn from_arn(arn: &str) -> Result<FlinkOptions, String> {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        match parts.as_slice() {
            ["arn", _partition, "kinesis", region, account, resource]
                if resource.starts_with("stream/") =>
            {
                Ok(FlinkOptions {
                    stream: resource["stream/".len()..].to_string(),
                    region: (*region).to_string(),
                    account_id: (*account).to_string(),
                    sink: None,
                    reference_data: Vec::new(),
                })
            }
            _ => Err(format!(
                "{arn}: expected arn:aws:kinesis:REGION:ACCOUNT:stream/NAME"
            )),
        }
    }

    fn arn(&self) -> String {
        format!(
            "arn:aws:kinesis:{}:{}:stream/{}",
            self.region, self.account_id, self.stream
        )
    }
}

/// The stream both `kinesis` tables name: the connector, the stream's ARN and its region.
fn kinesis_stream(stream: &FlinkOptions) -> Vec<(&'static str, String)> {
    vec![
        ("connector", "kinesis".to_string()),
        ("stream.arn", stream.arn()),
        ("aws.region", stream.region.clone()),
    ]
}

/// JSON records with RFC 3339 timestamps.
fn json_format() -> [(&'static str, String); 2] {
    [
        ("format", "json".to_string()),
        ("json.timestamp-format.standard", "ISO-8601".to_string()),
    ]
}

/// The source table's `WITH` options: reading from the newest record (KDA applications started
/// at the stream's tip unless told otherwise).
pub(super) fn source_options(opts: &FlinkOptions) -> Vec<(&'static str, String)> {
    let mut stream = kinesis_stream(opts);
    stream.push(("source.init.position", "LATEST".to_string()));
    reading(stream)
}

/// A source's options: `stream` (its connector, stream, region and start position), then JSON
/// records with RFC 3339 timestamps, a record that is not JSON skipped, as kds-window counts and
/// skips it.
fn reading(mut stream: Vec<(&'static str, String)>) -> Vec<(&'static str, String)> {
    stream.extend(json_format());
    stream.push(("json.ignore-parse-errors", "true".to_string()));
    stream
}

/// The source table's `WITH` options on the `kinesis-legacy` connector, the one whose source
/// fills the arrival-time metadata column (see `flink_arrival`). Its options ("Connector Options
/// (`kinesis-legacy`)" on the same page) name the stream, not its ARN: `stream`, `aws.region`,
/// `scan.stream.initpos`; reading starts at the newest record, as for `source_options`.
pub(super) fn legacy_source_options(opts: &FlinkOptions) -> Vec<(&'static str, String)> {
    reading(vec![
        ("connector", "kinesis-legacy".to_string()),
        ("stream", opts.stream.clone()),
        ("aws.region", opts.region.clone()),
        ("scan.stream.initpos", "LATEST".to_string()),
    ])
}

/// The destination table's `WITH` options on a Kinesis stream: each row under a random
/// partition key (the connector's default for a table without `PARTITIONED BY`, written out so
/// it can be changed), which spreads the rows over the shards as `kds-put` does.
fn sink_options(sink: &FlinkOptions) -> Vec<(&'static str, String)> {
    let mut options = kinesis_stream(sink);
    options.extend(json_format());
    options.push(("sink.partitioner", "random".to_string()));
    options
}

/// `'key' = 'value'` lines of a `WITH (...)` clause.
pub(super) fn with_options(options: &[(&str, String)]) -> String {
    options
        .iter()
        .map(|(k, v)| format!("  {} = {}", lit_str(k), lit_str(v)))
        .collect::<Vec<_>>()
        .join(",\n")
}

/// The destination table `dst` with `columns`: on the Kinesis stream `sink`, or `print`.
pub(super) fn sink_table(
    o: &mut String,
    dst: &str,
    columns: &[String],
    sink: Option<&FlinkOptions>,
) {
    let options = match sink {
        Some(sink) => {
            let _ = writeln!(
                o,
                "-- The destination stream, on the Kinesis stream {} (connector 5.x).",
                sink.stream
            );
            sink_options(sink)
        }
        None => {
            let _ = writeln!(
                o,
                "-- The destination stream. 'print' writes each row to the task manager log; put a"
            );
            let _ = writeln!(o, "-- Kinesis ('connector' = 'kinesis', 'stream.arn', 'format' = 'json') or Firehose sink here.");
            vec![("connector", "print".to_string())]
        }
    };
    let _ = writeln!(
        o,
        "CREATE TABLE {dst} (\n{}\n) WITH (\n{}\n);",
        columns.join(",\n"),
        with_options(&options)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arn_gives_region_account_and_stream() {
        let o =
            FlinkOptions::from_arn("arn:aws:kinesis:eu-west-1:111122223333:stream/trades").unwrap();
        assert_eq!(
            (o.region.as_str(), o.account_id.as_str(), o.stream.as_str()),
            ("eu-west-1", "111122223333", "trades")
        );
        assert!(FlinkOptions::from_arn("arn:aws:s3:::bucket").is_err());
    }
}
