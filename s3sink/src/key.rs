//! Firehose S3 object keys: prefix expressions parsed once at start-up, evaluated per object.
//!
//! A key is `<evaluated prefix><name>-<version>-<yyyy-MM-dd-HH-mm-ss>-<UUID>[.gz]`. Prefixes may
//! hold `!{namespace:value}` expressions:
//!
//! * `!{timestamp:PATTERN}`: a Java `DateTimeFormatter` pattern (the subset in [`DateField`]),
//!   evaluated at one instant per object: the arrival time of the oldest record in it;
//! * `!{firehose:random-string}`: 11 random characters, new for every occurrence;
//! * `!{firehose:error-output-type}`: the error type (error prefix only);
//! * `!{partitionKeyFromQuery:NAME}`: a dynamic-partitioning key extracted from the record.
//!
//! Everything here is pure (time, randomness and partition values come in as arguments) so the
//! rules and the documented examples are unit-tested below.

use chrono::{DateTime, Datelike, Timelike, Utc};
use chrono_tz::Tz;

/// Firehose refuses a prefix longer than this after evaluation.
pub const MAX_EVALUATED_PREFIX_CHARS: usize = 512;
/// Length of `!{firehose:random-string}`.
pub const RANDOM_STRING_LEN: usize = 11;
/// The `errorCode` of records whose partition keys could not be extracted (their error output
/// type, the folder, is `partitioning-failed`: see `input::PARTITIONING_FAILED`).
pub const METADATA_EXTRACTION_FAILED: &str = "DynamicPartitioning.MetadataExtractionFailed";

/// A prefix validation error (a usage error: exit 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PrefixError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, PrefixError> {
    Err(PrefixError(msg.into()))
}

/// One field of a `DateTimeFormatter` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DateField {
    /// `y`, `yyy`, `yyyy`... (also `u`): the year, zero-padded to the letter count.
    Year(usize),
    /// `yy` (or `uu`): the last two digits of the year.
    Year2,
    /// `M` / `MM`
    Month(usize),
    /// `d` / `dd`
    Day(usize),
    /// `H` / `HH`
    Hour(usize),
    /// `m` / `mm`
    Minute(usize),
    /// `s` / `ss`
    Second(usize),
    /// `S`..`SSS`: fraction of the second, to that many digits (milliseconds at most).
    Fraction(usize),
    Literal(String),
}

/// One piece of a parsed prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    Literal(String),
    Timestamp(Vec<DateField>),
    RandomString,
    ErrorOutputType,
    PartitionKey(String),
}

/// A parsed prefix: the tokens, with Firehose's default time prefix already appended when the
/// rules call for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefix {
    tokens: Vec<Token>,
}

impl Prefix {
    pub fn tokens(&self) -> &[Token] {
        &self.tokens
    }

    /// Names used in `!{partitionKeyFromQuery:NAME}`, in order of first use.
    pub fn partition_keys(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for t in &self.tokens {
            if let Token::PartitionKey(n) = t {
                if !names.contains(&n.as_str()) {
                    names.push(n);
                }
            }
        }
        names
    }
}

/// Everything an evaluation needs besides the prefix.
pub struct EvalContext<'a> {
    /// Arrival time (epoch ms) of the oldest record in the object.
    pub arrival_ms: i64,
    pub tz: Tz,
    /// Value for `!{firehose:error-output-type}`.
    pub error_output_type: &'a str,
    /// `(NAME, value)` pairs for `!{partitionKeyFromQuery:NAME}`.
    pub partition_values: &'a [(String, String)],
    /// Source of `!{firehose:random-string}` values.
    pub random_string: &'a mut (dyn FnMut() -> String + 'a),
}

/// The `yyyy/MM/dd/HH/` Firehose appends to a prefix without a timestamp expression.
fn default_time_fields() -> Vec<DateField> {
    vec![
        DateField::Year(4),
        DateField::Literal("/".into()),
        DateField::Month(2),
        DateField::Literal("/".into()),
        DateField::Day(2),
        DateField::Literal("/".into()),
        DateField::Hour(2),
        DateField::Literal("/".into()),
    ]
}

/// The main prefix and the error prefix, validated together as Firehose does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefixes {
    pub main: Prefix,
    pub error: Prefix,
}

