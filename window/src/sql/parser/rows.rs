//! Assembling a pump without GROUP BY: each record that passes the WHERE clause is written to
//! the destination stream (KDA's "Example: Creating Simple Alerts").

use super::{Expr, Ident, OverRef, Parser, PumpDecl, SelectItem, SelectValue, StreamDecl};
use crate::sql::{Literal, OverSpec, RowPlan, SlidingAgg, SqlError};

impl Parser {
    /// A per-row pump: plain source columns (and ROWTIME, which every row carries) into the
    /// destination's columns, by position or by the INSERT column list.
    pub(super) fn assemble_rows(
        &mut self,
        stream: StreamDecl,
        pump: PumpDecl,
    ) -> Result<RowPlan, SqlError> {
        let sel = pump.select;
        self.row_pump_end = sel.end;
        check_names(&stream, &pump.target, &sel.source)?;
        let mut values = Vec::new();
        let mut overs = Vec::new();
        for (v, pos) in sel.items {
            match v {
                SelectValue::Rowtime => {}
                SelectValue::Over(func, arg, over, _) => {
                    let spec = over_spec(over, &sel.named_windows)?;
                    overs.push((values.len(), SlidingAgg { func, arg, spec }));
                    // The value comes from the sliding window, not from an expression.
                    values.push(Expr::Literal(Literal::Null));
                }
                SelectValue::Item(SelectItem::Column(c)) => values.push(Expr::Column(c)),
                SelectValue::Expr(e, _) => values.push(e),
                SelectValue::Item(SelectItem::Aggregate { .. }) => {
                    return Err(self.no_group_by_error())
                }
                SelectValue::Item(_) => {
                    return Err(SqlError::new(
                        pos,
                        "a window expression needs GROUP BY with that window",
                    ))
                }
            }
        }
        let insert = (&pump.target, pump.target_columns.as_deref());
        let order = value_targets(&stream, insert, values.len(), sel.pos)?;
        let sliding = overs.into_iter().map(|(v, agg)| (order[v], agg)).collect();
        let slots = in_declared_order(values, &order);
        let columns = stream
            .columns
            .into_iter()
            .zip(slots)
            .filter_map(|((c, ty), v)| v.map(|v| (c.name, ty, v)))
            .collect();
        Ok(RowPlan {
            destination: stream.name.kda_name(),
            pump: pump.name.kda_name(),
            source: sel.source.kda_name(),
            columns,
            filter: sel.filter,
            sliding,
            derived: false,
            stagger: None,
            top_k: None,
            join: None,
            upstream: Vec::new(),
        })
    }

    /// The error for aggregates without GROUP BY (and for [`crate::sql::parse_sql`], which runs
    /// windowed applications only).
    pub fn no_group_by_error(&self) -> SqlError {
        SqlError::unsupported(
            self.row_pump_end,
            "query without GROUP BY (only tumbling-window aggregations, and pumps that write each \
             record passing their WHERE clause, run here)",
        )
    }
}

/// The window of an OVER: written inline, or named in the WINDOW clause.
fn over_spec(over: OverRef, named_windows: &[(Ident, OverSpec)]) -> Result<OverSpec, SqlError> {
    match over {
        OverRef::Inline(spec) => Ok(spec),
        OverRef::Named(name) => named_windows
            .iter()
            .find(|(n, _)| n.same_as(&name))
            .map(|(_, s)| s.clone())
            .ok_or_else(|| {
                SqlError::new(
                    name.pos,
                    format!("window {} is not defined in a WINDOW clause", name.sql()),
                )
            }),
    }
}

/// The declared column each of the SELECT's `count` values goes to; there must be one value
/// per declared column.
pub(super) fn value_targets(
    stream: &StreamDecl,
    (target, target_columns): (&Ident, Option<&[Ident]>),
    count: usize,
    select_pos: crate::sql::Pos,
) -> Result<Vec<usize>, SqlError> {
    let order = insert_targets(stream, target, target_columns)?;
    if count != order.len() {
        return Err(SqlError::new(
            select_pos,
            format!(
                "the SELECT gives {count} values (ROWTIME aside) but {} has {} columns",
                stream.name.sql(),
                stream.columns.len()
            ),
        ));
    }
    Ok(order)
}

/// `values` moved to the declared columns `order` names (see [`value_targets`]).
pub(super) fn in_declared_order<T>(values: Vec<T>, order: &[usize]) -> Vec<Option<T>> {
    let mut slots: Vec<Option<T>> = std::iter::repeat_with(|| None).take(order.len()).collect();
    for (v, &i) in values.into_iter().zip(order) {
        slots[i] = Some(v);
    }
    slots
}

/// The pump writes the declared stream and reads another one.
pub(super) fn check_names(
    stream: &StreamDecl,
    target: &crate::sql::Ident,
    source: &crate::sql::Ident,
) -> Result<(), SqlError> {
    check_names_saying(stream, target, source, || {
        format!(
            "the pump inserts into {} but the declared stream is {}",
            target.sql(),
            stream.name.sql()
        )
    })
}

/// [`check_names`] with the caller's message for a pump that inserts into another stream.
pub(super) fn check_names_saying(
    stream: &StreamDecl,
    target: &Ident,
    source: &Ident,
    mismatch: impl FnOnce() -> String,
) -> Result<(), SqlError> {
    if stream.name.kda_name() != target.kda_name() {
        return Err(SqlError::new(target.pos, mismatch()));
    }
    if source.kda_name() == stream.name.kda_name() {
        return Err(SqlError::unsupported(
            source.pos,
            "reading the destination stream (chained pumps)",
        ));
    }
    Ok(())
}

/// The declared column each SELECT value goes to: by position, or by the INSERT column list,
/// which must name each declared column exactly once.
pub(super) fn insert_targets(
    stream: &StreamDecl,
    target: &Ident,
    target_columns: Option<&[Ident]>,
) -> Result<Vec<usize>, SqlError> {
    let Some(cols) = target_columns else {
        return Ok((0..stream.columns.len()).collect());
    };
    let mut idx = Vec::new();
    for c in cols {
        let Some(i) = stream
            .columns
            .iter()
            .position(|(d, _)| d.kda_name() == c.kda_name())
        else {
            return Err(SqlError::new(
                c.pos,
                format!("{} is not a column of {}", c.sql(), stream.name.sql()),
            ));
        };
        if idx.contains(&i) {
            return Err(SqlError::new(c.pos, format!("{} is listed twice", c.sql())));
        }
        idx.push(i);
    }
    if idx.len() != stream.columns.len() {
        let missing = (0..stream.columns.len())
            .find(|i| !idx.contains(i))
            .map(|i| stream.columns[i].0.sql())
            .unwrap_or_default();
        return Err(SqlError::unsupported(
            target.pos,
            format!("INSERT column list without {missing} (every declared column needs a value)"),
        ));
    }
    Ok(idx)
}
