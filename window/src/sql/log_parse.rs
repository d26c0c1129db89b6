//! The log parsers of the KDA SQL Reference ("Log Parsing Functions"): `REGEX_LOG_PARSE`,
//! `W3C_LOG_PARSE` and `VARIABLE_COLUMN_LOG_PARSE`. Each turns a string into a row of named
//! columns, which the query reads as `t.r.COLUMN1` (the result named `r` in a subquery `t`).
//!
//! - `REGEX_LOG_PARSE(s, regex)`: a Java regular expression (fancy-regex: lookaround and
//!   backreferences work) that must match the whole string; its groups, left to right, are
//!   `COLUMN1` .. `COLUMNn`, `VARCHAR(1024)`. No match: NULL ("REGEX_LOG_PARSE").
//! - `W3C_LOG_PARSE(s, format)`: `COMMON`, `COMMON WITH VHOST`, `NCSA EXTENDED`, `REFERER`,
//!   `AGENT`, or an Apache log format (`%h %l %u %t "%r" %>s %b`); one column per specifier,
//!   `COLUMN1` .. `COLUMNn`, each the specifier's text as the line has it (`%t` with its
//!   brackets). No match: NULL ("W3C_LOG_PARSE").
//! - `VARIABLE_COLUMN_LOG_PARSE(s, columns, delimiter [, escape, quote])`: `s` split at the
//!   delimiter (a character or a string); `columns` is a count (`COLUMN1` .. `COLUMNn`,
//!   VARCHAR) or `'NAME TYPE type [NOT NULL], ...'`, each value converted to its type with KDA's
//!   rules (a value that does not convert is NULL). Missing fields are NULL, fields past the last
//!   column are dropped ("VARIABLE_COLUMN_LOG_PARSE").

use std::cell::RefCell;
use std::rc::Rc;

use fancy_regex::Regex;
use serde_json::{Map, Value};

use super::bind::Class;
use super::coerce::coerce;
use super::eval::BoundExpr;
use super::{lexer, parser, Expr, Literal, Pos, ScalarFunc, SqlError, SqlType};

/// A compiled parser: what the function's literal arguments say.
#[derive(Debug)]
pub enum LogParser {
    /// A regex and the names of its groups' columns.
    Regex(Regex, Vec<String>),
    Variable {
        columns: Vec<(String, SqlType)>,
        delimiter: String,
        escape: Option<char>,
        /// Begin and end quote characters.
        quote: Option<(char, char)>,
    },
}

/// The SQL Reference's predefined W3C formats, by name.
const W3C_FORMATS: &[(&str, &str)] = &[
    ("COMMON", "%h %l %u %t \"%r\" %>s %b"),
    ("COMMON WITH VHOST", "%v %h %l %u %t \"%r\" %>s %b"),
    (
        "NCSA EXTENDED",
        "%h %l %u %t \"%r\" %>s %b \"%[Referer]i\" \"%[User-agent]i\"",
    ),
    ("REFERER", "%[Referer]i ---> %U"),
    ("AGENT", "%[User-agent]i"),
];

/// `COLUMN1` .. `COLUMNn`.
fn numbered(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("COLUMN{i}")).collect()
}

/// Compiles `REGEX_LOG_PARSE`'s pattern, anchored at both ends (Java's `matches`).
pub fn regex_parser(pattern: &str) -> Result<LogParser, String> {
    let re = super::funcs::compile_regex(&format!("^(?:{pattern})$"))?;
    let groups = re.captures_len().saturating_sub(1);
    if groups == 0 {
        return Err(format!(
            "the regular expression '{pattern}' has no groups: each ( ) group is a column"
        ));
    }
    Ok(LogParser::Regex(re, numbered(groups)))
}

/// Compiles `W3C_LOG_PARSE`'s format (a predefined name or Apache format specifiers).
pub fn w3c_parser(format: &str) -> Result<LogParser, String> {
    let name = format.trim().to_ascii_uppercase();
    if name == "IIS" {
        return Err(
            "W3C_LOG_PARSE format IIS: the SQL Reference gives no specifiers for it; \
                    write them out ('%h %u %t ...')"
                .to_string(),
        );
    }
    let spec = W3C_FORMATS
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(format, |(_, s)| *s);
    let mut re = String::from("^");
    let mut groups = 0;
    let mut chars = spec.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            re.push_str(&fancy_regex::escape(&c.to_string()));
            continue;
        }
        if chars.peek() == Some(&'%') {
            chars.next();
            re.push('%');
            continue;
        }
        let letter = specifier(&mut chars)
            .ok_or_else(|| format!("W3C_LOG_PARSE format '{format}': '%' without a letter"))?;
        groups += 1;
        re.push_str(&field_pattern(letter, chars.peek().copied()));
    }
    if groups == 0 {
        return Err(format!(
            "W3C_LOG_PARSE format '{format}': no %-specifiers (or a predefined name: COMMON, \
             COMMON WITH VHOST, NCSA EXTENDED, REFERER, AGENT)"
        ));
    }
    re.push('$');
    let compiled = super::funcs::compile_regex(&re)?;
    Ok(LogParser::Regex(compiled, numbered(groups)))
}

