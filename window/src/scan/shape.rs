//! The last line's shape as a template: for each member, the bytes from the separator before
//! it (`{` or `,`) through its key, its colon and, for a string value, the opening quote, e.g.
//! `,"tuptime":"`. A line of the same shape is then read member by member with one masked
//! compare of those bytes (two words) and one quote search per string value: no byte test per
//! separator, no key lookup. Anything that differs (another key, order or member count,
//! whitespace, a number where a string was) fails a compare and the line goes to the general
//! walk, which learns its shape for the next line. Values are validated as the general walk
//! validates them, so what the template accepts is valid JSON whatever the prediction.

use super::keys::load8;
use super::{scan_scalar, Val};

/// Longest template: two 8-byte words, the second one overlapping the first.
const MAX_STEP: usize = 16;

/// One member of the template.
#[derive(Debug, Clone, Copy)]
struct Step {
    /// The template's first word (its bytes under `lo_mask`) and its last word (under
    /// `hi_mask`), loaded at `hi_at`; templates of up to 8 bytes compare the first word twice,
    /// which costs less than a branch on the length.
    lo: u64,
    lo_mask: u64,
    hi: u64,
    hi_mask: u64,
    hi_at: u32,
    len: u32,
    slot: u32,
    /// The value is a string: the template ends with its opening quote.
    string: bool,
}

/// The template of the last line the general walk read (empty until one is complete).
#[derive(Debug, Clone, Default)]
pub(super) struct Template {
    steps: Vec<Step>,
    /// The steps describe a whole line the general walk accepted.
    complete: bool,
    /// A member could not be written as a step (a long key): no template for this shape.
    unusable: bool,
}

impl Template {
    /// Starts recording the shape of a line (the general walk calls this first).
    #[inline]
    pub(super) fn start(&mut self) {
        self.steps.clear();
        self.complete = false;
        self.unusable = false;
    }

    /// Records one member: its template is `b[prefix..value]`, plus the opening quote when
    /// `string`; its value goes to `slot`.
    #[inline]
    pub(super) fn record(
        &mut self,
        b: &[u8],
        prefix: usize,
        value: usize,
        string: bool,
        slot: usize,
    ) {
        let len = value + string as usize - prefix;
        let words = (len <= MAX_STEP)
            .then(|| Some((load8(b, prefix)?, load8(b, prefix + len.max(8) - 8)?)))
            .flatten();
        let Some((lo, hi)) = words else {
            self.unusable = true;
            return;
        };
        let lo_mask = if len >= 8 {
            u64::MAX
        } else {
            (1u64 << (8 * len)) - 1
        };
        let hi_mask = if len > 8 { u64::MAX } else { lo_mask };
        self.steps.push(Step {
            lo: lo & lo_mask,
            lo_mask,
            hi: hi & hi_mask,
            hi_mask,
            hi_at: (len.max(8) - 8) as u32,
            len: len as u32,
            slot: slot as u32,
            string,
        });
    }

    /// The general walk accepted the whole line: its shape is the template from now on.
    #[inline]
    pub(super) fn finish(&mut self) {
        self.complete = !self.unusable && !self.steps.is_empty();
    }

