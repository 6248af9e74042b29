//! Engine tests: hand-built event scripts in, firings out, through one `check` helper that
//! also replays each script twice to prove determinism.

use glint_event::{Builtin, Event, Signal, Source, Taxonomy};

use super::*;

const MIN: i64 = 60_000;

/// One scripted event: minute, shopper, signal, product.
fn ev(min: i64, user: &str, b: Builtin, product: Option<&str>) -> Event {
    let mut e = Event::new(format!("{user}-{min}-{}", b.name()), min * MIN, Signal::Builtin(b), Source::Rees46);
    e.user_id = Some(user.into());
    e.properties.product_id = product.map(str::to_string);
    e.properties.price = Some(10.0);
    e
}

/// Run a script (then advance to `end_min`) and render the firings as
/// `moment user minute outcome`; run it twice and insist the outputs agree.
fn check(script: &[Event], end_min: i64) -> Vec<String> {
    let run = || {
        let mut engine = Engine::new(EngineConfig { seed: 7, ..EngineConfig::default() }, Taxonomy::default());
        let mut firings = Vec::new();
        for e in script {
            firings.extend(engine.apply(e));
        }
        firings.extend(engine.advance_to(end_min * MIN));
        firings
    };
    let (a, b) = (run(), run());
    assert_eq!(a, b, "replay is deterministic");
    a.iter().map(|f| format!("{} {} {} {}", f.moment, f.user, f.at_ms / MIN, f.outcome.as_str())).collect()
}

fn fired(outcome_free: &[String]) -> Vec<String> {
    // Drop the outcome (sent or holdout depends on the hash) where the test is about timing.
    outcome_free.iter().map(|s| s.rsplit_once(' ').map_or(s.clone(), |(a, _)| a.to_string())).collect()
}

use Builtin::*;

#[test]
fn cart_wobble_qualifies_thirty_minutes_after_the_last_cart_activity() {
    let out = check(&[ev(0, "u", ProductAdded, Some("p1")), ev(20, "u", ProductAdded, Some("p2"))], 120);
    assert_eq!(fired(&out), ["cart_wobble u 50"]);
}

#[test]
fn cart_wobble_needs_a_non_empty_cart() {
    let removed = check(&[ev(0, "u", ProductAdded, Some("p1")), ev(5, "u", ProductRemoved, Some("p1"))], 120);
    assert!(removed.is_empty(), "{removed:?}");
    let ordered = check(&[ev(0, "u", ProductAdded, Some("p1")), ev(5, "u", OrderCompleted, None)], 120);
    assert!(ordered.is_empty(), "{ordered:?}");
    // Removing one product of two leaves a cart: the removal restarts the timer.
    let partial = check(&[ev(0, "u", ProductAdded, Some("p1")), ev(1, "u", ProductAdded, Some("p2")), ev(10, "u", ProductRemoved, Some("p1"))], 120);
    assert_eq!(fired(&partial), ["cart_wobble u 40"]);
}

#[test]
fn an_add_without_a_product_id_is_one_unnamed_item() {
    let out = check(&[ev(0, "u", ProductAdded, None)], 60);
    assert_eq!(fired(&out), ["cart_wobble u 30"]);
}

#[test]
fn cart_wobble_is_not_rearmed_until_the_next_cart_activity() {
    let out = check(&[ev(0, "u", ProductAdded, Some("p1")), ev(40, "u", ProductViewed, Some("p9"))], 600);
    assert_eq!(fired(&out), ["cart_wobble u 30"], "browsing is not cart activity");
}

#[test]
fn a_timer_due_at_t_fires_before_an_event_stamped_t() {
    let out = check(&[ev(0, "u", ProductAdded, Some("p1")), ev(30, "u", OrderCompleted, None)], 120);
    assert_eq!(fired(&out), ["cart_wobble u 30"]);
    let late = check(&[ev(0, "u", ProductAdded, Some("p1")), ev(29, "u", CheckoutStarted, None), ev(30, "u", OrderCompleted, None)], 120);
    assert!(late.is_empty(), "checkout at 29 restarted the timer, the order at 30 emptied the cart");
}

