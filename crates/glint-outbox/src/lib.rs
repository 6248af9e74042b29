//! Glint's durable webhook outbox: firings with a webhook action become signed HTTP POSTs,
//! delivered at most once per endpoint as far as the outbox can know.
//!
//! [`Outbox`] owns a directory (the server passes `DATA/outbox`). [`Outbox::enqueue`] appends
//! [`Delivery`]s to the journal and fsyncs before it returns; [`Outbox::start`] runs one lane
//! per [`Endpoint`] on a tokio runtime, with at most `concurrency` requests in flight each, and
//! journals every result. Requests are signed per Standard Webhooks ([`signature`]): the
//! `webhook-id` is the firing's fire id. [`Outbox::summary`], [`Outbox::dead_letters`],
//! [`Outbox::redrive`] and [`Outbox::erase`] work on the directory alone, for the CLI.
//!
//! ```
//! use glint_outbox::{Delivery, Endpoint, Outbox, signature::Secret};
//! let dir = tempfile::tempdir().unwrap();
//! let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
//! let crm = Endpoint::new("crm", "http://127.0.0.1:9/hooks", secret);
//! let outbox = Outbox::open(dir.path(), vec![crm]).unwrap();
//! let delivery = Delivery {
//!     fire_id: "4f1c0a9e".into(),
//!     endpoint: "crm".into(),
//!     user: "shopper-1".into(),
//!     payload: serde_json::json!({"type": "moment.cart_wobble", "data": {"user": "shopper-1"}}),
//!     enqueued_ms: 1_700_000_000_000,
//! };
//! assert_eq!(outbox.enqueue(vec![delivery.clone()]).unwrap(), 1); // durable now
//! assert_eq!(outbox.enqueue(vec![delivery]).unwrap(), 0); // the same firing is not queued twice
//! // outbox.start(&tokio::runtime::Handle::current()) would now begin delivery.
//! assert_eq!(Outbox::summary(dir.path()).unwrap().endpoints[0].pending, 1);
//! ```
//!
//! # Delivery semantics across crashes
//!
//! - **Accepted means durable.** `enqueue` returns `Ok` only after the `enqueued` records are
//!   on disk (`fdatasync`); they survive `kill -9` and power loss. After an `Err`, part of the
//!   batch may be durable: enqueue the same batch again (idempotent on (fire id, endpoint)).
//! - **Nothing is sent before it is durable**, and nothing delivered is sent again: once the
//!   `delivered` record of a (fire id, endpoint) is durable, the outbox never sends it again,
//!   also after restarts (the marker is kept [`DELIVERED_KEEP_MS`]).
//! - **The one gap is the attempt whose outcome was not yet durable.** Between the receiver's
//!   2xx and the fsync of `delivered` (one group commit, usually milliseconds), or while a
//!   request is in flight, a crash leaves the delivery pending; after restart it is sent
//!   again with the *same* `webhook-id` (and a fresh `webhook-timestamp` and signature). On
//!   the wire that is at-least-once; a receiver that dedups by `webhook-id`, as the Standard
//!   Webhooks spec asks, sees each firing exactly once.
//! - **Attempts count per process.** Failed attempts are not journaled one by one, so after a
//!   restart a pending delivery starts again at attempt 1 (`max_attempts` bounds attempts
//!   within one run; a crash loop cannot dead-letter anything).
//! - **Dead letters keep their body.** A redrive (a `redriven` record) makes them pending
//!   again with fresh attempts: [`Outbox::redrive`] from the CLI while no outbox runs (picked
//!   up by the next [`Outbox::open`]), or [`Outbox::redrive_running`] on the running one.
//! - **A failed write or fsync poisons the outbox**: every later call fails with
//!   [`OutboxError::Poisoned`] (the kernel may have dropped the pages); reopen to recover
//!   from what is on disk.
//!
//! Erasure ([`Outbox::erase`], [`Outbox::erase_running`]) rewrites the journal without any
//! record whose `user` is erased, and cancels their pending deliveries; so `user` must be the
//! canonical shopper id, and a payload should not name other shoppers.
//!
//! Only `http://` endpoints are supported: TLS is left to a reverse proxy (or future work),
//! which keeps TLS stacks out of the build. The journal format and recovery rules are
//! documented in `journal.rs`, delivery and backoff in `delivery.rs`.

mod delivery;
mod journal;
pub mod signature;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use delivery::{Lane, Settlement, Task};
pub use journal::DELIVERED_KEEP_MS;
use journal::{Applied, Book, Record, State, Store};
use signature::Secret;

