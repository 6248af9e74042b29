//! One module per subcommand. Each has an `Args` (clap) and a `run` returning the exit code.

pub mod bench;
pub mod bench_intent;
pub mod bench_live;
pub mod demo;
pub mod erase;
pub mod export;
pub mod features;
pub mod funnel;
pub mod import;
pub mod intent;
pub mod lift;
pub mod moments;
pub mod outbox;
pub mod replay;
pub mod report;
pub mod retain;
pub mod serve;
pub mod signals;
pub mod simulate;
pub mod stats;

use std::path::Path;

use anyhow::{Context, Result};

/// Open a data directory's log for writing, saying what recovery did.
pub fn open_log(data: &Path, options: glint_log::LogOptions) -> Result<glint_log::Log> {
    let log = glint_log::Log::open(data, options).with_context(|| format!("opening the event log in {}", data.display()))?;
    let r = log.recovery();
    if r.torn_bytes_cut > 0 || r.leftovers_removed > 0 {
        eprintln!(
            "recovered {}: cut {} bytes of an unacknowledged torn tail, removed {} leftover file(s)",
            data.display(),
            r.torn_bytes_cut,
            r.leftovers_removed
        );
    }
    Ok(log)
}

/// Open a data directory's log for reading.
pub fn open_log_read(data: &Path) -> Result<glint_log::Log> {
    glint_log::Log::open_read_only(data).with_context(|| format!("reading the event log in {}", data.display()))
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
