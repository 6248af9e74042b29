//! Properties of the simulated traffic: determinism, ordering, unique ids, shopper keys, the
//! full event vocabulary, and the raw material of every one of Glint's twelve default moments.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::OnceLock;

use glint_sim::{SimConfig, Simulator};
use serde_json::Value;

const HOUR_MS: i64 = 3_600_000;
const MINUTE_MS: i64 = 60_000;

fn millis(m: &Value) -> i64 {
    let ts = m["timestamp"].as_str().expect("every message has a timestamp");
    ts.parse::<jiff::Timestamp>().expect("RFC 3339 timestamp").as_millisecond()
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

/// Everything the tests look at, gathered in one streaming pass over 3,000 shoppers × 7 days.
#[derive(Debug, Default)]
struct Summary {
    messages: usize,
    out_of_order: usize,
    duplicate_ids: usize,
    without_shopper_key: Vec<String>,
    names: BTreeSet<String>,
    types: BTreeSet<String>,
    back_in_stock_pairs: usize,
    birthdays_in_window: usize,
    renewals_in_window: usize,
    max_orders_of_a_product_in_an_hour: usize,
    bad_reviews: usize,
    happy_reviews_after_order: usize,
    shoppers_over_1000_points_earned: usize,
    vip_shoppers: usize,
    abandoned_carts: usize,
    drifting_sessions: usize,
    service_issues: usize,
    support_tickets: usize,
    merged_identities: usize,
    no_marketing_consent: usize,
    campaign_sources: BTreeSet<String>,
    zones: BTreeSet<String>,
}

fn summary() -> &'static Summary {
    static SUMMARY: OnceLock<Summary> = OnceLock::new();
    SUMMARY.get_or_init(|| summarise(SimConfig::new(3000, 7, 42)))
}

