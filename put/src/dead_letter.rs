//! Dead letters: one NDJSON line per record that was not delivered.
//!
//! ```text
//! {"data":"<the line>","partition_key":"K","error_code":"C","error_message":"M","attempts":N,"line":L}
//! ```
//!
//! `data` is the input line as a JSON string, exact for UTF-8 input. A line that is not valid
//! UTF-8 gets `data` with U+FFFD replacement characters plus `"data_base64"` holding the exact
//! bytes (standard alphabet, padded); consumers that need the bytes use `data_base64` when
//! present. `partition_key` is null when none could be found. `attempts` is the number of
//! PutRecords calls that carried the record (0 when it was refused before sending). `line` is
//! the 1-based input line number, counted across all input files.

use base64::Engine as _;
use kds_common::json::write_json_string;

/// Client-side error codes (service codes such as ProvisionedThroughputExceededException are
/// passed through as Kinesis returns them).
pub mod codes {
    pub const INVALID_JSON: &str = "InvalidJson";
    pub const MISSING_PARTITION_KEY: &str = "MissingPartitionKey";
    pub const INVALID_PARTITION_KEY: &str = "InvalidPartitionKey";
    pub const RECORD_TOO_LARGE: &str = "RecordTooLarge";
}

/// One undelivered record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeadLetter<'a> {
    pub data: &'a [u8],
    pub partition_key: Option<&'a str>,
    pub error_code: &'a str,
    pub error_message: &'a str,
    pub attempts: u32,
    pub line: u64,
}

/// Appends the dead letter as one NDJSON line (with its `\n`).
pub fn write_dead_letter(out: &mut Vec<u8>, d: &DeadLetter<'_>) {
    out.extend_from_slice(b"{\"data\":");
    match std::str::from_utf8(d.data) {
        Ok(s) => write_json_string(out, s),
        Err(_) => {
            write_json_string(out, &String::from_utf8_lossy(d.data));
            out.extend_from_slice(b",\"data_base64\":\"");
            out.extend_from_slice(
                base64::engine::general_purpose::STANDARD
                    .encode(d.data)
                    .as_bytes(),
            );
            out.push(b'"');
        }
    }
    out.extend_from_slice(b",\"partition_key\":");
    match d.partition_key {
        Some(k) => write_json_string(out, k),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"error_code\":");
    write_json_string(out, d.error_code);
    out.extend_from_slice(b",\"error_message\":");
    write_json_string(out, d.error_message);
    out.extend_from_slice(b",\"attempts\":");
    out.extend_from_slice(itoa::Buffer::new().format(d.attempts).as_bytes());
    out.extend_from_slice(b",\"line\":");
    out.extend_from_slice(itoa::Buffer::new().format(d.line).as_bytes());
    out.extend_from_slice(b"}\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn utf8_lines_are_strings() {
        let mut out = Vec::new();
        write_dead_letter(
            &mut out,
            &DeadLetter {
                data: r#"{"tno":"X","q":"a\"b"} é"#.as_bytes(),
                partition_key: Some("X"),
                error_code: "ProvisionedThroughputExceededException",
                error_message: "Rate exceeded for shard",
                attempts: 11,
                line: 1042,
            },
        );
        assert_eq!(out.last(), Some(&b'\n'));
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["data"], r#"{"tno":"X","q":"a\"b"} é"#);
        assert_eq!(v["partition_key"], "X");
        assert_eq!(v["error_code"], "ProvisionedThroughputExceededException");
        assert_eq!(v["attempts"], 11);
        assert_eq!(v["line"], 1042);
        assert!(v.get("data_base64").is_none());
    }

    #[test]
    fn other_bytes_are_base64_too() {
        let mut out = Vec::new();
        let data = [b'a', 0xff, 0xfe, b'b'];
        write_dead_letter(
            &mut out,
            &DeadLetter {
                data: &data,
                partition_key: None,
                error_code: codes::INVALID_JSON,
                error_message: "not valid JSON",
                attempts: 0,
                line: 3,
            },
        );
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["data"], "a\u{fffd}\u{fffd}b");
        let raw = base64::engine::general_purpose::STANDARD
            .decode(v["data_base64"].as_str().unwrap())
            .unwrap();
        assert_eq!(raw, data);
        assert_eq!(v["partition_key"], Value::Null);
    }
}
