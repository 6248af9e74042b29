//! The live engine: moments recognised as events arrive, the firing log, and decisions.
//!
//! One thread owns the [`Engine`]. At start it replays the log, so its state is what replay
//! would give (firings already in the firing log are not written again: fire ids are
//! deterministic). Then the log writer hands it every batch once it is durable. Event time
//! advances with the events and, every second, with the wall clock minus the allowed lateness;
//! an event older than that watermark is stored and counted as late, but not applied, so it
//! cannot reopen a closed window — and replay of on-time traffic matches what ran live.
//! Firings are appended to `DATA/firings.jsonl` and fsync'd.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::time::Duration;

use glint_engine::{Engine, EngineConfig, Fact, Firing};
use glint_event::time::format_rfc3339_ms;
use glint_event::{Event, Taxonomy};
use serde_json::{Map, Value, json};
use tokio::sync::oneshot;

/// Batches waiting for the engine; the writer blocks briefly when the engine falls behind
/// rather than dropping events, since each one was already acknowledged.
const LIVE_QUEUE_DEPTH_MAX: usize = 256;

/// A firing as one line of the firing log (keys sort, so the bytes are deterministic).
pub fn firing_json(f: &Firing) -> Value {
    let values: Map<String, Value> = f.receipt.values.iter().map(|(k, v)| (k.clone(), fact_json(v))).collect();
    let reasons: Vec<Value> = f.receipt.reasons.iter().map(|(s, c)| json!({"signal": s, "contribution": c})).collect();
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
            "intent": {"p": f.receipt.intent, "reasons": reasons},
            "consent": {"purpose": f.receipt.consent_purpose, "granted": f.receipt.consent_granted},
            "correlation": f.receipt.correlation,
            "rule_version": f.receipt.rule_version,
        },
    })
}

fn fact_json(v: &Fact) -> Value {
    match v {
        Fact::Num(n) => json!(n),
        Fact::Text(t) => json!(t),
        Fact::Bool(b) => json!(b),
    }
}

enum Job {
    Events(Vec<Event>),
    Decide(String, oneshot::Sender<Value>),
}

/// A handle to the live engine thread.
#[derive(Clone, Debug)]
pub(crate) struct Live {
    tx: SyncSender<Job>,
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
}

struct State {
    engine: Engine,
    firings: File,
    path: PathBuf,
    written: HashSet<String>,
    late: u64,
}

impl Live {
    /// Replay `history` (the log's events in order) into a fresh engine, then start the thread.
    pub(crate) fn start(dir: &Path, config: LiveConfig, taxonomy: Taxonomy, history: impl Iterator<Item = Event>) -> std::io::Result<Live> {
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
        let mut st = State { engine: Engine::new(config.engine.clone(), taxonomy), firings, path, written, late: 0 };
        let mut replayed = Vec::new();
        for e in history {
            replayed.extend(st.engine.apply(&e));
        }
        st.record(replayed)?;
        let (tx, rx) = sync_channel(LIVE_QUEUE_DEPTH_MAX);
        std::thread::Builder::new().name("glint-engine".into()).spawn(move || run(st, &rx, config.lateness_ms))?;
        Ok(Live { tx })
    }

    /// Hand durable events to the engine (blocks only while the engine's queue is full).
    pub(crate) fn events(&self, events: Vec<Event>) {
        let _ = self.tx.send(Job::Events(events));
    }

    /// What the engine knows of a shopper now: intent, stage, cart, pending moments.
    pub(crate) async fn decide(&self, user: String) -> Option<Value> {
        let (reply, rx) = oneshot::channel();
        self.tx.try_send(Job::Decide(user, reply)).ok()?;
        rx.await.ok()
    }
}

impl State {
    fn record(&mut self, firings: Vec<Firing>) -> std::io::Result<()> {
        let mut wrote = false;
        for f in firings {
            if self.written.insert(f.fire_id.clone()) {
                serde_json::to_writer(&mut self.firings, &firing_json(&f))?;
                self.firings.write_all(b"\n")?;
                wrote = true;
            }
        }
        if wrote {
            self.firings.sync_data()?;
        }
        Ok(())
    }

    fn decision(&self, user: &str) -> Value {
        let canonical = self.engine.canonical_id(user).to_string();
        let Some(p) = self.engine.profile(user) else {
            return json!({"user": user, "known": false, "suggested": null});
        };
        let (intent, reasons) = p.intent(self.engine.taxonomy());
        let stage = glint_engine::intent_stage(intent);
        let pending: Vec<Value> = self.engine.pending_for(user).into_iter().map(|(m, due)| json!({"moment": m, "due": format_rfc3339_ms(due)})).collect();
        let suggested = pending.first().and_then(|m| m.get("moment")).cloned().unwrap_or(Value::Null);
        json!({
            "user": canonical,
            "known": true,
            "intent": {"p": intent, "stage": stage, "reasons": reasons.iter().map(|(s, c)| json!({"signal": s, "contribution": c})).collect::<Vec<_>>()},
            "cart": {"items": p.cart_items(), "value": p.cart_value()},
            "session": {"product_views": p.session.count(glint_event::Builtin::ProductViewed)},
            "pending": pending,
            "suggested": suggested,
        })
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn run(mut st: State, rx: &Receiver<Job>, lateness_ms: i64) {
    loop {
        let job = match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(job) => Some(job),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let mut out = Vec::new();
        match job {
            Some(Job::Events(events)) => {
                for e in &events {
                    if e.time_ms < st.engine.now_ms().saturating_sub(lateness_ms) {
                        st.late += 1;
                        continue;
                    }
                    out.extend(st.engine.apply(e));
                }
            }
            Some(Job::Decide(user, reply)) => {
                let _ = reply.send(st.decision(&user));
            }
            None => {}
        }
        // The watermark: event time also advances with the wall clock, less the lateness.
        let watermark = now_ms() - lateness_ms;
        if watermark > st.engine.now_ms() {
            out.extend(st.engine.advance_to(watermark));
        }
        if let Err(e) = st.record(out) {
            eprintln!("glint: writing {} failed: {e}", st.path.display());
        }
    }
}
