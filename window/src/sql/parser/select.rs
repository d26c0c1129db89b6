//! `SELECT STREAM ... FROM ... [WHERE ...] [GROUP BY ...]`: the select list, FROM, GROUP BY.

use super::{Parser, Ref, Select, SelectValue, AGGREGATES};
use crate::sql::lexer::Tok;
use crate::sql::{
    AggFunc, Expr, Ident, OverSpec, Pos, SelectItem, SqlError, StaggerKey, WindowSpec,
};

/// The select items, each with where it starts, and each item's alias.
type SelectList = (Vec<(SelectValue, Pos)>, Vec<Option<Ident>>);
/// `WINDOW W1 AS (...)`'s windows.
type NamedWindows = Vec<(Ident, OverSpec)>;
/// `WINDOWED BY STAGGER`'s keys, range, and where it is.
type Stagger = (Vec<StaggerKey>, std::time::Duration, Pos);

impl Parser {
    // ---- SELECT -----------------------------------------------------------------------------

    pub(super) fn parse_select(&mut self) -> Result<Select, SqlError> {
        let pos = self.select_stream()?;
        let mut qualifiers: Vec<Ident> = Vec::new();
        self.join_names = self.scan_join_names();
        let (items, aliases) = self.parse_select_list(&mut qualifiers)?;
        self.expect_from()?;
        let (source, source_alias) = self.parse_from(pos)?;
        let filter = if self.eat_kw("WHERE") {
            Some(self.parse_expr(&mut qualifiers)?)
        } else {
            None
        };
        let (named_windows, stagger) = self.parse_window_clauses(&mut qualifiers)?;
        let mut select = Select {
            pos,
            end: pos,
            items,
            source,
            filter,
            group_by: Vec::new(),
            window: None,
            time_groups: Vec::new(),
            named_windows,
            aliases,
            stagger,
        };
        if self.peek().is_kw("GROUP") {
            self.parse_group_by(&mut select, &mut qualifiers)?;
        } else {
            self.expect_select_end()?;
        }
        self.check_qualifiers(qualifiers, &select.source, source_alias.as_ref())?;
        select.end = self.peek().pos;
        Ok(select)
    }

    /// `SELECT STREAM`, and not `SELECT STREAM DISTINCT|ALL`; returns where SELECT is.
    fn select_stream(&mut self) -> Result<Pos, SqlError> {
        let pos = self.expect_kw("SELECT")?;
        if !self.eat_kw("STREAM") {
            let t = self.peek();
            return Err(SqlError::new(
                t.pos,
                format!("expected STREAM after SELECT (a query over a stream is SELECT STREAM ...), found {}", t.describe()),
            ));
        }
        if self.peek().is_kw("DISTINCT") || self.peek().is_kw("ALL") {
            return Err(SqlError::unsupported(
                self.peek().pos,
                format!("SELECT STREAM {}", self.peek().describe()),
            ));
        }
        Ok(pos)
    }

    /// The select items, each with where it starts, and their `AS` aliases.
    fn parse_select_list(&mut self, qualifiers: &mut Vec<Ident>) -> Result<SelectList, SqlError> {
        let mut items = Vec::new();
        let mut aliases = Vec::new();
        // `SELECT STREAM * FROM TABLE(...)`: the table function's columns.
        if self.star_from_table() && self.eat_sym("*") {
            return Ok((items, aliases));
        }
        loop {
            let item_pos = self.peek().pos;
            let value = self.parse_select_item(qualifiers)?;
            // Optional alias; in a pump the destination's declaration names the columns.
            aliases.push(self.optional_alias()?);
            items.push((value, item_pos));
            if !self.eat_sym(",") {
                return Ok((items, aliases));
            }
        }
    }

    /// `AS name`, or a bare name that is not the next clause's word.
    fn optional_alias(&mut self) -> Result<Option<Ident>, SqlError> {
        let aliased = self.eat_kw("AS");
        if aliased
            || (matches!(self.peek().tok, Tok::Ident { .. }) && !Self::is_clause_word(self.peek()))
        {
            Ok(Some(self.ident("an alias")?))
        } else {
            Ok(None)
        }
    }

    /// FROM after the select list; anything else there is named as what it is.
    fn expect_from(&mut self) -> Result<(), SqlError> {
        if self.eat_kw("FROM") {
            return Ok(());
        }
        if Self::is_clause_word(self.peek()) {
            return Err(SqlError::unsupported(self.peek().pos, self.clause_name()));
        }
        let t = self.peek();
        if matches!(t.tok, Tok::Sym("+" | "-" | "*" | "/" | "||")) {
            return Err(SqlError::unsupported(
                t.pos,
                format!("expression with {} in the select list (only aggregates, GROUP BY columns and the window)", t.describe()),
            ));
        }
        Err(self.expected("FROM"))
    }

