//! `glint bench intent`: the intent model's speed — training on simulated sessions, one score
//! with 200 trees of depth 6, and what live scoring costs the engine's replay.
//!
//! - Features: both passes of `glint features` over the simulated log (timed once).
//! - Training: one GBDT fit with LightGBM's default settings (100 rounds, 31 leaves) on every
//!   session, and the whole `glint train` (the 16-candidate search with early stopping on the
//!   latest 20 %), median of runs. `--lightgbm PYTHON` times LightGBM on the same rows.
//! - Scoring: a GBDT of exactly 200 trees of depth 6 scores every session's vector, in a
//!   loop; ns per score (prediction alone, and with the Saabas explanation receipts carry).
//! - Replay: the engine over the same log with the twelve moments (1) alone, (2) keeping
//!   intent features, (3) scoring lazily with the trained model (receipts, drift), (4) with a
//!   moment whose `intent` trigger scores after every event.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use glint_intent::model::{self, Algorithm, Gbdt, GbdtParams, Matrix, TrainOptions};
use glint_intent::{FEATURE_NAMES, Label};

use super::bench::{exe, median};
use crate::output::thousands;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Shoppers to simulate (7 days; about 7 sessions each: 150,000 gives ~1M sessions).
    #[arg(long, default_value_t = 150_000)]
    pub users: u64,
    /// A Python with `lightgbm` and `numpy` to time LightGBM on the same rows (e.g.
    /// target/bench-venv/bin/python from benches/intent_vs_lightgbm.sh).
    #[arg(long, value_name = "PYTHON")]
    pub lightgbm: Option<std::path::PathBuf>,
    /// Skip the 16-candidate search (minutes on 1M sessions).
    #[arg(long)]
    pub no_search: bool,
}

/// The moments file of replay (3): the shipped twelve plus one intent trigger.
const READY_MOMENT: &str = "\n[[moment]]\nname = \"ready_to_buy\"\ndescription = \"Intent reaches readiness.\"\ntrigger = { intent = \"readiness\" }\ncap = \"1/24h\"\nholdout = 0.10\nconsent = \"personalization\"\nkpi = { signals = [\"order_completed\"], within = \"1h\" }\n";