/// Largest webhook body, serialised. The Standard Webhooks spec advises staying under 20 KB;
/// a firing's payload is far smaller, so anything near this is a bug upstream.
pub const BODY_BYTES_MAX: usize = 64 * 1024;

/// Longest fire id (it is a header value and a journal key).
pub const FIRE_ID_BYTES_MAX: usize = 128;

/// Longest endpoint name.
pub const ENDPOINT_NAME_BYTES_MAX: usize = 64;

/// Most attempts an endpoint may configure before a delivery is dead-lettered.
pub const ATTEMPTS_MAX: u32 = 100;

/// Most requests in flight an endpoint may configure.
pub const CONCURRENCY_MAX: usize = 256;

/// Jobs the journal thread takes into one group commit.
const BATCH_JOBS_MAX: usize = 4_096;

/// What went wrong in the outbox.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutboxError {
    /// The operating system refused a read, write, fsync, rename or lock.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A complete journal line fails its checksum or structure (a torn last line is cut
    /// instead, never reported).
    #[error("{path}: corrupt at line {line}: {why}; refusing to guess (move the file aside to start without it)")]
    Corrupt {
        /// The journal file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// Which check failed.
        why: String,
    },
    /// Another process holds this outbox directory.
    #[error("{0}: another glint process has this outbox open; stop it first (or act through it)")]
    Locked(PathBuf),
    /// A delivery names an endpoint that is not configured.
    #[error("firing {fire_id}: no webhook endpoint named {endpoint:?} is configured")]
    UnknownEndpoint {
        /// The endpoint name given.
        endpoint: String,
        /// The delivery's fire id.
        fire_id: String,
    },
    /// An endpoint's configuration is unusable.
    #[error("webhook endpoint {endpoint:?}: {why}")]
    InvalidEndpoint {
        /// The endpoint's name.
        endpoint: String,
        /// What is wrong.
        why: String,
    },
    /// A delivery is malformed (fire id or body).
    #[error("firing {fire_id:?}: {why}")]
    InvalidDelivery {
        /// The delivery's fire id.
        fire_id: String,
        /// What is wrong.
        why: String,
    },
    /// An earlier write or fsync failed; the outbox refuses work until it is reopened.
    #[error("the outbox is poisoned by an earlier failed write or fsync; restart to recover from disk")]
    Poisoned,
}

impl OutboxError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> OutboxError {
        OutboxError::Io { path: path.to_path_buf(), source }
    }

    /// A copy for the other callers of a failed group commit (`io::Error` is not `Clone`).
    fn duplicate(&self) -> OutboxError {
        match self {
            OutboxError::Io { path, source } => OutboxError::Io { path: path.clone(), source: std::io::Error::new(source.kind(), source.to_string()) },
            _ => OutboxError::Poisoned,
        }
    }
}

/// A webhook receiver and how to deliver to it.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// The name deliveries refer to (`[A-Za-z0-9_-]`, at most [`ENDPOINT_NAME_BYTES_MAX`]).
    pub name: String,
    /// `http://host:port/path`. No TLS: put a reverse proxy in front for `https`.
    pub url: String,
    /// The signing key shared with the receiver.
    pub secret: Secret,
    /// Limit for one attempt: connecting, sending, and reading the answer.
    pub timeout: Duration,
    /// Attempts before a delivery becomes a dead letter (1..=[`ATTEMPTS_MAX`]).
    pub max_attempts: u32,
    /// Requests in flight at most (1..=[`CONCURRENCY_MAX`]).
    pub concurrency: usize,
    /// Backoff cap after the first failure; it doubles per failure…
    pub backoff_base: Duration,
    /// …up to this. The actual delay is uniform in `0..=cap` (full jitter).
    pub backoff_max: Duration,
}

impl Endpoint {
    /// An endpoint with the defaults: 5 s timeout, 8 attempts, 4 in flight, backoff from 1 s
    /// doubling to 10 minutes.
    pub fn new(name: impl Into<String>, url: impl Into<String>, secret: Secret) -> Endpoint {
        Endpoint {
            name: name.into(),
            url: url.into(),
            secret,
            timeout: Duration::from_secs(5),
            max_attempts: 8,
            concurrency: 4,
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(600),
        }
    }

