//! The model file: versioned JSON, written atomically, read back exactly and checked against
//! the running feature schema. The format is described in the [module docs](super).
//!
//! The learners' own types are not `Serialize`: the file has its own mirror types here, so the
//! format changes only on purpose, and every loaded model passes through one validation step
//! (lengths, tree structure, finite numbers) before it can score.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::search::Trial;
use super::tree::Tree;
use super::drift::{ColumnReference, DriftReference};
use super::{Algorithm, Criterion, Error, Gbdt, GbdtParams, Logistic, LogisticParams, Model, StageThresholds};

/// The newest file format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// A model with what it needs to be used safely: the feature schema it was trained on, its
/// intent-stage thresholds and a record of its training.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelFile {
    /// The fitted model; its feature names are the file's `schema.names`.
    pub model: Model,
    /// The feature-schema id it was trained on (compared on load).
    pub schema_hash: String,
    /// Intent-stage thresholds chosen at training time.
    pub stages: StageThresholds,
    /// How it was trained.
    pub training: TrainingInfo,
    /// The training distribution of each feature and of the score, for drift monitoring
    /// (absent in files written before it was kept).
    pub drift: Option<DriftReference>,
}

/// Training metadata kept in the file. No timestamps: the same fit writes the same bytes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingInfo {
    /// The label trained on (e.g. `purchase-in-session`).
    pub label: String,
    /// Rows fitted on.
    pub rows: u64,
    /// Positive rows fitted on.
    pub positives: u64,
    /// Rows of the validation split.
    pub valid_rows: u64,
    /// Positive rows of the validation split.
    pub valid_positives: u64,
    /// How the search compared candidates.
    pub criterion: Criterion,
    /// Every candidate and its validation result.
    pub trials: Vec<TrialRecord>,
    /// Index of the chosen candidate in `trials`.
    pub chosen: usize,
    /// Validation log loss of the chosen model.
    #[serde(deserialize_with = "exact::f64")]
    pub valid_log_loss: f64,
    /// Validation AUC of the chosen model.
    #[serde(deserialize_with = "exact::opt")]
    pub valid_auc: Option<f64>,
    /// Validation PR-AUC of the chosen model.
    #[serde(deserialize_with = "exact::opt")]
    pub valid_pr_auc: Option<f64>,
    /// The `glint-intent` version that trained it.
    pub glint_version: String,
}

/// One search candidate as recorded in the file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrialRecord {
    /// Its hyperparameters, as the learner's params serialise.
    pub params: serde_json::Value,
    /// Its validation log loss.
    #[serde(deserialize_with = "exact::f64")]
    pub valid_log_loss: f64,
    /// Its validation AUC.
    #[serde(deserialize_with = "exact::opt")]
    pub valid_auc: Option<f64>,
}

impl TrialRecord {
    pub(crate) fn from_trials<P: Serialize>(trials: &[Trial<P>]) -> Vec<TrialRecord> {
        trials
            .iter()
            .map(|t| TrialRecord {
                params: serde_json::to_value(&t.params).unwrap_or(serde_json::Value::Null),
                valid_log_loss: t.valid_log_loss,
                valid_auc: t.valid_auc,
            })
            .collect()
    }
}

impl ModelFile {
    /// The file's bytes (pretty JSON with a final newline).
    ///
    /// # Errors
    /// [`Error::NonFinite`] when a number cannot be written as JSON.
    pub fn to_json(&self) -> Result<Vec<u8>, Error> {
        let dto = FileDto::from_model(self)?;
        let mut bytes = serde_json::to_vec_pretty(&dto).map_err(|e| Error::Malformed { reason: e.to_string() })?;
        bytes.push(b'\n');
        Ok(bytes)
    }