    /// The source after FROM (a stream, a subquery or a table function), its alias, and a JOIN.
    fn parse_from(&mut self, select_pos: Pos) -> Result<(Ident, Option<Ident>), SqlError> {
        let source = if self.peek().is_sym("(") && self.peek_at(1).is_kw("SELECT") {
            self.subquery()?
        } else if self.peek().is_kw("TABLE") && self.peek_at(1).is_sym("(") {
            self.table_function(select_pos)?
        } else {
            self.ident("the source stream name")?
        };
        if self.peek().is_sym("(") {
            return Err(SqlError::unsupported(
                self.peek().pos,
                "table function in FROM",
            ));
        }
        if self.peek().is_sym(".") {
            return Err(SqlError::unsupported(
                self.peek().pos,
                "qualified stream name in FROM",
            ));
        }
        let source_alias = self.optional_alias()?;
        if source_alias.is_some() {
            self.subquery_column_names(&source)?;
        }
        if self.peek().is_sym(",") {
            return Err(SqlError::unsupported(
                self.peek().pos,
                "clause JOIN (several streams in FROM)",
            ));
        }
        let join_words = ["JOIN", "INNER", "LEFT", "RIGHT", "FULL", "CROSS", "NATURAL"];
        if join_words.iter().any(|w| self.peek().is_kw(w)) {
            self.parse_join(&source, source_alias.as_ref(), select_pos)?;
        }
        Ok((source, source_alias))
    }

    /// `WINDOW W1 AS (...)` and `WINDOWED BY STAGGER (...)`, neither of which goes with GROUP BY.
    fn parse_window_clauses(
        &mut self,
        qualifiers: &mut Vec<Ident>,
    ) -> Result<(NamedWindows, Option<Stagger>), SqlError> {
        let window_pos = self.peek().pos;
        let named_windows = if self.eat_kw("WINDOW") {
            self.parse_named_windows(qualifiers)?
        } else {
            Vec::new()
        };
        let stagger = if self.peek().is_kw("WINDOWED") {
            Some(self.parse_stagger(qualifiers)?)
        } else {
            None
        };
        if let (Some((_, _, pos)), true) = (&stagger, self.peek().is_kw("GROUP")) {
            return Err(SqlError::unsupported(
                *pos,
                "WINDOWED BY STAGGER with GROUP BY",
            ));
        }
        if !named_windows.is_empty() && self.peek().is_kw("GROUP") {
            return Err(SqlError::unsupported(
                window_pos,
                "clause WINDOW (sliding windows) in a GROUP BY pump",
            ));
        }
        Ok((named_windows, stagger))
    }

    /// The end of a SELECT without GROUP BY (a per-row pump): `;`, the end, or `)` of a
    /// subquery in FROM.
    fn expect_select_end(&self) -> Result<(), SqlError> {
        let t = self.peek();
        if Self::is_clause_word(t) {
            return Err(SqlError::unsupported(t.pos, self.clause_name()));
        }
        if matches!(t.tok, Tok::Eof) || t.is_sym(";") || t.is_sym(")") {
            return Ok(());
        }
        Err(self.expected("GROUP BY"))
    }

    /// `GROUP BY` columns and window expressions: one window over time, the rest time groups.
    fn parse_group_by(
        &mut self,
        select: &mut Select,
        qualifiers: &mut Vec<Ident>,
    ) -> Result<(), SqlError> {
        self.i += 1;
        self.expect_kw("BY")?;
        let mut windows: Vec<(WindowSpec, Pos)> = Vec::new();
        loop {
            self.parse_group_key(&mut select.group_by, &mut windows, qualifiers)?;
            if !self.eat_sym(",") {
                break;
            }
        }
        let Some((window, time_groups)) = crate::sql::windows::split_windows(windows)? else {
            return Err(SqlError::new(
                select.pos,
                "GROUP BY has no window expression over ROWTIME or a TIMESTAMP column: the groups would \
                 never close. Add FLOOR(S.ROWTIME TO MINUTE) or STEP(S.ROWTIME BY INTERVAL '60' SECOND)",
            ));
        };
        if Self::is_clause_word(self.peek()) {
            return Err(SqlError::unsupported(self.peek().pos, self.clause_name()));
        }
        select.window = Some(window);
        select.time_groups = time_groups;
        Ok(())
    }

