//! Delivery: one lane per endpoint, a dispatcher per lane, one signed POST per attempt.
//!
//! A lane is a min-heap of tasks by due time. Its dispatcher takes a concurrency permit, waits
//! for the next due task, and spawns the attempt; so at most `concurrency` requests are in
//! flight per endpoint, and a slow or dead endpoint only fills its own lane. An attempt that
//! fails is pushed back with exponential backoff and full jitter (a uniform delay in
//! `0..=min(backoff_max, backoff_base · 2^(failures−1))`), so retries of many deliveries to
//! one recovering endpoint spread out instead of arriving in waves.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::Uri;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::journal::Body;
use crate::{Endpoint, Job, OutboxStats, Shared, signature};

/// The HTTP client every lane shares (connections pool per host).
pub(crate) type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// Bytes of a response body kept for a dead letter's error text.
const ERROR_BODY_BYTES_MAX: usize = 256;

/// A response body is read (so the connection can be reused) up to this size, then dropped.
const RESPONSE_BYTES_MAX: usize = 16 * 1024;

/// One delivery waiting in a lane.
#[derive(Debug)]
pub(crate) struct Task {
    pub(crate) fire_id: Arc<str>,
    pub(crate) body: Body,
    pub(crate) enqueued_ms: i64,
    /// Failed attempts so far in this process.
    pub(crate) failures: u32,
}

/// How an attempt ended, reported to the journal thread.
#[derive(Debug)]
pub(crate) enum Settlement {
    /// A 2xx answer.
    Delivered { attempts: u32, status: u16 },
    /// The last allowed attempt failed.
    Dead { attempts: u32, status: Option<u16>, error: String },
}

#[derive(Debug)]
struct Scheduled {
    due: Instant,
    seq: u64,
    task: Task,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.seq) == (other.due, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    /// Reversed, so the `BinaryHeap` (a max-heap) pops the earliest due first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.due, other.seq).cmp(&(self.due, self.seq))
    }
}

/// Per-endpoint counters, read by [`crate::Outbox::stats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) enqueued: AtomicU64,
    pub(crate) delivered: AtomicU64,
    pub(crate) retried: AtomicU64,
    pub(crate) dead: AtomicU64,
    pub(crate) pending: AtomicU64,
    pub(crate) in_flight: AtomicU64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> OutboxStats {
        OutboxStats {
            enqueued: self.enqueued.load(Relaxed),
            delivered: self.delivered.load(Relaxed),
            retried: self.retried.load(Relaxed),
            dead: self.dead.load(Relaxed),
            pending: self.pending.load(Relaxed),
            in_flight: self.in_flight.load(Relaxed),
        }
    }
}

/// One endpoint's queue of tasks and its counters.
#[derive(Debug)]
pub(crate) struct Lane {
    pub(crate) endpoint: Endpoint,
    pub(crate) uri: Uri,
    queue: Mutex<(BinaryHeap<Scheduled>, u64)>,
    wake: Notify,
    rng: Mutex<Pcg64Mcg>,
    pub(crate) counters: Counters,
}

impl Lane {
    pub(crate) fn new(endpoint: Endpoint, uri: Uri, seed: u64) -> Lane {
        Lane {
            endpoint,
            uri,
            queue: Mutex::new((BinaryHeap::new(), 0)),
            wake: Notify::new(),
            rng: Mutex::new(Pcg64Mcg::seed_from_u64(seed)),
            counters: Counters::default(),
        }
    }

    /// Schedule a task; wakes the dispatcher.
    pub(crate) fn push(&self, task: Task, due: Instant) {
        {
            let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            let seq = q.1;
            q.1 += 1;
            q.0.push(Scheduled { due, seq, task });
        }
        // `notify_one` stores a permit when nobody waits, so a push never goes unseen.
        self.wake.notify_one();
    }

    /// The next task whose time has come.
    async fn next_due(&self) -> Task {
        loop {
            let next_due = {
                let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
                match q.0.peek() {
                    Some(top) if top.due <= Instant::now() => {
                        if let Some(s) = q.0.pop() {
                            return s.task;
                        }
                        None
                    }
                    Some(top) => Some(top.due),
                    None => None,
                }
            };
            match next_due {
                Some(due) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(due) => {}
                        () = self.wake.notified() => {}
                    }
                }
                None => self.wake.notified().await,
            }
        }
    }

    /// Full-jitter backoff after `failures` failed attempts (at least 1).
    fn backoff(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(31);
        let cap = self.endpoint.backoff_base.saturating_mul(1u32 << doublings).min(self.endpoint.backoff_max);
        let cap_ns = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        Duration::from_nanos(rng.random_range(0..=cap_ns))
    }
}

