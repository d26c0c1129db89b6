//! The input schema: columns of the source stream, their SQL types and the JSON path each one
//! is read from. Discovered from sample lines (like the KDA console's "Discover schema") or
//! pinned with `--schema FILE` in KDA's own `RecordColumns` JSON shape.

use std::fmt;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{json, Value};

use super::{Ident, SqlType};

/// One column of the source stream.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaColumn {
    pub name: String,
    pub sql_type: SqlType,
    /// KDA JSONPath mapping, e.g. `$.tnum` or `$.order.qty`.
    pub mapping: String,
    /// The same path as JSON object keys, outermost first.
    pub path: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Schema {
    pub columns: Vec<SchemaColumn>,
}

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

impl Schema {
    /// The column a SQL reference names: a quoted reference matches exactly; an unquoted one
    /// matches its upper-case spelling (KDA's rule) or, failing that, the one column equal to it
    /// ignoring case.
    pub fn resolve(&self, id: &Ident) -> Result<&SchemaColumn, String> {
        if id.quoted {
            return self
                .columns
                .iter()
                .find(|c| c.name == id.name)
                .ok_or_else(|| {
                    match self
                        .columns
                        .iter()
                        .find(|c| c.name.eq_ignore_ascii_case(&id.name))
                    {
                        Some(c) => format!(
                            "no column {} in the schema (did you mean \"{}\"?)",
                            id.sql(),
                            c.name
                        ),
                        None => format!(
                            "no column {} in the schema: columns are {}",
                            id.sql(),
                            self.names()
                        ),
                    }
                });
        }
        let upper = id.name.to_ascii_uppercase();
        if let Some(c) = self.columns.iter().find(|c| c.name == upper) {
            return Ok(c);
        }
        let mut hits = self
            .columns
            .iter()
            .filter(|c| c.name.eq_ignore_ascii_case(&id.name));
        match (hits.next(), hits.next()) {
            (Some(c), None) => Ok(c),
            (Some(a), Some(b)) => Err(format!(
                "{} is ambiguous: the schema has \"{}\" and \"{}\" (quote the name to choose)",
                id.name, a.name, b.name
            )),
            _ => Err(format!(
                "no column {} in the schema: columns are {}",
                id.name,
                self.names()
            )),
        }
    }

    fn names(&self) -> String {
        let v: Vec<String> = self
            .columns
            .iter()
            .map(|c| format!("\"{}\"", c.name))
            .collect();
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    }

    /// KDA's `SourceSchema` shape (what `aws kinesisanalytics discover-input-schema` returns as
    /// `InputSchema`); `--schema` reads it back.
    pub fn to_json(&self) -> Value {
        let cols: Vec<Value> = self
            .columns
            .iter()
            .map(|c| json!({"Name": c.name, "SqlType": c.sql_type.to_string(), "Mapping": c.mapping}))
            .collect();
        json!({
            "RecordFormat": {
                "RecordFormatType": "JSON",
                "MappingParameters": {"JSONMappingParameters": {"RecordRowPath": "$"}}
            },
            "RecordEncoding": "UTF-8",
            "RecordColumns": cols
        })
    }

    /// The trade events of the lab (gen/README.md), as discovery finds them in `kds-gen`
    /// output. Used when no `--schema` is given to `--explain-flink`.
    pub fn trade_events() -> Schema {
        let col = |name: &str, t: SqlType| SchemaColumn {
            name: name.to_string(),
            sql_type: t,
            mapping: format!("$.{name}"),
            path: vec![name.to_string()],
        };
        Schema {
            columns: vec![
                col("tid", SqlType::Varchar(8)),
                col("tno", SqlType::Varchar(32)),
                col("tdate", SqlType::Varchar(16)),
                col("uno", SqlType::Varchar(8)),
                col("pno", SqlType::Varchar(8)),
                col("tnum", SqlType::Integer),
                col("tuptime", SqlType::Timestamp),
            ],
        }
    }
}

