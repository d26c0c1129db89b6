//! The KDA SQL front end: the lab's SQL verbatim, a table of accepted queries (plan + which fixed
//! records pass the WHERE) and rejected ones (line and column of the offending clause).

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::time::Duration;

use kds_window::sql::{
    bind, discover_wide, eval_filter, parse_sql, AggFunc, Ident, OutputColumn, Schema, SelectItem,
    SqlPlan, SqlType, TimeBasis, WindowSpec,
};

/// The lab's KDA application SQL (docs/LAB.md), byte for byte.
pub const LAB_SQL: &str = r#"CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (count_tno integer, sum_tnum integer);
CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
SELECT STREAM count(*), sum("tnum")
FROM "SOURCE_SQL_STREAM_001"
GROUP BY FLOOR(("SOURCE_SQL_STREAM_001".ROWTIME - TIMESTAMP '1970-01-01 00:00:00') SECOND / 60 TO SECOND);
"#;

const RECORDS: &[&str] = &[
    r#"{"tid":"1","tno":"AwGi20210319131548","tdate":"2021-03-19","uno":"U1001","pno":"P1002","tnum":10,"tuptime":"2021-03-19T13:15:48Z"}"#,
    r#"{"tid":"2","tno":"QxZb20210319131549","tdate":"2021-03-19","uno":"U1002","pno":"P2001","tnum":3,"tuptime":"2021-03-19T13:15:49Z"}"#,
    r#"{"tid":"3","tno":"KkLm20210319131610","tdate":"2021-03-19","uno":"U1001","pno":"P1007","tnum":97,"tuptime":"2021-03-19T13:16:10Z"}"#,
    r#"{"tid":"4","tno":"AbCd20210319131700","tdate":"2021-03-19","uno":null,"pno":"P100%","tnum":50,"tuptime":"2021-03-19T13:17:00Z"}"#,
    r#"{"tid":"5","tno":"EfGh20210319131800","tdate":"2021-03-19","uno":"U2000","pno":"P3000","tuptime":"2021-03-19T13:18:00Z"}"#,
];

fn trade_schema() -> Schema {
    discover_wide(RECORDS)
}

fn value(v: &SelectItem) -> String {
    match v {
        SelectItem::Aggregate { func, column } => {
            let arg = column
                .as_ref()
                .map(Ident::sql)
                .unwrap_or_else(|| "*".into());
            match func {
                AggFunc::CountDistinct => format!("COUNT(DISTINCT {arg})"),
                f => format!("{}({arg})", f.sql_name()),
            }
        }
        SelectItem::Column(c) => c.sql(),
        SelectItem::WindowStart => "WINDOW_START".into(),
        SelectItem::TimeGroup(i) => format!("TIME_GROUP_{i}"),
    }
}

/// A one-line picture of a plan: destination, source, columns, GROUP BY, window.
fn summary(p: &SqlPlan) -> String {
    let cols: Vec<String> = p
        .output_columns
        .iter()
        .map(|c| format!("{}:{}={}", c.name, c.ty, value(&c.value)))
        .collect();
    let groups: Vec<String> = p.group_by.iter().map(Ident::sql).collect();
    let time = match &p.window.time {
        TimeBasis::Rowtime => "ROWTIME".to_string(),
        TimeBasis::Column(c) => c.sql(),
    };
    format!(
        "{} <- {}: {}; group [{}]; window {} {}s",
        p.destination,
        p.source,
        cols.join(", "),
        groups.join(", "),
        time,
        p.window.size.as_secs()
    )
}

/// Indices of RECORDS that pass the plan's WHERE (all of them without one), bound with the schema.
fn passing(p: &SqlPlan, schema: Option<&Schema>) -> Vec<usize> {
    let b = bind(p, schema).unwrap_or_else(|e| panic!("bind failed: {e}"));
    RECORDS
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            let v: serde_json::Value = serde_json::from_str(r).unwrap();
            b.filter.as_ref().is_none_or(|f| eval_filter(f, &v))
        })
        .map(|(i, _)| i)
        .collect()
}

