//! The one seeded random stream the learners draw from (row bags, feature subsets, the binning
//! sample).
//!
//! Only `next_u64` of PCG-64 (MCG variant) is used and the ways of turning it into indices are
//! written here, so a model file stays byte-identical for a seed across `rand` upgrades (whose
//! distribution helpers are not promised to be value-stable).

use rand::{RngCore, SeedableRng};

/// A seeded generator.
pub(crate) struct Rng(rand_pcg::Pcg64Mcg);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(rand_pcg::Pcg64Mcg::seed_from_u64(seed))
    }

    /// Uniform-enough in `0..n` (multiply-shift; the bias is below 2⁻³² for any `n` we use).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.0.next_u64()) * n as u128) >> 64) as usize
    }

    /// A uniform `f64` in `[0, 1)` (synthetic test data).
    #[cfg(test)]
    pub(crate) fn unit(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// `k` distinct indices from `0..n`, ascending (partial Fisher–Yates).
    pub(crate) fn sample(&mut self, n: usize, k: usize) -> Vec<usize> {
        let k = k.min(n);
        let mut all: Vec<usize> = (0..n).collect();
        for i in 0..k {
            let j = i + self.below(n - i);
            all.swap(i, j);
        }
        all.truncate(k);
        all.sort_unstable();
        all
    }
}
