//! `--explain-flink` for chained pumps ("In-Application Streams and Pumps", KDA SQL Developer
//! Guide): each in-application stream a pump writes becomes a Flink temporary view named after
//! the stream, over that pump's SELECT, and the last pump inserts into the sink from the last
//! view. Only the pumps that lead to the output are translated, as kds-window runs only them.
//!
//! - KDA converts the values a pump writes to a declared stream to the stream's column types
//!   ("Mapping JSON Data Types to SQL Data Types"): a view's columns are cast to them, a
//!   `VARCHAR(n)` as `VARCHAR(n)` (Flink's CAST cuts the text to n characters, as KDA does).
//! - A subquery in FROM declares no types: its values pass as computed. One without OVER
//!   aggregates is inlined into the pump that reads it (`flink_log`); one with them is a
//!   subquery in FROM (a window function cannot be inlined into a WHERE clause).
//! - Every view passes `proctime` on, the processing-time attribute that stands in for ROWTIME
//!   (Flink keeps a time attribute through projections, filters and OVER aggregations, so a
//!   later pump's OVER window or TUMBLE orders by it; kds-window reads a record once and runs
//!   it through every pump at that ROWTIME).
//! - A GROUP BY pump's stream is a view over its `TUMBLE` aggregation: its rows are read at
//!   their window's end, which the view passes on as `ROWTIME`, and `window_time`, the
//!   window's time attribute (Flink documentation, "Window Aggregation": window_time is a time
//!   attribute of the aggregated rows, for cascading windows), becomes the `proctime` that the
//!   OVER windows of the pumps after it order by.

use std::cell::Cell;
use std::fmt::Write as _;

use super::bind::bind;
use super::chain::declared_stream;
use super::downstream::stream_schema;
use super::flink::{q, sink_type, window_select, write_window_pump, FlinkOptions};
use super::flink_log::subquery_relation;
use super::flink_over::{pump_select, subquery, write_insert, PumpSelect, PROCTIME_ROWTIME};
use super::flink_rows::{
    named_relation, refuse, write_header, write_sink, write_source, Relation,
    ARRIVAL_THROUGH_SUBQUERY,
};
use super::{BoundQuery, BoundTime, RowPlan, Schema, SqlError, SqlPlan, SqlType};

/// Flink type of an in-application stream's column: what KDA converts a written value to.
fn stream_type(t: SqlType) -> String {
    match t {
        SqlType::Varchar(n) | SqlType::Char(n) => format!("VARCHAR({n})"),
        other => sink_type(other),
    }
}

/// What the next pump reads.
#[derive(Clone, Copy, PartialEq)]
enum Reads {
    /// The source table or a view: a table name.
    Table,
    /// A subquery in FROM: columns by name.
    Subquery,
    /// A subquery inlined: its values are expressions over what it reads.
    Inlined,
}

/// The in-application streams written so far, as Flink SQL, and what the next pump reads.
struct Streams<'a> {
    source: &'a str,
    source_schema: &'a Schema,
    /// `CREATE TEMPORARY VIEW` statements, first first.
    views: String,
    rel: Relation<'a>,
    reads: Reads,
    /// After a GROUP BY pump, ROWTIME (its window's end) passes through the streams as a
    /// column; before, it is the processing time.
    rowtime_column: bool,
    /// The pumps, first first (for the header; a subquery is part of its pump).
    pumps: Vec<String>,
    /// The source table has the arrival-time column: the first pump reads it.
    arrival: bool,
}