#[test]
fn lab_sql_verbatim_parses_to_the_lab_plan() {
    let plan = parse_sql(LAB_SQL).unwrap();
    let want = SqlPlan {
        destination: "DESTINATION_SQL_STREAM".into(),
        pump: "STREAM_PUMP".into(),
        source: "SOURCE_SQL_STREAM_001".into(),
        output_columns: vec![
            OutputColumn {
                name: "count_tno".into(),
                ty: SqlType::Integer,
                value: SelectItem::Aggregate {
                    func: AggFunc::CountStar,
                    column: None,
                },
            },
            OutputColumn {
                name: "sum_tnum".into(),
                ty: SqlType::Integer,
                value: SelectItem::Aggregate {
                    func: AggFunc::Sum,
                    column: Some(Ident::quoted("tnum")),
                },
            },
        ],
        filter: None,
        group_by: vec![],
        window: WindowSpec {
            time: TimeBasis::Rowtime,
            size: Duration::from_secs(60),
        },
        time_groups: vec![],
        upstream: vec![],
        downstream: vec![],
    };
    assert_eq!(plan, want);
    // It binds against the discovered trade schema too: tnum is an INTEGER at $.tnum.
    let b = bind(&plan, Some(&trade_schema())).unwrap();
    assert_eq!(b.outputs.len(), 2);
    assert_eq!(passing(&plan, None), vec![0, 1, 2, 3, 4]);
}

const D2: &str = "CREATE OR REPLACE STREAM \"DESTINATION_SQL_STREAM\" (a INTEGER, b INTEGER);\n\
CREATE OR REPLACE PUMP \"STREAM_PUMP\" AS INSERT INTO \"DESTINATION_SQL_STREAM\"\n";

const D1: &str = "CREATE OR REPLACE STREAM \"DESTINATION_SQL_STREAM\" (n INTEGER);\n\
CREATE OR REPLACE PUMP \"STREAM_PUMP\" AS INSERT INTO \"DESTINATION_SQL_STREAM\"\n";

const STEP60: &str = "STEP(\"SOURCE_SQL_STREAM_001\".ROWTIME BY INTERVAL '60' SECOND)";

struct Accepted {
    sql: String,
    summary: &'static str,
    /// RECORDS passing the WHERE, evaluated without and with the discovered schema.
    passing: &'static [usize],
}

