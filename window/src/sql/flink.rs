//! `--explain-flink`: the KDA application as Apache Flink SQL, for Amazon Managed Service for
//! Apache Flink. A Kinesis source table (connector 5.x/6.x options) with a processing-time column in
//! place of ROWTIME, a sink table named after the destination stream, and an INSERT with the
//! `TUMBLE` window table-valued function. The arrival time, further time groups and
//! `UNIX_TIMESTAMP` are `flink_arrival`'s.

use std::fmt::Write as _;

use super::bind::{bind, BoundAggregate, BoundColumn, BoundTime};
use super::eval::{BoundExpr, LikeStep};
use super::flink_arrival::{epoch_millis, rounded_down, source_table_reading};
use super::flink_connector::{sink_table, source_options, with_options};
use super::flink_rows::write_header;
use super::{AggFunc, BinOp, Literal, ScalarFunc, Schema, SqlError, SqlPlan, SqlType, UnOp};

/// Where the Flink source reads from.
#[derive(Debug, Clone)]
pub struct FlinkOptions {
    /// The Kinesis data stream name (`kds-lab1`).
    pub stream: String,
    pub region: String,
    /// Goes into the stream ARN; the default is AWS's documentation placeholder.
    pub account_id: String,
    /// The Kinesis stream the destination table writes (`--flink-sink-arn`); `None` prints
    /// the rows with the `print` connector.
    pub sink: Option<Box<FlinkOptions>>,
    /// `--reference-data NAME=FILE[,csv|json]`: the files a reference-table JOIN reads (the
    /// Flink table reads the same file).
    pub reference_data: Vec<String>,
}

impl Default for FlinkOptions {
    fn default() -> FlinkOptions {
        FlinkOptions {
            stream: "kds-lab1".to_string(),
            region: "us-east-1".to_string(),
            account_id: "123456789012".to_string(),
            sink: None,
            reference_data: Vec::new(),
        }
    }
}

pub(super) fn q(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

pub(super) fn lit_str(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Flink type of a source column.
pub(super) fn flink_type(t: SqlType) -> String {
    match t {
        SqlType::Varchar(_) | SqlType::Char(_) => "STRING".into(),
        SqlType::Tinyint => "TINYINT".into(),
        SqlType::Smallint => "SMALLINT".into(),
        SqlType::Integer => "INT".into(),
        SqlType::Bigint => "BIGINT".into(),
        SqlType::Real => "FLOAT".into(),
        SqlType::Double => "DOUBLE".into(),
        SqlType::Decimal(p, s) => format!("DECIMAL({p}, {s})"),
        SqlType::Boolean => "BOOLEAN".into(),
        // RFC 3339 with `Z` reads into TIMESTAMP_LTZ with 'json.timestamp-format.standard' = 'ISO-8601'.
        SqlType::Timestamp => "TIMESTAMP_LTZ(3)".into(),
        SqlType::Date => "DATE".into(),
        SqlType::Time => "TIME".into(),
    }
}

/// Flink type of a sink column (window bounds are TIMESTAMP(3)).
pub(super) fn sink_type(t: SqlType) -> String {
    match t {
        SqlType::Timestamp => "TIMESTAMP(3)".into(),
        other => flink_type(other),
    }
}

/// `INTERVAL '60' SECOND`: seconds under 100, else the largest whole unit.
pub(super) fn interval(secs: u64) -> String {
    if secs < 100 {
        return format!("INTERVAL '{secs}' SECOND");
    }
    for (unit, n) in [
        ("DAY", 86_400),
        ("HOUR", 3600),
        ("MINUTE", 60),
        ("SECOND", 1),
    ] {
        if secs.is_multiple_of(n) {
            let v = secs / n;
            let digits = v.to_string().len();
            return if digits > 2 {
                format!("INTERVAL '{v}' {unit}({digits})")
            } else {
                format!("INTERVAL '{v}' {unit}")
            };
        }
    }
    unreachable!("every whole number of seconds divides by 1")
}

/// A tree of source columns: nested JSON objects become ROW types.
enum Node {
    Leaf(SqlType),
    Row(Vec<(String, Node)>),
}

fn insert(fields: &mut Vec<(String, Node)>, path: &[String], t: SqlType) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        if !fields.iter().any(|(k, _)| k == first) {
            fields.push((first.clone(), Node::Leaf(t)));
        }
        return;
    }
    if !fields.iter().any(|(k, _)| k == first) {
        fields.push((first.clone(), Node::Row(Vec::new())));
    }
    if let Some((_, Node::Row(inner))) = fields.iter_mut().find(|(k, _)| k == first) {
        insert(inner, rest, t);
    }
}

