//! The WHERE evaluator: a bound expression over one parsed JSON record, with SQL's three-valued
//! logic (a record passes only when the condition is TRUE; NULL/unknown drops it).

use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::Value;

use super::bind::BoundColumn;
use super::{BinOp, Literal, ScalarFunc, SqlType, UnOp};

/// One step of a compiled LIKE pattern.
#[derive(Debug, Clone, PartialEq)]
pub enum LikeStep {
    /// `%`: any run of characters.
    Any,
    /// `_`: one character.
    One,
    Char(char),
}

#[derive(Debug, Clone, PartialEq)]
pub enum BoundExpr {
    Column(BoundColumn),
    Literal(Literal),
    Unary {
        op: UnOp,
        expr: Box<BoundExpr>,
    },
    Binary {
        op: BinOp,
        left: Box<BoundExpr>,
        right: Box<BoundExpr>,
    },
    IsNull {
        expr: Box<BoundExpr>,
        negated: bool,
    },
    Like {
        expr: Box<BoundExpr>,
        program: Vec<LikeStep>,
        negated: bool,
    },
    Between {
        expr: Box<BoundExpr>,
        low: Box<BoundExpr>,
        high: Box<BoundExpr>,
        negated: bool,
    },
    InList {
        expr: Box<BoundExpr>,
        list: Vec<Literal>,
        negated: bool,
    },
    Call {
        func: ScalarFunc,
        args: Vec<BoundExpr>,
    },
}

pub fn like_program(pattern: &str, escape: Option<char>) -> Result<Vec<LikeStep>, &'static str> {
    let mut out = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if Some(c) == escape {
            match chars.next() {
                Some(n) => out.push(LikeStep::Char(n)),
                None => return Err("LIKE pattern ends with the escape character"),
            }
        } else if c == '%' {
            if out.last() != Some(&LikeStep::Any) {
                out.push(LikeStep::Any);
            }
        } else if c == '_' {
            out.push(LikeStep::One);
        } else {
            out.push(LikeStep::Char(c));
        }
    }
    Ok(out)
}

