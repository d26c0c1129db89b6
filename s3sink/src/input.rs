//! Input lines to records: framing, `kds-tail --envelope` decoding, dynamic-partitioning keys,
//! and Firehose error records for what cannot be routed.
//!
//! Framing decision: a raw record is one input line WITHOUT its `\n` (exactly what kds-put
//! sends as a Kinesis record). Firehose concatenates records with no delimiter, so without
//! `--newline` an object holds the lines run together; `--newline` appends `\n` after every
//! record, as Firehose's AppendDelimiterToRecord processor does ("Dynamic partitioning", its
//! "New line delimiter" option), even after a record that already ends with one.

use base64::Engine;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::config::{Config, InputMode, PartitionKey};
use crate::key::METADATA_EXTRACTION_FAILED;

/// Error output type for lines that are not valid `kds-tail --envelope` lines.
pub const PROCESSING_FAILED: &str = "processing-failed";
/// Error output type for records whose partition keys cannot be extracted ("Dynamic
/// partitioning"): the folder is `partitioning-failed`, the record's `errorCode` stays
/// `DynamicPartitioning.MetadataExtractionFailed`.
pub const PARTITIONING_FAILED: &str = "partitioning-failed";

/// Where a record goes: the main prefix (with its partition values, in the order of
/// `Config::partition_keys`) or the error prefix (with its error output type).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Dest {
    Main(Vec<String>),
    Error(&'static str),
}

/// One buffered record: its bytes are `Batch::data[start..start + len]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMeta {
    pub dest: Dest,
    pub start: usize,
    pub len: usize,
    pub arrival_ms: i64,
}

/// Records parsed from one block of input, sent from the reader thread to the sink.
#[derive(Debug, Default)]
pub struct Batch {
    /// When the block was read (clock ms): starts the buffer-interval clock.
    pub received_ms: i64,
    pub data: Vec<u8>,
    pub records: Vec<RecordMeta>,
    /// Input lines (not records) in this batch.
    pub lines: u64,
    /// Input bytes, newlines included.
    pub input_bytes: u64,
    /// Lines that went to the error output, with the reason: `line N: reason`.
    pub errors: Vec<String>,
}

impl Batch {
    pub fn new(received_ms: i64) -> Batch {
        Batch {
            received_ms,
            ..Batch::default()
        }
    }

    pub fn record_bytes(&self, r: &RecordMeta) -> &[u8] {
        &self.data[r.start..r.start + r.len]
    }
}

/// Turns input lines into records of a [`Batch`].
pub struct RecordParser {
    mode: InputMode,
    newline: bool,
    keys: Vec<PartitionKey>,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    data: Option<&'a RawValue>,
    #[serde(default, borrow)]
    encoding: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    arrival: Option<&'a RawValue>,
}

/// The record bytes of an envelope and its arrival time (None: not given).
fn decode_envelope(line: &[u8]) -> Result<(Vec<u8>, Option<i64>), String> {
    let env: Envelope<'_> =
        serde_json::from_slice(line).map_err(|e| format!("not a valid envelope: {e}"))?;
    let raw = env
        .data
        .ok_or_else(|| "envelope has no \"data\" member".to_string())?;
    // kds-tail's envelope rule: without `encoding`, `data` is the record verbatim (a JSON
    // string keeps its quotes); otherwise it is a JSON string holding the record's text or its
    // base64.
    let text = raw.get();
    let string = || -> Result<String, String> {
        serde_json::from_str(text).map_err(|_| {
            format!(
                "\"data\" must be a JSON string with \"encoding\":\"{}\"",
                env.encoding.as_deref().unwrap_or_default()
            )
        })
    };
    let data = match env.encoding.as_deref() {
        None => text.as_bytes().to_vec(),
        Some("utf8") => string()?.into_bytes(),
        Some("base64") => base64::engine::general_purpose::STANDARD
            .decode(string()?.as_bytes())
            .map_err(|e| format!("\"data\" is not valid base64: {e}"))?,
        Some(other) => {
            return Err(format!(
                "unknown \"encoding\" {other:?} (kds-tail writes utf8 or base64)"
            ))
        }
    };
    let arrival = match env.arrival {
        None => None,
        Some(a) if a.get() == "null" => None,
        Some(a) => {
            let t = a.get();
            let bytes = t
                .strip_prefix('"')
                .and_then(|s| s.strip_suffix('"'))
                .unwrap_or(t);
            Some(
                kds_common::time::parse_timestamp(bytes.as_bytes())
                    .ok_or_else(|| format!("\"arrival\" {t} is not a timestamp"))?,
            )
        }
    };
    Ok((data, arrival))
}

