//! `TOP_K_ITEMS_TUMBLING` ("TOP_K_ITEMS_TUMBLING Function", KDA SQL Reference; "Example: Most
//! Frequently Occurring Values", KDA SQL Developer Guide): the `k` most frequent values of a
//! column in each tumbling window over ROWTIME, one row per value with its count, written when
//! the window closes (its ROWTIME the window's end).
//!
//! KDA approximated the counts ("the function may return three of the five most traded
//! stocks"); here they are exact: every distinct value of the open window is counted. Ties are
//! broken by the value's text, ascending, so equal inputs give equal rows.
//!
//! Memory: one counter per distinct value in the open window. A window closes at its end: when
//! a row read after it arrives, on the clock when a live input goes quiet, or when the input
//! ends.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;

use super::bind::BoundColumn;
use super::{Ident, SqlError};

/// The parsed call: which column, how many values, the window size.
#[derive(Debug, Clone, PartialEq)]
pub struct TopKPlan {
    /// The column named in single quotes (`'TICKER_SYMBOL'`).
    pub column: Ident,
    pub k: usize,
    pub window: Duration,
    /// The destination column that gets the value (declaration order); the other one gets
    /// the count.
    pub item_index: usize,
}

/// A top-K pump's open window.
pub struct TopK {
    column: BoundColumn,
    k: usize,
    size_ms: i64,
    item_index: usize,
    /// The open window's start (epoch ms), once a row arrived.
    start: Option<i64>,
    /// Per distinct value (its JSON text): the value and how often it came.
    counts: HashMap<String, (Value, u64)>,
}

/// Resolves the counted column with `col`: as written in the quotes, then ignoring case.
pub fn bind_top_k(
    plan: &TopKPlan,
    col: &dyn Fn(&Ident) -> Result<BoundColumn, SqlError>,
) -> Result<TopK, SqlError> {
    let quoted = Ident {
        quoted: true,
        ..plan.column.clone()
    };
    let column = col(&quoted).or_else(|_| col(&plan.column))?;
    Ok(TopK {
        column,
        k: plan.k,
        size_ms: i64::try_from(plan.window.as_millis())
            .unwrap_or(i64::MAX)
            .max(1),
        item_index: plan.item_index,
        start: None,
        counts: HashMap::new(),
    })
}

impl TopK {
    /// Counts `record`, read at `now`; returns the rows of the window it closed, if any, as
    /// (ROWTIME, values in declaration order).
    pub fn push(&mut self, record: &Value, now: i64) -> Vec<(i64, Vec<Value>)> {
        let start = now - now.rem_euclid(self.size_ms);
        let closed = match self.start {
            Some(open) if open != start => self.finish(),
            _ => Vec::new(),
        };
        self.start = Some(start);
        let value = self
            .column
            .path
            .iter()
            .try_fold(record, |v, k| v.get(k))
            .unwrap_or(&Value::Null);
        // NULL is not a value to count (aggregates skip NULL).
        if !value.is_null() {
            let entry = self
                .counts
                .entry(value.to_string())
                .or_insert_with(|| (value.clone(), 0));
            entry.1 += 1;
        }
        closed
    }

    /// When the open window closes (its end, epoch ms), if one is open.
    pub fn next_close(&self) -> Option<i64> {
        self.start.map(|s| s.saturating_add(self.size_ms))
    }

    /// Closes the open window if it ended by `now` (the clock moved on without a record).
    pub fn expire(&mut self, now: i64) -> Vec<(i64, Vec<Value>)> {
        match self.next_close() {
            Some(end) if end <= now => self.finish(),
            _ => Vec::new(),
        }
    }

    /// Closes the open window: its top `k` values, most frequent first.
    pub fn finish(&mut self) -> Vec<(i64, Vec<Value>)> {
        let Some(start) = self.start.take() else {
            return Vec::new();
        };
        let mut items: Vec<(String, (Value, u64))> = self.counts.drain().collect();
        items.sort_by(|(a_text, (a, a_n)), (b_text, (b, b_n))| {
            b_n.cmp(a_n)
                .then_with(|| sort_text(a, a_text).cmp(sort_text(b, b_text)))
        });
        items.truncate(self.k);
        let rowtime = start.saturating_add(self.size_ms);
        items
            .into_iter()
            .map(|(_, (value, n))| {
                let mut row = vec![Value::from(n), Value::from(n)];
                row[self.item_index] = value;
                (rowtime, row)
            })
            .collect()
    }
}

/// A string value sorts by its text, anything else by its JSON text.
fn sort_text<'a>(v: &'a Value, json: &'a str) -> &'a str {
    v.as_str().unwrap_or(json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn top_k(k: usize, seconds: u64) -> TopK {
        let plan = TopKPlan {
            column: Ident::unquoted("ticker_symbol"),
            k,
            window: Duration::from_secs(seconds),
            item_index: 0,
        };
        let col = |id: &Ident| {
            Ok(BoundColumn {
                name: id.name.clone(),
                path: vec!["TICKER_SYMBOL".to_string()],
                sql_type: None,
            })
        };
        bind_top_k(&plan, &col).unwrap()
    }

    fn push(t: &mut TopK, ticker: Value, now: i64) -> Vec<(i64, Vec<Value>)> {
        t.push(&json!({ "TICKER_SYMBOL": ticker }), now)
    }

    #[test]
    fn counts_per_window_and_keeps_the_k_most_frequent() {
        let mut t = top_k(2, 60);
        for (ticker, now) in [("A", 1_000), ("B", 2_000), ("B", 3_000), ("C", 4_000)] {
            assert!(push(&mut t, json!(ticker), now).is_empty());
        }
        push(&mut t, json!("C"), 5_000);
        push(&mut t, json!("C"), 59_999);
        // The next minute's first row closes the first window: C 3, B 2 (A 1 is cut).
        let closed = push(&mut t, json!("A"), 60_000);
        assert_eq!(
            closed,
            vec![
                (60_000, vec![json!("C"), json!(3)]),
                (60_000, vec![json!("B"), json!(2)]),
            ]
        );
        assert_eq!(t.finish(), vec![(120_000, vec![json!("A"), json!(1)])]);
        assert!(t.finish().is_empty());
    }

    #[test]
    fn the_clock_closes_the_window_at_its_end() {
        let mut t = top_k(2, 60);
        assert_eq!(t.next_close(), None);
        assert!(t.expire(1_000_000).is_empty());
        push(&mut t, json!("A"), 61_000);
        assert_eq!(t.next_close(), Some(120_000));
        assert!(t.expire(119_999).is_empty());
        assert_eq!(
            t.expire(120_000),
            vec![(120_000, vec![json!("A"), json!(1)])]
        );
        assert_eq!(t.next_close(), None);
        assert!(t.finish().is_empty());
    }

    #[test]
    fn ties_sort_by_value_and_nulls_are_not_counted() {
        let mut t = top_k(10, 1);
        for ticker in [json!("MSFT"), json!("AMZN"), Value::Null, json!("INTC")] {
            push(&mut t, ticker, 500);
        }
        let rows: Vec<Value> = t.finish().into_iter().map(|(_, r)| r[0].clone()).collect();
        assert_eq!(rows, vec![json!("AMZN"), json!("INTC"), json!("MSFT")]);
    }

    #[test]
    fn count_goes_first_when_the_destination_declares_it_first() {
        let mut t = top_k(1, 60);
        t.item_index = 1;
        push(&mut t, json!(7), 0);
        push(&mut t, json!(7), 1);
        assert_eq!(t.finish(), vec![(60_000, vec![json!(2), json!(7)])]);
    }
}
