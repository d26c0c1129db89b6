//! `--explain-flink` for pumps without GROUP BY: a `SELECT` per record, sliding-window
//! aggregates as Flink `OVER` windows ordered by the processing-time column that stands in for
//! ROWTIME. Chained pumps and stagger windows are refused with the reason.

use std::fmt::Write as _;

use super::bind::{bind_expr, resolve_column, BoundColumn};
use super::eval::BoundExpr;
use super::flink::{col_ref, expr, q, sink_type, source_table, FlinkOptions};
use super::flink_connector::sink_table;
use super::{
    AggFunc, Application, Frame, Literal, RowPlan, ScalarFunc, Schema, SqlError, SqlType, TimeField,
};

/// `--explain-flink` for any application.
pub fn explain_app(
    app: &Application,
    schema: &Schema,
    opts: &FlinkOptions,
) -> Result<String, SqlError> {
    match app {
        Application::Windowed(plan) => super::flink::explain_flink(plan, schema, opts),
        Application::PerRow(plan) => explain_flink_rows(plan, schema, opts),
    }
}

fn refuse(why: &str) -> SqlError {
    SqlError::new(
        super::Pos::default(),
        format!(
            "--explain-flink does not translate {why} (the application itself runs with --sql)"
        ),
    )
}

pub(super) fn field_name(f: TimeField) -> &'static str {
    match f {
        TimeField::Year => "YEAR",
        TimeField::Month => "MONTH",
        TimeField::Day => "DAY",
        TimeField::Hour => "HOUR",
        TimeField::Minute => "MINUTE",
        TimeField::Second => "SECOND",
    }
}

/// Why Flink cannot compute `e` as KDA did, if it cannot.
fn untranslatable(e: &BoundExpr) -> Option<&'static str> {
    let children: Vec<&BoundExpr> = match e {
        BoundExpr::Call {
            func: ScalarFunc::RegexReplace,
            args,
        } if !matches!(
            (args.get(3), args.get(4)),
            (
                Some(BoundExpr::Literal(Literal::Int(1))),
                Some(BoundExpr::Literal(Literal::Int(0)))
            )
        ) =>
        {
            return Some("REGEX_REPLACE with a start other than 1 or one occurrence (Flink's REGEXP_REPLACE replaces every match)")
        }
        BoundExpr::Call {
            func: ScalarFunc::UnixTimestamp,
            ..
        } => return Some("UNIX_TIMESTAMP (KDA's counts milliseconds, Flink's seconds)"),
        BoundExpr::Call {
            func:
                ScalarFunc::RegexLogParse
                | ScalarFunc::W3cLogParse
                | ScalarFunc::VariableColumnLogParse,
            ..
        } => return Some("the log parsers (Flink has none: REGEXP_EXTRACT(s, regex, n) gives one group, SPLIT_INDEX(s, delimiter, n) one field)"),
        BoundExpr::Call { args, .. } => args.iter().collect(),
        BoundExpr::Unary { expr, .. }
        | BoundExpr::IsNull { expr, .. }
        | BoundExpr::Like { expr, .. }
        | BoundExpr::InList { expr, .. } => vec![expr],
        BoundExpr::Binary { left, right, .. } => vec![left, right],
        BoundExpr::Between {
            expr, low, high, ..
        } => vec![expr, low, high],
        BoundExpr::Column(_) | BoundExpr::Literal(_) => Vec::new(),
    };
    children.into_iter().find_map(untranslatable)
}

/// The OVER clause of a sliding window.
fn over(partition: &[BoundColumn], frame: Frame) -> String {
    let mut s = String::from("OVER (");
    if !partition.is_empty() {
        let cols: Vec<String> = partition.iter().map(col_ref).collect();
        let _ = write!(s, "PARTITION BY {} ", cols.join(", "));
    }
    s.push_str("ORDER BY `proctime` ");
    match frame {
        Frame::Range(d) => {
            let secs = d.as_secs().to_string();
            let _ = write!(
                s,
                "RANGE BETWEEN INTERVAL '{secs}' SECOND({}) PRECEDING AND CURRENT ROW)",
                secs.len().max(2)
            );
        }
        Frame::Rows(n) => {
            let _ = write!(s, "ROWS BETWEEN {n} PRECEDING AND CURRENT ROW)");
        }
    }
    s
}