    /// Reads the flat object `b[i..]` (to the end of `b`) if it has the template's shape,
    /// storing values as the general walk would (a key seen twice keeps its last value).
    /// `None`: another shape or not valid here; values already stored are then stale.
    #[inline(always)]
    pub(super) fn walk(
        &self,
        b: &[u8],
        mut i: usize,
        string_end: &impl Fn(usize) -> Option<usize>,
        vals: &mut [Val],
    ) -> Option<()> {
        if !self.complete {
            return None;
        }
        for step in &self.steps {
            let lo = load8(b, i)?;
            let hi = load8(b, i + step.hi_at as usize)?;
            // The whole template in one test: separator, quotes, key, colon (and quote).
            if ((lo & step.lo_mask) ^ step.lo) | ((hi & step.hi_mask) ^ step.hi) != 0 {
                return None;
            }
            let v = i + step.len as usize;
            let slot = vals.get_mut(step.slot as usize)?;
            if step.string {
                let e = string_end(v)?;
                *slot = Val::Str(v as u32, e as u32);
                i = e + 1;
            } else {
                let (val, next) = scan_scalar(b, v, string_end)?;
                *slot = val;
                i = next;
            }
        }
        (b.get(i) == Some(&b'}') && i + 1 == b.len()).then_some(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{render, TRADE};
    use super::super::{fast_extract, fast_extract_indexed, slow_extract, BlockIndex, FastKeys};
    use crate::query::Path;

    const NAMES: [&str; 3] = ["tnum", "tuptime", "pno"];

    /// The values the full parser reads from `line`, as text.
    fn serde_values(line: &[u8]) -> Result<Vec<String>, String> {
        let paths: Vec<Path> = NAMES.iter().map(|n| Path(vec![n.to_string()])).collect();
        let mut vals = vec![super::Val::Missing; NAMES.len()];
        let mut scratch = Vec::new();
        slow_extract(line, &paths, false, &mut vals, &mut scratch)?;
        Ok(render(&scratch, &vals))
    }

    /// `line` read right after a trade event taught the fast path its shape, both per line and
    /// from an indexed block holding the two lines: the fast path refuses what serde refuses
    /// and reads what serde reads.
    fn after_a_trade(line: &[u8]) -> Option<Vec<String>> {
        let mut keys = FastKeys::new(NAMES.iter().map(|n| n.as_bytes()));
        let mut vals = keys.new_vals();
        fast_extract(TRADE, &mut keys, &mut vals).expect("a trade takes the fast path");
        assert!(keys.template.complete, "a trade's shape is learnt");
        let per_line =
            fast_extract(line, &mut keys, &mut vals).map(|_| render(line, &vals[..NAMES.len()]));

        let mut keys = FastKeys::new(NAMES.iter().map(|n| n.as_bytes()));
        let block = [TRADE, b"\n", line, b"\n"].concat();
        let mut index = BlockIndex::default();
        index.build(&block);
        let (s, e) = (TRADE.len() + 1, block.len() - 1);
        fast_extract_indexed(&block, 0, TRADE.len(), &index, &mut keys, &mut vals).expect("trade");
        let indexed = fast_extract_indexed(&block, s, e, &index, &mut keys, &mut vals)
            .map(|_| render(line, &vals[..NAMES.len()]));
        assert_eq!(per_line, indexed, "{}", String::from_utf8_lossy(line));

        // Refused lines go to the full parser, which reads (or reports) them.
        if let Some(got) = &per_line {
            let want = serde_values(line);
            assert_eq!(Ok(got), want.as_ref(), "{}", String::from_utf8_lossy(line));
        }
        per_line
    }

    fn trade_with(from: &str, to: &str) -> Vec<u8> {
        let trade = std::str::from_utf8(TRADE).expect("ASCII");
        assert!(trade.contains(from), "{from}");
        trade.replacen(from, to, 1).into_bytes()
    }

    #[test]
    fn a_line_of_the_same_shape_reads_its_own_values() {
        let line = trade_with(r#""tnum":10,"#, r#""tnum":-73,"#);
        let line = String::from_utf8(line)
            .expect("ASCII")
            .replace("13:15:48", "23:59:01");
        let got = after_a_trade(line.as_bytes()).expect("same shape: fast path");
        assert_eq!(got[0], "-73");
        assert_eq!(got[1], "\"2021-03-19T23:59:01Z\"");
        // Values of other lengths move every later member: still the template's shape.
        let longer = trade_with(r#""tid":"123""#, r#""tid":"1234567890""#);
        assert!(after_a_trade(&longer).is_some());
    }

    #[test]
    fn other_shapes_fall_back_and_agree_with_serde() {
        let reordered = br#"{"tnum":10,"tid":"123","tno":"AwGi20200904131249","tdate":"2021-03-19","uno":"U1030","pno":"P1002","tuptime":"2021-03-19T13:15:48Z"}"#;
        let lines: Vec<Vec<u8>> = vec![
            reordered.to_vec(),
            trade_with(r#","tuptime""#, r#","extra":1,"tuptime""#),
            trade_with(r#"Z"}"#, r#"Z","more":"x"}"#),
            trade_with(r#""tnum":10,"#, ""),
            trade_with(r#","tuptime":"2021-03-19T13:15:48Z""#, ""),
            trade_with(r#""tnum":10"#, r#""tnum":1e3"#),
            trade_with(r#""tnum":10"#, r#""tnum":2.5E-1"#),
            trade_with(r#""tnum":10"#, r#""tnum":"10""#),
            trade_with(r#""pno":"P1002""#, r#""pno":7"#),
            trade_with(r#""pno":"P1002""#, r#""pno":null"#),
            trade_with(r#""pno":"P1002""#, r#""pno":"P\"1""#),
            trade_with(r#""pno":"P1002""#, r#""pno":"P\u00e9""#),
            trade_with(r#""pno":"P1002""#, "\"pno\":\"Pé\""),
            trade_with(r#""uno":"#, r#""uno": "#),
            trade_with(r#","pno""#, r#", "pno""#),
            trade_with("{", "{ "),
            trade_with(r#"Z"}"#, r#"Z"} "#),
            trade_with(r#""tuptime""#, r#""tupt\u0069me""#),
            trade_with(r#""uno":"U1030""#, r#""tnum":99"#),
            trade_with(r#""tid":"123""#, r#""a_rather_long_key":"123""#),
        ];
        for line in &lines {
            let _ = after_a_trade(line);
        }
        // Duplicates keep the last value, as serde does; a string where a number was is read.
        let duplicate = trade_with(r#""uno":"U1030""#, r#""tnum":99"#);
        assert_eq!(
            after_a_trade(&duplicate).expect("valid flat object")[0],
            "10"
        );
        let string_number = trade_with(r#""tnum":10"#, r#""tnum":"10""#);
        assert_eq!(after_a_trade(&string_number).expect("valid")[0], "\"10\"");
    }

    #[test]
    fn invalid_lines_of_the_same_shape_are_refused() {
        for line in [
            trade_with(r#""tnum":10"#, r#""tnum":01"#),
            trade_with(r#""tnum":10"#, r#""tnum":1."#),
            trade_with(r#""tnum":10,"#, r#""tnum":10,,"#),
            trade_with(r#"Z"}"#, r#"Z"}x"#),
            trade_with(r#"Z"}"#, r#"Z","#),
            trade_with(r#"Z"}"#, r#"Z"}}"#),
            trade_with(r#""tno":""#, r#""tno":"#),
            trade_with(r#""pno":"P1002""#, "\"pno\":\"P\x01\""),
        ] {
            assert!(
                serde_values(&line).is_err(),
                "{}",
                String::from_utf8_lossy(&line)
            );
            assert_eq!(
                after_a_trade(&line),
                None,
                "{}",
                String::from_utf8_lossy(&line)
            );
        }
    }
}
