//! Sessions, labels, the leak rule, the split and the CSV, on hand-built and random traffic and
//! on the REES46 sample.

use std::path::Path;

use glint_analytics::stats::StatsBuilder;
use glint_event::datasets::{DatasetFormat, Importer};
use glint_event::wire::{DecodeOptions, Decoder};
use glint_event::{Builtin, DeviceType, Event, ReferrerClass, Signal, Source, Taxonomy};
use proptest::prelude::*;

use super::*;
use crate::features::feature_index;

const MIN_MS: i64 = 60_000;
const DAY_MS: i64 = 86_400_000;

fn ev(user: &str, session: Option<&str>, time_ms: i64, b: Builtin) -> Event {
    let mut e = Event::new(format!("{user}-{time_ms}-{}", b.name()), time_ms, Signal::Builtin(b), Source::Segment);
    e.user_id = Some(user.into());
    e.session_id = session.map(str::to_string);
    e
}

fn build(events: &[Event], label: Label, train_fraction: f64) -> (Vec<Example>, Summary) {
    build_examples(events, &Taxonomy::default(), label, train_fraction).expect("examples")
}

fn example<'a>(examples: &'a [Example], shopper: &str, session: &str) -> &'a Example {
    examples.iter().find(|x| x.shopper == shopper && x.session == session).unwrap_or_else(|| panic!("no example {shopper}/{session}"))
}

fn feature(x: &Example, name: &str) -> f64 {
    x.features[feature_index(name).unwrap_or_else(|| panic!("no feature {name}"))]
}

#[test]
fn the_session_gap_is_the_one_glint_stats_uses() {
    assert_eq!(SESSION_GAP_MS, glint_analytics::stats::SESSION_GAP_MS);
}

#[test]
fn sessions_follow_client_ids_or_thirty_minutes_of_quiet() {
    // As in glint_analytics::stats: u1 without ids at 0, 10, 40 (gap 30: same), 71 (new);
    // u2's ids s1 (twice, far apart: one session), s2; s1 under u3 is another session.
    let mut events = vec![];
    for t in [0, 10, 40, 71] {
        events.push(ev("u1", None, t * MIN_MS, Builtin::ProductViewed));
    }
    events.push(ev("u2", Some("s1"), 100 * MIN_MS, Builtin::ProductViewed));
    events.push(ev("u2", Some("s1"), 200 * MIN_MS, Builtin::ProductViewed));
    events.push(ev("u2", Some("s2"), 201 * MIN_MS, Builtin::ProductViewed));
    events.push(ev("u3", Some("s1"), 202 * MIN_MS, Builtin::ProductViewed));
    let mut inventory = Event::new("inv".into(), 203 * MIN_MS, Signal::Builtin(Builtin::ProductBackInStock), Source::Segment);
    inventory.properties.product_id = Some("p".into());
    events.push(inventory);
    let (examples, summary) = build(&events, Label::PurchaseInSession, 1.0);
    assert_eq!(summary.sessions, 5);
    let names: Vec<(&str, &str, f64)> = examples.iter().map(|x| (x.shopper.as_str(), x.session.as_str(), feature(x, "n_events"))).collect();
    // In the order the sessions end.
    assert_eq!(names, [("u1", "~0", 3.0), ("u1", "~4260000", 1.0), ("u2", "s1", 2.0), ("u2", "s2", 1.0), ("u3", "s1", 1.0)]);
}

#[test]
fn the_session_tracker_keeps_one_session_per_shopper() {
    let mut tracker = SessionTracker::new(Taxonomy::default());
    let t0 = 1_767_225_600_000;
    for (i, (sid, b)) in [("s1", Builtin::PageViewed), ("s1", Builtin::ProductViewed), ("s2", Builtin::ProductAdded), ("s1", Builtin::ProductViewed)].into_iter().enumerate() {
        tracker.push(&ev("u1", Some(sid), t0 + i as i64 * MIN_MS, b));
        tracker.push(&ev("u2", None, t0 + i as i64 * 40 * MIN_MS, b));
    }
    // u1 went back to s1: its features start again there (one event), as documented.
    assert_eq!(tracker.current("u1").map(SessionFeatures::events), Some(1));
    // u2's events are 40 minutes apart: each opened a session.
    assert_eq!(tracker.current("u2").map(SessionFeatures::events), Some(1));
    assert_eq!((tracker.current("nobody"), tracker.shoppers()), (None, 2));
}

