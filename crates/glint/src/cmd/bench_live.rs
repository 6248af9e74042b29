//! `glint bench live`: live latency under load, for BENCHMARKS.md.
//!
//! A `glint serve` child with the twelve shipped moments plus one that fires at every
//! `product_added` (so firings are frequent enough for a distribution), its webhooks going to
//! a receiver in this process that verifies every Standard Webhooks signature. Simulated
//! traffic is posted open loop at a fixed rate; then the server's own histograms give event →
//! webhook durable in the outbox, the log's fsync and webhook delivery, the load generator
//! gives acknowledgement latency, and a keep-alive client times `GET /v1/decide/{user}`
//! during the load and after it. Medians over runs.

use std::collections::HashSet;
use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use glint_sim::Simulator;
use http_body_util::{BodyExt, Empty};
use serde_json::Value;

use super::bench::{exe, load, median, percentile};
use crate::client::{Poster, wait_healthy};
use crate::output::thousands;
use crate::prom::{Histogram, counter, histogram};

const KEY: &str = "bench-key";
/// The receiver's signing secret (Standard Webhooks: `whsec_` + base64 of the key).
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// The extra moment: a webhook at every cart add, exempt from holdout, cap and budget.
const BENCH_MOMENT: &str = r#"
# glint bench live: a webhook at every product_added, so firings are frequent enough for a
# latency distribution (no holdout, no cap, outside the contact budget).
[[moment]]
name = "bench_cart_add"
description = "Benchmark: a webhook at every cart add."
trigger = { signal = ["product_added"] }
holdout = 0.0
consent = "personalization"
budget = false
kpi = { signals = ["checkout_started", "order_completed"], within = "24h" }
action = { webhook = "shop" }
"#;
/// Pace of `/v1/decide` requests while the load runs: enough for percentiles, little CPU.
const DECIDE_UNDER_LOAD_EVERY: Duration = Duration::from_millis(1);
/// How long the server may take, after the last acknowledgement, to apply every event and
/// deliver every webhook.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Events offered per second (open loop: requests go out on schedule whether or not
    /// earlier ones were answered; latency counts from the scheduled time).
    #[arg(long, default_value_t = 20_000, value_name = "EVENTS_PER_S")]
    pub rate: u64,
    /// Events posted per run.
    #[arg(long, default_value_t = 400_000)]
    pub events: u64,
    /// Concurrent connections (the open loop uses at least 256, so a slow answer never
    /// delays the next send).
    #[arg(long, default_value_t = 16)]
    pub clients: usize,
    /// Messages per request.
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// `GET /v1/decide/{user}` requests after the load, one after another on one
    /// keep-alive connection.
    #[arg(long, default_value_t = 20_000)]
    pub decides: usize,
}

/// One run's figures. Latencies in milliseconds unless named `_us`.
#[derive(Debug)]
struct Figures {
    rate: f64,
    requests: u64,
    ack: [f64; 3],
    /// p50, p99 (interpolated) and the upper bound of p99's bucket.
    outbox: [f64; 3],
    outbox_n: f64,
    fsync: [f64; 3],
    fsync_n: f64,
    delivery: [f64; 3],
    delivery_n: f64,
    firings: f64,
    firings_sent: f64,
    webhooks: f64,
    late: f64,
    idle_us: [f64; 3],
    idle_rps: f64,
    idle_n: f64,
    known: f64,
    load_us: [f64; 3],
    load_rps: f64,
    load_n: f64,
    load_busy: f64,
}

