//! Binding: every column reference of a plan becomes a JSON path, checked against the schema
//! when there is one. The result is what the window engine runs.

use std::time::Duration;

mod expr;

use super::eval::BoundExpr;
use super::windows::{is_arrival, ARRIVAL_COLUMN};
use super::{AggFunc, Ident, Schema, SelectItem, SqlError, SqlPlan, SqlType, TimeBasis};
pub(super) use expr::{bind_expr, Class};

/// A source column: where it is in the record and, with a schema, its type.
#[derive(Debug, Clone, PartialEq)]
pub struct BoundColumn {
    /// The schema column name, or the reference as written when there is no schema.
    pub name: String,
    /// JSON object keys, outermost first (`["tnum"]`).
    pub path: Vec<String>,
    pub sql_type: Option<SqlType>,
}

impl BoundColumn {
    /// The path as the engine's dotted field syntax (`order.qty`).
    pub fn dotted(&self) -> String {
        self.path.join(".")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum BoundTime {
    Rowtime,
    Event(BoundColumn),
}

/// One output column, in the destination stream's order.
#[derive(Debug, Clone, PartialEq)]
pub enum BoundAggregate {
    Aggregate {
        output: String,
        func: AggFunc,
        column: Option<BoundColumn>,
    },
    /// The value of GROUP BY column number `index`.
    Group {
        output: String,
        index: usize,
    },
    WindowStart {
        output: String,
    },
    /// The value of time group number `index` (a further STEP/FLOOR of GROUP BY).
    TimeGroup {
        output: String,
        index: usize,
    },
}

impl BoundAggregate {
    pub fn output(&self) -> &str {
        match self {
            BoundAggregate::Aggregate { output, .. }
            | BoundAggregate::Group { output, .. }
            | BoundAggregate::WindowStart { output }
            | BoundAggregate::TimeGroup { output, .. } => output,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct BoundQuery {
    pub outputs: Vec<BoundAggregate>,
    pub group_by: Vec<BoundColumn>,
    pub filter: Option<BoundExpr>,
    pub time: BoundTime,
    pub size: Duration,
    /// GROUP BY's further time expressions: a TIMESTAMP column rounded down to `size`.
    pub time_groups: Vec<BoundTimeGroup>,
    /// The SQL reads `APPROXIMATE_ARRIVAL_TIME`: input lines are `kds-tail --envelope` records.
    pub envelope: bool,
}

/// A time group: `STEP("APPROXIMATE_ARRIVAL_TIME" BY INTERVAL '60' SECOND)` as a group key.
#[derive(Debug, Clone, PartialEq)]
pub struct BoundTimeGroup {
    pub column: BoundColumn,
    pub size: Duration,
}

/// Resolves and type-checks `plan`. Without a schema a reference maps to the JSON key spelled as
/// in the SQL (`"tnum"` and `tnum` both read `tnum`) and only the declared types are checked.
pub fn bind(plan: &SqlPlan, schema: Option<&Schema>) -> Result<BoundQuery, SqlError> {
    let envelope = std::cell::Cell::new(false);
    let col = |id: &Ident| resolve_column(id, schema, &envelope);
    let group_by = plan
        .group_by
        .iter()
        .map(&col)
        .collect::<Result<Vec<_>, _>>()?;
    let outputs = plan
        .output_columns
        .iter()
        .map(|oc| bind_output(oc, plan, &group_by, &col))
        .collect::<Result<Vec<_>, _>>()?;
    let time = match &plan.window.time {
        TimeBasis::Rowtime => BoundTime::Rowtime,
        TimeBasis::Column(id) => BoundTime::Event(time_column(id, &col)?),
    };
    let time_groups = bind_time_groups(plan, &col)?;
    let filter = plan
        .filter
        .as_ref()
        .map(|e| bind_condition(e, &col))
        .transpose()?;
    Ok(BoundQuery {
        outputs,
        group_by,
        filter,
        time,
        size: plan.window.size,
        time_groups,
        envelope: envelope.get(),
    })
}

/// The column resolver `bind` hands each step.
type ColumnOf<'a> = dyn Fn(&Ident) -> Result<BoundColumn, SqlError> + 'a;

/// One output column of the SELECT list, in the destination stream's order.
fn bind_output(
    oc: &super::OutputColumn,
    plan: &SqlPlan,
    group_by: &[BoundColumn],
    col: &ColumnOf,
) -> Result<BoundAggregate, SqlError> {
    Ok(match &oc.value {
        SelectItem::Aggregate { func, column } => {
            let bound = column.as_ref().map(col).transpose()?;
            if let (Some(c), Some(id)) = (&bound, column) {
                check_aggregate(*func, c, id)?;
            }
            BoundAggregate::Aggregate {
                output: oc.name.clone(),
                func: *func,
                column: bound,
            }
        }
        SelectItem::Column(id) => BoundAggregate::Group {
            output: oc.name.clone(),
            index: group_index(id, oc, plan, group_by)?,
        },
        SelectItem::WindowStart => BoundAggregate::WindowStart {
            output: oc.name.clone(),
        },
        SelectItem::TimeGroup(index) => BoundAggregate::TimeGroup {
            output: oc.name.clone(),
            index: *index,
        },
    })
}

/// Where a plain SELECT column stands in GROUP BY, checked against its output column's type.
fn group_index(
    id: &Ident,
    oc: &super::OutputColumn,
    plan: &SqlPlan,
    group_by: &[BoundColumn],
) -> Result<usize, SqlError> {
    let index = plan
        .group_by
        .iter()
        .position(|g| g.same_as(id))
        .ok_or_else(|| SqlError::new(id.pos, format!("{} is not in GROUP BY", id.sql())))?;
    if let Some(t) = group_by[index].sql_type {
        if !compatible(t, oc.ty) {
            return Err(SqlError::new(
                id.pos,
                format!(
                    "{} is {t} but goes into column {} declared {}",
                    id.sql(),
                    oc.name,
                    oc.ty
                ),
            ));
        }
    }
    Ok(index)
}

/// A column the window's time is read from: a TIMESTAMP (or, without a schema, any column).
fn time_column(id: &Ident, col: &ColumnOf) -> Result<BoundColumn, SqlError> {
    let c = col(id)?;
    match c.sql_type {
        Some(t) if t != SqlType::Timestamp => Err(SqlError::new(
            id.pos,
            format!(
                "the window needs a TIMESTAMP column or ROWTIME: {} is {t} (KDA's discovery \
                 keeps timestamps as VARCHAR: declare the column TIMESTAMP in the schema, \
                 or discover with --wide-types)",
                id.sql()
            ),
        )),
        _ => Ok(c),
    }
}

/// GROUP BY's further STEP/FLOOR time expressions.
fn bind_time_groups(plan: &SqlPlan, col: &ColumnOf) -> Result<Vec<BoundTimeGroup>, SqlError> {
    let mut time_groups = Vec::new();
    for g in &plan.time_groups {
        // The parser makes a ROWTIME expression the window, never a time group.
        let TimeBasis::Column(id) = &g.time else {
            return Err(SqlError::new(
                super::Pos::default(),
                "a second window over ROWTIME in GROUP BY",
            ));
        };
        time_groups.push(BoundTimeGroup {
            column: time_column(id, col)?,
            size: g.size,
        });
    }
    Ok(time_groups)
}

/// WHERE: an expression that must be a condition.
fn bind_condition(e: &super::Expr, col: &ColumnOf) -> Result<BoundExpr, SqlError> {
    let (bound, class) = bind_expr(e, col)?;
    if let Class::Num | Class::Str | Class::Time = class {
        return Err(SqlError::new(
            expr::first_pos(e),
            "WHERE needs a condition (a TRUE/FALSE value)",
        ));
    }
    Ok(bound)
}

/// A column reference: through the schema when there is one, else the JSON key as spelled;
/// `APPROXIMATE_ARRIVAL_TIME` (unless the schema has such a column) sets `envelope`.
pub(super) fn resolve_column(
    id: &Ident,
    schema: Option<&Schema>,
    envelope: &std::cell::Cell<bool>,
) -> Result<BoundColumn, SqlError> {
    if let Some(column) = super::reference::reference_column(id) {
        return Ok(column);
    }
    if is_arrival(id) && schema.is_none_or(|s| s.resolve(id).is_err()) {
        envelope.set(true);
        return Ok(arrival_column());
    }
    match schema {
        None => Ok(BoundColumn {
            name: id.name.clone(),
            path: vec![id.name.clone()],
            sql_type: None,
        }),
        Some(s) => s
            .resolve(id)
            .map(|c| BoundColumn {
                name: c.name.clone(),
                path: c.path.clone(),
                sql_type: Some(c.sql_type),
            })
            .map_err(|e| SqlError::new(id.pos, e)),
    }
}

/// `APPROXIMATE_ARRIVAL_TIME`: the envelope's `arrival`, which the row preparation stage puts
/// at this top-level key of the record it hands the engine.
fn arrival_column() -> BoundColumn {
    BoundColumn {
        name: ARRIVAL_COLUMN.to_string(),
        path: vec![ARRIVAL_COLUMN.to_string()],
        sql_type: Some(SqlType::Timestamp),
    }
}

fn compatible(a: SqlType, b: SqlType) -> bool {
    (a.is_numeric() && b.is_numeric())
        || (a.is_string() && b.is_string())
        || (a.is_temporal() && b.is_temporal())
        || a == b
}

fn check_aggregate(func: AggFunc, c: &BoundColumn, id: &Ident) -> Result<(), SqlError> {
    let Some(t) = c.sql_type else { return Ok(()) };
    let ok = match func {
        AggFunc::Sum | AggFunc::Avg | AggFunc::Min | AggFunc::Max => t.is_numeric(),
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        let what = match func {
            AggFunc::Sum | AggFunc::Avg => "a numeric column",
            _ => "a numeric column here (kds-window compares numbers only)",
        };
        Err(SqlError::new(
            id.pos,
            format!("{} needs {what}: {} is {t}", func.sql_name(), id.sql()),
        ))
    }
}
