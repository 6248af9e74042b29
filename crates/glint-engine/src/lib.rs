//! Glint's engine: recognises micro-moments for each shopper, in event time, and records a
//! [`Firing`] with its outcome and receipt for every qualification.
//!
//! [`Engine::apply`] takes events in (event time, ingest order) — the log's reading order — and
//! returns the firings they caused; [`Engine::advance_to`] moves event time forward without an
//! event (end of a replay; the wall clock, live). A timer due at `T` fires before an event
//! stamped `T`. Each shopper has a [`Profile`]; identify and alias fold an anonymous shopper
//! into the known one.
//!
//! ```
//! use glint_engine::{Engine, EngineConfig, Outcome};
//! use glint_event::{Builtin, Event, Signal, Source, Taxonomy};
//! let mut engine = Engine::new(EngineConfig::default(), Taxonomy::default());
//! let mut add = Event::new("m1".into(), 0, Signal::Builtin(Builtin::ProductAdded), Source::Rees46);
//! add.user_id = Some("u1".into());
//! assert!(engine.apply(&add).is_empty());
//! let firings = engine.advance_to(30 * 60 * 1000); // the cart sat idle for 30 minutes
//! assert_eq!(firings[0].moment, "cart_wobble");
//! assert!(matches!(firings[0].outcome, Outcome::Sent | Outcome::Holdout));
//! ```
//!
//! Architecture invariant: output is a pure function of (configuration, events in order): no
//! wall clock, no I/O, no unseeded randomness — so replay gives the same firings byte for byte.
//! Engine types are not `Serialize`; the binary renders firings.
//!
//! [`Engine::save`] writes the state as a checkpoint and [`Engine::restore`] reads it back
//! (refusing one made under another configuration), so a restart resumes with the same
//! firings as a full replay; [`Engine::forget`] erases shoppers from memory.
//!
//! Moments are data ([`MomentSpec`], read from `moments.toml` by [`Rules::parse`]); the
//! engine knows a fixed set of trigger kinds and evaluates each moment's CEL
//! [`Condition`] only when its trigger qualifies, so conditions never cost per event.

mod checkpoint;
mod condition;
pub mod holdout;
mod intent;
mod moments;
mod profile;

use std::collections::{BTreeMap, HashMap};

use glint_event::{Builtin, Event, Signal, Taxonomy};

pub use checkpoint::CheckpointError;
pub use condition::{Condition, ConditionError, Fact};
pub use glint_intent::model::IntentStage;
pub use intent::{IntentModel, IntentModelError, IntentScore};
pub use moments::{DEFAULT_MOMENTS_TOML, RuleError, Rules};
pub use profile::{CartLine, Profile, SESSION_GAP_MS, Session};

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;

/// Consent assumed when a shopper never stated one for a purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConsentDefaults {
    /// For history (imports carry no consent context): granted by default.
    pub import_granted: bool,
    /// For live traffic without consent context: marketing not granted by default.
    pub live_marketing_granted: bool,
    /// For live traffic without consent context: personalization granted by default.
    pub live_personalization_granted: bool,
}

impl Default for ConsentDefaults {
    fn default() -> Self {
        ConsentDefaults { import_granted: true, live_marketing_granted: false, live_personalization_granted: true }
    }
}

/// Engine settings.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Seed of the holdout hash (from `glint.toml`).
    pub seed: u64,
    /// Consent assumed when none was stated.
    pub consent: ConsentDefaults,
    /// The moments to recognise.
    pub moments: Vec<MomentSpec>,
    /// The contact budget across moments.
    pub budget: Option<Budget>,
    /// Keep each shopper's intent features (`glint-intent`'s accumulators) so a trained model
    /// can score them ([`Engine::set_model`]). On when a model is configured; it costs memory
    /// per shopper, so off otherwise.
    pub intent_features: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        let rules = Rules::defaults();
        EngineConfig { seed: 0x611e7, consent: ConsentDefaults::default(), moments: rules.moments, budget: rules.budget, intent_features: false }
    }
}

/// How a moment is recognised (the `trigger` of `moments.toml`).
#[derive(Clone, Debug, PartialEq)]
pub enum Trigger {
    /// At each event of one of `signals`.
    Signal {
        /// Signals that qualify.
        signals: Vec<Signal>,
    },
    /// An absence window: `wait_ms` after an `after` event with no further `after` event
    /// (each restarts the wait) and no `unless` event (which cancels it). With `per_session`,
    /// only the session's first `after` event starts the wait.
    Absence {
        /// The wait.
        wait_ms: i64,
        /// Signals that start (and restart) the wait.
        after: Vec<Signal>,
        /// Signals that cancel it.
        unless: Vec<Signal>,
        /// One wait per session, from its first `after` event.
        per_session: bool,
    },
    /// At the event that lifts a lifetime metric from below `threshold` to at least it.
    Crossing {
        /// The metric watched.
        metric: Metric,
        /// The threshold crossed upward.
        threshold: f64,
    },
    /// At a `product_back_in_stock` event, for every shopper who wished for or asked about
    /// that product.
    BackInStock,
    /// At an `on` event for a product that had at least `at_least` `counted` events across
    /// all shoppers in the `window_ms` before (a live windowed count).
    Popular {
        /// The shopper's event that qualifies.
        on: Signal,
        /// The signal counted per product across shoppers.
        counted: Signal,
        /// The window.
        window_ms: i64,
        /// Count needed.
        at_least: usize,
    },
    /// `offset_days` before a date of the profile, at `hour` in the shopper's time zone
    /// (UTC when unknown). Birthdays recur yearly; a renewal date happens once.
    ProfileDate {
        /// Which date.
        field: DateField,
        /// Days ahead of the date.
        offset_days: i64,
        /// Local hour of day.
        hour: i8,
    },
    /// At the event that lifts the shopper's intent stage within the session to `stage` (or
    /// higher) from below it — the score after the event against the score after the
    /// session's previous one (a session starts in `curiosity`). Scores once per event while
    /// such a moment exists.
    Intent {
        /// The stage reached.
        stage: IntentStage,
    },
    /// `lead_ms` before a yearly calendar date (a shipping cutoff), for every shopper holding a
    /// cart then.
    Calendar {
        /// Month of the date.
        month: i8,
        /// Day of the date.
        day: i8,
        /// Hour (UTC) of the cutoff.
        hour: i8,
        /// How long before the cutoff the moment qualifies.
        lead_ms: i64,
    },
}

/// A date kept in the profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DateField {
    /// `birthday` (yearly).
    Birthday,
    /// `subscription_renewal_date` (once).
    Renewal,
}

