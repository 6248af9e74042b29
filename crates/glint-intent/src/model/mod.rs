//! The purchase-intent learners, their model file and the evaluation metrics — generic over a
//! dense [`Matrix`], independent of how features are computed.
//!
//! # Learners
//!
//! - [`Logistic`]: logistic regression on standardised features (training mean and population
//!   standard deviation, kept in the model) with an L2 penalty λ, fitted exactly by Newton's
//!   method with a Cholesky solve. Readable: [`Logistic::coefficients`] per standard deviation
//!   and per unit. Explanation: weight × standardised value.
//! - [`Gbdt`]: gradient-boosted trees on histograms, LightGBM-style: ≤ 255 equal-count bins per
//!   feature from the training set, binary log loss, leaf-wise growth bounded by `num_leaves`,
//!   `max_depth`, `min_data_in_leaf`, `min_sum_hessian`, with `lambda_l2`, shrinkage, seeded
//!   feature and row sampling, histogram subtraction, a learned direction for missing values
//!   and early stopping on a validation split. Explanation: Saabas path contributions.
//!
//! Both read non-finite cells (NaN, ±∞) as missing, predict with [`Model::predict_proba`], and
//! explain with [`Model::contributions`], whose `base + Σ per_feature` is the raw log-odds.
//! Everything is deterministic: the only randomness is a PCG stream from the params' seed, and
//! ties are broken by index.
//!
//! # Choosing settings and training
//!
//! [`search`] holds the fixed candidate grids and the validation protocol both Glint and the
//! LightGBM benchmark follow; [`train`] runs it end to end (split, search, stage thresholds,
//! metadata) and returns a [`ModelFile`].
//!
//! # Model file
//!
//! Versioned JSON ([`FORMAT_VERSION`]), written atomically (temporary file, fsync, rename,
//! fsync of the directory):
//!
//! ```text
//! { "format_version": 1,
//!   "algorithm": "gbdt" | "logistic",
//!   "schema":   { "hash": "<caller's feature-schema id>", "names": ["feature", …] },
//!   "stages":   { "consideration": t1, "readiness": t2 },
//!   "training": { "label", "rows", "positives", "valid_rows", "valid_positives",
//!                 "criterion", "trials": [{ "params", "valid_log_loss", "valid_auc" }],
//!                 "chosen", "valid_log_loss", "valid_auc", "valid_pr_auc", "glint_version" },
//!   "logistic": { "params", "iterations", "converged", "intercept",
//!                 "mean": [..], "scale": [..], "weights": [..] }           (logistic only)
//!   "gbdt":     { "params", "base_score",
//!                 "trees": [{ "split_feature", "threshold", "default_left", "left_child",
//!                             "right_child", "leaf_value", "leaf_cover", "leaf_count" }] },
//!   "drift":    { "features": [{ "name", "cuts": [..], "shares": [..] }],
//!                 "score": { "name": "score", "cuts", "shares" } } }      (optional)
//! ```
//!
//! `drift` is the training distribution (deciles) of each feature and of the validation
//! scores, for the population stability index ([`drift`]); files written before it existed
//! load without it and simply report no drift.
//!
//! Tree layout is LightGBM's: a child `c ≥ 0` is internal node `c`, `c < 0` is leaf `!c` (i.e.
//! `−c − 1`); a row goes left when `x ≤ threshold`, or when `x` is not finite and
//! `default_left`. Leaf values already include the learning rate; the raw score is
//! `base_score + Σ leaf values`, the probability its logistic. Logistic weights are per standard
//! deviation: `raw = intercept + Σ weight·(x − mean)/scale`, a non-finite `x` contributing 0.
//! Floats are written in shortest round-trip form and read back exactly, so a loaded model
//! predicts bit for bit what the saved one did; no timestamps, so the same fit gives the same
//! bytes. [`ModelFile::load`] fails with [`Error::SchemaMismatch`] when the file's schema hash
//! is not the one the running feature code computes, [`Error::UnsupportedVersion`] for a newer
//! format, and [`Error::Malformed`] for anything unparsable or inconsistent.
//!
//! # Metrics
//!
//! [`metrics`]: AUC-ROC (rank-average Mann–Whitney), PR-AUC (scikit-learn's average precision),
//! log loss (clipped at 1e-15), Brier score, expected calibration error (10 equal-width bins,
//! weighted by count), best F1 of the purchase class over all distinct-score thresholds, base
//! rate — each defined precisely there.
//!
//! ```
//! use glint_intent::model::{self, Gbdt, GbdtParams, Matrix};
//!
//! let mut x = Matrix::new(vec!["cart_items".into(), "views".into()]);
//! let mut y = Vec::new();
//! for i in 0..400 {
//!     let cart = f64::from(i % 4);
//!     x.push_row(&[cart, f64::from(i % 7)]).unwrap();
//!     y.push(cart >= 2.0 && i % 5 != 0);
//! }
//! let params = GbdtParams { num_rounds: 20, min_data_in_leaf: 5, ..GbdtParams::default() };
//! let (gbdt, _report) = Gbdt::fit(&params, &x, &y, None).unwrap();
//! let p: Vec<f64> = (0..x.n_rows()).map(|i| gbdt.predict_proba(x.row(i))).collect();
//! assert!(model::metrics::auc(&p, &y).unwrap() > 0.8);
//! let why = gbdt.contributions(&[3.0, 1.0]);
//! assert_eq!(why.top(1)[0].0, 0); // the cart explains it
//! ```