fn summarise(cfg: SimConfig) -> Summary {
    let start = cfg.start_ms;
    let end = start + i64::from(cfg.days) * 24 * HOUR_MS;
    let mut s = Summary::default();
    let mut ids: HashSet<String> = HashSet::new();
    let mut last = i64::MIN;
    let mut wished: HashMap<String, i64> = HashMap::new();
    let mut orders_of: HashMap<String, Vec<i64>> = HashMap::new();
    let mut ordered: HashSet<String> = HashSet::new();
    let mut spend: HashMap<String, (u32, f64)> = HashMap::new();
    let mut unlocked: HashSet<String> = HashSet::new();
    let mut open_carts: HashMap<String, i64> = HashMap::new();
    // anonymousId → (last client time, views this session, any add this session)
    let mut sessions: HashMap<String, (i64, u32, bool)> = HashMap::new();
    let mut consent_seen: HashSet<String> = HashSet::new();
    let mut identified_anon: HashSet<(String, String)> = HashSet::new();
    let in_window = |date: &str| {
        let ms = format!("{date}T00:00:00Z").parse::<jiff::Timestamp>().map(|t| t.as_millisecond()).unwrap_or(i64::MIN);
        (start..end).contains(&ms)
    };
    let same_day_in_window = |date: &str| {
        // A birthday is in the window when its month-day is one of the window's days.
        (start..end).step_by(24 * HOUR_MS as usize).any(|d| {
            let day = jiff::Timestamp::from_millisecond(d).map(|t| t.strftime("%m-%d").to_string()).unwrap_or_default();
            date.get(5..) == Some(day.as_str())
        })
    };
    for m in Simulator::new(cfg) {
        s.messages += 1;
        let at = millis(&m);
        s.out_of_order += usize::from(at < last);
        last = at;
        if !ids.insert(str_of(&m, "messageId").to_owned()) {
            s.duplicate_ids += 1;
        }
        let kind = str_of(&m, "type").to_owned();
        let event = str_of(&m, "event").to_owned();
        let user = str_of(&m, "userId").to_owned();
        let anon = str_of(&m, "anonymousId").to_owned();
        let who = if user.is_empty() { anon.clone() } else { user.clone() };
        if who.is_empty() && event != "Product Back In Stock" {
            s.without_shopper_key.push(m.to_string());
        }
        s.types.insert(kind.clone());
        if !event.is_empty() {
            s.names.insert(event.clone());
        }
        let props = &m["properties"];
        let product = str_of(props, "product_id").to_owned();
        let ctx = &m["context"];
        if let Some(src) = ctx["campaign"]["source"].as_str() {
            s.campaign_sources.insert(src.to_owned());
        }
        if let Some(z) = ctx["timezone"].as_str() {
            s.zones.insert(z.to_owned());
        }
        if ctx["consent"]["categoryPreferences"]["marketing"] == Value::Bool(false) && consent_seen.insert(anon.clone()) {
            s.no_marketing_consent += 1;
        }
        if kind == "identify" {
            let traits = &m["traits"];
            if !user.is_empty() && !anon.is_empty() {
                identified_anon.insert((user.clone(), anon.clone()));
            }
            if traits["birthday"].as_str().is_some_and(same_day_in_window) {
                s.birthdays_in_window += 1;
            }
            if traits["subscription_renewal_date"].as_str().is_some_and(in_window) {
                s.renewals_in_window += 1;
            }
        }
        if !ctx["userAgent"].is_null() {
            let entry = sessions.entry(anon.clone()).or_insert((at, 0, false));
            if at - entry.0 > 30 * MINUTE_MS {
                s.drifting_sessions += usize::from(entry.1 >= 5 && !entry.2);
                *entry = (at, 0, false);
            }
            entry.0 = at;
            entry.1 += u32::from(event == "Product Viewed");
            entry.2 |= event == "Product Added";
        }
        // A cart that sat for 30 minutes with no order is a wobbling cart.
        if let Some(&since) = open_carts.get(&who)
            && at - since > 30 * MINUTE_MS
        {
            s.abandoned_carts += 1;
            open_carts.remove(&who);
        }
        match event.as_str() {
            "Product Added to Wishlist" | "Back In Stock Requested" => {
                wished.entry(product).or_insert(at);
            }
            "Product Back In Stock" => {
                s.back_in_stock_pairs += usize::from(wished.get(&product).is_some_and(|&t| t < at));
            }
            "Product Added" => {
                open_carts.entry(who.clone()).or_insert(at);
            }
            "Order Completed" => {
                open_carts.remove(&who);
                ordered.insert(who.clone());
                let e = spend.entry(who.clone()).or_default();
                e.0 += 1;
                e.1 += props["total"].as_f64().unwrap_or(0.0);
                if e.0 >= 3 || e.1 >= 500.0 {
                    s.vip_shoppers += usize::from(e.0 == 3 || (e.1 >= 500.0 && e.1 - props["total"].as_f64().unwrap_or(0.0) < 500.0));
                }
                for p in props["products"].as_array().into_iter().flatten() {
                    let times = orders_of.entry(str_of(p, "product_id").to_owned()).or_default();
                    times.push(at);
                    let recent = times.iter().filter(|&&t| at - t <= HOUR_MS).count();
                    s.max_orders_of_a_product_in_an_hour = s.max_orders_of_a_product_in_an_hour.max(recent);
                }
            }
            "Review Submitted" => {
                let rating = props["rating"].as_u64().unwrap_or(0);
                assert!((1..=5).contains(&rating), "rating {rating}");
                s.bad_reviews += usize::from(rating <= 2);
                s.happy_reviews_after_order += usize::from(rating >= 4 && ordered.contains(&who));
            }
            "Order Delayed" | "Order Cancelled" | "Order Refunded" => s.service_issues += 1,
            "Support Ticket Opened" => s.support_tickets += 1,
            "Points Earned" => {
                let balance = props["balance"].as_u64().unwrap_or(0);
                let points = props["points"].as_u64().unwrap_or(0);
                if balance >= 1000 && balance - points < 1000 && unlocked.insert(who.clone()) {
                    s.shoppers_over_1000_points_earned += 1;
                }
            }
            _ => {}
        }
    }
    // Identity merging: a userId seen with an anonymousId that also sent messages without it.
    s.merged_identities = identified_anon.len();
    s
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let run = |seed| -> Vec<String> { Simulator::new(SimConfig::new(300, 2, seed)).map(|m| m.to_string()).collect() };
    let a = run(7);
    let b = run(7);
    let c = run(8);
    assert!(a.len() > 1_000, "{} messages", a.len());
    assert!(a == b, "same seed must give byte-identical output");
    assert!(a != c, "another seed must give other output");
}

