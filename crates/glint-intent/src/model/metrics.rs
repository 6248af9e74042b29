//! Evaluation metrics for a binary purchase label: pure functions over predicted probabilities
//! (or any scores, for the ranking metrics) and labels.
//!
//! Definitions (n rows, P positives, N negatives; scores sorted by `f64::total_cmp`, so a NaN
//! score ranks above every number):
//!
//! - [`auc`]: area under the ROC curve by the Mann–Whitney formula,
//!   `(Σ ranks of positives − P(P+1)/2) / (P·N)`, tied scores sharing the average of their
//!   ranks (a tied positive–negative pair counts ½). `None` when P or N is 0.
//! - [`average_precision`] (PR-AUC): scikit-learn's `average_precision_score`,
//!   `Σₖ (Rₖ − Rₖ₋₁)·Pₖ` over the distinct scores taken as thresholds from the highest down
//!   (predict positive when score ≥ threshold), `Rₖ`/`Pₖ` the recall/precision there, `R₀ = 0`.
//!   No interpolation. `None` when P is 0.
//! - [`log_loss`]: `−(1/n) Σ [y·ln p + (1−y)·ln(1−p)]` with `p` clipped to `[1e-15, 1 − 1e-15]`.
//! - [`brier`]: `(1/n) Σ (p − y)²`.
//! - [`ece`] (expected calibration error): 10 equal-width bins of `p` (`[0, 0.1)`, …,
//!   `[0.9, 1]`; `p` clamped to `[0, 1]`), `Σ_b (n_b/n)·|mean(y in b) − mean(p in b)|`.
//! - [`best_f1`]: the largest F1 of the positive class, `2TP / (2TP + FP + FN)`, over the
//!   thresholds "score ≥ s" for every distinct score `s`; the highest such `s` on a tie.
//!   `None` when P is 0.
//! - [`base_rate`]: `P / n`.
//!
//! `log_loss`, `brier`, `ece` and `base_rate` of no rows are NaN. Every function panics when
//! the two slices differ in length: that is a bug in the caller, not bad data.

/// The bins of [`ece`].
pub const ECE_BINS: usize = 10;

/// Probabilities are clipped to `[LOG_LOSS_EPS, 1 − LOG_LOSS_EPS]` in [`log_loss`] (LightGBM's
/// and older scikit-learn's choice), so one confident mistake costs ≈ 34.5, not infinity.
pub const LOG_LOSS_EPS: f64 = 1e-15;

/// All the metrics of one set of predictions.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// Rows evaluated.
    pub rows: usize,
    /// Positive rows.
    pub positives: usize,
    /// [`base_rate`].
    pub base_rate: f64,
    /// [`auc`].
    pub auc: Option<f64>,
    /// [`average_precision`].
    pub pr_auc: Option<f64>,
    /// [`log_loss`].
    pub log_loss: f64,
    /// [`brier`].
    pub brier: f64,
    /// [`ece`].
    pub ece: f64,
    /// [`best_f1`]: the F1 …
    pub f1: Option<f64>,
    /// … and its threshold.
    pub f1_threshold: Option<f64>,
}

/// Every metric of `probs` against `labels`.
///
/// # Panics
/// When the slices differ in length.
pub fn evaluate(probs: &[f64], labels: &[bool]) -> Evaluation {
    let f1 = best_f1(probs, labels);
    Evaluation {
        rows: labels.len(),
        positives: labels.iter().filter(|&&y| y).count(),
        base_rate: base_rate(labels),
        auc: auc(probs, labels),
        pr_auc: average_precision(probs, labels),
        log_loss: log_loss(probs, labels),
        brier: brier(probs, labels),
        ece: ece(probs, labels),
        f1: f1.map(|(f, _)| f),
        f1_threshold: f1.map(|(_, t)| t),
    }
}

/// Area under the ROC curve (see the [module docs](self)).
///
/// # Panics
/// When the slices differ in length.
pub fn auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    assert_eq!(scores.len(), labels.len(), "scores and labels");
    let n_pos = labels.iter().filter(|&&y| y).count();
    let n_neg = labels.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return None;
    }
    let order = sorted_order(scores, false);
    let mut rank_sum = 0.0;
    for group in tie_groups(scores, &order) {
        // Ranks (1-based) start+1 ..= end share their average.
        let avg_rank = (group.start + 1 + group.end) as f64 / 2.0;
        let pos = order[group].iter().filter(|&&i| labels[i]).count();
        rank_sum += avg_rank * pos as f64;
    }
    let (p, n) = (n_pos as f64, n_neg as f64);
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}

