//! `FROM stream [LEFT [OUTER] | INNER] JOIN "Table" [AS] alias ON stream.col = alias.col`: a
//! join with an in-application reference table ("Example: Adding Reference Data to a Kinesis
//! Data Analytics Application", KDA SQL Developer Guide). The table's columns, `alias.col` in
//! the select list, read the joined row (see `sql::reference`).

use super::{Parser, PumpDecl, Ref};
use crate::sql::lexer::Tok;
use crate::sql::reference::{JoinPlan, REFERENCE_KEY};
use crate::sql::{Ident, Pos, SqlError};

/// A JOIN met in FROM, waiting for its pump to be assembled.
pub(in crate::sql) struct PendingJoin {
    plan: JoinPlan,
    select: Pos,
    /// Where the JOIN clause starts.
    at: Pos,
}

impl Parser {
    /// The names (table and alias) a `JOIN` of the SELECT starting here gives its table, found
    /// before the select list is read (the list names the table's columns as `alias.col`).
    pub(super) fn scan_join_names(&self) -> Vec<Ident> {
        let mut depth = 0i32;
        let mut i = self.i;
        while i < self.toks.len() {
            let t = &self.toks[i];
            if t.is_sym("(") {
                depth += 1;
            } else if t.is_sym(")") {
                depth -= 1;
            }
            if depth < 0 || t.is_sym(";") || matches!(t.tok, Tok::Eof) {
                break;
            }
            if depth == 0 && t.is_kw("JOIN") {
                let name = |n: usize| match self.toks.get(i + n).map(|t| &t.tok) {
                    Some(Tok::Ident { text, quoted }) if !self.toks[i + n].is_kw("ON") => {
                        Some(Ident {
                            name: text.clone(),
                            quoted: *quoted,
                            pos: self.toks[i + n].pos,
                        })
                    }
                    _ => None,
                };
                let alias_at = if self.toks.get(i + 2).is_some_and(|t| t.is_kw("AS")) {
                    3
                } else {
                    2
                };
                return [name(1), name(alias_at)].into_iter().flatten().collect();
            }
            i += 1;
        }
        Vec::new()
    }

    /// `alias.col` of the joined table: a reference column (`None` for any other qualifier).
    pub(super) fn reference_column(&mut self, qualifier: &Ident) -> Result<Option<Ref>, SqlError> {
        if !self.join_names.iter().any(|n| n.same_as(qualifier)) {
            return Ok(None);
        }
        let col = self.ident("a column of the reference table")?;
        Ok(Some(Ref::Column(Ident {
            name: format!("{REFERENCE_KEY}.{}", col.kda_name()),
            quoted: true,
            pos: col.pos,
        })))
    }

    /// At `[LEFT [OUTER] | INNER] JOIN`: the join, kept for the pump of the SELECT at `select`.
    pub(super) fn parse_join(
        &mut self,
        source: &Ident,
        source_alias: Option<&Ident>,
        select: Pos,
    ) -> Result<(), SqlError> {
        let at = self.peek().pos;
        if self.join.is_some() {
            return Err(SqlError::unsupported(
                at,
                "a second JOIN in the application (one reference table, joined in the last pump)",
            ));
        }
        let left = self.eat_kw("LEFT");
        if left {
            self.eat_kw("OUTER");
        } else {
            self.eat_kw("INNER");
        }
        if !self.peek().is_kw("JOIN") {
            return Err(SqlError::unsupported(
                self.peek().pos,
                format!(
                    "{} JOIN (JOIN and LEFT JOIN with a reference table)",
                    self.peek().describe()
                ),
            ));
        }
        self.i += 1;
        let table = self.ident("the reference table's name")?;
        let mut names = vec![table.clone()];
        if self.eat_kw("AS") || !(Self::is_clause_word(self.peek()) || self.peek().is_sym(";")) {
            names.push(self.ident("an alias")?);
        }
        self.expect_kw("ON")?;
        let a = self.join_operand()?;
        self.expect_sym("=")?;
        let b = self.join_operand()?;
        let on_table = |(q, _): &(Option<Ident>, Ident)| {
            q.as_ref()
                .is_some_and(|q| names.iter().any(|n| n.same_as(q)))
        };
        let (stream_side, table_side) = match (on_table(&a), on_table(&b)) {
            (false, true) => (a, b),
            (true, false) => (b, a),
            _ => {
                return Err(SqlError::unsupported(
                    table.pos,
                    "this ON (only stream.column = table.column, the table's side qualified)",
                ))
            }
        };
        if let Some(q) = &stream_side.0 {
            self.check_qualifiers(vec![q.clone()], source, source_alias)?;
        }
        if self.peek().is_kw("AND") || self.peek().is_kw("JOIN") {
            return Err(SqlError::unsupported(
                self.peek().pos,
                "a second join condition or table (one column each side)",
            ));
        }
        self.join = Some(PendingJoin {
            plan: JoinPlan {
                table,
                left,
                stream_key: stream_side.1,
                table_key: table_side.1.kda_name(),
            },
            select,
            at,
        });
        Ok(())
    }

    /// `q.col` or `col` in ON.
    fn join_operand(&mut self) -> Result<(Option<Ident>, Ident), SqlError> {
        let first = self.ident("a column")?;
        if self.eat_sym(".") {
            Ok((Some(first), self.ident("a column after '.'")?))
        } else {
            Ok((None, first))
        }
    }

    /// The pending join of this pump's SELECT, if it has one.
    pub(super) fn take_join(&mut self, pump: &PumpDecl) -> Option<JoinPlan> {
        match &self.join {
            Some(j) if j.select == pump.select.pos => self.join.take().map(|j| j.plan),
            _ => None,
        }
    }

    /// A JOIN that no per-row pump took.
    pub(super) fn check_join_taken(&self) -> Result<(), SqlError> {
        match &self.join {
            Some(j) => Err(SqlError::unsupported(
                j.at,
                "clause JOIN in a pump that aggregates, feeds another pump or reads a GROUP BY \
                 pump's stream (a reference table joins in the last pump, without GROUP BY, a \
                 stagger window or TOP_K_ITEMS_TUMBLING, reading no GROUP BY pump's stream)",
            )),
            None => Ok(()),
        }
    }
}
