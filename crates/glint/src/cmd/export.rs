//! `glint export`: canonical events as JSON lines or Parquet.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use glint_analytics::export::{write_jsonl, write_parquet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Jsonl,
    Parquet,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Data directory.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Output format [default: from the --out extension, else jsonl].
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Output file [default: standard output].
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let format = args.format.unwrap_or(match args.out.as_ref().and_then(|p| p.extension()).and_then(|e| e.to_str()) {
        Some("parquet") => Format::Parquet,
        _ => Format::Jsonl,
    });
    let log = super::open_log_read(&args.data)?;
    let events = log.scan(..)?;
    let n = match (&args.out, format) {
        (Some(path), f) => {
            let tmp = path.with_extension("partial");
            let file = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
            let n = match f {
                Format::Jsonl => write_jsonl(events, file)?,
                Format::Parquet => write_parquet(events, file)?,
            };
            std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
            n
        }
        (None, Format::Jsonl) => write_jsonl(events, std::io::stdout().lock())?,
        (None, Format::Parquet) => {
            if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                bail!("refusing to write Parquet to a terminal: pass --out FILE.parquet or redirect");
            }
            let mut buf = Vec::new();
            let n = write_parquet(events, &mut buf)?;
            std::io::stdout().lock().write_all(&buf)?;
            n
        }
    };
    eprintln!("exported {} events{}", crate::output::thousands(n), args.out.map(|p| format!(" to {}", p.display())).unwrap_or_default());
    Ok(ExitCode::SUCCESS)
}