/// Decrements the in-flight gauge however the attempt ends (also when aborted at shutdown).
struct InFlight<'a>(&'a AtomicU64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

/// A lane's dispatcher: runs until aborted (which also aborts its attempts in flight).
pub(crate) async fn run_lane(shared: Arc<Shared>, lane_idx: usize, client: HttpClient) {
    let lane = &shared.lanes[lane_idx];
    let permits = Arc::new(Semaphore::new(lane.endpoint.concurrency));
    let mut in_flight = JoinSet::new();
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else { return };
        let task = lane.next_due().await;
        while in_flight.try_join_next().is_some() {}
        // Erased (or otherwise settled) while it waited: nothing to send.
        if !shared.book().is_pending(&lane.endpoint.name, &task.fire_id) {
            continue;
        }
        let (shared, client) = (shared.clone(), client.clone());
        in_flight.spawn(async move {
            let _permit = permit;
            let lane = &shared.lanes[lane_idx];
            lane.counters.in_flight.fetch_add(1, Relaxed);
            let guard = InFlight(&lane.counters.in_flight);
            let outcome = attempt(&client, lane, &task).await;
            drop(guard);
            settle(&shared, lane_idx, task, outcome);
        });
    }
}

/// Report a finished attempt: to the journal when it settles, back to the lane when not.
fn settle(shared: &Shared, lane_idx: usize, mut task: Task, outcome: Result<u16, (Option<u16>, String)>) {
    let lane = &shared.lanes[lane_idx];
    let attempts = task.failures + 1;
    let settlement = match outcome {
        Ok(status) => Settlement::Delivered { attempts, status },
        Err((status, error)) if attempts >= lane.endpoint.max_attempts => Settlement::Dead { attempts, status, error },
        Err(_) => {
            task.failures = attempts;
            lane.counters.retried.fetch_add(1, Relaxed);
            let delay = lane.backoff(attempts);
            lane.push(task, Instant::now() + delay);
            return;
        }
    };
    // The journal thread may be gone at shutdown; the delivery then stays pending on disk.
    let _ = shared.jobs.send(Job::Settle { lane: lane_idx, fire_id: task.fire_id, enqueued_ms: task.enqueued_ms, settlement });
}

/// One signed POST: `Ok(status)` on 2xx, else the status (if any) and an error text.
async fn attempt(client: &HttpClient, lane: &Lane, task: &Task) -> Result<u16, (Option<u16>, String)> {
    let endpoint = &lane.endpoint;
    let now_secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let body = Bytes::copy_from_slice(task.body.as_bytes());
    let request = hyper::Request::post(lane.uri.clone())
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(hyper::header::USER_AGENT, concat!("glint-outbox/", env!("CARGO_PKG_VERSION")))
        .header("webhook-id", &*task.fire_id)
        .header("webhook-timestamp", now_secs.to_string())
        .header("webhook-signature", signature::sign(&endpoint.secret, &task.fire_id, now_secs, &body))
        .body(Full::new(body))
        .map_err(|e| (None, format!("building the request: {e}")))?;
    let deadline = Instant::now() + endpoint.timeout;
    let response = match tokio::time::timeout_at(deadline, client.request(request)).await {
        Err(_) => return Err((None, format!("no answer within {:?}", endpoint.timeout))),
        Ok(Err(e)) => return Err((None, error_chain(&e))),
        Ok(Ok(response)) => response,
    };
    let status = response.status().as_u16();
    // Read the body (bounded, within the same deadline) so the connection can be reused and a
    // failure can quote it; the status alone decides the outcome.
    let text = match tokio::time::timeout_at(deadline, Limited::new(response.into_body(), RESPONSE_BYTES_MAX).collect()).await {
        Ok(Ok(collected)) => snippet(&collected.to_bytes()),
        _ => String::new(),
    };
    if (200..300).contains(&status) {
        Ok(status)
    } else if text.is_empty() {
        Err((Some(status), format!("HTTP {status}")))
    } else {
        Err((Some(status), format!("HTTP {status}: {text}")))
    }
}

/// The start of a response body as one printable line.
fn snippet(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(ERROR_BODY_BYTES_MAX)]);
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>().trim().to_string()
}

/// An error and its sources, joined: hyper's top-level messages alone ("client error
/// (Connect)") do not say what happened.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The client all lanes share.
pub(crate) fn client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    // The timer lets the pool close idle connections instead of finding them dead on reuse.
    Client::builder(TokioExecutor::new()).pool_timer(TokioTimer::new()).build(connector)
}
