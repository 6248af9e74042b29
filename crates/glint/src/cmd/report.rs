//! `glint report`: one self-contained HTML page of charts over a data directory (and, when
//! given, a firing file and an intent model). This file computes the figures — with the
//! same library code as `glint funnel`, `glint lift` and `glint eval` — and `glint_report`
//! draws them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use glint_analytics::funnel::{FunnelBuilder, FunnelSpec, Mode, parse_steps};
use glint_event::time::format_rfc3339_s;
use glint_intent::model::metrics;
use glint_report::{Calibration, CalibrationBin, Figures, Funnel, FunnelStep, HourCount, MomentLift, MomentOutcomes, SignalCount};
use serde_json::Value;

use crate::output::thousands;
use crate::{ConfigArg, MomentsArg};

/// The report's funnel: the shop's main path, as `glint funnel --steps … --window 1h`.
pub const FUNNEL_STEPS: &str = "product_viewed,product_added,checkout_started,order_completed";
/// Its window, in seconds.
pub const FUNNEL_WINDOW_S: u64 = 3600;
/// Signals shown in the ranking.
const TOP_SIGNALS: usize = 20;
/// At most this many bars in "events per hour"; longer data is bucketed by several hours.
const MAX_TIME_BARS: i64 = 2000;
/// Bins of the calibration curve (equal width, as the ECE of `glint eval`).
const CALIBRATION_BINS: usize = metrics::ECE_BINS;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Data directory.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// A firing file (`glint replay --out`, or DATA/firings.jsonl): adds firing outcomes and
    /// each moment's lift.
    #[arg(long, value_name = "FILE")]
    pub firings: Option<PathBuf>,
    /// An intent model (`glint train`): adds its calibration and AUC by prefix length, judged
    /// on the latest 20 % of sessions.
    #[arg(long, value_name = "MODEL")]
    pub model: Option<PathBuf>,
    /// Where to write the HTML page.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    #[command(flatten)]
    pub config: ConfigArg,
    #[command(flatten)]
    pub moments: MomentsArg,
}

