//! `glint replay`: deterministic firings, and counts on the real datasets checked against an
//! independent computation written here from the rules' definitions (not from the engine).

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;

use crate::util::{ok, shared_data, tempdir};

const MIN: i64 = 60_000;

/// One event for the reference: shopper, time (ms), what it is, product, client session id.
#[derive(Clone, Debug)]
struct Ev {
    user: String,
    t: i64,
    kind: &'static str,
    product: String,
    session: Option<String>,
}

/// cart_wobble and browse_drift qualifications by the definitions, per shopper, in
/// event time; a timer due at T fires before an event at T; timers due after the last event
/// of the whole data set never fire.
fn reference(events: &[Ev]) -> (usize, usize) {
    let end = events.iter().map(|e| e.t).max().unwrap_or(0);
    let mut by_user: HashMap<&str, Vec<&Ev>> = HashMap::new();
    for e in events {
        by_user.entry(&e.user).or_default().push(e);
    }
    let (mut wobbles, mut drifts) = (0, 0);
    for evs in by_user.values() {
        let mut cart: Vec<&str> = Vec::new();
        let mut cart_due: Option<i64> = None;
        // Session: (client id, start, last, views, adds); browse timer: (due, session start).
        let mut session: Option<(Option<&str>, i64, i64, u32, u32)> = None;
        let mut drift_due: Option<(i64, i64)> = None;
        let mut fire_due = |t: i64, cart: &Vec<&str>, cart_due: &mut Option<i64>, session: &Option<(Option<&str>, i64, i64, u32, u32)>, drift_due: &mut Option<(i64, i64)>| {
            if let Some(due) = *cart_due
                && due <= t {
                    if !cart.is_empty() {
                        wobbles += 1;
                    }
                    *cart_due = None;
                }
            if let Some((due, start)) = *drift_due
                && due <= t {
                    if let Some((_, s, _, views, adds)) = session
                        && *s == start && *views >= 5 && *adds == 0 {
                            drifts += 1;
                        }
                    *drift_due = None;
                }
        };
        for e in evs {
            fire_due(e.t, &cart, &mut cart_due, &session, &mut drift_due);
            let new_session = match (&session, e.session.as_deref()) {
                (None, _) => true,
                (Some((Some(cur), ..)), Some(id)) => *cur != id,
                (Some((None, ..)), Some(_)) => true,
                (Some((_, _, last, ..)), None) => e.t - last > 30 * MIN,
            };
            if new_session {
                session = Some((e.session.as_deref(), e.t, e.t, 0, 0));
            }
            let s = session.as_mut().expect("a session");
            s.2 = e.t;
            match e.kind {
                "view" => {
                    s.3 += 1;
                    if s.3 == 1 {
                        drift_due = Some((e.t + 30 * MIN, s.1));
                    }
                }
                "add" => {
                    s.4 += 1;
                    if !cart.contains(&e.product.as_str()) {
                        cart.push(&e.product);
                    }
                    cart_due = Some(e.t + 30 * MIN);
                }
                "remove" => {
                    cart.retain(|p| *p != e.product);
                    cart_due = Some(e.t + 30 * MIN);
                }
                "order" => {
                    cart.clear();
                    cart_due = Some(e.t + 30 * MIN);
                }
                _ => {}
            }
        }
        fire_due(end, &cart, &mut cart_due, &session, &mut drift_due);
    }
    (wobbles, drifts)
}

fn replay(data: &Path, out: &Path) -> (Vec<Value>, Value) {
    let summary = ok(&["replay", "--data", data.to_str().expect("utf-8"), "--out", out.to_str().expect("utf-8"), "--json"]);
    let firings = std::fs::read_to_string(out).expect("firings").lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
    (firings, serde_json::from_str(&summary).expect("summary JSON"))
}

fn count(firings: &[Value], moment: &str) -> usize {
    firings.iter().filter(|f| f["moment"] == moment).count()
}

fn naive_ms(ts: &str) -> i64 {
    // "2019-10-01 00:00:00[.ffffff][ UTC]" → ms, via glint's own tested parser would be circular;
    // a small civil-date computation instead.
    let ts = ts.trim_end_matches(" UTC");
    let (date, time) = ts.split_once(' ').expect("date and time");
    let d: Vec<i64> = date.split('-').map(|x| x.parse().expect("number")).collect();
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let h: Vec<i64> = hms.split(':').map(|x| x.parse().expect("number")).collect();
    let ms: i64 = format!("{:0<3}", &frac[..frac.len().min(3)]).parse().expect("ms");
    let (y, m) = if d[1] <= 2 { (d[0] - 1, d[1] + 9) } else { (d[0], d[1] - 3) };
    let days = 365 * y + y / 4 - y / 100 + y / 400 + (153 * m + 2) / 5 + d[2] - 1 - 719_468;
    ((days * 24 + h[0]) * 60 + h[1]) * 60_000 + h[2] * 1000 + ms
}

