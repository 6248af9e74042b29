//! Histogram bins for the trees: each feature's training values cut into at most `max_bin`
//! value bins at (roughly) equal-count boundaries, plus one bin for missing values.
//!
//! Bin `b` of a feature holds the finite values `x` with `upper[b−1] < x ≤ upper[b]`; the last
//! value bin is open above; the bin after it holds non-finite values (NaN, ±∞). A split "bin ≤ t"
//! is therefore exactly the test `x ≤ upper[t]` on raw values, which is how trees predict:
//! scoring never bins.

use super::Matrix;
use super::rng::Rng;

/// The most rows looked at to place the boundaries (LightGBM's `bin_construct_sample_cnt`): a
/// quantile estimate from 200k values is as good as from all of them, and sorting a million
/// values per feature would dominate a fit.
const BIN_SAMPLE_ROWS_MAX: usize = 200_000;

/// One feature's boundaries.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct BinMapper {
    /// Upper bounds of value bins `0..upper.len()`, strictly increasing and finite.
    pub(crate) upper: Vec<f64>,
}

impl BinMapper {
    /// Boundaries for finite `values`, sorted ascending in place.
    fn fit(values: &mut [f64], max_bin: usize) -> BinMapper {
        debug_assert!(values.iter().all(|v| v.is_finite()));
        debug_assert!((2..=255).contains(&max_bin));
        values.sort_unstable_by(f64::total_cmp);
        let mut distinct: Vec<(f64, usize)> = Vec::new();
        for &v in values.iter() {
            match distinct.last_mut() {
                Some((last, n)) if *last == v => *n += 1,
                _ => distinct.push((v, 1)),
            }
        }
        let mut upper = Vec::new();
        if distinct.len() <= max_bin {
            for w in distinct.windows(2) {
                upper.push(midpoint(w[0].0, w[1].0));
            }
        } else {
            // Greedy equal-count cuts (LightGBM's GreedyFindBin, simplified): close a bin when it
            // holds its share of what is left, and also just before a value that alone fills a
            // share, so heavy values (zeros in count features) get a bin of their own.
            let mut rest_count = values.len();
            let mut rest_bins = max_bin;
            let mut acc = 0usize;
            for i in 0..distinct.len() - 1 {
                if rest_bins <= 1 {
                    break;
                }
                acc += distinct[i].1;
                let share = rest_count as f64 / rest_bins as f64;
                if acc as f64 >= share || distinct[i + 1].1 as f64 >= share {
                    upper.push(midpoint(distinct[i].0, distinct[i + 1].0));
                    rest_count -= acc;
                    rest_bins -= 1;
                    acc = 0;
                }
            }
        }
        debug_assert!(upper.len() < max_bin);
        debug_assert!(upper.windows(2).all(|w| w[0] < w[1]));
        BinMapper { upper }
    }

    /// Value bins plus the missing bin.
    pub(crate) fn n_bins(&self) -> usize {
        self.upper.len() + 2
    }

    /// The missing-value bin.
    pub(crate) fn missing_bin(&self) -> usize {
        self.upper.len() + 1
    }

    pub(crate) fn bin(&self, x: f64) -> u8 {
        let b = if x.is_finite() { self.upper.partition_point(|&t| t < x) } else { self.missing_bin() };
        // At most 254 upper bounds, so bins are 0..=255.
        b as u8
    }

    /// The raw threshold of the split "value bin ≤ t". The last value bin has no upper bound:
    /// every finite value is ≤ `f64::MAX`.
    pub(crate) fn threshold(&self, t: usize) -> f64 {
        self.upper.get(t).copied().unwrap_or(f64::MAX)
    }
}

/// A threshold `m` with `a ≤ m < b` (for finite `a < b`), as close to the middle as rounding
/// allows; halves first so huge values do not overflow.
fn midpoint(a: f64, b: f64) -> f64 {
    let m = a / 2.0 + b / 2.0;
    if a <= m && m < b { m } else { a }
}

/// The training matrix as bins, row-major (one byte per cell), with each feature's slice of a
/// histogram.
pub(crate) struct Binned {
    pub(crate) n_cols: usize,
    pub(crate) bins: Vec<u8>,
    pub(crate) mappers: Vec<BinMapper>,
    /// Start of each feature's bins in a histogram; the last entry is the histogram's length.
    pub(crate) offsets: Vec<usize>,
}

