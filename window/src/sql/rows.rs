//! Row preparation in front of the engine, when a query needs more than reading fields: KDA's
//! JSON-to-SQL conversion against a schema, `APPROXIMATE_ARRIVAL_TIME` from `kds-tail
//! --envelope` lines, GROUP BY's further time groups and the WHERE clause. Each record becomes a
//! plain JSON object that the engine reads as usual; a record that cannot be brought in goes to
//! the in-application error stream ([`ErrorStream`]) instead of the aggregates.

use std::io::Write;

use serde_json::Value;

use super::bind::{BoundColumn, BoundQuery};
use super::chain::Chain;
use super::coerce::coerce;
use super::eval::{eval_filter, BoundExpr};
use super::schema::Schema;
use super::windows::ARRIVAL_COLUMN;
use crate::driver::BlockFilter;

/// The top-level key that carries time group `i` to the engine (an engine group-by path).
pub fn time_group_key(i: usize) -> String {
    format!("$time_group_{i}")
}

/// KDA's in-application error stream ("Error Handling", KDA SQL Developer Guide): one NDJSON row
/// per record that could not be brought in, with KDA's columns ERROR_TIME, ERROR_LEVEL,
/// ERROR_NAME, MESSAGE, DATA_ROWTIME, DATA_ROW (the record's bytes, hex-encoded) and PUMP_NAME.
/// Without a file the first few are reported on stderr and all are counted.
pub struct ErrorStream {
    file: Option<kds_common::io::Output>,
    diag: Box<dyn Write + Send>,
    pump: String,
    /// Rows sent to the error stream.
    pub rows: u64,
    /// The first write error on the file, reported when the run ends.
    pub failed: Option<std::io::Error>,
}

/// How many error-stream rows are reported on stderr when there is no `--errors` file.
const REPORTED: u64 = 5;

impl ErrorStream {
    pub fn new(
        file: Option<kds_common::io::Output>,
        diag: Box<dyn Write + Send>,
        pump: &str,
    ) -> ErrorStream {
        ErrorStream {
            file,
            diag,
            pump: pump.to_string(),
            rows: 0,
            failed: None,
        }
    }

    /// Sends the record on line `line_no` to the error stream.
    pub fn send(&mut self, line_no: u64, name: &str, message: &str, record: &[u8]) {
        self.send_row(&format!("line {line_no}"), name, message, record);
    }

    /// Sends `record`, found at `at` (`line 7`, or a row no input line holds), to the error
    /// stream.
    pub fn send_row(&mut self, at: &str, name: &str, message: &str, record: &[u8]) {
        self.rows += 1;
        let Some(file) = &mut self.file else {
            if self.rows <= REPORTED {
                let _ = writeln!(
                    self.diag,
                    "kds-window: {at}: to the error stream: {message}"
                );
            }
            return;
        };
        let now = kds_common::time::rfc3339_ms(kds_common::time::now_ms());
        let row = serde_json::json!({
            "ERROR_TIME": now,
            "ERROR_LEVEL": "ERROR",
            "ERROR_NAME": name,
            "MESSAGE": format!("{at}: {message}"),
            "DATA_ROWTIME": now,
            "DATA_ROW": hex(record),
            "PUMP_NAME": self.pump,
        });
        if self.failed.is_none() {
            if let Err(e) = file.write_line(row.to_string().as_bytes()) {
                self.failed = Some(e);
            }
        }
    }

