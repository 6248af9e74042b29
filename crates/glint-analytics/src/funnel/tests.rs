//! Funnel tests: ClickHouse's behaviour as established with chdb (each case names its
//! provenance), the rules of `any`, optional steps and exclusions against brute force over all
//! chains, the model of `windowFunnel` against the general evaluation, and nearest rank.

use super::eval::{Hit, Plan, deepest, evaluate};
use super::*;
use glint_event::Source;
use proptest::prelude::*;

/// Events `(shopper, second, signal)` through the builder; users per step.
fn users(steps: &str, window_s: u64, mode: Mode, exclude: &[&str], events: &[(&str, i64, &str)]) -> Vec<u64> {
    report(steps, window_s, mode, exclude, events).steps.iter().map(|s| s.users).collect()
}

fn report(steps: &str, window_s: u64, mode: Mode, exclude: &[&str], events: &[(&str, i64, &str)]) -> FunnelReport {
    let spec = FunnelSpec::new(parse_steps(steps).expect("steps"), window_s, mode, exclude.iter().map(|s| s.to_string()).collect(), None).expect("spec");
    let mut b = FunnelBuilder::new(spec);
    let mut sorted: Vec<_> = events.to_vec();
    sorted.sort_by_key(|(_, t, _)| *t);
    for (i, (user, t, signal)) in sorted.iter().enumerate() {
        b.add(&ev(user, t * 1000, signal, i));
    }
    b.finish().expect("finish")
}

fn ev(user: &str, ms: i64, signal: &str, i: usize) -> Event {
    let mut e = Event::new(format!("m{i}"), ms, Signal::from_canonical(signal), Source::Segment);
    e.user_id = Some(user.into());
    e
}

fn one(steps: &str, window_s: u64, mode: Mode, events: &[(i64, &str)]) -> Vec<u64> {
    let events: Vec<_> = events.iter().map(|(t, s)| ("u", *t, *s)).collect();
    // `x`, never a step here, makes sure every custom name used is "seen in the data".
    let mut all = events.clone();
    all.push(("someone-else", 0, "x"));
    users(steps, window_s, mode, &[], &all)
}

// ---- ClickHouse's behaviour, established with chdb 4.4.0 (ClickHouse 26.9.2.1) ----------
// Each expectation below is what
//   SELECT u, windowFunnel(60[, 'strict_order'])(toDateTime(t), s = 'a', s = 'b', ...)
//   FROM values('u UInt32, t UInt32, s String', ...) GROUP BY u
// returned for the same events (level L shows here as L shoppers' worth of ones).

#[test]
fn clickhouse_one_event_fills_two_steps_of_the_same_signal() {
    // chdb: a@100 with steps a,a → level 2, in both modes.
    assert_eq!(one("a,a", 60, Mode::Ordered, &[(100, "a")]), [1, 1]);
    assert_eq!(one("a,a", 60, Mode::Strict, &[(100, "a")]), [1, 1]);
    // chdb: a@0 b@1 a@1 with steps a,b,a → level 3 (the a@1 is both step 1 and step 3).
    assert_eq!(one("a,b,a", 60, Mode::Ordered, &[(0, "a"), (1, "b"), (1, "a")]), [1, 1, 1]);
    // chdb: a@0 b@1 with steps a,b,a → level 2; a@0 b@1 b@2 with a,b,b (strict) → 3.
    assert_eq!(one("a,b,a", 60, Mode::Ordered, &[(0, "a"), (1, "b")]), [1, 1, 0]);
    assert_eq!(one("a,b,b", 60, Mode::Strict, &[(0, "a"), (1, "b")]), [1, 1, 1]);
}

#[test]
fn clickhouse_orders_same_second_events_by_step() {
    // chdb: b@100 a@100 (b read first) with steps a,b → level 2, both modes.
    assert_eq!(one("a,b", 60, Mode::Ordered, &[(100, "b"), (100, "a")]), [1, 1]);
    assert_eq!(one("a,b", 60, Mode::Strict, &[(100, "b"), (100, "a")]), [1, 1]);
}

#[test]
fn clickhouse_window_is_inclusive() {
    // chdb: a@0 b@60 → 2; a@0 b@61 → 1 (window 60).
    assert_eq!(one("a,b", 60, Mode::Ordered, &[(0, "a"), (60, "b")]), [1, 1]);
    assert_eq!(one("a,b", 60, Mode::Ordered, &[(0, "a"), (61, "b")]), [1, 0]);
}

#[test]
fn clickhouse_strict_order_stops_at_unrelated_events_but_not_in_the_start_second() {
    // chdb: a@4 x@5 b@5 → 1; a@4 b@5 x@5 → 1 (x sorts before b); a@5 x@5 b@6 → 2;
    // x@0 a@1 b@2 → 2 (nothing had started).
    assert_eq!(one("a,b", 60, Mode::Strict, &[(4, "a"), (5, "x"), (5, "b")]), [1, 0]);
    assert_eq!(one("a,b", 60, Mode::Strict, &[(4, "a"), (5, "b"), (5, "x")]), [1, 0]);
    assert_eq!(one("a,b", 60, Mode::Strict, &[(5, "a"), (5, "x"), (6, "b")]), [1, 1]);
    assert_eq!(one("a,b", 60, Mode::Strict, &[(0, "x"), (1, "a"), (2, "b")]), [1, 1]);
    // The same events in ordered mode ignore x.
    assert_eq!(one("a,b", 60, Mode::Ordered, &[(4, "a"), (5, "x"), (5, "b")]), [1, 1]);
}

