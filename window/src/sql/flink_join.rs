//! A reference-data JOIN ("Example: Adding Reference Data to a Kinesis Data Analytics
//! Application", KDA SQL Developer Guide) as a regular Flink join with a table on Flink's
//! `filesystem` connector over the file `--reference-data` names (Flink documentation, "Joins":
//! Regular Joins; "FileSystem" connector). Not a lookup join: the file does not change while the
//! job runs, and the filesystem connector is no lookup source; KDA, like kds-window, read the
//! table once when the application started. `LEFT JOIN` stays a `LEFT JOIN`; the keys are
//! compared as text, as kds-window compares them.

use std::fmt::Write as _;

use serde_json::Value;

use super::bind::{resolve_column, BoundColumn};
use super::flink::{col_ref, lit_str, q, FlinkOptions};
use super::flink_connector::with_options;
use super::flink_rows::{refuse, Relation};
use super::reference::{table_file, REFERENCE_KEY};
use super::{JoinPlan, RowPlan, Schema, SqlError};

/// The source joined to the reference table.
pub(super) fn join_relation<'a>(
    join: &JoinPlan,
    plan: &RowPlan,
    schema: &'a Schema,
    opts: &FlinkOptions,
) -> Result<Relation<'a>, SqlError> {
    let table = join.table.kda_name();
    let Some((path, format)) = table_file(&join.table, &opts.reference_data) else {
        return Err(SqlError::new(
            super::Pos::default(),
            format!(
                "--explain-flink: the pump joins the reference table {}: give --reference-data \
                 {table}=FILE (Flink's table reads the same file)",
                join.table.sql()
            ),
        ));
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        SqlError::new(
            super::Pos::default(),
            format!("--reference-data {table}: reading {path}: {e}"),
        )
    })?;
    let columns = match format {
        "csv" => csv_columns(&text)?,
        _ => json_columns(&text)?,
    };
    // kds-window looks the key up in the file's row as the ON clause spells it.
    if !columns.iter().any(|(c, _)| *c == join.table_key) {
        return Err(refuse(&format!(
            "a JOIN on {}, which {path} has no column for (no row would match)",
            join.table_key
        )));
    }
    let envelope = std::cell::Cell::new(false);
    let stream_key = resolve_column(&join.stream_key, Some(schema), &envelope)?;
    let (src, t) = (q(&plan.source), q(&table));
    let mut tables = String::new();
    table_ddl(&mut tables, &table, path, format, &columns);
    let from = format!(
        "{src}\n{}JOIN {t} ON CAST({src}.{} AS STRING) = CAST({t}.{} AS STRING)",
        if join.left { "LEFT " } else { "" },
        col_ref(&stream_key),
        q(&join.table_key)
    );
    let names: Vec<String> = columns.into_iter().map(|(c, _)| c).collect();
    Ok(Relation {
        from,
        schema: Some(schema),
        column: Box::new(move |c| column(&src, &t, &names, c)),
        conditions: Vec::new(),
        tables,
    })
}

/// A stream column qualified by the stream, a table column (`c."Company"`) by the table: as
/// kds-window finds it, by the file's name or its upper case (unquoted references).
fn column(src: &str, table: &str, names: &[String], c: &BoundColumn) -> String {
    match c.path.as_slice() {
        [key, field] if key == REFERENCE_KEY => names
            .iter()
            .find(|n| *n == field)
            .or_else(|| names.iter().find(|n| n.to_ascii_uppercase() == *field))
            .map_or_else(
                || "CAST(NULL AS STRING)".to_string(),
                |n| format!("{table}.{}", q(n)),
            ),
        _ => format!("{src}.{}", col_ref(c)),
    }
}