fn like_match(p: &[LikeStep], s: &[char]) -> bool {
    // Iterative wildcard matching with backtracking to the last `%`.
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        match p.get(pi) {
            Some(LikeStep::Any) => {
                star = Some((pi, si));
                pi += 1;
            }
            Some(LikeStep::One) => {
                pi += 1;
                si += 1;
            }
            Some(LikeStep::Char(c)) if *c == s[si] => {
                pi += 1;
                si += 1;
            }
            _ => match star {
                Some((sp, ss)) => {
                    pi = sp + 1;
                    si = ss + 1;
                    star = Some((sp, ss + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|x| *x == LikeStep::Any)
}

/// A scalar function on evaluated arguments; NULL in, NULL out.
fn call(func: ScalarFunc, args: Vec<V<'_>>) -> V<'_> {
    if args.contains(&V::Null) {
        return V::Null;
    }
    let int = |v: &V| match v {
        V::Int(i) => Some(*i),
        V::Float(f) => Some(*f as i64),
        _ => None,
    };
    match (func, args.as_slice()) {
        (ScalarFunc::Abs, [V::Int(i)]) => {
            i.checked_abs().map_or(V::Float((*i as f64).abs()), V::Int)
        }
        (ScalarFunc::Abs, [V::Float(f)]) => V::Float(f.abs()),
        (ScalarFunc::Upper, [V::Str(s)]) => V::Str(Cow::Owned(s.to_uppercase())),
        (ScalarFunc::Lower, [V::Str(s)]) => V::Str(Cow::Owned(s.to_lowercase())),
        (ScalarFunc::Trim, [V::Str(s)]) => V::Str(Cow::Owned(s.trim_matches(' ').to_string())),
        (ScalarFunc::CharLength, [V::Str(s)]) => V::Int(s.chars().count() as i64),
        (ScalarFunc::Position, [V::Str(needle), V::Str(s)]) => {
            V::Int(match s.find(needle.as_ref()) {
                Some(byte) => s[..byte].chars().count() as i64 + 1,
                None => 0,
            })
        }
        (ScalarFunc::Substring, [V::Str(s), start, rest @ ..]) => {
            let Some(start) = int(start) else {
                return V::Null;
            };
            let len = match rest.first() {
                Some(l) => match int(l) {
                    Some(l) if l >= 0 => Some(l),
                    _ => return V::Null,
                },
                None => None,
            };
            // SQL: the characters at positions start .. start+len (1-based), clipped.
            let end = len.map(|l| start.saturating_add(l));
            let from = start.max(1);
            let taken: String = s
                .chars()
                .enumerate()
                .map(|(i, c)| (i as i64 + 1, c))
                .filter(|(p, _)| *p >= from && end.is_none_or(|e| *p < e))
                .map(|(_, c)| c)
                .collect();
            V::Str(Cow::Owned(taken))
        }
        (ScalarFunc::RegexReplace, [V::Str(s), V::Str(re), V::Str(with), start, occurrence]) => {
            match (int(start), int(occurrence)) {
                // A bad argument makes the value NULL and the row an error-stream row.
                (Some(st), Some(o)) => super::funcs::regex_replace(s, re, with, st, o)
                    .map_err(super::funcs::row_error)
                    .map_or(V::Null, |r| V::Str(Cow::Owned(r))),
                _ => V::Null,
            }
        }
        (ScalarFunc::CharToTimestamp, [V::Str(f), V::Str(s)]) => {
            super::funcs::char_to_timestamp(f, s).map_or(V::Null, V::Ts)
        }
        (ScalarFunc::TimestampToChar, [V::Str(f), V::Ts(t)]) => {
            super::funcs::timestamp_to_char(f, *t).map_or(V::Null, |s| V::Str(Cow::Owned(s)))
        }
        (ScalarFunc::TimestampToChar, [f @ V::Str(_), V::Str(s)]) => {
            match kds_common::time::parse_timestamp(s.as_bytes()) {
                Some(t) => call(func, vec![f.clone(), V::Ts(t)]),
                None => V::Null,
            }
        }
        (ScalarFunc::UnixTimestamp, [V::Ts(t)]) => V::Int(*t),
        (ScalarFunc::UnixTimestamp, [V::Str(s)]) => {
            kds_common::time::parse_timestamp(s.as_bytes()).map_or(V::Null, V::Int)
        }
        (ScalarFunc::Extract(field), [V::Ts(t)]) => V::Int(super::funcs::extract(field, *t)),
        (ScalarFunc::Cast(ty), [v]) => super::funcs::cast(v.clone(), ty),
        (f, _) if f.is_log_parser() => log_parse(f, &args),
        _ => V::Null,
    }
}

/// A log parser's row, or NULL.
fn log_parse(func: ScalarFunc, args: &[V<'_>]) -> V<'static> {
    let args: Vec<Value> = args.iter().cloned().map(to_json).collect();
    super::log_parse::call(func, &args).map_or(V::Null, |row| V::Row(Box::new(row)))
}

/// The record key that carries a row's ROWTIME (epoch ms) to `CURRENT_ROW_TIMESTAMP`.
pub const ROWTIME_KEY: &str = "$ROWTIME";

/// A runtime value.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum V<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Cow<'a, str>),
    /// Epoch milliseconds.
    Ts(i64),
    /// A log parser's row (`REGEX_LOG_PARSE`, ...): its columns by name.
    Row(Box<serde_json::Map<String, Value>>),
}

fn lookup<'a>(record: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(record, |v, k| v.get(k.as_str()))
}

fn column_value<'a>(c: &BoundColumn, record: &'a Value) -> V<'a> {
    let Some(v) = lookup(record, &c.path) else {
        return V::Null;
    };
    match (v, c.sql_type) {
        (Value::String(s), Some(SqlType::Timestamp | SqlType::Date)) => {
            kds_common::time::parse_timestamp(s.as_bytes()).map_or(V::Null, V::Ts)
        }
        (Value::String(s), Some(t)) if t.is_numeric() => {
            if let Ok(i) = s.trim().parse::<i64>() {
                V::Int(i)
            } else {
                s.trim().parse::<f64>().map_or(V::Null, V::Float)
            }
        }
        (Value::Number(n), Some(SqlType::Timestamp)) => n.as_i64().map_or(V::Null, V::Ts),
        (Value::Number(n), _) => match n.as_i64() {
            Some(i) => V::Int(i),
            None => n.as_f64().map_or(V::Null, V::Float),
        },
        (Value::String(s), _) => V::Str(Cow::Borrowed(s.as_str())),
        (Value::Bool(b), _) => V::Bool(*b),
        _ => V::Null,
    }
}

fn literal(l: &Literal) -> V<'_> {
    match l {
        Literal::Null => V::Null,
        Literal::Bool(b) => V::Bool(*b),
        Literal::Int(i) => V::Int(*i),
        Literal::Float(f) => V::Float(*f),
        Literal::Str(s) => V::Str(Cow::Borrowed(s.as_str())),
        Literal::Timestamp(t) => V::Ts(*t),
        // Only bound next to a timestamp (`ts - INTERVAL '5' MINUTE`).
        Literal::Interval(ms) => V::Int(*ms),
    }
}

fn compare(a: &V<'_>, b: &V<'_>) -> Option<Ordering> {
    match (a, b) {
        (V::Int(x), V::Int(y)) => Some(x.cmp(y)),
        (V::Int(x), V::Float(y)) => (*x as f64).partial_cmp(y),
        (V::Float(x), V::Int(y)) => x.partial_cmp(&(*y as f64)),
        (V::Float(x), V::Float(y)) => x.partial_cmp(y),
        (V::Str(x), V::Str(y)) => Some(x.as_ref().cmp(y.as_ref())),
        (V::Bool(x), V::Bool(y)) => Some(x.cmp(y)),
        (V::Ts(x), V::Ts(y)) => Some(x.cmp(y)),
        (V::Ts(x), V::Str(s)) => kds_common::time::parse_timestamp(s.as_bytes()).map(|y| x.cmp(&y)),
        (V::Str(s), V::Ts(y)) => kds_common::time::parse_timestamp(s.as_bytes()).map(|x| x.cmp(y)),
        _ => None,
    }
}

fn arith<'a>(op: BinOp, a: V<'a>, b: V<'a>) -> V<'a> {
    match (a, b) {
        (V::Int(x), V::Int(y)) => {
            let r = match op {
                BinOp::Add => x.checked_add(y),
                BinOp::Sub => x.checked_sub(y),
                BinOp::Mul => x.checked_mul(y),
                _ => {
                    if y == 0 {
                        return V::Null;
                    }
                    x.checked_div(y)
                }
            };
            // Overflow continues in floating point.
            r.map_or_else(|| arith(op, V::Float(x as f64), V::Float(y as f64)), V::Int)
        }
        (V::Ts(t), V::Int(ms)) if op == BinOp::Add => t.checked_add(ms).map_or(V::Null, V::Ts),
        (V::Ts(t), V::Int(ms)) if op == BinOp::Sub => t.checked_sub(ms).map_or(V::Null, V::Ts),
        (V::Int(x), V::Float(y)) => arith(op, V::Float(x as f64), V::Float(y)),
        (V::Float(x), V::Int(y)) => arith(op, V::Float(x), V::Float(y as f64)),
        (V::Float(x), V::Float(y)) => match op {
            BinOp::Add => V::Float(x + y),
            BinOp::Sub => V::Float(x - y),
            BinOp::Mul => V::Float(x * y),
            _ if y == 0.0 => V::Null,
            _ => V::Float(x / y),
        },
        _ => V::Null,
    }
}

fn text<'a>(v: &V<'a>) -> Option<Cow<'a, str>> {
    match v {
        V::Str(s) => Some(s.clone()),
        V::Int(i) => Some(Cow::Owned(i.to_string())),
        V::Float(f) => Some(Cow::Owned(f.to_string())),
        V::Bool(b) => Some(Cow::Owned(if *b { "TRUE" } else { "FALSE" }.to_string())),
        V::Ts(t) => Some(Cow::Owned(kds_common::time::rfc3339_ms(*t))),
        V::Null | V::Row(_) => None,
    }
}