/// A random shop: a few shoppers, with and without client session ids, in time order.
fn traffic() -> impl Strategy<Value = Vec<Event>> {
    let step = (0i64..90 * MIN_MS, 0usize..4, prop::option::of(0usize..3), 0usize..6, any::<bool>());
    prop::collection::vec(step, 1..80).prop_map(|steps| {
        let signals = [Builtin::PageViewed, Builtin::ProductViewed, Builtin::ProductAdded, Builtin::CheckoutStarted, Builtin::OrderCompleted, Builtin::ProductRemoved];
        let mut t = 1_767_225_600_000;
        steps
            .into_iter()
            .enumerate()
            .map(|(i, (dt, shopper, sid, signal, anonymous))| {
                t += dt;
                let mut e = ev(&format!("u{shopper}"), sid.map(|s| format!("s{s}")).as_deref(), t, signals[signal]);
                e.message_id = format!("m{i}");
                if anonymous {
                    // The same person's anonymous id is another shopper, as in glint stats.
                    e.anonymous_id = e.user_id.take().map(|u| format!("anon-{u}"));
                }
                e
            })
            .collect()
    })
}

proptest! {
    /// One pass, live: at each session's last event the tracker holds exactly the features
    /// training computes for the whole session (`purchase-within` withholds nothing), when no
    /// shopper interleaves client session ids.
    #[test]
    fn the_session_tracker_sees_what_training_sees(mut events in traffic(), inferred in any::<bool>()) {
        for e in &mut events {
            // No client ids, or one on every event, per shopper and hour: sessions never
            // interleave.
            if inferred {
                e.session_id = None;
            } else {
                e.session_id = Some(format!("{}-{}", e.shopper_key().unwrap_or_default(), e.time_ms / (60 * MIN_MS)));
            }
        }
        let mut planner = SessionPlanner::default();
        for e in &events {
            planner.add(e);
        }
        let mut builder = ExampleBuilder::new(Taxonomy::default(), Label::PurchaseWithin { window_ms: DAY_MS }, planner.finish(0.8).expect("plan"));
        let mut tracker = SessionTracker::new(Taxonomy::default());
        let mut compared = 0;
        for e in &events {
            tracker.push(e);
            if let Some(x) = builder.push(e).expect("push") {
                let live = tracker.current(&x.shopper).map(SessionFeatures::values);
                prop_assert_eq!(live.as_ref(), Some(&x.features), "session {} of {}", x.session, x.shopper);
                compared += 1;
            }
        }
        prop_assert_eq!(compared, builder.finish().expect("finish").examples);
    }

    #[test]
    fn sessions_are_those_glint_stats_counts(events in traffic()) {
        let mut stats = StatsBuilder::default();
        for e in &events {
            stats.add(e);
        }
        let (examples, summary) = build(&events, Label::PurchaseInSession, 0.8);
        prop_assert_eq!(summary.sessions, stats.finish().sessions);
        prop_assert_eq!(summary.examples + summary.no_prefix, summary.sessions);
        prop_assert_eq!(examples.len() as u64, summary.examples);
        let (_, within) = build(&events, Label::PurchaseWithin { window_ms: DAY_MS }, 0.8);
        prop_assert_eq!(within.examples, within.sessions);
    }

    /// The leak test: whatever follows a session's first order — in that session or later —
    /// its example's features do not change.
    #[test]
    fn events_after_the_first_order_never_change_the_positive_example(
        prefix in prop::collection::vec((1i64..600_000, 0usize..Builtin::ALL.len(), 0u8..4), 1..12),
        suffix in prop::collection::vec((0i64..3_600_000, 0usize..Builtin::ALL.len(), 0u8..4, any::<bool>()), 0..20),
    ) {
        let start = 1_767_225_600_000;
        let make = |t: i64, signal: usize, variant: u8| {
            let mut e = ev("u1", Some("s"), t, Builtin::ALL[signal]);
            e.message_id = format!("m{t}-{signal}-{variant}");
            e.properties.product_id = Some(format!("p{variant}"));
            e.properties.category = Some(format!("c{}", variant % 2));
            e.properties.price = Some(f64::from(variant) * 10.0 + 1.0);
            e.properties.quantity = Some(f64::from(variant));
            e.context.device = DeviceType::from_code(variant);
            e.context.referrer_class = ReferrerClass::from_code(variant + 1);
            if variant == 3 {
                e.context.timezone = Some("Asia/Kathmandu".into());
            }
            e
        };
        let mut events = vec![ev("u1", Some("s"), start, Builtin::PageViewed)];
        let mut t = start;
        for (dt, signal, variant) in prefix {
            t += dt;
            let b = Builtin::ALL[signal];
            // The prefix is what comes before the first order: no order in it.
            if b != Builtin::OrderCompleted {
                events.push(make(t, signal, variant));
            }
        }
        t += 1;
        events.push(ev("u1", Some("s"), t, Builtin::OrderCompleted));
        let (before, _) = build(&events, Label::PurchaseInSession, 1.0);
        for (dt, signal, variant, same_session) in suffix {
            t += dt;
            let mut e = make(t, signal, variant);
            if !same_session {
                e.session_id = Some("later".into());
            }
            events.push(e);
        }
        let (after, _) = build(&events, Label::PurchaseInSession, 1.0);
        let (x, y) = (example(&before, "u1", "s"), example(&after, "u1", "s"));
        prop_assert!(x.label && y.label);
        prop_assert_eq!(&x.features, &y.features);
    }

    #[test]
    fn the_split_depends_only_on_the_sessions(events in traffic(), fraction in 0.0f64..=1.0) {
        let (a, summary) = build(&events, Label::PurchaseInSession, fraction);
        let (b, _) = build(&events, Label::PurchaseWithin { window_ms: DAY_MS }, fraction);
        for x in &a {
            prop_assert_eq!(example(&b, &x.shopper, &x.session).split, x.split);
        }
        // Train comes first in time.
        let last_train = a.iter().filter(|x| x.split == Split::Train).map(|x| x.start_ms).max();
        let first_test = a.iter().filter(|x| x.split == Split::Test).map(|x| x.start_ms).min();
        if let (Some(l), Some(f)) = (last_train, first_test) {
            prop_assert!(l <= f);
        }
        prop_assert_eq!(summary.train + summary.test, summary.examples);
    }
}

