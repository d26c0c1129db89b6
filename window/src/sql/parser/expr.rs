//! Expressions (WHERE): OR, AND, NOT, comparisons, IS NULL, LIKE, BETWEEN, IN, arithmetic,
//! literals, column references and scalar function calls.

use super::{sql_timestamp, Parser, Ref, AGGREGATES};
use crate::sql::lexer::Tok;
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
        let t = self.peek().clone();
        let cmp = match &t.tok {
            Tok::Sym("=") => Some(BinOp::Eq),
            Tok::Sym("<>" | "!=") => Some(BinOp::Ne),
            Tok::Sym("<") => Some(BinOp::Lt),
            Tok::Sym("<=") => Some(BinOp::Le),
            Tok::Sym(">") => Some(BinOp::Gt),
            Tok::Sym(">=") => Some(BinOp::Ge),
            _ => None,
        };
        if let Some(op) = cmp {
            self.i += 1;
            let right = self.parse_additive(q)?;
            return Ok(Expr::Binary {
                op,
                left: Box::new(left),
                right: Box::new(right),
            });
        }
        if self.eat_kw("IS") {
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
            return Ok(Expr::IsNull {
                expr: Box::new(left),
                negated,
            });
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
        if self.eat_kw("LIKE") {
            let t = self.peek().clone();
            let Tok::Str(pattern) = t.tok else {
                return Err(self.expected("a string pattern after LIKE"));
            };
            self.i += 1;
            let mut escape = None;
            if self.eat_kw("ESCAPE") {
                let t = self.peek().clone();
                match &t.tok {
                    Tok::Str(s) if s.chars().count() == 1 => escape = s.chars().next(),
                    _ => return Err(self.expected("a one-character string after ESCAPE")),
                }
                self.i += 1;
            }
            return Ok(Expr::Like {
                expr: Box::new(left),
                pattern,
                escape,
                negated,
            });
        }
        if self.eat_kw("BETWEEN") {
            let low = self.parse_additive(q)?;
            self.expect_kw("AND")?;
            let high = self.parse_additive(q)?;
            return Ok(Expr::Between {
                expr: Box::new(left),
                low: Box::new(low),
                high: Box::new(high),
                negated,
            });
        }
        if self.eat_kw("IN") {
            self.expect_sym("(")?;
            let mut list = Vec::new();
            loop {
                let t = self.peek().clone();
                match self.parse_unary(q)? {
                    Expr::Literal(l) => list.push(l),
                    _ => return Err(SqlError::unsupported(t.pos, "non-literal in IN (...)")),
                }
                if !self.eat_sym(",") {
                    break;
                }
            }
            self.expect_sym(")")?;
            return Ok(Expr::InList {
                expr: Box::new(left),
                list,
                negated,
            });
        }
        if self.peek().is_kw("SIMILAR") {
            return Err(SqlError::unsupported(self.peek().pos, "SIMILAR TO"));
        }
        Ok(left)
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
                if let Ok(i) = n.parse::<i64>() {
                    return Ok(Expr::Literal(Literal::Int(i)));
                }
                n.parse::<f64>()
                    .map(|f| Expr::Literal(Literal::Float(f)))
                    .map_err(|_| SqlError::new(t.pos, format!("bad number {n}")))
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
            } if self.peek_at(1).is_sym("(") => {
                let upper = text.to_ascii_uppercase();
                if let Some(call) = self.parse_call(&upper, t.pos, q)? {
                    return Ok(call);
                }
                if AGGREGATES.contains(&upper.as_str()) {
                    return Err(SqlError::unsupported(
                        t.pos,
                        format!("aggregate {upper} in WHERE (HAVING is not supported either)"),
                    ));
                }
                Err(SqlError::unsupported(
                    t.pos,
                    format!("function {upper} in WHERE"),
                ))
            }
            Tok::Ident { quoted: false, .. } if t.is_kw("CURRENT_ROW_TIMESTAMP") => {
                self.i += 1;
                Ok(Expr::Call {
                    func: ScalarFunc::CurrentRowTimestamp,
                    args: Vec::new(),
                    pos: t.pos,
                })
            }
            Tok::Ident { quoted: false, .. } if t.is_kw("TRUE") || t.is_kw("FALSE") => {
                self.i += 1;
                Ok(Expr::Literal(Literal::Bool(t.is_kw("TRUE"))))
            }
            Tok::Ident { quoted: false, .. } if t.is_kw("NULL") => {
                self.i += 1;
                Ok(Expr::Literal(Literal::Null))
            }
            Tok::Ident { quoted: false, .. } if t.is_kw("TIMESTAMP") => {
                self.i += 1;
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
            Tok::Ident { quoted: false, .. } if t.is_kw("INTERVAL") => {
                self.i += 1;
                self.parse_interval()
                    .map(|ms| Expr::Literal(Literal::Interval(ms)))
            }
            Tok::Ident { quoted: false, .. }
                if ["CASE", "CAST", "SELECT", "EXISTS"]
                    .iter()
                    .any(|w| t.is_kw(w)) =>
            {
                Err(SqlError::unsupported(
                    t.pos,
                    format!("{} in WHERE", t.describe()),
                ))
            }
            Tok::Ident { .. } if self.row_field_ahead() => self.parse_row_field(q),
            Tok::Ident { .. } => match self.column_ref(q)? {
                Ref::Rowtime => Err(SqlError::unsupported(t.pos, "ROWTIME in WHERE")),
                Ref::Column(c) => Ok(Expr::Column(c)),
            },
            _ => Err(self.expected("an expression")),
        }
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
        let unit = self.peek().clone();
        let Some(secs) = super::window::unit_seconds(&unit) else {
            return Err(SqlError::unsupported(
                unit.pos,
                format!(
                    "interval unit {} (SECOND, MINUTE, HOUR, DAY)",
                    unit.describe()
                ),
            ));
        };
        self.i += 1;
        n.checked_mul(secs as i64 * 1000)
            .ok_or_else(|| SqlError::new(t.pos, "interval out of range"))
    }
}
