//! Recursive-descent parser for the KDA subset. It validates as it goes, so what comes out is a
//! plan the engine can run; anything else is an error at the offending token.

use std::time::Duration;

mod functions;
mod rows;

use super::lexer::{Tok, Token};
use super::{
    AggFunc, Application, BinOp, Expr, Ident, Literal, OutputColumn, Pos, SelectItem, SqlError,
    SqlPlan, SqlType, TimeBasis, UnOp, WindowSpec,
};

/// Words that end a select item / source alias, and clauses we name in "unsupported" errors.
const CLAUSE_WORDS: &[&str] = &[
    "FROM",
    "WHERE",
    "GROUP",
    "HAVING",
    "ORDER",
    "WINDOW",
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
}

enum SelectValue {
    Item(SelectItem),
    /// `ROWTIME` in the select list: every output row carries it anyway.
    Rowtime,
}

fn unit_seconds(tok: &Token) -> Option<u64> {
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

impl Parser {
    pub fn new(toks: Vec<Token>) -> Parser {
        Parser {
            toks,
            i: 0,
            pending_windows: Vec::new(),
            row_pump_end: Pos::default(),
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

    /// `CREATE STREAM …; CREATE PUMP …;` in any order, one of each.
    pub fn parse_application(&mut self) -> Result<Application, SqlError> {
        let mut stream: Option<StreamDecl> = None;
        let mut pump: Option<PumpDecl> = None;
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
                    if stream.is_some() {
                        return Err(SqlError::unsupported(
                            start.pos,
                            "second CREATE STREAM (in-application streams chained by several pumps)",
                        ));
                    }
                    stream = Some(decl);
                } else if what.is_kw("PUMP") {
                    self.i += 1;
                    let decl = self.parse_pump()?;
                    if pump.is_some() {
                        return Err(SqlError::unsupported(start.pos, "second CREATE PUMP"));
                    }
                    pump = Some(decl);
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
        let Some(pump) = pump else {
            return Err(SqlError::new(
                end,
                "no CREATE PUMP ... AS INSERT INTO ... SELECT STREAM ...: nothing would run",
            ));
        };
        let Some(stream) = stream else {
            return Err(SqlError::new(
                pump.target.pos,
                format!(
                    "stream {} is not declared: add CREATE OR REPLACE STREAM {} (col type, ...)",
                    pump.target.sql(),
                    pump.target.sql()
                ),
            ));
        };
        match pump.select.window.clone() {
            Some(window) => self
                .assemble(stream, pump, window)
                .map(Application::Windowed),
            None => self.assemble_rows(stream, pump).map(Application::PerRow),
        }
    }

    fn parse_stream(&mut self) -> Result<StreamDecl, SqlError> {
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

    fn integer(&mut self, what: &str) -> Result<u64, SqlError> {
        let t = self.peek().clone();
        if let Tok::Num(n) = &t.tok {
            if let Ok(v) = n.parse::<u64>() {
                self.i += 1;
                return Ok(v);
            }
        }
        Err(self.expected(&format!("{what} (a positive integer)")))
    }

    fn parse_pump(&mut self) -> Result<PumpDecl, SqlError> {
        let name = self.ident("a pump name")?;
        self.expect_kw("AS")?;
        self.expect_kw("INSERT")?;
        self.expect_kw("INTO")?;
        let target = self.ident("the destination stream name")?;
        let mut target_columns = None;
        if self.eat_sym("(") {
            let mut cols = Vec::new();
            loop {
                cols.push(self.ident("a column name")?);
                if !self.eat_sym(",") {
                    break;
                }
            }
            self.expect_sym(")")?;
            target_columns = Some(cols);
        }
        let select = self.parse_select()?;
        Ok(PumpDecl {
            name,
            target,
            target_columns,
            select,
        })
    }

    // ---- SELECT -----------------------------------------------------------------------------

    fn parse_select(&mut self) -> Result<Select, SqlError> {
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
        let mut items = Vec::new();
        let mut qualifiers: Vec<Ident> = Vec::new();
        loop {
            let item_pos = self.peek().pos;
            let value = self.parse_select_item(&mut qualifiers)?;
            // Optional alias; in a pump the destination's declaration names the columns.
            let aliased = self.eat_kw("AS");
            if aliased
                || (matches!(self.peek().tok, Tok::Ident { .. })
                    && !Self::is_clause_word(self.peek()))
            {
                self.ident("an alias")?;
            }
            items.push((value, item_pos));
            if !self.eat_sym(",") {
                break;
            }
        }
        if !self.peek().is_kw("FROM") {
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
            return Err(self.expected("FROM"));
        }
        self.i += 1;
        let source = self.ident("the source stream name")?;
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
        let mut source_alias = None;
        let aliased = self.eat_kw("AS");
        if aliased
            || (matches!(self.peek().tok, Tok::Ident { .. }) && !Self::is_clause_word(self.peek()))
        {
            source_alias = Some(self.ident("an alias")?);
        }
        if self.peek().is_sym(",") {
            return Err(SqlError::unsupported(
                self.peek().pos,
                "clause JOIN (several streams in FROM)",
            ));
        }
        let join_words = ["JOIN", "INNER", "LEFT", "RIGHT", "FULL", "CROSS", "NATURAL"];
        if join_words.iter().any(|w| self.peek().is_kw(w)) {
            return Err(SqlError::unsupported(self.peek().pos, "clause JOIN"));
        }
        let filter = if self.eat_kw("WHERE") {
            Some(self.parse_expr(&mut qualifiers)?)
        } else {
            None
        };
        if !self.peek().is_kw("GROUP") {
            let t = self.peek();
            if Self::is_clause_word(t) {
                return Err(SqlError::unsupported(t.pos, self.clause_name()));
            }
            if matches!(t.tok, Tok::Eof) || t.is_sym(";") {
                let end = t.pos;
                self.check_qualifiers(qualifiers, &source, source_alias.as_ref())?;
                return Ok(Select {
                    pos,
                    end,
                    items,
                    source,
                    filter,
                    group_by: Vec::new(),
                    window: None,
                    time_groups: Vec::new(),
                });
            }
            return Err(self.expected("GROUP BY"));
        }
        self.i += 1;
        self.expect_kw("BY")?;
        let mut group_by: Vec<Ident> = Vec::new();
        let mut windows: Vec<(WindowSpec, Pos)> = Vec::new();
        loop {
            let t = self.peek().clone();
            if (t.is_kw("FLOOR") || t.is_kw("STEP")) && self.peek_at(1).is_sym("(") {
                let w = self.parse_window(&mut qualifiers)?;
                windows.push((w, t.pos));
            } else if matches!(t.tok, Tok::Ident { .. }) && !self.peek_at(1).is_sym("(") {
                match self.column_ref(&mut qualifiers)? {
                    Ref::Rowtime => {
                        return Err(SqlError::new(
                            t.pos,
                            "GROUP BY ROWTIME makes a group per row: use FLOOR(S.ROWTIME TO MINUTE) or \
                             STEP(S.ROWTIME BY INTERVAL '60' SECOND)",
                        ))
                    }
                    Ref::Column(c) => {
                        if group_by.iter().any(|g| g.same_as(&c)) {
                            return Err(SqlError::new(c.pos, format!("{} is twice in GROUP BY", c.sql())));
                        }
                        group_by.push(c);
                    }
                }
            } else if matches!(t.tok, Tok::Ident { .. }) {
                return Err(SqlError::unsupported(
                    t.pos,
                    format!("function {} in GROUP BY", t.describe()),
                ));
            } else {
                return Err(SqlError::unsupported(
                    t.pos,
                    format!("GROUP BY expression {}", t.describe()),
                ));
            }
            if !self.eat_sym(",") {
                break;
            }
        }
        let Some((window, time_groups)) = super::windows::split_windows(windows)? else {
            return Err(SqlError::new(
                pos,
                "GROUP BY has no window expression over ROWTIME or a TIMESTAMP column: the groups would \
                 never close. Add FLOOR(S.ROWTIME TO MINUTE) or STEP(S.ROWTIME BY INTERVAL '60' SECOND)",
            ));
        };
        if Self::is_clause_word(self.peek()) {
            return Err(SqlError::unsupported(self.peek().pos, self.clause_name()));
        }
        self.check_qualifiers(qualifiers, &source, source_alias.as_ref())?;
        let end = self.peek().pos;
        Ok(Select {
            pos,
            end,
            items,
            source,
            filter,
            group_by,
            window: Some(window),
            time_groups,
        })
    }

    /// Qualifiers must name the source (or its alias).
    fn check_qualifiers(
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

    fn parse_select_item(&mut self, qualifiers: &mut Vec<Ident>) -> Result<SelectValue, SqlError> {
        let t = self.peek().clone();
        if t.is_sym("*") {
            return Err(SqlError::unsupported(
                t.pos,
                "SELECT STREAM * (a filter without aggregation)",
            ));
        }
        let Tok::Ident { text, quoted } = &t.tok else {
            return Err(SqlError::unsupported(
                t.pos,
                format!(
                    "select expression {} (only aggregates, GROUP BY columns and the window)",
                    t.describe()
                ),
            ));
        };
        if !quoted && self.peek_at(1).is_sym("(") {
            let upper = text.to_ascii_uppercase();
            if AGGREGATES.contains(&upper.as_str()) {
                return Ok(SelectValue::Item(self.parse_aggregate(qualifiers)?));
            }
            if upper == "FLOOR" || upper == "STEP" {
                let w = self.parse_window(qualifiers)?;
                // Checked against the GROUP BY window in `assemble`.
                self.pending_windows.push((w, t.pos));
                return Ok(SelectValue::Item(SelectItem::WindowStart));
            }
            return Err(SqlError::unsupported(
                t.pos,
                format!("function {upper} in the select list"),
            ));
        }
        match self.column_ref(qualifiers)? {
            Ref::Rowtime => Ok(SelectValue::Rowtime),
            Ref::Column(c) => Ok(SelectValue::Item(SelectItem::Column(c))),
        }
    }

    fn parse_aggregate(&mut self, qualifiers: &mut Vec<Ident>) -> Result<SelectItem, SqlError> {
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
        if self.peek().is_kw("OVER") {
            return Err(SqlError::unsupported(
                self.peek().pos,
                "clause OVER (sliding windows)",
            ));
        }
        if self.peek().is_kw("FILTER") {
            return Err(SqlError::unsupported(self.peek().pos, "clause FILTER"));
        }
        Ok(SelectItem::Aggregate { func, column })
    }

    /// `col`, `"col"`, `S."col"`, `ROWTIME`, `S.ROWTIME`.
    fn column_ref(&mut self, qualifiers: &mut Vec<Ident>) -> Result<Ref, SqlError> {
        let first = self.ident("a column name")?;
        let col = if self.eat_sym(".") {
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

    /// `FLOOR((S.ROWTIME - TIMESTAMP '1970-01-01 00:00:00') SECOND / 60 TO SECOND)`,
    /// `FLOOR(S.ROWTIME TO MINUTE)`, `STEP(S.ROWTIME BY INTERVAL '60' SECOND)`, or the same over a
    /// TIMESTAMP column.
    fn parse_window(&mut self, qualifiers: &mut Vec<Ident>) -> Result<WindowSpec, SqlError> {
        let name = self.next();
        self.expect_sym("(")?;
        if name.is_kw("STEP") {
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
            if self.peek().is_kw("TO") {
                return Err(SqlError::unsupported(
                    self.peek().pos,
                    "compound interval (... TO ...)",
                ));
            }
            self.expect_sym(")")?;
            return Ok(WindowSpec {
                time,
                size: Duration::from_secs(n * secs),
            });
        }
        // FLOOR
        if self.peek().is_sym("(") {
            // (time - TIMESTAMP '1970-01-01 00:00:00') UNIT [/ N] TO UNIT
            self.i += 1;
            let time = self.time_ref(qualifiers)?;
            self.expect_sym("-")?;
            self.expect_kw("TIMESTAMP")?;
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
            return Ok(WindowSpec {
                time,
                size: Duration::from_secs(n * secs),
            });
        }
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
        Ok(WindowSpec {
            time,
            size: Duration::from_secs(secs),
        })
    }

    fn time_ref(&mut self, qualifiers: &mut Vec<Ident>) -> Result<TimeBasis, SqlError> {
        if !matches!(self.peek().tok, Tok::Ident { .. }) {
            return Err(self.expected("ROWTIME or a TIMESTAMP column"));
        }
        match self.column_ref(qualifiers)? {
            Ref::Rowtime => Ok(TimeBasis::Rowtime),
            Ref::Column(c) => Ok(TimeBasis::Column(c)),
        }
    }

    // ---- WHERE expressions ------------------------------------------------------------------

    fn parse_expr(&mut self, q: &mut Vec<Ident>) -> Result<Expr, SqlError> {
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

    fn parse_and(&mut self, q: &mut Vec<Ident>) -> Result<Expr, SqlError> {
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

    fn parse_not(&mut self, q: &mut Vec<Ident>) -> Result<Expr, SqlError> {
        if self.eat_kw("NOT") {
            let e = self.parse_not(q)?;
            return Ok(Expr::Unary {
                op: UnOp::Not,
                expr: Box::new(e),
            });
        }
        self.parse_predicate(q)
    }

    fn parse_predicate(&mut self, q: &mut Vec<Ident>) -> Result<Expr, SqlError> {
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

    fn parse_additive(&mut self, q: &mut Vec<Ident>) -> Result<Expr, SqlError> {
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

    fn parse_mult(&mut self, q: &mut Vec<Ident>) -> Result<Expr, SqlError> {
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

    fn parse_unary(&mut self, q: &mut Vec<Ident>) -> Result<Expr, SqlError> {
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

    fn parse_primary(&mut self, q: &mut Vec<Ident>) -> Result<Expr, SqlError> {
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
            Tok::Ident { quoted: false, .. }
                if ["CASE", "CAST", "INTERVAL", "SELECT", "EXISTS"]
                    .iter()
                    .any(|w| t.is_kw(w)) =>
            {
                Err(SqlError::unsupported(
                    t.pos,
                    format!("{} in WHERE", t.describe()),
                ))
            }
            Tok::Ident { .. } => match self.column_ref(q)? {
                Ref::Rowtime => Err(SqlError::unsupported(t.pos, "ROWTIME in WHERE")),
                Ref::Column(c) => Ok(Expr::Column(c)),
            },
            _ => Err(self.expected("an expression")),
        }
    }

    // ---- assembly and validation ------------------------------------------------------------

    fn assemble(
        &mut self,
        stream: StreamDecl,
        pump: PumpDecl,
        window: WindowSpec,
    ) -> Result<SqlPlan, SqlError> {
        let sel = pump.select;
        if stream.name.kda_name() != pump.target.kda_name() {
            return Err(SqlError::new(
                pump.target.pos,
                format!(
                    "the pump inserts into {} but the declared stream is {} (KDA names: {} vs {})",
                    pump.target.sql(),
                    stream.name.sql(),
                    pump.target.kda_name(),
                    stream.name.kda_name()
                ),
            ));
        }
        if sel.source.kda_name() == stream.name.kda_name() {
            return Err(SqlError::unsupported(
                sel.source.pos,
                "reading the destination stream (chained pumps)",
            ));
        }
        // The select list's window expressions, in order, each the window or a time group.
        let mut selected_windows = std::mem::take(&mut self.pending_windows).into_iter();
        let mut values: Vec<(SelectItem, Pos)> = Vec::new();
        for (v, p) in sel.items {
            match v {
                SelectValue::Item(SelectItem::WindowStart) => {
                    let (w, pos) = selected_windows
                        .next()
                        .expect("every selected window expression was recorded");
                    let item = super::windows::selected_window(&w, pos, &window, &sel.time_groups)?;
                    values.push((item, p));
                }
                SelectValue::Item(i) => values.push((i, p)),
                SelectValue::Rowtime => {}
            }
        }
        for (v, p) in &values {
            if let SelectItem::Column(c) = v {
                if !sel.group_by.iter().any(|g| g.same_as(c)) {
                    return Err(SqlError::new(
                        *p,
                        format!(
                            "column {} must be in GROUP BY or inside an aggregate",
                            c.sql()
                        ),
                    ));
                }
            }
        }
        if !values
            .iter()
            .any(|(v, _)| matches!(v, SelectItem::Aggregate { .. }))
        {
            return Err(SqlError::unsupported(
                sel.pos,
                "SELECT without an aggregate function",
            ));
        }
        // Which declared column each value goes to.
        let targets = rows::insert_targets(&stream, &pump.target, pump.target_columns.as_deref())?;
        if values.len() != targets.len() {
            return Err(SqlError::new(
                sel.pos,
                format!(
                    "the SELECT gives {} values (ROWTIME aside) but {} has {} columns",
                    values.len(),
                    stream.name.sql(),
                    targets.len()
                ),
            ));
        }
        let mut slots: Vec<Option<SelectItem>> = vec![None; stream.columns.len()];
        for ((v, p), &t) in values.into_iter().zip(&targets) {
            let (col, ty) = &stream.columns[t];
            check_output_type(&v, *ty, col, p)?;
            slots[t] = Some(v);
        }
        let output_columns = stream
            .columns
            .into_iter()
            .zip(slots)
            .map(|((c, ty), v)| OutputColumn {
                name: c.name,
                ty,
                value: v.unwrap_or(SelectItem::WindowStart),
            })
            .collect();
        Ok(SqlPlan {
            destination: stream.name.kda_name(),
            pump: pump.name.kda_name(),
            source: sel.source.kda_name(),
            output_columns,
            filter: sel.filter,
            group_by: sel.group_by,
            window,
            time_groups: sel.time_groups,
        })
    }
}

/// A SQL timestamp literal (`'2021-03-19 13:15:48'`, UTC) or RFC 3339, as epoch milliseconds.
pub fn sql_timestamp(s: &str) -> Option<i64> {
    let s = s.trim();
    kds_common::time::parse_timestamp(s.as_bytes())
        .or_else(|| kds_common::time::parse_timestamp(format!("{s}Z").as_bytes()))
}

/// The declared destination type must be able to hold the value.
fn check_output_type(v: &SelectItem, ty: SqlType, col: &Ident, pos: Pos) -> Result<(), SqlError> {
    let ok = match v {
        SelectItem::Aggregate {
            func: AggFunc::CountStar | AggFunc::Count | AggFunc::CountDistinct,
            ..
        } => ty.is_numeric(),
        SelectItem::Aggregate {
            func: AggFunc::Sum | AggFunc::Avg,
            ..
        } => ty.is_numeric(),
        SelectItem::WindowStart | SelectItem::TimeGroup(_) => ty == SqlType::Timestamp,
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(SqlError::new(
            pos,
            format!(
                "this value cannot go into column {} of type {ty}",
                col.sql()
            ),
        ))
    }
}
