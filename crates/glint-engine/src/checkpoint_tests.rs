//! Checkpoint and erasure tests: a restart from a checkpoint taken at any point of a random
//! script gives exactly the firings of one uninterrupted run (the twelve default moments, and
//! rules whose quiet hours keep deferred qualifications in flight); the bytes are
//! deterministic; a changed configuration or damaged bytes give typed errors, never a panic;
//! and `forget` leaves no trace of a shopper in memory or in the next checkpoint.

use glint_event::{Builtin, Event, Signal, Source, Taxonomy};
use proptest::prelude::*;

use super::*;

const MIN: i64 = 60_000;
const ZONES: [&str; 4] = ["UTC", "America/New_York", "Europe/Berlin", "Asia/Kathmandu"];

/// Epoch ms of a UTC date-time.
fn utc(y: i16, mo: i8, d: i8, h: i8) -> i64 {
    jiff::civil::date(y, mo, d).at(h, 0, 0, 0).to_zoned(jiff::tz::TimeZone::UTC).expect("valid").timestamp().as_millisecond()
}

/// Rules with quiet hours that defer (most evenings and nights, in the shopper's zone), a
/// budget, caps, a popular-product count and a calendar date, so that deferred
/// qualifications and every kind of timer are in flight when a checkpoint is taken.
const QUIET_RULES: &str = r#"
[budget]
max = 2
per = "6h"

[[moment]]
name = "idle_cart"
trigger = { absence = "20m", after = ["product_added", "product_removed"], unless = ["order_completed"] }
condition = "cart.items > 0"
cap = "2/2h"
holdout = 0.2
consent = "marketing"
priority = 5
quiet_hours = { from = "22:00", to = "07:00", then = "defer" }
kpi = { signals = ["order_completed"], within = "1h" }

[[moment]]
name = "viewed"
trigger = { signal = ["product_viewed"] }
cap = "1/1h"
correlate = "product"
holdout = 0.1
consent = "personalization"
priority = 3
quiet_hours = { from = "18:00", to = "09:30", then = "defer" }
kpi = { signals = ["product_added"], within = "1h" }

[[moment]]
name = "restocked"
trigger = { back_in_stock = true }
holdout = 0.0
consent = "marketing"
priority = 7
quiet_hours = { from = "20:00", to = "08:00", then = "defer" }
kpi = { signals = ["order_completed"], within = "1d" }

[[moment]]
name = "hot"
trigger = { popular = "order_completed", on = "product_viewed", within = "2h", at_least = 2 }
holdout = 0.0
consent = "personalization"
budget = false
kpi = { signals = ["product_added"], within = "1h" }

[[moment]]
name = "cutoff"
trigger = { calendar = "12-15", hour = 18, before = "12h" }
condition = "cart.items > 0"
holdout = 0.0
consent = "marketing"
quiet_hours = { from = "02:00", to = "08:00", then = "defer" }
kpi = { signals = ["order_completed"], within = "1d" }
"#;

fn config(quiet: bool) -> EngineConfig {
    if !quiet {
        return EngineConfig::default();
    }
    let rules = Rules::parse(QUIET_RULES, "quiet.toml", &Taxonomy::default(), None).expect("rules parse");
    EngineConfig { seed: 99, consent: ConsentDefaults::default(), moments: rules.moments, budget: rules.budget, intent_features: false }
}

/// What a scripted shopper does.
#[derive(Clone, Copy, Debug)]
enum Act {
    View,
    Add,
    Remove,
    Checkout,
    Order(u16),
    Wish,
    /// A shopper-less inventory event for the step's product.
    Restock,
    Points(u16),
    Review(u8),
    Delayed,
    Ticket,
    /// Identify with user and anonymous id (a merge), birthday, renewal date and time zone.
    Identify,
    Custom,
    /// Five product views a minute apart (browse_drift's pattern).
    Browse,
}

/// One scripted event: shopper, minutes since the previous one, what, product, anonymous?,
/// source (0: import, 1: live without consent, 2: live with marketing consent).
type Step = (usize, i64, Act, usize, bool, u8);

