//! JSON values into SQL column types, as KDA documents it ("Mapping JSON Data Types to SQL Data
//! Types", KDA SQL Developer Guide): `null` is NULL for every type; `true`/`false` are 1/0 in a
//! numeric column; numbers and numeric strings convert when they fit the type; strings are
//! truncated to a VARCHAR/CHAR length without error; anything that cannot be converted is a
//! coercion error, and the row goes to the in-application error stream.

use serde_json::{Number, Value};

use super::SqlType;

/// Converts `v` to a JSON value holding what a column of type `ty` holds, or says why it cannot.
/// Timestamps come out as RFC 3339 strings with milliseconds (what the engine reads).
pub fn coerce(v: &Value, ty: SqlType) -> Result<Value, String> {
    match (v, ty) {
        (Value::Null, _) => Ok(Value::Null),
        (_, SqlType::Varchar(n) | SqlType::Char(n)) => Ok(Value::String(truncate(&text(v), n))),
        (Value::Bool(b), SqlType::Boolean) => Ok(Value::Bool(*b)),
        (Value::Number(n), SqlType::Boolean) => Ok(Value::Bool(n.as_f64() != Some(0.0))),
        // "If the source string is "true", converts to true (case-insensitive). Otherwise false."
        (Value::String(s), SqlType::Boolean) => Ok(Value::Bool(s.eq_ignore_ascii_case("true"))),
        (Value::Bool(b), t) if t.is_numeric() => Ok(Value::from(u8::from(*b))),
        (Value::Number(n), t) if t.is_numeric() => number(n, &n.to_string(), t),
        (Value::String(s), t) if t.is_numeric() => {
            let n: Number = serde_json::from_str(s.trim())
                .map_err(|_| format!("{} is not a number", Value::String(s.clone())))?;
            number(&n, s.trim(), t)
        }
        (Value::String(s), SqlType::Timestamp) => timestamp(s)
            .map(|ms| Value::String(kds_common::time::rfc3339_ms(ms)))
            .ok_or_else(|| format!("{v} is not a timestamp")),
        (Value::String(s), SqlType::Date) => timestamp(s)
            .map(|ms| Value::String(kds_common::time::rfc3339_ms(ms)[..10].to_string()))
            .ok_or_else(|| format!("{v} is not a date")),
        (Value::String(s), SqlType::Time) if is_time(s) => Ok(v.clone()),
        _ => Err(format!("{} cannot be converted to {ty}", shown(v))),
    }
}

/// A value as the error message shows it (long values cut).
fn shown(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 64 {
        format!("{}...", s.chars().take(64).collect::<String>())
    } else {
        s
    }
}

/// The character form of a value: strings as they are, arrays and objects as their source
/// text, numbers and booleans as written.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn truncate(s: &str, n: u32) -> String {
    s.chars().take(n as usize).collect()
}

/// A number into a numeric type: integers must be whole and in the type's range, DECIMAL(p,s)
/// must fit p digits with at most s after the point ("converting 123.4 to INT ... fails").
fn number(n: &Number, written: &str, ty: SqlType) -> Result<Value, String> {
    let range = |lo: i64, hi: i64| -> Result<Value, String> {
        let i = match n.as_i64() {
            Some(i) => i,
            None => match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => f as i64,
                _ => {
                    return Err(format!(
                        "{written} is not a whole number in the range of {ty}"
                    ))
                }
            },
        };
        if (lo..=hi).contains(&i) {
            Ok(Value::from(i))
        } else {
            Err(format!(
                "{written} is out of the range of {ty} ({lo} to {hi})"
            ))
        }
    };
    match ty {
        SqlType::Tinyint => range(i8::MIN.into(), i8::MAX.into()),
        SqlType::Smallint => range(i16::MIN.into(), i16::MAX.into()),
        SqlType::Integer => range(i32::MIN.into(), i32::MAX.into()),
        SqlType::Bigint => range(i64::MIN, i64::MAX),
        SqlType::Real | SqlType::Double => {
            let f = n.as_f64().filter(|f| f.is_finite());
            let max = if ty == SqlType::Real {
                f32::MAX as f64
            } else {
                f64::MAX
            };
            // A REAL/DOUBLE value is a floating-point number even when written as an integer
            // (SQL arithmetic on it must not be integer arithmetic: -2 / 42 is not 0).
            match f.and_then(Number::from_f64) {
                Some(x) if x.as_f64().is_some_and(|f| f.abs() <= max) => Ok(Value::Number(x)),
                _ => Err(format!("{written} is out of the range of {ty}")),
            }
        }
        SqlType::Decimal(p, s) => decimal(n, written, p, s),
        _ => Err(format!("{written} cannot be converted to {ty}")),
    }
}

