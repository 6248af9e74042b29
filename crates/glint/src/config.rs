//! `glint.toml`: every setting with its default. `glint config` prints the commented default
//! file; unknown keys are refused with the file, line and column so typos do not pass silently.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use glint_event::TaxonomyConfig;
use serde::Deserialize;

/// The commented default configuration, also shipped as `glint.toml` in the repository.
pub const DEFAULT_TOML: &str = include_str!("../../../glint.toml");

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerSection,
    pub ingest: IngestSection,
    pub log: LogSection,
    pub retention: RetentionSection,
    pub engine: EngineSection,
    pub intent: IntentSection,
    pub consent: ConsentSection,
    pub taxonomy: TaxonomyConfig,
    pub webhooks: BTreeMap<String, WebhookSection>,
    /// The directory of the config file: relative paths in it are relative to this.
    #[serde(skip)]
    pub dir: Option<PathBuf>,
}

/// One webhook endpoint: `[webhooks.NAME]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSection {
    pub url: String,
    pub secret: String,
    #[serde(default = "default_timeout")]
    pub timeout: String,
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
}

fn default_timeout() -> String {
    "5s".into()
}

fn default_attempts() -> u32 {
    8
}

fn default_concurrency() -> usize {
    4
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntentSection {
    pub model: Option<PathBuf>,
    pub reload_interval: String,
}

impl Default for IntentSection {
    fn default() -> Self {
        IntentSection { model: None, reload_interval: "5s".into() }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineSection {
    pub seed: u64,
    pub allowed_lateness: String,
    pub moments: Option<PathBuf>,
    pub checkpoint_interval: String,
    pub deliver_max_age: String,
}

impl Default for EngineSection {
    fn default() -> Self {
        EngineSection { seed: glint_engine::EngineConfig::default().seed, allowed_lateness: "5m".into(), moments: None, checkpoint_interval: "1m".into(), deliver_max_age: "24h".into() }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsentSection {
    pub default_import: Grant,
    pub default_live_marketing: Grant,
    pub default_live_personalization: Grant,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grant {
    Granted,
    Denied,
}

impl Default for ConsentSection {
    fn default() -> Self {
        let d = glint_engine::ConsentDefaults::default();
        let g = |b: bool| if b { Grant::Granted } else { Grant::Denied };
        ConsentSection {
            default_import: g(d.import_granted),
            default_live_marketing: g(d.live_marketing_granted),
            default_live_personalization: g(d.live_personalization_granted),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    pub listen: String,
    pub write_keys: Vec<String>,
    pub admin_key: Option<String>,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection { listen: "127.0.0.1:8080".into(), write_keys: Vec::new(), admin_key: None }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestSection {
    pub max_future: String,
    pub event_bytes_max: usize,
    pub request_bytes_max: usize,
    pub keep_full_ip: bool,
    pub queue_depth: usize,
}

impl Default for IngestSection {
    fn default() -> Self {
        IngestSection {
            max_future: "24h".into(),
            event_bytes_max: glint_event::limits::EVENT_BYTES_MAX,
            request_bytes_max: glint_event::limits::REQUEST_BYTES_MAX,
            keep_full_ip: false,
            queue_depth: glint_event::limits::INGEST_QUEUE_DEPTH_MAX,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    pub segment_bytes_max: u64,
    pub serve_seal_cpu_share: f64,
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection { segment_bytes_max: glint_event::limits::SEGMENT_BYTES_MAX, serve_seal_cpu_share: 0.5 }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionSection {
    pub max_age: String,
}

impl Default for RetentionSection {
    fn default() -> Self {
        RetentionSection { max_age: "0".into() }
    }
}

impl Config {
    /// Read `path`, or the defaults when `path` is `None`.
    pub fn load(path: Option<&Path>) -> Result<Config> {
        let Some(path) = path else { return Ok(Config::default()) };
        let text = std::fs::read_to_string(path).with_context(|| format!("reading config {}", path.display()))?;
        let mut cfg = Self::parse(&text, &path.display().to_string())?;
        cfg.dir = path.parent().map(Path::to_path_buf);
        Ok(cfg)
    }

    pub fn parse(text: &str, name: &str) -> Result<Config> {
        let cfg: Config = toml::from_str(text).map_err(|e| {
            let (line, col) = e.span().map_or((0, 0), |s| line_col(text, s.start));
            anyhow::anyhow!("{name}:{line}:{col}: {}", e.message())
        })?;
        cfg.validate(name)?;
        Ok(cfg)
    }

    fn validate(&self, name: &str) -> Result<()> {
        parse_duration_ms(&self.ingest.max_future).with_context(|| format!("{name}: [ingest] max_future"))?;
        parse_duration_ms(&self.retention.max_age).with_context(|| format!("{name}: [retention] max_age"))?;
        parse_duration_ms(&self.engine.allowed_lateness).with_context(|| format!("{name}: [engine] allowed_lateness"))?;
        parse_duration_ms(&self.engine.checkpoint_interval).with_context(|| format!("{name}: [engine] checkpoint_interval"))?;
        parse_duration_ms(&self.engine.deliver_max_age).with_context(|| format!("{name}: [engine] deliver_max_age"))?;
        parse_duration_ms(&self.intent.reload_interval).with_context(|| format!("{name}: [intent] reload_interval"))?;
        if self.ingest.event_bytes_max > glint_event::limits::EVENT_BYTES_MAX {
            bail!("{name}: [ingest] event_bytes_max may lower the built-in limit of {} bytes, not raise it", glint_event::limits::EVENT_BYTES_MAX);
        }
        if self.ingest.request_bytes_max > glint_event::limits::REQUEST_BYTES_MAX {
            bail!("{name}: [ingest] request_bytes_max may lower the built-in limit of {} bytes, not raise it", glint_event::limits::REQUEST_BYTES_MAX);
        }
        if !(self.log.serve_seal_cpu_share > 0.0 && self.log.serve_seal_cpu_share <= 1.0) {
            bail!("{name}: [log] serve_seal_cpu_share must be in (0, 1], got {}", self.log.serve_seal_cpu_share);
        }
        if self.log.segment_bytes_max > glint_event::limits::SEGMENT_BYTES_MAX {
            bail!("{name}: [log] segment_bytes_max may lower the built-in limit of {} bytes, not raise it", glint_event::limits::SEGMENT_BYTES_MAX);
        }
        glint_event::Taxonomy::with_config(&self.taxonomy).with_context(|| format!("{name}: [taxonomy]"))?;
        for (endpoint, w) in &self.webhooks {
            parse_duration_ms(&w.timeout).with_context(|| format!("{name}: [webhooks.{endpoint}] timeout"))?;
            if !w.url.starts_with("http://") {
                bail!("{name}: [webhooks.{endpoint}] url must start with http:// (put TLS in a reverse proxy), got {:?}", w.url);
            }
            if !w.secret.starts_with("whsec_") {
                bail!("{name}: [webhooks.{endpoint}] secret must be a Standard Webhooks secret, \"whsec_\" + base64");
            }
            if w.max_attempts == 0 || w.concurrency == 0 {
                bail!("{name}: [webhooks.{endpoint}] max_attempts and concurrency must be at least 1");
            }
        }
        Ok(())
    }

    pub fn decode_options(&self) -> Result<glint_event::wire::DecodeOptions> {
        Ok(glint_event::wire::DecodeOptions {
            future_ms_max: parse_duration_ms(&self.ingest.max_future)?,
            keep_full_ip: self.ingest.keep_full_ip,
            event_bytes_max: self.ingest.event_bytes_max,
        })
    }

    pub fn taxonomy(&self) -> Result<glint_event::Taxonomy> {
        Ok(glint_event::Taxonomy::with_config(&self.taxonomy)?)
    }

    /// The moments: `path` (a command's `--moments`), else `[engine] moments`, else the
    /// shipped defaults. Once `[webhooks]` defines any endpoint, every webhook action must
    /// name one of them (a typo is refused); with none defined, webhook moments stay on-site,
    /// so the shipped file runs out of the box.
    pub fn rules(&self, path: Option<&Path>) -> Result<glint_engine::Rules> {
        let configured = self.engine.moments.as_ref().map(|p| match &self.dir {
            Some(dir) if p.is_relative() => dir.join(p),
            _ => p.clone(),
        });
        let Some(path) = path.map(Path::to_path_buf).or(configured) else { return Ok(glint_engine::Rules::defaults()) };
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading moments {}", path.display()))?;
        let endpoints: Vec<String> = self.webhooks.keys().cloned().collect();
        let check = (!endpoints.is_empty()).then_some(endpoints.as_slice());
        Ok(glint_engine::Rules::parse(&text, &path.display().to_string(), &self.taxonomy()?, check)?)
    }

    /// The intent model file: `path` (a command's `--model`), else `[intent] model` (relative
    /// to this file), else none.
    pub fn intent_model(&self, path: Option<&Path>) -> Option<PathBuf> {
        path.map(Path::to_path_buf).or_else(|| {
            self.intent.model.as_ref().map(|p| match &self.dir {
                Some(dir) if p.is_relative() => dir.join(p),
                _ => p.clone(),
            })
        })
    }

    /// The engine's settings; intent features are kept when a model is configured (call
    /// [`intent_model`](Self::intent_model) with a command's `--model` and set
    /// `intent_features` when it gives one).
    pub fn engine_config(&self, moments: Option<&Path>) -> Result<glint_engine::EngineConfig> {
        let c = &self.consent;
        let rules = self.rules(moments)?;
        Ok(glint_engine::EngineConfig {
            seed: self.engine.seed,
            consent: glint_engine::ConsentDefaults {
                import_granted: c.default_import == Grant::Granted,
                live_marketing_granted: c.default_live_marketing == Grant::Granted,
                live_personalization_granted: c.default_live_personalization == Grant::Granted,
            },
            moments: rules.moments,
            budget: rules.budget,
            intent_features: self.intent.model.is_some(),
        })
    }

    /// Log options for batch commands (import, simulate): sealing at full speed.
    pub fn live_config(&self, moments: Option<&Path>, model: Option<&Path>) -> Result<glint_server::LiveConfig> {
        let mut live = glint_server::LiveConfig::new(self.engine_config(moments)?);
        live.intent_model = self.intent_model(model);
        live.engine.intent_features = live.intent_model.is_some();
        live.model_reload_interval = std::time::Duration::from_millis(parse_duration_ms(&self.intent.reload_interval)?.max(100) as u64);
        live.lateness_ms = parse_duration_ms(&self.engine.allowed_lateness)?;
        live.endpoints = self.endpoints()?;
        live.checkpoint_interval = std::time::Duration::from_millis(parse_duration_ms(&self.engine.checkpoint_interval)?.max(1) as u64);
        let max_age = parse_duration_ms(&self.engine.deliver_max_age)?;
        live.deliver_max_age_ms = (max_age > 0).then_some(max_age);
        Ok(live)
    }

    /// The webhook endpoints of `[webhooks]`.
    pub fn endpoints(&self) -> Result<Vec<glint_outbox::Endpoint>> {
        self.webhooks
            .iter()
            .map(|(name, w)| {
                let secret = glint_outbox::signature::Secret::parse(&w.secret).with_context(|| format!("[webhooks.{name}] secret"))?;
                let mut e = glint_outbox::Endpoint::new(name.clone(), w.url.clone(), secret);
                e.timeout = std::time::Duration::from_millis(parse_duration_ms(&w.timeout)?.max(1) as u64);
                e.max_attempts = w.max_attempts;
                e.concurrency = w.concurrency;
                Ok(e)
            })
            .collect()
    }

    pub fn log_options(&self) -> glint_log::LogOptions {
        glint_log::LogOptions { segment_bytes_max: self.log.segment_bytes_max, seal_cpu_share: 1.0 }
    }

    /// Log options for `glint serve`: sealing paced so requests are never starved.
    pub fn serve_log_options(&self) -> glint_log::LogOptions {
        glint_log::LogOptions { seal_cpu_share: self.log.serve_seal_cpu_share, ..self.log_options() }
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// A duration from the config (see [`glint_event::time::parse_duration_ms`]).
pub fn parse_duration_ms(s: &str) -> Result<i64> {
    glint_event::time::parse_duration_ms(s).map_err(anyhow::Error::msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_file_is_the_defaults() {
        let shipped = Config::parse(DEFAULT_TOML, "glint.toml").expect("shipped config parses");
        let d = Config::default();
        assert_eq!(shipped.server.listen, d.server.listen);
        assert_eq!(shipped.ingest.max_future, d.ingest.max_future);
        assert_eq!(shipped.ingest.event_bytes_max, d.ingest.event_bytes_max);
        assert_eq!(shipped.ingest.request_bytes_max, d.ingest.request_bytes_max);
        assert_eq!(shipped.ingest.queue_depth, d.ingest.queue_depth);
        assert_eq!(shipped.log.segment_bytes_max, d.log.segment_bytes_max);
        assert_eq!(shipped.log.serve_seal_cpu_share, d.log.serve_seal_cpu_share);
        assert_eq!(shipped.retention.max_age, d.retention.max_age);
        assert_eq!(shipped.engine.seed, d.engine.seed);
        assert_eq!(shipped.engine.allowed_lateness, d.engine.allowed_lateness);
        assert_eq!(shipped.engine.checkpoint_interval, d.engine.checkpoint_interval);
        assert_eq!(shipped.engine.deliver_max_age, d.engine.deliver_max_age);
        assert_eq!(shipped.consent.default_import, d.consent.default_import);
        assert_eq!(shipped.consent.default_live_marketing, d.consent.default_live_marketing);
        assert_eq!(shipped.consent.default_live_personalization, d.consent.default_live_personalization);
    }

    #[test]
    fn typos_and_raised_limits_are_refused_with_position() {
        let err = Config::parse("[ingest]\nmax_futur = \"1h\"\n", "x.toml").expect_err("typo");
        assert!(err.to_string().starts_with("x.toml:2:1:"), "{err}");
        let err = Config::parse("[ingest]\nevent_bytes_max = 99999999\n", "x.toml").expect_err("raised");
        assert!(err.to_string().contains("may lower"), "{err}");
        let err = Config::parse("[retention]\nmax_age = \"5 days\"\n", "x.toml").expect_err("bad duration");
        assert!(format!("{err:#}").contains("max_age"), "{err:#}");
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration_ms("24h").ok(), Some(86_400_000));
        assert_eq!(parse_duration_ms("0").ok(), Some(0));
        assert!(parse_duration_ms("5x").is_err());
    }
}
