//! Expressions (WHERE): OR, AND, NOT, comparisons, IS NULL, LIKE, BETWEEN, IN, arithmetic,
//! literals, column references and scalar function calls.

use super::{sql_timestamp, Parser, Ref, AGGREGATES};
use crate::sql::lexer::{Tok, Token};
use crate::sql::{BinOp, Expr, Ident, Literal, ScalarFunc, SqlError, UnOp};

impl Parser {
    // ---- WHERE expressions ------------------------------------------------------------------

    pub(super) fn parse_expr(&mut self, q: &mut Vec<Ident>) -> Result<Expr, SqlError> {
        let mut left = self.parse_and(q)?;
        while self.eat_kw("OR") {
            let right = self.parse_and(q)?;
            left = Expr::Binary {
                op: BinOp::Or,
                left: Box::new(left),
                right: Box::new(right),
            };
        }
        Ok(left)
    }

    pub(super) fn parse_and(&mut self, q: &mut Vec<Ident>) -> Result<Expr, SqlError> {
        let mut left = self.parse_not(q)?;
        while self.eat_kw("AND") {
            let right = self.parse_not(q)?;
            left = Expr::Binary {
                op: BinOp::And,
                left: Box::new(left),
                right: Box::new(right),
            };
        }
        Ok(left)
    }

    pub(super) fn parse_not(&mut self, q: &mut Vec<Ident>) -> Result<Expr, SqlError> {
        if self.eat_kw("NOT") {
            let e = self.parse_not(q)?;
            return Ok(Expr::Unary {
                op: UnOp::Not,
                expr: Box::new(e),
            });
        }
        self.parse_predicate(q)
    }

    pub(super) fn parse_predicate(&mut self, q: &mut Vec<Ident>) -> Result<Expr, SqlError> {
        let left = self.parse_additive(q)?;
        if let Some(op) = comparison_op(&self.peek().tok) {
            self.i += 1;
            let right = self.parse_additive(q)?;
            return Ok(Expr::Binary {
                op,
                left: Box::new(left),
                right: Box::new(right),
            });
        }
        if self.eat_kw("IS") {
            return self.parse_is_null(left);
        }
        let negated = if self.peek().is_kw("NOT")
            && ["LIKE", "BETWEEN", "IN", "SIMILAR"]
                .iter()
                .any(|w| self.peek_at(1).is_kw(w))
        {
            self.i += 1;
            true
        } else {
            false
        };
        let expr = Box::new(left);
        if self.eat_kw("LIKE") {
            let (pattern, escape) = self.parse_like_pattern()?;
            return Ok(Expr::Like {
                expr,
                pattern,
                escape,
                negated,
            });
        }
        if self.eat_kw("BETWEEN") {
            let low = Box::new(self.parse_additive(q)?);
            self.expect_kw("AND")?;
            let high = Box::new(self.parse_additive(q)?);
            return Ok(Expr::Between {
                expr,
                low,
                high,
                negated,
            });
        }
        if self.eat_kw("IN") {
            let list = self.parse_in_list(q)?;
            return Ok(Expr::InList {
                expr,
                list,
                negated,
            });
        }
        if self.peek().is_kw("SIMILAR") {
            return Err(SqlError::unsupported(self.peek().pos, "SIMILAR TO"));
        }
        Ok(*expr)
    }

    /// After IS: `[NOT] NULL`.
    fn parse_is_null(&mut self, left: Expr) -> Result<Expr, SqlError> {
        let negated = self.eat_kw("NOT");
        if !self.eat_kw("NULL") {
            return Err(SqlError::unsupported(
                self.peek().pos,
                format!(
                    "IS {}{} (only IS [NOT] NULL)",
                    if negated { "NOT " } else { "" },
                    self.peek().describe()
                ),
            ));
        }
        Ok(Expr::IsNull {
            expr: Box::new(left),
            negated,
        })
    }

    /// After LIKE: `'pattern' [ESCAPE 'c']`.
    fn parse_like_pattern(&mut self) -> Result<(String, Option<char>), SqlError> {
        let Tok::Str(pattern) = self.peek().tok.clone() else {
            return Err(self.expected("a string pattern after LIKE"));
        };
        self.i += 1;
        let mut escape = None;
        if self.eat_kw("ESCAPE") {
            match &self.peek().tok {
                Tok::Str(s) if s.chars().count() == 1 => escape = s.chars().next(),
                _ => return Err(self.expected("a one-character string after ESCAPE")),
            }
            self.i += 1;
        }
        Ok((pattern, escape))
    }