#[test]
fn a_shoppers_stream_does_not_depend_on_how_many_shoppers_there_are() {
    // Group each run's messages by shopper key, without the run-wide messageId counter.
    let by_shopper = |users| -> HashMap<String, Vec<Value>> {
        let mut out: HashMap<String, Vec<Value>> = HashMap::new();
        for mut m in Simulator::new(SimConfig::new(users, 2, 3)) {
            let key = format!("{}/{}", str_of(&m, "userId"), str_of(&m, "anonymousId"));
            m.as_object_mut().map(|o| o.remove("messageId"));
            out.entry(key).or_default().push(m);
        }
        out
    };
    let small = by_shopper(40);
    let large = by_shopper(300);
    assert!(small.len() >= 40);
    for (key, stream) in &small {
        assert_eq!(Some(stream), large.get(key), "shopper {key} differs when more shoppers exist");
    }
}

#[test]
fn timestamps_never_go_backwards() {
    let s = summary();
    assert!(s.messages > 50_000, "{} messages", s.messages);
    assert_eq!(s.out_of_order, 0);
}

#[test]
fn message_ids_are_unique() {
    assert_eq!(summary().duplicate_ids, 0);
}

#[test]
fn every_message_names_a_shopper_except_inventory() {
    let s = summary();
    assert!(s.without_shopper_key.is_empty(), "{:?}", s.without_shopper_key.first());
}

#[test]
fn the_whole_vocabulary_appears() {
    const NAMES: &[&str] = &[
        "Products Searched",
        "Product List Viewed",
        "Product List Filtered",
        "Product Viewed",
        "Product Clicked",
        "Product Added",
        "Product Removed",
        "Cart Viewed",
        "Checkout Started",
        "Checkout Step Completed",
        "Payment Info Entered",
        "Order Completed",
        "Order Refunded",
        "Order Cancelled",
        "Coupon Applied",
        "Product Added to Wishlist",
        "Reviews Viewed",
        "Video Played",
        "Newsletter Subscribed",
        "Account Created",
        "Back In Stock Requested",
        "Product Back In Stock",
        "Order Shipped",
        "Order Delayed",
        "Review Submitted",
        "Support Ticket Opened",
        "Email Unsubscribed",
        "Points Earned",
    ];
    let s = summary();
    let missing: Vec<&str> = NAMES.iter().copied().filter(|n| !s.names.contains(*n)).collect();
    assert!(missing.is_empty(), "never sent: {missing:?}");
    for t in ["track", "identify", "page"] {
        assert!(s.types.contains(t), "no {t} message");
    }
}

#[test]
fn context_varies_like_real_traffic() {
    let s = summary();
    for src in ["google", "newsletter", "facebook"] {
        assert!(s.campaign_sources.contains(src), "no {src} campaign");
    }
    assert!(s.zones.iter().any(|z| z.starts_with("Europe/")));
    assert!(s.zones.iter().any(|z| z.starts_with("America/")));
    assert!(s.zones.iter().any(|z| z.starts_with("Asia/")));
    // ~20 % of 3,000 shoppers deny marketing.
    assert!((300..900).contains(&s.no_marketing_consent), "{}", s.no_marketing_consent);
}

#[test]
fn back_in_stock_requests_meet_restocks() {
    assert!(summary().back_in_stock_pairs >= 1);
}

#[test]
fn birthdays_and_renewals_fall_in_the_window() {
    let s = summary();
    assert!(s.birthdays_in_window >= 3, "{}", s.birthdays_in_window);
    assert!(s.renewals_in_window >= 3, "{}", s.renewals_in_window);
}

#[test]
fn popular_products_sell_several_times_an_hour() {
    let n = summary().max_orders_of_a_product_in_an_hour;
    assert!(n >= 3, "best product sold {n} times within an hour");
}

#[test]
fn every_default_moment_has_raw_material() {
    let s = summary();
    eprintln!("{s:#?}");
    assert!(s.abandoned_carts >= 10, "cart_wobble / holiday_cutoff: {}", s.abandoned_carts);
    assert!(s.drifting_sessions >= 100, "browse_drift: {}", s.drifting_sessions);
    assert!(s.vip_shoppers >= 5, "vip_tier: {}", s.vip_shoppers);
    assert!(s.service_issues >= 5, "service_recovery: {}", s.service_issues);
    assert!(s.bad_reviews >= 2 && s.support_tickets >= 2, "apology: {} bad reviews, {} tickets", s.bad_reviews, s.support_tickets);
    assert!(s.happy_reviews_after_order >= 5, "referral_nudge: {}", s.happy_reviews_after_order);
    assert!(s.shoppers_over_1000_points_earned >= 5, "reward_unlock: {}", s.shoppers_over_1000_points_earned);
    assert!(s.merged_identities >= 100, "identity merging: {}", s.merged_identities);
}
