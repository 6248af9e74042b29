//! Crash safety with a real process: concurrent clients ingest over HTTP while the server is
//! `kill -9`ed at pseudo-random moments, again and again; at the end every acknowledged
//! messageId is stored exactly once (retries of acknowledged messages included).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use crate::util::{KEY, Server, basic, ok, post, tempdir};

const ROUNDS: u64 = 22;
const CLIENTS: u64 = 8;

#[test]
fn every_acknowledged_message_survives_kill_9_exactly_once() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut seed: u64 = std::env::var("GLINT_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed);
    eprintln!("crash test seed {seed} (rerun with GLINT_SEED={seed})");
    for round in 0..ROUNDS {
        let server = Server::start(&data);
        let url = server.url.clone();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let retry_pool: Vec<String> = acked.lock().expect("lock").iter().rev().take(50).cloned().collect();
        let clients: Vec<_> = (0..CLIENTS)
            .map(|c| {
                let (url, acked, stop, retry_pool) = (url.clone(), acked.clone(), stop.clone(), retry_pool.clone());
                std::thread::spawn(move || {
                    for i in 0.. {
                        if stop.load(std::sync::atomic::Ordering::Relaxed) {
                            return;
                        }
                        let mut ids: Vec<String> = (0..10).map(|j| format!("r{round}-c{c}-b{i}-{j}")).collect();
                        // Resend already-acknowledged messages too: a client retry after a crash.
                        if let Some(old) = retry_pool.get((i as usize * CLIENTS as usize + c as usize) % retry_pool.len().max(1)) {
                            ids.push(old.clone());
                        }
                        let batch: Vec<_> = ids.iter().map(|id| json!({"type": "track", "userId": format!("u{c}"), "event": "Product Viewed", "messageId": id})).collect();
                        let body = json!({"batch": batch}).to_string();
                        let r = std::panic::catch_unwind(|| post(&format!("{url}/v1/batch"), &[("authorization", &basic(KEY))], body.as_bytes()));
                        match r {
                            Ok(r) if r.status == 200 => acked.lock().expect("lock").extend(ids),
                            Ok(r) if r.status == 429 => {}
                            Ok(r) => panic!("unexpected {}: {:?}", r.status, r.body),
                            Err(_) => return, // connection refused or reset: the server is gone
                        }
                    }
                })
            })
            .collect();
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        std::thread::sleep(Duration::from_millis(30 + (seed >> 33) % 170));
        server.kill9();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for c in clients {
            let _ = c.join();
        }
    }
    let acked = acked.lock().expect("lock").clone();
    let unique: HashSet<&String> = acked.iter().collect();
    assert!(unique.len() > 1000, "the test acknowledged too little to mean anything: {}", unique.len());

    // Restart once more (recovery runs), then read everything back.
    drop(Server::start(&data));
    let exported = ok(&["export", "--data", data.to_str().expect("utf-8")]);
    let mut counts: HashMap<String, u32> = HashMap::new();
    for line in exported.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("JSONL");
        *counts.entry(v["message_id"].as_str().expect("id").to_string()).or_default() += 1;
    }
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "stored more than once: {twice:?}");
    let lost: Vec<_> = unique.iter().filter(|id| !counts.contains_key(id.as_str())).collect();
    assert!(lost.is_empty(), "{} acknowledged messages lost, e.g. {:?}", lost.len(), lost.iter().take(5).collect::<Vec<_>>());
    eprintln!("{ROUNDS} kill -9 rounds: {} acknowledged, {} stored", unique.len(), counts.len());
}
