//! Per-row pumps: `INSERT INTO "DEST" SELECT STREAM col, ... FROM src WHERE ...` without GROUP BY
//! writes every record that passes the WHERE clause, at once, with its ROWTIME (KDA's "Example:
//! Creating Simple Alerts"). Records go through the same conversion, envelope and error-stream
//! stage as windowed queries ([`RowPrep`]).

use std::cell::Cell;
use std::io::Write;

use anyhow::Context;
use kds_common::exit::{usage, Exit};
use kds_common::first_few::FirstFew;
use kds_common::io::{Line, LineReader, Next, Output};
use serde_json::Value;

use super::bind::{bind_expr, resolve_column};
use super::chain::bind_chain;
use super::eval::{eval_json, BoundExpr, ROWTIME_KEY};
use super::reference::{bind_join, Join};
use super::rows::{function_error, ErrorStream, RowPrep};
use super::sliding::{bind_sliding, Sliding};
use super::stagger::{bind_stagger, Stagger};
use super::topk::{bind_top_k, TopK};
use super::{RowPlan, Schema, SqlError};

/// A per-row pump bound to its input: output column names and the values they get (a source
/// column, copied as the record holds it, or an expression).
pub struct BoundRows {
    pub columns: Vec<(String, BoundExpr)>,
    /// `... OVER W1` columns: their sliding windows.
    pub sliding: Sliding,
    /// A stagger-window or `TOP_K_ITEMS_TUMBLING` pump: its windows (it writes rows when a
    /// window closes, not per record).
    pub closing: Option<Closing>,
    /// A JOIN with a reference table (loaded by the caller: [`Join::load`]).
    pub join: Option<Join>,
    pub prep: RowPrep,
}

/// Resolves and type-checks a per-row plan (the WHERE clause as for windowed queries).
pub fn bind_rows(
    plan: &RowPlan,
    schema: Option<Schema>,
    errors: ErrorStream,
) -> Result<BoundRows, SqlError> {
    let chain = bind_chain(&plan.upstream, schema.as_ref())?;
    let reads = chain
        .as_ref()
        .map_or(schema.as_ref(), |c| c.schema.as_ref());
    let envelope = Cell::new(false);
    let col = |id: &super::Ident| resolve_column(id, reads, &envelope);
    let columns = plan
        .columns
        .iter()
        .map(|(name, _, e)| bind_expr(e, &col).map(|(b, _)| (name.clone(), b)))
        .collect::<Result<Vec<_>, _>>()?;
    // WHERE runs before the join: the table's columns are not there yet.
    let filter_col = |id: &super::Ident| match super::reference::reference_column(id) {
        Some(_) => Err(SqlError::unsupported(
            id.pos,
            "a reference table's column in WHERE",
        )),
        None => col(id),
    };
    let filter = match &plan.filter {
        None => None,
        Some(e) => Some(bind_expr(e, &filter_col)?.0),
    };
    let sliding = bind_sliding(&plan.sliding, &col)?;
    let closing = match (&plan.stagger, &plan.top_k) {
        (None, None) => None,
        (Some(s), None) => Some(Closing::Stagger(bind_stagger(s, &col)?)),
        (None, Some(t)) => Some(Closing::TopK(bind_top_k(t, &col)?)),
        (Some(_), Some(t)) => {
            return Err(SqlError::unsupported(
                t.column.pos,
                "a stagger window and TOP_K_ITEMS_TUMBLING in one pump",
            ))
        }
    };
    let join = plan.join.as_ref().map(|j| bind_join(j, &col)).transpose()?;
    let prep = RowPrep::for_rows(schema, envelope.get(), filter, chain, errors);
    Ok(BoundRows {
        columns,
        sliding,
        closing,
        join,
        prep,
    })
}

