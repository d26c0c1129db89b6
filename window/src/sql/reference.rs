//! Reference data ("Example: Adding Reference Data to a Kinesis Data Analytics Application",
//! KDA SQL Developer Guide): an in-application reference table, which KDA loaded from an S3
//! object, loaded here from a local CSV or JSON file (`--reference-data NAME=FILE[,csv|json]`),
//! and joined to the stream: `FROM "SOURCE_SQL_STREAM_001" [LEFT] JOIN "CompanyName" AS "c" ON
//! "SOURCE_SQL_STREAM_001".ticker_symbol = "c"."Ticker"`.
//!
//! Each record looks up the table row whose key column equals its key column (as text); the row's
//! columns are put under [`REFERENCE_KEY`], where `"c"."Company"` reads them. Without a matching
//! row, `JOIN` drops the record and `LEFT JOIN` keeps it with the table's columns NULL. The
//! table's values are as the file has them: CSV fields are strings (spaces around them trimmed,
//! as the guide's file needs), JSON values keep their types.

use std::borrow::Cow;
use std::collections::HashMap;

use anyhow::{bail, Context};
use kds_common::exit::usage;
use serde_json::{Map, Value};

use super::bind::BoundColumn;
use super::{Ident, SqlError};

/// The record key under which a joined table row travels to the select list.
pub const REFERENCE_KEY: &str = "$reference";

/// A parsed `JOIN table [AS alias] ON stream.col = alias.col`.
#[derive(Debug, Clone, PartialEq)]
pub struct JoinPlan {
    pub table: Ident,
    /// `LEFT [OUTER] JOIN`: keep records without a matching row.
    pub left: bool,
    /// The stream's side of ON.
    pub stream_key: Ident,
    /// The table's side of ON: its column name as KDA spells it.
    pub table_key: String,
}

/// A join bound to the stream's columns, with its table once loaded.
pub struct Join {
    plan: JoinPlan,
    stream_key: BoundColumn,
    /// Table rows by their key's text.
    rows: HashMap<String, Value>,
}

/// Resolves the stream's key column with `col`.
pub fn bind_join(
    plan: &JoinPlan,
    col: &dyn Fn(&Ident) -> Result<BoundColumn, SqlError>,
) -> Result<Join, SqlError> {
    Ok(Join {
        plan: plan.clone(),
        stream_key: col(&plan.stream_key)?,
        rows: HashMap::new(),
    })
}

/// `alias.col` of the joined table, as the parser writes it: the column's place in the record.
pub fn reference_column(id: &Ident) -> Option<BoundColumn> {
    let field = id.name.strip_prefix(REFERENCE_KEY)?.strip_prefix('.')?;
    id.quoted.then(|| BoundColumn {
        name: id.name.clone(),
        path: vec![REFERENCE_KEY.to_string(), field.to_string()],
        sql_type: None,
    })
}

/// A value as a key: a string's text (borrowed: no copy per record), anything else its JSON
/// text.
fn key_text(v: &Value) -> Option<Cow<'_, str>> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(Cow::Borrowed(s)),
        other => Some(Cow::Owned(other.to_string())),
    }
}

impl Join {
    /// Loads the table from the `--reference-data` entry that names it.
    pub fn load(&mut self, flags: &[String]) -> anyhow::Result<()> {
        let table = &self.plan.table;
        let Some((path, format)) = table_file(table, flags) else {
            bail!(
                "--sql: the pump joins the reference table {}: give --reference-data {}=FILE",
                table.sql(),
                table.kda_name()
            );
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("--reference-data {}: reading {path}", table.kda_name()))?;
        let rows = match format {
            "csv" => csv_rows(&text),
            _ => json_rows(&text),
        }
        .with_context(|| format!("--reference-data {}: {path}", table.kda_name()))?;
        for row in rows {
            let key = row.get(&self.plan.table_key).and_then(key_text);
            if let Some(key) = key {
                // KDA's join would give a record one row per match; the first row wins here.
                let key = key.into_owned();
                self.rows.entry(key).or_insert_with(|| with_kda_names(row));
            }
        }
        Ok(())
    }

    /// Joins the table row to `record`: `false` when an inner join drops it.
    pub fn apply(&self, record: &mut Value) -> bool {
        let key = self
            .stream_key
            .path
            .iter()
            .try_fold(&*record, |v, k| v.get(k))
            .and_then(key_text);
        let row = key.and_then(|k| self.rows.get(k.as_ref()));
        if row.is_none() && !self.plan.left {
            return false;
        }
        if let Value::Object(o) = record {
            o.insert(
                REFERENCE_KEY.to_string(),
                row.cloned().unwrap_or(Value::Null),
            );
        }
        true
    }
}

/// Loads the joined table from its `--reference-data` flag; a flag without a JOIN in the SQL
/// is a usage error.
pub fn load_tables(join: Option<&mut Join>, flags: &[String]) -> anyhow::Result<()> {
    match join {
        Some(join) => join.load(flags).map_err(|e| usage(format!("{e:#}"))),
        None if flags.is_empty() => Ok(()),
        None => Err(usage(format!(
            "--reference-data {}: the SQL joins no reference table (JOIN \"{}\" AS t ON ...)",
            flags[0],
            flags[0].split('=').next().unwrap_or_default()
        ))),
    }
}

