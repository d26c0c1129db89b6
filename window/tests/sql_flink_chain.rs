//! `--explain-flink` for chained pumps (a view per in-application stream, in chain order, its
//! values cast to the declared types; a subquery with OVER aggregates in FROM; a GROUP BY pump's
//! stream as a view over TUMBLE with its window_time) and for OVER aggregates on two windows in
//! one SELECT (nested SELECTs, one window each). The printed SQL's shape is checked here;
//! `scripts/flink-check` runs it on Flink.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use kds_window::sql::{explain_app, parse_app, parse_schema_json, FlinkOptions, Schema};

const DEMO_SCHEMA: &str = include_str!("golden/demo_stream.schema.json");
const THROTTLED: &str = include_str!("golden/throttled_alerts.kda.sql");
const RECORD_TYPES: &str = include_str!("golden/multiple_record_types.kda.sql");
const RECORD_TYPES_SCHEMA: &str = include_str!("golden/multiple_record_types.schema.json");
const PARTIAL: &str = include_str!("golden/partial_results.kda.sql");
const SLIDING_ROWS: &str = include_str!("golden/sliding_rows.kda.sql");

fn demo() -> Schema {
    parse_schema_json(DEMO_SCHEMA).unwrap()
}

fn explain(sql: &str, schema: &Schema) -> Result<String, String> {
    explain_app(&parse_app(sql).unwrap(), schema, &FlinkOptions::default())
        .map_err(|e| e.to_string())
}

/// Each of `parts` is in `sql`, in this order.
fn assert_in_order(sql: &str, parts: &[&str]) {
    let mut from = 0;
    for part in parts {
        let Some(at) = sql[from..].find(part) else {
            panic!("missing (or out of order) {part}:\n{sql}");
        };
        from += at + part.len();
    }
}