/// Import a real sample, replay it, and compare the firing counts with `reference` over the
/// same rows (parsed by `row`); returns (cart_wobble, browse_drift).
fn check_dataset(file: &Path, import_args: &[&str], row: impl Fn(&[&str]) -> Ev) -> (usize, usize) {
    let dir = tempdir();
    let data = dir.path().join("data");
    let mut args = vec!["import", "--data", data.to_str().expect("utf-8")];
    args.extend_from_slice(import_args);
    args.push(file.to_str().expect("utf-8"));
    ok(&args);
    let text = std::fs::read_to_string(file).expect("read");
    let mut events: Vec<Ev> = text.lines().skip(1).map(|l| row(&l.split(',').collect::<Vec<_>>())).collect();
    events.sort_by_key(|e| e.t); // stable: file order within a time, as the log reads
    let (wobbles, drifts) = reference(&events);
    let (firings, summary) = replay(&data, &dir.path().join("f.jsonl"));
    assert_eq!(count(&firings, "cart_wobble"), wobbles, "{summary:#}");
    assert_eq!(count(&firings, "browse_drift"), drifts, "{summary:#}");
    (wobbles, drifts)
}

#[test]
fn replay_of_the_real_rees46_sample_matches_an_independent_count() {
    let Some(shared) = shared_data() else { return };
    let (wobbles, drifts) = check_dataset(&shared.join("rees46_multicategory_2019-Oct_head.csv"), &["--format", "rees46"], |c| {
        let kind = match c[1] {
            "view" => "view",
            "cart" => "add",
            "remove_from_cart" => "remove",
            "purchase" => "order",
            _ => "other",
        };
        Ev { user: c[7].to_string(), t: naive_ms(c[0]), kind, product: c[2].to_string(), session: c.get(8).filter(|s| !s.is_empty()).map(|s| s.to_string()) }
    });
    assert!(wobbles > 0 && drifts > 0, "the sample exercises both moments: {wobbles} {drifts}");
    eprintln!("REES46 replay: {wobbles} cart_wobble, {drifts} browse_drift firings");
}

#[test]
fn replay_of_the_real_retentioneering_sample_matches_an_independent_count() {
    let Some(shared) = shared_data() else { return };
    let map = "product1=product_viewed,product2=product_viewed,cart=product_added,payment_done=order_completed";
    let (wobbles, drifts) = check_dataset(&shared.join("retentioneering_simple-onlineshop.csv"), &["--format", "clickstream", "--map", map], |c| {
        let kind = match c[1] {
            "product1" | "product2" => "view",
            "cart" => "add",
            "payment_done" => "order",
            _ => "other",
        };
        // Clickstream rows carry no product: an add is one unnamed item.
        Ev { user: c[0].to_string(), t: naive_ms(c[2]), kind, product: String::new(), session: None }
    });
    assert!(wobbles > 0, "{wobbles}");
    eprintln!("retentioneering replay: {wobbles} cart_wobble, {drifts} browse_drift firings");
}

#[test]
fn replay_is_deterministic_and_writes_complete_firings() {
    let dir = tempdir();
    let data = dir.path().join("data");
    ok(&["simulate", "--users", "300", "--days", "3", "--data", data.to_str().expect("utf-8")]);
    let (a, summary) = replay(&data, &dir.path().join("a.jsonl"));
    replay(&data, &dir.path().join("b.jsonl"));
    assert_eq!(std::fs::read(dir.path().join("a.jsonl")).expect("a"), std::fs::read(dir.path().join("b.jsonl")).expect("b"), "same bytes");
    assert!(count(&a, "cart_wobble") > 0 && count(&a, "browse_drift") > 0, "{summary:#}");
    for f in &a {
        for key in ["fire_id", "moment", "user", "at", "group", "outcome", "receipt"] {
            assert!(f.get(key).is_some(), "firing lacks {key}: {f}");
        }
        assert!(f["at"].as_str().is_some_and(|t| t.ends_with('Z')));
        assert!(["treatment", "holdout"].contains(&f["group"].as_str().unwrap_or("")));
        let version = f["receipt"]["rule_version"].as_str().unwrap_or("");
        assert!(version.len() == 8 && version.bytes().all(|c| c.is_ascii_hexdigit()), "rule version {version:?}");
    }
    let ids: std::collections::HashSet<&str> = a.iter().filter_map(|f| f["fire_id"].as_str()).collect();
    assert_eq!(ids.len(), a.len(), "fire ids never repeat");
    // Simulated shoppers state consent; some decline marketing.
    let outcomes: std::collections::HashSet<&str> = a.iter().filter_map(|f| f["outcome"].as_str()).collect();
    assert!(outcomes.contains("sent") && outcomes.contains("no_consent"), "{outcomes:?}");
}
