//! Scalar function calls in expressions: `ABS(x)`, `UPPER(s)`, `LOWER(s)`, `TRIM(s)`,
//! `CHAR_LENGTH(s)` (also `CHARACTER_LENGTH`), `SUBSTRING(s FROM n [FOR m])`,
//! `POSITION(needle IN s)`, `REGEX_REPLACE(s, regex, replacement, start, occurrence)`,
//! `CHAR_TO_TIMESTAMP(format, s)`, `TIMESTAMP_TO_CHAR(format, ts)`, `UNIX_TIMESTAMP(ts)`,
//! `CAST(x AS type)`, as the KDA SQL Reference writes them.

use super::{Expr, Ident, Parser, Pos, SqlError};
use crate::sql::{ScalarFunc, TimeField};

impl Parser {
    /// Parses the call whose name (upper-cased) is the current token, or returns `None` when
    /// the name is not a supported function (the caller reports it).
    pub(super) fn parse_call(
        &mut self,
        name: &str,
        pos: Pos,
        q: &mut Vec<Ident>,
    ) -> Result<Option<Expr>, SqlError> {
        let func = match name {
            "ABS" => ScalarFunc::Abs,
            "UPPER" => ScalarFunc::Upper,
            "LOWER" => ScalarFunc::Lower,
            "TRIM" => ScalarFunc::Trim,
            "CHAR_LENGTH" | "CHARACTER_LENGTH" => ScalarFunc::CharLength,
            "SUBSTRING" => ScalarFunc::Substring,
            "POSITION" => ScalarFunc::Position,
            "REGEX_REPLACE" => ScalarFunc::RegexReplace,
            "CHAR_TO_TIMESTAMP" => ScalarFunc::CharToTimestamp,
            "TIMESTAMP_TO_CHAR" => ScalarFunc::TimestampToChar,
            "UNIX_TIMESTAMP" => ScalarFunc::UnixTimestamp,
            "CAST" => return self.parse_cast(pos, q).map(Some),
            "EXTRACT" => return self.parse_extract(pos, q).map(Some),
            _ => return self.parse_log_call(name, pos, q),
        };
        self.i += 2; // the name and '('
        let args = match func {
            ScalarFunc::Substring => {
                let s = self.parse_expr(q)?;
                if self.eat_sym(",") {
                    // SUBSTRING(s, start [, length]), as the guide's examples write it.
                    let mut args = vec![s, self.parse_expr(q)?];
                    if self.eat_sym(",") {
                        args.push(self.parse_expr(q)?);
                    }
                    self.expect_sym(")")?;
                    return Ok(Some(Expr::Call { func, args, pos }));
                }
                self.expect_kw("FROM")?;
                let from = self.parse_expr(q)?;
                let mut args = vec![s, from];
                if self.eat_kw("FOR") {
                    args.push(self.parse_expr(q)?);
                }
                args
            }
            ScalarFunc::Position => {
                // The needle stops before IN (not an IN list).
                let needle = self.parse_additive(q)?;
                self.expect_kw("IN")?;
                vec![needle, self.parse_expr(q)?]
            }
            ScalarFunc::Trim => {
                let t = self.peek().clone();
                if ["BOTH", "LEADING", "TRAILING"].iter().any(|w| t.is_kw(w)) {
                    return Err(SqlError::unsupported(
                        t.pos,
                        format!(
                            "TRIM({} ...) (only TRIM(s), spaces at both ends)",
                            t.describe()
                        ),
                    ));
                }
                vec![self.parse_expr(q)?]
            }
            ScalarFunc::RegexReplace => self.arguments(5, name, q)?,
            ScalarFunc::CharToTimestamp | ScalarFunc::TimestampToChar => {
                self.arguments(2, name, q)?
            }
            _ => vec![self.parse_expr(q)?],
        };
        self.expect_sym(")")?;
        Ok(Some(Expr::Call { func, args, pos }))
    }

    /// `n` comma-separated arguments.
    fn arguments(
        &mut self,
        n: usize,
        name: &str,
        q: &mut Vec<Ident>,
    ) -> Result<Vec<Expr>, SqlError> {
        let mut args = vec![self.parse_expr(q)?];
        while self.eat_sym(",") {
            args.push(self.parse_expr(q)?);
        }
        if args.len() != n {
            return Err(SqlError::new(
                self.peek().pos,
                format!("{name} takes {n} arguments, not {}", args.len()),
            ));
        }
        Ok(args)
    }

    /// `CAST(x AS type)`; the name is the current token.
    fn parse_cast(&mut self, pos: Pos, q: &mut Vec<Ident>) -> Result<Expr, SqlError> {
        self.i += 2; // CAST and '('
        let x = self.parse_expr(q)?;
        self.expect_kw("AS")?;
        let ty = self.parse_type()?;
        self.expect_sym(")")?;
        Ok(Expr::Call {
            func: ScalarFunc::Cast(ty),
            args: vec![x],
            pos,
        })
    }

    /// `EXTRACT(YEAR|MONTH|DAY|HOUR|MINUTE|SECOND FROM ts)`; the name is the current token.
    fn parse_extract(&mut self, pos: Pos, q: &mut Vec<Ident>) -> Result<Expr, SqlError> {
        self.i += 2; // EXTRACT and '('
        let unit = self.peek().clone();
        let field = match unit.describe().as_str() {
            "YEAR" => TimeField::Year,
            "MONTH" => TimeField::Month,
            "DAY" => TimeField::Day,
            "HOUR" => TimeField::Hour,
            "MINUTE" => TimeField::Minute,
            "SECOND" => TimeField::Second,
            _ => {
                return Err(SqlError::unsupported(
                    unit.pos,
                    format!(
                        "EXTRACT field {} (YEAR, MONTH, DAY, HOUR, MINUTE, SECOND)",
                        unit.describe()
                    ),
                ))
            }
        };
        self.i += 1;
        self.expect_kw("FROM")?;
        let x = self.parse_expr(q)?;
        self.expect_sym(")")?;
        Ok(Expr::Call {
            func: ScalarFunc::Extract(field),
            args: vec![x],
            pos,
        })
    }
}
