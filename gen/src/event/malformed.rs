//! The broken lines of `--malformed`: cut short, a field missing, bad JSON, wrong types.

use super::{four, push_small, write_event, Event, Format};

/// The kinds of broken line `--malformed` writes, chosen with equal probability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// The valid line cut short at a random byte (at least one byte kept, at least one lost):
    /// NDJSON loses its closing `}` at least; CSV loses at least the final `Z` of `tuptime`.
    Truncated,
    /// Not a record at all: `tid=1 tno=... tuptime=...` (space-separated key=value text; no
    /// commas, so it is not a CSV row either).
    NotARecord,
    /// A field of the wrong type: NDJSON `"tnum":"10"` (a string); CSV `tnum` is `10.5`.
    WrongType,
    /// One field (chosen at random among the seven) left out: the key and value in NDJSON,
    /// the column in CSV (6 columns).
    MissingField,
}

impl Malformed {
    pub const ALL: [Malformed; 4] = [
        Malformed::Truncated,
        Malformed::NotARecord,
        Malformed::WrongType,
        Malformed::MissingField,
    ];
}

/// Field names in schema order.
pub const KEYS: [&str; 7] = ["tid", "tno", "tdate", "uno", "pno", "tnum", "tuptime"];

/// Values as text (unquoted), in schema order.
fn values(e: &Event<'_>) -> [Vec<u8>; 7] {
    let (f, t) = (e.fields, e.times);
    let mut tno = f.letters.to_vec();
    tno.extend_from_slice(&t.stamp);
    let mut uno = b"U".to_vec();
    uno.extend_from_slice(&four(f.uno));
    let mut pno = b"P".to_vec();
    pno.extend_from_slice(&four(f.pno));
    let mut tnum = Vec::new();
    push_small(&mut tnum, f.tnum);
    [
        e.tid.to_vec(),
        tno,
        e.tdate.to_vec(),
        uno,
        pno,
        tnum,
        t.rfc3339.to_vec(),
    ]
}

/// Appends a broken line of `kind`, with its `\n`. `r` is a uniform draw that picks the cut
/// position or the missing field.
pub fn write_malformed(kind: Malformed, format: Format, out: &mut Vec<u8>, e: &Event<'_>, r: u64) {
    match kind {
        Malformed::Truncated => {
            let mut line = Vec::with_capacity(160);
            write_event(format, &mut line, e);
            line.pop(); // '\n'
            let keep = 1 + kds_common::rng::scale32(r >> 32, (line.len() - 1) as u32) as usize;
            out.extend_from_slice(&line[..keep]);
        }
        Malformed::NotARecord => {
            for (i, (k, v)) in KEYS.iter().zip(values(e)).enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                out.extend_from_slice(k.as_bytes());
                out.push(b'=');
                out.extend_from_slice(&v);
            }
        }
        Malformed::WrongType | Malformed::MissingField => {
            let missing = if kind == Malformed::MissingField {
                Some(kds_common::rng::scale32(r >> 32, 7) as usize)
            } else {
                None
            };
            let vals = values(e);
            let mut first = true;
            if format == Format::Ndjson {
                out.push(b'{');
            }
            for (i, (k, v)) in KEYS.iter().zip(vals).enumerate() {
                if Some(i) == missing {
                    continue;
                }
                if !first {
                    out.push(b',');
                }
                first = false;
                let is_tnum = i == 5;
                match format {
                    Format::Ndjson => {
                        out.push(b'"');
                        out.extend_from_slice(k.as_bytes());
                        out.extend_from_slice(b"\":");
                        // tnum is the only non-string; WrongType quotes it too.
                        let quote = !is_tnum || kind == Malformed::WrongType;
                        if quote {
                            out.push(b'"');
                        }
                        out.extend_from_slice(&v);
                        if quote {
                            out.push(b'"');
                        }
                    }
                    Format::Csv => {
                        out.extend_from_slice(&v);
                        if is_tnum && kind == Malformed::WrongType {
                            out.extend_from_slice(b".5");
                        }
                    }
                }
            }
            if format == Format::Ndjson {
                out.push(b'}');
            }
        }
    }
    out.push(b'\n');
}
