//! `glint moments`: print the shipped moments.toml, or check a rule file and list what it
//! defines.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use glint_engine::{Action, MomentSpec, Trigger};
use serde_json::json;

use crate::ConfigArg;
use crate::config::Config;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Check this moments.toml (with the webhook endpoints and taxonomy of --config) and list
    /// its moments, instead of printing the shipped file.
    #[arg(long, value_name = "FILE")]
    pub check: Option<PathBuf>,
    /// With --check: print the moments as JSON.
    #[arg(long, requires = "check")]
    pub json: bool,
    #[command(flatten)]
    pub config: ConfigArg,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let Some(path) = args.check else {
        out!("{}", glint_engine::DEFAULT_MOMENTS_TOML);
        return Ok(ExitCode::SUCCESS);
    };
    let cfg = Config::load(args.config.config.as_deref())?;
    let rules = cfg.rules(Some(&path))?;
    if args.json {
        let moments: Vec<_> = rules.moments.iter().map(moment_json).collect();
        let budget = rules.budget.map(|b| json!({"max": b.max, "window_ms": b.window_ms}));
        outln!("{}", serde_json::to_string_pretty(&json!({"file": path.display().to_string(), "budget": budget, "moments": moments}))?);
    } else {
        outln!("{:<22} {:<10} {:<9} {:>7} {:<16} {:>4}  action", "moment", "trigger", "cap", "holdout", "consent", "prio");
        for m in &rules.moments {
            let cap = m.cap_ms.map_or("none".to_string(), |ms| format!("{}/{}", m.cap_count, human_ms(ms)));
            outln!(
                "{:<22} {:<10} {:<9} {:>6.1}% {:<16} {:>4}  {}",
                m.name,
                trigger_kind(&m.trigger),
                cap,
                f64::from(m.holdout_bp) / 100.0,
                m.consent_purpose,
                m.priority,
                action_text(&m.action)
            );
        }
        let budget = rules.budget.map_or("no contact budget".to_string(), |b| format!("contact budget {} per {}", b.max, human_ms(b.window_ms)));
        outln!("\nmoments: {} valid: {} moments, {budget}", path.display(), rules.moments.len());
    }
    Ok(ExitCode::SUCCESS)
}

fn trigger_kind(t: &Trigger) -> &'static str {
    match t {
        Trigger::Signal { .. } => "signal",
        Trigger::Absence { .. } => "absence",
        Trigger::Crossing { .. } => "crossing",
        Trigger::BackInStock => "restock",
        Trigger::Popular { .. } => "popular",
        Trigger::ProfileDate { .. } => "date",
        Trigger::Calendar { .. } => "calendar",
        Trigger::Intent { .. } => "intent",
    }
}

fn action_text(a: &Action) -> String {
    match a {
        Action::OnSite => "onsite".into(),
        Action::Webhook { endpoint, .. } => format!("webhook {endpoint}"),
    }
}

fn human_ms(ms: i64) -> String {
    // Days only from two on: "24h" reads better than "1d" for a cap.
    for (unit, size) in [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)] {
        if ms >= size && ms % size == 0 && (unit != "d" || ms >= 2 * size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

fn moment_json(m: &MomentSpec) -> serde_json::Value {
    json!({
        "name": m.name,
        "description": m.description,
        "trigger": trigger_kind(&m.trigger),
        "condition": m.condition.as_ref().map(|c| c.source()),
        "cap": m.cap_ms.map(|ms| json!({"count": m.cap_count, "window_ms": ms})),
        "holdout": f64::from(m.holdout_bp) / 10_000.0,
        "consent": m.consent_purpose,
        "priority": m.priority,
        "budget": m.budgeted,
        "quiet_hours": m.quiet_hours.map(|q| json!({"from_min": q.from_min, "to_min": q.to_min, "defer": q.defer})),
        "kpi": {"signals": m.kpi_signals.iter().map(|s| s.name().to_string()).collect::<Vec<_>>(), "window_ms": m.kpi_window_ms},
        "action": action_text(&m.action),
        "version": m.version,
    })
}
