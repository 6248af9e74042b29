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

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct FiringLabel {
    pub(crate) moment: String,
    pub(crate) outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct EndpointLabel {
    pub(crate) endpoint: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct DeliveryLabel {
    pub(crate) endpoint: String,
    pub(crate) result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct FeatureLabel {
    pub(crate) feature: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ModelLabel {
    pub(crate) model: String,
}

/// A gauge of floats.
pub(crate) type FloatGauge = Gauge<f64, std::sync::atomic::AtomicU64>;

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
    pub(crate) firings: Family<FiringLabel, Counter>,
    pub(crate) late_events: Counter,
    pub(crate) event_to_outbox_seconds: Histogram,
    pub(crate) webhook_delivery_seconds: Family<EndpointLabel, Histogram>,
    pub(crate) outbox_pending: Family<EndpointLabel, Gauge>,
    pub(crate) deliveries: Family<DeliveryLabel, Counter>,
    /// 1 for the intent model in use (by id), 0 for those it replaced.
    pub(crate) intent_model: Family<ModelLabel, Gauge>,
    pub(crate) intent_model_loads: Counter,
    pub(crate) intent_model_errors: Counter,
    pub(crate) intent_psi: Family<FeatureLabel, FloatGauge>,
    pub(crate) intent_score_psi: FloatGauge,
    pub(crate) intent_drift_sessions: Gauge,
    pub(crate) intent_psi_warn: FloatGauge,
    /// What `deliveries` last reported, per (endpoint, result): the outbox keeps totals, the
    /// counters advance by the difference.
    delivered_seen: std::sync::Mutex<std::collections::HashMap<(String, &'static str), u64>>,
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
        let firings = Family::<FiringLabel, Counter>::default();
        let late_events = Counter::default();
        // 100 µs … ~6.5 s.
        let latency = || Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(0.000_1, 2.0, 17));
        let event_to_outbox_seconds = latency();
        let webhook_delivery_seconds = Family::<EndpointLabel, Histogram>::new_with_constructor(latency as fn() -> Histogram);
        let outbox_pending = Family::<EndpointLabel, Gauge>::default();
        let deliveries = Family::<DeliveryLabel, Counter>::default();
        registry.register("firings", "Moment firings by moment and outcome", firings.clone());
        registry.register("late_events", "Events stored but too late for the live engine", late_events.clone());
        registry.register("event_to_outbox_seconds", "From receiving an event to its firing's webhook being durable in the outbox", event_to_outbox_seconds.clone());
        registry.register("webhook_delivery_seconds", "From a delivery entering the outbox to its 2xx", webhook_delivery_seconds.clone());
        registry.register("outbox_pending", "Webhook deliveries not yet settled, by endpoint", outbox_pending.clone());
        registry.register("webhook_deliveries", "Webhook delivery results by endpoint (delivered, retried, dead)", deliveries.clone());
        let intent_model = Family::<ModelLabel, Gauge>::default();
        let intent_model_loads = Counter::default();
        let intent_model_errors = Counter::default();
        let intent_psi = Family::<FeatureLabel, FloatGauge>::default();
        let intent_score_psi = FloatGauge::default();
        let intent_drift_sessions = Gauge::default();
        let intent_psi_warn = FloatGauge::default();
        registry.register("intent_model", "The intent model scoring now (1), by id; models it replaced read 0", intent_model.clone());
        registry.register("intent_model_loads", "Intent model files loaded (at start and on change)", intent_model_loads.clone());
        registry.register("intent_model_load_errors", "Intent model files refused (the model in use stays)", intent_model_errors.clone());
        registry.register("intent_psi", "Population stability index of each feature over sessions finished since the model was loaded, against its training distribution", intent_psi.clone());
        registry.register("intent_score_psi", "Population stability index of the intent score against the model's validation scores", intent_score_psi.clone());
        registry.register("intent_drift_sessions", "Finished sessions observed for drift since the model was loaded (one in four: the PSI's sample)", intent_drift_sessions.clone());
        registry.register("intent_psi_warn_threshold", "PSI at or above which a feature has drifted (0.2)", intent_psi_warn.clone());
        Metrics {
            registry,
            accepted,
            refused,
            requests,
            fsync_seconds,
            commit_requests,
            bytes_written,
            queue_depth,
            firings,
            late_events,
            event_to_outbox_seconds,
            webhook_delivery_seconds,
            outbox_pending,
            deliveries,
            intent_model,
            intent_model_loads,
            intent_model_errors,
            intent_psi,
            intent_score_psi,
            intent_drift_sessions,
            intent_psi_warn,
            delivered_seen: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// Bring the outbox figures up to date (called before rendering).
    pub(crate) fn observe_outbox(&self, outbox: &glint_outbox::Outbox) {
        let Ok(mut seen) = self.delivered_seen.lock() else { return };
        for (endpoint, s) in outbox.stats_by_endpoint() {
            self.outbox_pending.get_or_create(&EndpointLabel { endpoint: endpoint.clone() }).set(s.pending as i64);
            for (result, total) in [("delivered", s.delivered), ("retried", s.retried), ("dead", s.dead)] {
                let last = seen.entry((endpoint.clone(), result)).or_insert(0);
                if total > *last {
                    self.deliveries.get_or_create(&DeliveryLabel { endpoint: endpoint.clone(), result }).inc_by(total - *last);
                    *last = total;
                }
            }
        }
    }

    /// Publish the engine's drift report.
    pub(crate) fn observe_drift(&self, report: &glint_intent::model::DriftReport) {
        self.intent_drift_sessions.set(i64::try_from(report.rows).unwrap_or(i64::MAX));
        self.intent_psi_warn.set(report.warn_at);
        if let Some(p) = report.score {
            self.intent_score_psi.set(p);
        }
        for (name, psi) in &report.features {
            if let Some(p) = psi {
                self.intent_psi.get_or_create(&FeatureLabel { feature: name.clone() }).set(*p);
            }
        }
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