/// Average precision, scikit-learn's PR-AUC (see the [module docs](self)).
///
/// # Panics
/// When the slices differ in length.
pub fn average_precision(scores: &[f64], labels: &[bool]) -> Option<f64> {
    assert_eq!(scores.len(), labels.len(), "scores and labels");
    let n_pos = labels.iter().filter(|&&y| y).count();
    if n_pos == 0 {
        return None;
    }
    let mut ap = 0.0;
    let mut prev_recall = 0.0;
    for (tp, fp) in cumulative_counts(scores, labels).into_iter().map(|(_, tp, fp)| (tp, fp)) {
        let recall = tp as f64 / n_pos as f64;
        let precision = tp as f64 / (tp + fp) as f64;
        ap += (recall - prev_recall) * precision;
        prev_recall = recall;
    }
    Some(ap)
}

/// Mean log loss with clipping (see the [module docs](self)).
///
/// # Panics
/// When the slices differ in length.
pub fn log_loss(probs: &[f64], labels: &[bool]) -> f64 {
    assert_eq!(probs.len(), labels.len(), "probs and labels");
    let total: f64 = probs
        .iter()
        .zip(labels)
        .map(|(&p, &y)| {
            let p = p.clamp(LOG_LOSS_EPS, 1.0 - LOG_LOSS_EPS);
            -(if y { p.ln() } else { (1.0 - p).ln() })
        })
        .sum();
    total / labels.len() as f64
}

/// Brier score (see the [module docs](self)).
///
/// # Panics
/// When the slices differ in length.
pub fn brier(probs: &[f64], labels: &[bool]) -> f64 {
    assert_eq!(probs.len(), labels.len(), "probs and labels");
    let total: f64 = probs.iter().zip(labels).map(|(&p, &y)| (p - f64::from(u8::from(y))).powi(2)).sum();
    total / labels.len() as f64
}

/// Expected calibration error over [`ECE_BINS`] equal-width bins (see the
/// [module docs](self)).
///
/// # Panics
/// When the slices differ in length.
pub fn ece(probs: &[f64], labels: &[bool]) -> f64 {
    assert_eq!(probs.len(), labels.len(), "probs and labels");
    let mut n = [0usize; ECE_BINS];
    let mut sum_p = [0.0; ECE_BINS];
    let mut sum_y = [0.0; ECE_BINS];
    for (&p, &y) in probs.iter().zip(labels) {
        let p = p.clamp(0.0, 1.0);
        // p = 1 belongs to the last bin, which is closed above.
        let b = ((p * ECE_BINS as f64) as usize).min(ECE_BINS - 1);
        n[b] += 1;
        sum_p[b] += p;
        sum_y[b] += f64::from(u8::from(y));
    }
    let mut total = 0.0;
    for b in 0..ECE_BINS {
        if n[b] > 0 {
            total += (sum_y[b] - sum_p[b]).abs();
        }
    }
    // Σ (n_b/n)·|Σy/n_b − Σp/n_b| = Σ |Σy − Σp| / n.
    total / labels.len() as f64
}

/// The best F1 of the positive class and the threshold achieving it (see the
/// [module docs](self)).
///
/// # Panics
/// When the slices differ in length.
pub fn best_f1(scores: &[f64], labels: &[bool]) -> Option<(f64, f64)> {
    assert_eq!(scores.len(), labels.len(), "scores and labels");
    let n_pos = labels.iter().filter(|&&y| y).count();
    if n_pos == 0 {
        return None;
    }
    let mut best: Option<(f64, f64)> = None;
    for (threshold, tp, fp) in cumulative_counts(scores, labels) {
        let f1 = 2.0 * tp as f64 / (2 * tp + fp + (n_pos - tp)) as f64;
        if best.is_none_or(|(b, _)| f1 > b) {
            best = Some((f1, threshold));
        }
    }
    best
}

/// The share of positive labels.
pub fn base_rate(labels: &[bool]) -> f64 {
    labels.iter().filter(|&&y| y).count() as f64 / labels.len() as f64
}

/// Row indices ordered by score (ascending, or descending when `desc`), ties by index.
fn sorted_order(scores: &[f64], desc: bool) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    if desc {
        order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    } else {
        order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(a.cmp(&b)));
    }
    order
}

/// Ranges of `order` holding equal scores.
fn tie_groups(scores: &[f64], order: &[usize]) -> Vec<std::ops::Range<usize>> {
    let mut groups = Vec::new();
    let mut start = 0;
    for i in 1..=order.len() {
        if i == order.len() || scores[order[i]].total_cmp(&scores[order[start]]).is_ne() {
            groups.push(start..i);
            start = i;
        }
    }
    groups
}

/// For each distinct score from the highest down: `(score, TP, FP)` when predicting positive
/// at score ≥ that.
fn cumulative_counts(scores: &[f64], labels: &[bool]) -> Vec<(f64, usize, usize)> {
    let order = sorted_order(scores, true);
    let (mut tp, mut fp) = (0, 0);
    let mut out = Vec::new();
    for group in tie_groups(scores, &order) {
        let threshold = scores[order[group.start]];
        for &i in &order[group] {
            if labels[i] {
                tp += 1;
            } else {
                fp += 1;
            }
        }
        out.push((threshold, tp, fp));
    }
    out
}

#[cfg(test)]
mod tests;