#[test]
fn the_cap_counts_sent_and_holdout_within_24_hours() {
    let script = [
        ev(0, "u", ProductAdded, Some("p1")),
        ev(120, "u", ProductAdded, Some("p2")),      // qualifies at 150: capped (< 24 h after 30)
        ev(25 * 60, "u", ProductAdded, Some("p3")),  // qualifies at 1530: > 24 h after 30
    ];
    let out = check(&script, 48 * 60);
    assert_eq!(out.len(), 3);
    assert!(out[0].starts_with("cart_wobble u 30 ") && !out[0].ends_with("capped"), "{out:?}");
    assert_eq!(out[1], "cart_wobble u 150 capped");
    assert!(out[2].starts_with("cart_wobble u 1530 ") && !out[2].ends_with("capped"), "{out:?}");
}

#[test]
fn browse_drift_needs_five_views_and_no_add_thirty_minutes_after_the_first_view() {
    let views = |user: &str, n: i64| (0..n).map(|i| ev(i, user, ProductViewed, Some("p"))).collect::<Vec<_>>();
    assert_eq!(fired(&check(&views("a", 5), 120)), ["browse_drift a 30"]);
    assert!(check(&views("b", 4), 120).is_empty());
    let mut with_add = views("c", 6);
    with_add.push(ev(10, "c", ProductAdded, Some("p")));
    let out = fired(&check(&with_add, 120));
    assert_eq!(out, ["cart_wobble c 40"], "an add cancels browse_drift (and starts a cart)");
    // A new session (31 minutes of quiet) has its own window.
    let mut two = views("d", 5);
    two.extend((0..5).map(|i| ev(100 + i, "d", ProductViewed, Some("q"))));
    assert_eq!(fired(&check(&two, 300)), ["browse_drift d 30", "browse_drift d 130"]);
}

#[test]
fn identify_folds_the_anonymous_cart_into_the_known_shopper() {
    let mut add = ev(0, "x", ProductAdded, Some("p1"));
    add.user_id = None;
    add.anonymous_id = Some("anon-1".into());
    let mut identify = Event::new("id".into(), 10 * MIN, Signal::Builtin(Identified), Source::Rees46);
    identify.user_id = Some("user-1".into());
    identify.anonymous_id = Some("anon-1".into());
    let out = check(&[add, identify], 120);
    assert_eq!(fired(&out), ["cart_wobble user-1 30"]);
}

#[test]
fn live_traffic_without_consent_is_not_nudged_for_marketing() {
    let mut live = ev(0, "u", ProductAdded, Some("p1"));
    live.source = Source::Segment;
    assert_eq!(check(&[live.clone()], 60), ["cart_wobble u 30 no_consent"]);
    live.context.consent.purposes = vec![("marketing".into(), true)];
    let out = check(&[live], 60);
    assert!(!out[0].ends_with("no_consent"), "{out:?}");
}

#[test]
fn receipts_and_ids_say_why() {
    let mut engine = Engine::new(EngineConfig::default(), Taxonomy::default());
    engine.apply(&ev(0, "u", ProductAdded, Some("p1")));
    let f = engine.advance_to(30 * MIN).pop().expect("a firing");
    assert_eq!(f.fire_id, fire_id("cart_wobble", "u", 30 * MIN));
    assert_eq!(f.receipt.trigger_event_ids, ["u-0-product_added"]);
    assert!(f.receipt.values.contains(&("cart.items".to_string(), Fact::Num(1.0))), "{:?}", f.receipt.values);
    assert!(f.receipt.values.contains(&("idle_minutes".to_string(), Fact::Num(30.0))), "{:?}", f.receipt.values);
    assert_eq!(f.receipt.rule_version.len(), 8);
    assert_eq!(f.receipt.intent.as_ref().expect("scored").reasons[0].0, "product_added");
    assert_eq!(f.group == Group::Holdout, holdout::is_holdout(EngineConfig::default().seed, "u", "cart_wobble", 1000));
    assert_eq!(engine.pending_timers(), 1, "only the yearly holiday-cutoff calendar timer is left");
}

fn rated(min: i64, user: &str, b: Builtin, rating: f64) -> Event {
    let mut e = ev(min, user, b, Some("p1"));
    e.properties.rating = Some(rating);
    e
}

fn order(min: i64, user: &str, revenue: f64) -> Event {
    let mut e = ev(min, user, OrderCompleted, None);
    e.properties.revenue = Some(revenue);
    e
}

fn strip(out: &[String], moment: &str) -> Vec<String> {
    fired(out).into_iter().filter(|f| f.starts_with(moment)).collect()
}