    /// After IN: `(literal, ...)`.
    fn parse_in_list(&mut self, q: &mut Vec<Ident>) -> Result<Vec<Literal>, SqlError> {
        self.expect_sym("(")?;
        let mut list = Vec::new();
        loop {
            let pos = self.peek().pos;
            match self.parse_unary(q)? {
                Expr::Literal(l) => list.push(l),
                _ => return Err(SqlError::unsupported(pos, "non-literal in IN (...)")),
            }
            if !self.eat_sym(",") {
                break;
            }
        }
        self.expect_sym(")")?;
        Ok(list)
    }

    pub(super) fn parse_additive(&mut self, q: &mut Vec<Ident>) -> Result<Expr, SqlError> {
        let mut left = self.parse_mult(q)?;
        loop {
            let op = match &self.peek().tok {
                Tok::Sym("+") => BinOp::Add,
                Tok::Sym("-") => BinOp::Sub,
                Tok::Sym("||") => BinOp::Concat,
                _ => return Ok(left),
            };
            self.i += 1;
            let right = self.parse_mult(q)?;
            left = Expr::Binary {
                op,
                left: Box::new(left),
                right: Box::new(right),
            };
        }
    }

    pub(super) fn parse_mult(&mut self, q: &mut Vec<Ident>) -> Result<Expr, SqlError> {
        let mut left = self.parse_unary(q)?;
        loop {
            let op = match &self.peek().tok {
                Tok::Sym("*") => BinOp::Mul,
                Tok::Sym("/") => BinOp::Div,
                _ => return Ok(left),
            };
            self.i += 1;
            let right = self.parse_unary(q)?;
            left = Expr::Binary {
                op,
                left: Box::new(left),
                right: Box::new(right),
            };
        }
    }

    pub(super) fn parse_unary(&mut self, q: &mut Vec<Ident>) -> Result<Expr, SqlError> {
        if self.eat_sym("-") {
            let e = self.parse_unary(q)?;
            // Fold `-literal` so IN lists and comparisons see a literal.
            return Ok(match e {
                Expr::Literal(Literal::Int(i)) => Expr::Literal(Literal::Int(-i)),
                Expr::Literal(Literal::Float(f)) => Expr::Literal(Literal::Float(-f)),
                other => Expr::Unary {
                    op: UnOp::Neg,
                    expr: Box::new(other),
                },
            });
        }
        if self.eat_sym("+") {
            return self.parse_unary(q);
        }
        self.parse_primary(q)
    }

    pub(super) fn parse_primary(&mut self, q: &mut Vec<Ident>) -> Result<Expr, SqlError> {
        let t = self.peek().clone();
        match &t.tok {
            Tok::Num(n) => {
                self.i += 1;
                number_literal(n, t.pos)
            }
            Tok::Str(s) => {
                self.i += 1;
                Ok(Expr::Literal(Literal::Str(s.clone())))
            }
            Tok::Sym("(") => {
                self.i += 1;
                let e = self.parse_expr(q)?;
                self.expect_sym(")")?;
                Ok(e)
            }
            Tok::Ident {
                text,
                quoted: false,
            } if self.peek_at(1).is_sym("(") => self.parse_function(text, t.pos, q),
            Tok::Ident { quoted: false, .. } if is_primary_word(&t) => self.parse_word(&t),
            Tok::Ident { .. } if self.row_field_ahead() => self.parse_row_field(q),
            Tok::Ident { .. } => match self.column_ref(q)? {
                Ref::Rowtime => Err(SqlError::unsupported(t.pos, "ROWTIME in WHERE")),
                Ref::Column(c) => Ok(Expr::Column(c)),
            },
            _ => Err(self.expected("an expression")),
        }
    }

    /// `NAME(...)`: a scalar function; an aggregate or an unknown function is refused.
    fn parse_function(
        &mut self,
        name: &str,
        pos: crate::sql::Pos,
        q: &mut Vec<Ident>,
    ) -> Result<Expr, SqlError> {
        let upper = name.to_ascii_uppercase();
        if let Some(call) = self.parse_call(&upper, pos, q)? {
            return Ok(call);
        }
        if AGGREGATES.contains(&upper.as_str()) {
            return Err(SqlError::unsupported(
                pos,
                format!("aggregate {upper} in WHERE (HAVING is not supported either)"),
            ));
        }
        Err(SqlError::unsupported(
            pos,
            format!("function {upper} in WHERE"),
        ))
    }

