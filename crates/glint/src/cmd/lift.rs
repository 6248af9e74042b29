//! `glint lift`: per moment, did the nudge lift its KPI? Reads a firing file (what `glint
//! replay` writes and `glint serve` keeps in DATA/firings.jsonl) and the data directory's
//! events; the statistics live in `glint_stats`, this file decides who counts and prints.
//!
//! Who counts, per moment:
//! - Only firings that really would have nudged: outcome `sent` (treatment) and `holdout`
//!   (holdout). Capped, quiet-hours, no-consent… firings nudged nobody in either arm.
//! - Each shopper once: their FIRST such firing of the moment. Later firings of a nudged
//!   shopper are themselves affected by the nudge (and the holdout hash is per shopper and
//!   moment, so a shopper never switches arm); counting them would weight loyal shoppers and
//!   break the independence the statistics assume.
//! - Converted: one of the moment's `kpi_signals` from that shopper strictly after the firing
//!   and at most `kpi_window_ms` after it. Strictly, because the event that triggered the
//!   firing (say the order that fires `referral_nudge`) must not count as its own success.
//! - Censored: a firing whose window runs past the last event time in the data. Its outcome
//!   is unknown, so it is reported but is neither a success nor a failure, and not in n.
//!   Censoring depends on time alone, not on the arm, so it does not bias the comparison.
//!
//! Shopper identity: firings name the engine's canonical id (user id, else anonymous id,
//! after identify/alias merges). Events are keyed the same way here, folding an anonymous id
//! into the user id of any event carrying both and an alias's previous id into its user id.
//! This approximates the engine's merge (it ignores merge order and chains past one hop
//! resolve only as far as the events link them), so a conversion made anonymously by a
//! shopper the engine merged some other way may be missed — equally in both arms.
//!
//! `--cuped` adds CUPED (Deng et al. 2013): the covariate is the shopper's number of events in
//! the 7 days before the firing — fixed before assignment, so the estimate stays unbiased and
//! its interval narrows as far as earlier activity predicts conversion.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use glint_event::time::{format_rfc3339_ms, parse_timestamp_ms};
use glint_event::{Builtin, Signal};
use glint_stats::{Counts, Interval, SRM_P_FLAG, Summary, Z_95};
use serde_json::{Value, json};

use crate::config::Config;
use crate::{ConfigArg, MomentsArg};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Data directory (the events the KPIs are looked up in).
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// The firings, one JSON object per line (`glint replay --out`, or DATA/firings.jsonl).
    #[arg(long, value_name = "FILE")]
    pub firings: PathBuf,
    /// Print JSON: {"moments": [{"moment", "treatment": {"n", "conversions", "rate"},
    /// "holdout": {...}, "lift_abs": {"value", "ci_low", "ci_high"}, "lift_rel": {...},
    /// "p_value", "prob_better", "cs_low", "cs_high", "srm_p", "srm_flag", "censored",
    /// "guardrail", ...}], ...}.
    #[arg(long)]
    pub json: bool,
    /// Also report the absolute lift with CUPED variance reduction (`lift_abs_cuped`), using
    /// each shopper's events in the 7 days before the firing as the covariate.
    #[arg(long)]
    pub cuped: bool,
    #[command(flatten)]
    pub config: ConfigArg,
    #[command(flatten)]
    pub moments: MomentsArg,
}

/// CUPED's covariate window: activity this long before the firing.
const CUPED_WINDOW_MS: i64 = 7 * 86_400_000;

/// Marks an event kept only for CUPED's activity count.
const ANY_SIGNAL: usize = usize::MAX;

/// Signals whose significant rise in treatment flags a moment as harmful.
const GUARDRAILS: [Builtin; 2] = [Builtin::EmailUnsubscribed, Builtin::OrderRefunded];

/// Significance level of the guardrail check: a two-sided 5 % test, flagged only when the
/// treatment rate is the higher one. Deliberately not corrected for the number of moments:
/// a false alarm costs a look, a missed harm costs customers.
const GUARDRAIL_P: f64 = 0.05;

/// One shopper's first counted firing of a moment.
#[derive(Clone, Copy, Debug)]
struct First {
    at_ms: i64,
    treatment: bool,
}

/// One event that matters here: a KPI, guardrail or order signal, with order revenue.
#[derive(Clone, Copy, Debug)]
struct Hit {
    time_ms: i64,
    signal_idx: usize,
    revenue: f64,
}

/// Each shopper's kept events, sorted by time.
type Hits = HashMap<String, Vec<Hit>>;

