//! Schema discovery from sample lines, as the KDA console's "Discover schema" step did, and
//! kds-window's wider inference (`--discover --wide-types`).

use std::fmt;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::{mapping_of, Schema, SchemaColumn};
use crate::sql::SqlType;

/// SQL words that discovery does not use as column names (they get a `COL_` prefix), as KDA does
/// for reserved keywords such as TIMESTAMP, USER, VALUES or YEAR.
const RESERVED: &[&str] = &[
    "ALL",
    "AND",
    "AS",
    "AVG",
    "BETWEEN",
    "BY",
    "CASE",
    "CAST",
    "COUNT",
    "CREATE",
    "CURRENT",
    "DATE",
    "DAY",
    "DESC",
    "DISTINCT",
    "ELSE",
    "END",
    "EXISTS",
    "FALSE",
    "FLOOR",
    "FROM",
    "GROUP",
    "HAVING",
    "HOUR",
    "IN",
    "INSERT",
    "INTERVAL",
    "INTO",
    "IS",
    "JOIN",
    "LIKE",
    "LIMIT",
    "MAX",
    "MIN",
    "MINUTE",
    "MONTH",
    "NOT",
    "NULL",
    "ON",
    "OR",
    "ORDER",
    "OVER",
    "PUMP",
    "ROWTIME",
    "SECOND",
    "SELECT",
    "STEP",
    "STREAM",
    "SUM",
    "TABLE",
    "THEN",
    "TIME",
    "TIMESTAMP",
    "TO",
    "TRUE",
    "UNION",
    "USER",
    "VALUE",
    "VALUES",
    "WHEN",
    "WHERE",
    "WINDOW",
    "WITH",
    "YEAR",
];