    /// The URL as a hyper `Uri`, checked along with every other field.
    fn check(&self) -> Result<hyper::Uri, OutboxError> {
        let bad = |why: String| OutboxError::InvalidEndpoint { endpoint: self.name.clone(), why };
        if self.name.is_empty() || self.name.len() > ENDPOINT_NAME_BYTES_MAX || !self.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return Err(bad(format!("the name must be 1..={ENDPOINT_NAME_BYTES_MAX} characters of A-Z a-z 0-9 _ -")));
        }
        let uri: hyper::Uri = self.url.parse().map_err(|e| bad(format!("url {:?}: {e}", self.url)))?;
        if uri.scheme_str() != Some("http") || uri.authority().is_none() {
            return Err(bad(format!("url {:?}: only http://host[:port]/path is supported (terminate TLS in a reverse proxy)", self.url)));
        }
        if self.timeout.is_zero() {
            return Err(bad("timeout must be above zero".into()));
        }
        if !(1..=ATTEMPTS_MAX).contains(&self.max_attempts) {
            return Err(bad(format!("max_attempts {} is outside 1..={ATTEMPTS_MAX}", self.max_attempts)));
        }
        if !(1..=CONCURRENCY_MAX).contains(&self.concurrency) {
            return Err(bad(format!("concurrency {} is outside 1..={CONCURRENCY_MAX}", self.concurrency)));
        }
        if self.backoff_base > self.backoff_max {
            return Err(bad(format!("backoff_base {:?} exceeds backoff_max {:?}", self.backoff_base, self.backoff_max)));
        }
        Ok(uri)
    }
}

/// One firing to deliver to one endpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    /// The firing's id; sent as `webhook-id`, the receiver's idempotency key. Visible ASCII
    /// without `.` (the spec's rule for signed ids), at most [`FIRE_ID_BYTES_MAX`] bytes.
    pub fire_id: String,
    /// The [`Endpoint::name`] to deliver to.
    pub endpoint: String,
    /// The canonical shopper id, so erasure can find the delivery.
    pub user: String,
    /// The webhook body, sent as compact JSON (these exact bytes are journaled and signed).
    /// The spec suggests `{"type": …, "timestamp": …, "data": {…}}`.
    pub payload: serde_json::Value,
    /// When the engine decided the firing (epoch ms, wall clock): latency is measured from here.
    pub enqueued_ms: i64,
}

impl Delivery {
    /// The journal record, or what is wrong with the delivery.
    fn into_record(self) -> Result<Record, OutboxError> {
        let bad = |why: String| OutboxError::InvalidDelivery { fire_id: self.fire_id.clone(), why };
        if self.fire_id.is_empty() || self.fire_id.len() > FIRE_ID_BYTES_MAX {
            return Err(bad(format!("a fire id is 1..={FIRE_ID_BYTES_MAX} bytes")));
        }
        if !self.fire_id.bytes().all(|b| b.is_ascii_graphic() && b != b'.') {
            return Err(bad("a fire id is visible ASCII without '.' (it is signed as `id.timestamp.body`)".into()));
        }
        if self.user.is_empty() {
            return Err(bad("the shopper id (user) is empty".into()));
        }
        // Compact serialisation escapes control characters, so the body is one line.
        let body = serde_json::to_string(&self.payload).map_err(|e| bad(format!("payload: {e}")))?;
        if body.len() > BODY_BYTES_MAX {
            return Err(bad(format!("payload is {} bytes serialised, above the limit of {BODY_BYTES_MAX}", body.len())));
        }
        Ok(Record::Enqueued { endpoint: self.endpoint, fire_id: self.fire_id, user: self.user, enqueued_ms: self.enqueued_ms, body: Arc::from(body) })
    }
}

/// Counters for metrics: totals since open (`enqueued`, `delivered`, `retried`, `dead`) and
/// gauges (`pending`, `in_flight`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutboxStats {
    /// Deliveries accepted (duplicates not counted).
    pub enqueued: u64,
    /// Deliveries answered 2xx and journaled.
    pub delivered: u64,
    /// Failed attempts that were scheduled again.
    pub retried: u64,
    /// Deliveries that became dead letters.
    pub dead: u64,
    /// Deliveries not yet settled (queued, backing off or in flight).
    pub pending: u64,
    /// Requests in flight now.
    pub in_flight: u64,
}

impl std::ops::AddAssign for OutboxStats {
    fn add_assign(&mut self, o: OutboxStats) {
        self.enqueued += o.enqueued;
        self.delivered += o.delivered;
        self.retried += o.retried;
        self.dead += o.dead;
        self.pending += o.pending;
        self.in_flight += o.in_flight;
    }
}

/// Per endpoint, what the journal holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndpointSummary {
    /// The endpoint's name (also endpoints no longer configured, while they hold deliveries).
    pub endpoint: String,
    /// Deliveries waiting, backing off or in flight.
    pub pending: u64,
    /// Delivered firings still remembered (see [`DELIVERED_KEEP_MS`]).
    pub delivered: u64,
    /// Dead letters.
    pub dead: u64,
    /// Enqueue time of the oldest pending delivery, epoch ms.
    pub oldest_pending_enqueued_ms: Option<i64>,
    /// Its age when the summary was taken.
    pub oldest_pending_age_ms: Option<i64>,
}

