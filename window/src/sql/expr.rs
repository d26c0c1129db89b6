//! The expression tree of the SQL subset: literals, operators, predicates and scalar function
//! calls, as the parser reads them (WHERE, select-list expressions, function arguments).

use super::{Ident, Pos, SqlType};

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// `TIMESTAMP '2021-03-19 13:15:48'`, as epoch milliseconds (UTC).
    Timestamp(i64),
    /// `INTERVAL '5' MINUTE`, in milliseconds: added to or subtracted from a timestamp.
    Interval(i64),
}

/// A field of a timestamp, for `EXTRACT(field FROM ts)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeField {
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    And,
    Or,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Concat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnOp {
    Not,
    Neg,
}

/// A WHERE expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Column(Ident),
    Literal(Literal),
    Unary {
        op: UnOp,
        expr: Box<Expr>,
    },
    Binary {
        op: BinOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    IsNull {
        expr: Box<Expr>,
        negated: bool,
    },
    Like {
        expr: Box<Expr>,
        pattern: String,
        escape: Option<char>,
        negated: bool,
    },
    Between {
        expr: Box<Expr>,
        low: Box<Expr>,
        high: Box<Expr>,
        negated: bool,
    },
    InList {
        expr: Box<Expr>,
        list: Vec<Literal>,
        negated: bool,
    },
    /// A scalar function: `ABS(x)`, `UPPER(s)`, `SUBSTRING(s FROM n FOR m)`, ...
    Call {
        func: ScalarFunc,
        args: Vec<Expr>,
        pos: Pos,
    },
}

/// Scalar functions of the subset (KDA SQL Reference, "String and Search Functions" and
/// "Numeric Functions").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarFunc {
    Abs,
    Upper,
    Lower,
    /// `TRIM(s)`: spaces at both ends.
    Trim,
    CharLength,
    /// `SUBSTRING(s FROM start [FOR length])`, 1-based.
    Substring,
    /// `POSITION(needle IN s)`: 1-based, 0 when absent.
    Position,
    /// `REGEX_REPLACE(s, regex, replacement, startPosition, occurrence)` (Java's `replaceAll`).
    RegexReplace,
    /// `CHAR_TO_TIMESTAMP(format, s)`, a Java `SimpleDateFormat` pattern.
    CharToTimestamp,
    /// `TIMESTAMP_TO_CHAR(format, ts)`.
    TimestampToChar,
    /// `UNIX_TIMESTAMP(ts)`: epoch milliseconds.
    UnixTimestamp,
    /// `CURRENT_ROW_TIMESTAMP`: when the row was read (its ROWTIME, per row).
    CurrentRowTimestamp,
    /// `CAST(x AS type)`, with KDA's conversion rules.
    Cast(SqlType),
    /// `EXTRACT(field FROM ts)`.
    Extract(TimeField),
    /// `REGEX_LOG_PARSE(s, regex)`: a row of the regex's groups ([`log_parse`]).
    RegexLogParse,
    /// `W3C_LOG_PARSE(s, format)`: a row of the format's fields.
    W3cLogParse,
    /// `VARIABLE_COLUMN_LOG_PARSE(s, columns, delimiter [, escape, quote])`: a row of fields.
    VariableColumnLogParse,
    /// `t.r.COLUMN1`: a column of a log parser's row (`args`: the row, the column's name).
    RowField,
}

impl ScalarFunc {
    /// `REGEX_LOG_PARSE`, `W3C_LOG_PARSE`, `VARIABLE_COLUMN_LOG_PARSE`: a row, not a value.
    pub fn is_log_parser(self) -> bool {
        matches!(
            self,
            ScalarFunc::RegexLogParse
                | ScalarFunc::W3cLogParse
                | ScalarFunc::VariableColumnLogParse
        )
    }

    pub fn sql_name(self) -> &'static str {
        match self {
            ScalarFunc::Abs => "ABS",
            ScalarFunc::Upper => "UPPER",
            ScalarFunc::Lower => "LOWER",
            ScalarFunc::Trim => "TRIM",
            ScalarFunc::CharLength => "CHAR_LENGTH",
            ScalarFunc::Substring => "SUBSTRING",
            ScalarFunc::Position => "POSITION",
            ScalarFunc::RegexReplace => "REGEX_REPLACE",
            ScalarFunc::CharToTimestamp => "CHAR_TO_TIMESTAMP",
            ScalarFunc::TimestampToChar => "TIMESTAMP_TO_CHAR",
            ScalarFunc::UnixTimestamp => "UNIX_TIMESTAMP",
            ScalarFunc::CurrentRowTimestamp => "CURRENT_ROW_TIMESTAMP",
            ScalarFunc::Cast(_) => "CAST",
            ScalarFunc::Extract(_) => "EXTRACT",
            ScalarFunc::RegexLogParse => "REGEX_LOG_PARSE",
            ScalarFunc::W3cLogParse => "W3C_LOG_PARSE",
            ScalarFunc::VariableColumnLogParse => "VARIABLE_COLUMN_LOG_PARSE",
            ScalarFunc::RowField => "a row's column",
        }
    }
}