#[test]
fn service_moments_fire_at_the_event() {
    let out = check(&[ev(0, "u", OrderDelayed, None), ev(10, "v", OrderRefunded, None), ev(20, "w", OrderShipped, None)], 60);
    assert_eq!(strip(&out, "service_recovery"), ["service_recovery u 0", "service_recovery v 10"]);
    let out = check(&[rated(0, "bad", ReviewSubmitted, 1.0), rated(1, "good", ReviewSubmitted, 5.0), ev(2, "t", SupportTicketOpened, None)], 60);
    assert_eq!(strip(&out, "apology"), ["apology bad 0", "apology t 2"], "a support ticket has no rating and qualifies");
}

#[test]
fn referral_nudge_needs_a_happy_review_after_an_order() {
    let out = check(&[rated(0, "new", ReviewSubmitted, 5.0), order(1, "buyer", 20.0), rated(5, "buyer", ReviewSubmitted, 4.0), rated(6, "meh", ReviewSubmitted, 3.0)], 60);
    assert_eq!(strip(&out, "referral_nudge"), ["referral_nudge buyer 5"]);
}

#[test]
fn thresholds_fire_once_when_crossed_upward() {
    let out = check(&[order(0, "u", 300.0), order(60, "u", 250.0), order(120, "u", 900.0)], 600);
    assert_eq!(strip(&out, "vip_tier"), ["vip_tier u 60"]);
    let points = |min: i64, n: f64| {
        let mut e = ev(min, "p", PointsEarned, None);
        e.properties.points = Some(n);
        e
    };
    let out = check(&[points(0, 600.0), points(5, 500.0), points(9, 100.0)], 60);
    assert_eq!(strip(&out, "reward_unlock"), ["reward_unlock p 5"]);
}

#[test]
fn back_in_stock_reaches_everyone_who_wished_for_the_product() {
    let mut restock = Event::new("restock".into(), 30 * MIN, Signal::Builtin(ProductBackInStock), Source::Rees46);
    restock.properties.product_id = Some("p1".into());
    let mut other = restock.clone();
    other.message_id = "restock-2".into();
    other.properties.product_id = Some("p2".into());
    let script = [
        ev(0, "a", ProductAddedToWishlist, Some("p1")),
        ev(1, "b", BackInStockRequested, Some("p1")),
        ev(2, "c", ProductViewed, Some("p1")),
        restock,
        other,
    ];
    let out = check(&script, 60);
    assert_eq!(strip(&out, "back_in_stock"), ["back_in_stock a 30", "back_in_stock b 30"]);
}

/// Epoch ms of a UTC date-time.
fn utc(y: i16, mo: i8, d: i8, h: i8) -> i64 {
    jiff::civil::date(y, mo, d).at(h, 0, 0, 0).to_zoned(jiff::tz::TimeZone::UTC).expect("valid").timestamp().as_millisecond()
}

fn run(script: &[Event], end: i64) -> Vec<(String, String, i64)> {
    let mut engine = Engine::new(EngineConfig::default(), Taxonomy::default());
    let mut out = Vec::new();
    for e in script {
        out.extend(engine.apply(e));
    }
    out.extend(engine.advance_to(end));
    out.into_iter().map(|f| (f.moment, f.user, f.at_ms)).collect()
}

fn at(t: i64, user: &str, b: Builtin, product: Option<&str>) -> Event {
    let mut e = ev(0, user, b, product);
    e.time_ms = t;
    e.message_id = format!("{user}-{t}-{}", b.name());
    e
}

#[test]
fn social_proof_fires_when_a_viewed_product_sold_three_times_in_the_last_hour() {
    let t0 = utc(2026, 3, 1, 10);
    let script = [
        at(t0, "a", OrderCompleted, Some("hot")),
        at(t0 + 10 * MIN, "b", OrderCompleted, Some("hot")),
        at(t0 + 20 * MIN, "c", OrderCompleted, Some("hot")),
        at(t0 + 30 * MIN, "viewer", ProductViewed, Some("hot")),
        at(t0 + 30 * MIN, "other", ProductViewed, Some("cold")),
        at(t0 + 61 * MIN, "late", ProductViewed, Some("hot")), // the first order left the window
    ];
    let fired: Vec<_> = run(&script, t0 + 2 * 60 * MIN).into_iter().filter(|f| f.0 == "social_proof").collect();
    assert_eq!(fired, [("social_proof".to_string(), "viewer".to_string(), t0 + 30 * MIN)]);
}

