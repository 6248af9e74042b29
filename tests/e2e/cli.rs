//! The rest of the command line: simulate, stats, export, demo, config, usage errors.

use std::path::Path;

use serde_json::Value;

use crate::util::{KEY, Server, ok, run, simulated, stats, tempdir};

#[test]
fn simulate_is_deterministic_per_seed() {
    let dir = tempdir();
    let file = |name: &str, seed: &str| {
        let p = dir.path().join(name);
        ok(&["simulate", "--users", "50", "--days", "2", "--seed", seed, "--out", p.to_str().expect("utf-8")]);
        std::fs::read(p).expect("read")
    };
    let (a, b, c) = (file("a.jsonl", "7"), file("b.jsonl", "7"), file("c.jsonl", "8"));
    assert!(!a.is_empty());
    assert_eq!(a, b, "same seed, same bytes");
    assert_ne!(a, c);
    // The file imports as segment-jsonl, every line accepted.
    let data = dir.path().join("data");
    let out: Value = serde_json::from_str(&ok(&["import", "--data", data.to_str().expect("utf-8"), "--format", "segment-jsonl", "--json", dir.path().join("a.jsonl").to_str().expect("utf-8")])).expect("json");
    assert_eq!(out["rejected"], serde_json::json!([]));
    assert_eq!(out["stored"].as_u64(), Some(a.iter().filter(|b| **b == b'\n').count() as u64));
}

#[test]
fn simulated_traffic_into_a_log_exports_as_jsonl_and_parquet() {
    let dir = tempdir();
    let d = simulated(dir.path(), 200, 3);
    let data = Path::new(&d);
    let d = d.as_str();
    let s = stats(data);
    let n = s["events"].as_u64().expect("events");
    assert!(n > 1000, "{s:#}");
    for key in ["events", "users", "sessions", "signals", "first", "last"] {
        assert!(s.get(key).is_some(), "stats JSON lacks {key}");
    }
    let jsonl = ok(&["export", "--data", d]);
    assert_eq!(jsonl.lines().count() as u64, n);
    let times: Vec<String> = jsonl.lines().map(|l| serde_json::from_str::<Value>(l).expect("json")["time"].as_str().expect("time").to_string()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "export is in event-time order");
    let pq = dir.path().join("events.parquet");
    ok(&["export", "--data", d, "--out", pq.to_str().expect("utf-8")]);
    let bytes = std::fs::read(&pq).expect("parquet");
    assert_eq!(&bytes[..4], b"PAR1");
    assert_eq!(&bytes[bytes.len() - 4..], b"PAR1");
}

#[test]
fn simulate_posts_live_to_a_server() {
    let dir = tempdir();
    let s = Server::start(dir.path());
    let out = run(&["simulate", "--users", "100", "--days", "1", "--target", &s.url, "--write-key", KEY]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("0 rejected"), "{err}");
    let posted: u64 = err.split_whitespace().nth(1).and_then(|n| n.replace(',', "").parse().ok()).expect("a count");
    assert_eq!(stats(dir.path())["events"].as_u64(), Some(posted));
}