/// `year-month-day` at `hour` in the time zone named `tz` (UTC when unknown), as epoch ms.
/// February 29 falls on February 28 in other years.
fn local_ms(tz: Option<&str>, year: i16, month: i8, day: i8, hour: i8) -> Option<i64> {
    let zone = tz.and_then(|n| jiff::tz::TimeZone::get(n).ok()).unwrap_or(jiff::tz::TimeZone::UTC);
    let date = jiff::civil::Date::new(year, month, day).or_else(|_| jiff::civil::Date::new(year, month, day - 1)).ok()?;
    Some(date.at(hour, 0, 0, 0).to_zoned(zone).ok()?.timestamp().as_millisecond())
}

fn year_of(ms: i64) -> i16 {
    jiff::Timestamp::from_millisecond(ms).map_or(1970, |t| t.to_zoned(jiff::tz::TimeZone::UTC).year())
}

/// Month and day (and the year, for one-off dates) of `YYYY-MM-DD` or `MM-DD`.
fn parse_date(s: &str) -> Option<(Option<i16>, i8, i8)> {
    let parts: Vec<&str> = s.split('-').collect();
    match parts.as_slice() {
        [y, m, d] => Some((Some(y.parse().ok()?), m.parse().ok()?, d.parse().ok()?)),
        [m, d] => Some((None, m.parse().ok()?, d.parse().ok()?)),
        _ => None,
    }
}

/// The first time strictly after `after` at which a profile-date moment is due.
fn next_date_due(p: &Profile, field: DateField, offset_days: i64, hour: i8, after: i64) -> Option<i64> {
    let (raw, yearly) = match field {
        DateField::Birthday => (p.birthday.as_deref()?, true),
        DateField::Renewal => (p.renewal_date.as_deref()?, false),
    };
    let (year, month, day) = parse_date(raw)?;
    let tz = p.timezone.as_deref();
    let offset = offset_days * 24 * HOUR_MS;
    if !yearly {
        let due = local_ms(tz, year?, month, day, hour)? - offset;
        return (due > after).then_some(due);
    }
    let start = year_of(after);
    (start - 1..=start + 1).filter_map(|y| local_ms(tz, y, month, day, hour).map(|t| t - offset)).find(|due| *due > after)
}

/// The first time strictly after `after` at which a calendar moment is due.
fn next_calendar_due(month: i8, day: i8, hour: i8, lead_ms: i64, after: i64) -> Option<i64> {
    let start = year_of(after);
    (start - 1..=start + 1).filter_map(|y| local_ms(None, y, month, day, hour).map(|t| t - lead_ms)).find(|due| *due > after)
}

/// A lifetime metric of a profile, for threshold crossings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// Revenue of completed orders.
    Revenue,
    /// Completed orders.
    Orders,
    /// Loyalty points.
    Points,
}

impl Metric {
    fn of(self, p: &Profile) -> f64 {
        match self {
            Metric::Revenue => p.revenue,
            Metric::Orders => f64::from(p.orders),
            Metric::Points => p.points.unwrap_or(0.0),
        }
    }

}

/// One moment: how it is recognised, and the rules for acting on it (see `moments.toml`).
#[derive(Clone, Debug, PartialEq)]
pub struct MomentSpec {
    /// Its name, as in firings.
    pub name: String,
    /// What it is for, in a sentence.
    pub description: String,
    /// How it is recognised.
    pub trigger: Trigger,
    /// What must hold when the trigger qualifies.
    pub condition: Option<Condition>,
    /// At most `cap_count` `sent` or `holdout` firings per shopper (or correlation key) in
    /// `cap_ms`; no cap when `cap_ms` is `None`.
    pub cap_count: u32,
    /// The cap's window.
    pub cap_ms: Option<i64>,
    /// Share held out, in basis points (1,000 = 10 %).
    pub holdout_bp: u32,
    /// The consent purpose acting on it needs.
    pub consent_purpose: String,
    /// Higher is decided first when qualifications coincide.
    pub priority: i32,
    /// Whether it spends the contact budget.
    pub budgeted: bool,
    /// Quiet hours in the shopper's time zone.
    pub quiet_hours: Option<QuietHours>,
    /// What the cap is counted per, besides the shopper.
    pub correlate: Option<Correlation>,
    /// Signals that count as the KPI's conversion.
    pub kpi_signals: Vec<Signal>,
    /// Window after the firing in which a conversion counts.
    pub kpi_window_ms: i64,
    /// What a `sent` firing does.
    pub action: Action,
    /// A hash of the moment's definition: receipts name the rule version that decided.
    pub version: String,
}

/// The contact budget: at most `max` `sent` or `holdout` firings per shopper in `window_ms`,
/// across the moments that spend it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Firings allowed in the window.
    pub max: u32,
    /// The window.
    pub window_ms: i64,
}

/// Quiet hours, in minutes after local midnight; `from > to` wraps past midnight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuietHours {
    /// Start (inclusive).
    pub from_min: u16,
    /// End (exclusive).
    pub to_min: u16,
    /// Defer to the end of the quiet hours, or drop.
    pub defer: bool,
}

/// What a moment's cap is counted per, besides the shopper.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Correlation {
    /// The trigger's product.
    Product,
    /// The cart (its `cart_id`, else its products).
    Cart,
    /// The trigger's order.
    Order,
}

/// What a `sent` firing does.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Nothing pushed: the nudge is shown on site through `GET /v1/decide/{user}`.
    OnSite,
    /// A signed webhook to a named endpoint of `glint.toml`.
    Webhook {
        /// The endpoint's name.
        endpoint: String,
        /// The body template; `None` sends the firing itself.
        template: Option<serde_json::Value>,
    },
}

/// Treatment or holdout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    /// Gets the nudge.
    Treatment,
    /// Randomly kept from it, to measure lift.
    Holdout,
}

impl Group {
    /// As in the firing log.
    pub fn as_str(self) -> &'static str {
        match self {
            Group::Treatment => "treatment",
            Group::Holdout => "holdout",
        }
    }
}

/// What happened to a qualification. Checks run in this order; the first that applies wins:
/// consent → cap → budget → quiet hours → holdout group → sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Nudged.
    Sent,
    /// Would have been nudged; held out.
    Holdout,
    /// A `sent` or `holdout` firing of this moment came less than the cap window before.
    Capped,
    /// The global contact budget was spent on a higher-priority moment.
    Budget,
    /// The shopper has not granted the moment's consent purpose.
    NoConsent,
    /// In the shopper's quiet hours, dropped.
    QuietHours,
    /// In the shopper's quiet hours, deferred.
    Deferred,
}

impl Outcome {
    /// As in the firing log.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Sent => "sent",
            Outcome::Holdout => "holdout",
            Outcome::Capped => "capped",
            Outcome::Budget => "budget",
            Outcome::NoConsent => "no_consent",
            Outcome::QuietHours => "quiet_hours",
            Outcome::Deferred => "deferred",
        }
    }
}

