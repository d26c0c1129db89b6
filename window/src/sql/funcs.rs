//! The scalar functions beyond the string basics: `REGEX_REPLACE`, `CHAR_TO_TIMESTAMP`,
//! `TIMESTAMP_TO_CHAR`, `UNIX_TIMESTAMP` and `CAST`, as the KDA SQL Reference describes them
//! ("REGEX_REPLACE", "CHAR_TO_TIMESTAMP(sys)", "TIMESTAMP_TO_CHAR", "UNIX_TIMESTAMP", "CAST").

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime};
use fancy_regex::Regex;
use serde_json::Value;

use super::coerce::coerce;
use super::eval::V;
use super::{SqlType, TimeField};

/// Compiled regexes by pattern: a query has a handful, each compiled once per thread.
const REGEX_CACHE_LIMIT: usize = 64;

thread_local! {
    static REGEXES: RefCell<HashMap<String, Regex>> = RefCell::new(HashMap::new());
}

/// Compiles a pattern as KDA's Java regex would read it (fancy-regex has lookaround and
/// backreferences); the message says what is wrong.
pub fn compile_regex(pattern: &str) -> Result<Regex, String> {
    Regex::new(pattern).map_err(|e| format!("bad regular expression '{pattern}': {e}"))
}

/// `REGEX_REPLACE(original, regex, replacement, startPosition, occurrence)`: Java's
/// `replaceAll` from the 1-based `start` on, every match when `occurrence` is 0, else only the
/// n-th. A start below 1, a negative occurrence and a bad regular expression are errors, which
/// KDA writes to the error stream ("REGEX_REPLACE", KDA SQL Reference); the message says which.
/// A start past the end returns the original.
pub fn regex_replace(
    s: &str,
    pattern: &str,
    replacement: &str,
    start: i64,
    occurrence: i64,
) -> Result<String, String> {
    if start < 1 {
        return Err(format!(
            "REGEX_REPLACE: startPosition {start} is less than 1"
        ));
    }
    if occurrence < 0 {
        return Err(format!(
            "REGEX_REPLACE: occurrence {occurrence} is less than 0"
        ));
    }
    let Some((from, _)) = s.char_indices().nth((start - 1) as usize) else {
        return Ok(s.to_string());
    };
    REGEXES.with(|cache| {
        let mut cache = cache.borrow_mut();
        if !cache.contains_key(pattern) {
            if cache.len() >= REGEX_CACHE_LIMIT {
                cache.clear();
            }
            let re = compile_regex(pattern).map_err(|e| format!("REGEX_REPLACE: {e}"))?;
            cache.insert(pattern.to_string(), re);
        }
        let re = &cache[pattern];
        let (head, tail) = s.split_at(from);
        let replaced =
            replace_matches(re, tail, replacement, occurrence as usize).ok_or_else(|| {
                format!("REGEX_REPLACE: '{pattern}' gave up on the value (backtracking limit)")
            })?;
        Ok(format!("{head}{replaced}"))
    })
}

