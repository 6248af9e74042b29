//! One shopper's funnel: from the seconds of their step matches to the steps they reached and
//! the times of their earliest deepest chain. Pure functions over plain data, so the row scan
//! (`FunnelBuilder`) and the columnar scan (`columnar.rs`) feed the same code; the rules are
//! in the parent's docs. The columnar scan evaluates hundreds of thousands of shoppers, so
//! [`evaluate_into`] reuses a [`Scratch`] instead of allocating per shopper.

use super::clickhouse;
use super::{Mode, Step};

/// One match of a shopper: an event at `sec` for step `step` (1-based). In `strict`, step 0
/// is an event that matches no step; in `any`, `step` is the first step of the event's signal
/// (one event fills one step there, so events are counted per signal).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Hit {
    /// Event time, whole seconds.
    pub(crate) sec: i64,
    /// Breakdown value id (0 without a breakdown).
    pub(crate) group: u32,
    /// The milliseconds within `sec`: only a tie-break, so equal (second, step) hits keep
    /// the log's order (time, then ingest) whatever order a scan gathered them in.
    pub(crate) ms: u16,
    /// The step, as above.
    pub(crate) step: u8,
}

impl Hit {
    /// A hit at epoch milliseconds `time_ms`.
    pub(crate) fn at(time_ms: i64, step: u8, group: u32) -> Hit {
        Hit { sec: time_ms.div_euclid(1000), ms: time_ms.rem_euclid(1000) as u16, step, group }
    }
}

/// A funnel's shape, as the evaluation needs it.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    pub(crate) n: usize,
    /// Bit k: step k + 1 is optional.
    pub(crate) optional: u64,
    pub(crate) window_s: i64,
    pub(crate) mode: Mode,
    /// Per step (0-based): the 0-based step standing for its signal in `any` mode.
    pub(crate) class: Vec<usize>,
}

impl Plan {
    pub(crate) fn new(steps: &[Step], window_s: u64, mode: Mode) -> Plan {
        assert!(steps.len() <= super::STEPS_MAX && !steps.is_empty(), "checked by FunnelSpec::new");
        let optional = steps.iter().enumerate().filter(|(_, s)| s.optional).fold(0u64, |m, (k, _)| m | (1 << k));
        let class = steps.iter().map(|s| steps.iter().position(|t| t.signal == s.signal).unwrap_or(0)).collect();
        // Windows beyond i64 seconds are "forever"; saturating keeps the arithmetic total.
        let window_s = i64::try_from(window_s).unwrap_or(i64::MAX);
        Plan { n: steps.len(), optional, window_s, mode, class }
    }

    fn is_optional(&self, k: usize) -> bool {
        self.optional & (1 << k) != 0
    }
}

/// What one shopper contributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// Bit k: step k + 1 reached.
    pub(crate) reached: u64,
    /// Per step: seconds from the start of the earliest deepest chain, for the steps it took.
    pub(crate) times: Vec<Option<u64>>,
    /// Breakdown value of the chain's first event.
    pub(crate) group: u32,
}

/// Buffers [`evaluate_into`] reuses from one shopper to the next.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    times: Vec<Vec<i64>>,
    starts: Vec<(i64, u32)>,
    at: Vec<Option<i64>>,
    best_at: Vec<Option<i64>>,
    /// The result's per-step times (see [`Outcome::times`]).
    pub(crate) out_times: Vec<Option<u64>>,
}

/// Evaluate one shopper; `None` when they never entered the funnel. Sorts `hits` into
/// ClickHouse's order: by second, then step (then the milliseconds, and stable, so the
/// first-read of equal hits leads). `exclusions` are ascending seconds of excluded events.
#[cfg(test)]
pub(crate) fn evaluate(plan: &Plan, hits: &mut [Hit], exclusions: &[i64]) -> Option<Outcome> {
    let mut scratch = Scratch::default();
    let (reached, group) = evaluate_into(plan, hits, exclusions, &mut scratch)?;
    Some(Outcome { reached, times: scratch.out_times, group })
}