fn accepted() -> Vec<Accepted> {
    let a = |sql: String, summary: &'static str, passing: &'static [usize]| Accepted {
        sql,
        summary,
        passing,
    };
    let all: &'static [usize] = &[0, 1, 2, 3, 4];
    vec![
        a(LAB_SQL.to_string(),
          "DESTINATION_SQL_STREAM <- SOURCE_SQL_STREAM_001: count_tno:INTEGER=COUNT(*), sum_tnum:INTEGER=SUM(\"tnum\"); group []; window ROWTIME 60s",
          all),
        a("CREATE STREAM dest (c BIGINT);\nCREATE PUMP p AS INSERT INTO dest\nSELECT STREAM ROWTIME, COUNT(*) AS c FROM SOURCE_SQL_STREAM_001\nGROUP BY STEP(SOURCE_SQL_STREAM_001.ROWTIME BY INTERVAL '10' SECOND);".into(),
          "DEST <- SOURCE_SQL_STREAM_001: c:BIGINT=COUNT(*); group []; window ROWTIME 10s",
          all),
        a("CREATE OR REPLACE STREAM \"D\" (\"uno\" VARCHAR(8), n INTEGER, total BIGINT);\nCREATE OR REPLACE PUMP \"P\" AS INSERT INTO \"D\"\nSELECT STREAM s.\"uno\", COUNT(*), SUM(s.\"tnum\") FROM \"SOURCE_SQL_STREAM_001\" AS s\nGROUP BY s.\"uno\", FLOOR(s.ROWTIME TO MINUTE);".into(),
          "D <- SOURCE_SQL_STREAM_001: uno:VARCHAR(8)=\"uno\", n:INTEGER=COUNT(*), total:BIGINT=SUM(\"tnum\"); group [\"uno\"]; window ROWTIME 60s",
          all),
        a(format!("{D1}SELECT STREAM COUNT(*) FROM \"SOURCE_SQL_STREAM_001\"\nGROUP BY FLOOR(\"SOURCE_SQL_STREAM_001\".\"tuptime\" TO HOUR);"),
          "DESTINATION_SQL_STREAM <- SOURCE_SQL_STREAM_001: n:INTEGER=COUNT(*); group []; window \"tuptime\" 3600s",
          all),
        a(format!("{D1}SELECT STREAM COUNT(*) FROM \"SOURCE_SQL_STREAM_001\"\nGROUP BY FLOOR((\"tuptime\" - TIMESTAMP '1970-01-01 00:00:00') MINUTE / 5 TO MINUTE);"),
          "DESTINATION_SQL_STREAM <- SOURCE_SQL_STREAM_001: n:INTEGER=COUNT(*); group []; window \"tuptime\" 300s",
          all),
        a("CREATE STREAM \"D\" (c INTEGER, d INTEGER, lo INTEGER, hi INTEGER, mean DOUBLE);\nCREATE PUMP \"P\" AS INSERT INTO \"D\"\nSELECT STREAM COUNT(\"tnum\"), COUNT(DISTINCT \"uno\"), MIN(\"tnum\"), MAX(\"tnum\"), AVG(\"tnum\")\nFROM SOURCE_SQL_STREAM_001\nGROUP BY STEP(SOURCE_SQL_STREAM_001.ROWTIME BY INTERVAL '1' MINUTE);".into(),
          "D <- SOURCE_SQL_STREAM_001: c:INTEGER=COUNT(\"tnum\"), d:INTEGER=COUNT(DISTINCT \"uno\"), lo:INTEGER=MIN(\"tnum\"), hi:INTEGER=MAX(\"tnum\"), mean:DOUBLE=AVG(\"tnum\"); group []; window ROWTIME 60s",
          all),
        a(format!("{D2}SELECT STREAM COUNT(*), SUM(\"tnum\") FROM \"SOURCE_SQL_STREAM_001\"\nWHERE \"tnum\" > 5 AND \"pno\" LIKE 'P10%'\nGROUP BY {STEP60};"),
          "DESTINATION_SQL_STREAM <- SOURCE_SQL_STREAM_001: a:INTEGER=COUNT(*), b:INTEGER=SUM(\"tnum\"); group []; window ROWTIME 60s",
          &[0, 2, 3]),
        a(format!("{D2}SELECT STREAM COUNT(*), SUM(\"tnum\") FROM \"SOURCE_SQL_STREAM_001\"\nWHERE NOT (\"tnum\" >= 50) OR \"uno\" IS NULL\nGROUP BY {STEP60};"),
          "DESTINATION_SQL_STREAM <- SOURCE_SQL_STREAM_001: a:INTEGER=COUNT(*), b:INTEGER=SUM(\"tnum\"); group []; window ROWTIME 60s",
          &[0, 1, 3]),
        a(format!("{D1}SELECT STREAM COUNT(*) FROM \"SOURCE_SQL_STREAM_001\"\nWHERE \"uno\" IS NOT NULL AND \"tnum\" BETWEEN 3 AND 10\nGROUP BY {STEP60};"),
          "DESTINATION_SQL_STREAM <- SOURCE_SQL_STREAM_001: n:INTEGER=COUNT(*); group []; window ROWTIME 60s",
          &[0, 1]),
        a(format!("{D1}SELECT STREAM COUNT(*) FROM \"SOURCE_SQL_STREAM_001\"\nWHERE \"pno\" IN ('P1002', 'P3000')\nGROUP BY {STEP60};"),
          "DESTINATION_SQL_STREAM <- SOURCE_SQL_STREAM_001: n:INTEGER=COUNT(*); group []; window ROWTIME 60s",
          &[0, 4]),
        a(format!("{D1}SELECT STREAM COUNT(*) FROM \"SOURCE_SQL_STREAM_001\"\nWHERE \"pno\" NOT LIKE 'P100\\%' ESCAPE '\\'\nGROUP BY {STEP60};"),
          "DESTINATION_SQL_STREAM <- SOURCE_SQL_STREAM_001: n:INTEGER=COUNT(*); group []; window ROWTIME 60s",
          &[0, 1, 2, 4]),
        a(format!("{D1}SELECT STREAM COUNT(*) FROM \"SOURCE_SQL_STREAM_001\"\nWHERE \"tnum\" * 2 + 1 > 20\nGROUP BY {STEP60};"),
          "DESTINATION_SQL_STREAM <- SOURCE_SQL_STREAM_001: n:INTEGER=COUNT(*); group []; window ROWTIME 60s",
          &[0, 2, 3]),
        a(format!("{D1}SELECT STREAM COUNT(*) FROM \"SOURCE_SQL_STREAM_001\"\nWHERE \"tuptime\" >= TIMESTAMP '2021-03-19 13:16:00'\nGROUP BY {STEP60};"),
          "DESTINATION_SQL_STREAM <- SOURCE_SQL_STREAM_001: n:INTEGER=COUNT(*); group []; window ROWTIME 60s",
          &[2, 3, 4]),
        a("create or replace stream dest (N integer); -- the output\n/* the pump */ create or replace pump p as insert into DEST\nselect stream count(*) from source_sql_stream_001\ngroup by step(source_sql_stream_001.rowtime by interval '1' minute);".into(),
          "DEST <- SOURCE_SQL_STREAM_001: N:INTEGER=COUNT(*); group []; window ROWTIME 60s",
          all),
        a("CREATE STREAM \"D\" (a INTEGER, b BIGINT);\nCREATE PUMP \"P\" AS INSERT INTO \"D\" (b, a)\nSELECT STREAM SUM(ALL \"tnum\"), COUNT(*) FROM SOURCE_SQL_STREAM_001\nGROUP BY STEP(SOURCE_SQL_STREAM_001.ROWTIME BY INTERVAL '60' SECOND);".into(),
          "D <- SOURCE_SQL_STREAM_001: a:INTEGER=COUNT(*), b:BIGINT=SUM(\"tnum\"); group []; window ROWTIME 60s",
          all),
        a("CREATE STREAM \"D\" (minute_start TIMESTAMP, n INTEGER, \"pno\" VARCHAR(8));\nCREATE PUMP \"P\" AS INSERT INTO \"D\"\nSELECT STREAM FLOOR(s.ROWTIME TO MINUTE) AS minute_start, COUNT(*), \"pno\" FROM SOURCE_SQL_STREAM_001 s\nWHERE \"uno\" = 'U1001' OR \"uno\" <> 'U1001' AND \"tnum\" < 10\nGROUP BY FLOOR(s.ROWTIME TO MINUTE), \"pno\";".into(),
          "D <- SOURCE_SQL_STREAM_001: minute_start:TIMESTAMP=WINDOW_START, n:INTEGER=COUNT(*), pno:VARCHAR(8)=\"pno\"; group [\"pno\"]; window ROWTIME 60s",
          &[0, 1, 2]),
        a(format!("{D1}SELECT STREAM COUNT(*) FROM \"SOURCE_SQL_STREAM_001\"\nWHERE UPPER(\"uno\") = 'U1001' AND CHAR_LENGTH(\"tno\") = 18\nGROUP BY {STEP60};"),
          "DESTINATION_SQL_STREAM <- SOURCE_SQL_STREAM_001: n:INTEGER=COUNT(*); group []; window ROWTIME 60s",
          &[0, 2]),
        a(format!("{D1}SELECT STREAM COUNT(*) FROM \"SOURCE_SQL_STREAM_001\"\nWHERE SUBSTRING(\"tno\" FROM 1 FOR 4) = 'AwGi' OR POSITION('Zb' IN \"tno\") = 3\nGROUP BY {STEP60};"),
          "DESTINATION_SQL_STREAM <- SOURCE_SQL_STREAM_001: n:INTEGER=COUNT(*); group []; window ROWTIME 60s",
          &[0, 1]),
        a(format!("{D1}SELECT STREAM COUNT(*) FROM \"SOURCE_SQL_STREAM_001\"\nWHERE LOWER(TRIM(\"pno\")) LIKE 'p10%' AND ABS(\"tnum\" - 60) < 20\nGROUP BY {STEP60};"),
          "DESTINATION_SQL_STREAM <- SOURCE_SQL_STREAM_001: n:INTEGER=COUNT(*); group []; window ROWTIME 60s",
          &[3]),
        // KDA SQL Reference: REGEX_REPLACE, CAST, CHAR_TO_TIMESTAMP, TIMESTAMP_TO_CHAR, UNIX_TIMESTAMP.
        a(format!("{D1}SELECT STREAM COUNT(*) FROM \"SOURCE_SQL_STREAM_001\"\nWHERE REGEX_REPLACE(\"uno\", '^U(1)0*', 'X$1-', 1, 0) = 'X1-1'\n  OR CAST(SUBSTRING(\"pno\", 2, 4) AS INTEGER) = 3000\nGROUP BY {STEP60};"),
          "DESTINATION_SQL_STREAM <- SOURCE_SQL_STREAM_001: n:INTEGER=COUNT(*); group []; window ROWTIME 60s",
          &[0, 2, 4]),
        a(format!("{D1}SELECT STREAM COUNT(*) FROM \"SOURCE_SQL_STREAM_001\"\nWHERE TIMESTAMP_TO_CHAR('HH:mm', \"tuptime\") = '13:16'\n  OR UNIX_TIMESTAMP(CHAR_TO_TIMESTAMP('yyyy-MM-dd', \"tdate\")) + 1 = 1616112000001 AND \"tnum\" > 90\nGROUP BY {STEP60};"),
          "DESTINATION_SQL_STREAM <- SOURCE_SQL_STREAM_001: n:INTEGER=COUNT(*); group []; window ROWTIME 60s",
          &[2]),
    ]
}