/// Why a moment fired: what triggered it and what the rules saw.
#[derive(Clone, Debug, PartialEq)]
pub struct Receipt {
    /// Ids of the events that triggered it.
    pub trigger_event_ids: Vec<String>,
    /// What the trigger measured and the values the condition read, by name.
    pub values: Vec<(String, Fact)>,
    /// Intent at the firing — score, stage, the top contributions and the model that scored —
    /// for firings that reach a shopper or are held out (`sent`, `holdout`, `deferred`);
    /// `None` for suppressed ones, where nothing was decided by it and scoring would cost.
    pub intent: Option<IntentScore>,
    /// The consent purpose checked.
    pub consent_purpose: String,
    /// Whether consent was granted (stated or by default).
    pub consent_granted: bool,
    /// The correlation key the cap counted per, if the moment has one.
    pub correlation: Option<String>,
    /// Version of the moment's rule.
    pub rule_version: String,
}

/// One recognised moment for one shopper at one event time.
#[derive(Clone, Debug, PartialEq)]
pub struct Firing {
    /// Deterministic id from (moment, shopper, time).
    pub fire_id: String,
    /// The moment's name.
    pub moment: String,
    /// The canonical shopper id.
    pub user: String,
    /// Event time of the qualification, epoch ms.
    pub at_ms: i64,
    /// Treatment or holdout (assigned for every qualification).
    pub group: Group,
    /// What happened.
    pub outcome: Outcome,
    /// Why.
    pub receipt: Receipt,
    /// For a `sent` firing of a webhook moment: the rendered body (`None`: send the firing).
    pub payload: Option<serde_json::Value>,
}

/// The deterministic firing id: moment, shopper and time hashed.
pub fn fire_id(moment: &str, shopper: &str, at_ms: i64) -> String {
    fire_id_keyed(moment, shopper, at_ms, None)
}

/// The firing id of a correlated moment also hashes its key: two products back in stock at
/// the same instant are two firings for one shopper.
fn fire_id_keyed(moment: &str, shopper: &str, at_ms: i64, key: Option<&str>) -> String {
    let mut buf = Vec::with_capacity(moment.len() + shopper.len() + 10);
    buf.extend_from_slice(moment.as_bytes());
    buf.push(0);
    buf.extend_from_slice(shopper.as_bytes());
    buf.push(0);
    buf.extend_from_slice(&at_ms.to_le_bytes());
    if let Some(k) = key {
        buf.push(0);
        buf.extend_from_slice(k.as_bytes());
    }
    format!("{:032x}", xxhash_rust::xxh3::xxh3_128(&buf))
}

/// A qualification waiting to be decided: trigger and condition held.
#[derive(Clone, Debug, PartialEq)]
struct Candidate {
    moment: usize,
    shopper: String,
    at: i64,
    values: Vec<(String, Fact)>,
    trigger_ids: Vec<String>,
    correlation: Option<String>,
}

/// A pending timer: which moment, for whom, and what it was armed for.
#[derive(Clone, Debug, PartialEq)]
struct Timer {
    moment: usize,
    shopper: String,
    /// The activity or session start it was armed for; a stale timer (the shopper moved on)
    /// finds its stamp no longer matches and does nothing.
    stamp: i64,
    /// The event that armed it (per-activity absence windows), for the receipt.
    trigger_id: Option<String>,
    /// A qualification deferred by quiet hours, decided again when the timer fires.
    deferred: Option<Box<Candidate>>,
}

/// Pending timers by (due time, arming order): fired in that order, deterministically.
#[derive(Debug, Default)]
struct Timers {
    by_due: BTreeMap<(i64, u64), Timer>,
    next_seq: u64,
}

impl Timers {
    /// Arm `timer` at `due`; returns its key (to cancel it or to recognise it when it fires).
    fn arm(&mut self, due: i64, timer: Timer) -> (i64, u64) {
        let key = (due, self.next_seq);
        self.next_seq += 1;
        self.by_due.insert(key, timer);
        key
    }
}

/// A `sent` or `holdout` firing still inside a cap or budget window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Counted {
    moment: u16,
    /// Hash of the correlation key (0 without one).
    key: u64,
    at: i64,
    /// `sent` (shown or pushed), not `holdout`.
    sent: bool,
}

/// Per shopper. Kept small — most shoppers never fire and pay only for empty vectors.
#[derive(Debug, Default)]
struct ShopperState {
    profile: Profile,
    /// Recent `sent` and `holdout` firings (for caps and the budget), oldest first.
    counted: Vec<Counted>,
    /// Armed timers: moment and timer key.
    armed: Vec<(u16, (i64, u64))>,
    /// Intent features, when the engine keeps them.
    intent: Option<Box<intent::IntentTrack>>,
    /// The intent stage after the session's last event, for `intent` triggers.
    stage: Option<IntentStage>,
}

impl ShopperState {
    fn armed(&self, m: usize) -> Option<(i64, u64)> {
        self.armed.iter().find(|(am, _)| usize::from(*am) == m).map(|(_, k)| *k)
    }

    /// Replace moment `m`'s armed key; returns the old one.
    fn set_armed(&mut self, m: usize, key: Option<(i64, u64)>) -> Option<(i64, u64)> {
        let old = self.armed(m);
        self.armed.retain(|(am, _)| usize::from(*am) != m);
        if let Some(k) = key {
            self.armed.push((m as u16, k));
        }
        old
    }
}

/// Entries per store of the engine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EngineCensus {
    /// Shoppers tracked.
    pub shoppers: usize,
    /// Ids merged into another.
    pub aliases: usize,
    /// Products someone wished for.
    pub wished_products: usize,
    /// (product, shopper) wishes.
    pub wishes: usize,
    /// Event times kept for windowed counts across shoppers.
    pub popular_times: usize,
    /// Pending timers.
    pub timers: usize,
    /// Recent sent/held-out firings kept for caps and the budget.
    pub counted: usize,
}

/// Counters of what the engine did besides firing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Conditions that failed to evaluate (counted as not met).
    pub condition_errors: u64,
    /// Qualifications whose condition was not met.
    pub condition_false: u64,
}

/// Product → times of one signal across shoppers, oldest first (for `Popular` triggers).
type RecentByProduct = HashMap<String, std::collections::VecDeque<i64>, foldhash::fast::FixedState>;