fn node_type(n: &Node) -> String {
    match n {
        Node::Leaf(t) => flink_type(*t),
        Node::Row(fields) => {
            let inner: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!("{} {}", q(k), node_type(v)))
                .collect();
            format!("ROW<{}>", inner.join(", "))
        }
    }
}

/// How a bound column reads in Flink SQL: the JSON keys, as the json format names fields.
pub(super) fn col_ref(c: &BoundColumn) -> String {
    c.path.iter().map(|k| q(k)).collect::<Vec<_>>().join(".")
}

/// Natural Flink result type of an aggregate.
fn natural_type(func: AggFunc, col: Option<&BoundColumn>) -> Option<String> {
    match func {
        AggFunc::CountStar | AggFunc::Count | AggFunc::CountDistinct => Some("BIGINT".into()),
        _ => col.and_then(|c| c.sql_type).map(flink_type),
    }
}

/// How a bound column reads in Flink SQL where the pump reads the source directly.
pub(super) fn expr(e: &BoundExpr) -> String {
    expr_with(e, &col_ref)
}

/// `e` as Flink SQL, each column as `column` writes it (the FROM clause decides: a source
/// column, a joined table's, or a subquery's value inlined).
pub(super) fn expr_with(e: &BoundExpr, column: &dyn Fn(&BoundColumn) -> String) -> String {
    let x = |e: &BoundExpr| expr_with(e, column);
    let not = |negated: bool| if negated { "NOT " } else { "" };
    match e {
        BoundExpr::Column(c) => column(c),
        BoundExpr::Literal(l) => literal(l),
        BoundExpr::Unary {
            op: UnOp::Not,
            expr: e,
        } => format!("NOT ({})", x(e)),
        BoundExpr::Unary {
            op: UnOp::Neg,
            expr: e,
        } => format!("-({})", x(e)),
        BoundExpr::Binary { op, left, right } => {
            format!("({} {} {})", x(left), binary_op(*op), x(right))
        }
        BoundExpr::IsNull { expr: e, negated } => format!("{} IS {}NULL", x(e), not(*negated)),
        BoundExpr::Like {
            expr: e,
            program,
            negated,
        } => format!("{} {}LIKE {}", x(e), not(*negated), like_pattern(program)),
        BoundExpr::Between {
            expr: e,
            low,
            high,
            negated,
        } => format!(
            "{} {}BETWEEN {} AND {}",
            x(e),
            not(*negated),
            x(low),
            x(high)
        ),
        BoundExpr::Call { func, args } => call(*func, args.iter().map(x).collect()),
        BoundExpr::InList {
            expr: e,
            list,
            negated,
        } => {
            let items: Vec<String> = list.iter().map(literal).collect();
            format!("{} {}IN ({})", x(e), not(*negated), items.join(", "))
        }
    }
}

fn binary_op(op: BinOp) -> &'static str {
    match op {
        BinOp::And => "AND",
        BinOp::Or => "OR",
        BinOp::Eq => "=",
        BinOp::Ne => "<>",
        BinOp::Lt => "<",
        BinOp::Le => "<=",
        BinOp::Gt => ">",
        BinOp::Ge => ">=",
        BinOp::Add => "+",
        BinOp::Sub => "-",
        BinOp::Mul => "*",
        BinOp::Div => "/",
        BinOp::Concat => "||",
    }
}

