//! The live engine: moments recognised as events arrive, the firing log, and decisions.
//!
//! One thread owns the [`Engine`]. At start it replays the log, so its state is what replay
//! would give (firings already in the firing log are not written again: fire ids are
//! deterministic). Then the log writer hands it every batch once it is durable. Event time
//! advances with the events and, every second, with the wall clock minus the allowed lateness;
//! an event older than that watermark is stored and counted as late, but not applied, so it
//! cannot reopen a closed window — and replay of on-time traffic matches what ran live.
//! Firings are appended to `DATA/firings.jsonl` and fsync'd.
//!
//! A `sent` firing of a moment whose action is a webhook to a configured endpoint becomes a
//! [`glint_outbox::Delivery`], made durable in `DATA/outbox` *before* the firing is written
//! to the firing log. So after a crash, a firing missing from the firing log is decided
//! again on restart and enqueued again (a no-op if it was already queued); and a firing in
//! the firing log always has its delivery queued. Firings older than `deliver_max_age_ms`
//! when decided (history replayed at start) are recorded but not delivered: a nudge about a
//! cart from last year helps no one.
//!
//! The engine's state is checkpointed to `DATA/engine/checkpoint` (atomically: temp file,
//! fsync, rename) every `checkpoint_interval` and after an erasure, with the log sequence
//! number it reflects. A restart restores it and replays only the log after that number;
//! a checkpoint made under other rules (or damaged) is set aside and the whole log replayed.
//!
//! With an intent model configured (`[intent] model`), the engine keeps every shopper's
//! features and scores with the model. A watcher thread checks the file every
//! `reload_interval`; a changed file is loaded and validated off the engine thread and handed
//! over whole, between two batches (the swap is atomic); a file that fails to load is counted
//! and reported, and the model in use stays. Drift (PSI per feature and of the score, over
//! sessions finished since the model was loaded) is published to `/metrics` every second.
//!
//! `GET /v1/lift` asks the engine thread for a [`Snapshot`] — the log sequence number it has
//! applied and the firing log's length once the firings of those events were written — and
//! then, on a blocking thread and one at a time, reads the log (read-only, events up to that
//! number) and the firing log up to that length with `glint_analytics::lift`, the code
//! `glint lift` runs. Ingestion and the engine carry on meanwhile; the answer is what
//! `glint lift` would say had the server stopped at that instant.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::time::Duration;

use std::collections::HashMap;
use std::sync::Arc;

use glint_analytics::lift::{self, MomentKpi};
use glint_engine::{Action, Engine, EngineConfig, Fact, Firing, IntentModel, IntentScore, Outcome};
use glint_outbox::{Delivery, Endpoint, Outbox};
use glint_event::time::format_rfc3339_ms;
use glint_event::{Event, Taxonomy};
use serde_json::{Map, Value, json};
use tokio::sync::oneshot;

use crate::metrics::Metrics;

/// Batches waiting for the engine; the writer blocks briefly when the engine falls behind
/// rather than dropping events, since each one was already acknowledged.
const LIVE_QUEUE_DEPTH_MAX: usize = 256;

/// A firing as one line of the firing log (keys sort, so the bytes are deterministic).
pub fn firing_json(f: &Firing) -> Value {
    let values: Map<String, Value> = f.receipt.values.iter().map(|(k, v)| (k.clone(), fact_json(v))).collect();
    json!({
        "fire_id": f.fire_id,
        "moment": f.moment,
        "user": f.user,
        "at": format_rfc3339_ms(f.at_ms),
        "group": f.group.as_str(),
        "outcome": f.outcome.as_str(),
        "receipt": {
            "trigger_event_ids": f.receipt.trigger_event_ids,
            "values": values,
            "intent": f.receipt.intent.as_ref().map(intent_json),
            "consent": {"purpose": f.receipt.consent_purpose, "granted": f.receipt.consent_granted},
            "correlation": f.receipt.correlation,
            "rule_version": f.receipt.rule_version,
        },
    })
}

