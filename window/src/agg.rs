//! Accumulators: one per aggregate per group per window. All of them merge, which is what
//! `--threads`, `--partial` and `--merge` are built on.

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::query::{AggFunc, Aggregate};
use crate::scan::{write_f64, Val};

/// A number kept as it came: integers stay integers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Num {
    I(i64),
    F(f64),
}

impl Num {
    fn as_f64(self) -> f64 {
        match self {
            Num::I(i) => i as f64,
            Num::F(f) => f,
        }
    }

    fn write(self, out: &mut Vec<u8>) {
        match self {
            Num::I(i) => out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes()),
            Num::F(f) => write_f64(f, out),
        }
    }

    fn to_json(self) -> Value {
        match self {
            Num::I(i) => json!(i),
            Num::F(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        }
    }

    fn from_json(v: &Value) -> Option<Option<Num>> {
        match v {
            Value::Null => Some(None),
            Value::Number(n) => Some(Some(match n.as_i64() {
                Some(i) => Num::I(i),
                None => Num::F(n.as_f64()?),
            })),
            _ => None,
        }
    }
}

/// Raised when an integer sum overflows i64 and `--strict` asks for an error instead of
/// switching to f64.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overflow;

/// A sum of non-null numbers: exact in i64 while it fits, f64 after an overflow or once a
/// float is added. `n` counts the values (a sum of no values is NULL).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Sum {
    pub int: i64,
    pub float: f64,
    pub is_float: bool,
    pub n: i64,
}

impl Sum {
    #[inline(always)]
    pub fn add(&mut self, v: Num, strict: bool) -> Result<(), Overflow> {
        self.n += 1;
        match v {
            Num::I(i) if !self.is_float => match self.int.checked_add(i) {
                Some(s) => self.int = s,
                None if strict => return Err(Overflow),
                None => {
                    self.is_float = true;
                    self.float = self.int as f64 + i as f64;
                }
            },
            Num::I(i) => self.float += i as f64,
            Num::F(f) => {
                if !self.is_float {
                    self.is_float = true;
                    self.float = self.int as f64;
                }
                self.float += f;
            }
        }
        Ok(())
    }

    pub fn merge(&mut self, other: &Sum, strict: bool) -> Result<(), Overflow> {
        let n = self.n + other.n;
        if other.n > 0 {
            self.add(other.value_num(), strict)?;
        }
        self.n = n;
        Ok(())
    }

    fn value_num(&self) -> Num {
        if self.is_float {
            Num::F(self.float)
        } else {
            Num::I(self.int)
        }
    }

    /// The SQL value: NULL when no value was summed.
    pub fn value(&self) -> Option<Num> {
        (self.n > 0).then(|| self.value_num())
    }
}

/// The state of one aggregate.
#[derive(Debug, Clone)]
pub enum Acc {
    Count(i64),
    Sum(Sum),
    Min(Option<Num>),
    Max(Option<Num>),
    Avg(Sum),
    /// Canonical JSON text of each distinct non-null value.
    Distinct(HashSet<Box<[u8]>>),
}

impl Acc {
    pub fn new(func: AggFunc) -> Acc {
        match func {
            AggFunc::Count => Acc::Count(0),
            AggFunc::Sum => Acc::Sum(Sum::default()),
            AggFunc::Min => Acc::Min(None),
            AggFunc::Max => Acc::Max(None),
            AggFunc::Avg => Acc::Avg(Sum::default()),
            AggFunc::CountDistinct => Acc::Distinct(HashSet::new()),
        }
    }