/// A LIKE pattern rebuilt from its program, with `\` as the escape character where needed.
fn like_pattern(program: &[LikeStep]) -> String {
    let mut p = String::new();
    let mut escaped = false;
    for s in program {
        match s {
            LikeStep::Any => p.push('%'),
            LikeStep::One => p.push('_'),
            LikeStep::Char(c @ ('%' | '_' | '\\')) => {
                p.push('\\');
                p.push(*c);
                escaped = true;
            }
            LikeStep::Char(c) => p.push(*c),
        }
    }
    let esc = if escaped { " ESCAPE '\\'" } else { "" };
    format!("{}{esc}", lit_str(&p))
}

/// A scalar function call as Flink's function of the same meaning (`a`: the arguments in
/// Flink SQL).
fn call(func: ScalarFunc, a: Vec<String>) -> String {
    match (func, a.as_slice()) {
        (ScalarFunc::Substring, [s, from]) => format!("SUBSTRING({s} FROM {from})"),
        (ScalarFunc::Substring, [s, from, len]) => {
            format!("SUBSTRING({s} FROM {from} FOR {len})")
        }
        (ScalarFunc::Position, [n, s]) => format!("POSITION({n} IN {s})"),
        // Checked by `flink_rows::untranslatable`: start 1, every occurrence.
        (ScalarFunc::RegexReplace, [s, re, with, ..]) => {
            format!("REGEXP_REPLACE({s}, {re}, {with})")
        }
        (ScalarFunc::CharToTimestamp, [f, s]) => format!("TO_TIMESTAMP({s}, {f})"),
        (ScalarFunc::TimestampToChar, [f, t]) => format!("DATE_FORMAT({t}, {f})"),
        (ScalarFunc::CurrentRowTimestamp, _) => "CAST(`proctime` AS TIMESTAMP(3))".to_string(),
        (ScalarFunc::Extract(field), [t]) => {
            format!("EXTRACT({} FROM {t})", super::flink_rows::field_name(field))
        }
        (ScalarFunc::Cast(ty), [x]) => format!("CAST({x} AS {})", flink_type(ty)),
        (ScalarFunc::UnixTimestamp, [t]) => epoch_millis(t),
        _ => format!("{}({})", func.sql_name(), a.join(", ")),
    }
}

pub(super) fn literal(l: &Literal) -> String {
    match l {
        Literal::Null => "NULL".into(),
        Literal::Bool(b) => if *b { "TRUE" } else { "FALSE" }.into(),
        Literal::Int(i) => i.to_string(),
        Literal::Float(f) => format!("{f:?}"),
        Literal::Str(s) => lit_str(s),
        Literal::Timestamp(ms) => format!("TO_TIMESTAMP_LTZ({ms}, 3)"),
        Literal::Interval(ms) => {
            let secs = (ms / 1000).to_string();
            format!("INTERVAL '{secs}' SECOND({})", secs.len().max(2))
        }
    }
}

/// The Flink SQL for `plan`, reading the columns of `schema` from the Kinesis stream in `opts`.
pub fn explain_flink(
    plan: &SqlPlan,
    schema: &Schema,
    opts: &FlinkOptions,
) -> Result<String, SqlError> {
    if !plan.upstream.is_empty() || !plan.downstream.is_empty() {
        // Each in-application stream becomes a view.
        return super::flink_chain::explain_windowed_chain(plan, schema, opts);
    }
    let b = bind(plan, Some(schema))?;
    let mut o = String::new();
    write_header_and_source(&mut o, plan, &b, schema, opts);
    o.push('\n');
    write_window_pump(&mut o, plan, &b, opts);
    Ok(o)
}

