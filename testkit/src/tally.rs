//! What a pipeline delivered, read back and compared with what was sent: records of S3 objects
//! (Firehose-style concatenated JSON), a multiset [`Tally`] of sent versus delivered, and the
//! peak RSS of each tool across runs ([`Rss`]).

use std::collections::HashMap;

use crate::process::Finished;

/// Splits Firehose-style concatenated JSON values (no delimiter) into the raw bytes of each
/// value, exactly as stored.
pub fn split_concatenated_json(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut stream = serde_json::Deserializer::from_slice(bytes).into_iter::<serde_json::Value>();
    let mut start = 0;
    while let Some(v) = stream.next() {
        v.unwrap_or_else(|e| panic!("object is not concatenated JSON at byte {start}: {e}"));
        let end = stream.byte_offset();
        let raw = bytes[start..end].trim_ascii();
        out.push(raw.to_vec());
        start = end;
    }
    out
}

/// Non-empty lines of `bytes`, without their `\n`.
pub fn lines(bytes: &[u8]) -> Vec<Vec<u8>> {
    bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

/// Every record of every object under `prefix` (all when empty) in `bucket`, objects split as
/// Firehose-style concatenated JSON: `(key, records)` sorted by key.
pub async fn s3_records(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> anyhow::Result<Vec<(String, Vec<Vec<u8>>)>> {
    let objects = crate::list_objects_all(s3, bucket).await?;
    Ok(objects
        .into_iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .map(|(k, body)| {
            let recs = split_concatenated_json(&body);
            (k, recs)
        })
        .collect())
}

/// Sent versus delivered, compared as multisets of record bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub sent: u64,
    /// Sent records found at least once (each sent copy counts once).
    pub delivered: u64,
    /// Extra copies of sent records.
    pub duplicated: u64,
    /// Sent records not found.
    pub lost: u64,
    /// Delivered records that were never sent.
    pub unexpected: u64,
    /// Up to 5 lost records, for messages.
    pub lost_examples: Vec<String>,
    /// Up to 5 unexpected records, for messages.
    pub unexpected_examples: Vec<String>,
}

impl Tally {
    pub fn of<A: AsRef<[u8]>, B: AsRef<[u8]>>(sent: &[A], got: &[B]) -> Tally {
        let mut want: HashMap<&[u8], u64> = HashMap::new();
        for s in sent {
            *want.entry(s.as_ref()).or_insert(0) += 1;
        }
        let mut have: HashMap<&[u8], u64> = HashMap::new();
        for g in got {
            *have.entry(g.as_ref()).or_insert(0) += 1;
        }
        let mut t = Tally {
            sent: sent.len() as u64,
            ..Tally::default()
        };
        for (rec, &w) in &want {
            let h = have.get(rec).copied().unwrap_or(0);
            t.delivered += w.min(h);
            t.lost += w.saturating_sub(h);
            t.duplicated += h.saturating_sub(w);
            if h < w && t.lost_examples.len() < 5 {
                t.lost_examples
                    .push(String::from_utf8_lossy(rec).into_owned());
            }
        }
        for (rec, &h) in &have {
            if !want.contains_key(rec) {
                t.unexpected += h;
                if t.unexpected_examples.len() < 5 {
                    t.unexpected_examples
                        .push(String::from_utf8_lossy(rec).into_owned());
                }
            }
        }
        t
    }

    /// Copies sent/delivered/duplicated/lost into `f`.
    pub fn fill(&self, f: &mut crate::reliability::Figures) {
        f.sent = self.sent;
        f.delivered = self.delivered;
        f.duplicated = self.duplicated;
        f.lost = self.lost;
    }

    /// Panics if anything was lost or anything unexpected was delivered.
    pub fn assert_complete(&self, what: &str) {
        assert_eq!(
            self.lost, 0,
            "{what}: {} of {} records lost, e.g. {:?}",
            self.lost, self.sent, self.lost_examples
        );
        assert_eq!(
            self.unexpected, 0,
            "{what}: {} records delivered that were never sent, e.g. {:?}",
            self.unexpected, self.unexpected_examples
        );
    }
}

/// Peak RSS per tool across several runs (the largest run of each).
#[derive(Debug, Default, Clone)]
pub struct Rss(Vec<(String, u64)>);

impl Rss {
    pub fn add(&mut self, f: &Finished) {
        self.add_kib(&f.name, f.rss_kib);
    }
    pub fn add_kib(&mut self, name: &str, kib: u64) {
        match self.0.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => *v = (*v).max(kib),
            None => self.0.push((name.to_string(), kib)),
        }
    }
    pub fn into_vec(self) -> Vec<(String, u64)> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concatenated_json_is_split_into_each_value_as_stored() {
        let got = split_concatenated_json(
            br#"{"a":1}{"b":[2,3]}
{"c":"}{"}"#,
        );
        assert_eq!(
            got,
            vec![
                br#"{"a":1}"#.to_vec(),
                br#"{"b":[2,3]}"#.to_vec(),
                br#"{"c":"}{"}"#.to_vec()
            ]
        );
    }

    #[test]
    fn tally_counts_lost_duplicated_and_unexpected_as_multisets() {
        let sent = ["a", "b", "b", "c"];
        let got = ["a", "a", "b", "x"];
        let t = Tally::of(&sent, &got);
        assert_eq!((t.sent, t.delivered, t.duplicated), (4, 2, 1));
        assert_eq!((t.lost, t.unexpected), (2, 1));
        assert_eq!(t.unexpected_examples, vec!["x".to_string()]);
    }
}
