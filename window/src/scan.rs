//! Reading the needed fields out of one line.
//!
//! The fast path is a hand-written scanner for the shape trade events have: one flat JSON object,
//! no whitespace, ASCII strings without escapes, numbers, `true`/`false`/`null`. It validates
//! everything it reads, so whatever it accepts is valid JSON, and it gives up (returns `None`) on
//! anything else: whitespace, escapes, non-ASCII, nested values, odd numbers. Then the line goes
//! through `serde_json`, so the result never depends on which path was taken.

use serde_json::Value;

use crate::query::Path;

mod index;
mod keys;
mod shape;

use index::next_bit;
pub use index::BlockIndex;
use keys::load8;
pub use keys::{FastKey, FastKeys};

/// One extracted value. Strings are byte ranges into the text returned with it (the line itself
/// on the fast path, a scratch buffer of decoded strings on the slow path).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Val {
    Missing,
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(u32, u32),
    /// An object or array, as canonical JSON text (slow path only).
    Composite(u32, u32),
}

impl Val {
    /// True for SQL NULL: a missing field or JSON null.
    #[inline]
    pub fn is_null(self) -> bool {
        matches!(self, Val::Missing | Val::Null)
    }

    pub fn type_name(self) -> &'static str {
        match self {
            Val::Missing => "missing",
            Val::Null => "null",
            Val::Bool(_) => "a boolean",
            Val::Int(_) | Val::Float(_) => "a number",
            Val::Str(..) => "a string",
            Val::Composite(..) => "an object or array",
        }
    }

    /// Appends the value as canonical JSON (what `serde_json::to_string` gives for it).
    pub fn write_json(self, text: &[u8], out: &mut Vec<u8>) {
        match self {
            Val::Missing | Val::Null => out.extend_from_slice(b"null"),
            Val::Bool(true) => out.extend_from_slice(b"true"),
            Val::Bool(false) => out.extend_from_slice(b"false"),
            Val::Int(i) => out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes()),
            Val::Float(f) => write_f64(f, out),
            Val::Str(s, e) => {
                let s = &text[s as usize..e as usize];
                // Strings in the text are valid UTF-8: JSON-decoded, or ASCII from the fast path.
                match std::str::from_utf8(s) {
                    Ok(s) => kds_common::json::write_json_string(out, s),
                    Err(_) => kds_common::json::write_json_string(out, &String::from_utf8_lossy(s)),
                }
            }
            Val::Composite(s, e) => out.extend_from_slice(&text[s as usize..e as usize]),
        }
    }
}

/// Appends an f64 as JSON. JSON input cannot hold NaN or infinities; should one arise from
/// arithmetic (an f64 sum overflowing), it is written as `null`.
pub fn write_f64(f: f64, out: &mut Vec<u8>) {
    if f.is_finite() {
        out.extend_from_slice(ryu::Buffer::new().format_finite(f).as_bytes());
    } else {
        out.extend_from_slice(b"null");
    }
}

