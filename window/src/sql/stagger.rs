//! Stagger windows ("Stagger Windows", KDA SQL Developer Guide): a window per partition key that
//! opens when the key's first row arrives and closes `range` later (on ROWTIME); then one row
//! with the keys and the aggregates over the window's rows is written, its ROWTIME the close.
//!
//! Memory: every open window (one per key seen within the last `range`) and the aggregated
//! values of its rows. A window closes at its end: when a row read after it arrives, on the
//! clock when a live input goes quiet (the per-row loop waits for the next close), or when the
//! input ends.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};

use serde_json::Value;

use super::bind::BoundColumn;
use super::sliding::aggregate;
use super::{AggFunc, Ident, SqlError, StaggerKey, StaggerPlan, StaggerValue};

enum Key {
    Column(BoundColumn),
    /// A time column rounded down to this many milliseconds.
    Floor(BoundColumn, i64),
}

enum Out {
    Key(usize),
    Aggregate(AggFunc, Option<BoundColumn>),
}

struct Open {
    closes_at: i64,
    keys: Vec<Value>,
    /// Per aggregate output: (ROWTIME, argument) of each row.
    rows: Vec<VecDeque<(i64, Value)>>,
}

/// A stagger pump's windows.
pub struct Stagger {
    keys: Vec<Key>,
    range_ms: i64,
    outs: Vec<Out>,
    open: HashMap<String, Open>,
    /// Keys in the order their windows close (all have the same range).
    closing: VecDeque<String>,
}

/// Resolves the plan's columns with `col`.
pub fn bind_stagger(
    plan: &StaggerPlan,
    col: &dyn Fn(&Ident) -> Result<BoundColumn, SqlError>,
) -> Result<Stagger, SqlError> {
    let mut keys = Vec::new();
    for k in &plan.partition_by {
        keys.push(match k {
            StaggerKey::Column(c) => Key::Column(col(c)?),
            StaggerKey::Floor(c, size) => {
                let ms = i64::try_from(size.as_millis()).unwrap_or(i64::MAX).max(1);
                Key::Floor(col(c)?, ms)
            }
        });
    }
    let mut outs = Vec::new();
    for v in &plan.values {
        outs.push(match v {
            StaggerValue::Key(i) => Out::Key(*i),
            StaggerValue::Aggregate { func, column } => {
                Out::Aggregate(*func, column.as_ref().map(col).transpose()?)
            }
        });
    }
    Ok(Stagger {
        keys,
        range_ms: i64::try_from(plan.range.as_millis()).unwrap_or(i64::MAX),
        outs,
        open: HashMap::new(),
        closing: VecDeque::new(),
    })
}

fn lookup<'v>(v: &'v Value, path: &[String]) -> Option<&'v Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

fn floor_time(v: &Value, ms: i64) -> Value {
    let t = match v {
        Value::String(s) => kds_common::time::parse_timestamp(s.as_bytes()),
        Value::Number(n) => n.as_i64(),
        _ => None,
    };
    t.map_or(Value::Null, |t| {
        Value::String(kds_common::time::rfc3339_ms(t.div_euclid(ms) * ms))
    })
}

