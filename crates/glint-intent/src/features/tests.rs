//! Feature extraction on hand-built sessions, with values computed by hand.

use glint_event::time::parse_timestamp_ms;
use glint_event::{Builtin, DeviceType, Event, Item, ReferrerClass, Signal, Source, SignalOverride, Taxonomy, TaxonomyConfig};
use proptest::prelude::*;

use super::*;

/// Monday 2026-01-05 08:00:00 UTC.
const MONDAY_8AM: &str = "2026-01-05T08:00:00Z";

fn at(text: &str) -> i64 {
    parse_timestamp_ms(text).expect("a valid timestamp")
}

fn ev(time_ms: i64, signal: Signal) -> Event {
    let mut e = Event::new(format!("m{time_ms}-{}", signal.name()), time_ms, signal, Source::Segment);
    e.user_id = Some("u1".into());
    e
}

fn b(time_ms: i64, b: Builtin) -> Event {
    ev(time_ms, Signal::Builtin(b))
}

fn product(time_ms: i64, kind: Builtin, id: &str, category: &str, price: f64) -> Event {
    let mut e = b(time_ms, kind);
    e.properties.product_id = Some(id.into());
    e.properties.category = Some(category.into());
    e.properties.price = Some(price);
    e
}

/// Push `events` as one session of a shopper with `history`, the way every caller must.
fn session(history: &mut ShopperHistory, events: &[Event]) -> SessionFeatures {
    let taxonomy = Taxonomy::default();
    let mut f = history.open_session(events[0].time_ms);
    for e in events {
        f.push(&taxonomy, e);
        history.push(e);
    }
    f
}

fn value(f: &SessionFeatures, name: &str) -> f64 {
    f.get(name).unwrap_or_else(|| panic!("no feature {name}"))
}

fn assert_features(f: &SessionFeatures, want: &[(&str, f64)]) {
    for (name, v) in want {
        let got = value(f, name);
        assert!((got - v).abs() < 1e-9, "{name}: got {got}, want {v}");
    }
}