impl Prefixes {
    /// Parses and validates `--prefix` and `--error-prefix` with Firehose's semantic rules
    /// (where the page's examples table disagrees with its rules, the rules win):
    ///
    /// * the main prefix may not contain `!{firehose:error-output-type}`;
    /// * an error prefix is required when the main prefix has expressions;
    /// * an error prefix with expressions must contain `!{firehose:error-output-type}`;
    /// * a main prefix without a timestamp expression gets `yyyy/MM/dd/HH/` appended by plain
    ///   concatenation — except when it holds `!{partitionKeyFromQuery:..}` expressions: with
    ///   dynamic partitioning the prefix is used as written (the "Dynamic partitioning" page's
    ///   example key has no time appended);
    /// * an error prefix without expressions gets `<error-output-type>/yyyy/MM/dd/HH/` appended;
    ///   with no error prefix, the main prefix (as written) is used that way.
    pub fn parse(main: Option<&str>, error: Option<&str>) -> Result<Prefixes, PrefixError> {
        let main_text = main.unwrap_or("");
        let main_tokens = parse_tokens(main_text)?;
        let main_has_expr = main_tokens.iter().any(|t| !matches!(t, Token::Literal(_)));
        if main_tokens.contains(&Token::ErrorOutputType) {
            return err(
                "the prefix cannot contain !{firehose:error-output-type}: it is allowed only in the error prefix",
            );
        }
        let error_text = error.filter(|e| !e.is_empty());
        if main_has_expr && error_text.is_none() {
            return err(
                "ErrorOutputPrefix can't be null when Prefix contains expressions: give --error-prefix",
            );
        }

        let mut main_final = main_tokens.clone();
        let has_timestamp = main_tokens.iter().any(|t| matches!(t, Token::Timestamp(_)));
        let has_partition = main_tokens
            .iter()
            .any(|t| matches!(t, Token::PartitionKey(_)));
        if !has_timestamp && !has_partition {
            main_final.push(Token::Timestamp(default_time_fields()));
        }

        let error_final = match error_text {
            None => default_error_tokens(main_tokens),
            Some(text) => {
                let tokens = parse_tokens(text)?;
                let has_expr = tokens.iter().any(|t| !matches!(t, Token::Literal(_)));
                if tokens.iter().any(|t| matches!(t, Token::PartitionKey(_))) {
                    return err(
                        "the error prefix cannot contain !{partitionKeyFromQuery:..}: records go there when their keys could not be extracted",
                    );
                }
                if has_expr && !tokens.contains(&Token::ErrorOutputType) {
                    return err(
                        "the error prefix has expressions, so it must contain at least one !{firehose:error-output-type}",
                    );
                }
                if has_expr {
                    tokens
                } else {
                    default_error_tokens(tokens)
                }
            }
        };
        Ok(Prefixes {
            main: Prefix { tokens: main_final },
            error: Prefix {
                tokens: error_final,
            },
        })
    }
}

/// `<prefix><error-output-type>/yyyy/MM/dd/HH/` (a slash after the type, so the type is a folder).
fn default_error_tokens(mut tokens: Vec<Token>) -> Vec<Token> {
    tokens.push(Token::ErrorOutputType);
    tokens.push(Token::Literal("/".into()));
    tokens.push(Token::Timestamp(default_time_fields()));
    tokens
}

/// Splits a prefix into literals and expressions; `!{` only opens an expression.
pub fn parse_tokens(text: &str) -> Result<Vec<Token>, PrefixError> {
    let mut tokens = Vec::new();
    let mut rest = text;
    let mut literal = String::new();
    while let Some(start) = rest.find("!{") {
        literal.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return err(format!(
                "'!{{' must start a !{{namespace:value}} expression, but '{}' in prefix '{text}' has no closing '}}'",
                &rest[start..]
            ));
        };
        let expr = &after[..end];
        if expr.contains("!{") {
            return err(format!(
                "'!{{' can only appear in !{{namespace:value}} expressions: '!{{{expr}}}' in prefix '{text}'"
            ));
        }
        if !literal.is_empty() {
            tokens.push(Token::Literal(std::mem::take(&mut literal)));
        }
        tokens.push(parse_expression(expr, text)?);
        rest = &after[end + 1..];
    }
    literal.push_str(rest);
    if !literal.is_empty() {
        tokens.push(Token::Literal(literal));
    }
    Ok(tokens)
}

fn parse_expression(expr: &str, text: &str) -> Result<Token, PrefixError> {
    let Some((namespace, value)) = expr.split_once(':') else {
        return err(format!(
            "expression '!{{{expr}}}' in prefix '{text}' is not of the form !{{namespace:value}}"
        ));
    };
    match namespace {
        "timestamp" => {
            if value.is_empty() {
                return err(format!(
                    "!{{timestamp:}} in prefix '{text}' needs a DateTimeFormatter pattern, e.g. !{{timestamp:yyyy/MM/dd}}"
                ));
            }
            Ok(Token::Timestamp(parse_pattern(value)?))
        }
        "firehose" => match value {
            "random-string" => Ok(Token::RandomString),
            "error-output-type" => Ok(Token::ErrorOutputType),
            other => err(format!(
                "unknown value '{other}' for the firehose namespace in prefix '{text}' (use random-string or error-output-type)"
            )),
        },
        "partitionKeyFromQuery" => {
            if value.is_empty() {
                return err(format!(
                    "!{{partitionKeyFromQuery:}} in prefix '{text}' needs a key name"
                ));
            }
            Ok(Token::PartitionKey(value.to_string()))
        }
        "partitionKeyFromLambda" => err(format!(
            "!{{partitionKeyFromLambda:{value}}} in prefix '{text}' is not supported: kds-s3sink runs no Lambda; use !{{partitionKeyFromQuery:..}} with --partition-key"
        )),
        other => err(format!(
            "unknown namespace '{other}' in prefix '{text}' (use timestamp, firehose or partitionKeyFromQuery)"
        )),
    }
}

