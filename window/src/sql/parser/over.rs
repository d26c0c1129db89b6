//! Sliding windows: `OVER W1` / `OVER (PARTITION BY ... RANGE INTERVAL 'n' UNIT PRECEDING)` /
//! `ROWS n PRECEDING`, and the `WINDOW W1 AS (...)` clause ("Sliding Windows" and "WINDOW
//! Clause (Sliding Windows)", KDA SQL Developer Guide and SQL Reference).

use std::time::Duration;

use super::{OverRef, Parser, Ref};
use crate::sql::{Frame, Ident, OverSpec, SqlError};

impl Parser {
    /// After OVER: a window name or an inline `( ... )`.
    pub(super) fn parse_over(&mut self, q: &mut Vec<Ident>) -> Result<OverRef, SqlError> {
        if self.peek().is_sym("(") {
            Ok(OverRef::Inline(self.parse_over_spec(q)?))
        } else {
            Ok(OverRef::Named(self.ident("a window name or '('")?))
        }
    }

    /// After WINDOW: `W1 AS (...) [, W2 AS (...)]`.
    pub(super) fn parse_named_windows(
        &mut self,
        q: &mut Vec<Ident>,
    ) -> Result<Vec<(Ident, OverSpec)>, SqlError> {
        let mut out: Vec<(Ident, OverSpec)> = Vec::new();
        loop {
            let name = self.ident("a window name")?;
            if out.iter().any(|(n, _)| n.same_as(&name)) {
                return Err(SqlError::new(
                    name.pos,
                    format!("window {} is defined twice", name.sql()),
                ));
            }
            self.expect_kw("AS")?;
            out.push((name, self.parse_over_spec(q)?));
            if !self.eat_sym(",") {
                return Ok(out);
            }
        }
    }

    /// `( [PARTITION BY col, ...] RANGE INTERVAL 'n' UNIT PRECEDING | ROWS n PRECEDING )`.
    fn parse_over_spec(&mut self, q: &mut Vec<Ident>) -> Result<OverSpec, SqlError> {
        self.expect_sym("(")?;
        let mut partition_by = Vec::new();
        if self.eat_kw("PARTITION") {
            self.expect_kw("BY")?;
            loop {
                let t = self.peek().pos;
                match self.column_ref(q)? {
                    Ref::Column(c) => partition_by.push(c),
                    Ref::Rowtime => return Err(SqlError::unsupported(t, "PARTITION BY ROWTIME")),
                }
                if !self.eat_sym(",") {
                    break;
                }
            }
        }
        if self.peek().is_kw("ORDER") {
            return Err(SqlError::unsupported(
                self.peek().pos,
                "ORDER BY in a window (sliding windows follow ROWTIME)",
            ));
        }
        let frame = if self.eat_kw("RANGE") {
            self.expect_kw("INTERVAL")?;
            let ms = self.parse_interval()?;
            let ms = u64::try_from(ms).map_err(|_| {
                SqlError::new(self.peek().pos, "a window range must not be negative")
            })?;
            Frame::Range(Duration::from_millis(ms))
        } else if self.eat_kw("ROWS") {
            Frame::Rows(self.integer("the number of rows")?)
        } else {
            return Err(self.expected("RANGE INTERVAL '...' ... PRECEDING or ROWS n PRECEDING"));
        };
        self.expect_kw("PRECEDING")?;
        self.expect_sym(")")?;
        Ok(OverSpec {
            partition_by,
            frame,
        })
    }
}
