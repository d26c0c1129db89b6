//! `CREATE [OR REPLACE] PUMP "P" AS INSERT INTO "DEST" [(col, ...)] SELECT STREAM ...`, and the
//! assembly of a windowed pump into a [`SqlPlan`].

use super::{rows, Parser, PumpDecl, SelectValue, StreamDecl};
use crate::sql::{
    AggFunc, Ident, OutputColumn, Pos, SelectItem, SqlError, SqlPlan, SqlType, WindowSpec,
};

impl Parser {
    pub(super) fn parse_pump(&mut self) -> Result<PumpDecl, SqlError> {
        let name = self.ident("a pump name")?;
        self.expect_kw("AS")?;
        self.expect_kw("INSERT")?;
        self.expect_kw("INTO")?;
        let target = self.ident("the destination stream name")?;
        let mut target_columns = None;
        if self.eat_sym("(") {
            let mut cols = Vec::new();
            loop {
                cols.push(self.ident("a column name")?);
                if !self.eat_sym(",") {
                    break;
                }
            }
            self.expect_sym(")")?;
            target_columns = Some(cols);
        }
        let select = self.parse_select()?;
        Ok(PumpDecl {
            name,
            target,
            target_columns,
            select,
        })
    }

    // ---- assembly and validation ------------------------------------------------------------

    pub(super) fn assemble(
        &mut self,
        stream: StreamDecl,
        pump: PumpDecl,
        window: WindowSpec,
    ) -> Result<SqlPlan, SqlError> {
        let sel = pump.select;
        check_pump_names(&stream, &pump.target, &sel.source)?;
        let values = self.grouped_values(sel.items, &window, &sel.time_groups)?;
        check_grouped_values(&values, &sel.group_by, sel.pos)?;
        let insert = (&pump.target, pump.target_columns.as_deref());
        let targets = rows::value_targets(&stream, insert, values.len(), sel.pos)?;
        for ((v, p), &t) in values.iter().zip(&targets) {
            let (col, ty) = &stream.columns[t];
            check_output_type(v, *ty, col, *p)?;
        }
        let values = values.into_iter().map(|(v, _)| v).collect();
        let slots = rows::in_declared_order(values, &targets);
        let output_columns = stream
            .columns
            .into_iter()
            .zip(slots)
            .map(|((c, ty), v)| OutputColumn {
                name: c.name,
                ty,
                value: v.unwrap_or(SelectItem::WindowStart),
            })
            .collect();
        Ok(SqlPlan {
            destination: stream.name.kda_name(),
            pump: pump.name.kda_name(),
            source: sel.source.kda_name(),
            output_columns,
            filter: sel.filter,
            group_by: sel.group_by,
            window,
            time_groups: sel.time_groups,
            upstream: Vec::new(),
            downstream: Vec::new(),
        })
    }

    /// The select list of a GROUP BY pump, ROWTIME aside; each window expression becomes the
    /// window or a time group, in the order the select list names them.
    fn grouped_values(
        &mut self,
        items: Vec<(SelectValue, Pos)>,
        window: &WindowSpec,
        time_groups: &[WindowSpec],
    ) -> Result<Vec<(SelectItem, Pos)>, SqlError> {
        let mut selected_windows = std::mem::take(&mut self.pending_windows).into_iter();
        let mut values: Vec<(SelectItem, Pos)> = Vec::new();
        for (v, p) in items {
            match v {
                SelectValue::Item(SelectItem::WindowStart) => {
                    let (w, pos) = selected_windows
                        .next()
                        .expect("every selected window expression was recorded");
                    let item = crate::sql::windows::selected_window(&w, pos, window, time_groups)?;
                    values.push((item, p));
                }
                SelectValue::Item(i) => values.push((i, p)),
                SelectValue::Rowtime => {}
                SelectValue::Over(_, _, _, pos) => {
                    return Err(SqlError::unsupported(
                        pos,
                        "clause OVER (sliding windows) in a GROUP BY pump",
                    ))
                }
                SelectValue::Expr(_, pos) => {
                    return Err(SqlError::unsupported(
                        pos,
                        "expression in the select list of a GROUP BY pump (scalar expressions \
                         run in pumps without GROUP BY; chain one in front)",
                    ))
                }
            }
        }
        Ok(values)
    }
}

/// The pump writes the declared stream (by KDA name, which an error shows) and reads another one.
fn check_pump_names(stream: &StreamDecl, target: &Ident, source: &Ident) -> Result<(), SqlError> {
    rows::check_names_saying(stream, target, source, || {
        format!(
            "the pump inserts into {} but the declared stream is {} (KDA names: {} vs {})",
            target.sql(),
            stream.name.sql(),
            target.kda_name(),
            stream.name.kda_name()
        )
    })
}

/// Plain columns must be grouped by, and a GROUP BY pump aggregates something.
fn check_grouped_values(
    values: &[(SelectItem, Pos)],
    group_by: &[Ident],
    select_pos: Pos,
) -> Result<(), SqlError> {
    for (v, p) in values {
        if let SelectItem::Column(c) = v {
            if !group_by.iter().any(|g| g.same_as(c)) {
                return Err(SqlError::new(
                    *p,
                    format!(
                        "column {} must be in GROUP BY or inside an aggregate",
                        c.sql()
                    ),
                ));
            }
        }
    }
    if !values
        .iter()
        .any(|(v, _)| matches!(v, SelectItem::Aggregate { .. }))
    {
        return Err(SqlError::unsupported(
            select_pos,
            "SELECT without an aggregate function",
        ));
    }
    Ok(())
}

/// A SQL timestamp literal (`'2021-03-19 13:15:48'`, UTC) or RFC 3339, as epoch milliseconds.
pub fn sql_timestamp(s: &str) -> Option<i64> {
    let s = s.trim();
    kds_common::time::parse_timestamp(s.as_bytes())
        .or_else(|| kds_common::time::parse_timestamp(format!("{s}Z").as_bytes()))
}

/// The declared destination type must be able to hold the value.
fn check_output_type(v: &SelectItem, ty: SqlType, col: &Ident, pos: Pos) -> Result<(), SqlError> {
    let ok = match v {
        SelectItem::Aggregate {
            func: AggFunc::CountStar | AggFunc::Count | AggFunc::CountDistinct,
            ..
        } => ty.is_numeric(),
        SelectItem::Aggregate {
            func: AggFunc::Sum | AggFunc::Avg,
            ..
        } => ty.is_numeric(),
        SelectItem::WindowStart | SelectItem::TimeGroup(_) => ty == SqlType::Timestamp,
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(SqlError::new(
            pos,
            format!(
                "this value cannot go into column {} of type {ty}",
                col.sql()
            ),
        ))
    }
}
