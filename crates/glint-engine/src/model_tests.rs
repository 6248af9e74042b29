//! The engine against a small reference model of the rule semantics, on random scripts and
//! random rules: absence windows (restart and cancel), caps of N per window, the contact
//! budget settled by priority, quiet hours (defer and drop) in time zones across DST
//! changes; and the holdout share within statistical bounds.
//!
//! The model is written for obviousness, not speed: it walks each shopper's events in time
//! order with explicit lists of pending qualifications, and finds the end of quiet hours by
//! stepping minute by minute through local time.

use std::collections::BTreeMap;

use glint_event::{Builtin, Event, Signal, Source, Taxonomy};
use proptest::prelude::*;

use super::*;

const MIN: i64 = 60_000;
/// 2026-03-06 00:00 UTC: the random scripts span the US and EU spring-forward weekends.
const T0: i64 = 1_772_755_200_000;
const ZONES: [&str; 5] = ["UTC", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "Asia/Kathmandu"];

#[derive(Clone, Debug)]
struct Rules {
    wait_min: i64,
    /// Cap of moment A ("N/window"), of moment B.
    cap_a: Option<(u32, i64)>,
    cap_b: Option<(u32, i64)>,
    prio_a: i32,
    prio_b: i32,
    b_budgeted: bool,
    budget: Option<(u32, i64)>,
    quiet: Option<(u16, u16, bool)>,
}

impl Rules {
    fn toml(&self) -> String {
        let cap = |c: Option<(u32, i64)>| c.map_or("\"none\"".to_string(), |(n, w)| format!("\"{n}/{w}m\""));
        let mut s = String::new();
        if let Some((max, per)) = self.budget {
            s += &format!("[budget]\nmax = {max}\nper = \"{per}m\"\n");
        }
        s += &format!(
            "[[moment]]\nname = \"a\"\ntrigger = {{ absence = \"{}m\", after = [\"product_added\", \"product_removed\"], unless = [\"order_completed\"] }}\ncap = {}\nholdout = 0.0\nconsent = \"marketing\"\npriority = {}\nkpi = {{ signals = [\"order_completed\"], within = \"1h\" }}\n",
            self.wait_min,
            cap(self.cap_a),
            self.prio_a
        );
        s += &format!(
            "[[moment]]\nname = \"b\"\ntrigger = {{ signal = [\"product_viewed\"] }}\ncap = {}\nholdout = 0.0\nconsent = \"marketing\"\npriority = {}\nbudget = {}\nkpi = {{ signals = [\"order_completed\"], within = \"1h\" }}\n",
            cap(self.cap_b),
            self.prio_b,
            self.b_budgeted
        );
        if let Some((from, to, defer)) = self.quiet {
            s += &format!("quiet_hours = {{ from = \"{:02}:{:02}\", to = \"{:02}:{:02}\", then = \"{}\" }}\n", from / 60, from % 60, to / 60, to % 60, if defer { "defer" } else { "drop" });
        }
        s
    }
}

/// One scripted event: shopper index, minute, signal.
type Step = (usize, i64, Builtin);

fn rules() -> impl Strategy<Value = Rules> {
    // Round windows often, so that events land exactly on window edges.
    let window = || prop_oneof![Just(10i64), Just(30), Just(60), 10i64..300];
    let cap = proptest::option::of((1u32..3, window()));
    (prop_oneof![Just(10i64), Just(30), 5i64..90], cap.clone(), cap, 0i32..5, 5i32..10, any::<bool>(), proptest::option::of((1u32..3, prop_oneof![Just(30i64), Just(60), 30i64..600])), proptest::option::of((0u16..1440, 0u16..1440, any::<bool>())))
        .prop_filter("quiet hours need a length", |r| r.7.is_none_or(|(f, t, _)| f != t))
        .prop_map(|(wait_min, cap_a, cap_b, prio_a, prio_b, b_budgeted, budget, quiet)| Rules { wait_min, cap_a, cap_b, prio_a, prio_b, b_budgeted, budget, quiet })
}

fn script() -> impl Strategy<Value = Vec<Step>> {
    let signal = prop_oneof![Just(Builtin::ProductAdded), Just(Builtin::ProductRemoved), Just(Builtin::OrderCompleted), Just(Builtin::ProductViewed), Just(Builtin::PageViewed)];
    // Gaps of 0 (ties) to a few hours, over about four days.
    proptest::collection::vec((0usize..3, prop_oneof![Just(0i64), Just(5), Just(10), Just(30), 1i64..40, 40i64..400], signal), 1..60).prop_map(|steps| {
        let mut t = 0;
        steps.into_iter().map(|(u, gap, s)| {
            t += gap;
            (u, t, s)
        }).collect()
    })
}

fn event(i: usize, (u, minute, signal): Step, zones: &[usize]) -> Event {
    let mut e = Event::new(format!("e{i}"), T0 + minute * MIN, Signal::Builtin(signal), Source::Rees46);
    e.user_id = Some(format!("u{u}"));
    e.properties.product_id = Some("p".into());
    e.context.timezone = Some(ZONES[zones[u]].to_string());
    e
}

