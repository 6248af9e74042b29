//! `glint train`, `glint eval`, `glint explain`: the purchase-intent model on the features of
//! `glint features` — trained, judged on a time split, and asked why.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use glint_intent::model::{self, Algorithm, Matrix, ModelFile, TrainOptions, metrics};
use glint_intent::{Example, FEATURE_NAMES, Label, Split};
use serde_json::{Value, json};

use crate::ConfigArg;
use crate::output::thousands;

/// Prefix lengths for "AUC by prefix length": how early the model sees the purchase coming.
const PREFIXES: [usize; 5] = [1, 2, 3, 5, 10];

/// The feature-schema id models carry: the running feature code must compute the same.
pub fn schema_id() -> String {
    glint_intent::FeatureSchema::CURRENT.id()
}

/// What a model trained on a data directory learns from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum TrainOn {
    /// Each session's state after its first 1, 2, 3, 5 and 10 events (those shorter than the
    /// session) and its whole prefix, all with the session's label. The live engine scores a
    /// shopper at any event, mid-session; a model that only ever saw whole sessions reads an
    /// early state as an abandoned session (AUC below 0.5 after one event on simulated data).
    #[default]
    States,
    /// One row per session, its whole prefix: the rows of `glint features`, for comparing
    /// learners on exactly the same table.
    Sessions,
}

/// The training rows of `examples` (in their order, so the search's validation slice stays
/// the latest), as `on` says; the examples need [`PREFIXES`] snapshots for `States`.
fn training_rows<'a>(examples: impl Iterator<Item = &'a Example>, on: TrainOn) -> Result<(Matrix, Vec<bool>)> {
    let mut x = Matrix::new(FEATURE_NAMES.iter().map(|n| n.to_string()).collect());
    let mut y = Vec::new();
    for e in examples {
        if on == TrainOn::States {
            // A session shorter than k gives its whole prefix for k: kept once, below.
            for p in e.prefix_features.iter().filter(|p| **p != e.features) {
                x.push_row(p)?;
                y.push(e.label);
            }
        }
        x.push_row(&e.features)?;
        y.push(e.label);
    }
    Ok((x, y))
}

/// Give `file` the drift reference of whole sessions: the live engine and `glint eval` count
/// finished sessions, not the mid-session states it may have been trained on. Scores are those
/// of the latest sessions (the search's validation share), as training records them.
fn session_drift_reference(file: &mut ModelFile, sessions: &Matrix) -> Result<()> {
    let (_, valid) = model::search::validation_split(sessions.n_rows(), model::search::VALID_FRACTION)?;
    let probs: Vec<f64> = valid.map(|i| file.model.predict_proba(sessions.row(i))).collect();
    file.drift = Some(model::DriftReference::fit(sessions, &probs));
    Ok(())
}

fn parse_algo(s: &str) -> Result<Algorithm, String> {
    match s {
        "gbdt" => Ok(Algorithm::Gbdt),
        "logistic" => Ok(Algorithm::Logistic),
        other => Err(format!("{other:?} is not an algorithm: use gbdt or logistic")),
    }
}

#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Data directory: train on the features of its sessions (every session is training
    /// data; the model's own validation split is the latest 20 %).
    #[arg(long, value_name = "DIR", required_unless_present = "features_csv", conflicts_with = "features_csv")]
    pub data: Option<PathBuf>,
    /// Or train on any table: a CSV with a header (numeric columns; `session`, `shopper`,
    /// `start` are ignored, and only `split = train` rows are used when a `split` column exists).
    #[arg(long, value_name = "FILE")]
    pub features_csv: Option<PathBuf>,
    /// Where to write the model file (JSON, versioned, carrying its feature schema).
    #[arg(long, value_name = "MODEL")]
    pub out: PathBuf,
    /// Learner: `gbdt` (gradient-boosted trees) or `logistic`.
    #[arg(long, default_value = "gbdt", value_parser = parse_algo)]
    pub algo: Algorithm,
    /// With --data: `purchase-in-session` or `purchase-within:DURATION`. With --features-csv:
    /// the name of the label column (0/1) [default there: label].
    #[arg(long, value_name = "LABEL")]
    pub label: Option<String>,
    /// With --data: learn from session `states` (mid-session snapshots and whole sessions, as
    /// the live engine scores) or whole `sessions` only (the rows of `glint features`).
    #[arg(long, value_enum, default_value_t = TrainOn::States, value_name = "ROWS")]
    pub train_on: TrainOn,
    /// Print the training summary as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub config: ConfigArg,
}

