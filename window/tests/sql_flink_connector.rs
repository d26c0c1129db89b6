//! `--explain-flink`'s Kinesis tables: the source on `--flink-stream-arn`, the destination on
//! `--flink-sink-arn`, with the option names of the Kinesis SQL connector 5.x ("Amazon Kinesis
//! Data Streams SQL Connector", Flink documentation). The connector's jar is not here: the
//! tables are checked as text, not run.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use std::collections::BTreeMap;

use common::run_window;
use kds_window::sql::{explain_app, parse_app, parse_schema_json, FlinkOptions, Schema};

const LAB_SQL: &str = include_str!("golden/lab1.kda.sql");
const ALERTS_SQL: &str = include_str!("golden/simple_alerts.kda.sql");

/// The `WITH (...)` options of `CREATE TABLE <table>` in `sql`, in order.
fn table_options(sql: &str, table: &str) -> Vec<(String, String)> {
    let start = sql
        .find(&format!("CREATE TABLE {table} ("))
        .unwrap_or_else(|| panic!("no table {table}:\n{sql}"));
    let with = start + sql[start..].find(") WITH (").unwrap() + ") WITH (".len();
    let end = with + sql[with..].find(");").unwrap();
    sql[with..end]
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (k, v) = l.trim().trim_end_matches(',').split_once(" = ").unwrap();
            let unquote = |s: &str| s.trim_matches('\'').replace("''", "'");
            (unquote(k), unquote(v))
        })
        .collect()
}

fn opts(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn with_sink(arn: &str) -> FlinkOptions {
    FlinkOptions {
        sink: Some(Box::new(FlinkOptions::from_arn(arn).unwrap())),
        ..FlinkOptions::from_arn("arn:aws:kinesis:eu-west-1:111122223333:stream/trades").unwrap()
    }
}

#[test]
fn the_source_and_sink_tables_carry_the_connectors_option_names() {
    let app = parse_app(LAB_SQL).unwrap();
    let sink = "arn:aws:kinesis:eu-west-1:111122223333:stream/lab-out";
    let sql = explain_app(&app, &Schema::trade_events(), &with_sink(sink)).unwrap();
    assert_eq!(
        table_options(&sql, "`SOURCE_SQL_STREAM_001`"),
        opts(&[
            ("connector", "kinesis"),
            (
                "stream.arn",
                "arn:aws:kinesis:eu-west-1:111122223333:stream/trades"
            ),
            ("aws.region", "eu-west-1"),
            ("source.init.position", "LATEST"),
            ("format", "json"),
            ("json.timestamp-format.standard", "ISO-8601"),
            ("json.ignore-parse-errors", "true"),
        ])
    );
    assert_eq!(
        table_options(&sql, "`DESTINATION_SQL_STREAM`"),
        opts(&[
            ("connector", "kinesis"),
            ("stream.arn", sink),
            ("aws.region", "eu-west-1"),
            ("format", "json"),
            ("json.timestamp-format.standard", "ISO-8601"),
            ("sink.partitioner", "random"),
        ])
    );
    // The sink's columns are the destination stream's, as with 'print'.
    let print = explain_app(&app, &Schema::trade_events(), &FlinkOptions::default()).unwrap();
    let columns = |s: &str| {
        let at = s.find("CREATE TABLE `DESTINATION_SQL_STREAM` (").unwrap();
        s[at..at + s[at..].find(") WITH (").unwrap()].to_string()
    };
    assert_eq!(columns(&sql), columns(&print));
    assert_eq!(
        table_options(&print, "`DESTINATION_SQL_STREAM`"),
        opts(&[("connector", "print")])
    );
}

#[test]
fn a_pump_without_group_by_writes_to_the_kinesis_sink_too() {
    let demo = parse_schema_json(include_str!("golden/demo_stream.schema.json")).unwrap();
    let app = parse_app(ALERTS_SQL).unwrap();
    let sink = "arn:aws:kinesis:eu-west-1:111122223333:stream/alerts";
    let sql = explain_app(&app, &demo, &with_sink(sink)).unwrap();
    let sink_opts: BTreeMap<String, String> = table_options(&sql, "`DESTINATION_SQL_STREAM`")
        .into_iter()
        .collect();
    assert_eq!(sink_opts["connector"], "kinesis");
    assert_eq!(sink_opts["stream.arn"], sink);
    assert_eq!(sink_opts["sink.partitioner"], "random");
}

#[test]
fn the_binary_prints_the_sink_table_and_refuses_a_bad_arn() {
    let sink = "arn:aws:kinesis:us-east-1:123456789012:stream/lab-out";
    let out = run_window(
        &[
            "--sql",
            LAB_SQL,
            "--explain-flink",
            "--flink-sink-arn",
            sink,
        ],
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sql = String::from_utf8(out.stdout).unwrap();
    let sink_opts = table_options(&sql, "`DESTINATION_SQL_STREAM`");
    assert!(
        sink_opts.contains(&("stream.arn".to_string(), sink.to_string())),
        "{sql}"
    );
    let bad = run_window(
        &[
            "--sql",
            LAB_SQL,
            "--explain-flink",
            "--flink-sink-arn",
            "arn:aws:s3:::bucket",
        ],
        "",
    );
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("--flink-sink-arn arn:aws:s3:::bucket"),
        "{err}"
    );
    // Without --explain-flink the flag has nothing to do: a usage error.
    let alone = run_window(&["--sql", LAB_SQL, "--flink-sink-arn", sink], "");
    assert_eq!(alone.status.code(), Some(2));
}
