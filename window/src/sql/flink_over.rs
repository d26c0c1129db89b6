//! A pump's SELECT as Flink SQL, with OVER aggregates on several windows. Flink computes all of
//! a streaming SELECT's OVER aggregates on one window (Flink documentation, "Over Aggregation":
//! "the OVER windows for all aggregates must be identical"), where KDA's SELECT may name several
//! (the guide's "Sliding Windows": `AVG(price) OVER last2rows, AVG(price) OVER last10rows`).
//! So the aggregates of every window but the last are computed in subqueries, one window each,
//! the first window innermost: each layer passes every column it reads through (`SELECT *`,
//! the `proctime` time attribute included, which Flink keeps through an OVER aggregation so the
//! next layer orders by it) and adds its aggregates as `$over<i>` columns (i: the destination
//! column's index); the pump's own SELECT computes the last window's aggregates and reads the
//! others. The WHERE clause filters the innermost layer, as KDA drops a record before any
//! window sees it.

use std::fmt::Write as _;

use super::flink::q;
use super::flink_rows::{refuse, values, where_clause, Relation};
use super::{RowPlan, SqlError, SqlType};

/// A pump's SELECT: its select-list items and what they read.
pub(super) struct PumpSelect {
    /// `  value AS `name``, one per destination column, in declaration order.
    pub items: Vec<String>,
    /// The text after FROM: the relation, or the subqueries of the first windows around it.
    pub from: String,
    pub filter: Option<String>,
}

impl PumpSelect {
    /// `SELECT <lead items>, <items> FROM .. [WHERE ..]`, without the final `;`.
    pub fn text(&self, lead: &[String]) -> String {
        let mut items: Vec<String> = lead.iter().map(|l| format!("  {l}")).collect();
        items.extend(self.items.iter().cloned());
        let mut text = format!("SELECT\n{}\nFROM {}", items.join(",\n"), self.from);
        if let Some(f) = &self.filter {
            let _ = write!(text, "\nWHERE {f}");
        }
        text
    }
}

/// `text` as a subquery in FROM: in parentheses, indented, unless a line has an odd number of
/// quotes (a string literal, or a quoted name, that spans lines: indenting would change it).
pub(super) fn subquery(text: &str) -> String {
    if text.lines().any(|l| l.matches('\'').count() % 2 == 1) {
        return format!("(\n{text}\n)");
    }
    let inner: Vec<String> = text.lines().map(|l| format!("  {l}")).collect();
    format!("(\n{}\n)", inner.join("\n"))
}

/// The pump `plan`'s SELECT over `rel`: each value cast to `cast(declared type)` where that
/// gives a type (`None`: the value as computed), aggregates on windows other than the last
/// computed in subqueries; `envelope` is set when it reads `APPROXIMATE_ARRIVAL_TIME`.
pub(super) fn pump_select(
    plan: &RowPlan,
    rel: &Relation<'_>,
    cast: &dyn Fn(SqlType) -> Option<String>,
    envelope: &std::cell::Cell<bool>,
) -> Result<PumpSelect, SqlError> {
    let values = values(plan, rel, envelope)?;
    let mut filter = where_clause(plan, rel, envelope)?;
    let mut windows: Vec<&str> = Vec::new();
    for w in values.iter().filter_map(|v| v.over.as_deref()) {
        if !windows.contains(&w) {
            windows.push(w);
        }
    }
    let last = windows.pop();
    if !windows.is_empty() && !rel.tables.is_empty() {
        // A layer's `SELECT *` would lose the stream's and the table's qualified names.
        return Err(refuse(
            "OVER aggregates on different windows in a pump that joins a reference table",
        ));
    }
    let mut from = rel.from.clone();
    for window in &windows {
        let mut items = vec!["  *".to_string()];
        for (i, v) in values.iter().enumerate() {
            if v.over.as_deref() == Some(*window) {
                items.push(format!("  {} {window} AS {}", v.value, over_column(i)));
            }
        }
        let layer = PumpSelect {
            items,
            from,
            filter: filter.take(),
        };
        from = subquery(&layer.text(&[]));
    }
    let mut items = Vec::new();
    for (i, ((name, ty, _), v)) in plan.columns.iter().zip(&values).enumerate() {
        let value = match v.over.as_deref() {
            None => v.value.clone(),
            Some(w) if Some(w) == last => format!("{} {w}", v.value),
            Some(_) => over_column(i),
        };
        let value = match cast(*ty) {
            Some(t) => format!("CAST({value} AS {t})"),
            None => value,
        };
        items.push(format!("  {value} AS {}", q(name)));
    }
    Ok(PumpSelect {
        items,
        from,
        filter,
    })
}

/// The column a layer computes destination column `i`'s aggregate into.
fn over_column(i: usize) -> String {
    q(&format!("$over{i}"))
}

/// ROWTIME of a row the pumps read from the source: its processing time, as TIMESTAMP(3) like
/// the windowed pumps' bounds (in the session time zone, which the printed header asks to be UTC).
pub(super) const PROCTIME_ROWTIME: &str = "CAST(`proctime` AS TIMESTAMP(3)) AS `ROWTIME`";

/// The last pump without GROUP BY: `INSERT INTO dest SELECT <rowtime>, <select>` (its values
/// cast to the sink's types).
pub(super) fn write_insert(o: &mut String, plan: &RowPlan, select: &PumpSelect, rowtime: &str) {
    let _ = writeln!(
        o,
        "-- The pump: each record that passes the WHERE clause, as it is read."
    );
    let _ = writeln!(
        o,
        "INSERT INTO {}\n{};",
        q(&plan.destination),
        select.text(&[rowtime.to_string()])
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subquery_is_indented_unless_a_literal_spans_lines() {
        assert_eq!(
            subquery("SELECT\n  `a`\nFROM `S`\nWHERE `b` = 'x''y'"),
            "(\n  SELECT\n    `a`\n  FROM `S`\n  WHERE `b` = 'x''y'\n)"
        );
        let spanning = "SELECT\n  `a`\nFROM `S`\nWHERE `b` = 'x\ny'";
        assert_eq!(subquery(spanning), format!("(\n{spanning}\n)"));
    }
}