/// The table's DDL: the file on the filesystem connector; a CSV file through a view that
/// drops its header line and trims the spaces around fields, as kds-window reads it.
fn table_ddl(o: &mut String, table: &str, path: &str, format: &str, columns: &[(String, String)]) {
    let _ = writeln!(o, "-- The reference table {table}: the file --reference-data names, read once when the job starts,");
    let _ = writeln!(o, "-- as KDA read its S3 object when the application started. A regular join, not a lookup join:");
    let _ = writeln!(o, "-- the file does not change while the job runs. On Managed Service for Apache Flink, copy the");
    let _ = writeln!(o, "-- file to S3 and give its s3:// path.");
    let csv = format == "csv";
    let name = if csv {
        q(&format!("{table}_file"))
    } else {
        q(table)
    };
    let cols: Vec<String> = columns
        .iter()
        .map(|(c, ty)| format!("  {} {ty}", q(c)))
        .collect();
    let options = [
        ("connector", "filesystem".to_string()),
        ("path", path.to_string()),
        ("format", format.to_string()),
    ];
    let _ = writeln!(
        o,
        "CREATE TABLE {name} (\n{}\n) WITH (\n{}\n);\n",
        cols.join(",\n"),
        with_options(&options)
    );
    if csv {
        csv_view(o, table, &name, columns);
    }
}

/// The CSV file's rows without its header line (a row to Flink's csv format), trimmed.
fn csv_view(o: &mut String, table: &str, file: &str, columns: &[(String, String)]) {
    let trimmed: Vec<String> = columns
        .iter()
        .map(|(c, _)| format!("TRIM({})", q(c)))
        .collect();
    let select: Vec<String> = trimmed
        .iter()
        .zip(columns)
        .map(|(t, (c, _))| format!("{t} AS {}", q(c)))
        .collect();
    let header: Vec<String> = trimmed
        .iter()
        .zip(columns)
        .map(|(t, (c, _))| format!("{t} IS DISTINCT FROM {}", lit_str(c)))
        .collect();
    let _ = writeln!(o, "-- Flink's csv format reads the header line as a row: the view drops it and trims the fields.");
    let _ = writeln!(
        o,
        "CREATE TEMPORARY VIEW {} AS\nSELECT {}\nFROM {file}\nWHERE {};\n",
        q(table),
        select.join(", "),
        header.join(" OR ")
    );
}

/// The header's column names (trimmed, as kds-window reads them); all values are text.
fn csv_columns(text: &str) -> Result<Vec<(String, String)>, SqlError> {
    let header = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .trim(csv::Trim::All)
        .from_reader(header.as_bytes());
    let names = match reader.records().next() {
        Some(Ok(record)) => record.iter().map(str::to_string).collect::<Vec<_>>(),
        _ => return Err(refuse("a JOIN with an empty reference CSV file")),
    };
    Ok(names.into_iter().map(|n| (n, "STRING".into())).collect())
}

/// One object per line: each key once (a line's keys in name order), typed by its first
/// non-null value.
fn json_columns(text: &str) -> Result<Vec<(String, String)>, SqlError> {
    if text.trim_start().starts_with('[') {
        return Err(refuse(
            "a JOIN with a JSON array file (Flink's json format reads one object per line)",
        ));
    }
    let mut columns: Vec<(String, String)> = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(Value::Object(row)) = serde_json::from_str::<Value>(line) else {
            return Err(refuse(
                "a JOIN with a reference file line that is no JSON object",
            ));
        };
        for (k, v) in row {
            let ty = match v {
                Value::Null => continue,
                Value::String(_) => "STRING",
                Value::Bool(_) => "BOOLEAN",
                Value::Number(n) if n.is_i64() => "BIGINT",
                Value::Number(_) => "DOUBLE",
                Value::Array(_) | Value::Object(_) => {
                    return Err(refuse(
                        "a JOIN with nested JSON values in the reference file",
                    ))
                }
            };
            if !columns.iter().any(|(c, _)| *c == k) {
                columns.push((k, ty.to_string()));
            }
        }
    }
    Ok(columns)
}