/// Converts a serde number the one way both paths use: an integer that fits i64 stays an
/// integer, anything else is an f64.
#[inline]
fn number_val(n: &serde_json::Number) -> Val {
    match n.as_i64() {
        Some(i) => Val::Int(i),
        None => Val::Float(n.as_f64().unwrap_or(f64::NAN)),
    }
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// From just after an opening quote, the index of the closing quote, when the string holds only
/// printable ASCII without escapes. `None` for anything else (escape, control byte, non-ASCII,
/// no closing quote): the caller falls back to the full parser.
#[inline]
fn scan_plain_string(b: &[u8], mut i: usize) -> Option<usize> {
    while i + 8 <= b.len() {
        let Ok(word) = <[u8; 8]>::try_from(&b[i..i + 8]) else {
            break;
        };
        let w = u64::from_le_bytes(word);
        let q = w ^ (LO * b'"' as u64);
        let bs = w ^ (LO * b'\\' as u64);
        // Each term's lowest flagged byte is exact (borrows only flag bytes above a true hit),
        // so the lowest flag of the union is the first special byte.
        let m = ((q.wrapping_sub(LO) & !q)
            | (bs.wrapping_sub(LO) & !bs)
            | (w.wrapping_sub(LO * 0x20) & !w)
            | w)
            & HI;
        if m != 0 {
            let pos = i + (m.trailing_zeros() / 8) as usize;
            return (b[pos] == b'"').then_some(pos);
        }
        i += 8;
    }
    while i < b.len() {
        match b[i] {
            b'"' => return Some(i),
            0x20..=0x7f if b[i] != b'\\' => i += 1,
            _ => return None,
        }
    }
    None
}

/// The value and count of the decimal digits that start the 8 bytes `w` (little-endian), when
/// fewer than 8 do: found and converted without a branch per digit (SWAR). `None` for 0 or 8.
#[inline(always)]
fn swar_digits(w: u64) -> Option<(u64, usize)> {
    const HIGH: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    // A byte is a digit when its high nibble is 3 before and after adding 6 (0x30..=0x39); a
    // carry out of a non-digit byte only reaches bytes after it, which are not used.
    let not_digit = ((w & HIGH) ^ (LO * 0x30)) | ((w.wrapping_add(LO * 6) & HIGH) ^ (LO * 0x30));
    let n = (not_digit.trailing_zeros() / 8) as usize;
    if n == 0 || n == 8 {
        return None;
    }
    // The digits moved to the top bytes (leading zeros below), then pairs, quads, octets summed.
    let mut d = w.wrapping_sub(LO * 0x30) << (8 * (8 - n));
    d = (d.wrapping_mul(10) + (d >> 8)) & 0x00FF_00FF_00FF_00FF;
    d = (d.wrapping_mul(100) + (d >> 16)) & 0x0000_FFFF_0000_FFFF;
    d = (d.wrapping_mul(10000) + (d >> 32)) & 0xFFFF_FFFF;
    Some((d, n))
}

/// A JSON number starting at `i`: its value and the index after it. Plain integers of up to 18
/// digits are converted here; other valid numbers go through serde_json's number parser.
#[inline(always)]
fn scan_number(b: &[u8], i: usize) -> Option<(Val, usize)> {
    let start = i;
    let mut j = i;
    let neg = b.get(j) == Some(&b'-');
    if neg {
        j += 1;
    }
    let digits_start = j;
    let mut v: u64 = 0;
    match b.get(j) {
        Some(b'0') => j += 1,
        Some(b'1'..=b'9') => match load8(b, j).and_then(swar_digits) {
            Some((value, n)) => {
                v = value;
                j += n;
            }
            None => {
                while let Some(&c @ b'0'..=b'9') = b.get(j) {
                    v = v.wrapping_mul(10).wrapping_add((c - b'0') as u64);
                    j += 1;
                }
            }
        },
        _ => return None,
    }
    let ndigits = j - digits_start;
    let mut simple = ndigits <= 18 && !(neg && v == 0);
    if b.get(j) == Some(&b'.') {
        simple = false;
        j += 1;
        let f = j;
        while matches!(b.get(j), Some(b'0'..=b'9')) {
            j += 1;
        }
        if j == f {
            return None;
        }
    }
    if matches!(b.get(j), Some(b'e' | b'E')) {
        simple = false;
        j += 1;
        if matches!(b.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        let e = j;
        while matches!(b.get(j), Some(b'0'..=b'9')) {
            j += 1;
        }
        if j == e {
            return None;
        }
    }
    if simple {
        let v = v as i64;
        return Some((Val::Int(if neg { -v } else { v }), j));
    }
    let n: serde_json::Number = serde_json::from_slice(&b[start..j]).ok()?;
    Some((number_val(&n), j))
}

/// Longest line classified with SIMD; longer lines use the word-at-a-time string scanner.
const BITMAP_LINE: usize = 256;

/// Quote positions of a line of at most [`BITMAP_LINE`] bytes, one bit per byte, or `None` when
/// the line holds a backslash, a control byte or a non-ASCII byte anywhere (then the fast path
/// cannot take it: strings would need unescaping or UTF-8 checks, and whitespace is refused).
#[cfg(target_arch = "x86_64")]
#[inline]
fn quote_bitmap(b: &[u8]) -> Option<[u64; 4]> {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_cmplt_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8, _mm_setzero_si128,
    };
    debug_assert!(b.len() <= BITMAP_LINE);
    let mut quotes = [0u64; 4];
    let n = b.len();
    let mut tail = [b' '; 16];
    // SAFETY: SSE2 is part of the x86_64 baseline. Every load reads 16 bytes inside `b` (the
    // loop bound) or inside `tail`; unaligned loads are allowed by _mm_loadu_si128.
    unsafe {
        let quote = _mm_set1_epi8(b'"' as i8);
        let backslash = _mm_set1_epi8(b'\\' as i8);
        let space = _mm_set1_epi8(0x20);
        let mut bad = _mm_setzero_si128();
        let mut i = 0;
        while i < n {
            let ptr = if i + 16 <= n {
                b.as_ptr().add(i)
            } else {
                tail[..n - i].copy_from_slice(&b[i..]);
                tail.as_ptr()
            };
            let c = _mm_loadu_si128(ptr as *const __m128i);
            let q = _mm_movemask_epi8(_mm_cmpeq_epi8(c, quote)) as u32 as u64;
            quotes[i >> 6] |= q << (i & 63);
            // Signed compare: bytes >= 0x80 are negative, so this flags them with controls.
            bad = _mm_or_si128(
                bad,
                _mm_or_si128(_mm_cmpeq_epi8(c, backslash), _mm_cmplt_epi8(c, space)),
            );
            i += 16;
        }
        (_mm_movemask_epi8(bad) == 0).then_some(quotes)
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn quote_bitmap(_b: &[u8]) -> Option<[u64; 4]> {
    None
}

/// The first quote at or after `from`.
#[inline]
fn next_quote(quotes: &[u64; 4], from: usize) -> Option<usize> {
    next_bit(quotes, from)
}

/// The fast path: scans a flat object and stores the values of `keys` into `vals` (slot k for
/// key k, `vals` from [`FastKeys::new_vals`]; a key seen twice keeps its last value, as
/// serde_json does). `None` means "not the
/// simple shape": use [`slow_extract`].
#[inline]
pub fn fast_extract(b: &[u8], keys: &mut FastKeys, vals: &mut [Val]) -> Option<()> {
    vals.fill(Val::Missing);
    if !keys.fits(vals) {
        return None;
    }
    // Short lines (all trade events): classify every byte at once, then strings end at the
    // next quote. Longer lines: scan each string word by word.
    if cfg!(target_arch = "x86_64") && b.len() <= BITMAP_LINE {
        if b.first() != Some(&b'{') {
            return None;
        }
        let quotes = quote_bitmap(b)?;
        walk_object(b, 0, &|from| next_quote(&quotes, from), keys, vals)
    } else {
        walk_object(b, 0, &|from| scan_plain_string(b, from), keys, vals)
    }
}

/// The fast path on the line `block[start..end]` of a block classified by `index` (see
/// [`BlockIndex`]): the same scanner as [`fast_extract`] without a per-line classification.
/// String values point into the line (offsets relative to `start`), as with [`fast_extract`].
#[inline]
pub fn fast_extract_indexed(
    block: &[u8],
    start: usize,
    end: usize,
    index: &BlockIndex,
    keys: &mut FastKeys,
    vals: &mut [Val],
) -> Option<()> {
    vals.fill(Val::Missing);
    if !keys.fits(vals) || index.any_unsafe(start, end) {
        return None;
    }
    let b = block.get(..end)?;
    walk_object(b, start, &|from| index.next_quote(from, end), keys, vals)?;
    rebase(vals, start);
    Some(())
}

/// Makes string positions relative to the line that starts at `start`.
#[inline]
fn rebase(vals: &mut [Val], start: usize) {
    let base = start as u32;
    for v in vals.iter_mut() {
        if let Val::Str(s, e) = v {
            *s -= base;
            *e -= base;
        }
    }
}

/// The fast path for a `kds-tail --envelope` line whose `data` is the record verbatim: stores
/// the record's values of `keys` into `vals` (string positions index the line) and returns the
/// envelope's `arrival` as written (a string or an integer). `None`: use [`slow_extract`].
#[inline]
pub fn fast_envelope(b: &[u8], keys: &mut FastKeys, vals: &mut [Val]) -> Option<Val> {
    vals.fill(Val::Missing);
    if !keys.fits(vals) {
        return None;
    }
    walk_envelope(b, 0, &|from| scan_plain_string(b, from), keys, vals)
}

/// [`fast_envelope`] on the line `block[start..end]` of a block classified by `index`.
#[inline]
pub fn fast_envelope_indexed(
    block: &[u8],
    start: usize,
    end: usize,
    index: &BlockIndex,
    keys: &mut FastKeys,
    vals: &mut [Val],
) -> Option<Val> {
    vals.fill(Val::Missing);
    if !keys.fits(vals) || index.any_unsafe(start, end) {
        return None;
    }
    let b = block.get(..end)?;
    let mut arrival = walk_envelope(b, start, &|from| index.next_quote(from, end), keys, vals)?;
    rebase(vals, start);
    rebase(std::slice::from_mut(&mut arrival), start);
    Some(arrival)
}

/// Reads the key of an object member, `"key":` at `b[$i]`, and leaves `$i` at the member's
/// value; evaluates to the key text's bounds `(start, end)`, or returns `None` from the
/// enclosing function on anything else. A macro rather than a function: written as
/// `#[inline(always)]` functions, this step and a number's digit runs cost the fast path about
/// 3% more instructions per line (window/perf/measure.sh); the macro costs none.
macro_rules! member_key {
    ($b:expr, $i:ident, $string_end:expr) => {{
        if $b.get($i) != Some(&b'"') {
            return None;
        }
        let ks = $i + 1;
        let ke = $string_end(ks)?;
        $i = ke + 1;
        if $b.get($i) != Some(&b':') {
            return None;
        }
        $i += 1;
        (ks, ke)
    }};
}

/// The envelope `b[i..]` (to the end of `b`) in the shape kds-tail writes it (docs/ENVELOPE.md):
/// scalar members, then `data` holding the record as a flat object, last. Anything else (an
/// `encoding`, members after `data`, a `data` that is not a flat object, an `arrival` that is
/// not a string or an integer) is `None`, left to the full parser, which reads every envelope.
#[inline(always)]
fn walk_envelope(
    b: &[u8],
    mut i: usize,
    string_end: &impl Fn(usize) -> Option<usize>,
    keys: &mut FastKeys,
    vals: &mut [Val],
) -> Option<Val> {
    if b.get(i) != Some(&b'{') || b.last() != Some(&b'}') {
        return None;
    }
    i += 1;
    let mut arrival = Val::Missing;
    loop {
        let (ks, ke) = member_key!(b, i, string_end);
        match &b[ks..ke] {
            b"data" => {
                // The record runs to the envelope's closing brace.
                walk_object(&b[..b.len() - 1], i, string_end, keys, vals)?;
                return matches!(arrival, Val::Str(..) | Val::Int(_)).then_some(arrival);
            }
            b"encoding" => return None,
            key => {
                let (val, next) = scan_scalar(b, i, string_end)?;
                if key == b"arrival" {
                    arrival = val;
                }
                i = next;
            }
        }
        if b.get(i) != Some(&b',') {
            return None;
        }
        i += 1;
    }
}

/// The scanner behind both fast paths: the flat object `b[i..]` (to the end of `b`), strings
/// ending where `string_end(after_opening_quote)` says. Positions in `vals` index `b`. A line
/// of the last line's shape is read by its template; any other by the general walk.
#[inline(always)]
fn walk_object(
    b: &[u8],
    i: usize,
    string_end: &impl Fn(usize) -> Option<usize>,
    keys: &mut FastKeys,
    vals: &mut [Val],
) -> Option<()> {
    if keys.template.walk(b, i, string_end, vals).is_some() {
        return Some(());
    }
    walk_general(b, i, string_end, keys, vals)
}

/// Any flat object, member by member; learns its shape as the next line's template.
#[inline(never)]
fn walk_general(
    b: &[u8],
    mut i: usize,
    string_end: &impl Fn(usize) -> Option<usize>,
    keys: &mut FastKeys,
    vals: &mut [Val],
) -> Option<()> {
    // The template walk may have stored values before it failed.
    vals.fill(Val::Missing);
    keys.template.start();
    if b.get(i) != Some(&b'{') {
        return None;
    }
    let first = i;
    i += 1;
    if b.get(i) == Some(&b'}') {
        return (b.len() == first + 2).then_some(());
    }
    let mut member = 0;
    let mut prefix = first;
    loop {
        let (ks, ke) = member_key!(b, i, string_end);
        let (val, next) = scan_scalar(b, i, &string_end)?;
        let slot = keys.slot(member, b, ks, ke);
        vals[slot] = val;
        keys.template
            .record(b, prefix, i, matches!(val, Val::Str(..)), slot);
        i = next;
        member += 1;
        match b.get(i) {
            Some(b',') => {
                prefix = i;
                i += 1;
            }
            Some(b'}') if i + 1 == b.len() => {
                keys.template.finish();
                return Some(());
            }
            _ => return None,
        }
    }
}

/// A JSON scalar (string, number, `true`, `false`, `null`) at `b[i]`: its value and the index
/// after it. Strings end where `string_end(after_opening_quote)` says.
#[inline(always)]
fn scan_scalar(
    b: &[u8],
    i: usize,
    string_end: &impl Fn(usize) -> Option<usize>,
) -> Option<(Val, usize)> {
    match *b.get(i)? {
        b'"' => {
            let s = i + 1;
            let e = string_end(s)?;
            Some((Val::Str(s as u32, e as u32), e + 1))
        }
        b'-' | b'0'..=b'9' => scan_number(b, i),
        b't' if b[i..].starts_with(b"true") => Some((Val::Bool(true), i + 4)),
        b'f' if b[i..].starts_with(b"false") => Some((Val::Bool(false), i + 5)),
        b'n' if b[i..].starts_with(b"null") => Some((Val::Null, i + 4)),
        _ => None,
    }
}

/// Converts a serde value at the end of a path into a [`Val`], copying strings and composite
/// values into `scratch`.
pub fn val_of(v: Option<&Value>, scratch: &mut Vec<u8>) -> Val {
    match v {
        None => Val::Missing,
        Some(Value::Null) => Val::Null,
        Some(Value::Bool(b)) => Val::Bool(*b),
        Some(Value::Number(n)) => number_val(n),
        Some(Value::String(s)) => {
            let start = scratch.len() as u32;
            scratch.extend_from_slice(s.as_bytes());
            Val::Str(start, scratch.len() as u32)
        }
        Some(composite) => {
            let start = scratch.len() as u32;
            // Serializing a Value into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *scratch, composite);
            Val::Composite(start, scratch.len() as u32)
        }
    }
}

/// The slow path: parses the whole line with serde_json and looks up each path. With
/// `envelope`, the line is a `kds-tail --envelope` record: its `arrival` is returned and the
/// paths are looked up inside `data` (a JSON value, or a string holding JSON).
pub fn slow_extract(
    line: &[u8],
    paths: &[Path],
    envelope: bool,
    vals: &mut [Val],
    scratch: &mut Vec<u8>,
) -> Result<Option<i64>, String> {
    scratch.clear();
    let v: Value = serde_json::from_slice(line).map_err(|e| format!("not valid JSON: {e}"))?;
    if !v.is_object() {
        return Err("not a JSON object".into());
    }
    if !envelope {
        for (slot, p) in vals.iter_mut().zip(paths) {
            *slot = val_of(p.lookup(&v), scratch);
        }
        return Ok(None);
    }
    let arrival = match v.get("arrival") {
        Some(Value::String(s)) => kds_common::time::parse_timestamp(s.as_bytes())
            .ok_or_else(|| format!("bad timestamp in arrival: {s:?}"))?,
        Some(Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| format!("bad timestamp in arrival: {n}"))?,
        Some(_) => return Err("bad timestamp in arrival: not a string".into()),
        None => return Err("missing field arrival (not a kds-tail --envelope line)".into()),
    };
    let parsed;
    let data = match envelope_record(&v)? {
        Some(record) => {
            parsed = record;
            &parsed
        }
        None => &v["data"],
    };
    if !data.is_object() {
        return Err("data is not a JSON object".into());
    }
    for (slot, p) in vals.iter_mut().zip(paths) {
        *slot = val_of(p.lookup(data), scratch);
    }
    Ok(Some(arrival))
}

/// The record of an envelope when `data` is encoded (kds-tail's `"encoding"`: `utf8` holds the
/// record's text, `base64` its bytes), parsed as JSON; None when `data` is the record verbatim.
pub fn envelope_record(envelope: &Value) -> Result<Option<Value>, String> {
    let data = envelope
        .get("data")
        .ok_or("missing field data (not a kds-tail --envelope line)")?;
    let Some(encoding) = envelope.get("encoding") else {
        return Ok(None);
    };
    let text = data
        .as_str()
        .ok_or("data is not a string although encoding is given")?;
    let bytes = match encoding.as_str() {
        Some("utf8") => std::borrow::Cow::Borrowed(text.as_bytes()),
        Some("base64") => {
            use base64::Engine;
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|e| format!("data is not valid base64: {e}"))?;
            std::borrow::Cow::Owned(decoded)
        }
        _ => {
            return Err(format!(
                "unknown encoding {encoding} (kds-tail writes utf8 or base64)"
            ))
        }
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| format!("data is not JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn keys(names: &[&str]) -> FastKeys {
        FastKeys::new(names.iter().map(|n| n.as_bytes()))
    }

    /// Values as comparable text: the canonical JSON of each slot.
    pub(super) fn render(text: &[u8], vals: &[Val]) -> Vec<String> {
        vals.iter()
            .map(|v| {
                let mut out = Vec::new();
                if *v == Val::Missing {
                    return "<missing>".into();
                }
                v.write_json(text, &mut out);
                String::from_utf8(out).unwrap()
            })
            .collect()
    }

    /// Both paths on one line: if the fast path accepts it, it must agree with serde.
    fn both(line: &[u8], names: &[&str]) -> (Option<Vec<String>>, Result<Vec<String>, String>) {
        let mut ks = keys(names);
        let paths: Vec<Path> = names.iter().map(|n| Path(vec![n.to_string()])).collect();
        let mut fast = ks.new_vals();
        let fast =
            fast_extract(line, &mut ks, &mut fast).map(|_| render(line, &fast[..names.len()]));
        let mut slow = vec![Val::Missing; names.len()];
        let mut scratch = Vec::new();
        let slow = slow_extract(line, &paths, false, &mut slow, &mut scratch)
            .map(|_| render(&scratch, &slow));
        (fast, slow)
    }

    pub(super) const TRADE: &[u8] = br#"{"tid":"123","tno":"AwGi20200904131249","tdate":"2021-03-19","uno":"U1030","pno":"P1002","tnum":10,"tuptime":"2021-03-19T13:15:48Z"}"#;

    #[test]
    fn swar_digits_agrees_with_a_digit_loop() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..100_000 {
            let mut bytes = [0u8; 8];
            for b in &mut bytes {
                *b = if rng.random_bool(0.8) {
                    rng.random_range(b'0'..=b'9')
                } else {
                    rng.random()
                };
            }
            let n = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
            let want = (1..8).contains(&n).then(|| {
                let v = bytes[..n]
                    .iter()
                    .fold(0u64, |v, &c| v * 10 + (c - b'0') as u64);
                (v, n)
            });
            assert_eq!(swar_digits(u64::from_le_bytes(bytes)), want, "{bytes:?}");
        }
    }

    #[test]
    fn trade_event_takes_the_fast_path() {
        let (fast, slow) = both(TRADE, &["tnum", "tuptime", "pno", "nope"]);
        let fast = fast.expect("fast path accepts a trade event");
        assert_eq!(
            fast,
            vec!["10", "\"2021-03-19T13:15:48Z\"", "\"P1002\"", "<missing>"]
        );
        assert_eq!(Ok(fast), slow);
    }

    #[test]
    fn unusual_but_valid_lines_fall_back_and_agree() {
        for line in [
            &br#"{ "tnum": 10 }"#[..],
            br#"{"tnum":10,"x":{"a":[1,2]}}"#,
            br#"{"tnum":1e3}"#,
            br#"{"tnum":-0}"#,
            br#"{"tnum":12345678901234567890}"#,
            br#"{"tnum":123456789012345678901234}"#,
            br#"{"tnum":2.5,"tnum":7}"#,
            br#"{"t\u006eum":3}"#,
            br#"{"tnum":"caf\u00e9"}"#,
            "{\"tnum\":\"café\"}".as_bytes(),
            b"{\"tnum\":10}\r",
            br#"{"tnum":10} "#,
        ] {
            let (fast, slow) = both(line, &["tnum"]);
            let slow = slow.unwrap_or_else(|e| panic!("{}: {e}", String::from_utf8_lossy(line)));
            if let Some(f) = fast {
                assert_eq!(f, slow, "{}", String::from_utf8_lossy(line));
            }
        }
    }

    #[test]
    fn invalid_lines_are_never_accepted_by_the_fast_path() {
        for line in [
            &br#"{"tnum":10"#[..],
            br#"{"tnum":10,}"#,
            br#"{"tnum":01}"#,
            br#"{"tnum":1.}"#,
            br#"{"tnum":-}"#,
            br#"{"tnum":tru}"#,
            br#"{"tnum":"a"b}"#,
            b"{\"tnum\":\"a\x01\"}",
            br#"{tnum:1}"#,
            br#"{"tnum":1}}"#,
            br#"{"tnum":1}x"#,
            b"",
            b"{",
            b"{\"",
            b"\xff\xfe",
        ] {
            let (fast, slow) = both(line, &["tnum"]);
            assert!(fast.is_none(), "{}", String::from_utf8_lossy(line));
            assert!(slow.is_err(), "{}", String::from_utf8_lossy(line));
        }
    }

    /// Property: random mutations of trade events and random bytes never panic, and whenever
    /// the fast path accepts a line, serde accepts it too and reads the same values.
    #[test]
    fn random_lines_fast_path_agrees_with_serde() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let alphabet = b"{}[]\":,.-+eE0123456789abcnrtuls \\\x01\x7f\xc3\xa9tnumx";
        for round in 0..200_000 {
            let line: Vec<u8> = if round % 2 == 0 {
                let mut l = TRADE.to_vec();
                if round % 4 == 0 {
                    // Longer than the SIMD-classified lines: the word-at-a-time scanner.
                    let pad = format!(",\"note\":\"{}\"}}", "x".repeat(rng.random_range(120..200)));
                    l.pop();
                    l.extend_from_slice(pad.as_bytes());
                }
                for _ in 0..rng.random_range(1..4) {
                    let pos = rng.random_range(0..l.len());
                    match rng.random_range(0..3) {
                        0 => l[pos] = alphabet[rng.random_range(0..alphabet.len())],
                        1 => {
                            l.remove(pos);
                        }
                        _ => l.insert(pos, alphabet[rng.random_range(0..alphabet.len())]),
                    }
                }
                l
            } else {
                (0..rng.random_range(0..40))
                    .map(|_| alphabet[rng.random_range(0..alphabet.len())])
                    .collect()
            };
            let (fast, slow) = both(&line, &["tnum", "tuptime", "pno"]);
            if let Some(f) = fast {
                assert_eq!(Ok(f), slow, "{}", String::from_utf8_lossy(&line));
            }
        }
    }

    /// Property: on a block of many random lines, the indexed fast path cuts the same lines and
    /// reads the same values as the per-line fast path, wherever the lines fall relative to the
    /// 64-byte words of the index (including a last line without `\n`).
    #[test]
    fn indexed_fast_path_agrees_with_the_per_line_fast_path() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let alphabet = b"{}\":,.-0123456789abtnul \\\x01\xc3\xa9";
        let names = ["tnum", "tuptime", "pno"];
        let mut ks = keys(&names);
        let mut index = BlockIndex::default();
        for round in 0..3_000 {
            let mut lines: Vec<Vec<u8>> = Vec::new();
            for _ in 0..rng.random_range(0..40) {
                let mut l = TRADE.to_vec();
                if rng.random_range(0..4) == 0 {
                    let pad = format!(",\"note\":\"{}\"}}", "x".repeat(rng.random_range(0..300)));
                    l.pop();
                    l.extend_from_slice(pad.as_bytes());
                }
                if rng.random_range(0..3) == 0 {
                    let pos = rng.random_range(0..l.len());
                    l[pos] = alphabet[rng.random_range(0..alphabet.len())];
                }
                if rng.random_range(0..10) == 0 {
                    l.clear();
                }
                lines.push(l);
            }
            let mut block = lines.join(&b'\n');
            let terminated = round % 2 == 0 && !lines.is_empty();
            if terminated {
                block.push(b'\n');
            }
            index.build(&block);
            let mut start = 0;
            let mut cut = Vec::new();
            while let Some(nl) = index.next_newline(start) {
                cut.push((start, nl));
                start = nl + 1;
            }
            if start < block.len() || (!terminated && !lines.is_empty()) {
                cut.push((start, block.len()));
            }
            assert_eq!(cut.len(), lines.len(), "round {round}");
            for ((s, e), line) in cut.into_iter().zip(&lines) {
                assert_eq!(&block[s..e], &line[..]);
                let mut a = ks.new_vals();
                let mut b = ks.new_vals();
                let per_line =
                    fast_extract(line, &mut ks, &mut a).map(|_| render(line, &a[..names.len()]));
                let indexed = fast_extract_indexed(&block, s, e, &index, &mut ks, &mut b)
                    .map(|_| render(line, &b[..names.len()]));
                assert_eq!(indexed, per_line, "{}", String::from_utf8_lossy(line));
            }
        }
    }

    #[test]
    fn fast_envelopes_agree_with_the_full_parser_and_refuse_what_it_refuses() {
        let names = ["tnum", "pno"];
        let paths: Vec<Path> = names.iter().map(|n| Path(vec![n.to_string()])).collect();
        let lines: &[&[u8]] = &[
            br#"{"shard_id":"shardId-000000000001","sequence_number":"49","partition_key":"k","arrival":"2021-03-19T13:15:48.123Z","data":{"tid":"1","pno":"P1","tnum":10}}"#,
            br#"{"shard_id":"s","sequence_number":"49","sub_sequence_number":3,"partition_key":"k","arrival":1616159748123,"data":{"tnum":-7,"pno":null}}"#,
            br#"{"shard_id":"s","arrival":"2021-03-19T13:15:48Z","data":{}}"#,
            br#"{"shard_id":"s","arrival":"2021-03-19T13:15:48Z","data":"{\"tnum\":1}","encoding":"utf8"}"#,
            br#"{"shard_id":"s","arrival":"2021-03-19T13:15:48Z","data":"eyJ0bnVtIjoxfQ==","encoding":"base64"}"#,
            br#"{"data":{"tnum":1},"arrival":"2021-03-19T13:15:48Z"}"#,
            br#"{"arrival":null,"data":{"tnum":1}}"#,
            br#"{"arrival":"2021-03-19T13:15:48Z","data":{"tnum":1,"pno":"a\"b"}}"#,
            br#"{"arrival":"2021-03-19T13:15:48Z","data":{"tnum":1,"x":{"y":2}}}"#,
        ];
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let mut ks = keys(&names);
        let mut fast_taken = 0;
        for round in 0..20_000 {
            let mut line = lines[round % lines.len()].to_vec();
            if round >= lines.len() {
                let at = rng.random_range(0..line.len());
                line[at] = *b"{}[]\":,0a9 -.e\""
                    .get(rng.random_range(0..17))
                    .unwrap_or(&b'x');
            }
            let mut fast = ks.new_vals();
            let got = fast_envelope(&line, &mut ks, &mut fast);
            let mut slow = vec![Val::Missing; names.len()];
            let mut scratch = Vec::new();
            let want = slow_extract(&line, &paths, true, &mut slow, &mut scratch);
            let Some(arrival) = got else { continue };
            // An arrival the timestamp parser refuses sends the line to the full parser too
            // (extract.rs), for its message.
            let arrival = match arrival {
                Val::Str(s, e) => kds_common::time::parse_timestamp(&line[s as usize..e as usize]),
                Val::Int(ms) => Some(ms),
                other => panic!("arrival {other:?}"),
            };
            let Some(arrival) = arrival else { continue };
            fast_taken += 1;
            let text = String::from_utf8_lossy(&line).into_owned();
            let want = want.unwrap_or_else(|e| panic!("fast path took a bad envelope {text}: {e}"));
            assert_eq!(
                render(&line, &fast[..names.len()]),
                render(&scratch, &slow),
                "{text}"
            );
            assert_eq!(Some(arrival), want, "{text}");
        }
        assert!(fast_taken > 1000, "fast path taken {fast_taken} times");
    }

    #[test]
    fn envelope_reads_inside_data() {
        let line = br#"{"shard_id":"shardId-000000000000","sequence_number":"1","partition_key":"k","arrival":"2021-03-19T13:15:48.250Z","data":{"tnum":4,"a":{"b":"x"}}}"#;
        let paths = vec![
            Path(vec!["tnum".into()]),
            Path(vec!["a".into(), "b".into()]),
        ];
        let mut vals = vec![Val::Missing; 2];
        let mut scratch = Vec::new();
        let arrival = slow_extract(line, &paths, true, &mut vals, &mut scratch).unwrap();
        assert_eq!(arrival, Some(1_616_159_748_250));
        assert_eq!(render(&scratch, &vals), vec!["4", "\"x\""]);
        // A record put as `{"tnum":5}\n` (utf8), and the same bytes as base64.
        let utf8_data =
            br#"{"arrival":"2021-03-19T13:15:48Z","data":"{\"tnum\":5}\n","encoding":"utf8"}"#;
        slow_extract(utf8_data, &paths, true, &mut vals, &mut scratch).unwrap();
        assert_eq!(vals[0], Val::Int(5));
        let base64_data =
            br#"{"arrival":"2021-03-19T13:15:48Z","data":"eyJ0bnVtIjo2fQo=","encoding":"base64"}"#;
        slow_extract(base64_data, &paths, true, &mut vals, &mut scratch).unwrap();
        assert_eq!(vals[0], Val::Int(6));
        let bare_string = br#"{"arrival":"2021-03-19T13:15:48Z","data":"{\"tnum\":5}"}"#;
        assert!(
            slow_extract(bare_string, &paths, true, &mut vals, &mut scratch)
                .unwrap_err()
                .contains("not a JSON object"),
            "a verbatim JSON string is a string record, not an object"
        );
        let no_arrival = br#"{"data":{"tnum":5}}"#;
        assert!(
            slow_extract(no_arrival, &paths, true, &mut vals, &mut scratch)
                .unwrap_err()
                .contains("arrival")
        );
    }
}