mod bins;
pub mod drift;
mod file;
mod gbdt;
mod logistic;
mod matrix;
pub mod metrics;
mod rng;
pub mod search;
mod stage;
mod tree;

#[cfg(test)]
mod tests;

use std::path::PathBuf;

pub use drift::{DriftMonitor, DriftReference, DriftReport, PSI_WARN};
pub use file::{FORMAT_VERSION, ModelFile, TrainingInfo, TrialRecord};
pub use gbdt::{Gbdt, GbdtParams, GbdtReport, Stop};
pub use logistic::{Coefficient, Logistic, LogisticParams};
pub use matrix::Matrix;
pub use search::Criterion;
pub use stage::{IntentStage, StageThresholds};

/// What can go wrong fitting, searching, saving or loading a model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Values that do not split into whole rows of the named columns.
    #[error("{n_values} values do not make whole rows of {n_cols} columns")]
    Shape {
        /// Values given.
        n_values: usize,
        /// Columns named.
        n_cols: usize,
    },
    /// A row with the wrong number of values.
    #[error("a row has {found} values, the matrix {expected} columns")]
    RowLength {
        /// Columns of the matrix.
        expected: usize,
        /// Values in the row.
        found: usize,
    },
    /// Labels and rows differ in number.
    #[error("{rows} rows but {labels} labels")]
    LabelCount {
        /// Rows.
        rows: usize,
        /// Labels.
        labels: usize,
    },
    /// Nothing to train on.
    #[error("no rows to train on")]
    Empty,
    /// The training labels are all one class, so there is nothing to learn.
    #[error("training needs both classes, but {positives} of {rows} rows are positive")]
    OneClass {
        /// Rows.
        rows: usize,
        /// Positive rows.
        positives: usize,
    },
    /// A validation matrix whose columns are not the training matrix's.
    #[error("validation column {column} is {found:?}, training column {expected:?}")]
    ColumnMismatch {
        /// First position where the names differ.
        column: usize,
        /// Training name there (`None`: training has fewer columns).
        expected: Option<String>,
        /// Validation name there (`None`: validation has fewer columns).
        found: Option<String>,
    },
    /// A hyperparameter out of range.
    #[error("hyperparameter {name} = {value}: {reason}")]
    Param {
        /// Its name.
        name: &'static str,
        /// The value given.
        value: String,
        /// The allowed range.
        reason: &'static str,
    },
    /// A search without candidates.
    #[error("the hyperparameter search has no candidates")]
    NoCandidates,
    /// A validation fraction that leaves the fit or the validation rows empty.
    #[error("validation fraction {fraction} of {rows} rows leaves nothing to fit or nothing to validate on")]
    ValidationSplit {
        /// Fraction asked for.
        fraction: f64,
        /// Training rows.
        rows: usize,
    },
    /// A model file built for other features than the running code computes.
    #[error("model built for feature schema {found}, this Glint computes {expected}; retrain the model")]
    SchemaMismatch {
        /// The running code's schema.
        expected: String,
        /// The file's.
        found: String,
    },
    /// A model file of a newer format.
    #[error("model file format version {found}; this Glint reads version {supported} and older")]
    UnsupportedVersion {
        /// The file's version.
        found: u64,
        /// The newest version this build reads.
        supported: u32,
    },
    /// A model file that is not valid JSON or not a consistent model.
    #[error("malformed model file: {reason}")]
    Malformed {
        /// What is wrong, with position when the JSON parser gave one.
        reason: String,
    },
    /// A model with a non-finite number, which JSON cannot hold (a bug, or a diverged fit).
    #[error("model has a non-finite {field}; not written")]
    NonFinite {
        /// Where.
        field: &'static str,
    },
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// An error about the model file at `path`.
    #[error("{}: {source}", path.display())]
    InFile {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: Box<Error>,
    },
}