/// Most letters of a year field (`yyyy...`): Java's widest padded number.
const MAX_YEAR_LETTERS: usize = 19;

/// Parses the supported subset of Java's `DateTimeFormatter` patterns: `y`/`u` (year; `yy` is
/// two digits), `M`, `d`, `H`, `m`, `s` (one or two letters), `S` (1–3), quoted literals
/// `'...'` with `''` for a quote, and any non-letter as itself. Other letters are refused.
pub fn parse_pattern(pattern: &str) -> Result<Vec<DateField>, PrefixError> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut fields = Vec::new();
    let mut literal = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            i = quoted(&chars, i, pattern, &mut literal)?;
            continue;
        }
        if c.is_ascii_alphabetic() {
            let mut n = 1;
            while chars.get(i + n) == Some(&c) {
                n += 1;
            }
            if !literal.is_empty() {
                fields.push(DateField::Literal(std::mem::take(&mut literal)));
            }
            fields.push(date_field(c, n, pattern)?);
            i += n;
            continue;
        }
        if matches!(c, '[' | ']' | '#' | '{' | '}') {
            return err(format!(
                "character '{c}' is reserved in timestamp pattern '{pattern}'; quote it as '{c}'"
            ));
        }
        literal.push(c);
        i += 1;
    }
    if !literal.is_empty() {
        fields.push(DateField::Literal(literal));
    }
    Ok(fields)
}

/// The quote at `chars[start]`: `''` is a quote, else quoted text up to the closing quote
/// (`''` inside is a quote), appended to `literal`. Returns the index after it.
fn quoted(
    chars: &[char],
    start: usize,
    pattern: &str,
    literal: &mut String,
) -> Result<usize, PrefixError> {
    if chars.get(start + 1) == Some(&'\'') {
        literal.push('\'');
        return Ok(start + 2);
    }
    let mut j = start + 1;
    loop {
        match chars.get(j) {
            None => {
                return err(format!(
                    "unterminated quoted literal in timestamp pattern '{pattern}'"
                ))
            }
            Some('\'') if chars.get(j + 1) == Some(&'\'') => {
                literal.push('\'');
                j += 2;
            }
            Some('\'') => return Ok(j + 1),
            Some(&ch) => {
                literal.push(ch);
                j += 1;
            }
        }
    }
}

/// The field of a run of `n` pattern letters `c`.
fn date_field(c: char, n: usize, pattern: &str) -> Result<DateField, PrefixError> {
    Ok(match (c, n) {
        ('y' | 'u', 2) => DateField::Year2,
        // Java's DateTimeFormatter pads a year to at most 19 digits (and refuses more
        // letters); a wider field would also overflow Rust's formatting width.
        ('y' | 'u', 1..=MAX_YEAR_LETTERS) => DateField::Year(n),
        ('y' | 'u', _) => {
            return err(format!(
                "too many pattern letters: {n} '{c}' in a timestamp pattern (at most {MAX_YEAR_LETTERS})"
            ));
        }
        ('M', 1 | 2) => DateField::Month(n),
        ('d', 1 | 2) => DateField::Day(n),
        ('H', 1 | 2) => DateField::Hour(n),
        ('m', 1 | 2) => DateField::Minute(n),
        ('s', 1 | 2) => DateField::Second(n),
        ('S', 1..=3) => DateField::Fraction(n),
        _ => {
            let run: String = std::iter::repeat_n(c, n).collect();
            return err(format!(
                "unsupported pattern letters '{run}' in timestamp pattern '{pattern}' (supported: yyyy yy MM M dd d HH H mm m ss s SSS and 'quoted text')"
            ));
        }
    })
}

/// The instant in the chosen zone.
pub fn zoned(ms: i64, tz: Tz) -> DateTime<Tz> {
    let utc = DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    utc.with_timezone(&tz)
}

fn pad(out: &mut String, value: i64, width: usize) {
    use std::fmt::Write;
    let _ = write!(out, "{value:0width$}");
}

/// Formats one instant with parsed pattern fields.
pub fn format_fields(fields: &[DateField], t: &DateTime<Tz>, out: &mut String) {
    for f in fields {
        match f {
            DateField::Year(n) => pad(out, i64::from(t.year()), *n),
            DateField::Year2 => pad(out, i64::from(t.year()).rem_euclid(100), 2),
            DateField::Month(n) => pad(out, i64::from(t.month()), *n),
            DateField::Day(n) => pad(out, i64::from(t.day()), *n),
            DateField::Hour(n) => pad(out, i64::from(t.hour()), *n),
            DateField::Minute(n) => pad(out, i64::from(t.minute()), *n),
            DateField::Second(n) => pad(out, i64::from(t.second()), *n),
            DateField::Fraction(n) => {
                let ms = i64::from(t.timestamp_subsec_millis());
                let v = ms / 10_i64.pow(3 - *n as u32);
                pad(out, v, *n);
            }
            DateField::Literal(s) => out.push_str(s),
        }
    }
}

