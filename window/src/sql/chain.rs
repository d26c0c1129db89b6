//! In-application streams chained by pumps: `PUMP_A` writes `STREAM_A` from the source, `PUMP_B`
//! reads `STREAM_A` into `DESTINATION_SQL_STREAM` ("Application Code" and "In-Application
//! Streams and Pumps", KDA SQL Developer Guide). The pumps in front of the last one write each
//! record (no GROUP BY); here they run as stages on each record, in order, before the last
//! pump's own work, and the stream between two pumps is a schema: its declared columns, read
//! by name.

use std::cell::RefCell;

use serde_json::{Map, Value};

use super::bind::{bind, bind_expr, resolve_column, BoundQuery};
use super::coerce::coerce;
use super::eval::{eval_filter, eval_json, BoundExpr, ROWTIME_KEY};
use super::rows::{function_error, Rejection};
use super::sliding::{bind_sliding, Sliding};
use super::{Ident, RowPlan, Schema, SchemaColumn, SqlError, SqlPlan, SqlType};

/// One per-row pump in front of the last one.
#[derive(Debug, Clone)]
struct Stage {
    filter: Option<BoundExpr>,
    /// `... OVER W1` columns (their state changes with each row; the chain is shared by `&`).
    sliding: RefCell<Sliding>,
    /// The stream's columns (KDA names) in declaration order, their types and values.
    columns: Vec<(String, SqlType, BoundExpr)>,
    /// A declared stream converts its values to the column types; a subquery does not.
    typed: bool,
}

/// The pumps in front of the last one, bound; `schema` is the stream the last pump reads (`None`
/// for a subquery: its columns are read by name, untyped).
#[derive(Debug, Clone)]
pub struct Chain {
    stages: Vec<Stage>,
    pub schema: Option<Schema>,
    /// The first pump reads `APPROXIMATE_ARRIVAL_TIME`: input lines are envelopes.
    pub envelope: bool,
}

/// The schema of an in-application stream: each declared column (KDA name, type) read from the
/// key of its name.
pub(super) fn declared_schema<'a>(columns: impl IntoIterator<Item = (&'a str, SqlType)>) -> Schema {
    Schema {
        columns: columns
            .into_iter()
            .map(|(name, ty)| SchemaColumn {
                name: name.to_string(),
                sql_type: ty,
                mapping: format!("$.{name}"),
                path: vec![name.to_string()],
            })
            .collect(),
    }
}

/// The in-application stream the pump `plan` writes, as a schema of its declared columns;
/// `None` for a subquery, whose stream declares no types.
pub(super) fn declared_stream(plan: &RowPlan) -> Option<Schema> {
    (!plan.derived).then(|| declared_schema(plan.columns.iter().map(|(n, t, _)| (n.as_str(), *t))))
}

/// Binds the pumps in front of the last one, the first against the source's schema, each next
/// against the stream the previous one writes. `None` when there are none.
pub fn bind_chain(
    upstream: &[RowPlan],
    source: Option<&Schema>,
) -> Result<Option<Chain>, SqlError> {
    if upstream.is_empty() {
        return Ok(None);
    }
    let envelope = std::cell::Cell::new(false);
    let mut stages: Vec<Stage> = Vec::new();
    let mut schema: Option<Schema> = source.cloned();
    // Only the first pump reads the source (and so perhaps envelopes).
    let later = std::cell::Cell::new(false);
    for (i, plan) in upstream.iter().enumerate() {
        let seen = if i == 0 { &envelope } else { &later };
        let col = |id: &Ident| resolve_column(id, schema.as_ref(), seen);
        let filter = plan
            .filter
            .as_ref()
            .map(|e| bind_expr(e, &col))
            .transpose()?
            .map(|(b, _)| b);
        let columns = plan
            .columns
            .iter()
            .map(|(name, ty, e)| bind_expr(e, &col).map(|(b, _)| (name.clone(), *ty, b)))
            .collect::<Result<Vec<_>, _>>()?;
        let sliding = RefCell::new(bind_sliding(&plan.sliding, &col)?);
        schema = declared_stream(plan);
        stages.push(Stage {
            filter,
            sliding,
            columns,
            typed: !plan.derived,
        });
    }
    Ok(Some(Chain {
        stages,
        schema,
        envelope: envelope.get(),
    }))
}

/// Binds a windowed application: the pumps in front, then the last pump against the stream
/// they write (or the source).
pub fn bind_app(
    plan: &SqlPlan,
    source: Option<&Schema>,
) -> Result<(BoundQuery, Option<Chain>), SqlError> {
    let chain = bind_chain(&plan.upstream, source)?;
    let reads = chain.as_ref().map_or(source, |c| c.schema.as_ref());
    Ok((bind(plan, reads)?, chain))
}

impl Chain {
    /// Runs `record` (read at `now`, converted by the source schema) through the pumps: `None`
    /// when a WHERE drops it, the last stream's row otherwise, its values converted to the
    /// declared types (a value that does not fit sends the record to the error stream).
    pub(super) fn apply(&self, mut record: Value, now: i64) -> Result<Option<Value>, Rejection> {
        for stage in &self.stages {
            if let Value::Object(o) = &mut record {
                o.insert(ROWTIME_KEY.to_string(), Value::from(now));
            }
            if let Some(f) = &stage.filter {
                let kept = eval_filter(f, &record);
                function_error()?;
                if !kept {
                    return Ok(None);
                }
            }
            let overs = stage.sliding.borrow_mut().push(&record, now);
            let mut row = Map::new();
            for (i, (name, ty, e)) in stage.columns.iter().enumerate() {
                let over = overs.iter().find(|(o, _)| *o == i).map(|(_, v)| v.clone());
                let v = match (over, e) {
                    (Some(v), _) => v,
                    (None, BoundExpr::Column(c)) => {
                        lookup(&record, &c.path).cloned().unwrap_or(Value::Null)
                    }
                    (None, _) => eval_json(e, &record),
                };
                let v = if !stage.typed {
                    v
                } else {
                    coerce(&v, *ty)
                        .map_err(|m| ("COERCION_ERROR", format!("column {name}: {m}")))?
                };
                row.insert(name.clone(), v);
            }
            function_error()?;
            record = Value::Object(row);
        }
        Ok(Some(record))
    }
}

fn lookup<'v>(v: &'v Value, path: &[String]) -> Option<&'v Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}