fn act() -> impl Strategy<Value = Act> {
    prop_oneof![
        5 => Just(Act::View),
        4 => Just(Act::Add),
        1 => Just(Act::Remove),
        1 => Just(Act::Checkout),
        3 => (1u16..400).prop_map(Act::Order),
        1 => Just(Act::Wish),
        1 => Just(Act::Restock),
        1 => (1u16..700).prop_map(Act::Points),
        1 => (1u8..6).prop_map(Act::Review),
        1 => Just(Act::Delayed),
        1 => Just(Act::Ticket),
        1 => Just(Act::Identify),
        1 => Just(Act::Custom),
        1 => Just(Act::Browse),
    ]
}

fn script() -> impl Strategy<Value = Vec<Step>> {
    // Ties, minutes, hours: windows and caps meet their edges.
    let gap = prop_oneof![2 => Just(0i64), 3 => 1i64..40, 1 => 40i64..400];
    proptest::collection::vec((0usize..4, gap, act(), 0usize..3, proptest::bool::weighted(0.25), 0u8..3), 1..50)
}

/// The events of a script, starting 2026-12-13 00:00 UTC (the holiday cutoffs, birthdays and
/// renewals fall inside a few days of it).
fn events(steps: &[Step]) -> Vec<Event> {
    let t0 = utc(2026, 12, 13, 0);
    let mut minute = 0;
    let mut out = Vec::with_capacity(steps.len());
    for (i, &(u, gap, act, product, anonymous, source)) in steps.iter().enumerate() {
        minute += gap;
        let signal = match act {
            Act::View => Builtin::ProductViewed,
            Act::Add => Builtin::ProductAdded,
            Act::Remove => Builtin::ProductRemoved,
            Act::Checkout => Builtin::CheckoutStarted,
            Act::Order(_) => Builtin::OrderCompleted,
            Act::Wish => Builtin::ProductAddedToWishlist,
            Act::Restock => Builtin::ProductBackInStock,
            Act::Points(_) => Builtin::PointsEarned,
            Act::Review(_) => Builtin::ReviewSubmitted,
            Act::Delayed => Builtin::OrderDelayed,
            Act::Ticket => Builtin::SupportTicketOpened,
            Act::Identify => Builtin::Identified,
            Act::Custom => Builtin::PageViewed,
            Act::Browse => Builtin::ProductViewed,
        };
        let signal = if matches!(act, Act::Custom) { Signal::Custom("spun_the_wheel".into()) } else { Signal::Builtin(signal) };
        let mut e = Event::new(format!("e{i}"), t0 + minute * MIN, signal, if source == 0 { Source::Rees46 } else { Source::Segment });
        e.properties.product_id = Some(format!("p{product}"));
        e.properties.price = Some(9.99 + product as f64 * 3.7);
        if !matches!(act, Act::Restock) {
            if anonymous && !matches!(act, Act::Identify) {
                e.anonymous_id = Some(format!("a{u}"));
            } else {
                e.user_id = Some(format!("u{u}"));
            }
            e.context.timezone = Some(ZONES[u].to_string());
        }
        if source == 2 {
            e.context.consent.purposes = vec![("marketing".into(), true)];
        }
        match act {
            Act::Order(r) => e.properties.revenue = Some(f64::from(r) * 1.37),
            Act::Points(n) => e.properties.points = Some(f64::from(n) * 3.3),
            Act::Review(stars) => e.properties.rating = Some(f64::from(stars)),
            Act::Identify => {
                e.anonymous_id = Some(format!("a{u}"));
                e.traits.birthday = Some(format!("12-{}", 13 + u));
                e.traits.renewal_date = Some(format!("2026-12-{}", 15 + u));
            }
            _ => {}
        }
        if matches!(act, Act::Browse) {
            for k in 1..5 {
                let mut view = e.clone();
                view.message_id = format!("e{i}.{k}");
                view.properties.product_id = Some(format!("p{}", (product + k) % 3));
                out.push(view);
                minute += 1;
                e.time_ms += MIN;
            }
        }
        out.push(e);
    }
    out
}