pub fn run(work: &Path, args: Args, runs: usize) -> Result<()> {
    let command: Vec<String> = std::env::args().skip(1).collect();
    outln!("command: `glint {}`", command.join(" "));
    let batch = args.batch.max(1);
    let (bodies, users, known) = live_bodies(args.events, batch)?;
    let (bodies, known) = (Arc::new(bodies), Arc::new(known));
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let mut all = Vec::new();
    for run in 0..runs {
        let dir = work.join(format!("live-{run}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let r = one_run(&rt, &dir, &args, batch, bodies.clone(), known.clone());
        let _ = std::fs::remove_dir_all(&dir);
        let f = r.with_context(|| format!("live run {run}"))?;
        eprintln!(
            "  run {run}: {:.0} events/s, event→outbox p50 {:.2} ms p99 {:.2} ms ({} webhooks), fsync p99 {:.2} ms, ack p99 {:.1} ms, decide p99 {:.0} µs idle / {:.0} µs under load",
            f.rate,
            f.outbox[0],
            f.outbox[1],
            f.outbox_n,
            f.fsync[1],
            f.ack[1],
            f.idle_us[1],
            f.load_us[1]
        );
        all.push(f);
    }
    print_report(&args, batch, users, known.len(), runs, &all);
    Ok(())
}

/// Segment batches of simulated traffic over the 7 days before today (as `glint simulate`
/// stamps live traffic), so every event is within the lateness and delivery age configured;
/// the number of shoppers simulated; and the user ids the posted messages carry (the
/// shoppers `/v1/decide` is asked about).
fn live_bodies(events: u64, batch: usize) -> Result<(Vec<Bytes>, u64, Vec<String>)> {
    let users = (events / 40).max(100);
    let sim = Simulator::new(super::simulate::sim_config(users, 7, 7, None, true)?);
    let mut out = Vec::with_capacity((events as usize).div_ceil(batch));
    let mut buf = Vec::with_capacity(batch);
    let mut ids = HashSet::new();
    for m in sim.take(events as usize) {
        if let Some(id) = m.get("userId").and_then(Value::as_str) {
            ids.insert(id.to_string());
        }
        buf.push(m);
        if buf.len() == batch {
            out.push(Bytes::from(serde_json::to_vec(&serde_json::json!({"batch": buf}))?));
            buf.clear();
        }
    }
    if !buf.is_empty() {
        out.push(Bytes::from(serde_json::to_vec(&serde_json::json!({"batch": buf}))?));
    }
    let mut ids: Vec<String> = ids.into_iter().collect();
    ids.sort_unstable();
    if ids.is_empty() {
        bail!("the simulated messages carry no userId to ask /v1/decide about");
    }
    Ok((out, users, ids))
}

fn one_run(rt: &tokio::runtime::Runtime, dir: &Path, args: &Args, batch: usize, bodies: Arc<Vec<Bytes>>, users: Arc<Vec<String>>) -> Result<Figures> {
    let secret = glint_outbox::signature::Secret::parse(SECRET).context("the bench secret")?;
    let hooks = Arc::new(Hooks { secret, ids: Mutex::default(), bad: AtomicU64::new(0) });
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).context("binding the webhook receiver")?;
    let hooks_url = format!("http://{}/hooks", listener.local_addr()?);
    let app = axum::Router::new().route("/hooks", axum::routing::post(receive)).with_state(hooks.clone());
    let _receiver = AbortOnDrop(rt.spawn(async move { axum::serve(listener, app).await }));

    let config = dir.join("glint.toml");
    std::fs::write(
        &config,
        format!(
            "# glint bench live. The simulated events are stamped over the past days.\n\
             [engine]\nallowed_lateness = \"30d\"\ndeliver_max_age = \"30d\"\n\n\
             [webhooks.shop]\nurl = \"{hooks_url}\"\nsecret = \"{SECRET}\"\nconcurrency = 8\n"
        ),
    )?;
    let moments = dir.join("moments.toml");
    std::fs::write(&moments, format!("{}\n{BENCH_MOMENT}", glint_engine::DEFAULT_MOMENTS_TOML))?;
    let check = Command::new(exe()?).arg("moments").arg("--check").arg(&moments).arg("--config").arg(&config).output()?;
    if !check.status.success() {
        bail!("the bench's moments file does not check: {}", String::from_utf8_lossy(&check.stderr).trim());
    }

    let server = Served::start(&dir.join("data"), &config, &moments)?;
    let url = server.url.clone();
    let addr = url.trim_start_matches("http://").to_string();
    rt.block_on(async {
        let poster = Poster::new(&url, KEY);
        wait_healthy(&poster, Duration::from_secs(30)).await?;
        // /v1/decide during the load, paced, on its own connection.
        let stop = Arc::new(AtomicBool::new(false));
        let during = {
            let (addr, stop, users) = (addr.clone(), stop.clone(), users.clone());
            tokio::spawn(async move { decides(&addr, &users, usize::MAX, Some(DECIDE_UNDER_LOAD_EVERY), &stop).await })
        };
        let loaded = load(&url, KEY, bodies, args.clients, batch, Some(args.rate)).await;
        stop.store(true, Ordering::Relaxed);
        let during = during.await.context("the decide client during the load")??;
        let l = loaded?;
        if l.failures > 0 {
            bail!("{} ingestion requests failed", l.failures);
        }
        let metrics = settle(&poster, &hooks).await?;
        let idle = decides(&addr, &users, args.decides, None, &AtomicBool::new(false)).await?;

        let outbox = histogram(&metrics, "glint_event_to_outbox_seconds");
        let fsync = histogram(&metrics, "glint_fsync_seconds");
        let delivery = histogram(&metrics, "glint_webhook_delivery_seconds");
        let ms = |h: &Histogram| [h.quantile(0.5) * 1000.0, h.quantile(0.99) * 1000.0, h.bucket_bound(0.99) * 1000.0];
        let us = |sorted: &[u64], q: f64| percentile(sorted, q) as f64;
        let ack_ms = |q: f64| percentile(&l.latencies_us, q) as f64 / 1000.0;
        let bad = hooks.bad.load(Ordering::Relaxed);
        if bad > 0 {
            bail!("{bad} webhooks failed signature verification");
        }
        let webhooks = hooks.ids.lock().map_or(0, |ids| ids.len());
        Ok(Figures {
            rate: l.events as f64 / l.secs,
            requests: l.latencies_us.len() as u64,
            ack: [ack_ms(0.5), ack_ms(0.99), ack_ms(0.999)],
            outbox: ms(&outbox),
            outbox_n: outbox.count,
            fsync: ms(&fsync),
            fsync_n: fsync.count,
            delivery: ms(&delivery),
            delivery_n: delivery.count,
            firings: counter(&metrics, "glint_firings_total", None),
            firings_sent: counter(&metrics, "glint_firings_total", Some("outcome=\"sent\"")),
            webhooks: webhooks as f64,
            late: counter(&metrics, "glint_late_events_total", None),
            idle_us: [us(&idle.lat_us, 0.5), us(&idle.lat_us, 0.99), us(&idle.lat_us, 0.999)],
            idle_rps: idle.lat_us.len() as f64 / idle.secs,
            idle_n: idle.lat_us.len() as f64,
            known: idle.known as f64 / idle.lat_us.len().max(1) as f64,
            load_us: [us(&during.lat_us, 0.5), us(&during.lat_us, 0.99), us(&during.lat_us, 0.999)],
            load_rps: during.lat_us.len() as f64 / during.secs,
            load_n: during.lat_us.len() as f64,
            load_busy: during.busy as f64,
        })
    })
}

fn print_report(args: &Args, batch: usize, users: u64, asked: usize, runs: usize, all: &[Figures]) {
    let med = |f: fn(&Figures) -> f64| median(all.iter().map(f).collect());
    let ms = |v: f64| if v.is_nan() { "–".to_string() } else if v.is_infinite() { "+Inf".to_string() } else if v < 1.0 { format!("{:.0} µs", v * 1000.0) } else { format!("{v:.2} ms") };
    let us = |v: f64| if v < 1000.0 { format!("{v:.0} µs") } else { format!("{:.2} ms", v / 1000.0) };
    let n = |v: f64| thousands(v as u64);
    let rate = med(|f| f.rate);
    outln!(
        "\nlive: {} simulated events per run ({} shoppers, stamped over the 7 days before today), Segment batches of {batch}, \
         offered open loop at {} events/s over {} connections; the twelve shipped moments plus `bench_cart_add` \
         (a webhook at every product_added: no holdout, cap or budget); webhooks to a receiver in the bench process \
         that verifies every signature (concurrency 8); `/v1/decide` asks about the {} user ids in the posted messages, \
         in a scattered order; medians of {runs} run(s).\n",
        thousands(args.events),
        thousands(users),
        thousands(args.rate),
        args.clients.max(256),
        thousands(asked as u64),
    );
    outln!("| figure | measured by | p50 | p99 | p99.9 | count |");
    outln!("|---|---|---:|---:|---:|---:|");
    // p99 with the upper bound of its bucket: the interpolation is an estimate, the bound is proven.
    let p99 = |f: fn(&Figures) -> [f64; 3]| format!("{} (≤ {})", ms(median_of(all, |x| f(x)[1])), ms(median_of(all, |x| f(x)[2])));
    type Row = (&'static str, &'static str, fn(&Figures) -> [f64; 3], fn(&Figures) -> f64);
    let rows: [Row; 3] = [
        ("event received → its firing's webhook durable in the outbox (goal p99 < 25 ms)", "glint_event_to_outbox_seconds", |f| f.outbox, |f| f.outbox_n),
        ("log group-commit fsync", "glint_fsync_seconds", |f| f.fsync, |f| f.fsync_n),
        ("webhook delivery, outbox → 2xx", "glint_webhook_delivery_seconds", |f| f.delivery, |f| f.delivery_n),
    ];
    for (figure, metric, get, count) in rows {
        outln!("| {figure} | server, `{metric}` | {} | {} | – | {} |", ms(median_of(all, |x| get(x)[0])), p99(get), n(med(count)));
    }
    outln!(
        "| ingestion acknowledgement (fsync'd), from each request's scheduled time | load generator | {} | {} | {} | {} requests |",
        ms(med(|f| f.ack[0])),
        ms(med(|f| f.ack[1])),
        ms(med(|f| f.ack[2])),
        n(med(|f| f.requests as f64))
    );
    outln!(
        "| `GET /v1/decide/{{user}}` during the load (1 keep-alive connection, paced ≤ {}/s: {} req/s) | client round trip, loopback | {} | {} | {} | {} |",
        thousands((1.0 / DECIDE_UNDER_LOAD_EVERY.as_secs_f64()) as u64),
        n(med(|f| f.load_rps)),
        us(med(|f| f.load_us[0])),
        us(med(|f| f.load_us[1])),
        us(med(|f| f.load_us[2])),
        n(med(|f| f.load_n))
    );
    outln!(
        "| `GET /v1/decide/{{user}}` after the load, back to back (1 keep-alive connection, {} req/s) | client round trip, loopback | {} | {} | {} | {} |",
        n(med(|f| f.idle_rps)),
        us(med(|f| f.idle_us[0])),
        us(med(|f| f.idle_us[1])),
        us(med(|f| f.idle_us[2])),
        n(med(|f| f.idle_n))
    );
    outln!();
    outln!("| achieved events/s | firings (all outcomes) | firings sent (webhook or on-site) | webhooks received (verified, unique) | late events | decide: shoppers known |");
    outln!("|---:|---:|---:|---:|---:|---:|");
    outln!(
        "| {} | {} | {} | {} | {} | {:.0} % |",
        n(rate),
        n(med(|f| f.firings)),
        n(med(|f| f.firings_sent)),
        n(med(|f| f.webhooks)),
        n(med(|f| f.late)),
        med(|f| f.known) * 100.0
    );
    let busy = med(|f| f.load_busy);
    outln!(
        "\nServer percentiles are estimated from Prometheus buckets (bounds doubling from 0.1 ms for event → outbox and delivery, \
         from 50 µs for fsync) by linear interpolation within the bucket, as `histogram_quantile` does; in brackets the upper \
         bound of the p99's bucket, which is all the buckets prove. Event → outbox is timed in whole \
         milliseconds from the earliest-received event of the engine's batch, and counts webhook firings only. \
         Decide times are client round trips over loopback, HTTP included: the engine's part is a subset.{}",
        if busy > 0.0 { format!(" During the load {} decide requests (median) were answered 503 (engine queue full) and are not in the figures.", n(busy)) } else { String::new() }
    );
    outln!(
        "\nlive: event→outbox p99 {} (bucket ≤ {}) at {} events/s; decide p99 {} (idle), {} (under load)",
        ms(med(|f| f.outbox[1])),
        ms(med(|f| f.outbox[2])),
        n(rate),
        us(med(|f| f.idle_us[1])),
        us(med(|f| f.load_us[1]))
    );
}

fn median_of(all: &[Figures], f: impl Fn(&Figures) -> f64) -> f64 {
    median(all.iter().map(f).collect())
}

/// A `glint serve` child, killed when dropped (also on error paths).
struct Served {
    child: Child,
    url: String,
}

impl Served {
    fn start(data: &Path, config: &Path, moments: &Path) -> Result<Served> {
        let mut child = Command::new(exe()?)
            .args(["serve", "--data"])
            .arg(data)
            .arg("--config")
            .arg(config)
            .arg("--moments")
            .arg(moments)
            .args(["--listen", "127.0.0.1:0", "--write-key", KEY])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting glint serve")?;
        let stdout = child.stdout.take().context("server stdout")?;
        let mut served = Served { child, url: String::new() };
        // Read the URL line on a thread so a hung start is a timeout, not a hang; keep
        // draining afterwards so a later line never meets a closed pipe.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = std::io::BufReader::new(stdout).lines();
            let _ = tx.send(lines.next());
            for _ in lines {}
        });
        let line = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Some(Ok(line))) => line,
            Ok(_) => bail!("glint serve exited before printing its URL"),
            Err(_) => bail!("glint serve printed no URL within 30 s"),
        };
        served.url = line.split_whitespace().find(|w| w.starts_with("http://")).context("server did not print its URL")?.to_string();
        Ok(served)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What the webhook receiver saw.