#[test]
fn no_feature_sees_the_purchase_or_anything_at_or_after_it() {
    let t0 = 1_767_225_600_000;
    let view = |t: i64, id: &str, price: f64| {
        let mut e = ev("u1", Some("s"), t, Builtin::ProductViewed);
        e.properties.product_id = Some(id.into());
        e.properties.price = Some(price);
        e
    };
    let prefix = vec![view(t0, "p1", 10.0), view(t0 + MIN_MS, "p2", 20.0), ev("u1", Some("s"), t0 + 2 * MIN_MS, Builtin::ProductAdded)];
    let mut with_purchase = prefix.clone();
    // Logged before the order but at its instant: withheld (a shop may log it as a side effect).
    with_purchase.push(ev("u1", Some("s"), t0 + 5 * MIN_MS, Builtin::PaymentInfoEntered));
    let mut order = ev("u1", Some("s"), t0 + 5 * MIN_MS, Builtin::OrderCompleted);
    order.properties.revenue = Some(500.0);
    with_purchase.push(order);
    // After the order, events that would move nearly every feature.
    let mut after = view(t0 + 20 * MIN_MS, "p9", 999.0);
    after.context.device = DeviceType::Desktop;
    after.context.referrer_class = ReferrerClass::Email;
    after.context.timezone = Some("Asia/Tokyo".into());
    with_purchase.extend([after, ev("u1", Some("s"), t0 + 21 * MIN_MS, Builtin::ProductAdded), ev("u1", Some("s"), t0 + 22 * MIN_MS, Builtin::OrderCompleted)]);
    let (positive, summary) = build(&with_purchase, Label::PurchaseInSession, 1.0);
    assert_eq!((summary.examples, summary.positives), (1, 1));
    // The same events without the purchase, as a negative, see the whole session.
    let (negative, _) = build(&prefix, Label::PurchaseInSession, 1.0);
    assert!(!negative[0].label);
    assert_eq!(positive[0].features, negative[0].features);
    let x = &positive[0];
    for (name, want) in [
        ("n_events", 3.0),
        ("n_payment_info_entered", 0.0),
        ("n_order_completed", 0.0),
        ("session_duration_s", 120.0),
        ("view_price_max", 20.0),
        ("device_unknown", 1.0),
        ("referrer_unknown", 1.0),
        ("hour_local", 0.0),
    ] {
        assert_eq!(feature(x, name), want, "{name}");
    }
}

