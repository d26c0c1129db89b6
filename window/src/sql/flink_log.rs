//! A subquery in FROM, inlined into the pump: the guide's log-parser examples ("Parsing Log
//! Strings", "Parsing Web Logs", "Split Strings into Multiple Fields") name a parser's row in a
//! subquery (`REGEX_LOG_PARSE(LOGENTRY, '...') AS REC`) and read its columns (`T.REC.COLUMN1`).
//! Flink has no row-valued parser, so each column the pump reads becomes one call:
//!
//! - `REGEX_LOG_PARSE` and `W3C_LOG_PARSE` (which kds-window compiles to a regular expression,
//!   the one used here): group i is `REGEXP_EXTRACT(s, '^(?:regex)\z', i)`. Flink's
//!   REGEXP_EXTRACT runs Java's regex `find` and gives group i (from 1), NULL without a match
//!   (Flink documentation, "System (Built-in) Functions", String Functions); anchored at both
//!   ends it is KDA's whole-string match ("REGEX_LOG_PARSE", KDA SQL Reference), `\z` being the
//!   very end as kds-window's `$` (Java's `$` also matches before a final line break).
//! - `VARIABLE_COLUMN_LOG_PARSE` without escape or quote characters: field i is
//!   `SPLIT_INDEX(s, delimiter, i - 1)` (0-based; NULL past the last field, as KDA's missing
//!   fields), cast to its declared `VARCHAR(n)`.
//!
//! A name the subquery does not give reads as NULL, as kds-window reads a missing field.

use serde_json::Value;

use super::bind::{bind_expr, resolve_column, BoundColumn};
use super::eval::BoundExpr;
use super::flink::{expr, lit_str, q};
use super::flink_rows::{refuse, untranslatable, Relation};
use super::log_parse::{compile, LogParser};
use super::{Literal, RowPlan, ScalarFunc, Schema, SqlError, SqlType};

/// A subquery column in Flink SQL: a value, or a parser's row (its columns by name).
enum Derived {
    Value(String),
    Row(Vec<(String, String)>),
}

/// The pump reads the subquery `sub`: its columns inlined, its WHERE kept.
pub(super) fn subquery_relation<'a>(
    sub: &RowPlan,
    schema: &'a Schema,
) -> Result<Relation<'a>, SqlError> {
    if !sub.sliding.is_empty() {
        return Err(refuse("a sliding window in a subquery yet"));
    }
    let envelope = std::cell::Cell::new(false);
    let col = |id: &super::Ident| resolve_column(id, Some(schema), &envelope);
    let mut derived: Vec<(String, Derived)> = Vec::new();
    for (name, _, e) in &sub.columns {
        let value = match bind_expr(e, &col)?.0 {
            BoundExpr::Call { func, args } if func.is_log_parser() => {
                Derived::Row(parser_columns(func, &args)?)
            }
            other => Derived::Value(translated(&other)?),
        };
        derived.push((name.clone(), value));
    }
    let conditions = match &sub.filter {
        Some(f) => vec![translated(&bind_expr(f, &col)?.0)?],
        None => Vec::new(),
    };
    if envelope.get() {
        return Err(refuse(
            "APPROXIMATE_ARRIVAL_TIME inside a subquery without OVER aggregates (the subquery is \
             inlined into its pump, whose arrival-time source is not written yet)",
        ));
    }
    Ok(Relation {
        from: q(&sub.source),
        schema: None,
        column: Box::new(move |c| inline(&derived, c)),
        conditions,
        tables: String::new(),
    })
}

fn translated(e: &BoundExpr) -> Result<String, SqlError> {
    match untranslatable(e) {
        Some(why) => Err(refuse(why)),
        None => Ok(expr(e)),
    }
}

/// The subquery's value for a column the pump reads (`T.LOGENTRY`, `T.REC.COLUMN1`).
fn inline(derived: &[(String, Derived)], c: &BoundColumn) -> String {
    let found = match c.path.as_slice() {
        [name] => derived.iter().find_map(|(n, d)| match d {
            Derived::Value(v) if n == name => Some(v.clone()),
            _ => None,
        }),
        [name, field] => derived.iter().find_map(|(n, d)| match d {
            Derived::Row(cols) if n == name => cols
                .iter()
                .find(|(c, _)| c == field)
                .map(|(_, v)| v.clone()),
            _ => None,
        }),
        _ => None,
    };
    found.unwrap_or_else(|| "CAST(NULL AS STRING)".to_string())
}

/// A literal argument as the parser compiler takes it.
fn literal_value(e: &BoundExpr) -> Value {
    match e {
        BoundExpr::Literal(Literal::Str(s)) => Value::from(s.as_str()),
        BoundExpr::Literal(Literal::Int(i)) => Value::from(*i),
        _ => Value::Null,
    }
}

/// The parser's columns, each as one Flink call on the parsed string.
fn parser_columns(func: ScalarFunc, args: &[BoundExpr]) -> Result<Vec<(String, String)>, SqlError> {
    let Some(input) = args.first() else {
        return Err(refuse("a log parser without arguments"));
    };
    let input = translated(input)?;
    let mut described = vec![Value::Null];
    described.extend(args[1..].iter().map(literal_value));
    // Checked when the SQL was read: an error here is a parser the query does not have.
    let parser = compile(func, &described).map_err(|m| refuse(&m))?;
    match parser {
        LogParser::Regex(re, names) => {
            let whole = java_whole_match(re.as_str());
            Ok(names
                .into_iter()
                .enumerate()
                .map(|(i, name)| {
                    let group = format!("REGEXP_EXTRACT({input}, {}, {})", lit_str(&whole), i + 1);
                    (name, format!("CAST({group} AS VARCHAR(1024))"))
                })
                .collect())
        }
        LogParser::Variable {
            columns,
            delimiter,
            escape,
            quote,
        } => split_columns(
            &input,
            columns,
            &delimiter,
            escape.is_some() || quote.is_some(),
        ),
    }
}

/// `VARIABLE_COLUMN_LOG_PARSE`'s fields as `SPLIT_INDEX` calls.
fn split_columns(
    input: &str,
    columns: Vec<(String, SqlType)>,
    delimiter: &str,
    escaped: bool,
) -> Result<Vec<(String, String)>, SqlError> {
    if escaped {
        return Err(refuse(
            "VARIABLE_COLUMN_LOG_PARSE with an escape or quote character (Flink's SPLIT_INDEX \
             splits at every delimiter)",
        ));
    }
    columns
        .into_iter()
        .enumerate()
        .map(|(i, (name, ty))| {
            let n =
                match ty {
                    SqlType::Varchar(n) | SqlType::Char(n) => n,
                    _ => return Err(refuse(
                        "VARIABLE_COLUMN_LOG_PARSE columns of a type other than VARCHAR (KDA's \
                         conversion of a field's text is not Flink's CAST)",
                    )),
                };
            let field = format!("SPLIT_INDEX({input}, {}, {i})", lit_str(delimiter));
            Ok((name, format!("CAST({field} AS VARCHAR({n}))")))
        })
        .collect()
}

/// kds-window's anchored pattern (`^(?:...)$`) with `\z` for its end: Java's `$` also matches
/// before a final line break, kds-window's does not.
fn java_whole_match(anchored: &str) -> String {
    match anchored.strip_suffix('$') {
        Some(body) => format!("{body}\\z"),
        None => anchored.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_anchored_pattern_ends_at_the_very_end_in_java() {
        assert_eq!(java_whole_match("^(?:(a)b)$"), "^(?:(a)b)\\z");
        assert_eq!(java_whole_match("^x"), "^x");
    }
}