/// The output row of a record read at `now`: `ROWTIME`, then the destination's columns in
/// declaration order (written by hand: a `serde_json::Map` would sort the keys).
fn row(
    columns: &[(String, BoundExpr)],
    overs: &[(usize, Value)],
    record: &mut Value,
    now: i64,
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(b"{\"ROWTIME\":\"");
    kds_common::time::format_rfc3339_ms(now, out);
    out.push(b'"');
    if let Value::Object(o) = record {
        o.insert(ROWTIME_KEY.to_string(), Value::from(now));
    }
    for (i, (name, e)) in columns.iter().enumerate() {
        out.push(b',');
        // Serializing a String or a Value into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, name);
        out.push(b':');
        if let Some((_, v)) = overs.iter().find(|(o, _)| *o == i) {
            let _ = serde_json::to_writer(&mut *out, v);
        } else if let BoundExpr::Column(c) = e {
            let v = c.path.iter().try_fold(&*record, |v, k| v.get(k));
            let _ = serde_json::to_writer(&mut *out, v.unwrap_or(&Value::Null));
        } else {
            let _ = serde_json::to_writer(&mut *out, &eval_json(e, record));
        }
    }
    out.push(b'}');
}

/// A closed window's row (stagger or top-K): `ROWTIME` (its close), then the destination's
/// columns.
fn closed_row(columns: &[(String, BoundExpr)], rowtime: i64, values: &[Value], out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"ROWTIME\":\"");
    kds_common::time::format_rfc3339_ms(rowtime, out);
    out.push(b'"');
    for ((name, _), v) in columns.iter().zip(values) {
        out.push(b',');
        // Serializing a String or a Value into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, name);
        out.push(b':');
        let _ = serde_json::to_writer(&mut *out, v);
    }
    out.push(b'}');
}

/// Writes the rows of closed windows (stagger or top-K).
fn write_closed(
    columns: &[(String, BoundExpr)],
    closed: Vec<(i64, Vec<Value>)>,
    out: &mut Output,
) -> std::io::Result<()> {
    let mut text = Vec::new();
    for (rowtime, values) in closed {
        text.clear();
        closed_row(columns, rowtime, &values, &mut text);
        out.write_line(&text)?;
    }
    Ok(())
}

/// The windows of a pump that writes rows when they close: a stagger window's per key, or a
/// `TOP_K_ITEMS_TUMBLING` tumbling window. Both close on the clock as well as on the next record.
pub enum Closing {
    Stagger(Stagger),
    TopK(TopK),
}

impl Closing {
    /// Adds `record`, read at `now`; returns the rows of the windows that closed by then.
    fn push(&mut self, record: &Value, now: i64) -> Vec<(i64, Vec<Value>)> {
        match self {
            Closing::Stagger(s) => s.push(record, now),
            Closing::TopK(t) => t.push(record, now),
        }
    }

    /// When the first open window closes (epoch ms), if one is open.
    fn next_close(&self) -> Option<i64> {
        match self {
            Closing::Stagger(s) => s.next_close(),
            Closing::TopK(t) => t.next_close(),
        }
    }

    /// The rows of the windows that closed by `now` (no record came).
    fn expire(&mut self, now: i64) -> Vec<(i64, Vec<Value>)> {
        match self {
            Closing::Stagger(s) => s.expire(now),
            Closing::TopK(t) => t.expire(now),
        }
    }

    /// The rows of every open window (the input ended).
    fn finish(&mut self) -> Vec<(i64, Vec<Value>)> {
        match self {
            Closing::Stagger(s) => s.finish(),
            Closing::TopK(t) => t.finish(),
        }
    }
}

