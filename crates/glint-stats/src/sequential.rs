//! An anytime-valid confidence sequence for the difference of two conversion rates, so a lift
//! may be watched after every shopper without inflating false positives.
//!
//! **Method.** Shoppers arrive one by one; each is assigned to treatment with known
//! probability π (the moment's `1 − holdout_bp / 10 000`; Glint's split is a seeded hash, so
//! assignment is independent of the outcome). With Y ∈ {0, 1} the KPI conversion and T the
//! assignment, the inverse-propensity term Z = Y (T/π − (1 − T)/(1 − π)) has mean
//! Δ = p_t − p_h for every shopper (shoppers are taken as i.i.d. draws) and lies in an
//! interval of width c = 1/π + 1/(1 − π). So S_N = Σ (Z_i − Δ) is a martingale whose increments
//! are sub-Gaussian with variance proxy c²/4 (Hoeffding's lemma), and its variance process is
//! V_N = N c²/4. The two-sided normal-mixture boundary of Howard, Ramdas, McAuliffe and Sekhon
//! (2021, "Time-uniform, nonparametric, nonasymptotic confidence sequences", eq. (14)),
//!
//! u(V) = sqrt((V + ρ) ln((V + ρ) / (ρ α²))),
//!
//! gives P(∃N: |S_N| ≥ u(V_N)) ≤ α (Ville's inequality on the mixture supermartingale), so
//! Δ ∈ [Z̄_N − u(V_N)/N, Z̄_N + u(V_N)/N] holds at every N simultaneously with probability
//! ≥ 1 − α. The mixture variance ρ is chosen so the boundary is tightest at
//! [`CS_DESIGN_N`] shoppers; it is valid at every N either way.
//!
//! Because Σ Z_i = x_t/π − x_h/(1 − π), the sequence at N depends only on the two arms'
//! counts: no ordering of shoppers needs to be kept.
//!
//! **Cost of validity.** The bound uses only the range of Z, not its variance, so it is
//! conservative — wide at small holdout shares and low rates. A variance-adaptive (empirical
//! Bernstein, or Waudby-Smith et al.'s asymptotic) sequence would be tighter; TODO.

use crate::Counts;

/// The number of shoppers at which the confidence sequence is tuned to be tightest.
/// A few thousand first firings is a typical moment's month at a mid-size shop.
pub const CS_DESIGN_N: f64 = 2_000.0;

/// ρ / V at the design point: the minimiser k of (1 + k) ln((1 + k)/(k α²)) over k, solved by
/// bisection on its derivative ln((1 + k)/(k α²)) − 1/k, which is increasing in k.
fn rho_ratio(alpha: f64) -> f64 {
    let g = |k: f64| ((1.0 + k) / (k * alpha * alpha)).ln() - 1.0 / k;
    let (mut lo, mut hi): (f64, f64) = (1e-6, 1e3);
    for _ in 0..200 {
        let mid = (lo * hi).sqrt();
        if g(mid) < 0.0 { lo = mid } else { hi = mid }
    }
    (lo * hi).sqrt()
}

/// The level-(1 − `alpha`) confidence sequence for rate_t − rate_h after the shoppers counted
/// so far (see the module docs for the method), clipped to [−1, 1]. `treatment_share` is π.
/// `None` when π is not strictly within (0, 1), `alpha` not within (0, 1), or there are no
/// shoppers yet.
pub fn confidence_sequence_diff(t: Counts, h: Counts, treatment_share: f64, alpha: f64) -> Option<(f64, f64)> {
    if !(treatment_share > 0.0 && treatment_share < 1.0 && alpha > 0.0 && alpha < 1.0) {
        return None;
    }
    let n = (t.n + h.n) as f64;
    if n == 0.0 {
        return None;
    }
    let pi = treatment_share;
    let center = (t.conversions as f64 / pi - h.conversions as f64 / (1.0 - pi)) / n;
    let width = 1.0 / pi + 1.0 / (1.0 - pi);
    let var_step = width * width / 4.0;
    let v = n * var_step;
    let rho = rho_ratio(alpha) * CS_DESIGN_N * var_step;
    let u = ((v + rho) * ((v + rho) / (rho * alpha * alpha)).ln()).sqrt();
    // Z̄ itself may lie outside [−1, 1] (it is an inverse-propensity estimate); Δ cannot.
    Some(((center - u / n).clamp(-1.0, 1.0), (center + u / n).clamp(-1.0, 1.0)))
}
