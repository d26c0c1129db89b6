//! Several pumps chained through in-application streams ("In-Application Streams and Pumps",
//! KDA SQL Developer Guide): the first pump reads the source, each next one the stream the
//! previous one writes, the last one writes the stream nobody reads (the output). The pumps in
//! front of the last one must write each record (no GROUP BY).

use super::{Parser, PumpDecl, SelectItem, SelectValue, StreamDecl};
use crate::sql::{Application, Ident, SqlError, SqlType};

impl Parser {
    /// Orders the pumps from the source to the output and assembles them.
    pub(super) fn assemble_chain(
        &mut self,
        streams: Vec<StreamDecl>,
        pumps: Vec<PumpDecl>,
    ) -> Result<Application, SqlError> {
        let (streams, pumps) = self.with_subqueries(streams, pumps)?;
        let mut streams = streams;
        if pumps.len() == 1 && streams.len() <= 1 {
            // One pump, one stream: the names are checked where the pump is assembled.
            let pump = pumps.into_iter().next().expect("one pump");
            let stream = match streams.pop() {
                Some(s) => s,
                None => take_stream(&mut streams, &pump.target)?,
            };
            return self.assemble_last(stream, pump, Vec::new());
        }
        let order = chain_order(&pumps)?;
        let mut slots: Vec<Option<PumpDecl>> = pumps.into_iter().map(Some).collect();
        let mut chain: Vec<PumpDecl> = order.iter().filter_map(|&i| slots[i].take()).collect();
        // A GROUP BY pump in the middle: its rows are the records of the stream it writes,
        // which the per-row pumps after it read ("Aggregating Partial Results from a Query").
        let windowed = chain.iter().position(|p| p.select.window.is_some());
        if let Some(i) = windowed.filter(|&i| i + 1 < chain.len()) {
            let after = chain.split_off(i + 1);
            let pump = chain.pop().expect("the GROUP BY pump");
            let upstream = self.assemble_upstream(&mut streams, chain)?;
            return self.assemble_windowed_middle(&mut streams, pump, upstream, after);
        }
        let last = chain.pop().expect("a chain has a last pump");
        let upstream = self.assemble_upstream(&mut streams, chain)?;
        let stream = take_stream(&mut streams, &last.target)?;
        self.assemble_last(stream, last, upstream)
    }

    /// Per-row pumps that feed another pump, each writing a stream the next reads by its
    /// columns' KDA names (a subquery's as its select list spells them).
    fn assemble_upstream(
        &mut self,
        streams: &mut Vec<StreamDecl>,
        chain: Vec<PumpDecl>,
    ) -> Result<Vec<crate::sql::RowPlan>, SqlError> {
        let mut upstream = Vec::new();
        for pump in chain {
            if pump.select.window.is_some() || pump.select.stagger.is_some() {
                return Err(SqlError::unsupported(
                    pump.select.pos,
                    "a second GROUP BY pump, or a stagger pump, feeding another pump (one GROUP \
                     BY pump may feed pumps without GROUP BY)",
                ));
            }
            let stream = take_stream(streams, &pump.target)?;
            let derived = is_subquery(&pump.target);
            let names = stream_names(&stream, derived);
            let mut plan = self.assemble_rows(stream, pump)?;
            for ((name, _, _), kda) in plan.columns.iter_mut().zip(names) {
                *name = kda;
            }
            plan.derived = derived;
            upstream.push(plan);
        }
        Ok(upstream)
    }

    /// A GROUP BY pump whose stream the pumps in `after` read, the last of them writing the
    /// output.
    fn assemble_windowed_middle(
        &mut self,
        streams: &mut Vec<StreamDecl>,
        pump: PumpDecl,
        upstream: Vec<crate::sql::RowPlan>,
        mut after: Vec<PumpDecl>,
    ) -> Result<Application, SqlError> {
        let stream = take_stream(streams, &pump.target)?;
        let names = stream_names(&stream, false);
        let window = pump.select.window.clone().expect("a GROUP BY pump");
        let mut plan = self.assemble(stream, pump, window)?;
        // The rows are records of an in-application stream: the next pump reads KDA names.
        for (col, kda) in plan.output_columns.iter_mut().zip(names) {
            col.name = kda;
        }
        plan.upstream = upstream;
        let last = after.pop().expect("a pump after the GROUP BY pump");
        let mut downstream = self.assemble_upstream(streams, after)?;
        if last.select.window.is_some() || last.select.stagger.is_some() {
            return Err(SqlError::unsupported(
                last.select.pos,
                "a GROUP BY or stagger pump reading a GROUP BY pump's stream (pumps without \
                 GROUP BY may)",
            ));
        }
        let stream = take_stream(streams, &last.target)?;
        downstream.push(self.assemble_rows(stream, last)?);
        plan.downstream = downstream;
        Ok(Application::Windowed(plan))
    }