#[test]
fn birthday_fires_at_nine_local_time_every_year() {
    let mut identify = at(utc(2026, 3, 1, 0), "u", Identified, None);
    identify.traits.birthday = Some("1990-03-10".into());
    identify.context.timezone = Some("Europe/Berlin".into());
    let fired: Vec<_> = run(&[identify], utc(2027, 12, 31, 0)).into_iter().filter(|f| f.0 == "birthday").map(|f| f.2).collect();
    // 09:00 in Berlin is 08:00 UTC in March (CET, before the switch to summer time).
    assert_eq!(fired, [utc(2026, 3, 10, 8), utc(2027, 3, 10, 8)]);
}

#[test]
fn birthdays_in_summer_time_follow_the_local_clock() {
    let mut identify = at(utc(2026, 3, 1, 0), "u", Identified, None);
    identify.traits.birthday = Some("07-01".into());
    identify.context.timezone = Some("Europe/Berlin".into());
    let fired: Vec<_> = run(&[identify], utc(2026, 12, 31, 0)).into_iter().filter(|f| f.0 == "birthday").map(|f| f.2).collect();
    assert_eq!(fired, [utc(2026, 7, 1, 7)], "CEST is UTC+2");
}

#[test]
fn subscription_renewal_fires_once_three_days_ahead() {
    let mut identify = at(utc(2026, 3, 1, 0), "u", Identified, None);
    identify.traits.renewal_date = Some("2026-03-20".into());
    let fired: Vec<_> = run(&[identify], utc(2027, 12, 31, 0)).into_iter().filter(|f| f.0 == "subscription_renewal").map(|f| f.2).collect();
    assert_eq!(fired, [utc(2026, 3, 17, 9)]);
}

#[test]
fn a_changed_date_rearms_and_the_old_one_stays_silent() {
    let mut first = at(utc(2026, 3, 1, 0), "u", Identified, None);
    first.traits.renewal_date = Some("2026-03-20".into());
    let mut changed = at(utc(2026, 3, 2, 0), "u", Identified, None);
    changed.traits.renewal_date = Some("2026-04-20".into());
    changed.message_id = "changed".into();
    let fired: Vec<_> = run(&[first, changed], utc(2026, 12, 31, 0)).into_iter().filter(|f| f.0 == "subscription_renewal").map(|f| f.2).collect();
    assert_eq!(fired, [utc(2026, 4, 17, 9)]);
}

#[test]
fn holiday_cutoff_reaches_shoppers_holding_a_cart_48_hours_before() {
    let script = [
        at(utc(2026, 12, 15, 10), "holder", ProductAdded, Some("p1")),
        at(utc(2026, 12, 15, 11), "buyer", ProductAdded, Some("p2")),
        at(utc(2026, 12, 15, 12), "buyer", OrderCompleted, None),
    ];
    let fired: Vec<_> = run(&script, utc(2026, 12, 31, 0)).into_iter().filter(|f| f.0 == "holiday_cutoff").collect();
    assert_eq!(fired, [("holiday_cutoff".to_string(), "holder".to_string(), utc(2026, 12, 16, 12))]);
}

/// An engine over a rule file written in the test.
fn engine_with(rules: &str) -> Engine {
    let rules = Rules::parse(rules, "test.toml", &Taxonomy::default(), None).expect("rules parse");
    Engine::new(EngineConfig { seed: 7, consent: ConsentDefaults::default(), moments: rules.moments, budget: rules.budget, intent_features: false }, Taxonomy::default())
}

fn drive(engine: &mut Engine, script: &[Event], end: i64) -> Vec<Firing> {
    let mut out = Vec::new();
    for e in script {
        out.extend(engine.apply(e));
    }
    out.extend(engine.advance_to(end));
    out
}

/// A moment on `signal` with the given extra TOML lines (holdout 0 so outcomes are exact).
fn moment(name: &str, signal: &str, extra: &str) -> String {
    format!("[[moment]]\nname = \"{name}\"\ntrigger = {{ signal = [\"{signal}\"] }}\nholdout = 0.0\nconsent = \"marketing\"\nkpi = {{ signals = [\"order_completed\"], within = \"1h\" }}\n{extra}\n")
}