/// An intent score as firings and decisions show it: the model's reasons are features, the
/// taxonomy's are signals.
pub fn intent_json(i: &IntentScore) -> Value {
    let key = if i.model.is_some() { "feature" } else { "signal" };
    let reasons: Vec<Value> = i.reasons.iter().map(|(name, c)| json!({key: name, "contribution": c})).collect();
    json!({"p": i.p, "stage": i.stage.as_str(), "model": i.model.as_deref(), "reasons": reasons})
}

/// Read, check and wrap an intent model file. Its id, in receipts and metrics, is the
/// algorithm and a hash of the file's bytes, so a retrained file is a new id.
///
/// # Errors
/// Unreadable, malformed, trained on another feature schema, or on another table.
pub fn load_intent_model(path: &Path) -> Result<IntentModel, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("reading intent model {}: {e}", path.display()))?;
    let file = glint_intent::model::ModelFile::from_json(&bytes, &glint_intent::FeatureSchema::CURRENT.id()).map_err(|e| format!("intent model {}: {e}", path.display()))?;
    let id = format!("{}-{:08x}", file.model.algorithm().as_str(), xxhash_rust::xxh3::xxh3_64(&bytes) as u32);
    IntentModel::new(file, id).map_err(|e| format!("intent model {}: {e}", path.display()))
}

fn fact_json(v: &Fact) -> Value {
    match v {
        Fact::Num(n) => json!(n),
        Fact::Text(t) => json!(t),
        Fact::Bool(b) => json!(b),
    }
}

enum Job {
    /// Durable events, and the log's last sequence number once they were appended.
    Events(Vec<Event>, u64),
    Decide(String, oneshot::Sender<Value>),
    /// Forget shoppers (erasure): the engine's state and the outbox's records of them.
    Erase(Vec<String>, oneshot::Sender<Result<usize, String>>),
    /// Score with this model from now on.
    SetModel(Arc<IntentModel>),
    /// Where the engine stands, for a consistent lift.
    Snapshot(oneshot::Sender<std::io::Result<Snapshot>>),
}

/// A consistent view of the log and the firing log: every event up to `seq` has been applied
/// and its firings are within the first `firing_bytes` of the firing log (whole lines).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Snapshot {
    seq: u64,
    firing_bytes: u64,
}

/// Why a live lift has no answer.
#[derive(Debug)]
pub(crate) enum LiftFailure {
    /// The engine's queue is full or it stopped: try again.
    Busy(String),
    /// Reading the log or the firing log failed.
    Failed(String),
}

/// How often a live lift is retried when a segment it listed was sealed away under it.
const LIFT_ATTEMPTS_MAX: usize = 3;

/// A handle to the live engine thread.
#[derive(Clone, Debug)]
pub(crate) struct Live {
    tx: SyncSender<Job>,
    outbox: Arc<Outbox>,
    /// The data directory (log and firing log).
    dir: PathBuf,
    /// The engine's moments, as lift sees them.
    moments: Arc<Vec<MomentKpi>>,
    /// One live lift at a time: each reads the whole log, and two at once would take both
    /// cores of a small server from ingestion.
    lift_turn: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("live::Job")
    }
}

/// Live-engine settings.
#[derive(Clone, Debug)]
pub struct LiveConfig {
    /// The engine's moments, seed and consent defaults.
    pub engine: EngineConfig,
    /// How far behind the wall clock event time may run before events count as late.
    pub lateness_ms: i64,
    /// Whether event time also advances with the wall clock (`glint serve`); off, only events
    /// move it (the demo plays simulated days in a minute).
    pub wall_clock: bool,
    /// Webhook endpoints (`[webhooks]`); moments naming another endpoint stay on-site.
    pub endpoints: Vec<Endpoint>,
    /// Firings older than this, by event time against the wall clock, are not delivered
    /// (history replayed at start); `None` delivers all.
    pub deliver_max_age_ms: Option<i64>,
    /// How often the engine's state is checkpointed (when it changed).
    pub checkpoint_interval: Duration,
    /// The intent model file to score with and watch (`[intent] model`); set
    /// `engine.intent_features` with it.
    pub intent_model: Option<PathBuf>,
    /// How often the model file is checked for a new version.
    pub model_reload_interval: Duration,
}