struct Hooks {
    secret: glint_outbox::signature::Secret,
    /// Verified webhook ids (a redelivery counts once, as a receiver dedups on it).
    ids: Mutex<HashSet<String>>,
    /// Requests whose signature did not verify.
    bad: AtomicU64,
}

/// A shop's receiver: verify the Standard Webhooks signature, note the id, answer 204.
async fn receive(axum::extract::State(hooks): axum::extract::State<Arc<Hooks>>, headers: axum::http::HeaderMap, body: Bytes) -> axum::http::StatusCode {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
    let signed = glint_outbox::signature::Headers { id: header("webhook-id"), timestamp: header("webhook-timestamp"), signature: header("webhook-signature") };
    if glint_outbox::signature::verify(&hooks.secret, &signed, &body, super::now_ms() / 1000, 300).is_err() {
        hooks.bad.fetch_add(1, Ordering::Relaxed);
        return axum::http::StatusCode::UNAUTHORIZED;
    }
    match hooks.ids.lock() {
        Ok(mut ids) => {
            ids.insert(signed.id.to_string());
            axum::http::StatusCode::NO_CONTENT
        }
        Err(_) => axum::http::StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// After the load: wait until the engine has applied everything and the outbox is empty —
/// no pending delivery and nothing changing for a second — and return the final metrics.
async fn settle(poster: &Poster, hooks: &Hooks) -> Result<String> {
    let started = Instant::now();
    let (mut last, mut quiet) = (None, 0);
    loop {
        let (status, body) = poster.get("/metrics").await?;
        if status != 200 {
            bail!("GET /metrics answered {status}");
        }
        let metrics = String::from_utf8_lossy(&body).into_owned();
        let pending = counter(&metrics, "glint_outbox_pending", None);
        let received = hooks.ids.lock().map_or(0, |ids| ids.len());
        let now = (counter(&metrics, "glint_firings_total", None) as u64, histogram(&metrics, "glint_event_to_outbox_seconds").count as u64, received);
        quiet = if pending == 0.0 && last == Some(now) { quiet + 1 } else { 0 };
        if quiet >= 5 {
            return Ok(metrics);
        }
        if started.elapsed() > SETTLE_TIMEOUT {
            bail!("the server had not settled {SETTLE_TIMEOUT:?} after the load: {pending} webhook deliveries pending, {} firings, {received} webhooks received", now.0);
        }
        last = Some(now);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Client-side `/v1/decide` timings: sorted round trips of the 200s, in µs.
struct Decides {
    lat_us: Vec<u64>,
    secs: f64,
    known: u64,
    /// 503: the engine's queue was full.
    busy: u64,
}

/// Up to `max` `GET /v1/decide/{user}` on one keep-alive connection, one at a time, over
/// `users` in a scattered order; every `pace` if given; until `stop`.
async fn decides(addr: &str, users: &[String], max: usize, pace: Option<Duration>, stop: &AtomicBool) -> Result<Decides> {
    use base64::Engine;
    let stream = tokio::net::TcpStream::connect(addr).await.with_context(|| format!("connecting to {addr}"))?;
    stream.set_nodelay(true)?;
    let (mut send, conn) = hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(hyper_util::rt::TokioIo::new(stream)).await.context("HTTP handshake")?;
    let _conn = AbortOnDrop(tokio::spawn(conn));
    let auth = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{KEY}:")));
    let mut ticker = pace.map(|p| {
        let mut t = tokio::time::interval(p);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        t
    });
    let mut out = Decides { lat_us: Vec::new(), secs: 0.0, known: 0, busy: 0 };
    let started = Instant::now();
    for i in 0..max {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        if let Some(t) = &mut ticker {
            t.tick().await;
        }
        // A multiplicative hash (by a prime) visits the shoppers in a scattered order.
        let user = users.get(((i as u64).wrapping_mul(2_654_435_761) % users.len().max(1) as u64) as usize).context("no shoppers to ask about")?;
        let req = hyper::Request::get(format!("/v1/decide/{user}"))
            .header(hyper::header::HOST, addr)
            .header(hyper::header::AUTHORIZATION, &auth)
            .body(Empty::<Bytes>::new())
            .context("building request")?;
        send.ready().await.context("decide connection")?;
        let t0 = Instant::now();
        let resp = send.send_request(req).await.with_context(|| format!("GET /v1/decide/{user}"))?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.context("reading a decision")?.to_bytes();
        let took = t0.elapsed().as_micros() as u64;
        match status {
            200 => {
                out.lat_us.push(took);
                let v: Value = serde_json::from_slice(&body).with_context(|| format!("decision for {user} is not JSON"))?;
                if v.get("known").and_then(Value::as_bool) == Some(true) {
                    out.known += 1;
                }
            }
            503 => out.busy += 1,
            s => bail!("GET /v1/decide/{user} answered {s}: {}", String::from_utf8_lossy(&body)),
        }
    }
    out.secs = started.elapsed().as_secs_f64();
    out.lat_us.sort_unstable();
    Ok(out)
}