#[test]
fn clickhouse_strict_order_keeps_deeper_levels_across_a_new_start() {
    // chdb: a@1 b@2 a@3 c@4 with a,b,c → 3.
    assert_eq!(one("a,b,c", 60, Mode::Strict, &[(1, "a"), (2, "b"), (3, "a"), (4, "c")]), [1, 1, 1]);
    // chdb: b@0 a@1 b@2 with a,b → 2 (a step before any start is not "out of order").
    assert_eq!(one("a,b", 60, Mode::Strict, &[(0, "b"), (1, "a"), (2, "b")]), [1, 1]);
}

#[test]
fn clickhouse_strict_order_stops_at_a_step_out_of_order() {
    // chdb: a@1 c@2 b@3 with a,b,c → 1.
    assert_eq!(one("a,b,c", 60, Mode::Strict, &[(1, "a"), (2, "c"), (3, "b")]), [1, 0, 0]);
    // chdb: a@1 b@100 c@101, window 60 → 1: b is out of the window (ignored), then c is out
    // of order because step 2 was never reached.
    assert_eq!(one("a,b,c", 60, Mode::Strict, &[(1, "a"), (100, "b"), (101, "c")]), [1, 0, 0]);
    // chdb: a@0 b@1 a@2 with a,b,a → 1 in strict_order (3 in the default mode): the a@0 is
    // also a step-3 match, and step 3 before step 2 is out of order.
    assert_eq!(one("a,b,a", 60, Mode::Strict, &[(0, "a"), (1, "b"), (2, "a")]), [1, 0, 0]);
    assert_eq!(one("a,b,a", 60, Mode::Ordered, &[(0, "a"), (1, "b"), (2, "a")]), [1, 1, 1]);
}

#[test]
fn more_than_ten_steps_work() {
    let names: Vec<String> = (0..12).map(|i| format!("s{i}")).collect();
    let steps = names.join(",");
    let events: Vec<(i64, &str)> = names.iter().enumerate().map(|(i, n)| (i as i64 * 10, n.as_str())).collect();
    assert_eq!(one(&steps, 3600, Mode::Ordered, &events), vec![1; 12]);
    assert_eq!(one(&steps, 3600, Mode::Strict, &events), vec![1; 12]);
    assert_eq!(one(&steps, 3600, Mode::Any, &events), vec![1; 12]);
    // Step 11 out of the window: ordered stops at 10, any at 10 as well (it is required).
    let gap: Vec<(i64, &str)> = events.iter().map(|&(t, n)| if n == "s10" { (100_000, n) } else { (t, n) }).collect();
    let mut want = vec![1; 10];
    want.extend([0, 0]);
    assert_eq!(one(&steps, 3600, Mode::Ordered, &gap), want);
    assert_eq!(one(&steps, 3600, Mode::Any, &gap), want);
    let r = report(&steps, 3600, Mode::Ordered, &[], &events.iter().map(|(t, s)| ("u", *t, *s)).collect::<Vec<_>>());
    assert_eq!(r.steps[11].median_seconds, Some(110));
    // The bound itself: 64 steps fill the 64-bit set of reached steps.
    let names: Vec<String> = (0..STEPS_MAX).map(|i| format!("s{i}")).collect();
    let events: Vec<(i64, &str)> = names.iter().enumerate().map(|(i, n)| (i as i64, n.as_str())).collect();
    for mode in [Mode::Ordered, Mode::Strict, Mode::Any] {
        assert_eq!(one(&names.join(","), 3600, mode, &events), vec![1; STEPS_MAX], "{mode}");
    }
}

#[test]
fn any_order_needs_distinct_events_within_the_window() {
    assert_eq!(one("a,b,c", 60, Mode::Any, &[(0, "c"), (5, "b"), (9, "a")]), [1, 1, 1]);
    assert_eq!(one("a,b,c", 60, Mode::Any, &[(0, "b"), (5, "a"), (70, "c")]), [1, 1, 0]);
    // One a is one step: a,a needs two.
    assert_eq!(one("a,a", 60, Mode::Any, &[(0, "a")]), [1, 0]);
    assert_eq!(one("a,a", 60, Mode::Any, &[(0, "a"), (60, "a")]), [1, 1]);
}

#[test]
fn optional_steps_may_be_skipped_and_count_only_when_taken() {
    // a c: reaches c, not b. a b c: both. b alone after a outside the window: neither.
    let events = [("u1", 0, "a"), ("u1", 5, "c"), ("u2", 0, "a"), ("u2", 1, "b"), ("u2", 2, "c"), ("u3", 0, "a"), ("u3", 100, "b")];
    let r = report("a,b?,c", 60, Mode::Ordered, &[], &events);
    assert_eq!(r.steps.iter().map(|s| s.users).collect::<Vec<_>>(), [3, 1, 2]);
    // c's previous required step is a: 2 of 3.
    assert_eq!(r.steps[2].conversion_from_previous, Some(2.0 / 3.0));
    assert_eq!(r.steps[2].drop_off, 1);
    assert_eq!(users("a,b?,c", 60, Mode::Any, &[], &events), [3, 1, 2]);
}