/// The destination table and the INSERT of the GROUP BY pump `plan` (bound as `b`).
pub(super) fn write_window_pump(
    o: &mut String,
    plan: &SqlPlan,
    b: &super::BoundQuery,
    opts: &FlinkOptions,
) {
    let select = window_select(plan, b, &sink_type, false);
    let dst = q(&plan.destination);
    let mut sink_cols = vec![
        "  `window_start` TIMESTAMP(3)".to_string(),
        "  `window_end` TIMESTAMP(3)".to_string(),
        "  `ROWTIME` TIMESTAMP(3)".to_string(),
    ];
    for oc in &plan.output_columns {
        sink_cols.push(format!("  {} {}", q(&oc.name), sink_type(oc.ty)));
    }
    sink_table(o, &dst, &sink_cols, opts.sink.as_deref());
    o.push('\n');
    let _ = writeln!(
        o,
        "-- The pump: KDA's GROUP BY window expression becomes the TUMBLE window table function."
    );
    if !b.time_groups.is_empty() {
        let _ = writeln!(o, "-- GROUP BY's further time expressions (AWS's two-window pattern) are group keys: the time rounded down.");
    }
    let _ = writeln!(o, "INSERT INTO {dst}\n{select};");
}

/// The GROUP BY pump's SELECT over the TUMBLE window of what it reads (the source table or a
/// view): the window's bounds, with `time_attribute` the window's time attribute as `proctime`
/// (for pumps that read its stream: Flink documentation, "Window Aggregation", window_time is a
/// time attribute of the aggregated rows), then each destination column's value, cast to
/// `declared(type)` where Flink's result type differs.
pub(super) fn window_select(
    plan: &SqlPlan,
    b: &super::BoundQuery,
    declared: &dyn Fn(SqlType) -> String,
    time_attribute: bool,
) -> String {
    let mut sel = select_values(plan, b, declared);
    let mut groups = vec!["window_start".to_string(), "window_end".to_string()];
    if time_attribute {
        // After the window's bounds and ROWTIME, before the destination's columns.
        sel.insert(WINDOW_COLUMNS, "  window_time AS `proctime`".to_string());
        groups.push("window_time".to_string());
    }
    groups.extend(b.group_by.iter().map(col_ref));
    groups.extend(b.time_groups.iter().map(time_group));
    let time_col = match &b.time {
        BoundTime::Rowtime => "`proctime`".to_string(),
        BoundTime::Event(c) => col_ref(c),
    };
    let mut o = format!(
        "SELECT\n{}\nFROM TABLE(\n  TUMBLE(TABLE {}, DESCRIPTOR({time_col}), {}))",
        sel.join(",\n"),
        q(&plan.source),
        interval(b.size.as_secs())
    );
    if let Some(f) = &b.filter {
        let _ = write!(o, "\nWHERE {}", expr(f));
    }
    let _ = write!(o, "\nGROUP BY {}", groups.join(", "));
    o
}

/// The comment at the top, and the source table with ROWTIME's stand-in (or the watermark).
fn write_header_and_source(
    o: &mut String,
    plan: &SqlPlan,
    b: &super::BoundQuery,
    schema: &Schema,
    opts: &FlinkOptions,
) {
    let basis = match &b.time {
        BoundTime::Rowtime => "ROWTIME (processing time)".to_string(),
        BoundTime::Event(c) => format!("the event time in {}", c.name),
    };
    let what = format!("{} s tumbling windows on {basis}", b.size.as_secs());
    write_header(
        o,
        &plan.pump,
        &plan.destination,
        &plan.source,
        &what,
        b.envelope,
    );
    let _ = writeln!(
        o,
        "-- The source stream: one column per field of the JSON records."
    );
    let mut extra: Vec<String> = Vec::new();
    match &b.time {
        BoundTime::Rowtime => {
            let _ = writeln!(o, "-- KDA stamped each record with ROWTIME as it entered the application; `proctime` does that here.");
            extra.push("  `proctime` AS PROCTIME()".into());
        }
        BoundTime::Event(c) => {
            let _ = writeln!(
                o,
                "-- Windows close when the watermark (largest event time seen) passes their end."
            );
            extra.push(format!(
                "  WATERMARK FOR {} AS {} - INTERVAL '0' SECOND",
                col_ref(c),
                col_ref(c)
            ));
        }
    }
    source_table_reading(o, &q(&plan.source), schema, opts, extra, b.envelope);
}