#[test]
fn demo_runs_end_to_end_and_summarises() {
    let dir = tempdir();
    let demo = dir.path().join("demo");
    let out = run(&["demo", "--dir", demo.to_str().expect("utf-8"), "--minutes", "0.3", "--users", "300", "--days", "3"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let summary = stdout.lines().find(|l| l.starts_with("demo: ")).unwrap_or_else(|| panic!("no summary line in {stdout}"));
    let events: u64 = summary.split_whitespace().nth(1).and_then(|n| n.replace(',', "").parse().ok()).expect("count");
    assert!(events > 500, "{summary}");
    assert_eq!(stats(&demo)["events"].as_u64(), Some(events));
    // Moments fired over the stored traffic, and the firing log has one line per firing.
    let count = |what: &str| -> u64 {
        let at = summary.find(what).unwrap_or_else(|| panic!("no {what:?} in {summary}"));
        summary[..at].rsplit(' ').next().and_then(|n| n.replace(',', "").parse().ok()).unwrap_or_else(|| panic!("no count before {what:?} in {summary}"))
    };
    let firings = count(" moment firings");
    assert!(firings > 0, "{summary}");
    // Webhooks went to the demo's receiver, which checked each signature; the outbox agrees.
    let hooks = count(" webhooks delivered");
    assert!(hooks > 0, "{summary}");
    let outbox: Value = serde_json::from_str(&ok(&["outbox", "--data", demo.to_str().expect("utf-8"), "--json"])).expect("json");
    assert_eq!(outbox["endpoints"][0]["delivered"].as_u64(), Some(hooks), "{outbox}");
    assert_eq!(outbox["endpoints"][0]["pending"].as_u64(), Some(0), "{outbox}");
    let lines = std::fs::read_to_string(demo.join("firings.jsonl")).expect("firings").lines().count() as u64;
    assert_eq!(lines, firings);
    assert!(stdout.contains("cart_wobble") && stdout.contains("browse_drift"), "{stdout}");
    // It ends with the report.
    let report = std::fs::read_to_string(demo.join("report.html")).expect("the demo writes its report");
    for id in ["funnel", "events-per-hour", "signals", "outcomes", "lift", "calibration"] {
        assert!(report.contains(&format!("<figure id=\"{id}\"")), "report lacks {id}");
    }
    assert!(!report.contains("<figure id=\"calibration\" data-empty"), "the demo's model is judged in the report");
    assert!(stdout.contains("report.html"), "{stdout}");
    // The live engine scored with the demo's intent model: sent nudges carry its score.
    let model_id = stdout.lines().find_map(|l| l.strip_prefix("Intent (model ")).and_then(|l| l.split(',').next()).unwrap_or_else(|| panic!("no intent line in {stdout}")).to_string();
    let scored = std::fs::read_to_string(demo.join("firings.jsonl"))
        .expect("firings")
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|f| f["outcome"] == "sent")
        .map(|f| f["receipt"]["intent"].clone())
        .collect::<Vec<_>>();
    assert!(!scored.is_empty());
    assert!(scored.iter().all(|i| i["model"] == model_id.as_str() && i["reasons"][0]["feature"].is_string()), "{:?}", scored.first());
    // Erasure reaches the firing log too: a shopper with firings is gone from every file.
    let log = std::fs::read_to_string(demo.join("firings.jsonl")).expect("firings");
    let user = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok()?["user"].as_str().map(str::to_string))
        .find(|u| u.starts_with("user-"))
        .expect("a known shopper with a firing");
    assert!(!crate::util::grep_files(&demo, user.as_bytes()).is_empty());
    let receipt: Value = serde_json::from_str(&ok(&["erase", "--data", demo.to_str().expect("utf-8"), &user, "--json"])).expect("json");
    assert!(receipt["events_removed"].as_u64().is_some_and(|n| n > 0));
    assert!(crate::util::grep_files(&demo, user.as_bytes()).is_empty(), "{user} is still on disk");
}

#[test]
fn usage_errors_teach() {
    let out = run(&["serve", "--data", "/nonexistent-glint-test"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--write-key"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(&["import", "--data", "x", "--format", "csv", "f"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("possible values"));
    let cfg = ok(&["config"]);
    assert!(cfg.contains("[ingest]") && cfg.contains("max_future = \"24h\""));
    let dir = tempdir();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[server]\nlisten = \"127.0.0.1:1\"\nwrite_key = \"oops\"\n").expect("write");
    let out = run(&["serve", "--data", dir.path().join("d").to_str().expect("utf-8"), "--write-key", "k", "--config", bad.to_str().expect("utf-8")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml:3:1"), "{err}");
}

#[test]
fn the_default_demo_makes_every_one_of_the_twelve_moments_fire() {
    let dir = tempdir();
    let demo = dir.path().join("demo");
    // Default shoppers and days; the pace is irrelevant to what fires (event time decides), but
    // the debug build's live engine (intent features kept, model scoring) must keep up with the
    // posting before its deadline, on a machine busy with the other tests.
    let out = run(&["demo", "--dir", demo.to_str().expect("utf-8"), "--minutes", "0.25"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let firings = std::fs::read_to_string(demo.join("firings.jsonl")).expect("firings");
    let moments: std::collections::BTreeSet<String> =
        firings.lines().map(|l| serde_json::from_str::<Value>(l).expect("json")["moment"].as_str().expect("moment").to_string()).collect();
    let all = [
        "apology", "back_in_stock", "birthday", "browse_drift", "cart_wobble", "holiday_cutoff", "referral_nudge", "reward_unlock",
        "service_recovery", "social_proof", "subscription_renewal", "vip_tier",
    ];
    assert_eq!(moments.iter().map(String::as_str).collect::<Vec<_>>(), all, "{stdout}");
}