    /// One GROUP BY item: FLOOR/STEP of a time, or a column once.
    fn parse_group_key(
        &mut self,
        group_by: &mut Vec<Ident>,
        windows: &mut Vec<(WindowSpec, Pos)>,
        qualifiers: &mut Vec<Ident>,
    ) -> Result<(), SqlError> {
        let t = self.peek().clone();
        if (t.is_kw("FLOOR") || t.is_kw("STEP")) && self.peek_at(1).is_sym("(") {
            let w = self.parse_window(qualifiers)?;
            windows.push((w, t.pos));
            return Ok(());
        }
        if !matches!(t.tok, Tok::Ident { .. }) {
            return Err(SqlError::unsupported(
                t.pos,
                format!("GROUP BY expression {}", t.describe()),
            ));
        }
        if self.peek_at(1).is_sym("(") {
            return Err(SqlError::unsupported(
                t.pos,
                format!("function {} in GROUP BY", t.describe()),
            ));
        }
        match self.column_ref(qualifiers)? {
            Ref::Rowtime => Err(SqlError::new(
                t.pos,
                "GROUP BY ROWTIME makes a group per row: use FLOOR(S.ROWTIME TO MINUTE) or \
                 STEP(S.ROWTIME BY INTERVAL '60' SECOND)",
            )),
            Ref::Column(c) if group_by.iter().any(|g| g.same_as(&c)) => Err(SqlError::new(
                c.pos,
                format!("{} is twice in GROUP BY", c.sql()),
            )),
            Ref::Column(c) => {
                group_by.push(c);
                Ok(())
            }
        }
    }

    /// Qualifiers must name the source (or its alias).
    pub(super) fn check_qualifiers(
        &self,
        qualifiers: Vec<Ident>,
        source: &Ident,
        source_alias: Option<&Ident>,
    ) -> Result<(), SqlError> {
        for q in qualifiers {
            let ok = q.same_as(source) || source_alias.is_some_and(|a| q.same_as(a));
            if !ok {
                return Err(SqlError::new(
                    q.pos,
                    format!(
                        "unknown stream {}: the query reads {}",
                        q.sql(),
                        source.sql()
                    ),
                ));
            }
        }
        Ok(())
    }

    pub(super) fn parse_select_item(
        &mut self,
        qualifiers: &mut Vec<Ident>,
    ) -> Result<SelectValue, SqlError> {
        let t = self.peek().clone();
        if t.is_sym("*") {
            return Err(SqlError::unsupported(
                t.pos,
                "SELECT STREAM * (a filter without aggregation)",
            ));
        }
        let Tok::Ident { text, quoted } = &t.tok else {
            // A literal, `(...)` or `-x`: a scalar expression (per-row pumps).
            return Ok(SelectValue::Expr(self.parse_expr(qualifiers)?, t.pos));
        };
        if !quoted && self.peek_at(1).is_sym("(") {
            let upper = text.to_ascii_uppercase();
            if AGGREGATES.contains(&upper.as_str()) {
                let start = self.i;
                let (func, arg) = match self.parse_aggregate(qualifiers) {
                    Ok(SelectItem::Aggregate { func, column }) if self.peek().is_kw("OVER") => {
                        (func, column.map(Expr::Column))
                    }
                    Ok(agg) => return Ok(SelectValue::Item(agg)),
                    Err(e) => {
                        // `AVG(Change / (Price - Change)) OVER W1`: a sliding aggregate takes an
                        // expression.
                        self.i = start;
                        match self.aggregate_of_expr(qualifiers)? {
                            Some(found) if self.peek().is_kw("OVER") => found,
                            _ => return Err(e),
                        }
                    }
                };
                let over = self.next().pos;
                let window = self.parse_over(qualifiers)?;
                return Ok(SelectValue::Over(func, arg, window, over));
            }
            if upper == "FLOOR" || upper == "STEP" {
                let w = self.parse_window(qualifiers)?;
                // Checked against the GROUP BY window in `assemble`.
                self.pending_windows.push((w, t.pos));
                return Ok(SelectValue::Item(SelectItem::WindowStart));
            }
            return Ok(SelectValue::Expr(self.parse_expr(qualifiers)?, t.pos));
        }
        if self.row_field_ahead() {
            return Ok(SelectValue::Expr(self.parse_expr(qualifiers)?, t.pos));
        }
        let start = self.i;
        let column = self.column_ref(qualifiers)?;
        let t_next = self.peek();
        let alone = t_next.is_sym(",")
            || matches!(t_next.tok, Tok::Ident { .. } | Tok::Eof)
            || t_next.is_sym(";");
        if !alone || (!quoted && is_expression_word(text)) {
            // `col - 1`, `EVENT_TIME - INTERVAL ...`, `CURRENT_ROW_TIMESTAMP`: read it again
            // as an expression.
            self.i = start;
            return Ok(SelectValue::Expr(self.parse_expr(qualifiers)?, t.pos));
        }
        match column {
            Ref::Rowtime => Ok(SelectValue::Rowtime),
            Ref::Column(c) => Ok(SelectValue::Item(SelectItem::Column(c))),
        }
    }

