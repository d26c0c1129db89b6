//! The KDA streaming-SQL front end of `kds-window` (`--sql`, `--discover`, `--schema`,
//! `--explain-flink`). See `window/SQL.md` for the accepted subset and the column mapping.
//!
//! Text → [`parse_sql`] → [`SqlPlan`] (plain data, positions kept for errors) → [`bind`] against an
//! optional [`Schema`] (type check, column → JSON path) → [`BoundQuery`], which the engine runs.
//! [`explain_flink`] turns a plan into the equivalent Apache Flink SQL.

pub mod alerts;
mod bind;
mod chain;
pub mod cli;
mod coerce;
pub mod downstream;
mod eval;
mod expr;
mod flink;
mod flink_arrival;
mod flink_chain;
mod flink_connector;
mod flink_join;
mod flink_log;
mod flink_over;
mod flink_rows;
mod flink_topk;
mod funcs;
mod lexer;
mod log_parse;
mod parser;
mod reference;
mod refused;
mod rows;
mod schema;
mod sliding;
mod stagger;
mod topk;
mod windows;

use std::fmt;
use std::time::Duration;

pub use bind::{bind, BoundAggregate, BoundColumn, BoundQuery, BoundTime, BoundTimeGroup};
pub use chain::{bind_chain, Chain};
pub use cli::SqlArgs;
pub use eval::{eval_filter, BoundExpr};
pub use expr::{BinOp, Expr, Literal, ScalarFunc, TimeField, UnOp};
pub use flink::{explain_flink, FlinkOptions};
pub use flink_rows::{explain_app, explain_flink_rows};
pub use reference::JoinPlan;
pub use rows::{time_group_key, ErrorStream, RowPrep};
pub use schema::{discover, discover_wide, parse_schema_json, Discovery, Schema, SchemaColumn};
pub use topk::TopKPlan;

/// What the `--sql` front end accepts; every "unsupported" error ends with it.
pub const SUPPORTED: &str = "supported are CREATE [OR REPLACE] STREAM \"NAME\" (col type, ...); \
CREATE [OR REPLACE] PUMP \"NAME\" AS INSERT INTO \"NAME\" SELECT STREAM ..., several pumps chained \
through in-application streams, FROM one stream or a subquery (or [LEFT] JOIN \"Table\" AS t ON s.col = t.col \
with --reference-data), WHERE with comparisons, AND/OR/NOT, \
IS [NOT] NULL, [NOT] LIKE, [NOT] BETWEEN, [NOT] IN and the scalar functions ABS, UPPER, LOWER, TRIM, \
CHAR_LENGTH, SUBSTRING, POSITION, REGEX_REPLACE, CHAR_TO_TIMESTAMP, TIMESTAMP_TO_CHAR, UNIX_TIMESTAMP, \
CURRENT_ROW_TIMESTAMP, EXTRACT, CAST, the log parsers REGEX_LOG_PARSE, W3C_LOG_PARSE, \
VARIABLE_COLUMN_LOG_PARSE (their columns as t.r.COLUMN1); FROM TABLE(TOP_K_ITEMS_TUMBLING(CURSOR(SELECT \
STREAM * FROM \"S\"), 'col', k, seconds)); GROUP BY columns and one tumbling window \
(FLOOR(S.ROWTIME TO MINUTE), STEP(S.ROWTIME BY INTERVAL '60' SECOND), or over a TIMESTAMP column) \
with COUNT(*), COUNT(col), COUNT(DISTINCT col), SUM, MIN, MAX, AVG; or no GROUP BY: columns and \
expressions per record, aggregates OVER a sliding window (RANGE INTERVAL ... PRECEDING, ROWS n \
PRECEDING), or WINDOWED BY STAGGER (PARTITION BY ... RANGE INTERVAL ...)";

/// A place in the SQL text: 1-based line and column (columns count characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: u32,
    pub column: u32,
}

/// A bad or unsupported query: where, and what. Displays as `line 3, column 8: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlError {
    pub line: u32,
    pub column: u32,
    pub message: String,
}