#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// Data directory.
    #[arg(long, value_name = "DIR", required_unless_present = "features_csv", conflicts_with = "features_csv")]
    pub data: Option<PathBuf>,
    /// Or judge on any table (as `glint train --features-csv`): a CSV with a `split` column;
    /// the model is trained on the `train` rows (or read with --model) and judged on the
    /// `test` rows. The label column is --label-column.
    #[arg(long, value_name = "FILE")]
    pub features_csv: Option<PathBuf>,
    /// With --features-csv: the label column (0/1).
    #[arg(long, value_name = "COLUMN", default_value = "label")]
    pub label_column: String,
    /// Judge this model file on the test split. Without it, a model is trained on the train
    /// split (with --algo) and judged on the test split.
    #[arg(long, value_name = "MODEL")]
    pub model: Option<PathBuf>,
    /// Share of sessions, earliest start first (ties by session id), that are train; all
    /// figures are on the rest.
    #[arg(long, default_value_t = 0.8, value_parser = super::features::parse_fraction, value_name = "FRACTION")]
    pub split_time_fraction: f64,
    /// Learner when training here: `gbdt` or `logistic`.
    #[arg(long, default_value = "gbdt", value_parser = parse_algo)]
    pub algo: Algorithm,
    /// When training here: learn from session `states` or whole `sessions` (as `glint train
    /// --train-on`); the figures are on whole test sessions either way.
    #[arg(long, value_enum, default_value_t = TrainOn::States, value_name = "ROWS")]
    pub train_on: TrainOn,
    /// What to predict: `purchase-in-session` or `purchase-within:DURATION`.
    #[arg(long, default_value = "purchase-in-session", value_parser = super::features::parse_label)]
    pub label: Label,
    /// Also write each test session's prediction as CSV (session, shopper, start, label, p),
    /// for comparisons with other learners on the same rows.
    #[arg(long, value_name = "FILE")]
    pub predictions: Option<PathBuf>,
    /// Print JSON: auc, pr_auc, log_loss, brier, ece, f1, sessions, positives, auc_by_prefix, …
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub config: ConfigArg,
}

#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// Data directory.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// The model file.
    #[arg(long, value_name = "MODEL")]
    pub model: PathBuf,
    /// The shopper (user id or anonymous id, as in the events).
    #[arg(value_name = "USER")]
    pub user: String,
    /// Contributions to show.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub config: ConfigArg,
}

/// Every session's example (the two passes of `glint features`), with prefix snapshots when
/// asked.
fn examples(data: &Path, config: &ConfigArg, label: Label, train_fraction: f64, prefixes: &[usize]) -> Result<(Vec<Example>, glint_intent::Summary)> {
    let (log, builder, bar) = super::features::plan(data, config, label, train_fraction)?;
    let mut builder = builder.with_prefixes(prefixes);
    bar.set_message("computing features");
    let mut out = Vec::new();
    for e in log.scan(..)? {
        out.extend(builder.push(&e.context("reading the log")?)?);
    }
    bar.finish_and_clear();
    // Time order (start, then session id): the validation split is the latest training rows.
    out.sort_by(|a, b| a.start_ms.cmp(&b.start_ms).then_with(|| a.session.cmp(&b.session)).then_with(|| a.shopper.cmp(&b.shopper)));
    Ok((out, builder.finish()?))
}


/// Train with the seeded search (the library refuses rows of one class, naming the counts).
fn fit(x: &Matrix, y: &[bool], algo: Algorithm, label: &str, schema: String) -> Result<ModelFile> {
    Ok(model::train(x, y, &TrainOptions::new(algo, schema, label))?)
}

/// A model trained on a data directory, and what it learnt from.
pub struct Trained {
    pub file: ModelFile,
    /// Sessions, and those with a positive label.
    pub sessions: usize,
    pub session_positives: usize,
    /// Training rows (sessions, or states with `TrainOn::States`), and positive ones.
    pub rows: usize,
    pub positives: usize,
}

/// Train on every session of a data directory (what `glint train --data` does).
pub fn train_on_data(data: &Path, config: &ConfigArg, label: Label, algo: Algorithm, on: TrainOn) -> Result<Trained> {
    let (examples, _) = examples(data, config, label, 1.0, if on == TrainOn::States { &PREFIXES } else { &[] })?;
    fit_examples(&examples.iter().collect::<Vec<_>>(), algo, label, on)
}