fn truth(v: &V<'_>) -> Option<bool> {
    match v {
        V::Bool(b) => Some(*b),
        _ => None,
    }
}

fn not3(v: Option<bool>) -> V<'static> {
    v.map_or(V::Null, |b| V::Bool(!b))
}

fn eval<'a>(e: &'a BoundExpr, r: &'a Value) -> V<'a> {
    match e {
        BoundExpr::Column(c) => column_value(c, r),
        BoundExpr::Literal(l) => literal(l),
        BoundExpr::Unary {
            op: UnOp::Not,
            expr,
        } => not3(truth(&eval(expr, r))),
        BoundExpr::Unary {
            op: UnOp::Neg,
            expr,
        } => negate(eval(expr, r)),
        BoundExpr::Binary {
            op: BinOp::And,
            left,
            right,
        } => connective(left, right, r, false),
        BoundExpr::Binary {
            op: BinOp::Or,
            left,
            right,
        } => connective(left, right, r, true),
        BoundExpr::Binary { op, left, right } => binary(*op, eval(left, r), eval(right, r)),
        BoundExpr::IsNull { expr, negated } => V::Bool((eval(expr, r) == V::Null) != *negated),
        BoundExpr::Like {
            expr,
            program,
            negated,
        } => match text(&eval(expr, r)) {
            None => V::Null,
            Some(s) => {
                let chars: Vec<char> = s.chars().collect();
                V::Bool(like_match(program, &chars) != *negated)
            }
        },
        BoundExpr::Between {
            expr,
            low,
            high,
            negated,
        } => between(eval(expr, r), eval(low, r), eval(high, r), *negated),
        BoundExpr::Call {
            func: ScalarFunc::CurrentRowTimestamp,
            ..
        } => V::Ts(
            r.get(ROWTIME_KEY)
                .and_then(Value::as_i64)
                .unwrap_or_else(kds_common::time::now_ms),
        ),
        BoundExpr::Call { func, args } => {
            let vals: Vec<V> = args.iter().map(|a| eval(a, r)).collect();
            call(*func, vals)
        }
        BoundExpr::InList {
            expr,
            list,
            negated,
        } => in_list(eval(expr, r), list, *negated),
    }
}