#[test]
fn an_exclusion_strictly_inside_a_chain_breaks_it() {
    let ex = ["r"];
    // a@0 r@5 b@9: broken; a@0 r@5 a@6 b@9: the later chain holds; r at the ends breaks nothing.
    assert_eq!(users("a,b", 60, Mode::Ordered, &ex, &[("u", 0, "a"), ("u", 5, "r"), ("u", 9, "b")]), [1, 0]);
    assert_eq!(users("a,b", 60, Mode::Ordered, &ex, &[("u", 0, "a"), ("u", 5, "r"), ("u", 6, "a"), ("u", 9, "b")]), [1, 1]);
    assert_eq!(users("a,b", 60, Mode::Ordered, &ex, &[("u", 0, "a"), ("u", 0, "r"), ("u", 9, "r"), ("u", 9, "b")]), [1, 1]);
    assert_eq!(users("a,b", 60, Mode::Any, &ex, &[("u", 0, "b"), ("u", 5, "r"), ("u", 9, "a")]), [1, 0]);
}

#[test]
fn time_to_convert_follows_the_earliest_deepest_chain() {
    // First attempt (a@0 b@10) dies; the second (a@1000 b@1001 c@1030) is the deepest: times
    // are 1 s and 30 s, not the first attempt's 10 s.
    let events = [("u", 0, "a"), ("u", 10, "b"), ("u", 1000, "a"), ("u", 1001, "b"), ("u", 1030, "c"), ("v", 0, "a"), ("v", 20, "b")];
    let r = report("a,b,c", 60, Mode::Ordered, &[], &events);
    assert_eq!(r.steps.iter().map(|s| s.users).collect::<Vec<_>>(), [2, 2, 1]);
    // b: times 1 (u) and 20 (v) → median by nearest rank is the 1st of 2.
    assert_eq!((r.steps[1].median_seconds, r.steps[1].p90_seconds), (Some(1), Some(20)));
    assert_eq!((r.steps[2].median_seconds, r.steps[0].median_seconds), (Some(30), Some(0)));
    // any: from the earliest event the deepest set uses; c@0 b@5 a@9 → a's set is complete at
    // 9 s, b's at 9 s (b needs a), c's at 9 s.
    let r = report("a,b,c", 60, Mode::Any, &[], &[("u", 100, "c"), ("u", 105, "b"), ("u", 109, "a")]);
    assert_eq!(r.steps.iter().map(|s| s.median_seconds).collect::<Vec<_>>(), [Some(9), Some(9), Some(9)]);
}

#[test]
fn breakdown_follows_the_chain_start() {
    let spec = FunnelSpec::new(parse_steps("a,b").expect("steps"), 60, Mode::Ordered, Vec::new(), Some(Breakdown::Country)).expect("spec");
    let mut b = FunnelBuilder::new(spec);
    let mut i = 0;
    let mut add = |user: &str, t: i64, signal: &str, locale: Option<&str>| {
        let mut e = ev(user, t * 1000, signal, i);
        e.context.locale = locale.map(str::to_string);
        i += 1;
        b.add(&e);
    };
    // u: an a from GB that dies, then a chain from DE; v: one a from FR; w: no locale.
    add("u", 0, "a", Some("en-GB"));
    add("v", 0, "a", Some("fr-FR"));
    add("w", 0, "a", None);
    add("u", 500, "a", Some("de-DE"));
    add("u", 510, "b", Some("en-GB"));
    let r = b.finish().expect("finish");
    let got: Vec<(String, Vec<u64>)> = r.breakdown.iter().map(|g| (g.value.clone(), g.steps.iter().map(|s| s.users).collect())).collect();
    assert_eq!(got, [("DE".to_string(), vec![1, 1]), ("FR".into(), vec![1, 0]), ("unknown".into(), vec![1, 0])]);
}

/// (group, users per step), sorted by group.
fn groups(r: &FunnelReport) -> Vec<(String, Vec<u64>)> {
    let mut g: Vec<(String, Vec<u64>)> = r.breakdown.iter().map(|g| (g.value.clone(), g.steps.iter().map(|s| s.users).collect())).collect();
    g.sort();
    g
}

