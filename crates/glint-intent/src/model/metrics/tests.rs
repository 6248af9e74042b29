//! Metrics against scikit-learn references, by hand on tiny cases, and by property.
//!
//! Reference values were computed once with scikit-learn 1.9.1 / NumPy 2.4.6 (Python 3, a
//! throwaway venv) by this snippet, and pasted below with `repr` precision:
//!
//! ```python
//! import numpy as np
//! from sklearn.metrics import (roc_auc_score, average_precision_score, log_loss,
//!                              brier_score_loss, precision_recall_curve)
//! def ece(y, p, bins=10):  # sklearn has none: our definition, in NumPy
//!     idx = np.minimum((p * bins).astype(int), bins - 1)
//!     return sum(abs(y[idx == b].sum() - p[idx == b].sum()) for b in range(bins)) / len(y)
//! def f1(y, p):
//!     pr, rc, th = precision_recall_curve(y, p)
//!     f = np.where(pr + rc > 0, 2 * pr * rc / np.maximum(pr + rc, 1e-300), 0)[:-1]
//!     k = int(np.argmax(f)); return f[k], th[k]
//! A_y = np.array([1,0,1,1,0,0,1,0,0,1,0,1])
//! A_p = np.array([0.9,0.1,0.8,0.4,0.4,0.35,0.65,0.2,0.65,0.3,0.05,0.97])
//! B_y = np.array([(i * 7) % 3 == 0 or i % 5 == 1 for i in range(30)]).astype(int)
//! B_p = np.array([((i * 37) % 20) / 20 + 0.025 for i in range(30)])
//! for y, p in [(A_y, A_p), (B_y, B_p)]:
//!     print(roc_auc_score(y, p), average_precision_score(y, p), log_loss(y, p),
//!           brier_score_loss(y, p), ece(y, p), f1(y, p))
//! ```
//!
//! (scikit-learn 1.9 clips log loss at machine epsilon, we at 1e-15: no probability here is
//! near either, so the two agree.)

use super::*;
use proptest::prelude::*;

fn case_a() -> (Vec<f64>, Vec<bool>) {
    let y = [1, 0, 1, 1, 0, 0, 1, 0, 0, 1, 0, 1].map(|v| v == 1).to_vec();
    let p = vec![0.9, 0.1, 0.8, 0.4, 0.4, 0.35, 0.65, 0.2, 0.65, 0.3, 0.05, 0.97];
    (p, y)
}

fn case_b() -> (Vec<f64>, Vec<bool>) {
    let y = (0..30).map(|i| (i * 7) % 3 == 0 || i % 5 == 1).collect();
    let p = (0..30).map(|i| f64::from((i * 37) % 20) / 20.0 + 0.025).collect();
    (p, y)
}

fn close(a: f64, b: f64) {
    assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0), "{a} vs {b}");
}

#[test]
fn case_a_matches_scikit_learn() {
    let (p, y) = case_a();
    close(auc(&p, &y).unwrap_or(f64::NAN), 0.8611111111111112);
    close(average_precision(&p, &y).unwrap_or(f64::NAN), 0.8634920634920634);
    close(log_loss(&p, &y), 0.4401031460388333);
    close(brier(&p, &y), 0.14840833333333334);
    close(ece(&p, &y), 0.1275);
    let (f1, threshold) = best_f1(&p, &y).unwrap_or((f64::NAN, f64::NAN));
    close(f1, 0.8);
    close(threshold, 0.3);
}

#[test]
fn case_b_with_ties_matches_scikit_learn() {
    let (p, y) = case_b();
    close(auc(&p, &y).unwrap_or(f64::NAN), 0.47098214285714285);
    close(average_precision(&p, &y).unwrap_or(f64::NAN), 0.48429127611458433);
    close(log_loss(&p, &y), 1.0490399397090955);
    close(brier(&p, &y), 0.35479166666666667);
    close(ece(&p, &y), 0.3166666666666667);
    let (f1, threshold) = best_f1(&p, &y).unwrap_or((f64::NAN, f64::NAN));
    close(f1, 0.6363636363636364);
    close(threshold, 0.025);
}

#[test]
fn evaluate_collects_every_metric() {
    let (p, y) = case_a();
    let e = evaluate(&p, &y);
    assert_eq!((e.rows, e.positives), (12, 6));
    assert_eq!(e.base_rate, 0.5);
    assert_eq!(e.auc, auc(&p, &y));
    assert_eq!(e.f1_threshold, Some(0.3));
}

#[test]
fn undefined_metrics_are_none() {
    assert_eq!(auc(&[0.1, 0.2], &[true, true]), None);
    assert_eq!(auc(&[0.1, 0.2], &[false, false]), None);
    assert_eq!(average_precision(&[0.1, 0.2], &[false, false]), None);
    assert_eq!(best_f1(&[0.1], &[false]), None);
    assert!(log_loss(&[], &[]).is_nan());
}

