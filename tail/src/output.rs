//! Turning records into output lines: the data as it is, or an envelope.
//!
//! A formatter appends to a `Vec<u8>` (the output buffer); the caller decides when to flush.

use base64::Engine;
use kds_common::json::write_json_string;

/// What to do with data that is not a single valid UTF-8 line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DataMode {
    /// Several lines → a JSON string; invalid UTF-8 → base64. Counted as warnings.
    Auto,
    /// Always a JSON string (invalid UTF-8 sequences become U+FFFD).
    JsonEscape,
    /// Always base64.
    Base64,
    /// The bytes as they are, newlines and all.
    Raw,
}

impl DataMode {
    pub fn name(self) -> &'static str {
        match self {
            DataMode::Auto => "auto",
            DataMode::JsonEscape => "json-escape",
            DataMode::Base64 => "base64",
            DataMode::Raw => "raw",
        }
    }
}

/// One record to write. `sub_sequence` is set for user records taken out of a KPL aggregate.
#[derive(Debug, Clone, Copy)]
pub struct OutRecord<'a> {
    pub shard_id: &'a str,
    pub sequence_number: &'a str,
    pub sub_sequence: Option<u64>,
    pub partition_key: &'a str,
    pub arrival_ms: Option<i64>,
    pub data: &'a [u8],
}

/// Counts of records that needed special handling.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Warnings {
    /// Data with inner newlines written as a JSON string (data lines, auto/json-escape).
    pub escaped: u64,
    /// Data written as base64 because it is not UTF-8 (data lines, auto/base64; envelopes).
    pub base64: u64,
}

impl Warnings {
    pub fn total(&self) -> u64 {
        self.escaped + self.base64
    }
}

pub struct Formatter {
    pub mode: DataMode,
    pub envelope: bool,
    pub warnings: Warnings,
}

impl Formatter {
    pub fn new(mode: DataMode, envelope: bool) -> Formatter {
        Formatter {
            mode,
            envelope,
            warnings: Warnings::default(),
        }
    }

    /// Appends the record's line (with its `\n`) to `out`.
    pub fn write(&mut self, rec: &OutRecord<'_>, out: &mut Vec<u8>) {
        if self.envelope {
            self.write_envelope(rec, out)
        } else {
            self.write_data(rec.data, out)
        }
    }

    fn write_data(&mut self, data: &[u8], out: &mut Vec<u8>) {
        // A trailing newline is the record's own line end: don't double it.
        let body = data.strip_suffix(b"\n").unwrap_or(data);
        if self.mode == DataMode::Raw {
            out.extend_from_slice(body);
            out.push(b'\n');
            return;
        }
        let single_line = memchr_newline(body).is_none();
        match (std::str::from_utf8(body), single_line, self.mode) {
            (Ok(text), true, _) => out.extend_from_slice(text.as_bytes()),
            (Ok(text), false, DataMode::Auto | DataMode::JsonEscape) => {
                self.warnings.escaped += 1;
                write_json_string(out, text);
            }
            (Err(_), _, DataMode::JsonEscape) => {
                self.warnings.escaped += 1;
                write_json_string(out, &String::from_utf8_lossy(body));
            }
            _ => {
                self.warnings.base64 += 1;
                push_base64(out, body);
            }
        }
        out.push(b'\n');
    }

    fn write_envelope(&mut self, rec: &OutRecord<'_>, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"shard_id\":");
        write_json_string(out, rec.shard_id);
        out.extend_from_slice(b",\"sequence_number\":");
        write_json_string(out, rec.sequence_number);
        if let Some(sub) = rec.sub_sequence {
            out.extend_from_slice(b",\"sub_sequence_number\":");
            out.extend_from_slice(sub.to_string().as_bytes());
        }
        out.extend_from_slice(b",\"partition_key\":");
        write_json_string(out, rec.partition_key);
        out.extend_from_slice(b",\"arrival\":");
        match rec.arrival_ms {
            Some(ms) => {
                out.push(b'"');
                kds_common::time::format_rfc3339_ms(ms, out);
                out.push(b'"');
            }
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"data\":");
        match std::str::from_utf8(rec.data) {
            Ok(text) => {
                let trimmed = text.trim_matches(|c: char| c.is_ascii_whitespace());
                let is_json = !trimmed.is_empty()
                    && serde_json::from_str::<serde::de::IgnoredAny>(trimmed).is_ok();
                if is_json
                    && memchr_newline(trimmed.as_bytes()).is_none()
                    && !trimmed.contains('\r')
                {
                    out.extend_from_slice(trimmed.as_bytes());
                } else if is_json {
                    // Pretty-printed JSON: re-serialise compactly so the envelope stays one line.
                    match serde_json::from_str::<serde_json::Value>(trimmed) {
                        Ok(v) => out.extend_from_slice(v.to_string().as_bytes()),
                        Err(_) => write_json_string(out, text),
                    }
                } else {
                    write_json_string(out, text);
                }
            }
            Err(_) => {
                self.warnings.base64 += 1;
                out.push(b'"');
                push_base64(out, rec.data);
                out.extend_from_slice(b"\",\"encoding\":\"base64\"");
            }
        }
        out.extend_from_slice(b"}\n");
    }
}