/// A JSON value whose object keys keep their order (discovery lists columns in record order).
enum Ordered {
    Scalar(Value),
    Object(Vec<(String, Ordered)>),
    Array,
}

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Ordered, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Ordered;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_bool<E>(self, b: bool) -> Result<Ordered, E> {
                Ok(Ordered::Scalar(Value::Bool(b)))
            }
            fn visit_i64<E>(self, i: i64) -> Result<Ordered, E> {
                Ok(Ordered::Scalar(Value::from(i)))
            }
            fn visit_u64<E>(self, u: u64) -> Result<Ordered, E> {
                Ok(Ordered::Scalar(Value::from(u)))
            }
            fn visit_f64<E>(self, f: f64) -> Result<Ordered, E> {
                Ok(Ordered::Scalar(Value::from(f)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Ordered, E> {
                Ok(Ordered::Scalar(Value::String(s.to_string())))
            }
            fn visit_unit<E>(self) -> Result<Ordered, E> {
                Ok(Ordered::Scalar(Value::Null))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Ordered, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Ordered::Array)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered, A::Error> {
                let mut out: Vec<(String, Ordered)> = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Ordered>()? {
                    // A repeated key: the last value wins, at the first key's place.
                    match out.iter_mut().find(|(x, _)| *x == k) {
                        Some(slot) => slot.1 = v,
                        None => out.push((k, v)),
                    }
                }
                Ok(Ordered::Object(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// The type lattice discovery widens along.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Null,
    Boolean,
    Integer,
    Bigint,
    Double,
    Timestamp,
    Varchar,
}

fn widen(a: Kind, b: Kind) -> Kind {
    use Kind::*;
    match (a, b) {
        (x, y) if x == y => x,
        (Null, y) => y,
        (x, Null) => x,
        (Integer | Bigint, Integer | Bigint) => Bigint,
        (Integer | Bigint | Double, Integer | Bigint | Double) => Double,
        _ => Varchar,
    }
}

#[derive(Debug)]
struct Acc {
    path: Vec<String>,
    kind: Kind,
    /// Longest value as text, in characters (strings without quotes, numbers as written).
    max_len: usize,
    /// Smallest and largest integer seen (KDA picks the narrowest integer type holding both).
    min: i64,
    max: i64,
}

/// Streaming schema discovery: feed lines, then [`Discovery::finish`].
#[derive(Debug, Default)]
pub struct Discovery {
    cols: Vec<Acc>,
    pub lines: u64,
    /// Lines that were not a JSON object.
    pub bad_lines: u64,
    /// kds-window's wider inference (`--wide-types`): INTEGER/BIGINT, DOUBLE, RFC 3339 strings
    /// as TIMESTAMP. Otherwise KDA's: the narrowest integer type, REAL, strings as VARCHAR.
    pub wide: bool,
}

impl Discovery {
    pub fn new() -> Discovery {
        Discovery::default()
    }

    /// Adds one line. Blank lines are ignored; a line that is not a JSON object is counted in
    /// `bad_lines` and its error returned.
    pub fn add_line(&mut self, line: &[u8]) -> Result<(), String> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        self.lines += 1;
        match serde_json::from_slice::<Ordered>(line) {
            Ok(Ordered::Object(o)) => {
                self.add_object(&mut Vec::new(), &o);
                Ok(())
            }
            Ok(_) => {
                self.bad_lines += 1;
                Err("not a JSON object".into())
            }
            Err(e) => {
                self.bad_lines += 1;
                Err(format!("not valid JSON: {e}"))
            }
        }
    }

    fn add_object(&mut self, prefix: &mut Vec<String>, o: &[(String, Ordered)]) {
        for (k, v) in o {
            prefix.push(k.clone());
            match v {
                Ordered::Object(inner) => self.add_object(prefix, inner),
                // Arrays are not mapped (KDA maps their elements with `[0:]` paths; we don't).
                Ordered::Array => {}
                Ordered::Scalar(v) => {
                    let (kind, len) = classify(v);
                    let int = v.as_i64();
                    match self.cols.iter_mut().find(|c| c.path == *prefix) {
                        Some(c) => {
                            c.kind = widen(c.kind, kind);
                            c.max_len = c.max_len.max(len);
                            if let Some(i) = int {
                                c.min = c.min.min(i);
                                c.max = c.max.max(i);
                            }
                        }
                        None => self.cols.push(Acc {
                            path: prefix.clone(),
                            kind,
                            max_len: len,
                            min: int.unwrap_or(0),
                            max: int.unwrap_or(0),
                        }),
                    }
                }
            }
            prefix.pop();
        }
    }

    pub fn finish(&self) -> Schema {
        let mut columns: Vec<SchemaColumn> = Vec::new();
        for c in &self.cols {
            let sql_type = if self.wide { wide_type(c) } else { kda_type(c) };
            let mut name = column_name(&c.path);
            let mut n = 2;
            while columns.iter().any(|x| x.name.eq_ignore_ascii_case(&name)) {
                name = format!("{}_{n}", column_name(&c.path));
                n += 1;
            }
            columns.push(SchemaColumn {
                name,
                sql_type,
                mapping: mapping_of(&c.path),
                path: c.path.clone(),
            });
        }
        Schema { columns }
    }
}

/// kds-window's own inference (`--wide-types`): 32- or 64-bit integers, DOUBLE, and RFC 3339
/// strings as TIMESTAMP (event-time windows over them need no schema edit).
fn wide_type(c: &Acc) -> SqlType {
    match c.kind {
        Kind::Boolean => SqlType::Boolean,
        Kind::Integer => SqlType::Integer,
        Kind::Bigint => SqlType::Bigint,
        Kind::Double => SqlType::Double,
        Kind::Timestamp => SqlType::Timestamp,
        Kind::Null | Kind::Varchar => SqlType::Varchar(varchar_len(c.max_len)),
    }
}

/// What KDA's "Discover schema" assigns: the narrowest integer type that holds the sample
/// (the anomaly-detection tutorial: "the discovery process will most likely assign the TINYINT
/// type" to small heart rates), REAL for numbers with a fraction (the getting-started demo
/// stream's `CHANGE REAL, PRICE REAL`), and VARCHAR for every string, timestamps included.
fn kda_type(c: &Acc) -> SqlType {
    let fits = |lo: i64, hi: i64| c.min >= lo && c.max <= hi;
    match c.kind {
        Kind::Boolean => SqlType::Boolean,
        Kind::Integer | Kind::Bigint if fits(i8::MIN.into(), i8::MAX.into()) => SqlType::Tinyint,
        Kind::Integer | Kind::Bigint if fits(i16::MIN.into(), i16::MAX.into()) => SqlType::Smallint,
        Kind::Integer | Kind::Bigint if fits(i32::MIN.into(), i32::MAX.into()) => SqlType::Integer,
        Kind::Integer | Kind::Bigint => SqlType::Bigint,
        Kind::Double => SqlType::Real,
        Kind::Null | Kind::Varchar | Kind::Timestamp => SqlType::Varchar(varchar_len(c.max_len)),
    }
}

/// Discovers the schema of sample lines as KDA's "Discover schema" did (non-object lines are
/// skipped).
pub fn discover<I>(lines: I) -> Schema
where
    I: IntoIterator,
    I::Item: AsRef<[u8]>,
{
    discover_with(lines, false)
}

/// [`discover`] with kds-window's wider types (`--wide-types`).
pub fn discover_wide<I>(lines: I) -> Schema
where
    I: IntoIterator,
    I::Item: AsRef<[u8]>,
{
    discover_with(lines, true)
}

fn discover_with<I>(lines: I, wide: bool) -> Schema
where
    I: IntoIterator,
    I::Item: AsRef<[u8]>,
{
    let mut d = Discovery {
        wide,
        ..Discovery::default()
    };
    for l in lines {
        let _ = d.add_line(l.as_ref());
    }
    d.finish()
}

fn classify(v: &Value) -> (Kind, usize) {
    match v {
        Value::Null => (Kind::Null, 4),
        Value::Bool(b) => (Kind::Boolean, if *b { 4 } else { 5 }),
        Value::Number(n) => {
            let len = n.to_string().len();
            if let Some(i) = n.as_i64() {
                if i32::try_from(i).is_ok() {
                    (Kind::Integer, len)
                } else {
                    (Kind::Bigint, len)
                }
            } else {
                (Kind::Double, len)
            }
        }
        Value::String(s) => {
            let len = s.chars().count();
            let b = s.as_bytes();
            let looks_like_time = b.len() >= 19
                && b.get(4) == Some(&b'-')
                && kds_common::time::parse_timestamp(b).is_some();
            (
                if looks_like_time {
                    Kind::Timestamp
                } else {
                    Kind::Varchar
                },
                len,
            )
        }
        _ => (Kind::Varchar, 0),
    }
}

/// VARCHAR lengths round up to a power of two, as the console's discovered types do
/// (`VARCHAR(4)` for tickers, `VARCHAR(16)` for sectors).
fn varchar_len(max_len: usize) -> u32 {
    let n = max_len.max(1).next_power_of_two();
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// KDA keeps the source name unless it is a reserved word, has characters other than letters,
/// digits and `_`, starts with a digit, or is longer than 100 characters; such names become
/// `COL_<name with other characters replaced by _>`. Nested keys are joined with `_`.
fn column_name(path: &[String]) -> String {
    let joined = path.join("_");
    let ok_chars = !joined.is_empty()
        && joined
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    let starts_digit = joined.chars().next().is_some_and(|c| c.is_ascii_digit());
    let reserved = RESERVED.iter().any(|r| r.eq_ignore_ascii_case(&joined));
    if ok_chars && !starts_digit && !reserved && joined.chars().count() <= 100 {
        return joined;
    }
    let cleaned: String = joined
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(96)
        .collect();
    format!("COL_{cleaned}")
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::sql::schema::tests::TRADES;

    /// The expected `(name, type, mapping)` rows of [`TRADES`], given the types of the two
    /// columns the discovery modes differ on.
    fn trade_columns(tnum: &str, tuptime: &str) -> Vec<(String, String, String)> {
        [
            ("tid", "VARCHAR(4)"),
            ("tno", "VARCHAR(32)"),
            ("tdate", "VARCHAR(16)"),
            ("uno", "VARCHAR(8)"),
            ("pno", "VARCHAR(8)"),
            ("tnum", tnum),
            ("tuptime", tuptime),
        ]
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string(), format!("$.{n}")))
        .collect()
    }

    fn types(s: &Schema) -> Vec<(String, String, String)> {
        s.columns
            .iter()
            .map(|c| (c.name.clone(), c.sql_type.to_string(), c.mapping.clone()))
            .collect()
    }

    #[test]
    fn discovers_trade_events_as_kda_did() {
        let got = types(&discover(TRADES));
        assert_eq!(got, trade_columns("TINYINT", "VARCHAR(32)"));
    }

    #[test]
    fn kda_integer_types_are_the_narrowest_that_hold_the_sample() {
        let s = discover([
            r#"{"a":127,"b":-129,"c":32768,"d":2147483648,"e":1,"f":2}"#,
            r#"{"a":-128,"b":1,"c":1,"d":1,"e":1.5,"f":"x"}"#,
        ]);
        let got: Vec<String> = s.columns.iter().map(|c| c.sql_type.to_string()).collect();
        assert_eq!(
            got,
            [
                "TINYINT",
                "SMALLINT",
                "INTEGER",
                "BIGINT",
                "REAL",
                "VARCHAR(1)"
            ]
        );
    }

    #[test]
    fn discovers_trade_events_with_wide_types() {
        let s = discover_wide(TRADES);
        let got = types(&s);
        assert_eq!(got, trade_columns("INTEGER", "TIMESTAMP"));
    }

    #[test]
    fn widens_on_mixed_input() {
        let s = discover_wide([
            r#"{"a":1,"b":1,"c":1,"d":"2021-03-19T13:15:48Z","e":true,"f":null,"g":1,"h":{"x":1}}"#,
            r#"{"a":5000000000,"b":1.5,"c":"x","d":"later","e":false,"f":null,"g":null,"h":{"x":2.0}}"#,
            r#"{"a":2,"b":2,"c":123456,"d":"2021-03-19T13:15:49Z","e":1}"#,
            "not json",
            "[1,2]",
        ]);
        let got = types(&s);
        assert_eq!(
            got,
            vec![
                ("a".into(), "BIGINT".into(), "$.a".into()),
                ("b".into(), "DOUBLE".into(), "$.b".into()),
                ("c".into(), "VARCHAR(8)".into(), "$.c".into()),
                ("d".into(), "VARCHAR(32)".into(), "$.d".into()),
                ("e".into(), "VARCHAR(8)".into(), "$.e".into()),
                ("f".into(), "VARCHAR(4)".into(), "$.f".into()),
                ("g".into(), "INTEGER".into(), "$.g".into()),
                ("h_x".into(), "DOUBLE".into(), "$.h.x".into()),
            ]
        );
    }

    #[test]
    fn renames_like_kda() {
        let s = discover([r#"{"timestamp":"x","2nd":1,"a b":true,"ok_1":1}"#]);
        let names: Vec<&str> = s.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["COL_timestamp", "COL_2nd", "COL_a_b", "ok_1"]);
        assert_eq!(s.columns[2].mapping, "$['a b']");
        assert_eq!(s.columns[2].path, vec!["a b".to_string()]);
    }
}
