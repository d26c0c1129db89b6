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

#[test]
fn throttled_alerts_is_a_view_per_declared_stream_and_the_subquery_stays_in_from() {
    let sql = explain(THROTTLED, &demo()).unwrap();
    assert_in_order(
        &sql,
        &[
            "CREATE TABLE `SOURCE_SQL_STREAM_001` (",
            "`proctime` AS PROCTIME()",
            // CHANGE_STREAM's declared types: KDA converts what change_pump writes to them.
            "CREATE TEMPORARY VIEW `CHANGE_STREAM` AS\nSELECT\n  `proctime`,\n  \
             CAST(`TICKER_SYMBOL` AS VARCHAR(4)) AS `TICKER_SYMBOL`,\n  \
             CAST(`SECTOR` AS VARCHAR(12)) AS `SECTOR`,\n  \
             CAST(`CHANGE` AS DOUBLE) AS `CHANGE`,\n  \
             CAST(`PRICE` AS DOUBLE) AS `PRICE`\n\
             FROM `SOURCE_SQL_STREAM_001`\n\
             WHERE ((ABS((`CHANGE` / (`PRICE` - `CHANGE`))) * 100) > 1);",
            "CREATE TABLE `TRIGGER_COUNT_STREAM` (",
            "INSERT INTO `TRIGGER_COUNT_STREAM`\nSELECT\n  \
             CAST(`proctime` AS TIMESTAMP(3)) AS `ROWTIME`,\n  \
             CAST(`ticker_symbol` AS STRING) AS `ticker_symbol`,\n  \
             CAST(`change` AS FLOAT) AS `change`,\n  \
             CAST(`trigger_count` AS INT) AS `trigger_count`\n",
            // The subquery declares no types: its values pass uncast, named as it spells them.
            "FROM (\n  SELECT\n    `proctime`,\n    \
             `TICKER_SYMBOL` AS `ticker_symbol`,\n    `CHANGE` AS `change`,\n    \
             COUNT(*) OVER (PARTITION BY `TICKER_SYMBOL` ORDER BY `proctime` RANGE BETWEEN \
             INTERVAL '60' SECOND(2) PRECEDING AND CURRENT ROW) AS `trigger_count`\n  \
             FROM `CHANGE_STREAM`\n)\nWHERE (`trigger_count` >= 1);\n",
        ],
    );
    assert_eq!(sql.matches("CREATE TEMPORARY VIEW").count(), 1, "{sql}");
}

#[test]
fn multiple_record_types_tumbles_over_the_trade_stream_view_and_leaves_order_stream_out() {
    let schema = parse_schema_json(RECORD_TYPES_SCHEMA).unwrap();
    let sql = explain(RECORD_TYPES, &schema).unwrap();
    assert_in_order(
        &sql,
        &[
            "CREATE TABLE `SOURCE_SQL_STREAM_001` (",
            "CREATE TEMPORARY VIEW `Trade_Stream` AS\nSELECT\n  `proctime`,\n  \
             CAST(`Tid` AS INT) AS `TRADE_ID`,\n  CAST(`Toid` AS INT) AS `ORDER_ID`,\n  \
             CAST(`Tprice` AS DOUBLE) AS `TRADE_PRICE`,\n  \
             CAST(`Tticker` AS VARCHAR(4)) AS `TICKER`,\n  \
             CAST(`RecordType` AS VARCHAR(10)) AS `RECORD_TYPE`\n\
             FROM `SOURCE_SQL_STREAM_001`\nWHERE (`RecordType` = 'Trade');",
            "CREATE TABLE `DESTINATION_SQL_STREAM` (",
            "INSERT INTO `DESTINATION_SQL_STREAM`\nSELECT\n",
            "  `TICKER` AS `ticker`,\n  CAST(COUNT(*) AS INT) AS `trade_count`\n\
             FROM TABLE(\n  TUMBLE(TABLE `Trade_Stream`, DESCRIPTOR(`proctime`), \
             INTERVAL '60' SECOND))\nGROUP BY window_start, window_end, `TICKER`;",
        ],
    );
    // Order_Pump's stream reaches no output: kds-window does not run it, Flink gets no view.
    assert!(!sql.contains("Order_Stream"), "{sql}");
    assert_eq!(sql.matches("CREATE TEMPORARY VIEW").count(), 1, "{sql}");
}

