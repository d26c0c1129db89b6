//! The fast path of the valid lines: a line kept whole and patched in place per event.

use super::{four, push_small, write_event, Event, Fields, Format, TimeStrings};

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
    small: SmallDigits,
}

/// Numbers up to 255 as digits padded to 4 bytes, and the digit count.
type SmallDigits = [([u8; 4], u8); 256];

/// `v` as 4 digits for `v` up to 9999, and `v` (up to 255) as digits padded to 4 bytes with
/// the digit count.
fn digit_tables() -> (Box<[[u8; 4]; 10_000]>, SmallDigits) {
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
    (four_digits, small)
}

/// The line laid out once with a placeholder event (tid empty), to find the per-event
/// positions in.
fn sample_line(format: Format, tdate: &[u8; 10]) -> Vec<u8> {
    let f = Fields {
        letters: *b"LLLL",
        uno: 1000,
        pno: 1000,
        tnum: 1,
    };
    let mut sample = Vec::new();
    let e = Event {
        tid: b"",
        fields: &f,
        times: &TimeStrings::for_second(0),
        tdate,
    };
    write_event(format, &mut sample, &e);
    sample
}

impl Template {
    /// A template for `format` whose first tid is 1.
    pub fn new(format: Format, tdate: &[u8; 10]) -> Template {
        let (four_digits, small) = digit_tables();
        let prefix: &[u8] = match format {
            Format::Ndjson => b"{\"tid\":\"",
            Format::Csv => b"",
        };
        let sample = sample_line(format, tdate);
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
mod tests {
    use super::*;
    use crate::event::TidCounter;
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
                let e = Event {
                    tid: &t_digits,
                    fields: &f,
                    times: &TimeStrings::for_second(sec),
                    tdate: &tdate,
                };
                write_event(format, &mut reference, &e);
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
