//! `glint demo`: the main job on simulated traffic. An embedded server in `./glint-demo`, the
//! simulator posting live events to it over HTTP, live counters, and a summary at the end.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use glint_analytics::stats::StatsBuilder;
use glint_sim::Simulator;

use crate::client::{Poster, wait_healthy};
use crate::output::{spinner, thousands};

const DEMO_KEY: &str = "demo-write-key";

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
    let (report, url) = runtime.block_on(async {
        let server = glint_server::Server::new(log, glint_server::ServerConfig::new(DEMO_KEY));
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
        let wall_ms = args.minutes.max(0.05) * 60_000.0;
        // The simulated days play out over `--minutes` of wall time, in time order.
        let pace = super::simulate::Pace { sim_start_ms: sim_cfg.start_ms, speedup: (f64::from(args.days) * 86_400_000.0) / (wall_ms * 0.95) };
        let sim = Simulator::new(sim_cfg);
        // A little slack past the paced end, so the last batches are delivered.
        let deadline = Instant::now() + Duration::from_secs_f64(wall_ms / 1000.0 + 5.0);
        let bar = spinner("posting");
        let t0 = Instant::now();
        let report = super::simulate::post_live(sim, poster.clone(), args.concurrency, 100, Some(deadline), Some(pace), |p| {
            let rate = p.accepted as f64 / t0.elapsed().as_secs_f64().max(1e-3);
            bar.set_message(format!("{} events accepted ({:.0}/s), {} rejected", thousands(p.accepted), rate, thousands(p.rejected)));
        })
        .await?;
        bar.finish_and_clear();
        let (_, metrics) = poster.get("/metrics").await?;
        let _ = stop_tx.send(());
        let _ = serving.await;
        Ok::<_, anyhow::Error>((report, (url, String::from_utf8_lossy(&metrics).into_owned())))
    })?;
    let (url, metrics) = url;
    // Moments over what was stored, in event time: the same engine and output as
    // `glint replay` (the live engine inside `glint serve` is the next step).
    let log = super::open_log_read(&args.dir)?;
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
    let mut engine = glint_engine::Engine::new(engine_cfg, cfg.taxonomy()?);
    let firings_path = args.dir.join(glint_log::FIRING_LOG);
    let mut firings_out = std::io::BufWriter::new(std::fs::File::create(&firings_path).with_context(|| format!("creating {}", firings_path.display()))?);
    let mut by_moment: std::collections::BTreeMap<String, std::collections::BTreeMap<&'static str, u64>> = Default::default();
    let mut n_firings = 0u64;
    let mut b = StatsBuilder::default();
    super::replay::drive(&log, &mut engine, &mut firings_out, |e, _| b.add(e), |f| {
        *by_moment.entry(f.moment.clone()).or_default().entry(f.outcome.as_str()).or_insert(0) += 1;
        n_firings += 1;
    })?;
    let s = b.finish();
    let mut lat = report.latencies_us.clone();
    lat.sort_unstable();
    let pct = |p: f64| lat.get(((lat.len() as f64 * p).ceil() as usize).saturating_sub(1)).copied().unwrap_or(0) as f64 / 1000.0;
    println!();
    println!("Top signals:");
    let mut signals: Vec<(&String, &u64)> = s.signals.iter().collect();
    signals.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let top = signals.first().map_or(1, |(_, n)| **n).max(1);
    for (name, n) in signals.iter().take(12) {
        println!("  {name:>26} {:>9}  {}", thousands(**n), "█".repeat(((**n as f64 / top as f64) * 30.0).ceil() as usize));
    }
    let fsyncs = metrics.lines().find(|l| l.starts_with("glint_fsync_seconds_count")).and_then(|l| l.split_whitespace().last()).unwrap_or("?");
    println!();
    println!("Ingestion over HTTP ({url}):");
    println!("  {} requests, acknowledgement p50 {:.1} ms, p99 {:.1} ms; {} group-commit fsyncs", thousands(report.requests), pct(0.5), pct(0.99), fsyncs);
    println!();
    println!(
        "Moments (firings by outcome; {}; demo shipping cutoff {}):",
        firings_path.display(),
        cutoff.map_or("-".to_string(), |c| c.strftime("%Y-%m-%d 12:00 UTC").to_string())
    );
    for (moment, outcomes) in &by_moment {
        let parts: Vec<String> = outcomes.iter().map(|(o, n)| format!("{o} {}", thousands(*n))).collect();
        println!("  {moment:>20}  {}", parts.join(", "));
    }
    println!();
    println!(
        "demo: {} events from {} shoppers in {} sessions stored durably in {:.1}s ({} rejected); {} moment firings; data in {}",
        thousands(s.events),
        thousands(s.users),
        thousands(s.sessions),
        started.elapsed().as_secs_f64(),
        thousands(report.rejected),
        thousands(n_firings),
        args.dir.display()
    );
    println!("next: glint stats --data {0} · glint replay --data {0} --out firings.jsonl · glint export --data {0} --out events.parquet", args.dir.display());
    if report.failed_requests > 0 {
        anyhow::bail!("{} requests failed; first: {}", report.failed_requests, report.first_failure.unwrap_or_default());
    }
    Ok(ExitCode::SUCCESS)
}
