//! `glint bench`: measurements against peers on the same data in one run, printed as
//! Markdown rows for BENCHMARKS.md. Medians over runs; the machine is shared and noisy.
//!
//! - `import`: `glint import` of simulated history as REES46 CSV and as Segment JSONL.
//! - `ingest`: HTTP ingestion, batches of 100 from concurrent clients, fsync'd, beside two
//!   ceilings on the same requests: nginx answering `return 200` (no parsing, no disk — a
//!   knowingly uneven match-up that bounds what HTTP alone costs here) and plain JSON parsing
//!   of the same bodies (no HTTP, no disk).
//! - `storage`: bytes per event in sealed segments of simulated traffic.
//! - `replay`: the engine with all twelve moments on one thread.
//! - `intent`: the intent model's training, scoring and live-scoring costs (`bench_intent`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use glint_sim::{SimConfig, Simulator};
use serde_json::Value;

use crate::client::{Poster, wait_healthy};
use crate::output::thousands;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub what: What,
    /// Working directory for generated data (default: a fresh temporary directory).
    #[arg(long, global = true, value_name = "DIR")]
    pub work: Option<PathBuf>,
    /// Runs per measurement (the median is reported).
    #[arg(long, global = true, default_value_t = 5)]
    pub runs: usize,
}

#[derive(Debug, clap::Subcommand)]
pub enum What {
    /// Import speed for CSV (REES46 layout) and Segment JSONL.
    Import {
        /// Events in each generated file.
        #[arg(long, default_value_t = 10_000_000)]
        events: u64,
    },
    /// HTTP ingestion throughput and acknowledgement latency, beside nginx and plain JSON parsing.
    Ingest {
        /// Concurrent clients.
        #[arg(long, default_value_t = 32)]
        clients: usize,
        /// Messages per request.
        #[arg(long, default_value_t = 100)]
        batch: usize,
        /// Events posted per run.
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        /// Offer this many events per second (open loop: requests go out on schedule whether
        /// or not earlier ones were answered, and latency counts from the scheduled time, so a
        /// stall cannot hide). Default: as fast as the clients can (closed loop).
        #[arg(long, value_name = "EVENTS_PER_S")]
        rate: Option<u64>,
    },
    /// Engine throughput (all twelve moments) on one core, and resident memory per shopper.
    Replay {
        /// Shoppers to simulate (7 days; about 48 events each: 210,000 gives ~10M events).
        #[arg(long, default_value_t = 50_000)]
        users: u64,
    },
    /// Live latency under load: event → webhook in the outbox, fsync, delivery, /v1/decide.
    Live(super::bench_live::Args),
    /// The intent model: training on ~1M simulated sessions, one score of 200 trees of depth
    /// 6, and the cost of live scoring on the engine's replay.
    Intent(super::bench_intent::Args),
    /// Bytes per event in sealed segments of simulated traffic.
    Storage {
        /// Shoppers to simulate (7 days).
        #[arg(long, default_value_t = 50_000)]
        users: u64,
    },
}

pub fn run(args: Args) -> Result<ExitCode> {
    let tmp;
    let work = match &args.work {
        Some(w) => {
            std::fs::create_dir_all(w)?;
            w.clone()
        }
        None => {
            tmp = tempdir_in_target()?;
            tmp.clone()
        }
    };
    let runs = args.runs.max(1);
    outln!("machine: {}; {}", machine(), jiff_now());
    match args.what {
        What::Import { events } => bench_import(&work, events, runs)?,
        What::Ingest { clients, batch, events, rate } => bench_ingest(&work, clients, batch, events, runs, rate)?,
        What::Storage { users } => bench_storage(&work, users)?,
        What::Replay { users } => bench_replay(&work, users, runs)?,
        What::Live(live) => super::bench_live::run(&work, live, runs)?,
        What::Intent(intent) => super::bench_intent::run(&work, &intent, runs)?,
    }
    if args.work.is_none() {
        let _ = std::fs::remove_dir_all(&work);
    }
    Ok(ExitCode::SUCCESS)
}

fn tempdir_in_target() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("glint-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn jiff_now() -> String {
    glint_event::time::format_rfc3339_s(super::now_ms())
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| c.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string()))
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores, {cpu}")
}

pub(super) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return 0.0;
    }
    v[v.len() / 2]
}

pub(super) fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

pub(super) fn exe() -> Result<PathBuf> {
    std::env::current_exe().context("locating the glint binary")
}