impl LiveConfig {
    /// Defaults for `engine`: 5 minutes of lateness, the wall clock on, no endpoints,
    /// deliveries up to a day old.
    pub fn new(engine: EngineConfig) -> LiveConfig {
        LiveConfig {
            engine,
            lateness_ms: 5 * 60_000,
            wall_clock: true,
            endpoints: Vec::new(),
            deliver_max_age_ms: Some(86_400_000),
            checkpoint_interval: Duration::from_secs(60),
            intent_model: None,
            model_reload_interval: Duration::from_secs(5),
        }
    }
}

struct State {
    engine: Engine,
    firings: File,
    path: PathBuf,
    written: HashSet<String>,
    outbox: Arc<Outbox>,
    /// Moment → the configured endpoint its `sent` firings go to.
    webhooks: HashMap<String, String>,
    deliver_max_age_ms: Option<i64>,
    metrics: Arc<Metrics>,
    checkpoint: PathBuf,
    /// The log sequence number the engine's state reflects.
    seq: u64,
    /// The sequence number of the last checkpoint written.
    saved_seq: u64,
}

impl Live {
    /// Restore the engine from its checkpoint (or start fresh) and replay the log after it,
    /// open the outbox and start its delivery on the current tokio runtime, then start the
    /// engine thread.
    pub(crate) fn start(log: &glint_log::Log, config: LiveConfig, taxonomy: Taxonomy, metrics: Arc<Metrics>) -> std::io::Result<Live> {
        let dir = log.dir();
        let path = dir.join(glint_log::FIRING_LOG);
        let written: HashSet<String> = match File::open(&path) {
            Ok(f) => std::io::BufReader::new(f)
                .lines()
                .map_while(Result::ok)
                .filter_map(|l| serde_json::from_str::<Value>(&l).ok()?.get("fire_id")?.as_str().map(str::to_string))
                .collect(),
            Err(_) => HashSet::new(),
        };
        let firings = OpenOptions::new().create(true).append(true).open(&path)?;
        let configured: HashSet<&str> = config.endpoints.iter().map(|e| e.name.as_str()).collect();
        let webhooks: HashMap<String, String> = config
            .engine
            .moments
            .iter()
            .filter_map(|m| match &m.action {
                Action::Webhook { endpoint, .. } if configured.contains(endpoint.as_str()) => Some((m.name.clone(), endpoint.clone())),
                _ => None,
            })
            .collect();
        let outbox = Arc::new(Outbox::open(&dir.join("outbox"), config.endpoints.clone()).map_err(std::io::Error::other)?);
        let observer = metrics.clone();
        outbox.set_latency_observer(move |endpoint, took| {
            observer.webhook_delivery_seconds.get_or_create(&crate::metrics::EndpointLabel { endpoint: endpoint.to_string() }).observe(took.as_secs_f64());
        });
        let handle = tokio::runtime::Handle::try_current().map_err(|_| std::io::Error::other("the live engine needs a tokio runtime for webhook delivery"))?;
        outbox.start(&handle);
        let checkpoint = dir.join("engine").join("checkpoint");
        let moments: Vec<MomentKpi> = config
            .engine
            .moments
            .iter()
            .map(|m| MomentKpi { name: m.name.clone(), kpi_signals: m.kpi_signals.clone(), kpi_window_ms: m.kpi_window_ms, holdout_share: f64::from(m.holdout_bp) / 10_000.0 })
            .collect();
        let dir = dir.to_path_buf();
        let (mut engine, seq) = restore(&checkpoint, &config.engine, &taxonomy);
        // The model scores the replay too; a configured file that exists must load.
        let mut model_stamp = None;
        if let Some(path) = &config.intent_model {
            model_stamp = file_stamp(path);
            if model_stamp.is_some() {
                let model = Arc::new(load_intent_model(path).map_err(std::io::Error::other)?);
                metrics.intent_model.get_or_create(&crate::metrics::ModelLabel { model: model.id().to_string() }).set(1);
                metrics.intent_model_loads.inc();
                engine.set_model(Some(model));
            } else {
                eprintln!("glint: intent model {} not found; scoring with the taxonomy until it appears", path.display());
            }
        }
        let last_seq = log.last_seq();
        let mut st = State {
            engine,
            firings,
            path,
            written,
            outbox: outbox.clone(),
            webhooks,
            deliver_max_age_ms: config.deliver_max_age_ms,
            metrics,
            checkpoint,
            seq,
            saved_seq: seq,
        };
        // Stream the log after the checkpoint into the engine (never all of it in memory).
        let mut replayed = Vec::new();
        for e in log.scan_after_seq(seq).map_err(std::io::Error::other)? {
            let e = e.map_err(std::io::Error::other)?;
            replayed.extend(st.engine.apply(&e));
            if replayed.len() >= 4096 {
                st.record(std::mem::take(&mut replayed), None)?;
            }
        }
        st.record(replayed, None)?;
        st.seq = last_seq;
        st.save_checkpoint()?;
        let (tx, rx) = sync_channel(LIVE_QUEUE_DEPTH_MAX);
        let lateness = config.lateness_ms;
        let wall_clock = config.wall_clock;
        let every = config.checkpoint_interval;
        if let Some(path) = config.intent_model.clone() {
            let (tx, interval, metrics) = (tx.clone(), config.model_reload_interval, st.metrics.clone());
            std::thread::Builder::new().name("glint-model-watch".into()).spawn(move || watch_model(&path, model_stamp, interval, &tx, &metrics))?;
        }
        std::thread::Builder::new().name("glint-engine".into()).spawn(move || run(st, &rx, lateness, wall_clock, every))?;
        Ok(Live { tx, outbox, dir, moments: Arc::new(moments), lift_turn: Arc::new(tokio::sync::Semaphore::new(1)) })
    }

