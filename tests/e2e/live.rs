//! The live engine inside `glint serve`: moments fire as event time passes the wall-clock
//! watermark, firings land in the data directory's firing log once, `/v1/decide` answers
//! from the engine's state, and `/v1/lift` equals `glint lift` on the same directory.

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

/// A config whose moments wait seconds, not minutes, so the wall clock can be watched.
fn fast_config(dir: &std::path::Path) -> std::path::PathBuf {
    let moments = dir.join("moments.toml");
    std::fs::write(
        &moments,
        "[[moment]]\nname = \"cart_wobble\"\ntrigger = { absence = \"2s\", after = [\"product_added\", \"product_removed\", \"order_completed\"] }\ncondition = \"cart.items > 0\"\ncap = \"1/24h\"\nholdout = 0.0\nconsent = \"marketing\"\nkpi = { signals = [\"order_completed\"], within = \"1h\" }\n",
    )
    .expect("write moments");
    let config = dir.join("glint.toml");
    std::fs::write(&config, format!("[engine]\nallowed_lateness = \"1s\"\nmoments = {:?}\n", moments.to_str().expect("utf-8"))).expect("write config");
    config
}

fn metric(s: &Server, name: &str) -> f64 {
    let mut resp = crate::util::agent().get(&format!("{}/metrics", s.url)).call().expect("metrics");
    let text = resp.body_mut().read_to_string().expect("body");
    text.lines().filter(|l| l.starts_with(name)).filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok()).sum()
}

#[test]
fn the_live_engine_fires_moments_and_answers_decisions() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let config = fast_config(dir.path());
    let s = Server::start_with(&data, &["--config", config.to_str().expect("utf-8")]);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64;
    let consent = json!({"consent": {"categoryPreferences": {"marketing": true}}});
    // A cart filled now: due in 2 s; the watermark (wall clock less 1 s of lateness) passes
    // that a second later, and the moment fires with no further event.
    let idle = json!({"type": "track", "userId": "idle-cart", "event": "Product Added", "messageId": "l1", "timestamp": iso(now), "properties": {"product_id": "p1", "price": 25}, "context": consent});
    // An event an hour old is stored but late: it cannot open a window the watermark closed.
    let late = json!({"type": "track", "userId": "late-cart", "event": "Product Added", "messageId": "l0", "timestamp": iso(now - 3_600_000), "properties": {"product_id": "p0", "price": 5}, "context": consent});
    let r = s.post("/v1/batch", json!({"batch": [idle, late]}).to_string().as_bytes());
    assert_eq!(r.status, 200, "{:?}", r.body);
    let d = decide(&s, "idle-cart");
    assert_eq!(d["known"], true);
    assert_eq!(d["cart"]["value"], 25.0);
    assert_eq!(d["suggested"], "cart_wobble", "pending before it is due: {d:#}");
    assert!(d["intent"]["p"].as_f64().is_some_and(|p| (0.0..=1.0).contains(&p)));

    let started = Instant::now();
    while !firings(&data).iter().any(|f| f["user"] == "idle-cart" && f["moment"] == "cart_wobble") {
        assert!(started.elapsed() < Duration::from_secs(10), "no live cart_wobble firing: {:?}", firings(&data));
        std::thread::sleep(Duration::from_millis(100));
    }
    let fired = firings(&data);
    let f = fired.iter().find(|f| f["user"] == "idle-cart").expect("firing");
    assert_eq!(f["at"], iso(now + 2000), "it qualifies at last activity + 2 s, in event time");
    assert!(!fired.iter().any(|f| f["user"] == "late-cart"), "{fired:?}");
    assert_eq!(metric(&s, "glint_late_events_total"), 1.0);
    assert_eq!(decide(&s, "late-cart")["known"], false, "a late event does not reach the engine");
    assert_eq!(crate::util::stats(&data)["events"], 2, "but it is stored");
    assert_eq!(decide(&s, "nobody")["known"], false);
    let unauthorized = crate::util::agent().get(&format!("{}/v1/decide/x", s.url)).call().expect("call");
    assert_eq!(unauthorized.status().as_u16(), 401);

    // A restart restores the checkpoint: the same firing is not written twice.
    drop(s);
    assert!(data.join("engine").join("checkpoint").exists(), "a checkpoint is written at start");
    let s = Server::start_with(&data, &["--config", config.to_str().expect("utf-8")]);
    std::thread::sleep(Duration::from_millis(1500));
    let n = firings(&data).iter().filter(|f| f["user"] == "idle-cart" && f["moment"] == "cart_wobble").count();
    assert_eq!(n, 1);
    assert_eq!(decide(&s, "idle-cart")["cart"]["value"], 25.0, "state restored");
}

