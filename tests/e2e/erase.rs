//! Erasure: the shopper is gone from every file Glint wrote, a receipt exists, and neither a
//! client retry, a restart nor a re-import brings them back.

use serde_json::json;

use crate::util::{ADMIN, KEY, Server, basic, grep_files, ok, run, stats, tempdir};

#[test]
fn erase_over_http_removes_the_shopper_from_disk_and_keeps_them_out() {
    let dir = tempdir();
    let data = dir.path().join("data");
    // Webhooks to a port nobody listens on: the victim's deliveries stay in the outbox, and
    // the engine checkpoints every second, so both stores hold the victim before the erasure.
    let config = dir.path().join("glint.toml");
    std::fs::write(&config, "[engine]\ncheckpoint_interval = \"1s\"\n\n[webhooks.shop]\nurl = \"http://127.0.0.1:9/hooks\"\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\n").expect("config");
    let s = Server::start_with(&data, &["--config", config.to_str().expect("utf-8")]);
    let victim = "victim-4471@example.com";
    let mut batch = Vec::new();
    for i in 0..30 {
        let user = if i % 3 == 0 { victim } else { "keeper-1" };
        batch.push(json!({"type": "track", "userId": user, "event": "Product Viewed", "messageId": format!("m{i}"), "properties": {"product_id": format!("p{i}")}}));
    }
    batch.push(json!({"type": "identify", "userId": victim, "anonymousId": "anon-of-victim-88", "messageId": "link", "traits": {"tier": "gold"}}));
    batch.push(json!({"type": "track", "anonymousId": "anon-of-victim-88", "event": "Cart Viewed", "messageId": "anon-1"}));
    // A delayed order: service_recovery fires at once and its webhook waits in the outbox;
    // an add to cart arms a timer that the checkpoint holds.
    batch.push(json!({"type": "track", "userId": victim, "event": "Order Delayed", "messageId": "late-order", "properties": {"order_id": "o1"}}));
    batch.push(json!({"type": "track", "userId": victim, "event": "Product Added", "messageId": "add-1", "properties": {"product_id": "p1", "price": 9}}));
    let body = json!({"batch": batch}).to_string();
    assert_eq!(s.post("/v1/batch", body.as_bytes()).status, 200);
    assert!(!grep_files(&data, victim.as_bytes()).is_empty(), "the victim is on disk before");
    let started = std::time::Instant::now();
    while !(grep_files(&data.join("outbox"), victim.as_bytes()).len() == 1 && crate::util::checkpoint_text(&data).contains(victim)) {
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "the outbox and the checkpoint never held the victim");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    let url = format!("{}/v1/users/{victim}", s.url);
    let wrong = crate::util::agent().delete(&url).header("authorization", &basic(KEY)).call().expect("delete");
    assert_eq!(wrong.status().as_u16(), 401, "the write key is not the admin key");
    let mut resp = crate::util::agent().delete(&url).header("authorization", &basic(ADMIN)).call().expect("delete");
    assert_eq!(resp.status().as_u16(), 200);
    let receipt: serde_json::Value = serde_json::from_str(&resp.body_mut().read_to_string().expect("body")).expect("json");
    assert_eq!(receipt["events_removed"], 10 + 1 + 1 + 2);
    assert_eq!(receipt["linked_ids"], 1);
    assert_eq!(receipt["profiles_forgotten"], 1);

    assert!(grep_files(&data, victim.as_bytes()).is_empty(), "no file under the data directory holds the id");
    assert!(grep_files(&data, b"anon-of-victim-88").is_empty(), "nor the linked anonymous id");
    let checkpoint = crate::util::checkpoint_text(&data);
    assert!(!checkpoint.contains(victim) && !checkpoint.contains("anon-of-victim-88"), "the engine's checkpoint (decompressed) forgot them");
    assert!(checkpoint.contains("keeper-1"), "and kept the others");
    assert_eq!(std::fs::read_dir(data.join("erasures")).expect("receipts").count(), 1);
    assert_eq!(stats(&data)["events"], 20);
    let decided: serde_json::Value = {
        let mut r = crate::util::agent().get(&format!("{}/v1/decide/{victim}", s.url)).header("authorization", &basic(KEY)).call().expect("decide");
        serde_json::from_str(&r.body_mut().read_to_string().expect("body")).expect("json")
    };
    assert_eq!(decided["known"], false, "the live engine forgot the profile");

    // A client retry of the same batch: acknowledged, but the victim stays out.
    let r = s.post("/v1/batch", body.as_bytes());
    assert_eq!(r.status, 200);
    assert_eq!(r.body["suppressed"], 14);
    drop(s);
    let s = Server::start(&data);
    let again = json!({"batch": [{"type": "track", "userId": victim, "event": "x", "messageId": "fresh"}]}).to_string();
    assert_eq!(s.post("/v1/batch", again.as_bytes()).body["suppressed"], 1, "suppression survives a restart");
    assert!(grep_files(&data, victim.as_bytes()).is_empty());

    // The CLI refuses while the server holds the directory, and says what to do.
    let out = run(&["erase", "--data", data.to_str().expect("utf-8"), "keeper-1"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("DELETE /v1/users"), "{}", String::from_utf8_lossy(&out.stderr));
    drop(s);
    let out = ok(&["erase", "--data", data.to_str().expect("utf-8"), "keeper-1", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["events_removed"], 20);
    assert_eq!(stats(&data)["events"], 0);
}

#[test]
fn a_reimport_cannot_bring_an_erased_shopper_back() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let csv = dir.path().join("c.csv");
    std::fs::write(&csv, "user_id,event,timestamp\nerased-user-9,catalog,2020-01-01 00:00:00\nother,catalog,2020-01-01 00:00:01\n").expect("csv");
    let d = data.to_str().expect("utf-8");
    ok(&["import", "--data", d, "--format", "clickstream", csv.to_str().expect("utf-8")]);
    ok(&["erase", "--data", d, "erased-user-9"]);
    let out: serde_json::Value = serde_json::from_str(&ok(&["import", "--data", d, "--format", "clickstream", "--json", csv.to_str().expect("utf-8")])).expect("json");
    assert_eq!((out["stored"].clone(), out["suppressed"].clone(), out["duplicates"].clone()), (json!(0), json!(1), json!(1)));
    assert!(grep_files(&data, b"erased-user-9").is_empty());
}
