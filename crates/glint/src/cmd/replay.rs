//! `glint replay`: run the engine over stored events in event time and write every firing,
//! then print a backtest. Same events and rules, same bytes out.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use glint_engine::{Engine, Firing};
use glint_event::time::format_rfc3339_ms;
use serde_json::{Map, Value, json};

use crate::ConfigArg;
use crate::config::Config;
use crate::output::{spinner, thousands};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Data directory.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Where to write the firings, one JSON object per line.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Print the backtest as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub config: ConfigArg,
    #[command(flatten)]
    pub moments: crate::MomentsArg,
    #[command(flatten)]
    pub model: crate::ModelArg,
}

pub use glint_server::firing_json;

/// Run `engine` over the whole log in event time, writing each firing as one JSON line to
/// `out`. `on_event` sees every event and `on_firing` every firing. The end of the data is the
/// end of time: a timer due exactly at the last event fires, later ones do not. Returns the
/// number of events.
pub fn drive(
    log: &glint_log::Log,
    engine: &mut Engine,
    out: &mut impl Write,
    mut on_event: impl FnMut(&glint_event::Event, u64),
    mut on_firing: impl FnMut(&Firing),
) -> Result<u64> {
    let mut record = |f: Firing, out: &mut dyn Write| -> Result<()> {
        serde_json::to_writer(&mut *out, &firing_json(&f))?;
        out.write_all(b"\n")?;
        on_firing(&f);
        Ok(())
    };
    let mut n_events = 0u64;
    let mut last_time = None;
    for e in log.scan(..)? {
        let e = e.context("reading the log")?;
        last_time = Some(e.time_ms);
        n_events += 1;
        on_event(&e, n_events);
        for f in engine.apply(&e) {
            record(f, out)?;
        }
    }
    if let Some(t) = last_time {
        for f in engine.advance_to(t) {
            record(f, out)?;
        }
    }
    out.flush()?;
    Ok(n_events)
}

/// Per-moment totals for the backtest.
#[derive(Default)]
struct MomentTotals {
    per_day: BTreeMap<String, u64>,
    outcomes: BTreeMap<&'static str, u64>,
    reached: BTreeSet<String>,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let cfg = Config::load(args.config.config.as_deref())?;
    let log = super::open_log_read(&args.data)?;
    let model_path = cfg.intent_model(args.model.model.as_deref());
    let mut engine_cfg = cfg.engine_config(args.moments.moments.as_deref())?;
    engine_cfg.intent_features = model_path.is_some();
    let mut engine = Engine::new(engine_cfg, cfg.taxonomy()?);
    if let Some(path) = &model_path {
        engine.set_model(Some(std::sync::Arc::new(glint_server::load_intent_model(path).map_err(anyhow::Error::msg)?)));
    }
    let tmp = args.out.with_extension("partial");
    let mut w = BufWriter::new(File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?);
    let mut totals: BTreeMap<String, MomentTotals> = BTreeMap::new();
    let mut by_hour: HashMap<(String, i64), BTreeSet<String>> = HashMap::new();
    let mut n_firings = 0u64;
    let bar = spinner("replaying");
    let on_event = |_: &glint_event::Event, n: u64| {
        if n.is_multiple_of(1_000_000) {
            bar.set_message(format!("replaying: {} events", thousands(n)));
        }
    };
    let on_firing = |f: &Firing| {
        n_firings += 1;
        let t = totals.entry(f.moment.clone()).or_default();
        *t.per_day.entry(format_rfc3339_ms(f.at_ms)[..10].to_string()).or_insert(0) += 1;
        *t.outcomes.entry(f.outcome.as_str()).or_insert(0) += 1;
        if matches!(f.outcome, glint_engine::Outcome::Sent) {
            t.reached.insert(f.user.clone());
        }
        by_hour.entry((f.user.clone(), f.at_ms.div_euclid(3_600_000))).or_default().insert(f.moment.clone());
    };
    let n_events = drive(&log, &mut engine, &mut w, on_event, on_firing)?;
    w.flush()?;
    drop(w);
    std::fs::rename(&tmp, &args.out).with_context(|| format!("writing {}", args.out.display()))?;
    bar.finish_and_clear();
    let collisions = by_hour.values().filter(|m| m.len() > 1).count();
    if args.json {
        let moments: Map<String, Value> = totals
            .iter()
            .map(|(m, t)| (m.clone(), json!({"firings_per_day": t.per_day, "outcomes": t.outcomes, "shoppers_reached": t.reached.len()})))
            .collect();
        let drift = engine.drift().map(|d| super::intent::drift_json(&d));
        let model = engine.model().map(|m| m.id().to_string());
        outln!("{:#}", json!({"events": n_events, "firings": n_firings, "moments": moments, "collisions": collisions, "pending_timers": engine.pending_timers(), "intent_model": model, "drift": drift}));
        return Ok(ExitCode::SUCCESS);
    }
    for (moment, t) in &totals {
        let outcomes: Vec<String> = t.outcomes.iter().map(|(o, n)| format!("{o} {}", thousands(*n))).collect();
        outln!("{moment}: {} ; {} shoppers reached", outcomes.join(", "), thousands(t.reached.len() as u64));
        for (day, n) in &t.per_day {
            outln!("  {day} {:>8}  {}", thousands(*n), "█".repeat((*n as f64).log2().max(0.0).ceil() as usize));
        }
    }
    outln!(
        "replayed {} events: {} firings to {} ({} shopper-hours with more than one moment; {} timers still pending at the end of the data)",
        thousands(n_events),
        thousands(n_firings),
        args.out.display(),
        thousands(collisions as u64),
        thousands(engine.pending_timers() as u64)
    );
    if let (Some(m), Some(d)) = (engine.model(), engine.drift()) {
        outln!("intent: scored with {}; {}", m.id(), super::intent::drift_line(&d));
    }
    Ok(ExitCode::SUCCESS)
}
