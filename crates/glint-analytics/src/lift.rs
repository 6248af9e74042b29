//! Per moment, did the nudge lift its KPI? [`compute`] reads a firing file (what `glint
//! replay` writes and `glint serve` keeps in DATA/firings.jsonl) and the log's events and
//! answers with the JSON `glint lift --json` prints and `GET /v1/lift` serves — one code path
//! for both. The statistics live in `glint_stats`; this module decides who counts.
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
//! [`Options::cuped`] adds CUPED (Deng et al. 2013): the covariate is the shopper's number of
//! events in the 7 days before the firing — fixed before assignment, so the estimate stays
//! unbiased and its interval narrows as far as earlier activity predicts conversion.
//!
//! A live server reads a snapshot: [`Options::seq_max`] keeps only events up to a log
//! sequence number, and the caller hands in the firing file only up to the length it had when
//! the engine had seen exactly those events.

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;
use std::path::{Path, PathBuf};

use glint_event::time::{format_rfc3339_ms, parse_timestamp_ms};
use glint_event::{Builtin, Signal};
use glint_stats::{Counts, Interval, SRM_P_FLAG, Summary, Z_95};
use serde_json::{Value, json};

/// What stops a lift computation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The firing file could not be read.
    #[error("reading firings {path}: {source}")]
    ReadFirings {
        /// The firing file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A line of the firing file is not a firing.
    #[error("{path}:{line}: {why}")]
    BadFiring {
        /// The firing file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        why: String,
    },
    /// The firing file names a moment the rules do not have, so its KPI is unknown.
    #[error("{path}: moment {moment:?} is not in the rules; pass the moments.toml the firings were made with (--moments)")]
    UnknownMoment {
        /// The firing file.
        path: PathBuf,
        /// The moment's name.
        moment: String,
    },
    /// The log could not be read.
    #[error("reading the log: {0}")]
    Log(#[from] glint_log::Error),
    /// A moment's holdout share is not a share.
    #[error("statistics: {0}")]
    Stats(#[from] glint_stats::Error),
}

/// A moment as lift sees it: its name, KPI and holdout share (from the moment rules).
#[derive(Clone, Debug, PartialEq)]
pub struct MomentKpi {
    /// The moment's name, as firings name it.
    pub name: String,
    /// A conversion is any of these signals after the firing…
    pub kpi_signals: Vec<Signal>,
    /// …within this long.
    pub kpi_window_ms: i64,
    /// The configured share of firings held out, in [0, 1] (the SRM check's expectation).
    pub holdout_share: f64,
}

/// How to compute.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Also report the absolute lift with CUPED variance reduction (`lift_abs_cuped`).
    pub cuped: bool,
    /// Only events with a log sequence number up to this (a live server's snapshot); `None`
    /// reads the whole log.
    pub seq_max: Option<u64>,
}

/// The answer: one JSON object per moment of the rules, and the data's last event time.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// Per moment, in the rules' order, the objects `glint lift --json` prints under
    /// "moments" (keys: `moment`, `treatment`, `holdout`, `lift_abs`, `lift_rel`, `p_value`,
    /// `prob_better`, `cs_low`, `cs_high`, `srm_p`, `srm_flag`, `censored`, `guardrail`, …).
    pub moments: Vec<Value>,
    /// The last event time in the data read (epoch ms); `None` for an empty log.
    pub data_end_ms: Option<i64>,
}

impl Report {
    /// The whole document: `{"data_end", "moments", "summary"}`.
    pub fn to_json(&self) -> Value {
        json!({
            "data_end": self.data_end_ms.map(format_rfc3339_ms),
            "moments": self.moments,
            "summary": self.summary(),
        })
    }

