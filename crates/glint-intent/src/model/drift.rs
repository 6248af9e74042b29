//! Drift: has the population being scored moved away from the one the model learned from?
//!
//! At training, [`DriftReference::fit`] records for every feature, and for the score, the cut
//! points of its deciles over the training rows and the share of rows in each bin; it travels
//! in the model file. Later, a [`DriftMonitor`] counts the rows being scored into the same bins
//! and reports each column's **population stability index**
//!
//! ```text
//! PSI = Σ over bins (observed share − training share) × ln(observed share / training share)
//! ```
//!
//! with every share floored at [`SHARE_FLOOR`] so an empty bin costs a finite amount. The
//! conventional reading (Siddiqi, *Credit Risk Scorecards*): below 0.1 no shift, 0.1–0.25 a
//! moderate one, above 0.25 a major one; [`PSI_WARN`] = 0.2 flags a column.
//!
//! Bins are right-closed: a value goes to the first bin whose upper cut is ≥ it, past the last
//! cut to the final bin. Equal cuts are merged, so a column that is mostly 0 gets a bin for
//! exactly 0 and a few above it rather than ten empty ones. The score's reference is the
//! validation rows' predictions (held out from the fit), not the fitted rows', whose scores
//! are over-confident for trees.

use super::Matrix;

/// Bins per column at most (deciles).
pub const DRIFT_BINS: usize = 10;

/// Smallest share a bin counts for in the PSI sum.
pub const SHARE_FLOOR: f64 = 1e-4;

/// PSI at or above which a column is flagged.
pub const PSI_WARN: f64 = 0.2;

/// The name of the score's column in a drift report.
pub const SCORE_COLUMN: &str = "score";

/// One column's training distribution.
#[derive(Clone, Debug, PartialEq)]
pub struct ColumnReference {
    /// The column (a feature name, or [`SCORE_COLUMN`]).
    pub name: String,
    /// Upper cuts of every bin but the last, strictly increasing.
    pub cuts: Vec<f64>,
    /// Share of training rows per bin (`cuts.len() + 1` of them, summing to 1).
    pub shares: Vec<f64>,
}

impl ColumnReference {
    /// Cuts at the deciles of `values` and the shares they make.
    fn fit(name: &str, values: &mut [f64]) -> ColumnReference {
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let mut cuts: Vec<f64> = Vec::new();
        if n > 0 {
            for q in 1..DRIFT_BINS {
                let v = values[(q * n / DRIFT_BINS).min(n - 1)];
                // The maximum as a cut would leave the last bin empty by construction.
                if cuts.last().is_none_or(|&c| v > c) && v < values[n - 1] {
                    cuts.push(v);
                }
            }
        }
        let mut counts = vec![0u64; cuts.len() + 1];
        for v in values.iter() {
            counts[bin(&cuts, *v)] += 1;
        }
        let shares = counts.iter().map(|&c| if n == 0 { 0.0 } else { c as f64 / n as f64 }).collect();
        ColumnReference { name: name.to_string(), cuts, shares }
    }
}

/// The bin of `v`: the first whose upper cut is ≥ it (non-finite values go to the last bin).
fn bin(cuts: &[f64], v: f64) -> usize {
    if v.is_nan() { cuts.len() } else { cuts.partition_point(|c| *c < v) }
}

/// The training distribution of every feature and of the score.
#[derive(Clone, Debug, PartialEq)]
pub struct DriftReference {
    /// One per feature, in column order.
    pub features: Vec<ColumnReference>,
    /// The score's (validation predictions).
    pub score: ColumnReference,
}

impl DriftReference {
    /// Deciles of each column of `x` and of `scores`.
    pub fn fit(x: &Matrix, scores: &[f64]) -> DriftReference {
        let n_cols = x.n_cols();
        let mut column = Vec::with_capacity(x.n_rows());
        let features = (0..n_cols)
            .map(|j| {
                column.clear();
                column.extend((0..x.n_rows()).map(|i| x.row(i)[j]));
                ColumnReference::fit(&x.names()[j], &mut column)
            })
            .collect();
        let mut s = scores.to_vec();
        DriftReference { features, score: ColumnReference::fit(SCORE_COLUMN, &mut s) }
    }

    /// Whether the shapes hold together: bins = cuts + 1, cuts increasing, shares finite.
    pub(crate) fn check(&self, n_features: usize) -> Result<(), String> {
        if self.features.len() != n_features {
            return Err(format!("drift has {} feature columns, the model {n_features}", self.features.len()));
        }
        for c in self.features.iter().chain([&self.score]) {
            if c.shares.len() != c.cuts.len() + 1 || c.cuts.windows(2).any(|w| w[0].partial_cmp(&w[1]) != Some(std::cmp::Ordering::Less)) || c.shares.iter().any(|s| !s.is_finite() || *s < 0.0) {
                return Err(format!("drift column {:?} has inconsistent cuts and shares", c.name));
            }
        }
        Ok(())
    }
}

/// The PSI of observed bin counts against reference shares.
pub fn psi(reference: &[f64], counts: &[u64]) -> Option<f64> {
    let n: u64 = counts.iter().sum();
    if n == 0 || reference.len() != counts.len() {
        return None;
    }
    Some(
        reference
            .iter()
            .zip(counts)
            .map(|(&e, &c)| {
                let (a, e) = ((c as f64 / n as f64).max(SHARE_FLOOR), e.max(SHARE_FLOOR));
                (a - e) * (a / e).ln()
            })
            .sum(),
    )
}

