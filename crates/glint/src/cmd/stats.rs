//! `glint stats`: counts over a data directory.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use glint_analytics::stats::StatsBuilder;
use glint_event::time::format_rfc3339_ms;
use serde_json::json;

use crate::output::{spinner, thousands};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Data directory.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Print JSON: events, users, sessions, signals, first, last.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let log = super::open_log_read(&args.data)?;
    let bar = spinner("counting");
    let mut b = StatsBuilder::default();
    for (i, e) in log.scan(..)?.enumerate() {
        b.add(&e.context("reading the log")?);
        if i % 1_000_000 == 0 {
            bar.set_message(format!("counting: {} events", thousands(i as u64)));
        }
    }
    bar.finish_and_clear();
    let s = b.finish();
    let first = s.first_ms.map(format_rfc3339_ms);
    let last = s.last_ms.map(format_rfc3339_ms);
    if args.json {
        let out = json!({"events": s.events, "users": s.users, "sessions": s.sessions, "signals": s.signals, "first": first, "last": last});
        outln!("{out:#}");
        return Ok(ExitCode::SUCCESS);
    }
    let mut signals: Vec<(&String, &u64)> = s.signals.iter().collect();
    signals.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let width = signals.first().map_or(1, |(_, n)| **n).max(1);
    for (name, n) in signals {
        let bar = "█".repeat(((*n as f64 / width as f64) * 30.0).ceil() as usize);
        outln!("{name:>28} {:>12}  {bar}", thousands(*n));
    }
    outln!(
        "{} events, {} shoppers, {} sessions, from {} to {}",
        thousands(s.events),
        thousands(s.users),
        thousands(s.sessions),
        first.as_deref().unwrap_or("-"),
        last.as_deref().unwrap_or("-")
    );
    Ok(ExitCode::SUCCESS)
}
