//! One trade event and its byte-exact renderings (NDJSON, CSV), valid and malformed.
//!
//! The valid NDJSON line has the lab's keys in the lab's order:
//! `{"tid":"1","tno":"AbCd20210319131548","tdate":"2021-03-19","uno":"U1030","pno":"P1002","tnum":10,"tuptime":"2021-03-19T13:15:48Z"}`
//!
//! Formatting is by hand: the date strings are computed once per second ([`TimeStrings`]),
//! numbers are fixed-width digit arithmetic, and `tid` is a decimal counter incremented in place.

use kds_common::time::days_to_civil;

mod malformed;
mod template;
pub use malformed::{write_malformed, Malformed, KEYS};
pub use template::Template;

/// Header of `--format csv`.
pub const CSV_HEADER: &[u8] = b"tid,tno,tdate,uno,pno,tnum,tuptime\n";

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Ndjson,
    Csv,
}

/// The random parts of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fields {
    /// The 4 letters that start `tno`.
    pub letters: [u8; 4],
    /// Customer number, 1000..=9999.
    pub uno: u16,
    /// Product number, 1000..=9999.
    pub pno: u16,
    /// Quantity, 1..=100.
    pub tnum: u8,
}

/// Smallest and largest `tnum`.
pub const TNUM_MIN: u8 = 1;
pub const TNUM_MAX: u8 = 100;

const LETTERS: &[u8; 52] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

impl Fields {
    /// Draws the four letters from the low 32 bits of `r`: base-52 digits of the 32-bit
    /// fraction, extracted by repeated multiplication (each step keeps the remainder).
    #[inline]
    pub fn letters_from(r: u64) -> [u8; 4] {
        let mut x = r & 0xFFFF_FFFF;
        let mut next = || {
            x *= 52;
            let letter = LETTERS[(x >> 32) as usize];
            x &= 0xFFFF_FFFF;
            letter
        };
        [next(), next(), next(), next()]
    }

    /// `tnum` in `TNUM_MIN..=TNUM_MAX` from the high 32 bits of `r`.
    #[inline]
    pub fn tnum_from(r: u64) -> u8 {
        TNUM_MIN + kds_common::rng::scale32(r >> 32, (TNUM_MAX - TNUM_MIN + 1) as u32) as u8
    }
}

/// The date strings of one second: `yyyyMMddHHmmss` for `tno`, RFC 3339 for `tuptime`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeStrings {
    /// Epoch seconds these strings describe.
    pub sec: i64,
    pub stamp: [u8; 14],
    pub rfc3339: [u8; 20],
}

#[inline]
fn two(v: u32) -> [u8; 2] {
    [b'0' + (v / 10 % 10) as u8, b'0' + (v % 10) as u8]
}

impl TimeStrings {
    /// Strings for epoch second `sec` (years 0000–9999).
    pub fn for_second(sec: i64) -> TimeStrings {
        let days = sec.div_euclid(86_400);
        let in_day = sec.rem_euclid(86_400) as u32;
        let (y, mo, d) = days_to_civil(days);
        let y = y.clamp(0, 9999) as u32;
        let (yh, yl) = (two(y / 100), two(y % 100));
        let (mo, d) = (two(mo), two(d));
        let (h, mi, s) = (two(in_day / 3600), two(in_day / 60 % 60), two(in_day % 60));
        let stamp = [
            yh[0], yh[1], yl[0], yl[1], mo[0], mo[1], d[0], d[1], h[0], h[1], mi[0], mi[1], s[0],
            s[1],
        ];
        let rfc3339 = [
            yh[0], yh[1], yl[0], yl[1], b'-', mo[0], mo[1], b'-', d[0], d[1], b'T', h[0], h[1],
            b':', mi[0], mi[1], b':', s[0], s[1], b'Z',
        ];
        TimeStrings {
            sec,
            stamp,
            rfc3339,
        }
    }
}

/// `tid`: a decimal counter kept as ASCII digits, incremented in place.
#[derive(Debug, Clone)]
pub struct TidCounter {
    /// Digits in `buf[start..20]`.
    buf: [u8; 20],
    start: usize,
}

impl TidCounter {
    /// A counter whose first value is 1.
    pub fn new() -> TidCounter {
        let mut buf = [b'0'; 20];
        buf[19] = b'1';
        TidCounter { buf, start: 19 }
    }

    #[inline]
    pub fn digits(&self) -> &[u8] {
        &self.buf[self.start..20]
    }

