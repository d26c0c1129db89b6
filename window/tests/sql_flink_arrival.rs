//! `--explain-flink` for KDA's record times: `APPROXIMATE_ARRIVAL_TIME` as the Kinesis
//! connector's `timestamp` metadata column (on the `kinesis-legacy` source, the one that fills
//! it), AWS's two-window pattern (the ROWTIME window as TUMBLE, the further time group as a
//! GROUP BY expression) and `UNIX_TIMESTAMP` in milliseconds. The printed SQL's shape is
//! checked here; `scripts/flink-check` runs the golden examples on Flink.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use kds_window::sql::{explain_app, parse_app, parse_schema_json, FlinkOptions, Schema};

const DEMO_SCHEMA: &str = include_str!("golden/demo_stream.schema.json");

/// The source table's arrival-time column, as the connector's metadata key and type give it.
const ARRIVAL_COLUMN: &str =
    "`APPROXIMATE_ARRIVAL_TIME` TIMESTAMP_LTZ(3) NOT NULL METADATA FROM 'timestamp' VIRTUAL";

fn explain(sql: &str, schema: &Schema) -> Result<String, String> {
    explain_app(&parse_app(sql).unwrap(), schema, &FlinkOptions::default())
        .map_err(|e| e.to_string())
}

fn schema(json: &str) -> Schema {
    parse_schema_json(json).unwrap()
}

fn assert_has(sql: &str, parts: &[&str]) {
    for part in parts {
        assert!(sql.contains(part), "missing {part}:\n{sql}");
    }
}

/// The options of the `kinesis-legacy` source: the stream by name, from its newest record.
const LEGACY_SOURCE: &[&str] = &[
    "'connector' = 'kinesis-legacy',\n  'stream' = 'kds-lab1',\n  'aws.region' = 'us-east-1',\n  'scan.stream.initpos' = 'LATEST',",
    "flink-sql-connector-kinesis",
];

/// `sql` reads the stream through the `kinesis-legacy` source with the arrival-time column, and
/// holds each of `parts`.
fn assert_reads_arrival(sql: &str, parts: &[&str]) {
    assert_has(sql, LEGACY_SOURCE);
    assert_has(sql, &[ARRIVAL_COLUMN]);
    assert_has(sql, parts);
}

/// `--explain-flink` of the golden example `name` with its schema file.
fn explain_golden(name: &str) -> String {
    let golden = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/");
    let read = |ext: &str| std::fs::read_to_string(format!("{golden}{name}.{ext}")).unwrap();
    explain(&read("kda.sql"), &schema(&read("schema.json"))).unwrap()
}

#[test]
fn arrival_time_is_the_legacy_sources_timestamp_metadata() {
    let examples = [
        (
            "regex_replace",
            format!("  `REFERRER` STRING,\n  {ARRIVAL_COLUMN},\n  `proctime` AS PROCTIME()"),
            "REGEXP_REPLACE(`REFERRER`, 'http://', 'https://')",
        ),
        (
            "substring",
            ARRIVAL_COLUMN.to_string(),
            "SUBSTRING(`REFERRER` FROM 12 FOR",
        ),
    ];
    for (name, column, function) in examples {
        let sql = explain_golden(name);
        assert_has(&sql, LEGACY_SOURCE);
        assert_has(
            &sql,
            &[
                &column,
                "CAST(`APPROXIMATE_ARRIVAL_TIME` AS TIMESTAMP(3)) AS `ingest_time`",
                function,
            ],
        );
        // The source that does not fill the metadata is not used.
        assert!(!sql.contains("'stream.arn' = "), "{name}: {sql}");
    }
}

#[test]
fn arrival_time_in_where_reads_the_metadata_column_too() {
    let sql = explain(
        r#"CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" ("ticker" VARCHAR(4));
CREATE OR REPLACE PUMP "P" AS INSERT INTO "DESTINATION_SQL_STREAM"
SELECT STREAM "TICKER_SYMBOL" FROM "SOURCE_SQL_STREAM_001"
WHERE APPROXIMATE_ARRIVAL_TIME > TIMESTAMP '2026-01-27 10:01:00';"#,
        &schema(DEMO_SCHEMA),
    )
    .unwrap();
    assert_reads_arrival(
        &sql,
        &["WHERE (`APPROXIMATE_ARRIVAL_TIME` > TO_TIMESTAMP_LTZ(1769508060000, 3));"],
    );
}

