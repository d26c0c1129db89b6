//! Window expressions: `FLOOR(... TO unit)`, `FLOOR((t - TIMESTAMP '1970-01-01 00:00:00') UNIT / N TO UNIT)`,
//! `STEP(t BY INTERVAL 'N' UNIT)`.

use std::time::Duration;

use super::{sql_timestamp, Parser, Ref};
use crate::sql::lexer::{Tok, Token};
use crate::sql::{Ident, SqlError, TimeBasis, WindowSpec};

impl Parser {
    /// `FLOOR((S.ROWTIME - TIMESTAMP '1970-01-01 00:00:00') SECOND / 60 TO SECOND)`,
    /// `FLOOR(S.ROWTIME TO MINUTE)`, `STEP(S.ROWTIME BY INTERVAL '60' SECOND)`, or the same over a
    /// TIMESTAMP column.
    pub(super) fn parse_window(
        &mut self,
        qualifiers: &mut Vec<Ident>,
    ) -> Result<WindowSpec, SqlError> {
        let name = self.next();
        self.expect_sym("(")?;
        let (time, size) = if name.is_kw("STEP") {
            self.step_window(qualifiers)?
        } else if self.peek().is_sym("(") {
            self.floor_epoch_window(qualifiers)?
        } else {
            self.floor_window(qualifiers)?
        };
        Ok(WindowSpec {
            time,
            size: Duration::from_secs(size),
        })
    }

    /// `STEP(t BY INTERVAL 'N' UNIT)` after `STEP(`: the time and the size in seconds.
    fn step_window(&mut self, qualifiers: &mut Vec<Ident>) -> Result<(TimeBasis, u64), SqlError> {
        let time = self.time_ref(qualifiers)?;
        self.expect_kw("BY")?;
        self.expect_kw("INTERVAL")?;
        let t = self.peek().clone();
        let n = match &t.tok {
            Tok::Str(s) => s.trim().parse::<u64>().ok(),
            Tok::Num(s) => s.parse::<u64>().ok(),
            _ => None,
        };
        let Some(n) = n.filter(|n| *n > 0) else {
            return Err(SqlError::new(
                t.pos,
                format!(
                    "expected a positive whole number like '60' after INTERVAL, found {}",
                    t.describe()
                ),
            ));
        };
        self.i += 1;
        let secs = self.interval_unit()?;
        if self.peek().is_kw("TO") {
            return Err(SqlError::unsupported(
                self.peek().pos,
                "compound interval (... TO ...)",
            ));
        }
        self.expect_sym(")")?;
        Ok((time, n * secs))
    }

    /// `FLOOR((t - TIMESTAMP '1970-01-01 00:00:00') UNIT [/ N] TO UNIT)` after `FLOOR(`.
    fn floor_epoch_window(
        &mut self,
        qualifiers: &mut Vec<Ident>,
    ) -> Result<(TimeBasis, u64), SqlError> {
        self.i += 1;
        let time = self.time_ref(qualifiers)?;
        self.expect_sym("-")?;
        self.expect_kw("TIMESTAMP")?;
        self.epoch_origin()?;
        self.expect_sym(")")?;
        let unit = self.peek().clone();
        let Some(secs) = unit_seconds(&unit) else {
            return Err(self.expected("SECOND, MINUTE, HOUR or DAY after the interval"));
        };
        self.i += 1;
        let mut n = 1;
        if self.eat_sym("/") {
            n = self.integer("the window length")?;
            if n == 0 {
                return Err(SqlError::new(self.toks[self.i - 1].pos, "division by zero"));
            }
        }
        self.expect_kw("TO")?;
        let to = self.peek().clone();
        if unit_seconds(&to) != Some(secs) {
            return Err(SqlError::unsupported(
                to.pos,
                format!(
                    "FLOOR(... {} / N TO {}) (the TO unit must be {})",
                    unit.describe(),
                    to.describe(),
                    unit.describe()
                ),
            ));
        }
        self.i += 1;
        self.expect_sym(")")?;
        Ok((time, n * secs))
    }

    /// The `'1970-01-01 00:00:00'` after `t - TIMESTAMP`: windows count from the epoch only.
    fn epoch_origin(&mut self) -> Result<(), SqlError> {
        let lit = self.peek().clone();
        let Tok::Str(s) = &lit.tok else {
            return Err(self.expected("a timestamp literal like '1970-01-01 00:00:00'"));
        };
        if sql_timestamp(s) != Some(0) {
            return Err(SqlError::unsupported(
                lit.pos,
                format!("window origin '{s}' (only '1970-01-01 00:00:00')"),
            ));
        }
        self.i += 1;
        Ok(())
    }

    /// `FLOOR(t TO UNIT)` after `FLOOR(`.
    fn floor_window(&mut self, qualifiers: &mut Vec<Ident>) -> Result<(TimeBasis, u64), SqlError> {
        let time = self.time_ref(qualifiers)?;
        self.expect_kw("TO")?;
        let unit = self.peek().clone();
        let Some(secs) = unit_seconds(&unit) else {
            return Err(SqlError::unsupported(
                unit.pos,
                format!("FLOOR unit {} (SECOND, MINUTE, HOUR, DAY)", unit.describe()),
            ));
        };
        self.i += 1;
        self.expect_sym(")")?;
        Ok((time, secs))
    }

    /// An interval's unit after its number: SECOND, MINUTE, HOUR or DAY, in seconds.
    pub(super) fn interval_unit(&mut self) -> Result<u64, SqlError> {
        let unit = self.peek().clone();
        let Some(secs) = unit_seconds(&unit) else {
            return Err(SqlError::unsupported(
                unit.pos,
                format!(
                    "interval unit {} (SECOND, MINUTE, HOUR, DAY)",
                    unit.describe()
                ),
            ));
        };
        self.i += 1;
        Ok(secs)
    }

    pub(super) fn time_ref(&mut self, qualifiers: &mut Vec<Ident>) -> Result<TimeBasis, SqlError> {
        if !matches!(self.peek().tok, Tok::Ident { .. }) {
            return Err(self.expected("ROWTIME or a TIMESTAMP column"));
        }
        match self.column_ref(qualifiers)? {
            Ref::Rowtime => Ok(TimeBasis::Rowtime),
            Ref::Column(c) => Ok(TimeBasis::Column(c)),
        }
    }
}

pub(super) fn unit_seconds(tok: &Token) -> Option<u64> {
    let Tok::Ident {
        text,
        quoted: false,
    } = &tok.tok
    else {
        return None;
    };
    match text.to_ascii_uppercase().as_str() {
        "SECOND" => Some(1),
        "MINUTE" => Some(60),
        "HOUR" => Some(3600),
        "DAY" => Some(86_400),
        _ => None,
    }
}