    /// Adds one value. `v` is `None` for `count(*)`; numeric functions have been given a
    /// number or NULL (checked by the caller before any accumulator changes). `key` is scratch
    /// for distinct values.
    #[inline(always)]
    pub fn add(
        &mut self,
        v: Option<Val>,
        text: &[u8],
        key: &mut Vec<u8>,
        strict: bool,
    ) -> Result<(), Overflow> {
        match self {
            Acc::Count(c) => {
                if v.is_none_or(|v| !v.is_null()) {
                    *c += 1;
                }
            }
            Acc::Sum(s) | Acc::Avg(s) => {
                if let Some(n) = v.and_then(num_of) {
                    s.add(n, strict)?;
                }
            }
            Acc::Min(m) => {
                if let Some(n) = v.and_then(num_of) {
                    if m.is_none_or(|cur| n.as_f64() < cur.as_f64()) {
                        *m = Some(n);
                    }
                }
            }
            Acc::Max(m) => {
                if let Some(n) = v.and_then(num_of) {
                    if m.is_none_or(|cur| n.as_f64() > cur.as_f64()) {
                        *m = Some(n);
                    }
                }
            }
            Acc::Distinct(set) => {
                if let Some(v) = v.filter(|v| !v.is_null()) {
                    add_distinct(set, v, text, key);
                }
            }
        }
        Ok(())
    }

    pub fn merge(&mut self, other: &Acc, strict: bool) -> Result<(), Overflow> {
        match (self, other) {
            (Acc::Count(a), Acc::Count(b)) => *a += b,
            (Acc::Sum(a), Acc::Sum(b)) | (Acc::Avg(a), Acc::Avg(b)) => a.merge(b, strict)?,
            (Acc::Min(a), Acc::Min(Some(b))) if a.is_none_or(|cur| b.as_f64() < cur.as_f64()) => {
                *a = Some(*b)
            }
            (Acc::Max(a), Acc::Max(Some(b))) if a.is_none_or(|cur| b.as_f64() > cur.as_f64()) => {
                *a = Some(*b)
            }
            (Acc::Distinct(a), Acc::Distinct(b)) => a.extend(b.iter().cloned()),
            _ => {}
        }
        Ok(())
    }

    /// Appends the final SQL value as JSON.
    pub fn write_value(&self, out: &mut Vec<u8>) {
        match self {
            Acc::Count(c) => out.extend_from_slice(itoa::Buffer::new().format(*c).as_bytes()),
            Acc::Sum(s) => match s.value() {
                Some(n) => n.write(out),
                None => out.extend_from_slice(b"null"),
            },
            Acc::Min(m) | Acc::Max(m) => match m {
                Some(n) => n.write(out),
                None => out.extend_from_slice(b"null"),
            },
            Acc::Avg(s) => match s.value() {
                Some(n) => write_f64(n.as_f64() / s.n as f64, out),
                None => out.extend_from_slice(b"null"),
            },
            Acc::Distinct(set) => {
                out.extend_from_slice(itoa::Buffer::new().format(set.len()).as_bytes())
            }
        }
    }

    /// The mergeable state as JSON, for `--partial`.
    pub fn to_partial(&self) -> Value {
        match self {
            Acc::Count(c) => json!({ "count": c }),
            Acc::Sum(s) => json!({ "sum": s.value_num().to_json(), "n": s.n }),
            Acc::Avg(s) => json!({ "sum": s.value_num().to_json(), "n": s.n }),
            Acc::Min(m) => json!({ "min": m.map_or(Value::Null, Num::to_json) }),
            Acc::Max(m) => json!({ "max": m.map_or(Value::Null, Num::to_json) }),
            Acc::Distinct(set) => {
                let mut items: Vec<&[u8]> = set.iter().map(|b| &**b).collect();
                items.sort_unstable();
                let values: Vec<Value> = items
                    .iter()
                    .filter_map(|b| serde_json::from_slice(b).ok())
                    .collect();
                json!({ "distinct": values })
            }
        }
    }