/// The engine: every shopper's state and the pending timers.
#[derive(Debug)]
pub struct Engine {
    config: EngineConfig,
    taxonomy: Taxonomy,
    /// Boxed: the table's empty slots then cost a pointer, not a whole state.
    shoppers: HashMap<String, Box<ShopperState>, foldhash::fast::FixedState>,
    /// Anonymous (or previous) id → the id it was merged into.
    aliases: HashMap<String, String, foldhash::fast::FixedState>,
    /// Product → shoppers who wished for it or asked about it (for back in stock).
    wishers: HashMap<String, std::collections::BTreeSet<String>, foldhash::fast::FixedState>,
    /// Per counted signal of a `Popular` trigger: product → times, oldest first.
    recent: Vec<(Signal, RecentByProduct)>,
    /// Per moment: the key of its armed calendar timer (calendar timers have no shopper).
    calendar_armed: Vec<Option<(i64, u64)>>,
    timers: Timers,
    now_ms: i64,
    /// The longest cap or budget window: older `Counted` entries can go.
    counted_horizon_ms: i64,
    stats: EngineStats,
    /// A buffer `apply` reuses.
    scratch: Vec<f64>,
    /// The trained intent model, if one is loaded.
    model: Option<std::sync::Arc<IntentModel>>,
    /// Whether a moment has an `intent` trigger (then each event is scored).
    intent_triggers: bool,
    /// Finished sessions' features against the model's training distribution.
    drift: Option<glint_intent::model::DriftMonitor>,
    /// Sessions finished since the model was set (every `DRIFT_SAMPLE_EVERY`th is observed).
    drift_sessions: u64,
}

/// Drift observes one finished session in this many: a PSI needs a sample, not a census, and a
/// score per session would cost replay several per cent.
pub const DRIFT_SAMPLE_EVERY: u64 = 4;

impl Engine {
    /// An engine with no shoppers yet.
    pub fn new(config: EngineConfig, taxonomy: Taxonomy) -> Engine {
        let n_moments = config.moments.len();
        let mut recent = Vec::new();
        for m in &config.moments {
            if let Trigger::Popular { counted, .. } = &m.trigger
                && !recent.iter().any(|(s, _)| s == counted)
            {
                recent.push((counted.clone(), HashMap::default()));
            }
        }
        let counted_horizon_ms = config.moments.iter().filter_map(|m| m.cap_ms).chain(config.budget.map(|b| b.window_ms)).max().unwrap_or(0);
        let intent_triggers = config.moments.iter().any(|m| matches!(m.trigger, Trigger::Intent { .. }));
        Engine {
            config,
            taxonomy,
            shoppers: HashMap::default(),
            aliases: HashMap::default(),
            wishers: HashMap::default(),
            recent,
            calendar_armed: vec![None; n_moments],
            timers: Timers::default(),
            now_ms: i64::MIN,
            counted_horizon_ms,
            stats: EngineStats::default(),
            scratch: Vec::new(),
            model: None,
            intent_triggers,
            drift: None,
            drift_sessions: 0,
        }
    }

    /// Score with `model` from the next event on (`None`: back to the taxonomy's score). The
    /// engine is single-threaded, so the swap is atomic: no decision sees two models. Drift
    /// monitoring restarts against the new model's training distribution.
    ///
    /// The model scores only shoppers whose features the engine keeps
    /// ([`EngineConfig::intent_features`]); others get the taxonomy's score.
    pub fn set_model(&mut self, model: Option<std::sync::Arc<IntentModel>>) {
        self.drift = model.as_ref().and_then(|m| m.file().drift.as_ref()).map(glint_intent::model::DriftMonitor::new);
        self.drift_sessions = 0;
        self.model = model;
    }

    /// The intent model in use.
    pub fn model(&self) -> Option<&std::sync::Arc<IntentModel>> {
        self.model.as_ref()
    }

    /// A shopper's intent now (by any of their ids), with its reasons; `None` for a shopper the
    /// engine has not seen.
    pub fn intent(&self, id: &str) -> Option<IntentScore> {
        let state = self.shoppers.get(self.canonical(id))?;
        Some(intent::score(self.model.as_ref(), state.intent.as_deref(), &state.profile, &self.taxonomy, true))
    }

    /// Population stability of the sessions finished since the model was set (a sample of one
    /// in [`DRIFT_SAMPLE_EVERY`]), against its training distribution (`None` without a model,
    /// or one trained before drift was kept).
    pub fn drift(&self) -> Option<glint_intent::model::DriftReport> {
        self.drift.as_ref().map(|d| d.report())
    }

    /// The moments in use.
    pub fn moments(&self) -> &[MomentSpec] {
        &self.config.moments
    }

    /// Event time so far (the largest time seen or advanced to).
    pub fn now_ms(&self) -> i64 {
        self.now_ms
    }

    /// Shoppers tracked.
    pub fn shoppers(&self) -> usize {
        self.shoppers.len()
    }

    /// Timers pending.
    pub fn pending_timers(&self) -> usize {
        self.timers.by_due.len()
    }

    /// What the engine counted besides firings.
    pub fn stats(&self) -> EngineStats {
        self.stats
    }

    /// How many entries each of the engine's stores holds (for metrics and memory work).
    pub fn census(&self) -> EngineCensus {
        EngineCensus {
            shoppers: self.shoppers.len(),
            aliases: self.aliases.len(),
            wished_products: self.wishers.len(),
            wishes: self.wishers.values().map(|w| w.len()).sum(),
            popular_times: self.recent.iter().map(|(_, by)| by.values().map(|t| t.len()).sum::<usize>()).sum(),
            timers: self.timers.by_due.len(),
            counted: self.shoppers.values().map(|s| s.counted.len()).sum(),
        }
    }

    /// Moments pending for a shopper (by any of their ids): name and due time, soonest first.
    pub fn pending_for(&self, id: &str) -> Vec<(&str, i64)> {
        let Some(state) = self.shoppers.get(self.canonical(id)) else { return Vec::new() };
        let mut out: Vec<(&str, i64)> = state.armed.iter().filter_map(|(m, (due, _))| Some((self.config.moments.get(usize::from(*m))?.name.as_str(), *due))).collect();
        out.sort_by_key(|(_, due)| *due);
        out
    }

    /// On-site moments active for a shopper (by any of their ids) at event time `now`: sent to
    /// them and still inside their KPI window — what a page should show. Highest priority
    /// first, then the most recent. (Held-out firings are never active: that is the holdout.)
    pub fn active_for(&self, id: &str, now: i64) -> Vec<(&str, i64)> {
        let Some(state) = self.shoppers.get(self.canonical(id)) else { return Vec::new() };
        let mut out: Vec<(&MomentSpec, i64)> = state
            .counted
            .iter()
            .filter(|c| c.sent)
            .filter_map(|c| Some((self.config.moments.get(usize::from(c.moment))?, c.at)))
            .filter(|(spec, at)| spec.action == Action::OnSite && now - at <= spec.kpi_window_ms)
            .collect();
        out.sort_by(|a, b| b.0.priority.cmp(&a.0.priority).then(b.1.cmp(&a.1)));
        out.dedup_by(|a, b| a.0.name == b.0.name);
        out.into_iter().map(|(spec, at)| (spec.name.as_str(), at)).collect()
    }

