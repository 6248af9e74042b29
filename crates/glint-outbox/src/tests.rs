//! End-to-end tests of the outbox against a real local HTTP receiver that verifies every
//! signature with [`crate::signature::verify`].

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, StatusCode};
use serde_json::json;

use crate::journal::{self, JOURNAL, State};
use crate::signature::{Headers, Secret, verify};
use crate::{Delivery, Endpoint, Outbox, OutboxError};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// One request as the receiver saw it.
#[derive(Clone, Debug)]
struct Seen {
    id: String,
    body: String,
    timestamp: i64,
    content_type: String,
    status: u16,
}

/// A webhook receiver on 127.0.0.1: verifies, records, answers 500 for the first
/// `failures_per_id` requests of each webhook-id and 200 after.
struct Receiver {
    url: String,
    failures_per_id: AtomicUsize,
    delay: Duration,
    seen: Mutex<Vec<Seen>>,
    per_id: Mutex<HashMap<String, usize>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    bad_signatures: AtomicUsize,
}

impl Receiver {
    async fn start(failures_per_id: usize, delay: Duration) -> Arc<Receiver> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let receiver = Arc::new(Receiver {
            url: format!("http://{addr}/hooks"),
            failures_per_id: AtomicUsize::new(failures_per_id),
            delay,
            seen: Mutex::new(Vec::new()),
            per_id: Mutex::new(HashMap::new()),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            bad_signatures: AtomicUsize::new(0),
        });
        let app = axum::Router::new().route("/hooks", axum::routing::post(hook)).with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        receiver
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }

    fn ids_answered_ok(&self) -> Vec<String> {
        self.seen().into_iter().filter(|s| s.status == 200).map(|s| s.id).collect()
    }
}

async fn hook(AxumState(rx): AxumState<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let n = rx.in_flight.fetch_add(1, SeqCst) + 1;
    rx.max_in_flight.fetch_max(n, SeqCst);
    if !rx.delay.is_zero() {
        tokio::time::sleep(rx.delay).await;
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let (id, timestamp, signature) = (header("webhook-id"), header("webhook-timestamp"), header("webhook-signature"));
    let secret = Secret::parse(SECRET).expect("secret");
    let now = unix_secs();
    let status = if verify(&secret, &Headers { id: &id, timestamp: &timestamp, signature: &signature }, &body, now, 300).is_err() {
        rx.bad_signatures.fetch_add(1, SeqCst);
        401
    } else {
        let mut per_id = rx.per_id.lock().expect("lock");
        let nth = per_id.entry(id.clone()).or_default();
        *nth += 1;
        if *nth <= rx.failures_per_id.load(SeqCst) { 500 } else { 200 }
    };
    rx.seen.lock().expect("lock").push(Seen {
        id,
        body: String::from_utf8_lossy(&body).into_owned(),
        timestamp: timestamp.parse().unwrap_or(0),
        content_type: header("content-type"),
        status,
    });
    rx.in_flight.fetch_sub(1, SeqCst);
    StatusCode::from_u16(status).expect("status")
}

fn unix_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs() as i64
}

/// An endpoint with test-sized backoff (milliseconds, not minutes).
fn endpoint(name: &str, url: &str) -> Endpoint {
    let mut e = Endpoint::new(name, url, Secret::parse(SECRET).expect("secret"));
    e.backoff_base = Duration::from_millis(1);
    e.backoff_max = Duration::from_millis(5);
    e.max_attempts = 3;
    e.timeout = Duration::from_secs(5);
    e
}

fn delivery(fire_id: &str, endpoint: &str, user: &str) -> Delivery {
    Delivery {
        fire_id: fire_id.into(),
        endpoint: endpoint.into(),
        user: user.into(),
        payload: json!({"type": "moment.cart_wobble", "data": {"user": user, "fire_id": fire_id}}),
        enqueued_ms: SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_millis() as i64,
    }
}