/// Per moment and arm: counts of uncensored shoppers and their outcomes.
#[derive(Default)]
struct Arm {
    kpi: Counts,
    censored: u64,
    guard: [Counts; GUARDRAILS.len()],
    revenue: Vec<f64>,
    /// With CUPED: each shopper's conversion (0/1) and pre-firing activity, paired.
    converted: Vec<f64>,
    activity: Vec<f64>,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let (reports, data_end) = compute(&args.data, &args.firings, &args.config, &args.moments, args.cuped)?;
    let summary = summary_line(&reports);
    if args.json {
        let out = json!({
            "data_end": data_end.map(format_rfc3339_ms),
            "moments": reports,
            "summary": summary,
        });
        outln!("{out:#}");
    } else {
        print_table(&reports);
        outln!("{summary}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Every moment of the rules, as the JSON objects `--json` prints under "moments", and the
/// data's last event time. Shared with `glint report`.
pub fn compute(data: &std::path::Path, firings: &std::path::Path, config: &ConfigArg, moments: &MomentsArg, cuped: bool) -> Result<(Vec<Value>, Option<i64>)> {
    let cfg = Config::load(config.config.as_deref())?;
    let rules = cfg.rules(moments.moments.as_deref())?;
    let firsts = read_firings(firings)?;
    for moment in firsts.keys() {
        if !rules.moments.iter().any(|m| &m.name == moment) {
            bail!("{}: moment {moment:?} is not in the rules; pass the moments.toml the firings were made with (--moments)", firings.display());
        }
    }

    // The signals worth keeping from the scan, by index.
    let mut signals: Vec<Signal> = GUARDRAILS.iter().map(|b| Signal::Builtin(*b)).collect();
    let order_idx = signals.len();
    signals.push(Signal::Builtin(Builtin::OrderCompleted));
    for m in &rules.moments {
        for s in &m.kpi_signals {
            if !signals.contains(s) {
                signals.push(s.clone());
            }
        }
    }
    let (hits, data_end) = scan_hits(data, &signals, cuped)?;

    // Every moment of the rules is reported, with empty arms when it never fired, so a
    // reader sees the silent ones too.
    let no_firings = BTreeMap::new();
    let mut reports = Vec::new();
    for spec in &rules.moments {
        let shoppers = firsts.get(&spec.name).unwrap_or(&no_firings);
        let kpi: Vec<usize> = spec.kpi_signals.iter().filter_map(|s| signals.iter().position(|k| k == s)).collect();
        let (mut t, mut h) = (Arm::default(), Arm::default());
        for (user, first) in shoppers {
            let arm = if first.treatment { &mut t } else { &mut h };
            let end = first.at_ms.saturating_add(spec.kpi_window_ms);
            if data_end.is_none_or(|d| end > d) {
                arm.censored += 1;
                continue;
            }
            // Events of the shopper in (at, at + window].
            let all = hits.get(user.as_str()).map_or(&[][..], Vec::as_slice);
            let lo = all.partition_point(|e| e.time_ms <= first.at_ms);
            let hi = all.partition_point(|e| e.time_ms <= end);
            let events = &all[lo..hi];
            let did = |idx: usize| events.iter().any(|e| e.signal_idx == idx);
            let converted = kpi.iter().any(|&i| did(i));
            arm.kpi.n += 1;
            arm.kpi.conversions += u64::from(converted);
            if cuped {
                // Activity in [at − 7 days, at): before the firing, so before assignment.
                let from = all.partition_point(|e| e.time_ms < first.at_ms.saturating_sub(CUPED_WINDOW_MS));
                let before = all.partition_point(|e| e.time_ms < first.at_ms);
                arm.converted.push(f64::from(u8::from(converted)));
                arm.activity.push((before - from) as f64);
            }
            for (g, counts) in arm.guard.iter_mut().enumerate() {
                counts.n += 1;
                counts.conversions += u64::from(did(g));
            }
            arm.revenue.push(events.iter().filter(|e| e.signal_idx == order_idx).map(|e| e.revenue).sum());
        }
        let holdout_share = f64::from(spec.holdout_bp) / 10_000.0;
        let mut report = moment_json(&spec.name, &spec.kpi_signals, spec.kpi_window_ms, holdout_share, &t, &h)?;
        if cuped && let Some(obj) = report.as_object_mut() {
            let adjusted = glint_stats::cuped_diff(&t.converted, &t.activity, &h.converted, &h.activity, Z_95);
            obj.insert("lift_abs_cuped".into(), interval_json(adjusted));
        }
        reports.push(report);
    }
    Ok((reports, data_end))
}

/// Each moment's shoppers and their first `sent` or `holdout` firing, from a firing file.
fn read_firings(path: &std::path::Path) -> Result<BTreeMap<String, BTreeMap<String, First>>> {
    let file = File::open(path).with_context(|| format!("opening firings {}", path.display()))?;
    let mut firsts: BTreeMap<String, BTreeMap<String, First>> = BTreeMap::new();
    for (idx, line) in BufReader::new(file).lines().enumerate() {
        let line_no = idx + 1;
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let at_line = |what: &str| anyhow!("{}:{line_no}: {what}", path.display());
        let v: Value = serde_json::from_str(&line).map_err(|e| at_line(&format!("not JSON: {e}")))?;
        let field = |name: &str| v.get(name).and_then(Value::as_str).ok_or_else(|| at_line(&format!("missing string field {name:?}")));
        let treatment = match field("outcome")? {
            "sent" => true,
            "holdout" => false,
            _ => continue,
        };
        let group = field("group")?;
        if (group == "treatment") != treatment {
            return Err(at_line(&format!("outcome {:?} in group {group:?}", field("outcome")?)));
        }
        let at = field("at")?;
        let at_ms = parse_timestamp_ms(at).ok_or_else(|| at_line(&format!("bad time {at:?}")))?;
        let user = field("user")?.to_string();
        let slot = firsts.entry(field("moment")?.to_string()).or_default().entry(user).or_insert(First { at_ms, treatment });
        if at_ms < slot.at_ms {
            *slot = First { at_ms, treatment };
        }
    }
    Ok(firsts)
}

/// The events of `signals` per shopper (keys folded as the module docs say), sorted by time,
/// and the last event time of the whole data.
fn scan_hits(data: &std::path::Path, signals: &[Signal], keep_all: bool) -> Result<(Hits, Option<i64>)> {
    let log = super::open_log_read(data)?;
    let mut raw: HashMap<String, Vec<Hit>> = HashMap::new();
    let mut alias: HashMap<String, String> = HashMap::new();
    let mut data_end: Option<i64> = None;
    for e in log.scan(..)? {
        let e = e.context("reading the log")?;
        data_end = Some(data_end.map_or(e.time_ms, |d| d.max(e.time_ms)));
        if let (Some(user), Some(anon)) = (&e.user_id, &e.anonymous_id)
            && user != anon
        {
            alias.entry(anon.clone()).or_insert_with(|| user.clone());
        }
        if let (Some(user), Some(prev)) = (&e.user_id, &e.traits.previous_id)
            && user != prev
        {
            alias.entry(prev.clone()).or_insert_with(|| user.clone());
        }
        // With CUPED every event counts as activity; otherwise only the signals asked for.
        let Some(signal_idx) = signals.iter().position(|s| *s == e.signal).or(keep_all.then_some(ANY_SIGNAL)) else { continue };
        let Some(key) = e.shopper_key() else { continue };
        raw.entry(key.to_string()).or_default().push(Hit { time_ms: e.time_ms, signal_idx, revenue: e.properties.revenue.unwrap_or(0.0) });
    }
    let mut hits: HashMap<String, Vec<Hit>> = HashMap::new();
    for (key, v) in raw {
        let mut canon = key;
        // Alias chains are short; the bound guards against a cycle in bad input.
        for _ in 0..8 {
            match alias.get(&canon) {
                Some(next) if *next != canon => canon = next.clone(),
                _ => break,
            }
        }
        hits.entry(canon).or_default().extend(v);
    }
    for v in hits.values_mut() {
        v.sort_by_key(|h| h.time_ms);
    }
    Ok((hits, data_end))
}

fn counts_json(c: Counts) -> Value {
    json!({"n": c.n, "conversions": c.conversions, "rate": c.rate()})
}

fn interval_json(i: Option<Interval>) -> Value {
    i.map_or(Value::Null, |i| json!({"value": i.value, "ci_low": i.low, "ci_high": i.high}))
}

fn moment_json(name: &str, kpi: &[Signal], window_ms: i64, holdout_share: f64, t: &Arm, h: &Arm) -> Result<Value> {
    let l = glint_stats::lift(t.kpi, h.kpi, holdout_share)?;
    // SRM is judged on every first firing, censored too: censoring depends on time, not arm.
    let srm_p = glint_stats::srm_p(t.kpi.n + t.censored, h.kpi.n + h.censored, holdout_share)?;
    let guard: Vec<Value> = GUARDRAILS
        .iter()
        .enumerate()
        .map(|(g, b)| {
            let (gt, gh) = (t.guard[g], h.guard[g]);
            let p = glint_stats::two_proportion_p(gt, gh);
            let harmed = p.is_some_and(|p| p < GUARDRAIL_P) && gt.rate() > gh.rate();
            json!({"signal": b.name(), "treatment": counts_json(gt), "holdout": counts_json(gh), "p_value": p, "harmed": harmed})
        })
        .collect();
    let harmed = guard.iter().any(|g| g["harmed"] == json!(true));
    let (rt, rh) = (Summary::of(&t.revenue), Summary::of(&h.revenue));
    Ok(json!({
        "moment": name,
        "kpi": {"signals": kpi.iter().map(Signal::name).collect::<Vec<_>>(), "window_ms": window_ms},
        "holdout_share": holdout_share,
        "treatment": counts_json(l.treatment),
        "holdout": counts_json(l.holdout),
        "lift_abs": interval_json(l.lift_abs),
        "lift_rel": interval_json(l.lift_rel),
        "p_value": l.p_value,
        "prob_better": l.prob_better,
        "cs_low": l.cs.map(|c| c.0),
        "cs_high": l.cs.map(|c| c.1),
        "srm_p": srm_p,
        "srm_flag": srm_p.is_some_and(|p| p < SRM_P_FLAG),
        "censored": t.censored + h.censored,
        "censored_treatment": t.censored,
        "censored_holdout": h.censored,
        "revenue_per_shopper": {
            "treatment": (rt.n > 0).then_some(rt.mean),
            "holdout": (rh.n > 0).then_some(rh.mean),
            "diff": interval_json(glint_stats::mean_diff(rt, rh, Z_95)),
        },
        "guardrail": {"harmed": harmed, "signals": guard},
    }))
}

fn summary_line(reports: &[Value]) -> String {
    let count = |f: &dyn Fn(&Value) -> bool| reports.iter().filter(|r| f(r)).count();
    let up = count(&|r| r["lift_abs"]["ci_low"].as_f64().is_some_and(|l| l > 0.0));
    let down = count(&|r| r["lift_abs"]["ci_high"].as_f64().is_some_and(|h| h < 0.0));
    let cs = count(&|r| r["cs_low"].as_f64().is_some_and(|l| l > 0.0) || r["cs_high"].as_f64().is_some_and(|h| h < 0.0));
    let srm = count(&|r| r["srm_flag"] == json!(true));
    let harmed = count(&|r| r["guardrail"]["harmed"] == json!(true));
    let censored: u64 = reports.iter().filter_map(|r| r["censored"].as_u64()).sum();
    format!(
        "{} moments: {up} lifted and {down} lowered their KPI (95 % CI), {cs} decided by the anytime-valid sequence; {srm} sample-ratio mismatch(es), {harmed} guardrail harm(s); {censored} shoppers censored (window past the data's end)",
        reports.len()
    )
}

fn print_table(reports: &[Value]) {
    let pct = |v: &Value| v.as_f64().map_or("—".to_string(), |x| format!("{:.2}%", 100.0 * x));
    let num = |v: &Value, d: usize| v.as_f64().map_or("—".to_string(), |x| format!("{x:.d$}"));
    outln!(
        "{:<22} {:>16} {:>16} {:>26} {:>10} {:>8} {:>8} {:>8} {:>8}",
        "moment", "treatment", "holdout", "lift (95% CI)", "rel", "p", "P(t>h)", "SRM p", "censored"
    );
    for r in reports {
        let arm = |a: &Value| format!("{}/{} {}", a["conversions"], a["n"], pct(&a["rate"]));
        let abs = &r["lift_abs"];
        let lift = if abs.is_null() { "—".to_string() } else { format!("{} [{}, {}]", pct(&abs["value"]), pct(&abs["ci_low"]), pct(&abs["ci_high"])) };
        let mut flags = String::new();
        if r["srm_flag"] == json!(true) {
            flags += " SRM!";
        }
        if r["guardrail"]["harmed"] == json!(true) {
            flags += " GUARDRAIL!";
        }
        outln!(
            "{:<22} {:>16} {:>16} {:>26} {:>10} {:>8} {:>8} {:>8} {:>8}{flags}",
            r["moment"].as_str().unwrap_or_default(),
            arm(&r["treatment"]),
            arm(&r["holdout"]),
            lift,
            pct(&r["lift_rel"]["value"]),
            num(&r["p_value"], 4),
            num(&r["prob_better"], 3),
            num(&r["srm_p"], 4),
            r["censored"],
        );
    }
}
