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
        match envelope_data(rec.data) {
            EnvelopeData::Verbatim(json) => out.extend_from_slice(json),
            EnvelopeData::Utf8(text) => {
                write_json_string(out, text);
                out.extend_from_slice(b",\"encoding\":\"utf8\"");
            }
            EnvelopeData::Base64 => {
                self.warnings.base64 += 1;
                out.push(b'"');
                push_base64(out, rec.data);
                out.extend_from_slice(b"\",\"encoding\":\"base64\"");
            }
        }
        out.extend_from_slice(b"}\n");
    }
}

/// How a record's bytes go into an envelope's `data`.
#[derive(Debug, PartialEq, Eq)]
pub enum EnvelopeData<'a> {
    /// The record is one JSON value that fits on the line as it is: `data` is its text.
    Verbatim(&'a [u8]),
    /// Any other UTF-8 text: `data` is a JSON string of it, with `"encoding":"utf8"`.
    Utf8(&'a str),
    /// Not UTF-8: `data` is its base64, with `"encoding":"base64"`.
    Base64,
}

/// The envelope rule: `data` holds the record verbatim only when the record is exactly one
/// valid JSON value, with no whitespace around it and no line break inside, so that the
/// envelope's text reproduces it byte for byte; a reader finds the bytes again without
/// guessing (a verbatim JSON string such as `"just a string"` keeps its quotes). Anything
/// else says how it is encoded.
pub fn envelope_data(data: &[u8]) -> EnvelopeData<'_> {
    let Ok(text) = std::str::from_utf8(data) else {
        return EnvelopeData::Base64;
    };
    let edge_is_space = |b: Option<&u8>| b.is_none_or(|c| c.is_ascii_whitespace());
    let fits_on_the_line = !edge_is_space(data.first())
        && !edge_is_space(data.last())
        && !data.iter().any(|&c| c == b'\n' || c == b'\r');
    // RawValue: the same validation kds-s3sink applies when it takes the value back out.
    if fits_on_the_line && serde_json::from_str::<&serde_json::value::RawValue>(text).is_ok() {
        EnvelopeData::Verbatim(data)
    } else {
        EnvelopeData::Utf8(text)
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
        let (l, _) = line(DataMode::Auto, true, b"{\"tnum\": 10}");
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["shard_id"], "shardId-000000000001");
        assert_eq!(v["sequence_number"], "4960");
        assert_eq!(v["partition_key"], "k\"1");
        assert_eq!(v["arrival"], "2021-03-19T13:15:48.123Z");
        assert_eq!(v["data"], serde_json::json!({"tnum": 10}));
        assert!(v.get("encoding").is_none());
        assert!(l.ends_with("}\n") && l.matches('\n').count() == 1);
        assert!(
            l.contains(",\"data\":{\"tnum\": 10}}"),
            "verbatim, inner space kept: {l}"
        );
    }

    /// What `data` and `encoding` say for each kind of record, and that they give back the
    /// record's bytes.
    #[test]
    fn envelope_data_carries_the_exact_bytes() {
        let cases: [(&[u8], Option<&str>); 12] = [
            (b"{\"a\": [1 ,2]}", None),
            (b"\"just a string\"", None),
            (b"42", None),
            (b"[1,\t2]", None),
            (b"{\"a\":1}\n", Some("utf8")),
            (b"{\"a\":1}\r\n", Some("utf8")),
            (b" {\"a\":1}", Some("utf8")),
            (b"{\n  \"a\": [1,\n 2]\n}", Some("utf8")),
            (b"not json\nline 2", Some("utf8")),
            (b"", Some("utf8")),
            (b"{\"a\":1}{\"b\":2}", Some("utf8")),
            (&[0xde, 0xad, 0xbe, 0xef], Some("base64")),
        ];
        for (data, encoding) in cases {
            let mut f = Formatter::new(DataMode::Auto, true);
            let mut out = Vec::new();
            f.write(&rec(data), &mut out);
            assert_eq!(out.iter().filter(|&&c| c == b'\n').count(), 1, "one line");
            let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
            assert_eq!(v.get("encoding").and_then(|e| e.as_str()), encoding, "{v}");
            let back = match encoding {
                None => {
                    let text = std::str::from_utf8(&out).unwrap();
                    let start = text.find(",\"data\":").unwrap() + 8;
                    text.as_bytes()[start..text.len() - 2].to_vec()
                }
                Some("utf8") => v["data"].as_str().unwrap().as_bytes().to_vec(),
                Some(_) => base64::engine::general_purpose::STANDARD
                    .decode(v["data"].as_str().unwrap())
                    .unwrap(),
            };
            assert_eq!(back, data, "{}", String::from_utf8_lossy(&out));
        }
        let (l, w) = line(DataMode::Auto, true, &[0xde, 0xad, 0xbe, 0xef]);
        assert!(l.contains("\"data\":\"3q2+7w==\""), "{l}");
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
