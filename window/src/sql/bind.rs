//! Binding: every column reference of a plan becomes a JSON path, checked against the schema
//! when there is one. The result is what the window engine runs.

use std::time::Duration;

use super::eval::{like_program, BoundExpr};
use super::windows::{is_arrival, ARRIVAL_COLUMN};
use super::{
    AggFunc, BinOp, Expr, Ident, Literal, Schema, SelectItem, SqlError, SqlPlan, SqlType,
    TimeBasis, UnOp,
};

/// A source column: where it is in the record and, with a schema, its type.
#[derive(Debug, Clone, PartialEq)]
pub struct BoundColumn {
    /// The schema column name, or the reference as written when there is no schema.
    pub name: String,
    /// JSON object keys, outermost first (`["tnum"]`).
    pub path: Vec<String>,
    pub sql_type: Option<SqlType>,
}

impl BoundColumn {
    /// The path as the engine's dotted field syntax (`order.qty`).
    pub fn dotted(&self) -> String {
        self.path.join(".")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum BoundTime {
    Rowtime,
    Event(BoundColumn),
}

/// One output column, in the destination stream's order.
#[derive(Debug, Clone, PartialEq)]
pub enum BoundAggregate {
    Aggregate {
        output: String,
        func: AggFunc,
        column: Option<BoundColumn>,
    },
    /// The value of GROUP BY column number `index`.
    Group {
        output: String,
        index: usize,
    },
    WindowStart {
        output: String,
    },
    /// The value of time group number `index` (a further STEP/FLOOR of GROUP BY).
    TimeGroup {
        output: String,
        index: usize,
    },
}

impl BoundAggregate {
    pub fn output(&self) -> &str {
        match self {
            BoundAggregate::Aggregate { output, .. }
            | BoundAggregate::Group { output, .. }
            | BoundAggregate::WindowStart { output }
            | BoundAggregate::TimeGroup { output, .. } => output,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct BoundQuery {
    pub outputs: Vec<BoundAggregate>,
    pub group_by: Vec<BoundColumn>,
    pub filter: Option<BoundExpr>,
    pub time: BoundTime,
    pub size: Duration,
    /// GROUP BY's further time expressions: a TIMESTAMP column rounded down to `size`.
    pub time_groups: Vec<BoundTimeGroup>,
    /// The SQL reads `APPROXIMATE_ARRIVAL_TIME`: input lines are `kds-tail --envelope` records.
    pub envelope: bool,
}

/// A time group: `STEP("APPROXIMATE_ARRIVAL_TIME" BY INTERVAL '60' SECOND)` as a group key.
#[derive(Debug, Clone, PartialEq)]
pub struct BoundTimeGroup {
    pub column: BoundColumn,
    pub size: Duration,
}

/// Resolves and type-checks `plan`. Without a schema a reference maps to the JSON key spelled as
/// in the SQL (`"tnum"` and `tnum` both read `tnum`) and only the declared types are checked.
pub fn bind(plan: &SqlPlan, schema: Option<&Schema>) -> Result<BoundQuery, SqlError> {
    let envelope = std::cell::Cell::new(false);
    let col = |id: &Ident| resolve_column(id, schema, &envelope);
    let group_by = plan
        .group_by
        .iter()
        .map(&col)
        .collect::<Result<Vec<_>, _>>()?;
    let mut outputs = Vec::new();
    for oc in &plan.output_columns {
        let out = match &oc.value {
            SelectItem::Aggregate { func, column } => {
                let bound = column.as_ref().map(&col).transpose()?;
                if let (Some(c), Some(id)) = (&bound, column) {
                    check_aggregate(*func, c, id)?;
                }
                BoundAggregate::Aggregate {
                    output: oc.name.clone(),
                    func: *func,
                    column: bound,
                }
            }
            SelectItem::Column(id) => {
                let index = plan
                    .group_by
                    .iter()
                    .position(|g| g.same_as(id))
                    .ok_or_else(|| {
                        SqlError::new(id.pos, format!("{} is not in GROUP BY", id.sql()))
                    })?;
                if let Some(t) = group_by[index].sql_type {
                    if !compatible(t, oc.ty) {
                        return Err(SqlError::new(
                            id.pos,
                            format!(
                                "{} is {t} but goes into column {} declared {}",
                                id.sql(),
                                oc.name,
                                oc.ty
                            ),
                        ));
                    }
                }
                BoundAggregate::Group {
                    output: oc.name.clone(),
                    index,
                }
            }
            SelectItem::WindowStart => BoundAggregate::WindowStart {
                output: oc.name.clone(),
            },
            SelectItem::TimeGroup(index) => BoundAggregate::TimeGroup {
                output: oc.name.clone(),
                index: *index,
            },
        };
        outputs.push(out);
    }
    let time_column = |id: &Ident| -> Result<BoundColumn, SqlError> {
        let c = col(id)?;
        match c.sql_type {
            Some(t) if t != SqlType::Timestamp => Err(SqlError::new(
                id.pos,
                format!(
                    "the window needs a TIMESTAMP column or ROWTIME: {} is {t} (KDA's discovery \
                     keeps timestamps as VARCHAR: declare the column TIMESTAMP in the schema, \
                     or discover with --wide-types)",
                    id.sql()
                ),
            )),
            _ => Ok(c),
        }
    };
    let time = match &plan.window.time {
        TimeBasis::Rowtime => BoundTime::Rowtime,
        TimeBasis::Column(id) => BoundTime::Event(time_column(id)?),
    };
    let mut time_groups = Vec::new();
    for g in &plan.time_groups {
        // The parser makes a ROWTIME expression the window, never a time group.
        let TimeBasis::Column(id) = &g.time else {
            return Err(SqlError::new(
                super::Pos::default(),
                "a second window over ROWTIME in GROUP BY",
            ));
        };
        time_groups.push(BoundTimeGroup {
            column: time_column(id)?,
            size: g.size,
        });
    }
    let filter = match &plan.filter {
        None => None,
        Some(e) => {
            let b = bind_expr(e, &col)?;
            if let Class::Num | Class::Str | Class::Time = b.1 {
                return Err(SqlError::new(
                    first_pos(e),
                    "WHERE needs a condition (a TRUE/FALSE value)",
                ));
            }
            Some(b.0)
        }
    };
    Ok(BoundQuery {
        outputs,
        group_by,
        filter,
        time,
        size: plan.window.size,
        time_groups,
        envelope: envelope.get(),
    })
}

/// A column reference: through the schema when there is one, else the JSON key as spelled;
/// `APPROXIMATE_ARRIVAL_TIME` (unless the schema has such a column) sets `envelope`.
pub(super) fn resolve_column(
    id: &Ident,
    schema: Option<&Schema>,
    envelope: &std::cell::Cell<bool>,
) -> Result<BoundColumn, SqlError> {
    if let Some(column) = super::reference::reference_column(id) {
        return Ok(column);
    }
    if is_arrival(id) && schema.is_none_or(|s| s.resolve(id).is_err()) {
        envelope.set(true);
        return Ok(arrival_column());
    }
    match schema {
        None => Ok(BoundColumn {
            name: id.name.clone(),
            path: vec![id.name.clone()],
            sql_type: None,
        }),
        Some(s) => s
            .resolve(id)
            .map(|c| BoundColumn {
                name: c.name.clone(),
                path: c.path.clone(),
                sql_type: Some(c.sql_type),
            })
            .map_err(|e| SqlError::new(id.pos, e)),
    }
}

/// `APPROXIMATE_ARRIVAL_TIME`: the envelope's `arrival`, which the row preparation stage puts
/// at this top-level key of the record it hands the engine.
fn arrival_column() -> BoundColumn {
    BoundColumn {
        name: ARRIVAL_COLUMN.to_string(),
        path: vec![ARRIVAL_COLUMN.to_string()],
        sql_type: Some(SqlType::Timestamp),
    }
}

fn compatible(a: SqlType, b: SqlType) -> bool {
    (a.is_numeric() && b.is_numeric())
        || (a.is_string() && b.is_string())
        || (a.is_temporal() && b.is_temporal())
        || a == b
}

fn check_aggregate(func: AggFunc, c: &BoundColumn, id: &Ident) -> Result<(), SqlError> {
    let Some(t) = c.sql_type else { return Ok(()) };
    let ok = match func {
        AggFunc::Sum | AggFunc::Avg | AggFunc::Min | AggFunc::Max => t.is_numeric(),
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        let what = match func {
            AggFunc::Sum | AggFunc::Avg => "a numeric column",
            _ => "a numeric column here (kds-window compares numbers only)",
        };
        Err(SqlError::new(
            id.pos,
            format!("{} needs {what}: {} is {t}", func.sql_name(), id.sql()),
        ))
    }
}

/// Coarse types for checking WHERE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Class {
    Num,
    Str,
    Bool,
    Time,
    Interval,
    /// NULL, or a column without a schema.
    Any,
}

fn class_of(t: Option<SqlType>) -> Class {
    match t {
        None => Class::Any,
        Some(t) if t.is_numeric() => Class::Num,
        Some(t) if t.is_string() => Class::Str,
        Some(SqlType::Boolean) => Class::Bool,
        Some(_) => Class::Time,
    }
}

fn first_pos(e: &Expr) -> super::Pos {
    match e {
        Expr::Column(c) => c.pos,
        Expr::Unary { expr, .. } => first_pos(expr),
        Expr::Binary { left, right, .. } => {
            // A literal has no position: point at the first column instead.
            let p = first_pos(left);
            if p == super::Pos::default() {
                first_pos(right)
            } else {
                p
            }
        }
        Expr::IsNull { expr, .. }
        | Expr::Like { expr, .. }
        | Expr::Between { expr, .. }
        | Expr::InList { expr, .. } => first_pos(expr),
        Expr::Call { pos, .. } => *pos,
        Expr::Literal(_) => super::Pos::default(),
    }
}

fn lit_class(l: &Literal) -> Class {
    match l {
        Literal::Null => Class::Any,
        Literal::Bool(_) => Class::Bool,
        Literal::Int(_) | Literal::Float(_) => Class::Num,
        Literal::Str(_) => Class::Str,
        Literal::Timestamp(_) => Class::Time,
        Literal::Interval(_) => Class::Interval,
    }
}

/// Can values of these classes be compared? A string compares with a timestamp (parsed).
fn comparable(a: Class, b: Class) -> bool {
    a == b
        || a == Class::Any
        || b == Class::Any
        || matches!(
            (a, b),
            (Class::Time, Class::Str) | (Class::Str, Class::Time)
        )
}

pub(super) fn bind_expr(
    e: &Expr,
    col: &dyn Fn(&Ident) -> Result<super::BoundColumn, SqlError>,
) -> Result<(BoundExpr, Class), SqlError> {
    let mismatch = |what: String| SqlError::new(first_pos(e), what);
    Ok(match e {
        Expr::Column(id) => {
            let c = col(id)?;
            let cl = class_of(c.sql_type);
            (BoundExpr::Column(c), cl)
        }
        Expr::Literal(l) => (BoundExpr::Literal(l.clone()), lit_class(l)),
        Expr::Unary { op, expr } => {
            let (b, cl) = bind_expr(expr, col)?;
            let want = if *op == UnOp::Not {
                Class::Bool
            } else {
                Class::Num
            };
            if cl != want && cl != Class::Any {
                return Err(mismatch(format!(
                    "{} needs a {} operand",
                    if *op == UnOp::Not { "NOT" } else { "unary -" },
                    if want == Class::Bool {
                        "TRUE/FALSE"
                    } else {
                        "numeric"
                    }
                )));
            }
            (
                BoundExpr::Unary {
                    op: *op,
                    expr: Box::new(b),
                },
                want,
            )
        }
        Expr::Binary { op, left, right } => {
            let (l, lc) = bind_expr(left, col)?;
            let (r, rc) = bind_expr(right, col)?;
            let class = match op {
                BinOp::And | BinOp::Or => {
                    for (c, side) in [(lc, left), (rc, right)] {
                        if c != Class::Bool && c != Class::Any {
                            return Err(SqlError::new(
                                first_pos(side),
                                format!(
                                    "{} needs TRUE/FALSE operands",
                                    if *op == BinOp::And { "AND" } else { "OR" }
                                ),
                            ));
                        }
                    }
                    Class::Bool
                }
                BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                    if !comparable(lc, rc) {
                        return Err(mismatch(format!(
                            "cannot compare {} with {}",
                            class_name(lc),
                            class_name(rc)
                        )));
                    }
                    Class::Bool
                }
                BinOp::Add | BinOp::Sub
                    if matches!((lc, rc), (Class::Time | Class::Any, Class::Interval)) =>
                {
                    // `EVENT_TIME - INTERVAL '5' MINUTE` ("Date, Timestamp, and Interval
                    // Operators", KDA SQL Reference).
                    Class::Time
                }
                BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div => {
                    for (c, side) in [(lc, left), (rc, right)] {
                        if c != Class::Num && c != Class::Any {
                            return Err(SqlError::new(
                                first_pos(side),
                                format!("arithmetic needs numbers, not {}", class_name(c)),
                            ));
                        }
                    }
                    Class::Num
                }
                BinOp::Concat => Class::Str,
            };
            (
                BoundExpr::Binary {
                    op: *op,
                    left: Box::new(l),
                    right: Box::new(r),
                },
                class,
            )
        }
        Expr::IsNull { expr, negated } => {
            let (b, _) = bind_expr(expr, col)?;
            (
                BoundExpr::IsNull {
                    expr: Box::new(b),
                    negated: *negated,
                },
                Class::Bool,
            )
        }
        Expr::Like {
            expr,
            pattern,
            escape,
            negated,
        } => {
            let (b, cl) = bind_expr(expr, col)?;
            if cl != Class::Str && cl != Class::Any {
                return Err(mismatch(format!(
                    "LIKE needs a string, not {}",
                    class_name(cl)
                )));
            }
            let program = like_program(pattern, *escape).map_err(|m| mismatch(m.to_string()))?;
            (
                BoundExpr::Like {
                    expr: Box::new(b),
                    program,
                    negated: *negated,
                },
                Class::Bool,
            )
        }
        Expr::Between {
            expr,
            low,
            high,
            negated,
        } => {
            let (b, cl) = bind_expr(expr, col)?;
            let (lo, lc) = bind_expr(low, col)?;
            let (hi, hc) = bind_expr(high, col)?;
            if !comparable(cl, lc) || !comparable(cl, hc) {
                return Err(mismatch(format!(
                    "cannot compare {} with the BETWEEN bounds",
                    class_name(cl)
                )));
            }
            (
                BoundExpr::Between {
                    expr: Box::new(b),
                    low: Box::new(lo),
                    high: Box::new(hi),
                    negated: *negated,
                },
                Class::Bool,
            )
        }
        Expr::InList {
            expr,
            list,
            negated,
        } => {
            let (b, cl) = bind_expr(expr, col)?;
            for l in list {
                if !comparable(cl, lit_class(l)) {
                    return Err(mismatch(format!(
                        "cannot compare {} with {l:?} in IN (...)",
                        class_name(cl)
                    )));
                }
            }
            (
                BoundExpr::InList {
                    expr: Box::new(b),
                    list: list.clone(),
                    negated: *negated,
                },
                Class::Bool,
            )
        }
        Expr::Call {
            func: super::ScalarFunc::RowField,
            args,
            pos,
        } => super::log_parse::bind_row_field(args, *pos, &|e| bind_expr(e, col))?,
        Expr::Call { func, args, pos } => {
            if let (super::ScalarFunc::RegexReplace, Some(Expr::Literal(Literal::Str(re)))) =
                (func, args.get(1))
            {
                super::funcs::compile_regex(re).map_err(|m| SqlError::new(*pos, m))?;
            }
            let dated = matches!(
                func,
                super::ScalarFunc::CharToTimestamp | super::ScalarFunc::TimestampToChar
            );
            if let (true, Some(Expr::Literal(Literal::Str(f)))) = (dated, args.first()) {
                super::funcs::java_format(f)
                    .map_err(|m| SqlError::new(*pos, format!("format '{f}': {m}")))?;
            }
            let (params, result) = signature(*func);
            let mut bound = Vec::new();
            for (a, want) in args.iter().zip(params) {
                let (b, cl) = bind_expr(a, col)?;
                if cl != *want && cl != Class::Any && *want != Class::Any {
                    return Err(mismatch(format!(
                        "{} needs {}, not {}",
                        func.sql_name(),
                        class_name(*want),
                        class_name(cl)
                    )));
                }
                bound.push(b);
            }
            (
                BoundExpr::Call {
                    func: *func,
                    args: bound,
                },
                result,
            )
        }
    })
}

/// Argument and result classes of a scalar function.
fn signature(f: super::ScalarFunc) -> (&'static [Class], Class) {
    use super::ScalarFunc::*;
    match f {
        Abs => (&[Class::Num], Class::Num),
        Upper | Lower | Trim => (&[Class::Str], Class::Str),
        CharLength => (&[Class::Str], Class::Num),
        Substring => (&[Class::Str, Class::Num, Class::Num], Class::Str),
        Position => (&[Class::Str, Class::Str], Class::Num),
        RegexReplace => (
            &[Class::Str, Class::Str, Class::Str, Class::Num, Class::Num],
            Class::Str,
        ),
        CharToTimestamp => (&[Class::Str, Class::Str], Class::Time),
        TimestampToChar => (&[Class::Str, Class::Time], Class::Str),
        UnixTimestamp => (&[Class::Time], Class::Num),
        CurrentRowTimestamp => (&[], Class::Time),
        Cast(t) if t.is_numeric() => (&[Class::Any], Class::Num),
        Cast(t) if t.is_string() => (&[Class::Any], Class::Str),
        Cast(SqlType::Boolean) => (&[Class::Any], Class::Bool),
        Cast(_) => (&[Class::Any], Class::Time),
        Extract(_) => (&[Class::Time], Class::Num),
        // A row; its columns are read with RowField (bound to a column path).
        RegexLogParse | W3cLogParse => (&[Class::Str, Class::Str], Class::Any),
        VariableColumnLogParse => (
            &[Class::Str, Class::Any, Class::Str, Class::Str, Class::Str],
            Class::Any,
        ),
        RowField => (&[Class::Any, Class::Str], Class::Any),
    }
}

fn class_name(c: Class) -> &'static str {
    match c {
        Class::Num => "a number",
        Class::Str => "a string",
        Class::Bool => "TRUE/FALSE",
        Class::Time => "a timestamp",
        Class::Interval => "an interval",
        Class::Any => "NULL",
    }
}
