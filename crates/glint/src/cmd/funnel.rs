//! `glint funnel`: shoppers per step, conversion, drop-off and time to convert, over a data
//! directory. The rules (ClickHouse's `windowFunnel` for `ordered` and `strict`) and both
//! scans (columnar, the default; rows, for breakdowns the columns do not hold) live in
//! `glint_analytics::funnel`; this file parses arguments and prints.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use glint_analytics::funnel::{Breakdown, FunnelBuilder, FunnelError, FunnelReport, FunnelSpec, IntentStages, Mode, SignalRole, Step, StepStats, parse_steps, scan_columns};
use glint_event::{Event, Taxonomy};
use glint_intent::model::ModelFile;
use glint_intent::{FEATURE_COUNT, SessionTracker};
use glint_log::RowsBecause;
use glint_event::time::parse_duration_ms;
use serde_json::{Value, json};

use crate::ConfigArg;
use crate::config::Config;
use crate::output::{spinner, thousands};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Data directory.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// The steps in order: signal names, comma-separated; a trailing `?` makes a step optional
    /// (`--mode ordered` or `any`). At most 64.
    #[arg(long, value_name = "S1,S2,...", value_parser = parse_step_list)]
    pub steps: StepList,
    /// How long a chain may take, from its first step to its last (inclusive), in whole
    /// seconds: 60s, 30m, 1h, 7d.
    #[arg(long, value_name = "DURATION", value_parser = parse_window)]
    pub window: u64,
    /// ordered: steps in order, other events between allowed (ClickHouse windowFunnel);
    /// strict: nothing else between (windowFunnel 'strict_order'); any: any order.
    #[arg(long, value_enum, default_value_t = ModeArg::Ordered)]
    pub mode: ModeArg,
    /// A signal that breaks a chain when it happens strictly between the chain's first and
    /// last step. Repeat, or separate with commas.
    #[arg(long, value_name = "SIGNAL", value_delimiter = ',')]
    pub exclude: Vec<String>,
    /// Split by what was true where each shopper's chain starts: a property of that event —
    /// device, country, referrer_class, os, browser, source, utm_source, utm_medium,
    /// utm_campaign — or the shopper's state there: funnel_stage (the deepest of the
    /// taxonomy's top/middle/bottom in the 30 minutes up to it), intent_stage (the intent
    /// model's curiosity/consideration/readiness for the session; needs --model). device,
    /// country, referrer_class and funnel_stage are read from the log's column files; the
    /// others from row records (slower).
    #[arg(long, value_name = "PROPERTY", value_parser = parse_by)]
    pub by: Option<Breakdown>,
    /// The intent model (`glint train`) that scores `--by intent_stage`; default: `[intent]
    /// model` of glint.toml.
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,
    /// Threads for the scan.
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: u16,
    /// Decode row records instead of reading the column files (slower; the reference the
    /// columnar scan is tested against).
    #[arg(long, hide = true)]
    pub rows: bool,
    #[command(flatten)]
    pub config: ConfigArg,
    /// Print JSON: {"steps": [{"signal", "users", "conversion_from_previous",
    /// "conversion_from_first", "drop_off", "median_seconds", "p90_seconds"}, ...], ...}.
    #[arg(long)]
    pub json: bool,
}

/// The parsed `--steps` (a newtype, so clap takes the list as one value).
#[derive(Clone, Debug)]
pub struct StepList(Vec<Step>);

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum ModeArg {
    Ordered,
    Strict,
    Any,
}

fn parse_step_list(s: &str) -> Result<StepList, String> {
    parse_steps(s).map(StepList).map_err(|e| e.to_string())
}

fn parse_by(s: &str) -> Result<Breakdown, String> {
    s.parse().map_err(|e: FunnelError| e.to_string())
}

/// A window in whole seconds: funnels count at ClickHouse's DateTime resolution, where a
/// sub-second window would silently mean something else.
fn parse_window(s: &str) -> Result<u64, String> {
    let ms = parse_duration_ms(s)?;
    if ms < 0 {
        return Err(format!("{s:?} is negative"));
    }
    if ms % 1000 != 0 {
        return Err(format!("{s:?} is not a whole number of seconds (funnels count in seconds)"));
    }
    Ok((ms / 1000).unsigned_abs())
}

