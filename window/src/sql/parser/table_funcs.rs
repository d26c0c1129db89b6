//! Table functions in FROM: `TABLE(TOP_K_ITEMS_TUMBLING(CURSOR(SELECT STREAM * FROM src),
//! 'column', k, seconds))` ("TOP_K_ITEMS_TUMBLING Function", KDA SQL Reference) runs; the
//! machine-learning functions (`RANDOM_CUT_FOREST`, `RANDOM_CUT_FOREST_WITH_EXPLANATION`,
//! `HOTSPOTS`) and any other table function are refused with the reason.

use std::time::Duration;

use super::rows::{check_names, insert_targets};
use super::{Parser, PumpDecl, StreamDecl};
use crate::sql::lexer::Tok;
use crate::sql::refused::{machine_learning_error, MACHINE_LEARNING};
use crate::sql::topk::TopKPlan;
use crate::sql::{Expr, Ident, Literal, Pos, RowPlan, SqlError};

impl RowPlan {
    /// A plan whose columns are filled by its window (stagger, top-K), not by expressions:
    /// each column's expression is a NULL placeholder.
    pub(super) fn computed_elsewhere(
        stream: StreamDecl,
        pump: &Ident,
        source: &Ident,
        filter: Option<Expr>,
    ) -> RowPlan {
        RowPlan {
            destination: stream.name.kda_name(),
            pump: pump.kda_name(),
            source: source.kda_name(),
            columns: stream
                .columns
                .into_iter()
                .map(|(c, ty)| (c.name, ty, Expr::Literal(Literal::Null)))
                .collect(),
            filter,
            sliding: Vec::new(),
            derived: false,
            stagger: None,
            top_k: None,
            join: None,
            upstream: Vec::new(),
        }
    }
}

/// A `TOP_K_ITEMS_TUMBLING` call met in FROM, waiting for its pump to be assembled.
pub(in crate::sql) struct PendingTopK {
    plan: TopKPlan,
    /// The SELECT it belongs to (its position), so only that pump takes it.
    select: Pos,
}

impl Parser {
    /// Refuses an application that calls a machine-learning function anywhere, before any other
    /// error can hide the reason (its other pumps often use what is not supported either).
    pub(super) fn refuse_machine_learning(&self) -> Result<(), SqlError> {
        let call = self
            .toks
            .windows(2)
            .find(|w| w[1].is_sym("(") && MACHINE_LEARNING.iter().any(|name| w[0].is_kw(name)));
        match call {
            Some(w) => Err(machine_learning_error(&w[0])),
            None => Ok(()),
        }
    }

    /// `SELECT STREAM * FROM TABLE(...)`: the `*` stands for the table function's columns.
    pub(super) fn star_from_table(&self) -> bool {
        self.peek().is_sym("*")
            && self.peek_at(1).is_kw("FROM")
            && self.peek_at(2).is_kw("TABLE")
            && self.peek_at(3).is_sym("(")
    }

    /// After FROM, at `TABLE (`: the table function. Returns the stream its cursor reads.
    pub(super) fn table_function(&mut self, select: Pos) -> Result<Ident, SqlError> {
        self.expect_kw("TABLE")?;
        self.expect_sym("(")?;
        let name_tok = self.peek().clone();
        let name = name_tok.describe();
        if name != "TOP_K_ITEMS_TUMBLING" {
            return Err(SqlError::unsupported(
                name_tok.pos,
                format!("table function {name} (only TOP_K_ITEMS_TUMBLING)"),
            ));
        }
        if self.top_k.is_some() {
            return Err(SqlError::unsupported(
                name_tok.pos,
                "a second TOP_K_ITEMS_TUMBLING in the application (one, in the last pump)",
            ));
        }
        self.i += 1;
        self.expect_sym("(")?;
        let source = self.cursor()?;
        self.expect_sym(",")?;
        let column = self.top_k_column()?;
        self.expect_sym(",")?;
        let k = self.whole_number("K", 1, 100_000)?;
        self.expect_sym(",")?;
        let seconds = self.whole_number("the window size in seconds", 1, 3_600)?;
        // The SQL Reference's syntax shows a trailing comma after the window size.
        self.eat_sym(",");
        self.expect_sym(")")?;
        self.expect_sym(")")?;
        self.top_k = Some(PendingTopK {
            plan: TopKPlan {
                column,
                k: k as usize,
                window: Duration::from_secs(seconds),
                item_index: 0,
            },
            select,
        });
        Ok(source)
    }

