//! `glint outbox`: what the webhook outbox holds — pending, delivered and dead deliveries per
//! endpoint — the dead letters themselves, and re-driving them.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use glint_outbox::{Outbox, OutboxError};
use serde_json::json;

use crate::output::thousands;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Data directory (its outbox is DIR/outbox). Reading works while `glint serve` runs.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// List the dead letters: deliveries that ran out of attempts, with their last error.
    #[arg(long)]
    pub dead: bool,
    /// Make dead letters pending again (all of them, or only FIRE_IDs / --endpoint); the
    /// server must be stopped — it retries them when it starts.
    #[arg(long, conflicts_with = "dead")]
    pub redrive: bool,
    /// With --dead or --redrive: only this endpoint.
    #[arg(long, value_name = "NAME")]
    pub endpoint: Option<String>,
    /// With --redrive: only these firings.
    #[arg(value_name = "FIRE_ID", requires = "redrive")]
    pub fire_ids: Vec<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let dir = args.data.join("outbox");
    if !dir.exists() {
        anyhow::bail!("{} has no outbox: webhooks start flowing once `glint serve` runs with a [webhooks] endpoint", args.data.display());
    }
    if args.redrive {
        let n = match Outbox::redrive(&dir, args.endpoint.as_deref(), &args.fire_ids) {
            Err(OutboxError::Locked(_)) => anyhow::bail!("the server holds {}: stop it first (it re-reads the outbox at start)", dir.display()),
            other => other.with_context(|| format!("re-driving in {}", dir.display()))?,
        };
        if args.json {
            outln!("{}", json!({"redriven": n}));
        } else {
            outln!("outbox: {n} dead letter(s) made pending again; the next `glint serve` delivers them");
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.dead {
        let dead: Vec<_> = Outbox::dead_letters(&dir)?.into_iter().filter(|d| args.endpoint.as_ref().is_none_or(|e| *e == d.endpoint)).collect();
        if args.json {
            let rows: Vec<_> = dead
                .iter()
                .map(|d| json!({"fire_id": d.fire_id, "endpoint": d.endpoint, "user": d.user, "attempts": d.attempts, "status": d.status, "error": d.error, "enqueued_ms": d.enqueued_ms, "dead_ms": d.dead_ms}))
                .collect();
            outln!("{}", serde_json::to_string_pretty(&rows)?);
        } else {
            for d in &dead {
                outln!("{}  {:<12} {:<20} {} attempts  {}", d.fire_id, d.endpoint, d.user, d.attempts, d.error);
            }
            outln!("outbox: {} dead letter(s); `glint outbox --data {} --redrive` retries them", dead.len(), args.data.display());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let summary = Outbox::summary(&dir)?;
    if args.json {
        let rows: Vec<_> = summary
            .endpoints
            .iter()
            .map(|e| json!({"endpoint": e.endpoint, "pending": e.pending, "delivered": e.delivered, "dead": e.dead, "oldest_pending_age_ms": e.oldest_pending_age_ms}))
            .collect();
        outln!("{}", serde_json::to_string_pretty(&json!({"endpoints": rows}))?);
    } else {
        outln!("{:<16} {:>10} {:>10} {:>8}  oldest pending", "endpoint", "pending", "delivered", "dead");
        for e in &summary.endpoints {
            let age = e.oldest_pending_age_ms.map_or("-".to_string(), |ms| format!("{:.1}s", ms as f64 / 1000.0));
            outln!("{:<16} {:>10} {:>10} {:>8}  {age}", e.endpoint, thousands(e.pending), thousands(e.delivered), thousands(e.dead));
        }
        let (p, d, x) = summary.endpoints.iter().fold((0, 0, 0), |a, e| (a.0 + e.pending, a.1 + e.delivered, a.2 + e.dead));
        outln!("outbox: {} pending, {} delivered, {} dead across {} endpoint(s)", thousands(p), thousands(d), thousands(x), summary.endpoints.len());
    }
    Ok(ExitCode::SUCCESS)
}