impl SqlError {
    pub fn new(pos: Pos, message: impl Into<String>) -> SqlError {
        SqlError {
            line: pos.line,
            column: pos.column,
            message: message.into(),
        }
    }

    /// `unsupported <what>: supported are …`.
    pub fn unsupported(pos: Pos, what: impl fmt::Display) -> SqlError {
        SqlError::new(pos, format!("unsupported {what}: {SUPPORTED}"))
    }
}

impl fmt::Display for SqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Line 0 is an error about the application as a whole (e.g. what --explain-flink
        // cannot translate), not about a place in its text.
        if self.line == 0 {
            return f.write_str(&self.message);
        }
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

impl std::error::Error for SqlError {}

/// SQL column types of KDA in-application streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlType {
    Varchar(u32),
    Char(u32),
    Tinyint,
    Smallint,
    Integer,
    Bigint,
    Real,
    Double,
    Decimal(u32, u32),
    Boolean,
    Timestamp,
    Date,
    Time,
}

impl SqlType {
    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            SqlType::Tinyint
                | SqlType::Smallint
                | SqlType::Integer
                | SqlType::Bigint
                | SqlType::Real
                | SqlType::Double
                | SqlType::Decimal(..)
        )
    }

    pub fn is_string(self) -> bool {
        matches!(self, SqlType::Varchar(_) | SqlType::Char(_))
    }

    pub fn is_temporal(self) -> bool {
        matches!(self, SqlType::Timestamp | SqlType::Date | SqlType::Time)
    }

    /// Parses a type as written in a schema file (`VARCHAR(16)`, `integer`, `DOUBLE`).
    pub fn parse(text: &str) -> Option<SqlType> {
        let toks = lexer::tokenize(text).ok()?;
        let mut p = parser::Parser::new(toks);
        let ty = p.parse_type().ok()?;
        p.at_eof().then_some(ty)
    }
}

impl fmt::Display for SqlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SqlType::Varchar(n) => write!(f, "VARCHAR({n})"),
            SqlType::Char(n) => write!(f, "CHAR({n})"),
            SqlType::Tinyint => f.write_str("TINYINT"),
            SqlType::Smallint => f.write_str("SMALLINT"),
            SqlType::Integer => f.write_str("INTEGER"),
            SqlType::Bigint => f.write_str("BIGINT"),
            SqlType::Real => f.write_str("REAL"),
            SqlType::Double => f.write_str("DOUBLE"),
            SqlType::Decimal(p, s) => write!(f, "DECIMAL({p},{s})"),
            SqlType::Boolean => f.write_str("BOOLEAN"),
            SqlType::Timestamp => f.write_str("TIMESTAMP"),
            SqlType::Date => f.write_str("DATE"),
            SqlType::Time => f.write_str("TIME"),
        }
    }
}

/// An identifier as written: `"tnum"` (quoted: case-sensitive) or `tnum` (unquoted: matched
/// ignoring case). Equality ignores the position.
#[derive(Debug, Clone, Eq)]
pub struct Ident {
    pub name: String,
    pub quoted: bool,
    pub pos: Pos,
}

impl PartialEq for Ident {
    fn eq(&self, other: &Ident) -> bool {
        self.name == other.name && self.quoted == other.quoted
    }
}

impl Ident {
    pub fn quoted(name: &str) -> Ident {
        Ident {
            name: name.to_string(),
            quoted: true,
            pos: Pos::default(),
        }
    }

    pub fn unquoted(name: &str) -> Ident {
        Ident {
            name: name.to_string(),
            quoted: false,
            pos: Pos::default(),
        }
    }

    /// Does this reference name the column/stream called `name`? Quoted: exactly; unquoted:
    /// ignoring ASCII case.
    pub fn matches(&self, name: &str) -> bool {
        if self.quoted {
            self.name == name
        } else {
            self.name.eq_ignore_ascii_case(name)
        }
    }

    /// Two references to the same thing (`"uno"` and `uno`, or `uno` and `UNO`).
    pub fn same_as(&self, other: &Ident) -> bool {
        if self.quoted && other.quoted {
            self.name == other.name
        } else {
            self.name.eq_ignore_ascii_case(&other.name)
        }
    }

