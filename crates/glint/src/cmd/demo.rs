//! `glint demo`: the main job on simulated traffic. An embedded server in `./glint-demo` with
//! its live engine, the simulator posting live events to it over HTTP, moments firing as the
//! events arrive, their webhooks delivered to a built-in receiver that checks every
//! signature, live counters, a summary at the end, and the HTML report
//! (`glint-demo/report.html`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use glint_analytics::stats::StatsBuilder;
use glint_sim::Simulator;

use crate::client::{Poster, wait_healthy};
use crate::output::{spinner, thousands};

const DEMO_KEY: &str = "demo-write-key";
/// The demo receiver's signing secret (Standard Webhooks: `whsec_` + base64 of the key).
const DEMO_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// What the built-in webhook receiver saw.
#[derive(Debug, Default)]
struct Received {
    /// Verified nudges per moment (first delivery of each webhook-id).
    by_moment: std::collections::BTreeMap<String, u64>,
    ids: std::collections::HashSet<String>,
    /// Deliveries of a webhook-id seen before (receivers dedup on it).
    duplicates: u64,
    /// Requests whose signature did not verify.
    bad_signatures: u64,
}

type Receiver = std::sync::Arc<std::sync::Mutex<Received>>;

/// A webhook receiver as a shop's CRM would run one: verify the signature, dedup on
/// `webhook-id`, count.
async fn receive(axum::extract::State(seen): axum::extract::State<Receiver>, headers: axum::http::HeaderMap, body: axum::body::Bytes) -> axum::http::StatusCode {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let (id, timestamp, signature) = (header("webhook-id"), header("webhook-timestamp"), header("webhook-signature"));
    let Ok(secret) = glint_outbox::signature::Secret::parse(DEMO_SECRET) else { return axum::http::StatusCode::INTERNAL_SERVER_ERROR };
    let now = super::now_ms() / 1000;
    let verified = glint_outbox::signature::verify(&secret, &glint_outbox::signature::Headers { id: &id, timestamp: &timestamp, signature: &signature }, &body, now, 300);
    let Ok(mut seen) = seen.lock() else { return axum::http::StatusCode::INTERNAL_SERVER_ERROR };
    if verified.is_err() {
        seen.bad_signatures += 1;
        return axum::http::StatusCode::UNAUTHORIZED;
    }
    if !seen.ids.insert(id) {
        seen.duplicates += 1;
        return axum::http::StatusCode::NO_CONTENT;
    }
    let moment = serde_json::from_slice::<serde_json::Value>(&body).ok().and_then(|v| v.get("moment").and_then(|m| m.as_str()).map(str::to_string)).unwrap_or_default();
    *seen.by_moment.entry(moment).or_insert(0) += 1;
    axum::http::StatusCode::NO_CONTENT
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory for the demo's data (wiped at start).
    #[arg(long, default_value = "glint-demo", value_name = "DIR")]
    pub dir: PathBuf,
    /// Stop posting after this many minutes even if the simulation is not done.
    #[arg(long, default_value_t = 1.0)]
    pub minutes: f64,
    /// Shoppers to simulate.
    #[arg(long, default_value_t = 3000)]
    pub users: u64,
    /// Days of simulated traffic.
    #[arg(long, default_value_t = 7)]
    pub days: u32,
    /// Seed for the simulator.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Concurrent HTTP clients.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    #[command(flatten)]
    pub moments: crate::MomentsArg,
}