/// What an outbox directory holds, per endpoint (sorted by name).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// One entry per endpoint named in the journal.
    pub endpoints: Vec<EndpointSummary>,
}

/// A delivery that ran out of attempts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetter {
    /// The firing's id.
    pub fire_id: String,
    /// The endpoint it was for.
    pub endpoint: String,
    /// The shopper.
    pub user: String,
    /// When it was enqueued, epoch ms.
    pub enqueued_ms: i64,
    /// Attempts made in the run that gave up.
    pub attempts: u32,
    /// The last HTTP status, when there was an answer.
    pub status: Option<u16>,
    /// The last error (`HTTP 500: …`, a connection error, or a timeout).
    pub error: String,
    /// When it was dead-lettered, epoch ms.
    pub dead_ms: i64,
}

type LatencyObserver = Box<dyn Fn(&str, Duration) + Send + Sync>;

/// Work for the journal thread, the journal's only writer.
pub(crate) enum Job {
    Enqueue { records: Vec<Record>, reply: SyncSender<Result<usize, OutboxError>> },
    Settle { lane: usize, fire_id: Arc<str>, enqueued_ms: i64, settlement: Settlement },
    Redrive { endpoint: Option<String>, fire_ids: Vec<String>, reply: SyncSender<Result<usize, OutboxError>> },
    Erase { users: Vec<String>, reply: SyncSender<Result<usize, OutboxError>> },
    Stop,
}

/// What the lanes, the journal thread and the handle share.
pub(crate) struct Shared {
    pub(crate) lanes: Vec<Lane>,
    lane_by_name: HashMap<String, usize>,
    book: Mutex<Book>,
    pub(crate) jobs: Sender<Job>,
    poisoned: AtomicBool,
    latency_observer: RwLock<Option<LatencyObserver>>,
}