    fn assemble_last(
        &mut self,
        stream: StreamDecl,
        pump: PumpDecl,
        upstream: Vec<crate::sql::RowPlan>,
    ) -> Result<Application, SqlError> {
        if let Some(top_k) = self.take_top_k(&pump) {
            let mut plan = self.assemble_top_k(stream, pump, top_k)?;
            plan.upstream = upstream;
            return Ok(Application::PerRow(plan));
        }
        self.check_top_k_taken()?;
        let per_row = pump.select.window.is_none() && pump.select.stagger.is_none();
        let join = per_row.then(|| self.take_join(&pump)).flatten();
        self.check_join_taken()?;
        Ok(match pump.select.window.clone() {
            Some(window) => {
                let mut plan = self.assemble(stream, pump, window)?;
                plan.upstream = upstream;
                Application::Windowed(plan)
            }
            None if pump.select.stagger.is_some() => {
                let mut plan = self.assemble_stagger(stream, pump)?;
                plan.upstream = upstream;
                Application::PerRow(plan)
            }
            None => {
                let mut plan = self.assemble_rows(stream, pump)?;
                plan.upstream = upstream;
                plan.join = join;
                Application::PerRow(plan)
            }
        })
    }
}

impl Parser {
    /// Each subquery in FROM as a stream and a pump writing it: the stream's columns are the
    /// subquery's select items, named by their alias or column name.
    fn with_subqueries(
        &mut self,
        mut streams: Vec<StreamDecl>,
        mut pumps: Vec<PumpDecl>,
    ) -> Result<(Vec<StreamDecl>, Vec<PumpDecl>), SqlError> {
        for (name, select) in std::mem::take(&mut self.subqueries) {
            let mut columns = Vec::new();
            for ((value, pos), alias) in select.items.iter().zip(&select.aliases) {
                let column = match (alias, value) {
                    (Some(a), _) => a.clone(),
                    (None, SelectValue::Item(SelectItem::Column(c))) => c.clone(),
                    (None, SelectValue::Rowtime) => continue,
                    (None, _) => {
                        return Err(SqlError::new(
                            *pos,
                            "a subquery's computed column needs a name: add AS name",
                        ))
                    }
                };
                // Values pass as computed: a subquery declares no types.
                columns.push((column, SqlType::Varchar(u32::MAX)));
            }
            streams.push(StreamDecl {
                name: name.clone(),
                columns,
            });
            pumps.push(PumpDecl {
                name: name.clone(),
                target: name,
                target_columns: None,
                select,
            });
        }
        Ok((streams, pumps))
    }
}

/// The names a pump reading `stream` knows its columns by.
fn stream_names(stream: &StreamDecl, derived: bool) -> Vec<String> {
    stream
        .columns
        .iter()
        .map(|(c, _)| {
            if derived {
                c.name.clone()
            } else {
                c.kda_name()
            }
        })
        .collect()
}

fn is_subquery(stream: &Ident) -> bool {
    stream.quoted && stream.name.starts_with("$subquery")
}

/// Indices of the pumps from the one reading the source to the last one.
fn chain_order(pumps: &[PumpDecl]) -> Result<Vec<usize>, SqlError> {
    let read = |target: &Ident| pumps.iter().any(|q| q.select.source.same_as(target));
    let mut lasts: Vec<usize> = (0..pumps.len())
        .filter(|&i| !read(&pumps[i].target))
        .collect();
    // Several streams that no pump reads: the output is DESTINATION_SQL_STREAM, the stream a
    // KDA application's output configuration names by default ("Example: Streaming Source With
    // Multiple Record Types" writes Order_Stream and Trade_Stream and delivers only it).
    let destination = lasts
        .iter()
        .copied()
        .find(|&i| pumps[i].target.kda_name() == "DESTINATION_SQL_STREAM");
    let branches = lasts.len() > 1 && destination.is_some();
    if let (true, Some(d)) = (branches, destination) {
        lasts = vec![d];
    }
    match lasts.as_slice() {
        [_] => {}
        [] => {
            return Err(SqlError::new(
                pumps[0].name.pos,
                "the pumps read each other's streams in a circle: no stream is the output",
            ))
        }
        [_, second, ..] => {
            return Err(SqlError::unsupported(
                pumps[*second].target.pos,
                "a second output stream (only one chain of pumps, ending in one stream)",
            ))
        }
    }
    let mut order = vec![lasts[0]];
    loop {
        let source = &pumps[order[order.len() - 1]].select.source;
        let writers: Vec<usize> = (0..pumps.len())
            .filter(|&i| pumps[i].target.same_as(source))
            .collect();
        match writers.as_slice() {
            [] => break,
            [w] if order.contains(w) => {
                return Err(SqlError::new(
                    pumps[*w].name.pos,
                    "the pumps read each other's streams in a circle",
                ))
            }
            [w] => order.push(*w),
            [_, second, ..] => {
                return Err(SqlError::unsupported(
                    pumps[*second].name.pos,
                    "two pumps writing one stream (only one chain of pumps)",
                ))
            }
        }
    }
    // With DESTINATION_SQL_STREAM chosen, the pumps off its chain write streams that reach no
    // output: they are left out.
    if let Some(off) = (0..pumps.len()).find(|i| !branches && !order.contains(i)) {
        return Err(SqlError::unsupported(
            pumps[off].name.pos,
            "a pump off the chain from the source to the output (branches)",
        ));
    }
    order.reverse();
    Ok(order)
}

/// The declared stream a pump writes.
fn take_stream(streams: &mut Vec<StreamDecl>, target: &Ident) -> Result<StreamDecl, SqlError> {
    match streams
        .iter()
        .position(|s| s.name.kda_name() == target.kda_name())
    {
        Some(i) => Ok(streams.swap_remove(i)),
        None => Err(SqlError::new(
            target.pos,
            format!(
                "stream {} is not declared: add CREATE OR REPLACE STREAM {} (col type, ...)",
                target.sql(),
                target.sql()
            ),
        )),
    }
}
