//! Timestamps: RFC 3339 UTC with milliseconds out, RFC 3339 or epoch milliseconds in.
//!
//! Formatting and parsing are done by hand (civil-from-days arithmetic) because they sit on hot
//! paths: window keys, envelopes and generated events.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}

/// Days since 1970-01-01 → (year, month 1–12, day 1–31). Howard Hinnant's algorithm.
pub fn days_to_civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) → days since 1970-01-01.
pub fn civil_to_days(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[inline]
fn push2(out: &mut Vec<u8>, v: u32) {
    out.push(b'0' + (v / 10) as u8);
    out.push(b'0' + (v % 10) as u8);
}

/// Appends `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn format_rfc3339_ms(ms: i64, out: &mut Vec<u8>) {
    format_rfc3339(ms, true, out)
}

/// Appends `YYYY-MM-DDTHH:MM:SSZ` (second precision, as the trade events' `tuptime`).
pub fn format_rfc3339_s(ms: i64, out: &mut Vec<u8>) {
    format_rfc3339(ms, false, out)
}

fn format_rfc3339(ms: i64, with_millis: bool, out: &mut Vec<u8>) {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let (y, mo, d) = days_to_civil(days);
    if (0..=9999).contains(&y) {
        let y = y as u32;
        push2(out, y / 100);
        push2(out, y % 100);
    } else {
        out.extend_from_slice(y.to_string().as_bytes());
    }
    out.push(b'-');
    push2(out, mo);
    out.push(b'-');
    push2(out, d);
    out.push(b'T');
    let secs = (in_day / 1000) as u32;
    push2(out, secs / 3600);
    out.push(b':');
    push2(out, secs / 60 % 60);
    out.push(b':');
    push2(out, secs % 60);
    if with_millis {
        let milli = (in_day % 1000) as u32;
        out.push(b'.');
        out.push(b'0' + (milli / 100) as u8);
        push2(out, milli % 100);
    }
    out.push(b'Z');
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` as a String.
pub fn rfc3339_ms(ms: i64) -> String {
    let mut v = Vec::with_capacity(24);
    format_rfc3339_ms(ms, &mut v);
    String::from_utf8(v).unwrap_or_default()
}

#[inline]
fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let s = b.get(at..at + n)?;
    let mut v = 0u32;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as u32;
    }
    Some(v)
}

/// Parses RFC 3339 (`2021-03-19T13:15:48Z`, optional fraction, `Z` or `±HH:MM`; a space for `T`
/// is accepted) or integer epoch milliseconds. Returns epoch milliseconds.
pub fn parse_timestamp(b: &[u8]) -> Option<i64> {
    if b.is_empty() {
        return None;
    }
    if b.iter().all(u8::is_ascii_digit)
        || (b[0] == b'-' && b.len() > 1 && b[1..].iter().all(u8::is_ascii_digit))
    {
        return std::str::from_utf8(b).ok()?.parse().ok();
    }
    let year = digits(b, 0, 4)? as i64;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let hour = digits(b, 11, 2)?;
    if b.get(13) != Some(&b':') || b.get(16) != Some(&b':') {
        return None;
    }
    let minute = digits(b, 14, 2)?;
    let second = digits(b, 17, 2)?;
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut i = 19;
    let mut millis = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 3 {
                millis = millis * 10 + (b[i] - b'0') as i64;
            }
            i += 1;
        }
        let n = i - start;
        if n == 0 {
            return None;
        }
        for _ in n..3 {
            millis *= 10;
        }
    }
    let offset_minutes: i64 = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) if i + 6 == b.len() && b[i + 3] == b':' => {
            let h = digits(b, i + 1, 2)? as i64;
            let m = digits(b, i + 4, 2)? as i64;
            let v = h * 60 + m;
            if sign == b'-' {
                -v
            } else {
                v
            }
        }
        _ => return None,
    };
    let days = civil_to_days(year, month, day);
    let secs = days * 86_400 + hour as i64 * 3600 + minute as i64 * 60 + second as i64
        - offset_minutes * 60;
    Some(secs * 1000 + millis)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip_over_centuries() {
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = days_to_civil(days);
            assert_eq!(civil_to_days(y, m, d), days);
        }
        assert_eq!(days_to_civil(0), (1970, 1, 1));
        assert_eq!(civil_to_days(2021, 3, 19), 18705);
    }

    #[test]
    fn formats_like_chrono() {
        for ms in [
            0i64,
            1_616_159_748_123,
            951_782_400_000,
            4_102_444_799_999,
            -1,
        ] {
            let ours = rfc3339_ms(ms);
            let theirs = chrono::DateTime::from_timestamp_millis(ms)
                .unwrap()
                .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string();
            assert_eq!(ours, theirs);
        }
        let mut v = Vec::new();
        format_rfc3339_s(1_616_159_748_999, &mut v);
        assert_eq!(v, b"2021-03-19T13:15:48Z");
    }

    #[test]
    fn parses_rfc3339_and_epoch_ms() {
        assert_eq!(
            parse_timestamp(b"2021-03-19T13:15:48Z"),
            Some(1_616_159_748_000)
        );
        assert_eq!(
            parse_timestamp(b"2021-03-19T13:15:48.123Z"),
            Some(1_616_159_748_123)
        );
        assert_eq!(
            parse_timestamp(b"2021-03-19T13:15:48.1Z"),
            Some(1_616_159_748_100)
        );
        assert_eq!(
            parse_timestamp(b"2021-03-19T13:15:48.123456Z"),
            Some(1_616_159_748_123)
        );
        assert_eq!(
            parse_timestamp(b"2021-03-19T14:15:48+01:00"),
            Some(1_616_159_748_000)
        );
        assert_eq!(
            parse_timestamp(b"2021-03-19 13:15:48Z"),
            Some(1_616_159_748_000)
        );
        assert_eq!(parse_timestamp(b"1616159748123"), Some(1_616_159_748_123));
        for bad in [
            &b""[..],
            b"2021-02-30T00:00:00Z",
            b"2021-03-19T13:15:48",
            b"2021-03-19T25:00:00Z",
            b"x",
            b"2021-03-19T13:15:48.Z",
        ] {
            assert_eq!(
                parse_timestamp(bad),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
