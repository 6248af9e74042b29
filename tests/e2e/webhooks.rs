//! Webhooks end to end: simulated shoppers → `glint serve` → signed webhooks to a real local
//! receiver that checks every signature; `kill -9` of the server while deliveries are in
//! flight, a restart, and proof that no firing was lost and none was delivered twice (after
//! the receiver's de-duplication on `webhook-id`, as Standard Webhooks asks of receivers).

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use glint_outbox::signature::{Headers, Secret, verify};
use serde_json::Value;

use crate::util::{KEY, Server, ok, tempdir};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[derive(Default)]
struct Seen {
    /// Deliveries per webhook-id (verified ones).
    by_id: HashMap<String, u32>,
    bad_signatures: u32,
    moments: HashMap<String, String>,
}

/// A receiver as a shop would write one, on plain threads and sockets (no Glint code but the
/// signature check): each request is read, verified, recorded, answered after `delay`.
fn receiver(delay: Duration) -> (String, Arc<Mutex<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/hooks", listener.local_addr().expect("addr"));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let shared = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let seen = shared.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().expect("clone"));
                let mut conn = conn;
                // Keep-alive: requests one after another on the connection.
                loop {
                    let mut headers = HashMap::new();
                    let mut line = String::new();
                    if reader.read_line(&mut line).map_or(true, |n| n == 0) {
                        return;
                    }
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).map_or(true, |n| n == 0) {
                            return;
                        }
                        let l = line.trim_end();
                        if l.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = l.split_once(':') {
                            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                        }
                    }
                    let len: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
                    let mut body = vec![0; len];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    std::thread::sleep(delay);
                    let get = |k: &str| headers.get(k).cloned().unwrap_or_default();
                    let (id, ts, sig) = (get("webhook-id"), get("webhook-timestamp"), get("webhook-signature"));
                    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64;
                    let secret = Secret::parse(SECRET).expect("secret");
                    let status = match verify(&secret, &Headers { id: &id, timestamp: &ts, signature: &sig }, &body, now, 300) {
                        Ok(()) => {
                            let mut s = seen.lock().expect("lock");
                            *s.by_id.entry(id.clone()).or_insert(0) += 1;
                            let moment = serde_json::from_slice::<Value>(&body).ok().and_then(|v| v["moment"].as_str().map(str::to_string)).unwrap_or_default();
                            s.moments.insert(id, moment);
                            "204 No Content"
                        }
                        Err(_) => {
                            seen.lock().expect("lock").bad_signatures += 1;
                            "401 Unauthorized"
                        }
                    };
                    if conn.write_all(format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n").as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, seen)
}

fn firings(data: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(data.join("firings.jsonl")).unwrap_or_default().lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

fn outbox_pending(data: &std::path::Path) -> u64 {
    let v: Value = serde_json::from_str(&ok(&["outbox", "--data", data.to_str().expect("utf-8"), "--json"])).expect("json");
    v["endpoints"].as_array().map_or(0, |a| a.iter().filter_map(|e| e["pending"].as_u64()).sum())
}

#[test]
fn webhooks_are_signed_and_survive_kill_9_once_each() {
    let dir = tempdir();
    let data = dir.path().join("data");
    // A slow receiver (40 ms a request, 2 in flight) so that deliveries are still going on
    // when the server is killed.
    let (url, seen) = receiver(Duration::from_millis(40));
    let config = dir.path().join("glint.toml");
    std::fs::write(
        &config,
        format!(
            "[engine]\n# Simulated traffic covers the last days: on time for this test.\nallowed_lateness = \"30d\"\ndeliver_max_age = \"30d\"\ncheckpoint_interval = \"1s\"\n\n[webhooks.shop]\nurl = \"{url}\"\nsecret = \"{SECRET}\"\nconcurrency = 2\ntimeout = \"2s\"\n"
        ),
    )
    .expect("config");
    let config = config.to_str().expect("utf-8").to_string();
    let server = Server::start_with(&data, &["--config", &config]);
    ok(&["simulate", "--users", "400", "--days", "2", "--seed", "7", "--target", &server.url, "--write-key", KEY]);
    // Kill -9 once some, not all, webhooks have arrived.
    let started = Instant::now();
    while seen.lock().expect("lock").by_id.len() < 20 {
        assert!(started.elapsed() < Duration::from_secs(60), "no webhooks arrived");
        std::thread::sleep(Duration::from_millis(20));
    }
    server.kill9();
    let before = seen.lock().expect("lock").by_id.len();
    let pending = outbox_pending(&data);
    assert!(pending > 0, "the kill should leave deliveries pending (delivered {before})");

    // Restart: the engine resumes from its checkpoint and the log, the outbox from its journal.
    let server = Server::start_with(&data, &["--config", &config]);
    let started = Instant::now();
    while outbox_pending(&data) > 0 {
        assert!(started.elapsed() < Duration::from_secs(90), "deliveries never finished: {} pending", outbox_pending(&data));
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(server);

    let fired = firings(&data);
    let sent: HashSet<String> = fired
        .iter()
        .filter(|f| f["outcome"] == "sent" && f["moment"] != "social_proof") // social_proof is on-site only
        .filter_map(|f| f["fire_id"].as_str().map(str::to_string))
        .collect();
    let ids: HashSet<String> = fired.iter().filter_map(|f| f["fire_id"].as_str().map(str::to_string)).collect();
    assert_eq!(ids.len(), fired.len(), "each firing is in the firing log once");
    let seen = seen.lock().expect("lock");
    assert_eq!(seen.bad_signatures, 0);
    let received: HashSet<String> = seen.by_id.keys().cloned().collect();
    let lost: Vec<&String> = sent.difference(&received).collect();
    let unknown: Vec<&String> = received.difference(&sent).collect();
    assert!(lost.is_empty(), "{} sent firings never arrived, e.g. {:?}", lost.len(), lost.first());
    assert!(unknown.is_empty(), "{} webhooks for firings not in the firing log, e.g. {:?}", unknown.len(), unknown.first());
    assert!(sent.len() > before, "deliveries continued after the restart ({before} before, {} in all)", sent.len());
    // On the wire, a request in flight at the kill may come again (same webhook-id): at most
    // as many as could be in flight (2) plus one group commit's worth.
    let redelivered: u32 = seen.by_id.values().map(|n| n - 1).sum();
    assert!(redelivered <= 4, "{redelivered} re-deliveries");
    eprintln!("webhooks: {} delivered once each across a kill -9 ({before} before it, {redelivered} re-sent and de-duplicated)", sent.len());
    let moments: HashSet<&String> = seen.moments.values().collect();
    assert!(moments.len() >= 3, "several moments delivered: {moments:?}");
}