#[test]
fn sessions_that_open_with_the_purchase_are_left_out_and_counted() {
    let t0 = 1_767_225_600_000;
    let events = vec![
        // Opens with the purchase.
        ev("u1", Some("a"), t0, Builtin::OrderCompleted),
        ev("u1", Some("a"), t0 + MIN_MS, Builtin::ProductViewed),
        // Opens at the purchase's instant: nothing strictly before it.
        ev("u2", Some("b"), t0, Builtin::PageViewed),
        ev("u2", Some("b"), t0, Builtin::OrderCompleted),
        // A prefix of one event.
        ev("u3", None, t0, Builtin::PageViewed),
        ev("u3", None, t0 + 1, Builtin::OrderCompleted),
    ];
    let (examples, summary) = build(&events, Label::PurchaseInSession, 0.5);
    assert_eq!(summary, Summary { sessions: 3, examples: 1, positives: 1, no_prefix: 2, censored: 0, train: 0, test: 1 });
    assert_eq!((examples[0].shopper.as_str(), examples[0].session.as_str()), ("u3", "~1767225600000"));
    // For the other label nothing is left out: features see the whole session.
    let (_, within) = build(&events, Label::PurchaseWithin { window_ms: DAY_MS }, 0.5);
    assert_eq!((within.sessions, within.examples, within.no_prefix), (3, 3, 0));
}

#[test]
fn the_split_is_by_start_then_session_name_then_shopper() {
    let t0 = 1_767_225_600_000;
    // Two sessions start together: "a" sorts before "b" whatever the log order.
    let events = vec![
        ev("u1", Some("b"), t0, Builtin::PageViewed),
        ev("u2", Some("a"), t0, Builtin::PageViewed),
        ev("u3", Some("c"), t0 + 1, Builtin::PageViewed),
        ev("u4", Some("c"), t0 + 1, Builtin::PageViewed),
        ev("u5", Some("d"), t0 + 2, Builtin::PageViewed),
    ];
    let mut swapped = events.clone();
    swapped.swap(0, 1);
    swapped.swap(2, 3);
    for order in [&events, &swapped] {
        let (examples, summary) = build(order, Label::PurchaseInSession, 0.5);
        // round(0.5 × 5) = 3 (ties away from zero): a, b, then c of u3 before c of u4.
        assert_eq!((summary.train, summary.test), (3, 2));
        let split = |u: &str, s: &str| example(&examples, u, s).split;
        assert_eq!(
            [split("u2", "a"), split("u1", "b"), split("u3", "c"), split("u4", "c"), split("u5", "d")],
            [Split::Train, Split::Train, Split::Train, Split::Test, Split::Test]
        );
    }
    let (_, all_train) = build(&events, Label::PurchaseInSession, 1.0);
    assert_eq!((all_train.train, all_train.test), (5, 0));
    for bad in [-0.1, 1.5, f64::NAN] {
        assert!(matches!(build_examples(&events, &Taxonomy::default(), Label::PurchaseInSession, bad), Err(Error::TrainFraction(_))), "{bad}");
    }
}