/// Fit on `examples` (in time order) as `on` says.
fn fit_examples(examples: &[&Example], algo: Algorithm, label: Label, on: TrainOn) -> Result<Trained> {
    let (x, y) = training_rows(examples.iter().copied(), on)?;
    let mut file = fit(&x, &y, algo, &label.to_string(), schema_id())?;
    if on == TrainOn::States {
        // Trained on sessions, the file's own reference is already of whole sessions.
        let (sessions, _) = training_rows(examples.iter().copied(), TrainOn::Sessions)?;
        session_drift_reference(&mut file, &sessions)?;
    }
    Ok(Trained {
        file,
        sessions: examples.len(),
        session_positives: examples.iter().filter(|e| e.label).count(),
        rows: y.len(),
        positives: y.iter().filter(|l| **l).count(),
    })
}

pub fn train(args: TrainArgs) -> Result<ExitCode> {
    let started = std::time::Instant::now();
    let trained = match (&args.data, &args.features_csv) {
        (Some(data), _) => {
            let label: Label = args.label.as_deref().unwrap_or("purchase-in-session").parse().map_err(|e: glint_intent::Error| anyhow::anyhow!("--label: {e}"))?;
            train_on_data(data, &args.config, label, args.algo, args.train_on)?
        }
        (None, Some(csv)) => {
            let column = args.label.clone().unwrap_or_else(|| "label".into());
            let (x, y) = read_table(csv, &column, Split::Train)?;
            // A table's own columns are its schema: such a model is for evaluation, not for
            // the engine (whose features have Glint's schema).
            let schema = table_schema(&x);
            let positives = y.iter().filter(|l| **l).count();
            Trained { file: fit(&x, &y, args.algo, &column, schema)?, sessions: y.len(), session_positives: positives, rows: y.len(), positives }
        }
        (None, None) => bail!("pass --data DIR or --features-csv FILE"),
    };
    let Trained { file, sessions, session_positives, rows, positives } = trained;
    file.save(&args.out).with_context(|| format!("writing {}", args.out.display()))?;
    let t = &file.training;
    if args.json {
        outln!(
            "{:#}",
            json!({
                "out": args.out.display().to_string(), "algo": file.model.algorithm().as_str(), "sessions": sessions, "session_positives": session_positives, "rows": rows, "positives": positives,
                "valid_log_loss": t.valid_log_loss, "valid_auc": t.valid_auc, "valid_pr_auc": t.valid_pr_auc,
                "candidates": t.trials.len(), "chosen": t.chosen,
                "stages": {"consideration": file.stages.consideration, "readiness": file.stages.readiness},
            })
        );
    } else {
        outln!(
            "trained {} on {} sessions ({} positive){} in {:.1}s: {} candidates searched, validation AUC {}, log loss {:.4}; stages: consideration ≥ {:.3}, readiness ≥ {:.3} → {}",
            file.model.algorithm().as_str(),
            thousands(sessions as u64),
            thousands(session_positives as u64),
            if rows == sessions { String::new() } else { format!(" as {} states ({} positive)", thousands(rows as u64), thousands(positives as u64)) },
            started.elapsed().as_secs_f64(),
            t.trials.len(),
            t.valid_auc.map_or("-".into(), |a| format!("{a:.4}")),
            t.valid_log_loss,
            file.stages.consideration,
            file.stages.readiness,
            args.out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A CSV table: every numeric column but the label and the meta columns becomes a feature;
/// with a `split` column, only the rows of `split`.
fn read_table(path: &Path, label: &str, split: Split) -> Result<(Matrix, Vec<bool>)> {
    let mut reader = csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let header: Vec<String> = reader.headers()?.iter().map(str::to_string).collect();
    let label_at = header.iter().position(|h| h == label).with_context(|| format!("{}: no column {label:?} (columns: {})", path.display(), header.join(", ")))?;
    let split_at = header.iter().position(|h| h == "split");
    let skip = ["session", "shopper", "start", "split"];
    let features: Vec<usize> = (0..header.len()).filter(|&i| i != label_at && !skip.contains(&header[i].as_str())).collect();
    let mut x = Matrix::new(features.iter().map(|&i| header[i].clone()).collect());
    let mut y = Vec::new();
    let mut row = vec![0.0; features.len()];
    for (n, record) in reader.records().enumerate() {
        let record = record.with_context(|| format!("{}: row {}", path.display(), n + 2))?;
        if split_at.is_some_and(|s| record.get(s) != Some(split.as_str())) {
            continue;
        }
        let line = n + 2;
        y.push(match record.get(label_at) {
            Some("1") | Some("1.0") | Some("true") => true,
            Some("0") | Some("0.0") | Some("false") => false,
            other => bail!("{}:{line}: label {label:?} is {other:?}, not 0 or 1", path.display()),
        });
        for (slot, &i) in row.iter_mut().zip(&features) {
            let cell = record.get(i).unwrap_or("");
            *slot = if cell.is_empty() { f64::NAN } else { cell.parse().with_context(|| format!("{}:{line}: column {:?} is {cell:?}, not a number", path.display(), header[i]))? };
        }
        x.push_row(&row)?;
    }
    Ok((x, y))
}

/// The test rows' predicted probabilities and labels, and the AUC at each of [`PREFIXES`].
/// Test-set probabilities, labels, and AUC per prefix length.
pub type Judged = (Vec<f64>, Vec<bool>, Vec<(usize, Option<f64>)>);

fn predict(test_rows: &[&Example], file: &ModelFile) -> Judged {
    let probs: Vec<f64> = test_rows.iter().map(|e| file.model.predict_proba(&e.features)).collect();
    let labels: Vec<bool> = test_rows.iter().map(|e| e.label).collect();
    let by_prefix = PREFIXES
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let p: Vec<f64> = test_rows.iter().map(|e| e.prefix_features.get(i).map_or(f64::NAN, |f| file.model.predict_proba(f))).collect();
            (*k, metrics::auc(&p, &labels))
        })
        .collect();
    (probs, labels, by_prefix)
}

/// A model file judged as `glint eval --model` does with its defaults (the latest 20 % of
/// sessions, the label the model was trained on): test probabilities, labels, AUC by prefix.
/// Shared with `glint report`.
pub fn judge_model(data: &Path, config: &ConfigArg, model: &Path) -> Result<Judged> {
    let file = ModelFile::load(model, &schema_id()).with_context(|| format!("loading {}", model.display()))?;
    let label: Label = file.training.label.parse().map_err(|e: glint_intent::Error| anyhow::anyhow!("{}: label {:?}: {e}", model.display(), file.training.label))?;
    let (examples, _) = examples(data, config, label, 0.8, &PREFIXES)?;
    let test_rows: Vec<&Example> = examples.iter().filter(|e| e.split != Split::Train).collect();
    if test_rows.is_empty() {
        bail!("{}: no test session (the latest 20 %) to judge the model on", data.display());
    }
    Ok(predict(&test_rows, &file))
}

/// The schema id of a table's own columns (a model trained on it is for evaluation, not for
/// the engine).
fn table_schema(x: &Matrix) -> String {
    format!("table-{:016x}", xxhash_rust::xxh3::xxh3_64(x.names().join(",").as_bytes()))
}

/// `glint eval --features-csv`: train on the table's `train` rows (or load --model), judge on
/// its `test` rows.
fn eval_table(args: &EvalArgs, csv: &Path) -> Result<ExitCode> {
    let (tx, ty) = read_table(csv, &args.label_column, Split::Train)?;
    let (vx, vy) = read_table(csv, &args.label_column, Split::Test)?;
    if vy.is_empty() {
        bail!("{}: no row has split = test", csv.display());
    }
    let started = std::time::Instant::now();
    let file = match &args.model {
        Some(path) => ModelFile::load(path, &table_schema(&vx)).with_context(|| format!("loading {}", path.display()))?,
        None => fit(&tx, &ty, args.algo, &args.label_column, table_schema(&tx))?,
    };
    let train_seconds = started.elapsed().as_secs_f64();
    let probs: Vec<f64> = (0..vx.n_rows()).map(|i| file.model.predict_proba(vx.row(i))).collect();
    if let Some(path) = &args.predictions {
        let mut w = std::io::BufWriter::new(std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?);
        writeln!(w, "row,label,p")?;
        for (i, (l, p)) in vy.iter().zip(&probs).enumerate() {
            writeln!(w, "{i},{},{p}", u8::from(*l))?;
        }
        w.flush()?;
    }
    let m = metrics::evaluate(&probs, &vy);
    let drift = drift_of(&file, probs.iter().enumerate().map(|(i, p)| (vx.row(i), *p)));
    if args.json {
        outln!(
            "{:#}",
            json!({"auc": m.auc, "pr_auc": m.pr_auc, "log_loss": m.log_loss, "brier": m.brier, "ece": m.ece, "f1": m.f1, "f1_threshold": m.f1_threshold,
                "base_rate": m.base_rate, "rows": m.rows, "positives": m.positives, "train_rows": ty.len(), "train_seconds": train_seconds,
                "algo": file.model.algorithm().as_str(), "drift": drift.as_ref().map(drift_json)})
        );
        return Ok(ExitCode::SUCCESS);
    }
    let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.4}"));
    if let Some(d) = &drift {
        outln!("{}", drift_line(d));
    }
    outln!("eval: {} on {} test rows of {}: AUC {}, PR-AUC {}, log loss {:.4} (trained on {} rows in {train_seconds:.2}s)", file.model.algorithm().as_str(), thousands(m.rows as u64), csv.display(), f(m.auc), f(m.pr_auc), m.log_loss, thousands(ty.len() as u64));
    Ok(ExitCode::SUCCESS)
}

