//! Ingestion over real HTTP: every route the client libraries use, and the table of bad
//! inputs with their exact status, field and error — each proven to leave valid data intact.

use serde_json::{Value, json};

use crate::util::{KEY, Server, basic, gzip, post, stats, tempdir};

fn track(id: &str, user: &str) -> Value {
    json!({"type": "track", "userId": user, "event": "Product Viewed", "messageId": id, "properties": {"product_id": "p1", "price": 10}})
}

#[test]
fn every_client_route_accepts_its_wire_format() {
    let dir = tempdir();
    let s = Server::start(dir.path());
    let auth = basic(KEY);
    let json_h = [("authorization", auth.as_str()), ("content-type", "application/json")];
    let mut sent = 0;
    // Segment: long and short paths, with and without trailing slash, text/plain like analytics.js.
    for (i, path) in ["/v1/track", "/v1/t", "/v1/track/", "/v1/page", "/v1/p", "/v1/screen", "/v1/s"].iter().enumerate() {
        let body = json!({"userId": "u1", "event": "Product Viewed", "name": "Home", "messageId": format!("seg-{i}")});
        let r = post(&format!("{}{path}", s.url), &[("authorization", auth.as_str()), ("content-type", "text/plain")], body.to_string().as_bytes());
        assert_eq!(r.status, 200, "{path}: {:?}", r.body);
        sent += 1;
    }
    for (i, path) in ["/v1/identify", "/v1/i"].iter().enumerate() {
        let body = json!({"userId": "u1", "anonymousId": "a1", "traits": {"birthday": "1990-05-01"}, "messageId": format!("id-{i}")});
        assert_eq!(post(&format!("{}{path}", s.url), &json_h, body.to_string().as_bytes()).status, 200, "{path}");
        sent += 1;
    }
    for (i, path) in ["/v1/group", "/v1/g"].iter().enumerate() {
        let body = json!({"userId": "u1", "groupId": "g1", "messageId": format!("grp-{i}")});
        assert_eq!(post(&format!("{}{path}", s.url), &json_h, body.to_string().as_bytes()).status, 200, "{path}");
        sent += 1;
    }
    for (i, path) in ["/v1/alias", "/v1/a"].iter().enumerate() {
        let body = json!({"userId": "u1", "previousId": "a1", "messageId": format!("al-{i}")});
        assert_eq!(post(&format!("{}{path}", s.url), &json_h, body.to_string().as_bytes()).status, 200, "{path}");
        sent += 1;
    }
    // Batches: Basic auth; writeKey in the body without a header; gzip by header.
    for (i, path) in ["/v1/batch", "/v1/b", "/v1/import", "/v1/batch/"].iter().enumerate() {
        let body = json!({"batch": [track(&format!("b{i}-1"), "u2"), track(&format!("b{i}-2"), "u2")]});
        assert_eq!(post(&format!("{}{path}", s.url), &json_h, body.to_string().as_bytes()).status, 200, "{path}");
        sent += 2;
    }
    let body = json!({"writeKey": KEY, "batch": [track("wk-1", "u3")]});
    assert_eq!(post(&format!("{}/v1/batch", s.url), &[("content-type", "application/json")], body.to_string().as_bytes()).status, 200);
    sent += 1;
    let body = json!({"batch": [track("gz-1", "u3"), track("gz-2", "u3")]});
    let r = post(&format!("{}/v1/batch", s.url), &[("authorization", auth.as_str()), ("content-encoding", "gzip")], &gzip(body.to_string().as_bytes()));
    assert_eq!(r.status, 200, "{:?}", r.body);
    sent += 2;
    // GA4 Measurement Protocol: key in the query string.
    let ga = json!({"client_id": "c.1", "user_id": "u4", "events": [{"name": "view_item", "params": {"items": [{"item_id": "p9", "price": 5}]}}, {"name": "purchase", "params": {"transaction_id": "T1", "value": 5}}]});
    for path in ["/mp/collect", "/mp/collect/"] {
        let r = post(&format!("{}{path}?measurement_id=G-TEST&api_secret={KEY}", s.url), &[("content-type", "application/json")], ga.to_string().as_bytes());
        assert_eq!(r.status, 200, "{path}: {:?}", r.body);
    }
    sent += 2; // the second post is the same request again: de-duplicated
    // PostHog: node/python batch, single capture, posthog-js arrays gzip'd and form-encoded.
    let ph = |uuid: &str| json!({"event": "Product Added", "distinct_id": "u5", "uuid": uuid, "properties": {"product_id": "p1"}});
    for (i, path) in ["/batch", "/batch/", "/capture", "/capture/"].iter().enumerate() {
        let body = json!({"api_key": KEY, "batch": [ph(&format!("ph-{i}"))]});
        assert_eq!(post(&format!("{}{path}", s.url), &[("content-type", "application/json")], body.to_string().as_bytes()).status, 200, "{path}");
        sent += 1;
    }
    let single = json!({"api_key": KEY, "event": "$pageview", "distinct_id": "u5", "uuid": "ph-single"});
    assert_eq!(post(&format!("{}/e/", s.url), &[], single.to_string().as_bytes()).status, 200);
    sent += 1;
    let mut js_event = ph("ph-js-gz");
    js_event["properties"]["token"] = json!(KEY);
    let arr = json!([js_event]).to_string();
    let r = post(&format!("{}/e/?compression=gzip-js&ver=1.200.0", s.url), &[("content-type", "text/plain")], &gzip(arr.as_bytes()));
    assert_eq!(r.status, 200, "{:?}", r.body);
    sent += 1;
    let mut js_event = ph("ph-js-b64");
    js_event["properties"]["token"] = json!(KEY);
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(json!([js_event]).to_string());
    let form: String = form_encode(&[("data", &b64)]);
    let r = post(&format!("{}/i/v0/e/", s.url), &[("content-type", "application/x-www-form-urlencoded")], form.as_bytes());
    assert_eq!(r.status, 200, "{:?}", r.body);
    sent += 1;

    let st = stats(&s.data);
    assert_eq!(st["events"], sent, "{st:#}");
    assert_eq!(st["signals"]["order_completed"], 1, "GA4 purchase mapped");
    assert_eq!(st["signals"]["product_added"], 6, "PostHog events mapped");
    assert_eq!(st["signals"]["identified"], 2);
}