    pub fn flush(&mut self) {
        if let (Some(f), None) = (&mut self.file, &self.failed) {
            if let Err(e) = f.flush() {
                self.failed = Some(e);
            }
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// A time group: which column, rounded down to how many milliseconds.
struct TimeGroup {
    column: BoundColumn,
    size_ms: i64,
}

/// The row preparation stage, a [`BlockFilter`].
pub struct RowPrep {
    schema: Option<Schema>,
    envelope: bool,
    time_groups: Vec<TimeGroup>,
    filter: Option<BoundExpr>,
    /// Per-row pumps in front of the query's own (chained in-application streams).
    chain: Option<Chain>,
    pub errors: ErrorStream,
    buf: Vec<u8>,
}

/// Why a record goes to the error stream: KDA's error name and the message.
pub(super) type Rejection = (&'static str, String);

/// A function's error on the row just evaluated (`REGEX_REPLACE` with a bad argument), as the
/// error stream's rejection: KDA writes such rows to the error stream ("REGEX_REPLACE", KDA
/// SQL Reference) and goes on.
pub(super) fn function_error() -> Result<(), Rejection> {
    match super::funcs::take_row_error() {
        Some(message) => Err(("FUNCTION_ERROR", message)),
        None => Ok(()),
    }
}

impl RowPrep {
    /// Whether a windowed query needs the stage at all: a schema to convert with, envelopes,
    /// time groups, or pumps in front (else WHERE alone runs, as a [`super::cli::WhereFilter`]).
    pub fn needed(q: &BoundQuery, schema: Option<&Schema>, chain: Option<&Chain>) -> bool {
        schema.is_some() || q.envelope || !q.time_groups.is_empty() || chain.is_some()
    }

    /// The stage for `q`, or `None` when plain field reads do (no schema, no envelope, no time
    /// groups): then the WHERE clause alone runs in [`super::cli::WhereFilter`].
    pub fn for_query(
        q: &BoundQuery,
        schema: Option<Schema>,
        chain: Option<Chain>,
        errors: ErrorStream,
    ) -> Result<Option<RowPrep>, String> {
        if !RowPrep::needed(q, schema.as_ref(), chain.as_ref()) {
            return Ok(None);
        }
        let mut time_groups = Vec::new();
        for g in &q.time_groups {
            let size_ms = i64::try_from(g.size.as_millis())
                .map_err(|_| "time group interval too large".to_string())?;
            time_groups.push(TimeGroup {
                column: g.column.clone(),
                size_ms,
            });
        }
        Ok(Some(RowPrep {
            schema,
            envelope: q.envelope || chain.as_ref().is_some_and(|c| c.envelope),
            time_groups,
            filter: q.filter.clone(),
            chain,
            errors,
            buf: Vec::new(),
        }))
    }

    /// The stage for a per-row pump: conversion, envelopes and WHERE, no time groups.
    pub fn for_rows(
        schema: Option<Schema>,
        envelope: bool,
        filter: Option<BoundExpr>,
        chain: Option<Chain>,
        errors: ErrorStream,
    ) -> RowPrep {
        RowPrep {
            schema,
            envelope: envelope || chain.as_ref().is_some_and(|c| c.envelope),
            time_groups: Vec::new(),
            filter,
            chain,
            errors,
            buf: Vec::new(),
        }
    }

    /// The record a line becomes: `Ok(None)` when the WHERE clause drops it, `Err` when it goes
    /// to the error stream.
    pub(super) fn prepare(&self, v: Value) -> Result<Option<Value>, Rejection> {
        let mut record = if self.envelope {
            self.unwrap_envelope(v)?
        } else {
            v
        };
        if let Some(schema) = &self.schema {
            for c in &schema.columns {
                if let Some(slot) = lookup_mut(&mut record, &c.path) {
                    *slot = coerce(slot, c.sql_type)
                        .map_err(|e| ("COERCION_ERROR", format!("column {}: {e}", c.name)))?;
                }
            }
        }
        if let Some(chain) = &self.chain {
            match chain.apply(record, kds_common::time::now_ms())? {
                Some(row) => record = row,
                None => return Ok(None),
            }
        }
        for (i, g) in self.time_groups.iter().enumerate() {
            let value = match lookup(&record, &g.column.path) {
                None | Some(Value::Null) => Value::Null,
                Some(t) => {
                    let ms = time_of(t).ok_or_else(|| {
                        (
                            "BAD_TIMESTAMP",
                            format!("{}: {t} is not a timestamp", g.column.name),
                        )
                    })?;
                    let start = ms.div_euclid(g.size_ms) * g.size_ms;
                    Value::String(kds_common::time::rfc3339_ms(start))
                }
            };
            if let Value::Object(o) = &mut record {
                o.insert(time_group_key(i), value);
            }
        }
        if let Some(f) = &self.filter {
            let kept = eval_filter(f, &record);
            function_error()?;
            if !kept {
                return Ok(None);
            }
        }
        Ok(Some(record))
    }

    /// A `kds-tail --envelope` line: its record (`data`, decoded per `encoding`) with
    /// `APPROXIMATE_ARRIVAL_TIME` set from `arrival`.
    fn unwrap_envelope(&self, mut v: Value) -> Result<Value, Rejection> {
        let not = |what: &str| {
            (
                "NOT_AN_ENVELOPE",
                format!("{what} (not a kds-tail --envelope line)"),
            )
        };
        let arrival = match v.get("arrival") {
            Some(t) => time_of(t).ok_or_else(|| not("bad timestamp in arrival"))?,
            None => return Err(not("missing field arrival")),
        };
        // The envelope rule (docs/ENVELOPE.md): `data` itself, or the JSON in its utf8 text
        // or base64 bytes when `encoding` says so.
        let data = match crate::scan::envelope_record(&v) {
            Ok(Some(record)) => record,
            Ok(None) => v
                .get_mut("data")
                .map(Value::take)
                .ok_or_else(|| not("missing field data"))?,
            Err(e) => return Err(("NOT_AN_ENVELOPE", e)),
        };
        let Value::Object(mut o) = data else {
            return Err(("NOT_AN_OBJECT", "data is not a JSON object".to_string()));
        };
        o.insert(
            ARRIVAL_COLUMN.to_string(),
            Value::String(kds_common::time::rfc3339_ms(arrival)),
        );
        Ok(Value::Object(o))
    }
}

/// A time value: an RFC 3339 string or integer epoch milliseconds.
fn time_of(v: &Value) -> Option<i64> {
    match v {
        Value::String(s) => kds_common::time::parse_timestamp(s.as_bytes()),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
    .filter(|t| (crate::engine::MIN_TIME_MS..=crate::engine::MAX_TIME_MS).contains(t))
}

fn lookup<'v>(v: &'v Value, path: &[String]) -> Option<&'v Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

fn lookup_mut<'v>(v: &'v mut Value, path: &[String]) -> Option<&'v mut Value> {
    path.iter().try_fold(v, |v, k| v.get_mut(k))
}

impl BlockFilter for RowPrep {
    fn apply<'a>(&'a mut self, block: &'a [u8], first_line: u64) -> &'a [u8] {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        for (line_no, line) in (first_line..).zip(block.split(|&b| b == b'\n')) {
            if !line.is_empty() {
                match serde_json::from_slice::<Value>(line) {
                    // Not JSON, or not an object: the engine reports it as a bad line.
                    Ok(v @ Value::Object(_)) => match self.prepare(v) {
                        Ok(Some(record)) => {
                            // Serializing a Value into a Vec cannot fail.
                            let _ = serde_json::to_writer(&mut buf, &record);
                        }
                        Ok(None) => {}
                        Err((name, message)) => self.errors.send(line_no, name, &message, line),
                    },
                    _ => buf.extend_from_slice(line),
                }
            }
            buf.push(b'\n');
        }
        // `split` gives one piece more than there are '\n's.
        buf.pop();
        self.errors.flush();
        self.buf = buf;
        &self.buf
    }
}
