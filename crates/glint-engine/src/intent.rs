//! Live purchase intent: the trained model scoring each shopper's current session.
//!
//! With [`EngineConfig::intent_features`](crate::EngineConfig) on, every shopper carries an
//! [`IntentTrack`]: `glint-intent`'s [`ShopperHistory`] and the current session's
//! [`SessionFeatures`], fed each event as it is applied — the very accumulators `glint features`
//! and `glint train` use, so what the model was trained on is what it is served (no
//! train/serve skew beyond where sessions are cut: the engine's sessions are its profile's,
//! per merged shopper; the export's are `glint stats`'s, per id — the same 30-minute rule and
//! client session ids, apart from identity merges).
//!
//! Scoring is **lazy**: the features are kept up to date in O(1) per event, and the model runs
//! only when a condition reads `intent`, a firing writes its receipt, `GET /v1/decide` asks, or
//! an `intent` trigger needs the stage after an event. Without a model (or for a shopper seen
//! before tracking began) the score is the taxonomy's stand-in ([`Profile::intent`]).
//!
//! A model is swapped with [`Engine::set_model`](crate::Engine::set_model) between two events:
//! the engine is single-threaded, so every decision sees one model whole — the swap is atomic.

use std::sync::Arc;

use glint_intent::model::{IntentStage, ModelFile, StageThresholds};
use glint_intent::{FEATURE_COUNT, FEATURE_NAMES, SessionFeatures, ShopperHistory};
use serde::{Deserialize, Serialize};

use crate::Profile;

/// Contributions kept as reasons.
const REASONS: usize = 3;

/// A trained intent model, ready to score the engine's feature vectors.
#[derive(Debug)]
pub struct IntentModel {
    file: ModelFile,
    id: String,
}

/// Why a model file cannot score the engine's features.
#[derive(Debug, thiserror::Error)]
#[error("the model's features are not this build's: column {column} is {found:?}, the engine computes {expected:?}")]
pub struct IntentModelError {
    /// First column that differs.
    pub column: usize,
    /// The model's name there.
    pub found: Option<String>,
    /// The engine's name there.
    pub expected: Option<&'static str>,
}

impl IntentModel {
    /// Wrap a loaded model file (its schema hash already checked by `ModelFile::load`); `id`
    /// names it in receipts and metrics (the binary uses a hash of the file's bytes).
    ///
    /// # Errors
    /// When its columns are not [`FEATURE_NAMES`], in order (a model trained on another table
    /// with `glint train --features-csv`).
    pub fn new(file: ModelFile, id: impl Into<String>) -> Result<IntentModel, IntentModelError> {
        let names = file.model.feature_names();
        for column in 0..names.len().max(FEATURE_COUNT) {
            let (found, expected) = (names.get(column), FEATURE_NAMES.get(column));
            if found.map(String::as_str) != expected.copied() {
                return Err(IntentModelError { column, found: found.cloned(), expected: expected.copied() });
            }
        }
        Ok(IntentModel { file, id: id.into() })
    }

    /// Its id, as given.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The model file.
    pub fn file(&self) -> &ModelFile {
        &self.file
    }

    /// The stage thresholds chosen at training.
    pub fn stages(&self) -> StageThresholds {
        self.file.stages
    }

    /// Probability of a purchase for a feature vector.
    pub fn score(&self, row: &[f64]) -> f64 {
        self.file.model.predict_proba(row)
    }

    /// Probability and the top contributions (feature, log-odds), largest magnitude first.
    pub fn explain(&self, row: &[f64]) -> (f64, Vec<(&'static str, f64)>) {
        let c = self.file.model.contributions(row);
        let p = 1.0 / (1.0 + (-c.raw_score()).exp());
        let reasons = c.top(REASONS).into_iter().filter_map(|(i, v)| Some((*FEATURE_NAMES.get(i)?, v))).collect();
        (p, reasons)
    }
}

/// A shopper's intent as the engine sees it now.
#[derive(Clone, Debug, PartialEq)]
pub struct IntentScore {
    /// Probability of a purchase (the model's), or the taxonomy's stand-in score.
    pub p: f64,
    /// Its stage, by the model's thresholds (the taxonomy's 0.3 / 0.7 without a model).
    pub stage: IntentStage,
    /// Top contributions: features (model, log-odds) or signals (taxonomy, weighted counts).
    pub reasons: Vec<(&'static str, f64)>,
    /// The model that scored, `None` for the taxonomy's score.
    pub model: Option<Arc<str>>,
}

/// A shopper's feature accumulators (one `glint-intent` history and the current session).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct IntentTrack {
    pub(crate) history: ShopperHistory,
    pub(crate) session: Option<SessionFeatures>,
    /// Whether the current session was already counted for drift.
    #[serde(default)]
    pub(crate) counted: bool,
}

impl IntentTrack {
    /// Feed one event; `new_session` as the profile decided it. Returns the feature vector to
    /// count for drift, if this event completes one — a session as training sees it: its
    /// prefix before the first `order_completed`, else the whole session once the next one
    /// begins; a session that opens with its order has no prefix and is not counted.
    pub(crate) fn push(&mut self, taxonomy: &glint_event::Taxonomy, e: &glint_event::Event, new_session: bool) -> Option<[f64; FEATURE_COUNT]> {
        let order = e.signal == glint_event::Signal::Builtin(glint_event::Builtin::OrderCompleted);
        let mut done = None;
        if new_session || self.session.is_none() {
            if !self.counted {
                done = self.row();
            }
            self.session = Some(self.history.open_session(e.time_ms));
            self.counted = order;
        } else if order && !self.counted {
            done = self.row();
            self.counted = true;
        }
        if let Some(s) = &mut self.session {
            s.push(taxonomy, e);
        }
        self.history.push(e);
        done
    }

    /// The current session's feature vector.
    pub(crate) fn row(&self) -> Option<[f64; FEATURE_COUNT]> {
        let s = self.session.as_ref()?;
        let mut row = [0.0; FEATURE_COUNT];
        s.fill(&mut row);
        Some(row)
    }
}

/// The taxonomy stand-in's stages.
pub(crate) const TAXONOMY_STAGES: StageThresholds = StageThresholds { consideration: 0.3, readiness: 0.7 };

/// Score a shopper: the model on their features when both exist, else the taxonomy's score.
/// `explain` computes the reasons (contributions cost more than a prediction).
pub(crate) fn score(model: Option<&Arc<IntentModel>>, track: Option<&IntentTrack>, profile: &Profile, taxonomy: &glint_event::Taxonomy, explain: bool) -> IntentScore {
    if let Some(m) = model
        && let Some(row) = track.and_then(IntentTrack::row)
    {
        let (p, reasons) = if explain { m.explain(&row) } else { (m.score(&row), Vec::new()) };
        return IntentScore { p, stage: m.stages().stage(p), reasons, model: Some(Arc::from(m.id())) };
    }
    let (p, reasons) = profile.intent(taxonomy);
    IntentScore { p, stage: TAXONOMY_STAGES.stage(p), reasons: if explain { reasons } else { Vec::new() }, model: None }
}
