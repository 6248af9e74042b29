//! `glint bench`: measurements against peers, printed for BENCHMARKS.md.

use std::process::ExitCode;

use anyhow::Result;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> Result<ExitCode> {
    anyhow::bail!("benchmarks are not wired yet")
}