    /// One sentence: how many moments lifted or lowered their KPI, SRM, guardrails, censoring.
    pub fn summary(&self) -> String {
        let reports = &self.moments;
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
    /// Position in the scan: breaks ties in time so sums run in one order on every path.
    scan_idx: u64,
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

/// Every moment of `moments`, from the firings in `firings` (named `firings_path` in errors)
/// and the events of `log`.
///
/// # Errors
/// A firing file line that is not a firing, a firing of a moment not in `moments`, a log that
/// cannot be read, or a holdout share outside [0, 1].
pub fn compute(log: &glint_log::Log, firings: impl BufRead, firings_path: &Path, moments: &[MomentKpi], options: Options) -> Result<Report, Error> {
    let firsts = read_firings(firings, firings_path)?;
    for moment in firsts.keys() {
        if !moments.iter().any(|m| &m.name == moment) {
            return Err(Error::UnknownMoment { path: firings_path.to_path_buf(), moment: moment.clone() });
        }
    }

    // The signals worth keeping from the scan, by index.
    let mut signals: Vec<Signal> = GUARDRAILS.iter().map(|b| Signal::Builtin(*b)).collect();
    let order_idx = signals.len();
    signals.push(Signal::Builtin(Builtin::OrderCompleted));
    for m in moments {
        for s in &m.kpi_signals {
            if !signals.contains(s) {
                signals.push(s.clone());
            }
        }
    }
    let (hits, data_end) = scan_hits(log, &signals, options)?;

    // Every moment of the rules is reported, with empty arms when it never fired, so a
    // reader sees the silent ones too.
    let no_firings = BTreeMap::new();
    let mut reports = Vec::new();
    for spec in moments {
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
            if options.cuped {
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
        let mut report = moment_json(spec, &t, &h)?;
        if options.cuped && let Some(obj) = report.as_object_mut() {
            let adjusted = glint_stats::cuped_diff(&t.converted, &t.activity, &h.converted, &h.activity, Z_95);
            obj.insert("lift_abs_cuped".into(), interval_json(adjusted));
        }
        reports.push(report);
    }
    Ok(Report { moments: reports, data_end_ms: data_end })
}

/// Each moment's shoppers and their first `sent` or `holdout` firing, from a firing file.
fn read_firings(firings: impl BufRead, path: &Path) -> Result<BTreeMap<String, BTreeMap<String, First>>, Error> {
    let mut firsts: BTreeMap<String, BTreeMap<String, First>> = BTreeMap::new();
    for (idx, line) in firings.lines().enumerate() {
        let line_no = idx + 1;
        let line = line.map_err(|source| Error::ReadFirings { path: path.to_path_buf(), source })?;
        if line.trim().is_empty() {
            continue;
        }
        let at_line = |why: String| Error::BadFiring { path: path.to_path_buf(), line: line_no, why };
        let v: Value = serde_json::from_str(&line).map_err(|e| at_line(format!("not JSON: {e}")))?;
        let field = |name: &str| v.get(name).and_then(Value::as_str).ok_or_else(|| at_line(format!("missing string field {name:?}")));
        let outcome = field("outcome")?;
        let treatment = match outcome {
            "sent" => true,
            "holdout" => false,
            _ => continue,
        };
        let group = field("group")?;
        if (group == "treatment") != treatment {
            return Err(at_line(format!("outcome {outcome:?} in group {group:?}")));
        }
        let at = field("at")?;
        let at_ms = parse_timestamp_ms(at).ok_or_else(|| at_line(format!("bad time {at:?}")))?;
        let user = field("user")?.to_string();
        let slot = firsts.entry(field("moment")?.to_string()).or_default().entry(user).or_insert(First { at_ms, treatment });
        if at_ms < slot.at_ms {
            *slot = First { at_ms, treatment };
        }
    }
    Ok(firsts)
}

/// The events of `signals` per shopper (keys folded as the module docs say), sorted by time,
/// and the last event time of the data read.
fn scan_hits(log: &glint_log::Log, signals: &[Signal], options: Options) -> Result<(Hits, Option<i64>), Error> {
    let mut raw: HashMap<String, Vec<Hit>> = HashMap::new();
    let mut alias: HashMap<String, String> = HashMap::new();
    let mut data_end: Option<i64> = None;
    let mut scan = log.scan(..)?;
    let mut scan_idx = 0u64;
    while let Some(next) = scan.next_with_seq() {
        let (seq, e) = next?;
        if options.seq_max.is_some_and(|max| seq > max) {
            continue;
        }
        scan_idx += 1;
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
        let Some(signal_idx) = signals.iter().position(|s| *s == e.signal).or(options.cuped.then_some(ANY_SIGNAL)) else { continue };
        let Some(key) = e.shopper_key() else { continue };
        raw.entry(key.to_string()).or_default().push(Hit { time_ms: e.time_ms, scan_idx, signal_idx, revenue: e.properties.revenue.unwrap_or(0.0) });
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
        v.sort_by_key(|h| (h.time_ms, h.scan_idx));
    }
    Ok((hits, data_end))
}

fn counts_json(c: Counts) -> Value {
    json!({"n": c.n, "conversions": c.conversions, "rate": c.rate()})
}

fn interval_json(i: Option<Interval>) -> Value {
    i.map_or(Value::Null, |i| json!({"value": i.value, "ci_low": i.low, "ci_high": i.high}))
}

fn moment_json(spec: &MomentKpi, t: &Arm, h: &Arm) -> Result<Value, Error> {
    let holdout_share = spec.holdout_share;
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
        "moment": spec.name,
        "kpi": {"signals": spec.kpi_signals.iter().map(Signal::name).collect::<Vec<_>>(), "window_ms": spec.kpi_window_ms},
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

#[cfg(test)]
mod tests {
    use super::*;
    use glint_event::{Event, Source};

    fn ev(id: &str, user: &str, t_min: i64, signal: Builtin) -> Event {
        let mut e = Event::new(id.into(), t_min * 60_000, Signal::Builtin(signal), Source::Segment);
        e.user_id = Some(user.into());
        e
    }

    fn firing(user: &str, t_min: i64, outcome: &str) -> String {
        let group = if outcome == "sent" { "treatment" } else { "holdout" };
        let at = format_rfc3339_ms(t_min * 60_000);
        format!("{{\"moment\":\"m\",\"user\":\"{user}\",\"at\":\"{at}\",\"outcome\":\"{outcome}\",\"group\":\"{group}\"}}\n")
    }

    #[test]
    fn a_snapshot_sees_only_events_up_to_its_sequence_number() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = glint_log::Log::open(dir.path(), glint_log::LogOptions::default()).expect("log");
        // Seq 1–3: firings' context and a window-closing event; seq 4: a's order, 5 minutes in.
        log.append([ev("1", "a", 0, Builtin::ProductAdded), ev("2", "b", 0, Builtin::ProductAdded), ev("3", "z", 60, Builtin::PageViewed)]).expect("append");
        log.append([ev("4", "a", 5, Builtin::OrderCompleted)]).expect("append");
        log.sync().expect("sync");
        let firings = format!("{}{}", firing("a", 1, "sent"), firing("b", 1, "holdout"));
        let moments = [MomentKpi { name: "m".into(), kpi_signals: vec![Signal::Builtin(Builtin::OrderCompleted)], kpi_window_ms: 600_000, holdout_share: 0.5 }];
        let run = |seq_max| compute(&log, firings.as_bytes(), Path::new("f"), &moments, Options { cuped: false, seq_max }).expect("lift");
        let all = run(None);
        assert_eq!(all.moments[0]["treatment"]["conversions"], 1);
        assert_eq!(all.data_end_ms, Some(60 * 60_000));
        let before_order = run(Some(3));
        assert_eq!(before_order.moments[0]["treatment"]["conversions"], 0, "the order came after the snapshot");
        assert_eq!(before_order.moments[0]["treatment"]["n"], 1);
        let first_batch_only = run(Some(0));
        assert_eq!(first_batch_only.data_end_ms, None);
        assert_eq!(first_batch_only.moments[0]["censored"], 2, "no data: every window is open");
    }

    #[test]
    fn a_firing_of_an_unknown_moment_or_a_bad_line_is_an_error_naming_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = glint_log::Log::open(dir.path(), glint_log::LogOptions::default()).expect("log");
        let unknown = compute(&log, firing("a", 1, "sent").as_bytes(), Path::new("f"), &[], Options::default());
        assert!(matches!(unknown, Err(Error::UnknownMoment { ref moment, .. }) if moment == "m"), "{unknown:?}");
        let bad = compute(&log, "{}\n\nnot json\n".as_bytes(), Path::new("f"), &[], Options::default());
        assert!(matches!(bad, Err(Error::BadFiring { line: 1, .. })), "{bad:?}");
    }
}