/// The judged rows (features, score) against the model's training distribution; `None` for a
/// model file without one.
fn drift_of<'a>(file: &ModelFile, rows: impl Iterator<Item = (&'a [f64], f64)>) -> Option<glint_intent::model::DriftReport> {
    let mut monitor = glint_intent::model::DriftMonitor::new(file.drift.as_ref()?);
    for (row, p) in rows {
        monitor.observe(row, p);
    }
    Some(monitor.report())
}

/// A drift report as JSON: `sessions`, `score_psi`, `warn_at`, `features` (name → PSI) and
/// `warnings` (the columns at or over the threshold, largest first).
pub fn drift_json(d: &glint_intent::model::DriftReport) -> Value {
    let features: serde_json::Map<String, Value> = d.features.iter().map(|(n, p)| (n.clone(), json!(p))).collect();
    let warnings: Vec<Value> = d.warnings().into_iter().map(|(c, p)| json!({"column": c, "psi": p})).collect();
    json!({"sessions": d.rows, "score_psi": d.score, "warn_at": d.warn_at, "features": features, "warnings": warnings})
}

/// A drift report in one line.
pub fn drift_line(d: &glint_intent::model::DriftReport) -> String {
    let w = d.warnings();
    let score = d.score.map_or("-".into(), |p| format!("{p:.3}"));
    if w.is_empty() {
        return format!("drift: {} sessions against the training distribution; score PSI {score}; no column at or over PSI {}", thousands(d.rows), d.warn_at);
    }
    let listed: Vec<String> = w.iter().take(5).map(|(c, p)| format!("{c} {p:.2}")).collect();
    format!("drift: {} sessions; score PSI {score}; WARNING {} column(s) at or over PSI {}: {}{}", thousands(d.rows), w.len(), d.warn_at, listed.join(", "), if w.len() > 5 { ", …" } else { "" })
}

