//! `--explain-flink` for pumps without GROUP BY: a `SELECT` per record, sliding-window
//! aggregates as Flink `OVER` windows ordered by the processing-time column that stands in for
//! ROWTIME. What the pump reads ([`Relation`]) is the source, the source joined to a reference
//! table (`flink_join`), or a subquery inlined (`flink_log`: the log parsers);
//! `TOP_K_ITEMS_TUMBLING` is `flink_topk`'s, chained pumps `flink_chain`'s, the SELECT with its
//! OVER windows `flink_over`'s. Stagger windows are refused with the reason.

use std::fmt::Write as _;

use super::bind::{bind_expr, resolve_column, BoundColumn};
use super::eval::BoundExpr;
use super::flink::{col_ref, expr_with, q, sink_type, FlinkOptions};
use super::flink_connector::sink_table;
use super::flink_over::{pump_select, write_insert, PROCTIME_ROWTIME};
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

/// Why a pump that reads `APPROXIMATE_ARRIVAL_TIME` over a subquery is refused, single or in a
/// chain.
pub(super) const ARRIVAL_THROUGH_SUBQUERY: &str = "APPROXIMATE_ARRIVAL_TIME read through a \
    subquery (a subquery's columns are its own; the arrival time is a column of the source table)";

pub(super) fn refuse(why: &str) -> SqlError {
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
pub(super) fn untranslatable(e: &BoundExpr) -> Option<&'static str> {
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
        BoundExpr::Call { func, .. } if func.is_log_parser() => {
            return Some("a log parser outside a subquery's select list (Flink has no row-valued parser: a subquery's `AS r` columns become one REGEXP_EXTRACT or SPLIT_INDEX each)")
        }
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

/// What a pump reads, in Flink SQL.
pub(super) struct Relation<'a> {
    /// The text after FROM.
    pub from: String,
    /// Where the pump's column names resolve (`None`: a subquery's columns, by their names).
    pub schema: Option<&'a Schema>,
    /// A bound column as Flink SQL.
    pub column: Box<dyn Fn(&BoundColumn) -> String + 'a>,
    /// Conditions the FROM brings (a subquery's WHERE), ANDed with the pump's.
    pub conditions: Vec<String>,
    /// The statements that create what FROM reads besides the source (a reference table).
    pub tables: String,
}

impl Relation<'_> {
    /// `e` bound to this relation's columns and written as Flink SQL, or why it cannot be.
    fn translate(
        &self,
        e: &super::Expr,
        envelope: &std::cell::Cell<bool>,
    ) -> Result<String, SqlError> {
        let col = |id: &super::Ident| resolve_column(id, self.schema, envelope);
        let b = bind_expr(e, &col)?.0;
        if let Some(why) = untranslatable(&b) {
            return Err(refuse(why));
        }
        Ok(expr_with(&b, &*self.column))
    }
}

/// A table or view (or a subquery in FROM, `schema` `None`) whose columns are read by name.
pub(super) fn named_relation(from: String, schema: Option<&Schema>) -> Relation<'_> {
    Relation {
        from,
        schema,
        column: Box::new(col_ref),
        conditions: Vec::new(),
        tables: String::new(),
    }
}

/// The OVER clause of a sliding window, partitioned by `partition` (Flink SQL).
fn over(partition: &[String], frame: Frame) -> String {
    let mut s = String::from("OVER (");
    if !partition.is_empty() {
        let _ = write!(s, "PARTITION BY {} ", partition.join(", "));
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

/// A sliding-window aggregate: `AGG(x)`, and its window `OVER (...)`.
fn sliding_value(
    agg: &super::SlidingAgg,
    rel: &Relation<'_>,
    envelope: &std::cell::Cell<bool>,
) -> Result<(String, String), SqlError> {
    let arg = agg
        .arg
        .as_ref()
        .map(|a| rel.translate(a, envelope))
        .transpose()?;
    let col = |id: &super::Ident| resolve_column(id, rel.schema, envelope);
    let partition = agg
        .spec
        .partition_by
        .iter()
        .map(|id| col(id).map(|c| (rel.column)(&c)))
        .collect::<Result<Vec<_>, _>>()?;
    let window = over(&partition, agg.spec.frame);
    let arg = match (agg.func, arg) {
        (AggFunc::CountStar, _) | (_, None) => "*".to_string(),
        (AggFunc::CountDistinct, Some(a)) => format!("DISTINCT {a}"),
        (_, Some(a)) => a,
    };
    Ok((format!("{}({arg})", agg.func.sql_name()), window))
}

/// A select-list value as a Flink expression, before any cast.
pub(super) struct Value {
    /// The expression, or a sliding aggregate `AGG(x)`.
    pub value: String,
    /// The aggregate's window, `OVER (...)`.
    pub over: Option<String>,
}

/// The select-list values, in declaration order; `envelope` is set when one reads
/// `APPROXIMATE_ARRIVAL_TIME`.
pub(super) fn values(
    plan: &RowPlan,
    rel: &Relation<'_>,
    envelope: &std::cell::Cell<bool>,
) -> Result<Vec<Value>, SqlError> {
    let mut out = Vec::new();
    for (i, (_, _, e)) in plan.columns.iter().enumerate() {
        out.push(
            if let Some((_, agg)) = plan.sliding.iter().find(|(c, _)| *c == i) {
                let (value, window) = sliding_value(agg, rel, envelope)?;
                Value {
                    value,
                    over: Some(window),
                }
            } else {
                Value {
                    value: rel.translate(e, envelope)?,
                    over: None,
                }
            },
        );
    }
    Ok(out)
}

/// The WHERE clause: the FROM's conditions and the pump's, if any; `envelope` as for `values`.
pub(super) fn where_clause(
    plan: &RowPlan,
    rel: &Relation<'_>,
    envelope: &std::cell::Cell<bool>,
) -> Result<Option<String>, SqlError> {
    let mut conditions = rel.conditions.clone();
    if let Some(f) = &plan.filter {
        conditions.push(rel.translate(f, envelope)?);
    }
    Ok(match conditions.len() {
        0 => None,
        1 => conditions.pop(),
        _ => Some(format!("({})", conditions.join(") AND ("))),
    })
}

/// What Flink has no equivalent for.
fn refuse_untranslated(plan: &RowPlan) -> Result<(), SqlError> {
    if plan.stagger.is_some() {
        return Err(refuse(
            "stagger windows (Flink has no window that opens per key)",
        ));
    }
    Ok(())
}

/// What the pump reads: a subquery, the source joined to a reference table, or the source.
fn relation<'a>(
    plan: &'a RowPlan,
    schema: &'a Schema,
    opts: &FlinkOptions,
) -> Result<Relation<'a>, SqlError> {
    if let Some(sub) = plan.upstream.first() {
        return super::flink_log::subquery_relation(sub, schema);
    }
    if let Some(join) = &plan.join {
        return super::flink_join::join_relation(join, plan, schema, opts);
    }
    Ok(named_relation(q(&plan.source), Some(schema)))
}