fn saved(engine: &Engine) -> Vec<u8> {
    let mut bytes = Vec::new();
    engine.save(&mut bytes).expect("save to memory");
    bytes
}

fn restored(quiet: bool, bytes: &[u8]) -> Result<Engine, CheckpointError> {
    Engine::restore(config(quiet), Taxonomy::default(), bytes)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Run A applies everything, then advances to the end. Run B applies a prefix, advances
    /// part of the way to the next event (as the live engine does with the wall clock), saves,
    /// restores into a new engine and goes on. Same firings, and the same final state.
    #[test]
    fn a_restart_from_a_checkpoint_fires_exactly_as_one_run(quiet in any::<bool>(), steps in script(), cut_frac in 0.0f64..=1.0, mid_frac in 0.0f64..=1.0) {
        let script = events(&steps);
        let end = script.last().map_or(0, |e| e.time_ms) + 3 * 24 * 60 * MIN;
        let mut a = Engine::new(config(quiet), Taxonomy::default());
        let mut want = Vec::new();
        for e in &script {
            want.extend(a.apply(e));
        }
        want.extend(a.advance_to(end));

        let cut = ((script.len() as f64) * cut_frac) as usize;
        let (prefix, rest) = script.split_at(cut);
        let mut b = Engine::new(config(quiet), Taxonomy::default());
        let mut got = Vec::new();
        for e in prefix {
            got.extend(b.apply(e));
        }
        let from = prefix.last().map_or(i64::MIN, |e| e.time_ms);
        let to = rest.first().map_or(end, |e| e.time_ms);
        if from > i64::MIN {
            got.extend(b.advance_to(from + ((to - from) as f64 * mid_frac) as i64));
        }
        let bytes = saved(&b);
        prop_assert_eq!(&bytes, &saved(&b), "saving the same state twice gives the same bytes");
        drop(b);
        let mut b = restored(quiet, &bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&saved(&b), &bytes, "a restored engine saves the bytes it came from");
        for e in rest {
            got.extend(b.apply(e));
        }
        got.extend(b.advance_to(end));
        prop_assert_eq!(got.len(), want.len());
        prop_assert_eq!(&got, &want);
        prop_assert_eq!(saved(&a), saved(&b), "the same final state");
    }
}

#[test]
fn a_deferred_qualification_in_flight_survives_a_checkpoint() {
    // A wish, then a restock at 22:00 UTC: back_in_stock is deferred to 08:00.
    let mut wish = Event::new("w".into(), utc(2026, 6, 1, 12), Signal::Builtin(Builtin::ProductAddedToWishlist), Source::Rees46);
    wish.user_id = Some("u".into());
    wish.properties.product_id = Some("p".into());
    let mut restock = Event::new("r".into(), utc(2026, 6, 1, 22), Signal::Builtin(Builtin::ProductBackInStock), Source::Rees46);
    restock.properties.product_id = Some("p".into());
    let mut engine = Engine::new(EngineConfig::default(), Taxonomy::default());
    engine.apply(&wish);
    let deferred = engine.apply(&restock);
    assert_eq!(deferred.iter().map(|f| (f.moment.as_str(), f.outcome)).collect::<Vec<_>>(), [("back_in_stock", Outcome::Deferred)]);
    let bytes = saved(&engine);
    let state = String::from_utf8(checkpoint::state_bytes(&bytes)).expect("JSON");
    assert!(state.contains("\"deferred\":{\"moment\":2"), "a deferred candidate is in the checkpoint: {state}");
    let want = engine.advance_to(utc(2026, 6, 3, 0));
    let got = restored(false, &bytes).expect("restore").advance_to(utc(2026, 6, 3, 0));
    assert_eq!(got, want);
    assert_eq!(got[0].at_ms, utc(2026, 6, 2, 8));
    assert!(matches!(got[0].outcome, Outcome::Sent | Outcome::Holdout), "{:?}", got[0].outcome);
}