/// A further time group of GROUP BY (AWS's two-window pattern): its column rounded down, a
/// group key beside the window's bounds.
fn time_group(g: &super::bind::BoundTimeGroup) -> String {
    rounded_down(&col_ref(&g.column), g.size)
}

/// The window's columns that lead a GROUP BY pump's select list: its start, end and ROWTIME.
const WINDOW_COLUMNS: usize = 3;

/// The pump's select list: the window's bounds, then each destination column's value, cast to
/// `declared(type)` where Flink's result type differs.
fn select_values(
    plan: &SqlPlan,
    b: &super::BoundQuery,
    declared: &dyn Fn(SqlType) -> String,
) -> Vec<String> {
    let mut sel: Vec<String> = [
        "  window_start",
        "  window_end",
        "  window_end AS `ROWTIME`",
    ]
    .map(String::from)
    .to_vec();
    debug_assert_eq!(sel.len(), WINDOW_COLUMNS);
    for (out, oc) in b.outputs.iter().zip(&plan.output_columns) {
        let declared = declared(oc.ty);
        let (value, natural) = match out {
            BoundAggregate::Aggregate { func, column, .. } => {
                let arg = match (func, column) {
                    (AggFunc::CountStar, _) | (_, None) => "*".to_string(),
                    (AggFunc::CountDistinct, Some(c)) => format!("DISTINCT {}", col_ref(c)),
                    (_, Some(c)) => col_ref(c),
                };
                (
                    format!("{}({arg})", func.sql_name()),
                    natural_type(*func, column.as_ref()),
                )
            }
            BoundAggregate::Group { index, .. } => {
                let c = &b.group_by[*index];
                (col_ref(c), c.sql_type.map(flink_type))
            }
            BoundAggregate::WindowStart { .. } => {
                ("window_start".to_string(), Some("TIMESTAMP(3)".to_string()))
            }
            BoundAggregate::TimeGroup { index, .. } => (
                time_group(&b.time_groups[*index]),
                // A time group's column is a TIMESTAMP (bind checks it): TIMESTAMP_LTZ(3) here.
                Some(flink_type(SqlType::Timestamp)),
            ),
        };
        let value = if natural.as_deref() == Some(declared.as_str()) {
            value
        } else {
            format!("CAST({value} AS {declared})")
        };
        sel.push(format!("  {value} AS {}", q(out.output())));
    }
    sel
}

/// The source table: one column per schema column (nested objects as ROW types), then `extra`
/// lines (the processing-time column or the watermark), on the Kinesis connector.
pub(super) fn source_table(
    o: &mut String,
    src: &str,
    schema: &Schema,
    opts: &FlinkOptions,
    extra: Vec<String>,
) {
    write_source_table(o, src, schema, extra, &source_options(opts));
}

/// The source table `src` with `options`: one column per schema column, then `extra` lines.
pub(super) fn write_source_table(
    o: &mut String,
    src: &str,
    schema: &Schema,
    extra: Vec<String>,
    options: &[(&str, String)],
) {
    let mut tree: Vec<(String, Node)> = Vec::new();
    for c in &schema.columns {
        insert(&mut tree, &c.path, c.sql_type);
    }
    let mut lines: Vec<String> = tree
        .iter()
        .map(|(k, n)| format!("  {} {}", q(k), node_type(n)))
        .collect();
    lines.extend(extra);
    let _ = writeln!(o, "CREATE TABLE {src} (\n{}\n) WITH (", lines.join(",\n"));
    let _ = writeln!(o, "{}\n);", with_options(options));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_stay_within_default_precision() {
        assert_eq!(interval(60), "INTERVAL '60' SECOND");
        assert_eq!(interval(10), "INTERVAL '10' SECOND");
        assert_eq!(interval(120), "INTERVAL '2' MINUTE");
        assert_eq!(interval(3600), "INTERVAL '1' HOUR");
        assert_eq!(interval(150), "INTERVAL '150' SECOND(3)");
        assert_eq!(interval(86_400 * 2), "INTERVAL '2' DAY");
    }
}
