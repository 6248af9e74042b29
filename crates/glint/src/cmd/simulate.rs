//! `glint simulate`: realistic shop traffic to a JSONL file, straight into a log, or live
//! over HTTP to a running server.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use glint_event::Source;
use glint_event::time::parse_timestamp_ms;
use glint_event::wire::Decoder;
use glint_sim::{SimConfig, Simulator};
use serde_json::Value;

mod events;

use crate::ConfigArg;
use crate::client::Poster;
use crate::config::Config;
use crate::output::{spinner, thousands};

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("sink").required(true).args(["out", "data", "target"])))]
pub struct Args {
    /// Shoppers to simulate.
    #[arg(long, default_value_t = 1000)]
    pub users: u64,
    /// Days of traffic.
    #[arg(long, default_value_t = 7)]
    pub days: u32,
    /// Seed: the same seed gives byte-identical traffic.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// First simulated day, YYYY-MM-DD [default: 2026-01-05; with --target, `days` ago].
    #[arg(long, value_name = "DATE")]
    pub start: Option<String>,
    /// Write Segment JSONL to this file ("-" for standard output).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Write straight into this data directory's log (fastest; for big benchmarks).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// With --data: seal the last segment too, as a long-running log's would be (its column
    /// file is written, so analytics reads no row records). Benchmarks use it.
    #[arg(long, requires = "data")]
    pub seal: bool,
    /// Post live to a running server, e.g. http://127.0.0.1:8080.
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,
    /// Write key for --target.
    #[arg(long, value_name = "KEY", env = "GLINT_WRITE_KEY")]
    pub write_key: Option<String>,
    /// Concurrent HTTP clients for --target.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Messages per HTTP batch for --target.
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    #[command(flatten)]
    pub config: ConfigArg,
}

pub fn sim_config(users: u64, days: u32, seed: u64, start: Option<&str>, live: bool) -> Result<SimConfig> {
    let mut cfg = SimConfig::new(users, days, seed);
    match start {
        Some(day) => {
            cfg.start_ms = parse_timestamp_ms(&format!("{day}T00:00:00Z")).with_context(|| format!("--start {day:?} is not a date YYYY-MM-DD"))?;
        }
        None if live => {
            let day_ms = 86_400_000;
            cfg.start_ms = (super::now_ms() / day_ms - i64::from(days)) * day_ms;
        }
        None => {}
    }
    Ok(cfg)
}