/// [`evaluate`] without allocating: returns the reached steps and the chain's breakdown
/// value, and leaves the times in `scratch.out_times`.
pub(crate) fn evaluate_into(plan: &Plan, hits: &mut [Hit], exclusions: &[i64], scratch: &mut Scratch) -> Option<(u64, u32)> {
    // Hits mostly arrive in time order already; the stable sort then costs one pass.
    hits.sort_by_key(|h| (h.sec, h.step, h.ms));
    debug_assert!(exclusions.is_sorted());
    match plan.mode {
        Mode::Ordered => ordered(plan, hits, exclusions, scratch),
        Mode::Strict => {
            debug_assert!(exclusions.is_empty() && plan.optional == 0, "checked by FunnelSpec::new");
            let (level, read) = clickhouse::window_funnel(plan.n, plan.window_s, true, hits);
            let out = ordered(plan, &hits[..read], &[], scratch);
            // Before its stop, strict_order reads exactly as the default mode (module docs).
            debug_assert_eq!(out.map_or(0, |o| deepest(o.0)), level, "{hits:?}");
            out
        }
        Mode::Any => {
            let o = any(plan, hits, exclusions)?;
            scratch.out_times = o.times;
            Some((o.reached, o.group))
        }
    }
}

/// The deepest step reached (1-based), 0 for none.
pub(crate) fn deepest(reached: u64) -> usize {
    64 - reached.leading_zeros() as usize
}

/// The last second a chain starting at `start` may use: within the window, and not past the
/// first excluded event strictly after the start (one at the chain's last second is not
/// strictly inside it).
fn deadline(plan: &Plan, start: i64, exclusions: &[i64]) -> i64 {
    let end = start.saturating_add(plan.window_s);
    let i = exclusions.partition_point(|&x| x <= start);
    match exclusions.get(i) {
        Some(&x) => end.min(x),
        None => end,
    }
}

/// `ordered` (and `strict` on what it read): try each step-1 second as a start, earliest
/// first; from a start, each step is taken at the earliest second not before one of its
/// possible predecessors (the previous step, or an earlier one across optional steps) and not
/// past the deadline. Earliest-first is optimal for a fixed start, so a step is reachable from
/// a start exactly when this finds it.
fn ordered(plan: &Plan, hits: &[Hit], exclusions: &[i64], sc: &mut Scratch) -> Option<(u64, u32)> {
    let n = plan.n;
    sc.times.resize_with(n, Vec::new);
    for t in &mut sc.times {
        t.clear();
    }
    sc.starts.clear();
    for h in hits.iter().filter(|h| h.step > 0) {
        let k = usize::from(h.step) - 1;
        sc.times[k].push(h.sec);
        if k == 0 && sc.starts.last().is_none_or(|(s, _)| *s < h.sec) {
            sc.starts.push((h.sec, h.group));
        }
    }
    let full = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
    let mut reached = 0u64;
    let mut best: Option<(usize, i64, u32)> = None;
    sc.at.clear();
    sc.at.resize(n, None);
    sc.best_at.clear();
    sc.best_at.resize(n, None);
    // Without optional steps each step's earliest second never moves back as the start moves
    // on, so once step k has no second at or after step k-1's, no later start reaches k: the
    // steps from `cap` on are out of reach for good.
    let mut cap = n;
    for &(start, group) in &sc.starts {
        let last = deadline(plan, start, exclusions);
        sc.at.fill(None);
        sc.at[0] = Some(start);
        let mut mask = 1u64;
        for k in 1..n {
            let mut floor: Option<i64> = None;
            for j in (0..k).rev() {
                if let Some(t) = sc.at[j] {
                    floor = Some(floor.map_or(t, |f| f.min(t)));
                }
                if !plan.is_optional(j) {
                    break;
                }
            }
            let Some(floor) = floor else { continue };
            let times = &sc.times[k];
            let i = times.partition_point(|&t| t < floor);
            if let Some(&t) = times.get(i)
                && t <= last
            {
                sc.at[k] = Some(t);
                mask |= 1 << k;
            } else if i == times.len() && plan.optional == 0 {
                cap = cap.min(k);
            }
        }
        reached |= mask;
        let depth = deepest(mask);
        if best.is_none_or(|b| depth > b.0) {
            best = Some((depth, start, group));
            sc.best_at.copy_from_slice(&sc.at);
        }
        // Later starts reach no step from `cap` on: they can add nothing to `reached` or
        // `best` once both hold every step below it (the best needs a strictly deeper chain).
        let settled = cap < n && {
            let below = (1u64 << cap) - 1;
            reached & below == below && best.is_some_and(|b| b.0 >= cap)
        };
        if reached == full || settled {
            break;
        }
    }
    let (_, start, group) = best?;
    sc.out_times.clear();
    sc.out_times.extend(sc.best_at.iter().map(|t| t.map(|t| (t - start).unsigned_abs())));
    Some((reached, group))
}

