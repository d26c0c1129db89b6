//! Pumps after a GROUP BY pump ("Example: Aggregating Partial Results from a Query", KDA SQL
//! Developer Guide): the tumbling-window pump writes an in-application stream, and the pumps
//! without GROUP BY that read it see each emitted row as a record of that stream, read at the
//! row's ROWTIME (the window's end). Here that is a writer behind the engine: it turns each
//! NDJSON row the engine writes into the stream's record (values converted to the stream's
//! declared types, as KDA does on INSERT), runs it through the pumps after it ([`Chain`]) and
//! writes the last stream's row.

use std::io::{self, Write};
use std::sync::{Arc, Mutex, PoisonError};

use kds_common::exit::usage;
use kds_common::io::Output;
use serde_json::{Map, Value};

use super::chain::{bind_chain, declared_schema, Chain};
use super::coerce::coerce;
use super::rows::ErrorStream;
use super::{Schema, SqlPlan, SqlType};
use crate::output::Format;

/// The error stream the pumps after the GROUP BY pump send rows to, shared with whoever
/// reports it when the run ends.
pub type SharedErrors = Arc<Mutex<ErrorStream>>;

/// A writer behind the engine that runs its rows through the pumps after the GROUP BY pump.
pub struct Downstream {
    chain: Chain,
    /// The GROUP BY pump's stream: its columns (KDA names, as the engine writes them) and types.
    stream: Vec<(String, SqlType)>,
    /// The output stream's columns, in declaration order.
    output: Vec<String>,
    inner: Output,
    errors: SharedErrors,
    /// Bytes of a row not yet ended by `\n`.
    pending: Vec<u8>,
    row: Vec<u8>,
    rows: u64,
}

/// The GROUP BY pump's stream as a schema: each column read from the key of its KDA name.
pub(super) fn stream_schema(plan: &SqlPlan) -> Schema {
    declared_schema(plan.output_columns.iter().map(|c| (c.name.as_str(), c.ty)))
}

/// Refuses what a chain after a GROUP BY pump cannot do: its rows are NDJSON records of the
/// next stream, final ones.
pub fn check_flags(args: &crate::Args) -> anyhow::Result<()> {
    if args.format != Format::Ndjson || args.partial || args.merge || args.threads > 1 {
        return Err(usage(
            "pumps that read a GROUP BY pump's stream need its final NDJSON rows: drop --format \
             csv, --partial, --merge and --threads",
        ));
    }
    Ok(())
}

impl Downstream {
    /// `None` when the GROUP BY pump writes the output itself.
    pub fn new(
        plan: &SqlPlan,
        inner: Output,
        errors: SharedErrors,
    ) -> Result<Option<Downstream>, super::SqlError> {
        let Some(chain) = bind_chain(&plan.downstream, Some(&stream_schema(plan)))? else {
            return Ok(None);
        };
        let last = plan.downstream.last().expect("a chain has a last pump");
        Ok(Some(Downstream {
            chain,
            stream: plan
                .output_columns
                .iter()
                .map(|c| (c.name.clone(), c.ty))
                .collect(),
            output: last.columns.iter().map(|(n, _, _)| n.clone()).collect(),
            inner,
            errors,
            pending: Vec::new(),
            row: Vec::new(),
            rows: 0,
        }))
    }

    /// One row of the GROUP BY pump: into its stream (converted), through the pumps after it.
    fn push_row(&mut self, line: &[u8]) -> io::Result<()> {
        self.rows += 1;
        let Ok(Value::Object(emitted)) = serde_json::from_slice::<Value>(line) else {
            // The engine writes NDJSON objects only (check_flags refuses CSV and partials).
            return self.inner.write_line(line);
        };
        let rowtime = emitted
            .get("ROWTIME")
            .and_then(Value::as_str)
            .and_then(|s| kds_common::time::parse_timestamp(s.as_bytes()))
            .unwrap_or_else(kds_common::time::now_ms);
        let record = match self.stream_record(&emitted) {
            Ok(r) => r,
            Err(message) => return self.reject("COERCION_ERROR", &message, line),
        };
        match self.chain.apply(record, rowtime) {
            Ok(Some(Value::Object(out))) => self.write_output(rowtime, &out),
            Ok(_) => Ok(()),
            Err((name, message)) => self.reject(name, &message, line),
        }
    }

    /// The emitted row as a record of the GROUP BY pump's stream, KDA's conversion applied.
    fn stream_record(&self, emitted: &Map<String, Value>) -> Result<Value, String> {
        let mut record = Map::new();
        for (name, ty) in &self.stream {
            let v = emitted.get(name).unwrap_or(&Value::Null);
            let v = coerce(v, *ty).map_err(|m| format!("column {name}: {m}"))?;
            record.insert(name.clone(), v);
        }
        Ok(Value::Object(record))
    }

    fn write_output(&mut self, rowtime: i64, values: &Map<String, Value>) -> io::Result<()> {
        let row = &mut self.row;
        row.clear();
        row.extend_from_slice(b"{\"ROWTIME\":\"");
        kds_common::time::format_rfc3339_ms(rowtime, row);
        row.push(b'"');
        for name in &self.output {
            row.push(b',');
            // Serializing a String or a Value into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *row, name);
            row.push(b':');
            let _ = serde_json::to_writer(&mut *row, values.get(name).unwrap_or(&Value::Null));
        }
        row.push(b'}');
        self.inner.write_line(row)
    }

    fn reject(&mut self, name: &str, message: &str, line: &[u8]) -> io::Result<()> {
        let at = format!("row {} of the GROUP BY pump", self.rows);
        self.errors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .send_row(&at, name, message, line);
        Ok(())
    }
}

impl Write for Downstream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        // Taken out while its rows are pushed (push_row borrows self), rather than copying
        // each row out of it.
        let pending = std::mem::take(&mut self.pending);
        let mut start = 0;
        let mut pushed = Ok(());
        while let Some(n) = memchr::memchr(b'\n', &pending[start..]) {
            pushed = self.push_row(&pending[start..start + n]);
            if pushed.is_err() {
                break;
            }
            start += n + 1;
        }
        self.pending = pending;
        pushed?;
        self.pending.drain(..start);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()?;
        self.errors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .flush();
        Ok(())
    }
}

/// Where the engine writes for `--sql`: stdout, or (when pumps read the GROUP BY pump's stream)
/// a [`Downstream`] in front of it, with its error stream for [`report`].
pub fn output_for(
    args: &crate::Args,
    sql: &super::SqlArgs,
    plan: Option<&super::SqlPlan>,
) -> anyhow::Result<(Output, Option<SharedErrors>)> {
    let Some((plan, last)) = plan.and_then(|p| Some((p, p.downstream.last()?))) else {
        return Ok((Output::stdout(), None));
    };
    check_flags(args)?;
    let errors = Arc::new(Mutex::new(super::cli::error_stream(sql, &last.pump)?));
    let down = Downstream::new(plan, Output::stdout(), errors.clone())
        .map_err(|e| usage(format!("--sql: {e}")))?
        .expect("the plan has pumps after its GROUP BY pump");
    Ok((Output::new(down), Some(errors)))
}

/// After the run: the error stream of the pumps after the GROUP BY pump, as for the others.
pub fn report(errors: Option<SharedErrors>, to_file: bool) -> anyhow::Result<()> {
    let Some(errors) = errors else {
        return Ok(());
    };
    let mut errors = errors.lock().unwrap_or_else(PoisonError::into_inner);
    super::cli::report_errors(&mut errors, to_file)
}