/// Evaluates a prefix for one object. Fails when a partition key has no value or the result is
/// over [`MAX_EVALUATED_PREFIX_CHARS`].
pub fn evaluate(prefix: &Prefix, ctx: &mut EvalContext<'_>) -> Result<String, PrefixError> {
    let t = zoned(ctx.arrival_ms, ctx.tz);
    let mut out = String::new();
    for token in &prefix.tokens {
        match token {
            Token::Literal(s) => out.push_str(s),
            Token::Timestamp(fields) => format_fields(fields, &t, &mut out),
            Token::RandomString => out.push_str(&(ctx.random_string)()),
            Token::ErrorOutputType => out.push_str(ctx.error_output_type),
            Token::PartitionKey(name) => match ctx.partition_values.iter().find(|(k, _)| k == name)
            {
                Some((_, v)) => out.push_str(v),
                None => return err(format!("no value for partition key '{name}'")),
            },
        }
    }
    let chars = out.chars().count();
    if chars > MAX_EVALUATED_PREFIX_CHARS {
        return err(format!(
            "evaluated prefix is {chars} characters, over Firehose's limit of {MAX_EVALUATED_PREFIX_CHARS}: {out}"
        ));
    }
    Ok(out)
}

/// `<name>-<version>-<yyyy-MM-dd-HH-mm-ss>-<uuid>[.gz]`, the part of the key Firehose adds.
pub fn object_suffix(
    name: &str,
    version: u32,
    arrival_ms: i64,
    tz: Tz,
    uuid: &uuid::Uuid,
    gzip: bool,
) -> String {
    let t = zoned(arrival_ms, tz);
    let mut out = String::with_capacity(name.len() + 64);
    out.push_str(name);
    out.push('-');
    out.push_str(&version.to_string());
    out.push('-');
    let fields = [
        DateField::Year(4),
        DateField::Literal("-".into()),
        DateField::Month(2),
        DateField::Literal("-".into()),
        DateField::Day(2),
        DateField::Literal("-".into()),
        DateField::Hour(2),
        DateField::Literal("-".into()),
        DateField::Minute(2),
        DateField::Literal("-".into()),
        DateField::Second(2),
    ];
    format_fields(&fields, &t, &mut out);
    out.push('-');
    out.push_str(&uuid.hyphenated().to_string());
    if gzip {
        out.push_str(".gz");
    }
    out
}