#[test]
fn purchase_within_looks_at_orders_after_the_session_ends() {
    let t0 = 1_767_225_600_000;
    let events = vec![
        ev("u1", None, t0, Builtin::ProductViewed),
        ev("u1", None, t0 + MIN_MS, Builtin::ProductAdded),
        // Three days later, another session with the order.
        ev("u1", None, t0 + MIN_MS + 3 * DAY_MS, Builtin::OrderCompleted),
        // u2 buys in the session itself and never again.
        ev("u2", None, t0 + 4 * DAY_MS, Builtin::ProductViewed),
        ev("u2", None, t0 + 4 * DAY_MS + MIN_MS, Builtin::OrderCompleted),
    ];
    let week = Label::PurchaseWithin { window_ms: 7 * DAY_MS };
    let (examples, summary) = build(&events, week, 1.0);
    let label = |u: &str, s: &str| example(&examples, u, s).label;
    assert!(label("u1", &format!("~{t0}")), "an order 3 days after the end, inside 7");
    assert!(!label("u1", &format!("~{}", t0 + MIN_MS + 3 * DAY_MS)), "the order is in the session, not after it");
    assert!(!label("u2", &format!("~{}", t0 + 4 * DAY_MS)), "the order is in the session, not after it");
    // The two negatives' windows run past the data's end: uncertain, kept, counted.
    assert_eq!((summary.examples, summary.positives, summary.censored), (3, 1, 2));
    let (short, short_summary) = build(&events, Label::PurchaseWithin { window_ms: 2 * DAY_MS }, 1.0);
    assert!(!example(&short, "u1", &format!("~{t0}")).label, "3 days is outside a 2-day window");
    assert_eq!(short_summary.censored, 2, "u1's first window closes before the data ends");
    // Features see the whole session, the order included.
    assert_eq!(feature(example(&examples, "u2", &format!("~{}", t0 + 4 * DAY_MS)), "n_order_completed"), 1.0);
}

#[test]
fn labels_parse_and_print_back() {
    for (spec, label) in [
        ("purchase-in-session", Label::PurchaseInSession),
        ("purchase-within:7d", Label::PurchaseWithin { window_ms: 7 * DAY_MS }),
        ("purchase-within:2w", Label::PurchaseWithin { window_ms: 14 * DAY_MS }),
        ("purchase-within:36h", Label::PurchaseWithin { window_ms: 36 * 3_600_000 }),
        ("purchase-within:90m", Label::PurchaseWithin { window_ms: 90 * MIN_MS }),
    ] {
        let parsed: Label = spec.parse().expect(spec);
        assert_eq!(parsed, label);
        assert_eq!(parsed.to_string().parse::<Label>().expect("round trip"), label);
    }
    assert_eq!(Label::PurchaseWithin { window_ms: 14 * DAY_MS }.to_string(), "purchase-within:2w");
    for bad in ["purchase", "purchase-within:", "purchase-within:0", "purchase-within:7y", "purchase-within:-1d"] {
        let err = bad.parse::<Label>().expect_err(bad);
        assert!(err.to_string().contains(bad), "{err}");
    }
}