/// Write `events` simulated events as a REES46-layout CSV and as Segment JSONL.
fn generate_history(work: &Path, events: u64) -> Result<(PathBuf, PathBuf, u64, u64)> {
    let csv = work.join("history.rees46.csv");
    let jsonl = work.join("history.segment.jsonl");
    if csv.exists() && jsonl.exists() {
        let count = |p: &Path| -> Result<u64> {
            let f = std::fs::File::open(p)?;
            let mut n = 0u64;
            let mut r = std::io::BufReader::with_capacity(1 << 20, f);
            let mut buf = Vec::new();
            while std::io::BufRead::read_until(&mut r, b'\n', &mut buf)? > 0 {
                n += 1;
                buf.clear();
            }
            Ok(n)
        };
        let (c, j) = (count(&csv)?.saturating_sub(1), count(&jsonl)?);
        if c >= events && j >= events {
            eprintln!("reusing {} and {}", csv.display(), jsonl.display());
            return Ok((csv, jsonl, c, j));
        }
    }
    eprintln!("generating {} simulated events as CSV and JSONL in {} …", thousands(events), work.display());
    // ~6.8 messages per shopper-day; 7 days.
    let users = (events / 40).max(100);
    let mut csv_w = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&csv)?);
    writeln!(csv_w, "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session")?;
    let mut n_csv = 0u64;
    // Product events are about half of all messages: simulate enough shoppers for the CSV.
    'outer: for m in Simulator::new(SimConfig::new(users * 5 / 2, 7, 1)) {
        let event = m.get("event").and_then(Value::as_str).unwrap_or("");
        let kind = match event {
            "Product Viewed" => "view",
            "Product Added" => "cart",
            "Product Removed" => "remove_from_cart",
            "Order Completed" => "purchase",
            _ => continue,
        };
        let ts = m["timestamp"].as_str().unwrap_or("").replace('T', " ");
        let ts = ts.get(..19).unwrap_or(&ts).to_string();
        let user = m.get("userId").or(m.get("anonymousId")).and_then(Value::as_str).unwrap_or("").to_string();
        // REES46 logs a purchase as one row per product, like its views and carts.
        let items: Vec<&Value> = match m["properties"].get("products").and_then(Value::as_array) {
            Some(products) if kind == "purchase" => products.iter().collect(),
            _ => vec![&m["properties"]],
        };
        for p in items {
            if n_csv >= events {
                break 'outer;
            }
            let s = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or("").replace(',', " ");
            let price = p.get("price").and_then(Value::as_f64).unwrap_or(0.0);
            writeln!(csv_w, "{ts} UTC,{kind},{},0,{},{},{price},{user},", s("product_id"), s("category"), s("brand"))?;
            n_csv += 1;
        }
    }
    csv_w.flush()?;
    let mut json_w = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&jsonl)?);
    let mut n_json = 0u64;
    for m in Simulator::new(SimConfig::new(users, 7, 2)) {
        if n_json >= events {
            break;
        }
        serde_json::to_writer(&mut json_w, &m)?;
        json_w.write_all(b"\n")?;
        n_json += 1;
    }
    json_w.flush()?;
    if n_csv < events {
        eprintln!("note: the simulation gave {} product events for the CSV (asked {})", thousands(n_csv), thousands(events));
    }
    Ok((csv, jsonl, n_csv, n_json))
}

fn bench_import(work: &Path, events: u64, runs: usize) -> Result<()> {
    let (csv, jsonl, n_csv, n_json) = generate_history(work, events)?;
    outln!("| format | events | runs | median s | median events/s | min s | max s |");
    outln!("|---|---:|---:|---:|---:|---:|---:|");
    for (format, file, n) in [("rees46", &csv, n_csv), ("segment-jsonl", &jsonl, n_json)] {
        let mut secs = Vec::new();
        for run in 0..runs {
            let data = work.join(format!("import-{format}-{run}"));
            let _ = std::fs::remove_dir_all(&data);
            let started = Instant::now();
            let out = Command::new(exe()?)
                .args(["import", "--data"])
                .arg(&data)
                .args(["--format", format, "--json"])
                .arg(file)
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .output()?;
            let s = started.elapsed().as_secs_f64();
            if !out.status.success() {
                bail!("glint import failed for {format}");
            }
            let v: Value = serde_json::from_slice(&out.stdout)?;
            if v["stored"].as_u64() != Some(n) {
                bail!("{format}: stored {} of {n}", v["stored"]);
            }
            eprintln!("  {format} run {run}: {s:.2}s ({:.0} events/s)", n as f64 / s);
            secs.push(s);
            let _ = std::fs::remove_dir_all(&data);
        }
        let (min, max) = (secs.iter().copied().fold(f64::MAX, f64::min), secs.iter().copied().fold(0.0, f64::max));
        let med = median(secs);
        outln!("| {format} | {} | {runs} | {med:.2} | {} | {min:.2} | {max:.2} |", thousands(n), thousands((n as f64 / med) as u64));
    }
    Ok(())
}

