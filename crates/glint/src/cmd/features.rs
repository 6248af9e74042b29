//! `glint features`: the labelled feature matrix of a data directory as CSV — the features the
//! intent model trains on, so any other learner can be compared on exactly the same rows,
//! features and split.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use indicatif::ProgressBar;
use glint_intent::{CsvWriter, ExampleBuilder, FEATURE_COUNT, Label, SessionPlanner};
use serde_json::json;

use crate::ConfigArg;
use crate::config::Config;
use crate::output::{spinner, thousands};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Data directory.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Where to write the CSV (written beside it as FILE.partial, then renamed).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// What to predict: `purchase-in-session` (features from the events before the session's
    /// first order) or `purchase-within:DURATION`, e.g. `purchase-within:7d` (an order within
    /// that long after the session ends; features from the whole session).
    #[arg(long, default_value = "purchase-in-session", value_name = "LABEL", value_parser = parse_label)]
    pub label: Label,
    /// Share of sessions, earliest start first, in the `train` split; the rest are `test`.
    #[arg(long, default_value_t = 0.8, value_name = "FRACTION", value_parser = parse_fraction)]
    pub split_time_fraction: f64,
    /// Print the summary as JSON: sessions, examples, positives, no_prefix, censored, train,
    /// test, features, label, out.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub config: ConfigArg,
}

/// `--label`: `purchase-in-session` or `purchase-within:DURATION`.
pub fn parse_label(s: &str) -> Result<Label, String> {
    s.parse().map_err(|e: glint_intent::Error| e.to_string())
}

/// `--split-time-fraction`: a share between 0 and 1.
pub fn parse_fraction(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if (0.0..=1.0).contains(&f) => Ok(f),
        _ => Err(format!("{s:?} is not a fraction between 0 and 1 (e.g. 0.8)")),
    }
}

/// The first of the two passes over a data directory's log: it learns where each session ends
/// and who orders when, so the second pass (`ExampleBuilder::push` over the log again) can hand
/// back each row as its session ends instead of holding the matrix. Returns the log, the
/// builder for the second pass, and the progress spinner.
pub fn plan(data: &Path, config: &ConfigArg, label: Label, train_fraction: f64) -> Result<(glint_log::Log, ExampleBuilder, ProgressBar)> {
    // The taxonomy stages and weighs signals, so the features follow glint.toml's [taxonomy].
    let taxonomy = Config::load(config.config.as_deref())?.taxonomy()?;
    let log = super::open_log_read(data)?;
    let bar = spinner("finding sessions");
    let mut planner = SessionPlanner::default();
    for (i, e) in log.scan(..)?.enumerate() {
        planner.add(&e.context("reading the log")?);
        if i % 100_000 == 0 {
            bar.set_message(format!("finding sessions: {} events, {} sessions", thousands(i as u64), thousands(planner.sessions() as u64)));
        }
    }
    let builder = ExampleBuilder::new(taxonomy, label, planner.finish(train_fraction)?);
    Ok((log, builder, bar))
}

pub fn run(args: Args) -> Result<ExitCode> {
    let (log, mut builder, bar) = plan(&args.data, &args.config, args.label, args.split_time_fraction)?;
    let tmp = args.out.with_extension("partial");
    let file = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let mut csv = CsvWriter::new(BufWriter::new(file)).with_context(|| format!("writing {}", tmp.display()))?;
    for (i, e) in log.scan(..)?.enumerate() {
        if let Some(example) = builder.push(&e.context("reading the log")?)? {
            csv.write(&example).with_context(|| format!("writing {}", tmp.display()))?;
        }
        if i % 100_000 == 0 {
            bar.set_message(format!("computing features: {} events", thousands(i as u64)));
        }
    }
    let summary = builder.finish()?;
    csv.finish()
        .and_then(|w| w.into_inner().map_err(|e| glint_intent::Error::Io(e.into_error())))
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &args.out).with_context(|| format!("writing {}", args.out.display()))?;
    bar.finish_and_clear();
    if args.json {
        let out = json!({
            "sessions": summary.sessions,
            "examples": summary.examples,
            "positives": summary.positives,
            "no_prefix": summary.no_prefix,
            "censored": summary.censored,
            "train": summary.train,
            "test": summary.test,
            "features": FEATURE_COUNT,
            "label": args.label.to_string(),
            "out": args.out.display().to_string(),
        });
        outln!("{out:#}");
        return Ok(ExitCode::SUCCESS);
    }
    let rate = if summary.examples == 0 { 0.0 } else { 100.0 * summary.positives as f64 / summary.examples as f64 };
    let left_out = match args.label {
        Label::PurchaseInSession => format!(", {} left out (no events before the purchase)", thousands(summary.no_prefix)),
        Label::PurchaseWithin { .. } => format!(", {} negatives censored (window runs past the data)", thousands(summary.censored)),
    };
    outln!(
        "{} sessions: {} examples ({} train, {} test), {} positive ({rate:.2} %){left_out}; {FEATURE_COUNT} features, label {} → {}",
        thousands(summary.sessions),
        thousands(summary.examples),
        thousands(summary.train),
        thousands(summary.test),
        thousands(summary.positives),
        args.label,
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