/// The select-list values, in declaration order, as Flink expressions cast to the sink's types.
fn values(plan: &RowPlan, schema: &Schema) -> Result<Vec<String>, SqlError> {
    let envelope = std::cell::Cell::new(false);
    let col = |id: &super::Ident| resolve_column(id, Some(schema), &envelope);
    let mut out = Vec::new();
    let mut windows: Vec<String> = Vec::new();
    for (i, (_, ty, e)) in plan.columns.iter().enumerate() {
        let value = if let Some((_, agg)) = plan.sliding.iter().find(|(c, _)| *c == i) {
            let arg = match &agg.arg {
                Some(a) => Some(bind_expr(a, &col)?.0),
                None => None,
            };
            if let Some(why) = arg.as_ref().and_then(untranslatable) {
                return Err(refuse(why));
            }
            let partition = agg
                .spec
                .partition_by
                .iter()
                .map(&col)
                .collect::<Result<Vec<_>, _>>()?;
            let window = over(&partition, agg.spec.frame);
            if !windows.contains(&window) {
                windows.push(window.clone());
            }
            let arg = match (agg.func, arg) {
                (AggFunc::CountStar, _) | (_, None) => "*".to_string(),
                (AggFunc::CountDistinct, Some(a)) => format!("DISTINCT {}", expr(&a)),
                (_, Some(a)) => expr(&a),
            };
            format!("{}({arg}) {window}", agg.func.sql_name())
        } else {
            let b = bind_expr(e, &col)?.0;
            if let Some(why) = untranslatable(&b) {
                return Err(refuse(why));
            }
            expr(&b)
        };
        out.push(format!("CAST({value} AS {})", sink_type(*ty)));
    }
    if envelope.get() {
        return Err(refuse("APPROXIMATE_ARRIVAL_TIME"));
    }
    if windows.len() > 1 {
        return Err(refuse(
            "OVER aggregates on different windows in one SELECT (Flink computes all of them on one window)",
        ));
    }
    Ok(out)
}

/// The Flink SQL for a pump without GROUP BY.
pub fn explain_flink_rows(
    plan: &RowPlan,
    schema: &Schema,
    opts: &FlinkOptions,
) -> Result<String, SqlError> {
    if !plan.upstream.is_empty() {
        return Err(refuse("chained pumps yet"));
    }
    if plan.stagger.is_some() {
        return Err(refuse(
            "stagger windows (Flink has no window that opens per key)",
        ));
    }
    if plan.join.is_some() {
        return Err(refuse(
            "JOIN with a reference table yet (in Flink: a regular or lookup join with a table on \
             the filesystem or JDBC connector)",
        ));
    }
    if plan.top_k.is_some() {
        return Err(refuse(
            "TOP_K_ITEMS_TUMBLING yet (Flink's equivalent is a Window Top-N: COUNT(*) per value \
             over TUMBLE, then ROW_NUMBER() OVER (PARTITION BY window_start, window_end ORDER BY \
             the count DESC) <= K)",
        ));
    }
    let values = values(plan, schema)?;
    let filter = match &plan.filter {
        Some(f) => {
            let envelope = std::cell::Cell::new(false);
            let col = |id: &super::Ident| resolve_column(id, Some(schema), &envelope);
            let b = bind_expr(f, &col)?.0;
            if let Some(why) = untranslatable(&b) {
                return Err(refuse(why));
            }
            Some(expr(&b))
        }
        None => None,
    };
    let (src, dst) = (q(&plan.source), q(&plan.destination));
    let mut o = String::new();
    let _ = writeln!(
        o,
        "-- Apache Flink SQL for the Kinesis Data Analytics application whose pump {} writes",
        plan.pump
    );
    let _ = writeln!(
        o,
        "-- {} from {}: a row per record{}.",
        plan.destination,
        plan.source,
        if plan.sliding.is_empty() {
            ""
        } else {
            " with sliding-window aggregates"
        }
    );
    let _ = writeln!(o, "-- Generated by kds-window --explain-flink. Runs on Amazon Managed Service for Apache Flink");
    let _ = writeln!(o, "-- (Flink 1.19 or later) with the Kinesis SQL connector 5.x (flink-sql-connector-aws-kinesis-streams).");
    o.push('\n');
    let _ = writeln!(
        o,
        "-- The source stream: one column per field of the JSON records."
    );
    let _ = writeln!(o, "-- KDA stamped each record with ROWTIME as it entered the application; `proctime` does that here.");
    source_table(
        &mut o,
        &src,
        schema,
        opts,
        vec!["  `proctime` AS PROCTIME()".into()],
    );
    o.push('\n');
    let mut sink = vec![format!("  `ROWTIME` {}", sink_type(SqlType::Timestamp))];
    for (name, ty, _) in &plan.columns {
        sink.push(format!("  {} {}", q(name), sink_type(*ty)));
    }
    sink_table(&mut o, &dst, &sink, opts.sink.as_deref());
    o.push('\n');
    let _ = writeln!(
        o,
        "-- The pump: each record that passes the WHERE clause, as it is read."
    );
    // TIMESTAMP(3), as the windowed pumps' bounds (in the session time zone, UTC by default).
    let mut sel = vec!["  CAST(`proctime` AS TIMESTAMP(3)) AS `ROWTIME`".to_string()];
    for ((name, _, _), v) in plan.columns.iter().zip(values) {
        sel.push(format!("  {v} AS {}", q(name)));
    }
    let _ = write!(
        o,
        "INSERT INTO {dst}\nSELECT\n{}\nFROM {src}",
        sel.join(",\n")
    );
    if let Some(f) = filter {
        let _ = write!(o, "\nWHERE {f}");
    }
    o.push_str(";\n");
    Ok(o)
}