impl Error {
    pub(crate) fn param(name: &'static str, value: impl std::fmt::Display, reason: &'static str) -> Error {
        Error::Param { name, value: value.to_string(), reason }
    }

    /// The error under any [`Error::InFile`] wrapping, to match on its kind.
    pub fn root(&self) -> &Error {
        match self {
            Error::InFile { source, .. } => source.root(),
            e => e,
        }
    }
}

/// The learner of a [`Model`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    /// [`Logistic`].
    Logistic,
    /// [`Gbdt`].
    Gbdt,
}

impl Algorithm {
    /// `logistic` or `gbdt`.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Logistic => "logistic",
            Algorithm::Gbdt => "gbdt",
        }
    }
}

impl std::str::FromStr for Algorithm {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "logistic" => Ok(Algorithm::Logistic),
            "gbdt" => Ok(Algorithm::Gbdt),
            _ => Err(format!("unknown algorithm {s:?}: expected gbdt or logistic")),
        }
    }
}

/// A fitted model of either kind.
#[derive(Clone, Debug, PartialEq)]
pub enum Model {
    /// Logistic regression.
    Logistic(Logistic),
    /// Boosted trees.
    Gbdt(Gbdt),
}

impl Model {
    /// Which learner.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            Model::Logistic(_) => Algorithm::Logistic,
            Model::Gbdt(_) => Algorithm::Gbdt,
        }
    }

    /// The log-odds of a purchase.
    ///
    /// # Panics
    /// When `row` does not have one value per feature.
    pub fn raw_score(&self, row: &[f64]) -> f64 {
        match self {
            Model::Logistic(m) => m.raw_score(row),
            Model::Gbdt(m) => m.raw_score(row),
        }
    }

    /// The probability of a purchase.
    ///
    /// # Panics
    /// When `row` does not have one value per feature.
    pub fn predict_proba(&self, row: &[f64]) -> f64 {
        match self {
            Model::Logistic(m) => m.predict_proba(row),
            Model::Gbdt(m) => m.predict_proba(row),
        }
    }

    /// Per-feature shares of the log-odds (see [`Logistic::contributions`],
    /// [`Gbdt::contributions`]).
    ///
    /// # Panics
    /// When `row` does not have one value per feature.
    pub fn contributions(&self, row: &[f64]) -> Contributions {
        match self {
            Model::Logistic(m) => m.contributions(row),
            Model::Gbdt(m) => m.contributions(row),
        }
    }

    /// The feature names, in column order.
    pub fn feature_names(&self) -> &[String] {
        match self {
            Model::Logistic(m) => m.feature_names(),
            Model::Gbdt(m) => m.feature_names(),
        }
    }
}

/// How one score breaks down: `base + Σ per_feature` is the raw log-odds (up to rounding).
#[derive(Clone, Debug, PartialEq)]
pub struct Contributions {
    /// The log-odds before looking at this row's features.
    pub base: f64,
    /// Each feature's contribution, in column order.
    pub per_feature: Vec<f64>,
}

