//! KDA's "Example: Aggregating Partial Results from a Query" verbatim
//! (`tests/golden/partial_results.kda.sql`): a tumbling-window pump (per ROWTIME minute, arrival
//! minute and ticker) writes `CALC_COUNT_SQL_STREAM`, whose rows a sliding-window pump reads and
//! sums per `TRADETIME` into `DESTINATION_SQL_STREAM`. Each batch of records is read at a ROWTIME
//! the test sets.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use std::sync::{Arc, Mutex};

use common::{demo_envelope as envelope, json_rows, ms, push_batches, run_window, SharedBuf};
use kds_common::io::Output;
use kds_window::engine::{Config, Engine, Options};
use kds_window::sql::cli::to_query;
use kds_window::sql::downstream::Downstream;
use kds_window::sql::{bind, parse_sql, ErrorStream, RowPrep};
use serde_json::{json, Value};

const PARTIAL_SQL: &str = include_str!("golden/partial_results.kda.sql");

/// `(ticker, records, arrival)` groups as envelope lines, numbered from `seq`.
fn lines(seq: &mut usize, groups: &[(&str, usize, &str)]) -> Vec<String> {
    let mut out = Vec::new();
    for (ticker, n, arrival) in groups {
        for _ in 0..*n {
            *seq += 1;
            out.push(envelope(*seq, arrival, ticker));
        }
    }
    out
}

/// Runs the application: the row preparation stage, the engine, and the pumps after it; each
/// batch is read at its own ROWTIME. Returns the output rows and the error stream's rows.
fn run_batches(batches: &[(i64, Vec<String>)]) -> (Vec<Value>, Vec<Value>) {
    let plan = parse_sql(PARTIAL_SQL).unwrap();
    let bound = bind(&plan, None).unwrap();
    let cfg = Config {
        query: to_query(&bound).unwrap(),
        options: Options::default(),
    };
    let rows = SharedBuf::default();
    let errors = SharedBuf::default();
    let stream = |pump: &str| {
        ErrorStream::new(
            Some(Output::new(errors.clone())),
            Box::new(std::io::sink()),
            pump,
        )
    };
    let mut prep = RowPrep::for_query(&bound, None, None, stream(&plan.pump))
        .unwrap()
        .expect("APPROXIMATE_ARRIVAL_TIME needs the row preparation stage");
    let after = Arc::new(Mutex::new(stream("AGGREGATED_SQL_PUMP")));
    let down = Downstream::new(&plan, Output::new(rows.clone()), after)
        .unwrap()
        .expect("a sliding pump reads the GROUP BY pump's stream");
    let mut engine = Engine::new(&cfg, Output::new(down), Box::new(std::io::sink())).unwrap();
    push_batches(&mut prep, &mut engine, batches);
    (rows.json_lines(), errors.json_lines())
}

#[test]
fn partial_counts_of_a_minute_add_up_in_the_sliding_pump() {
    // Minute 10:00: ABC 3 and DEF 2 records that arrived in 10:00. Minute 10:01: one ABC record
    // that arrived in 10:00 but was read late, and ABC 2 that arrived in 10:01. The tumbling
    // pump writes one row per (ROWTIME minute, arrival minute, ticker); the sliding pump sums
    // the counts of each TRADETIME (the ROWTIME minute) over the last 10 minutes.
    let mut seq = 0;
    let first = lines(
        &mut seq,
        &[
            ("ABC", 3, "2016-07-19T10:00:01Z"),
            ("DEF", 2, "2016-07-19T10:00:02Z"),
        ],
    );
    let second = lines(
        &mut seq,
        &[
            ("ABC", 1, "2016-07-19T10:00:59.500Z"),
            ("ABC", 2, "2016-07-19T10:01:01Z"),
        ],
    );
    let (rows, errors) = run_batches(&[
        (ms("2016-07-19T10:00:10Z"), first),
        (ms("2016-07-19T10:01:10Z"), second),
    ]);
    assert!(errors.is_empty(), "{errors:?}");
    let m0 = "2016-07-19T10:00:00.000Z";
    let m1 = "2016-07-19T10:01:00.000Z";
    let got: Vec<Value> = rows
        .iter()
        .map(|r| json!([r["ROWTIME"], r["TICKER"], r["TRADETIME"], r["TICKERCOUNT"]]))
        .collect();
    // Each row's ROWTIME is the tumbling window's end, when its row entered the stream. The
    // counts are DOUBLE, as CALC_COUNT_SQL_STREAM declares them.
    assert_eq!(
        got,
        vec![
            json!([m1, "ABC", m0, 3.0]),
            json!([m1, "DEF", m0, 5.0]),
            json!(["2016-07-19T10:02:00.000Z", "ABC", m1, 1.0]),
            json!(["2016-07-19T10:02:00.000Z", "ABC", m1, 3.0]),
        ]
    );
    // Columns: ROWTIME, then the destination stream's in declaration order.
    let keys: Vec<&String> = rows[0].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["ROWTIME", "TICKER", "TICKERCOUNT", "TRADETIME"]);
}

#[test]
fn the_binary_runs_the_example_and_the_last_sum_of_each_minute_is_its_total() {
    let groups = [
        ("ABC", 4, "2016-07-19T10:00:01Z"),
        ("DEF", 3, "2016-07-19T10:00:02Z"),
        ("XYZ", 2, "2016-07-19T09:59:30Z"),
    ];
    let input = lines(&mut 0, &groups).join("\n") + "\n";
    let rows = json_rows(&run_window(&["--sql", PARTIAL_SQL], input));
    // Read by the wall clock: one ROWTIME minute, or two when the run crosses a minute's end.
    // Either way each minute's last running sum is the number of records read in it.
    let mut last = std::collections::BTreeMap::new();
    for r in &rows {
        last.insert(
            r["TRADETIME"].to_string(),
            r["TICKERCOUNT"].as_f64().unwrap(),
        );
    }
    let total: f64 = last.values().sum();
    assert_eq!(total, 9.0, "{rows:?}");
    // One row per (minute, arrival minute, ticker) of the tumbling pump: 3 in one minute.
    assert!((3..=6).contains(&rows.len()), "{rows:?}");
}
