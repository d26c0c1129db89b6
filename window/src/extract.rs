//! Extraction: how the engine finds the query's fields (and an envelope's arrival time) in a
//! line, on the fast path when the line has the common shape, through `serde_json` otherwise.

use crate::query::Path;
use crate::scan::{
    fast_envelope, fast_envelope_indexed, fast_extract, fast_extract_indexed, slow_extract,
    BlockIndex, FastKeys, Val,
};

/// Parses `YYYY-MM-DDTHH:MM:SSZ` and `YYYY-MM-DDTHH:MM:SS.mmmZ` quickly when only the seconds
/// (and milliseconds) differ from the last one parsed; anything else goes through
/// [`kds_common::time::parse_timestamp`].
pub struct TimestampCache {
    /// The first 16 bytes of the last timestamp cached (`YYYY-MM-DDTHH:MM`); all 0xFF (never
    /// in a timestamp: not UTF-8) until one is.
    head: u128,
    base: i64,
}

impl Default for TimestampCache {
    fn default() -> TimestampCache {
        TimestampCache {
            head: u128::MAX,
            base: 0,
        }
    }
}

/// A byte's value as a decimal digit, or 10 and more for any other byte.
#[inline(always)]
fn digit(c: u8) -> u8 {
    c.wrapping_sub(b'0')
}

/// Milliseconds into the minute of the `:SSZ` or `:SS.mmmZ` tail of a timestamp (from byte
/// 16), if it has that form. Every byte is tested and the tests are combined without a branch
/// each (one per length, which repeats from line to line).
#[inline(always)]
fn ms_of_minute(b: &[u8]) -> Option<i64> {
    match b.len() {
        20 => {
            let [colon, s1, s2, z] = <[u8; 4]>::try_from(b.get(16..20)?).ok()?;
            let (s1, s2) = (digit(s1), digit(s2));
            let ok = (colon == b':') & (z == b'Z') & (s1 < 6) & (s2 < 10);
            ok.then(|| (s1 as i64 * 10 + s2 as i64) * 1000)
        }
        24 => {
            let [colon, s1, s2, dot, m1, m2, m3, z] = <[u8; 8]>::try_from(b.get(16..24)?).ok()?;
            let (s1, s2, m1, m2, m3) = (digit(s1), digit(s2), digit(m1), digit(m2), digit(m3));
            let ok = (colon == b':') & (dot == b'.') & (z == b'Z') & (s1 < 6) & (s2 < 10);
            let ok = ok & (m1 < 10) & (m2 < 10) & (m3 < 10);
            let millis = m1 as i64 * 100 + m2 as i64 * 10 + m3 as i64;
            ok.then(|| (s1 as i64 * 10 + s2 as i64) * 1000 + millis)
        }
        _ => None,
    }
}

/// The minute of a timestamp, `YYYY-MM-DDTHH:MM`, as one word.
#[inline(always)]
fn head_of(b: &[u8]) -> Option<u128> {
    Some(u128::from_le_bytes(b.get(..16)?.try_into().ok()?))
}

impl TimestampCache {
    #[inline]
    pub fn parse(&mut self, b: &[u8]) -> Option<i64> {
        if let (Some(ms), Some(head)) = (ms_of_minute(b), head_of(b)) {
            // One compare of the whole minute, no branch per byte.
            if head == self.head {
                return Some(self.base + ms);
            }
        }
        self.parse_and_cache(b)
    }

    /// The full parser, once a minute (and for other forms every time).
    #[inline(never)]
    fn parse_and_cache(&mut self, b: &[u8]) -> Option<i64> {
        let ms = kds_common::time::parse_timestamp(b)?;
        if let (Some(into_minute), Some(head)) = (ms_of_minute(b), head_of(b)) {
            self.head = head;
            self.base = ms - into_minute;
        }
        Some(ms)
    }
}

/// Extraction state: how to find the query's fields in a line.
pub struct Extractor {
    pub paths: Vec<Path>,
    /// Top-level keys for the fast scanner, when every path is top-level.
    pub fast_keys: Option<FastKeys>,
    /// Lines are `kds-tail --envelope` records: fields are read inside `data`, the time is
    /// `arrival`.
    pub envelope: bool,
    pub vals: Vec<Val>,
    pub scratch: Vec<u8>,
    /// Line ends and quotes of the current block, for the fast path (see [`BlockIndex`]).
    pub index: BlockIndex,
    arrival_cache: TimestampCache,
}

