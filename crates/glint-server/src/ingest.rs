//! The log writer: one thread owns the [`Log`]; requests hand it batches over a bounded queue
//! and wait for its answer. It drains every batch waiting, appends them all, then makes them
//! durable with one `fsync` (group commit) before answering any — so concurrent requests share
//! an fsync and none is acknowledged before its events are on disk.
//!
//! The queue holds at most `INGEST_QUEUE_DEPTH_MAX` batches; when it is full the request is
//! answered 429 at once (the batch is handed back untouched), so memory stays bounded when the
//! disk falls behind.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::Instant;

use glint_event::Event;
use glint_log::{AppendOutcome, Erasure, Log, LogSummary, Retention};
use tokio::sync::oneshot;

use crate::live::Live;
use crate::metrics::Metrics;

/// Why the writer could not take or store a batch.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// The queue is full: retry later (429).
    #[error("the event log is busy; retry shortly")]
    Busy(Vec<Event>),
    /// The log failed (disk error, poisoned after a failed fsync) or the writer stopped (503).
    #[error("the event log is unavailable: {0}")]
    Unavailable(String),
}

enum Job {
    Append(Vec<Event>, oneshot::Sender<Result<AppendOutcome, String>>),
    Erase(String, oneshot::Sender<Result<Erasure, String>>),
    Retain(i64, oneshot::Sender<Result<Retention, String>>),
    Summary(oneshot::Sender<LogSummary>),
}

/// A handle to the log writer thread. Cloning shares the same writer.
#[derive(Clone, Debug)]
pub struct Ingest {
    tx: SyncSender<Job>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Job")
    }
}

impl Ingest {
    pub(crate) fn start(log: Log, queue_depth: usize, metrics: Arc<Metrics>, live: Option<Live>) -> Ingest {
        let (tx, rx) = sync_channel(queue_depth.max(1));
        let m = metrics.clone();
        std::thread::Builder::new()
            .name("glint-log-writer".into())
            .spawn(move || writer(log, rx, &m, live.as_ref()))
            .map(|_| ())
            .unwrap_or_else(|e| panic!("cannot start the log writer thread: {e}"));
        Ingest { tx, metrics }
    }

    /// Append a batch durably; returns once it is fsync'd.
    ///
    /// # Errors
    /// `Busy` with the batch when the queue is full; `Unavailable` when the log failed.
    pub async fn append(&self, events: Vec<Event>) -> Result<AppendOutcome, IngestError> {
        let (reply, rx) = oneshot::channel();
        match self.tx.try_send(Job::Append(events, reply)) {
            Ok(()) => {}
            Err(TrySendError::Full(Job::Append(events, _))) => return Err(IngestError::Busy(events)),
            Err(_) => return Err(IngestError::Unavailable("the log writer has stopped".into())),
        }
        self.metrics.queue_depth.inc();
        match rx.await {
            Ok(Ok(out)) => Ok(out),
            Ok(Err(e)) => Err(IngestError::Unavailable(e)),
            Err(_) => Err(IngestError::Unavailable("the log writer has stopped".into())),
        }
    }

    /// Erase a shopper from the log (waits for room in the queue).
    ///
    /// # Errors
    /// When the log fails.
    pub async fn erase(&self, shopper: String) -> Result<Erasure, IngestError> {
        let (reply, rx) = oneshot::channel();
        self.send_blocking(Job::Erase(shopper, reply)).await?;
        rx.await.map_err(|_| IngestError::Unavailable("writer stopped".into()))?.map_err(IngestError::Unavailable)
    }

    /// Drop events older than `cutoff_ms`.
    ///
    /// # Errors
    /// When the log fails.
    pub async fn retain(&self, cutoff_ms: i64) -> Result<Retention, IngestError> {
        let (reply, rx) = oneshot::channel();
        self.send_blocking(Job::Retain(cutoff_ms, reply)).await?;
        rx.await.map_err(|_| IngestError::Unavailable("writer stopped".into()))?.map_err(IngestError::Unavailable)
    }

    /// Counts and sizes of the log.
    ///
    /// # Errors
    /// When the writer stopped.
    pub async fn summary(&self) -> Result<LogSummary, IngestError> {
        let (reply, rx) = oneshot::channel();
        self.send_blocking(Job::Summary(reply)).await?;
        rx.await.map_err(|_| IngestError::Unavailable("writer stopped".into()))
    }

    async fn send_blocking(&self, job: Job) -> Result<(), IngestError> {
        let tx = self.tx.clone();
        tokio::task::spawn_blocking(move || tx.send(job))
            .await
            .map_err(|e| IngestError::Unavailable(e.to_string()))?
            .map_err(|_| IngestError::Unavailable("the log writer has stopped".into()))
    }
}

/// The writer loop: take one job, drain every job already waiting, append, fsync once, answer.
fn writer(mut log: Log, rx: Receiver<Job>, metrics: &Metrics, live: Option<&Live>) {
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while let Ok(more) = rx.try_recv() {
            group.push(more);
        }
        let mut pending = Vec::new();
        for job in group {
            match job {
                Job::Append(events, reply) => {
                    metrics.queue_depth.dec();
                    let r = log.append(&events).map_err(|e| e.to_string());
                    let mut stored = Vec::new();
                    if let Ok(out) = &r {
                        metrics.bytes_written.inc_by(out.bytes);
                        if live.is_some() {
                            stored = events.into_iter().zip(&out.statuses).filter(|(_, s)| matches!(s, glint_log::AppendStatus::Stored(_))).map(|(e, _)| e).collect();
                        }
                    }
                    pending.push((r, reply, stored, log.last_seq()));
                }
                Job::Erase(shopper, reply) => {
                    let _ = reply.send(log.erase(&shopper).map_err(|e| e.to_string()));
                }
                Job::Retain(cutoff, reply) => {
                    let _ = reply.send(log.apply_retention(cutoff).map_err(|e| e.to_string()));
                }
                Job::Summary(reply) => {
                    let _ = reply.send(log.summary());
                }
            }
        }
        if pending.is_empty() {
            continue;
        }
        let started = Instant::now();
        let synced = log.sync().map_err(|e| e.to_string());
        metrics.fsync_seconds.observe(started.elapsed().as_secs_f64());
        metrics.commit_requests.observe(pending.len() as f64);
        for (r, reply, stored, seq) in pending {
            let answer = match (&synced, r) {
                (Ok(()), r) => r,
                (Err(e), _) => Err(e.clone()),
            };
            // Only durable events reach the engine.
            if let (Some(live), Ok(_), false) = (live, &answer, stored.is_empty()) {
                live.events(stored, seq);
            }
            // The requester may have gone away (client disconnected): nothing to tell.
            let _ = reply.send(answer);
        }
    }
}