    pub(super) fn parse_aggregate(
        &mut self,
        qualifiers: &mut Vec<Ident>,
    ) -> Result<SelectItem, SqlError> {
        let name_tok = self.next();
        let upper = name_tok.describe();
        self.expect_sym("(")?;
        let mut func = match upper.as_str() {
            "COUNT" => AggFunc::Count,
            "SUM" => AggFunc::Sum,
            "MIN" => AggFunc::Min,
            "MAX" => AggFunc::Max,
            _ => AggFunc::Avg,
        };
        let column;
        if self.peek().is_sym("*") {
            if func != AggFunc::Count {
                return Err(SqlError::new(
                    self.peek().pos,
                    format!("{upper}(*) is not valid SQL"),
                ));
            }
            self.i += 1;
            func = AggFunc::CountStar;
            column = None;
        } else {
            if self.peek().is_kw("DISTINCT") {
                if func != AggFunc::Count {
                    return Err(SqlError::unsupported(
                        self.peek().pos,
                        format!("{upper}(DISTINCT ...)"),
                    ));
                }
                self.i += 1;
                func = AggFunc::CountDistinct;
            } else {
                self.eat_kw("ALL");
            }
            let t = self.peek().clone();
            if !matches!(t.tok, Tok::Ident { .. }) || self.peek_at(1).is_sym("(") {
                return Err(SqlError::unsupported(
                    t.pos,
                    format!("argument {} of {upper} (only a column)", t.describe()),
                ));
            }
            match self.column_ref(qualifiers)? {
                Ref::Rowtime => {
                    return Err(SqlError::unsupported(t.pos, format!("{upper}(ROWTIME)")));
                }
                Ref::Column(c) => column = Some(c),
            }
        }
        if !self.peek().is_sym(")") {
            let t = self.peek();
            return Err(SqlError::unsupported(
                t.pos,
                format!(
                    "expression in {upper}(...) at {} (only a column)",
                    t.describe()
                ),
            ));
        }
        self.i += 1;
        if self.peek().is_kw("FILTER") {
            return Err(SqlError::unsupported(self.peek().pos, "clause FILTER"));
        }
        Ok(SelectItem::Aggregate { func, column })
    }

    /// `col`, `"col"`, `S."col"`, `ROWTIME`, `S.ROWTIME`.
    pub(super) fn column_ref(&mut self, qualifiers: &mut Vec<Ident>) -> Result<Ref, SqlError> {
        let first = self.ident("a column name")?;
        let col = if self.eat_sym(".") {
            if let Some(reference) = self.reference_column(&first)? {
                return Ok(reference);
            }
            qualifiers.push(first);
            let second = self.ident("a column name after '.'")?;
            if self.peek().is_sym(".") {
                return Err(SqlError::unsupported(
                    self.peek().pos,
                    "nested column reference (a.b.c)",
                ));
            }
            second
        } else {
            first
        };
        if col.kda_name() == "ROWTIME" {
            return Ok(Ref::Rowtime);
        }
        Ok(Ref::Column(col))
    }
}

/// Words that start an expression although they look like a column name.
fn is_expression_word(word: &str) -> bool {
    [
        "CURRENT_ROW_TIMESTAMP",
        "TRUE",
        "FALSE",
        "NULL",
        "TIMESTAMP",
    ]
    .iter()
    .any(|w| word.eq_ignore_ascii_case(w))
}

impl Parser {
    /// `SUM(expr)`, `AVG(expr)`, ...: an aggregate of an expression, or `None` when the call is
    /// not one (`COUNT(*)`, `DISTINCT`).
    fn aggregate_of_expr(
        &mut self,
        q: &mut Vec<Ident>,
    ) -> Result<Option<(AggFunc, Option<Expr>)>, SqlError> {
        let func = match self.next().describe().as_str() {
            "COUNT" => AggFunc::Count,
            "SUM" => AggFunc::Sum,
            "MIN" => AggFunc::Min,
            "MAX" => AggFunc::Max,
            _ => AggFunc::Avg,
        };
        self.expect_sym("(")?;
        if self.peek().is_sym("*") || self.peek().is_kw("DISTINCT") {
            return Ok(None);
        }
        let arg = self.parse_expr(q)?;
        self.expect_sym(")")?;
        Ok(Some((func, Some(arg))))
    }
}