pub fn run(args: Args) -> Result<ExitCode> {
    let live = args.target.is_some();
    let sim = Simulator::new(sim_config(args.users, args.days, args.seed, args.start.as_deref(), live)?);
    let started = Instant::now();
    if let Some(out) = &args.out {
        let n = write_jsonl(sim, out)?;
        eprintln!("simulated {} messages in {:.1}s", thousands(n), started.elapsed().as_secs_f64());
    } else if let Some(data) = &args.data {
        let cfg = Config::load(args.config.config.as_deref())?;
        let decoder = Decoder::new(cfg.taxonomy()?, cfg.decode_options()?);
        let mut log = super::open_log(data, cfg.log_options())?;
        let bar = spinner("simulating");
        let n = into_log(sim, &decoder, &mut log, |n| bar.set_message(format!("simulating: {} events", thousands(n))))?;
        if args.seal {
            log.rotate()?;
        }
        bar.finish_and_clear();
        let s = log.summary();
        eprintln!(
            "simulated {} events into {} in {:.1}s; {} bytes/event in sealed segments",
            thousands(n),
            data.display(),
            started.elapsed().as_secs_f64(),
            if s.sealed_events > 0 { format!("{:.1}", s.sealed_bytes as f64 / s.sealed_events as f64) } else { "n/a (nothing sealed yet)".into() }
        );
    } else if let Some(target) = &args.target {
        let Some(key) = &args.write_key else { bail!("--target needs --write-key (or GLINT_WRITE_KEY)") };
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        let bar = spinner("posting");
        let report = runtime.block_on(post_live(sim, Poster::new(target, key), args.concurrency, args.batch, None, None, |p| {
            bar.set_message(format!("posting: {} accepted, {} rejected", thousands(p.accepted), thousands(p.rejected)));
        }))?;
        bar.finish_and_clear();
        eprintln!(
            "posted {} messages in {} requests: {} accepted, {} rejected, {} retried; {:.1}s",
            thousands(report.messages),
            thousands(report.requests),
            thousands(report.accepted),
            thousands(report.rejected),
            thousands(report.retries),
            started.elapsed().as_secs_f64()
        );
        if report.failed_requests > 0 {
            bail!("{} requests failed (non-200 answers); first: {}", report.failed_requests, report.first_failure.unwrap_or_default());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn write_jsonl(sim: Simulator, out: &PathBuf) -> Result<u64> {
    let sink: Box<dyn Write> = if out.as_os_str() == "-" {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(File::create(out).with_context(|| format!("creating {}", out.display()))?)
    };
    let mut w = BufWriter::with_capacity(1 << 20, sink);
    let mut n = 0;
    for msg in sim {
        serde_json::to_writer(&mut w, &msg)?;
        w.write_all(b"\n")?;
        n += 1;
    }
    w.flush()?;
    Ok(n)
}

/// Messages per append: also where a full segment is rotated, so changing it moves segment
/// boundaries (the stored events stay the same).
const APPEND_BATCH: usize = 8192;

/// Batches in flight between the generating and the appending thread.
const BATCHES_IN_FLIGHT: usize = 4;

/// The event the decoder makes of a simulated message's JSON, received at its own timestamp:
/// the reference that [`events::to_event`] short-cuts.
fn decode_json(decoder: &Decoder, m: &glint_sim::Message<'_>) -> Result<glint_event::Event> {
    let Value::Object(obj) = m.to_json() else { bail!("simulator produced a non-object message") };
    let received = obj.get("timestamp").and_then(Value::as_str).and_then(parse_timestamp_ms).unwrap_or(0);
    decoder.segment_value(&obj, received, Source::Segment).map_err(|f| anyhow::anyhow!("simulated message refused: {f}"))
}

/// Simulate and append to `log`; returns how many events were stored.
///
/// The simulator and the conversion to events run on a second thread, appending on this one,
/// in batches of [`APPEND_BATCH`], so generation and appending (and the log's sealing threads)
/// share both cores. Appended batches go back to the generator, which drops their events and
/// reuses the buffer: memory is freed by the thread that allocated it, which mimalloc does
/// far more cheaply than a free from another thread.
pub fn into_log(mut sim: Simulator, decoder: &Decoder, log: &mut glint_log::Log, mut progress: impl FnMut(u64)) -> Result<u64> {
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<Vec<glint_event::Event>>(BATCHES_IN_FLIGHT);
    let (appended_tx, appended_rx) = std::sync::mpsc::channel::<Vec<glint_event::Event>>();
    std::thread::scope(|scope| {
        let generator = std::thread::Builder::new().name("glint-simulate".into()).spawn_scoped(scope, move || -> Result<()> {
            let mut memo = events::Memo::default();
            let mut batch = Vec::with_capacity(APPEND_BATCH);
            while let Some(mut m) = sim.next_message() {
                let e = match events::to_event(decoder, &mut memo, &mut m) {
                    Some(e) => e,
                    None => decode_json(decoder, &m)?,
                };
                batch.push(e);
                if batch.len() == APPEND_BATCH {
                    let next = match appended_rx.try_recv() {
                        Ok(mut appended) => {
                            appended.clear();
                            appended
                        }
                        Err(_) => Vec::with_capacity(APPEND_BATCH),
                    };
                    // A closed channel means the appender stopped on an error, which it reports.
                    if full_tx.send(std::mem::replace(&mut batch, next)).is_err() {
                        return Ok(());
                    }
                }
            }
            if !batch.is_empty() {
                let _ = full_tx.send(batch);
            }
            Ok(())
        })?;
        let appended = (|| -> Result<u64> {
            let mut n = 0u64;
            for batch in full_rx {
                n += log.append(batch.iter())?.stored as u64;
                progress(n);
                // The generator may have finished and gone; then the batch is dropped here.
                let _ = appended_tx.send(batch);
            }
            log.sync()?;
            Ok(n)
        })();
        let generated = generator.join().map_err(|_| anyhow::anyhow!("the simulator thread panicked"))?;
        let n = appended?;
        generated?;
        Ok(n)
    })
}

/// What posting live traffic achieved.
#[derive(Debug, Default, Clone)]
pub struct PostReport {
    pub messages: u64,
    pub requests: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub retries: u64,
    pub failed_requests: u64,
    pub first_failure: Option<String>,
    /// Acknowledgement latency per request, microseconds.
    pub latencies_us: Vec<u64>,
}

/// Live counters while posting.
#[derive(Debug, Default)]
pub struct Progress {
    pub accepted: u64,
    pub rejected: u64,
}

/// Post `sim`'s messages as Segment batches with `concurrency` clients until done or
/// `deadline`. The simulator runs on a blocking thread feeding a bounded channel.
/// Replay simulated time at a fixed speed-up against the wall clock: a batch is posted when
/// the simulated time of its first message comes due.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// Simulated time that maps to the start.
    pub sim_start_ms: i64,
    /// Simulated milliseconds per wall-clock millisecond.
    pub speedup: f64,
}

pub async fn post_live(
    sim: Simulator,
    poster: Poster,
    concurrency: usize,
    batch: usize,
    deadline: Option<Instant>,
    pace: Option<Pace>,
    mut progress: impl FnMut(&Progress),
) -> Result<PostReport> {
    let (tx, rx) = tokio::sync::mpsc::channel::<(u64, Bytes)>(concurrency * 4);
    let batch = batch.clamp(1, glint_event::limits::BATCH_EVENTS_MAX);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_gen = stop.clone();
    let wall_start = Instant::now();
    let generator = tokio::task::spawn_blocking(move || {
        let mut buf: Vec<Value> = Vec::with_capacity(batch);
        let mut sim = sim;
        loop {
            let next = sim.next();
            let done = next.is_none();
            if let Some(m) = next {
                buf.push(m);
            }
            if buf.len() == 1
                && let Some(p) = pace {
                    let t = buf[0].get("timestamp").and_then(Value::as_str).and_then(parse_timestamp_ms).unwrap_or(p.sim_start_ms);
                    let due = Duration::from_secs_f64(((t - p.sim_start_ms).max(0) as f64 / p.speedup) / 1000.0);
                    // Sleep in short steps so a stop (deadline reached) is noticed promptly.
                    while let Some(wait) = due.checked_sub(wall_start.elapsed()) {
                        if stop_gen.load(Ordering::Relaxed) {
                            return;
                        }
                        std::thread::sleep(wait.min(Duration::from_millis(100)));
                    }
                }
            if buf.len() == batch || (done && !buf.is_empty()) {
                let sent_at = glint_event::time::format_rfc3339_ms(super::now_ms());
                let body = serde_json::json!({"batch": buf, "sentAt": sent_at});
                let n = buf.len() as u64;
                buf = Vec::with_capacity(batch);
                let bytes = Bytes::from(serde_json::to_vec(&body).unwrap_or_default());
                if tx.blocking_send((n, bytes)).is_err() || stop_gen.load(Ordering::Relaxed) {
                    return;
                }
            }
            if done {
                return;
            }
        }
    });
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let accepted = Arc::new(AtomicU64::new(0));
    let rejected = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let rx = rx.clone();
        let poster = poster.clone();
        let (accepted, rejected) = (accepted.clone(), rejected.clone());
        workers.push(tokio::spawn(async move {
            let mut r = PostReport::default();
            loop {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Ok::<_, anyhow::Error>(r);
                }
                let Some((n, body)) = rx.lock().await.recv().await else { return Ok(r) };
                let posted = poster.post("/v1/batch", body).await?;
                r.messages += n;
                r.requests += 1;
                r.retries += u64::from(posted.retries);
                r.latencies_us.push(posted.latency.as_micros() as u64);
                if posted.status == 200 {
                    let v: Value = serde_json::from_slice(&posted.body).unwrap_or(Value::Null);
                    let a = v.get("accepted").and_then(Value::as_u64).unwrap_or(0);
                    let rej = v.get("rejected").and_then(Value::as_array).map_or(0, |x| x.len() as u64);
                    accepted.fetch_add(a, Ordering::Relaxed);
                    rejected.fetch_add(rej, Ordering::Relaxed);
                    r.accepted += a;
                    r.rejected += rej;
                } else {
                    r.failed_requests += 1;
                    r.first_failure.get_or_insert_with(|| format!("{} {}", posted.status, String::from_utf8_lossy(&posted.body)));
                }
            }
        }));
    }
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let all = futures_join(workers);
    tokio::pin!(all);
    let results = loop {
        tokio::select! {
            r = &mut all => break r,
            _ = tick.tick() => progress(&Progress { accepted: accepted.load(Ordering::Relaxed), rejected: rejected.load(Ordering::Relaxed) }),
        }
    };
    stop.store(true, Ordering::Relaxed);
    rx.lock().await.close();
    let _ = generator.await;
    let mut total = PostReport::default();
    for r in results {
        let r = r.context("a posting task panicked")??;
        total.messages += r.messages;
        total.requests += r.requests;
        total.accepted += r.accepted;
        total.rejected += r.rejected;
        total.retries += r.retries;
        total.failed_requests += r.failed_requests;
        if total.first_failure.is_none() {
            total.first_failure = r.first_failure;
        }
        total.latencies_us.extend(r.latencies_us);
    }
    Ok(total)
}