    /// `CURSOR(SELECT STREAM * FROM "stream")`.
    fn cursor(&mut self) -> Result<Ident, SqlError> {
        self.expect_kw("CURSOR")?;
        self.expect_sym("(")?;
        self.expect_kw("SELECT")?;
        self.expect_kw("STREAM")?;
        if !self.eat_sym("*") {
            return Err(SqlError::unsupported(
                self.peek().pos,
                format!(
                    "{} in CURSOR(SELECT STREAM ...) (only CURSOR(SELECT STREAM * FROM \"stream\"); \
                     filter in a pump in front)",
                    self.peek().describe()
                ),
            ));
        }
        self.expect_kw("FROM")?;
        let source = self.ident("the stream the cursor reads")?;
        self.expect_sym(")")?;
        Ok(source)
    }

    /// `'column'`: a column name in single quotes, matched as a quoted name, then ignoring case.
    fn top_k_column(&mut self) -> Result<Ident, SqlError> {
        let t = self.peek().clone();
        let Tok::Str(name) = &t.tok else {
            return Err(self.expected("the column name in single quotes ('TICKER_SYMBOL')"));
        };
        self.i += 1;
        Ok(Ident {
            name: name.clone(),
            quoted: false,
            pos: t.pos,
        })
    }

    fn whole_number(&mut self, what: &str, min: u64, max: u64) -> Result<u64, SqlError> {
        let t = self.peek().clone();
        let n = match &t.tok {
            Tok::Num(n) => n.parse::<u64>().ok(),
            _ => None,
        };
        match n {
            Some(n) if (min..=max).contains(&n) => {
                self.i += 1;
                Ok(n)
            }
            _ => Err(SqlError::new(
                t.pos,
                format!(
                    "{what} must be a whole number from {min} to {max} (TOP_K_ITEMS_TUMBLING), found {}",
                    t.describe()
                ),
            )),
        }
    }

    /// The pending TOP_K_ITEMS_TUMBLING call of this pump's SELECT, if it has one.
    pub(super) fn take_top_k(&mut self, pump: &PumpDecl) -> Option<TopKPlan> {
        match &self.top_k {
            Some(p) if p.select == pump.select.pos => self.top_k.take().map(|p| p.plan),
            _ => None,
        }
    }

    /// A top-K pump: `SELECT STREAM *` of the function's two columns, the item and its count,
    /// into the destination's two columns.
    pub(super) fn assemble_top_k(
        &mut self,
        stream: StreamDecl,
        pump: PumpDecl,
        mut plan: TopKPlan,
    ) -> Result<RowPlan, SqlError> {
        let sel = pump.select;
        check_names(&stream, &pump.target, &sel.source)?;
        if let Some((_, pos)) = sel.items.first() {
            return Err(SqlError::unsupported(
                *pos,
                "a select list on TOP_K_ITEMS_TUMBLING (write SELECT STREAM *: its columns are \
                 the item and its count)",
            ));
        }
        let order = insert_targets(&stream, &pump.target, pump.target_columns.as_deref())?;
        if order.len() != 2 {
            return Err(SqlError::new(
                stream.name.pos,
                format!(
                    "TOP_K_ITEMS_TUMBLING gives two columns (the item and its count) but {} has {}",
                    stream.name.sql(),
                    stream.columns.len()
                ),
            ));
        }
        plan.item_index = order[0];
        Ok(RowPlan {
            top_k: Some(plan),
            ..RowPlan::computed_elsewhere(stream, &pump.name, &sel.source, sel.filter)
        })
    }

    /// A TOP_K_ITEMS_TUMBLING call that no pump took (it feeds another pump).
    pub(super) fn check_top_k_taken(&self) -> Result<(), SqlError> {
        match &self.top_k {
            Some(p) => Err(SqlError::unsupported(
                p.plan.column.pos,
                "TOP_K_ITEMS_TUMBLING feeding another pump (only in the last pump)",
            )),
            None => Ok(()),
        }
    }
}