fn decimal(n: &Number, written: &str, p: u32, s: u32) -> Result<Value, String> {
    let plain = written.trim_start_matches(['-', '+']);
    if plain.contains(['e', 'E']) {
        return Err(format!("{written} cannot be converted to DECIMAL({p},{s})"));
    }
    let (int, frac) = plain.split_once('.').unwrap_or((plain, ""));
    let int_digits = int.trim_start_matches('0').len() as u32;
    let frac_digits = frac.trim_end_matches('0').len() as u32;
    if frac_digits > s || int_digits > p.saturating_sub(s) {
        return Err(format!("{written} does not fit DECIMAL({p},{s})"));
    }
    Ok(Value::Number(n.clone()))
}

/// KDA's datetime strings: `1992-02-14`, `1992-02-14 18:35:44.0`, and RFC 3339.
fn timestamp(s: &str) -> Option<i64> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() == 10 {
        return kds_common::time::parse_timestamp(format!("{s}T00:00:00Z").as_bytes());
    }
    // Epoch-millisecond strings are not datetime text.
    if !b.contains(&b'-') {
        return None;
    }
    kds_common::time::parse_timestamp(b)
        .or_else(|| kds_common::time::parse_timestamp(format!("{s}Z").as_bytes()))
}

fn is_time(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 8
        && b[2] == b':'
        && b[5] == b':'
        && [0, 1, 3, 4, 6, 7].iter().all(|&i| b[i].is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok(v: Value, ty: SqlType) -> Value {
        coerce(&v, ty).unwrap_or_else(|e| panic!("{v} into {ty}: {e}"))
    }

    #[test]
    fn the_aws_pages_rules() {
        // Null literal: NULL whatever the type.
        for ty in [SqlType::Integer, SqlType::Varchar(4), SqlType::Timestamp] {
            assert_eq!(ok(Value::Null, ty), Value::Null);
        }
        // Boolean literal.
        assert_eq!(ok(json!(true), SqlType::Integer), json!(1));
        assert_eq!(ok(json!(false), SqlType::Decimal(5, 2)), json!(0));
        assert_eq!(ok(json!(true), SqlType::Varchar(3)), json!("tru"));
        assert!(coerce(&json!(true), SqlType::Timestamp).is_err());
        // Number.
        assert_eq!(ok(json!(67321), SqlType::Integer), json!(67321));
        assert!(coerce(&json!(123.4), SqlType::Integer).is_err());
        assert_eq!(ok(json!(0), SqlType::Boolean), json!(false));
        assert_eq!(ok(json!(-2.5), SqlType::Boolean), json!(true));
        assert_eq!(ok(json!(12.5), SqlType::Varchar(8)), json!("12.5"));
        assert!(coerce(&json!(1616159748000_i64), SqlType::Timestamp).is_err());
        // String.
        assert_eq!(ok(json!("42"), SqlType::Integer), json!(42));
        assert!(coerce(&json!("abc"), SqlType::Integer).is_err());
        assert_eq!(ok(json!("TRUE"), SqlType::Boolean), json!(true));
        assert_eq!(ok(json!("yes"), SqlType::Boolean), json!(false));
        assert_eq!(ok(json!("John Doe"), SqlType::Varchar(4)), json!("John"));
        assert_eq!(
            ok(json!("1992-02-14"), SqlType::Timestamp),
            json!("1992-02-14T00:00:00.000Z")
        );
        assert_eq!(
            ok(json!("1992-02-14 18:35:44.0"), SqlType::Timestamp),
            json!("1992-02-14T18:35:44.000Z")
        );
        assert!(coerce(&json!("soon"), SqlType::Timestamp).is_err());
        // Array or object: source text into characters, an error otherwise.
        assert_eq!(ok(json!([1, 2]), SqlType::Varchar(16)), json!("[1,2]"));
        assert!(coerce(&json!({"a": 1}), SqlType::Integer).is_err());
    }

    #[test]
    fn ranges_of_the_integer_types() {
        assert_eq!(ok(json!(127), SqlType::Tinyint), json!(127));
        let e = coerce(&json!(128), SqlType::Tinyint).unwrap_err();
        assert_eq!(e, "128 is out of the range of TINYINT (-128 to 127)");
        assert!(coerce(&json!(-32769), SqlType::Smallint).is_err());
        assert!(coerce(&json!(2147483648_i64), SqlType::Integer).is_err());
        assert_eq!(
            ok(json!(2147483648_i64), SqlType::Bigint),
            json!(2147483648_i64)
        );
        assert_eq!(ok(json!(" 7 "), SqlType::Integer), json!(7));
        assert_eq!(ok(json!(3.0), SqlType::Integer), json!(3));
        assert!(coerce(&json!(1e39), SqlType::Real).is_err());
        assert_eq!(ok(json!(-2), SqlType::Double), json!(-2.0));
        assert_eq!(ok(json!("1"), SqlType::Real), json!(1.0));
        assert_eq!(ok(json!(123.45), SqlType::Decimal(5, 2)), json!(123.45));
        assert!(coerce(&json!(1234.5), SqlType::Decimal(5, 2)).is_err());
        assert!(coerce(&json!(1.234), SqlType::Decimal(5, 2)).is_err());
    }
}