pub fn run(args: Args) -> Result<ExitCode> {
    if args.dir.join("log").exists() {
        std::fs::remove_dir_all(&args.dir).with_context(|| format!("clearing the previous demo in {}", args.dir.display()))?;
    }
    std::fs::create_dir_all(&args.dir).with_context(|| format!("creating {}", args.dir.display()))?;
    let log = super::open_log(&args.dir, glint_log::LogOptions { seal_cpu_share: 0.5, ..Default::default() })?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let started = Instant::now();
    let cfg = crate::config::Config::default();
    let mut engine_cfg = cfg.engine_config(args.moments.moments.as_deref())?;
    // The demo shop's shipping cutoff falls on the last simulated day, so holiday_cutoff can
    // fire inside the simulated week (a real shop configures its own dates).
    let sim_end_ms = super::simulate::sim_config(args.users, args.days, args.seed, None, true)?.start_ms + i64::from(args.days) * 86_400_000;
    let cutoff = jiff::Timestamp::from_millisecond(sim_end_ms - 86_400_000).map(|t| t.to_zoned(jiff::tz::TimeZone::UTC)).ok();
    if let Some(c) = &cutoff {
        for m in engine_cfg.moments.iter_mut() {
            if let glint_engine::Trigger::Calendar { month, day, .. } = &mut m.trigger {
                (*month, *day) = (c.month(), c.day());
            }
        }
    }
    // An intent model, trained on the weeks before (other shoppers, another seed), so the live
    // engine scores with it and the report can judge it on the demo's own traffic.
    let model_path = args.dir.join("intent-model.json");
    let model_id = train_demo_model(&args, &model_path)?;
    let wall_ms = args.minutes.max(0.05) * 60_000.0;
    let speedup = (f64::from(args.days) * 86_400_000.0) / (wall_ms * 0.95);
    let received: Receiver = Default::default();
    let (report, url) = runtime.block_on(async {
        // The shop's webhook receiver, on its own port.
        let hooks = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("binding the webhook receiver")?;
        let hooks_url = format!("http://{}/hooks", hooks.local_addr()?);
        let receiver = axum::Router::new().route("/hooks", axum::routing::post(receive)).with_state(received.clone());
        tokio::spawn(async move { axum::serve(hooks, receiver).await });
        let secret = glint_outbox::signature::Secret::parse(DEMO_SECRET).context("the demo secret")?;
        let mut shop = glint_outbox::Endpoint::new("shop", hooks_url, secret);
        shop.backoff_base = Duration::from_millis(50);
        shop.backoff_max = Duration::from_secs(2);
        let mut live = glint_server::LiveConfig::new(engine_cfg.clone());
        // Simulated days pass in seconds: event time follows the events, not the wall clock,
        // and concurrent posters may be a few simulated hours apart.
        live.wall_clock = false;
        live.lateness_ms = (speedup * 3_000.0).max(2.0 * 3_600_000.0) as i64;
        live.endpoints = vec![shop];
        live.deliver_max_age_ms = None;
        live.intent_model = Some(model_path.clone());
        live.engine.intent_features = true;
        let server = glint_server::Server::with_live(log, glint_server::ServerConfig::new(DEMO_KEY), live).context("starting the live engine")?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("binding a local port")?;
        let addr = listener.local_addr()?;
        let url = format!("http://{addr}");
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let serving = {
            let server = server.clone();
            tokio::spawn(async move { glint_server::serve(listener, &server, async { let _ = stop_rx.await; }).await })
        };
        let poster = Poster::new(&url, DEMO_KEY);
        wait_healthy(&poster, Duration::from_secs(10)).await?;
        eprintln!("glint demo: server on {url}, data in {}; {} shoppers × {} days of simulated traffic", args.dir.display(), args.users, args.days);
        let sim_cfg = super::simulate::sim_config(args.users, args.days, args.seed, None, true)?;
        // The simulated days play out over `--minutes` of wall time, in time order.
        let pace = super::simulate::Pace { sim_start_ms: sim_cfg.start_ms, speedup };
        let sim = Simulator::new(sim_cfg);
        // A little slack past the paced end, so the last batches are delivered.
        let deadline = Instant::now() + Duration::from_secs_f64(wall_ms / 1000.0 + 5.0);
        let bar = spinner("posting");
        let t0 = Instant::now();
        let report = super::simulate::post_live(sim, poster.clone(), args.concurrency, 100, Some(deadline), Some(pace), |p| {
            let rate = p.accepted as f64 / t0.elapsed().as_secs_f64().max(1e-3);
            let nudges: u64 = received.lock().map_or(0, |r| r.by_moment.values().sum());
            bar.set_message(format!("{} events accepted ({:.0}/s), {} rejected · {} nudges delivered by webhook", thousands(p.accepted), rate, thousands(p.rejected), thousands(nudges)));
        })
        .await?;
        // Let the engine catch up: a decision is answered in turn after every batch before it,
        // whose firings are then recorded — a barrier. (503: its queue is full; ask again.)
        bar.set_message("the engine is catching up".to_string());
        let barrier_deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match poster.get("/v1/decide/glint-demo-barrier").await {
                Ok((200, _)) => break,
                _ if Instant::now() > barrier_deadline => anyhow::bail!("the live engine did not catch up within a minute"),
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        // Then let the outbox drain (bounded: a dead receiver must not hang the demo).
        bar.set_message("delivering the last webhooks".to_string());
        let drain_deadline = Instant::now() + Duration::from_secs(30);
        let metrics = loop {
            let (_, m) = poster.get("/metrics").await?;
            let text = String::from_utf8_lossy(&m).into_owned();
            let pending = crate::prom::counter(&text, "glint_outbox_pending", None);
            if (pending == 0.0 && text.contains("glint_outbox_pending{")) || Instant::now() > drain_deadline {
                break m;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        bar.finish_and_clear();
        let _ = stop_tx.send(());
        let _ = serving.await;
        Ok::<_, anyhow::Error>((report, (url, String::from_utf8_lossy(&metrics).into_owned())))
    })?;
    drop(runtime);
    let (url, metrics) = url;
    // What fired, from the firing log the live engine wrote.
    let firings_path = args.dir.join(glint_log::FIRING_LOG);
    let mut by_moment: std::collections::BTreeMap<String, std::collections::BTreeMap<String, u64>> = Default::default();
    let mut n_firings = 0u64;
    for line in std::fs::read_to_string(&firings_path).with_context(|| format!("reading {}", firings_path.display()))?.lines() {
        let f: serde_json::Value = serde_json::from_str(line).with_context(|| format!("{}: a firing is not JSON", firings_path.display()))?;
        let (moment, outcome) = (f["moment"].as_str().unwrap_or("?").to_string(), f["outcome"].as_str().unwrap_or("?").to_string());
        *by_moment.entry(moment).or_default().entry(outcome).or_insert(0) += 1;
        n_firings += 1;
    }
    let log = super::open_log_read(&args.dir)?;
    let mut b = StatsBuilder::default();
    for e in log.scan(..)? {
        b.add(&e?);
    }
    let s = b.finish();
    let mut lat = report.latencies_us.clone();
    lat.sort_unstable();
    let pct = |p: f64| lat.get(((lat.len() as f64 * p).ceil() as usize).saturating_sub(1)).copied().unwrap_or(0) as f64 / 1000.0;
    outln!();
    outln!("Top signals:");
    let mut signals: Vec<(&String, &u64)> = s.signals.iter().collect();
    signals.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let top = signals.first().map_or(1, |(_, n)| **n).max(1);
    for (name, n) in signals.iter().take(12) {
        outln!("  {name:>26} {:>9}  {}", thousands(**n), "█".repeat(((**n as f64 / top as f64) * 30.0).ceil() as usize));
    }
    let fsyncs = metrics.lines().find(|l| l.starts_with("glint_fsync_seconds_count")).and_then(|l| l.split_whitespace().last()).unwrap_or("?");
    outln!();
    outln!("Ingestion over HTTP ({url}):");
    outln!("  {} requests, acknowledgement p50 {:.1} ms, p99 {:.1} ms; {} group-commit fsyncs", thousands(report.requests), pct(0.5), pct(0.99), fsyncs);
    outln!();
    outln!(
        "Moments (firings by outcome; {}; demo shipping cutoff {}):",
        firings_path.display(),
        cutoff.map_or("-".to_string(), |c| c.strftime("%Y-%m-%d 12:00 UTC").to_string())
    );
    let received = received.lock().map_err(|_| anyhow::anyhow!("the receiver panicked"))?;
    for (moment, outcomes) in &by_moment {
        let parts: Vec<String> = outcomes.iter().map(|(o, n)| format!("{o} {}", thousands(*n))).collect();
        let hooks = received.by_moment.get(moment).map_or(String::new(), |n| format!("  → {} webhooks", thousands(*n)));
        outln!("  {moment:>20}  {}{hooks}", parts.join(", "));
    }
    let delivered: u64 = received.by_moment.values().sum();
    // What the buckets prove: the upper bound of the bucket holding each quantile.
    let e2o_hist = crate::prom::histogram(&metrics, "glint_event_to_outbox_seconds");
    let bound = |q: f64| -> String {
        match e2o_hist.bucket_bound(q) {
            b if b.is_nan() => "-".into(),
            b if b.is_finite() => format!("≤{:.1} ms", b * 1000.0),
            _ => "> max".into(),
        }
    };
    let e2o = (bound(0.5), bound(0.99));
    outln!();
    outln!("Webhooks (built-in receiver, Standard Webhooks signatures checked):");
    outln!(
        "  {} nudges delivered and verified, {} bad signatures, {} re-deliveries deduplicated by webhook-id; event → outbox p50 {} p99 {}",
        thousands(delivered),
        received.bad_signatures,
        received.duplicates,
        e2o.0,
        e2o.1
    );
    let drift_sessions = crate::prom::counter(&metrics, "glint_intent_drift_sessions", None);
    let score_psi = crate::prom::counter(&metrics, "glint_intent_score_psi", None);
    let drifted = metrics.lines().filter(|l| l.starts_with("glint_intent_psi{")).filter(|l| l.split_whitespace().last().and_then(|v| v.parse::<f64>().ok()).is_some_and(|p| p >= 0.2)).count();
    outln!();
    outln!("Intent (model {model_id}, trained on the previous weeks of other shoppers; {}):", model_path.display());
    outln!(
        "  receipts of sent and held-out nudges carry its score, stage and top features; drift over {} sampled sessions: score PSI {score_psi:.3}, {drifted} features at PSI ≥ 0.2",
        thousands(drift_sessions as u64)
    );
    // The report: funnel, traffic, signals, firing outcomes and each moment's lift.
    let page = args.dir.join("report.html");
    super::report::write(&super::report::Args {
        data: args.dir.clone(),
        firings: Some(firings_path.clone()),
        model: Some(model_path.clone()),
        out: page.clone(),
        config: crate::ConfigArg { config: None },
        moments: crate::MomentsArg { moments: args.moments.moments.clone() },
    })
    .context("writing the report")?;
    outln!();
    outln!("Report: {} (open it in a browser: funnel, traffic, signals, outcomes, lift per moment, the intent model's calibration)", page.display());
    outln!();
    outln!(
        "demo: {} events from {} shoppers in {} sessions stored durably in {:.1}s ({} rejected); {} moment firings, {} webhooks delivered; data in {}",
        thousands(s.events),
        thousands(s.users),
        thousands(s.sessions),
        started.elapsed().as_secs_f64(),
        thousands(report.rejected),
        thousands(n_firings),
        thousands(delivered),
        args.dir.display()
    );
    outln!("next: glint lift --data {0} --firings {0}/firings.jsonl · glint funnel --data {0} --steps product_viewed,product_added,order_completed --window 1h · glint outbox --data {0} · glint export --data {0} --out events.parquet", args.dir.display());
    if received.bad_signatures > 0 {
        anyhow::bail!("{} webhooks failed signature verification", received.bad_signatures);
    }
    if report.failed_requests > 0 {
        anyhow::bail!("{} requests failed; first: {}", report.failed_requests, report.first_failure.unwrap_or_default());
    }
    Ok(ExitCode::SUCCESS)
}

/// Simulate the weeks before the demo (half as many shoppers, another seed) and train the
/// intent model on them; returns the model's id as the live engine will name it.
fn train_demo_model(args: &Args, out: &std::path::Path) -> Result<String> {
    let bar = spinner("training an intent model on the previous weeks' simulated history");
    let history = args.dir.join("history");
    let _ = std::fs::remove_dir_all(&history);
    let cfg = crate::config::Config::default();
    let mut sim_cfg = super::simulate::sim_config((args.users / 2).max(300), args.days, args.seed.wrapping_add(1), None, true)?;
    sim_cfg.start_ms -= i64::from(args.days) * 86_400_000;
    let decoder = glint_event::wire::Decoder::new(cfg.taxonomy()?, cfg.decode_options()?);
    let mut log = super::open_log(&history, cfg.log_options())?;
    super::simulate::into_log(Simulator::new(sim_cfg), &decoder, &mut log, |_| {})?;
    drop(log);
    let label = glint_intent::Label::PurchaseInSession;
    let trained = super::intent::train_on_data(&history, &crate::ConfigArg { config: None }, label, glint_intent::model::Algorithm::Gbdt, super::intent::TrainOn::States)?;
    trained.file.save(out).with_context(|| format!("writing {}", out.display()))?;
    std::fs::remove_dir_all(&history).with_context(|| format!("removing {}", history.display()))?;
    let model = glint_server::load_intent_model(out).map_err(anyhow::Error::msg)?;
    bar.finish_and_clear();
    eprintln!("glint demo: intent model {} trained on {} sessions ({} with a purchase) as {} states", model.id(), thousands(trained.sessions as u64), thousands(trained.session_positives as u64), thousands(trained.rows as u64));
    Ok(model.id().to_string())
}