/// Extracts the partition values of a record, or says why not.
pub fn extract_partition_values(data: &[u8], keys: &[PartitionKey]) -> Result<Vec<String>, String> {
    let value: serde_json::Value =
        serde_json::from_slice(data).map_err(|e| format!("Non JSON record provided: {e}"))?;
    keys.iter()
        .map(|k| {
            let v = kds_common::json::lookup_path(&value, &k.path).ok_or_else(|| {
                format!("partition key '{}': no value at path .{}", k.name, k.path)
            })?;
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                other => {
                    return Err(format!(
                        "partition key '{}': value at path .{} is {}, not a string or number",
                        k.name,
                        k.path,
                        match other {
                            serde_json::Value::Null => "null",
                            serde_json::Value::Array(_) => "an array",
                            _ => "an object",
                        }
                    ))
                }
            };
            if text.is_empty() {
                return Err(format!(
                    "partition key '{}': value at path .{} is empty",
                    k.name, k.path
                ));
            }
            Ok(text)
        })
        .collect()
}

/// Appends a Firehose error record line (`{"attemptsMade":..,...,"rawData":..}\n`).
pub fn write_error_record(
    out: &mut Vec<u8>,
    arrival_ms: i64,
    error_code: &str,
    error_message: &str,
    ending_ms: i64,
    raw: &[u8],
) {
    out.extend_from_slice(b"{\"attemptsMade\":1,\"arrivalTimestamp\":");
    out.extend_from_slice(arrival_ms.to_string().as_bytes());
    out.extend_from_slice(b",\"errorCode\":");
    kds_common::json::write_json_string(out, error_code);
    out.extend_from_slice(b",\"errorMessage\":");
    kds_common::json::write_json_string(out, error_message);
    out.extend_from_slice(b",\"attemptEndingTimestamp\":");
    out.extend_from_slice(ending_ms.to_string().as_bytes());
    out.extend_from_slice(b",\"rawData\":\"");
    let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
    out.extend_from_slice(encoded.as_bytes());
    out.extend_from_slice(b"\"}\n");
}

impl RecordParser {
    pub fn new(config: &Config) -> RecordParser {
        RecordParser {
            mode: config.input,
            newline: config.newline,
            keys: config.partition_keys.clone(),
        }
    }