#[test]
fn csv_columns_are_stable() {
    // If this fails you changed the export's columns: tools that read it (and the feature
    // schema version) must follow.
    let header = csv_header().join(",");
    assert_eq!(
        header,
        "session,shopper,start,label,split,\
         n_page_viewed,n_products_searched,n_product_list_viewed,n_product_list_filtered,n_product_viewed,\
         n_product_clicked,n_reviews_viewed,n_video_played,n_product_added_to_wishlist,n_product_added,\
         n_product_removed,n_cart_viewed,n_checkout_started,n_checkout_step_completed,n_payment_info_entered,\
         n_order_completed,n_order_refunded,n_order_cancelled,n_coupon_applied,n_newsletter_subscribed,\
         n_account_created,n_back_in_stock_requested,n_product_back_in_stock,n_order_shipped,n_order_delayed,\
         n_review_submitted,n_support_ticket_opened,n_email_unsubscribed,n_points_earned,n_identified,\
         n_aliased,n_grouped,n_custom,n_events,n_stage_top,n_stage_middle,n_stage_bottom,taxonomy_score,\
         distinct_products,distinct_categories,view_price_min,view_price_mean,view_price_max,cart_items,cart_value,\
         gap_mean_s,gap_max_s,product_dwell_total_s,product_dwell_mean_s,session_duration_s,\
         earlier_sessions,recency_days,tenure_days,events_7d,events_30d,reengaged,earlier_orders,earlier_revenue,\
         device_unknown,device_desktop,device_mobile,device_tablet,device_bot,hour_local,weekday_local,\
         referrer_unknown,referrer_direct,referrer_search,referrer_social,referrer_email,referrer_paid,\
         referrer_internal,referrer_referral"
    );
    let t0 = 1_767_225_600_000;
    let mut view = ev("u,1", Some("s\"1"), t0, Builtin::ProductViewed);
    view.properties.price = Some(12.25);
    let events = vec![view, ev("u,1", Some("s\"1"), t0 + 1500, Builtin::OrderCompleted)];
    let (examples, _) = build(&events, Label::PurchaseInSession, 0.0);
    let mut w = CsvWriter::new(Vec::new()).expect("header");
    w.write(&examples[0]).expect("row");
    let text = String::from_utf8(w.finish().expect("flush")).expect("utf-8");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(header.as_str()));
    let row = lines.next().expect("a row");
    assert!(row.starts_with("\"s\"\"1\",\"u,1\",2026-01-01T00:00:00.000Z,1,test,0,0,0,0,1,"), "{row}");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let record = reader.records().next().expect("a record").expect("valid CSV");
    assert_eq!(record.len(), EXAMPLE_COLUMNS.len() + FEATURE_COUNT);
    assert_eq!(&record[0], "s\"1");
    assert_eq!(record[EXAMPLE_COLUMNS.len() + feature_index("view_price_mean").expect("a feature")].parse::<f64>().ok(), Some(12.25));
    assert_eq!(lines.next(), None);
}

#[test]
fn a_second_pass_over_other_events_is_refused() {
    let t0 = 1_767_225_600_000;
    let first = vec![ev("u1", None, t0, Builtin::PageViewed), ev("u1", None, t0 + MIN_MS, Builtin::PageViewed)];
    let mut planner = SessionPlanner::default();
    for e in &first {
        planner.add(e);
    }
    let plan = planner.finish(0.8).expect("plan");
    // A late event appeared between the passes.
    let mut builder = ExampleBuilder::new(Taxonomy::default(), Label::PurchaseInSession, plan);
    let second = [ev("u0", None, t0, Builtin::PageViewed)];
    assert!(matches!(builder.push(&second[0]), Err(Error::EventsChanged { .. })));
    // An event missing in the second pass.
    let mut planner = SessionPlanner::default();
    for e in &first {
        planner.add(e);
    }
    let mut builder = ExampleBuilder::new(Taxonomy::default(), Label::PurchaseInSession, planner.finish(0.8).expect("plan"));
    assert_eq!(builder.push(&first[0]).expect("same event"), None);
    assert!(matches!(builder.finish(), Err(Error::EventsChanged { .. })));
}

