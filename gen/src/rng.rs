//! kds-gen's random draws: kds-common's PRNG (shared with kds-put) and the one helper only the
//! generator needs.

pub use kds_common::rng::*;

/// A probability as a threshold on a uniform u64 draw: `draw < threshold` happens with
/// probability `p` (to within 2^-64).
#[inline]
pub fn threshold(p: f64) -> u64 {
    // `as` saturates: p = 1 gives u64::MAX.
    (p * 18_446_744_073_709_551_616.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_hit_their_probability() {
        assert_eq!(threshold(0.0), 0);
        assert_eq!(threshold(1.0), u64::MAX);
        let t = threshold(0.25);
        let mut r = Rng::seeded(3);
        let hits = (0..100_000).filter(|_| r.next_u64() < t).count();
        assert!((24_300..=25_700).contains(&hits), "{hits}");
    }
}