impl<'a> Streams<'a> {
    /// The source table, read by the first pump.
    fn new(source: &'a str, schema: &'a Schema) -> Streams<'a> {
        Streams {
            source,
            source_schema: schema,
            views: String::new(),
            rel: named_relation(q(source), Some(schema)),
            reads: Reads::Table,
            rowtime_column: false,
            pumps: Vec::new(),
            arrival: false,
        }
    }

    /// The next pump reads `APPROXIMATE_ARRIVAL_TIME` (`read`): from the source table's column
    /// when it reads the source table itself; a subquery (inlined or not) and another pump's
    /// stream have no such column.
    fn note_arrival(&mut self, read: bool) -> Result<(), SqlError> {
        if read && self.reads != Reads::Table {
            return Err(refuse(ARRIVAL_THROUGH_SUBQUERY));
        }
        if read && self.rel.from != q(self.source) {
            return Err(refuse(
                "APPROXIMATE_ARRIVAL_TIME in a pump that reads another pump's stream (the stream \
                 has no such column)",
            ));
        }
        self.arrival |= read;
        Ok(())
    }

    /// The SELECT of the pump `plan` over the current stream, its values cast by `cast`.
    fn select(
        &mut self,
        plan: &RowPlan,
        cast: &dyn Fn(SqlType) -> Option<String>,
    ) -> Result<PumpSelect, SqlError> {
        let envelope = Cell::new(false);
        let select = pump_select(plan, &self.rel, cast, &envelope)?;
        self.note_arrival(envelope.get())?;
        Ok(select)
    }

    /// The columns every stream passes on, before its own.
    fn lead(&self) -> Vec<String> {
        let mut lead = vec![q("proctime")];
        if self.rowtime_column {
            lead.push(q("ROWTIME"));
        }
        lead
    }

    /// ROWTIME as the last pump writes it.
    fn rowtime(&self) -> String {
        if self.rowtime_column {
            q("ROWTIME")
        } else {
            PROCTIME_ROWTIME.to_string()
        }
    }

    /// The per-row pumps `stages`, first first, each reading the stream the one before writes
    /// (`schemas`: their declared streams, from [`declared_schemas`]).
    fn add_all(
        &mut self,
        stages: &[RowPlan],
        schemas: &'a [Option<Schema>],
    ) -> Result<(), SqlError> {
        for (stage, declared) in stages.iter().zip(schemas) {
            self.add(stage, declared.as_ref())?;
        }
        Ok(())
    }

    /// The per-row pump `stage` reads the current stream and writes the next (`schema`: its
    /// declared columns; `None` for a subquery).
    fn add(&mut self, stage: &RowPlan, schema: Option<&'a Schema>) -> Result<(), SqlError> {
        if !stage.derived {
            self.pumps.push(stage.pump.clone());
            let select = self.select(stage, &|t| Some(stream_type(t)))?;
            let name = q(&stage.destination);
            let _ = writeln!(
                self.views,
                "-- The in-application stream {}, written by {}: values converted to its \
                 declared types.\nCREATE TEMPORARY VIEW {name} AS\n{};\n",
                stage.destination,
                stage.pump,
                select.text(&self.lead())
            );
            self.rel = named_relation(name, schema);
            self.reads = Reads::Table;
        } else if !stage.sliding.is_empty() {
            let select = self.select(stage, &|_| None)?;
            self.rel = named_relation(subquery(&select.text(&self.lead())), None);
            self.reads = Reads::Subquery;
        } else {
            let (Some(reads), Reads::Table) = (self.rel.schema, self.reads) else {
                return Err(refuse("a subquery that reads a subquery"));
            };
            let from = std::mem::take(&mut self.rel.from);
            self.rel = Relation {
                from,
                ..subquery_relation(stage, reads)?
            };
            self.reads = Reads::Inlined;
        }
        Ok(())
    }

    /// The GROUP BY pump `plan` bound to the stream it reads, or why Flink cannot run it there.
    fn bind_window(&mut self, plan: &SqlPlan) -> Result<BoundQuery, SqlError> {
        if self.reads != Reads::Table {
            return Err(refuse(
                "a GROUP BY pump reading a subquery (TUMBLE reads a table or a view)",
            ));
        }
        let b = bind(plan, self.rel.schema)?;
        self.note_arrival(b.envelope)?;
        if matches!(b.time, BoundTime::Event(_)) {
            return Err(refuse(if self.rel.from == q(self.source) {
                "an event-time window with pumps after it yet (a chain's source table is written \
                 with the processing-time column only, no watermark)"
            } else {
                "an event-time window in a chain of pumps (Flink declares the watermark on the \
                 source table, and a view's column converted from it is no time attribute)"
            }));
        }
        Ok(b)
    }

    /// The GROUP BY pump `plan` (bound as `b`) writes its stream (`schema`) for the pumps after
    /// it: a view over its TUMBLE aggregation, with its window's end and time attribute.
    fn add_window(&mut self, plan: &SqlPlan, b: &BoundQuery, schema: &'a Schema) {
        self.pumps.push(plan.pump.clone());
        let select = window_select(plan, b, &stream_type, true);
        let name = q(&plan.destination);
        let _ = writeln!(
            self.views,
            "-- The in-application stream {}, written by the GROUP BY pump {}: its rows, read\n\
             -- at their window's end (ROWTIME), values converted to its declared types.\n\
             CREATE TEMPORARY VIEW {name} AS\n{select};\n",
            plan.destination, plan.pump,
        );
        self.rel = named_relation(name, Some(schema));
        self.rowtime_column = true;
    }

    /// The header, the source table and the views, for the chain's last pump `pump`.
    fn start(&self, pump: &str, destination: &str, opts: &FlinkOptions) -> String {
        let mut o = String::new();
        let what = if self.pumps.is_empty() {
            format!("the pump {pump}, reading a subquery")
        } else {
            format!("pumps {}, {pump} in a chain", self.pumps.join(", "))
        };
        write_header(&mut o, pump, destination, self.source, &what, self.arrival);
        write_source(&mut o, self.source, self.source_schema, opts, self.arrival);
        o.push_str(&self.views);
        o
    }

    /// The chain's last pump `last`, without GROUP BY, over the current stream into the sink.
    fn finish(&mut self, last: &RowPlan, opts: &FlinkOptions) -> Result<String, SqlError> {
        let select = self.select(last, &|t| Some(sink_type(t)))?;
        let mut o = self.start(&last.pump, &last.destination, opts);
        write_sink(&mut o, last, opts);
        write_insert(&mut o, last, &select, &self.rowtime());
        Ok(o)
    }
}