pub fn eval(args: EvalArgs) -> Result<ExitCode> {
    if let Some(csv) = &args.features_csv {
        return eval_table(&args, csv);
    }
    let Some(data) = &args.data else { bail!("pass --data DIR or --features-csv FILE") };
    let (examples, summary) = examples(data, &args.config, args.label, args.split_time_fraction, &PREFIXES)?;
    let (train_rows, test_rows): (Vec<&Example>, Vec<&Example>) = examples.iter().partition(|e| e.split == Split::Train);
    if test_rows.is_empty() {
        bail!("the test split is empty: lower --split-time-fraction (now {})", args.split_time_fraction);
    }
    let file = match &args.model {
        Some(path) => ModelFile::load(path, &schema_id()).with_context(|| format!("loading {}", path.display()))?,
        None => fit_examples(&train_rows, args.algo, args.label, args.train_on)?.file,
    };
    let (probs, labels, prefix_aucs) = predict(&test_rows, &file);
    let m = metrics::evaluate(&probs, &labels);
    // Drift of the test sessions against the model's training distribution.
    let drift = drift_of(&file, test_rows.iter().zip(&probs).map(|(e, p)| (e.features.as_slice(), *p)));
    let mut by_prefix = serde_json::Map::new();
    for (k, auc) in prefix_aucs {
        by_prefix.insert(k.to_string(), json!(auc));
    }
    if let Some(path) = &args.predictions {
        let mut w = std::io::BufWriter::new(std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?);
        writeln!(w, "session,shopper,start,label,p")?;
        for (e, p) in test_rows.iter().zip(&probs) {
            writeln!(w, "{},{},{},{},{p}", csv_field(&e.session), csv_field(&e.shopper), e.start_ms, u8::from(e.label))?;
        }
        w.flush()?;
    }
    let out = json!({
        "auc": m.auc, "pr_auc": m.pr_auc, "log_loss": m.log_loss, "brier": m.brier, "ece": m.ece, "f1": m.f1, "f1_threshold": m.f1_threshold,
        "base_rate": m.base_rate, "sessions": m.rows, "positives": m.positives, "auc_by_prefix": Value::Object(by_prefix.clone()),
        "train_sessions": train_rows.len(), "left_out": summary.no_prefix, "algo": file.model.algorithm().as_str(),
        "model": args.model.as_ref().map(|p| p.display().to_string()), "label": args.label.to_string(),
        "drift": drift.as_ref().map(drift_json),
    });
    if args.json {
        outln!("{out:#}");
        return Ok(ExitCode::SUCCESS);
    }
    let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.4}"));
    outln!("test split: {} sessions, {} positive (base rate {:.2} %)", thousands(m.rows as u64), thousands(m.positives as u64), 100.0 * m.base_rate);
    outln!("  AUC-ROC     {}", f(m.auc));
    outln!("  PR-AUC      {}", f(m.pr_auc));
    outln!("  log loss    {:.4}", m.log_loss);
    outln!("  Brier       {:.4}", m.brier);
    outln!("  ECE         {:.4}", m.ece);
    outln!("  F1 (best)   {} at p ≥ {}", f(m.f1), f(m.f1_threshold));
    let prefix: Vec<String> = PREFIXES.iter().map(|k| format!("{k}: {}", by_prefix.get(&k.to_string()).and_then(Value::as_f64).map_or("-".into(), |a| format!("{a:.3}")))).collect();
    outln!("  AUC by prefix length (events seen): {}", prefix.join(", "));
    if let Some(d) = &drift {
        outln!("  {}", drift_line(d));
    }
    outln!("eval: {} on {} test sessions: AUC {}, PR-AUC {}, log loss {:.4}", file.model.algorithm().as_str(), thousands(m.rows as u64), f(m.auc), f(m.pr_auc), m.log_loss);
    Ok(ExitCode::SUCCESS)
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