impl Stagger {
    /// Closes the windows that ended by `now` (their rows: ROWTIME and column values), then
    /// adds `record`, read at `now`, to its key's window (opening it).
    pub fn push(&mut self, record: &Value, now: i64) -> Vec<(i64, Vec<Value>)> {
        let closed = self.close(Some(now));
        let keys: Vec<Value> = self
            .keys
            .iter()
            .map(|k| match k {
                Key::Column(c) => lookup(record, &c.path).cloned().unwrap_or(Value::Null),
                Key::Floor(c, ms) => {
                    lookup(record, &c.path).map_or(Value::Null, |v| floor_time(v, *ms))
                }
            })
            .collect();
        let id = serde_json::to_string(&keys).unwrap_or_default();
        let aggregates = self
            .outs
            .iter()
            .filter(|o| matches!(o, Out::Aggregate(..)))
            .count();
        let open = match self.open.entry(id) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                self.closing.push_back(e.key().clone());
                e.insert(Open {
                    closes_at: now.saturating_add(self.range_ms),
                    keys,
                    rows: vec![VecDeque::new(); aggregates],
                })
            }
        };
        let args = self.outs.iter().filter_map(|o| match o {
            Out::Aggregate(_, arg) => Some(arg),
            Out::Key(_) => None,
        });
        for (rows, arg) in open.rows.iter_mut().zip(args) {
            let v = arg
                .as_ref()
                .and_then(|c| lookup(record, &c.path).cloned())
                .unwrap_or(Value::Null);
            rows.push_back((now, v));
        }
        closed
    }

    /// Closes the windows that ended by `now` (the clock moved on without a record).
    pub fn expire(&mut self, now: i64) -> Vec<(i64, Vec<Value>)> {
        self.close(Some(now))
    }

    /// When the first open window closes (windows close in the order they opened: one range).
    pub fn next_close(&self) -> Option<i64> {
        self.closing
            .front()
            .and_then(|id| self.open.get(id))
            .map(|o| o.closes_at)
    }

    /// Closes every window (the input ended).
    pub fn finish(&mut self) -> Vec<(i64, Vec<Value>)> {
        self.close(None)
    }

    /// Open windows and the rows they hold (the memory bound's measure).
    pub fn held(&self) -> (usize, usize) {
        let rows = self
            .open
            .values()
            .map(|o| o.rows.first().map_or(0, VecDeque::len))
            .sum();
        (self.open.len(), rows)
    }

    fn close(&mut self, now: Option<i64>) -> Vec<(i64, Vec<Value>)> {
        let mut out = Vec::new();
        while let Some(id) = self.closing.front() {
            let due = self
                .open
                .get(id)
                .is_none_or(|o| now.is_none_or(|n| o.closes_at <= n));
            if !due {
                break;
            }
            let Some(open) = self
                .closing
                .pop_front()
                .and_then(|id| self.open.remove(&id))
            else {
                continue;
            };
            let mut aggs = open.rows.iter();
            let values = self
                .outs
                .iter()
                .map(|o| match o {
                    Out::Key(i) => open.keys.get(*i).cloned().unwrap_or(Value::Null),
                    Out::Aggregate(func, _) => {
                        aggs.next().map_or(Value::Null, |r| aggregate(*func, r))
                    }
                })
                .collect();
            out.push((open.closes_at, values));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    #[test]
    fn windows_open_per_key_and_close_after_the_range() {
        let col = |id: &Ident| {
            Ok(BoundColumn {
                name: id.name.clone(),
                path: vec![id.name.clone()],
                sql_type: None,
            })
        };
        let plan = StaggerPlan {
            partition_by: vec![StaggerKey::Column(Ident::unquoted("k"))],
            range: Duration::from_secs(60),
            values: vec![
                StaggerValue::Key(0),
                StaggerValue::Aggregate {
                    func: AggFunc::Count,
                    column: Some(Ident::unquoted("k")),
                },
            ],
        };
        let mut s = bind_stagger(&plan, &col).unwrap();
        assert!(s.push(&json!({"k": "a"}), 0).is_empty());
        assert!(s.push(&json!({"k": "b"}), 30_000).is_empty());
        assert!(s.push(&json!({"k": "a"}), 59_999).is_empty());
        assert_eq!(s.held(), (2, 3));
        // a's window (opened at 0) closes at 60 000; this row opens a new one.
        assert_eq!(
            s.push(&json!({"k": "a"}), 60_000),
            vec![(60_000, vec![json!("a"), json!(2)])]
        );
        assert_eq!(
            s.finish(),
            vec![
                (90_000, vec![json!("b"), json!(1)]),
                (120_000, vec![json!("a"), json!(1)])
            ]
        );
        assert_eq!(s.held(), (0, 0));
    }
}