/// Skips a specifier's modifiers (`>`, `<`, status lists, `{..}` or `[..]` arguments) and
/// returns its letter.
fn specifier(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<char> {
    while let Some(&c) = chars.peek() {
        if let Some((_, close)) = ARGUMENT_BRACKETS.iter().find(|(open, _)| *open == c) {
            chars.find(|x| x == close)?;
        } else if matches!(c, '<' | '>' | '!' | ',' | '0'..='9') {
            chars.next();
        } else {
            return chars.next();
        }
    }
    None
}

/// A specifier's argument: `%{Referer}i` (Apache) or `%[Referer]i` (the SQL Reference).
const ARGUMENT_BRACKETS: [(char, char); 2] = [('{', '}'), ('[', ']')];

/// The regex group for one field: `%t` is a bracketed time, any other field runs to the next
/// literal character of the format (to the end when it is the last).
fn field_pattern(letter: char, next: Option<char>) -> String {
    if letter == 't' {
        return r"(\[[^\]]*\])".to_string();
    }
    match next {
        Some(n) if n != '%' => format!("([^{}]*)", fancy_regex::escape(&n.to_string())),
        _ => "(.*?)".to_string(),
    }
}

/// Compiles `VARIABLE_COLUMN_LOG_PARSE`'s column list (a count, or `'NAME TYPE type, ...'`),
/// delimiter, escape and quote strings.
pub fn variable_parser(
    columns: &Value,
    delimiter: &str,
    escape: Option<&str>,
    quote: Option<&str>,
) -> Result<LogParser, String> {
    let columns = match columns {
        Value::Number(n) => {
            let n = n
                .as_u64()
                .filter(|n| (1..=1024).contains(n))
                .ok_or("the number of columns must be from 1 to 1024")?;
            numbered(n as usize)
                .into_iter()
                .map(|c| (c, SqlType::Varchar(1024)))
                .collect()
        }
        Value::String(s) => column_list(s)?,
        _ => return Err("columns must be a number or a string 'NAME TYPE type, ...'".into()),
    };
    if delimiter.is_empty() {
        return Err("the delimiter must not be empty".into());
    }
    let single = |s: &str, what: &str| {
        let mut cs = s.chars();
        match (cs.next(), cs.next()) {
            (Some(c), None) => Ok(c),
            _ => Err(format!("the {what} must be one character, not '{s}'")),
        }
    };
    let escape = escape
        .filter(|e| !e.is_empty())
        .map(|e| single(e, "escape"))
        .transpose()?;
    let quote = match quote.map(|q| q.chars().collect::<Vec<char>>()).as_deref() {
        None | Some([]) => None,
        Some([q]) => Some((*q, *q)),
        Some([b, e]) => Some((*b, *e)),
        Some(_) => return Err("the quote string is one or two characters".into()),
    };
    Ok(LogParser::Variable {
        columns,
        delimiter: delimiter.to_string(),
        escape,
        quote,
    })
}

/// `'COL_1 TYPE VARCHAR(16), COL_2 TYPE INTEGER NOT NULL'`: names as KDA spells them (unquoted
/// upper-cased) and types.
fn column_list(text: &str) -> Result<Vec<(String, SqlType)>, String> {
    let toks = lexer::tokenize(text).map_err(|e| format!("column list '{text}': {}", e.message))?;
    let mut p = parser::Parser::new(toks);
    let cols = p
        .parse_log_columns()
        .map_err(|e| format!("column list '{text}': {}", e.message))?;
    Ok(cols
        .into_iter()
        .map(|(id, ty)| (id.kda_name(), ty))
        .collect())
}

/// Splits at the delimiter, honouring the escape character and quotes.
fn split_fields(
    s: &str,
    delimiter: &str,
    escape: Option<char>,
    quote: Option<(char, char)>,
) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut rest = s;
    let mut quoted_until: Option<char> = None;
    while let Some(c) = rest.chars().next() {
        if let Some(end) = quoted_until {
            rest = &rest[c.len_utf8()..];
            if c == end {
                quoted_until = None;
            } else {
                field.push(c);
            }
        } else if Some(c) == escape {
            rest = &rest[c.len_utf8()..];
            if let Some(n) = rest.chars().next() {
                field.push(n);
                rest = &rest[n.len_utf8()..];
            }
        } else if let Some(tail) = rest.strip_prefix(delimiter) {
            fields.push(std::mem::take(&mut field));
            rest = tail;
        } else {
            rest = &rest[c.len_utf8()..];
            match quote {
                Some((begin, end)) if c == begin => quoted_until = Some(end),
                _ => field.push(c),
            }
        }
    }
    fields.push(field);
    fields
}

