//! Recursive-descent parser for the KDA subset. It validates as it goes, so what comes out is a
//! plan the engine can run; anything else is an error at the offending token.

mod chain;
mod expr;
mod functions;
mod join;
mod log_parse;
mod over;
mod pump;
mod rows;
mod select;
mod stagger;
mod stream;
mod table_funcs;
mod window;

use super::lexer::{Tok, Token};
use super::{
    AggFunc, Application, Expr, Ident, OverSpec, Pos, SelectItem, SqlError, SqlType, StaggerKey,
    WindowSpec,
};

/// Words that end a select item / source alias, and clauses we name in "unsupported" errors.
const CLAUSE_WORDS: &[&str] = &[
    "FROM",
    "WHERE",
    "GROUP",
    "HAVING",
    "ORDER",
    "WINDOW",
    "WINDOWED",
    "UNION",
    "INTERSECT",
    "EXCEPT",
    "JOIN",
    "INNER",
    "LEFT",
    "RIGHT",
    "FULL",
    "CROSS",
    "NATURAL",
    "LIMIT",
    "FETCH",
    "OFFSET",
    "ON",
    "USING",
    "OVER",
    "PARTITION",
];

const AGGREGATES: &[&str] = &["COUNT", "SUM", "MIN", "MAX", "AVG"];

pub struct Parser {
    toks: Vec<Token>,
    i: usize,
    /// Window expressions met in the select list, checked against the GROUP BY one.
    pending_windows: Vec<(WindowSpec, Pos)>,
    /// The end of a SELECT without GROUP BY, once one was assembled as a per-row pump.
    row_pump_end: Pos,
    /// Subqueries in FROM, each named `$subquery<n>`: per-row pumps in front of their query.
    subqueries: Vec<(Ident, Select)>,
    /// A `TOP_K_ITEMS_TUMBLING` call in FROM, until its pump is assembled.
    top_k: Option<table_funcs::PendingTopK>,
    /// A JOIN with a reference table in FROM, until its pump is assembled.
    join: Option<join::PendingJoin>,
    /// The joined table's name and alias in the SELECT being read (`"c"."Company"`).
    join_names: Vec<Ident>,
}

/// A column reference or ROWTIME, as met in the text; qualifiers are checked once FROM is known.
enum Ref {
    Rowtime,
    Column(Ident),
}

struct StreamDecl {
    name: Ident,
    columns: Vec<(Ident, SqlType)>,
}

struct PumpDecl {
    name: Ident,
    target: Ident,
    target_columns: Option<Vec<Ident>>,
    select: Select,
}

struct Select {
    pos: Pos,
    /// Where the query ends (for "query without GROUP BY" errors).
    end: Pos,
    items: Vec<(SelectValue, Pos)>,
    source: Ident,
    filter: Option<Expr>,
    group_by: Vec<Ident>,
    /// `None` for a pump without GROUP BY (a per-row pump).
    window: Option<WindowSpec>,
    /// Further STEP/FLOOR expressions of GROUP BY: group keys (AWS's two-window pattern).
    time_groups: Vec<WindowSpec>,
    /// `WINDOW W1 AS (...)`: sliding windows for OVER.
    named_windows: Vec<(Ident, OverSpec)>,
    /// Each select item's `AS` alias (names a subquery's columns).
    aliases: Vec<Option<Ident>>,
    /// `WINDOWED BY STAGGER (PARTITION BY ... RANGE INTERVAL ...)`: keys, range, and where.
    stagger: Option<(Vec<StaggerKey>, std::time::Duration, Pos)>,
}

enum SelectValue {
    Item(SelectItem),
    /// `ROWTIME` in the select list: every output row carries it anyway.
    Rowtime,
    /// A scalar expression (`REGEX_REPLACE(..)`, `price * 2`): per-row pumps only.
    Expr(Expr, Pos),
    /// An aggregate over a sliding window (`COUNT(*) OVER W1`): the function, its argument, the
    /// window and where OVER is.
    Over(AggFunc, Option<Expr>, OverRef, Pos),
}

/// The window of an OVER: named in the WINDOW clause, or written inline.
enum OverRef {
    Named(Ident),
    Inline(OverSpec),
}

impl Parser {
    pub fn new(toks: Vec<Token>) -> Parser {
        Parser {
            toks,
            i: 0,
            pending_windows: Vec::new(),
            row_pump_end: Pos::default(),
            subqueries: Vec::new(),
            top_k: None,
            join: None,
            join_names: Vec::new(),
        }
    }

    fn peek(&self) -> &Token {
        &self.toks[self.i.min(self.toks.len() - 1)]
    }