pub fn run(work: &Path, args: &Args, runs: usize) -> Result<()> {
    let data = work.join("intent");
    let _ = std::fs::remove_dir_all(&data);
    let started = Instant::now();
    let out = Command::new(exe()?).args(["simulate", "--users", &args.users.to_string(), "--days", "7", "--data"]).arg(&data).output()?;
    if !out.status.success() {
        bail!("simulate failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    glint_log::Log::open(&data, glint_log::LogOptions::default())?.rotate()?;
    eprintln!("  simulated {} shoppers in {:.1}s", args.users, started.elapsed().as_secs_f64());

    // Features: the two passes of `glint features`.
    let t = Instant::now();
    let config = crate::ConfigArg { config: None };
    let (log, mut builder, bar) = super::features::plan(&data, &config, Label::PurchaseInSession, 1.0)?;
    let mut examples = Vec::new();
    let mut n_events = 0u64;
    for e in log.scan(..)? {
        n_events += 1;
        examples.extend(builder.push(&e.context("reading the log")?)?);
    }
    bar.finish_and_clear();
    examples.sort_by(|a, b| a.start_ms.cmp(&b.start_ms).then_with(|| a.session.cmp(&b.session)));
    let features_s = t.elapsed().as_secs_f64();
    let mut x = Matrix::new(FEATURE_NAMES.iter().map(|n| n.to_string()).collect());
    let mut y = Vec::with_capacity(examples.len());
    for e in &examples {
        x.push_row(&e.features)?;
        y.push(e.label);
    }
    drop(examples);
    let positives = y.iter().filter(|l| **l).count();
    eprintln!("  {} events → {} sessions ({} positive) in {features_s:.1}s", thousands(n_events), thousands(y.len() as u64), thousands(positives as u64));

    // Training: one default fit, then the whole search.
    let mut fit_s = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let (g, _) = Gbdt::fit(&GbdtParams::default(), &x, &y, None)?;
        fit_s.push(t.elapsed().as_secs_f64());
        eprintln!("  default fit: {:.2}s, {} trees", fit_s.last().copied().unwrap_or(0.0), g.n_trees());
    }
    let lgb_s = match &args.lightgbm {
        Some(python) => Some(lightgbm_fit_seconds(python, work, &x, &y, runs)?),
        None => None,
    };
    let options = TrainOptions::new(Algorithm::Gbdt, glint_intent::FeatureSchema::CURRENT.id(), "purchase-in-session");
    let (search_s, trained) = if args.no_search {
        // The replay still needs a model file: search on the latest 100,000 sessions only.
        let from = x.n_rows().saturating_sub(100_000);
        (None, model::train(&x.slice_rows(from..x.n_rows()), &y[from..], &options)?)
    } else {
        let t = Instant::now();
        let file = model::train(&x, &y, &options)?;
        let s = t.elapsed().as_secs_f64();
        eprintln!("  glint train (search): {s:.1}s, chosen {}", file.training.chosen);
        (Some(s), file)
    };

    // Scoring: 200 trees of depth 6, no early stopping.
    let params = GbdtParams { num_rounds: 200, max_depth: Some(6), num_leaves: 64, ..GbdtParams::default() };
    let (big, _) = Gbdt::fit(&params, &x, &y, None)?;
    let n = x.n_rows().min(200_000);
    let (mut predict_ns, mut explain_ns) = (Vec::new(), Vec::new());
    let mut sink = 0.0;
    for _ in 0..runs {
        let t = Instant::now();
        for i in 0..n {
            sink += big.predict_proba(x.row(i));
        }
        predict_ns.push(t.elapsed().as_nanos() as f64 / n as f64);
        let t = Instant::now();
        for i in 0..n.min(50_000) {
            sink += big.contributions(x.row(i)).base;
        }
        explain_ns.push(t.elapsed().as_nanos() as f64 / n.min(50_000) as f64);
    }
    eprintln!("  scoring: {} trees; checksum {sink:.3}", big.n_trees());

    // Replay: the engine alone, with lazy scoring, and with an intent trigger.
    let model_path = work.join("intent-model.json");
    trained.save(&model_path)?;
    drop(x);
    let intent_model = Arc::new(glint_server::load_intent_model(&model_path).map_err(anyhow::Error::msg)?);
    let cfg = crate::config::Config::default();
    let rules_text = format!("{}{READY_MOMENT}", glint_engine::DEFAULT_MOMENTS_TOML);
    let with_trigger = glint_engine::Rules::parse(&rules_text, "bench.toml", &cfg.taxonomy()?, None)?;
    let variants: [(&str, bool, bool, bool); 4] = [
        ("twelve moments, taxonomy score", false, false, false),
        ("+ intent features kept (no model)", true, false, false),
        ("+ model scoring lazily (receipts, drift)", true, true, false),
        ("+ an intent trigger (a score per event)", true, true, true),
    ];
    let mut rows = Vec::new();
    // Rounds interleave the variants, so the machine's noise falls on all of them alike; each
    // variant's cost is the median over rounds of its ratio to the baseline of that round.
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    let mut fired = vec![0usize; variants.len()];
    for _ in 0..runs {
        for (v, &(_, features, scoring, trigger)) in variants.iter().enumerate() {
            let mut ec = cfg.engine_config(None)?;
            if trigger {
                ec.moments = with_trigger.moments.clone();
                ec.budget = with_trigger.budget;
            }
            ec.intent_features = features;
            let mut engine = glint_engine::Engine::new(ec, cfg.taxonomy()?);
            if scoring {
                engine.set_model(Some(intent_model.clone()));
            }
            let (mut engine_s, mut f) = (0.0, 0usize);
            let mut scan = log.scan(..)?;
            loop {
                let chunk: Vec<glint_event::Event> = scan.by_ref().take(20_000).collect::<Result<_, _>>()?;
                if chunk.is_empty() {
                    break;
                }
                let t = Instant::now();
                for e in &chunk {
                    f += engine.apply(e).len();
                }
                engine_s += t.elapsed().as_secs_f64();
            }
            rates[v].push(n_events as f64 / engine_s);
            fired[v] = f;
        }
    }
    for (v, (name, ..)) in variants.iter().enumerate() {
        let ratios: Vec<f64> = rates[v].iter().zip(&rates[0]).map(|(r, b)| r / b).collect();
        eprintln!("  replay {name}: {:.0} events/s, {} firings", median(rates[v].clone()), fired[v]);
        rows.push((*name, median(rates[v].clone()), median(ratios), fired[v]));
    }
    let _ = std::fs::remove_dir_all(&data);

    outln!("| sessions (positive) | features, both passes | default GBDT fit (100 rounds, 31 leaves) | LightGBM, same params, 2 threads | `glint train` (16-candidate search) |");
    outln!("|---:|---:|---:|---:|---:|");
    outln!(
        "| {} ({}) | {features_s:.1} s | {:.1} s | {} | {} |",
        thousands(y.len() as u64),
        thousands(positives as u64),
        median(fit_s.clone()),
        lgb_s.map_or("–".into(), |s| format!("{s:.1} s")),
        search_s.map_or("–".into(), |s| format!("{s:.1} s"))
    );
    outln!();
    outln!("| one score, 200 trees of depth 6 | ns per prediction (median) | ns per prediction with contributions |");
    outln!("|---|---:|---:|");
    outln!("| {} trees | {:.0} | {:.0} |", big.n_trees(), median(predict_ns.clone()), median(explain_ns));
    outln!();
    outln!("| replay, {} events | engine events/s (median of {runs}) | vs. without (median of per-round ratios) | firings |", thousands(n_events));
    outln!("|---|---:|---:|---:|");
    for (name, rate, ratio, fired) in &rows {
        outln!("| {name} | {} | {:+.1} % | {} |", thousands(*rate as u64), 100.0 * (ratio - 1.0), thousands(*fired as u64));
    }
    let lazy = rows.get(2).map_or(0.0, |r| 100.0 * (1.0 - r.2));
    outln!(
        "intent: default fit {:.1}s on {} sessions (goal < 30 s); one score {:.0} ns (goal < 2,000); lazy scoring costs replay {lazy:.1} % (goal < 15 %)",
        median(fit_s),
        thousands(y.len() as u64),
        median(predict_ns)
    );
    Ok(())
}

/// LightGBM on the same rows and params (100 rounds, 31 leaves, 2 threads): median seconds.
fn lightgbm_fit_seconds(python: &Path, work: &Path, x: &Matrix, y: &[bool], runs: usize) -> Result<f64> {
    // Raw little-endian floats: no CSV parsing inside the timed region or around it.
    let bin = work.join("intent-x.f64");
    let mut bytes = Vec::with_capacity(x.values().len() * 8);
    for v in x.values() {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(&bin, bytes)?;
    std::fs::write(work.join("intent-y.u8"), y.iter().map(|&l| u8::from(l)).collect::<Vec<u8>>())?;
    let script = format!(
        "import numpy as np, lightgbm as lgb, time, statistics\nx = np.fromfile({bin:?}, dtype='<f8').reshape(-1, {cols})\ny = np.fromfile({y:?}, dtype='u1')\nts = []\nfor _ in range({runs}):\n    t = time.perf_counter()\n    lgb.train({{'objective': 'binary', 'num_threads': 2, 'verbose': -1, 'num_leaves': 31, 'learning_rate': 0.1, 'min_data_in_leaf': 20, 'max_bin': 255, 'deterministic': True, 'force_row_wise': True}}, lgb.Dataset(x, label=y), num_boost_round=100)\n    ts.append(time.perf_counter() - t)\nprint(statistics.median(ts))\n",
        bin = bin.display().to_string(),
        y = work.join("intent-y.u8").display().to_string(),
        cols = x.n_cols(),
    );
    let out = Command::new(python).args(["-c", &script]).output().with_context(|| format!("running {}", python.display()))?;
    if !out.status.success() {
        bail!("lightgbm failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let s: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().context("lightgbm's time")?;
    eprintln!("  lightgbm fit: {s:.2}s (median)");
    Ok(s)
}
