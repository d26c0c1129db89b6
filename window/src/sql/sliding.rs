//! Sliding windows in per-row pumps: `COUNT(*) OVER W1` with `WINDOW W1 AS (PARTITION BY
//! ticker_symbol RANGE INTERVAL '1' MINUTE PRECEDING)` gives, for each row, the aggregate over
//! the rows of its partition whose ROWTIME is at most one minute before its own, itself
//! included; `ROWS n PRECEDING` over the row and the n rows before it in its partition
//! ("Sliding Windows", KDA SQL Developer Guide).
//!
//! Memory: a RANGE window keeps the rows inside the range (every partition's; partitions whose
//! rows all left the range are dropped on the next sweep); a ROWS window keeps up to n + 1 rows
//! for every partition seen.

use std::collections::{HashMap, HashSet, VecDeque};

use serde_json::Value;

use super::bind::{bind_expr, BoundColumn};
use super::eval::{eval_json, BoundExpr};
use super::{AggFunc, Frame, Ident, SlidingAgg, SqlError};

/// How often (in rows) RANGE windows drop the rows that left the range in every partition.
const SWEEP_EVERY: u64 = 1024;

struct Window {
    /// The destination column the aggregate fills.
    column_index: usize,
    func: AggFunc,
    arg: Option<BoundExpr>,
    partition: Vec<BoundColumn>,
    frame: Frame,
    /// Per partition key: (ROWTIME, the argument's value), oldest first.
    rows: HashMap<String, VecDeque<(i64, Value)>>,
}

/// The sliding-window aggregates of one pump.
#[derive(Default)]
pub struct Sliding {
    windows: Vec<Window>,
    pushed: u64,
}

impl std::fmt::Debug for Sliding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sliding({} windows)", self.windows.len())
    }
}

impl Clone for Sliding {
    /// A fresh state for the same windows (the rows seen are not copied).
    fn clone(&self) -> Sliding {
        Sliding {
            windows: self
                .windows
                .iter()
                .map(|w| Window {
                    column_index: w.column_index,
                    func: w.func,
                    arg: w.arg.clone(),
                    partition: w.partition.clone(),
                    frame: w.frame,
                    rows: HashMap::new(),
                })
                .collect(),
            pushed: 0,
        }
    }
}

/// Resolves the windows' columns with `col`.
pub fn bind_sliding(
    list: &[(usize, SlidingAgg)],
    col: &dyn Fn(&Ident) -> Result<BoundColumn, SqlError>,
) -> Result<Sliding, SqlError> {
    let mut windows = Vec::new();
    for (column_index, agg) in list {
        windows.push(Window {
            column_index: *column_index,
            func: agg.func,
            arg: agg
                .arg
                .as_ref()
                .map(|e| bind_expr(e, col).map(|(b, _)| b))
                .transpose()?,
            partition: agg
                .spec
                .partition_by
                .iter()
                .map(col)
                .collect::<Result<_, _>>()?,
            frame: agg.spec.frame,
            rows: HashMap::new(),
        });
    }
    Ok(Sliding { windows, pushed: 0 })
}

fn lookup<'v>(v: &'v Value, path: &[String]) -> Option<&'v Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

impl Sliding {
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }

    /// Adds `record`, read at `now`, to every window; each aggregate's value over its window
    /// (this row included), with the column it fills.
    pub fn push(&mut self, record: &Value, now: i64) -> Vec<(usize, Value)> {
        self.pushed += 1;
        let sweep = self.pushed.is_multiple_of(SWEEP_EVERY);
        let mut out = Vec::with_capacity(self.windows.len());
        for w in &mut self.windows {
            let key: Vec<&Value> = w
                .partition
                .iter()
                .map(|c| lookup(record, &c.path).unwrap_or(&Value::Null))
                .collect();
            let key = serde_json::to_string(&key).unwrap_or_default();
            let arg = match &w.arg {
                Some(BoundExpr::Column(c)) => {
                    lookup(record, &c.path).cloned().unwrap_or(Value::Null)
                }
                Some(e) => eval_json(e, record),
                None => Value::Null,
            };
            let rows = w.rows.entry(key).or_default();
            rows.push_back((now, arg));
            evict(rows, w.frame, now);
            out.push((w.column_index, aggregate(w.func, rows)));
            if sweep {
                if let Frame::Range(_) = w.frame {
                    w.rows.retain(|_, rows| {
                        evict(rows, w.frame, now);
                        !rows.is_empty()
                    });
                }
            }
        }
        out
    }

    /// Rows held, all windows and partitions (the memory bound's measure).
    pub fn held_rows(&self) -> usize {
        self.windows
            .iter()
            .map(|w| w.rows.values().map(VecDeque::len).sum::<usize>())
            .sum()
    }
}

/// Drops the rows that left the frame at `now`.
fn evict(rows: &mut VecDeque<(i64, Value)>, frame: Frame, now: i64) {
    match frame {
        Frame::Range(range) => {
            let oldest = now.saturating_sub(i64::try_from(range.as_millis()).unwrap_or(i64::MAX));
            while rows.front().is_some_and(|(t, _)| *t < oldest) {
                rows.pop_front();
            }
        }
        Frame::Rows(n) => {
            while rows.len() as u64 > n.saturating_add(1) {
                rows.pop_front();
            }
        }
    }
}