/// Counts of scored rows in the reference's bins.
#[derive(Clone, Debug)]
pub struct DriftMonitor {
    reference: DriftReference,
    features: Vec<Vec<u64>>,
    score: Vec<u64>,
    rows: u64,
}

impl DriftMonitor {
    /// A monitor with nothing observed.
    pub fn new(reference: &DriftReference) -> DriftMonitor {
        DriftMonitor {
            features: reference.features.iter().map(|c| vec![0; c.shares.len()]).collect(),
            score: vec![0; reference.score.shares.len()],
            reference: reference.clone(),
            rows: 0,
        }
    }

    /// Count one scored row (its features, in column order, and its score).
    pub fn observe(&mut self, row: &[f64], score: f64) {
        for ((c, counts), v) in self.reference.features.iter().zip(&mut self.features).zip(row) {
            counts[bin(&c.cuts, *v)] += 1;
        }
        self.score[bin(&self.reference.score.cuts, score)] += 1;
        self.rows += 1;
    }

    /// Rows observed.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Every column's PSI so far.
    pub fn report(&self) -> DriftReport {
        let features = self.reference.features.iter().zip(&self.features).map(|(c, counts)| (c.name.clone(), psi(&c.shares, counts))).collect();
        DriftReport { rows: self.rows, score: psi(&self.reference.score.shares, &self.score), features, warn_at: PSI_WARN }
    }
}

/// PSI per column for the rows observed.
#[derive(Clone, Debug, PartialEq)]
pub struct DriftReport {
    /// Rows observed.
    pub rows: u64,
    /// The score's PSI (`None` before any row).
    pub score: Option<f64>,
    /// Each feature's PSI, in column order.
    pub features: Vec<(String, Option<f64>)>,
    /// The warning threshold.
    pub warn_at: f64,
}

impl DriftReport {
    /// The columns (the score first) at or above the threshold, largest PSI first.
    pub fn warnings(&self) -> Vec<(&str, f64)> {
        let mut out: Vec<(&str, f64)> = [(SCORE_COLUMN, self.score)]
            .into_iter()
            .chain(self.features.iter().map(|(n, p)| (n.as_str(), *p)))
            .filter_map(|(n, p)| Some((n, p?)))
            .filter(|(_, p)| *p >= self.warn_at)
            .collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psi_matches_a_hand_computation() {
        // Reference 50/50, observed 80/20: (0.8-0.5)ln(0.8/0.5) + (0.2-0.5)ln(0.2/0.5)
        let expected = 0.3 * (1.6f64).ln() + (-0.3) * (0.4f64).ln();
        let got = psi(&[0.5, 0.5], &[80, 20]).expect("rows");
        assert!((got - expected).abs() < 1e-12, "{got} vs {expected}");
        assert!((expected - 0.4159).abs() < 1e-4);
        assert_eq!(psi(&[0.5, 0.5], &[0, 0]), None);
        assert_eq!(psi(&[0.5, 0.5], &[50, 50]), Some(0.0));
    }

    #[test]
    fn deciles_merge_ties_and_keep_the_maximum_in_the_last_bin() {
        let mut v: Vec<f64> = (0..100).map(|i| if i < 70 { 0.0 } else { f64::from(i) }).collect();
        let c = ColumnReference::fit("x", &mut v);
        assert_eq!(c.cuts[0], 0.0, "a bin for exactly zero");
        assert!(c.cuts.windows(2).all(|w| w[0] < w[1]));
        assert!((c.shares[0] - 0.7).abs() < 1e-12);
        assert!((c.shares.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(c.shares.iter().all(|s| *s > 0.0), "no bin is empty by construction: {:?}", c.shares);
        let mut constant = vec![3.0; 10];
        let c = ColumnReference::fit("k", &mut constant);
        assert!(c.cuts.is_empty());
        assert_eq!(c.shares, vec![1.0]);
    }

    #[test]
    fn the_training_population_shows_no_drift_and_a_shifted_one_does() {
        let mut x = Matrix::new(vec!["a".into(), "b".into()]);
        let mut scores = Vec::new();
        for i in 0..1000u32 {
            x.push_row(&[f64::from(i % 100), f64::from(i % 7)]).expect("row");
            scores.push(f64::from(i % 50) / 50.0);
        }
        let r = DriftReference::fit(&x, &scores);
        r.check(2).expect("consistent");
        let mut same = DriftMonitor::new(&r);
        let mut moved = DriftMonitor::new(&r);
        for i in 0..1000u32 {
            let at = i as usize;
            same.observe(x.row(at), scores[at]);
            moved.observe(&[f64::from(i % 100) + 40.0, f64::from(i % 7)], scores[at]);
        }
        let same = same.report();
        assert!(same.warnings().is_empty(), "{:?}", same.warnings());
        assert!(same.features.iter().all(|(_, p)| p.is_some_and(|p| p < 1e-9)));
        let moved = moved.report();
        let w = moved.warnings();
        assert_eq!(w.len(), 1, "only the shifted column: {w:?}");
        assert_eq!(w[0].0, "a");
        assert!(w[0].1 > PSI_WARN);
    }
}