impl Shared {
    pub(crate) fn book(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The durable webhook outbox of one directory. Dropping it stops delivery (requests in
/// flight are abandoned and re-sent after the next open) and releases the directory.
pub struct Outbox {
    shared: Arc<Shared>,
    journal_thread: Option<std::thread::JoinHandle<()>>,
    dispatchers: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    torn_bytes_cut: u64,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox").field("endpoints", &self.shared.lane_by_name.keys().collect::<Vec<_>>()).field("stats", &self.stats()).finish_non_exhaustive()
    }
}

impl Outbox {
    /// Open (creating if needed) the outbox in `dir`, taking its lock, recovering the journal
    /// (cutting a torn last line), applying redrives written since, compacting when most of
    /// the journal is settled, and queueing every pending delivery for its endpoint.
    /// Deliveries for endpoints no longer configured stay pending (and in [`Outbox::summary`]).
    ///
    /// # Errors
    ///
    /// [`OutboxError::InvalidEndpoint`] (naming the endpoint and the field),
    /// [`OutboxError::Locked`], [`OutboxError::Corrupt`] (file and line), [`OutboxError::Io`].
    pub fn open(dir: &Path, endpoints: Vec<Endpoint>) -> Result<Outbox, OutboxError> {
        let mut lanes = Vec::with_capacity(endpoints.len());
        let mut lane_by_name = HashMap::new();
        let seed = now_ms() as u64;
        for (idx, endpoint) in endpoints.into_iter().enumerate() {
            let uri = endpoint.check()?;
            if lane_by_name.insert(endpoint.name.clone(), idx).is_some() {
                return Err(OutboxError::InvalidEndpoint { endpoint: endpoint.name, why: "configured twice".into() });
            }
            lanes.push(Lane::new(endpoint, uri, seed ^ (idx as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)));
        }
        let Some((mut store, mut book)) = Store::open(dir, true)? else { unreachable!("Store::open creates the directory") };
        if store.should_compact(&book) {
            store.rewrite(&mut book, now_ms())?;
        }
        let now = Instant::now();
        for (endpoint, fire_id, entry) in book.ordered() {
            if let (State::Pending, Some(body), Some(&idx)) = (&entry.state, &entry.body, lane_by_name.get(endpoint)) {
                lanes[idx].counters.pending.fetch_add(1, Relaxed);
                lanes[idx].push(Task { fire_id: Arc::from(fire_id), body: body.clone(), enqueued_ms: entry.enqueued_ms, failures: 0 }, now);
            }
        }
        let (jobs, rx) = channel();
        let torn_bytes_cut = store.torn_bytes_cut;
        let shared = Arc::new(Shared { lanes, lane_by_name, book: Mutex::new(book), jobs, poisoned: AtomicBool::new(false), latency_observer: RwLock::new(None) });
        let thread_shared = shared.clone();
        let journal_thread = std::thread::Builder::new()
            .name("glint-outbox-journal".into())
            .spawn(move || journal_thread(&thread_shared, store, &rx))
            .map_err(|e| OutboxError::io(dir, e))?;
        Ok(Outbox { shared, journal_thread: Some(journal_thread), dispatchers: Mutex::new(Vec::new()), torn_bytes_cut })
    }

    /// Bytes of a torn last line cut when the journal was opened (0 after a clean stop).
    pub fn torn_bytes_cut(&self) -> u64 {
        self.torn_bytes_cut
    }

    /// Accept deliveries: validate them all, skip any (fire id, endpoint) already known (also
    /// delivered or dead ones, and repeats within the batch), append the rest to the journal
    /// and fsync. Returns how many were new. Delivery itself happens on the lanes; this never
    /// waits on the network.
    ///
    /// # Blocking
    ///
    /// Blocks the calling thread for one group-committed fsync; from async code, call it in
    /// `spawn_blocking` (or from a dedicated thread, as the live engine is).
    ///
    /// # Errors
    ///
    /// [`OutboxError::UnknownEndpoint`] or [`OutboxError::InvalidDelivery`] for the first bad
    /// delivery (then nothing of the batch is written); [`OutboxError::Io`] or
    /// [`OutboxError::Poisoned`] if the journal cannot be written.
    pub fn enqueue(&self, deliveries: Vec<Delivery>) -> Result<usize, OutboxError> {
        let mut records = Vec::with_capacity(deliveries.len());
        for d in deliveries {
            if !self.shared.lane_by_name.contains_key(&d.endpoint) {
                return Err(OutboxError::UnknownEndpoint { endpoint: d.endpoint, fire_id: d.fire_id });
            }
            records.push(d.into_record()?);
        }
        if records.is_empty() {
            return Ok(0);
        }
        self.ask(|reply| Job::Enqueue { records, reply })
    }

    /// Start delivering on `handle`: one dispatcher per endpoint. Calling it again does nothing.
    pub fn start(&self, handle: &tokio::runtime::Handle) {
        let mut dispatchers = self.dispatchers.lock().unwrap_or_else(|p| p.into_inner());
        if !dispatchers.is_empty() {
            return;
        }
        // The client's pool spawns onto the runtime, so it is built inside it.
        let _guard = handle.enter();
        let client = delivery::client();
        for idx in 0..self.shared.lanes.len() {
            dispatchers.push(handle.spawn(delivery::run_lane(self.shared.clone(), idx, client.clone())));
        }
    }

    /// Counters summed over endpoints.
    pub fn stats(&self) -> OutboxStats {
        let mut total = OutboxStats::default();
        for lane in &self.shared.lanes {
            total += lane.counters.snapshot();
        }
        total
    }

    /// Counters per configured endpoint, in configuration order.
    pub fn stats_by_endpoint(&self) -> Vec<(String, OutboxStats)> {
        self.shared.lanes.iter().map(|l| (l.endpoint.name.clone(), l.counters.snapshot())).collect()
    }

    /// Call `observer(endpoint, latency)` for every delivery once its `delivered` record is
    /// durable; latency runs from [`Delivery::enqueued_ms`] (for a Prometheus histogram).
    /// It runs on the journal thread, so it must be quick. Replaces any earlier observer.
    pub fn set_latency_observer(&self, observer: impl Fn(&str, Duration) + Send + Sync + 'static) {
        *self.shared.latency_observer.write().unwrap_or_else(|p| p.into_inner()) = Some(Box::new(observer));
    }

    /// Make dead letters of this running outbox pending again (journaled, then queued): those
    /// of `endpoint` (all when `None`) whose fire id is in `fire_ids` (all when empty).
    /// Returns how many.
    ///
    /// # Errors
    ///
    /// [`OutboxError::Io`] or [`OutboxError::Poisoned`].
    pub fn redrive_running(&self, endpoint: Option<&str>, fire_ids: &[String]) -> Result<usize, OutboxError> {
        self.ask(|reply| Job::Redrive { endpoint: endpoint.map(str::to_string), fire_ids: fire_ids.to_vec(), reply })
    }

    /// Erase shoppers from this running outbox: cancel their pending deliveries and rewrite
    /// the journal without any record of them. Returns how many deliveries went.
    ///
    /// # Errors
    ///
    /// [`OutboxError::Io`] or [`OutboxError::Poisoned`].
    pub fn erase_running(&self, users: &[String]) -> Result<usize, OutboxError> {
        self.ask(|reply| Job::Erase { users: users.to_vec(), reply })
    }

    fn ask(&self, job: impl FnOnce(SyncSender<Result<usize, OutboxError>>) -> Job) -> Result<usize, OutboxError> {
        if self.shared.poisoned.load(Relaxed) {
            return Err(OutboxError::Poisoned);
        }
        let (reply, answer) = sync_channel(1);
        self.shared.jobs.send(job(reply)).map_err(|_| OutboxError::Poisoned)?;
        answer.recv().map_err(|_| OutboxError::Poisoned)?
    }

    /// What the outbox in `dir` holds, per endpoint. Reads the journal only (no lock, no
    /// repair), so it works beside a running server; a torn last line is ignored.
    ///
    /// # Errors
    ///
    /// [`OutboxError::Corrupt`] or [`OutboxError::Io`]. A missing directory is an empty summary.
    pub fn summary(dir: &Path) -> Result<Summary, OutboxError> {
        let book = journal::read_book(dir)?;
        let now = now_ms();
        let mut by_name: BTreeMap<&str, EndpointSummary> = BTreeMap::new();
        for (endpoint, m) in &book.endpoints {
            let s = by_name.entry(endpoint).or_insert_with(|| EndpointSummary { endpoint: endpoint.clone(), ..EndpointSummary::default() });
            for e in m.values() {
                match e.state {
                    State::Pending => {
                        s.pending += 1;
                        s.oldest_pending_enqueued_ms = Some(s.oldest_pending_enqueued_ms.map_or(e.enqueued_ms, |o| o.min(e.enqueued_ms)));
                    }
                    State::Delivered { .. } => s.delivered += 1,
                    State::Dead { .. } => s.dead += 1,
                }
            }
            s.oldest_pending_age_ms = s.oldest_pending_enqueued_ms.map(|t| now.saturating_sub(t).max(0));
        }
        Ok(Summary { endpoints: by_name.into_values().collect() })
    }

    /// The dead letters in `dir`, oldest first. Read-only, like [`Outbox::summary`].
    ///
    /// # Errors
    ///
    /// [`OutboxError::Corrupt`] or [`OutboxError::Io`].
    pub fn dead_letters(dir: &Path) -> Result<Vec<DeadLetter>, OutboxError> {
        let book = journal::read_book(dir)?;
        let mut out: Vec<DeadLetter> = book
            .ordered()
            .into_iter()
            .filter_map(|(endpoint, fire_id, e)| match &e.state {
                State::Dead { attempts, status, error, at_ms } => Some(DeadLetter {
                    fire_id: fire_id.to_string(),
                    endpoint: endpoint.to_string(),
                    user: e.user.clone(),
                    enqueued_ms: e.enqueued_ms,
                    attempts: *attempts,
                    status: *status,
                    error: error.clone(),
                    dead_ms: *at_ms,
                }),
                _ => None,
            })
            .collect();
        out.sort_by_key(|d| d.dead_ms);
        Ok(out)
    }

    /// Mark dead letters in `dir` pending again (a durable `redriven` record), so the next
    /// [`Outbox::open`] delivers them: those of `endpoint` (all when `None`) whose fire id is in
    /// `fire_ids` (all when empty). Returns how many. For a running outbox use
    /// [`Outbox::redrive_running`].
    ///
    /// # Errors
    ///
    /// [`OutboxError::Locked`] while an outbox has `dir` open; [`OutboxError::Corrupt`],
    /// [`OutboxError::Io`].
    pub fn redrive(dir: &Path, endpoint: Option<&str>, fire_ids: &[String]) -> Result<usize, OutboxError> {
        let Some((mut store, mut book)) = Store::open(dir, false)? else { return Ok(0) };
        let records = redrive_records(&book, endpoint, fire_ids);
        store.append(&records)?;
        for r in &records {
            book.apply(r);
        }
        Ok(records.len())
    }

    /// Erase shoppers from the outbox in `dir`: rewrite the journal (temp, fsync, rename, fsync
    /// directory) without any record of them. Returns how many deliveries went. For a running
    /// outbox use [`Outbox::erase_running`].
    ///
    /// # Errors
    ///
    /// [`OutboxError::Locked`] while an outbox has `dir` open; [`OutboxError::Corrupt`],
    /// [`OutboxError::Io`].
    pub fn erase(dir: &Path, users: &[String]) -> Result<usize, OutboxError> {
        let Some((mut store, mut book)) = Store::open(dir, false)? else { return Ok(0) };
        let users: HashSet<&str> = users.iter().map(String::as_str).collect();
        let n_removed = book.remove_users(&users);
        // Rewrite even when the book held none of them: a line the fold ignored may name them.
        store.rewrite(&mut book, now_ms())?;
        Ok(n_removed)
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        for d in self.dispatchers.get_mut().unwrap_or_else(|p| p.into_inner()).drain(..) {
            d.abort();
        }
        let _ = self.shared.jobs.send(Job::Stop);
        if let Some(t) = self.journal_thread.take() {
            // The thread owns the lock file: joining it releases the directory.
            let _ = t.join();
        }
    }
}

/// `redriven` records for the matching dead letters.
fn redrive_records(book: &Book, endpoint: Option<&str>, fire_ids: &[String]) -> Vec<Record> {
    let wanted: HashSet<&str> = fire_ids.iter().map(String::as_str).collect();
    let at_ms = now_ms();
    book.ordered()
        .into_iter()
        .filter(|(ep, id, e)| matches!(e.state, State::Dead { .. }) && endpoint.is_none_or(|want| want == *ep) && (wanted.is_empty() || wanted.contains(id)))
        .map(|(ep, id, e)| Record::Redriven { endpoint: ep.to_string(), fire_id: id.to_string(), user: e.user.clone(), at_ms })
        .collect()
}

/// Something to do once the records before it are durable.
enum After {
    Reply(SyncSender<Result<usize, OutboxError>>, usize),
}

/// The journal's single writer: takes every job waiting, writes their records with one fsync
/// (group commit), then applies them to the book and the lanes, then answers.
fn journal_thread(shared: &Shared, mut store: Store, rx: &Receiver<Job>) {
    let mut jobs = Vec::new();
    while let Ok(first) = rx.recv() {
        jobs.push(first);
        while jobs.len() < BATCH_JOBS_MAX {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        if !run_batch(shared, &mut store, &mut jobs) {
            return;
        }
    }
}

/// One group commit; false when the thread should stop.
fn run_batch(shared: &Shared, store: &mut Store, jobs: &mut Vec<Job>) -> bool {
    let mut records = Vec::new();
    let mut after = Vec::new();
    // Keys written in this batch, so duplicates within it are skipped too.
    let mut staged: HashSet<(String, String)> = HashSet::new();
    for job in jobs.drain(..) {
        if shared.poisoned.load(Relaxed) {
            match job {
                Job::Enqueue { reply, .. } | Job::Redrive { reply, .. } | Job::Erase { reply, .. } => {
                    let _ = reply.send(Err(OutboxError::Poisoned));
                }
                Job::Settle { .. } => {}
                Job::Stop => return false,
            }
            continue;
        }
        match job {
            Job::Enqueue { records: new, reply } => {
                let book = shared.book();
                let before = records.len();
                for r in new {
                    let Record::Enqueued { endpoint, fire_id, .. } = &r else { unreachable!("enqueue sends enqueued records") };
                    if !book.contains(endpoint, fire_id) && staged.insert((endpoint.clone(), fire_id.clone())) {
                        records.push(r);
                    }
                }
                after.push(After::Reply(reply, records.len() - before));
            }
            Job::Settle { lane, fire_id, enqueued_ms, settlement } => {
                let endpoint = shared.lanes[lane].endpoint.name.clone();
                let book = shared.book();
                // Gone when erased while in flight: its record must not come back.
                let Some(entry) = book.get(&endpoint, &fire_id).filter(|e| e.state == State::Pending) else { continue };
                let (user, fire_id, at_ms) = (entry.user.clone(), fire_id.to_string(), now_ms());
                records.push(match settlement {
                    Settlement::Delivered { attempts, status } => Record::Delivered { endpoint, fire_id, user, enqueued_ms, attempts, status, at_ms },
                    Settlement::Dead { attempts, status, error } => Record::Dead { endpoint, fire_id, user, attempts, status, error, at_ms },
                });
            }
            Job::Redrive { endpoint, fire_ids, reply } => {
                // Earlier records of the batch first, so a dead letter settled in it counts.
                if !commit(shared, store, &mut records, &mut after) {
                    let _ = reply.send(Err(OutboxError::Poisoned));
                    continue;
                }
                let new = redrive_records(&shared.book(), endpoint.as_deref(), &fire_ids);
                after.push(After::Reply(reply, new.len()));
                records.extend(new);
            }
            Job::Erase { users, reply } => {
                if !commit(shared, store, &mut records, &mut after) {
                    let _ = reply.send(Err(OutboxError::Poisoned));
                    continue;
                }
                let _ = reply.send(erase_live(shared, store, &users));
            }
            Job::Stop => {
                commit(shared, store, &mut records, &mut after);
                return false;
            }
        }
    }
    commit(shared, store, &mut records, &mut after);
    let mut book = shared.book();
    if !shared.poisoned.load(Relaxed) && store.should_compact(&book) && store.rewrite(&mut book, now_ms()).is_err() {
        // The rename may or may not have happened: only a reopen knows what is on disk.
        shared.poisoned.store(true, Relaxed);
    }
    true
}

/// Write and fsync `records`, then apply them and answer `after`; false if poisoned.
fn commit(shared: &Shared, store: &mut Store, records: &mut Vec<Record>, after: &mut Vec<After>) -> bool {
    if let Err(e) = store.append(records) {
        shared.poisoned.store(true, Relaxed);
        records.clear();
        for After::Reply(reply, _) in after.drain(..) {
            let _ = reply.send(Err(e.duplicate()));
        }
        return false;
    }
    let mut latencies = Vec::new();
    {
        let mut book = shared.book();
        let now_ms = now_ms();
        let now = Instant::now();
        for r in records.drain(..) {
            let applied = book.apply(&r);
            match (&r, applied) {
                (Record::Enqueued { endpoint, fire_id, enqueued_ms, body, .. }, Applied::Pending) => {
                    let Some(&idx) = shared.lane_by_name.get(endpoint) else { continue };
                    let lane = &shared.lanes[idx];
                    lane.counters.enqueued.fetch_add(1, Relaxed);
                    lane.counters.pending.fetch_add(1, Relaxed);
                    lane.push(Task { fire_id: Arc::from(fire_id.as_str()), body: body.clone(), enqueued_ms: *enqueued_ms, failures: 0 }, now);
                }
                (Record::Redriven { endpoint, fire_id, .. }, Applied::Pending) => {
                    let Some(&idx) = shared.lane_by_name.get(endpoint) else { continue };
                    let Some(entry) = book.get(endpoint, fire_id) else { continue };
                    let Some(body) = entry.body.clone() else { continue };
                    let lane = &shared.lanes[idx];
                    lane.counters.pending.fetch_add(1, Relaxed);
                    lane.push(Task { fire_id: Arc::from(fire_id.as_str()), body, enqueued_ms: entry.enqueued_ms, failures: 0 }, now);
                }
                (Record::Delivered { endpoint, enqueued_ms, .. }, Applied::Settled) => {
                    let Some(&idx) = shared.lane_by_name.get(endpoint) else { continue };
                    let lane = &shared.lanes[idx];
                    lane.counters.delivered.fetch_add(1, Relaxed);
                    lane.counters.pending.fetch_sub(1, Relaxed);
                    let ms = now_ms.saturating_sub(*enqueued_ms).max(0);
                    latencies.push((idx, Duration::from_millis(ms as u64)));
                }
                (Record::Dead { endpoint, .. }, Applied::Settled) => {
                    let Some(&idx) = shared.lane_by_name.get(endpoint) else { continue };
                    let lane = &shared.lanes[idx];
                    lane.counters.dead.fetch_add(1, Relaxed);
                    lane.counters.pending.fetch_sub(1, Relaxed);
                }
                _ => {}
            }
        }
    }
    if !latencies.is_empty()
        && let Some(observe) = shared.latency_observer.read().unwrap_or_else(|p| p.into_inner()).as_ref()
    {
        for (idx, latency) in latencies {
            observe(&shared.lanes[idx].endpoint.name, latency);
        }
    }
    for After::Reply(reply, n) in after.drain(..) {
        let _ = reply.send(Ok(n));
    }
    true
}

/// Erase on the running outbox: forget the shoppers (their queued tasks are skipped by the
/// dispatchers, their in-flight results dropped), then rewrite the journal.
fn erase_live(shared: &Shared, store: &mut Store, users: &[String]) -> Result<usize, OutboxError> {
    let users: HashSet<&str> = users.iter().map(String::as_str).collect();
    let mut book = shared.book();
    for (endpoint, _, entry) in book.ordered() {
        if entry.state == State::Pending
            && users.contains(entry.user.as_str())
            && let Some(&idx) = shared.lane_by_name.get(endpoint)
        {
            shared.lanes[idx].counters.pending.fetch_sub(1, Relaxed);
        }
    }
    let n_removed = book.remove_users(&users);
    if let Err(e) = store.rewrite(&mut book, now_ms()) {
        shared.poisoned.store(true, Relaxed);
        return Err(e);
    }
    Ok(n_removed)
}

/// Wall clock, epoch ms.
fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