    /// The canonical id a shopper id resolves to (after identify and alias merges).
    pub fn canonical_id<'a>(&'a self, id: &'a str) -> &'a str {
        self.canonical(id)
    }

    /// The taxonomy in use.
    pub fn taxonomy(&self) -> &Taxonomy {
        &self.taxonomy
    }

    /// The profile of a shopper (by any of their ids).
    pub fn profile(&self, id: &str) -> Option<&Profile> {
        self.shoppers.get(self.canonical(id)).map(|s| &s.profile)
    }

    /// Erase shoppers from the engine's memory (GDPR). `ids` may be any of a shopper's ids —
    /// user id, anonymous or previous ids merged into it. Removes each shopper's state, every
    /// alias to or from their ids, their wishes, their armed timers and every other timer or
    /// deferred qualification naming them; returns how many shoppers were removed. Empty ids
    /// are ignored.
    ///
    /// A checkpoint saved afterwards no longer holds them; checkpoints saved before still do,
    /// so the caller replaces them. Counts across shoppers (a product's recent purchases for
    /// `Popular` triggers) keep the erased shopper's contribution: they hold times, not ids.
    pub fn forget(&mut self, ids: &[String]) -> usize {
        use std::collections::{BTreeSet, HashSet};
        let canon: BTreeSet<&str> = ids.iter().filter(|id| !id.is_empty()).map(|id| self.canonical(id)).collect();
        // Every id that resolves to one of them: the given ids, and anonymous ids merged in
        // (alias entries along the way, wishes made before a merge).
        let resolves = |id: &str| canon.contains(self.canonical(id));
        let mut doomed: HashSet<String> = ids.iter().filter(|id| !id.is_empty()).cloned().collect();
        doomed.extend(canon.iter().map(|c| c.to_string()));
        doomed.extend(self.aliases.keys().filter(|k| resolves(k)).cloned());
        doomed.extend(self.wishers.values().flatten().filter(|w| resolves(w)).cloned());
        doomed.extend(self.timers.by_due.values().flat_map(|t| [Some(&t.shopper), t.deferred.as_ref().map(|c| &c.shopper)]).flatten().filter(|s| !s.is_empty() && resolves(s)).cloned());
        let mut removed = 0;
        for id in &doomed {
            if let Some(state) = self.shoppers.remove(id) {
                removed += 1;
                for (_, key) in state.armed {
                    self.timers.by_due.remove(&key);
                }
            }
        }
        self.aliases.retain(|from, to| !doomed.contains(from) && !doomed.contains(to));
        self.wishers.retain(|_, set| {
            set.retain(|w| !doomed.contains(w));
            !set.is_empty()
        });
        // Calendar timers name no shopper (an empty id), so they stay.
        self.timers.by_due.retain(|_, t| !doomed.contains(&t.shopper) && !t.deferred.as_ref().is_some_and(|c| doomed.contains(&c.shopper)));
        removed
    }

    fn canonical<'a>(&'a self, id: &'a str) -> &'a str {
        let mut cur = id;
        // Alias chains are short; the bound guards against a cycle from bad input.
        for _ in 0..8 {
            match self.aliases.get(cur) {
                Some(next) if next != cur => cur = next,
                _ => break,
            }
        }
        cur
    }

    /// Move event time to `t` (never backwards), firing every timer due at or before it.
    /// Timers due at the same instant are settled together, by priority.
    pub fn advance_to(&mut self, t: i64) -> Vec<Firing> {
        let mut out = Vec::new();
        while let Some((&(due, _), _)) = self.timers.by_due.first_key_value() {
            if due > t {
                break;
            }
            self.now_ms = self.now_ms.max(due);
            let mut candidates = Vec::new();
            while let Some(entry) = self.timers.by_due.first_entry() {
                if entry.key().0 != due {
                    break;
                }
                let key = *entry.key();
                let timer = entry.remove();
                candidates.extend(self.timer_candidates(due, key, timer));
            }
            out.extend(self.settle(candidates));
        }
        self.now_ms = self.now_ms.max(t);
        out
    }

    /// Apply one event (in event-time order). Timers due at or before its time fire first.
    pub fn apply(&mut self, e: &Event) -> Vec<Firing> {
        let mut out = self.advance_to(e.time_ms);
        self.arm_calendar(e.time_ms);
        if e.shopper_key().is_none() {
            let candidates = self.inventory(e);
            out.extend(self.settle(candidates));
            return out;
        }
        let Some(id) = self.identify(e) else { return out };
        // Two lookups for a known shopper are cheaper than cloning the id for `entry`.
        if !self.shoppers.contains_key(&id) {
            self.shoppers.insert(id.clone(), Box::default());
        }
        let Some(state) = self.shoppers.get_mut(&id) else { return out };
        // Metrics before the event, for threshold crossings (a reused buffer: no allocation).
        let mut before = std::mem::take(&mut self.scratch);
        before.clear();
        before.extend(self.config.moments.iter().map(|m| if let Trigger::Crossing { metric, .. } = m.trigger { metric.of(&state.profile) } else { 0.0 }));
        let new_session = state.profile.apply(e);
        if self.config.intent_features {
            let track = state.intent.get_or_insert_with(Box::default);
            if let Some(row) = track.push(&self.taxonomy, e, new_session)
                && let (Some(drift), Some(model)) = (&mut self.drift, &self.model)
            {
                self.drift_sessions += 1;
                if self.drift_sessions % DRIFT_SAMPLE_EVERY == 1 {
                    drift.observe(&row, model.score(&row));
                }
            }
        }
        if new_session {
            state.stage = None;
        }
        if let (Signal::Builtin(Builtin::ProductAddedToWishlist | Builtin::BackInStockRequested), Some(product)) = (&e.signal, &e.properties.product_id) {
            self.wishers.entry(product.clone()).or_default().insert(id.clone());
        }
        for (counted, by_product) in &mut self.recent {
            if *counted == e.signal {
                let products = e.properties.product_id.iter().chain(e.properties.items.iter().filter_map(|i| i.product_id.as_ref()));
                for product in products {
                    by_product.entry(product.clone()).or_default().push_back(e.time_ms);
                }
            }
        }
        self.arm_for_event(e, &id);
        // Moments that qualify at the event itself.
        let mut candidates = Vec::new();
        let profile_after = self.shoppers.get(&id).map(|s| &s.profile);
        let mut crossed: Vec<(usize, Vec<(String, Fact)>)> = Vec::new();
        for (m, before_m) in before.iter().enumerate() {
            if let Trigger::Crossing { metric, threshold } = &self.config.moments[m].trigger {
                let after = profile_after.map_or(0.0, |p| metric.of(p));
                if *before_m < *threshold && after >= *threshold {
                    crossed.push((m, vec![("value".to_string(), Fact::Num(after)), ("threshold".to_string(), Fact::Num(*threshold))]));
                }
            }
        }
        // The intent stage after this event, against the one after the session's last event.
        let stage_rise = if self.intent_triggers {
            self.shoppers.get_mut(&id).map(|state| {
                let now = intent::score(self.model.as_ref(), state.intent.as_deref(), &state.profile, &self.taxonomy, false);
                let before = state.stage.replace(now.stage).unwrap_or(IntentStage::Curiosity);
                (before, now)
            })
        } else {
            None
        };
        for m in 0..before.len() {
            let values = match &self.config.moments[m].trigger {
                Trigger::Intent { stage } => stage_rise.as_ref().and_then(|(before, now)| {
                    (*before < *stage && now.stage >= *stage).then(|| vec![("p".to_string(), Fact::Num(now.p)), ("stage".to_string(), Fact::Text(now.stage.as_str().to_string()))])
                }),
                Trigger::Signal { signals } => signals.contains(&e.signal).then(Vec::new),
                Trigger::Crossing { .. } => crossed.iter().position(|(cm, _)| *cm == m).map(|i| std::mem::take(&mut crossed[i].1)),
                Trigger::Popular { on, counted, window_ms, at_least } if *on == e.signal => {
                    let n = e.properties.product_id.as_ref().map_or(0, |product| {
                        let times = self.recent.iter_mut().find(|(s, _)| s == counted).and_then(|(_, by)| by.get_mut(product));
                        times.map_or(0, |t| {
                            while t.front().is_some_and(|&o| o <= e.time_ms - window_ms) {
                                t.pop_front();
                            }
                            t.len()
                        })
                    });
                    (n >= *at_least).then(|| vec![("count".to_string(), Fact::Num(n as f64)), ("window_minutes".to_string(), Fact::Num((*window_ms / MINUTE_MS) as f64))])
                }
                _ => None,
            };
            if let Some(values) = values {
                candidates.extend(self.qualify(m, &id, e.time_ms, Some(e), values, vec![e.message_id.clone()]));
            }
        }
        self.scratch = before;
        out.extend(self.settle(candidates));
        out
    }

