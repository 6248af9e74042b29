//! Statistics for measurement: does a moment's nudge lift its KPI, and which signals foretell
//! a target? Pure functions over counts the caller hands in — no I/O, no clock, no randomness.
//!
//! The central types are [`Counts`] (trials and conversions of one arm), [`Interval`] (a point
//! estimate with its bounds) and [`Lift`] (everything `glint lift` reports for one moment,
//! built by [`lift`]). The pieces are public too:
//!
//! - [`wilson`]: the Wilson score interval of one proportion.
//! - [`newcombe_diff`]: the difference of two proportions, Newcombe's method 10 (hybrid score).
//! - [`ratio_log`]: a ratio of two proportions (relative lift, risk ratio), delta method on the
//!   log ratio.
//! - [`two_proportion_p`]: the pooled two-proportion z-test, two-sided.
//! - [`prob_better`]: P(p_t > p_h) under independent Beta(1 + x, 1 + n − x) posteriors, exact.
//! - [`confidence_sequence_diff`]: an anytime-valid confidence sequence for the difference.
//! - [`srm_p`]: the sample-ratio-mismatch χ² goodness-of-fit test.
//! - [`mean_diff`] and [`cuped_diff`]: differences of means (revenue per shopper), plain and
//!   with CUPED variance reduction.
//!
//! Every figure the tests pin was computed once with scipy/statsmodels; the snippets and
//! versions sit beside the expected values in `tests.rs`.
//!
//! ```
//! use glint_stats::{Counts, lift};
//! let treatment = Counts::new(1000, 120).expect("x <= n");
//! let holdout = Counts::new(1000, 90).expect("x <= n");
//! let l = lift(treatment, holdout, 0.5).expect("a valid share");
//! let abs = l.lift_abs.expect("both arms have trials");
//! assert!(abs.low < abs.value && abs.value < abs.high);
//! assert!(l.p_value.expect("defined") < 0.05);
//! ```

#![deny(missing_docs)]

mod sequential;
#[cfg(test)]
mod tests;

pub use sequential::{CS_DESIGN_N, confidence_sequence_diff};

use statrs::function::beta::ln_beta;
use statrs::function::erf::erfc;

/// The standard normal quantile for a two-sided 95 % interval (scipy `norm.ppf(0.975)`).
pub const Z_95: f64 = 1.959_963_984_540_054;

/// The SRM p-value below which a split is flagged: 0.001 is the usual choice, so that with a
/// dozen moments watched daily a false alarm stays rare while a broken split still shows fast.
pub const SRM_P_FLAG: f64 = 0.001;

/// Inputs these functions refuse.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// More conversions than trials.
    #[error("{conversions} conversions out of {n} trials")]
    ConversionsExceedTrials {
        /// Trials.
        n: u64,
        /// Conversions.
        conversions: u64,
    },
    /// A share (of treatment or holdout) outside [0, 1], or not a number.
    #[error("share {share} is not within [0, 1]")]
    ShareOutOfRange {
        /// The share given.
        share: f64,
    },
}

/// Trials and conversions of one arm (or one group of shoppers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Counts {
    /// Trials (shoppers).
    pub n: u64,
    /// Conversions among them.
    pub conversions: u64,
}

impl Counts {
    /// # Errors
    /// [`Error::ConversionsExceedTrials`] when `conversions > n`.
    pub fn new(n: u64, conversions: u64) -> Result<Counts, Error> {
        if conversions > n {
            return Err(Error::ConversionsExceedTrials { n, conversions });
        }
        Ok(Counts { n, conversions })
    }

    /// The conversion rate, `None` without trials.
    pub fn rate(self) -> Option<f64> {
        (self.n > 0).then(|| self.conversions as f64 / self.n as f64)
    }
}

/// A point estimate with a two-sided interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interval {
    /// The estimate.
    pub value: f64,
    /// Lower bound.
    pub low: f64,
    /// Upper bound.
    pub high: f64,
}

/// Two-sided p-value of a standard normal statistic.
fn normal_two_sided_p(z: f64) -> f64 {
    erfc(z.abs() / std::f64::consts::SQRT_2).clamp(0.0, 1.0)
}

/// The Wilson score interval of one proportion (statsmodels `proportion_confint(...,
/// method="wilson")`); `None` without trials.
pub fn wilson(c: Counts, z: f64) -> Option<(f64, f64)> {
    let p = c.rate()?;
    let n = c.n as f64;
    let z2 = z * z;
    let center = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = z / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    // Rounding can push a bound a hair past the estimate at p = 0 or 1; the interval must
    // hold the estimate.
    Some(((center - half).clamp(0.0, p), (center + half).clamp(p, 1.0)))
}