async fn futures_join<T>(handles: Vec<tokio::task::JoinHandle<T>>) -> Vec<Result<T, tokio::task::JoinError>> {
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await);
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use glint_event::Taxonomy;
    use glint_event::wire::DecodeOptions;
    use glint_sim::SimConfig;

    use super::*;

    /// The fast path (typed messages straight to events) gives exactly the event that decoding
    /// the message's JSON gives — the path `into_log` took before it — message by message, over
    /// configurations that between them emit every kind of message, a start in another year,
    /// and with full IP addresses kept.
    #[test]
    fn fast_path_stores_the_same_events() {
        let mut late = SimConfig::new(300, 3, 9);
        late.start_ms = 1_900_000_000_000; // 2030-03-17, a Sunday afternoon
        let configs = [(SimConfig::new(3000, 7, 42), false), (SimConfig::new(400, 2, 7), true), (late, false)];
        for (cfg, keep_full_ip) in configs {
            let decoder = Decoder::new(Taxonomy::default(), DecodeOptions { keep_full_ip, ..DecodeOptions::default() });
            let mut memo = events::Memo::default();
            let mut sim = Simulator::new(cfg.clone());
            let (mut n, mut names, mut kinds) = (0, BTreeSet::new(), BTreeSet::new());
            while let Some(mut m) = sim.next_message() {
                let reference = decode_json(&decoder, &m).expect("the simulator's messages decode");
                let id = m.message_id.clone();
                let fast = events::to_event(&decoder, &mut memo, &mut m);
                assert_eq!(fast.as_ref(), Some(&reference), "{cfg:?}: message {id}");
                names.extend(m.event);
                kinds.insert(m.kind.name());
                n += 1;
            }
            assert!(n > 1000, "{cfg:?}: {n} messages");
            assert_eq!(kinds.len(), 3, "{cfg:?}: {kinds:?}");
            if cfg.days == 7 {
                // Every event name the simulator has (its tests list them), so every shape.
                assert_eq!(names.len(), 28, "{cfg:?}: {names:?}");
            }
        }
    }

    /// `into_log` (two threads, batches recycled) stores the reference events in the
    /// simulator's order, every one of them.
    #[test]
    fn into_log_stores_the_reference_events_in_order() {
        let cfg = SimConfig::new(300, 2, 5);
        let decoder = Decoder::new(Taxonomy::default(), DecodeOptions::default());
        let mut sim = Simulator::new(cfg.clone());
        let mut expected = Vec::new();
        while let Some(m) = sim.next_message() {
            expected.push(decode_json(&decoder, &m).expect("decodes"));
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let mut log = glint_log::Log::open(dir.path(), glint_log::LogOptions::default()).expect("open");
        let mut reported = 0;
        let n = into_log(Simulator::new(cfg), &decoder, &mut log, |n| reported = n).expect("into_log");
        assert_eq!(n, expected.len() as u64);
        assert_eq!(reported, n);
        let stored: Vec<glint_event::Event> =
            log.scan(..).expect("scan").map(|r| r.expect("event")).collect();
        // The scan orders by event time, then ingest order; the simulator emits in time order.
        assert_eq!(stored.len(), expected.len());
        for (i, (s, e)) in stored.iter().zip(&expected).enumerate() {
            assert_eq!(s, e, "event {i}");
        }
    }
}
