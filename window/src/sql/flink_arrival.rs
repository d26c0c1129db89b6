//! `--explain-flink` for KDA's record times: `APPROXIMATE_ARRIVAL_TIME`, the further time groups
//! of AWS's two-window pattern, and `UNIX_TIMESTAMP`.
//!
//! `APPROXIMATE_ARRIVAL_TIME` is the time the record reached Kinesis ("Timestamps and the
//! ROWTIME Column", KDA SQL Developer Guide). The Kinesis SQL connector exposes it as the
//! metadata key `timestamp`, of type `TIMESTAMP_LTZ(3) NOT NULL` (apache/flink-connector-aws,
//! 5.0 to 6.0: `RowMetadata.Timestamp` of the `kinesis` table source,
//! `RowDataKinesisDeserializationSchema.Metadata.Timestamp` of the `kinesis-legacy` one; Flink
//! documentation, "Amazon Kinesis Data Streams SQL Connector", "Available Metadata"). The
//! `kinesis` source lists that key but never fills it: its `KinesisDynamicSource` decodes the
//! physical columns only (FLINK-36671; the page says to use `kinesis-legacy` until it is fixed).
//! So a pump that reads the arrival time reads the stream through `kinesis-legacy`, whose
//! deserializer appends the record's approximate arrival timestamp. That source is in
//! `flink-sql-connector-kinesis` 5.x (Flink 1.19 and 1.20), which also has the `kinesis` sink;
//! connector 6.0, for Flink 2, no longer has it.

use std::fmt::Write as _;
use std::time::Duration;

use super::flink::{q, source_table, write_source_table, FlinkOptions};
use super::flink_connector::legacy_source_options;
use super::windows::ARRIVAL_COLUMN;
use super::Schema;

/// Where the printed SQL runs: the header's second line, by the source the pump needs.
pub(super) fn runs_on(arrival: bool) -> &'static str {
    if arrival {
        "-- (Flink 1.19 or 1.20) with the Kinesis SQL connector 5.x (flink-sql-connector-kinesis: its kinesis-legacy\n\
         -- source gives the arrival time)."
    } else {
        "-- (Flink 1.19 or later) with the Kinesis SQL connector (flink-sql-connector-aws-kinesis-streams: 5.x for\n\
         -- Flink 1.19 and 1.20, 6.x for Flink 2.x)."
    }
}

/// The source table of a pump: the schema's columns, then `extra` (ROWTIME's stand-in or the
/// watermark). When the pump reads `APPROXIMATE_ARRIVAL_TIME` (`arrival`), the arrival time is
/// a metadata column before `extra`, on the `kinesis-legacy` connector.
pub(super) fn source_table_reading(
    o: &mut String,
    src: &str,
    schema: &Schema,
    opts: &FlinkOptions,
    mut extra: Vec<String>,
    arrival: bool,
) {
    if !arrival {
        return source_table(o, src, schema, opts, extra);
    }
    let _ = writeln!(o, "-- APPROXIMATE_ARRIVAL_TIME is the connector's 'timestamp' metadata, the record's approximate");
    let _ = writeln!(o, "-- arrival time. The 'kinesis' source does not fill it yet (FLINK-36671): 'kinesis-legacy' does.");
    extra.insert(
        0,
        format!(
            "  {} TIMESTAMP_LTZ(3) NOT NULL METADATA FROM 'timestamp' VIRTUAL",
            q(ARRIVAL_COLUMN)
        ),
    );
    write_source_table(o, src, schema, extra, &legacy_source_options(opts));
}

/// `UNIX_TIMESTAMP(t)` as KDA computes it: milliseconds since 1970 ("UNIX_TIMESTAMP", KDA SQL
/// Reference), where Flink's `UNIX_TIMESTAMP` gives seconds (of a string). `EXTRACT(EPOCH ..)`
/// gives the whole seconds and `EXTRACT(MILLISECOND ..)` the rest, both rounded toward zero, so
/// the sum is exact before 1970 too (checked on Flink 2.3 for `TIMESTAMP_LTZ(3)` and
/// `TIMESTAMP(3)` values from year 0 to 9999). `EXTRACT` reads the session's wall clock: this is
/// KDA's value in a session whose time zone is UTC, as the rest of the translation assumes.
pub(super) fn epoch_millis(t: &str) -> String {
    format!("(EXTRACT(EPOCH FROM {t}) * 1000 + EXTRACT(MILLISECOND FROM {t}))")
}

/// A time group's value (`STEP(t BY size)`, `FLOOR(t TO unit)` beside the ROWTIME window):
/// `t` rounded down to a multiple of `size` since 1970, as kds-window rounds it. A whole
/// second, minute, hour or day is Flink's `FLOOR(t TO unit)`; another size is computed on the
/// epoch milliseconds, divided as DOUBLE so that FLOOR rounds down before 1970 too (BIGINT
/// division rounds toward zero). The quotient is exact enough: every time kds-window accepts is
/// under 2^53 ms from 1970, so it never rounds up to the next whole number.
pub(super) fn rounded_down(t: &str, size: Duration) -> String {
    let ms = size.as_millis();
    for (unit, unit_ms) in [
        ("SECOND", 1000),
        ("MINUTE", 60_000),
        ("HOUR", 3_600_000),
        ("DAY", 86_400_000),
    ] {
        if ms == unit_ms {
            return format!("FLOOR({t} TO {unit})");
        }
    }
    format!(
        "TO_TIMESTAMP_LTZ(CAST(FLOOR(CAST({} AS DOUBLE) / {ms}) AS BIGINT) * {ms}, 3)",
        epoch_millis(t)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_units_floor_and_other_sizes_divide_epoch_milliseconds() {
        let t = "`APPROXIMATE_ARRIVAL_TIME`";
        assert_eq!(
            rounded_down(t, Duration::from_secs(60)),
            "FLOOR(`APPROXIMATE_ARRIVAL_TIME` TO MINUTE)"
        );
        assert_eq!(
            rounded_down(t, Duration::from_secs(86_400)),
            "FLOOR(`APPROXIMATE_ARRIVAL_TIME` TO DAY)"
        );
        assert_eq!(
            rounded_down(t, Duration::from_secs(90)),
            "TO_TIMESTAMP_LTZ(CAST(FLOOR(CAST((EXTRACT(EPOCH FROM `APPROXIMATE_ARRIVAL_TIME`) * 1000 + \
             EXTRACT(MILLISECOND FROM `APPROXIMATE_ARRIVAL_TIME`)) AS DOUBLE) / 90000) AS BIGINT) * 90000, 3)"
        );
    }
}