/// The difference `rate(t) − rate(h)` with Newcombe's (1998) method 10: the hybrid score
/// interval built from each arm's Wilson interval (statsmodels
/// `confint_proportions_2indep(..., method="newcomb")`). Good coverage even at rates near 0
/// and small n, where the Wald interval fails. `None` when an arm has no trials.
pub fn newcombe_diff(t: Counts, h: Counts, z: f64) -> Option<Interval> {
    let (p1, p2) = (t.rate()?, h.rate()?);
    let (l1, u1) = wilson(t, z)?;
    let (l2, u2) = wilson(h, z)?;
    let d = p1 - p2;
    let low = d - ((p1 - l1).powi(2) + (u2 - p2).powi(2)).sqrt();
    let high = d + ((u1 - p1).powi(2) + (p2 - l2).powi(2)).sqrt();
    Some(Interval { value: d, low, high })
}

/// The ratio `rate(a) / rate(b)` with a delta-method interval on its logarithm (the "log"
/// or Katz method, statsmodels `confint_proportions_2indep(..., compare="ratio",
/// method="log")`): Var(ln RR) ≈ 1/x_a − 1/n_a + 1/x_b − 1/n_b. Returned as the ratio itself;
/// relative lift is `ratio − 1`. `None` when either arm has no trials or no conversions (the
/// log ratio is then unbounded).
pub fn ratio_log(a: Counts, b: Counts, z: f64) -> Option<Interval> {
    if a.conversions == 0 || b.conversions == 0 {
        return None;
    }
    let rr = a.rate()? / b.rate()?;
    let var = 1.0 / a.conversions as f64 - 1.0 / a.n as f64 + 1.0 / b.conversions as f64 - 1.0 / b.n as f64;
    // var >= 0 since x <= n; max() guards rounding.
    let se = var.max(0.0).sqrt();
    Some(Interval { value: rr, low: rr * (-z * se).exp(), high: rr * (z * se).exp() })
}

/// Two-sided p-value of the pooled two-proportion z-test (statsmodels `proportions_ztest`):
/// z = (p_t − p_h) / sqrt(p(1 − p)(1/n_t + 1/n_h)) with p the pooled rate. When every or no
/// shopper converted in both arms there is no evidence of a difference and the p-value is 1.
/// `None` when an arm has no trials.
pub fn two_proportion_p(t: Counts, h: Counts) -> Option<f64> {
    let (p1, p2) = (t.rate()?, h.rate()?);
    let (n1, n2) = (t.n as f64, h.n as f64);
    let pooled = (t.conversions + h.conversions) as f64 / (n1 + n2);
    let se = (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)).sqrt();
    if se <= 0.0 {
        return Some(1.0);
    }
    Some(normal_two_sided_p((p1 - p2) / se))
}

/// P(p_t > p_h) when p_t ~ Beta(1 + x_t, 1 + n_t − x_t) and p_h ~ Beta(1 + x_h, 1 + n_h − x_h)
/// independently (uniform priors), computed exactly by the closed-form sum (Evan Miller, "Formulas
/// for Bayesian A/B testing", 2014):
///
/// P = Σ_{i=0}^{α_t−1} B(α_h + i, β_h + β_t) / ((β_t + i) B(1 + i, β_t) B(α_h, β_h)),
///
/// one term per treatment conversion, each in log space. With no trials an arm's posterior is
/// uniform, so the result is still defined (½ when both are empty).
pub fn prob_better(t: Counts, h: Counts) -> f64 {
    // α_t − 1 = x_t bounds the sum, so only β_t is needed for treatment.
    let b_t = 1.0 + t.n.saturating_sub(t.conversions) as f64;
    let (a_h, b_h) = (1.0 + h.conversions as f64, 1.0 + h.n.saturating_sub(h.conversions) as f64);
    let base = ln_beta(a_h, b_h);
    let mut total = 0.0;
    for i in 0..=t.conversions {
        let i = i as f64;
        total += (ln_beta(a_h + i, b_h + b_t) - (b_t + i).ln() - ln_beta(1.0 + i, b_t) - base).exp();
    }
    total.clamp(0.0, 1.0)
}

/// Sample-ratio mismatch: the χ² goodness-of-fit p-value (1 degree of freedom, scipy
/// `chisquare`) of the observed treatment and holdout counts against the holdout share the
/// moment was configured with. A p-value below [`SRM_P_FLAG`] means the split is broken
/// (or the data lost one arm's firings) and no lift figure should be trusted. `None` when
/// there are no firings or the share is 0 or 1 (nothing to compare).
///
/// # Errors
/// [`Error::ShareOutOfRange`] when `holdout_share` is not within [0, 1].
pub fn srm_p(n_treatment: u64, n_holdout: u64, holdout_share: f64) -> Result<Option<f64>, Error> {
    if !(0.0..=1.0).contains(&holdout_share) {
        return Err(Error::ShareOutOfRange { share: holdout_share });
    }
    let total = (n_treatment + n_holdout) as f64;
    if total == 0.0 || holdout_share == 0.0 || holdout_share == 1.0 {
        return Ok(None);
    }
    let e_h = total * holdout_share;
    let e_t = total - e_h;
    let stat = (n_treatment as f64 - e_t).powi(2) / e_t + (n_holdout as f64 - e_h).powi(2) / e_h;
    // The χ²(1) survival function: P(χ²₁ > s) = erfc(sqrt(s / 2)).
    Ok(Some(erfc((stat / 2.0).sqrt()).clamp(0.0, 1.0)))
}