/// Runs a per-row pump over `reader`: rows to `out` (flushed while a pipe is live), bad lines
/// reported on `diag` (the first five) and counted. The input is `poll()`ed with a timeout
/// (until the next window's close, at most [`crate::driver::POLL`]), so stagger and top-K
/// windows are written on the clock when a live input goes quiet ("Stagger Windows": a window
/// closes its range after its key's first record, whatever comes next; a
/// `TOP_K_ITEMS_TUMBLING` window closes at its end). The records of a block are read at one
/// clock reading.
pub fn run_rows(
    rows: &mut BoundRows,
    reader: &mut LineReader,
    out: &mut Output,
    diag: &mut dyn Write,
) -> anyhow::Result<u64> {
    let bad = FirstFew::new();
    let mut text = Vec::new();
    loop {
        let wait = crate::driver::wait_for(
            rows.closing.as_ref().and_then(Closing::next_close),
            kds_common::time::now_ms(),
        );
        match reader.next(wait).context("reading input")? {
            Next::Block(block) => {
                // One clock reading per block, as the windowed driver takes it: its records
                // were read together.
                let now = kds_common::time::now_ms();
                let lines = block.bytes.strip_suffix(b"\n").unwrap_or(block.bytes);
                for (number, bytes) in (block.first_line..).zip(lines.split(|&b| b == b'\n')) {
                    let line = Line { number, bytes };
                    push_line(rows, line, now, out, diag, &bad, &mut text)?;
                }
            }
            Next::Idle => {
                if let Some(closing) = &mut rows.closing {
                    write_closed(
                        &rows.columns,
                        closing.expire(kds_common::time::now_ms()),
                        out,
                    )?;
                }
            }
            Next::End => break,
        }
        // A live pipe may not send more for a while: hand on what is written.
        if reader.input_is_live() {
            out.flush()?;
            rows.prep.errors.flush();
        }
    }
    if let Some(closing) = &mut rows.closing {
        write_closed(&rows.columns, closing.finish(), out)?;
    }
    out.flush()?;
    rows.prep.errors.flush();
    Ok(bad.seen())
}

/// One input line, read at `now`, through the pump: its row, its stagger or top-K window, or
/// the error stream.
fn push_line(
    rows: &mut BoundRows,
    line: Line,
    now: i64,
    out: &mut Output,
    diag: &mut dyn Write,
    bad: &FirstFew,
    text: &mut Vec<u8>,
) -> anyhow::Result<()> {
    if line.bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    let record = match serde_json::from_slice::<Value>(line.bytes) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => {
            report_bad(bad, diag, line.number, "not a JSON object");
            return Ok(());
        }
        Err(e) => {
            report_bad(bad, diag, line.number, &format!("not valid JSON: {e}"));
            return Ok(());
        }
    };
    match rows.prep.prepare(record) {
        Ok(Some(r)) if rows.closing.is_some() => {
            if let Some(closing) = &mut rows.closing {
                write_closed(&rows.columns, closing.push(&r, now), out)?;
            }
        }
        Ok(Some(mut r)) => {
            if rows.join.as_ref().is_some_and(|j| !j.apply(&mut r)) {
                return Ok(());
            }
            text.clear();
            let overs = rows.sliding.push(&r, now);
            row(&rows.columns, &overs, &mut r, now, text);
            match function_error() {
                Ok(()) => out.write_line(text)?,
                Err((name, message)) => {
                    rows.prep
                        .errors
                        .send(line.number, name, &message, line.bytes)
                }
            }
        }
        Ok(None) => {}
        Err((name, message)) => rows
            .prep
            .errors
            .send(line.number, name, &message, line.bytes),
    }
    Ok(())
}

fn report_bad(bad: &FirstFew, diag: &mut dyn Write, line: u64, message: &str) {
    if bad.next().is_some() {
        let _ = writeln!(diag, "kds-window: line {line}: {message}");
    }
}

/// `--sql` with a per-row pump: flags about windows are refused.
pub fn check_flags(args: &crate::Args) -> anyhow::Result<()> {
    if args.threads > 1 || args.partial || args.merge || args.emit_empty {
        return Err(usage(
            "a pump without GROUP BY writes each record: --threads, --partial, --merge and \
             --emit-empty need windows",
        ));
    }
    Ok(())
}

/// Runs the command line's inputs through a per-row pump.
pub fn run(args: &crate::Args, rows: &mut BoundRows) -> anyhow::Result<Exit> {
    check_flags(args)?;
    let mut reader = LineReader::open(&args.files)?;
    let mut out = Output::stdout();
    let bad = run_rows(rows, &mut reader, &mut out, &mut std::io::stderr())?;
    if bad > 0 {
        let _ = writeln!(
            std::io::stderr(),
            "kds-window: {bad} bad line{} skipped",
            if bad == 1 { "" } else { "s" }
        );
    }
    Ok(Exit::Ok)
}
