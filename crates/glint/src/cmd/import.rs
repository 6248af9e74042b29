//! `glint import`: history files into the log, row by row, with line-numbered rejections.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use glint_event::datasets::{DatasetFormat, Importer, RowError, parse_map};
use glint_event::wire::Decoder;
use serde_json::json;

use crate::ConfigArg;
use crate::config::Config;
use crate::output::{bytes_bar, thousands};

/// Events handed to the log per append: big enough to amortise, small enough for memory.
const APPEND_BATCH: usize = 8_192;
/// Rejections printed in the text summary (all are in `--json`).
const REJECTIONS_SHOWN: usize = 20;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Data directory (created if missing).
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Input format: segment-jsonl, rees46, retailrocket, taobao, diginetica, otto, clickstream.
    #[arg(long, value_name = "FORMAT", value_parser = format_parser())]
    pub format: String,
    /// Map input event names to signals, e.g. `cart=cart_viewed,payment_done=order_completed`.
    /// Names not mapped go through the taxonomy; unknown names become custom signals.
    #[arg(long, value_name = "NAME=SIGNAL,...")]
    pub map: Option<String>,
    /// Stop at the first bad row with exit code 3 (rows before it stay imported; importing
    /// again after fixing the file adds only what is new).
    #[arg(long)]
    pub strict: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub config: ConfigArg,
    /// Files to import (for diginetica: the views file, then the purchases file).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

fn format_parser() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(DatasetFormat::ALL.iter().map(|(n, _)| *n))
}

/// A reader that counts bytes for the progress bar.
struct Counting<R> {
    inner: R,
    bar: indicatif::ProgressBar,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

#[derive(Default)]
struct Totals {
    rows: u64,
    stored: u64,
    duplicates: u64,
    suppressed: u64,
    signals: BTreeMap<String, u64>,
    rejected: Vec<(String, RowError)>,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let cfg = Config::load(args.config.config.as_deref())?;
    let format = DatasetFormat::from_name(&args.format).ok_or_else(|| anyhow!("unknown format {}", args.format))?;
    let map = match &args.map {
        Some(m) => parse_map(m)?,
        None => Vec::new(),
    };
    let decoder = Decoder::new(cfg.taxonomy()?, cfg.decode_options()?);
    let mut log = super::open_log(&args.data, cfg.log_options())?;
    let started = Instant::now();
    let mut totals = Totals::default();
    let mut stopped: Option<(String, RowError)> = None;
    for path in &args.files {
        let name = path.display().to_string();
        let file = File::open(path).with_context(|| format!("opening {name}"))?;
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let bar = bytes_bar(len, "importing");
        let reader = Counting { inner: file, bar: bar.clone() };
        // Two stages on two threads: parsing rows into events, and appending them to the log
        // (encode, de-duplicate, seal). A bounded channel keeps memory flat.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<glint_event::Event>>(4);
        // Emptied batches go back to the parser: a batch is megabytes, and allocating a fresh one
        // each time costs page faults for memory the allocator just returned to the kernel.
        let (recycle_tx, recycle_rx) = std::sync::mpsc::channel::<Vec<glint_event::Event>>();
        let strict = args.strict;
        let result = std::thread::scope(|scope| -> Result<Result<(), Option<RowError>>> {
            let decoder = &decoder;
            let map = &map;
            let name_ref = &name;
            let producer = std::thread::Builder::new().name("glint-parse".into()).spawn_scoped(scope, move || {
                let mut importer = Importer::new(format, decoder, map, super::now_ms());
                let mut batch = Vec::with_capacity(APPEND_BATCH);
                let mut rejected = Vec::new();
                let r = importer.run(reader, |r| {
                    match r {
                        Ok(e) => {
                            batch.push(e);
                            if batch.len() >= APPEND_BATCH {
                                let empty = recycle_rx.try_recv().unwrap_or_else(|_| Vec::with_capacity(APPEND_BATCH));
                                let full = std::mem::replace(&mut batch, empty);
                                if tx.send(full).is_err() {
                                    return Err(None);
                                }
                            }
                        }
                        Err(row) if strict => return Err(Some(row)),
                        Err(row) => rejected.push((name_ref.clone(), row)),
                    }
                    Ok(())
                });
                if !batch.is_empty() {
                    let _ = tx.send(batch);
                }
                (r, rejected)
            })?;
            for batch in rx {
                totals.rows += batch.len() as u64;
                let mut batch = batch;
                flush(&mut log, &mut batch, &mut totals).with_context(|| format!("storing events from {name}"))?;
                let _ = recycle_tx.send(batch);
            }
            let (r, rejected) = producer.join().map_err(|_| anyhow!("the import reader thread panicked"))?;
            totals.rejected.extend(rejected);
            r.with_context(|| format!("importing {name}"))
        })?;
        bar.finish_and_clear();
        if let Err(Some(row)) = result {
            stopped = Some((name.clone(), row));
            break;
        }
    }
    log.sync().context("making the import durable")?;
    let secs = started.elapsed().as_secs_f64();
    if args.json {
        let rejected: Vec<_> = totals.rejected.iter().map(|(f, r)| json!({"file": f, "line": r.line, "field": r.field, "error": r.error})).collect();
        let out = json!({
            "rows": totals.rows, "stored": totals.stored, "duplicates": totals.duplicates, "suppressed": totals.suppressed,
            "signals": totals.signals, "rejected": rejected, "seconds": secs,
            "stopped_at": stopped.as_ref().map(|(f, r)| json!({"file": f, "line": r.line, "field": r.field, "error": r.error})),
        });
        outln!("{out:#}");
    } else {
        for (signal, n) in &totals.signals {
            outln!("{signal:>28}  {:>12}", thousands(*n));
        }
        for (file, r) in totals.rejected.iter().take(REJECTIONS_SHOWN) {
            eprintln!("rejected {file}:{}: {}: {}", r.line, r.field, r.error);
        }
        if totals.rejected.len() > REJECTIONS_SHOWN {
            eprintln!("… and {} more rejected rows (see --json)", totals.rejected.len() - REJECTIONS_SHOWN);
        }
        outln!(
            "imported {} rows: {} stored, {} already present, {} suppressed, {} rejected, in {:.1}s ({:.0} rows/s)",
            thousands(totals.rows),
            thousands(totals.stored),
            thousands(totals.duplicates),
            thousands(totals.suppressed),
            thousands(totals.rejected.len() as u64),
            secs,
            totals.rows as f64 / secs.max(1e-9)
        );
    }
    if let Some((file, row)) = stopped {
        eprintln!("error: --strict: {file}:{}: {}: {}", row.line, row.field, row.error);
        return Ok(ExitCode::from(3));
    }
    Ok(ExitCode::SUCCESS)
}

fn flush(log: &mut glint_log::Log, batch: &mut Vec<glint_event::Event>, totals: &mut Totals) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let signals: Vec<String> = batch.iter().map(|e| e.signal.name().to_string()).collect();
    let out = log.append(batch.drain(..))?;
    for (status, signal) in out.statuses.iter().zip(signals) {
        if matches!(status, glint_log::AppendStatus::Stored(_)) {
            *totals.signals.entry(signal).or_insert(0) += 1;
        }
    }
    totals.stored += out.stored as u64;
    totals.duplicates += out.duplicates as u64;
    totals.suppressed += out.suppressed as u64;
    Ok(())
}
