//! `glint lift`: per moment, did the nudge lift its KPI? Reads a firing file (what `glint
//! replay` writes and `glint serve` keeps in DATA/firings.jsonl) and the data directory's
//! events and prints.
//!
//! Who counts, censoring, identity and CUPED are documented in `glint_analytics::lift`, the
//! one code path this command and the server's `GET /v1/lift` share.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use glint_analytics::lift::{self, MomentKpi, Report};
use serde_json::{Value, json};

use crate::config::Config;
use crate::{ConfigArg, MomentsArg};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Data directory (the events the KPIs are looked up in).
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// The firings, one JSON object per line (`glint replay --out`, or DATA/firings.jsonl).
    #[arg(long, value_name = "FILE")]
    pub firings: PathBuf,
    /// Print JSON: {"moments": [{"moment", "treatment": {"n", "conversions", "rate"},
    /// "holdout": {...}, "lift_abs": {"value", "ci_low", "ci_high"}, "lift_rel": {...},
    /// "p_value", "prob_better", "cs_low", "cs_high", "srm_p", "srm_flag", "censored",
    /// "guardrail", ...}], ...}.
    #[arg(long)]
    pub json: bool,
    /// Also report the absolute lift with CUPED variance reduction (`lift_abs_cuped`), using
    /// each shopper's events in the 7 days before the firing as the covariate.
    #[arg(long)]
    pub cuped: bool,
    #[command(flatten)]
    pub config: ConfigArg,
    #[command(flatten)]
    pub moments: MomentsArg,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let report = compute(&args.data, &args.firings, &args.config, &args.moments, args.cuped)?;
    if args.json {
        outln!("{:#}", report.to_json());
    } else {
        print_table(&report.moments);
        outln!("{}", report.summary());
    }
    Ok(ExitCode::SUCCESS)
}

/// The moments of the rules (`--config`, `--moments`) as lift sees them.
pub fn moment_kpis(rules: &glint_engine::Rules) -> Vec<MomentKpi> {
    rules
        .moments
        .iter()
        .map(|m| MomentKpi { name: m.name.clone(), kpi_signals: m.kpi_signals.clone(), kpi_window_ms: m.kpi_window_ms, holdout_share: f64::from(m.holdout_bp) / 10_000.0 })
        .collect()
}

/// Lift of every moment of the rules over the whole data directory. Shared with `glint report`.
pub fn compute(data: &Path, firings: &Path, config: &ConfigArg, moments: &MomentsArg, cuped: bool) -> Result<Report> {
    let cfg = Config::load(config.config.as_deref())?;
    let rules = cfg.rules(moments.moments.as_deref())?;
    let file = File::open(firings).with_context(|| format!("opening firings {}", firings.display()))?;
    let log = super::open_log_read(data)?;
    Ok(lift::compute(&log, BufReader::new(file), firings, &moment_kpis(&rules), lift::Options { cuped, seq_max: None })?)
}

fn print_table(reports: &[Value]) {
    let pct = |v: &Value| v.as_f64().map_or("—".to_string(), |x| format!("{:.2}%", 100.0 * x));
    let num = |v: &Value, d: usize| v.as_f64().map_or("—".to_string(), |x| format!("{x:.d$}"));
    outln!(
        "{:<22} {:>16} {:>16} {:>26} {:>10} {:>8} {:>8} {:>8} {:>8}",
        "moment", "treatment", "holdout", "lift (95% CI)", "rel", "p", "P(t>h)", "SRM p", "censored"
    );
    for r in reports {
        let arm = |a: &Value| format!("{}/{} {}", a["conversions"], a["n"], pct(&a["rate"]));
        let abs = &r["lift_abs"];
        let lift = if abs.is_null() { "—".to_string() } else { format!("{} [{}, {}]", pct(&abs["value"]), pct(&abs["ci_low"]), pct(&abs["ci_high"])) };
        let mut flags = String::new();
        if r["srm_flag"] == json!(true) {
            flags += " SRM!";
        }
        if r["guardrail"]["harmed"] == json!(true) {
            flags += " GUARDRAIL!";
        }
        outln!(
            "{:<22} {:>16} {:>16} {:>26} {:>10} {:>8} {:>8} {:>8} {:>8}{flags}",
            r["moment"].as_str().unwrap_or_default(),
            arm(&r["treatment"]),
            arm(&r["holdout"]),
            lift,
            pct(&r["lift_rel"]["value"]),
            num(&r["p_value"], 4),
            num(&r["prob_better"], 3),
            num(&r["srm_p"], 4),
            r["censored"],
        );
    }
}