#[test]
fn a_group_by_pump_feeding_a_sliding_pump_is_a_view_with_its_window_time() {
    // The guide's partial-results chain without its second time group (APPROXIMATE_ARRIVAL_TIME).
    let arrival =
        "        STEP(\"SOURCE_SQL_STREAM_001\".\"APPROXIMATE_ARRIVAL_TIME\" BY INTERVAL '1' MINUTE),\n";
    assert!(PARTIAL.contains(arrival));
    let sql = explain(&PARTIAL.replace(arrival, ""), &demo()).unwrap();
    assert_in_order(
        &sql,
        &[
            "CREATE TABLE `SOURCE_SQL_STREAM_001` (",
            "CREATE TEMPORARY VIEW `CALC_COUNT_SQL_STREAM` AS\nSELECT\n  window_start,\n  \
             window_end,\n  window_end AS `ROWTIME`,\n  window_time AS `proctime`,\n  \
             CAST(`TICKER_SYMBOL` AS VARCHAR(4)) AS `TICKER`,\n  \
             window_start AS `TRADETIME`,\n  CAST(COUNT(*) AS DOUBLE) AS `TICKERCOUNT`\n\
             FROM TABLE(\n  TUMBLE(TABLE `SOURCE_SQL_STREAM_001`, DESCRIPTOR(`proctime`), \
             INTERVAL '60' SECOND))\n\
             GROUP BY window_start, window_end, window_time, `TICKER_SYMBOL`;",
            "CREATE TABLE `DESTINATION_SQL_STREAM` (",
            // The rows keep their window's end as ROWTIME; the OVER window orders by window_time.
            "INSERT INTO `DESTINATION_SQL_STREAM`\nSELECT\n  `ROWTIME`,\n",
            "  CAST(SUM(`TICKERCOUNT`) OVER (PARTITION BY `TRADETIME` ORDER BY `proctime` RANGE \
             BETWEEN INTERVAL '600' SECOND(3) PRECEDING AND CURRENT ROW) AS DOUBLE) AS \
             `TICKERCOUNT`\nFROM `CALC_COUNT_SQL_STREAM`;",
        ],
    );
    // With it, the source table has the arrival time, and the GROUP BY pump's view groups by
    // the arrival minute too.
    let sql = explain(PARTIAL, &demo()).unwrap();
    assert_in_order(
        &sql,
        &[
            "`APPROXIMATE_ARRIVAL_TIME` TIMESTAMP_LTZ(3) NOT NULL METADATA FROM 'timestamp' VIRTUAL",
            "GROUP BY window_start, window_end, window_time, `TICKER_SYMBOL`, \
             FLOOR(`APPROXIMATE_ARRIVAL_TIME` TO MINUTE);",
            "FROM `CALC_COUNT_SQL_STREAM`;",
        ],
    );
}

#[test]
fn pumps_before_and_after_a_group_by_pump_are_views_in_chain_order() {
    let sql = explain(
        "CREATE OR REPLACE STREAM \"TECH\" (TICKER VARCHAR(4), PRICE DOUBLE);
         CREATE OR REPLACE PUMP \"TECH_PUMP\" AS INSERT INTO \"TECH\"
           SELECT STREAM TICKER_SYMBOL, PRICE FROM \"SOURCE_SQL_STREAM_001\"
           WHERE SECTOR = 'TECHNOLOGY';
         CREATE OR REPLACE STREAM \"DESTINATION_SQL_STREAM\" (TICKER VARCHAR(4), N INTEGER,
           RUNNING INTEGER);
         CREATE OR REPLACE PUMP \"OUT_PUMP\" AS INSERT INTO \"DESTINATION_SQL_STREAM\"
           SELECT STREAM TICKER, N, SUM(N) OVER (PARTITION BY TICKER ROWS 3 PRECEDING)
           FROM \"BIG\";
         CREATE OR REPLACE STREAM \"COUNTS\" (TICKER VARCHAR(4), N DOUBLE, HIGH DOUBLE);
         CREATE OR REPLACE PUMP \"COUNT_PUMP\" AS INSERT INTO \"COUNTS\"
           SELECT STREAM TICKER, COUNT(*) AS N, MAX(PRICE) AS HIGH FROM \"TECH\"
           GROUP BY TICKER, STEP(\"TECH\".ROWTIME BY INTERVAL '60' SECOND);
         CREATE OR REPLACE STREAM \"BIG\" (TICKER VARCHAR(2), N INTEGER);
         CREATE OR REPLACE PUMP \"BIG_PUMP\" AS INSERT INTO \"BIG\"
           SELECT STREAM TICKER, N FROM \"COUNTS\" WHERE HIGH > 50;",
        &demo(),
    )
    .unwrap();
    // The statements come in any order; the views in the chain's.
    assert_in_order(
        &sql,
        &[
            "pumps TECH_PUMP, COUNT_PUMP, BIG_PUMP, OUT_PUMP in a chain.",
            "CREATE TEMPORARY VIEW `TECH` AS\nSELECT\n  `proctime`,\n  \
             CAST(`TICKER_SYMBOL` AS VARCHAR(4)) AS `TICKER`,\n  \
             CAST(`PRICE` AS DOUBLE) AS `PRICE`\nFROM `SOURCE_SQL_STREAM_001`\n\
             WHERE (`SECTOR` = 'TECHNOLOGY');",
            "CREATE TEMPORARY VIEW `COUNTS` AS\n",
            "  window_time AS `proctime`,\n",
            "FROM TABLE(\n  TUMBLE(TABLE `TECH`, DESCRIPTOR(`proctime`), INTERVAL '60' SECOND))\n\
             GROUP BY window_start, window_end, window_time, `TICKER`;",
            // After the GROUP BY pump, ROWTIME is its window's end, passed on as a column.
            "CREATE TEMPORARY VIEW `BIG` AS\nSELECT\n  `proctime`,\n  `ROWTIME`,\n  \
             CAST(`TICKER` AS VARCHAR(2)) AS `TICKER`,\n  CAST(`N` AS INT) AS `N`\n\
             FROM `COUNTS`\nWHERE (`HIGH` > 50);",
            "INSERT INTO `DESTINATION_SQL_STREAM`\nSELECT\n  `ROWTIME`,\n",
            "  CAST(SUM(`N`) OVER (PARTITION BY `TICKER` ORDER BY `proctime` ROWS BETWEEN 3 \
             PRECEDING AND CURRENT ROW) AS INT) AS `RUNNING`\nFROM `BIG`;",
        ],
    );
}

