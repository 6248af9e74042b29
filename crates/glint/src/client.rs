//! A small HTTP client for posting Segment batches to a Glint server (the simulator's live
//! mode, the demo, the ingestion benchmark): keeps connections alive, retries 429/503 with
//! backoff, and measures acknowledgement latency.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// Posts JSON bodies to one server.
#[derive(Clone, Debug)]
pub struct Poster {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
    auth: String,
}

/// What one post got back.
#[derive(Debug)]
pub struct Posted {
    pub status: u16,
    pub body: Bytes,
    pub latency: Duration,
    pub retries: u32,
}

impl Poster {
    pub fn new(base: &str, write_key: &str) -> Poster {
        use base64::Engine;
        let encode = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(64).build(connector);
        Poster { client, base: base.trim_end_matches('/').to_string(), auth: format!("Basic {}", encode(&format!("{write_key}:"))) }
    }

    /// POST `body` to `path`; retry 429 and 503 up to 20 times with exponential backoff.
    pub async fn post(&self, path: &str, body: Bytes) -> Result<Posted> {
        let started = Instant::now();
        let mut retries = 0;
        loop {
            let req = hyper::Request::post(format!("{}{path}", self.base))
                .header("content-type", "application/json")
                .header("authorization", &self.auth)
                .body(Full::new(body.clone()))
                .context("building request")?;
            let resp = self.client.request(req).await.with_context(|| format!("POST {}{path}", self.base))?;
            let status = resp.status().as_u16();
            let bytes = resp.into_body().collect().await.context("reading response")?.to_bytes();
            if (status == 429 || status == 503) && retries < 20 {
                retries += 1;
                tokio::time::sleep(Duration::from_millis(10u64 << retries.min(7))).await;
                continue;
            }
            return Ok(Posted { status, body: bytes, latency: started.elapsed(), retries });
        }
    }

    /// GET `path`, returning status and body.
    pub async fn get(&self, path: &str) -> Result<(u16, Bytes)> {
        let req = hyper::Request::get(format!("{}{path}", self.base)).header("authorization", &self.auth).body(Full::new(Bytes::new())).context("building request")?;
        let resp = self.client.request(req).await.with_context(|| format!("GET {}{path}", self.base))?;
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.context("reading response")?.to_bytes();
        Ok((status, bytes))
    }
}

/// Wait until `GET /health` answers 200, or fail after `timeout`.
pub async fn wait_healthy(poster: &Poster, timeout: Duration) -> Result<()> {
    let started = Instant::now();
    loop {
        if let Ok((200, _)) = poster.get("/health").await {
            return Ok(());
        }
        if started.elapsed() > timeout {
            bail!("server did not become healthy within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
