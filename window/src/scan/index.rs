//! The block index: one SIMD pass over a block of lines (simdjson's stage 1, reduced to what the
//! fast path needs) marks line ends, quotes and refused bytes in bitmaps.

/// One pass over a whole block of lines that finds every line end, every quote and every byte
/// the fast path refuses (backslash, control byte, non-ASCII), one bit per byte. Lines are then
/// cut and scanned from the bitmaps: no second pass per line to find its end or its strings.
#[derive(Debug, Default)]
pub struct BlockIndex {
    newlines: Vec<u64>,
    quotes: Vec<u64>,
    /// Bytes the fast path cannot take; `\n` is included but never lies inside a line.
    unsafe_bytes: Vec<u64>,
    len: usize,
}

impl BlockIndex {
    /// Classifies `block` (reusing the bitmaps' memory).
    pub fn build(&mut self, block: &[u8]) {
        let words = block.len().div_ceil(64);
        self.len = block.len();
        // Every word is overwritten below: only a longer block needs new (zeroed) words.
        for v in [&mut self.newlines, &mut self.quotes, &mut self.unsafe_bytes] {
            v.resize(words, 0);
        }
        let full = block.len() / 64;
        let mut done = 0;
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") {
                // SAFETY: AVX2 is available, checked just above.
                unsafe { self.classify_avx2(&block[..full * 64]) };
                done = full;
            }
        }
        for w in done..full {
            self.classify_word(w, &block[w * 64..w * 64 + 64]);
        }
        let rest = &block[full * 64..];
        if !rest.is_empty() {
            // Padding with spaces: neither a quote, nor a line end, nor refused.
            let mut last = [b' '; 64];
            last[..rest.len()].copy_from_slice(rest);
            self.classify_word(full, &last);
        }
    }

    /// Portable classification of the 64 bytes of word `w`.
    #[inline]
    fn classify_word(&mut self, w: usize, c: &[u8]) {
        let (mut nl, mut q, mut bad) = (0u64, 0u64, 0u64);
        for (i, &x) in c.iter().enumerate().take(64) {
            nl |= ((x == b'\n') as u64) << i;
            q |= ((x == b'"') as u64) << i;
            bad |= ((x == b'\\' || !(0x20..0x80).contains(&x)) as u64) << i;
        }
        self.newlines[w] = nl;
        self.quotes[w] = q;
        self.unsafe_bytes[w] = bad;
    }

    /// Classifies `block` (a whole number of 64-byte words) with AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn classify_avx2(&mut self, block: &[u8]) {
        use std::arch::x86_64::{
            __m256i, _mm256_cmpeq_epi8, _mm256_cmpgt_epi8, _mm256_loadu_si256,
            _mm256_movemask_epi8, _mm256_or_si256, _mm256_set1_epi8,
        };
        let quote = _mm256_set1_epi8(b'"' as i8);
        let newline = _mm256_set1_epi8(b'\n' as i8);
        let backslash = _mm256_set1_epi8(b'\\' as i8);
        let space = _mm256_set1_epi8(0x20);
        let out = self
            .newlines
            .iter_mut()
            .zip(self.quotes.iter_mut())
            .zip(self.unsafe_bytes.iter_mut());
        for (c, ((nl, q), bad)) in block.chunks_exact(64).zip(out) {
            // SAFETY: `c` is 64 bytes long: two unaligned 32-byte loads stay inside it.
            let lo = unsafe { _mm256_loadu_si256(c.as_ptr() as *const __m256i) };
            let hi = unsafe { _mm256_loadu_si256(c.as_ptr().add(32) as *const __m256i) };
            let nl_lo = _mm256_movemask_epi8(_mm256_cmpeq_epi8(lo, newline)) as u32 as u64;
            let nl_hi = _mm256_movemask_epi8(_mm256_cmpeq_epi8(hi, newline)) as u32 as u64;
            let q_lo = _mm256_movemask_epi8(_mm256_cmpeq_epi8(lo, quote)) as u32 as u64;
            let q_hi = _mm256_movemask_epi8(_mm256_cmpeq_epi8(hi, quote)) as u32 as u64;
            // Signed compare: bytes >= 0x80 are negative, so `space > byte` flags them too.
            let bad_lo = _mm256_movemask_epi8(_mm256_or_si256(
                _mm256_cmpeq_epi8(lo, backslash),
                _mm256_cmpgt_epi8(space, lo),
            )) as u32 as u64;
            let bad_hi = _mm256_movemask_epi8(_mm256_or_si256(
                _mm256_cmpeq_epi8(hi, backslash),
                _mm256_cmpgt_epi8(space, hi),
            )) as u32 as u64;
            *nl = nl_lo | nl_hi << 32;
            *q = q_lo | q_hi << 32;
            *bad = bad_lo | bad_hi << 32;
        }
    }

    /// The first line end at or after `from`.
    #[inline]
    pub fn next_newline(&self, from: usize) -> Option<usize> {
        next_bit(&self.newlines, from).filter(|&p| p < self.len)
    }

    /// The first quote in `from..end`.
    #[inline]
    pub(super) fn next_quote(&self, from: usize, end: usize) -> Option<usize> {
        next_bit(&self.quotes, from).filter(|&p| p < end)
    }

    /// True when `start..end` holds a byte the fast path refuses.
    #[inline]
    pub(super) fn any_unsafe(&self, start: usize, end: usize) -> bool {
        if start >= end {
            return false;
        }
        let (first, last) = (start >> 6, (end - 1) >> 6);
        let lo = u64::MAX << (start & 63);
        let hi = u64::MAX >> (63 - ((end - 1) & 63));
        if first == last {
            return self
                .unsafe_bytes
                .get(first)
                .is_some_and(|w| w & lo & hi != 0);
        }
        let words = match self.unsafe_bytes.get(first..=last) {
            Some(w) => w,
            None => return true,
        };
        words[0] & lo != 0
            || words[words.len() - 1] & hi != 0
            || words[1..words.len() - 1].iter().any(|&w| w != 0)
    }
}

/// The first set bit at or after `from` in a bitmap.
#[inline]
pub(super) fn next_bit(bits: &[u64], from: usize) -> Option<usize> {
    let mut w = from >> 6;
    let mut m = *bits.get(w)? & (u64::MAX << (from & 63));
    loop {
        if m != 0 {
            return Some(w * 64 + m.trailing_zeros() as usize);
        }
        w += 1;
        m = *bits.get(w)?;
    }
}
