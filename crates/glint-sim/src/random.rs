//! Seeding and the few distributions the simulator draws from.
//!
//! Every random stream is a `Pcg64` derived from `(seed, stream key)` by SplitMix64 mixing,
//! so shopper `i`'s behaviour depends only on the seed and `i` — never on how many other
//! shoppers exist or on the order in which streams are advanced. `rand_distr` is not a
//! dependency, so normal and exponential draws are written out here.

use rand::Rng;
use rand_pcg::Pcg64;

/// Stream key for the catalog (shoppers use their index, which stays below this).
pub(crate) const CATALOG_STREAM: u64 = u64::MAX;

/// SplitMix64's finaliser: a cheap bijective mixer with good avalanche.
pub(crate) const fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// An independent generator for one stream of one seed.
pub(crate) fn stream_rng(seed: u64, stream: u64) -> Pcg64 {
    let a = mix64(seed);
    let b = mix64(a ^ stream);
    let c = mix64(b ^ 0xD6E8_FEB8_6659_FD93);
    let d = mix64(c ^ stream.rotate_left(32));
    Pcg64::new((u128::from(a) << 64) | u128::from(b), (u128::from(c) << 64) | u128::from(d))
}

/// True with probability `p` (p outside [0, 1] behaves as the nearest bound, never panics).
pub(crate) fn chance(rng: &mut Pcg64, p: f64) -> bool {
    rng.random::<f64>() < p
}

/// A uniform draw from `[lo, hi)`; `lo` when the range is empty.
pub(crate) fn uniform_i64(rng: &mut Pcg64, lo: i64, hi: i64) -> i64 {
    if hi <= lo { lo } else { rng.random_range(lo..hi) }
}

/// A standard normal draw (Box–Muller; one of the pair is discarded for simplicity).
pub(crate) fn normal(rng: &mut Pcg64) -> f64 {
    // 1 - u keeps the logarithm's argument in (0, 1].
    let u1 = 1.0 - rng.random::<f64>();
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A log-normal draw `exp(N(mu, sigma))`.
pub(crate) fn log_normal(rng: &mut Pcg64, mu: f64, sigma: f64) -> f64 {
    (mu + sigma * normal(rng)).exp()
}

/// A log-normal draw whose mean (not median) is `mean`, for heterogeneity multipliers.
pub(crate) fn log_normal_mean(rng: &mut Pcg64, mean: f64, sigma: f64) -> f64 {
    log_normal(rng, mean.ln() - sigma * sigma / 2.0, sigma)
}

/// An exponential draw with the given mean.
pub(crate) fn exponential(rng: &mut Pcg64, mean: f64) -> f64 {
    -mean * (1.0 - rng.random::<f64>()).ln()
}

/// An index drawn with probability proportional to `weights` (all-zero weights give 0).
pub(crate) fn pick_weighted(rng: &mut Pcg64, weights: &[u32]) -> usize {
    let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
    if total == 0 {
        return 0;
    }
    let mut x = rng.random_range(0..total);
    for (i, &w) in weights.iter().enumerate() {
        let w = u64::from(w);
        if x < w {
            return i;
        }
        x -= w;
    }
    weights.len() - 1
}

/// An index drawn from a cumulative weight table (`cdf` strictly increasing, last = total).
pub(crate) fn pick_cdf(rng: &mut Pcg64, cdf: &[f64]) -> usize {
    let Some(&total) = cdf.last() else { return 0 };
    let x = rng.random::<f64>() * total;
    cdf.partition_point(|&c| c <= x).min(cdf.len() - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_independent_and_reproducible() {
        let a: u64 = stream_rng(42, 7).random();
        let b: u64 = stream_rng(42, 7).random();
        let c: u64 = stream_rng(42, 8).random();
        let d: u64 = stream_rng(43, 7).random();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
    }

    #[test]
    fn distributions_have_their_means() {
        let mut rng = stream_rng(1, 1);
        let n = 200_000;
        let ln: f64 = (0..n).map(|_| log_normal_mean(&mut rng, 2.0, 0.7)).sum::<f64>() / f64::from(n);
        let ex: f64 = (0..n).map(|_| exponential(&mut rng, 3.0)).sum::<f64>() / f64::from(n);
        assert!((ln - 2.0).abs() < 0.05, "{ln}");
        assert!((ex - 3.0).abs() < 0.05, "{ex}");
        let mut counts = [0_u32; 3];
        for _ in 0..30_000 {
            counts[pick_cdf(&mut rng, &[1.0, 3.0, 6.0])] += 1;
        }
        assert!(counts[0] > 4_000 && counts[0] < 6_000 && counts[2] > 14_000, "{counts:?}");
    }
}