/// Count, mean and sample variance of one arm's values (e.g. revenue per shopper).
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct Summary {
    /// Values.
    pub n: u64,
    /// Their mean.
    pub mean: f64,
    /// Their sample variance (n − 1 in the denominator; 0 for fewer than two).
    pub var: f64,
}

impl Summary {
    /// Summarise values (Welford's update, stable for large sums).
    pub fn of(values: &[f64]) -> Summary {
        let (mut n, mut mean, mut m2) = (0u64, 0.0, 0.0);
        for &v in values {
            n += 1;
            let d = v - mean;
            mean += d / n as f64;
            m2 += d * (v - mean);
        }
        Summary { n, mean, var: if n > 1 { m2 / (n - 1) as f64 } else { 0.0 } }
    }
}

/// The difference of two means with its normal interval: se² = s_a²/n_a + s_b²/n_b (Welch's
/// standard error; the delta method for a difference of means). Meant for revenue per
/// shopper, where n is large. `None` when an arm has fewer than two values.
pub fn mean_diff(a: Summary, b: Summary, z: f64) -> Option<Interval> {
    if a.n < 2 || b.n < 2 {
        return None;
    }
    let d = a.mean - b.mean;
    let se = (a.var / a.n as f64 + b.var / b.n as f64).sqrt();
    Some(Interval { value: d, low: d - z * se, high: d + z * se })
}

/// CUPED (Deng et al. 2013): the difference of means of `y` after removing what a
/// pre-experiment covariate `x` explains. θ = Cov(y, x) / Var(x) over both arms pooled, then
/// y' = y − θ (x − x̄), and [`mean_diff`] of y'. Unbiased because x is fixed before
/// assignment; the interval narrows by the factor sqrt(1 − ρ²). `y_*` and `x_*` pair up by
/// index. `None` when an arm has fewer than two values, lengths differ, or x is constant.
pub fn cuped_diff(y_t: &[f64], x_t: &[f64], y_h: &[f64], x_h: &[f64], z: f64) -> Option<Interval> {
    if y_t.len() != x_t.len() || y_h.len() != x_h.len() {
        return None;
    }
    let xs: Vec<f64> = x_t.iter().chain(x_h).copied().collect();
    let ys: Vec<f64> = y_t.iter().chain(y_h).copied().collect();
    let sx = Summary::of(&xs);
    let sy = Summary::of(&ys);
    if sx.var <= 0.0 || sx.n < 2 {
        return None;
    }
    let cov = xs.iter().zip(&ys).map(|(x, y)| (x - sx.mean) * (y - sy.mean)).sum::<f64>() / (sx.n - 1) as f64;
    let theta = cov / sx.var;
    let adjust = |y: &[f64], x: &[f64]| -> Vec<f64> { y.iter().zip(x).map(|(y, x)| y - theta * (x - sx.mean)).collect() };
    mean_diff(Summary::of(&adjust(y_t, x_t)), Summary::of(&adjust(y_h, x_h)), z)
}

/// Everything `glint lift` reports for one moment's KPI, from the two arms' counts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Lift {
    /// Treatment (nudged) shoppers and conversions.
    pub treatment: Counts,
    /// Holdout shoppers and conversions.
    pub holdout: Counts,
    /// rate_t − rate_h, 95 % Newcombe interval.
    pub lift_abs: Option<Interval>,
    /// rate_t / rate_h − 1, 95 % delta-method interval on the log ratio.
    pub lift_rel: Option<Interval>,
    /// Two-sided pooled two-proportion z-test.
    pub p_value: Option<f64>,
    /// P(p_t > p_h) under Beta(1 + x, 1 + n − x) posteriors.
    pub prob_better: f64,
    /// The 95 % anytime-valid confidence sequence for rate_t − rate_h at the current sample
    /// size (see [`confidence_sequence_diff`]); `None` when the holdout share is 0 or 1.
    pub cs: Option<(f64, f64)>,
}

/// All of [`Lift`] for one moment: `holdout_share` is the configured share of firings held
/// out (the CS needs the assignment probability).
///
/// # Errors
/// [`Error::ShareOutOfRange`] when `holdout_share` is not within [0, 1].
pub fn lift(treatment: Counts, holdout: Counts, holdout_share: f64) -> Result<Lift, Error> {
    if !(0.0..=1.0).contains(&holdout_share) {
        return Err(Error::ShareOutOfRange { share: holdout_share });
    }
    let lift_rel = ratio_log(treatment, holdout, Z_95).map(|r| Interval { value: r.value - 1.0, low: r.low - 1.0, high: r.high - 1.0 });
    Ok(Lift {
        treatment,
        holdout,
        lift_abs: newcombe_diff(treatment, holdout, Z_95),
        lift_rel,
        p_value: two_proportion_p(treatment, holdout),
        prob_better: prob_better(treatment, holdout),
        cs: confidence_sequence_diff(treatment, holdout, 1.0 - holdout_share, 0.05),
    })
}