#[inline]
fn memchr_newline(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\n')
}

/// Appends standard base64 (with padding) straight into the output buffer.
fn push_base64(out: &mut Vec<u8>, data: &[u8]) {
    let engine = &base64::engine::general_purpose::STANDARD;
    let start = out.len();
    let len = base64::encoded_len(data.len(), true).unwrap_or(0);
    out.resize(start + len, 0);
    match engine.encode_slice(data, &mut out[start..]) {
        Ok(n) => out.truncate(start + n),
        Err(_) => {
            // Cannot happen (the buffer is sized for it); fall back to an owned String.
            out.truncate(start);
            out.extend_from_slice(engine.encode(data).as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(data: &[u8]) -> OutRecord<'_> {
        OutRecord {
            shard_id: "shardId-000000000001",
            sequence_number: "4960",
            sub_sequence: None,
            partition_key: "k\"1",
            arrival_ms: Some(1_616_159_748_123),
            data,
        }
    }

    fn line(mode: DataMode, envelope: bool, data: &[u8]) -> (String, Warnings) {
        let mut f = Formatter::new(mode, envelope);
        let mut out = Vec::new();
        f.write(&rec(data), &mut out);
        (String::from_utf8(out).unwrap(), f.warnings)
    }

    #[test]
    fn data_lines_per_mode() {
        use DataMode::*;
        assert_eq!(line(Auto, false, b"{\"a\":1}").0, "{\"a\":1}\n");
        assert_eq!(
            line(Auto, false, b"{\"a\":1}\n").0,
            "{\"a\":1}\n",
            "trailing \\n not doubled"
        );
        assert_eq!(line(Auto, false, b"").0, "\n");
        let (l, w) = line(Auto, false, b"a\nb");
        assert_eq!(l, "\"a\\nb\"\n");
        assert_eq!(w.escaped, 1);
        let (l, w) = line(Auto, false, &[0xff, 0x00, 0x10]);
        assert_eq!(l, "/wAQ\n");
        assert_eq!(w.base64, 1);
        assert_eq!(line(JsonEscape, false, &[b'a', 0xff]).0, "\"a\u{fffd}\"\n");
        assert_eq!(line(JsonEscape, false, b"plain").0, "plain\n");
        assert_eq!(line(Base64, false, b"a\nb").0, "YQpi\n");
        assert_eq!(line(Base64, false, b"plain").0, "plain\n");
        assert_eq!(line(Raw, false, b"a\nb\n").0, "a\nb\n");
        let mut f = Formatter::new(Raw, false);
        let mut out = Vec::new();
        f.write(&rec(&[0xff]), &mut out);
        assert_eq!(out, vec![0xff, b'\n']);
    }

    #[test]
    fn envelope_fields() {
        let (l, _) = line(DataMode::Auto, true, b"{\"tnum\": 10}\n");
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["shard_id"], "shardId-000000000001");
        assert_eq!(v["sequence_number"], "4960");
        assert_eq!(v["partition_key"], "k\"1");
        assert_eq!(v["arrival"], "2021-03-19T13:15:48.123Z");
        assert_eq!(v["data"], serde_json::json!({"tnum": 10}));
        assert!(v.get("encoding").is_none());
        assert!(l.ends_with("}\n") && l.matches('\n').count() == 1);

        let (l, _) = line(DataMode::Auto, true, b"{\n  \"a\": [1,\n 2]\n}");
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["data"], serde_json::json!({"a": [1, 2]}));
        assert_eq!(l.matches('\n').count(), 1);

        let (l, _) = line(DataMode::Auto, true, b"not json\nline 2");
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["data"], "not json\nline 2");

        let (l, w) = line(DataMode::Auto, true, &[0xde, 0xad, 0xbe, 0xef]);
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["data"], "3q2+7w==");
        assert_eq!(v["encoding"], "base64");
        assert_eq!(w.base64, 1);
    }

    #[test]
    fn envelope_of_a_user_record_names_its_sub_sequence() {
        let mut f = Formatter::new(DataMode::Auto, true);
        let mut out = Vec::new();
        let mut r = rec(b"7");
        r.sub_sequence = Some(3);
        r.arrival_ms = None;
        f.write(&r, &mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["sub_sequence_number"], 3);
        assert_eq!(v["data"], 7);
        assert!(v["arrival"].is_null());
    }
}
