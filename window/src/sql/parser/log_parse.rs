//! The log parsers' syntax ("Log Parsing Functions", KDA SQL Reference): the calls
//! `REGEX_LOG_PARSE(s, 'regex')`, `W3C_LOG_PARSE(s, 'COMMON')`,
//! `VARIABLE_COLUMN_LOG_PARSE(s, 'A TYPE VARCHAR(8), ...', ',' [, escape, quote])`, whose
//! literal arguments are checked here; their result's columns `t.r.COLUMN1`; and a subquery's
//! column names `(SELECT STREAM W3C_LOG_PARSE(...) FROM ...) AS l(r)` ("Example: Parsing Web
//! Logs", KDA SQL Developer Guide).

use serde_json::Value;

use super::{Parser, Ref};
use crate::sql::lexer::Tok;
use crate::sql::log_parse::compile;
use crate::sql::{Expr, Ident, Literal, Pos, ScalarFunc, SqlError, SqlType};

impl Parser {
    /// A log parser call, when `name` is one; the name is the current token.
    pub(super) fn parse_log_call(
        &mut self,
        name: &str,
        pos: Pos,
        q: &mut Vec<Ident>,
    ) -> Result<Option<Expr>, SqlError> {
        let (func, counts): (ScalarFunc, &[usize]) = match name {
            "REGEX_LOG_PARSE" => (ScalarFunc::RegexLogParse, &[2]),
            "W3C_LOG_PARSE" => (ScalarFunc::W3cLogParse, &[2]),
            "VARIABLE_COLUMN_LOG_PARSE" => (ScalarFunc::VariableColumnLogParse, &[3, 4, 5]),
            _ => return Ok(None),
        };
        self.i += 2; // the name and '('
        let mut args = vec![self.parse_expr(q)?];
        let mut literals = vec![Value::Null];
        while self.eat_sym(",") {
            let t = self.peek().clone();
            let value = match &t.tok {
                Tok::Str(s) => Value::from(s.as_str()),
                Tok::Num(n) => n.parse::<u64>().map_or(Value::Null, Value::from),
                _ => Value::Null,
            };
            if value.is_null() {
                return Err(SqlError::unsupported(
                    t.pos,
                    format!(
                        "argument {} of {name} (only literals after the first)",
                        t.describe()
                    ),
                ));
            }
            self.i += 1;
            args.push(Expr::Literal(match &value {
                Value::String(s) => Literal::Str(s.clone()),
                _ => Literal::Int(value.as_i64().unwrap_or_default()),
            }));
            literals.push(value);
        }
        if !counts.contains(&args.len()) {
            let want: Vec<String> = counts.iter().map(usize::to_string).collect();
            return Err(SqlError::new(
                self.peek().pos,
                format!(
                    "{name} takes {} arguments, not {}",
                    want.join(" or "),
                    args.len()
                ),
            ));
        }
        self.expect_sym(")")?;
        compile(func, &literals).map_err(|m| SqlError::new(pos, format!("{name}: {m}")))?;
        Ok(Some(Expr::Call { func, args, pos }))
    }

    /// `NAME TYPE type [NOT NULL], ...` (VARIABLE_COLUMN_LOG_PARSE's column list), to the end.
    pub fn parse_log_columns(&mut self) -> Result<Vec<(Ident, SqlType)>, SqlError> {
        let mut cols = Vec::new();
        loop {
            let name = self.ident("a column name")?;
            self.expect_kw("TYPE")?;
            let ty = self.parse_type()?;
            if self.eat_kw("NOT") {
                self.expect_kw("NULL")?;
            }
            cols.push((name, ty));
            if !self.eat_sym(",") {
                break;
            }
        }
        if !self.at_eof() {
            return Err(self.expected("',' or the end of the column list"));
        }
        Ok(cols)
    }

    /// `t.r.COLUMN1` ahead: three names joined by dots.
    pub(super) fn row_field_ahead(&self) -> bool {
        let name = |n: usize| matches!(self.peek_at(n).tok, Tok::Ident { .. });
        name(0) && self.peek_at(1).is_sym(".") && name(2) && self.peek_at(3).is_sym(".") && name(4)
    }

    /// `t.r.COLUMN1`: stream (or alias) `t`, its column `r` holding a row, that row's column.
    pub(super) fn parse_row_field(&mut self, q: &mut Vec<Ident>) -> Result<Expr, SqlError> {
        let pos = self.peek().pos;
        let Ref::Column(row) = self.column_ref_prefix(q)? else {
            return Err(SqlError::new(pos, "ROWTIME holds no row"));
        };
        self.expect_sym(".")?;
        let field = self.ident("a column of the row")?;
        if self.peek().is_sym(".") {
            return Err(SqlError::unsupported(
                self.peek().pos,
                "nested column reference (a.b.c.d)",
            ));
        }
        Ok(Expr::Call {
            func: ScalarFunc::RowField,
            // The parsers name their columns as KDA does: unquoted names upper-cased.
            args: vec![
                Expr::Column(row),
                Expr::Literal(Literal::Str(field.kda_name())),
            ],
            pos,
        })
    }

    /// `t.r` of `t.r.COLUMN1`.
    fn column_ref_prefix(&mut self, q: &mut Vec<Ident>) -> Result<Ref, SqlError> {
        let stream = self.ident("a stream name")?;
        q.push(stream);
        self.expect_sym(".")?;
        let col = self.ident("a column name after '.'")?;
        if col.kda_name() == "ROWTIME" {
            return Ok(Ref::Rowtime);
        }
        Ok(Ref::Column(col))
    }

    /// `AS l(r, ...)` after a subquery: names for its columns, in order.
    pub(super) fn subquery_column_names(&mut self, source: &Ident) -> Result<(), SqlError> {
        if !self.peek().is_sym("(") {
            return Ok(());
        }
        let pos = self.peek().pos;
        let Some((name, select)) = self.subqueries.last() else {
            return Err(SqlError::unsupported(
                pos,
                "column names after a stream's alias",
            ));
        };
        if !name.same_as(source) {
            return Err(SqlError::unsupported(
                pos,
                "column names after a stream's alias",
            ));
        }
        let count = select.items.len();
        self.i += 1;
        let mut names = Vec::new();
        loop {
            names.push(self.ident("a column name")?);
            if !self.eat_sym(",") {
                break;
            }
        }
        self.expect_sym(")")?;
        if names.len() != count {
            return Err(SqlError::new(
                pos,
                format!(
                    "{} column names for a subquery with {count} select items",
                    names.len()
                ),
            ));
        }
        if let Some((_, select)) = self.subqueries.last_mut() {
            select.aliases = names.into_iter().map(Some).collect();
        }
        Ok(())
    }
}