    /// Reads a model from its bytes, checking the format version, then the schema, then the
    /// model itself.
    ///
    /// # Errors
    /// [`Error::Malformed`], [`Error::UnsupportedVersion`], [`Error::SchemaMismatch`].
    pub fn from_json(bytes: &[u8], expected_schema_hash: &str) -> Result<ModelFile, Error> {
        let malformed = |e: serde_json::Error| Error::Malformed { reason: e.to_string() };
        // The header first: a newer format or another schema deserves its own message, not a
        // parse error about a field this build does not know.
        let header: Header = serde_json::from_slice(bytes).map_err(malformed)?;
        if header.format_version > u64::from(FORMAT_VERSION) || header.format_version == 0 {
            return Err(Error::UnsupportedVersion { found: header.format_version, supported: FORMAT_VERSION });
        }
        if header.schema.hash != expected_schema_hash {
            return Err(Error::SchemaMismatch {
                expected: expected_schema_hash.to_string(),
                found: header.schema.hash,
            });
        }
        let dto: FileDto = serde_json::from_slice(bytes).map_err(malformed)?;
        dto.into_model().map_err(|reason| Error::Malformed { reason })
    }

    /// Writes the file atomically: a temporary file beside `path`, fsync, rename over `path`,
    /// fsync of the directory. A crash leaves the old file or the new one, never a mix.
    ///
    /// # Errors
    /// [`Error::NonFinite`] (wrapped in [`Error::InFile`]), or [`Error::Io`].
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        let bytes = self.to_json().map_err(|e| Error::InFile { path: path.to_path_buf(), source: Box::new(e) })?;
        let io = |source| Error::Io { path: path.to_path_buf(), source };
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let name = path.file_name().ok_or_else(|| io(std::io::Error::other("not a file name")))?;
        let tmp = dir.join(format!(".{}.tmp-{}", name.to_string_lossy(), std::process::id()));
        let written = File::create(&tmp)
            .and_then(|mut f| f.write_all(&bytes).and_then(|()| f.sync_all()))
            .and_then(|()| std::fs::rename(&tmp, path));
        if let Err(e) = written {
            // Best effort: the temporary name is ours alone, and the real error is `e`.
            let _ = std::fs::remove_file(&tmp);
            return Err(io(e));
        }
        sync_dir(dir).map_err(io)
    }

    /// Reads the file at `path` (see [`from_json`](Self::from_json)).
    ///
    /// # Errors
    /// [`Error::Io`], or the errors of [`from_json`](Self::from_json) wrapped in
    /// [`Error::InFile`] (match [`Error::root`]).
    pub fn load(path: &Path, expected_schema_hash: &str) -> Result<ModelFile, Error> {
        let bytes = std::fs::read(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        ModelFile::from_json(&bytes, expected_schema_hash)
            .map_err(|e| Error::InFile { path: path.to_path_buf(), source: Box::new(e) })
    }
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> std::io::Result<()> {
    Ok(())
}

#[derive(Deserialize)]
struct Header {
    format_version: u64,
    schema: HeaderSchema,
}

#[derive(Deserialize)]
struct HeaderSchema {
    hash: String,
}

#[derive(Serialize, Deserialize)]
struct FileDto {
    format_version: u32,
    algorithm: Algorithm,
    schema: SchemaDto,
    stages: StagesDto,
    training: TrainingInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    logistic: Option<LogisticDto>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gbdt: Option<GbdtDto>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    drift: Option<DriftDto>,
}

#[derive(Serialize, Deserialize)]
struct DriftDto {
    features: Vec<ColumnDto>,
    score: ColumnDto,
}

#[derive(Serialize, Deserialize)]
struct ColumnDto {
    name: String,
    #[serde(deserialize_with = "exact::vec")]
    cuts: Vec<f64>,
    #[serde(deserialize_with = "exact::vec")]
    shares: Vec<f64>,
}

impl ColumnDto {
    fn of(c: &ColumnReference) -> Result<ColumnDto, Error> {
        finite("drift cut", &c.cuts)?;
        finite("drift share", &c.shares)?;
        Ok(ColumnDto { name: c.name.clone(), cuts: c.cuts.clone(), shares: c.shares.clone() })
    }

    fn load(self) -> ColumnReference {
        ColumnReference { name: self.name, cuts: self.cuts, shares: self.shares }
    }
}

#[derive(Serialize, Deserialize)]
struct SchemaDto {
    hash: String,
    names: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct StagesDto {
    #[serde(deserialize_with = "exact::f64")]
    consideration: f64,
    #[serde(deserialize_with = "exact::f64")]
    readiness: f64,
}

#[derive(Serialize, Deserialize)]
struct LogisticDto {
    params: LogisticParams,
    iterations: u32,
    converged: bool,
    #[serde(deserialize_with = "exact::f64")]
    intercept: f64,
    #[serde(deserialize_with = "exact::vec")]
    mean: Vec<f64>,
    #[serde(deserialize_with = "exact::vec")]
    scale: Vec<f64>,
    #[serde(deserialize_with = "exact::vec")]
    weights: Vec<f64>,
}

#[derive(Serialize, Deserialize)]
struct GbdtDto {
    params: GbdtParams,
    #[serde(deserialize_with = "exact::f64")]
    base_score: f64,
    trees: Vec<TreeDto>,
}

#[derive(Serialize, Deserialize)]
struct TreeDto {
    split_feature: Vec<u32>,
    #[serde(deserialize_with = "exact::vec")]
    threshold: Vec<f64>,
    default_left: Vec<bool>,
    left_child: Vec<i32>,
    right_child: Vec<i32>,
    #[serde(deserialize_with = "exact::vec")]
    leaf_value: Vec<f64>,
    #[serde(deserialize_with = "exact::vec")]
    leaf_cover: Vec<f64>,
    leaf_count: Vec<u32>,
}

fn finite(field: &'static str, values: &[f64]) -> Result<(), Error> {
    if values.iter().all(|v| v.is_finite()) { Ok(()) } else { Err(Error::NonFinite { field }) }
}

impl FileDto {
    fn from_model(f: &ModelFile) -> Result<FileDto, Error> {
        let t = &f.training;
        finite("stage threshold", &[f.stages.consideration, f.stages.readiness])?;
        finite("validation metric", &[t.valid_log_loss, t.valid_auc.unwrap_or(0.0), t.valid_pr_auc.unwrap_or(0.0)])?;
        for trial in &t.trials {
            finite("trial metric", &[trial.valid_log_loss, trial.valid_auc.unwrap_or(0.0)])?;
        }
        let (logistic, gbdt) = match &f.model {
            Model::Logistic(m) => {
                finite("logistic weight", &m.weights)?;
                finite("logistic mean or scale", &m.mean)?;
                finite("logistic mean or scale", &m.scale)?;
                finite("logistic intercept", &[m.intercept])?;
                let dto = LogisticDto {
                    params: m.params.clone(),
                    iterations: m.iterations,
                    converged: m.converged,
                    intercept: m.intercept,
                    mean: m.mean.clone(),
                    scale: m.scale.clone(),
                    weights: m.weights.clone(),
                };
                (Some(dto), None)
            }
            Model::Gbdt(m) => {
                finite("base score", &[m.base_score])?;
                let mut trees = Vec::with_capacity(m.trees.len());
                for t in &m.trees {
                    finite("tree threshold", &t.threshold)?;
                    finite("leaf value", &t.leaf_value)?;
                    finite("leaf cover", &t.leaf_cover)?;
                    trees.push(TreeDto {
                        split_feature: t.feature.clone(),
                        threshold: t.threshold.clone(),
                        default_left: t.default_left.clone(),
                        left_child: t.left.clone(),
                        right_child: t.right.clone(),
                        leaf_value: t.leaf_value.clone(),
                        leaf_cover: t.leaf_cover.clone(),
                        leaf_count: t.leaf_count.clone(),
                    });
                }
                (None, Some(GbdtDto { params: m.params.clone(), base_score: m.base_score, trees }))
            }
        };
        Ok(FileDto {
            format_version: FORMAT_VERSION,
            algorithm: f.model.algorithm(),
            schema: SchemaDto { hash: f.schema_hash.clone(), names: f.model.feature_names().to_vec() },
            stages: StagesDto { consideration: f.stages.consideration, readiness: f.stages.readiness },
            training: f.training.clone(),
            logistic,
            gbdt,
            drift: match &f.drift {
                None => None,
                Some(d) => Some(DriftDto { features: d.features.iter().map(ColumnDto::of).collect::<Result<_, _>>()?, score: ColumnDto::of(&d.score)? }),
            },
        })
    }

    /// The model, or what is inconsistent about the file.
    fn into_model(self) -> Result<ModelFile, String> {
        let names = self.schema.names;
        let n = names.len();
        let stages = StageThresholds { consideration: self.stages.consideration, readiness: self.stages.readiness };
        if stages.consideration.partial_cmp(&stages.readiness).is_none_or(|o| o.is_gt()) {
            return Err(format!("stage thresholds {} > {}", stages.consideration, stages.readiness));
        }
        let model = match (self.algorithm, self.logistic, self.gbdt) {
            (Algorithm::Logistic, Some(d), None) => {
                for (what, v) in [("mean", &d.mean), ("scale", &d.scale), ("weights", &d.weights)] {
                    if v.len() != n {
                        return Err(format!("logistic {what} has {} values for {n} features", v.len()));
                    }
                }
                if !(d.intercept.is_finite() && d.weights.iter().chain(&d.mean).all(|v| v.is_finite())) {
                    return Err("logistic model has a non-finite number".into());
                }
                if !d.scale.iter().all(|s| *s > 0.0 && s.is_finite()) {
                    return Err("logistic scale must be positive".into());
                }
                d.params.check().map_err(|e| e.to_string())?;
                Model::Logistic(Logistic {
                    names,
                    params: d.params,
                    mean: d.mean,
                    scale: d.scale,
                    intercept: d.intercept,
                    weights: d.weights,
                    iterations: d.iterations,
                    converged: d.converged,
                })
            }
            (Algorithm::Gbdt, None, Some(d)) => {
                d.params.check().map_err(|e| e.to_string())?;
                if !d.base_score.is_finite() {
                    return Err("base_score is not finite".into());
                }
                let mut trees = Vec::with_capacity(d.trees.len());
                for (i, t) in d.trees.into_iter().enumerate() {
                    let mut tree = Tree {
                        feature: t.split_feature,
                        threshold: t.threshold,
                        default_left: t.default_left,
                        left: t.left_child,
                        right: t.right_child,
                        leaf_value: t.leaf_value,
                        leaf_cover: t.leaf_cover,
                        leaf_count: t.leaf_count,
                        node_value: Vec::new(),
                    };
                    tree.validate(n).map_err(|e| format!("tree {i}: {e}"))?;
                    tree.derive_node_values();
                    trees.push(tree);
                }
                Model::Gbdt(Gbdt { names, params: d.params, base_score: d.base_score, forest: super::gbdt::Forest::of(&trees), trees })
            }
            (algorithm, _, _) => {
                return Err(format!(
                    "algorithm {:?} needs exactly one \"{}\" section",
                    algorithm.as_str(),
                    algorithm.as_str()
                ));
            }
        };
        if self.training.chosen >= self.training.trials.len().max(1) {
            return Err(format!("training.chosen {} is not a trial", self.training.chosen));
        }
        let drift = self.drift.map(|d| DriftReference { features: d.features.into_iter().map(ColumnDto::load).collect(), score: d.score.load() });
        if let Some(d) = &drift {
            d.check(n)?;
        }
        Ok(ModelFile { model, schema_hash: self.schema.hash, stages, training: self.training, drift })
    }
}

/// Exact `f64` reading, for every number that decides a prediction or that a re-save must
/// reproduce. serde_json's default float parser may be one ulp off for 17-digit numbers
/// (exact parsing is its opt-in `float_roundtrip` feature, which would change number parsing
/// for the whole workspace). We take the number's raw text and let `str::parse`, which
/// is correctly rounded, read what serde_json's shortest round-trip writer wrote: loaded
/// models then score bit for bit like the saved ones.
mod exact {
    use serde::de::{Deserialize, Deserializer, Error};
    use serde_json::value::RawValue;

    fn parse<E: Error>(raw: &RawValue) -> Result<f64, E> {
        raw.get().parse::<f64>().map_err(|_| E::custom(format!("expected a number, found {}", raw.get())))
    }

    pub(super) fn f64<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        let raw: &RawValue = Deserialize::deserialize(d)?;
        parse(raw)
    }

    pub(super) fn opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        let raw: Option<&RawValue> = Deserialize::deserialize(d)?;
        raw.map(parse).transpose()
    }

    pub(super) fn vec<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        let raws: Vec<&RawValue> = Deserialize::deserialize(d)?;
        raws.into_iter().map(parse).collect()
    }
}