/// Poll until `cond` holds; fail after a generous deadline (no fixed sleeps as assertions).
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(8);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn handle() -> tokio::runtime::Handle {
    tokio::runtime::Handle::current()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivers_with_standard_webhooks_headers_and_a_valid_signature() {
    let rx = Receiver::start(0, Duration::ZERO).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let outbox = Outbox::open(dir.path(), vec![endpoint("crm", &rx.url)]).expect("open");
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let sink = latencies.clone();
    outbox.set_latency_observer(move |ep, d| sink.lock().expect("lock").push((ep.to_string(), d)));
    outbox.start(&handle());
    let d = delivery("f1", "crm", "u1");
    let expected_body = serde_json::to_string(&d.payload).expect("json");
    assert_eq!(outbox.enqueue(vec![d]).expect("enqueue"), 1);
    until("delivery", || outbox.stats().delivered == 1).await;

    let seen = rx.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(rx.bad_signatures.load(SeqCst), 0);
    assert_eq!(seen[0].id, "f1", "webhook-id is the fire id");
    assert_eq!(seen[0].body, expected_body);
    assert_eq!(seen[0].content_type, "application/json");
    assert!((seen[0].timestamp - unix_secs()).abs() <= 5, "webhook-timestamp is now, in seconds");
    let stats = outbox.stats();
    assert_eq!((stats.enqueued, stats.delivered, stats.pending, stats.retried, stats.dead), (1, 1, 0, 0, 0));
    assert_eq!(latencies.lock().expect("lock").iter().map(|(ep, _)| ep.as_str()).collect::<Vec<_>>(), ["crm"]);
    let summary = Outbox::summary(dir.path()).expect("summary while running");
    assert_eq!((summary.endpoints[0].pending, summary.endpoints[0].delivered), (0, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_500s_then_200_is_delivered_on_the_third_attempt() {
    let rx = Receiver::start(2, Duration::ZERO).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let outbox = Outbox::open(dir.path(), vec![endpoint("crm", &rx.url)]).expect("open");
    outbox.start(&handle());
    outbox.enqueue(vec![delivery("f1", "crm", "u1")]).expect("enqueue");
    until("delivery", || outbox.stats().delivered == 1).await;

    assert_eq!(rx.seen().iter().map(|s| (s.id.as_str(), s.status)).collect::<Vec<_>>(), [("f1", 500), ("f1", 500), ("f1", 200)]);
    assert_eq!(outbox.stats().retried, 2);
    let book = journal::read_book(dir.path()).expect("read");
    assert!(matches!(book.get("crm", "f1").map(|e| &e.state), Some(State::Delivered { attempts: 3, status: 200, .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn always_failing_dead_letters_after_max_attempts_then_redrive_and_reopen_delivers() {
    let rx = Receiver::start(usize::MAX, Duration::ZERO).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let outbox = Outbox::open(dir.path(), vec![endpoint("crm", &rx.url)]).expect("open");
    outbox.start(&handle());
    outbox.enqueue(vec![delivery("f1", "crm", "u1")]).expect("enqueue");
    until("dead letter", || outbox.stats().dead == 1).await;

    assert_eq!(rx.seen().len(), 3, "max_attempts is 3");
    let dead = Outbox::dead_letters(dir.path()).expect("dead letters");
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0].fire_id.as_str(), dead[0].endpoint.as_str(), dead[0].user.as_str()), ("f1", "crm", "u1"));
    assert_eq!((dead[0].attempts, dead[0].status), (3, Some(500)));
    assert!(dead[0].error.starts_with("HTTP 500"), "{}", dead[0].error);
    assert!(matches!(Outbox::redrive(dir.path(), None, &[]), Err(OutboxError::Locked(_))), "offline redrive waits for the running outbox to stop");
    drop(outbox);

    rx.failures_per_id.store(0, SeqCst);
    assert_eq!(Outbox::redrive(dir.path(), Some("other"), &[]).expect("redrive"), 0, "filter by endpoint");
    assert_eq!(Outbox::redrive(dir.path(), Some("crm"), &["f1".to_string()]).expect("redrive"), 1);
    let summary = Outbox::summary(dir.path()).expect("summary");
    assert_eq!((summary.endpoints[0].pending, summary.endpoints[0].dead), (1, 0));
    let outbox = Outbox::open(dir.path(), vec![endpoint("crm", &rx.url)]).expect("reopen");
    outbox.start(&handle());
    until("redriven delivery", || outbox.stats().delivered == 1).await;
    assert_eq!(rx.ids_answered_ok(), ["f1"]);
    assert!(rx.seen().iter().all(|s| s.id == "f1"), "the same webhook-id on every attempt");
    assert!(Outbox::dead_letters(dir.path()).expect("dead letters").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redrive_on_the_running_outbox_delivers_again() {
    let rx = Receiver::start(usize::MAX, Duration::ZERO).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut crm = endpoint("crm", &rx.url);
    crm.max_attempts = 1;
    let outbox = Outbox::open(dir.path(), vec![crm]).expect("open");
    outbox.start(&handle());
    outbox.enqueue(vec![delivery("f1", "crm", "u1"), delivery("f2", "crm", "u2")]).expect("enqueue");
    until("dead letters", || outbox.stats().dead == 2).await;
    rx.failures_per_id.store(0, SeqCst);
    assert_eq!(outbox.redrive_running(None, &["f2".to_string()]).expect("redrive"), 1);
    until("redriven delivery", || outbox.stats().delivered == 1).await;
    assert_eq!(rx.ids_answered_ok(), ["f2"]);
    assert_eq!(Outbox::dead_letters(dir.path()).expect("dead").iter().map(|d| d.fire_id.as_str()).collect::<Vec<_>>(), ["f1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_endpoint_does_not_delay_a_fast_one_nor_the_caller() {
    let slow_rx = Receiver::start(0, Duration::from_secs(2)).await;
    let fast_rx = Receiver::start(0, Duration::ZERO).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut slow, mut fast) = (endpoint("slow", &slow_rx.url), endpoint("fast", &fast_rx.url));
    slow.concurrency = 1;
    fast.concurrency = 1;
    let outbox = Outbox::open(dir.path(), vec![slow, fast]).expect("open");
    outbox.start(&handle());
    let t0 = Instant::now();
    let batch = (0..3).flat_map(|i| [delivery(&format!("s{i}"), "slow", "u"), delivery(&format!("f{i}"), "fast", "u")]).collect();
    assert_eq!(outbox.enqueue(batch).expect("enqueue"), 6);
    assert!(t0.elapsed() < Duration::from_secs(1), "enqueue waits for the disk only");
    until("fast deliveries", || fast_rx.ids_answered_ok().len() == 3).await;
    assert!(t0.elapsed() < Duration::from_millis(1500), "fast endpoint waited on the slow one: {:?}", t0.elapsed());
    assert!(slow_rx.seen().is_empty(), "the slow receiver has not answered yet");
    until("the slow request in flight", || outbox.stats_by_endpoint()[0].1.in_flight == 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enqueue_is_idempotent_per_fire_id_and_endpoint_and_rejects_unknown_endpoints() {
    let rx = Receiver::start(0, Duration::ZERO).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let outbox = Outbox::open(dir.path(), vec![endpoint("crm", &rx.url), endpoint("push", &rx.url)]).expect("open");
    let a = delivery("a", "crm", "u1");
    assert_eq!(outbox.enqueue(vec![a.clone(), a.clone(), delivery("a", "push", "u1")]).expect("enqueue"), 2, "same fire id, two endpoints");
    assert_eq!(outbox.enqueue(vec![a.clone()]).expect("enqueue"), 0);
    match outbox.enqueue(vec![delivery("b", "crm", "u1"), delivery("c", "nowhere", "u1")]) {
        Err(e @ OutboxError::UnknownEndpoint { .. }) => assert!(e.to_string().contains("\"nowhere\""), "{e}"),
        other => panic!("expected UnknownEndpoint, got {other:?}"),
    }
    assert!(matches!(outbox.enqueue(vec![delivery("x.y", "crm", "u1")]), Err(OutboxError::InvalidDelivery { .. })));
    assert_eq!(Outbox::summary(dir.path()).expect("summary").endpoints.iter().map(|e| e.pending).sum::<u64>(), 2, "a rejected batch writes nothing");

    outbox.start(&handle());
    until("deliveries", || outbox.stats().delivered == 2).await;
    assert_eq!(outbox.enqueue(vec![a]).expect("enqueue"), 0, "delivered firings are not queued again");
    drop(outbox);
    let outbox = Outbox::open(dir.path(), vec![endpoint("crm", &rx.url), endpoint("push", &rx.url)]).expect("reopen");
    assert_eq!(outbox.enqueue(vec![delivery("a", "crm", "u1")]).expect("enqueue"), 0, "also across restarts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopen_resumes_pending_deliveries_and_never_resends_delivered_ones() {
    let rx = Receiver::start(0, Duration::ZERO).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let open = || {
        let mut crm = endpoint("crm", &rx.url);
        crm.concurrency = 1;
        Outbox::open(dir.path(), vec![crm]).expect("open")
    };
    let outbox = open();
    outbox.start(&handle());
    outbox.enqueue(vec![delivery("a", "crm", "u1")]).expect("enqueue");
    until("a delivered", || outbox.stats().delivered == 1).await;
    drop(outbox);

    // Accepted but never started: like a process killed before the lanes ran.
    let outbox = open();
    outbox.enqueue(vec![delivery("b", "crm", "u2")]).expect("enqueue");
    drop(outbox);

    let outbox = open();
    assert_eq!(outbox.stats().pending, 1);
    outbox.start(&handle());
    until("b delivered", || outbox.stats().delivered == 1).await;
    // With one request at a time in journal order, a re-sent "a" would have come before "b".
    assert_eq!(rx.ids_answered_ok(), ["a", "b"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torn_last_line_is_cut_and_a_corrupt_middle_line_is_refused_with_its_number() {
    let dir = tempfile::tempdir().expect("tempdir");
    let crm = || vec![endpoint("crm", "http://127.0.0.1:9/hooks")];
    let outbox = Outbox::open(dir.path(), crm()).expect("open");
    outbox.enqueue(vec![delivery("a", "crm", "u1"), delivery("b", "crm", "u1"), delivery("c", "crm", "u1")]).expect("enqueue");
    drop(outbox);
    let path = dir.path().join(JOURNAL);
    let whole = std::fs::read(&path).expect("read");
    let torn = br#"1234abcd {"t":"enqueued","fire_id":"d""#;
    std::fs::write(&path, [whole.as_slice(), torn].concat()).expect("write");

    assert_eq!(Outbox::summary(dir.path()).expect("a reader ignores the torn tail").endpoints[0].pending, 3);
    let outbox = Outbox::open(dir.path(), crm()).expect("open cuts the torn tail");
    assert_eq!(outbox.torn_bytes_cut(), torn.len() as u64);
    assert_eq!(outbox.stats().pending, 3);
    drop(outbox);
    assert_eq!(std::fs::read(&path).expect("read"), whole);

    let mut bytes = whole.clone();
    let second_line = bytes.iter().position(|&b| b == b'\n').expect("newline") + 1;
    bytes[second_line + 30] ^= 0x20;
    std::fs::write(&path, &bytes).expect("write");
    for err in [Outbox::open(dir.path(), crm()).expect_err("refused"), Outbox::summary(dir.path()).expect_err("refused")] {
        assert!(matches!(err, OutboxError::Corrupt { line: 2, .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("journal.log") && text.contains("line 2"), "{text}");
    }
}

/// Every file under `dir`, searched for `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    let mut hits = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        let bytes = std::fs::read(&path).expect("read");
        if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
            hits.push(path.display().to_string());
        }
    }
    hits
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erase_leaves_no_trace_of_the_shopper_in_any_file() {
    let ok_rx = Receiver::start(0, Duration::ZERO).await;
    let down_rx = Receiver::start(usize::MAX, Duration::ZERO).await;
    let slow_rx = Receiver::start(0, Duration::from_millis(300)).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut down = endpoint("down", &down_rx.url);
    down.max_attempts = 1;
    let outbox = Outbox::open(dir.path(), vec![endpoint("ok", &ok_rx.url), down, endpoint("slow", &slow_rx.url)]).expect("open");
    outbox.start(&handle());
    let victim = "victim-7731";
    outbox
        .enqueue(vec![delivery("v1", "ok", victim), delivery("v2", "down", victim), delivery("v3", "slow", victim), delivery("k1", "ok", "keeper")])
        .expect("enqueue");
    until("delivered, dead and in flight", || {
        let s = outbox.stats();
        s.delivered == 2 && s.dead == 1 && s.in_flight == 1
    })
    .await;
    assert!(!files_containing(dir.path(), victim).is_empty(), "the victim is on disk before erasure");

    assert_eq!(outbox.erase_running(&[victim.to_string()]).expect("erase"), 3);
    assert!(files_containing(dir.path(), victim).is_empty(), "found in {:?}", files_containing(dir.path(), victim));
    // The request in flight at erasure finishes; its result must not bring the shopper back.
    until("slow answer", || !slow_rx.seen().is_empty()).await;
    until("in flight settled", || outbox.stats().in_flight == 0).await;
    outbox.redrive_running(Some("none"), &[]).expect("a round trip through the journal thread");
    assert!(files_containing(dir.path(), victim).is_empty(), "found in {:?}", files_containing(dir.path(), victim));
    assert_eq!(outbox.stats().pending, 0);
    assert!(matches!(Outbox::erase(dir.path(), &["keeper".into()]), Err(OutboxError::Locked(_))));
    drop(outbox);

    assert!(!files_containing(dir.path(), "keeper").is_empty());
    assert_eq!(Outbox::erase(dir.path(), &["keeper".into()]).expect("offline erase"), 1);
    assert!(files_containing(dir.path(), "keeper").is_empty());
    let outbox = Outbox::open(dir.path(), vec![endpoint("ok", &ok_rx.url)]).expect("reopen");
    assert_eq!(outbox.enqueue(vec![delivery("k2", "ok", "keeper")]).expect("enqueue"), 1, "the outbox works after erasure");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_concurrency_requests_are_in_flight_per_endpoint() {
    let rx = Receiver::start(0, Duration::from_millis(100)).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut crm = endpoint("crm", &rx.url);
    crm.concurrency = 2;
    let outbox = Outbox::open(dir.path(), vec![crm]).expect("open");
    outbox.start(&handle());
    outbox.enqueue((0..8).map(|i| delivery(&format!("f{i}"), "crm", "u")).collect()).expect("enqueue");
    until("deliveries", || outbox.stats().delivered == 8).await;
    assert_eq!(rx.max_in_flight.load(SeqCst), 2);
}

#[test]
fn endpoint_configuration_errors_name_the_endpoint_and_the_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let https = endpoint("crm", "https://example.test/hooks");
    let err = Outbox::open(dir.path(), vec![https]).expect_err("https refused");
    assert!(err.to_string().contains("\"crm\"") && err.to_string().contains("http://"), "{err}");
    let mut zero = endpoint("push", "http://127.0.0.1:9/");
    zero.concurrency = 0;
    let err = Outbox::open(dir.path(), vec![zero]).expect_err("zero concurrency refused");
    assert!(err.to_string().contains("concurrency 0"), "{err}");
    let twice = vec![endpoint("crm", "http://127.0.0.1:9/"), endpoint("crm", "http://127.0.0.1:9/")];
    assert!(Outbox::open(dir.path(), twice).expect_err("duplicate").to_string().contains("configured twice"));
}

#[test]
fn the_outbox_can_be_shared_across_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Outbox>();
}

#[test]
fn a_second_outbox_on_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _first = Outbox::open(dir.path(), vec![]).expect("open");
    assert!(matches!(Outbox::open(dir.path(), vec![]), Err(OutboxError::Locked(_))));
}
