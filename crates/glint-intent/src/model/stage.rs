//! Intent stages: a model's probability cut into curiosity, consideration and readiness.
//!
//! `p < t1` is curiosity, `t1 ≤ p < t2` consideration, `t2 ≤ p` readiness. The two thresholds
//! are chosen when the model is trained ([`StageThresholds::choose`], the rule and its reasons
//! on [`StageThresholds`]) and travel in its file.

/// A shopper's stage on the way to a purchase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IntentStage {
    /// Below the consideration threshold.
    Curiosity,
    /// At or above consideration, below readiness.
    Consideration,
    /// At or above readiness.
    Readiness,
}

impl IntentStage {
    /// `curiosity`, `consideration` or `readiness` (the names moment conditions use).
    pub fn as_str(self) -> &'static str {
        match self {
            IntentStage::Curiosity => "curiosity",
            IntentStage::Consideration => "consideration",
            IntentStage::Readiness => "readiness",
        }
    }
}

/// The probabilities where consideration and readiness begin.
///
/// The choice: **consideration** starts at the training base rate, i.e. where a session becomes
/// likelier than average to end in a purchase (meaningful whatever the shop's conversion rate,
/// when the probabilities are calibrated, which log-loss training gives); **readiness** starts
/// at the threshold that maximises F1 of the purchase class on the validation split, i.e. where
/// "predict a purchase" is the best single call. Readiness is never below consideration. Score
/// quantiles were the alternative and were rejected: they put a fixed share of sessions in each
/// stage even when the model sees no signal at all. Precision targets were rejected too: with a
/// 2 % base rate a target like 50 % may never be reached.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StageThresholds {
    /// Lowest probability of consideration.
    pub consideration: f64,
    /// Lowest probability of readiness (≥ `consideration`).
    pub readiness: f64,
}

impl StageThresholds {
    /// The stage of probability `p`.
    pub fn stage(&self, p: f64) -> IntentStage {
        if p >= self.readiness {
            IntentStage::Readiness
        } else if p >= self.consideration {
            IntentStage::Consideration
        } else {
            IntentStage::Curiosity
        }
    }

    /// Thresholds by the rule [above](StageThresholds): `base_rate` of the training labels,
    /// and the best-F1 threshold of `valid_probs` against `valid_labels`. Without a positive in
    /// the validation split readiness falls back to `max(0.5, base_rate)`.
    ///
    /// # Panics
    /// When the validation slices differ in length.
    pub fn choose(base_rate: f64, valid_probs: &[f64], valid_labels: &[bool]) -> StageThresholds {
        let consideration = base_rate;
        let readiness = match super::metrics::best_f1(valid_probs, valid_labels) {
            Some((_, t)) if t.is_finite() => t.max(consideration),
            _ => consideration.max(0.5),
        };
        StageThresholds { consideration, readiness }
    }
}