#[test]
fn two_over_windows_in_one_select_are_two_nested_selects() {
    let sql = explain(SLIDING_ROWS, &demo()).unwrap();
    assert_in_order(
        &sql,
        &[
            "INSERT INTO `DESTINATION_SQL_STREAM`\nSELECT\n",
            // The first window's aggregate comes from the inner SELECT ...
            "  CAST(`$over2` AS DOUBLE) AS `average_last2rows`,\n",
            // ... the last window's is computed here.
            "  CAST(AVG(`PRICE`) OVER (PARTITION BY `TICKER_SYMBOL` ORDER BY `proctime` ROWS \
             BETWEEN 10 PRECEDING AND CURRENT ROW) AS DOUBLE) AS `average_last10rows`\n",
            "FROM (\n  SELECT\n    *,\n    AVG(`PRICE`) OVER (PARTITION BY `TICKER_SYMBOL` ORDER \
             BY `proctime` ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS `$over2`\n  \
             FROM `SOURCE_SQL_STREAM_001`\n);\n",
        ],
    );
    assert_eq!(sql.matches(" OVER (").count(), 2, "{sql}");
}

#[test]
fn three_windows_nest_twice_and_the_where_clause_filters_the_innermost_select() {
    let sql = explain(
        "CREATE OR REPLACE STREAM \"DESTINATION_SQL_STREAM\" (t VARCHAR(4), a DOUBLE, b DOUBLE, \
         c BIGINT, d BIGINT);
         CREATE OR REPLACE PUMP \"P\" AS INSERT INTO \"DESTINATION_SQL_STREAM\"
         SELECT STREAM ticker_symbol, AVG(price) OVER (PARTITION BY ticker_symbol ROWS 2 \
         PRECEDING), MAX(price) OVER (ROWS 5 PRECEDING), COUNT(*) OVER (PARTITION BY \
         ticker_symbol ROWS 2 PRECEDING), COUNT(*) OVER (RANGE INTERVAL '1' MINUTE PRECEDING)
         FROM \"SOURCE_SQL_STREAM_001\" WHERE change > 0;",
        &demo(),
    )
    .unwrap();
    // Columns a and c share the first window (one layer computes both), b's is the second
    // layer's, d's the pump's own.
    assert_in_order(
        &sql,
        &[
            "  CAST(`$over1` AS DOUBLE) AS `a`,\n  CAST(`$over2` AS DOUBLE) AS `b`,\n  \
             CAST(`$over3` AS BIGINT) AS `c`,\n  CAST(COUNT(*) OVER (ORDER BY `proctime` RANGE \
             BETWEEN INTERVAL '60' SECOND(2) PRECEDING AND CURRENT ROW) AS BIGINT) AS `d`\n",
            "FROM (\n  SELECT\n    *,\n    MAX(`PRICE`) OVER (ORDER BY `proctime` ROWS BETWEEN 5 \
             PRECEDING AND CURRENT ROW) AS `$over2`\n  FROM (\n    SELECT\n      *,\n      \
             AVG(`PRICE`) OVER (PARTITION BY `TICKER_SYMBOL` ORDER BY `proctime` ROWS BETWEEN 2 \
             PRECEDING AND CURRENT ROW) AS `$over1`,\n      COUNT(*) OVER (PARTITION BY \
             `TICKER_SYMBOL` ORDER BY `proctime` ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS \
             `$over3`\n    FROM `SOURCE_SQL_STREAM_001`\n    WHERE (`CHANGE` > 0)\n  )\n);\n",
        ],
    );
    assert_eq!(sql.matches("WHERE (").count(), 1, "{sql}");
}