/// The file and format (`csv` or `json`) of the `--reference-data` entry that names `table`.
pub(super) fn table_file<'a>(table: &Ident, flags: &'a [String]) -> Option<(&'a str, &'a str)> {
    flags.iter().find_map(|f| {
        let (name, rest) = f.split_once('=')?;
        table.matches(name).then(|| split_format(rest))
    })
}

/// `FILE[,csv|json]`: the path and its format (by the suffix, else by the extension).
fn split_format(rest: &str) -> (&str, &str) {
    match rest.rsplit_once(',') {
        Some((path, f)) if f == "csv" || f == "json" => (path, f),
        _ if rest.to_ascii_lowercase().ends_with(".csv") => (rest, "csv"),
        _ => (rest, "json"),
    }
}

/// A row's columns also under their upper-case names, which unquoted references use.
fn with_kda_names(mut row: Map<String, Value>) -> Value {
    let upper: Vec<(String, Value)> = row
        .iter()
        .filter(|(k, _)| k.to_ascii_uppercase() != **k)
        .map(|(k, v)| (k.to_ascii_uppercase(), v.clone()))
        .collect();
    for (k, v) in upper {
        row.entry(k).or_insert(v);
    }
    Value::Object(row)
}

/// A header line names the columns; fields are split at commas (a field in double quotes,
/// the quote right after the comma, may hold one) and trimmed. Blank lines are skipped; a row with fewer fields than the header has
/// fewer columns, one with more has its extra fields ignored.
fn csv_rows(text: &str) -> anyhow::Result<Vec<Map<String, Value>>> {
    let mut reader = csv::ReaderBuilder::new()
        // The header is the first line that is not blank (a blank line before it is skipped,
        // which the reader's own header handling would not do).
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut records = reader.records().filter(|r| {
        // A line of spaces: one empty field.
        !r.as_ref().is_ok_and(|r| r.len() == 1 && r[0].is_empty())
    });
    let names = match records.next() {
        Some(header) => header.context("the header line")?,
        None => bail!("empty CSV file (the first line names the columns)"),
    };
    records
        .map(|record| {
            let record = record.context("a CSV row")?;
            Ok(names
                .iter()
                .zip(record.iter())
                .map(|(n, v)| (n.to_string(), Value::from(v)))
                .collect())
        })
        .collect()
}

/// A JSON array of objects, or one object per line.
fn json_rows(text: &str) -> anyhow::Result<Vec<Map<String, Value>>> {
    let objects: Vec<Value> = if text.trim_start().starts_with('[') {
        serde_json::from_str(text).context("not a JSON array")?
    } else {
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| serde_json::from_str(l).with_context(|| format!("line {}", i + 1)))
            .collect::<anyhow::Result<_>>()?
    };
    objects
        .into_iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::Object(o) => Ok(o),
            _ => bail!("row {} is not a JSON object", i + 1),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn csv_fields_are_trimmed_and_rows_carry_upper_case_names() {
        let rows = csv_rows("Ticker, Company\nAMZN,Amazon\nWAS,  SomeCompanyC\n").unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1]["Company"], json!("SomeCompanyC"));
        let row = with_kda_names(rows[0].clone());
        assert_eq!(row["COMPANY"], json!("Amazon"));
        assert_eq!(row["Ticker"], json!("AMZN"));
    }

    #[test]
    fn csv_fields_in_quotes_may_hold_commas() {
        let rows =
            csv_rows("Ticker, Company\nAMZN,\"Amazon.com, Inc.\"\nWAS,\"SomeCompanyC\"\n").unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["Company"], json!("Amazon.com, Inc."));
        assert_eq!(rows[1]["Company"], json!("SomeCompanyC"));
    }

    #[test]
    fn csv_blank_lines_are_skipped_and_short_rows_have_fewer_columns() {
        let rows = csv_rows("\n  \nTicker,Company,Sector\n\nAMZN,Amazon\n   \nWAS,C,Tech,extra\n")
            .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            Value::Object(rows[0].clone()),
            json!({"Ticker": "AMZN", "Company": "Amazon"})
        );
        assert_eq!(
            Value::Object(rows[1].clone()),
            json!({"Ticker": "WAS", "Company": "C", "Sector": "Tech"})
        );
        assert!(csv_rows("\n   \n").is_err());
        assert!(csv_rows("").is_err());
    }

    #[test]
    fn json_tables_are_arrays_or_lines_of_objects() {
        assert_eq!(json_rows(r#"[{"a": 1}, {"a": 2}]"#).unwrap().len(), 2);
        assert_eq!(json_rows("{\"a\": 1}\n\n{\"a\": 2}\n").unwrap().len(), 2);
        assert!(json_rows("[1]").is_err());
        assert_eq!(split_format("t.csv"), ("t.csv", "csv"));
        assert_eq!(split_format("t.txt,csv"), ("t.txt", "csv"));
        assert_eq!(split_format("t.ndjson"), ("t.ndjson", "json"));
    }
}
