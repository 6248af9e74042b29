//! `glint signals`: which micro-conversions foretell a target signal. One pass over the log
//! keeps, per shopper, the set of signals they ever did; the ratios and their intervals come
//! from `glint_stats`.
//!
//! Definitions (per shopper, keyed by user id, else anonymous id, with anonymous ids folded
//! into the user id of any event carrying both, as in `glint lift`):
//! - did S: the shopper has at least one S event in the data.
//! - reached the target: at least one target event **at any time** — before or after S. This
//!   measures association over the whole history, not prediction or cause; a signal that
//!   mostly follows the target (say `order_shipped` for `order_completed`) ranks high.
//! - share with S = reached among those who did S; share without S = reached among those who
//!   did not; ratio = the two shares' risk ratio, 95 % CI by the delta method on its log.
//!   Signals rank by the ratio (undefined ratios last), then by shoppers.
//! - pairs: for signals A ≠ B, of shoppers who did A, the share who also did B, and its lift
//!   over B's overall share. Pairs done together by fewer than [`PAIR_SHOPPERS_MIN`] shoppers
//!   are left out (tiny counts make wild lifts); the top [`PAIRS_SHOWN`] by lift are shown.
//!
//! TODO: an "S strictly before the first target" variant (prediction rather than
//! association), and breakdowns by device or country.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use glint_event::Signal;
use glint_stats::{Counts, Z_95};
use serde_json::{Value, json};

use crate::output::thousands;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Data directory.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// The signal to explain, e.g. order_completed.
    #[arg(long, value_name = "SIGNAL")]
    pub target: String,
    /// Print JSON: {"target", "shoppers", "reached", "signals": [{"signal", "shoppers",
    /// "share_with", "share_without", "ratio": {"value", "ci_low", "ci_high"}}, ...],
    /// "pairs": [{"from", "to", "shoppers_both", "share", "lift"}, ...]}.
    #[arg(long)]
    pub json: bool,
}

/// Pairs done together by fewer shoppers than this are not ranked.
const PAIR_SHOPPERS_MIN: u64 = 20;
/// How many pairs are shown.
const PAIRS_SHOWN: usize = 20;

/// The set of signals (by index) one shopper did.
#[derive(Clone, Default)]
struct Bits(Vec<u64>);

impl Bits {
    fn set(&mut self, idx: usize) {
        let (word, bit) = (idx / 64, idx % 64);
        if self.0.len() <= word {
            self.0.resize(word + 1, 0);
        }
        self.0[word] |= 1 << bit;
    }
    fn has(&self, idx: usize) -> bool {
        self.0.get(idx / 64).is_some_and(|w| w & (1 << (idx % 64)) != 0)
    }
    fn union(&mut self, other: &Bits) {
        if self.0.len() < other.0.len() {
            self.0.resize(other.0.len(), 0);
        }
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a |= b;
        }
    }
    fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().enumerate().flat_map(|(w, &bits)| (0..64).filter(move |b| bits & (1u64 << b) != 0).map(move |b| w * 64 + b))
    }
}

/// The log-method ratio after adding ½ to each arm's count of reached and 1 to each arm's
/// size (the Haldane–Anscombe correction), computed in doubled counts to stay in integers.
fn haldane(with: Counts, without: Counts) -> Option<glint_stats::Interval> {
    let double = |c: Counts| Counts { n: 2 * c.n + 2, conversions: 2 * c.conversions + 1 };
    // Doubling every count leaves the rates as corrected but halves the variance terms, so
    // the interval is widened back by sqrt(2) on the log scale.
    let r = glint_stats::ratio_log(double(with), double(without), Z_95 * std::f64::consts::SQRT_2)?;
    Some(r)
}

