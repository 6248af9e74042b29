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
    if args.json {
        println!("{:#}", json!({"events_removed": e.events_removed, "segments_rewritten": e.segments_rewritten, "linked_ids": e.linked_ids, "receipt": e.receipt}));
    } else {
        println!(
            "erased {} events ({} linked ids, {} segments rewritten); suppressed for future ingestion; receipt {}",
            e.events_removed,
            e.linked_ids,
            e.segments_rewritten,
            e.receipt.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
