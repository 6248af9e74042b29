//! Prometheus metrics for `/metrics`, in a registry owned by the server (no global state, so
//! tests can run several servers in one process).
//!
//! Every refused or dropped event is counted with a reason: `rejected` (a field was wrong),
//! `duplicate` and `suppressed` (intended: acknowledged, not stored), `too_large`, `bad_body`,
//! `unauthorized`, `backpressure` (the client should retry), `unavailable` (the log failed).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct SourceLabel {
    pub(crate) source: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ReasonLabel {
    pub(crate) reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RequestLabel {
    pub(crate) route: &'static str,
    pub(crate) status: u16,
}

/// The server's metrics.
#[derive(Debug)]
pub(crate) struct Metrics {
    pub(crate) registry: Registry,
    pub(crate) accepted: Family<SourceLabel, Counter>,
    pub(crate) refused: Family<ReasonLabel, Counter>,
    pub(crate) requests: Family<RequestLabel, Counter>,
    pub(crate) fsync_seconds: Histogram,
    pub(crate) commit_requests: Histogram,
    pub(crate) bytes_written: Counter,
    pub(crate) queue_depth: Gauge,
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let mut registry = Registry::with_prefix("glint");
        let accepted = Family::<SourceLabel, Counter>::default();
        let refused = Family::<ReasonLabel, Counter>::default();
        let requests = Family::<RequestLabel, Counter>::default();
        // 50 µs … ~3 s: fsync on SSDs is sub-millisecond, on shared disks tens of ms.
        let fsync_seconds = Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(0.000_05, 2.0, 17));
        let commit_requests = Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(1.0, 2.0, 11));
        let bytes_written = Counter::default();
        let queue_depth = Gauge::default();
        registry.register("events_accepted", "Events stored in the log, by source", accepted.clone());
        registry.register("events_refused", "Events not stored, by reason", refused.clone());
        registry.register("http_requests", "Ingestion requests by route and status", requests.clone());
        registry.register("fsync_seconds", "Latency of the log's group-commit fsync", fsync_seconds.clone());
        registry.register("group_commit_requests", "Requests made durable by one fsync", commit_requests.clone());
        registry.register("log_bytes_written", "Bytes appended to the event log", bytes_written.clone());
        registry.register("ingest_queue_depth", "Batches waiting for the log writer", queue_depth.clone());
        Metrics { registry, accepted, refused, requests, fsync_seconds, commit_requests, bytes_written, queue_depth }
    }

    pub(crate) fn refuse(&self, reason: &'static str, n: u64) {
        if n > 0 {
            self.refused.get_or_create(&ReasonLabel { reason }).inc_by(n);
        }
    }

    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.push_str("# encoding failed\n");
        }
        out
    }
}