    /// The outbox (for metrics and the CLI's view of a running server).
    pub(crate) fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// Forget shoppers in the engine and the outbox (after the log erased them).
    pub(crate) async fn erase(&self, ids: Vec<String>) -> Result<usize, String> {
        let (reply, rx) = oneshot::channel();
        let tx = self.tx.clone();
        // The queue may be full for a moment; erasure waits for room rather than failing.
        tokio::task::spawn_blocking(move || tx.send(Job::Erase(ids, reply))).await.map_err(|e| e.to_string())?.map_err(|_| "the live engine stopped".to_string())?;
        rx.await.map_err(|_| "the live engine stopped".to_string())?
    }

    /// Hand durable events to the engine (blocks only while the engine's queue is full), with
    /// the log's last sequence number after them.
    pub(crate) fn events(&self, events: Vec<Event>, seq: u64) {
        let _ = self.tx.send(Job::Events(events, seq));
    }

    /// Holdout lift per moment (`glint lift --json`'s document) over a consistent snapshot of
    /// the log and the firing log; the reading runs on a blocking thread.
    pub(crate) async fn lift(&self, cuped: bool) -> Result<Value, LiftFailure> {
        let _turn = self.lift_turn.clone().acquire_owned().await.map_err(|_| LiftFailure::Busy("the server is stopping".into()))?;
        let (reply, rx) = oneshot::channel();
        self.tx.try_send(Job::Snapshot(reply)).map_err(|_| LiftFailure::Busy("the engine is busy; retry".into()))?;
        let snapshot = rx.await.map_err(|_| LiftFailure::Busy("the live engine stopped".into()))?.map_err(|e| LiftFailure::Failed(format!("the firing log: {e}")))?;
        let (dir, moments) = (self.dir.clone(), self.moments.clone());
        tokio::task::spawn_blocking(move || lift_at(&dir, &moments, snapshot, cuped)).await.map_err(|e| LiftFailure::Failed(e.to_string()))?
    }