    /// The name KDA gives it: quoted as written, unquoted in upper case.
    pub fn kda_name(&self) -> String {
        if self.quoted {
            self.name.clone()
        } else {
            self.name.to_ascii_uppercase()
        }
    }

    /// How it reads in SQL text.
    pub fn sql(&self) -> String {
        if self.quoted {
            format!("\"{}\"", self.name.replace('"', "\"\""))
        } else {
            self.name.clone()
        }
    }
}

/// Aggregate functions of the subset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggFunc {
    CountStar,
    Count,
    CountDistinct,
    Sum,
    Min,
    Max,
    Avg,
}

impl AggFunc {
    pub fn sql_name(self) -> &'static str {
        match self {
            AggFunc::CountStar | AggFunc::Count | AggFunc::CountDistinct => "COUNT",
            AggFunc::Sum => "SUM",
            AggFunc::Min => "MIN",
            AggFunc::Max => "MAX",
            AggFunc::Avg => "AVG",
        }
    }
}

/// One value of the select list.
#[derive(Debug, Clone, PartialEq)]
pub enum SelectItem {
    /// `COUNT(*)` (column `None`), `SUM("tnum")`, `COUNT(DISTINCT uno)`, ...
    Aggregate {
        func: AggFunc,
        column: Option<Ident>,
    },
    /// A column that is also in the GROUP BY.
    Column(Ident),
    /// The GROUP BY window expression itself (`STEP(S.ROWTIME BY ...) AS minute`): the window start.
    WindowStart,
    /// A further STEP/FLOOR expression of GROUP BY (index into [`SqlPlan::time_groups`]): its
    /// value, the record's time rounded down.
    TimeGroup(usize),
}

/// A column of the destination stream, in declaration order, with the value the pump writes to it.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputColumn {
    /// As declared (`count_tno`; KDA would upper-case an unquoted name, we keep the spelling).
    pub name: String,
    pub ty: SqlType,
    pub value: SelectItem,
}

/// The time a window is computed on.
#[derive(Debug, Clone, PartialEq)]
pub enum TimeBasis {
    /// `ROWTIME`: the moment a record is read (processing time).
    Rowtime,
    /// A TIMESTAMP column of the record (event time).
    Column(Ident),
}

#[derive(Debug, Clone, PartialEq)]
pub struct WindowSpec {
    pub time: TimeBasis,
    pub size: Duration,
}

/// A parsed, validated KDA application: one destination stream fed by one pump.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlPlan {
    /// The destination stream's KDA name (`DESTINATION_SQL_STREAM`).
    pub destination: String,
    /// The pump's KDA name (`STREAM_PUMP`).
    pub pump: String,
    /// The source in-application stream's KDA name (`SOURCE_SQL_STREAM_001`).
    pub source: String,
    /// Destination columns in declaration order, each with its select-list value. `ROWTIME` is
    /// not among them: every output row carries it (= window end).
    pub output_columns: Vec<OutputColumn>,
    pub filter: Option<Expr>,
    /// GROUP BY columns other than the window, in order.
    pub group_by: Vec<Ident>,
    pub window: WindowSpec,
    /// GROUP BY's other STEP/FLOOR expressions (over `APPROXIMATE_ARRIVAL_TIME` or an event-time
    /// column): group keys next to the window, as in AWS's two-window pattern.
    pub time_groups: Vec<WindowSpec>,
    /// Per-row pumps in front of this one (see [`RowPlan::upstream`]).
    pub upstream: Vec<RowPlan>,
    /// Per-row pumps after this one, first first: the first reads the stream this pump writes
    /// (its rows are that stream's records), the last writes the output ("Aggregating Partial
    /// Results from a Query"). Empty when this pump writes the output.
    pub downstream: Vec<RowPlan>,
}

/// A sliding window's frame ("Sliding Windows", KDA SQL Developer Guide): the rows whose ROWTIME
/// is at most the range before the current row's, or the current row and `n` rows before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    Range(Duration),
    Rows(u64),
}

/// `(PARTITION BY col, ... RANGE INTERVAL '1' MINUTE PRECEDING)` or `(... ROWS 10 PRECEDING)`.
#[derive(Debug, Clone, PartialEq)]
pub struct OverSpec {
    pub partition_by: Vec<Ident>,
    pub frame: Frame,
}

