//! Binding a scalar expression (WHERE, a SELECT expression, a function argument): each column
//! becomes a JSON path and each operator is checked against the coarse classes of its operands.

use super::super::eval::{like_program, BoundExpr};
use super::super::{BinOp, Expr, Ident, Literal, Pos, ScalarFunc, SqlError, SqlType, UnOp};
use super::BoundColumn;

/// Coarse types for checking WHERE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::sql) enum Class {
    Num,
    Str,
    Bool,
    Time,
    Interval,
    /// NULL, or a column without a schema.
    Any,
}

/// The column resolver binding consults for each reference.
type ColumnOf<'a> = dyn Fn(&Ident) -> Result<BoundColumn, SqlError> + 'a;

fn class_of(t: Option<SqlType>) -> Class {
    match t {
        None => Class::Any,
        Some(t) if t.is_numeric() => Class::Num,
        Some(t) if t.is_string() => Class::Str,
        Some(SqlType::Boolean) => Class::Bool,
        Some(_) => Class::Time,
    }
}

pub(super) fn first_pos(e: &Expr) -> Pos {
    match e {
        Expr::Column(c) => c.pos,
        Expr::Unary { expr, .. } => first_pos(expr),
        Expr::Binary { left, right, .. } => {
            // A literal has no position: point at the first column instead.
            let p = first_pos(left);
            if p == Pos::default() {
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
        Expr::Literal(_) => Pos::default(),
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

/// Binds `e` and returns it with its class; a type error names the expression's first column.
pub(in crate::sql) fn bind_expr(e: &Expr, col: &ColumnOf) -> Result<(BoundExpr, Class), SqlError> {
    let mismatch = |what: String| SqlError::new(first_pos(e), what);
    match e {
        Expr::Column(id) => {
            let c = col(id)?;
            let cl = class_of(c.sql_type);
            Ok((BoundExpr::Column(c), cl))
        }
        Expr::Literal(l) => Ok((BoundExpr::Literal(l.clone()), lit_class(l))),
        Expr::Unary { op, expr } => bind_unary(*op, expr, col, mismatch),
        Expr::Binary { op, left, right } => bind_binary(*op, left, right, col, mismatch),
        Expr::IsNull { expr, negated } => {
            let (b, _) = bind_expr(expr, col)?;
            let bound = BoundExpr::IsNull {
                expr: Box::new(b),
                negated: *negated,
            };
            Ok((bound, Class::Bool))
        }
        Expr::Like {
            expr,
            pattern,
            escape,
            negated,
        } => bind_like(expr, pattern, *escape, *negated, col, mismatch),
        Expr::Between {
            expr,
            low,
            high,
            negated,
        } => bind_between([expr, low, high], *negated, col, mismatch),
        Expr::InList {
            expr,
            list,
            negated,
        } => bind_in_list(expr, list, *negated, col, mismatch),
        Expr::Call {
            func: ScalarFunc::RowField,
            args,
            pos,
        } => super::super::log_parse::bind_row_field(args, *pos, &|e| bind_expr(e, col)),
        Expr::Call { func, args, pos } => bind_call(*func, args, *pos, col, mismatch),
    }
}

/// `NOT x` wants a condition, `-x` a number.
fn bind_unary(
    op: UnOp,
    expr: &Expr,
    col: &ColumnOf,
    mismatch: impl Fn(String) -> SqlError,
) -> Result<(BoundExpr, Class), SqlError> {
    let (b, cl) = bind_expr(expr, col)?;
    let (want, name, operand) = if op == UnOp::Not {
        (Class::Bool, "NOT", "TRUE/FALSE")
    } else {
        (Class::Num, "unary -", "numeric")
    };
    if cl != want && cl != Class::Any {
        return Err(mismatch(format!("{name} needs a {operand} operand")));
    }
    let bound = BoundExpr::Unary {
        op,
        expr: Box::new(b),
    };
    Ok((bound, want))
}

fn bind_binary(
    op: BinOp,
    left: &Expr,
    right: &Expr,
    col: &ColumnOf,
    mismatch: impl Fn(String) -> SqlError,
) -> Result<(BoundExpr, Class), SqlError> {
    let (l, lc) = bind_expr(left, col)?;
    let (r, rc) = bind_expr(right, col)?;
    let class = binary_class(op, (lc, left), (rc, right), mismatch)?;
    let bound = BoundExpr::Binary {
        op,
        left: Box::new(l),
        right: Box::new(r),
    };
    Ok((bound, class))
}

/// The class of `left op right`, or why the operands do not fit the operator.
fn binary_class(
    op: BinOp,
    (lc, left): (Class, &Expr),
    (rc, right): (Class, &Expr),
    mismatch: impl Fn(String) -> SqlError,
) -> Result<Class, SqlError> {
    let each_side = |want: Class, what: &dyn Fn(Class) -> String| {
        for (c, side) in [(lc, left), (rc, right)] {
            if c != want && c != Class::Any {
                return Err(SqlError::new(first_pos(side), what(c)));
            }
        }
        Ok(want)
    };
    match op {
        BinOp::And | BinOp::Or => each_side(Class::Bool, &|_| {
            let name = if op == BinOp::And { "AND" } else { "OR" };
            format!("{name} needs TRUE/FALSE operands")
        }),
        BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
            if !comparable(lc, rc) {
                return Err(mismatch(format!(
                    "cannot compare {} with {}",
                    class_name(lc),
                    class_name(rc)
                )));
            }
            Ok(Class::Bool)
        }
        BinOp::Add | BinOp::Sub
            if matches!((lc, rc), (Class::Time | Class::Any, Class::Interval)) =>
        {
            // `EVENT_TIME - INTERVAL '5' MINUTE` ("Date, Timestamp, and Interval
            // Operators", KDA SQL Reference).
            Ok(Class::Time)
        }
        BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div => each_side(Class::Num, &|c| {
            format!("arithmetic needs numbers, not {}", class_name(c))
        }),
        BinOp::Concat => Ok(Class::Str),
    }
}

fn bind_like(
    expr: &Expr,
    pattern: &str,
    escape: Option<char>,
    negated: bool,
    col: &ColumnOf,
    mismatch: impl Fn(String) -> SqlError,
) -> Result<(BoundExpr, Class), SqlError> {
    let (b, cl) = bind_expr(expr, col)?;
    if cl != Class::Str && cl != Class::Any {
        return Err(mismatch(format!(
            "LIKE needs a string, not {}",
            class_name(cl)
        )));
    }
    let program = like_program(pattern, escape).map_err(|m| mismatch(m.to_string()))?;
    let bound = BoundExpr::Like {
        expr: Box::new(b),
        program,
        negated,
    };
    Ok((bound, Class::Bool))
}

/// `expr [NOT] BETWEEN low AND high`: both bounds comparable with `expr`.
fn bind_between(
    [expr, low, high]: [&Expr; 3],
    negated: bool,
    col: &ColumnOf,
    mismatch: impl Fn(String) -> SqlError,
) -> Result<(BoundExpr, Class), SqlError> {
    let (b, cl) = bind_expr(expr, col)?;
    let (lo, lc) = bind_expr(low, col)?;
    let (hi, hc) = bind_expr(high, col)?;
    if !comparable(cl, lc) || !comparable(cl, hc) {
        return Err(mismatch(format!(
            "cannot compare {} with the BETWEEN bounds",
            class_name(cl)
        )));
    }
    let bound = BoundExpr::Between {
        expr: Box::new(b),
        low: Box::new(lo),
        high: Box::new(hi),
        negated,
    };
    Ok((bound, Class::Bool))
}

fn bind_in_list(
    expr: &Expr,
    list: &[Literal],
    negated: bool,
    col: &ColumnOf,
    mismatch: impl Fn(String) -> SqlError,
) -> Result<(BoundExpr, Class), SqlError> {
    let (b, cl) = bind_expr(expr, col)?;
    for l in list {
        if !comparable(cl, lit_class(l)) {
            return Err(mismatch(format!(
                "cannot compare {} with {l:?} in IN (...)",
                class_name(cl)
            )));
        }
    }
    let bound = BoundExpr::InList {
        expr: Box::new(b),
        list: list.to_vec(),
        negated,
    };
    Ok((bound, Class::Bool))
}

/// A scalar function call: literal patterns and formats checked now, arguments by signature.
fn bind_call(
    func: ScalarFunc,
    args: &[Expr],
    pos: Pos,
    col: &ColumnOf,
    mismatch: impl Fn(String) -> SqlError,
) -> Result<(BoundExpr, Class), SqlError> {
    check_literal_arguments(func, args, pos)?;
    let (params, result) = signature(func);
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
    Ok((BoundExpr::Call { func, args: bound }, result))
}

/// A literal regex or date format argument is compiled at bind time, so a bad one is a SQL
/// error with a position rather than a failure on every row.
fn check_literal_arguments(func: ScalarFunc, args: &[Expr], pos: Pos) -> Result<(), SqlError> {
    if let (ScalarFunc::RegexReplace, Some(Expr::Literal(Literal::Str(re)))) = (func, args.get(1)) {
        super::super::funcs::compile_regex(re).map_err(|m| SqlError::new(pos, m))?;
    }
    let dated = matches!(
        func,
        ScalarFunc::CharToTimestamp | ScalarFunc::TimestampToChar
    );
    if let (true, Some(Expr::Literal(Literal::Str(f)))) = (dated, args.first()) {
        super::super::funcs::java_format(f)
            .map_err(|m| SqlError::new(pos, format!("format '{f}': {m}")))?;
    }
    Ok(())
}

/// Argument and result classes of a scalar function.
fn signature(f: ScalarFunc) -> (&'static [Class], Class) {
    use ScalarFunc::*;
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