/// A per-row pump writing `S` from the source, then `last` (a pump reading `S`).
fn after_stream_s(last: &str) -> String {
    format!(
        "CREATE OR REPLACE STREAM \"S\" (TICKER VARCHAR(4), EVENT_TIME TIMESTAMP);
         CREATE OR REPLACE PUMP \"P1\" AS INSERT INTO \"S\"
           SELECT STREAM TICKER_SYMBOL, EVENT_TIME FROM \"SOURCE_SQL_STREAM_001\";
         {last}"
    )
}

#[test]
fn chains_flink_cannot_run_as_kda_did_are_refused_with_the_reason() {
    let schema = parse_schema_json(
        r#"[{"Name":"TICKER_SYMBOL","SqlType":"VARCHAR(4)"},{"Name":"EVENT_TIME","SqlType":"TIMESTAMP"},
            {"Name":"PRICE","SqlType":"REAL"}]"#,
    )
    .unwrap();
    let dest =
        "CREATE OR REPLACE STREAM \"DESTINATION_SQL_STREAM\" (TICKER VARCHAR(4), N INTEGER);";
    let cases = [
        (
            after_stream_s(&format!(
                "{dest} CREATE OR REPLACE PUMP \"P2\" AS INSERT INTO \"DESTINATION_SQL_STREAM\"
                 SELECT STREAM TICKER, COUNT(*) AS N FROM \"S\"
                 GROUP BY TICKER, STEP(\"S\".EVENT_TIME BY INTERVAL '60' SECOND);"
            )),
            "an event-time window in a chain of pumps",
        ),
        (
            after_stream_s(
                "CREATE OR REPLACE STREAM \"DESTINATION_SQL_STREAM\" (EVENT_TIME TIMESTAMP, \
                 TICKER VARCHAR(4), TICKER_COUNT INTEGER);
                 CREATE OR REPLACE PUMP \"P2\" AS INSERT INTO \"DESTINATION_SQL_STREAM\"
                 SELECT STREAM EVENT_TIME, TICKER, COUNT(TICKER) AS ticker_count FROM \"S\"
                 WINDOWED BY STAGGER (PARTITION BY TICKER, EVENT_TIME RANGE INTERVAL '1' MINUTE);",
            ),
            "stagger windows (Flink has no window that opens per key)",
        ),
        (
            after_stream_s(
                "CREATE OR REPLACE STREAM \"DESTINATION_SQL_STREAM\" (ITEM VARCHAR(4), N BIGINT);
                 CREATE OR REPLACE PUMP \"P2\" AS INSERT INTO \"DESTINATION_SQL_STREAM\"
                 SELECT STREAM * FROM TABLE(TOP_K_ITEMS_TUMBLING(CURSOR(SELECT STREAM * FROM \
                 \"S\"), 'TICKER', 3, 60));",
            ),
            "TOP_K_ITEMS_TUMBLING over another pump's stream",
        ),
        (
            format!(
                "{dest} CREATE OR REPLACE PUMP \"P\" AS INSERT INTO \"DESTINATION_SQL_STREAM\"
                 SELECT STREAM t, n FROM (SELECT STREAM u AS t, 1 AS n FROM (SELECT STREAM \
                 TICKER_SYMBOL AS u FROM \"SOURCE_SQL_STREAM_001\"));"
            ),
            "a subquery that reads a subquery",
        ),
        (
            after_stream_s(
                "CREATE OR REPLACE STREAM \"DESTINATION_SQL_STREAM\" (TICKER VARCHAR(4), \
                 ARRIVED TIMESTAMP);
                 CREATE OR REPLACE PUMP \"P2\" AS INSERT INTO \"DESTINATION_SQL_STREAM\"
                 SELECT STREAM TICKER, APPROXIMATE_ARRIVAL_TIME FROM \"S\";",
            ),
            "APPROXIMATE_ARRIVAL_TIME in a pump that reads another pump's stream",
        ),
        (
            // The arrival time read through an inlined subquery, by a pump that feeds another.
            "CREATE OR REPLACE STREAM \"S\" (TICKER VARCHAR(4), ARRIVED TIMESTAMP);
             CREATE OR REPLACE PUMP \"P1\" AS INSERT INTO \"S\"
               SELECT STREAM T.\"t\", APPROXIMATE_ARRIVAL_TIME
               FROM (SELECT STREAM TICKER_SYMBOL AS \"t\" FROM \"SOURCE_SQL_STREAM_001\") AS T;
             CREATE OR REPLACE STREAM \"DESTINATION_SQL_STREAM\" (TICKER VARCHAR(4), \
             ARRIVED TIMESTAMP);
             CREATE OR REPLACE PUMP \"P2\" AS INSERT INTO \"DESTINATION_SQL_STREAM\"
               SELECT STREAM TICKER, ARRIVED FROM \"S\";"
                .to_string(),
            "APPROXIMATE_ARRIVAL_TIME read through a subquery",
        ),
        (
            format!(
                "{dest} CREATE OR REPLACE PUMP \"P\" AS INSERT INTO \"DESTINATION_SQL_STREAM\"
                 SELECT STREAM t, COUNT(*) AS N FROM (SELECT STREAM TICKER_SYMBOL AS t, \
                 COUNT(*) OVER (PARTITION BY TICKER_SYMBOL ROWS 2 PRECEDING) AS c \
                 FROM \"SOURCE_SQL_STREAM_001\")
                 GROUP BY t, STEP(ROWTIME BY INTERVAL '60' SECOND);"
            ),
            "a GROUP BY pump reading a subquery",
        ),
        (
            "CREATE OR REPLACE STREAM \"DESTINATION_SQL_STREAM\" (TICKER VARCHAR(4), \
             C VARCHAR(20));
             CREATE OR REPLACE PUMP \"P2\" AS INSERT INTO \"DESTINATION_SQL_STREAM\"
               SELECT STREAM s.TICKER, c.\"Company\" FROM \"S\" AS s
               LEFT JOIN \"CompanyName\" AS c ON s.TICKER = c.\"Ticker\";"
                .to_string(),
            "a reference-table JOIN in a chain of pumps",
        ),
    ];
    let cases = cases.map(|(sql, why)| {
        // The JOIN case reads the stream S that P1 writes.
        let sql = if why.contains("JOIN") {
            after_stream_s(&sql)
        } else {
            sql
        };
        (sql, why)
    });
    for (sql, why) in cases {
        let err = explain(&sql, &schema).unwrap_err();
        assert!(
            err.contains("--explain-flink does not translate") && err.contains(why),
            "{sql}\n=> {err}"
        );
    }
    // A stagger pump feeding another is refused when the SQL is read, --sql and
    // --explain-flink alike.
    let stagger_feeding = "CREATE OR REPLACE STREAM \"S\" (TICKER VARCHAR(4), N INTEGER);
         CREATE OR REPLACE PUMP \"P1\" AS INSERT INTO \"S\"
           SELECT STREAM TICKER_SYMBOL, COUNT(*) AS N FROM \"SOURCE_SQL_STREAM_001\"
           WINDOWED BY STAGGER (PARTITION BY TICKER_SYMBOL RANGE INTERVAL '1' MINUTE);
         CREATE OR REPLACE STREAM \"DESTINATION_SQL_STREAM\" (TICKER VARCHAR(4), N INTEGER);
         CREATE OR REPLACE PUMP \"P2\" AS INSERT INTO \"DESTINATION_SQL_STREAM\"
           SELECT STREAM TICKER, N FROM \"S\";";
    let err = parse_app(stagger_feeding).unwrap_err().to_string();
    assert!(
        err.contains("a stagger pump, feeding another pump"),
        "{err}"
    );
}

#[test]
fn one_pump_reading_a_subquery_with_over_is_named_so_in_the_header() {
    let sql = explain(
        r#"CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (TICKER VARCHAR(4), C INTEGER);
CREATE OR REPLACE PUMP "P" AS INSERT INTO "DESTINATION_SQL_STREAM"
SELECT STREAM t, c FROM (SELECT STREAM TICKER_SYMBOL AS t,
    COUNT(*) OVER (PARTITION BY TICKER_SYMBOL ROWS 2 PRECEDING) AS c
  FROM "SOURCE_SQL_STREAM_001") WHERE c > 1;"#,
        &demo(),
    )
    .unwrap();
    assert!(
        sql.contains(
            "-- DESTINATION_SQL_STREAM from SOURCE_SQL_STREAM_001: the pump P, reading a subquery."
        ),
        "{sql}"
    );
}
