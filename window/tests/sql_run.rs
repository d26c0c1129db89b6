//! Running SQL plans through the window engine: the lab's SQL verbatim gives the flag-driven
//! default's rows, row for row; accepted queries give the expected rows on fixed input.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use std::collections::BTreeMap;
use std::io::Read;

use common::SharedBuf;
use kds_common::io::Output;
use kds_common::signal::Shutdown;
use kds_window::driver::{run_filtered, ManualClock, Progress};
use kds_window::engine::{Config, Engine, Options};
use kds_window::sql::cli::{to_query, WhereFilter};
use kds_window::sql::{bind, discover_wide, parse_sql, ErrorStream};
use kds_window::Query;
use serde_json::Value;

const LAB_SQL: &str = r#"CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (count_tno integer, sum_tnum integer);
CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
SELECT STREAM count(*), sum("tnum")
FROM "SOURCE_SQL_STREAM_001"
GROUP BY FLOOR(("SOURCE_SQL_STREAM_001".ROWTIME - TIMESTAMP '1970-01-01 00:00:00') SECOND / 60 TO SECOND);
"#;

/// Trade events as kds-gen writes them, `tuptime` rising 0–2 s per event from 13:15:00, some
/// without `tnum`. Returns (line, event time ms).
fn generated(n: usize) -> Vec<(String, i64)> {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        seed >> 33
    };
    let start = 1_616_159_700_000i64; // 2021-03-19T13:15:00Z
    let mut t = start;
    (0..n)
        .map(|i| {
            t += (next() % 2000) as i64;
            let tnum = next() % 100 + 1;
            let ts = kds_common::time::rfc3339_ms(t);
            let line = if i % 37 == 5 {
                format!(r#"{{"tid":"{i}","tno":"AwGi20210319131500","tdate":"2021-03-19","uno":"U10{:02}","pno":"P10{:02}","tuptime":"{ts}"}}"#, next() % 50, next() % 20)
            } else {
                format!(r#"{{"tid":"{i}","tno":"AwGi20210319131500","tdate":"2021-03-19","uno":"U10{:02}","pno":"P10{:02}","tnum":{tnum},"tuptime":"{ts}"}}"#, next() % 50, next() % 20)
            };
            (line, t)
        })
        .collect()
}

/// Feeds each line to an engine as if it were read at its event time (rowtime = tuptime).
fn run_at_event_times(query: Query, lines: &[(String, i64)]) -> Vec<Value> {
    let buf = SharedBuf::default();
    let cfg = Config {
        query,
        options: Options::default(),
    };
    let mut e = Engine::new(&cfg, Output::new(buf.clone()), Box::new(std::io::sink())).unwrap();
    e.start_clock(lines[0].1);
    for (i, (l, t)) in lines.iter().enumerate() {
        e.observe_clock(*t).unwrap();
        e.push_line(l.as_bytes(), i as u64 + 1, *t).unwrap();
    }
    e.finish(false).unwrap();
    e.flush().unwrap();
    let out = buf.0.lock().unwrap().clone();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn lab_sql_verbatim_equals_the_default_run_row_for_row() {
    let lines = generated(3000);
    let sql_query = to_query(&bind(&parse_sql(LAB_SQL).unwrap(), None).unwrap()).unwrap();
    let sql_rows = run_at_event_times(sql_query, &lines);
    let default_rows = run_at_event_times(Query::lab(), &lines);
    assert_eq!(sql_rows, default_rows);

    // And both are right: count and sum of tnum per minute, computed here.
    let mut want: BTreeMap<i64, (u64, u64)> = BTreeMap::new();
    for (l, t) in &lines {
        let v: Value = serde_json::from_str(l).unwrap();
        let e = want.entry(t.div_euclid(60_000) * 60_000).or_default();
        e.0 += 1;
        e.1 += v.get("tnum").and_then(Value::as_u64).unwrap_or(0);
    }
    assert!(want.len() >= 10, "the input spans several minutes");
    let got: BTreeMap<i64, (u64, u64)> = sql_rows
        .iter()
        .map(|r| {
            let start =
                kds_common::time::parse_timestamp(r["window_start"].as_str().unwrap().as_bytes())
                    .unwrap();
            assert_eq!(r["ROWTIME"], r["window_end"]);
            (
                start,
                (
                    r["count_tno"].as_u64().unwrap(),
                    r["sum_tnum"].as_u64().unwrap(),
                ),
            )
        })
        .collect();
    assert_eq!(got, want);
    let keys: Vec<&str> = sql_rows[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for k in [
        "window_start",
        "window_end",
        "ROWTIME",
        "count_tno",
        "sum_tnum",
    ] {
        assert!(keys.contains(&k), "{k} in {keys:?}");
    }
}

const FIXED: &str = r#"{"uno":"U1","pno":"P1","tnum":10,"tuptime":"2021-03-19T13:15:01Z"}
{"uno":"U2","pno":"P1","tnum":3,"tuptime":"2021-03-19T13:15:20Z"}
{"uno":"U1","pno":"P2","tnum":7,"tuptime":"2021-03-19T13:15:59Z"}
not json
{"uno":"U3","pno":"P2","tuptime":"2021-03-19T13:16:05Z"}
{"uno":"U1","pno":"P1","tnum":50,"tuptime":"2021-03-19T13:16:30Z"}
{"uno":"U2","pno":"P2","tnum":1,"tuptime":"2021-03-19T13:17:10Z"}
"#;

/// Runs `sql` (event time, so the clock does not matter) over FIXED, the WHERE in front.
fn run_fixed(sql: &str) -> Vec<String> {
    let plan = parse_sql(sql).unwrap();
    let b = bind(&plan, Some(&discover_wide(FIXED.lines()))).unwrap();
    let cfg = Config {
        query: to_query(&b).unwrap(),
        options: Options::default(),
    };
    let buf = SharedBuf::default();
    let stats = run_filtered(
        &cfg,
        common::input_of(FIXED.as_bytes()),
        &mut b.filter.map(|f| {
            WhereFilter::new(
                f,
                ErrorStream::new(None, Box::new(std::io::sink()), &plan.pump),
            )
        }),
        &ManualClock::new(0),
        Output::new(buf.clone()),
        Box::new(std::io::sink()),
        &Shutdown::install().unwrap(),
        &Progress::default(),
    )
    .unwrap();
    assert_eq!(
        stats.bad, 1,
        "the one non-JSON line is bad, filtered or not"
    );
    let mut s = String::new();
    std::io::Cursor::new(buf.0.lock().unwrap().clone())
        .read_to_string(&mut s)
        .unwrap();
    s.lines().map(str::to_string).collect()
}

#[test]
fn accepted_queries_give_expected_rows_on_fixed_input() {
    let cases: &[(&str, &[&str])] = &[
        (
            "CREATE STREAM \"D\" (n INTEGER, total INTEGER);\nCREATE PUMP \"P\" AS INSERT INTO \"D\"\nSELECT STREAM COUNT(*), SUM(\"tnum\") FROM SOURCE_SQL_STREAM_001\nGROUP BY STEP(\"tuptime\" BY INTERVAL '1' MINUTE);",
            &[
                r#"{"window_start":"2021-03-19T13:15:00.000Z","window_end":"2021-03-19T13:16:00.000Z","ROWTIME":"2021-03-19T13:16:00.000Z","n":3,"total":20}"#,
                r#"{"window_start":"2021-03-19T13:16:00.000Z","window_end":"2021-03-19T13:17:00.000Z","ROWTIME":"2021-03-19T13:17:00.000Z","n":2,"total":50}"#,
                r#"{"window_start":"2021-03-19T13:17:00.000Z","window_end":"2021-03-19T13:18:00.000Z","ROWTIME":"2021-03-19T13:18:00.000Z","n":1,"total":1}"#,
            ],
        ),
        (
            "CREATE STREAM \"D\" (\"pno\" VARCHAR(2), n INTEGER, top INTEGER);\nCREATE PUMP \"P\" AS INSERT INTO \"D\"\nSELECT STREAM \"pno\", COUNT(\"tnum\"), MAX(\"tnum\") FROM SOURCE_SQL_STREAM_001\nWHERE \"uno\" <> 'U2'\nGROUP BY \"pno\", FLOOR((\"tuptime\" - TIMESTAMP '1970-01-01 00:00:00') MINUTE / 2 TO MINUTE);",
            &[
                r#"{"window_start":"2021-03-19T13:14:00.000Z","window_end":"2021-03-19T13:16:00.000Z","ROWTIME":"2021-03-19T13:16:00.000Z","pno":"P1","n":1,"top":10}"#,
                r#"{"window_start":"2021-03-19T13:14:00.000Z","window_end":"2021-03-19T13:16:00.000Z","ROWTIME":"2021-03-19T13:16:00.000Z","pno":"P2","n":1,"top":7}"#,
                r#"{"window_start":"2021-03-19T13:16:00.000Z","window_end":"2021-03-19T13:18:00.000Z","ROWTIME":"2021-03-19T13:18:00.000Z","pno":"P2","n":0,"top":null}"#,
                r#"{"window_start":"2021-03-19T13:16:00.000Z","window_end":"2021-03-19T13:18:00.000Z","ROWTIME":"2021-03-19T13:18:00.000Z","pno":"P1","n":1,"top":50}"#,
            ],
        ),
        (
            "CREATE STREAM \"D\" (buyers BIGINT, mean DOUBLE);\nCREATE PUMP \"P\" AS INSERT INTO \"D\"\nSELECT STREAM COUNT(DISTINCT uno), AVG(tnum) FROM SOURCE_SQL_STREAM_001\nWHERE tnum IS NOT NULL AND pno LIKE 'P%'\nGROUP BY FLOOR(tuptime TO HOUR);",
            &[
                r#"{"window_start":"2021-03-19T13:00:00.000Z","window_end":"2021-03-19T14:00:00.000Z","ROWTIME":"2021-03-19T14:00:00.000Z","buyers":2,"mean":14.2}"#,
            ],
        ),
    ];
    for (i, (sql, want)) in cases.iter().enumerate() {
        let got = run_fixed(sql);
        let parse = |v: &[String]| -> Vec<Value> {
            v.iter().map(|l| serde_json::from_str(l).unwrap()).collect()
        };
        let mut got_v = parse(&got);
        let mut want_v = parse(&want.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        // Rows of one window may come in any group order.
        let key = |v: &Value| v.to_string();
        got_v.sort_by_key(key);
        want_v.sort_by_key(key);
        assert_eq!(got_v, want_v, "case {i}:\n{}", got.join("\n"));
    }
}