#[test]
fn accepted_queries_give_their_plans_and_filters() {
    let schema = trade_schema();
    let cases = accepted();
    assert!(cases.len() >= 15);
    for (i, c) in cases.iter().enumerate() {
        let plan = parse_sql(&c.sql).unwrap_or_else(|e| panic!("case {i}: {e}\n{}", c.sql));
        assert_eq!(summary(&plan), c.summary, "case {i}");
        assert_eq!(passing(&plan, None), c.passing, "case {i} (no schema)");
        assert_eq!(
            passing(&plan, Some(&schema)),
            c.passing,
            "case {i} (discovered schema)"
        );
    }
}

struct Rejected {
    sql: String,
    /// The offending token: its line, and a snippet that starts at it on that line
    /// (the column is where the snippet first occurs).
    line: u32,
    at: &'static str,
    message: &'static str,
    /// Checked against the discovered trade schema (type errors) rather than parsing alone.
    schema: bool,
}

fn rejected() -> Vec<Rejected> {
    let r = |sql: String, line: u32, at: &'static str, message: &'static str| Rejected {
        sql,
        line,
        at,
        message,
        schema: false,
    };
    let s = |sql: String, line: u32, at: &'static str, message: &'static str| Rejected {
        sql,
        line,
        at,
        message,
        schema: true,
    };
    vec![
        r(format!("{D1}SELECT STREAM COUNT(*) FROM SOURCE_SQL_STREAM_001 s\nJOIN other o ON s.x = o.x\nGROUP BY STEP(s.ROWTIME BY INTERVAL '60' SECOND);"),
          4, "JOIN", "unsupported clause JOIN in a pump that aggregates"),
        r(format!("{D1}SELECT STREAM COUNT(*) FROM SOURCE_SQL_STREAM_001 s, other o\nGROUP BY STEP(s.ROWTIME BY INTERVAL '60' SECOND);"),
          3, ", other", "unsupported clause JOIN"),
        r(format!("{D1}SELECT STREAM COUNT(*) FROM SOURCE_SQL_STREAM_001\nGROUP BY {STEP60}\nHAVING COUNT(*) > 1;"),
          5, "HAVING", "unsupported clause HAVING"),
        r(format!("{D1}SELECT STREAM COUNT(*) FROM SOURCE_SQL_STREAM_001\nGROUP BY {STEP60}\nORDER BY 1;"),
          5, "ORDER", "unsupported clause ORDER BY"),
        r(format!("{D1}SELECT STREAM COUNT(*) FROM SOURCE_SQL_STREAM_001;"),
          3, ";", "query without GROUP BY"),
        r(format!("{D1}SELECT STREAM COUNT(*) FROM SOURCE_SQL_STREAM_001\nGROUP BY \"uno\";"),
          3, "SELECT", "no window expression"),
        r(format!("{D2}SELECT STREAM \"pno\", COUNT(*) FROM SOURCE_SQL_STREAM_001\nGROUP BY \"uno\", {STEP60};"),
          3, "\"pno\"", "must be in GROUP BY"),
        r(format!("{D1}SELECT STREAM SUM(DISTINCT \"tnum\") FROM SOURCE_SQL_STREAM_001\nGROUP BY {STEP60};"),
          3, "DISTINCT", "unsupported SUM(DISTINCT ...)"),
        r(format!("{D1}SELECT COUNT(*) FROM SOURCE_SQL_STREAM_001\nGROUP BY {STEP60};"),
          3, "COUNT", "expected STREAM after SELECT"),
        r(format!("{D1}SELECT STREAM UPPER(\"uno\") FROM SOURCE_SQL_STREAM_001\nGROUP BY {STEP60};"),
          3, "UPPER", "unsupported expression in the select list of a GROUP BY pump"),
        r(format!("{D2}SELECT STREAM COUNT(*) FROM SOURCE_SQL_STREAM_001\nGROUP BY {STEP60};"),
          3, "SELECT", "gives 1 values (ROWTIME aside) but \"DESTINATION_SQL_STREAM\" has 2 columns"),
        r("CREATE STREAM \"D\" (n INTEGER);\nCREATE PUMP \"P\" AS INSERT INTO \"OTHER\"\nSELECT STREAM COUNT(*) FROM SOURCE_SQL_STREAM_001\nGROUP BY STEP(SOURCE_SQL_STREAM_001.ROWTIME BY INTERVAL '60' SECOND);".into(),
          2, "\"OTHER\"", "inserts into \"OTHER\" but the declared stream is \"D\""),
        r(format!("{D1}SELECT STREAM COUNT(*) OVER w FROM SOURCE_SQL_STREAM_001\nGROUP BY {STEP60};"),
          3, "OVER", "unsupported clause OVER"),
        r(format!("{D1}SELECT STREAM COUNT(*) FROM SOURCE_SQL_STREAM_001 s\nGROUP BY FLOOR(s.ROWTIME TO WEEK);"),
          4, "WEEK", "unsupported FLOOR unit WEEK"),
        r(format!("{D1}SELECT STREAM COUNT(*) FROM SOURCE_SQL_STREAM_001 s\nGROUP BY FLOOR((s.ROWTIME - TIMESTAMP '2021-01-01 00:00:00') SECOND / 60 TO SECOND);"),
          4, "'2021", "unsupported window origin"),
        r(format!("{D1}SELECT STREAM COUNT(*) FROM SOURCE_SQL_STREAM_001 s\nGROUP BY FLOOR(s.ROWTIME TO MINUTE), STEP(s.ROWTIME BY INTERVAL '10' SECOND);"),
          4, "STEP", "a second window over ROWTIME in GROUP BY"),
        r(format!("{D1}SELECT STREAM COUNT(*) FROM SOURCE_SQL_STREAM_001\nWHERE \"pno\" = 'P1;"),
          4, "'P1", "unterminated string literal"),
        r(format!("{D1}SELECT STREAM COUNT(*) FROM SOURCE_SQL_STREAM_001\nWHERE SUM(\"tnum\") > 1\nGROUP BY {STEP60};"),
          4, "SUM", "unsupported aggregate SUM in WHERE"),
        r(format!("{D1}SELECT STREAM SUM(x.\"tnum\") FROM SOURCE_SQL_STREAM_001 s\nGROUP BY STEP(s.ROWTIME BY INTERVAL '60' SECOND);"),
          3, "x.", "unknown stream x"),
        r("SELECT STREAM COUNT(*) FROM SOURCE_SQL_STREAM_001\nGROUP BY STEP(SOURCE_SQL_STREAM_001.ROWTIME BY INTERVAL '60' SECOND);".into(),
          1, "SELECT", "a SELECT must feed a stream"),
        r("CREATE TABLE t (n INTEGER);".into(), 1, "TABLE", "unsupported statement CREATE TABLE"),
        r("CREATE STREAM \"D\" (n VARCHAR(8));\nCREATE PUMP \"P\" AS INSERT INTO \"D\"\nSELECT STREAM COUNT(*) FROM SOURCE_SQL_STREAM_001\nGROUP BY STEP(SOURCE_SQL_STREAM_001.ROWTIME BY INTERVAL '60' SECOND);".into(),
          3, "COUNT", "cannot go into column n of type VARCHAR(8)"),
        r(format!("{D1}SELECT STREAM * FROM SOURCE_SQL_STREAM_001\nGROUP BY {STEP60};"),
          3, "*", "unsupported SELECT STREAM *"),
        r("CREATE OR REPLACE STREAM \"D\" (n INTEGER);\n".into(), 2, "", "no CREATE PUMP"),
        s(format!("{D1}SELECT STREAM COUNT(*) FROM SOURCE_SQL_STREAM_001\nWHERE REGEX_REPLACE(\"uno\", 'U(', 'u', 1, 0) = 'u1001'\nGROUP BY {STEP60};"),
          4, "REGEX_REPLACE", "bad regular expression 'U('"),
        s(format!("{D1}SELECT STREAM COUNT(*) FROM SOURCE_SQL_STREAM_001\nWHERE CHAR_TO_TIMESTAMP('yyyy-ww', \"tdate\") IS NULL\nGROUP BY {STEP60};"),
          4, "CHAR_TO_TIMESTAMP", "pattern letter 'w' is not supported"),
        r(format!("{D1}SELECT STREAM COUNT(*) FROM SOURCE_SQL_STREAM_001\nWHERE REGEX_REPLACE(\"uno\", 'U', 'u') = 'u1001'\nGROUP BY {STEP60};"),
          4, ")", "REGEX_REPLACE takes 5 arguments, not 3"),
        r(format!("{D1}SELECT STREAM COUNT(*) FROM SOURCE_SQL_STREAM_001\nWHERE SYS_LOG_PARSE(\"uno\") IS NULL\nGROUP BY {STEP60};"),
          4, "SYS_LOG_PARSE", "unsupported function SYS_LOG_PARSE in WHERE"),
        s(format!("{D1}SELECT STREAM SUM(\"tno\") FROM SOURCE_SQL_STREAM_001\nGROUP BY {STEP60};"),
          3, "\"tno\"", "SUM needs a numeric column: \"tno\" is VARCHAR(32)"),
        s(format!("{D1}SELECT STREAM SUM(\"TNUM\") FROM SOURCE_SQL_STREAM_001\nGROUP BY {STEP60};"),
          3, "\"TNUM\"", "no column \"TNUM\" in the schema (did you mean \"tnum\"?)"),
        s(format!("{D1}SELECT STREAM COUNT(*) FROM SOURCE_SQL_STREAM_001\nGROUP BY STEP(\"tdate\" BY INTERVAL '1' DAY);"),
          4, "\"tdate\"", "needs a TIMESTAMP column or ROWTIME: \"tdate\" is VARCHAR(16)"),
        s(format!("{D1}SELECT STREAM COUNT(*) FROM SOURCE_SQL_STREAM_001\nGROUP BY {STEP60}, STEP(\"tdate\" BY INTERVAL '1' DAY);"),
          4, "\"tdate\"", "needs a TIMESTAMP column or ROWTIME: \"tdate\" is VARCHAR(16)"),
        r(format!("{D2}SELECT STREAM STEP(\"tuptime\" BY INTERVAL '1' MINUTE), COUNT(*) FROM SOURCE_SQL_STREAM_001\nGROUP BY {STEP60}, STEP(\"tuptime\" BY INTERVAL '1' HOUR);"),
          3, "STEP(\"tuptime", "this window expression is not in GROUP BY"),
        r(format!("{D1}SELECT STREAM COUNT(*) FROM SOURCE_SQL_STREAM_001\nGROUP BY {STEP60}, FLOOR(\"tuptime\" TO HOUR), FLOOR(\"tuptime\" TO HOUR);"),
          4, "FLOOR(\"tuptime\" TO HOUR);", "this time expression is twice in GROUP BY"),
        s(format!("{D1}SELECT STREAM COUNT(*) FROM SOURCE_SQL_STREAM_001\nWHERE UPPER(\"tnum\") = 'X'\nGROUP BY {STEP60};"),
          4, "UPPER", "UPPER needs a string"),
        r(format!("{D1}SELECT STREAM COUNT(*) FROM SOURCE_SQL_STREAM_001\nWHERE TRIM(LEADING \"uno\") = 'X'\nGROUP BY {STEP60};"),
          4, "LEADING", "unsupported TRIM(LEADING ...)"),
        s(format!("{D1}SELECT STREAM COUNT(*) FROM SOURCE_SQL_STREAM_001\nWHERE \"tnum\" = 'ten'\nGROUP BY {STEP60};"),
          4, "\"tnum\"", "cannot compare a number with a string"),
        s(format!("{D1}SELECT STREAM COUNT(*) FROM SOURCE_SQL_STREAM_001\nWHERE \"tnum\" LIKE '1%'\nGROUP BY {STEP60};"),
          4, "\"tnum\"", "LIKE needs a string, not a number"),
        // A per-row pump's INSERT column list names each declared column once, as a grouped one's.
        r("CREATE STREAM \"D\" (a VARCHAR(8), b VARCHAR(8));\nCREATE PUMP \"P\" AS INSERT INTO \"D\" (a, a)\nSELECT STREAM \"uno\", \"pno\" FROM SOURCE_SQL_STREAM_001;".into(),
          2, "a)", "a is listed twice"),
    ]
}