/// Reads a schema file: KDA's `{"RecordColumns": [...]}` (optionally inside `"InputSchema"`), or
/// a bare array of `{"Name": .., "SqlType": .., "Mapping": ..}` (`Mapping` defaults to `$.Name`).
pub fn parse_schema_json(text: &str) -> Result<Schema, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let v = v.get("InputSchema").unwrap_or(&v);
    let cols = match v {
        Value::Array(a) => a,
        Value::Object(o) => match o.get("RecordColumns") {
            Some(Value::Array(a)) => a,
            _ => {
                return Err(
                    "expected an object with a \"RecordColumns\" array, or an array of columns"
                        .into(),
                )
            }
        },
        _ => {
            return Err(
                "expected an object with a \"RecordColumns\" array, or an array of columns".into(),
            )
        }
    };
    let mut columns: Vec<SchemaColumn> = Vec::new();
    for (i, c) in cols.iter().enumerate() {
        let field = |k: &str| c.get(k).and_then(Value::as_str);
        let n = i + 1;
        let name = field("Name").ok_or_else(|| format!("column {n}: missing \"Name\""))?;
        if name.is_empty()
            || name.contains(|ch: char| {
                ch == '-' || ch.is_whitespace() || ch == '<' || ch == '>' || ch == '&'
            })
        {
            return Err(format!("column {n}: name {name:?} is not allowed (KDA: 1-256 characters, no '-', whitespace, '<', '>' or '&')"));
        }
        let ty_text =
            field("SqlType").ok_or_else(|| format!("column {n} ({name}): missing \"SqlType\""))?;
        let sql_type = SqlType::parse(ty_text)
            .ok_or_else(|| format!("column {n} ({name}): unknown SqlType {ty_text:?}"))?;
        let mapping = field("Mapping")
            .map(str::to_string)
            .unwrap_or_else(|| format!("$.{name}"));
        let path = parse_mapping(&mapping)
            .map_err(|e| format!("column {n} ({name}): Mapping {mapping:?}: {e}"))?;
        if columns.iter().any(|c| c.name == name) {
            return Err(format!("column {n}: {name:?} appears twice"));
        }
        columns.push(SchemaColumn {
            name: name.to_string(),
            sql_type,
            mapping,
            path,
        });
    }
    if columns.is_empty() {
        return Err("the schema has no columns".into());
    }
    Ok(Schema { columns })
}

/// `$.a.b`, `$['a b'].c`, `$.a["b"]` → `["a","b"]`. Array steps are not supported.
pub fn parse_mapping(m: &str) -> Result<Vec<String>, String> {
    let rest = m.strip_prefix('$').ok_or("must start with '$'")?;
    let b = rest.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'.' => {
                let start = i + 1;
                let mut j = start;
                while j < b.len() && b[j] != b'.' && b[j] != b'[' {
                    j += 1;
                }
                if j == start {
                    return Err("empty key".into());
                }
                out.push(rest[start..j].to_string());
                i = j;
            }
            b'[' => {
                let q = *b.get(i + 1).ok_or("unterminated [")?;
                if q != b'\'' && q != b'"' {
                    return Err("array steps like [0] are not supported".into());
                }
                let start = i + 2;
                let end = rest[start..]
                    .find(q as char)
                    .ok_or("unterminated quoted key")?
                    + start;
                if b.get(end + 1) != Some(&b']') {
                    return Err("expected ']'".into());
                }
                out.push(rest[start..end].to_string());
                i = end + 2;
            }
            _ => return Err(format!("unexpected {:?}", b[i] as char)),
        }
    }
    if out.is_empty() {
        return Err("names no field".into());
    }
    Ok(out)
}