    /// What the engine knows of a shopper now: intent, stage, cart, pending moments.
    pub(crate) async fn decide(&self, user: String) -> Option<Value> {
        let (reply, rx) = oneshot::channel();
        self.tx.try_send(Job::Decide(user, reply)).ok()?;
        rx.await.ok()
    }
}

/// Lift as of `snapshot`. A read-only open lists the segments and reads them later, so a
/// segment the writer seals (or erasure rewrites) in between can vanish under it: then the
/// whole read starts again, a few times at most.
fn lift_at(dir: &Path, moments: &[MomentKpi], snapshot: Snapshot, cuped: bool) -> Result<Value, LiftFailure> {
    let path = dir.join(glint_log::FIRING_LOG);
    let options = lift::Options { cuped, seq_max: Some(snapshot.seq) };
    let mut attempt = 0;
    loop {
        attempt += 1;
        let log = glint_log::Log::open_read_only(dir);
        let firings = match File::open(&path) {
            Ok(f) => f,
            Err(e) => return Err(LiftFailure::Failed(format!("{}: {e}", path.display()))),
        };
        let result = log.map_err(lift::Error::Log).and_then(|log| {
            let firings = std::io::BufReader::new(std::io::Read::take(firings, snapshot.firing_bytes));
            lift::compute(&log, firings, &path, moments, options)
        });
        match result {
            Ok(report) => return Ok(report.to_json()),
            Err(lift::Error::Log(glint_log::Error::Io { source, .. })) if source.kind() == std::io::ErrorKind::NotFound && attempt < LIFT_ATTEMPTS_MAX => {}
            Err(e) => return Err(LiftFailure::Failed(e.to_string())),
        }
    }
}

/// The engine from `path` and the log sequence number it reflects; a fresh engine and 0 when
/// there is none, it was made under other rules, or it is damaged (then it is set aside as
/// `checkpoint.old` and the reason printed).
fn restore(path: &Path, config: &EngineConfig, taxonomy: &Taxonomy) -> (Engine, u64) {
    let fresh = || (Engine::new(config.clone(), taxonomy.clone()), 0);
    let Ok(file) = File::open(path) else { return fresh() };
    let mut reader = std::io::BufReader::new(file);
    let mut seq = [0u8; 8];
    let restored = std::io::Read::read_exact(&mut reader, &mut seq)
        .map_err(|e| e.to_string())
        .and_then(|()| Engine::restore(config.clone(), taxonomy.clone(), reader).map_err(|e| e.to_string()));
    match restored {
        Ok(engine) => (engine, u64::from_le_bytes(seq)),
        Err(why) => {
            eprintln!("glint: engine checkpoint {} not used ({why}); replaying the whole log", path.display());
            let _ = std::fs::rename(path, path.with_extension("old"));
            fresh()
        }
    }
}

impl State {
    /// Write the engine's state and its log position, atomically; skipped when nothing
    /// changed since the last one.
    fn save_checkpoint(&mut self) -> std::io::Result<()> {
        let dir = self.checkpoint.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let tmp = self.checkpoint.with_extension("tmp");
        {
            let mut w = std::io::BufWriter::new(File::create(&tmp)?);
            w.write_all(&self.seq.to_le_bytes())?;
            self.engine.save(&mut w).map_err(std::io::Error::other)?;
            let f = w.into_inner().map_err(|e| e.into_error())?;
            f.sync_data()?;
        }
        std::fs::rename(&tmp, &self.checkpoint)?;
        File::open(dir)?.sync_all()?;
        // A damaged checkpoint set aside earlier may name erased shoppers: it goes too.
        let _ = std::fs::remove_file(self.checkpoint.with_extension("old"));
        self.saved_seq = self.seq;
        Ok(())
    }