    /// Arm, re-arm or cancel the shopper's timers that this event concerns.
    fn arm_for_event(&mut self, e: &Event, id: &str) {
        let Some(state) = self.shoppers.get_mut(id) else { return };
        for (m, spec) in self.config.moments.iter().enumerate() {
            let arm_at = match &spec.trigger {
                Trigger::Absence { wait_ms, after, unless, per_session } => {
                    if unless.contains(&e.signal) {
                        if let Some(old) = state.set_armed(m, None) {
                            self.timers.by_due.remove(&old);
                        }
                        None
                    } else if !after.contains(&e.signal) {
                        None
                    } else if !*per_session {
                        Some((e.time_ms + wait_ms, e.time_ms))
                    } else if state.profile.session.first_of(&e.signal) {
                        Some((e.time_ms + wait_ms, state.profile.session.start_ms))
                    } else {
                        None
                    }
                }
                // (Re-)arm when the date is first known or changes: the stamp is the due time.
                // Only events that carry the date, or a shopper not yet armed, pay for it.
                Trigger::ProfileDate { field, offset_days, hour }
                    if state.armed(m).is_none()
                        || match field {
                            DateField::Birthday => e.traits.birthday.is_some(),
                            DateField::Renewal => e.traits.renewal_date.is_some(),
                        } =>
                {
                    let due = next_date_due(&state.profile, *field, *offset_days, *hour, e.time_ms);
                    match (due, state.armed(m)) {
                        (Some(due), Some((armed_due, _))) if armed_due == due => None,
                        (Some(due), _) => Some((due, due)),
                        (None, _) => None,
                    }
                }
                _ => None,
            };
            if let Some((due, stamp)) = arm_at {
                // Replay never arms in the past; live, a slightly late event can, and its timer
                // then fires at the next advance.
                let trigger_id = matches!(spec.trigger, Trigger::Absence { per_session: false, .. }).then(|| e.message_id.clone());
                let key = self.timers.arm(due.max(self.now_ms), Timer { moment: m, shopper: id.to_string(), stamp, trigger_id, deferred: None });
                if let Some(old) = state.set_armed(m, Some(key)) {
                    self.timers.by_due.remove(&old);
                }
            }
        }
    }

    /// A server-side inventory event: back in stock for everyone who wished for the product.
    fn inventory(&mut self, e: &Event) -> Vec<Candidate> {
        let (Signal::Builtin(Builtin::ProductBackInStock), Some(product)) = (&e.signal, &e.properties.product_id) else { return Vec::new() };
        let Some(wishers) = self.wishers.get(product) else { return Vec::new() };
        // Resolve merged identities; a BTreeSet keeps the order deterministic.
        let shoppers: std::collections::BTreeSet<String> = wishers.iter().map(|w| self.canonical(w).to_string()).collect();
        let mut out = Vec::new();
        for m in 0..self.config.moments.len() {
            if self.config.moments[m].trigger != Trigger::BackInStock {
                continue;
            }
            for shopper in &shoppers {
                let Some(wishlist) = self.shoppers.get(shopper).map(|s| &s.profile.wishlist) else { continue };
                if wishlist.contains(product) {
                    let values = vec![("count".to_string(), Fact::Num(wishlist.len() as f64))];
                    out.extend(self.qualify(m, shopper, e.time_ms, Some(e), values, vec![e.message_id.clone()]));
                }
            }
        }
        out
    }

    /// The canonical shopper of an event, merging identities it reveals.
    fn identify(&mut self, e: &Event) -> Option<String> {
        let user = e.user_id.as_deref();
        let others = [e.anonymous_id.as_deref(), e.traits.previous_id.as_deref()];
        let canonical = match user {
            Some(u) => self.canonical(u).to_string(),
            None => self.canonical(e.anonymous_id.as_deref()?).to_string(),
        };
        if user.is_some() {
            for other in others.into_iter().flatten() {
                let other_canon = self.canonical(other).to_string();
                if other_canon == canonical {
                    continue;
                }
                self.aliases.insert(other.to_string(), canonical.clone());
                self.aliases.insert(other_canon.clone(), canonical.clone());
                if let Some(absorbed) = self.shoppers.remove(&other_canon) {
                    self.merge(&canonical, absorbed);
                }
            }
        }
        Some(canonical)
    }