fn get_lift(s: &Server, query: &str) -> Value {
    let mut resp = crate::util::agent().get(&format!("{}/v1/lift{query}", s.url)).header("authorization", &basic(KEY)).call().expect("lift");
    let text = resp.body_mut().read_to_string().expect("body");
    assert_eq!(resp.status().as_u16(), 200, "{text}");
    serde_json::from_str(&text).expect("json")
}

/// Issue 5: "`glint lift` … and the same live from the server".
#[test]
fn live_lift_equals_glint_lift_on_the_same_directory() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let moments = dir.path().join("moments.toml");
    // Half held out, so both arms fill; a day of lateness and history three hours old, so
    // only the events move event time (the wall clock stays a day behind them) and the
    // firings are settled once the last batch is applied.
    std::fs::write(
        &moments,
        "[[moment]]\nname = \"cart_wobble\"\ntrigger = { absence = \"2s\", after = [\"product_added\", \"product_removed\", \"order_completed\"] }\ncondition = \"cart.items > 0\"\ncap = \"1/24h\"\nholdout = 0.5\nconsent = \"marketing\"\nkpi = { signals = [\"order_completed\"], within = \"10m\" }\n",
    )
    .expect("write moments");
    let config = dir.path().join("glint.toml");
    std::fs::write(&config, format!("[engine]\nallowed_lateness = \"1d\"\nmoments = {:?}\n", moments.to_str().expect("utf-8"))).expect("write config");
    let config = config.to_str().expect("utf-8");
    let s = Server::start_with(&data, &["--config", config]);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64;
    let t0 = now - 3 * 3_600_000;
    let consent = json!({"consent": {"categoryPreferences": {"marketing": true}}});
    let n_shoppers: i64 = 60;
    let carts: Vec<Value> = (0..n_shoppers)
        .map(|i| json!({"type": "track", "userId": format!("s{i}"), "event": "Product Added", "messageId": format!("c{i}"), "timestamp": iso(t0 + i * 1000), "properties": {"product_id": "p1", "price": 20}, "context": consent}))
        .collect();
    assert_eq!(s.post("/v1/batch", json!({"batch": carts}).to_string().as_bytes()).status, 200);
    // A third order within the KPI window (after every cart fell due, so each one fired), and
    // a page view two hours on closes every window: nothing is censored.
    let mut later: Vec<Value> = (0..n_shoppers)
        .filter(|i| i % 3 == 0)
        .map(|i| json!({"type": "track", "userId": format!("s{i}"), "event": "Order Completed", "messageId": format!("o{i}"), "timestamp": iso(t0 + 120_000 + i * 1000), "properties": {"order_id": format!("o{i}"), "revenue": 20}, "context": consent}))
        .collect();
    later.push(json!({"type": "page", "userId": "clock", "messageId": "end", "timestamp": iso(t0 + 2 * 3_600_000), "context": consent}));
    assert_eq!(s.post("/v1/batch", json!({"batch": later}).to_string().as_bytes()).status, 200);
    let started = Instant::now();
    while firings(&data).len() < n_shoppers as usize {
        assert!(started.elapsed() < Duration::from_secs(10), "not every cart fired: {:?}", firings(&data));
        std::thread::sleep(Duration::from_millis(100));
    }

    let live = get_lift(&s, "");
    let live_cuped = get_lift(&s, "?cuped=true");
    let m = &live["moments"][0];
    assert_eq!(m["moment"], "cart_wobble", "{live:#}");
    let (t, h) = (m["treatment"]["n"].as_u64().expect("n"), m["holdout"]["n"].as_u64().expect("n"));
    assert_eq!(t + h, n_shoppers as u64, "every shopper counted once: {m:#}");
    assert!(t > 0 && h > 0, "both arms: {m:#}");
    assert_eq!(m["censored"], 0);
    assert_eq!(m["treatment"]["conversions"].as_u64().expect("c") + m["holdout"]["conversions"].as_u64().expect("c"), 20, "{m:#}");
    assert!(live_cuped["moments"][0].get("lift_abs_cuped").is_some());
    assert!(live["moments"][0].get("lift_abs_cuped").is_none());
    // Authorised like decisions.
    let anonymous = crate::util::agent().get(&format!("{}/v1/lift", s.url)).call().expect("call");
    assert_eq!(anonymous.status().as_u16(), 401);
    let wrong = crate::util::agent().get(&format!("{}/v1/lift", s.url)).header("authorization", &basic("nope")).call().expect("call");
    assert_eq!(wrong.status().as_u16(), 401);
    let bad = crate::util::agent().get(&format!("{}/v1/lift?cuped=maybe", s.url)).header("authorization", &basic(KEY)).call().expect("call");
    assert_eq!(bad.status().as_u16(), 400);

    drop(s);
    let (d, f) = (data.to_str().expect("utf-8"), data.join("firings.jsonl"));
    let f = f.to_str().expect("utf-8");
    let offline: Value = serde_json::from_str(&crate::util::ok(&["lift", "--data", d, "--firings", f, "--config", config, "--json"])).expect("json");
    assert_eq!(live, offline, "the same numbers live and offline");
    let offline_cuped: Value = serde_json::from_str(&crate::util::ok(&["lift", "--data", d, "--firings", f, "--config", config, "--cuped", "--json"])).expect("json");
    assert_eq!(live_cuped, offline_cuped);
}