/// Unary minus; an integer that cannot be negated continues in floating point.
fn negate(v: V<'_>) -> V<'_> {
    match v {
        V::Int(i) => i.checked_neg().map_or(V::Float(-(i as f64)), V::Int),
        V::Float(f) => V::Float(-f),
        _ => V::Null,
    }
}

/// Three-valued AND (`wins` FALSE) or OR (`wins` TRUE): either side `wins` decides (a left
/// side that does skips the right), both sides the other truth value give it, anything else
/// (a NULL) is NULL.
fn connective<'a>(left: &'a BoundExpr, right: &'a BoundExpr, r: &'a Value, wins: bool) -> V<'a> {
    let l = truth(&eval(left, r));
    if l == Some(wins) {
        return V::Bool(wins);
    }
    match (l, truth(&eval(right, r))) {
        (_, Some(b)) if b == wins => V::Bool(wins),
        (Some(_), Some(_)) => V::Bool(!wins),
        _ => V::Null,
    }
}

/// `||`, arithmetic and comparison; NULL on either side makes NULL.
fn binary<'a>(op: BinOp, a: V<'a>, b: V<'a>) -> V<'a> {
    if a == V::Null || b == V::Null {
        return V::Null;
    }
    match op {
        BinOp::Concat => match (text(&a), text(&b)) {
            (Some(x), Some(y)) => V::Str(Cow::Owned(format!("{x}{y}"))),
            _ => V::Null,
        },
        BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div => arith(op, a, b),
        _ => match compare(&a, &b) {
            None => V::Null,
            Some(o) => V::Bool(match op {
                BinOp::Eq => o == Ordering::Equal,
                BinOp::Ne => o != Ordering::Equal,
                BinOp::Lt => o == Ordering::Less,
                BinOp::Le => o != Ordering::Greater,
                BinOp::Gt => o == Ordering::Greater,
                _ => o != Ordering::Less,
            }),
        },
    }
}

