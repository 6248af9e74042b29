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

pub mod holdout;
mod profile;

use std::collections::{BTreeMap, HashMap};

use glint_event::{Builtin, Event, Signal, Taxonomy};

pub use profile::{CartLine, Profile, SESSION_GAP_MS, Session};

/// Version of the built-in moment rules; recorded in every receipt.
pub const RULES_VERSION: u32 = 1;

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
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig { seed: 0x611e7, consent: ConsentDefaults::default(), moments: MomentSpec::defaults() }
    }
}

/// How a moment is recognised.
#[derive(Clone, Debug, PartialEq)]
pub enum Trigger {
    /// A non-empty cart with no cart activity (add, remove, checkout, order) for `idle_ms`.
    CartIdle {
        /// Inactivity before the moment qualifies.
        idle_ms: i64,
    },
    /// A session with at least `min_views` product views and no add to cart, `wait_ms` after
    /// its first product view.
    BrowseWithoutAdd {
        /// Product views needed.
        min_views: u32,
        /// Wait after the session's first product view.
        wait_ms: i64,
    },
    /// At the event: one of `signals`. A rating filter applies to events that carry a rating;
    /// `min_orders` counts orders before the event.
    OnSignal {
        /// Signals that qualify.
        signals: Vec<Builtin>,
        /// Only ratings at most this (bad reviews).
        rating_at_most: Option<f64>,
        /// Only ratings at least this (happy reviews).
        rating_at_least: Option<f64>,
        /// Orders the shopper must have completed before.
        min_orders: u32,
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
    /// When a shopper views a product that shoppers bought at least `min_orders` times in the
    /// last `window_ms` (a windowed count across all shoppers).
    Popular {
        /// Orders of the product needed in the window.
        min_orders: usize,
        /// The window.
        window_ms: i64,
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

    fn name(self) -> &'static str {
        match self {
            Metric::Revenue => "lifetime.revenue",
            Metric::Orders => "lifetime.orders",
            Metric::Points => "points",
        }
    }
}

/// One moment: how it is recognised, and the rules for acting on it.
#[derive(Clone, Debug, PartialEq)]
pub struct MomentSpec {
    /// Its name, as in firings.
    pub name: String,
    /// How it is recognised.
    pub trigger: Trigger,
    /// At most one `sent` or `holdout` firing per shopper in this window.
    pub cap_ms: Option<i64>,
    /// Share held out, in basis points (1,000 = 10 %).
    pub holdout_bp: u32,
    /// The consent purpose acting on it needs.
    pub consent_purpose: String,
    /// Signals that count as the KPI's conversion.
    pub kpi_signals: Vec<Builtin>,
    /// Window after the firing in which a conversion counts.
    pub kpi_window_ms: i64,
}

impl MomentSpec {
    /// The built-in moments so far: `cart_wobble` and `browse_drift` (timers, with the exact
    /// semantics of the issue), `back_in_stock` (inventory matched to wishes), `vip_tier` and
    /// `reward_unlock` (threshold crossings), `service_recovery`, `apology` and
    /// `referral_nudge` (at the event).
    pub fn defaults() -> Vec<MomentSpec> {
        vec![
            MomentSpec {
                name: "cart_wobble".into(),
                trigger: Trigger::CartIdle { idle_ms: 30 * MINUTE_MS },
                cap_ms: Some(24 * HOUR_MS),
                holdout_bp: 1_000,
                consent_purpose: "marketing".into(),
                kpi_signals: vec![Builtin::CartViewed, Builtin::CheckoutStarted, Builtin::OrderCompleted],
                kpi_window_ms: 24 * HOUR_MS,
            },
            MomentSpec {
                name: "browse_drift".into(),
                trigger: Trigger::BrowseWithoutAdd { min_views: 5, wait_ms: 30 * MINUTE_MS },
                cap_ms: Some(24 * HOUR_MS),
                holdout_bp: 1_000,
                consent_purpose: "marketing".into(),
                kpi_signals: vec![Builtin::ProductAdded],
                kpi_window_ms: 24 * HOUR_MS,
            },
            MomentSpec {
                name: "back_in_stock".into(),
                trigger: Trigger::BackInStock,
                cap_ms: Some(24 * HOUR_MS),
                holdout_bp: 1_000,
                consent_purpose: "marketing".into(),
                kpi_signals: vec![Builtin::ProductAdded, Builtin::OrderCompleted],
                kpi_window_ms: 72 * HOUR_MS,
            },
            MomentSpec {
                name: "vip_tier".into(),
                trigger: Trigger::Crossing { metric: Metric::Revenue, threshold: 500.0 },
                cap_ms: None,
                holdout_bp: 1_000,
                consent_purpose: "marketing".into(),
                kpi_signals: vec![Builtin::OrderCompleted],
                kpi_window_ms: 30 * 24 * HOUR_MS,
            },
            MomentSpec {
                name: "reward_unlock".into(),
                trigger: Trigger::Crossing { metric: Metric::Points, threshold: 1_000.0 },
                cap_ms: None,
                holdout_bp: 1_000,
                consent_purpose: "marketing".into(),
                kpi_signals: vec![Builtin::CouponApplied, Builtin::OrderCompleted],
                kpi_window_ms: 14 * 24 * HOUR_MS,
            },
            MomentSpec {
                name: "social_proof".into(),
                trigger: Trigger::Popular { min_orders: 3, window_ms: HOUR_MS },
                cap_ms: Some(24 * HOUR_MS),
                holdout_bp: 1_000,
                consent_purpose: "personalization".into(),
                kpi_signals: vec![Builtin::ProductAdded],
                kpi_window_ms: HOUR_MS,
            },
            MomentSpec {
                name: "birthday".into(),
                trigger: Trigger::ProfileDate { field: DateField::Birthday, offset_days: 0, hour: 9 },
                cap_ms: None,
                holdout_bp: 1_000,
                consent_purpose: "marketing".into(),
                kpi_signals: vec![Builtin::OrderCompleted],
                kpi_window_ms: 7 * 24 * HOUR_MS,
            },
            MomentSpec {
                name: "subscription_renewal".into(),
                trigger: Trigger::ProfileDate { field: DateField::Renewal, offset_days: 3, hour: 9 },
                cap_ms: None,
                holdout_bp: 1_000,
                consent_purpose: "marketing".into(),
                kpi_signals: vec![Builtin::OrderCompleted],
                kpi_window_ms: 7 * 24 * HOUR_MS,
            },
            MomentSpec {
                name: "holiday_cutoff".into(),
                // Christmas shipping cutoff, 18 December 12:00 UTC; the nudge goes 48 hours before.
                trigger: Trigger::Calendar { month: 12, day: 18, hour: 12, lead_ms: 48 * HOUR_MS },
                cap_ms: Some(24 * HOUR_MS),
                holdout_bp: 1_000,
                consent_purpose: "marketing".into(),
                kpi_signals: vec![Builtin::OrderCompleted],
                kpi_window_ms: 48 * HOUR_MS,
            },
            // Service moments answer the shopper's own problem: they need only the
            // personalization purpose, not marketing consent.
            MomentSpec {
                name: "service_recovery".into(),
                trigger: Trigger::OnSignal {
                    signals: vec![Builtin::OrderDelayed, Builtin::OrderCancelled, Builtin::OrderRefunded],
                    rating_at_most: None,
                    rating_at_least: None,
                    min_orders: 0,
                },
                cap_ms: Some(24 * HOUR_MS),
                holdout_bp: 1_000,
                consent_purpose: "personalization".into(),
                kpi_signals: vec![Builtin::OrderCompleted],
                kpi_window_ms: 30 * 24 * HOUR_MS,
            },
            MomentSpec {
                name: "apology".into(),
                trigger: Trigger::OnSignal {
                    signals: vec![Builtin::ReviewSubmitted, Builtin::SupportTicketOpened],
                    rating_at_most: Some(2.0),
                    rating_at_least: None,
                    min_orders: 0,
                },
                cap_ms: Some(24 * HOUR_MS),
                holdout_bp: 1_000,
                consent_purpose: "personalization".into(),
                kpi_signals: vec![Builtin::OrderCompleted],
                kpi_window_ms: 30 * 24 * HOUR_MS,
            },
            MomentSpec {
                name: "referral_nudge".into(),
                trigger: Trigger::OnSignal {
                    signals: vec![Builtin::ReviewSubmitted],
                    rating_at_most: None,
                    rating_at_least: Some(4.0),
                    min_orders: 1,
                },
                cap_ms: Some(7 * 24 * HOUR_MS),
                holdout_bp: 1_000,
                consent_purpose: "marketing".into(),
                kpi_signals: vec![Builtin::AccountCreated, Builtin::OrderCompleted],
                kpi_window_ms: 14 * 24 * HOUR_MS,
            },
        ]
    }
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
    /// The values the rule looked at, by name.
    pub values: Vec<(&'static str, f64)>,
    /// Intent score at the firing and its top reasons (signal, contribution).
    pub intent: f64,
    /// The top contributions to the intent score.
    pub reasons: Vec<(&'static str, f64)>,
    /// The consent purpose checked, and what was found.
    pub consent_purpose: String,
    /// Whether consent was granted (stated or by default).
    pub consent_granted: bool,
    /// Version of the rules.
    pub rule_version: u32,
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
}

/// The deterministic firing id: moment, shopper and time hashed.
pub fn fire_id(moment: &str, shopper: &str, at_ms: i64) -> String {
    let mut buf = Vec::with_capacity(moment.len() + shopper.len() + 10);
    buf.extend_from_slice(moment.as_bytes());
    buf.push(0);
    buf.extend_from_slice(shopper.as_bytes());
    buf.push(0);
    buf.extend_from_slice(&at_ms.to_le_bytes());
    format!("{:032x}", xxhash_rust::xxh3::xxh3_128(&buf))
}

/// A pending timer: which moment, for whom, and what it was armed for.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Timer {
    moment: usize,
    shopper: String,
    /// The activity or session start it was armed for; a stale timer (the shopper moved on)
    /// finds its stamp no longer matches and does nothing.
    stamp: i64,
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

#[derive(Debug, Default)]
struct ShopperState {
    profile: Profile,
    /// Per moment: when the last `sent` or `holdout` firing was (for caps).
    last_counted: Vec<Option<i64>>,
    /// Per moment: the key of its armed timer, if any.
    armed: Vec<Option<(i64, u64)>>,
}

impl ShopperState {
    fn new(n_moments: usize) -> ShopperState {
        ShopperState { profile: Profile::default(), last_counted: vec![None; n_moments], armed: vec![None; n_moments] }
    }
}

/// The engine: every shopper's state and the pending timers.
#[derive(Debug)]
pub struct Engine {
    config: EngineConfig,
    taxonomy: Taxonomy,
    shoppers: HashMap<String, ShopperState, foldhash::fast::FixedState>,
    /// Anonymous (or previous) id → the id it was merged into.
    aliases: HashMap<String, String, foldhash::fast::FixedState>,
    /// Product → shoppers who wished for it or asked about it (for back in stock).
    wishers: HashMap<String, std::collections::BTreeSet<String>, foldhash::fast::FixedState>,
    /// Product → times it was ordered, oldest first, pruned to the longest `Popular` window.
    recent_orders: HashMap<String, std::collections::VecDeque<i64>, foldhash::fast::FixedState>,
    /// Per moment: the key of its armed calendar timer (calendar timers have no shopper).
    calendar_armed: Vec<Option<(i64, u64)>>,
    timers: Timers,
    now_ms: i64,
}

impl Engine {
    /// An engine with no shoppers yet.
    pub fn new(config: EngineConfig, taxonomy: Taxonomy) -> Engine {
        let n_moments = config.moments.len();
        let mut engine = Engine {
            config,
            taxonomy,
            shoppers: HashMap::default(),
            aliases: HashMap::default(),
            wishers: HashMap::default(),
            recent_orders: HashMap::default(),
            calendar_armed: Vec::new(),
            timers: Timers::default(),
            now_ms: i64::MIN,
        };
        engine.calendar_armed = vec![None; n_moments];
        engine
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

    /// Moments pending for a shopper (by any of their ids): name and due time, soonest first.
    pub fn pending_for(&self, id: &str) -> Vec<(&str, i64)> {
        let Some(state) = self.shoppers.get(self.canonical(id)) else { return Vec::new() };
        let mut out: Vec<(&str, i64)> = state.armed.iter().enumerate().filter_map(|(m, k)| k.map(|(due, _)| (self.config.moments[m].name.as_str(), due))).collect();
        out.sort_by_key(|(_, due)| *due);
        out
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
    pub fn advance_to(&mut self, t: i64) -> Vec<Firing> {
        let mut out = Vec::new();
        while let Some((&(due, seq), _)) = self.timers.by_due.first_key_value() {
            if due > t {
                break;
            }
            let Some(timer) = self.timers.by_due.remove(&(due, seq)) else { break };
            self.now_ms = self.now_ms.max(due);
            out.extend(self.fire(due, (due, seq), timer));
        }
        self.now_ms = self.now_ms.max(t);
        out
    }

    /// Apply one event (in event-time order). Timers due at or before its time fire first.
    /// Events without a shopper (inventory updates) only advance time for now.
    pub fn apply(&mut self, e: &Event) -> Vec<Firing> {
        let mut out = self.advance_to(e.time_ms);
        self.arm_calendar(e.time_ms);
        if e.shopper_key().is_none() {
            out.extend(self.inventory(e));
            return out;
        }
        let Some(id) = self.identify(e) else { return out };
        let n_moments = self.config.moments.len();
        let state = self.shoppers.entry(id.clone()).or_insert_with(|| ShopperState::new(n_moments));
        let before: Vec<f64> = self.config.moments.iter().map(|m| if let Trigger::Crossing { metric, .. } = m.trigger { metric.of(&state.profile) } else { 0.0 }).collect();
        let orders_before = state.profile.orders;
        state.profile.apply(e);
        if let (Signal::Builtin(Builtin::ProductAddedToWishlist | Builtin::BackInStockRequested), Some(product)) = (&e.signal, &e.properties.product_id) {
            self.wishers.entry(product.clone()).or_default().insert(id.clone());
        }
        if e.signal == Signal::Builtin(Builtin::OrderCompleted) {
            let products = e.properties.product_id.iter().chain(e.properties.items.iter().filter_map(|i| i.product_id.as_ref()));
            for product in products {
                self.recent_orders.entry(product.clone()).or_default().push_back(e.time_ms);
            }
        }
        for m in 0..n_moments {
            let arm_at = match (&self.config.moments[m].trigger, &e.signal) {
                (
                    Trigger::CartIdle { idle_ms },
                    Signal::Builtin(Builtin::ProductAdded | Builtin::ProductRemoved | Builtin::CheckoutStarted | Builtin::OrderCompleted),
                ) => Some((e.time_ms + idle_ms, e.time_ms)),
                (Trigger::BrowseWithoutAdd { wait_ms, .. }, Signal::Builtin(Builtin::ProductViewed))
                    if state.profile.session.first_view_ms == Some(e.time_ms) && state.profile.session.count(Builtin::ProductViewed) == 1 =>
                {
                    Some((e.time_ms + wait_ms, state.profile.session.start_ms))
                }
                // (Re-)arm when the date is first known or changes: the stamp is the due time.
                // Only events that carry the date, or a shopper not yet armed, pay for it.
                (Trigger::ProfileDate { field, offset_days, hour }, _)
                    if state.armed[m].is_none()
                        || match field {
                            DateField::Birthday => e.traits.birthday.is_some(),
                            DateField::Renewal => e.traits.renewal_date.is_some(),
                        } =>
                {
                    let due = next_date_due(&state.profile, *field, *offset_days, *hour, e.time_ms);
                    match (due, state.armed[m]) {
                        (Some(due), Some((armed_due, _))) if armed_due == due => None,
                        (Some(due), _) => Some((due, due)),
                        (None, _) => None,
                    }
                }
                _ => None,
            };
            if let Some((due, stamp)) = arm_at {
                if let Some(old) = state.armed[m].take() {
                    self.timers.by_due.remove(&old);
                }
                // Replay never arms in the past; live, a slightly late event can, and its timer
                // then fires at the next advance.
                state.armed[m] = Some(self.timers.arm(due.max(self.now_ms), Timer { moment: m, shopper: id.clone(), stamp }));
            }
        }
        // Moments that qualify at the event itself, in the order they are configured.
        for (m, before_m) in before.iter().enumerate() {
            let hit = match &self.config.moments[m].trigger {
                Trigger::OnSignal { signals, rating_at_most, rating_at_least, min_orders } => {
                    let rating = e.properties.rating;
                    matches!(&e.signal, Signal::Builtin(b) if signals.contains(b))
                        && rating_at_most.is_none_or(|max| rating.is_none_or(|r| r <= max))
                        && rating_at_least.is_none_or(|min| rating.is_some_and(|r| r >= min))
                        && orders_before >= *min_orders
                }
                Trigger::Crossing { metric, threshold } => {
                    let after = self.shoppers.get(&id).map_or(0.0, |s| metric.of(&s.profile));
                    *before_m < *threshold && after >= *threshold
                }
                Trigger::Popular { min_orders, window_ms } => match (&e.signal, &e.properties.product_id) {
                    (Signal::Builtin(Builtin::ProductViewed), Some(product)) => {
                        let times = self.recent_orders.get_mut(product);
                        let n = times.map_or(0, |t| {
                            while t.front().is_some_and(|&o| o <= e.time_ms - window_ms) {
                                t.pop_front();
                            }
                            t.len()
                        });
                        n >= *min_orders
                    }
                    _ => false,
                },
                _ => false,
            };
            if hit {
                let values = match &self.config.moments[m].trigger {
                    Trigger::Crossing { metric, threshold } => {
                        vec![(metric.name(), self.shoppers.get(&id).map_or(0.0, |s| metric.of(&s.profile))), ("threshold", *threshold)]
                    }
                    Trigger::Popular { window_ms, .. } => {
                        let n = e.properties.product_id.as_ref().and_then(|p| self.recent_orders.get(p)).map_or(0, |t| t.len());
                        vec![("product.orders_in_window", n as f64), ("window_minutes", (*window_ms / MINUTE_MS) as f64)]
                    }
                    _ => e.properties.rating.map(|r| vec![("rating", r)]).unwrap_or_default(),
                };
                out.extend(self.decide(m, &id, e.time_ms, values, vec![e.message_id.clone()]));
            }
        }
        out
    }

    /// A server-side inventory event: back in stock for everyone who wished for the product.
    fn inventory(&mut self, e: &Event) -> Vec<Firing> {
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
                    let values = vec![("wishlist.size", wishlist.len() as f64)];
                    out.extend(self.decide(m, shopper, e.time_ms, values, vec![e.message_id.clone()]));
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
    fn merge(&mut self, into: &str, absorbed: ShopperState) {
        let n_moments = self.config.moments.len();
        let target = self.shoppers.entry(into.to_string()).or_insert_with(|| ShopperState::new(n_moments));
        target.profile.absorb(absorbed.profile);
        for m in 0..n_moments {
            target.last_counted[m] = match (target.last_counted[m], absorbed.last_counted[m]) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            if let Some(key) = absorbed.armed[m] {
                if target.armed[m].is_none() {
                    if let Some(t) = self.timers.by_due.get_mut(&key) {
                        t.shopper = into.to_string();
                    }
                    target.armed[m] = Some(key);
                } else {
                    self.timers.by_due.remove(&key);
                }
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
                {
                    self.calendar_armed[m] = Some(self.timers.arm(due, Timer { moment: m, shopper: String::new(), stamp: due }));
                }
            }
        }
    }

    /// A due timer: decide whether its moment qualifies, and with what outcome.
    fn fire(&mut self, due: i64, key: (i64, u64), timer: Timer) -> Vec<Firing> {
        let Some(spec) = self.config.moments.get(timer.moment).cloned() else { return Vec::new() };
        if let Trigger::Calendar { month, day, hour, lead_ms } = spec.trigger {
            // Everyone holding a cart now, in id order; then next year's date.
            self.calendar_armed[timer.moment] = None;
            let mut holders: Vec<(String, f64)> = self.shoppers.iter().filter(|(_, s)| !s.profile.cart.is_empty()).map(|(id, s)| (id.clone(), s.profile.cart_value())).collect();
            holders.sort_by(|a, b| a.0.cmp(&b.0));
            let hours = (lead_ms / HOUR_MS) as f64;
            let out = holders.into_iter().filter_map(|(id, value)| self.decide(timer.moment, &id, due, vec![("cart.value", value), ("hours_to_cutoff", hours)], Vec::new())).collect();
            if let Some(next) = next_calendar_due(month, day, hour, lead_ms, due) {
                self.calendar_armed[timer.moment] = Some(self.timers.arm(next, Timer { moment: timer.moment, shopper: String::new(), stamp: next }));
            }
            return out;
        }
        self.fire_for_shopper(due, key, timer, spec).into_iter().collect()
    }

    fn fire_for_shopper(&mut self, due: i64, key: (i64, u64), timer: Timer, spec: MomentSpec) -> Option<Firing> {
        let state = self.shoppers.get_mut(&timer.shopper)?;
        if state.armed[timer.moment] != Some(key) {
            return None; // re-armed or moved since: this timer is stale
        }
        state.armed[timer.moment] = None;
        let p = &state.profile;
        let (values, trigger_ids) = match spec.trigger {
            Trigger::OnSignal { .. } | Trigger::Crossing { .. } | Trigger::BackInStock | Trigger::Popular { .. } | Trigger::Calendar { .. } => return None,
            Trigger::ProfileDate { field, offset_days, hour } => {
                // Still the same date? (A changed date re-armed the timer, making this stale.)
                if next_date_due(p, field, offset_days, hour, due - 1) != Some(due) {
                    return None;
                }
                let next = next_date_due(p, field, offset_days, hour, due);
                let values = vec![("days_ahead", offset_days as f64)];
                let firing = self.decide(timer.moment, &timer.shopper, due, values, Vec::new());
                if let (Some(next), Some(state)) = (next, self.shoppers.get_mut(&timer.shopper)) {
                    state.armed[timer.moment] = Some(self.timers.arm(next, Timer { moment: timer.moment, shopper: timer.shopper.clone(), stamp: next }));
                }
                return firing;
            }
            Trigger::CartIdle { idle_ms } => {
                if p.cart.is_empty() || p.cart_activity_ms != Some(timer.stamp) {
                    return None;
                }
                let values = vec![("cart.items", p.cart_items()), ("cart.value", p.cart_value()), ("idle_minutes", (idle_ms / MINUTE_MS) as f64)];
                (values, p.cart_activity_event.iter().cloned().collect())
            }
            Trigger::BrowseWithoutAdd { min_views, .. } => {
                let s = &p.session;
                if s.start_ms != timer.stamp || s.count(Builtin::ProductAdded) > 0 || s.count(Builtin::ProductViewed) < min_views {
                    return None;
                }
                let values = vec![("session.product_views", f64::from(s.count(Builtin::ProductViewed))), ("session.product_added", 0.0)];
                (values, Vec::new())
            }
        };
        self.decide(timer.moment, &timer.shopper, due, values, trigger_ids)
    }

    /// A qualification of moment `m` for `shopper` at `at`: the checks in order (consent →
    /// cap → holdout group → sent), the cap's bookkeeping, and the firing with its receipt.
    fn decide(&mut self, m: usize, shopper: &str, at: i64, values: Vec<(&'static str, f64)>, trigger_ids: Vec<String>) -> Option<Firing> {
        let spec = self.config.moments.get(m)?;
        let state = self.shoppers.get_mut(shopper)?;
        let p = &state.profile;
        let (intent, reasons) = p.intent(&self.taxonomy);
        let consent_granted = p.consent_for(&spec.consent_purpose).unwrap_or(if p.imported {
            self.config.consent.import_granted
        } else if spec.consent_purpose == "marketing" {
            self.config.consent.live_marketing_granted
        } else {
            self.config.consent.live_personalization_granted
        });
        let group = if holdout::is_holdout(self.config.seed, shopper, &spec.name, spec.holdout_bp) { Group::Holdout } else { Group::Treatment };
        let capped = match (spec.cap_ms, state.last_counted[m]) {
            (Some(cap), Some(last)) => at - last < cap,
            _ => false,
        };
        let outcome = if !consent_granted {
            Outcome::NoConsent
        } else if capped {
            Outcome::Capped
        } else if group == Group::Holdout {
            Outcome::Holdout
        } else {
            Outcome::Sent
        };
        if matches!(outcome, Outcome::Sent | Outcome::Holdout) {
            state.last_counted[m] = Some(at);
        }
        Some(Firing {
            fire_id: fire_id(&spec.name, shopper, at),
            moment: spec.name.clone(),
            user: shopper.to_string(),
            at_ms: at,
            group,
            outcome,
            receipt: Receipt {
                trigger_event_ids: trigger_ids,
                values,
                intent,
                reasons,
                consent_purpose: spec.consent_purpose.clone(),
                consent_granted,
                rule_version: RULES_VERSION,
            },
        })
    }
}

#[cfg(test)]
mod tests;