impl LogParser {
    /// The row for `s`, or `None` (NULL) when a pattern does not match.
    pub fn parse(&self, s: &str) -> Option<Map<String, Value>> {
        match self {
            LogParser::Regex(re, names) => {
                let caps = re.captures(s).ok()??;
                let mut row = Map::new();
                for (i, name) in names.iter().enumerate() {
                    let v = caps.get(i + 1).map_or(Value::Null, |m| {
                        coerce(&Value::from(m.as_str()), SqlType::Varchar(1024))
                            .unwrap_or(Value::Null)
                    });
                    row.insert(name.clone(), v);
                }
                Some(row)
            }
            LogParser::Variable {
                columns,
                delimiter,
                escape,
                quote,
            } => {
                let mut fields = split_fields(s, delimiter, *escape, *quote).into_iter();
                let mut row = Map::new();
                for (name, ty) in columns {
                    let v = fields.next().map_or(Value::Null, |f| {
                        coerce(&Value::String(f), *ty).unwrap_or(Value::Null)
                    });
                    row.insert(name.clone(), v);
                }
                Some(row)
            }
        }
    }
}

/// A compiled parser and the call it was compiled for (its function and `args[1..]`).
type CachedParser = (ScalarFunc, Vec<Value>, Rc<LogParser>);

thread_local! {
    /// Compiled parsers by their call: a query has a handful, each compiled once, found by
    /// comparing the arguments (no key is built per row).
    static PARSERS: RefCell<Vec<CachedParser>> = const { RefCell::new(Vec::new()) };
}

/// Compiles the parser a call's literal arguments describe (`args[1..]`).
pub fn compile(func: ScalarFunc, args: &[Value]) -> Result<LogParser, String> {
    let text = |i: usize| args.get(i).and_then(Value::as_str);
    match func {
        ScalarFunc::RegexLogParse => regex_parser(text(1).unwrap_or_default()),
        ScalarFunc::W3cLogParse => w3c_parser(text(1).unwrap_or_default()),
        _ => variable_parser(
            args.get(1).unwrap_or(&Value::Null),
            text(2).unwrap_or_default(),
            text(3),
            text(4),
        ),
    }
}

/// Runs a log parser on `args[0]`, compiling it on first use.
pub fn call(func: ScalarFunc, args: &[Value]) -> Option<Map<String, Value>> {
    let input = args.first()?.as_str()?;
    let described = &args[1..];
    let parser = PARSERS.with(|cache| {
        let mut cache = cache.borrow_mut();
        let cached = cache
            .iter()
            .find(|(f, a, _)| *f == func && a.as_slice() == described);
        if let Some((_, _, p)) = cached {
            return Some(Rc::clone(p));
        }
        // Checked when the query was parsed: a failure here is a parser the query never had.
        let p = Rc::new(compile(func, args).ok()?);
        cache.push((func, described.to_vec(), Rc::clone(&p)));
        Some(p)
    })?;
    parser.parse(input)
}

/// A bound expression and its class, or why not.
type Bound = Result<(BoundExpr, Class), SqlError>;

