//! `--receipts`: one NDJSON line per delivered record on stdout.
//!
//! `{"line":N,"shard_id":"shardId-000000000001","sequence_number":"4963..."}`; a record that
//! travelled inside a KPL aggregate also has `"sub_sequence_number":I`, its index in the
//! aggregate (the KCL's sub-sequence number).

use kds_common::json::write_json_string;

pub fn write_receipt(
    out: &mut Vec<u8>,
    line: u64,
    shard_id: &str,
    sequence_number: &str,
    sub_sequence_number: Option<usize>,
) {
    out.extend_from_slice(b"{\"line\":");
    out.extend_from_slice(itoa::Buffer::new().format(line).as_bytes());
    out.extend_from_slice(b",\"shard_id\":");
    write_json_string(out, shard_id);
    out.extend_from_slice(b",\"sequence_number\":");
    write_json_string(out, sequence_number);
    if let Some(i) = sub_sequence_number {
        out.extend_from_slice(b",\"sub_sequence_number\":");
        out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
    }
    out.extend_from_slice(b"}\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipt_lines() {
        let mut out = Vec::new();
        write_receipt(&mut out, 7, "shardId-000000000002", "4960", None);
        write_receipt(&mut out, 8, "shardId-000000000002", "4961", Some(3));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"line\":7,\"shard_id\":\"shardId-000000000002\",\"sequence_number\":\"4960\"}\n\
             {\"line\":8,\"shard_id\":\"shardId-000000000002\",\"sequence_number\":\"4961\",\"sub_sequence_number\":3}\n"
        );
    }
}