/// The aggregate over the window's rows; NULLs are skipped (COUNT(*) counts every row).
pub(super) fn aggregate(func: AggFunc, rows: &VecDeque<(i64, Value)>) -> Value {
    let values = rows.iter().map(|(_, v)| v).filter(|v| !v.is_null());
    match func {
        AggFunc::CountStar => Value::from(rows.len()),
        AggFunc::Count => Value::from(values.count()),
        AggFunc::CountDistinct => {
            let distinct: HashSet<String> = values.map(Value::to_string).collect();
            Value::from(distinct.len())
        }
        AggFunc::Sum | AggFunc::Avg => {
            let nums: Vec<&serde_json::Number> = values.filter_map(Value::as_number).collect();
            if nums.is_empty() {
                return Value::Null;
            }
            let ints: Option<i64> = nums
                .iter()
                .try_fold(0i64, |acc, n| n.as_i64().and_then(|i| acc.checked_add(i)));
            let float: f64 = nums.iter().filter_map(|n| n.as_f64()).sum();
            match (func, ints) {
                (AggFunc::Sum, Some(i)) => Value::from(i),
                (AggFunc::Sum, None) => Value::from(float),
                _ => Value::from(float / nums.len() as f64),
            }
        }
        AggFunc::Min | AggFunc::Max => {
            let mut best: Option<&Value> = None;
            for v in values {
                let better = match best {
                    None => true,
                    Some(b) => {
                        let ord = match (v.as_f64(), b.as_f64(), v.as_str(), b.as_str()) {
                            (Some(x), Some(y), _, _) => x.partial_cmp(&y),
                            (_, _, Some(x), Some(y)) => Some(x.cmp(y)),
                            _ => None,
                        };
                        ord == Some(if func == AggFunc::Min {
                            std::cmp::Ordering::Less
                        } else {
                            std::cmp::Ordering::Greater
                        })
                    }
                };
                if better {
                    best = Some(v);
                }
            }
            best.cloned().unwrap_or(Value::Null)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::OverSpec;
    use serde_json::json;
    use std::time::Duration;

    fn sliding(func: AggFunc, arg: Option<&str>, frame: Frame) -> Sliding {
        let agg = SlidingAgg {
            func,
            arg: arg.map(|a| crate::sql::Expr::Column(Ident::unquoted(a))),
            spec: OverSpec {
                partition_by: vec![Ident::unquoted("k")],
                frame,
            },
        };
        let col = |id: &Ident| {
            Ok(BoundColumn {
                name: id.name.clone(),
                path: vec![id.name.clone()],
                sql_type: None,
            })
        };
        bind_sliding(&[(3, agg)], &col).unwrap()
    }

    #[test]
    fn range_windows_hold_the_rows_of_the_last_interval_per_partition() {
        let mut s = sliding(
            AggFunc::Sum,
            Some("x"),
            Frame::Range(Duration::from_secs(60)),
        );
        let mut push = |k: &str, x: i64, t: i64| s.push(&json!({"k": k, "x": x}), t)[0].1.clone();
        assert_eq!(push("a", 1, 0), json!(1));
        assert_eq!(push("b", 10, 1_000), json!(10));
        assert_eq!(push("a", 2, 30_000), json!(3));
        // 60 s after the first row: it is still inside (RANGE is inclusive).
        assert_eq!(push("a", 4, 60_000), json!(7));
        assert_eq!(push("a", 8, 60_001), json!(14));
        // The rows at 0 and 30 000 have left.
        assert_eq!(push("a", 16, 90_001), json!(28));
        assert_eq!(push("b", 20, 90_002), json!(20));
    }

    #[test]
    fn rows_windows_hold_n_preceding_rows() {
        let mut s = sliding(AggFunc::Max, Some("x"), Frame::Rows(2));
        let got: Vec<Value> = [5, 1, 2, 0, 3]
            .iter()
            .map(|x| s.push(&json!({"k": "a", "x": x}), 0)[0].1.clone())
            .collect();
        assert_eq!(got, [json!(5), json!(5), json!(5), json!(2), json!(3)]);
        assert_eq!(s.held_rows(), 3);
        let mut c = sliding(AggFunc::CountStar, None, Frame::Rows(0));
        assert_eq!(c.push(&json!({"k": "a"}), 0)[0], (3, json!(1)));
        assert_eq!(c.push(&json!({"k": "a"}), 0)[0], (3, json!(1)));
    }

    #[test]
    fn range_memory_is_bounded_by_the_rows_inside_the_range() {
        let mut s = sliding(
            AggFunc::CountStar,
            None,
            Frame::Range(Duration::from_secs(1)),
        );
        // 100 000 rows over 100 000 partitions, one every millisecond: at most the last
        // second's rows (and partitions) stay after each sweep.
        for i in 0..100_000i64 {
            s.push(&json!({"k": i}), i);
        }
        assert!(
            s.held_rows() <= 1_001 + SWEEP_EVERY as usize,
            "{}",
            s.held_rows()
        );
        let mut avg = sliding(AggFunc::Avg, Some("x"), Frame::Rows(10));
        avg.push(&json!({"k": 1, "x": 1}), 0);
        assert_eq!(avg.push(&json!({"k": 1, "x": 2.0}), 0)[0].1, json!(1.5));
        assert_eq!(avg.push(&json!({"k": 2, "x": null}), 0)[0].1, Value::Null);
    }
}
