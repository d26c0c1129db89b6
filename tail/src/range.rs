//! De-aggregated user records whose hash key lies outside the hash-key range of the shard the
//! aggregate was read from.
//!
//! The KCL drops them (AWS page "Consumer De-aggregation" of the KPL guide): a producer that
//! aggregated across a reshard can put them there. kds-tail counts them, warns once, and keeps
//! them unless `--kcl-drop-outside-shard` asks for the KCL's behaviour.

use kds_common::kpl::{routing_hash, Record};

/// Whether user record `r` belongs to a shard of hash-key range `range` (inclusive).
/// Unknown ranges and unparsable hash keys count as inside: nothing is dropped on a guess.
pub fn outside_shard(r: &Record<'_>, range: Option<(u128, u128)>) -> bool {
    let Some((first, last)) = range else {
        return false;
    };
    match routing_hash(r.partition_key, r.explicit_hash_key) {
        Some(h) => h < first || h > last,
        None => false,
    }
}

/// The exit summary's sentence about `count` such records.
pub fn summary(count: u64, dropped: bool) -> String {
    let what = if dropped {
        "dropped (--kcl-drop-outside-shard)"
    } else {
        "kept; the KCL would drop them"
    };
    format!("{count} de-aggregated records outside their shard's hash-key range, {what}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user<'a>(pk: &'a str, ehk: Option<&'a str>) -> Record<'a> {
        Record {
            partition_key: pk,
            explicit_hash_key: ehk,
            data: b"x",
        }
    }

    #[test]
    fn explicit_hash_keys_and_partition_keys_are_checked_against_the_range() {
        let low_half = Some((0, u128::MAX / 2));
        assert!(!outside_shard(&user("a", Some("5")), low_half));
        assert!(outside_shard(
            &user("a", Some(&u128::MAX.to_string())),
            low_half
        ));
        // MD5("a") = 0cc175b9... is in the low half, MD5("b") = 92eb5ffe... is not.
        assert!(!outside_shard(&user("a", None), low_half));
        assert!(outside_shard(&user("b", None), low_half));
        // No range known, or a hash key that is not a number: kept as inside.
        assert!(!outside_shard(&user("b", None), None));
        assert!(!outside_shard(&user("a", Some("x")), low_half));
    }
}