    /// Parses one input line (without its `\n`) into `batch`.
    pub fn push_line(&self, number: u64, line: &[u8], batch: &mut Batch) {
        batch.lines += 1;
        let now = batch.received_ms;
        let (data, arrival) = match self.mode {
            InputMode::Raw => (std::borrow::Cow::Borrowed(line), now),
            InputMode::Envelope => match decode_envelope(line) {
                Ok((data, arrival)) => (std::borrow::Cow::Owned(data), arrival.unwrap_or(now)),
                Err(reason) => {
                    self.push_error(
                        batch,
                        number,
                        line,
                        now,
                        PROCESSING_FAILED,
                        "InvalidEnvelope",
                        &reason,
                    );
                    return;
                }
            },
        };
        let dest = if self.keys.is_empty() {
            Dest::Main(Vec::new())
        } else {
            match extract_partition_values(&data, &self.keys) {
                Ok(values) => Dest::Main(values),
                Err(reason) => {
                    self.push_error(
                        batch,
                        number,
                        &data,
                        arrival,
                        PARTITIONING_FAILED,
                        METADATA_EXTRACTION_FAILED,
                        &reason,
                    );
                    return;
                }
            }
        };
        let start = batch.data.len();
        batch.data.extend_from_slice(&data);
        if self.newline {
            batch.data.push(b'\n');
        }
        batch.records.push(RecordMeta {
            dest,
            start,
            len: batch.data.len() - start,
            arrival_ms: arrival,
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn push_error(
        &self,
        batch: &mut Batch,
        number: u64,
        raw: &[u8],
        arrival_ms: i64,
        output_type: &'static str,
        code: &str,
        reason: &str,
    ) {
        let start = batch.data.len();
        write_error_record(
            &mut batch.data,
            arrival_ms,
            code,
            reason,
            batch.received_ms,
            raw,
        );
        batch.records.push(RecordMeta {
            dest: Dest::Error(output_type),
            start,
            len: batch.data.len() - start,
            arrival_ms,
        });
        batch.errors.push(format!("line {number}: {reason}"));
    }

    /// The reader thread's loop: every block of `input` becomes a batch sent on `tx`, until
    /// the input ends or the receiver is gone.
    pub fn send_batches(
        &self,
        mut input: kds_common::io::LineReader,
        clock: &dyn kds_common::clock::Clock,
        tx: &tokio::sync::mpsc::Sender<Batch>,
    ) -> std::io::Result<()> {
        while let Some(block) = input.next_block()? {
            let mut batch = Batch::new(clock.now_ms());
            self.push_block(block.first_line, block.bytes, &mut batch);
            if tx.blocking_send(batch).is_err() {
                break;
            }
        }
        Ok(())
    }

    /// Splits a block of whole lines (from `LineReader::next_block`) into records.
    pub fn push_block(&self, first_line: u64, block: &[u8], batch: &mut Batch) {
        batch.input_bytes += block.len() as u64;
        let mut number = first_line;
        let mut rest = block;
        while !rest.is_empty() {
            let (line, next) = match memchr::memchr(b'\n', rest) {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (rest, &rest[rest.len()..]),
            };
            self.push_line(number, line, batch);
            number += 1;
            rest = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parser(extra: &[&str]) -> RecordParser {
        let mut argv = vec!["kds-s3sink", "--bucket", "b"];
        argv.extend_from_slice(extra);
        let c = Config::try_from(crate::config::Args::try_parse_from(argv).unwrap()).unwrap();
        RecordParser::new(&c)
    }

    fn records(p: &RecordParser, input: &[u8]) -> (Batch, Vec<(Dest, Vec<u8>, i64)>) {
        let mut b = Batch::new(1_000);
        p.push_block(1, input, &mut b);
        let out = b
            .records
            .iter()
            .map(|r| (r.dest.clone(), b.record_bytes(r).to_vec(), r.arrival_ms))
            .collect();
        (b, out)
    }

    #[test]
    fn raw_records_are_lines_without_newline() {
        let (b, recs) = records(&parser(&[]), b"{\"a\":1}\n{\"b\":2}\nlast");
        let datas: Vec<&[u8]> = recs.iter().map(|r| r.1.as_slice()).collect();
        assert_eq!(datas, vec![&b"{\"a\":1}"[..], b"{\"b\":2}", b"last"]);
        assert_eq!(
            b.data, b"{\"a\":1}{\"b\":2}last",
            "concatenated, no delimiter"
        );
        assert!(recs
            .iter()
            .all(|r| r.0 == Dest::Main(vec![]) && r.2 == 1_000));
        assert_eq!(b.lines, 3);
    }

    #[test]
    fn newline_restores_the_input_bytes() {
        let input = b"{\"a\":1}\n\n{\"b\":2}\n";
        let (b, _) = records(&parser(&["--newline"]), input);
        assert_eq!(b.data, input);
    }

    /// AppendDelimiterToRecord: a delimiter after every record, also after one that already
    /// ends with `\n` (an envelope's record put as `{..}\n`).
    #[test]
    fn newline_is_appended_after_every_record() {
        let input = concat!(
            r#"{"data":"{\"a\":1}\n","encoding":"utf8"}"#,
            "\n",
            r#"{"data":{"b":2}}"#,
            "\n",
        );
        let (b, recs) = records(
            &parser(&["--input", "envelope", "--newline"]),
            input.as_bytes(),
        );
        assert_eq!(b.data, b"{\"a\":1}\n\n{\"b\":2}\n");
        assert_eq!(recs[0].1, b"{\"a\":1}\n\n");
    }

    #[test]
    fn envelope_data_is_written_as_it_was_put() {
        let p = parser(&["--input", "envelope"]);
        let input = concat!(
            r#"{"shard_id":"s","sequence_number":"1","partition_key":"k","arrival":"2021-03-19T13:15:48.250Z","data":{"tnum": 1.50, "b":[1 ,2]}}"#,
            "\n",
            r#"{"arrival":"2021-03-19T13:15:49.000Z","data":"plain text\r\n","encoding":"utf8"}"#,
            "\n",
            r#"{"arrival":1616159750000,"encoding":"base64","data":"AAEC/w=="}"#,
            "\n",
            r#"{"data":"just a string"}"#,
            "\n",
        );
        let (b, recs) = records(&p, input.as_bytes());
        assert!(b.errors.is_empty(), "{:?}", b.errors);
        assert_eq!(
            recs[0].1, br#"{"tnum": 1.50, "b":[1 ,2]}"#,
            "exact JSON text, not reformatted"
        );
        assert_eq!(recs[0].2, 1_616_159_748_250);
        assert_eq!(recs[1].1, b"plain text\r\n");
        assert_eq!(recs[1].2, 1_616_159_749_000);
        assert_eq!(recs[2].1, vec![0u8, 1, 2, 255]);
        assert_eq!(recs[2].2, 1_616_159_750_000);
        assert_eq!(
            recs[3].1, br#""just a string""#,
            "a verbatim JSON string keeps its quotes"
        );
    }

    #[test]
    fn envelope_without_arrival_uses_read_time() {
        let (_, recs) = records(
            &parser(&["--input", "envelope"]),
            b"{\"data\":7}\n{\"arrival\":null,\"data\":8}\n",
        );
        assert_eq!(recs[0], (Dest::Main(vec![]), b"7".to_vec(), 1_000));
        assert_eq!(recs[1], (Dest::Main(vec![]), b"8".to_vec(), 1_000));
    }

    #[test]
    fn bad_envelopes_go_to_the_error_output() {
        let input = concat!(
            "not json\n",
            "{\"x\":1}\n",
            "{\"data\":{\"a\":1},\"encoding\":\"utf8\"}\n",
            "{\"data\":\"YQ==\",\"encoding\":\"rot13\"}\n",
        );
        let (b, recs) = records(&parser(&["--input", "envelope"]), input.as_bytes());
        assert_eq!(b.errors.len(), 4, "{:?}", b.errors);
        assert!(
            b.errors[2].contains("must be a JSON string"),
            "{:?}",
            b.errors
        );
        assert!(
            b.errors[3].contains("unknown \"encoding\""),
            "{:?}",
            b.errors
        );
        assert!(recs.iter().all(|r| r.0 == Dest::Error(PROCESSING_FAILED)));
        let first: serde_json::Value = serde_json::from_slice(&recs[0].1).unwrap();
        assert_eq!(first["errorCode"], "InvalidEnvelope");
        let raw = base64::engine::general_purpose::STANDARD
            .decode(first["rawData"].as_str().unwrap())
            .unwrap();
        assert_eq!(raw, b"not json");
    }

    #[test]
    fn partition_values_and_error_records() {
        let p = parser(&[
            "--prefix",
            "u=!{partitionKeyFromQuery:u}/n=!{partitionKeyFromQuery:n}/",
            "--error-prefix",
            "err/",
            "--partition-key",
            "u=uno",
            "--partition-key",
            "n=.x.tnum",
        ]);
        let input = concat!(
            r#"{"uno":"U1","x":{"tnum":10}}"#,
            "\n",
            "broken {\n",
            r#"{"uno":"U2"}"#,
            "\n",
            r#"{"uno":null,"x":{"tnum":1}}"#,
            "\n"
        );
        let (b, recs) = records(&p, input.as_bytes());
        assert_eq!(recs[0].0, Dest::Main(vec!["U1".into(), "10".into()]));
        assert_eq!(recs[0].1, br#"{"uno":"U1","x":{"tnum":10}}"#);
        for (i, original, why) in [
            (1, &b"broken {"[..], "Non JSON record provided"),
            (2, br#"{"uno":"U2"}"#, "no value at path .x.tnum"),
            (3, br#"{"uno":null,"x":{"tnum":1}}"#, "null"),
        ] {
            assert_eq!(recs[i].0, Dest::Error(PARTITIONING_FAILED));
            assert!(recs[i].1.ends_with(b"}\n"), "one JSON object per line");
            let v: serde_json::Value = serde_json::from_slice(&recs[i].1).unwrap();
            assert_eq!(v.as_object().unwrap().len(), 6);
            // Firehose's member order, checked on the text (serde_json's map is sorted).
            let text = std::str::from_utf8(&recs[i].1).unwrap();
            let positions: Vec<usize> = [
                "\"attemptsMade\":",
                "\"arrivalTimestamp\":",
                "\"errorCode\":",
                "\"errorMessage\":",
                "\"attemptEndingTimestamp\":",
                "\"rawData\":",
            ]
            .iter()
            .map(|k| text.find(k).unwrap())
            .collect();
            assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
            assert_eq!(v["errorCode"], METADATA_EXTRACTION_FAILED);
            assert!(v["errorMessage"].as_str().unwrap().contains(why), "{v}");
            assert_eq!(v["arrivalTimestamp"], 1_000);
            assert!(v["attemptsMade"].as_u64().unwrap() >= 1);
            let raw = base64::engine::general_purpose::STANDARD
                .decode(v["rawData"].as_str().unwrap())
                .unwrap();
            assert_eq!(raw, original);
        }
        assert_eq!(b.errors.len(), 3);
        assert!(b.errors[0].starts_with("line 2: "), "{:?}", b.errors);
    }
}
