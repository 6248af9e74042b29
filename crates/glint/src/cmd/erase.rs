//! `glint erase`: remove a shopper from every store Glint keeps.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use serde_json::json;

use crate::ConfigArg;
use crate::config::Config;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Data directory. The server must be stopped (or use DELETE /v1/users/{id}).
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// The shopper's user id or anonymous id; ids linked by identify/alias go too.
    #[arg(value_name = "USER")]
    pub user: String,
    /// Print the receipt as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub config: ConfigArg,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let cfg = Config::load(args.config.config.as_deref())?;
    let mut log = super::open_log(&args.data, cfg.log_options())
        .context("erase needs the data directory to itself: stop `glint serve` or call DELETE /v1/users/{id} with the admin key")?;
    let e = log.erase(&args.user).context("erasing")?;
    // Beyond the log: the outbox's deliveries, and the engine checkpoint (rebuilt from the
    // erased log at the next start).
    let outbox = args.data.join("outbox");
    let deliveries_removed = if outbox.exists() { glint_outbox::Outbox::erase(&outbox, &e.ids).context("erasing from the webhook outbox")? } else { 0 };
    let checkpoint = args.data.join("engine").join("checkpoint");
    for path in [checkpoint.clone(), checkpoint.with_extension("old")] {
        match std::fs::remove_file(&path) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err).with_context(|| format!("removing {}", path.display())),
            _ => {}
        }
    }
    if args.json {
        outln!(
            "{:#}",
            json!({"events_removed": e.events_removed, "segments_rewritten": e.segments_rewritten, "linked_ids": e.linked_ids, "deliveries_removed": deliveries_removed, "receipt": e.receipt})
        );
    } else {
        outln!(
            "erased {} events ({} linked ids, {} segments rewritten), {} webhook deliveries and the engine checkpoint; suppressed for future ingestion; receipt {}",
            e.events_removed,
            e.linked_ids,
            e.segments_rewritten,
            deliveries_removed,
            e.receipt.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