/// Request bodies: Segment batches of simulated traffic, message ids unique per run.
fn bodies(events: u64, batch: usize, run: usize) -> Vec<Bytes> {
    let users = (events / 40).max(100);
    let mut out = Vec::with_capacity((events as usize).div_ceil(batch));
    let mut buf = Vec::with_capacity(batch);
    for (i, mut m) in Simulator::new(SimConfig::new(users, 7, 7)).take(events as usize).enumerate() {
        m["messageId"] = Value::String(format!("bench-{run}-{i}"));
        buf.push(m);
        if buf.len() == batch {
            out.push(Bytes::from(serde_json::to_vec(&serde_json::json!({"batch": buf})).unwrap_or_default()));
            buf = Vec::with_capacity(batch);
        }
    }
    if !buf.is_empty() {
        out.push(Bytes::from(serde_json::to_vec(&serde_json::json!({"batch": buf})).unwrap_or_default()));
    }
    out
}

pub(super) struct Load {
    pub(super) secs: f64,
    pub(super) events: u64,
    pub(super) latencies_us: Vec<u64>,
    /// Open loop only: latencies of requests due after the first second.
    pub(super) steady_us: Vec<u64>,
    pub(super) failures: u64,
}

/// Post every body once with `clients` concurrent connections; measure. With `rate`, request
/// `i` is due at `i / (rate / batch)` seconds and its latency counts from then.
pub(super) async fn load(url: &str, key: &str, bodies: Arc<Vec<Bytes>>, clients: usize, batch: usize, rate: Option<u64>) -> Result<Load> {
    let poster = Poster::new(url, key);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let start_at = tokio::time::Instant::now();
    let interval_s = rate.map(|r| batch as f64 / r.max(1) as f64);
    let mut tasks = Vec::new();
    // Open loop needs enough connections that a slow answer never delays the next send.
    let clients = if rate.is_some() { clients.max(256) } else { clients };
    for _ in 0..clients {
        let (poster, next, bodies) = (poster.clone(), next.clone(), bodies.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut steady = Vec::new();
            let mut failures = 0u64;
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { break };
                let due = interval_s.map(|s| start_at + Duration::from_secs_f64(s * i as f64));
                if let Some(due) = due {
                    tokio::time::sleep_until(due).await;
                }
                let p = poster.post("/v1/batch", body.clone()).await?;
                if p.status != 200 {
                    failures += 1;
                }
                let latency = match due {
                    Some(due) => due.elapsed(),
                    None => p.latency,
                };
                lat.push(latency.as_micros() as u64);
                // After the first second: connection set-up and warm-up are over.
                if interval_s.is_some_and(|s| s * i as f64 >= 1.0) {
                    steady.push(latency.as_micros() as u64);
                }
            }
            Ok::<_, anyhow::Error>((lat, steady, failures))
        }));
    }
    let mut latencies_us = Vec::new();
    let mut steady_us = Vec::new();
    let mut failures = 0;
    for t in tasks {
        let (l, st, f) = t.await??;
        latencies_us.extend(l);
        steady_us.extend(st);
        failures += f;
    }
    let secs = started.elapsed().as_secs_f64();
    latencies_us.sort_unstable();
    steady_us.sort_unstable();
    Ok(Load { secs, events: bodies.len() as u64 * batch as u64, latencies_us, steady_us, failures })
}

fn start_server(data: &Path, key: &str) -> Result<(Child, String)> {
    let mut child = Command::new(exe()?)
        .args(["serve", "--data"])
        .arg(data)
        .args(["--listen", "127.0.0.1:0", "--write-key", key])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().context("server stdout")?;
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)?;
    let url = line.split_whitespace().find(|w| w.starts_with("http://")).context("server did not print its URL")?.to_string();
    Ok((child, url))
}