/// A checkpoint of a small but busy engine (default moments).
fn sample() -> Vec<u8> {
    let steps: Vec<Step> = (0..24).map(|i| (i % 4, 7, [Act::Add, Act::View, Act::Identify, Act::Wish, Act::Order(300), Act::Restock][i % 6], i % 3, i % 5 == 0, (i % 3) as u8)).collect();
    let mut engine = Engine::new(EngineConfig::default(), Taxonomy::default());
    for e in events(&steps) {
        engine.apply(&e);
    }
    assert!(engine.shoppers() >= 4 && engine.pending_timers() >= 3, "a busy state");
    saved(&engine)
}

fn config_changed(config: EngineConfig, taxonomy: Taxonomy, bytes: &[u8]) -> String {
    match Engine::restore(config, taxonomy, bytes) {
        Err(CheckpointError::ConfigChanged { what }) => what,
        Err(other) => panic!("expected ConfigChanged, got {other}"),
        Ok(_) => panic!("expected ConfigChanged, got an engine"),
    }
}

#[test]
fn a_checkpoint_is_refused_under_another_configuration() {
    let bytes = sample();
    assert!(restored(false, &bytes).is_ok());
    let base = EngineConfig::default;
    assert_eq!(config_changed(EngineConfig { seed: 1, ..base() }, Taxonomy::default(), &bytes), "the seed changed");
    let consent = ConsentDefaults { live_marketing_granted: true, ..ConsentDefaults::default() };
    assert_eq!(config_changed(EngineConfig { consent, ..base() }, Taxonomy::default(), &bytes), "the consent defaults changed");
    assert_eq!(config_changed(EngineConfig { budget: None, ..base() }, Taxonomy::default(), &bytes), "the budget changed");
    // One moment's rule edited: its version changes, and the error names it.
    let edited = DEFAULT_MOMENTS_TOML.replace("condition = \"cart.items > 0\"\ncap = \"1/24h\"\nholdout = 0.10\nconsent = \"marketing\"\npriority = 80", "condition = \"cart.items > 1\"\ncap = \"1/24h\"\nholdout = 0.10\nconsent = \"marketing\"\npriority = 80");
    assert_ne!(edited, DEFAULT_MOMENTS_TOML);
    let rules = Rules::parse(&edited, "moments.toml", &Taxonomy::default(), None).expect("parses");
    let what = config_changed(EngineConfig { moments: rules.moments, ..base() }, Taxonomy::default(), &bytes);
    assert!(what.starts_with("moment `cart_wobble` changed"), "{what}");
    let mut fewer = base();
    fewer.moments.pop();
    assert_eq!(config_changed(fewer, Taxonomy::default(), &bytes), "12 moments, now 11");
    let mut swapped = base();
    swapped.moments.swap(0, 1);
    assert_eq!(config_changed(swapped, Taxonomy::default(), &bytes), "moment 1 was `cart_wobble`, now `browse_drift`");
    let tax_config: glint_event::TaxonomyConfig = toml::from_str("[signals.product_viewed]\nweight = 2.5\n").expect("taxonomy config");
    let heavier = Taxonomy::with_config(&tax_config).expect("taxonomy");
    assert_eq!(config_changed(base(), heavier, &bytes), "the taxonomy's signal weights changed");
    let message = Engine::restore(EngineConfig { seed: 1, ..base() }, Taxonomy::default(), &bytes[..]).expect_err("refused").to_string();
    assert!(message.contains("rebuild the state from the log"), "{message}");
}