/// `v [NOT] BETWEEN low AND high`, NULL when a bound cannot be compared and none rules it out.
fn between(v: V<'_>, low: V<'_>, high: V<'_>, negated: bool) -> V<'static> {
    let ge = compare(&v, &low).map(|o| o != Ordering::Less);
    let le = compare(&v, &high).map(|o| o != Ordering::Greater);
    let inside = match (ge, le) {
        (Some(false), _) | (_, Some(false)) => Some(false),
        (Some(true), Some(true)) => Some(true),
        _ => None,
    };
    match inside {
        None => V::Null,
        Some(b) => V::Bool(b != negated),
    }
}

/// `v [NOT] IN (...)`: NULL when no literal matches and some could not be compared.
fn in_list(v: V<'_>, list: &[Literal], negated: bool) -> V<'static> {
    if v == V::Null {
        return V::Null;
    }
    let mut unknown = false;
    for l in list {
        match compare(&v, &literal(l)) {
            Some(Ordering::Equal) => return V::Bool(!negated),
            None => unknown = true,
            _ => {}
        }
    }
    if unknown {
        V::Null
    } else {
        V::Bool(negated)
    }
}

/// The value of a select-list expression as JSON: timestamps as RFC 3339 with milliseconds, a
/// floating-point result that is not finite as NULL.
pub fn eval_json(expr: &BoundExpr, record: &Value) -> Value {
    to_json(eval(expr, record))
}

/// A runtime value as JSON (see [`eval_json`]).
fn to_json(v: V<'_>) -> Value {
    match v {
        V::Null => Value::Null,
        V::Bool(b) => Value::Bool(b),
        V::Int(i) => Value::from(i),
        V::Float(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        V::Str(s) => Value::String(s.into_owned()),
        V::Ts(t) => Value::String(kds_common::time::rfc3339_ms(t)),
        V::Row(row) => Value::Object(*row),
    }
}

/// True when the WHERE condition is TRUE for `record` (NULL and FALSE drop the record).
pub fn eval_filter(expr: &BoundExpr, record: &Value) -> bool {
    eval(expr, record) == V::Bool(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn and_or_follow_three_valued_logic() {
        let lit = |v: Option<bool>| BoundExpr::Literal(v.map_or(Literal::Null, Literal::Bool));
        let op = |op, l, r| {
            let e = BoundExpr::Binary {
                op,
                left: Box::new(lit(l)),
                right: Box::new(lit(r)),
            };
            truth(&eval(&e, &Value::Null))
        };
        let (t, f, n) = (Some(true), Some(false), None);
        for (l, r, and, or) in [
            (t, t, t, t),
            (t, f, f, t),
            (f, t, f, t),
            (f, f, f, f),
            (t, n, n, t),
            (n, t, n, t),
            (f, n, f, n),
            (n, f, f, n),
            (n, n, n, n),
        ] {
            assert_eq!(op(BinOp::And, l, r), and, "{l:?} AND {r:?}");
            assert_eq!(op(BinOp::Or, l, r), or, "{l:?} OR {r:?}");
        }
    }

    #[test]
    fn like_patterns() {
        let m = |p: &str, s: &str| {
            let prog = like_program(p, Some('\\')).unwrap();
            like_match(&prog, &s.chars().collect::<Vec<_>>())
        };
        assert!(m("P10%", "P1002"));
        assert!(!m("P10%", "P2002"));
        assert!(m("%02", "P1002"));
        assert!(m("_1_0_", "P1002"));
        assert!(!m("_1_0_", "P10022"));
        assert!(m("%a%b%", "xxaxxbxx"));
        assert!(!m("%a%b", "xxaxxbxx"));
        assert!(m("100\\%", "100%"));
        assert!(!m("100\\%", "1000"));
        assert!(m("%", ""));
        assert!(like_program("a\\", Some('\\')).is_err());
    }

    #[test]
    fn scalar_functions_follow_sql() {
        let s = |t: &'static str| V::Str(Cow::Borrowed(t));
        let owned = |t: &str| V::Str(Cow::Owned(t.to_string()));
        let f = ScalarFunc::Substring;
        // Positions are 1-based; a start before 1 still counts towards the length.
        assert_eq!(call(f, vec![s("hello"), V::Int(0), V::Int(3)]), owned("he"));
        assert_eq!(call(f, vec![s("hello"), V::Int(4)]), owned("lo"));
        assert_eq!(call(f, vec![s("hello"), V::Int(9), V::Int(2)]), owned(""));
        assert_eq!(call(f, vec![s("hello"), V::Int(1), V::Int(-1)]), V::Null);
        assert_eq!(
            call(ScalarFunc::Position, vec![s("é"), s("café")]),
            V::Int(4)
        );
        assert_eq!(
            call(ScalarFunc::Position, vec![s("x"), s("café")]),
            V::Int(0)
        );
        assert_eq!(call(ScalarFunc::CharLength, vec![s("café")]), V::Int(4));
        assert_eq!(call(ScalarFunc::Trim, vec![s("  a b  ")]), owned("a b"));
        assert_eq!(call(ScalarFunc::Upper, vec![s("ab")]), owned("AB"));
        assert_eq!(
            call(ScalarFunc::Abs, vec![V::Int(i64::MIN)]),
            V::Float(9.223372036854776e18)
        );
        assert_eq!(call(ScalarFunc::Lower, vec![V::Null]), V::Null);
    }
}
