//! KDA's "Example: Tumbling Window Using ROWTIME" verbatim (`tests/golden/tumbling_rowtime.kda.sql`)
//! on the guide's four sample records plus generated ones, each read at a ROWTIME the test sets
//! (the engine's clock), so the per-minute `MIN`/`MAX` per ticker can be checked.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use common::SharedBuf;
use kds_common::io::Output;
use kds_window::engine::{Config, Engine, Options};
use kds_window::sql::cli::to_query;
use kds_window::sql::{bind, parse_sql};
use serde_json::{json, Value};

const TUMBLING_ROWTIME_SQL: &str = include_str!("golden/tumbling_rowtime.kda.sql");

/// 2018-05-09T10:00:00Z in epoch milliseconds.
const T0: i64 = 1_525_860_000_000;

#[test]
fn tumbling_rowtime_example_gives_min_and_max_per_ticker_and_minute() {
    // The guide's records (read in the first minute), then generated ones.
    let lines: Vec<(&str, i64)> = vec![
        (r#"{"TICKER": "TBV", "PRICE": 33.11}"#, T0 + 1_000),
        (r#"{"TICKER": "INTC", "PRICE": 62.04}"#, T0 + 2_000),
        (r#"{"TICKER": "MSFT", "PRICE": 40.97}"#, T0 + 3_000),
        (r#"{"TICKER": "AMZN", "PRICE": 27.9}"#, T0 + 4_000),
        (r#"{"TICKER": "TBV", "PRICE": 35.5}"#, T0 + 59_999),
        (r#"{"TICKER": "TBV", "PRICE": 30.25}"#, T0 + 60_000),
        (r#"{"TICKER": "AMZN", "PRICE": 28.4}"#, T0 + 61_000),
        (r#"{"TICKER": "AMZN", "PRICE": 26.0}"#, T0 + 119_000),
    ];
    let plan = parse_sql(TUMBLING_ROWTIME_SQL).unwrap();
    let cfg = Config {
        query: to_query(&bind(&plan, None).unwrap()).unwrap(),
        options: Options::default(),
    };
    let buf = SharedBuf::default();
    let mut e = Engine::new(&cfg, Output::new(buf.clone()), Box::new(std::io::sink())).unwrap();
    e.start_clock(lines[0].1);
    for (i, (l, t)) in lines.iter().enumerate() {
        e.observe_clock(*t).unwrap();
        e.push_line(l.as_bytes(), i as u64 + 1, *t).unwrap();
    }
    e.finish(false).unwrap();
    e.flush().unwrap();
    let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    let mut got: Vec<Value> = out
        .lines()
        .map(|l| {
            let r: Value = serde_json::from_str(l).unwrap();
            json!([
                r["window_start"],
                r["TICKER"],
                r["MIN_PRICE"],
                r["MAX_PRICE"]
            ])
        })
        .collect();
    got.sort_by_key(|v| v.to_string());
    let m0 = "2018-05-09T10:00:00.000Z";
    let m1 = "2018-05-09T10:01:00.000Z";
    assert_eq!(
        got,
        vec![
            json!([m0, "AMZN", 27.9, 27.9]),
            json!([m0, "INTC", 62.04, 62.04]),
            json!([m0, "MSFT", 40.97, 40.97]),
            json!([m0, "TBV", 33.11, 35.5]),
            json!([m1, "AMZN", 26.0, 28.4]),
            json!([m1, "TBV", 30.25, 30.25]),
        ]
    );
}