    /// Reads the state written by [`Acc::to_partial`] for an aggregate of this query.
    pub fn from_partial(agg: &Aggregate, v: &Value) -> Result<Acc, String> {
        let bad = || {
            format!(
                "partial for {} is not a {} state: {v}",
                agg.name,
                agg.func.name()
            )
        };
        // Both integers of a state ("count", and a sum's "n") count rows: never negative.
        let int = |key: &str| {
            v.get(key)
                .and_then(Value::as_i64)
                .filter(|n| *n >= 0)
                .ok_or_else(bad)
        };
        let sum = || -> Result<Sum, String> {
            let n = int("n")?;
            let mut s = Sum {
                n,
                ..Sum::default()
            };
            match Num::from_json(v.get("sum").ok_or_else(bad)?).ok_or_else(bad)? {
                Some(Num::I(i)) => s.int = i,
                Some(Num::F(f)) => {
                    s.is_float = true;
                    s.float = f;
                }
                None => {}
            }
            Ok(s)
        };
        let num = |key: &str| Num::from_json(v.get(key).ok_or_else(bad)?).ok_or_else(bad);
        Ok(match agg.func {
            AggFunc::Count => Acc::Count(int("count")?),
            AggFunc::Sum => Acc::Sum(sum()?),
            AggFunc::Avg => Acc::Avg(sum()?),
            AggFunc::Min => Acc::Min(num("min")?),
            AggFunc::Max => Acc::Max(num("max")?),
            AggFunc::CountDistinct => {
                let items = v
                    .get("distinct")
                    .and_then(Value::as_array)
                    .ok_or_else(bad)?;
                let mut set = HashSet::with_capacity(items.len());
                for item in items {
                    let mut text = Vec::new();
                    let _ = serde_json::to_writer(&mut text, item);
                    set.insert(text.into_boxed_slice());
                }
                Acc::Distinct(set)
            }
        })
    }
}

#[inline(never)]
fn add_distinct(set: &mut HashSet<Box<[u8]>>, v: Val, text: &[u8], key: &mut Vec<u8>) {
    key.clear();
    v.write_json(text, key);
    if !set.contains(key.as_slice()) {
        set.insert(key.as_slice().into());
    }
}

/// The number in a value, for numeric aggregates (NULL and non-numbers give `None`; the caller
/// has already refused non-numbers).
#[inline]
pub fn num_of(v: Val) -> Option<Num> {
    match v {
        Val::Int(i) => Some(Num::I(i)),
        Val::Float(f) => Some(Num::F(f)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_sum_switches_to_f64_on_overflow_or_errors_when_strict() {
        let mut s = Sum::default();
        s.add(Num::I(i64::MAX), false).unwrap();
        assert_eq!(s.value(), Some(Num::I(i64::MAX)));
        s.add(Num::I(1), false).unwrap();
        assert_eq!(s.value(), Some(Num::F(i64::MAX as f64 + 1.0)));
        let mut strict = Sum::default();
        strict.add(Num::I(i64::MAX), true).unwrap();
        assert_eq!(strict.add(Num::I(1), true), Err(Overflow));
    }

    #[test]
    fn sum_of_nothing_is_null_and_floats_mix_in() {
        let mut s = Sum::default();
        assert_eq!(s.value(), None);
        s.add(Num::I(2), false).unwrap();
        s.add(Num::F(0.5), false).unwrap();
        assert_eq!(s.value(), Some(Num::F(2.5)));
    }

    #[test]
    fn partial_round_trip_and_merge() {
        let aggs = [
            crate::query::parse_agg("count").unwrap(),
            crate::query::parse_agg("sum:x").unwrap(),
            crate::query::parse_agg("min:x").unwrap(),
            crate::query::parse_agg("max:x").unwrap(),
            crate::query::parse_agg("avg:x").unwrap(),
            crate::query::parse_agg("count_distinct:x").unwrap(),
        ];
        let text = b"";
        let mut key = Vec::new();
        let mut a: Vec<Acc> = aggs.iter().map(|g| Acc::new(g.func)).collect();
        let mut b: Vec<Acc> = aggs.iter().map(|g| Acc::new(g.func)).collect();
        for (accs, vals) in [(&mut a, [1i64, 5, 3]), (&mut b, [5, -2, 9])] {
            for v in vals {
                for (acc, g) in accs.iter_mut().zip(&aggs) {
                    let v = (g.func != AggFunc::Count).then_some(Val::Int(v));
                    acc.add(v, text, &mut key, false).unwrap();
                }
            }
        }
        for (i, g) in aggs.iter().enumerate() {
            let round = Acc::from_partial(g, &b[i].to_partial()).unwrap();
            a[i].merge(&round, false).unwrap();
        }
        let shown: Vec<String> = a
            .iter()
            .map(|acc| {
                let mut out = Vec::new();
                acc.write_value(&mut out);
                String::from_utf8(out).unwrap()
            })
            .collect();
        assert_eq!(shown, vec!["6", "21", "-2", "9", "3.5", "5"]);
    }
}