/// Each pump's declared stream as a schema (`None` for a subquery's).
fn declared_schemas(pumps: &[RowPlan]) -> Vec<Option<Schema>> {
    pumps.iter().map(declared_stream).collect()
}

/// The stream the first pump reads.
fn first_source<'p>(upstream: &'p [RowPlan], source: &'p str) -> &'p str {
    upstream.first().map_or(source, |p| &p.source)
}

/// `--explain-flink` for a pump without GROUP BY that reads other pumps' streams.
pub(super) fn explain_rows_chain(
    plan: &RowPlan,
    schema: &Schema,
    opts: &FlinkOptions,
) -> Result<String, SqlError> {
    if plan.top_k.is_some() {
        return Err(refuse("TOP_K_ITEMS_TUMBLING over another pump's stream"));
    }
    if plan.join.is_some() {
        return Err(refuse("a reference-table JOIN in a chain of pumps"));
    }
    let schemas = declared_schemas(&plan.upstream);
    let mut streams = Streams::new(first_source(&plan.upstream, &plan.source), schema);
    streams.add_all(&plan.upstream, &schemas)?;
    streams.finish(plan, opts)
}

/// `--explain-flink` for a GROUP BY pump with per-row pumps in front of it, after it, or both.
pub(super) fn explain_windowed_chain(
    plan: &SqlPlan,
    schema: &Schema,
    opts: &FlinkOptions,
) -> Result<String, SqlError> {
    let upstream = declared_schemas(&plan.upstream);
    let window_stream = stream_schema(plan);
    let downstream = declared_schemas(&plan.downstream);
    let mut streams = Streams::new(first_source(&plan.upstream, &plan.source), schema);
    streams.add_all(&plan.upstream, &upstream)?;
    let b = streams.bind_window(plan)?;
    let Some((last, between)) = plan.downstream.split_last() else {
        let mut o = streams.start(&plan.pump, &plan.destination, opts);
        write_window_pump(&mut o, plan, &b, opts);
        return Ok(o);
    };
    streams.add_window(plan, &b, &window_stream);
    streams.add_all(between, &downstream)?;
    streams.finish(last, opts)
}