/// An aggregate over a sliding window: `COUNT(*) OVER W1`, `AVG(price / 2) OVER (...)`.
#[derive(Debug, Clone, PartialEq)]
pub struct SlidingAgg {
    pub func: AggFunc,
    /// The argument (a column or an expression); `None` for `COUNT(*)`.
    pub arg: Option<Expr>,
    pub spec: OverSpec,
}

/// A stagger window's partition key ("Stagger Windows", KDA SQL Developer Guide): a column,
/// or a TIMESTAMP column rounded down (`FLOOR(EVENT_TIME TO MINUTE)`).
#[derive(Debug, Clone, PartialEq)]
pub enum StaggerKey {
    Column(Ident),
    Floor(Ident, Duration),
}

/// What a stagger pump writes to a column: a partition key's value, or an aggregate.
#[derive(Debug, Clone, PartialEq)]
pub enum StaggerValue {
    Key(usize),
    Aggregate {
        func: AggFunc,
        column: Option<Ident>,
    },
}

/// `WINDOWED BY STAGGER (PARTITION BY ... RANGE INTERVAL ...)`: a window per partition key that
/// opens with the key's first row and closes `range` later.
#[derive(Debug, Clone, PartialEq)]
pub struct StaggerPlan {
    pub partition_by: Vec<StaggerKey>,
    pub range: Duration,
    /// One per destination column, in declaration order.
    pub values: Vec<StaggerValue>,
}

/// A parsed application: a windowed aggregation, or a pump that writes each record that passes
/// its WHERE clause (KDA's "Simple Alerts" example).
#[derive(Debug, Clone, PartialEq)]
pub enum Application {
    Windowed(SqlPlan),
    PerRow(RowPlan),
}

/// A pump without GROUP BY: `INSERT INTO "DEST" SELECT STREAM col, ... FROM src WHERE ...`.
#[derive(Debug, Clone, PartialEq)]
pub struct RowPlan {
    pub destination: String,
    pub pump: String,
    pub source: String,
    /// Destination columns in declaration order, each with the value written to it (a source
    /// column, or a scalar expression over the source's columns).
    pub columns: Vec<(String, SqlType, Expr)>,
    pub filter: Option<Expr>,
    /// Sliding-window aggregates (`COUNT(*) OVER W1`): the index of the column they fill (its
    /// expression is a NULL placeholder), and the aggregate.
    pub sliding: Vec<(usize, SlidingAgg)>,
    /// A subquery in FROM: its columns are named as its select list spells them and keep
    /// their values as computed (no declared types).
    pub derived: bool,
    /// A stagger-window pump: its columns' expressions are NULL placeholders, this gives the
    /// values.
    pub stagger: Option<StaggerPlan>,
    /// `FROM TABLE(TOP_K_ITEMS_TUMBLING(...))`: its columns' expressions are NULL placeholders,
    /// this gives the values.
    pub top_k: Option<TopKPlan>,
    /// `[LEFT] JOIN "Table" ... ON ...`: the reference table joined to each record.
    pub join: Option<JoinPlan>,
    /// Per-row pumps in front of this one, first first: the first reads the source, each next
    /// the stream the previous one writes, this one the last of them (chained in-application
    /// streams). Their column names are KDA names.
    pub upstream: Vec<RowPlan>,
}

/// Parses and validates KDA SQL text (both statements, or a file's content) as a windowed
/// aggregation; a pump without GROUP BY is refused.
pub fn parse_sql(text: &str) -> Result<SqlPlan, SqlError> {
    let toks = lexer::tokenize(text)?;
    let mut p = parser::Parser::new(toks);
    match p.parse_application()? {
        Application::Windowed(plan) => Ok(plan),
        Application::PerRow(_) => Err(p.no_group_by_error()),
    }
}

/// Parses any application the front end runs: windowed, or per row.
pub fn parse_app(text: &str) -> Result<Application, SqlError> {
    let toks = lexer::tokenize(text)?;
    parser::Parser::new(toks).parse_application()
}
