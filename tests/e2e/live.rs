//! The live engine inside `glint serve`: moments fire as event time passes the wall-clock
//! watermark, firings land in the data directory's firing log once, and `/v1/decide` answers
//! from the engine's state.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::util::{KEY, Server, basic, tempdir};

fn iso(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let (h, m, s) = (secs.rem_euclid(86_400) / 3600, secs.rem_euclid(3600) / 60, secs.rem_euclid(60));
    // Civil date from days since 1970 (Howard Hinnant), so the test does not use glint's own.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}.{:03}Z", ms.rem_euclid(1000))
}

fn firings(dir: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("firings.jsonl")).unwrap_or_default().lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

fn decide(s: &Server, user: &str) -> Value {
    let mut resp = crate::util::agent().get(&format!("{}/v1/decide/{user}", s.url)).header("authorization", &basic(KEY)).call().expect("decide");
    assert_eq!(resp.status().as_u16(), 200);
    serde_json::from_str(&resp.body_mut().read_to_string().expect("body")).expect("json")
}

#[test]
fn the_live_engine_fires_moments_and_answers_decisions() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let s = Server::start(&data);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64;
    let consent = json!({"consent": {"categoryPreferences": {"marketing": true}}});
    // A cart left 40 minutes ago: due 10 minutes ago, past the 5-minute watermark.
    let old_cart = json!({"type": "track", "userId": "idle-cart", "event": "Product Added", "messageId": "l1", "timestamp": iso(now - 40 * 60_000), "properties": {"product_id": "p1", "price": 25}, "context": consent});
    // A cart filled a minute ago: pending, not yet due.
    let fresh = json!({"type": "track", "userId": "fresh-cart", "event": "Product Added", "messageId": "l2", "timestamp": iso(now - 60_000), "properties": {"product_id": "p2", "price": 40}, "context": consent});
    let r = s.post("/v1/batch", json!({"batch": [old_cart, fresh]}).to_string().as_bytes());
    assert_eq!(r.status, 200, "{:?}", r.body);

    let started = Instant::now();
    while !firings(&data).iter().any(|f| f["user"] == "idle-cart" && f["moment"] == "cart_wobble") {
        assert!(started.elapsed() < Duration::from_secs(10), "no live cart_wobble firing: {:?}", firings(&data));
        std::thread::sleep(Duration::from_millis(100));
    }
    let d = decide(&s, "fresh-cart");
    assert_eq!(d["known"], true);
    assert_eq!(d["cart"]["value"], 40.0);
    assert_eq!(d["suggested"], "cart_wobble", "{d:#}");
    assert!(d["intent"]["p"].as_f64().is_some_and(|p| (0.0..=1.0).contains(&p)));
    assert_eq!(decide(&s, "nobody")["known"], false);
    let unauthorized = crate::util::agent().get(&format!("{}/v1/decide/x", s.url)).call().expect("call");
    assert_eq!(unauthorized.status().as_u16(), 401);

    // A restart replays the log: the same firing is recognised again but not written twice.
    drop(s);
    let s = Server::start(&data);
    std::thread::sleep(Duration::from_millis(1500));
    let n = firings(&data).iter().filter(|f| f["user"] == "idle-cart" && f["moment"] == "cart_wobble").count();
    assert_eq!(n, 1);
    assert_eq!(decide(&s, "fresh-cart")["cart"]["value"], 40.0, "state rebuilt from the log");
}