#[test]
fn log_loss_clips_certain_mistakes_at_1e_15() {
    // 1 − (1 − 1e-15) is 1.11e-15 in floating point, as in any implementation of the clip.
    let loss = log_loss(&[0.0, 1.0], &[true, false]);
    close(loss, -((1e-15f64).ln() + (1.0 - (1.0 - 1e-15f64)).ln()) / 2.0);
    assert_eq!(log_loss(&[1.0, 0.0], &[true, false]), -(1.0 - 1e-15f64).ln());
}

#[test]
fn ece_by_hand_puts_one_in_the_last_bin() {
    // Bin 9 gets p = 0.95 (y 1) and p = 1.0 (y 0): |1 − 1.95| = 0.95. Bin 0: p = 0 (y 0): 0.
    close(ece(&[0.95, 1.0, 0.0], &[true, false, false]), 0.95 / 3.0);
}

#[test]
fn all_tied_scores_give_auc_one_half() {
    assert_eq!(auc(&[0.3; 4], &[true, false, true, false]), Some(0.5));
    // One threshold: everything positive, precision = base rate.
    assert_eq!(average_precision(&[0.3; 4], &[true, false, false, false]), Some(0.25));
}

/// Scores on a dyadic grid (k/64), so `1 − p` and the transforms below are exact and create
/// no new ties.
fn scored() -> impl Strategy<Value = (Vec<f64>, Vec<bool>)> {
    prop::collection::vec((1u32..64, any::<bool>()), 1..80)
        .prop_map(|v| v.into_iter().map(|(k, y)| (f64::from(k) / 64.0, y)).unzip())
}

/// Pairwise definition of AUC: P(score⁺ > score⁻) + ½ P(tie).
fn auc_by_pairs(p: &[f64], y: &[bool]) -> Option<f64> {
    let (mut wins, mut pairs) = (0.0, 0.0);
    for i in 0..p.len() {
        for j in 0..p.len() {
            if y[i] && !y[j] {
                pairs += 1.0;
                wins += if p[i] > p[j] {
                    1.0
                } else if p[i] == p[j] {
                    0.5
                } else {
                    0.0
                };
            }
        }
    }
    (pairs > 0.0).then(|| wins / pairs)
}

proptest! {
    #[test]
    fn auc_equals_the_pairwise_count((p, y) in scored()) {
        match (auc(&p, &y), auc_by_pairs(&p, &y)) {
            (Some(a), Some(b)) => prop_assert!((a - b).abs() < 1e-12, "{a} {b}"),
            (a, b) => prop_assert_eq!(a, b),
        }
    }

    #[test]
    fn auc_is_a_probability_and_flips_with_the_scores((p, y) in scored()) {
        if let Some(a) = auc(&p, &y) {
            prop_assert!((0.0..=1.0).contains(&a));
            let flipped: Vec<f64> = p.iter().map(|v| 1.0 - v).collect();
            let b = auc(&flipped, &y).unwrap_or(f64::NAN);
            prop_assert!((a + b - 1.0).abs() < 1e-12, "{a} + {b}");
        }
    }

    #[test]
    fn ranking_metrics_ignore_monotone_transforms((p, y) in scored()) {
        let logit: Vec<f64> = p.iter().map(|v| (v / (1.0 - v)).ln()).collect();
        let cubed: Vec<f64> = p.iter().map(|v| v * v * v + 2.0).collect();
        prop_assert_eq!(auc(&p, &y), auc(&logit, &y));
        prop_assert_eq!(auc(&p, &y), auc(&cubed, &y));
        prop_assert_eq!(average_precision(&p, &y), average_precision(&logit, &y));
        prop_assert_eq!(best_f1(&p, &y).map(|b| b.0), best_f1(&cubed, &y).map(|b| b.0));
    }

    #[test]
    fn calibration_metrics_are_bounded((p, y) in scored()) {
        prop_assert!(log_loss(&p, &y) >= 0.0);
        let b = brier(&p, &y);
        prop_assert!((0.0..=1.0).contains(&b));
        let e = ece(&p, &y);
        prop_assert!((0.0..=1.0).contains(&e));
        prop_assert!(e <= b.sqrt() + 1e-12, "ECE {e} above √Brier {b}");
        if let Some(ap) = average_precision(&p, &y) {
            prop_assert!(ap > 0.0 && ap <= 1.0 + 1e-12);
        }
        if let Some((f1, t)) = best_f1(&p, &y) {
            prop_assert!(f1 > 0.0 && f1 <= 1.0);
            prop_assert!(p.contains(&t));
        }
    }

    #[test]
    fn perfect_ranking_scores_one((p, y) in scored()) {
        let perfect: Vec<f64> = y.iter().zip(&p).map(|(&l, &v)| if l { 2.0 + v } else { v }).collect();
        if let Some(a) = auc(&perfect, &y) {
            prop_assert_eq!(a, 1.0);
            prop_assert!((average_precision(&perfect, &y).unwrap_or(0.0) - 1.0).abs() < 1e-12);
            prop_assert_eq!(best_f1(&perfect, &y).map(|b| b.0), Some(1.0));
        }
    }
}
