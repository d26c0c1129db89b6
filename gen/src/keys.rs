//! Picking customer and product numbers: uniform, or Zipf-skewed with hot keys.
//!
//! Key `k` (0-based) is written as `1000 + k`, so `--users 100` gives `U1000`..`U1099`.
//! With `--skew zipf:S`, key `k` has probability proportional to `1 / (k + 1)^S`: `U1000` is
//! the hottest customer, `U1001` the next, and so on. Sampling uses Vose's alias method: O(1)
//! per draw, one u64 per draw.

use kds_common::rng::scale32;

/// First key number: keys are 4 digits, `1000 + k`.
pub const KEY_BASE: u32 = 1000;
/// Largest number of distinct keys (`1000..=9999`).
pub const MAX_KEYS: u32 = 9000;

#[derive(Debug, Clone)]
pub enum KeyPicker {
    Uniform {
        n: u32,
    },
    /// Alias table: column `i` is kept when the low 32 bits are below `keep[i]` (out of 2^32),
    /// else `alias[i]` is taken.
    Alias {
        keep: Vec<u64>,
        alias: Vec<u32>,
    },
}

impl KeyPicker {
    pub fn uniform(n: u32) -> KeyPicker {
        KeyPicker::Uniform { n }
    }

    /// Zipf over `n` keys with exponent `s` (> 0).
    pub fn zipf(n: u32, s: f64) -> KeyPicker {
        let weights: Vec<f64> = (0..n).map(|k| 1.0 / ((k + 1) as f64).powf(s)).collect();
        KeyPicker::alias(&weights)
    }

    /// Vose's alias table for arbitrary positive weights.
    pub fn alias(weights: &[f64]) -> KeyPicker {
        let n = weights.len();
        let total: f64 = weights.iter().sum();
        let mut scaled: Vec<f64> = weights.iter().map(|w| w * n as f64 / total).collect();
        let mut keep = vec![1u64 << 32; n];
        let mut alias: Vec<u32> = (0..n as u32).collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) =
            (0..n).partition(|&i| scaled[i] < 1.0);
        while let (Some(&l), Some(&g)) = (small.last(), large.last()) {
            small.pop();
            keep[l] = (scaled[l] * 4_294_967_296.0) as u64;
            alias[l] = g as u32;
            scaled[g] = scaled[g] + scaled[l] - 1.0;
            if scaled[g] < 1.0 {
                large.pop();
                small.push(g);
            }
        }
        // Whatever is left (rounding) keeps its own column.
        KeyPicker::Alias { keep, alias }
    }

    /// A key index in `0..n` from one uniform u64.
    #[inline]
    pub fn pick(&self, r: u64) -> u32 {
        match self {
            KeyPicker::Uniform { n } => scale32(r >> 32, *n),
            KeyPicker::Alias { keep, alias } => {
                let i = scale32(r >> 32, keep.len() as u32) as usize;
                if (r & 0xFFFF_FFFF) < keep[i] {
                    i as u32
                } else {
                    alias[i]
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kds_common::rng::Rng;

    fn histogram(p: &KeyPicker, n: usize, draws: usize) -> Vec<usize> {
        let mut r = Rng::seeded(11);
        let mut h = vec![0; n];
        for _ in 0..draws {
            h[p.pick(r.next_u64()) as usize] += 1;
        }
        h
    }

    #[test]
    fn uniform_covers_all_keys_evenly() {
        let h = histogram(&KeyPicker::uniform(10), 10, 100_000);
        assert!(h.iter().all(|&c| (9_400..=10_600).contains(&c)), "{h:?}");
    }

    #[test]
    fn zipf_matches_its_distribution() {
        let n = 100;
        let s = 1.1;
        let draws = 400_000;
        let h = histogram(&KeyPicker::zipf(n, s), n as usize, draws);
        let total: f64 = (1..=n).map(|k| 1.0 / (k as f64).powf(s)).sum();
        for (k, &count) in h.iter().enumerate().take(10) {
            let p = 1.0 / ((k + 1) as f64).powf(s) / total;
            let expected = p * draws as f64;
            let sigma = (draws as f64 * p * (1.0 - p)).sqrt();
            assert!(
                (count as f64 - expected).abs() < 6.0 * sigma,
                "key {k}: {count} vs {expected}"
            );
        }
        // Hot keys: the first is the most frequent and far above the uniform share.
        assert!(h[0] > h[1] && h[1] > h[5] && h[5] > h[50]);
        assert!(h[0] > 10 * draws / n as usize);
    }

    #[test]
    fn alias_with_one_key_always_picks_it() {
        let p = KeyPicker::zipf(1, 2.0);
        let mut r = Rng::seeded(1);
        assert!((0..1000).all(|_| p.pick(r.next_u64()) == 0));
    }
}