#[test]
fn damaged_checkpoints_give_typed_errors_never_a_panic() {
    let bytes = sample();
    let original = restored(false, &bytes).expect("the original restores");
    assert_eq!(saved(&original), bytes);

    assert!(matches!(restored(false, b""), Err(CheckpointError::Corrupt { .. })));
    assert!(matches!(restored(false, b"GLNTLOG\0 a log segment, not a checkpoint"), Err(CheckpointError::NotACheckpoint)));
    let mut newer = bytes.clone();
    newer[8] = 5;
    assert!(matches!(restored(false, &newer), Err(CheckpointError::Version { found: 5, supported: 4 })));

    // Every truncation is an error.
    for len in 0..bytes.len() {
        match restored(false, &bytes[..len]) {
            Err(CheckpointError::Corrupt { .. }) => {}
            Err(other) => panic!("cut at {len}: {other}"),
            Ok(_) => panic!("a checkpoint cut at {len} of {} restored", bytes.len()),
        }
    }
    // Bytes after the end are damage too.
    let mut longer = bytes.clone();
    longer.extend_from_slice(b"\0\0\0\0trailing");
    assert!(matches!(restored(false, &longer), Err(CheckpointError::Corrupt { .. })));

    // Every flipped byte is an error, or — where zstd ignores the bit (say, a larger window
    // than needed) — the very same state.
    let mut harmless = 0;
    for at in 0..bytes.len() {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x55;
        match restored(false, &damaged) {
            Err(CheckpointError::Corrupt { .. } | CheckpointError::NotACheckpoint | CheckpointError::Version { .. } | CheckpointError::ConfigChanged { .. }) => {}
            Err(other) => panic!("flip at {at}: {other}"),
            Ok(engine) => {
                assert_eq!(saved(&engine), bytes, "a flip at {at} restored a different state");
                harmless += 1;
            }
        }
    }
    assert!(harmless <= 2, "{harmless} flips went unnoticed");
}

#[test]
fn a_failing_reader_is_an_io_error_not_corruption() {
    struct Failing<'a>(&'a [u8]);
    impl std::io::Read for Failing<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0.is_empty() {
                return Err(std::io::Error::other("disk on fire"));
            }
            let n = buf.len().min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    let bytes = sample();
    for len in [10, 30, bytes.len() / 2, bytes.len() - 1] {
        match Engine::restore(EngineConfig::default(), Taxonomy::default(), Failing(&bytes[..len])) {
            Err(CheckpointError::Io(e)) => assert!(e.to_string().contains("disk on fire"), "{e}"),
            Err(other) => panic!("cut at {len}: expected an I/O error, got {other}"),
            Ok(_) => panic!("restored from a failing reader"),
        }
    }
}

/// A shopper's event: `user` may be a user id or, with `anonymous`, an anonymous id.
fn by(id: &str, anonymous: bool, t: i64, b: Builtin, product: Option<&str>, n: usize) -> Event {
    let mut e = Event::new(format!("{id}-evt-{n}"), t, Signal::Builtin(b), Source::Rees46);
    if anonymous {
        e.anonymous_id = Some(id.into());
    } else {
        e.user_id = Some(id.into());
    }
    e.properties.product_id = product.map(str::to_string);
    e.properties.price = Some(25.0);
    e.context.timezone = Some("UTC".into());
    e
}