#[test]
fn rejected_queries_point_at_the_offending_clause() {
    let schema = trade_schema();
    let cases = rejected();
    assert!(cases.len() >= 25);
    for (i, c) in cases.iter().enumerate() {
        let err = match parse_sql(&c.sql) {
            Err(e) => {
                assert!(
                    !c.schema,
                    "case {i}: expected to parse, then fail the type check: {e}"
                );
                e
            }
            Ok(plan) => {
                assert!(
                    c.schema,
                    "case {i}: accepted but should be rejected:\n{}",
                    c.sql
                );
                bind(&plan, Some(&schema))
                    .expect_err(&format!("case {i}: type check passed:\n{}", c.sql))
            }
        };
        let line_text = c.sql.split('\n').nth(c.line as usize - 1).unwrap_or("");
        let col = if c.at.is_empty() {
            1
        } else {
            let byte = line_text
                .find(c.at)
                .unwrap_or_else(|| panic!("case {i}: {:?} not on line {}", c.at, c.line));
            line_text[..byte].chars().count() as u32 + 1
        };
        assert_eq!(
            (err.line, err.column),
            (c.line, col),
            "case {i}: {err}\n{}",
            c.sql
        );
        assert!(err.message.contains(c.message), "case {i}: {err}");
        let shown = err.to_string();
        assert!(
            shown.starts_with(&format!("line {}, column {}: ", c.line, col)),
            "{shown}"
        );
    }
}

#[test]
fn unsupported_errors_say_what_is_supported() {
    let err = parse_sql(&format!(
        "{D1}SELECT STREAM COUNT(*) FROM SOURCE_SQL_STREAM_001 s\nJOIN other o ON s.x = o.x\nGROUP BY {STEP60};"
    ))
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("line 4, column 1: unsupported clause JOIN in a pump that aggregates"),
        "{text}"
    );
    assert!(
        text.contains("STEP(S.ROWTIME BY INTERVAL '60' SECOND)"),
        "{text}"
    );
    assert!(text.contains("WINDOWED BY STAGGER"), "{text}");
}