#[test]
fn two_window_pattern_groups_by_the_arrival_minute_within_the_rowtime_window() {
    let sql = explain(
        include_str!("golden/two_window.kda.sql"),
        &schema(DEMO_SCHEMA),
    )
    .unwrap();
    assert_reads_arrival(
        &sql,
        &[
            // The ROWTIME STEP is the window, and its start is the selected "ingest_time".
            "TUMBLE(TABLE `SOURCE_SQL_STREAM_001`, DESCRIPTOR(`proctime`), INTERVAL '60' SECOND))",
            "  window_start AS `ingest_time`,",
            // The arrival STEP is a group key, selected under its alias.
            "  CAST(FLOOR(`APPROXIMATE_ARRIVAL_TIME` TO MINUTE) AS TIMESTAMP(3)) AS `APPROXIMATE_ARRIVAL_TIME`,",
            "GROUP BY window_start, window_end, `TICKER_SYMBOL`, FLOOR(`APPROXIMATE_ARRIVAL_TIME` TO MINUTE);",
        ],
    );
}

#[test]
fn a_time_group_of_another_size_rounds_epoch_milliseconds_down() {
    // The second time expression over an event-time column of the lab's trades, 90 s: not a
    // whole unit, so not FLOOR(.. TO ..). No arrival time: the usual `kinesis` source.
    let sql = explain(
        r#"CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" ("minute" TIMESTAMP, "bucket" TIMESTAMP, "pno" VARCHAR(8), "n" INTEGER);
CREATE OR REPLACE PUMP "P" AS INSERT INTO "DESTINATION_SQL_STREAM"
SELECT STREAM STEP(s.ROWTIME BY INTERVAL '60' SECOND), STEP(s."tuptime" BY INTERVAL '90' SECOND), s."pno", COUNT(*)
FROM "SOURCE_SQL_STREAM_001" AS s
GROUP BY s."pno", STEP(s.ROWTIME BY INTERVAL '60' SECOND), STEP(s."tuptime" BY INTERVAL '90' SECOND);"#,
        &Schema::trade_events(),
    )
    .unwrap();
    let bucket = "TO_TIMESTAMP_LTZ(CAST(FLOOR(CAST((EXTRACT(EPOCH FROM `tuptime`) * 1000 + \
                  EXTRACT(MILLISECOND FROM `tuptime`)) AS DOUBLE) / 90000) AS BIGINT) * 90000, 3)";
    assert_has(
        &sql,
        &[
            &format!("  CAST({bucket} AS TIMESTAMP(3)) AS `bucket`,"),
            &format!("GROUP BY window_start, window_end, `pno`, {bucket};"),
            "'connector' = 'kinesis',\n  'stream.arn'",
            "flink-sql-connector-aws-kinesis-streams",
        ],
    );
    assert!(!sql.contains("METADATA"), "{sql}");
}

#[test]
fn unix_timestamp_is_epoch_milliseconds() {
    let sql = explain(
        include_str!("golden/transforming_dates.kda.sql"),
        &schema(include_str!("golden/transforming_dates.schema.json")),
    )
    .unwrap();
    assert_has(
        &sql,
        &[
            "CAST((EXTRACT(EPOCH FROM `EVENT_TIME`) * 1000 + EXTRACT(MILLISECOND FROM `EVENT_TIME`)) AS BIGINT) AS `event_unix_timestamp`",
            "CAST(EXTRACT(SECOND FROM `EVENT_TIME`) AS INT) AS `event_second`",
        ],
    );
    // No arrival time read: the `kinesis` source, no metadata column.
    assert!(
        sql.contains("'connector' = 'kinesis',") && !sql.contains("METADATA"),
        "{sql}"
    );
}

#[test]
fn arrival_time_stays_refused_where_flink_would_not_see_it() {
    let demo = schema(DEMO_SCHEMA);
    // Through a subquery: the subquery's columns are its own.
    let through_subquery = r#"CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" ("arrived" TIMESTAMP, "ticker" VARCHAR(4));
CREATE OR REPLACE PUMP "P" AS INSERT INTO "DESTINATION_SQL_STREAM"
SELECT STREAM APPROXIMATE_ARRIVAL_TIME, T."t"
FROM (SELECT STREAM "TICKER_SYMBOL" AS "t" FROM "SOURCE_SQL_STREAM_001") AS T;"#;
    let err = explain(through_subquery, &demo).unwrap_err();
    assert!(
        err.contains(
            "--explain-flink does not translate APPROXIMATE_ARRIVAL_TIME read through a subquery"
        ),
        "{err}"
    );
    // Inside the subquery (the log parsers' form): refused there.
    let in_subquery = r#"CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" ("arrived" TIMESTAMP);
CREATE OR REPLACE PUMP "P" AS INSERT INTO "DESTINATION_SQL_STREAM"
SELECT STREAM T."a"
FROM (SELECT STREAM APPROXIMATE_ARRIVAL_TIME AS "a" FROM "SOURCE_SQL_STREAM_001") AS T;"#;
    let err = explain(in_subquery, &demo).unwrap_err();
    assert!(
        err.contains(
            "--explain-flink does not translate APPROXIMATE_ARRIVAL_TIME inside a subquery without \
             OVER aggregates"
        ),
        "{err}"
    );
}