#[test]
fn funnel_stage_is_the_deepest_stage_of_the_last_half_hour_at_the_chain_start() {
    let spec = FunnelSpec::new(parse_steps("a,b").expect("steps"), 600, Mode::Ordered, Vec::new(), Some(Breakdown::FunnelStage)).expect("spec");
    let mut b = FunnelBuilder::new(spec);
    let events = [
        // u: a checkout 29 minutes before its chain: bottom.
        ("u", 0, "checkout_started"),
        ("u", 29 * 60, "a"),
        ("u", 29 * 60 + 5, "b"),
        // v: a product view 31 minutes before: expired, so top.
        ("v", 0, "product_viewed"),
        ("v", 31 * 60, "a"),
        // w: a product view exactly 30 minutes before (inclusive): middle; a later checkout
        // does not reach back to the chain start.
        ("w", 100, "product_viewed"),
        ("w", 100 + 30 * 60, "a"),
        ("w", 101 + 30 * 60, "checkout_started"),
        ("w", 102 + 30 * 60, "b"),
        // x: its first a (top) dies; the chain that reaches b starts after a product view.
        ("x", 0, "a"),
        ("x", 2000, "product_viewed"),
        ("x", 2001, "a"),
        ("x", 2002, "b"),
    ];
    let mut sorted = events.to_vec();
    sorted.sort_by_key(|(_, t, _)| *t);
    for (i, (user, t, signal)) in sorted.iter().enumerate() {
        b.add(&ev(user, t * 1000, signal, i));
    }
    let r = b.finish().expect("finish");
    assert_eq!(groups(&r), [("bottom".to_string(), vec![1, 1]), ("middle".into(), vec![2, 2]), ("top".into(), vec![1, 0])]);
}

/// Stages from a script: the shopper's stage is the number of `product_viewed` seen so far,
/// as a name; it records what it was shown.
struct CountingStages {
    seen: std::rc::Rc<std::cell::RefCell<Vec<String>>>,
    views: HashMap<String, usize>,
}

impl IntentStages for CountingStages {
    fn observe(&mut self, e: &Event) {
        self.seen.borrow_mut().push(e.message_id.clone());
        if e.signal == Signal::Builtin(glint_event::Builtin::ProductViewed) {
            *self.views.entry(e.shopper_key().unwrap_or_default().to_string()).or_default() += 1;
        }
    }

    fn stage(&mut self, e: &Event) -> &'static str {
        ["curiosity", "consideration", "readiness"][self.views.get(e.shopper_key().unwrap_or_default()).copied().unwrap_or(0).min(2)]
    }
}

#[test]
fn intent_stage_is_asked_of_the_caller_after_it_sees_every_event() {
    let spec = || FunnelSpec::new(parse_steps("a,b").expect("steps"), 60, Mode::Ordered, Vec::new(), Some(Breakdown::IntentStage)).expect("spec");
    let events = [("u", 0, "product_viewed"), ("u", 1, "a"), ("u", 2, "b"), ("v", 3, "x"), ("v", 4, "a"), ("w", 5, "product_viewed"), ("w", 6, "product_viewed"), ("w", 7, "a")];
    let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let mut b = FunnelBuilder::new(spec()).with_intent(Box::new(CountingStages { seen: seen.clone(), views: HashMap::new() }));
    for (i, (user, t, signal)) in events.iter().enumerate() {
        b.add(&ev(user, t * 1000, signal, i));
    }
    let r = b.finish().expect("finish");
    assert_eq!(groups(&r), [("consideration".to_string(), vec![1, 1]), ("curiosity".into(), vec![1, 0]), ("readiness".into(), vec![1, 0])]);
    // Every event, unrelated ones included, in order.
    assert_eq!(*seen.borrow(), (0..events.len()).map(|i| format!("m{i}")).collect::<Vec<_>>());
    // Without a scorer the answer would be wrong: refused.
    let mut b = FunnelBuilder::new(spec());
    b.add(&ev("u", 0, "a", 0));
    let err = b.finish().expect_err("no model");
    assert!(matches!(err, FunnelError::NoIntentModel), "{err}");
    assert!(err.to_string().contains("--model"), "{err}");
}

#[test]
fn unknown_names_are_refused_with_a_suggestion() {
    let spec = FunnelSpec::new(parse_steps("product_viewed,prodcut_added").expect("steps"), 60, Mode::Ordered, vec!["nope_signal".into()], None).expect("spec");
    let err = FunnelBuilder::new(spec).finish().expect_err("unknown");
    assert!(matches!(&err, FunnelError::UnknownSignal { signal, role: SignalRole::Step, closest: Some(c) } if signal == "prodcut_added" && c == "product_added"), "{err}");
    assert!(err.to_string().contains("did you mean \"product_added\""), "{err}");
}

#[test]
fn step_lists_and_specs_are_checked() {
    assert_eq!(parse_steps("Product Viewed, b? ").expect("ok"), [Step { signal: "product_viewed".into(), optional: false }, Step { signal: "b".into(), optional: true }]);
    assert!(matches!(parse_steps("a,,b"), Err(FunnelError::EmptyStep { position: 2 })));
    assert!(matches!(parse_steps("a,?"), Err(FunnelError::EmptyStep { position: 2 })));
    assert!(matches!(parse_steps(" "), Err(FunnelError::NoSteps)));
    let many = vec!["a"; STEPS_MAX + 1].join(",");
    assert!(matches!(parse_steps(&many), Err(FunnelError::TooManySteps { count: 65, max: 64 })));
    let spec = |s: &str, mode, ex: &[&str]| FunnelSpec::new(parse_steps(s).expect("steps"), 60, mode, ex.iter().map(|x| x.to_string()).collect(), None);
    assert!(matches!(spec("a?,b", Mode::Ordered, &[]), Err(FunnelError::OptionalFirstStep { .. })));
    assert!(matches!(spec("a,b?", Mode::Strict, &[]), Err(FunnelError::NotInStrict { what: "optional steps" })));
    assert!(matches!(spec("a,b", Mode::Strict, &["c"]), Err(FunnelError::NotInStrict { what: "exclusions" })));
    assert!(matches!(spec("a,b", Mode::Ordered, &["B"]), Err(FunnelError::ExcludedStep { .. })));
    assert_eq!("referrer".parse::<Breakdown>().expect("alias"), Breakdown::ReferrerClass);
    assert!("planet".parse::<Breakdown>().is_err());
    assert_eq!(locale_region("zh-Hant-TW"), Some("TW"));
    assert_eq!(locale_region("es_419"), Some("419"));
    assert_eq!(locale_region("de"), None);
}

