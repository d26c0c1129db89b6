//! `CREATE [OR REPLACE] STREAM "NAME" (col type, ...)` and the column types.

use super::{Parser, StreamDecl};
use crate::sql::lexer::Tok;
use crate::sql::{Ident, SqlError, SqlType};

impl Parser {
    pub(super) fn parse_stream(&mut self) -> Result<StreamDecl, SqlError> {
        let name = self.ident("a stream name")?;
        self.expect_sym("(")?;
        let mut columns: Vec<(Ident, SqlType)> = Vec::new();
        loop {
            let col = self.ident("a column name")?;
            if col.kda_name() == "ROWTIME" {
                return Err(SqlError::new(
                    col.pos,
                    "ROWTIME is implicit in every stream and cannot be declared",
                ));
            }
            if let Some((prev, _)) = columns.iter().find(|(c, _)| c.kda_name() == col.kda_name()) {
                return Err(SqlError::new(
                    col.pos,
                    format!(
                        "column {} is declared twice (first at line {}, column {})",
                        col.sql(),
                        prev.pos.line,
                        prev.pos.column
                    ),
                ));
            }
            let ty = self.parse_type()?;
            if self.peek().is_kw("NOT") || self.peek().is_kw("NULL") {
                // `NOT NULL` / `NULL` constraints are accepted and ignored.
                self.eat_kw("NOT");
                self.expect_kw("NULL")?;
            }
            columns.push((col, ty));
            if self.eat_sym(",") {
                continue;
            }
            self.expect_sym(")")?;
            break;
        }
        if self.peek().is_kw("WITH") || self.peek().is_kw("DESCRIPTION") {
            return Err(SqlError::unsupported(self.peek().pos, self.clause_name()));
        }
        Ok(StreamDecl { name, columns })
    }

    pub fn parse_type(&mut self) -> Result<SqlType, SqlError> {
        let t = self.peek().clone();
        let Tok::Ident {
            text,
            quoted: false,
        } = &t.tok
        else {
            return Err(self.expected("a column type"));
        };
        self.i += 1;
        let upper = text.to_ascii_uppercase();
        let ty = match upper.as_str() {
            "VARCHAR" | "CHAR" | "CHARACTER" => {
                let mut varying = upper == "VARCHAR";
                if upper == "CHARACTER" && self.eat_kw("VARYING") {
                    varying = true;
                }
                let n = if self.eat_sym("(") {
                    let n = self.integer("a length")?;
                    self.expect_sym(")")?;
                    u32::try_from(n).map_err(|_| SqlError::new(t.pos, "length out of range"))?
                } else {
                    1
                };
                if varying {
                    SqlType::Varchar(n)
                } else {
                    SqlType::Char(n)
                }
            }
            "TINYINT" => SqlType::Tinyint,
            "SMALLINT" => SqlType::Smallint,
            "INTEGER" | "INT" => SqlType::Integer,
            "BIGINT" => SqlType::Bigint,
            "REAL" | "FLOAT" => SqlType::Real,
            "DOUBLE" => {
                self.eat_kw("PRECISION");
                SqlType::Double
            }
            "DECIMAL" | "NUMERIC" | "DEC" => {
                let (mut p, mut s) = (19u32, 0u32);
                if self.eat_sym("(") {
                    p = u32::try_from(self.integer("a precision")?).unwrap_or(u32::MAX);
                    if self.eat_sym(",") {
                        s = u32::try_from(self.integer("a scale")?).unwrap_or(u32::MAX);
                    }
                    self.expect_sym(")")?;
                }
                SqlType::Decimal(p, s)
            }
            "BOOLEAN" => SqlType::Boolean,
            "TIMESTAMP" => SqlType::Timestamp,
            "DATE" => SqlType::Date,
            "TIME" => SqlType::Time,
            _ => {
                return Err(SqlError::new(
                    t.pos,
                    format!(
                        "unknown column type {upper}: supported are VARCHAR(n), CHAR(n), TINYINT, SMALLINT, \
                         INTEGER, BIGINT, REAL, DOUBLE, DECIMAL(p,s), BOOLEAN, TIMESTAMP, DATE, TIME"
                    ),
                ))
            }
        };
        Ok(ty)
    }

    pub(super) fn integer(&mut self, what: &str) -> Result<u64, SqlError> {
        let t = self.peek().clone();
        if let Tok::Num(n) = &t.tok {
            if let Ok(v) = n.parse::<u64>() {
                self.i += 1;
                return Ok(v);
            }
        }
        Err(self.expected(&format!("{what} (a positive integer)")))
    }
}