    /// A keyword that is a value (`TRUE`, `NULL`, `CURRENT_ROW_TIMESTAMP`, `TIMESTAMP '...'`,
    /// `INTERVAL '5' MINUTE`) or an unsupported construct (`CASE`, `CAST`, ...).
    fn parse_word(&mut self, t: &Token) -> Result<Expr, SqlError> {
        if UNSUPPORTED_WORDS.iter().any(|w| t.is_kw(w)) {
            return Err(SqlError::unsupported(
                t.pos,
                format!("{} in WHERE", t.describe()),
            ));
        }
        self.i += 1;
        if t.is_kw("CURRENT_ROW_TIMESTAMP") {
            Ok(Expr::Call {
                func: ScalarFunc::CurrentRowTimestamp,
                args: Vec::new(),
                pos: t.pos,
            })
        } else if t.is_kw("NULL") {
            Ok(Expr::Literal(Literal::Null))
        } else if t.is_kw("TIMESTAMP") {
            self.timestamp_literal()
        } else if t.is_kw("INTERVAL") {
            self.parse_interval()
                .map(|ms| Expr::Literal(Literal::Interval(ms)))
        } else {
            Ok(Expr::Literal(Literal::Bool(t.is_kw("TRUE"))))
        }
    }

    /// After TIMESTAMP: `'2021-03-19 13:15:48'`.
    fn timestamp_literal(&mut self) -> Result<Expr, SqlError> {
        let lit = self.peek().clone();
        let Tok::Str(s) = &lit.tok else {
            return Err(self.expected("a timestamp literal like '2021-03-19 13:15:48'"));
        };
        let Some(ms) = sql_timestamp(s) else {
            return Err(SqlError::new(
                lit.pos,
                format!("bad timestamp literal '{s}'"),
            ));
        };
        self.i += 1;
        Ok(Expr::Literal(Literal::Timestamp(ms)))
    }

    /// After INTERVAL: `'5' MINUTE` (SECOND, MINUTE, HOUR, DAY), in milliseconds.
    pub(super) fn parse_interval(&mut self) -> Result<i64, SqlError> {
        let t = self.peek().clone();
        let n = match &t.tok {
            Tok::Str(s) => s.trim().parse::<i64>().ok(),
            Tok::Num(s) => s.parse::<i64>().ok(),
            _ => None,
        };
        let Some(n) = n else {
            return Err(self.expected("a whole number like '5' after INTERVAL"));
        };
        self.i += 1;
        let secs = self.interval_unit()?;
        n.checked_mul(secs as i64 * 1000)
            .ok_or_else(|| SqlError::new(t.pos, "interval out of range"))
    }
}

/// `=`, `<>`/`!=`, `<`, `<=`, `>`, `>=`.
fn comparison_op(tok: &Tok) -> Option<BinOp> {
    match tok {
        Tok::Sym("=") => Some(BinOp::Eq),
        Tok::Sym("<>" | "!=") => Some(BinOp::Ne),
        Tok::Sym("<") => Some(BinOp::Lt),
        Tok::Sym("<=") => Some(BinOp::Le),
        Tok::Sym(">") => Some(BinOp::Gt),
        Tok::Sym(">=") => Some(BinOp::Ge),
        _ => None,
    }
}

/// An integer literal, or a floating-point one when it is not a whole `i64`.
fn number_literal(n: &str, pos: crate::sql::Pos) -> Result<Expr, SqlError> {
    if let Ok(i) = n.parse::<i64>() {
        return Ok(Expr::Literal(Literal::Int(i)));
    }
    n.parse::<f64>()
        .map(|f| Expr::Literal(Literal::Float(f)))
        .map_err(|_| SqlError::new(pos, format!("bad number {n}")))
}

/// Words an expression refuses by name rather than reading them as a column.
const UNSUPPORTED_WORDS: [&str; 4] = ["CASE", "CAST", "SELECT", "EXISTS"];

/// Unquoted words [`Parser::parse_word`] reads.
fn is_primary_word(t: &Token) -> bool {
    [
        "CURRENT_ROW_TIMESTAMP",
        "TRUE",
        "FALSE",
        "NULL",
        "TIMESTAMP",
        "INTERVAL",
    ]
    .iter()
    .chain(&UNSUPPORTED_WORDS)
    .any(|w| t.is_kw(w))
}