/// The command-line argument an error is about, so the message can name it.
fn argument_of(err: &FunnelError) -> &'static str {
    match err {
        FunnelError::UnknownSignal { role: SignalRole::Exclude, .. } | FunnelError::ExcludedStep { .. } => "--exclude",
        FunnelError::NotInStrict { .. } => "--mode",
        FunnelError::UnknownProperty { .. } | FunnelError::NoIntentModel => "--by",
        FunnelError::Log(_) => "--data",
        _ => "--steps",
    }
}

pub fn run(args: Args) -> Result<ExitCode> {
    let mode = match args.mode {
        ModeArg::Ordered => Mode::Ordered,
        ModeArg::Strict => Mode::Strict,
        ModeArg::Any => Mode::Any,
    };
    let config = Config::load(args.config.config.as_deref())?;
    let taxonomy = config.taxonomy()?;
    let spec = FunnelSpec::new(args.steps.0, args.window, mode, args.exclude, args.by).map_err(|e| anyhow!("{}: {e}", argument_of(&e)))?.with_taxonomy(taxonomy.clone());
    // Checked before the scan: a missing or unusable model should not cost a read of the log.
    let intent = match args.by {
        Some(Breakdown::IntentStage) => {
            let path = config.intent_model(args.model.as_deref()).ok_or_else(|| anyhow!("--by: {}", FunnelError::NoIntentModel))?;
            let file = ModelFile::load(&path, &super::intent::schema_id()).with_context(|| format!("--model: loading {}", path.display()))?;
            Some(ModelStages::new(file, taxonomy))
        }
        _ => None,
    };
    let log = super::open_log_read(&args.data)?;
    let bar = spinner("funnel");
    let by_rows = args.rows || args.by.is_some_and(|b| !b.in_columns());
    let report = if by_rows {
        let mut b = FunnelBuilder::new(spec);
        if let Some(stages) = intent {
            b = b.with_intent(Box::new(stages));
        }
        for (i, e) in log.scan(..)?.enumerate() {
            b.add(&e.context("reading the log")?);
            if i % 1_000_000 == 0 {
                bar.set_message(format!("funnel: {} events", thousands(i as u64)));
            }
        }
        bar.finish_and_clear();
        b.finish().map_err(|e| match e {
            FunnelError::OutOfOrder { .. } => anyhow!("reading the log: {e}"),
            e => anyhow!("{}: {e}", argument_of(&e)),
        })?
    } else {
        let scan = scan_columns(&spec, &log, usize::from(args.threads)).map_err(|e| match e {
            FunnelError::Log(_) => anyhow!(e),
            e => anyhow!("{}: {e}", argument_of(&e)),
        })?;
        bar.finish_and_clear();
        let stale: Vec<&(u64, RowsBecause)> = scan.from_rows.iter().filter(|(_, why)| *why != RowsBecause::Active).collect();
        if !stale.is_empty() {
            // Said once, briefly: the answer is right either way, only slower.
            eprintln!("note: {} of {} sealed segments were read from rows (no usable column file), e.g. segment {}: {:?}", stale.len(), scan.segments, stale[0].0, stale[0].1);
        }
        scan.report
    };
    if args.json {
        outln!("{:#}", report_json(&report));
    } else {
        print_text(&report);
    }
    Ok(ExitCode::SUCCESS)
}

/// `--by intent_stage`: each shopper's session features, kept as the events pass (the same
/// accumulators `glint train` learns from), scored by the model only at chain starts.
struct ModelStages {
    tracker: SessionTracker,
    file: ModelFile,
    row: Vec<f64>,
}

impl ModelStages {
    fn new(file: ModelFile, taxonomy: Taxonomy) -> ModelStages {
        ModelStages { tracker: SessionTracker::new(taxonomy), file, row: vec![0.0; FEATURE_COUNT] }
    }
}

impl IntentStages for ModelStages {
    fn observe(&mut self, e: &Event) {
        self.tracker.push(e);
    }

    fn stage(&mut self, e: &Event) -> &'static str {
        let Some(features) = e.shopper_key().and_then(|k| self.tracker.current(k)) else { return "unknown" };
        features.fill(&mut self.row);
        let p = self.file.model.predict_proba(&self.row);
        self.file.stages.stage(p).as_str()
    }
}

