//! What one extracted record must be before it is aggregated: a time inside the years
//! 0000–9999, and numbers where a numeric aggregate reads. An `Err` is the bad line's message.

use crate::extract::TimestampCache;
use crate::query::{Aggregate, Path, TimeBasis};
use crate::scan::Val;

use super::{MAX_TIME_MS, MIN_TIME_MS};

/// The record's time: the clock's `now` (rowtime), its envelope's arrival, or its event-time
/// field (`vals[slot]`, strings in `text`).
#[inline(always)]
pub(super) fn record_time(
    time: &TimeBasis,
    cache: &mut TimestampCache,
    (vals, text): (&[Val], &[u8]),
    slot: usize,
    now: i64,
    arrival: Option<i64>,
) -> Result<i64, String> {
    let ts = match time {
        TimeBasis::Rowtime => return Ok(now),
        TimeBasis::Arrival => arrival.unwrap_or(now),
        TimeBasis::Event(path) => event_time(path, cache, vals[slot], text)?,
    };
    if !(MIN_TIME_MS..=MAX_TIME_MS).contains(&ts) {
        return Err(match time {
            TimeBasis::Event(path) => {
                format!("bad timestamp in {path}: {ts} is outside the years 0000-9999")
            }
            _ => format!("bad timestamp in arrival: {ts} is outside the years 0000-9999"),
        });
    }
    Ok(ts)
}

/// The event time in field `path`: an RFC 3339 string or epoch milliseconds.
#[inline(always)]
fn event_time(
    path: &Path,
    cache: &mut TimestampCache,
    val: Val,
    text: &[u8],
) -> Result<i64, String> {
    match val {
        Val::Str(s, e) => {
            let written = &text[s as usize..e as usize];
            cache.parse(written).ok_or_else(|| {
                format!(
                    "bad timestamp in {path}: {:?}",
                    String::from_utf8_lossy(written)
                )
            })
        }
        Val::Int(ms) => Ok(ms),
        Val::Missing | Val::Null => Err(format!("missing field {path}")),
        other => {
            let mut shown = Vec::new();
            other.write_json(text, &mut shown);
            Err(format!(
                "bad timestamp in {path}: {}",
                String::from_utf8_lossy(&shown)
            ))
        }
    }
}

/// Each numeric aggregate (`(aggregate, slot)` in `numeric_aggs`) reads a number, or nothing.
#[inline(always)]
pub(super) fn check_numeric(
    numeric_aggs: &[(usize, usize)],
    aggregates: &[Aggregate],
    vals: &[Val],
    text: &[u8],
) -> Result<(), String> {
    for &(agg, slot) in numeric_aggs {
        let v = vals[slot];
        if !matches!(v, Val::Int(_) | Val::Float(_) | Val::Missing | Val::Null) {
            let mut shown = Vec::new();
            v.write_json(text, &mut shown);
            let a = &aggregates[agg];
            return Err(format!(
                "{} of {}: not a number: {}",
                a.func.name(),
                a.path.as_ref().map(Path::to_string).unwrap_or_default(),
                String::from_utf8_lossy(&shown)
            ));
        }
    }
    Ok(())
}

/// The start of the window of `ts`; `cur_ws` caches the last one, as consecutive records mostly
/// share a window and the division is skipped then.
#[inline(always)]
pub(super) fn window_start(cur_ws: &mut i64, ts: i64, size: i64) -> i64 {
    if ts.wrapping_sub(*cur_ws) as u64 >= size as u64 {
        *cur_ws = ts.div_euclid(size) * size;
    }
    *cur_ws
}

/// The record's group: its GROUP BY values as JSON, NUL-separated, into `key`.
#[inline(always)]
pub(super) fn group_key(key: &mut Vec<u8>, group_slots: &[usize], vals: &[Val], text: &[u8]) {
    key.clear();
    for (j, &slot) in group_slots.iter().enumerate() {
        if j > 0 {
            key.push(0);
        }
        vals[slot].write_json(text, key);
    }
}
