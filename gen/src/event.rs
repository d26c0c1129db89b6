//! One trade event and its byte-exact renderings (NDJSON, CSV), valid and malformed.
//!
//! The valid NDJSON line has the lab's keys in the lab's order:
//! `{"tid":"1","tno":"AbCd20210319131548","tdate":"2021-03-19","uno":"U1030","pno":"P1002","tnum":10,"tuptime":"2021-03-19T13:15:48Z"}`
//!
//! Formatting is by hand: the date strings are computed once per second ([`TimeStrings`]),
//! numbers are fixed-width digit arithmetic, and `tid` is a decimal counter incremented in place.

use kds_common::time::days_to_civil;

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

/// Appends one valid NDJSON event line, with its `\n`.
#[inline]
pub fn write_ndjson(out: &mut Vec<u8>, tid: &[u8], f: &Fields, t: &TimeStrings, tdate: &[u8; 10]) {
    // Middle part from `","tno":"` to `"tnum":`, fixed length, filled in one go.
    let mut mid = *b"\",\"tno\":\"LLLLyyyyMMddHHmmss\",\"tdate\":\"YYYY-MM-DD\",\"uno\":\"U0000\",\"pno\":\"P0000\",\"tnum\":";
    mid[9..13].copy_from_slice(&f.letters);
    mid[13..27].copy_from_slice(&t.stamp);
    mid[38..48].copy_from_slice(tdate);
    mid[58..62].copy_from_slice(&four(f.uno));
    mid[72..76].copy_from_slice(&four(f.pno));
    let mut tail = *b",\"tuptime\":\"yyyy-MM-ddTHH:mm:ssZ\"}\n";
    tail[12..32].copy_from_slice(&t.rfc3339);
    out.extend_from_slice(b"{\"tid\":\"");
    out.extend_from_slice(tid);
    out.extend_from_slice(&mid);
    push_small(out, f.tnum);
    out.extend_from_slice(&tail);
}

/// Appends one valid CSV row, with its `\n`.
#[inline]
pub fn write_csv(out: &mut Vec<u8>, tid: &[u8], f: &Fields, t: &TimeStrings, tdate: &[u8; 10]) {
    let mut mid = *b",LLLLyyyyMMddHHmmss,YYYY-MM-DD,U0000,P0000,";
    mid[1..5].copy_from_slice(&f.letters);
    mid[5..19].copy_from_slice(&t.stamp);
    mid[20..30].copy_from_slice(tdate);
    mid[32..36].copy_from_slice(&four(f.uno));
    mid[38..42].copy_from_slice(&four(f.pno));
    let mut tail = *b",yyyy-MM-ddTHH:mm:ssZ\n";
    tail[1..21].copy_from_slice(&t.rfc3339);
    out.extend_from_slice(tid);
    out.extend_from_slice(&mid);
    push_small(out, f.tnum);
    out.extend_from_slice(&tail);
}

/// Appends a valid line in `format`.
#[inline]
pub fn write_event(
    format: Format,
    out: &mut Vec<u8>,
    tid: &[u8],
    f: &Fields,
    t: &TimeStrings,
    tdate: &[u8; 10],
) {
    match format {
        Format::Ndjson => write_ndjson(out, tid, f, t, tdate),
        Format::Csv => write_csv(out, tid, f, t, tdate),
    }
}

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
fn values(tid: &[u8], f: &Fields, t: &TimeStrings, tdate: &[u8; 10]) -> [Vec<u8>; 7] {
    let mut tno = f.letters.to_vec();
    tno.extend_from_slice(&t.stamp);
    let mut uno = b"U".to_vec();
    uno.extend_from_slice(&four(f.uno));
    let mut pno = b"P".to_vec();
    pno.extend_from_slice(&four(f.pno));
    let mut tnum = Vec::new();
    push_small(&mut tnum, f.tnum);
    [
        tid.to_vec(),
        tno,
        tdate.to_vec(),
        uno,
        pno,
        tnum,
        t.rfc3339.to_vec(),
    ]
}