fn steps_json(steps: &[StepStats]) -> Value {
    let steps: Vec<Value> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            json!({
                "step": i + 1,
                "signal": s.signal,
                "optional": s.optional,
                "users": s.users,
                "conversion_from_previous": s.conversion_from_previous,
                "conversion_from_first": s.conversion_from_first,
                "drop_off": s.drop_off,
                "median_seconds": s.median_seconds,
                "p90_seconds": s.p90_seconds,
            })
        })
        .collect();
    Value::Array(steps)
}

fn report_json(r: &FunnelReport) -> Value {
    let mut out = json!({
        "mode": r.mode.as_str(),
        "window_seconds": r.window_s,
        "entered": r.steps.first().map_or(0, |s| s.users),
        "converted": r.steps.last().map_or(0, |s| s.users),
        "steps": steps_json(&r.steps),
    });
    if let Some(by) = r.by {
        out["by"] = by.as_str().into();
        out["breakdown"] = r.breakdown.iter().map(|g| json!({"value": g.value, "steps": steps_json(&g.steps)})).collect();
    }
    out
}

/// 45 → "45s", 243 → "4m 03s", 3720 → "1h 02m", 183600 → "2d 03h", 3600 → "1h": two units
/// at most, the smaller left out when zero.
fn human(s: u64) -> String {
    let (big, big_unit, small, small_unit) = match s {
        0..60 => return format!("{s}s"),
        60..3600 => (s / 60, "m", s % 60, "s"),
        3600..86_400 => (s / 3600, "h", s % 3600 / 60, "m"),
        _ => (s / 86_400, "d", s % 86_400 / 3600, "h"),
    };
    if small == 0 { format!("{big}{big_unit}") } else { format!("{big}{big_unit} {small:02}{small_unit}") }
}

fn percent(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_string(), |x| format!("{:.1}%", x * 100.0))
}

fn print_table(steps: &[StepStats]) {
    let width = steps.iter().map(|s| s.signal.len() + usize::from(s.optional)).max().unwrap_or(6).max(6);
    outln!("{:>4}  {:<width$}  {:>11}  {:>9}  {:>10}  {:>10}  {:>8}  {:>8}", "step", "signal", "shoppers", "from prev", "from first", "drop-off", "median", "p90");
    for (i, s) in steps.iter().enumerate() {
        let name = if s.optional { format!("{}?", s.signal) } else { s.signal.clone() };
        let (drop, median, p90) = if i == 0 {
            ("-".to_string(), "-".to_string(), "-".to_string())
        } else {
            (thousands(s.drop_off), s.median_seconds.map_or_else(|| "-".into(), human), s.p90_seconds.map_or_else(|| "-".into(), human))
        };
        outln!(
            "{:>4}  {name:<width$}  {:>11}  {:>9}  {:>10}  {drop:>10}  {median:>8}  {p90:>8}",
            i + 1,
            thousands(s.users),
            percent(s.conversion_from_previous),
            percent(s.conversion_from_first)
        );
    }
}

fn summary(steps: &[StepStats]) -> String {
    let (Some(first), Some(last)) = (steps.first(), steps.last()) else { return String::new() };
    let converted = match last.conversion_from_first {
        Some(r) => format!("{} ({:.1}%)", thousands(last.users), r * 100.0),
        None => thousands(last.users),
    };
    format!("{} shoppers entered at {}; {converted} reached {}", thousands(first.users), first.signal, last.signal)
}

fn print_text(r: &FunnelReport) {
    print_table(&r.steps);
    outln!("{} ({} mode, window {})", summary(&r.steps), r.mode, human(r.window_s));
    if let Some(by) = r.by {
        for g in &r.breakdown {
            outln!();
            outln!("{} = {}", by.as_str(), g.value);
            print_table(&g.steps);
            outln!("{}", summary(&g.steps));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_whole_seconds() {
        assert_eq!(parse_window("1h"), Ok(3600));
        assert_eq!(parse_window("0"), Ok(0));
        assert!(parse_window("500ms").is_err_and(|e| e.contains("whole number of seconds")));
        assert!(parse_window("1x").is_err_and(|e| e.contains("unknown unit")));
    }

    #[test]
    fn durations_read_at_a_glance() {
        assert_eq!(human(45), "45s");
        assert_eq!(human(243), "4m 03s");
        assert_eq!(human(3720), "1h 02m");
        assert_eq!(human(183_600), "2d 03h");
        assert_eq!((human(3600), human(86_400), human(60)), ("1h".into(), "1d".into(), "1m".into()));
    }
}
