//! The official client libraries, unchanged, against a running `glint serve`: Segment's
//! analytics-node and analytics-python, PostHog's posthog-node and posthog-python, plus GA4
//! Measurement Protocol and a reproduction of posthog-js's wire format (it needs a browser).
//! `scripts/setup-test-deps` installs them (pinned) into `tests/clients`; see WIRE.md there
//! for what each sends.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::util::{KEY, Server, ok, stats, tempdir};

fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/clients")
}

/// The installed drivers, or `None` with a notice; `GLINT_REQUIRE_CLIENTS=1` (set by
/// `scripts/test`, which installs them) turns a missing install into a failure.
fn installed() -> Option<PathBuf> {
    let dir = clients_dir();
    if dir.join("node_modules/@segment/analytics-node").is_dir() && dir.join(".venv/bin/python").exists() {
        return Some(dir);
    }
    let msg = "client libraries not installed (run scripts/setup-test-deps)";
    if std::env::var("GLINT_REQUIRE_CLIENTS").as_deref() == Ok("1") {
        panic!("{msg}, and GLINT_REQUIRE_CLIENTS=1");
    }
    eprintln!("{msg}; skipping");
    None
}

/// Run one driver against a fresh server; check what it says it sent is what Glint stored.
fn drive(program: &str, script: &str, n: u64) -> (Value, Vec<Value>) {
    let dir = tempdir();
    let s = Server::start(dir.path());
    let Some(clients) = installed() else { return (Value::Null, Vec::new()) };
    let prog = if program == "venv" { clients.join(".venv/bin/python").to_string_lossy().into_owned() } else { program.to_string() };
    let out = Command::new(prog)
        .arg(clients.join(script))
        .current_dir(&clients)
        .env("GLINT_URL", &s.url)
        .env("GLINT_KEY", KEY)
        .env("GLINT_N", n.to_string())
        .env("GLINT_PREFIX", "drv")
        .env("GLINT_MAX_RETRIES", "2")
        .output()
        .expect("driver runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{script} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let sent: Value = stdout.lines().rev().find_map(|l| serde_json::from_str(l).ok()).expect("a {\"sent\": N} line");
    let st = stats(&s.data);
    // GA4 `user_properties` arrive as one extra identify per request that carries them.
    let derived = if script == "ga4_mp.py" { st["signals"]["identified"].as_u64().unwrap_or(0) } else { 0 };
    assert_eq!(st["events"].as_u64(), sent["sent"].as_u64().map(|n| n + derived), "{script}: everything the library delivered is stored once: {st:#}");
    let events: Vec<Value> = ok(&["export", "--data", s.data.to_str().expect("utf-8")]).lines().map(|l| serde_json::from_str(l).expect("json")).collect();
    (st, events)
}

fn signal_count(events: &[Value], signal: &str) -> usize {
    events.iter().filter(|e| e["signal"] == signal).count()
}

#[test]
fn segment_analytics_node_delivers_unchanged() {
    let (st, events) = drive("node", "segment_node.mjs", 40);
    if events.is_empty() && st.is_null() {
        return;
    }
    assert_eq!(signal_count(&events, "product_viewed"), 40);
    assert!(events.iter().any(|e| e["message_id"] == "drv-m0"), "explicit messageIds kept");
    let identify = events.iter().find(|e| e["signal"] == "identified").expect("identify");
    assert_eq!(identify["traits"]["birthday"], "1990-05-01");
    assert_eq!(signal_count(&events, "order_completed"), 1);
}

#[test]
fn segment_analytics_python_delivers_gzip_unchanged() {
    let (st, events) = drive("venv", "segment_python.py", 40);
    if st.is_null() {
        return;
    }
    assert_eq!(signal_count(&events, "product_viewed"), 40);
    assert_eq!(signal_count(&events, "page_viewed"), 1);
}

#[test]
fn posthog_node_delivers_unchanged() {
    let (st, events) = drive("node", "posthog_node.mjs", 40);
    if st.is_null() {
        return;
    }
    assert_eq!(signal_count(&events, "product_viewed"), 40);
    assert_eq!(signal_count(&events, "order_completed"), 1);
}

#[test]
fn posthog_python_delivers_unchanged() {
    let (st, events) = drive("venv", "posthog_python.py", 40);
    if st.is_null() {
        return;
    }
    assert_eq!(signal_count(&events, "product_viewed"), 40);
}

#[test]
fn ga4_measurement_protocol_and_posthog_js_wire_format_deliver() {
    let (st, events) = drive("python3", "ga4_mp.py", 60);
    if st.is_null() {
        return;
    }
    assert_eq!(signal_count(&events, "product_viewed"), 60);
    assert_eq!(signal_count(&events, "order_completed"), 1);
    let (_, events) = drive("python3", "posthog_js_like.py", 30);
    assert!(signal_count(&events, "product_viewed") >= 30, "{}", events.len());
}