impl Extractor {
    pub fn new(paths: Vec<Path>, envelope: bool) -> Extractor {
        let fast_keys = paths
            .iter()
            .all(Path::is_top_level)
            .then(|| FastKeys::new(paths.iter().map(|p| p.0[0].as_bytes())));
        Extractor {
            // One more than the paths: the fast path's slot for members no path needs.
            vals: vec![Val::Missing; paths.len() + 1],
            paths,
            fast_keys,
            envelope,
            scratch: Vec::new(),
            index: BlockIndex::default(),
            arrival_cache: TimestampCache::default(),
        }
    }

    /// Extracts the query's paths of `line` into `vals`. `Ok(true)`: their strings point into
    /// `scratch` (the full parser ran), `Ok(false)`: into the line. Also returns the arrival
    /// time for envelopes.
    #[inline]
    pub fn extract(&mut self, line: &[u8]) -> Result<(bool, Option<i64>), String> {
        if let Some(keys) = &mut self.fast_keys {
            if !self.envelope {
                if fast_extract(line, keys, &mut self.vals).is_some() {
                    return Ok((false, None));
                }
            } else if let Some(arrival) = fast_envelope(line, keys, &mut self.vals) {
                if let Some(t) = self.arrival_ms(arrival, line) {
                    return Ok((false, Some(t)));
                }
            }
        }
        self.extract_slow(line)
    }

    /// [`Extractor::extract`] for the line `block[start..end]` of the block last indexed.
    #[inline]
    pub fn extract_at(
        &mut self,
        block: &[u8],
        start: usize,
        end: usize,
    ) -> Result<(bool, Option<i64>), String> {
        if let Some(keys) = &mut self.fast_keys {
            if !self.envelope {
                if fast_extract_indexed(block, start, end, &self.index, keys, &mut self.vals)
                    .is_some()
                {
                    return Ok((false, None));
                }
            } else if let Some(arrival) =
                fast_envelope_indexed(block, start, end, &self.index, keys, &mut self.vals)
            {
                if let Some(t) = self.arrival_ms(arrival, &block[start..end]) {
                    return Ok((false, Some(t)));
                }
            }
        }
        self.extract_slow(&block[start..end])
    }

    /// The envelope's arrival time as the fast path found it, or None when only the full
    /// parser can say what is wrong with it.
    #[inline]
    fn arrival_ms(&mut self, arrival: Val, line: &[u8]) -> Option<i64> {
        match arrival {
            Val::Str(s, e) => self.arrival_cache.parse(&line[s as usize..e as usize]),
            Val::Int(ms) => Some(ms),
            _ => None,
        }
    }

    #[cold]
    fn extract_slow(&mut self, line: &[u8]) -> Result<(bool, Option<i64>), String> {
        let arrival = slow_extract(
            line,
            &self.paths,
            self.envelope,
            &mut self.vals,
            &mut self.scratch,
        )?;
        Ok((true, arrival))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_timestamp_cache_agrees_with_the_full_parser() {
        let mut cache = TimestampCache::default();
        let stamps = [
            "2021-03-19T13:15:48Z",
            "2021-03-19T13:15:49Z",
            "2021-03-19T13:15:49.123Z",
            "2021-03-19T13:15:59.999Z",
            "2021-03-19T13:15:60Z",
            "2021-03-19T13:15:60.500Z",
            "2021-03-19T13:15:4x.123Z",
            "2021-03-19T13:15:48.12Z",
            "2021-03-19T13:15:48.1234Z",
            "2021-03-19T13:15:48+01:00",
            "2021-03-19T13:16:00.000Z",
            "2021-03-19 13:16:01Z",
            "2021-03-19T13:16:02.007Z",
            "2021-03-19T13:16:0aZ",
            "2021-03-19T13:16:/9Z",
            "2021-03-19T13:16:07.00xZ",
            "2021-03-19T13:16:07:007Z",
            "2021-03-19T13:16:07.007z",
            "2021-03-19T13:16:07.0071",
            "2021-03-19T13:16;07Z",
            "2021-03-19T13:16:07+0",
            "2021-03-19T13:16:59.999Z",
            "2021-03-19T13:16:70Z",
        ];
        for s in stamps {
            assert_eq!(
                cache.parse(s.as_bytes()),
                kds_common::time::parse_timestamp(s.as_bytes()),
                "{s}"
            );
        }
    }
}