/// The pump reads other pumps' streams, other than one subquery without OVER aggregates over
/// the source (which `flink_log` inlines).
fn reads_a_stream(plan: &RowPlan) -> bool {
    let inlined =
        matches!(plan.upstream.as_slice(), [sub] if sub.derived && sub.sliding.is_empty());
    !plan.upstream.is_empty() && !inlined
}

/// The Flink SQL for a pump without GROUP BY.
pub fn explain_flink_rows(
    plan: &RowPlan,
    schema: &Schema,
    opts: &FlinkOptions,
) -> Result<String, SqlError> {
    refuse_untranslated(plan)?;
    if reads_a_stream(plan) {
        return super::flink_chain::explain_rows_chain(plan, schema, opts);
    }
    if let Some(top_k) = &plan.top_k {
        return super::flink_topk::explain_top_k(plan, top_k, schema, opts);
    }
    let rel = relation(plan, schema, opts)?;
    let envelope = std::cell::Cell::new(false);
    let select = pump_select(plan, &rel, &|t| Some(sink_type(t)), &envelope)?;
    // A subquery's columns are its own: the arrival time would have to pass through it.
    if envelope.get() && !plan.upstream.is_empty() {
        return Err(refuse(ARRIVAL_THROUGH_SUBQUERY));
    }
    let what = if plan.sliding.is_empty() {
        "a row per record"
    } else {
        "a row per record with sliding-window aggregates"
    };
    // A subquery reads the source; the pump reads the subquery.
    let source = plan
        .upstream
        .first()
        .map_or(&plan.source, |sub| &sub.source);
    let mut o = String::new();
    write_header(
        &mut o,
        &plan.pump,
        &plan.destination,
        source,
        what,
        envelope.get(),
    );
    write_source(&mut o, source, schema, opts, envelope.get());
    o.push_str(&rel.tables);
    write_sink(&mut o, plan, opts);
    write_insert(&mut o, plan, &select, PROCTIME_ROWTIME);
    Ok(o)
}

/// The comment at the top: which pump writes which stream, what it computes (`what`), where it
/// runs (`arrival`: the pump reads `APPROXIMATE_ARRIVAL_TIME`).
pub(super) fn write_header(
    o: &mut String,
    pump: &str,
    destination: &str,
    source: &str,
    what: &str,
    arrival: bool,
) {
    let _ = writeln!(
        o,
        "-- Apache Flink SQL for the Kinesis Data Analytics application whose pump {pump} writes"
    );
    let _ = writeln!(o, "-- {destination} from {source}: {what}.");
    let _ = writeln!(o, "-- Generated by kds-window --explain-flink. Runs on Amazon Managed Service for Apache Flink");
    let _ = writeln!(o, "{}", super::flink_arrival::runs_on(arrival));
    let _ = writeln!(
        o,
        "-- KDA's times are UTC: run it in a session whose time zone is UTC, \
         SET 'table.local-time-zone' = 'UTC';"
    );
    o.push('\n');
}

/// The source table, with the processing-time column that stands in for ROWTIME (and the
/// arrival time when the pump reads it).
pub(super) fn write_source(
    o: &mut String,
    source: &str,
    schema: &Schema,
    opts: &FlinkOptions,
    arrival: bool,
) {
    let _ = writeln!(
        o,
        "-- The source stream: one column per field of the JSON records."
    );
    let _ = writeln!(o, "-- KDA stamped each record with ROWTIME as it entered the application; `proctime` does that here.");
    let proctime = vec!["  `proctime` AS PROCTIME()".into()];
    super::flink_arrival::source_table_reading(o, &q(source), schema, opts, proctime, arrival);
    o.push('\n');
}

/// The destination table: ROWTIME, then the declared columns.
pub(super) fn write_sink(o: &mut String, plan: &RowPlan, opts: &FlinkOptions) {
    let mut sink = vec![format!("  `ROWTIME` {}", sink_type(SqlType::Timestamp))];
    for (name, ty, _) in &plan.columns {
        sink.push(format!("  {} {}", q(name), sink_type(*ty)));
    }
    sink_table(o, &q(&plan.destination), &sink, opts.sink.as_deref());
    o.push('\n');
}