fn restock(t: i64, product: &str, n: usize) -> Event {
    let mut e = Event::new(format!("restock-{n}"), t, Signal::Builtin(Builtin::ProductBackInStock), Source::Rees46);
    e.properties.product_id = Some(product.into());
    e
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn forget_removes_every_trace_of_a_shopper_and_leaves_the_others_alone() {
    const VICTIM: &str = "victim-7731";
    const ANON: &str = "anon-victim-42";
    let t = utc(2026, 12, 10, 20);
    let mut identify = by(VICTIM, false, t + 2 * MIN, Builtin::Identified, None, 3);
    identify.anonymous_id = Some(ANON.into());
    identify.traits.birthday = Some("12-11".into());
    let mut order = by(VICTIM, false, t + 90 * MIN, Builtin::OrderCompleted, None, 10);
    order.properties.revenue = Some(600.0);
    // (event, the victim's?) up to the erasure at 21:40, then after it.
    let before: Vec<(Event, bool)> = vec![
        (by("keeper-1", false, t, Builtin::ProductViewed, Some("p-k"), 1), false),
        (by(ANON, true, t + MIN, Builtin::ProductAdded, Some("p-v1"), 2), true),
        (identify, true),
        (by(VICTIM, false, t + 3 * MIN, Builtin::ProductAddedToWishlist, Some("p-v2"), 4), true),
        (by("keeper-2", false, t + 4 * MIN, Builtin::ProductAddedToWishlist, Some("p-k2"), 5), false),
        (by("keeper-1", false, t + 5 * MIN, Builtin::ProductAdded, Some("p-k"), 6), false),
        (restock(t + 70 * MIN, "p-v2", 7), false), // 21:10: the victim's back_in_stock is deferred
        (restock(t + 71 * MIN, "p-k2", 8), false),
        (by(VICTIM, false, t + 80 * MIN, Builtin::ProductViewed, Some("p-v1"), 9), true),
        (order, true), // vip_tier; and a cart_wobble timer for 22:50
    ];
    let after: Vec<Event> = vec![by("keeper-1", false, t + 120 * MIN, Builtin::ProductViewed, Some("p-k"), 11), restock(utc(2026, 12, 11, 10), "p-v2", 12), by("keeper-2", false, utc(2026, 12, 11, 11), Builtin::ProductAdded, Some("p-k2"), 13)];
    let forget_at = t + 100 * MIN;
    let end = utc(2026, 12, 12, 0);

    let mut engine = Engine::new(EngineConfig::default(), Taxonomy::default());
    let mut with_victim = Vec::new();
    for (e, _) in &before {
        with_victim.extend(engine.apply(e));
    }
    with_victim.extend(engine.advance_to(forget_at));
    assert!(with_victim.iter().any(|f| f.user == VICTIM), "the victim fired");
    let state = checkpoint::state_bytes(&saved(&engine));
    assert!(contains(&state, VICTIM) && contains(&state, ANON), "the victim is in the state before");
    let pending: Vec<&str> = engine.pending_for(ANON).into_iter().map(|(m, _)| m).collect();
    assert_eq!(pending, ["browse_drift", "cart_wobble", "birthday"], "found by the anonymous id");
    let timers_before = engine.pending_timers();

    assert_eq!(engine.forget(&[ANON.to_string()]), 1);
    let state = checkpoint::state_bytes(&saved(&engine));
    for id in [VICTIM, ANON] {
        assert!(!contains(&state, id), "{id} is still in the checkpoint: {}", String::from_utf8_lossy(&state));
        assert!(engine.pending_for(id).is_empty());
        assert!(engine.profile(id).is_none());
        assert_eq!(engine.canonical_id(id), id, "no alias left");
    }
    assert_eq!(engine.pending_timers(), timers_before - 4, "the three armed and the deferred back_in_stock went");
    assert_eq!(engine.forget(&[VICTIM.to_string(), ANON.to_string(), String::new()]), 0, "nobody left to forget");

    // The same script without the victim: the same timers pending, and then the others fire
    // identically.
    let mut never = Engine::new(EngineConfig::default(), Taxonomy::default());
    let mut without = Vec::new();
    for (e, _) in before.iter().filter(|(_, victim)| !victim) {
        without.extend(never.apply(e));
    }
    without.extend(never.advance_to(forget_at));
    assert_eq!(never.pending_timers(), engine.pending_timers(), "the same timers pending");
    for (engine, firings) in [(&mut engine, &mut with_victim), (&mut never, &mut without)] {
        for e in &after {
            firings.extend(engine.apply(e));
        }
        firings.extend(engine.advance_to(end));
    }
    let others: Vec<Firing> = with_victim.into_iter().filter(|f| f.user != VICTIM && f.user != ANON).collect();
    assert!(others.iter().any(|f| f.moment == "back_in_stock") && others.iter().any(|f| f.moment == "cart_wobble"), "{others:?}");
    assert_eq!(others, without);
}

#[test]
fn forget_counts_shoppers_and_keeps_calendar_timers() {
    let t = utc(2026, 6, 1, 12);
    let mut engine = Engine::new(EngineConfig::default(), Taxonomy::default());
    for (i, id) in ["a", "b", "c"].iter().enumerate() {
        engine.apply(&by(id, false, t + i as i64 * MIN, Builtin::ProductAdded, Some("p"), i));
    }
    let calendar = engine.pending_timers() - 3;
    assert_eq!(calendar, 1, "the holiday cutoff");
    assert_eq!(engine.forget(&["a".to_string(), "c".to_string(), "nobody".to_string(), String::new()]), 2);
    assert_eq!(engine.shoppers(), 1);
    assert_eq!(engine.pending_timers(), 1 + calendar);
    assert_eq!(engine.pending_for("b").len(), 1);
}
