//! Turning window results into output rows: NDJSON (hand-formatted) or CSV (the csv crate),
//! and partial rows for `--partial`.

use std::io;

use kds_common::io::Output;
use kds_common::time::format_rfc3339_ms;
use serde_json::{Map, Value};

use crate::agg::Acc;
use crate::query::{Column, Query};

/// Output format of final rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Ndjson,
    Csv,
}

/// What kind of row is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Marker {
    /// A correction for a window already emitted (`--late emit`).
    pub late: bool,
    /// Emitted on SIGINT/SIGTERM before the window closed.
    pub not_final: bool,
}

/// Formats rows of one query.
pub struct RowWriter {
    format: Format,
    partial: bool,
    /// `"name":` for each column, JSON-escaped, in output order.
    prefixes: Vec<Vec<u8>>,
    columns: Vec<Column>,
    agg_names: Vec<String>,
    group_names: Vec<String>,
    header_written: bool,
    row: Vec<u8>,
    pub rows: u64,
}

impl RowWriter {
    pub fn new(query: &Query, format: Format, partial: bool) -> RowWriter {
        let prefixes = query
            .columns
            .iter()
            .enumerate()
            .map(|(i, col)| {
                let mut p = Vec::new();
                p.push(if i == 0 { b'{' } else { b',' });
                kds_common::json::write_json_string(&mut p, query.column_name(col));
                p.push(b':');
                p
            })
            .collect();
        RowWriter {
            format,
            partial,
            prefixes,
            columns: query.columns.clone(),
            agg_names: query.aggregates.iter().map(|a| a.name.clone()).collect(),
            group_names: query.group_by.iter().map(|g| g.name.clone()).collect(),
            header_written: false,
            row: Vec::with_capacity(256),
            rows: 0,
        }
    }

    /// Writes one row for the window starting at `start` and the group `key` (group values as
    /// JSON texts joined by NUL bytes).
    pub fn write(
        &mut self,
        out: &mut Output,
        start: i64,
        size: i64,
        key: &[u8],
        accs: &[Acc],
        marker: Marker,
    ) -> io::Result<()> {
        self.rows += 1;
        let window = WindowRow {
            start,
            end: start + size,
            groups: split_key(key, self.group_names.len()),
            accs,
            marker,
        };
        if self.partial {
            return self.write_partial(out, &window);
        }
        match self.format {
            Format::Ndjson => self.write_ndjson(out, &window),
            Format::Csv => self.write_csv(out, &window),
        }
    }

    fn write_ndjson(&mut self, out: &mut Output, w: &WindowRow) -> io::Result<()> {
        let row = &mut self.row;
        row.clear();
        for (col, prefix) in self.columns.iter().zip(&self.prefixes) {
            row.extend_from_slice(prefix);
            match col {
                Column::WindowStart(_) => quoted_time(row, w.start),
                Column::WindowEnd(_) | Column::Rowtime(_) => quoted_time(row, w.end),
                Column::Group(i) => row.extend_from_slice(w.group(*i)),
                Column::Agg(i) => w.accs[*i].write_value(row),
            }
        }
        if w.marker.not_final {
            row.extend_from_slice(b",\"final\":false");
        }
        if w.marker.late {
            row.extend_from_slice(b",\"late\":true");
        }
        row.extend_from_slice(b"}\n");
        out.write_all(row)
    }

