//! Small JSON helpers shared by the tools' writers (envelopes, dead letters, error records).

use serde_json::Value;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `s` as a quoted, escaped JSON string.
pub fn write_json_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &c) in bytes.iter().enumerate() {
        let escape: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(c >> 4) as usize]);
            out.push(HEX[(c & 0xf) as usize]);
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Follows a dotted path (`a.b.c`) through JSON objects. An empty path is the value itself.
pub fn lookup_path<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    if path.is_empty() {
        return Some(value);
    }
    path.split('.').try_fold(value, |v, key| v.get(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_serde_json() {
        for s in [
            "plain",
            "quote\" back\\slash",
            "nl\ncr\rtab\t",
            "\u{1}\u{1f}",
            "é ✓",
        ] {
            let mut out = Vec::new();
            write_json_string(&mut out, s);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(s).unwrap()
            );
        }
    }

    #[test]
    fn dotted_paths() {
        let v: Value = serde_json::json!({"a": {"b": {"c": 7}}, "tno": "X"});
        assert_eq!(lookup_path(&v, "a.b.c"), Some(&serde_json::json!(7)));
        assert_eq!(lookup_path(&v, "tno"), Some(&serde_json::json!("X")));
        assert_eq!(lookup_path(&v, "a.x"), None);
        assert_eq!(lookup_path(&v, "tno.z"), None);
    }
}