fn mapping_of(path: &[String]) -> String {
    let mut m = String::from("$");
    for k in path {
        if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            m.push('.');
            m.push_str(k);
        } else {
            m.push_str("['");
            m.push_str(k);
            m.push_str("']");
        }
    }
    m
}

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

    const TRADES: &[&str] = &[
        r#"{"tid":"1","tno":"AwGi20210319131548","tdate":"2021-03-19","uno":"U1030","pno":"P1002","tnum":10,"tuptime":"2021-03-19T13:15:48Z"}"#,
        r#"{"tid":"2","tno":"QxZb20210319131549","tdate":"2021-03-19","uno":"U1004","pno":"P1007","tnum":3,"tuptime":"2021-03-19T13:15:49Z"}"#,
        r#"{"tid":"123","tno":"KkLm20210319131550","tdate":"2021-03-19","uno":"U1111","pno":"P1000","tnum":97,"tuptime":"2021-03-19T13:15:50Z"}"#,
    ];

    fn types(s: &Schema) -> Vec<(String, String, String)> {
        s.columns
            .iter()
            .map(|c| (c.name.clone(), c.sql_type.to_string(), c.mapping.clone()))
            .collect()
    }

    #[test]
    fn discovers_trade_events_as_kda_did() {
        let got = types(&discover(TRADES));
        let want: Vec<(String, String, String)> = [
            ("tid", "VARCHAR(4)"),
            ("tno", "VARCHAR(32)"),
            ("tdate", "VARCHAR(16)"),
            ("uno", "VARCHAR(8)"),
            ("pno", "VARCHAR(8)"),
            ("tnum", "TINYINT"),
            ("tuptime", "VARCHAR(32)"),
        ]
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string(), format!("$.{n}")))
        .collect();
        assert_eq!(got, want);
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
        let want: Vec<(String, String, String)> = [
            ("tid", "VARCHAR(4)"),
            ("tno", "VARCHAR(32)"),
            ("tdate", "VARCHAR(16)"),
            ("uno", "VARCHAR(8)"),
            ("pno", "VARCHAR(8)"),
            ("tnum", "INTEGER"),
            ("tuptime", "TIMESTAMP"),
        ]
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string(), format!("$.{n}")))
        .collect();
        assert_eq!(got, want);
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

    #[test]
    fn schema_file_round_trips_and_resolves() {
        let s = discover(TRADES);
        let text = serde_json::to_string_pretty(&s.to_json()).unwrap();
        let back = parse_schema_json(&text).unwrap();
        assert_eq!(back, s);
        let wrapped = format!("{{\"InputSchema\": {text}}}");
        assert_eq!(parse_schema_json(&wrapped).unwrap(), s);
        let bare = r#"[{"Name":"TNUM","SqlType":"integer"},{"Name":"Price","SqlType":"DOUBLE PRECISION","Mapping":"$.p['x y']"}]"#;
        let b = parse_schema_json(bare).unwrap();
        assert_eq!(b.columns[0].mapping, "$.TNUM");
        assert_eq!(b.columns[1].path, vec!["p".to_string(), "x y".to_string()]);
        assert_eq!(b.columns[1].sql_type, SqlType::Double);
        assert!(parse_schema_json(r#"[{"Name":"a","SqlType":"BLOB"}]"#)
            .unwrap_err()
            .contains("unknown SqlType"));
        assert!(
            parse_schema_json(r#"[{"Name":"a","SqlType":"INTEGER","Mapping":"$.a[0]"}]"#).is_err()
        );
    }

    #[test]
    fn resolution_follows_quoting() {
        let s = discover(TRADES);
        assert_eq!(s.resolve(&Ident::quoted("tnum")).unwrap().name, "tnum");
        assert!(s
            .resolve(&Ident::quoted("TNUM"))
            .unwrap_err()
            .contains("did you mean \"tnum\""));
        assert_eq!(s.resolve(&Ident::unquoted("TNum")).unwrap().name, "tnum");
        let both = parse_schema_json(r#"[{"Name":"a","SqlType":"INTEGER"},{"Name":"A","SqlType":"INTEGER"},{"Name":"b","SqlType":"INTEGER"},{"Name":"B","SqlType":"INTEGER","Mapping":"$.b"}]"#).unwrap();
        // Unquoted `a` is `A` in KDA: the upper-case column wins.
        assert_eq!(both.resolve(&Ident::unquoted("a")).unwrap().name, "A");
        assert_eq!(both.resolve(&Ident::quoted("a")).unwrap().name, "a");
        let amb = parse_schema_json(
            r#"[{"Name":"ab","SqlType":"INTEGER"},{"Name":"aB","SqlType":"INTEGER"}]"#,
        )
        .unwrap();
        assert!(amb
            .resolve(&Ident::unquoted("ab"))
            .unwrap_err()
            .contains("ambiguous"));
    }
}