    /// Fold an absorbed shopper into `into`: profile, caps, and their pending timers.
    fn merge(&mut self, into: &str, absorbed: Box<ShopperState>) {
        let target = self.shoppers.entry(into.to_string()).or_default();
        let absorbed = *absorbed;
        target.profile.absorb(absorbed.profile);
        // One shopper, two feature histories: keep the one the shopper is known by (merging
        // accumulators would need what they summarised).
        if target.intent.is_none() {
            target.intent = absorbed.intent;
        }
        target.counted.extend(absorbed.counted);
        target.counted.sort_by_key(|c| c.at);
        for (m, key) in absorbed.armed {
            let m = usize::from(m);
            if target.armed(m).is_none() {
                if let Some(t) = self.timers.by_due.get_mut(&key) {
                    t.shopper = into.to_string();
                }
                target.set_armed(m, Some(key));
            } else {
                self.timers.by_due.remove(&key);
            }
        }
    }

    /// Arm each calendar moment's next due time once event time is known.
    fn arm_calendar(&mut self, t: i64) {
        for m in 0..self.config.moments.len() {
            if self.calendar_armed[m].is_some() {
                continue;
            }
            if let Trigger::Calendar { month, day, hour, lead_ms } = self.config.moments[m].trigger
                && let Some(due) = next_calendar_due(month, day, hour, lead_ms, t)
            {
                self.calendar_armed[m] = Some(self.timers.arm(due, Timer { moment: m, shopper: String::new(), stamp: due, trigger_id: None, deferred: None }));
            }
        }
    }

    /// A due timer: the qualifications it brings (not yet decided).
    fn timer_candidates(&mut self, due: i64, key: (i64, u64), timer: Timer) -> Vec<Candidate> {
        if let Some(deferred) = timer.deferred {
            let mut c = *deferred;
            c.at = due;
            return vec![c];
        }
        let Some(spec) = self.config.moments.get(timer.moment) else { return Vec::new() };
        if let Trigger::Calendar { month, day, hour, lead_ms } = spec.trigger {
            // Everyone holding a cart now, in id order; then next year's date.
            self.calendar_armed[timer.moment] = None;
            let mut holders: Vec<String> = self.shoppers.iter().filter(|(_, s)| !s.profile.cart.is_empty()).map(|(id, _)| id.clone()).collect();
            holders.sort();
            let hours = (lead_ms / HOUR_MS) as f64;
            let out = holders.iter().filter_map(|id| self.qualify(timer.moment, id, due, None, vec![("hours_ahead".to_string(), Fact::Num(hours))], Vec::new())).collect();
            if let Some(next) = next_calendar_due(month, day, hour, lead_ms, due) {
                self.calendar_armed[timer.moment] = Some(self.timers.arm(next, Timer { moment: timer.moment, shopper: String::new(), stamp: next, trigger_id: None, deferred: None }));
            }
            return out;
        }
        let trigger = spec.trigger.clone();
        let Some(state) = self.shoppers.get_mut(&timer.shopper) else { return Vec::new() };
        if state.armed(timer.moment) != Some(key) {
            return Vec::new(); // re-armed or moved since: this timer is stale
        }
        state.set_armed(timer.moment, None);
        let p = &state.profile;
        let (values, trigger_ids) = match trigger {
            Trigger::ProfileDate { field, offset_days, hour } => {
                // Still the same date? (A changed date re-armed the timer, making this stale.)
                if next_date_due(p, field, offset_days, hour, due - 1) != Some(due) {
                    return Vec::new();
                }
                if let Some(next) = next_date_due(p, field, offset_days, hour, due) {
                    let key = self.timers.arm(next, Timer { moment: timer.moment, shopper: timer.shopper.clone(), stamp: next, trigger_id: None, deferred: None });
                    state.set_armed(timer.moment, Some(key));
                }
                (vec![("days_ahead".to_string(), Fact::Num(offset_days as f64))], Vec::new())
            }
            Trigger::Absence { wait_ms, per_session, .. } => {
                if per_session && p.session.start_ms != timer.stamp {
                    return Vec::new(); // a new session began: the old one's window is gone
                }
                (vec![("idle_minutes".to_string(), Fact::Num(wait_ms as f64 / MINUTE_MS as f64))], timer.trigger_id.into_iter().collect())
            }
            _ => return Vec::new(),
        };
        self.qualify(timer.moment, &timer.shopper, due, None, values, trigger_ids).into_iter().collect()
    }

    /// The trigger of moment `m` held for `shopper` at `at`: check the condition and, if it
    /// holds, make the candidate with the correlation key and the values seen.
    fn qualify(&mut self, m: usize, shopper: &str, at: i64, event: Option<&Event>, mut values: Vec<(String, Fact)>, trigger_ids: Vec<String>) -> Option<Candidate> {
        let spec = self.config.moments.get(m)?;
        let state = self.shoppers.get(shopper)?;
        if let Some(cond) = &spec.condition {
            let intent = || intent::score(self.model.as_ref(), state.intent.as_deref(), &state.profile, &self.taxonomy, true);
            let facts = condition::Facts { profile: &state.profile, event, intent: &intent, trigger: &values, nudges: state.profile.nudges };
            match cond.eval(&facts) {
                Ok((true, seen)) => values.extend(seen),
                Ok((false, _)) => {
                    self.stats.condition_false += 1;
                    return None;
                }
                Err(_) => {
                    self.stats.condition_errors += 1;
                    return None;
                }
            }
        }
        let correlation = spec.correlate.and_then(|c| correlation_key(c, event, &state.profile));
        Some(Candidate { moment: m, shopper: shopper.to_string(), at, values, trigger_ids, correlation })
    }

    /// Decide coinciding candidates, higher priority first (ties in the order they arose).
    fn settle(&mut self, mut candidates: Vec<Candidate>) -> Vec<Firing> {
        if candidates.len() > 1 {
            candidates.sort_by_key(|c| std::cmp::Reverse(self.config.moments.get(c.moment).map_or(0, |s| s.priority)));
        }
        candidates.into_iter().filter_map(|c| self.decide(c)).collect()
    }

