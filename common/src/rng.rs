//! A small, fast, seedable PRNG: xoshiro256** seeded through splitmix64.
//!
//! Output depends only on the seed (and the order of draws), so a run is reproducible.
//! Not cryptographic: kds-gen draws its test data from it (reproducible per seed), kds-put its
//! backoff jitter and random partition keys.

/// splitmix64: expands one 64-bit seed into well-mixed state words.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)` (testkit's fault proxy draws its fault probabilities with it).
    #[inline]
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// xoshiro256** (Blackman and Vigna).
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    pub fn seeded(seed: u64) -> Rng {
        let mut sm = SplitMix64(seed);
        Rng {
            s: [sm.next_u64(), sm.next_u64(), sm.next_u64(), sm.next_u64()],
        }
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Seeded from the process's hash keys, the time and the pid: differs between calls.
    pub fn from_entropy() -> Rng {
        Rng::seeded(random_seed())
    }

    /// Uniform in `[0, 1)`.
    #[inline]
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (Lemire's multiply-shift on the high 32 bits; bias below 2^-32 · n).
    #[inline]
    pub fn below(&mut self, n: u32) -> u32 {
        scale32(self.next_u64() >> 32, n)
    }
}

/// Maps a 32-bit uniform value `x` onto `0..n`.
#[inline]
pub fn scale32(x: u64, n: u32) -> u32 {
    (((x & 0xFFFF_FFFF) * n as u64) >> 32) as u32
}

/// A random seed for runs without `--seed`: the process's hash keys, the time and the pid.
pub fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_i64(crate::time::now_ms());
    h.write_u32(std::process::id());
    let mut sm = SplitMix64(h.finish());
    sm.next_u64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_unit_draws_are_deterministic_and_uniformish() {
        let mut a = SplitMix64(7);
        let mut b = SplitMix64(7);
        let xs: Vec<f64> = (0..1000).map(|_| a.next_f64()).collect();
        let ys: Vec<f64> = (0..1000).map(|_| b.next_f64()).collect();
        assert_eq!(xs, ys);
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
        let below_half = xs.iter().filter(|x| **x < 0.5).count();
        assert!((400..600).contains(&below_half), "{below_half}");
    }

    #[test]
    fn same_seed_same_sequence_different_seed_differs() {
        let mut a = Rng::seeded(7);
        let mut b = Rng::seeded(7);
        let mut c = Rng::seeded(8);
        let va: Vec<u64> = (0..100).map(|_| a.next_u64()).collect();
        let vb: Vec<u64> = (0..100).map(|_| b.next_u64()).collect();
        let vc: Vec<u64> = (0..100).map(|_| c.next_u64()).collect();
        assert_eq!(va, vb);
        assert_ne!(va, vc);
    }

    #[test]
    fn unit_interval_and_entropy_seeds_differ() {
        let mut r = Rng::seeded(7);
        for _ in 0..10_000 {
            assert!((0.0..1.0).contains(&r.next_f64()));
        }
        assert_ne!(
            Rng::from_entropy().next_u64(),
            Rng::from_entropy().next_u64()
        );
    }

    #[test]
    fn splitmix_reference_values() {
        // Reference output of splitmix64 seeded with 0 (from the published C code).
        let mut sm = SplitMix64(0);
        assert_eq!(sm.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(sm.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn below_is_in_range_and_covers_it() {
        let mut r = Rng::seeded(1);
        let mut seen = [0u32; 52];
        for _ in 0..52_000 {
            let v = r.below(52);
            seen[v as usize] += 1;
        }
        // Each bucket expects 1000; 6 sigma is about 190.
        assert!(seen.iter().all(|&n| (810..=1190).contains(&n)), "{seen:?}");
    }
}