/// A model file trained on simulated history (`algo`), written to `out`.
fn train_on_simulated(dir: &std::path::Path, algo: &str, out: &std::path::Path) {
    let history = dir.join("history");
    if !history.exists() {
        crate::util::ok(&["simulate", "--data", history.to_str().expect("utf-8"), "--users", "400", "--days", "3"]);
    }
    crate::util::ok(&["train", "--data", history.to_str().expect("utf-8"), "--algo", algo, "--out", out.to_str().expect("utf-8")]);
}

#[test]
fn the_live_engine_scores_with_a_model_and_swaps_a_new_file_in_without_restart() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let model = dir.path().join("intent.json");
    train_on_simulated(dir.path(), "gbdt", &model);
    let config = dir.path().join("glint.toml");
    // A day of lateness so events an hour apart reach the engine as on time; a fast reload.
    std::fs::write(&config, "[engine]\nallowed_lateness = \"1d\"\n[intent]\nmodel = \"intent.json\"\nreload_interval = \"200ms\"\n").expect("config");
    let s = Server::start_with(&data, &["--config", config.to_str().expect("utf-8")]);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64;
    // Three sessions an hour apart (two finish: drift counts them), then a cart.
    let mut batch = Vec::new();
    for (i, (ago_min, event)) in [(180, "Product Viewed"), (120, "Product Viewed"), (60, "Product Viewed"), (1, "Product Viewed"), (0, "Product Added")].into_iter().enumerate() {
        batch.push(json!({"type": "track", "userId": "m-shopper", "event": event, "messageId": format!("m{i}"), "timestamp": iso(now - ago_min * 60_000), "properties": {"product_id": "p1", "price": 30}}));
    }
    let r = s.post("/v1/batch", json!({"batch": batch}).to_string().as_bytes());
    assert_eq!(r.status, 200, "{:?}", r.body);
    let d = decide(&s, "m-shopper");
    let id = d["intent"]["model"].as_str().unwrap_or_else(|| panic!("scored by the model: {d:#}")).to_string();
    assert!(id.starts_with("gbdt-"), "{id}");
    let p = d["intent"]["p"].as_f64().expect("p");
    assert!((0.0..=1.0).contains(&p));
    assert!(["curiosity", "consideration", "readiness"].contains(&d["intent"]["stage"].as_str().unwrap_or("")), "{d:#}");
    let reasons = d["intent"]["reasons"].as_array().expect("reasons");
    assert!(!reasons.is_empty() && reasons.iter().all(|r| r["feature"].is_string()), "the model explains with features: {d:#}");
    assert_eq!(metric(&s, &format!("glint_intent_model{{model=\"{id}\"}}")), 1.0);
    // Drift is published within a second: two finished sessions, of which the first is in
    // the one-in-four sample.
    let started = Instant::now();
    while metric(&s, "glint_intent_drift_sessions") < 1.0 {
        assert!(started.elapsed() < Duration::from_secs(5), "drift never counted the finished sessions");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(metric(&s, "glint_intent_psi{feature=\"n_product_viewed\"}") >= 0.0);
    assert_eq!(metric(&s, "glint_intent_psi_warn_threshold"), 0.2);

    // A retrained file (another learner) replaces it in place: picked up without a restart.
    let next = dir.path().join("next.json");
    train_on_simulated(dir.path(), "logistic", &next);
    std::fs::rename(&next, &model).expect("replace the model");
    let started = Instant::now();
    loop {
        let m = decide(&s, "m-shopper")["intent"]["model"].as_str().unwrap_or("").to_string();
        if m.starts_with("logistic-") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "the new model was never swapped in (still {m})");
        std::thread::sleep(Duration::from_millis(100));
    }
    // A broken file is refused and counted; the model in use stays.
    std::fs::write(&model, b"{ not a model").expect("break the model");
    let started = Instant::now();
    while metric(&s, "glint_intent_model_load_errors_total") < 1.0 {
        assert!(started.elapsed() < Duration::from_secs(10), "the broken file was never noticed");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(decide(&s, "m-shopper")["intent"]["model"].as_str().unwrap_or("").starts_with("logistic-"));
    assert_eq!(metric(&s, "glint_intent_model_loads_total"), 2.0);
}
