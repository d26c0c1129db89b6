//! The input schema: columns of the source stream, their SQL types and the JSON path each one
//! is read from. Discovered from sample lines (like the KDA console's "Discover schema", in
//! [`discover`]) or pinned with `--schema FILE` in KDA's own `RecordColumns` JSON shape.

mod discover;

pub use discover::{discover, discover_wide, Discovery};

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
    super::refused::refuse_lambda(&v)?;
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

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Three trade events as kds-gen writes them (the discovery tests' sample too).
    pub(in crate::sql::schema) const TRADES: &[&str] = &[
        r#"{"tid":"1","tno":"AwGi20210319131548","tdate":"2021-03-19","uno":"U1030","pno":"P1002","tnum":10,"tuptime":"2021-03-19T13:15:48Z"}"#,
        r#"{"tid":"2","tno":"QxZb20210319131549","tdate":"2021-03-19","uno":"U1004","pno":"P1007","tnum":3,"tuptime":"2021-03-19T13:15:49Z"}"#,
        r#"{"tid":"123","tno":"KkLm20210319131550","tdate":"2021-03-19","uno":"U1111","pno":"P1000","tnum":97,"tuptime":"2021-03-19T13:15:50Z"}"#,
    ];

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