thread_local! {
    /// The first error a function met while the current row was evaluated (see [`row_error`]).
    static ROW_ERROR: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Notes an error of a function on the current row: its value is NULL, and whoever writes the
/// row sends it to the error stream instead ([`take_row_error`]).
pub(super) fn row_error(message: String) {
    ROW_ERROR.with(|e| {
        e.borrow_mut().get_or_insert(message);
    });
}

/// The error a function met since the last call, if any (and forgets it).
pub(super) fn take_row_error() -> Option<String> {
    ROW_ERROR.with(|e| e.borrow_mut().take())
}

/// Replaces the `n`-th match (every match when `n` is 0); `None` when the regex engine gives
/// up (its backtracking limit).
fn replace_matches(re: &Regex, s: &str, replacement: &str, n: usize) -> Option<String> {
    let replacement = java_replacement(replacement);
    let mut out = String::with_capacity(s.len());
    let mut copied = 0;
    for (i, caps) in re.captures_iter(s).enumerate() {
        let caps = caps.ok()?;
        if n != 0 && i + 1 != n {
            continue;
        }
        let whole = caps.get(0)?;
        out.push_str(&s[copied..whole.start()]);
        caps.expand(&replacement, &mut out);
        copied = whole.end();
        if n != 0 {
            break;
        }
    }
    out.push_str(&s[copied..]);
    Some(out)
}

/// Java's replacement syntax: `$1` is group 1 and `\$` a literal dollar; fancy-regex reads
/// `$1` the same and writes a literal dollar as `$$`.
fn java_replacement(r: &str) -> Cow<'_, str> {
    if !r.contains('\\') {
        return Cow::Borrowed(r);
    }
    let mut out = String::with_capacity(r.len());
    let mut chars = r.chars();
    while let Some(c) = chars.next() {
        match (c, c == '\\') {
            (_, true) => match chars.next() {
                Some('$') => out.push_str("$$"),
                Some(other) => out.push(other),
                None => {}
            },
            _ => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A Java `SimpleDateFormat` pattern (`yyyy-MM-dd hh:mm:ss`) as a chrono format string, or the
/// letter that is not supported. Quoted text (`'T'`) is literal; `''` is a quote.
pub fn java_format(pattern: &str) -> Result<String, String> {
    java_format_for(pattern, false)
}

/// As [`java_format`]; for parsing, `hh` without an am/pm marker reads the hour as written
/// (Java's lenient parse of `03` is 3 AM), which chrono's `%I` would refuse.
fn java_format_for(pattern: &str, parsing: bool) -> Result<String, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let twelve_hour = if parsing && !pattern.contains('a') {
        "%H"
    } else {
        "%I"
    };
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let run = chars[i..].iter().take_while(|&&x| x == c).count();
        if c == '\'' {
            let close = chars[i + 1..].iter().position(|&x| x == '\'');
            match close {
                Some(0) => out.push('\''),
                Some(n) => chars[i + 1..i + 1 + n]
                    .iter()
                    .for_each(|&x| push_literal(&mut out, x)),
                None => return Err("unclosed quote".to_string()),
            }
            i += close.map_or(chars.len(), |n| n + 2);
            continue;
        }
        let spec = match (c, run) {
            ('y', 2) => "%y",
            ('y', _) => "%Y",
            ('M', 1 | 2) => "%m",
            ('M', 3) => "%b",
            ('M', _) => "%B",
            ('d', _) => "%d",
            ('H', _) => "%H",
            ('h', _) => twelve_hour,
            ('m', _) => "%M",
            ('s', _) => "%S",
            ('S', _) => "%3f",
            ('a', _) => "%p",
            ('E', 1..=3) => "%a",
            ('E', _) => "%A",
            ('D', _) => "%j",
            ('Z', _) => "%z",
            (c, _) if c.is_ascii_alphabetic() => {
                return Err(format!("pattern letter '{c}' is not supported"))
            }
            (c, _) => {
                (0..run).for_each(|_| push_literal(&mut out, c));
                i += run;
                continue;
            }
        };
        out.push_str(spec);
        i += run;
    }
    Ok(out)
}

fn push_literal(out: &mut String, c: char) {
    if c == '%' {
        out.push_str("%%");
    } else {
        out.push(c);
    }
}

/// `TIMESTAMP_TO_CHAR(format, ts)`.
pub fn timestamp_to_char(pattern: &str, ms: i64) -> Option<String> {
    let fmt = java_format(pattern).ok()?;
    let t = DateTime::from_timestamp_millis(ms)?.naive_utc();
    let mut s = String::new();
    use std::fmt::Write;
    write!(s, "{}", t.format(&fmt)).ok()?;
    Some(s)
}

/// `CHAR_TO_TIMESTAMP(format, s)`: NULL when `s` does not match the format.
pub fn char_to_timestamp(pattern: &str, s: &str) -> Option<i64> {
    let fmt = java_format_for(pattern, true).ok()?;
    if let Ok(t) = NaiveDateTime::parse_from_str(s, &fmt) {
        return Some(t.and_utc().timestamp_millis());
    }
    // A pattern without time fields (`yyyy-MM-dd`) is midnight of that day.
    chrono::NaiveDate::parse_from_str(s, &fmt)
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
}

/// `CAST(v AS ty)`: KDA's conversion rules ([`coerce`]); a value that does not convert is NULL.
/// A fraction cast to an integer type is cut towards zero, as Java's casts do.
pub fn cast(v: V<'_>, ty: SqlType) -> V<'static> {
    let integer = matches!(
        ty,
        SqlType::Tinyint | SqlType::Smallint | SqlType::Integer | SqlType::Bigint
    );
    let v = match v {
        V::Float(f) if integer => V::Float(f.trunc()),
        V::Str(s) if integer && s.trim().parse::<i64>().is_err() => s
            .trim()
            .parse::<f64>()
            .map_or(V::Null, |f| V::Float(f.trunc())),
        other => other,
    };
    let json = match v {
        V::Null | V::Row(_) => return V::Null,
        V::Bool(b) => Value::Bool(b),
        V::Int(i) => Value::from(i),
        V::Float(f) if integer && f.fract() == 0.0 && f.abs() < 9.2e18 => Value::from(f as i64),
        V::Float(f) => Value::from(f),
        V::Str(s) => Value::String(s.into_owned()),
        V::Ts(t) if ty.is_numeric() => Value::from(t),
        V::Ts(t) => Value::String(kds_common::time::rfc3339_ms(t)),
    };
    match (coerce(&json, ty), ty) {
        (Ok(Value::String(s)), SqlType::Timestamp) => {
            kds_common::time::parse_timestamp(s.as_bytes()).map_or(V::Null, V::Ts)
        }
        (Ok(Value::Number(n)), _) => match n.as_i64() {
            Some(i) => V::Int(i),
            None => n.as_f64().map_or(V::Null, V::Float),
        },
        (Ok(Value::String(s)), _) => V::Str(Cow::Owned(s)),
        (Ok(Value::Bool(b)), _) => V::Bool(b),
        _ => V::Null,
    }
}

/// `EXTRACT(field FROM ts)` in UTC; SECOND is the whole seconds.
pub fn extract(field: TimeField, ms: i64) -> i64 {
    let day_ms = ms.rem_euclid(86_400_000);
    let (year, month, day) = kds_common::time::days_to_civil(ms.div_euclid(86_400_000));
    match field {
        TimeField::Year => year,
        TimeField::Month => i64::from(month),
        TimeField::Day => i64::from(day),
        TimeField::Hour => day_ms / 3_600_000,
        TimeField::Minute => day_ms / 60_000 % 60,
        TimeField::Second => day_ms / 1000 % 60,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_replace_follows_the_reference() {
        let r = |s, p, w, st, o| regex_replace(s, p, w, st, o);
        let ok = |s, p, w, st, o| regex_replace(s, p, w, st, o).ok();
        assert_eq!(
            ok("http://www.amazon.com", "http://", "https://", 1, 0).as_deref(),
            Some("https://www.amazon.com")
        );
        assert_eq!(ok("a1b2c3", "[0-9]", "#", 1, 2).as_deref(), Some("a1b#c3"));
        assert_eq!(ok("a1b2c3", "[0-9]", "#", 4, 0).as_deref(), Some("a1b#c#"));
        assert_eq!(ok("abc", "b", "x", 9, 0).as_deref(), Some("abc"));
        assert!(r("abc", "b", "x", 0, 0)
            .unwrap_err()
            .contains("startPosition 0"));
        assert!(r("abc", "b", "x", 1, -1)
            .unwrap_err()
            .contains("occurrence -1"));
        assert!(r("abc", "(", "x", 1, 0)
            .unwrap_err()
            .contains("bad regular expression '('"));
        // Java's group references and a lookahead (not in the regex crate).
        assert_eq!(
            ok("2021-03-19", r"(\d+)-(\d+)-(\d+)", "$3.$2.$1", 1, 0).as_deref(),
            Some("19.03.2021")
        );
        assert_eq!(
            ok("price 10", r"\d+(?= *$)", r"\$$0", 1, 0).as_deref(),
            Some("price $10")
        );
        assert!(compile_regex("(").is_err());
    }

    #[test]
    fn java_date_patterns() {
        let ms = char_to_timestamp("yyyy-MM-dd hh:mm:ss", "2009-09-16 03:15:24").unwrap();
        assert_eq!(kds_common::time::rfc3339_ms(ms), "2009-09-16T03:15:24.000Z");
        assert_eq!(
            timestamp_to_char("yyyy-MM-dd hh:mm:ss", ms).as_deref(),
            Some("2009-09-16 03:15:24")
        );
        let pm = char_to_timestamp("yyyy-MM-dd HH:mm:ss.SSS", "2018-05-09 12:50:41.337").unwrap();
        assert_eq!(
            timestamp_to_char("hh:mm a 'on' dd MMM yyyy", pm).as_deref(),
            Some("12:50 PM on 09 May 2018")
        );
        assert_eq!(
            timestamp_to_char("yyyyMMdd'T'HHmmss''", pm).as_deref(),
            Some("20180509T125041'")
        );
        assert_eq!(
            char_to_timestamp("yyyy-MM-dd", "2018-05-09"),
            Some(pm - pm % 86_400_000)
        );
        assert_eq!(char_to_timestamp("yyyy-MM-dd", "09.05.2018"), None);
        assert!(java_format("yyyy-ww").unwrap_err().contains("'w'"));
        let fields = [
            TimeField::Year,
            TimeField::Month,
            TimeField::Day,
            TimeField::Hour,
            TimeField::Minute,
            TimeField::Second,
        ];
        let got: Vec<i64> = fields.iter().map(|f| extract(*f, pm)).collect();
        assert_eq!(got, [2018, 5, 9, 12, 50, 41]);
        assert_eq!(extract(TimeField::Year, -1), 1969);
    }

    #[test]
    fn cast_uses_kda_conversions() {
        let s = |t: &'static str| V::Str(Cow::Borrowed(t));
        assert_eq!(cast(s(" 42 "), SqlType::Integer), V::Int(42));
        assert_eq!(cast(s("4.5"), SqlType::Double), V::Float(4.5));
        assert_eq!(cast(s("abc"), SqlType::Integer), V::Null);
        assert_eq!(cast(V::Int(300), SqlType::Tinyint), V::Null);
        assert_eq!(cast(V::Float(-33.9), SqlType::Integer), V::Int(-33));
        assert_eq!(cast(s("40.5"), SqlType::Smallint), V::Int(40));
        assert_eq!(
            cast(V::Int(7), SqlType::Varchar(8)),
            V::Str(Cow::Owned("7".into()))
        );
        assert_eq!(
            cast(s("abcdef"), SqlType::Varchar(3)),
            V::Str(Cow::Owned("abc".into()))
        );
        assert_eq!(
            cast(s("2021-03-19 13:15:48"), SqlType::Timestamp),
            V::Ts(1_616_159_748_000)
        );
    }
}
