//! `glint serve`: the ingestion server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use crate::ConfigArg;
use crate::config::{Config, parse_duration_ms};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Data directory (created if missing).
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Address to listen on [default: [server] listen, 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// A key clients must present (Segment write key, GA4 api_secret, PostHog api key).
    /// Repeat for several; adds to [server] write_keys.
    #[arg(long = "write-key", value_name = "KEY", env = "GLINT_WRITE_KEY")]
    pub write_keys: Vec<String>,
    /// Key for admin routes such as DELETE /v1/users/{id}; off when unset.
    #[arg(long, value_name = "KEY", env = "GLINT_ADMIN_KEY")]
    pub admin_key: Option<String>,
    #[command(flatten)]
    pub config: ConfigArg,
    #[command(flatten)]
    pub moments: crate::MomentsArg,
    #[command(flatten)]
    pub model: crate::ModelArg,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let cfg = Config::load(args.config.config.as_deref())?;
    let mut keys = cfg.server.write_keys.clone();
    keys.extend(args.write_keys.iter().cloned());
    if keys.is_empty() {
        bail!("no write key: pass --write-key KEY (or set [server] write_keys in glint.toml)");
    }
    let listen: SocketAddr = match args.listen {
        Some(a) => a,
        None => cfg.server.listen.parse().with_context(|| format!("[server] listen = {:?} is not an address", cfg.server.listen))?,
    };
    let log = super::open_log(&args.data, cfg.serve_log_options())?;
    let events = log.summary().events;
    let server_cfg = glint_server::ServerConfig {
        write_keys: keys,
        admin_key: args.admin_key.clone().or(cfg.server.admin_key.clone()),
        taxonomy: cfg.taxonomy()?,
        decode: cfg.decode_options()?,
        request_bytes_max: cfg.ingest.request_bytes_max,
        queue_depth: cfg.ingest.queue_depth,
    };
    let max_age_ms = parse_duration_ms(&cfg.retention.max_age)?;
    let live_cfg = cfg.live_config(args.moments.moments.as_deref(), args.model.model.as_deref())?;
    // Say what the engine will do with webhooks, on stderr (stdout's first line is the URL).
    let configured: Vec<&str> = live_cfg.endpoints.iter().map(|e| e.name.as_str()).collect();
    let (mut hooked, mut onsite) = (0, 0);
    for m in &live_cfg.engine.moments {
        match &m.action {
            glint_engine::Action::Webhook { endpoint, .. } if configured.contains(&endpoint.as_str()) => hooked += 1,
            _ => onsite += 1,
        }
    }
    eprintln!(
        "live engine: {} moments, {hooked} with webhooks to [{}], {onsite} on-site only (GET /v1/decide; lift: GET /v1/lift){}",
        live_cfg.engine.moments.len(),
        configured.join(", "),
        if configured.is_empty() { "; add a [webhooks.NAME] section to glint.toml to deliver nudges" } else { "" }
    );
    match &live_cfg.intent_model {
        Some(path) => eprintln!("intent: scoring with {} (checked for a new version every {:?})", path.display(), live_cfg.model_reload_interval),
        None => eprintln!("intent: the taxonomy's weighted score (train a model with `glint train` and pass --model, or set [intent] model)"),
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    runtime.block_on(async move {
        // The live engine replays the log first, then follows ingestion.
        let server = glint_server::Server::with_live(log, server_cfg, live_cfg).context("starting the live engine")?;
        let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
        let bound = listener.local_addr().context("reading the bound address")?;
        if max_age_ms > 0 {
            let ingest = server.ingest().clone();
            tokio::spawn(async move {
                loop {
                    match ingest.retain(super::now_ms() - max_age_ms).await {
                        Ok(r) if r.events_removed > 0 => eprintln!("retention: removed {} events older than the max age", r.events_removed),
                        Ok(_) => {}
                        Err(e) => eprintln!("retention failed: {e}"),
                    }
                    tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
                }
            });
        }
        // Tests and scripts read this line to learn the port when listening on :0.
        outln!("glint serving on http://{bound} (data: {}, {} events stored)", args.data.display(), crate::output::thousands(events));
        glint_server::serve(listener, &server, shutdown_signal()).await.context("serving HTTP")?;
        eprintln!("glint stopped");
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