/// The REES46 sample in `../shared/data`: as many sessions as its README and `glint stats`
/// say. Skipped with a notice when the file is absent, unless `GLINT_REQUIRE_SHARED_DATA=1`.
#[test]
fn rees46_sample_gives_the_sessions_glint_stats_counts() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/rees46_multicategory_2019-Oct_head.csv");
    let Ok(file) = std::fs::File::open(&path) else {
        let notice = format!("shared data not found at {}", path.display());
        assert!(std::env::var("GLINT_REQUIRE_SHARED_DATA").as_deref() != Ok("1"), "{notice}, and GLINT_REQUIRE_SHARED_DATA=1");
        eprintln!("{notice}; skipping");
        return;
    };
    let decoder = Decoder::new(Taxonomy::default(), DecodeOptions::default());
    let mut events = Vec::new();
    let mut importer = Importer::new(DatasetFormat::Rees46, &decoder, &[], 0);
    let read = importer.run(file, |row| {
        events.push(row?);
        Ok::<(), glint_event::datasets::RowError>(())
    });
    read.expect("readable").expect("every row imports");
    assert_eq!(events.len(), 17_435);
    // The log's reading order: event time, then ingest (file) order.
    events.sort_by_key(|e| e.time_ms);
    let mut stats = StatsBuilder::default();
    for e in &events {
        stats.add(e);
    }
    let (examples, summary) = build(&events, Label::PurchaseInSession, 0.8);
    eprintln!("rees46 sample: {summary:?}");
    assert_eq!(summary.sessions, 5_068);
    assert_eq!(summary.sessions, stats.finish().sessions);
    // 200 sessions hold a purchase; those opening with it have no prefix.
    assert_eq!(summary.positives + summary.no_prefix, 200);
    assert_eq!(summary.examples + summary.no_prefix, summary.sessions);
    assert_eq!(summary.train + summary.test, summary.examples);
    assert!(examples.iter().all(|x| x.features.iter().all(|v| v.is_finite())));
    assert!(examples.iter().all(|x| feature(x, "n_order_completed") == 0.0), "no purchase leaks into purchase-in-session");
}

#[test]
fn prefixes_cut_each_session_to_its_first_k_events_before_the_purchase() {
    // Four events before the order, then the order and one more: prefixes 1, 2, 3 cut; 5 and
    // 10 are the whole prefix (4 events); nothing at or after the order is seen.
    let mut events: Vec<Event> = [Builtin::PageViewed, Builtin::ProductViewed, Builtin::ProductAdded, Builtin::CheckoutStarted]
        .iter()
        .enumerate()
        .map(|(i, b)| ev("u", None, i as i64 * MIN_MS, *b))
        .collect();
    events.push(ev("u", None, 4 * MIN_MS, Builtin::OrderCompleted));
    events.push(ev("u", None, 5 * MIN_MS, Builtin::ProductViewed));
    let mut planner = SessionPlanner::default();
    for e in &events {
        planner.add(e);
    }
    let mut builder = ExampleBuilder::new(Taxonomy::default(), Label::PurchaseInSession, planner.finish(1.0).expect("plan")).with_prefixes(&[10, 1, 2, 3, 5]);
    let examples: Vec<Example> = events.iter().filter_map(|e| builder.push(e).expect("push")).collect();
    assert_eq!(examples.len(), 1);
    let x = &examples[0];
    let n = feature_index("n_events").expect("n_events");
    let cut: Vec<f64> = x.prefix_features.iter().map(|f| f[n]).collect();
    assert_eq!(cut, [1.0, 2.0, 3.0, 4.0, 4.0], "ks sorted: 1, 2, 3, 5, 10");
    assert_eq!(x.prefix_features[4], x.features, "the longest cut is the whole prefix");
    let added = feature_index("n_product_added").expect("n_product_added");
    assert_eq!((x.prefix_features[1][added], x.prefix_features[2][added]), (0.0, 1.0));
    assert!(build(&events, Label::PurchaseInSession, 1.0).0[0].prefix_features.is_empty(), "none unless asked");
}