    /// Queue the deliveries of new `sent` firings (durably), then append the new firings to
    /// the firing log (durably) — in that order; see the module docs. `received_ms` is when
    /// the event that caused them was received, for the event-to-outbox latency.
    fn record(&mut self, firings: Vec<Firing>, received_ms: Option<i64>) -> std::io::Result<()> {
        let mut batch = HashSet::new();
        let fresh: Vec<Firing> = firings.into_iter().filter(|f| !self.written.contains(&f.fire_id) && batch.insert(f.fire_id.clone())).collect();
        if fresh.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let deliveries: Vec<Delivery> = fresh
            .iter()
            .filter(|f| f.outcome == Outcome::Sent && self.deliver_max_age_ms.is_none_or(|age| f.at_ms >= now - age))
            .filter_map(|f| {
                let endpoint = self.webhooks.get(&f.moment)?;
                let payload = f.payload.clone().unwrap_or_else(|| firing_json(f));
                Some(Delivery { fire_id: f.fire_id.clone(), endpoint: endpoint.clone(), user: f.user.clone(), payload, enqueued_ms: now })
            })
            .collect();
        if !deliveries.is_empty() {
            let n = deliveries.len();
            self.outbox.enqueue(deliveries).map_err(std::io::Error::other)?;
            if let Some(received) = received_ms {
                let took = (now_ms() - received).max(0) as f64 / 1000.0;
                for _ in 0..n {
                    self.metrics.event_to_outbox_seconds.observe(took);
                }
            }
        }
        for f in &fresh {
            serde_json::to_writer(&mut self.firings, &firing_json(f))?;
            self.firings.write_all(b"\n")?;
            self.metrics.firings.get_or_create(&crate::metrics::FiringLabel { moment: f.moment.clone(), outcome: f.outcome.as_str() }).inc();
        }
        self.firings.sync_data()?;
        for f in fresh {
            self.written.insert(f.fire_id);
        }
        Ok(())
    }

    /// Forget shoppers: the engine's state of them and the outbox's records.
    fn erase(&mut self, ids: &[String]) -> Result<usize, String> {
        let canonical: Vec<String> = ids.iter().map(|id| self.engine.canonical_id(id).to_string()).collect();
        let mut all: Vec<String> = ids.to_vec();
        all.extend(canonical);
        all.sort();
        all.dedup();
        let forgotten = self.engine.forget(&all);
        self.outbox.erase_running(&all).map_err(|e| e.to_string())?;
        // The old checkpoint still holds the shopper: replace it now.
        self.save_checkpoint().map_err(|e| e.to_string())?;
        Ok(forgotten)
    }

    fn decision(&self, user: &str) -> Value {
        let canonical = self.engine.canonical_id(user).to_string();
        let (Some(p), Some(intent)) = (self.engine.profile(user), self.engine.intent(user)) else {
            return json!({"user": user, "known": false, "suggested": null});
        };
        let pending: Vec<Value> = self.engine.pending_for(user).into_iter().map(|(m, due)| json!({"moment": m, "due": format_rfc3339_ms(due)})).collect();
        // Active: on-site nudges sent and still inside their KPI window — show these now.
        let active: Vec<Value> = self.engine.active_for(user, self.engine.now_ms()).into_iter().map(|(m, at)| json!({"moment": m, "since": format_rfc3339_ms(at)})).collect();
        let suggested = active.first().or(pending.first()).and_then(|m| m.get("moment")).cloned().unwrap_or(Value::Null);
        json!({
            "user": canonical,
            "known": true,
            "intent": intent_json(&intent),
            "cart": {"items": p.cart_items(), "value": p.cart_value()},
            "session": {"product_views": p.session.count(glint_event::Builtin::ProductViewed)},
            "active": active,
            "pending": pending,
            "suggested": suggested,
        })
    }
}