/// Appends a broken line of `kind`, with its `\n`. `r` is a uniform draw that picks the cut
/// position or the missing field.
#[allow(clippy::too_many_arguments)]
pub fn write_malformed(
    kind: Malformed,
    format: Format,
    out: &mut Vec<u8>,
    tid: &[u8],
    f: &Fields,
    t: &TimeStrings,
    tdate: &[u8; 10],
    r: u64,
) {
    match kind {
        Malformed::Truncated => {
            let mut line = Vec::with_capacity(160);
            write_event(format, &mut line, tid, f, t, tdate);
            line.pop(); // '\n'
            let keep = 1 + kds_common::rng::scale32(r >> 32, (line.len() - 1) as u32) as usize;
            out.extend_from_slice(&line[..keep]);
        }
        Malformed::NotARecord => {
            for (i, (k, v)) in KEYS.iter().zip(values(tid, f, t, tdate)).enumerate() {
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
            let vals = values(tid, f, t, tdate);
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

    #[test]
    fn ndjson_line_is_exact() {
        let (f, t, d) = sample();
        let mut out = Vec::new();
        write_ndjson(&mut out, b"123", &f, &t, &d);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"tid\":\"123\",\"tno\":\"AwGi20210319131548\",\"tdate\":\"2021-03-19\",\"uno\":\"U1030\",\"pno\":\"P1002\",\"tnum\":10,\"tuptime\":\"2021-03-19T13:15:48Z\"}\n"
        );
    }

    #[test]
    fn csv_row_is_exact() {
        let (f, t, d) = sample();
        let mut out = Vec::new();
        write_csv(&mut out, b"7", &Fields { tnum: 100, ..f }, &t, &d);
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
                write_malformed(kind, Format::Ndjson, &mut out, b"5", &f, &t, &d, r);
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
        let mut out = Vec::new();
        write_malformed(
            Malformed::MissingField,
            Format::Csv,
            &mut out,
            b"5",
            &f,
            &t,
            &d,
            0,
        );
        assert_eq!(out.iter().filter(|&&b| b == b',').count(), 5);
        out.clear();
        write_malformed(
            Malformed::WrongType,
            Format::Csv,
            &mut out,
            b"5",
            &f,
            &t,
            &d,
            0,
        );
        assert!(String::from_utf8_lossy(&out).contains(",10.5,"));
        out.clear();
        write_malformed(
            Malformed::NotARecord,
            Format::Csv,
            &mut out,
            b"5",
            &f,
            &t,
            &d,
            0,
        );
        assert!(!out.contains(&b','));
    }
}

/// Size of the line kept by [`Template`] (the fixed-size copies may run past the line's end).
const LINE_ROOM: usize = 192;
const MID_ROOM: usize = 96;
const TAIL_ROOM: usize = 40;
/// Bytes copied out per line (then truncated): a constant size makes the copy a few vector
/// moves instead of a `memcpy` call. At least the longest line (8 + 20 + 85 + 3 + 35 = 151).
const COPY_OUT: usize = 160;
/// Most digits a tid can have (u64).
const MAX_TID_DIGITS: usize = 20;

/// The fast path: the current line is kept in a buffer with the date strings of the current
/// second and the tid in place; an event patches letters, uno, pno, tnum and the tail, is copied
/// out in one go, and the tid is incremented in place (usually one byte).
#[derive(Debug, Clone)]
pub struct Template {
    /// The second whose date strings are in the line.
    pub sec: i64,
    line: [u8; LINE_ROOM],
    prefix_len: usize,
    /// The tid's digits are `line[prefix_len..prefix_len + tid_len]`.
    tid_len: usize,
    mid: [u8; MID_ROOM],
    mid_len: usize,
    letters_at: usize,
    uno_at: usize,
    pno_at: usize,
    tail: [u8; TAIL_ROOM],
    tail_len: usize,
    /// `v` as 4 digits, for `v` up to 9999.
    four_digits: Box<[[u8; 4]; 10_000]>,
    /// `v` (up to 255) as digits padded to 4 bytes, and the digit count.
    small: [([u8; 4], u8); 256],
}

impl Template {
    /// A template for `format` whose first tid is 1.
    pub fn new(format: Format, tdate: &[u8; 10]) -> Template {
        let mut four_digits = Box::new([[0u8; 4]; 10_000]);
        for (v, d) in four_digits.iter_mut().enumerate() {
            *d = four(v as u16);
        }
        let mut small = [([0u8; 4], 0u8); 256];
        for (v, s) in small.iter_mut().enumerate() {
            let mut digits = Vec::new();
            push_small(&mut digits, v as u8);
            s.0[..digits.len()].copy_from_slice(&digits);
            s.1 = digits.len() as u8;
        }
        let prefix: &[u8] = match format {
            Format::Ndjson => b"{\"tid\":\"",
            Format::Csv => b"",
        };
        // Lay the line out once with a placeholder event and find the per-event positions.
        let f = Fields {
            letters: *b"LLLL",
            uno: 1000,
            pno: 1000,
            tnum: 1,
        };
        let mut sample = Vec::new();
        write_event(
            format,
            &mut sample,
            b"",
            &f,
            &TimeStrings::for_second(0),
            tdate,
        );
        let body = &sample[prefix.len()..];
        let mid_len = match format {
            Format::Ndjson => {
                body.windows(8)
                    .position(|w| w == b"\"tnum\":1")
                    .unwrap_or(0)
                    + 7
            }
            Format::Csv => body.len() - 23, // tnum digit, ',', 20-byte tuptime, '\n'
        };
        let (mid, rest) = body.split_at(mid_len);
        let tail = &rest[1..]; // after the tnum digit
        let mut t = Template {
            sec: 0,
            line: [0; LINE_ROOM],
            prefix_len: prefix.len(),
            tid_len: 1,
            mid: [0; MID_ROOM],
            mid_len,
            letters_at: mid.windows(4).position(|w| w == b"LLLL").unwrap_or(0),
            uno_at: mid.windows(5).position(|w| w == b"U1000").unwrap_or(0) + 1,
            pno_at: mid.windows(5).position(|w| w == b"P1000").unwrap_or(0) + 1,
            tail: [0; TAIL_ROOM],
            tail_len: tail.len(),
            four_digits,
            small,
        };
        t.mid[..mid_len].copy_from_slice(mid);
        t.tail[..tail.len()].copy_from_slice(tail);
        t.line[..prefix.len()].copy_from_slice(prefix);
        t.line[prefix.len()] = b'1';
        t.place_mid();
        t
    }

    fn place_mid(&mut self) {
        let at = self.prefix_len + self.tid_len;
        self.line[at..at + MID_ROOM].copy_from_slice(&self.mid);
    }

    /// Puts the date strings of second `sec` into the line.
    pub fn set_second(&mut self, sec: i64) {
        let times = TimeStrings::for_second(sec);
        let stamp_at = self.letters_at + 4;
        self.mid[stamp_at..stamp_at + 14].copy_from_slice(&times.stamp);
        // The tail ends with the tuptime then `"}\n` (NDJSON) or `\n` (CSV).
        let closing = if self.prefix_len == 0 { 1 } else { 3 };
        let rfc_at = self.tail_len - 20 - closing;
        self.tail[rfc_at..rfc_at + 20].copy_from_slice(&times.rfc3339);
        self.sec = sec;
        self.place_mid();
    }

    /// The tid the next line will carry.
    pub fn tid(&self) -> &[u8] {
        &self.line[self.prefix_len..self.prefix_len + self.tid_len]
    }

    /// Appends the line of event `f` with the current tid and second (the same bytes as
    /// [`write_event`]), then moves to the next tid.
    #[inline]
    pub fn write_next(&mut self, out: &mut Vec<u8>, f: &Fields) {
        let m = self.prefix_len + self.tid_len;
        let line = &mut self.line;
        line[m + self.letters_at..m + self.letters_at + 4].copy_from_slice(&f.letters);
        line[m + self.uno_at..m + self.uno_at + 4]
            .copy_from_slice(&self.four_digits[f.uno as usize % 10_000]);
        line[m + self.pno_at..m + self.pno_at + 4]
            .copy_from_slice(&self.four_digits[f.pno as usize % 10_000]);
        let mut p = m + self.mid_len;
        let (digits, n) = &self.small[f.tnum as usize];
        line[p..p + 4].copy_from_slice(digits);
        p += *n as usize;
        line[p..p + TAIL_ROOM].copy_from_slice(&self.tail);
        p += self.tail_len;
        let start = out.len();
        // Two fixed-size pieces: each is inlined as vector moves (one 160-byte copy becomes a
        // `memcpy` call, which costs more than the formatting).
        out.extend_from_slice(&line[..COPY_OUT / 2]);
        out.extend_from_slice(&line[COPY_OUT / 2..COPY_OUT]);
        out.truncate(start + p);
        self.increment_tid();
    }

    #[inline]
    fn increment_tid(&mut self) {
        let first = self.prefix_len;
        let mut i = first + self.tid_len - 1;
        loop {
            if self.line[i] != b'9' {
                self.line[i] += 1;
                return;
            }
            self.line[i] = b'0';
            if i == first {
                break;
            }
            i -= 1;
        }
        // All nines: one more digit, and the rest of the line moves right by one.
        if self.tid_len == MAX_TID_DIGITS {
            self.tid_len = 1; // after 10^20 - 1 events: wrap rather than panic
        } else {
            self.tid_len += 1;
            self.line[first + self.tid_len - 1] = b'0';
        }
        self.line[first] = b'1';
        self.place_mid();
    }
}

#[cfg(test)]
mod template_tests {
    use super::*;
    use kds_common::rng::Rng;

    #[test]
    fn template_writes_the_same_bytes_as_the_reference_formatter() {
        let mut rng = Rng::seeded(5);
        for format in [Format::Ndjson, Format::Csv] {
            let tdate = *b"2021-03-19";
            let mut t = Template::new(format, &tdate);
            let mut tid = TidCounter::new();
            for i in 0..5000u64 {
                let sec = 1_616_159_748 + (i as i64) * 7919;
                t.set_second(sec);
                let r = rng.next_u64();
                let f = Fields {
                    letters: Fields::letters_from(r),
                    uno: 1000 + (r % 9000) as u16,
                    pno: 1000 + (r >> 20) as u16 % 9000,
                    tnum: Fields::tnum_from(rng.next_u64()),
                };
                let mut fast = b"previous line\n".to_vec();
                assert_eq!(t.tid(), tid.digits());
                let t_digits = tid.digits().to_vec();
                t.write_next(&mut fast, &f);
                tid.increment();
                let mut reference = b"previous line\n".to_vec();
                write_event(
                    format,
                    &mut reference,
                    &t_digits,
                    &f,
                    &TimeStrings::for_second(sec),
                    &tdate,
                );
                assert_eq!(
                    String::from_utf8_lossy(&fast),
                    String::from_utf8_lossy(&reference)
                );
                for _ in 0..(i * 97) % 1999 {
                    t.write_next(&mut Vec::new(), &f);
                    tid.increment();
                }
            }
        }
    }
}