fn start_nginx(work: &Path) -> Result<Option<(Child, String)>> {
    let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"].into_iter().find(|p| Path::new(p).exists());
    let Some(nginx) = nginx else {
        eprintln!("nginx not installed (scripts/setup-test-deps installs it): skipping the nginx ceiling");
        return Ok(None);
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let prefix = work.join("nginx");
    std::fs::create_dir_all(prefix.join("logs"))?;
    let conf = prefix.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "daemon off; worker_processes 2; error_log {p}/logs/error.log; pid {p}/nginx.pid;\n\
             events {{ worker_connections 1024; }}\n\
             http {{ access_log off; client_max_body_size 2m; client_body_buffer_size 1m; client_body_temp_path {p}/body;\n\
               server {{ listen 127.0.0.1:{port}; location / {{ return 200 '{{\"success\":true}}'; }} }} }}\n",
            p = prefix.display()
        ),
    )?;
    let child = Command::new(nginx).arg("-p").arg(&prefix).arg("-c").arg(&conf).stderr(Stdio::null()).spawn()?;
    Ok(Some((child, format!("http://127.0.0.1:{port}"))))
}

/// The log's fsync latency p50 and p99 (upper bucket bounds, ms) and the number of fsyncs.
fn scrape_fsync(metrics: &str) -> (f64, f64, f64) {
    let h = crate::prom::histogram(metrics, "glint_fsync_seconds");
    (h.bucket_bound(0.5) * 1000.0, h.bucket_bound(0.99) * 1000.0, h.count)
}

fn bench_ingest(work: &Path, clients: usize, batch: usize, events: u64, runs: usize, rate: Option<u64>) -> Result<()> {
    if let Some(r) = rate {
        outln!("open loop: {} events/s offered in batches of {batch}; latency from each request's scheduled time", thousands(r));
    }
    let key = "bench-key";
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    outln!("| target | runs | median events/s | median req/s | ack p50 ms | ack p99 ms | fsync p50 ms | fsync p99 ms |");
    outln!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let (mut rates, mut p50s, mut p99s, mut fs50, mut fs99) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut steady99 = Vec::new();
    let mut all_bodies = Vec::new();
    for run in 0..runs {
        let b = Arc::new(bodies(events, batch, run));
        let data = work.join(format!("ingest-{run}"));
        let _ = std::fs::remove_dir_all(&data);
        let (mut child, url) = start_server(&data, key)?;
        let r = rt.block_on(async {
            wait_healthy(&Poster::new(&url, key), Duration::from_secs(10)).await?;
            let l = load(&url, key, b.clone(), clients, batch, rate).await?;
            let (_, m) = Poster::new(&url, key).get("/metrics").await?;
            Ok::<_, anyhow::Error>((l, String::from_utf8_lossy(&m).into_owned()))
        });
        let _ = child.kill();
        let _ = child.wait();
        let (l, metrics) = r?;
        if l.failures > 0 {
            bail!("{} requests failed in run {run}", l.failures);
        }
        let (f50, f99, n_fsync) = scrape_fsync(&metrics);
        eprintln!(
            "  glint run {run}: {:.0} events/s, ack p50 {:.1} ms p99 {:.1} ms max {:.1} ms (after 1 s: p99 {:.1} ms p99.9 {:.1} ms), {} fsyncs (p50 ≤{f50} ms, p99 ≤{f99} ms)",
            l.events as f64 / l.secs,
            percentile(&l.latencies_us, 0.5) as f64 / 1000.0,
            percentile(&l.latencies_us, 0.99) as f64 / 1000.0,
            percentile(&l.latencies_us, 1.0) as f64 / 1000.0,
            percentile(&l.steady_us, 0.99) as f64 / 1000.0,
            percentile(&l.steady_us, 0.999) as f64 / 1000.0,
            n_fsync
        );
        steady99.push(percentile(&l.steady_us, 0.99) as f64 / 1000.0);
        rates.push(l.events as f64 / l.secs);
        p50s.push(percentile(&l.latencies_us, 0.5) as f64 / 1000.0);
        p99s.push(percentile(&l.latencies_us, 0.99) as f64 / 1000.0);
        fs50.push(f50);
        fs99.push(f99);
        let _ = std::fs::remove_dir_all(&data);
        all_bodies = Arc::try_unwrap(b).unwrap_or_else(|a| (*a).clone());
    }
    let glint_rate = median(rates.clone());
    outln!(
        "| glint serve (fsync'd) | {runs} | {} | {} | {:.1} | {:.1} | {:.2} | {:.2} |",
        thousands(glint_rate as u64),
        thousands((glint_rate / batch as f64) as u64),
        median(p50s),
        median(p99s),
        median(fs50),
        median(fs99)
    );
    if rate.is_some() {
        outln!("\nglint ack p99 after the first second (connections set up): {:.1} ms (median of runs)", median(steady99));
    }
    let bodies = Arc::new(all_bodies);
    if let Some((mut child, url)) = start_nginx(work)? {
        std::thread::sleep(Duration::from_millis(300));
        let mut rates = Vec::new();
        let (mut p50s, mut p99s) = (Vec::new(), Vec::new());
        for run in 0..runs {
            let l = rt.block_on(load(&url, key, bodies.clone(), clients, batch, rate))?;
            eprintln!("  nginx run {run}: {:.0} events/s", l.events as f64 / l.secs);
            rates.push(l.events as f64 / l.secs);
            p50s.push(percentile(&l.latencies_us, 0.5) as f64 / 1000.0);
            p99s.push(percentile(&l.latencies_us, 0.99) as f64 / 1000.0);
        }
        let _ = child.kill();
        let _ = child.wait();
        let r = median(rates);
        outln!(
            "| nginx `return 200` (ceiling: no parsing, no disk) | {runs} | {} | {} | {:.1} | {:.1} | – | – |",
            thousands(r as u64),
            thousands((r / batch as f64) as u64),
            median(p50s),
            median(p99s)
        );
        outln!("\nglint / nginx: {:.2}", glint_rate / r);
    }
    // Plain JSON parsing of the same bodies on every core: the decode ceiling.
    let mut rates = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        std::thread::scope(|s| {
            for t in 0..threads {
                let bodies = &bodies;
                s.spawn(move || {
                    for b in bodies.iter().skip(t).step_by(threads) {
                        let v: Value = serde_json::from_slice(b).unwrap_or(Value::Null);
                        std::hint::black_box(v);
                    }
                });
            }
        });
        rates.push((bodies.len() * batch) as f64 / started.elapsed().as_secs_f64());
    }
    let r = median(rates);
    outln!("| serde_json parse to Value, all cores (ceiling: no HTTP, no disk) | {runs} | {} | {} | – | – | – | – |", thousands(r as u64), thousands((r / batch as f64) as u64));
    outln!("glint / JSON parse: {:.2}", glint_rate / r);
    Ok(())
}