/// The reference: (shopper, moment, minute, outcome), sorted.
fn model(r: &Rules, steps: &[Step], zones: &[usize], end_min: i64) -> Vec<(String, String, i64, &'static str)> {
    let mut out = Vec::new();
    for u in 0..3 {
        let zone = jiff::tz::TimeZone::get(ZONES[zones[u]]).expect("zone");
        let local_min = |m: i64| {
            let z = jiff::Timestamp::from_millisecond(T0 + m * MIN).expect("time").to_zoned(zone.clone());
            (z.hour() as u16) * 60 + z.minute() as u16
        };
        let quiet = |m: i64| r.quiet.is_some_and(|(f, t, _)| { let l = local_min(m); if f < t { f <= l && l < t } else { l >= f || l < t } });
        let mine: Vec<&Step> = steps.iter().filter(|s| s.0 == u).collect();
        // Candidates: (minute, from a timer?, moment, arming order). Timers at a minute go
        // before that minute's events.
        let mut qualifying: Vec<(i64, bool, &str)> = Vec::new();
        // Moment a: each add/remove (re)starts a wait; an order cancels it; a wait fires if
        // nothing restarted or cancelled it strictly before its due time, and it is due by the end.
        for (i, s) in mine.iter().enumerate() {
            if matches!(s.2, Builtin::ProductAdded | Builtin::ProductRemoved) {
                let due = s.1 + r.wait_min;
                let interrupted = mine[i + 1..].iter().any(|n| n.1 < due && matches!(n.2, Builtin::ProductAdded | Builtin::ProductRemoved | Builtin::OrderCompleted));
                if !interrupted && due <= end_min {
                    qualifying.push((due, true, "a"));
                }
            }
        }
        for s in &mine {
            if s.2 == Builtin::ProductViewed {
                qualifying.push((s.1, false, "b"));
            }
        }
        // Decide in time order; at one minute, timers first, then events one at a time; within
        // a timer group higher priority first. Deferred qualifications come back as timers.
        let mut counted: Vec<(&str, i64)> = Vec::new();
        // Key (minute, is_event): a minute's timers sort before its events.
        let mut queue: BTreeMap<(i64, bool), Vec<&str>> = BTreeMap::new();
        for (m, timer, name) in qualifying {
            queue.entry((m, !timer)).or_default().push(name);
        }
        while let Some(((m, is_event), mut names)) = queue.pop_first() {
            let prio = |n: &str| if n == "a" { r.prio_a } else { r.prio_b };
            if !is_event {
                names.sort_by_key(|n| std::cmp::Reverse(prio(n)));
            }
            for name in names {
                let (cap, budgeted, has_quiet) = if name == "a" { (r.cap_a, true, false) } else { (r.cap_b, r.b_budgeted, true) };
                let capped = cap.is_some_and(|(n, w)| counted.iter().filter(|(c, t)| *c == name && m - t < w).count() >= n as usize);
                let over = budgeted && r.budget.is_some_and(|(n, w)| counted.iter().filter(|(c, t)| (*c == "a" || r.b_budgeted) && m - t < w).count() >= n as usize);
                let outcome = if capped {
                    "capped"
                } else if over {
                    "budget"
                } else if has_quiet && quiet(m) {
                    let defer = r.quiet.is_some_and(|q| q.2);
                    if defer {
                        let mut e = m + 1;
                        while quiet(e) {
                            e += 1;
                        }
                        if e <= end_min {
                            queue.entry((e, false)).or_default().push(name);
                        }
                        "deferred"
                    } else {
                        "quiet_hours"
                    }
                } else {
                    counted.push((name, m));
                    "sent"
                };
                out.push((format!("u{u}"), name.to_string(), m, outcome));
            }
        }
    }
    out.sort();
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn the_engine_agrees_with_the_reference_model(r in rules(), steps in script(), zones in proptest::collection::vec(0usize..ZONES.len(), 3)) {
        let parsed = super::Rules::parse(&r.toml(), "model.toml", &Taxonomy::default(), None).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut engine = Engine::new(EngineConfig { seed: 1, consent: ConsentDefaults::default(), moments: parsed.moments, budget: parsed.budget, intent_features: false }, Taxonomy::default());
        let mut got = Vec::new();
        for (i, s) in steps.iter().enumerate() {
            got.extend(engine.apply(&event(i, *s, &zones)));
        }
        let end_min = steps.last().map_or(0, |s| s.1) + 24 * 60;
        got.extend(engine.advance_to(T0 + end_min * MIN));
        let mut got: Vec<(String, String, i64, &'static str)> = got.into_iter().map(|f| (f.user, f.moment, (f.at_ms - T0) / MIN, f.outcome.as_str())).collect();
        got.sort();
        prop_assert_eq!(got, model(&r, &steps, &zones, end_min), "rules:\n{}", r.toml());
    }

    #[test]
    fn the_holdout_share_holds_within_statistical_bounds(seed in any::<u64>(), share_pct in 1u32..50) {
        let toml = format!("[[moment]]\nname = \"h\"\ntrigger = {{ signal = [\"product_viewed\"] }}\nholdout = {}\nconsent = \"marketing\"\nkpi = {{ signals = [\"order_completed\"], within = \"1h\" }}\n", f64::from(share_pct) / 100.0);
        let parsed = super::Rules::parse(&toml, "h.toml", &Taxonomy::default(), None).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut engine = Engine::new(EngineConfig { seed, consent: ConsentDefaults::default(), moments: parsed.moments, budget: None, intent_features: false }, Taxonomy::default());
        let n = 4_000;
        let mut held = 0;
        for i in 0..n {
            let mut e = Event::new(format!("e{i}"), T0, Signal::Builtin(Builtin::ProductViewed), Source::Rees46);
            e.user_id = Some(format!("shopper-{i}"));
            held += engine.apply(&e).iter().filter(|f| f.outcome == Outcome::Holdout).count();
        }
        // Binomial: 5 standard deviations either side (a false alarm about once in 3.5 million).
        let p = f64::from(share_pct) / 100.0;
        let (mean, sd) = (n as f64 * p, (n as f64 * p * (1.0 - p)).sqrt());
        prop_assert!((held as f64 - mean).abs() <= 5.0 * sd, "held {held} of {n} at {share_pct}%");
    }
}
