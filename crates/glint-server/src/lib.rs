//! Glint's HTTP surface: ingestion in the wire formats shops already send (Segment's HTTP
//! API, GA4's Measurement Protocol, PostHog's capture API), erasure, decisions and live
//! holdout lift from the live engine, health, Prometheus metrics and an OpenAPI document.
//!
//! [`Server::new`] takes an opened [`glint_log::Log`] and starts its writer thread
//! ([`Ingest`]); [`Server::router`] is the axum router; [`serve`] runs it until shutdown.
//! A request is answered only once its accepted events are durable (see `ingest.rs` for the
//! group commit, `routes.rs` for the pipeline and status codes).
//!
//! Architecture invariant: only this crate knows HTTP; it decodes with `glint_event` and
//! stores with `glint_log`, and reaches into neither's internals.

mod body;
mod ingest;
mod live;
mod metrics;
mod reply;
mod routes;

use std::sync::Arc;

use glint_event::wire::{DecodeOptions, Decoder};
use glint_event::{Taxonomy, limits};
use glint_log::Log;

pub use ingest::{Ingest, IngestError};
pub use live::{LiveConfig, firing_json, intent_json, load_intent_model};
pub use routes::OPENAPI;

/// How the server is set up.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Keys accepted for ingestion (Segment write key, GA4 api_secret, PostHog api key).
    pub write_keys: Vec<String>,
    /// Key for admin routes (erasure); `None` turns them off.
    pub admin_key: Option<String>,
    /// Mapping of input names to signals.
    pub taxonomy: Taxonomy,
    /// Decoding options (future bound, message size, IP truncation).
    pub decode: DecodeOptions,
    /// Largest request body, after decompression (at most `REQUEST_BYTES_MAX`).
    pub request_bytes_max: usize,
    /// Batches waiting for the log writer before 429 (at most `INGEST_QUEUE_DEPTH_MAX`).
    pub queue_depth: usize,
}

impl ServerConfig {
    /// Defaults with one write key.
    pub fn new(write_key: impl Into<String>) -> ServerConfig {
        ServerConfig {
            write_keys: vec![write_key.into()],
            admin_key: None,
            taxonomy: Taxonomy::default(),
            decode: DecodeOptions::default(),
            request_bytes_max: limits::REQUEST_BYTES_MAX,
            queue_depth: limits::INGEST_QUEUE_DEPTH_MAX,
        }
    }
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) decoder: Decoder,
    pub(crate) ingest: Ingest,
    pub(crate) write_keys: Vec<String>,
    pub(crate) admin_key: Option<String>,
    pub(crate) metrics: Arc<metrics::Metrics>,
    pub(crate) request_bytes_max: usize,
    pub(crate) live: Option<live::Live>,
}

/// A configured server: the log writer is running; call [`Server::router`] to serve HTTP.
#[derive(Clone, Debug)]
pub struct Server {
    inner: Arc<Inner>,
}

impl Server {
    /// Start the log writer for `log` with `config`; limits above the built-in bounds are
    /// lowered to them.
    pub fn new(log: Log, config: ServerConfig) -> Server {
        Self::build(log, config, None, Arc::new(metrics::Metrics::new()))
    }

    /// Start the log writer and the live engine: the engine first replays the log, then
    /// follows every durable batch; its firings go to the data directory's firing log, the
    /// `sent` ones with a webhook action to the outbox (`DATA/outbox`, delivering on the
    /// current tokio runtime), `GET /v1/decide/{user}` answers from it and `GET /v1/lift`
    /// from a snapshot of its log position and firing log.
    ///
    /// # Errors
    /// When the log cannot be read back or the firing log cannot be opened.
    pub fn with_live(log: Log, config: ServerConfig, live: LiveConfig) -> std::io::Result<Server> {
        let metrics = Arc::new(metrics::Metrics::new());
        let live = live::Live::start(&log, live, config.taxonomy.clone(), metrics.clone())?;
        Ok(Self::build(log, config, Some(live), metrics))
    }

    fn build(log: Log, config: ServerConfig, live: Option<live::Live>, metrics: Arc<metrics::Metrics>) -> Server {
        let queue_depth = config.queue_depth.clamp(1, limits::INGEST_QUEUE_DEPTH_MAX);
        let ingest = Ingest::start(log, queue_depth, metrics.clone(), live.clone());
        let mut decode = config.decode;
        decode.event_bytes_max = decode.event_bytes_max.min(limits::EVENT_BYTES_MAX);
        let inner = Inner {
            decoder: Decoder::new(config.taxonomy, decode),
            ingest,
            write_keys: config.write_keys,
            admin_key: config.admin_key,
            metrics,
            request_bytes_max: config.request_bytes_max.min(limits::REQUEST_BYTES_MAX),
            live,
        };
        Server { inner: Arc::new(inner) }
    }

    /// The HTTP routes.
    pub fn router(&self) -> axum::Router {
        routes::router(self.inner.clone())
    }

    /// The handle to the log writer (for erasure and retention from the binary).
    pub fn ingest(&self) -> &Ingest {
        &self.inner.ingest
    }
}

/// Serve `server` on `listener` until `shutdown` resolves.
///
/// # Errors
/// When the listener fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    server: &Server,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, server.router()).with_graceful_shutdown(shutdown).await
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