#[test]
fn the_budget_goes_to_the_higher_priority_moment_when_both_qualify_at_once() {
    let rules = format!("[budget]\nmax = 1\nper = \"24h\"\n{}{}", moment("low", "product_viewed", "priority = 1"), moment("high", "product_viewed", "priority = 9"));
    let mut engine = engine_with(&rules);
    let out = drive(&mut engine, &[ev(0, "u", ProductViewed, Some("p")), ev(60, "u", ProductViewed, Some("p"))], 120);
    let got: Vec<(String, i64, &str)> = out.iter().map(|f| (f.moment.clone(), f.at_ms / MIN, f.outcome.as_str())).collect();
    assert_eq!(
        got,
        [("high".into(), 0, "sent"), ("low".into(), 0, "budget"), ("high".into(), 60, "budget"), ("low".into(), 60, "budget")],
        "one nudge a day: the higher priority takes it, the rest are recorded as budget"
    );
}

#[test]
fn exempt_moments_neither_spend_nor_respect_the_budget() {
    let rules = format!("[budget]\nmax = 1\nper = \"24h\"\n{}{}", moment("a", "product_viewed", "priority = 2"), moment("service", "product_viewed", "priority = 1\nbudget = false"));
    let out = drive(&mut engine_with(&rules), &[ev(0, "u", ProductViewed, Some("p"))], 10);
    let got: Vec<&str> = out.iter().map(|f| f.outcome.as_str()).collect();
    assert_eq!(got, ["sent", "sent"]);
}

#[test]
fn quiet_hours_defer_to_their_end_in_the_shoppers_time_zone() {
    let rules = moment("q", "product_viewed", "quiet_hours = { from = \"21:00\", to = \"08:00\", then = \"defer\" }");
    // 22:30 in New York on 2026-03-07 (EST, UTC-5) is 03:30 UTC on the 8th; that night the
    // clocks spring forward, so 08:00 EDT on the 8th is 12:00 UTC.
    let mut e = at(utc(2026, 3, 8, 3) + 30 * MIN, "u", ProductViewed, Some("p"));
    e.context.timezone = Some("America/New_York".into());
    let out = drive(&mut engine_with(&rules), &[e], utc(2026, 3, 9, 0));
    let got: Vec<(i64, &str)> = out.iter().map(|f| (f.at_ms, f.outcome.as_str())).collect();
    assert_eq!(got, [(utc(2026, 3, 8, 3) + 30 * MIN, "deferred"), (utc(2026, 3, 8, 12), "sent")]);
    assert_ne!(out[0].fire_id, out[1].fire_id);
}

#[test]
fn quiet_hours_drop_and_outside_them_nothing_changes() {
    let rules = moment("q", "product_viewed", "quiet_hours = { from = \"21:00\", to = \"08:00\", then = \"drop\" }");
    let night = at(utc(2026, 6, 1, 23), "u", ProductViewed, Some("p"));
    let day = at(utc(2026, 6, 2, 12), "v", ProductViewed, Some("p"));
    let out = drive(&mut engine_with(&rules), &[night, day], utc(2026, 6, 3, 0));
    let got: Vec<(&str, &str)> = out.iter().map(|f| (f.user.as_str(), f.outcome.as_str())).collect();
    assert_eq!(got, [("u", "quiet_hours"), ("v", "sent")]);
}

#[test]
fn correlation_caps_per_product_not_per_shopper() {
    let rules = moment("c", "product_viewed", "cap = \"1/24h\"\ncorrelate = \"product\"");
    let script = [ev(0, "u", ProductViewed, Some("p1")), ev(1, "u", ProductViewed, Some("p2")), ev(2, "u", ProductViewed, Some("p1"))];
    let out = drive(&mut engine_with(&rules), &script, 10);
    let got: Vec<(Option<&str>, &str)> = out.iter().map(|f| (f.receipt.correlation.as_deref(), f.outcome.as_str())).collect();
    assert_eq!(got, [(Some("p1"), "sent"), (Some("p2"), "sent"), (Some("p1"), "capped")]);
}

#[test]
fn caps_allow_n_per_window() {
    let rules = moment("c", "product_viewed", "cap = \"2/1h\"");
    let script: Vec<Event> = [0, 10, 20, 61].iter().map(|&m| ev(m, "u", ProductViewed, Some("p"))).collect();
    let out = drive(&mut engine_with(&rules), &script, 100);
    let got: Vec<&str> = out.iter().map(|f| f.outcome.as_str()).collect();
    assert_eq!(got, ["sent", "sent", "capped", "sent"], "the third within the hour is capped; at 61 the first has left the window");
}

