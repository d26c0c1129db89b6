//! Stagger windows: `WINDOWED BY STAGGER (PARTITION BY key, ... RANGE INTERVAL 'n' UNIT)`
//! ("Stagger Windows", KDA SQL Developer Guide; "WINDOWED BY", SQL Reference). The select list
//! holds partition keys and aggregates.

use std::time::Duration;

use super::rows::{check_names, in_declared_order, value_targets};
use super::{Parser, PumpDecl, Ref, SelectValue, StreamDecl};
use crate::sql::{
    Ident, Pos, RowPlan, SelectItem, SqlError, StaggerKey, StaggerPlan, StaggerValue, TimeBasis,
};

impl Parser {
    /// After the FROM/WHERE: `WINDOWED BY STAGGER ( PARTITION BY ... RANGE INTERVAL ... )`.
    pub(super) fn parse_stagger(
        &mut self,
        q: &mut Vec<Ident>,
    ) -> Result<(Vec<StaggerKey>, Duration, Pos), SqlError> {
        let pos = self.expect_kw("WINDOWED")?;
        self.expect_kw("BY")?;
        self.expect_kw("STAGGER")?;
        self.expect_sym("(")?;
        self.expect_kw("PARTITION")?;
        self.expect_kw("BY")?;
        let mut keys = Vec::new();
        loop {
            let t = self.peek().clone();
            if t.is_kw("FLOOR") && self.peek_at(1).is_sym("(") {
                let w = self.parse_window(q)?;
                match w.time {
                    TimeBasis::Column(c) => keys.push(StaggerKey::Floor(c, w.size)),
                    TimeBasis::Rowtime => {
                        return Err(SqlError::unsupported(
                            t.pos,
                            "PARTITION BY a ROWTIME window",
                        ))
                    }
                }
            } else {
                match self.column_ref(q)? {
                    Ref::Column(c) => keys.push(StaggerKey::Column(c)),
                    Ref::Rowtime => {
                        return Err(SqlError::unsupported(t.pos, "PARTITION BY ROWTIME"))
                    }
                }
            }
            if !self.eat_sym(",") {
                break;
            }
        }
        self.expect_kw("RANGE")?;
        self.expect_kw("INTERVAL")?;
        let at = self.peek().pos;
        let ms = self.parse_interval()?;
        let range = u64::try_from(ms)
            .ok()
            .filter(|ms| *ms > 0)
            .ok_or_else(|| SqlError::new(at, "a stagger window's range must be positive"))?;
        self.expect_sym(")")?;
        Ok((keys, Duration::from_millis(range), pos))
    }

    /// A stagger-window pump: each select value is a partition key or an aggregate.
    pub(super) fn assemble_stagger(
        &mut self,
        stream: StreamDecl,
        pump: PumpDecl,
    ) -> Result<RowPlan, SqlError> {
        let sel = pump.select;
        check_names(&stream, &pump.target, &sel.source)?;
        let Some((keys, range, _)) = sel.stagger else {
            return Err(SqlError::new(sel.pos, "no WINDOWED BY STAGGER clause"));
        };
        let mut selected_windows = std::mem::take(&mut self.pending_windows).into_iter();
        let mut values = Vec::new();
        for (v, pos) in sel.items {
            let value = match v {
                SelectValue::Rowtime => continue,
                SelectValue::Item(SelectItem::Aggregate { func, column }) => {
                    StaggerValue::Aggregate { func, column }
                }
                SelectValue::Item(SelectItem::Column(c)) => {
                    let key = keys
                        .iter()
                        .position(|k| matches!(k, StaggerKey::Column(p) if p.same_as(&c)));
                    StaggerValue::Key(key.ok_or_else(|| {
                        SqlError::new(
                            pos,
                            format!("{} must be in PARTITION BY or inside an aggregate", c.sql()),
                        )
                    })?)
                }
                SelectValue::Item(SelectItem::WindowStart) => {
                    let w = selected_windows.next().map(|(w, _)| w);
                    let key = keys.iter().position(|k| match (k, &w) {
                        (StaggerKey::Floor(c, size), Some(w)) => {
                            w.size == *size && w.time == TimeBasis::Column(c.clone())
                        }
                        _ => false,
                    });
                    StaggerValue::Key(key.ok_or_else(|| {
                        SqlError::new(pos, "this FLOOR(...) is not one of the PARTITION BY keys")
                    })?)
                }
                _ => return Err(SqlError::unsupported(
                    pos,
                    "select item in a stagger-window pump (only PARTITION BY keys and aggregates)",
                )),
            };
            values.push(value);
        }
        let insert = (&pump.target, pump.target_columns.as_deref());
        let order = value_targets(&stream, insert, values.len(), sel.pos)?;
        let slots = in_declared_order(values, &order);
        let stagger = StaggerPlan {
            partition_by: keys,
            range,
            values: slots.into_iter().flatten().collect(),
        };
        Ok(RowPlan {
            stagger: Some(stagger),
            ..RowPlan::computed_elsewhere(stream, &pump.name, &sel.source, sel.filter)
        })
    }
}