#[test]
fn names_follow_the_builtin_signals_and_never_repeat() {
    for (i, b) in Builtin::ALL.iter().enumerate() {
        assert_eq!(FEATURE_NAMES[i], format!("n_{}", b.name()), "column {i}");
    }
    let mut seen = std::collections::HashSet::new();
    for n in FEATURE_NAMES {
        assert!(seen.insert(n), "{n} twice");
        assert!(n.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_'), "{n} is not snake_case");
    }
    assert_eq!(FEATURE_COUNT, 73);
    assert_eq!(feature_index("n_page_viewed"), Some(0));
    assert_eq!(feature_index("referrer_referral"), Some(FEATURE_COUNT - 1));
}

#[test]
fn schema_hash_changes_only_with_a_deliberate_edit() {
    // If this fails you changed the feature vector: bump FEATURE_SCHEMA_VERSION (models trained
    // on the old vector must refuse the new one), then update this value.
    assert_eq!(FEATURE_SCHEMA_VERSION, 1);
    assert_eq!(format!("{FEATURE_SCHEMA_HASH:016x}"), "4574df6462be14d8");
    assert_ne!(schema_hash(2, FEATURE_NAMES), FEATURE_SCHEMA_HASH);
    assert_ne!(schema_hash(1, &FEATURE_NAMES[1..]), FEATURE_SCHEMA_HASH);
}

#[test]
fn schema_check_refuses_another_vector() {
    assert!(FeatureSchema::check(FeatureSchema::CURRENT).is_ok());
    let old = FeatureSchema { version: 0, hash: 42 };
    let err = FeatureSchema::check(old).expect_err("another schema");
    assert!(matches!(err, Error::SchemaMismatch { found, .. } if found == old));
    assert!(err.to_string().contains("retrain"), "{err}");
}

#[test]
fn taxonomy_fingerprint_follows_weights_and_stages() {
    let base = taxonomy_fingerprint(&Taxonomy::default());
    assert_eq!(base, taxonomy_fingerprint(&Taxonomy::default()));
    let mut cfg = TaxonomyConfig::default();
    cfg.signals.insert("video_played".into(), SignalOverride { weight: Some(9.0), ..Default::default() });
    let reweighted = Taxonomy::with_config(&cfg).expect("valid taxonomy");
    assert_ne!(taxonomy_fingerprint(&reweighted), base);
}

#[test]
fn a_browsing_session_gives_hand_computed_features() {
    let t0 = at(MONDAY_8AM);
    let s = |secs: i64| t0 + secs * 1000;
    let mut landing = b(s(0), Builtin::PageViewed);
    landing.context.device = DeviceType::Mobile;
    landing.context.referrer_class = ReferrerClass::Search;
    let mut add_p2 = product(s(230), Builtin::ProductAdded, "p2", "shoes", 70.0);
    add_p2.properties.quantity = Some(2.0);
    let mut remove_p1 = b(s(300), Builtin::ProductRemoved);
    remove_p1.properties.product_id = Some("p1".into());
    let mut view_p3 = product(s(360), Builtin::ProductViewed, "p3", "bags", 30.0);
    // Later pages are internal referrals; the session's referrer is its first.
    view_p3.context.referrer_class = ReferrerClass::Internal;
    let events = [
        landing,
        b(s(30), Builtin::ProductsSearched),
        product(s(60), Builtin::ProductViewed, "p1", "shoes", 50.0),
        product(s(150), Builtin::ProductViewed, "p2", "shoes", 70.0),
        b(s(170), Builtin::ReviewsViewed),
        add_p2,
        product(s(240), Builtin::ProductAdded, "p1", "shoes", 50.0),
        remove_p1,
        view_p3,
        ev(s(400), Signal::Custom("spin_wheel".into())),
    ];
    let f = session(&mut ShopperHistory::default(), &events);
    assert_features(&f, &[
        ("n_page_viewed", 1.0),
        ("n_products_searched", 1.0),
        ("n_product_viewed", 3.0),
        ("n_reviews_viewed", 1.0),
        ("n_product_added", 2.0),
        ("n_product_removed", 1.0),
        ("n_order_completed", 0.0),
        ("n_custom", 1.0),
        ("n_events", 10.0),
        // Top: page, search, the custom signal; middle: 3 views, reviews; bottom: 2 adds, remove.
        ("n_stage_top", 3.0),
        ("n_stage_middle", 4.0),
        ("n_stage_bottom", 3.0),
        // 0.2 + 0.5 + 3 × 1.0 + 1.5 + 2 × 4.0 − 1.0 (custom signals weigh 0).
        ("taxonomy_score", 12.2),
        ("distinct_products", 3.0),
        ("distinct_categories", 2.0),
        ("view_price_min", 30.0),
        ("view_price_mean", 50.0),
        ("view_price_max", 70.0),
        // Two of p2 at 70; p1 was added and removed.
        ("cart_items", 2.0),
        ("cart_value", 140.0),
        // Gaps 30, 30, 90, 20, 60, 10, 60, 60, 40: nine gaps over 400 s.
        ("gap_mean_s", 400.0 / 9.0),
        ("gap_max_s", 90.0),
        // After p1's view 90 s, after p2's 20 s, after p3's 40 s.
        ("product_dwell_total_s", 150.0),
        ("product_dwell_mean_s", 50.0),
        ("session_duration_s", 400.0),
        ("earlier_sessions", 0.0),
        ("recency_days", 0.0),
        ("events_30d", 0.0),
        ("device_mobile", 1.0),
        ("device_unknown", 0.0),
        ("hour_local", 8.0),
        ("weekday_local", 0.0),
        ("referrer_search", 1.0),
        ("referrer_internal", 0.0),
    ]);
    let values = f.values();
    assert_eq!(values.len(), FEATURE_COUNT);
    assert!(values.iter().all(|v| v.is_finite()));
    assert_eq!(values.iter().filter(|v| **v != 0.0).count(), 27, "no other feature moved: {values:?}");
}

#[test]
fn an_order_empties_the_cart_and_an_empty_session_reads_zeros() {
    let t0 = at(MONDAY_8AM);
    let mut history = ShopperHistory::default();
    let empty = history.open_session(t0);
    assert_eq!(empty.events(), 0);
    assert_features(&empty, &[("n_events", 0.0), ("session_duration_s", 0.0), ("gap_mean_s", 0.0), ("view_price_mean", 0.0), ("device_unknown", 1.0), ("referrer_unknown", 1.0)]);
    let f = session(&mut history, &[
        product(t0, Builtin::ProductAdded, "p1", "c", 10.0),
        product(t0 + 1000, Builtin::ProductAdded, "p1", "c", 12.0),
        b(t0 + 2000, Builtin::OrderCompleted),
    ]);
    assert_features(&f, &[("cart_items", 0.0), ("cart_value", 0.0), ("n_order_completed", 1.0), ("earlier_sessions", 1.0)]);
    let g = session(&mut history, &[product(t0 + 3000, Builtin::ProductAdded, "p1", "c", 10.0), product(t0 + 4000, Builtin::ProductAdded, "p1", "c", 12.0)]);
    // Same product twice: one line, two items, the latest price.
    assert_features(&g, &[("cart_items", 2.0), ("cart_value", 24.0)]);
}

#[test]
fn history_features_see_earlier_sessions_as_of_the_session_start() {
    let d = at(MONDAY_8AM);
    let h = |hours: f64| d + (hours * 3_600_000.0) as i64;
    let mut history = ShopperHistory::default();
    // Day D−40 at noon: past the 30-day window.
    session(&mut history, &[b(h(-40.0 * 24.0 + 4.0), Builtin::PageViewed)]);
    // Day D−10 at noon: a view and an order with its revenue.
    let mut order = b(h(-10.0 * 24.0 + 4.0), Builtin::OrderCompleted);
    order.properties.revenue = Some(100.0);
    let mut view = b(order.time_ms - 60_000, Builtin::ProductViewed);
    view.context.timezone = Some("America/New_York".into());
    session(&mut history, &[view, order]);
    // Day D−3, 19:58–20:00: an order of items (2 × 10 + 1 × 5) and a REES46-style purchase row
    // (price, no revenue).
    let mut items = b(h(-3.0 * 24.0 + 12.0) - 60_000, Builtin::OrderCompleted);
    items.properties.items = vec![
        Item { price: Some(10.0), quantity: Some(2.0), ..Item::default() },
        Item { price: Some(5.0), ..Item::default() },
    ];
    let mut row = b(h(-3.0 * 24.0 + 12.0), Builtin::OrderCompleted);
    row.properties.price = Some(12.5);
    session(&mut history, &[b(h(-3.0 * 24.0 + 12.0) - 120_000, Builtin::PageViewed), items, row]);
    let f = session(&mut history, &[b(d, Builtin::PageViewed)]);
    assert_features(&f, &[
        ("earlier_sessions", 3.0),
        // Previous event D−3 20:00, start D 08:00.
        ("recency_days", 2.5),
        // First event D−40 12:00: 39 days 20 hours.
        ("tenure_days", 39.0 + 20.0 / 24.0),
        ("events_7d", 3.0),
        ("events_30d", 5.0),
        ("reengaged", 0.0),
        ("earlier_orders", 3.0),
        ("earlier_revenue", 137.5),
        // 08:00 UTC is 03:00 in New York (EST), still Monday.
        ("hour_local", 3.0),
        ("weekday_local", 0.0),
        // The session's own events are not history.
        ("n_page_viewed", 1.0),
    ]);
    // Nine days later: a re-engagement, with nothing in the last week.
    let later = session(&mut history, &[b(d + 9 * 86_400_000, Builtin::PageViewed)]);
    assert_features(&later, &[("earlier_sessions", 4.0), ("recency_days", 9.0), ("reengaged", 1.0), ("events_7d", 0.0), ("events_30d", 6.0)]);
}

#[test]
fn the_time_zone_comes_from_the_session_or_its_history_and_falls_back_to_utc() {
    let d = at(MONDAY_8AM);
    let mut history = ShopperHistory::default();
    let mut berlin = b(d, Builtin::PageViewed);
    berlin.context.timezone = Some("Europe/Berlin".into());
    let mut f = history.open_session(d);
    assert_eq!(value(&f, "hour_local"), 8.0, "no zone known yet: UTC");
    f.push(&Taxonomy::default(), &berlin);
    history.push(&berlin);
    assert_eq!(value(&f, "hour_local"), 9.0, "the session's start in Berlin");
    let next = session(&mut history, &[b(d + 86_400_000 * 5, Builtin::PageViewed)]);
    // Saturday 09:00 in Berlin.
    assert_features(&next, &[("hour_local", 9.0), ("weekday_local", 5.0)]);
    let mut nowhere = b(d + 86_400_000 * 6, Builtin::PageViewed);
    nowhere.context.timezone = Some("Not/AZone".into());
    let lost = session(&mut history, &[nowhere]);
    assert_features(&lost, &[("hour_local", 8.0), ("weekday_local", 6.0)]);
}

#[test]
fn history_memory_stays_within_the_month_window() {
    let mut history = ShopperHistory::default();
    for day in 0..400 {
        history.push(&b(day * 86_400_000, Builtin::PageViewed));
    }
    assert!(history.days.len() <= MONTH_DAYS as usize, "{} days kept", history.days.len());
    let f = history.open_session(400 * 86_400_000);
    assert_features(&f, &[("events_7d", 6.0), ("events_30d", 29.0)]);
}

#[test]
fn bad_numbers_from_input_stay_out_of_the_features() {
    let t0 = at(MONDAY_8AM);
    let mut view = product(t0, Builtin::ProductViewed, "p", "c", f64::NAN);
    view.properties.price = Some(f64::INFINITY);
    let mut add = product(t0 + 1, Builtin::ProductAdded, "p", "c", f64::NAN);
    add.properties.quantity = Some(f64::NAN);
    let mut order = b(t0 + 2, Builtin::OrderCompleted);
    order.properties.revenue = Some(f64::NAN);
    let mut history = ShopperHistory::default();
    let f = session(&mut history, &[view, add.clone()]);
    assert!(f.values().iter().all(|v| v.is_finite()));
    assert_features(&f, &[("cart_items", 1.0), ("cart_value", 0.0), ("view_price_max", 0.0)]);
    session(&mut history, &[order]);
    let g = session(&mut history, &[add]);
    assert!(g.values().iter().all(|v| v.is_finite()));
}

proptest! {
    #[test]
    fn utc_hour_and_weekday_agree_with_jiff(ms in -10_000_000_000_000i64..10_000_000_000_000) {
        let (hour, weekday) = local_hour_weekday(ms, None);
        let (jh, jw) = local_hour_weekday(ms, Some("UTC"));
        prop_assert_eq!((hour, weekday), (jh, jw));
    }
}