fn form_encode(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            let enc: String = v.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect();
            format!("{k}={enc}")
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// One row of the error table: what is sent, where, and the exact answer expected.
struct Bad {
    name: &'static str,
    path: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    status: u16,
    field: &'static str,
    error: &'static str,
}

fn bad(name: &'static str, path: &'static str, body: Vec<u8>, status: u16, field: &'static str, error: &'static str) -> Bad {
    Bad { name, path, headers: vec![("authorization", basic(KEY)), ("content-type", "application/json".into())], body, status, field, error }
}

#[test]
fn bad_inputs_get_their_exact_status_and_error_and_leave_valid_data_alone() {
    let dir = tempdir();
    let s = Server::start(dir.path());
    assert_eq!(s.post("/v1/batch", json!({"batch": [track("good-1", "keeper")]}).to_string().as_bytes()).status, 200);

    let big_prop = "x".repeat(40 * 1024);
    let huge_batch = json!({"batch": (0..40).map(|i| json!({"type": "track", "userId": "u", "event": "e", "messageId": format!("h{i}"), "properties": {"pad": "y".repeat(16 * 1024)}})).collect::<Vec<_>>()});
    let too_many = json!({"batch": (0..2600).map(|_| json!({})).collect::<Vec<_>>()});
    let deep = format!("{{\"userId\":\"u\",\"event\":\"e\",\"properties\":{{\"a\":{}1{}}}}}", "[".repeat(300), "]".repeat(300));
    let mut bad_utf8 = br#"{"userId":"u","event":"e","properties":{"name":""#.to_vec();
    bad_utf8.extend_from_slice(&[0xff, 0xfe]);
    bad_utf8.extend_from_slice(br#""}}"#);
    let mut table = vec![
        bad("malformed JSON", "/v1/track", b"{\"userId\": \"u\", ".to_vec(), 400, "body", "not valid JSON"),
        bad("not an object", "/v1/track", b"[1,2]".to_vec(), 400, "body", "not valid JSON"),
        bad("wrong type", "/v1/track", json!({"userId": "u", "event": "e", "properties": {"price": "cheap"}}).to_string().into_bytes(), 400, "properties.price", "must be a number"),
        bad("wrong type of id", "/v1/track", json!({"userId": {"a": 1}, "event": "e"}).to_string().into_bytes(), 400, "userId", "must be a string or a number"),
        bad("missing shopper key", "/v1/track", json!({"event": "Product Viewed"}).to_string().into_bytes(), 400, "userId", "missing shopper key"),
        bad("missing event name", "/v1/track", json!({"userId": "u"}).to_string().into_bytes(), 400, "event", "required"),
        bad("oversize message", "/v1/track", json!({"userId": "u", "event": "e", "properties": {"pad": big_prop}}).to_string().into_bytes(), 413, "message", "over the limit of 32768"),
        bad("oversize batch", "/v1/batch", huge_batch.to_string().into_bytes(), 413, "body", "over the limit of 512000"),
        bad("too many messages", "/v1/batch", too_many.to_string().into_bytes(), 413, "batch", "more than the limit of 2500"),
        bad("invalid UTF-8", "/v1/track", bad_utf8, 400, "body", "not valid JSON"),
        bad("deep nesting", "/v1/track", deep.into_bytes(), 400, "body", "recursion limit"),
        bad("far-future time", "/v1/track", json!({"userId": "u", "event": "e", "timestamp": "2099-01-01T00:00:00Z"}).to_string().into_bytes(), 400, "timestamp", "more than 24h in the future"),
        bad("bad timestamp", "/v1/track", json!({"userId": "u", "event": "e", "timestamp": "yesterday"}).to_string().into_bytes(), 400, "timestamp", "not an ISO 8601"),
        bad("batch without batch", "/v1/batch", b"{}".to_vec(), 400, "batch", "required"),
        bad("empty batch", "/v1/batch", br#"{"batch":[]}"#.to_vec(), 400, "batch", "no messages"),
        bad("batch of only bad messages", "/v1/batch", json!({"batch": [{"type": "track", "event": "e"}, {"type": "nope", "userId": "u"}]}).to_string().into_bytes(), 400, "batch", "no valid message"),
        bad("GA4 without events", "/mp/collect?api_secret=test-write-key", b"{\"client_id\":\"c\"}".to_vec(), 400, "events", "required"),
        bad("PostHog without distinct_id", "/batch", json!({"api_key": KEY, "batch": [{"event": "x"}]}).to_string().into_bytes(), 400, "distinct_id", "missing shopper key"),
    ];
    let mut gz = bad("bad gzip", "/v1/batch", vec![0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5], 400, "body", "not valid gzip");
    gz.headers.push(("content-encoding", "gzip".into()));
    table.push(gz);
    let mut enc = bad("unknown encoding", "/v1/batch", b"{}".to_vec(), 400, "Content-Encoding", "unsupported encoding");
    enc.headers.push(("content-encoding", "br".into()));
    table.push(enc);
    let mut key = bad("bad key", "/v1/batch", json!({"batch": [track("k1", "u")]}).to_string().into_bytes(), 401, "writeKey", "unknown write key");
    key.headers[0].1 = basic("wrong");
    table.push(key);
    let mut nokey = bad("missing key", "/v1/batch", json!({"batch": [track("k2", "u")]}).to_string().into_bytes(), 401, "writeKey", "missing write key");
    nokey.headers.remove(0);
    table.push(nokey);
    let mut body_key = bad("bad key in body", "/v1/batch", json!({"writeKey": "nope", "batch": [track("k3", "u")]}).to_string().into_bytes(), 401, "writeKey", "unknown write key");
    body_key.headers.remove(0);
    table.push(body_key);
    let mut ga = bad("GA4 bad secret", "/mp/collect?api_secret=nope", b"{}".to_vec(), 401, "api_secret", "unknown api_secret");
    ga.headers.remove(0);
    table.push(ga);
    let mut ph = bad("PostHog bad key", "/batch", json!({"api_key": "nope", "batch": [{"event": "x", "distinct_id": "u"}]}).to_string().into_bytes(), 401, "api_key", "unknown write key");
    ph.headers.remove(0);
    table.push(ph);

    for case in &table {
        let headers: Vec<(&str, &str)> = case.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = post(&format!("{}{}", s.url, case.path), &headers, &case.body);
        assert_eq!(r.status, case.status, "{}: {:?}", case.name, r.body);
        assert_eq!(r.body["field"], case.field, "{}: {:?}", case.name, r.body);
        let error = r.body["error"].as_str().unwrap_or_default();
        assert!(error.contains(case.error), "{}: error {error:?} lacks {:?}", case.name, case.error);
        assert_eq!(r.body["success"], false, "{}", case.name);
    }

    // A batch with some bad messages: 200, the good ones stored, the bad ones by index.
    let mixed = json!({"batch": [track("good-2", "keeper"), {"type": "track", "event": "e"}, track("good-3", "keeper"), {"type": "track", "userId": "u", "event": "e", "properties": {"price": []}}]});
    let r = s.post("/v1/batch", mixed.to_string().as_bytes());
    assert_eq!(r.status, 200);
    assert_eq!(r.body["accepted"], 2);
    assert_eq!(r.body["rejected"], json!([{"index": 1, "field": "userId", "error": "missing shopper key: userId or anonymousId is required"}, {"index": 3, "field": "properties.price", "error": "must be a number"}]));
    // Duplicate messageId: acknowledged, stored once.
    let r = s.post("/v1/batch", json!({"batch": [track("good-1", "keeper")]}).to_string().as_bytes());
    assert_eq!((r.status, r.body["duplicates"].clone()), (200, json!(1)));

    let st = stats(&s.data);
    assert_eq!(st["events"], 3, "only the three good events are stored: {st:#}");
    assert_eq!(st["users"], 1);

    let metrics = crate::util::agent().get(&format!("{}/metrics", s.url)).call().expect("metrics").body_mut().read_to_string().expect("text");
    for needle in ["glint_events_accepted_total{source=\"segment\"} 3", "glint_events_refused_total{reason=\"duplicate\"} 1", "glint_events_refused_total{reason=\"unauthorized\"}", "glint_fsync_seconds_bucket", "glint_log_bytes_written_total"] {
        assert!(metrics.contains(needle), "metrics lack {needle}:\n{metrics}");
    }
}

#[test]
fn a_full_queue_answers_429_with_retry_after_and_loses_nothing_acknowledged() {
    let dir = tempdir();
    let cfg = dir.path().join("glint.toml");
    std::fs::write(&cfg, "[ingest]\nqueue_depth = 1\n").expect("config");
    let s = Server::start_with(&dir.path().join("data"), &["--config", cfg.to_str().expect("utf-8")]);
    let url = s.url.clone();
    let handles: Vec<_> = (0..48)
        .map(|t| {
            let url = url.clone();
            std::thread::spawn(move || {
                let (mut ok, mut busy) = (0u64, 0u64);
                for i in 0..40 {
                    let body = json!({"batch": (0..20).map(|j| track(&format!("t{t}-{i}-{j}"), "u")).collect::<Vec<_>>()});
                    let r = post(&format!("{url}/v1/batch"), &[("authorization", &basic(KEY))], body.to_string().as_bytes());
                    match r.status {
                        200 => ok += 20,
                        429 => {
                            assert!(r.headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("retry-after") && v == "1"), "429 carries Retry-After");
                            assert_eq!(r.body["field"], "body");
                            busy += 1;
                        }
                        other => panic!("unexpected status {other}: {:?}", r.body),
                    }
                }
                (ok, busy)
            })
        })
        .collect();
    let (mut ok, mut busy) = (0, 0);
    for h in handles {
        let (o, b) = h.join().expect("client thread");
        ok += o;
        busy += b;
    }
    assert!(busy > 0, "48 clients against a queue of one saw no back-pressure");
    assert_eq!(stats(&s.data)["events"], ok, "exactly the acknowledged events are stored");
}

#[test]
fn openapi_lists_every_route_the_server_answers() {
    let dir = tempdir();
    let s = Server::start(dir.path());
    let mut resp = crate::util::agent().get(&format!("{}/openapi.json", s.url)).call().expect("openapi");
    let doc: Value = serde_json::from_str(&resp.body_mut().read_to_string().expect("text")).expect("JSON");
    assert_eq!(doc["openapi"], "3.1.0");
    // Browsers preflight analytics.js requests (they carry Authorization).
    let pre = crate::util::agent().options(&format!("{}/v1/t", s.url)).header("origin", "https://shop.example").header("access-control-request-headers", "authorization,content-type").call().expect("preflight");
    assert_eq!(pre.status().as_u16(), 204);
    let allow = pre.headers().get("access-control-allow-headers").and_then(|v| v.to_str().ok()).unwrap_or_default().to_ascii_lowercase();
    assert!(allow.contains("authorization") && allow.contains("content-type"), "{allow}");
    assert_eq!(pre.headers().get("access-control-allow-origin").and_then(|v| v.to_str().ok()), Some("*"));
    for path in ["/v1/track", "/v1/t", "/v1/identify", "/v1/page", "/v1/screen", "/v1/group", "/v1/alias", "/v1/batch", "/v1/b", "/v1/import", "/mp/collect", "/batch", "/capture", "/e", "/i/v0/e", "/v1/users/{id}", "/v1/decide/{user}", "/v1/lift", "/health", "/metrics", "/openapi.json"] {
        assert!(doc["paths"].get(path).is_some(), "OpenAPI lacks {path}");
    }
    // And no documented path is a 404.
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let p = path.replace("{id}", "someone").replace("{key}", crate::util::KEY).replace("{user}", "someone");
        let method = item.as_object().and_then(|m| m.keys().next().cloned()).expect("a method");
        let status = match method.as_str() {
            "get" => crate::util::agent().get(&format!("{}{p}", s.url)).header("authorization", &basic(KEY)).call().expect("get").status().as_u16(),
            "delete" => crate::util::agent().delete(&format!("{}{p}", s.url)).call().expect("delete").status().as_u16(),
            _ => post(&format!("{}{p}", s.url), &[], b"{}").status,
        };
        assert_ne!(status, 404, "{method} {path}");
        assert_ne!(status, 405, "{method} {path}");
    }
}