pub fn run(args: Args) -> Result<ExitCode> {
    write(&args)?;
    outln!("report: {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}

/// Compute the figures and write the page (also the end of `glint demo`).
pub fn write(args: &Args) -> Result<()> {
    let figures = compute(args)?;
    let html = glint_report::render(&figures)?;
    // Written beside the target and renamed, so a reader never sees half a page.
    let tmp = args.out.with_extension("html.tmp");
    std::fs::write(&tmp, html).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &args.out).with_context(|| format!("renaming {} to {}", tmp.display(), args.out.display()))?;
    Ok(())
}

/// Per-signal tallies of the scan.
#[derive(Default)]
struct SignalTally {
    events: u64,
    shoppers: HashSet<u64>,
}

fn compute(args: &Args) -> Result<Figures> {
    let steps = parse_steps(FUNNEL_STEPS).map_err(|e| anyhow!("the report's funnel: {e}"))?;
    let spec = FunnelSpec::new(steps, FUNNEL_WINDOW_S, Mode::Ordered, Vec::new(), None).map_err(|e| anyhow!("the report's funnel: {e}"))?;
    let mut funnel = FunnelBuilder::new(spec);
    let log = super::open_log_read(&args.data)?;
    let mut hours: BTreeMap<i64, u64> = BTreeMap::new();
    let mut signals: HashMap<String, SignalTally> = HashMap::new();
    let mut shoppers: HashSet<u64> = HashSet::new();
    let mut events = 0u64;
    let (mut first, mut last) = (i64::MAX, i64::MIN);
    for e in log.scan(..)? {
        let e = e.context("reading the log")?;
        funnel.add(&e);
        events += 1;
        first = first.min(e.time_ms);
        last = last.max(e.time_ms);
        *hours.entry(e.time_ms.div_euclid(3_600_000)).or_insert(0) += 1;
        let tally = signals.entry(e.signal.name().to_string()).or_default();
        tally.events += 1;
        if let Some(key) = e.shopper_key() {
            let h = xxhash_rust::xxh3::xxh3_64(key.as_bytes());
            tally.shoppers.insert(h);
            shoppers.insert(h);
        }
    }
    let funnel = funnel.finish().map_err(|e| anyhow!("the report's funnel: {e}"))?;

    let mut summary = vec![("events".to_string(), thousands(events)), ("shoppers".to_string(), thousands(shoppers.len() as u64))];
    if events > 0 {
        summary.push(("from".to_string(), format_rfc3339_s(first)));
        summary.push(("to".to_string(), format_rfc3339_s(last)));
    }

    let mut ranked: Vec<SignalCount> = signals.into_iter().map(|(signal, t)| SignalCount { signal, events: t.events, shoppers: t.shoppers.len() as u64 }).collect();
    ranked.sort_by(|a, b| b.events.cmp(&a.events).then_with(|| a.signal.cmp(&b.signal)));
    ranked.truncate(TOP_SIGNALS);

    let (outcomes, lift) = match &args.firings {
        Some(path) => {
            let outcomes = read_outcomes(path)?;
            let total: u64 = outcomes.iter().flat_map(|m| m.outcomes.iter().map(|(_, c)| c)).sum();
            summary.push(("firings".to_string(), thousands(total)));
            let reports = super::lift::compute(&args.data, path, &args.config, &args.moments, false)?.moments;
            (Some(outcomes), Some(reports.iter().map(lift_of).collect()))
        }
        None => (None, None),
    };

    let calibration = match &args.model {
        Some(model) => Some(calibration(&args.data, &args.config, model)?),
        None => None,
    };

    let steps: Vec<FunnelStep> = funnel
        .steps
        .iter()
        .map(|s| FunnelStep {
            signal: s.signal.clone(),
            users: s.users,
            drop_off: s.drop_off,
            conversion_from_previous: s.conversion_from_previous,
            median_seconds: s.median_seconds,
            p90_seconds: s.p90_seconds,
        })
        .collect();
    let title = format!("Glint report — {}", args.data.display());
    Ok(Figures {
        title,
        summary,
        funnel: (steps.first().is_some_and(|s| s.users > 0)).then_some(Funnel { window_s: funnel.window_s, steps }),
        events_per_hour: time_bars(&hours),
        signals: ranked,
        outcomes,
        lift,
        calibration,
    })
}

/// Hour buckets with the empty hours filled in, merged into several-hour bars when the data
/// spans more than [`MAX_TIME_BARS`] hours.
fn time_bars(hours: &BTreeMap<i64, u64>) -> Vec<HourCount> {
    let (Some((&lo, _)), Some((&hi, _))) = (hours.first_key_value(), hours.last_key_value()) else { return Vec::new() };
    let span = hi - lo + 1;
    let per_bar = (span + MAX_TIME_BARS - 1) / MAX_TIME_BARS;
    let mut bars = Vec::new();
    let mut start = lo;
    while start <= hi {
        let events: u64 = hours.range(start..start + per_bar).map(|(_, n)| n).sum();
        let stamp = format_rfc3339_s(start.saturating_mul(3_600_000));
        // "2026-11-24T13:00:00Z" → "2026-11-24 13h".
        let hour = match (stamp.get(..10), stamp.get(11..13)) {
            (Some(day), Some(h)) => format!("{day} {h}h"),
            _ => stamp,
        };
        bars.push(HourCount { hour, events });
        start += per_bar;
    }
    bars
}

/// Order of outcomes in the stacked bars: nudged, held out, then the reasons for neither.
fn outcome_rank(o: &str) -> (usize, &str) {
    let known = ["sent", "holdout", "capped", "quiet_hours", "no_consent", "budget"];
    (known.iter().position(|k| *k == o).unwrap_or(known.len()), o)
}

/// Firings per moment and outcome, from a firing file.
fn read_outcomes(path: &Path) -> Result<Vec<MomentOutcomes>> {
    let file = File::open(path).with_context(|| format!("opening firings {}", path.display()))?;
    let mut counts: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for (idx, line) in BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let at_line = |what: String| anyhow!("{}:{}: {what}", path.display(), idx + 1);
        let v: Value = serde_json::from_str(&line).map_err(|e| at_line(format!("not JSON: {e}")))?;
        let field = |name: &str| v.get(name).and_then(Value::as_str).ok_or_else(|| at_line(format!("missing string field {name:?}")));
        *counts.entry(field("moment")?.to_string()).or_default().entry(field("outcome")?.to_string()).or_insert(0) += 1;
    }
    Ok(counts
        .into_iter()
        .map(|(moment, by)| {
            let mut outcomes: Vec<(String, u64)> = by.into_iter().collect();
            outcomes.sort_by(|a, b| outcome_rank(&a.0).cmp(&outcome_rank(&b.0)));
            MomentOutcomes { moment, outcomes }
        })
        .collect())
}

/// One moment of `glint lift --json` as the forest plot's row.
fn lift_of(r: &Value) -> MomentLift {
    let abs = &r["lift_abs"];
    MomentLift {
        moment: r["moment"].as_str().unwrap_or_default().to_string(),
        treatment_n: r["treatment"]["n"].as_u64().unwrap_or(0),
        holdout_n: r["holdout"]["n"].as_u64().unwrap_or(0),
        lift_abs: abs["value"].as_f64(),
        ci_low: abs["ci_low"].as_f64(),
        ci_high: abs["ci_high"].as_f64(),
        p_value: r["p_value"].as_f64(),
    }
}

/// The model's calibration curve (equal-width bins of the predicted probability) and AUCs.
fn calibration(data: &Path, config: &ConfigArg, model: &Path) -> Result<Calibration> {
    let (probs, labels, auc_by_prefix) = super::intent::judge_model(data, config, model)?;
    let mut n = [0u64; CALIBRATION_BINS];
    let mut sum_p = [0.0; CALIBRATION_BINS];
    let mut sum_y = [0.0; CALIBRATION_BINS];
    for (&p, &y) in probs.iter().zip(&labels) {
        if !p.is_finite() {
            continue;
        }
        let p = p.clamp(0.0, 1.0);
        let b = ((p * CALIBRATION_BINS as f64) as usize).min(CALIBRATION_BINS - 1);
        n[b] += 1;
        sum_p[b] += p;
        sum_y[b] += f64::from(u8::from(y));
    }
    let bins = (0..CALIBRATION_BINS)
        .filter(|&b| n[b] > 0)
        .map(|b| CalibrationBin { predicted: sum_p[b] / n[b] as f64, observed: sum_y[b] / n[b] as f64, n: n[b] })
        .collect();
    Ok(Calibration { bins, auc: metrics::auc(&probs, &labels), auc_by_prefix, sessions: labels.len() as u64 })
}