#[test]
fn events_out_of_time_order_are_refused() {
    let spec = FunnelSpec::new(parse_steps("product_viewed").expect("steps"), 60, Mode::Ordered, Vec::new(), None).expect("spec");
    let mut b = FunnelBuilder::new(spec);
    b.add(&ev("u", 5000, "product_viewed", 0));
    b.add(&ev("u", 4000, "product_viewed", 1));
    assert!(matches!(b.finish(), Err(FunnelError::OutOfOrder { previous_ms: 5000, ms: 4000 })));
}

#[test]
fn percentiles_use_nearest_rank() {
    assert_eq!(percentile_nearest_rank(&[], 0.5), None);
    assert_eq!(percentile_nearest_rank(&[7], 0.9), Some(7));
    assert_eq!(percentile_nearest_rank(&[1, 2, 3, 4], 0.5), Some(2));
    assert_eq!(percentile_nearest_rank(&[1, 2, 3, 4], 0.9), Some(4));
    let ten: Vec<u64> = (1..=10).collect();
    // Rank ⌈0.9 · 10⌉ = 9 exactly, despite 0.9 · 10 being 9.000000000000002 in floats.
    assert_eq!(percentile_nearest_rank(&ten, 0.9), Some(9));
    assert_eq!(percentile_nearest_rank(&ten, 0.5), Some(5));
    assert_eq!(percentile_nearest_rank(&ten, 1.0), Some(10));
    let eleven: Vec<u64> = (1..=11).collect();
    assert_eq!(percentile_nearest_rank(&eleven, 0.5), Some(6));
    assert_eq!(percentile_nearest_rank(&eleven, 0.9), Some(10));
}

// ---- Brute-force references --------------------------------------------------------------

/// A random funnel over signals 0..SIGNALS (0..3 are step candidates, 3 is unrelated, 4 the
/// exclusion when one is used).
const SIGNALS: usize = 5;
const NAMES: [&str; SIGNALS] = ["a", "b", "c", "x", "r"];

#[derive(Clone, Debug)]
struct Case {
    steps: Vec<(usize, bool)>,
    window_s: i64,
    exclude: bool,
    /// (second, signal), ascending seconds.
    events: Vec<(i64, usize)>,
}

impl Case {
    fn plan(&self, mode: Mode) -> Plan {
        let steps: Vec<Step> = self.steps.iter().map(|(s, o)| Step { signal: NAMES[*s].into(), optional: *o }).collect();
        Plan::new(&steps, self.window_s as u64, mode)
    }

    fn exclusions(&self) -> Vec<i64> {
        let mut x: Vec<i64> = if self.exclude { self.events.iter().filter(|e| e.1 == 4).map(|e| e.0).collect() } else { Vec::new() };
        x.dedup();
        x
    }

    /// Every (second, step) match, and for `strict` a step-0 hit per unrelated event.
    fn hits(&self, mode: Mode) -> Vec<Hit> {
        let mut hits = Vec::new();
        for &(sec, s) in &self.events {
            let steps: Vec<usize> = (0..self.steps.len()).filter(|k| self.steps[*k].0 == s).collect();
            match (mode, steps.first()) {
                (Mode::Any, Some(&k)) => hits.push(Hit { sec, step: k as u8 + 1, group: 0, ms: 0 }),
                (_, Some(_)) => hits.extend(steps.iter().map(|k| Hit { sec, step: *k as u8 + 1, group: 0, ms: 0 })),
                (Mode::Strict, None) if !(self.exclude && s == 4) => hits.push(Hit { sec, step: 0, group: 0, ms: 0 }),
                _ => {}
            }
        }
        hits
    }
}

/// `ordered` by enumerating every chain: (reached steps, times of the earliest deepest chain).
fn brute_ordered(case: &Case, matches: &[(i64, usize)], exclusions: &[i64]) -> (u64, Vec<Option<u64>>) {
    let n = case.steps.len();
    let mut chains: Vec<Vec<(i64, usize)>> = Vec::new();
    fn extend(case: &Case, matches: &[(i64, usize)], exclusions: &[i64], chain: &mut Vec<(i64, usize)>, out: &mut Vec<Vec<(i64, usize)>>) {
        out.push(chain.clone());
        let (first, _) = chain[0];
        let &(last_t, last_k) = chain.last().expect("non-empty");
        for &(t, k) in matches {
            let skips_only_optional = (last_k + 1..k).all(|j| case.steps[j].1);
            let in_window = t - first <= case.window_s;
            let unbroken = !exclusions.iter().any(|&x| first < x && x < t);
            if k > last_k && skips_only_optional && t >= last_t && in_window && unbroken {
                chain.push((t, k));
                extend(case, matches, exclusions, chain, out);
                chain.pop();
            }
        }
    }
    for &(t, k) in matches.iter().filter(|m| m.1 == 0) {
        extend(case, matches, exclusions, &mut vec![(t, k)], &mut chains);
    }
    let reached = chains.iter().flatten().fold(0u64, |m, (_, k)| m | (1 << k));
    let level = deepest(reached);
    let mut times = vec![None; n];
    if level > 0 {
        let start = chains.iter().filter(|c| c.iter().any(|(_, k)| *k == level - 1)).map(|c| c[0].0).min().expect("a chain reaches the level");
        for c in chains.iter().filter(|c| c[0].0 == start) {
            for &(t, k) in c {
                let d = (t - start) as u64;
                times[k] = Some(times[k].map_or(d, |o: u64| o.min(d)));
            }
        }
    }
    (reached, times)
}