pub fn explain(args: ExplainArgs) -> Result<ExitCode> {
    let file = ModelFile::load(&args.model, &schema_id()).with_context(|| format!("loading {}", args.model.display()))?;
    let (examples, _) = examples(&args.data, &args.config, Label::PurchaseInSession, 1.0, &[])?;
    let Some(e) = examples.iter().rev().find(|e| e.shopper == args.user) else {
        bail!("no session of {:?} in {} (sessions that open with an order have no prefix to explain)", args.user, args.data.display());
    };
    let p = file.model.predict_proba(&e.features);
    let c = file.model.contributions(&e.features);
    let stage = file.stages.stage(p);
    let names = file.model.feature_names();
    let top: Vec<Value> = c
        .top(args.top)
        .into_iter()
        .map(|(i, v)| json!({"feature": names.get(i).cloned().unwrap_or_default(), "value": e.features.get(i), "contribution": v}))
        .collect();
    if args.json {
        outln!("{:#}", json!({"user": args.user, "session": e.session, "p": p, "stage": stage.as_str(), "base": c.base, "contributions": top}));
        return Ok(ExitCode::SUCCESS);
    }
    outln!("{} — session {} ({}): p = {p:.3}, stage {}", args.user, e.session, glint_event::time::format_rfc3339_s(e.start_ms), stage.as_str());
    outln!("  {:<34} {:>12} {:>13}", "feature", "value", "contribution");
    for t in &top {
        outln!("  {:<34} {:>12} {:>+13.4}", t["feature"].as_str().unwrap_or(""), t["value"].as_f64().map_or("-".into(), |v| format!("{v:.3}")), t["contribution"].as_f64().unwrap_or(0.0));
    }
    outln!("explain: {} contributions (log-odds) on a base of {:+.4} from {}", top.len(), c.base, args.model.display());
    Ok(ExitCode::SUCCESS)
}
