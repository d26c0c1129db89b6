//! Where each record's partition key (and explicit hash key) comes from.

use serde_json::Value;

use crate::limits::{MAX_PARTITION_KEY_CHARS, MIN_PARTITION_KEY_CHARS};
use kds_common::rng::Rng;

/// How partition keys are chosen; exactly one per run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A dotted JSON path into each line (`tno`, `a.b`); string or number values.
    Field(String),
    /// The same key for every record.
    Constant(String),
    /// A fresh random key per record (spreads records over all shards).
    Random,
}

/// A per-line reason a record cannot be sent. Dead-lettered with [`KeyError::code`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    NotJson(String),
    MissingField(String),
    BadValue(String),
}

impl KeyError {
    /// The `error_code` written to the dead-letter file.
    pub fn code(&self) -> &'static str {
        match self {
            KeyError::NotJson(_) => "InvalidJson",
            KeyError::MissingField(_) => "MissingPartitionKey",
            KeyError::BadValue(_) => "InvalidPartitionKey",
        }
    }
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyError::NotJson(m) => write!(f, "not valid JSON: {m}"),
            KeyError::MissingField(m) | KeyError::BadValue(m) => f.write_str(m),
        }
    }
}

/// Checks the Kinesis partition key rule: 1 to 256 Unicode characters.
pub fn check_partition_key(key: &str) -> Result<(), String> {
    let chars = key.chars().count();
    if (MIN_PARTITION_KEY_CHARS..=MAX_PARTITION_KEY_CHARS).contains(&chars) {
        Ok(())
    } else {
        Err(format!(
            "partition key must be {MIN_PARTITION_KEY_CHARS} to {MAX_PARTITION_KEY_CHARS} characters, got {chars}"
        ))
    }
}

/// Computes partition keys for lines.
#[derive(Debug, Clone)]
pub struct Keyer {
    source: KeySource,
    rng: Rng,
}

impl Keyer {
    pub fn new(source: KeySource) -> Keyer {
        Keyer {
            source,
            rng: Rng::from_entropy(),
        }
    }

    pub fn source(&self) -> &KeySource {
        &self.source
    }

    /// The partition key for one line. Only [`KeySource::Field`] parses the line as JSON.
    pub fn key_for(&mut self, line: &[u8]) -> Result<String, KeyError> {
        match &self.source {
            KeySource::Constant(k) => Ok(k.clone()),
            KeySource::Random => Ok(format!(
                "{:016x}{:016x}",
                self.rng.next_u64(),
                self.rng.next_u64()
            )),
            KeySource::Field(path) => key_from_json(line, path),
        }
    }
}

/// Extracts the key at a dotted `path` of a JSON line.
pub fn key_from_json(line: &[u8], path: &str) -> Result<String, KeyError> {
    let value: Value =
        serde_json::from_slice(line).map_err(|e| KeyError::NotJson(json_error(&e)))?;
    let found = kds_common::json::lookup_path(&value, path)
        .ok_or_else(|| KeyError::MissingField(format!("partition key field '{path}' not found")))?;
    let key = match found {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Null => {
            return Err(KeyError::MissingField(format!(
                "partition key field '{path}' is null"
            )))
        }
        other => {
            return Err(KeyError::BadValue(format!(
                "partition key field '{path}' is {}, not a string or number",
                kind(other)
            )))
        }
    };
    check_partition_key(&key)
        .map_err(|m| KeyError::BadValue(format!("partition key field '{path}': {m}")))?;
    Ok(key)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// serde_json's message with the position as a column only (a line is always line 1).
fn json_error(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    match text.strip_suffix(&suffix) {
        Some(msg) if e.line() == 1 => format!("{msg} at column {}", e.column()),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_strings_and_numbers() {
        let line = br#"{"tno":"AwGi20200904131249","a":{"b":42},"f":1.5}"#;
        assert_eq!(key_from_json(line, "tno").unwrap(), "AwGi20200904131249");
        assert_eq!(key_from_json(line, "a.b").unwrap(), "42");
        assert_eq!(key_from_json(line, "f").unwrap(), "1.5");
    }

    #[test]
    fn field_errors_say_what_is_wrong() {
        let e = key_from_json(b"{\"tno\": }", "tno").unwrap_err();
        assert_eq!(e.code(), "InvalidJson");
        assert_eq!(e.to_string(), "not valid JSON: expected value at column 9");
        let e = key_from_json(br#"{"x":1}"#, "tno").unwrap_err();
        assert_eq!(e.code(), "MissingPartitionKey");
        assert!(e.to_string().contains("'tno' not found"), "{e}");
        let e = key_from_json(br#"{"tno":[1]}"#, "tno").unwrap_err();
        assert_eq!(e.code(), "InvalidPartitionKey");
        assert!(e.to_string().contains("an array"), "{e}");
        let e = key_from_json(br#"{"tno":""}"#, "tno").unwrap_err();
        assert_eq!(e.code(), "InvalidPartitionKey");
        let long = format!(r#"{{"tno":"{}"}}"#, "é".repeat(257));
        assert!(key_from_json(long.as_bytes(), "tno").is_err());
        let ok = format!(r#"{{"tno":"{}"}}"#, "é".repeat(256));
        assert!(key_from_json(ok.as_bytes(), "tno").is_ok());
    }

    #[test]
    fn constant_and_random_do_not_parse() {
        let mut k = Keyer::new(KeySource::Constant("k".into()));
        assert_eq!(k.key_for(b"not json").unwrap(), "k");
        let mut r = Keyer::new(KeySource::Random);
        let a = r.key_for(b"x").unwrap();
        let b = r.key_for(b"x").unwrap();
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }
}