/// `any` by trying every assignment of distinct events to the steps each step needs.
fn brute_any(case: &Case, exclusions: &[i64]) -> u64 {
    let n = case.steps.len();
    let mut reached = 0;
    for k in 0..n {
        let need: Vec<usize> = (0..k).filter(|j| !case.steps[*j].1).chain([k]).collect();
        fn assign(case: &Case, need: &[usize], used: &mut Vec<usize>, exclusions: &[i64]) -> bool {
            let Some((&step, rest)) = need.split_first() else {
                let ts: Vec<i64> = used.iter().map(|i| case.events[*i].0).collect();
                let (lo, hi) = (ts.iter().min().copied().unwrap_or(0), ts.iter().max().copied().unwrap_or(0));
                return hi - lo <= case.window_s && !exclusions.iter().any(|&x| lo < x && x < hi);
            };
            for i in 0..case.events.len() {
                if case.events[i].1 == case.steps[step].0 && !used.contains(&i) {
                    used.push(i);
                    if assign(case, rest, used, exclusions) {
                        return true;
                    }
                    used.pop();
                }
            }
            false
        }
        if assign(case, &need, &mut Vec::new(), exclusions) {
            reached |= 1 << k;
        }
    }
    reached
}

fn case_strategy(optional_and_exclude: bool) -> impl Strategy<Value = Case> {
    let steps = prop::collection::vec((0..3usize, any::<bool>()), 1..5);
    let events = prop::collection::vec((prop::sample::select(vec![0i64, 0, 1, 2, 3, 7]), 0..SIGNALS), 0..8);
    (steps, prop::sample::select(vec![0i64, 1, 3, 6, 100]), any::<bool>(), events).prop_map(move |(mut steps, window_s, exclude, gaps)| {
        steps[0].1 = false;
        if !optional_and_exclude {
            steps.iter_mut().for_each(|s| s.1 = false);
        }
        let mut t = 0;
        let events = gaps
            .into_iter()
            .map(|(gap, s)| {
                t += gap;
                (t, s)
            })
            .collect();
        Case { steps, window_s, exclude: exclude && optional_and_exclude, events }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    /// Ordered, with optional steps and exclusions: steps reached and times of the earliest
    /// deepest chain equal brute force over every chain.
    #[test]
    fn ordered_matches_brute_force(case in case_strategy(true)) {
        let plan = case.plan(Mode::Ordered);
        let mut hits = case.hits(Mode::Ordered);
        let exclusions = case.exclusions();
        let matches: Vec<(i64, usize)> = hits.iter().map(|h| (h.sec, usize::from(h.step) - 1)).collect();
        let (reached, times) = brute_ordered(&case, &matches, &exclusions);
        let got = evaluate(&plan, &mut hits, &exclusions);
        prop_assert_eq!(got.as_ref().map_or(0, |o| o.reached), reached);
        if let Some(o) = got {
            prop_assert_eq!(o.times, times);
        }
    }

    /// Without optional steps and exclusions, ordered is ClickHouse's default mode and strict
    /// is strict_order, as modelled line by line from its source.
    #[test]
    fn ordered_and_strict_match_the_clickhouse_model(case in case_strategy(false)) {
        let n = case.steps.len();
        for (mode, strict_order) in [(Mode::Ordered, false), (Mode::Strict, true)] {
            let mut hits = case.hits(mode);
            hits.sort_by_key(|h| (h.sec, h.step));
            let (level, _) = super::clickhouse::window_funnel(n, case.window_s, strict_order, &hits);
            let got = evaluate(&case.plan(mode), &mut hits, &[]);
            prop_assert_eq!(got.map_or(0, |o| deepest(o.reached)), level, "{:?}", mode);
        }
    }

    /// Any order, with optional steps and exclusions: steps reached equal brute force over
    /// every assignment of distinct events.
    #[test]
    fn any_matches_brute_force(case in case_strategy(true)) {
        let exclusions = case.exclusions();
        let mut hits = case.hits(Mode::Any);
        let got = evaluate(&case.plan(Mode::Any), &mut hits, &exclusions);
        prop_assert_eq!(got.map_or(0, |o| o.reached), brute_any(&case, &exclusions));
    }

    /// The builder's savings (dropping matches before a start, stopping a strict shopper at
    /// their first unrelated event, keeping only exclusions after a match) change nothing:
    /// several shoppers interleaved at millisecond times give the per-shopper references.
    #[test]
    fn the_builder_agrees_with_per_shopper_references(
        cases in prop::collection::vec(case_strategy(true), 1..4),
        mode in prop::sample::select(vec![Mode::Ordered, Mode::Strict, Mode::Any]),
        ms_jitter in prop::collection::vec(0..1000i64, 24),
    ) {
        // One funnel for all: the first case's; the others lend their events.
        let mut funnel = cases[0].clone();
        if mode == Mode::Strict {
            funnel.exclude = false;
            funnel.steps.iter_mut().for_each(|s| s.1 = false);
        }
        let names: Vec<&str> = funnel.steps.iter().map(|(s, o)| if *o { ["a?", "b?", "c?"][*s] } else { NAMES[*s] }).collect();
        let exclude: Vec<String> = if funnel.exclude { vec!["r".into()] } else { Vec::new() };
        let spec = FunnelSpec::new(parse_steps(&names.join(",")).expect("steps"), funnel.window_s as u64, mode, exclude, None).expect("spec");
        let mut all: Vec<(i64, usize, usize)> = Vec::new(); // (ms, shopper, signal)
        for (u, c) in cases.iter().enumerate() {
            for (i, &(sec, s)) in c.events.iter().enumerate() {
                all.push((sec * 1000 + ms_jitter[(u * 8 + i) % 24], u, s));
            }
        }
        all.sort();
        let mut b = FunnelBuilder::new(spec);
        for (i, &(ms, u, s)) in all.iter().enumerate() {
            b.add(&ev(&format!("u{u}"), ms, NAMES[s], i));
        }
        // Every name must be in the data for the report to be given; skip funnels it is not.
        let seen: Vec<usize> = all.iter().map(|e| e.2).collect();
        let complete = funnel.steps.iter().all(|(s, _)| seen.contains(s)) && (!funnel.exclude || seen.contains(&4));
        let report = b.finish();
        if !complete {
            // A typo must not read as "nobody converted".
            prop_assert!(matches!(report, Err(FunnelError::UnknownSignal { .. })), "{:?}", report);
            return Ok(());
        }
        let report = report.expect("finish");
        let n = funnel.steps.len();
        let mut want_users = vec![0u64; n];
        let mut want_times: Vec<Vec<u64>> = vec![Vec::new(); n];
        for u in 0..cases.len() {
            let mut mine = funnel.clone();
            mine.events = all.iter().filter(|e| e.1 == u).map(|e| (e.0.div_euclid(1000), e.2)).collect();
            let exclusions = mine.exclusions();
            let (reached, times) = match mode {
                Mode::Any => {
                    let mut hits = mine.hits(Mode::Any);
                    let o = evaluate(&mine.plan(Mode::Any), &mut hits, &exclusions);
                    prop_assert_eq!(o.as_ref().map_or(0, |o| o.reached), brute_any(&mine, &exclusions));
                    o.map_or((0, vec![None; n]), |o| (o.reached, o.times))
                }
                Mode::Ordered => {
                    let matches: Vec<(i64, usize)> = mine.hits(Mode::Ordered).iter().map(|h| (h.sec, usize::from(h.step) - 1)).collect();
                    brute_ordered(&mine, &matches, &exclusions)
                }
                Mode::Strict => {
                    let mut hits = mine.hits(Mode::Strict);
                    hits.sort_by_key(|h| (h.sec, h.step));
                    let (level, read) = super::clickhouse::window_funnel(n, mine.window_s, true, &hits);
                    let matches: Vec<(i64, usize)> = hits[..read].iter().filter(|h| h.step > 0).map(|h| (h.sec, usize::from(h.step) - 1)).collect();
                    let (reached, times) = brute_ordered(&mine, &matches, &[]);
                    prop_assert_eq!(deepest(reached), level);
                    (reached, times)
                }
            };
            for k in 0..n {
                want_users[k] += u64::from(reached & (1 << k) != 0);
                if let Some(t) = times[k] {
                    want_times[k].push(t);
                }
            }
        }
        prop_assert_eq!(report.steps.iter().map(|s| s.users).collect::<Vec<_>>(), want_users);
        for (k, t) in want_times.iter_mut().enumerate() {
            t.sort_unstable();
            prop_assert_eq!(report.steps[k].median_seconds, percentile_nearest_rank(t, 0.5));
            prop_assert_eq!(report.steps[k].p90_seconds, percentile_nearest_rank(t, 0.9));
        }
    }
}

// ---- The columnar scan against the row scan --------------------------------------------

/// One random event: (shopper, anonymous only, ms offset, signal, device, locale).
type RandomEvent = (usize, bool, i64, usize, u8, usize);

const LOG_SIGNALS: [&str; 6] = ["a", "b", "product_viewed", "c", "checkout_started", "r"];
const LOCALES: [Option<&str>; 4] = [None, Some("en-GB"), Some("de"), Some("pt_br")];

fn random_event(i: usize, (u, anon, ms, s, device, locale): RandomEvent) -> Event {
    // Times on a 250 ms grid within ~3 minutes: same-millisecond and same-second ties abound,
    // across segments too.
    let mut e = Event::new(format!("m{i}"), 1_767_571_200_000 + ms * 250, Signal::from_canonical(LOG_SIGNALS[s]), Source::Segment);
    if anon {
        e.anonymous_id = Some(format!("anon-{u}"));
    } else {
        e.user_id = Some(format!("user-{u}"));
    }
    if u == 7 {
        // A few events of nobody: in no funnel.
        e.user_id = None;
        e.anonymous_id = None;
    }
    e.context.device = glint_event::DeviceType::from_code(device);
    e.context.locale = LOCALES[locale].map(str::to_string);
    e
}

/// The funnels asked of every random log: each mode, repeated and optional steps,
/// exclusions, every breakdown the columns hold.
fn funnels() -> Vec<FunnelSpec> {
    let spec = |steps: &str, window: u64, mode: Mode, exclude: &[&str], by: Option<Breakdown>| {
        FunnelSpec::new(parse_steps(steps).expect("steps"), window, mode, exclude.iter().map(|s| s.to_string()).collect(), by).expect("spec")
    };
    vec![
        spec("a,b,c", 30, Mode::Ordered, &[], None),
        spec("a,b,c", 30, Mode::Ordered, &[], Some(Breakdown::Device)),
        spec("product_viewed,a,b", 60, Mode::Ordered, &["r"], Some(Breakdown::Country)),
        spec("a,b?,c", 45, Mode::Ordered, &["r"], Some(Breakdown::FunnelStage)),
        spec("a,b,a,c", 20, Mode::Ordered, &[], Some(Breakdown::ReferrerClass)),
        spec("a,b,c", 30, Mode::Strict, &[], Some(Breakdown::Device)),
        spec("b,b", 10, Mode::Strict, &[], None),
        spec("c,a,b", 40, Mode::Any, &["r"], Some(Breakdown::FunnelStage)),
        // A lookback shorter than the log's span, so stages also expire.
        FunnelSpec { stage_lookback_ms: 20_000, ..spec("a,b,c", 30, Mode::Ordered, &[], Some(Breakdown::FunnelStage)) },
        FunnelSpec { stage_lookback_ms: 5_000, ..spec("a,b", 30, Mode::Strict, &[], Some(Breakdown::FunnelStage)) },
        spec("a,a,b?", 40, Mode::Any, &[], Some(Breakdown::Country)),
        spec("a,nope", 40, Mode::Ordered, &[], None),
    ]
}

fn row_scan(spec: &FunnelSpec, log: &glint_log::Log) -> Result<FunnelReport, String> {
    let mut b = FunnelBuilder::new(spec.clone());
    for e in log.scan(..).expect("scan") {
        b.add(&e.expect("event"));
    }
    b.finish().map_err(|e| e.to_string())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Random logs with sealed and active segments, an erasure and retention: the columnar
    /// scan (1 and 3 threads, also through a read-only open) answers every funnel exactly as
    /// the row scan does, breakdown values and times included.
    #[test]
    fn the_columnar_scan_answers_as_the_row_scan(
        batches in proptest::collection::vec(proptest::collection::vec((0usize..8, any::<bool>(), 0i64..700, 0usize..6, 0u8..4, 0usize..4), 1..60), 1..8),
        erase in proptest::option::of(0usize..7),
        cutoff in proptest::option::of(0i64..300),
        damage in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = glint_log::Log::open(dir.path(), glint_log::LogOptions { segment_bytes_max: 4096, seal_cpu_share: 1.0 }).expect("open");
        let mut i = 0;
        for (b, batch) in batches.iter().enumerate() {
            let events: Vec<Event> = batch.iter().map(|&r| { i += 1; random_event(i, r) }).collect();
            log.append(events).expect("append");
            log.sync().expect("sync");
            if b % 3 == 1 {
                log.rotate().expect("rotate");
            }
        }
        if let Some(u) = erase {
            log.erase(&format!("user-{u}")).expect("erase");
        }
        if let Some(c) = cutoff {
            log.apply_retention(1_767_571_200_000 + c * 250).expect("retention");
        }
        // Something in the active segment after all that.
        log.append((0..5).map(|k| random_event(10_000 + k, (k % 3, false, 650 + k as i64, k % 4, 1, 1)))).expect("append");
        log.sync().expect("sync");
        if damage {
            // A damaged column file falls back to the rows: same answers.
            if let Some(cols) = std::fs::read_dir(dir.path().join("log")).expect("dir").map(|e| e.expect("entry").path()).find(|p| p.extension().is_some_and(|x| x == "cols")) {
                let mut bytes = std::fs::read(&cols).expect("read");
                let last = bytes.len() - 1;
                bytes[last] ^= 0x10;
                std::fs::write(&cols, bytes).expect("write");
            }
        }
        let reader = glint_log::Log::open_read_only(dir.path()).expect("read-only open");
        for spec in funnels() {
            let want = row_scan(&spec, &log);
            for (threads, l) in [(1, &log), (3, &log), (2, &reader)] {
                let got = scan_columns(&spec, l, threads).map(|s| s.report).map_err(|e| e.to_string());
                prop_assert_eq!(&got, &want, "threads {} spec {:?}", threads, spec);
            }
        }
    }
}