    /// Decide a candidate: consent → cap → budget → quiet hours → holdout group → sent; keep
    /// the books of caps and budget; make the firing with its receipt.
    fn decide(&mut self, c: Candidate) -> Option<Firing> {
        let spec = self.config.moments.get(c.moment)?;
        let state = self.shoppers.get_mut(&c.shopper)?;
        let at = c.at;
        let p = &state.profile;
        let consent_granted = p.consent_for(&spec.consent_purpose).unwrap_or(if p.imported {
            self.config.consent.import_granted
        } else if spec.consent_purpose == "marketing" {
            self.config.consent.live_marketing_granted
        } else {
            self.config.consent.live_personalization_granted
        });
        let group = if holdout::is_holdout(self.config.seed, &c.shopper, &spec.name, spec.holdout_bp) { Group::Holdout } else { Group::Treatment };
        // Forget what no window reaches any more.
        let horizon = at - self.counted_horizon_ms;
        state.counted.retain(|k| k.at > horizon);
        let corr_hash = c.correlation.as_deref().map_or(0, |k| xxhash_rust::xxh3::xxh3_64(k.as_bytes()));
        let moment_id = c.moment as u16;
        let capped = spec.cap_ms.is_some_and(|cap| {
            let n = state.counted.iter().filter(|k| k.moment == moment_id && k.key == corr_hash && at - k.at < cap).count();
            n >= spec.cap_count as usize
        });
        let over_budget = spec.budgeted
            && self.config.budget.is_some_and(|b| {
                let n = state.counted.iter().filter(|k| self.config.moments.get(usize::from(k.moment)).is_some_and(|s| s.budgeted) && at - k.at < b.window_ms).count();
                n >= b.max as usize
            });
        let quiet_end = spec.quiet_hours.and_then(|q| quiet_until(q, p.timezone.as_deref(), at).map(|end| (q.defer, end)));
        let outcome = if !consent_granted {
            Outcome::NoConsent
        } else if capped {
            Outcome::Capped
        } else if over_budget {
            Outcome::Budget
        } else if let Some((defer, _)) = quiet_end {
            if defer { Outcome::Deferred } else { Outcome::QuietHours }
        } else if group == Group::Holdout {
            Outcome::Holdout
        } else {
            Outcome::Sent
        };
        // Scored (with reasons) for firings that reach a shopper or measure the holdout.
        let intent = matches!(outcome, Outcome::Sent | Outcome::Holdout | Outcome::Deferred)
            .then(|| intent::score(self.model.as_ref(), state.intent.as_deref(), &state.profile, &self.taxonomy, true));
        if matches!(outcome, Outcome::Sent | Outcome::Holdout) {
            state.counted.push(Counted { moment: moment_id, key: corr_hash, at, sent: outcome == Outcome::Sent });
        }
        if outcome == Outcome::Sent {
            state.profile.nudges += 1;
        }
        let mut firing = Firing {
            fire_id: fire_id_keyed(&spec.name, &c.shopper, at, c.correlation.as_deref()),
            moment: spec.name.clone(),
            user: c.shopper.clone(),
            at_ms: at,
            group,
            outcome,
            receipt: Receipt {
                trigger_event_ids: c.trigger_ids.clone(),
                values: c.values.clone(),
                intent,
                consent_purpose: spec.consent_purpose.clone(),
                consent_granted,
                correlation: c.correlation.clone(),
                rule_version: spec.version.clone(),
            },
            payload: None,
        };
        if outcome == Outcome::Sent
            && let Action::Webhook { template: Some(template), .. } = &spec.action
        {
            let intent = || firing.receipt.intent.clone().unwrap_or_else(|| intent::score(self.model.as_ref(), state.intent.as_deref(), &state.profile, &self.taxonomy, true));
            let facts = condition::Facts { profile: &state.profile, event: None, intent: &intent, trigger: &c.values, nudges: state.profile.nudges };
            firing.payload = Some(condition::render(template, &firing, &facts));
        }
        if let (Outcome::Deferred, Some((_, end))) = (outcome, quiet_end) {
            self.timers.arm(end, Timer { moment: c.moment, shopper: c.shopper.clone(), stamp: end, trigger_id: None, deferred: Some(Box::new(c)) });
        }
        Some(firing)
    }
}

/// The correlation key of a qualification, if its moment has one and the trigger carries it.
fn correlation_key(c: Correlation, event: Option<&Event>, p: &Profile) -> Option<String> {
    let props = event.map(|e| &e.properties);
    match c {
        Correlation::Product => props.and_then(|p| p.product_id.clone()),
        Correlation::Order => props.and_then(|p| p.order_id.clone()),
        Correlation::Cart => props.and_then(|p| p.cart_id.clone()).or_else(|| {
            let mut ids: Vec<&str> = p.cart.iter().filter_map(|l| l.product_id.as_deref()).collect();
            ids.sort_unstable();
            (!ids.is_empty()).then(|| ids.join(","))
        }),
    }
}

/// Whether local minute-of-day `minute` is in the quiet hours.
fn is_quiet(q: QuietHours, minute: u16) -> bool {
    if q.from_min < q.to_min { q.from_min <= minute && minute < q.to_min } else { minute >= q.from_min || minute < q.to_min }
}

fn local_minute(t: i64, zone: &jiff::tz::TimeZone) -> Option<u16> {
    let z = jiff::Timestamp::from_millisecond(t).ok()?.to_zoned(zone.clone());
    Some((z.hour() as u16) * 60 + z.minute() as u16)
}

/// When `at` falls in the quiet hours in time zone `tz` (UTC when unknown): the first instant
/// after it whose local time is outside them.
fn quiet_until(q: QuietHours, tz: Option<&str>, at: i64) -> Option<i64> {
    let zone = tz.and_then(|n| jiff::tz::TimeZone::get(n).ok()).unwrap_or(jiff::tz::TimeZone::UTC);
    let minute = local_minute(at, &zone)?;
    if !is_quiet(q, minute) {
        return None;
    }
    let local = jiff::Timestamp::from_millisecond(at).ok()?.to_zoned(zone.clone());
    let mut date = local.date();
    if minute >= q.to_min {
        date = date.tomorrow().ok()?;
    }
    let (h, m) = ((q.to_min / 60) as i8, (q.to_min % 60) as i8);
    // A daylight-saving jump can swallow the end (02:00 on the night clocks go from 02:00 to
    // 03:00), or the whole non-quiet window: then try the next day.
    for _ in 0..4 {
        let end = date.at(h, m, 0, 0).to_zoned(zone.clone()).ok()?.timestamp().as_millisecond();
        if local_minute(end, &zone) == Some(q.to_min) {
            if end > at {
                return Some(end);
            }
        } else {
            // The end fell in a gap, and jiff moved it past the gap. Quiet hours ended at the
            // jump, or the gap swallowed the whole window that is not quiet (then try the next
            // day): take the first minute that is not quiet in the three hours before (gaps
            // are at most an hour; offsets are whole minutes, so minutes stay aligned).
            let first = (0..=180).rev().map(|k| end - k * MINUTE_MS).find(|&t| t > at && local_minute(t, &zone).is_some_and(|l| !is_quiet(q, l)));
            if first.is_some() {
                return first;
            }
        }
        date = date.tomorrow().ok()?;
    }
    None
}

#[cfg(test)]
mod checkpoint_tests;
#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod intent_tests;
