//! Unique resource names, so tests running in parallel (and other people's tests on the same
//! shared stack) never collide.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// `<prefix>-<pid>-<counter>-<random>`: lowercase ASCII letters, digits and `-`, at most 63
/// characters, starting and ending with a letter or digit — valid as a Kinesis stream name and
/// as an S3 bucket name. Characters of `prefix` outside `[a-z0-9-]` become `-`; a long prefix is
/// shortened.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(nanos);
    h.write_u64(n);
    h.write_u32(std::process::id());
    let suffix = format!(
        "{}-{}-{}",
        std::process::id(),
        n,
        base36(h.finish() & 0xff_ffff_ffff)
    );

    let mut p: String = prefix
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '-'
            }
        })
        .collect();
    let max_prefix = 63 - suffix.len() - 1;
    p.truncate(max_prefix);
    let p = p.trim_matches('-');
    if p.is_empty() {
        format!("t-{suffix}")
    } else {
        format!("{p}-{suffix}")
    }
}

fn base36(mut v: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(v % 36) as usize]);
        v /= 36;
        if v == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(name: &str) -> bool {
        (3..=63).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && name.as_bytes()[0].is_ascii_alphanumeric()
            && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric()
    }

    #[test]
    fn names_are_unique_and_valid() {
        let mut seen = std::collections::HashSet::new();
        for prefix in [
            "kds-put",
            "Weird_Prefix.With Spaces",
            "",
            "-",
            &"x".repeat(100),
        ] {
            for _ in 0..50 {
                let n = unique_name(prefix);
                assert!(valid(&n), "{n}");
                assert!(seen.insert(n.clone()), "duplicate {n}");
            }
        }
        assert!(unique_name("kds-put").starts_with("kds-put-"));
    }
}