/// 11 random lowercase hex characters, like the documented example `5abf82daaa5`.
pub fn random_string() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..RANDOM_STRING_LEN)
        .map(|_| {
            let v: u8 = rng.random_range(0..16);
            char::from_digit(u32::from(v), 16).unwrap_or('0')
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 10:30 AM UTC on Aug 27, 2018: the instant of the AWS examples table.
    const AUG_27_2018_1030: i64 = 1_535_365_800_000;

    fn eval_with(
        prefix: &Prefix,
        ms: i64,
        tz: Tz,
        error_type: &str,
        keys: &[(&str, &str)],
    ) -> Result<String, PrefixError> {
        let owned: Vec<(String, String)> = keys
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut n = 0;
        let mut random = || {
            n += 1;
            format!("rand{n:07}")
        };
        let mut ctx = EvalContext {
            arrival_ms: ms,
            tz,
            error_output_type: error_type,
            partition_values: &owned,
            random_string: &mut random,
        };
        evaluate(prefix, &mut ctx)
    }

    fn eval(prefix: &Prefix, ms: i64) -> String {
        eval_with(prefix, ms, Tz::UTC, "processing-failed", &[]).unwrap()
    }

    fn both(main: Option<&str>, error: Option<&str>, ms: i64) -> (String, String) {
        let p = Prefixes::parse(main, error).unwrap();
        (eval(&p.main, ms), eval(&p.error, ms))
    }

    fn ms_of(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> i64 {
        chrono::NaiveDate::from_ymd_opt(y, mo, d)
            .unwrap()
            .and_hms_opt(h, mi, s)
            .unwrap()
            .and_utc()
            .timestamp_millis()
    }

    #[test]
    fn the_example_instant_is_right() {
        assert_eq!(AUG_27_2018_1030, ms_of(2018, 8, 27, 10, 30, 0));
    }

    // ---- "Custom Prefixes for Amazon S3 Objects": the timestamp namespace ----

    #[test]
    fn doc_timestamp_yyyy_evaluates_to_the_year() {
        // "in the year 2018, the expression !{timestamp:yyyy} evaluates to 2018"
        let p = Prefixes::parse(
            Some("!{timestamp:yyyy}"),
            Some("e/!{firehose:error-output-type}"),
        )
        .unwrap();
        assert_eq!(eval(&p.main, AUG_27_2018_1030), "2018");
    }

    #[test]
    fn doc_every_timestamp_in_a_prefix_is_the_same_instant() {
        // "If you use the timestamp namespace more than once in the same prefix expression,
        // every instance evaluates to the same instant in time."
        let p = Prefixes::parse(
            Some("a/!{timestamp:yyyy-MM-dd}/b/!{timestamp:HH-mm-ss.SSS}/c/!{timestamp:ss}"),
            Some("e/!{firehose:error-output-type}"),
        )
        .unwrap();
        let ms = ms_of(2021, 3, 19, 23, 59, 59) + 987;
        assert_eq!(eval(&p.main, ms), "a/2021-03-19/b/23-59-59.987/c/59");
    }

    // ---- the firehose namespace table ----

    #[test]
    fn doc_error_output_type_example() {
        // Example input myPrefix/result=!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}
        // -> myPrefix/result=processing-failed/2018/08/03 (on Aug 3, 2018).
        let p = Prefixes::parse(
            Some("ok/"),
            Some("myPrefix/result=!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}"),
        )
        .unwrap();
        assert_eq!(
            eval(&p.error, ms_of(2018, 8, 3, 12, 0, 0)),
            "myPrefix/result=processing-failed/2018/08/03"
        );
    }

    #[test]
    fn doc_error_output_type_twice_is_the_same_string() {
        let p = Prefixes::parse(
            None,
            Some("!{firehose:error-output-type}/x/!{firehose:error-output-type}"),
        )
        .unwrap();
        let got = eval_with(&p.error, 0, Tz::UTC, METADATA_EXTRACTION_FAILED, &[]).unwrap();
        assert_eq!(
            got,
            format!("{METADATA_EXTRACTION_FAILED}/x/{METADATA_EXTRACTION_FAILED}")
        );
    }

    #[test]
    fn doc_random_string_is_11_chars_and_new_each_time() {
        // myPrefix/!{firehose:random-string}/ -> myPrefix/046b6c7f-0b/ (11 characters).
        let p = Prefixes::parse(
            Some("myPrefix/!{firehose:random-string}/!{firehose:random-string}/"),
            Some("e/!{firehose:error-output-type}"),
        )
        .unwrap();
        // With the real generator:
        let mut ctx_random = random_string;
        let mut ctx = EvalContext {
            arrival_ms: 0,
            tz: Tz::UTC,
            error_output_type: "x",
            partition_values: &[],
            random_string: &mut ctx_random,
        };
        let got = evaluate(&p.main, &mut ctx).unwrap();
        let parts: Vec<&str> = got.split('/').collect();
        assert_eq!(parts[0], "myPrefix");
        for r in &parts[1..3] {
            assert_eq!(r.len(), RANDOM_STRING_LEN, "{got}");
            assert!(r
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        }
        assert_ne!(parts[1], parts[2], "every instance is a new random string");
        // No timestamp expression: yyyy/MM/dd/HH/ follows.
        assert_eq!(parts[3..].join("/"), "1970/01/01/00/");
        // The documented example output has the same shape: 11 characters.
        assert_eq!("046b6c7f-0b".len(), RANDOM_STRING_LEN);
        assert_eq!("5abf82daaa5".len(), RANDOM_STRING_LEN);
    }

    #[test]
    fn doc_random_string_is_allowed_in_both_prefixes() {
        let p = Prefixes::parse(
            Some("!{firehose:random-string}/a/"),
            Some("!{firehose:random-string}/!{firehose:error-output-type}/"),
        )
        .unwrap();
        assert_eq!(
            eval(&p.main, AUG_27_2018_1030),
            "rand0000001/a/2018/08/27/10/"
        );
        assert_eq!(
            eval(&p.error, AUG_27_2018_1030),
            "rand0000001/processing-failed/"
        );
    }

    // ---- Semantic rules ----

    #[test]
    fn rule_quoted_text_is_literal() {
        // "any string escaped with single quotes in the value field is taken literally"
        let fields = parse_pattern("'year='yyyy'/month='MM").unwrap();
        let mut out = String::new();
        format_fields(&fields, &zoned(AUG_27_2018_1030, Tz::UTC), &mut out);
        assert_eq!(out, "year=2018/month=08");
        let p = Prefixes::parse(
            Some("!{timestamp:yyyy'-'MM'-'dd}/!{timestamp:'at '''HH''}/"),
            Some("e/!{firehose:error-output-type}"),
        )
        .unwrap();
        assert_eq!(eval(&p.main, AUG_27_2018_1030), "2018-08-27/at '10'/");
    }

    #[test]
    fn rule_no_timestamp_appends_yyyy_mm_dd_hh_by_concatenation() {
        // The rules: plain concatenation, no slash inserted.
        let ms = ms_of(2021, 3, 19, 13, 15, 48);
        assert_eq!(
            both(Some("lab1-input/"), None, ms).0,
            "lab1-input/2021/03/19/13/"
        );
        assert_eq!(both(Some("myPrefix"), None, ms).0, "myPrefix2021/03/19/13/");
        assert_eq!(both(None, None, ms).0, "2021/03/19/13/");
    }

    #[test]
    fn rule_no_timestamp_appends_even_with_other_expressions() {
        let p = Prefixes::parse(
            Some("r=!{firehose:random-string}/"),
            Some("e/!{firehose:error-output-type}/"),
        )
        .unwrap();
        assert_eq!(
            eval(&p.main, AUG_27_2018_1030),
            "r=rand0000001/2018/08/27/10/"
        );
    }

    #[test]
    fn rule_bang_brace_only_in_expressions() {
        for bad in ["a!{b", "x/!{timestamp:yyyy", "a/!{!{timestamp:yyyy}}"] {
            let e =
                Prefixes::parse(Some(bad), Some("e/!{firehose:error-output-type}")).unwrap_err();
            assert!(e.0.contains("'!{'"), "{bad}: {e}");
        }
        // '!' and '{' apart are ordinary characters.
        assert_eq!(both(Some("a!b{c}/"), None, 0).0, "a!b{c}/1970/01/01/00/");
    }

    #[test]
    fn rule_error_prefix_required_when_prefix_has_expressions() {
        // Examples table row 2: Prefix !{timestamp:yyyy/MM/dd}, ErrorOutputPrefix unspecified
        // -> "Invalid input: ErrorOutputPrefix can't be null when Prefix contains expressions".
        let e = Prefixes::parse(Some("!{timestamp:yyyy/MM/dd}"), None).unwrap_err();
        assert!(e.0.contains("ErrorOutputPrefix can't be null"), "{e}");
        let e = Prefixes::parse(Some("!{timestamp:yyyy/MM/dd}"), Some("")).unwrap_err();
        assert!(e.0.contains("ErrorOutputPrefix can't be null"), "{e}");
    }

    #[test]
    fn rule_no_error_prefix_uses_the_prefix_with_type_and_time() {
        // "ErrorOutputPrefix evaluates to <specified-prefix><error-output-type>YYYY/MM/DD/HH/";
        // We put a slash after the type, so the type is a folder of its own.
        let ms = ms_of(2021, 3, 19, 13, 0, 0);
        assert_eq!(
            both(Some("lab1-input/"), None, ms).1,
            "lab1-input/processing-failed/2021/03/19/13/"
        );
    }

    #[test]
    fn rule_error_prefix_without_expressions_gets_type_and_time() {
        // The rules: lab1-error/ -> lab1-error/processing-failed/2021/03/19/13/
        let ms = ms_of(2021, 3, 19, 13, 40, 0);
        let (main, error) = both(Some("lab1-input/"), Some("lab1-error/"), ms);
        assert_eq!(main, "lab1-input/2021/03/19/13/");
        assert_eq!(error, "lab1-error/processing-failed/2021/03/19/13/");
        let p = Prefixes::parse(Some("lab1-input/"), Some("lab1-error/")).unwrap();
        assert_eq!(
            eval_with(
                &p.error,
                ms,
                Tz::UTC,
                crate::input::PARTITIONING_FAILED,
                &[]
            )
            .unwrap(),
            "lab1-error/partitioning-failed/2021/03/19/13/"
        );
    }

    #[test]
    fn rule_error_prefix_with_expressions_needs_error_output_type() {
        let e = Prefixes::parse(Some("a/"), Some("err/!{timestamp:yyyy}/")).unwrap_err();
        assert!(
            e.0.contains("must contain at least one !{firehose:error-output-type}"),
            "{e}"
        );
        let e = Prefixes::parse(Some("a/"), Some("err/!{firehose:random-string}/")).unwrap_err();
        assert!(e.0.contains("!{firehose:error-output-type}"), "{e}");
    }

    #[test]
    fn rule_prefix_cannot_contain_error_output_type() {
        let e = Prefixes::parse(
            Some("a/!{firehose:error-output-type}/"),
            Some("e/!{firehose:error-output-type}"),
        )
        .unwrap_err();
        assert!(
            e.0.contains("cannot contain !{firehose:error-output-type}"),
            "{e}"
        );
        assert!(Prefixes::parse(Some("a/!{firehose:error-output-type}/"), None).is_err());
    }

    #[test]
    fn rule_evaluated_prefix_over_512_chars_is_refused() {
        let exactly = "p".repeat(MAX_EVALUATED_PREFIX_CHARS - "2018/08/27/10/".len());
        let p = Prefixes::parse(Some(&exactly), None).unwrap();
        assert_eq!(
            eval(&p.main, AUG_27_2018_1030).len(),
            MAX_EVALUATED_PREFIX_CHARS
        );
        let over = format!("{exactly}p");
        let p = Prefixes::parse(Some(&over), None).unwrap();
        let e = eval_with(&p.main, AUG_27_2018_1030, Tz::UTC, "x", &[]).unwrap_err();
        assert!(e.0.contains("over Firehose's limit of 512"), "{e}");
    }

    // ---- "Example prefixes" table (at 10:30 AM UTC on Aug 27, 2018) ----

    #[test]
    fn example_row1_unspecified_prefix() {
        // Table: Prefix 2018/08/10/ — it drops the day (27) and takes the hour as the day.
        // The rules append yyyy/MM/dd/HH/: 2018/08/27/10/.
        let (main, error) = both(
            None,
            Some("myFirehoseFailures/!{firehose:error-output-type}/"),
            AUG_27_2018_1030,
        );
        assert_eq!(main, "2018/08/27/10/");
        // An error prefix with expressions is used as written: no time appended.
        assert_eq!(error, "myFirehoseFailures/processing-failed/");
    }

    #[test]
    fn example_row2_expressions_without_error_prefix_are_invalid() {
        let e = Prefixes::parse(Some("!{timestamp:yyyy/MM/dd}"), None).unwrap_err();
        assert!(e
            .0
            .starts_with("ErrorOutputPrefix can't be null when Prefix contains expressions"));
    }

    #[test]
    fn example_row3_year_any_month_random() {
        let p = Prefixes::parse(
            Some("myFirehose/DeliveredYear=!{timestamp:yyyy}/anyMonth/rand=!{firehose:random-string}"),
            Some("myFirehoseFailures/!{firehose:error-output-type}/!{timestamp:yyyy}/anyMonth/!{timestamp:dd}"),
        )
        .unwrap();
        // Table: myFirehose/DeliveredYear=2018/anyMonth/rand=5abf82daaa5 (random part).
        assert_eq!(
            eval(&p.main, AUG_27_2018_1030),
            "myFirehose/DeliveredYear=2018/anyMonth/rand=rand0000001"
        );
        // Table: .../2018/anyMonth/10 — but dd on Aug 27 is 27 (the table put the hour there).
        assert_eq!(
            eval(&p.error, AUG_27_2018_1030),
            "myFirehoseFailures/processing-failed/2018/anyMonth/27"
        );
    }

    #[test]
    fn example_row4_hive_style_and_quoted_literals() {
        let p = Prefixes::parse(
            Some("myPrefix/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/"),
            Some("myErrorPrefix/!{timestamp:'year='yyyy'/month='MM'/day='dd'/hour='HH}/!{firehose:error-output-type}"),
        )
        .unwrap();
        // The table's output is for 2018-07-06 23:xx (not the stated Aug 27): both instants.
        let jul_6 = ms_of(2018, 7, 6, 23, 10, 0);
        assert_eq!(
            eval(&p.main, jul_6),
            "myPrefix/year=2018/month=07/day=06/hour=23/"
        );
        assert_eq!(
            eval(&p.error, jul_6),
            "myErrorPrefix/year=2018/month=07/day=06/hour=23/processing-failed"
        );
        assert_eq!(
            eval(&p.main, AUG_27_2018_1030),
            "myPrefix/year=2018/month=08/day=27/hour=10/"
        );
    }

    #[test]
    fn example_row5_plain_prefix_without_error_prefix() {
        // Table: myFirehosePrefix/2018/08/27/ and myFirehosePrefix/processing-failed/2018/08/27/
        // (a slash inserted, no hour). The rules: plain concatenation and the hour kept.
        let (main, error) = both(Some("myFirehosePrefix"), None, AUG_27_2018_1030);
        assert_eq!(main, "myFirehosePrefix2018/08/27/10/");
        assert_eq!(error, "myFirehosePrefixprocessing-failed/2018/08/27/10/");
    }

    // ---- "Dynamic partitioning" ----

    #[test]
    fn doc_dynamic_partitioning_prefix() {
        // customer_id=!{partitionKeyFromQuery:customer_id}/device=!{partitionKeyFromQuery:device}/...
        // -> customer_id=1234567890/device=mobile/... ; the documented key has no time appended.
        let p = Prefixes::parse(
            Some("customer_id=!{partitionKeyFromQuery:customer_id}/device=!{partitionKeyFromQuery:device}/year=!{partitionKeyFromQuery:year}/month=!{partitionKeyFromQuery:month}/day=!{partitionKeyFromQuery:day}/hour=!{partitionKeyFromQuery:hour}/"),
            Some("errors/!{firehose:error-output-type}/"),
        )
        .unwrap();
        assert_eq!(
            p.main.partition_keys(),
            vec!["customer_id", "device", "year", "month", "day", "hour"]
        );
        let got = eval_with(
            &p.main,
            AUG_27_2018_1030,
            Tz::UTC,
            "x",
            &[
                ("customer_id", "1234567890"),
                ("device", "mobile"),
                ("year", "2019"),
                ("month", "08"),
                ("day", "09"),
                ("hour", "20"),
            ],
        )
        .unwrap();
        assert_eq!(
            got,
            "customer_id=1234567890/device=mobile/year=2019/month=08/day=09/hour=20/"
        );
    }

    #[test]
    fn doc_athena_custom_prefix_with_partition_key() {
        // prefix/!{timestamp:yyyy}-!{timestamp:MM}-!{timestamp:dd}/!{partitionKeyFromQuery:customer_id}/
        // -> prefix/2021-11-01/customer-1234/
        let p = Prefixes::parse(
            Some("prefix/!{timestamp:yyyy}-!{timestamp:MM}-!{timestamp:dd}/!{partitionKeyFromQuery:customer_id}/"),
            Some("errors/!{firehose:error-output-type}/"),
        )
        .unwrap();
        let got = eval_with(
            &p.main,
            ms_of(2021, 11, 1, 8, 0, 0),
            Tz::UTC,
            "x",
            &[("customer_id", "customer-1234")],
        )
        .unwrap();
        assert_eq!(got, "prefix/2021-11-01/customer-1234/");
    }

    #[test]
    fn partition_key_needs_a_value_and_is_refused_in_the_error_prefix() {
        let p = Prefixes::parse(Some("k=!{partitionKeyFromQuery:k}/"), Some("e/")).unwrap();
        assert!(eval_with(&p.main, 0, Tz::UTC, "x", &[]).is_err());
        let e = Prefixes::parse(
            Some("a/"),
            Some("e/!{firehose:error-output-type}/!{partitionKeyFromQuery:k}/"),
        )
        .unwrap_err();
        assert!(e.0.contains("partitionKeyFromQuery"), "{e}");
    }

    #[test]
    fn partition_key_from_lambda_is_refused() {
        let e = Prefixes::parse(Some("!{partitionKeyFromLambda:x}/"), Some("e/")).unwrap_err();
        assert!(e.0.contains("not supported"), "{e}");
    }

    // ---- invalid expressions ----

    #[test]
    fn invalid_expressions_are_refused_with_clear_errors() {
        let cases = [
            ("!{foo:bar}", "unknown namespace 'foo'"),
            ("!{firehose:nope}", "unknown value 'nope'"),
            ("!{timestamp}", "not of the form !{namespace:value}"),
            ("!{timestamp:}", "needs a DateTimeFormatter pattern"),
            ("!{timestamp:yyyy-QQ}", "unsupported pattern letters 'QQ'"),
            ("!{timestamp:EEE}", "unsupported pattern letters 'EEE'"),
            ("!{timestamp:hh}", "unsupported pattern letters 'hh'"),
            ("!{timestamp:'open}", "unterminated quoted literal"),
            ("!{timestamp:yyyy[MM]}", "reserved"),
            ("!{partitionKeyFromQuery:}", "needs a key name"),
        ];
        for (text, want) in cases {
            let e =
                Prefixes::parse(Some(text), Some("e/!{firehose:error-output-type}")).unwrap_err();
            assert!(e.0.contains(want), "{text}: got {e}");
        }
    }

    // ---- patterns and time zones ----

    #[test]
    fn short_fields_are_not_padded() {
        let fields = parse_pattern("y M d H m s S SS SSS yy").unwrap();
        let mut out = String::new();
        let ms = ms_of(2009, 2, 3, 4, 5, 6) + 78;
        format_fields(&fields, &zoned(ms, Tz::UTC), &mut out);
        assert_eq!(out, "2009 2 3 4 5 6 0 07 078 09");
    }

    #[test]
    fn time_zone_changes_every_timestamp() {
        // 2021-03-19 23:30 UTC is 2021-03-20 08:30 in Tokyo.
        let p = Prefixes::parse(Some("t/"), None).unwrap();
        let ms = ms_of(2021, 3, 19, 23, 30, 0);
        let tokyo: Tz = "Asia/Tokyo".parse().unwrap();
        assert_eq!(
            eval_with(&p.main, ms, tokyo, "x", &[]).unwrap(),
            "t/2021/03/20/08/"
        );
        let u = uuid::Uuid::nil();
        assert_eq!(
            object_suffix("lab1-kfh", 1, ms, tokyo, &u, false),
            "lab1-kfh-1-2021-03-20-08-30-00-00000000-0000-0000-0000-000000000000"
        );
    }

    // ---- "Amazon S3 object name format" ----

    #[test]
    fn doc_object_suffix_format() {
        // <name>-<version>-<year>-<month>-<day>-<hour>-<minute>-<second>-<uuid><file extension>
        let u: uuid::Uuid = "a9fa96af-e4e4-409f-bac3-1f804714faaa".parse().unwrap();
        let ms = ms_of(2019, 8, 9, 23, 55, 9);
        assert_eq!(
            object_suffix("my-delivery-stream", 1, ms, Tz::UTC, &u, false),
            "my-delivery-stream-1-2019-08-09-23-55-09-a9fa96af-e4e4-409f-bac3-1f804714faaa"
        );
        assert!(object_suffix("s", 3, ms, Tz::UTC, &u, true).ends_with("faaa.gz"));
    }

    // ---- found by fuzzing (fuzz/README.md) ----

    #[test]
    fn a_year_field_wider_than_java_allows_is_refused_not_a_panic() {
        // 65,536 or more letters once panicked when formatting ("Formatting argument out of
        // range"): `!{timestamp:yyyy...}` came straight from --prefix.
        for n in [20, 65_536, 70_000] {
            let text = format!("!{{timestamp:{}}}", "y".repeat(n));
            let e =
                Prefixes::parse(Some(&text), Some("e/!{firehose:error-output-type}/")).unwrap_err();
            assert!(
                e.0.starts_with(&format!("too many pattern letters: {n} 'y'")),
                "{e}"
            );
        }
        // 19 letters, Java's widest, still format.
        let p = Prefixes::parse(
            Some("!{timestamp:yyyyyyyyyyyyyyyyyyy}/"),
            Some("e/!{firehose:error-output-type}/"),
        )
        .unwrap();
        assert_eq!(eval(&p.main, AUG_27_2018_1030), "0000000000000002018/");
    }
}