/// Resident set size of this process, in bytes (Linux `/proc/self/statm`; 0 elsewhere).
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()).map_or(0, |pages| pages * 4096)
}

/// The engine alone: events are read from the log a chunk at a time into memory, and only the
/// engine's work on each chunk is timed, on one thread — the figure is the engine's, not the
/// log's (the log's read speed, and `glint replay` end to end, are reported beside it).
/// Memory: resident set growth across the run (chunks freed) divided by tracked shoppers.
fn bench_replay(work: &Path, users: u64, runs: usize) -> Result<()> {
    // Small chunks: their buffers are reused by the allocator, so resident memory grows by
    // the engine's state, not by events in flight.
    const CHUNK: usize = 20_000;
    let data = work.join("replay");
    let _ = std::fs::remove_dir_all(&data);
    let started = Instant::now();
    let out = Command::new(exe()?).args(["simulate", "--users", &users.to_string(), "--days", "7", "--data"]).arg(&data).output()?;
    if !out.status.success() {
        bail!("simulate failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    eprintln!("  simulated {users} shoppers in {:.1}s", started.elapsed().as_secs_f64());
    // Seal the last segment: a scan reads sealed chunks a few at a time but an unsealed segment
    // whole, which would swamp the memory figure (and is not the steady state of a log).
    glint_log::Log::open(&data, glint_log::LogOptions::default())?.rotate()?;
    let log = glint_log::Log::open_read_only(&data)?;
    let cfg = crate::config::Config::default();
    let (mut rates, mut reads, mut per_shopper) = (Vec::new(), Vec::new(), Vec::new());
    let (mut firings, mut shoppers, mut n_events) = (0usize, 0usize, 0usize);
    // A pass that only reads, first: the reader's buffers (an unsealed segment is read whole)
    // then sit in the allocator's free pages, and the engine run's growth is the engine's.
    let mut scan = log.scan(..)?;
    loop {
        let chunk: Vec<glint_event::Event> = scan.by_ref().take(CHUNK).collect::<Result<_, _>>()?;
        if chunk.is_empty() {
            break;
        }
    }
    drop(scan);
    for run in 0..runs {
        let rss_before = rss_bytes();
        let mut engine = glint_engine::Engine::new(cfg.engine_config(None)?, cfg.taxonomy()?);
        let (mut engine_s, mut read_s, mut n, mut fired) = (0.0, 0.0, 0usize, 0usize);
        let mut scan = log.scan(..)?;
        let mut last = None;
        loop {
            let t = Instant::now();
            let chunk: Vec<glint_event::Event> = scan.by_ref().take(CHUNK).collect::<Result<_, _>>()?;
            read_s += t.elapsed().as_secs_f64();
            if chunk.is_empty() {
                break;
            }
            let t = Instant::now();
            for e in &chunk {
                fired += engine.apply(e).len();
            }
            engine_s += t.elapsed().as_secs_f64();
            n += chunk.len();
            last = chunk.last().map(|e| e.time_ms);
        }
        if let Some(t) = last {
            let t0 = Instant::now();
            fired += engine.advance_to(t).len();
            engine_s += t0.elapsed().as_secs_f64();
        }
        // Only the first run starts from a clean heap; later runs reuse freed pages.
        let grown = if run == 0 { rss_bytes().saturating_sub(rss_before) } else { 0 };
        let memory = if run == 0 { format!("{:.0} bytes/shopper", grown as f64 / engine.shoppers().max(1) as f64) } else { "memory measured in run 0 only".into() };
        eprintln!("  run {run}: {:.0} events/s, {} firings, {} shoppers, {memory}; {:?}", n as f64 / engine_s, fired, engine.shoppers(), engine.census());
        rates.push(n as f64 / engine_s);
        reads.push(n as f64 / read_s);
        if run == 0 {
            per_shopper.push(grown as f64 / engine.shoppers().max(1) as f64);
        }
        (firings, shoppers, n_events) = (fired, engine.shoppers(), n);
        drop(engine);
    }
    // End to end, as a user runs it: `glint replay` reads, decodes, decides and writes firings.
    let mut e2e = Vec::new();
    for _ in 0..runs.min(3) {
        let t = Instant::now();
        let out = Command::new(exe()?).args(["replay", "--data"]).arg(&data).args(["--out"]).arg(work.join("firings.jsonl")).output()?;
        if !out.status.success() {
            bail!("replay failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        e2e.push(n_events as f64 / t.elapsed().as_secs_f64());
    }
    outln!("| events | shoppers | firings | runs | engine events/s (1 thread, median) | log read events/s | `glint replay` end to end events/s | resident bytes per shopper |");
    outln!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    outln!(
        "| {} | {} | {} | {runs} | {} | {} | {} | {} |",
        thousands(n_events as u64),
        thousands(shoppers as u64),
        thousands(firings as u64),
        thousands(median(rates.clone()) as u64),
        thousands(median(reads) as u64),
        thousands(median(e2e) as u64),
        thousands(median(per_shopper.clone()) as u64),
    );
    outln!("replay: engine {} events/s on one thread (goal 1,000,000), {} bytes per shopper (goal < 1,024)", thousands(median(rates) as u64), thousands(median(per_shopper) as u64));
    let _ = std::fs::remove_dir_all(&data);
    Ok(())
}

fn bench_storage(work: &Path, users: u64) -> Result<()> {
    let data = work.join("storage");
    let _ = std::fs::remove_dir_all(&data);
    let out = Command::new(exe()?).args(["simulate", "--users", &users.to_string(), "--days", "7", "--data"]).arg(&data).output()?;
    if !out.status.success() {
        bail!("simulate failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let log = glint_log::Log::open_read_only(&data)?;
    let s = log.summary();
    outln!("| shoppers | events | sealed events | sealed bytes | bytes/event (sealed) | active bytes |");
    outln!("|---:|---:|---:|---:|---:|---:|");
    outln!(
        "| {} | {} | {} | {} | {:.1} | {} |",
        thousands(users),
        thousands(s.events),
        thousands(s.sealed_events),
        thousands(s.sealed_bytes),
        s.sealed_bytes as f64 / s.sealed_events.max(1) as f64,
        thousands(s.active_bytes)
    );
    let _ = std::fs::remove_dir_all(&data);
    Ok(())
}