impl Contributions {
    /// `base + Σ per_feature`.
    pub fn raw_score(&self) -> f64 {
        self.base + self.per_feature.iter().sum::<f64>()
    }

    /// The `k` largest contributions by magnitude as `(feature index, contribution)`, zeros
    /// left out; ties in magnitude go to the lower index.
    pub fn top(&self, k: usize) -> Vec<(usize, f64)> {
        let mut all: Vec<(usize, f64)> =
            self.per_feature.iter().copied().enumerate().filter(|(_, c)| *c != 0.0 && c.is_finite()).collect();
        all.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()).then(a.0.cmp(&b.0)));
        all.truncate(k);
        all
    }
}

/// What [`train`] does.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainOptions {
    /// The learner.
    pub algorithm: Algorithm,
    /// The feature-schema id the running feature code computes; [`ModelFile::load`] compares it.
    pub schema_hash: String,
    /// The label the rows carry, recorded in the file (e.g. `purchase-in-session`).
    pub label: String,
    /// Share of the training rows (the last ones) held out for the search.
    pub valid_fraction: f64,
    /// How the search compares candidates.
    pub criterion: Criterion,
    /// Seed for the GBDT grid.
    pub seed: u64,
}

impl TrainOptions {
    /// Options for `algorithm` with the defaults: [`search::VALID_FRACTION`], log loss, seed 0.
    pub fn new(algorithm: Algorithm, schema_hash: impl Into<String>, label: impl Into<String>) -> TrainOptions {
        TrainOptions {
            algorithm,
            schema_hash: schema_hash.into(),
            label: label.into(),
            valid_fraction: search::VALID_FRACTION,
            criterion: Criterion::LogLoss,
            seed: 0,
        }
    }
}

/// Trains a model file from rows in time order: holds out the last `valid_fraction` rows,
/// searches the algorithm's grid ([`search::gbdt_grid`] or [`search::logistic_grid`]) on them,
/// sets the stage thresholds ([`StageThresholds::choose`]) and records the search.
///
/// # Errors
/// Those of [`search::validation_split`], the fits, and [`Error::OneClass`] when the fit rows
/// have one class.
pub fn train(x: &Matrix, y: &[bool], options: &TrainOptions) -> Result<ModelFile, Error> {
    x.check_labels(y)?;
    let (fit_rows, valid_rows) = search::validation_split(x.n_rows(), options.valid_fraction)?;
    let (fx, fy) = (x.slice_rows(fit_rows.clone()), &y[fit_rows]);
    let (vx, vy) = (x.slice_rows(valid_rows.clone()), &y[valid_rows]);
    let (model, trials, chosen) = match options.algorithm {
        Algorithm::Gbdt => {
            let s = search::search_gbdt(&search::gbdt_grid(options.seed), (&fx, fy), (&vx, vy), options.criterion)?;
            (Model::Gbdt(s.model), TrialRecord::from_trials(&s.trials), s.best)
        }
        Algorithm::Logistic => {
            let s = search::search_logistic(&search::logistic_grid(), (&fx, fy), (&vx, vy), options.criterion)?;
            (Model::Logistic(s.model), TrialRecord::from_trials(&s.trials), s.best)
        }
    };
    let probs: Vec<f64> = (0..vx.n_rows()).map(|i| model.predict_proba(vx.row(i))).collect();
    let eval = metrics::evaluate(&probs, vy);
    let stages = StageThresholds::choose(metrics::base_rate(y), &probs, vy);
    let training = TrainingInfo {
        label: options.label.clone(),
        rows: fx.n_rows() as u64,
        positives: fy.iter().filter(|&&b| b).count() as u64,
        valid_rows: eval.rows as u64,
        valid_positives: eval.positives as u64,
        criterion: options.criterion,
        trials,
        chosen,
        valid_log_loss: eval.log_loss,
        valid_auc: eval.auc,
        valid_pr_auc: eval.pr_auc,
        glint_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    let drift = Some(DriftReference::fit(x, &probs));
    Ok(ModelFile { model, schema_hash: options.schema_hash.clone(), stages, training, drift })
}