/// What tells a changed file: its modification time and length.
fn file_stamp(path: &Path) -> Option<(std::time::SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// Check the model file every `interval`; load a changed one and hand it to the engine.
/// Ends when the engine does.
fn watch_model(path: &Path, mut stamp: Option<(std::time::SystemTime, u64)>, interval: Duration, tx: &SyncSender<Job>, metrics: &Metrics) {
    loop {
        std::thread::sleep(interval);
        let now = file_stamp(path);
        if now.is_none() || now == stamp {
            continue;
        }
        stamp = now;
        match load_intent_model(path) {
            Ok(model) => {
                if tx.send(Job::SetModel(Arc::new(model))).is_err() {
                    return;
                }
            }
            Err(e) => {
                metrics.intent_model_errors.inc();
                eprintln!("glint: {e}; keeping the model in use");
            }
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn run(mut st: State, rx: &Receiver<Job>, lateness_ms: i64, wall_clock: bool, checkpoint_every: Duration) {
    // Event time the engine has been advanced to by the wall clock: windows up to here are
    // closed, so an event before it is late.
    let mut watermark = if wall_clock { now_ms() - lateness_ms } else { i64::MIN };
    let mut last_checkpoint = std::time::Instant::now();
    let mut last_drift = std::time::Instant::now();
    loop {
        let job = match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(job) => Some(job),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let mut out = Vec::new();
        let mut received = None;
        match job {
            Some(Job::Events(events, seq)) => {
                st.seq = st.seq.max(seq);
                for e in &events {
                    // Late: behind the watermark (wall clock, less the lateness) or, without
                    // the wall clock, that far behind the latest event time.
                    let horizon = if wall_clock { watermark } else { st.engine.now_ms().saturating_sub(lateness_ms) };
                    if e.time_ms < horizon {
                        st.metrics.late_events.inc();
                        continue;
                    }
                    out.extend(st.engine.apply(e));
                    received = Some(received.map_or(e.received_ms, |r: i64| r.min(e.received_ms)));
                }
            }
            Some(Job::Decide(user, reply)) => {
                let _ = reply.send(st.decision(&user));
            }
            Some(Job::Erase(ids, reply)) => {
                let _ = reply.send(st.erase(&ids));
            }
            Some(Job::Snapshot(reply)) => {
                // Every earlier job's firings were written (and synced) at the end of its turn.
                let _ = reply.send(st.firings.metadata().map(|m| Snapshot { seq: st.seq, firing_bytes: m.len() }));
            }
            Some(Job::SetModel(model)) => {
                if let Some(old) = st.engine.model() {
                    st.metrics.intent_model.get_or_create(&crate::metrics::ModelLabel { model: old.id().to_string() }).set(0);
                }
                st.metrics.intent_model.get_or_create(&crate::metrics::ModelLabel { model: model.id().to_string() }).set(1);
                st.metrics.intent_model_loads.inc();
                eprintln!("glint: intent model {} loaded", model.id());
                st.engine.set_model(Some(model));
            }
            None => {}
        }
        if last_drift.elapsed() >= Duration::from_secs(1) {
            last_drift = std::time::Instant::now();
            if let Some(report) = st.engine.drift() {
                st.metrics.observe_drift(&report);
            }
        }
        if wall_clock {
            // The watermark: event time also advances with the wall clock, less the lateness.
            watermark = watermark.max(now_ms() - lateness_ms);
            if watermark > st.engine.now_ms() {
                out.extend(st.engine.advance_to(watermark));
            }
        }
        if let Err(e) = st.record(out, received) {
            eprintln!("glint: recording firings in {} failed: {e}", st.path.display());
        }
        if last_checkpoint.elapsed() >= checkpoint_every && st.seq != st.saved_seq {
            last_checkpoint = std::time::Instant::now();
            if let Err(e) = st.save_checkpoint() {
                eprintln!("glint: writing the engine checkpoint {} failed: {e}", st.checkpoint.display());
            }
        }
    }
}