    #[inline]
    pub fn increment(&mut self) {
        let mut i = 19;
        loop {
            if self.buf[i] == b'9' {
                self.buf[i] = b'0';
                if i == 0 {
                    // 10^20 events: wrap rather than panic (unreachable in practice).
                    self.buf[19] = b'1';
                    self.start = 19;
                    return;
                }
                i -= 1;
            } else {
                self.buf[i] += 1;
                break;
            }
        }
        if i < self.start {
            self.start = i;
        }
    }
}

impl Default for TidCounter {
    fn default() -> Self {
        TidCounter::new()
    }
}

#[inline]
fn four(v: u16) -> [u8; 4] {
    let v = v as u32;
    [
        b'0' + (v / 1000 % 10) as u8,
        b'0' + (v / 100 % 10) as u8,
        b'0' + (v / 10 % 10) as u8,
        b'0' + (v % 10) as u8,
    ]
}

#[inline]
fn push_small(out: &mut Vec<u8>, v: u8) {
    if v >= 100 {
        out.extend_from_slice(&[b'0' + v / 100, b'0' + v / 10 % 10, b'0' + v % 10]);
    } else if v >= 10 {
        out.extend_from_slice(&[b'0' + v / 10, b'0' + v % 10]);
    } else {
        out.push(b'0' + v);
    }
}

/// A format's line as fixed templates around the tid and the tnum: `head`, tid, `mid`,
/// tnum, `tail`. The fields go into copies of `mid` and `tail` at the offsets named, so a
/// line is filled in a few copies.
struct Layout<const MID: usize, const TAIL: usize> {
    head: &'static [u8],
    mid: [u8; MID],
    letters: usize,
    stamp: usize,
    tdate: usize,
    uno: usize,
    pno: usize,
    tail: [u8; TAIL],
    rfc3339: usize,
}

const NDJSON: Layout<85, 35> = Layout {
    head: b"{\"tid\":\"",
    mid: *b"\",\"tno\":\"LLLLyyyyMMddHHmmss\",\"tdate\":\"YYYY-MM-DD\",\"uno\":\"U0000\",\"pno\":\"P0000\",\"tnum\":",
    letters: 9,
    stamp: 13,
    tdate: 38,
    uno: 58,
    pno: 72,
    tail: *b",\"tuptime\":\"yyyy-MM-ddTHH:mm:ssZ\"}\n",
    rfc3339: 12,
};

const CSV: Layout<43, 22> = Layout {
    head: b"",
    mid: *b",LLLLyyyyMMddHHmmss,YYYY-MM-DD,U0000,P0000,",
    letters: 1,
    stamp: 5,
    tdate: 20,
    uno: 32,
    pno: 38,
    tail: *b",yyyy-MM-ddTHH:mm:ssZ\n",
    rfc3339: 1,
};

/// Appends one line laid out per `l`, with its `\n`.
#[inline]
fn write_line<const MID: usize, const TAIL: usize>(
    out: &mut Vec<u8>,
    l: &Layout<MID, TAIL>,
    e: &Event<'_>,
) {
    let mut mid = l.mid;
    mid[l.letters..l.letters + 4].copy_from_slice(&e.fields.letters);
    mid[l.stamp..l.stamp + 14].copy_from_slice(&e.times.stamp);
    mid[l.tdate..l.tdate + 10].copy_from_slice(e.tdate);
    mid[l.uno..l.uno + 4].copy_from_slice(&four(e.fields.uno));
    mid[l.pno..l.pno + 4].copy_from_slice(&four(e.fields.pno));
    let mut tail = l.tail;
    tail[l.rfc3339..l.rfc3339 + 20].copy_from_slice(&e.times.rfc3339);
    out.extend_from_slice(l.head);
    out.extend_from_slice(e.tid);
    out.extend_from_slice(&mid);
    push_small(out, e.fields.tnum);
    out.extend_from_slice(&tail);
}

/// One event as it is rendered: the tid's digits, the random fields, the date strings of its
/// second and the trade date.
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    pub tid: &'a [u8],
    pub fields: &'a Fields,
    pub times: &'a TimeStrings,
    pub tdate: &'a [u8; 10],
}

