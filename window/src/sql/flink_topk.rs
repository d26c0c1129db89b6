//! `TOP_K_ITEMS_TUMBLING` as Flink's Window Top-N (Flink documentation, "Window Top-N"): the
//! value's count per window from a `TUMBLE` window aggregate, then `ROW_NUMBER() OVER
//! (PARTITION BY window_start, window_end ORDER BY` the count `DESC)` at most K. Flink counts
//! exactly, as kds-window does (KDA approximated: "TOP_K_ITEMS_TUMBLING Function", KDA SQL
//! Reference); ties are ordered by the value, ascending, kds-window's order.

use std::fmt::Write as _;

use super::bind::resolve_column;
use super::flink::{col_ref, interval, q, sink_type, source_table, FlinkOptions};
use super::flink_rows::{refuse, write_header, write_sink};
use super::{Ident, RowPlan, Schema, SqlError, TopKPlan};

/// The Flink SQL for a `TOP_K_ITEMS_TUMBLING` pump.
pub(super) fn explain_top_k(
    plan: &RowPlan,
    top_k: &TopKPlan,
    schema: &Schema,
    opts: &FlinkOptions,
) -> Result<String, SqlError> {
    let item = counted_column(top_k, schema)?;
    let what = format!(
        "the {} most frequent values of {} in each {} s tumbling window on ROWTIME (the time each record is read)",
        top_k.k,
        top_k.column.name,
        top_k.window.as_secs()
    );
    let mut o = String::new();
    write_header(
        &mut o,
        &plan.pump,
        &plan.destination,
        &plan.source,
        &what,
        false,
    );
    write_source(&mut o, plan, schema, opts);
    write_sink(&mut o, plan, opts);
    let _ = writeln!(
        o,
        "-- The pump: TOP_K_ITEMS_TUMBLING becomes a Window Top-N: each value's count per window,\n\
         -- then the {} largest counts of each window (exact counts; equal counts by the value, ascending).",
        top_k.k
    );
    let _ = writeln!(
        o,
        "INSERT INTO {}\nSELECT\n{}\nFROM (",
        q(&plan.destination),
        outputs(plan, top_k).join(",\n")
    );
    let _ = writeln!(o, "  SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end ORDER BY `item_count` DESC, `item` ASC) AS `rownum`");
    let _ = writeln!(o, "  FROM (");
    let _ = writeln!(
        o,
        "    SELECT window_start, window_end, {item} AS `item`, COUNT(*) AS `item_count`"
    );
    let _ = writeln!(
        o,
        "    FROM TABLE(\n      TUMBLE(TABLE {}, DESCRIPTOR(`ingest_time`), {}))",
        q(&plan.source),
        interval(top_k.window.as_secs())
    );
    // kds-window counts no NULL (a missing field), as aggregates skip NULL.
    let _ = writeln!(o, "    WHERE {item} IS NOT NULL");
    let _ = writeln!(o, "    GROUP BY window_start, window_end, {item}");
    let _ = writeln!(o, "  )\n)\nWHERE `rownum` <= {};", top_k.k);
    Ok(o)
}

/// The source table with ROWTIME's stand-in as an event time: Flink has no Window Top-N on
/// processing time (Flink 2.3: "Processing time Window TopN is not supported yet"), so the time
/// each record is read becomes its event time, and the watermark, the newest such time, closes a
/// window when a record after its end arrives or the input ends, as kds-window closes it.
fn write_source(o: &mut String, plan: &RowPlan, schema: &Schema, opts: &FlinkOptions) {
    let _ = writeln!(
        o,
        "-- The source stream: one column per field of the JSON records."
    );
    let _ = writeln!(o, "-- KDA stamped each record with ROWTIME as it entered the application; `ingest_time` does that");
    let _ = writeln!(o, "-- here, as an event time (Flink has no Window Top-N on processing time): a window closes when a");
    let _ = writeln!(o, "-- record read after its end arrives (on a stream that goes quiet, the last one waits for it).");
    let extra = vec![
        "  `ingest_time` AS CURRENT_TIMESTAMP".to_string(),
        "  WATERMARK FOR `ingest_time` AS `ingest_time`".to_string(),
    ];
    source_table(o, &q(&plan.source), schema, opts, extra);
    o.push('\n');
}

/// The counted column, named in quotes: as written, then ignoring case (as kds-window binds it).
fn counted_column(top_k: &TopKPlan, schema: &Schema) -> Result<String, SqlError> {
    let envelope = std::cell::Cell::new(false);
    let quoted = Ident {
        quoted: true,
        ..top_k.column.clone()
    };
    let column = resolve_column(&quoted, Some(schema), &envelope)
        .or_else(|_| resolve_column(&top_k.column, Some(schema), &envelope))?;
    if envelope.get() {
        return Err(refuse("APPROXIMATE_ARRIVAL_TIME"));
    }
    Ok(col_ref(&column))
}

/// The destination's columns in declaration order: the window's end as ROWTIME (KDA wrote each
/// window's rows at its end), the value and its count, cast to the declared types.
fn outputs(plan: &RowPlan, top_k: &TopKPlan) -> Vec<String> {
    let mut sel = vec!["  window_end AS `ROWTIME`".to_string()];
    for (i, (name, ty, _)) in plan.columns.iter().enumerate() {
        let value = if i == top_k.item_index {
            "`item`"
        } else {
            "`item_count`"
        };
        sel.push(format!(
            "  CAST({value} AS {}) AS {}",
            sink_type(*ty),
            q(name)
        ));
    }
    sel
}