/// `any`: try each second a matching event happened as the earliest second of a set; the set
/// may use the events up to the deadline. Step k is reached when, for each signal, the window
/// holds as many events as step k and the required steps before it need of that signal.
fn any(plan: &Plan, hits: &[Hit], exclusions: &[i64]) -> Option<Outcome> {
    let n = plan.n;
    if hits.is_empty() {
        return None;
    }
    let full = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
    let mut counts = vec![0u32; n];
    let mut need = vec![0u32; n];
    let (mut lo, mut hi) = (0usize, 0usize);
    let mut reached = 0u64;
    let mut best: Option<(usize, usize, usize)> = None; // (depth, lo, hi)
    while lo < hits.len() {
        let start = hits[lo].sec;
        let last = deadline(plan, start, exclusions);
        // The deadline never moves back as the start moves on, so both ends only advance.
        hi = hi.max(lo);
        while hi < hits.len() && hits[hi].sec <= last {
            counts[class_of(plan, hits[hi])] += 1;
            hi += 1;
        }
        let mask = any_mask(plan, &counts, &mut need);
        reached |= mask;
        let depth = deepest(mask);
        if best.is_none_or(|b| depth > b.0) {
            best = Some((depth, lo, hi));
        }
        if reached == full {
            break;
        }
        // Next start: the next second. Hits leaving the window leave the counts.
        while lo < hits.len() && hits[lo].sec == start {
            if lo < hi {
                counts[class_of(plan, hits[lo])] -= 1;
            }
            lo += 1;
        }
    }
    let (depth, lo, hi) = best?;
    if depth == 0 {
        return None;
    }
    let window = &hits[lo..hi];
    let (times, group) = any_times(plan, window, depth);
    Some(Outcome { reached, times, group })
}

fn class_of(plan: &Plan, h: Hit) -> usize {
    debug_assert!(h.step >= 1);
    plan.class[usize::from(h.step) - 1]
}

/// The steps reachable with `counts` events per signal class.
fn any_mask(plan: &Plan, counts: &[u32], need: &mut [u32]) -> u64 {
    need.fill(0);
    let mut mask = 0u64;
    for k in 0..plan.n {
        let c = plan.class[k];
        if counts[c] > need[c] {
            mask |= 1 << k;
        }
        if !plan.is_optional(k) {
            need[c] += 1;
            if counts[c] < need[c] {
                // A required step is out of reach, so is everything after it.
                break;
            }
        }
    }
    mask
}

/// Times of the deepest set in `window` (hits sorted by second): the set takes, per signal,
/// its earliest events; step k's time is when the events it and the required steps before it
/// need are all there, counted from the earliest event the deepest step needs.
fn any_times(plan: &Plan, window: &[Hit], depth: usize) -> (Vec<Option<u64>>, u32) {
    let n = plan.n;
    // Per class: the seconds of its events in the window, ascending (with the first's group).
    let mut seconds: Vec<Vec<i64>> = vec![Vec::new(); n];
    let mut first_group: Vec<u32> = vec![0; n];
    for h in window {
        let c = class_of(plan, *h);
        if seconds[c].is_empty() {
            first_group[c] = h.group;
        }
        seconds[c].push(h.sec);
    }
    let mut need = vec![0usize; n];
    let mut done: Vec<Option<i64>> = vec![None; n];
    let mut required_done: i64 = i64::MIN;
    for (k, slot) in done.iter_mut().enumerate().take(depth) {
        let c = plan.class[k];
        let i = need[c];
        let Some(&t) = seconds[c].get(i) else {
            debug_assert!(plan.is_optional(k), "a required step below the depth has its events");
            continue;
        };
        if plan.is_optional(k) {
            *slot = Some(required_done.max(t));
        } else {
            need[c] += 1;
            required_done = required_done.max(t);
            *slot = Some(required_done);
        }
    }
    // The origin: the earliest event among those the deepest step's set uses.
    let mut origin = i64::MAX;
    let mut group = 0;
    let mut deepest_need = need.clone();
    if plan.is_optional(depth - 1) {
        deepest_need[plan.class[depth - 1]] += 1;
    }
    for (c, k) in deepest_need.iter().enumerate() {
        if *k > 0
            && let Some(&t) = seconds[c].first()
            && t < origin
        {
            origin = t;
            group = first_group[c];
        }
    }
    let times = done.iter().map(|t| t.map(|t| (t - origin).max(0).unsigned_abs())).collect();
    (times, group)
}