pub fn run(args: Args) -> Result<ExitCode> {
    let target = Signal::from_canonical(args.target.trim());
    let log = super::open_log_read(&args.data)?;
    let mut names: Vec<Signal> = Vec::new();
    let mut index: HashMap<Signal, usize> = HashMap::new();
    let mut raw: HashMap<String, Bits> = HashMap::new();
    let mut alias: HashMap<String, String> = HashMap::new();
    for e in log.scan(..)? {
        let e = e.context("reading the log")?;
        if let (Some(user), Some(anon)) = (&e.user_id, &e.anonymous_id)
            && user != anon
        {
            alias.entry(anon.clone()).or_insert_with(|| user.clone());
        }
        let Some(key) = e.shopper_key() else { continue };
        let idx = *index.entry(e.signal.clone()).or_insert_with(|| {
            names.push(e.signal.clone());
            names.len() - 1
        });
        raw.entry(key.to_string()).or_default().set(idx);
    }
    let mut shoppers: HashMap<String, Bits> = HashMap::new();
    for (key, bits) in raw {
        let canon = alias.get(&key).cloned().unwrap_or(key);
        shoppers.entry(canon).or_default().union(&bits);
    }

    let n_shoppers = shoppers.len() as u64;
    let n_signals = names.len();
    let target_idx = index.get(&target).copied();
    // did[s], did_and_target[s], both[a * n + b].
    let mut did = vec![0u64; n_signals];
    let mut did_target = vec![0u64; n_signals];
    let mut both = vec![0u64; n_signals * n_signals];
    let mut reached = 0u64;
    for bits in shoppers.values() {
        let hit = target_idx.is_some_and(|t| bits.has(t));
        reached += u64::from(hit);
        let set: Vec<usize> = bits.iter().collect();
        for &a in &set {
            did[a] += 1;
            did_target[a] += u64::from(hit);
            for &b in &set {
                both[a * n_signals + b] += 1;
            }
        }
    }

    let mut rows: Vec<Value> = Vec::new();
    for (s, name) in names.iter().enumerate() {
        if Some(s) == target_idx {
            continue;
        }
        let with = Counts { n: did[s], conversions: did_target[s] };
        let without = Counts { n: n_shoppers - did[s], conversions: reached - did_target[s] };
        // A zero cell (nobody without S reached the target — often the strongest signals)
        // leaves the log ratio unbounded; the Haldane–Anscombe correction (½ added to each
        // count of reached, 1 to each group) keeps them rankable, and says so.
        let exact = glint_stats::ratio_log(with, without, Z_95);
        let corrected = exact.is_none() && with.n > 0 && without.n > 0;
        let ratio = exact.or_else(|| corrected.then(|| haldane(with, without)).flatten());
        rows.push(json!({
            "ratio_corrected": corrected,
            "signal": name.name(),
            "shoppers": with.n,
            "reached": with.conversions,
            "share_with": with.rate(),
            "share_without": without.rate(),
            "ratio": ratio.map(|r| json!({"value": r.value, "ci_low": r.low, "ci_high": r.high})),
        }));
    }
    let key = |r: &Value| (r["ratio"]["value"].as_f64(), r["shoppers"].as_u64().unwrap_or(0));
    rows.sort_by(|a, b| {
        let (ra, na) = key(a);
        let (rb, nb) = key(b);
        // Defined ratios first, larger first; then more shoppers first; then by name.
        rb.is_some().cmp(&ra.is_some()).then(rb.unwrap_or(0.0).total_cmp(&ra.unwrap_or(0.0))).then(nb.cmp(&na)).then(a["signal"].as_str().cmp(&b["signal"].as_str()))
    });

    let mut pairs: Vec<(f64, Value)> = Vec::new();
    for a in 0..n_signals {
        for b in 0..n_signals {
            let n_both = both[a * n_signals + b];
            if a == b || n_both < PAIR_SHOPPERS_MIN || did[a] == 0 || n_shoppers == 0 {
                continue;
            }
            let share = n_both as f64 / did[a] as f64;
            let base = did[b] as f64 / n_shoppers as f64;
            let lift = share / base;
            pairs.push((lift, json!({"from": names[a].name(), "to": names[b].name(), "shoppers_both": n_both, "share": share, "lift": lift})));
        }
    }
    pairs.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1["from"].as_str().cmp(&y.1["from"].as_str())).then(x.1["to"].as_str().cmp(&y.1["to"].as_str())));
    let pairs: Vec<Value> = pairs.into_iter().take(PAIRS_SHOWN).map(|(_, v)| v).collect();

    let summary = format!(
        "{} shoppers, {} reached {} ({}); {} signals ranked by risk ratio, {} pairs shown (association at any time, not cause)",
        thousands(n_shoppers),
        thousands(reached),
        target,
        if n_shoppers > 0 { format!("{:.2}%", 100.0 * reached as f64 / n_shoppers as f64) } else { "—".into() },
        rows.len(),
        pairs.len()
    );
    if args.json {
        outln!("{:#}", json!({"target": target.name(), "shoppers": n_shoppers, "reached": reached, "signals": rows, "pairs": pairs, "summary": summary}));
        return Ok(ExitCode::SUCCESS);
    }
    let pct = |v: &Value| v.as_f64().map_or("—".to_string(), |x| format!("{:.2}%", 100.0 * x));
    let num = |v: &Value| v.as_f64().map_or("—".to_string(), |x| format!("{x:.2}"));
    outln!("{:<28} {:>10} {:>10} {:>10} {:>22}", "signal", "shoppers", "with", "without", "ratio (95% CI)");
    for r in &rows {
        let ratio = &r["ratio"];
        let ratio = if ratio.is_null() { "—".to_string() } else { format!("{} [{}, {}]", num(&ratio["value"]), num(&ratio["ci_low"]), num(&ratio["ci_high"])) };
        outln!(
            "{:<28} {:>10} {:>10} {:>10} {:>22}",
            r["signal"].as_str().unwrap_or_default(),
            thousands(r["shoppers"].as_u64().unwrap_or(0)),
            pct(&r["share_with"]),
            pct(&r["share_without"]),
            ratio
        );
    }
    if !pairs.is_empty() {
        outln!();
        outln!("{:<28} {:<28} {:>10} {:>8} {:>6}", "of shoppers who did", "the share who did", "both", "share", "lift");
        for p in &pairs {
            outln!(
                "{:<28} {:<28} {:>10} {:>8} {:>6}",
                p["from"].as_str().unwrap_or_default(),
                p["to"].as_str().unwrap_or_default(),
                thousands(p["shoppers_both"].as_u64().unwrap_or(0)),
                pct(&p["share"]),
                num(&p["lift"])
            );
        }
    }
    outln!("{summary}");
    Ok(ExitCode::SUCCESS)
}