    fn write_csv(&mut self, out: &mut Output, w: &WindowRow) -> io::Result<()> {
        if !self.header_written {
            self.header_written = true;
            let mut header: Vec<String> = self
                .columns
                .iter()
                .map(|c| self.column_name(c).to_string())
                .collect();
            header.push("final".into());
            header.push("late".into());
            out.write_all(&csv_record(&header)?)?;
        }
        let mut fields: Vec<Vec<u8>> = Vec::with_capacity(self.columns.len() + 2);
        for col in &self.columns {
            let mut f = Vec::new();
            match col {
                Column::WindowStart(_) => format_rfc3339_ms(w.start, &mut f),
                Column::WindowEnd(_) | Column::Rowtime(_) => format_rfc3339_ms(w.end, &mut f),
                Column::Group(i) => csv_value(w.group(*i), &mut f),
                Column::Agg(i) => {
                    let mut v = Vec::new();
                    w.accs[*i].write_value(&mut v);
                    csv_value(&v, &mut f);
                }
            }
            fields.push(f);
        }
        fields.push(if w.marker.not_final {
            b"false".to_vec()
        } else {
            b"true".to_vec()
        });
        fields.push(if w.marker.late {
            b"true".to_vec()
        } else {
            b"false".to_vec()
        });
        out.write_all(&csv_record(&fields)?)
    }

    fn column_name<'a>(&'a self, col: &'a Column) -> &'a str {
        match col {
            Column::WindowStart(n) | Column::WindowEnd(n) | Column::Rowtime(n) => n,
            Column::Group(i) => &self.group_names[*i],
            Column::Agg(i) => &self.agg_names[*i],
        }
    }

    fn write_partial(&mut self, out: &mut Output, w: &WindowRow) -> io::Result<()> {
        let mut row = Map::new();
        row.insert("kds_window_partial".into(), Value::from(1));
        row.insert(
            "window_start".into(),
            kds_common::time::rfc3339_ms(w.start).into(),
        );
        row.insert(
            "window_end".into(),
            kds_common::time::rfc3339_ms(w.end).into(),
        );
        let key: Vec<Value> = w
            .groups
            .iter()
            .map(|g| serde_json::from_slice(g).unwrap_or(Value::Null))
            .collect();
        row.insert("key".into(), Value::Array(key));
        let mut states = Map::new();
        for (name, acc) in self.agg_names.iter().zip(w.accs) {
            states.insert(name.clone(), acc.to_partial());
        }
        row.insert("aggs".into(), Value::Object(states));
        if w.marker.not_final {
            row.insert("final".into(), Value::Bool(false));
        }
        if w.marker.late {
            row.insert("late".into(), Value::Bool(true));
        }
        self.row.clear();
        serde_json::to_writer(&mut self.row, &Value::Object(row)).map_err(io::Error::other)?;
        self.row.push(b'\n');
        out.write_all(&self.row)
    }
}

/// One output row's content: a window's bounds, a group's values and its accumulators.
struct WindowRow<'a> {
    start: i64,
    end: i64,
    /// The group values as JSON texts (see [`split_key`]).
    groups: Vec<&'a [u8]>,
    accs: &'a [Acc],
    marker: Marker,
}

impl WindowRow<'_> {
    /// Group value `i` as JSON text.
    fn group(&self, i: usize) -> &[u8] {
        self.groups.get(i).copied().unwrap_or(b"null")
    }
}

/// One CSV record, quoted as needed, with its line end.
fn csv_record<I, T>(fields: I) -> io::Result<Vec<u8>>
where
    I: IntoIterator<Item = T>,
    T: AsRef<[u8]>,
{
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    w.write_record(fields).map_err(io::Error::other)?;
    w.into_inner().map_err(|e| io::Error::other(e.to_string()))
}

fn quoted_time(row: &mut Vec<u8>, ms: i64) {
    row.push(b'"');
    format_rfc3339_ms(ms, row);
    row.push(b'"');
}

/// A JSON value as a CSV field: strings unquoted, null empty, anything else as JSON text.
fn csv_value(json: &[u8], out: &mut Vec<u8>) {
    if json == b"null" {
        return;
    }
    if json.first() == Some(&b'"') {
        if let Ok(s) = serde_json::from_slice::<String>(json) {
            out.extend_from_slice(s.as_bytes());
            return;
        }
    }
    out.extend_from_slice(json);
}

/// The group values of a key: JSON texts joined by NUL (JSON text never holds a raw NUL).
pub fn split_key(key: &[u8], groups: usize) -> Vec<&[u8]> {
    if groups == 0 {
        return Vec::new();
    }
    key.split(|b| *b == 0).collect()
}