/// Appends a valid line in `format`.
#[inline]
pub fn write_event(format: Format, out: &mut Vec<u8>, e: &Event<'_>) {
    match format {
        Format::Ndjson => write_line(out, &NDJSON, e),
        Format::Csv => write_line(out, &CSV, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (Fields, TimeStrings, [u8; 10]) {
        let f = Fields {
            letters: *b"AwGi",
            uno: 1030,
            pno: 1002,
            tnum: 10,
        };
        // 2021-03-19T13:15:48Z
        (f, TimeStrings::for_second(1_616_159_748), *b"2021-03-19")
    }

    /// The event of tid 5 with these parts.
    fn event<'a>(f: &'a Fields, t: &'a TimeStrings, d: &'a [u8; 10]) -> Event<'a> {
        Event {
            tid: b"5",
            fields: f,
            times: t,
            tdate: d,
        }
    }

    #[test]
    fn ndjson_line_is_exact() {
        let (f, t, d) = sample();
        let mut out = Vec::new();
        let e = Event {
            tid: b"123",
            ..event(&f, &t, &d)
        };
        write_event(Format::Ndjson, &mut out, &e);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"tid\":\"123\",\"tno\":\"AwGi20210319131548\",\"tdate\":\"2021-03-19\",\"uno\":\"U1030\",\"pno\":\"P1002\",\"tnum\":10,\"tuptime\":\"2021-03-19T13:15:48Z\"}\n"
        );
    }

    #[test]
    fn csv_row_is_exact() {
        let (f, t, d) = sample();
        let mut out = Vec::new();
        let f = Fields { tnum: 100, ..f };
        let e = Event {
            tid: b"7",
            ..event(&f, &t, &d)
        };
        write_event(Format::Csv, &mut out, &e);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "7,AwGi20210319131548,2021-03-19,U1030,P1002,100,2021-03-19T13:15:48Z\n"
        );
    }

    #[test]
    fn time_strings_agree_with_common_formatter() {
        for sec in [0i64, 951_782_400, 1_616_159_748, 4_102_444_799] {
            let t = TimeStrings::for_second(sec);
            let mut v = Vec::new();
            kds_common::time::format_rfc3339_s(sec * 1000, &mut v);
            assert_eq!(&t.rfc3339[..], &v[..]);
            let digits: Vec<u8> = v.iter().copied().filter(u8::is_ascii_digit).collect();
            assert_eq!(&t.stamp[..], &digits[..]);
        }
    }

    #[test]
    fn tid_counter_counts_across_carries() {
        let mut c = TidCounter::new();
        for expected in 1..=12_345u64 {
            assert_eq!(c.digits(), expected.to_string().as_bytes());
            c.increment();
        }
    }

    #[test]
    fn small_numbers_and_letters() {
        for v in [1u8, 9, 10, 99, 100] {
            let mut out = Vec::new();
            push_small(&mut out, v);
            assert_eq!(out, v.to_string().as_bytes());
        }
        for r in [0u64, u64::MAX, 0x0123_4567_89AB_CDEF] {
            assert!(Fields::letters_from(r).iter().all(u8::is_ascii_alphabetic));
            let n = Fields::tnum_from(r);
            assert!((TNUM_MIN..=TNUM_MAX).contains(&n));
        }
        assert_eq!(Fields::tnum_from(0), 1);
        assert_eq!(Fields::tnum_from(u64::MAX), 100);
    }

    #[test]
    fn malformed_lines_are_not_valid_json_events() {
        let (f, t, d) = sample();
        for kind in Malformed::ALL {
            for r in [0u64, u64::MAX / 3, u64::MAX] {
                let mut out = Vec::new();
                write_malformed(kind, Format::Ndjson, &mut out, &event(&f, &t, &d), r);
                assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
                assert!(out.ends_with(b"\n"));
                let line = &out[..out.len() - 1];
                let v: Result<serde_json::Value, _> = serde_json::from_slice(line);
                let valid = v.as_ref().is_ok_and(|v| {
                    v.as_object().is_some_and(|o| {
                        o.len() == 7 && o.get("tnum").is_some_and(serde_json::Value::is_u64)
                    })
                });
                assert!(
                    !valid,
                    "{kind:?} produced a valid event: {}",
                    String::from_utf8_lossy(line)
                );
            }
        }
    }

    #[test]
    fn malformed_csv_rows_break_the_row() {
        let (f, t, d) = sample();
        let csv = |kind: Malformed| {
            let mut out = Vec::new();
            write_malformed(kind, Format::Csv, &mut out, &event(&f, &t, &d), 0);
            out
        };
        assert_eq!(
            csv(Malformed::MissingField)
                .iter()
                .filter(|&&b| b == b',')
                .count(),
            5
        );
        assert!(String::from_utf8_lossy(&csv(Malformed::WrongType)).contains(",10.5,"));
        assert!(!csv(Malformed::NotARecord).contains(&b','));
    }
}