#[test]
fn an_absence_window_is_cancelled_by_its_unless_signal() {
    let rules = "[[moment]]\nname = \"no_order\"\ntrigger = { absence = \"30m\", after = [\"checkout_started\"], unless = [\"order_completed\"] }\nholdout = 0.0\nconsent = \"marketing\"\nkpi = { signals = [\"order_completed\"], within = \"1h\" }\n";
    let script = [ev(0, "a", CheckoutStarted, None), ev(0, "b", CheckoutStarted, None), ev(10, "b", OrderCompleted, None), ev(20, "a", CheckoutStarted, None)];
    let mut engine = engine_with(rules);
    let out = drive(&mut engine, &script, 120 * MIN);
    let got: Vec<(&str, i64)> = out.iter().map(|f| (f.user.as_str(), f.at_ms / MIN)).collect();
    assert_eq!(got, [("a", 50)], "b ordered; a's second checkout restarted the wait");
    assert_eq!(out[0].receipt.trigger_event_ids, ["a-20-checkout_started"]);
}

#[test]
fn conditions_gate_qualification_and_their_values_reach_the_receipt() {
    let rules = moment("big_cart", "product_added", "condition = \"cart.value >= 25 && context.device == 'mobile'\"");
    let mut engine = engine_with(&rules);
    let mut first = ev(0, "u", ProductAdded, Some("p1"));
    first.context.device = glint_event::DeviceType::Mobile;
    let mut second = ev(1, "u", ProductAdded, Some("p2"));
    second.properties.price = Some(20.0);
    let out = drive(&mut engine, &[first, second], 10);
    assert_eq!(out.len(), 1, "10 is below 25; 30 is not");
    assert_eq!(out[0].at_ms, MIN);
    assert_eq!(out[0].receipt.values, [("cart.value".to_string(), Fact::Num(30.0)), ("context.device".to_string(), Fact::Text("mobile".into()))]);
    assert_eq!(engine.stats().condition_false, 1);
}

#[test]
fn webhook_payloads_are_rendered_from_the_template_for_sent_firings_only() {
    let rules = moment("w", "product_added", "action = { webhook = \"shop\", template = { to = \"{{user}}\", value = \"{{cart.value}}\", text = \"id {{fire_id}}!\", fixed = 3 } }");
    let out = drive(&mut engine_with(&rules), &[ev(0, "u", ProductAdded, Some("p1"))], 10);
    let payload = out[0].payload.as_ref().expect("a sent webhook firing has a payload");
    assert_eq!(payload["to"], "u");
    assert_eq!(payload["value"], 10.0);
    assert_eq!(payload["text"], format!("id {}!", out[0].fire_id));
    assert_eq!(payload["fixed"], 3);
    let mut live = ev(0, "v", ProductAdded, Some("p1"));
    live.source = Source::Segment; // no consent context: marketing not granted
    let out = drive(&mut engine_with(&rules), &[live], 10);
    assert_eq!(out[0].outcome, Outcome::NoConsent);
    assert!(out[0].payload.is_none());
}


#[test]
fn sent_on_site_moments_are_active_for_their_kpi_window() {
    let rules = moment("badge", "product_viewed", "action = \"onsite\"");
    let mut engine = engine_with(&rules);
    drive(&mut engine, &[ev(0, "u", ProductViewed, Some("p"))], MIN);
    assert_eq!(engine.active_for("u", 30 * MIN), [("badge", 0)], "inside the 1h KPI window");
    assert!(engine.active_for("u", 61 * MIN).is_empty(), "its window has closed");
    // Held out: never shown, so never active.
    let held = moment("badge", "product_viewed", "action = \"onsite\"").replace("holdout = 0.0", "holdout = 1.0");
    let mut engine = engine_with(&held);
    drive(&mut engine, &[ev(0, "u", ProductViewed, Some("p"))], MIN);
    assert!(engine.active_for("u", MIN).is_empty());
    // Webhook moments are pushed, not shown on site.
    let pushed = moment("mail", "product_viewed", "action = { webhook = \"shop\" }");
    let mut engine = engine_with(&pushed);
    drive(&mut engine, &[ev(0, "u", ProductViewed, Some("p"))], MIN);
    assert!(engine.active_for("u", MIN).is_empty());
}