    fn peek_at(&self, n: usize) -> &Token {
        &self.toks[(self.i + n).min(self.toks.len() - 1)]
    }

    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        if self.i < self.toks.len() - 1 {
            self.i += 1;
        }
        t
    }

    pub fn at_eof(&self) -> bool {
        matches!(self.peek().tok, Tok::Eof)
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.peek().is_kw(kw) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn eat_sym(&mut self, s: &str) -> bool {
        if self.peek().is_sym(s) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expected(&self, what: &str) -> SqlError {
        let t = self.peek();
        SqlError::new(t.pos, format!("expected {what}, found {}", t.describe()))
    }

    fn expect_kw(&mut self, kw: &str) -> Result<Pos, SqlError> {
        let pos = self.peek().pos;
        if self.eat_kw(kw) {
            Ok(pos)
        } else {
            Err(self.expected(kw))
        }
    }

    fn expect_sym(&mut self, s: &str) -> Result<Pos, SqlError> {
        let pos = self.peek().pos;
        if self.eat_sym(s) {
            Ok(pos)
        } else {
            Err(self.expected(&format!("'{s}'")))
        }
    }

    fn ident(&mut self, what: &str) -> Result<Ident, SqlError> {
        let t = self.peek().clone();
        match t.tok {
            Tok::Ident { text, quoted } => {
                self.i += 1;
                Ok(Ident {
                    name: text,
                    quoted,
                    pos: t.pos,
                })
            }
            _ => Err(self.expected(what)),
        }
    }

    fn is_clause_word(t: &Token) -> bool {
        CLAUSE_WORDS.iter().any(|w| t.is_kw(w))
    }

    /// Names the clause a stray token starts, for "unsupported clause X" errors.
    fn clause_name(&self) -> String {
        let t = self.peek();
        let word = t.describe();
        let join_words = ["INNER", "LEFT", "RIGHT", "FULL", "CROSS", "NATURAL"];
        if join_words.iter().any(|w| t.is_kw(w)) {
            "clause JOIN".to_string()
        } else if ["GROUP", "ORDER", "PARTITION"].iter().any(|w| t.is_kw(w)) {
            format!("clause {word} BY")
        } else {
            format!("clause {word}")
        }
    }

    // ---- statements -------------------------------------------------------------------------

    /// `CREATE STREAM …; CREATE PUMP …;` in any order: streams, and pumps that chain them.
    pub fn parse_application(&mut self) -> Result<Application, SqlError> {
        let mut streams: Vec<StreamDecl> = Vec::new();
        let mut pumps: Vec<PumpDecl> = Vec::new();
        self.refuse_machine_learning()?;
        loop {
            while self.eat_sym(";") {}
            if self.at_eof() {
                break;
            }
            let start = self.peek().clone();
            if start.is_kw("CREATE") {
                self.i += 1;
                if self.eat_kw("OR") {
                    self.expect_kw("REPLACE")?;
                }
                let what = self.peek().clone();
                if what.is_kw("STREAM") {
                    self.i += 1;
                    let decl = self.parse_stream()?;
                    if let Some(prev) = streams.iter().find(|s| s.name.same_as(&decl.name)) {
                        return Err(SqlError::new(
                            decl.name.pos,
                            format!(
                                "stream {} is created twice (first at line {})",
                                decl.name.sql(),
                                prev.name.pos.line
                            ),
                        ));
                    }
                    streams.push(decl);
                } else if what.is_kw("PUMP") {
                    self.i += 1;
                    pumps.push(self.parse_pump()?);
                } else {
                    return Err(SqlError::unsupported(
                        what.pos,
                        format!("statement CREATE {}", what.describe()),
                    ));
                }
            } else if start.is_kw("SELECT") {
                return Err(SqlError::new(
                    start.pos,
                    "a SELECT must feed a stream: write CREATE OR REPLACE STREAM \"DESTINATION_SQL_STREAM\" (...); \
                     CREATE OR REPLACE PUMP \"STREAM_PUMP\" AS INSERT INTO \"DESTINATION_SQL_STREAM\" SELECT STREAM ...",
                ));
            } else {
                return Err(SqlError::unsupported(
                    start.pos,
                    format!("statement {}", start.describe()),
                ));
            }
            if !self.at_eof() && !self.peek().is_sym(";") {
                if Self::is_clause_word(self.peek()) {
                    return Err(SqlError::unsupported(self.peek().pos, self.clause_name()));
                }
                return Err(self.expected("';' or end of input"));
            }
        }
        let end = self.peek().pos;
        if pumps.is_empty() {
            return Err(SqlError::new(
                end,
                "no CREATE PUMP ... AS INSERT INTO ... SELECT STREAM ...: nothing would run",
            ));
        }
        let app = self.assemble_chain(streams, pumps)?;
        // Whatever path assembled the pumps, a JOIN or TOP_K_ITEMS_TUMBLING that no pump took
        // is refused, not dropped.
        self.check_top_k_taken()?;
        self.check_join_taken()?;
        Ok(app)
    }

    /// `( SELECT STREAM ... )` in FROM: kept as a per-row pump writing a stream named
    /// `$subquery<n>`, which the query reads.
    fn subquery(&mut self) -> Result<Ident, SqlError> {
        let pos = self.expect_sym("(")?;
        let select = self.parse_select()?;
        self.expect_sym(")")?;
        let name = Ident {
            name: format!("$subquery{}", self.subqueries.len() + 1),
            quoted: true,
            pos,
        };
        self.subqueries.push((name.clone(), select));
        Ok(name)
    }
}

pub use pump::sql_timestamp;