/// `t.r.COLUMN1`: the column `COLUMN1` of the row in column `r`, read as a deeper path.
pub(super) fn bind_row_field(args: &[Expr], pos: Pos, bind: &dyn Fn(&Expr) -> Bound) -> Bound {
    let (Some(row), Some(Expr::Literal(Literal::Str(field)))) = (args.first(), args.get(1)) else {
        return Err(SqlError::new(pos, "expected row.column"));
    };
    match bind(row)?.0 {
        BoundExpr::Column(mut c) => {
            c.path.push(field.clone());
            c.name = format!("{}.{field}", c.name);
            // The parsers' columns hold values already converted to their types.
            c.sql_type = None;
            Ok((BoundExpr::Column(c), Class::Any))
        }
        _ => Err(SqlError::new(
            pos,
            "a row's column is read from a column that holds a log parser's row (t.r.COLUMN1)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const LOG: &str = r#"192.168.254.30 - John [24/May/2004:22:01:02 -0700] "GET /icons/apache_pb.gif HTTP/1.1" 304 0"#;

    #[test]
    fn w3c_common_gives_one_column_per_specifier() {
        let row = w3c_parser("COMMON").unwrap().parse(LOG).unwrap();
        assert_eq!(
            Value::Object(row),
            json!({
                "COLUMN1": "192.168.254.30", "COLUMN2": "-", "COLUMN3": "John",
                "COLUMN4": "[24/May/2004:22:01:02 -0700]",
                "COLUMN5": "GET /icons/apache_pb.gif HTTP/1.1", "COLUMN6": "304", "COLUMN7": "0",
            })
        );
        assert_eq!(w3c_parser("COMMON").unwrap().parse("not a log line"), None);
        assert!(w3c_parser("IIS").is_err());
        assert!(w3c_parser("plain text").is_err());
    }

    #[test]
    fn each_call_runs_the_parser_its_arguments_describe_compiled_once() {
        PARSERS.with(|c| c.borrow_mut().clear());
        let digits = [json!("a1b22"), json!("[a-z]([0-9]+)[a-z]([0-9]+)")];
        let letters = [json!("a1b22"), json!("([a-z])[0-9]+([a-z])[0-9]+")];
        for _ in 0..3 {
            let d = call(ScalarFunc::RegexLogParse, &digits).unwrap();
            assert_eq!(d["COLUMN1"], json!("1"));
            assert_eq!(d["COLUMN2"], json!("22"));
            let l = call(ScalarFunc::RegexLogParse, &letters).unwrap();
            assert_eq!(l["COLUMN1"], json!("a"));
            assert_eq!(l["COLUMN2"], json!("b"));
        }
        // The same pattern as another function is another parser.
        let w3c = [json!(LOG), json!("COMMON")];
        assert_eq!(
            call(ScalarFunc::W3cLogParse, &w3c).unwrap()["COLUMN3"],
            json!("John")
        );
        assert_eq!(PARSERS.with(|c| c.borrow().len()), 3);
    }

    #[test]
    fn regex_groups_are_columns_and_java_features_work() {
        // A backreference and a lookahead (Java's java.util.regex has both).
        let p = regex_parser(r"(\w+)-\1(?=!)(.*)").unwrap();
        let row = p.parse("ab-ab!x").unwrap();
        assert_eq!(
            Value::Object(row),
            json!({"COLUMN1": "ab", "COLUMN2": "!x"})
        );
        // The whole string must match.
        assert_eq!(p.parse("ab-ba!x"), None);
        assert!(regex_parser("no groups").is_err());
        assert!(regex_parser("(unclosed").is_err());
    }

    #[test]
    fn variable_columns_split_convert_and_fill_with_null() {
        let p = variable_parser(
            &json!("A TYPE VARCHAR(2), B TYPE INTEGER, C TYPE DOUBLE"),
            ",",
            None,
            None,
        )
        .unwrap();
        let row = p.parse("xyz,42").unwrap();
        assert_eq!(Value::Object(row), json!({"A": "xy", "B": 42, "C": null}));
        let row = p.parse("a,not a number,1.5,extra").unwrap();
        assert_eq!(Value::Object(row), json!({"A": "a", "B": null, "C": 1.5}));
    }

    #[test]
    fn variable_escape_quote_and_string_delimiters() {
        let p = variable_parser(&json!(3), "::", Some("\\"), Some("[]")).unwrap();
        let row = p.parse(r"a\::b::[c::d]::e").unwrap();
        assert_eq!(
            Value::Object(row),
            json!({"COLUMN1": "a::b", "COLUMN2": "c::d", "COLUMN3": "e"})
        );
        assert!(variable_parser(&json!(0), ",", None, None).is_err());
        assert!(variable_parser(&json!(2), "", None, None).is_err());
        assert!(variable_parser(&json!("A TYPE NOPE"), ",", None, None).is_err());
    }
}
