//! `glint retain`: drop events older than an age.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};

use crate::ConfigArg;
use crate::config::{Config, parse_duration_ms};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Data directory (the server must be stopped; it applies retention itself hourly).
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Age past which events are dropped, e.g. 365d [default: [retention] max_age].
    #[arg(long, value_name = "AGE")]
    pub older_than: Option<String>,
    #[command(flatten)]
    pub config: ConfigArg,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let cfg = Config::load(args.config.config.as_deref())?;
    let age = parse_duration_ms(args.older_than.as_deref().unwrap_or(&cfg.retention.max_age))?;
    if age <= 0 {
        bail!("no age given: pass --older-than 365d or set [retention] max_age");
    }
    let mut log = super::open_log(&args.data, cfg.log_options())?;
    let r = log.apply_retention(super::now_ms() - age)?;
    outln!("retention removed {} events ({} segments deleted, {} rewritten)", r.events_removed, r.segments_deleted, r.segments_rewritten);
    Ok(ExitCode::SUCCESS)
}