impl Binned {
    pub(crate) fn new(x: &Matrix, max_bin: usize, rng: &mut Rng) -> Binned {
        let n_rows = x.n_rows();
        let n_cols = x.n_cols();
        let sample: Option<Vec<usize>> =
            (n_rows > BIN_SAMPLE_ROWS_MAX).then(|| rng.sample(n_rows, BIN_SAMPLE_ROWS_MAX));
        let mut mappers = Vec::with_capacity(n_cols);
        let mut column = Vec::with_capacity(n_rows.min(BIN_SAMPLE_ROWS_MAX));
        for j in 0..n_cols {
            column.clear();
            match &sample {
                Some(rows) => column.extend(rows.iter().map(|&i| x.row(i)[j]).filter(|v| v.is_finite())),
                None => column.extend((0..n_rows).map(|i| x.row(i)[j]).filter(|v| v.is_finite())),
            }
            mappers.push(BinMapper::fit(&mut column, max_bin));
        }
        let mut offsets = Vec::with_capacity(n_cols + 1);
        let mut at = 0;
        for m in &mappers {
            offsets.push(at);
            at += m.n_bins();
        }
        offsets.push(at);
        let mut bins = Vec::with_capacity(n_rows * n_cols);
        for i in 0..n_rows {
            bins.extend(x.row(i).iter().zip(&mappers).map(|(&v, m)| m.bin(v)));
        }
        Binned { n_cols, bins, mappers, offsets }
    }

    pub(crate) fn row(&self, i: usize) -> &[u8] {
        &self.bins[i * self.n_cols..(i + 1) * self.n_cols]
    }

    pub(crate) fn hist_len(&self) -> usize {
        self.offsets[self.n_cols]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_distinct_values_get_one_bin_each() {
        let mut v = vec![3.0, 1.0, 2.0, 1.0, 3.0, 3.0];
        let m = BinMapper::fit(&mut v, 255);
        assert_eq!(m.upper, vec![1.5, 2.5]);
        assert_eq!([m.bin(1.0), m.bin(2.0), m.bin(3.0), m.bin(99.0), m.bin(-5.0)], [0, 1, 2, 2, 0]);
        assert_eq!(m.bin(f64::NAN), 3);
        assert_eq!(m.bin(f64::INFINITY), 3);
        assert_eq!(m.n_bins(), 4);
    }

    #[test]
    fn many_values_are_cut_into_at_most_max_bin_bins_of_similar_size() {
        let mut v: Vec<f64> = (0..10_000).map(|i| f64::from(i % 1000)).collect();
        let m = BinMapper::fit(&mut v, 16);
        assert!(m.upper.len() <= 15, "{}", m.upper.len());
        let mut counts = [0usize; 16];
        for i in 0..10_000 {
            counts[m.bin(f64::from(i % 1000)) as usize] += 1;
        }
        assert!(counts.iter().all(|&c| c > 400 && c < 900), "{counts:?}");
    }

    #[test]
    fn a_heavy_value_gets_its_own_bin() {
        let mut v: Vec<f64> = (0..1000).map(|i| if i < 600 { 0.0 } else { f64::from(i) }).collect();
        let m = BinMapper::fit(&mut v, 8);
        assert_eq!(m.bin(0.0), 0);
        assert_eq!(m.bin(600.0), 1);
    }

    #[test]
    fn split_on_bins_agrees_with_threshold_on_values() {
        let v: Vec<f64> = (0..5000).map(|i| (f64::from(i) * 0.37).sin() * 100.0).collect();
        let m = BinMapper::fit(&mut v.clone(), 32);
        for t in 0..m.upper.len() + 1 {
            let thr = m.threshold(t);
            for &x in &v {
                assert_eq!(usize::from(m.bin(x)) <= t, x <= thr);
            }
        }
    }

    #[test]
    fn adjacent_floats_still_split() {
        let a = 1.0f64;
        let b = f64::from_bits(a.to_bits() + 1);
        let m = BinMapper::fit(&mut [a, b], 255);
        assert_eq!((m.bin(a), m.bin(b)), (0, 1));
        let big = BinMapper::fit(&mut [-f64::MAX, f64::MAX], 255);
        assert_eq!((big.bin(-f64::MAX), big.bin(f64::MAX)), (0, 1));
    }
}
