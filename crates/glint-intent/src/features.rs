//! Features: what a session prefix says about purchase intent, as a fixed, named vector.
//!
//! A **session prefix** is the events of one shopper's session so far. Its features come from
//! two accumulators, fed one event at a time in event time — the same code for the batch export
//! (`glint features`), training, and (later) live scoring in the engine, so what a model is
//! trained on is exactly what it is served:
//!
//! - [`ShopperHistory`], one per shopper, remembers the shopper across sessions;
//! - [`SessionFeatures`], one per session, is opened from the history at the session's first
//!   event ([`ShopperHistory::open_session`]), takes that session's events
//!   ([`SessionFeatures::push`]) and reads out the vector ([`SessionFeatures::values`] or
//!   [`SessionFeatures::fill`]), whose columns are [`FEATURE_NAMES`].
//!
//! Where sessions begin and end is the caller's decision: the export uses the sessions of
//! `glint stats` (see [`crate::dataset`]). Per event: open the session if the event starts one,
//! push the event to its session, then to the shopper's history.
//!
//! # Feature families
//!
//! Session prefix (every count is over the pushed events only):
//! - `n_<signal>`: events per builtin signal, in [`Builtin::ALL`] order (this covers search and
//!   filter use — `n_products_searched`, `n_product_list_filtered` —, review and video
//!   engagement — `n_reviews_viewed`, `n_video_played` — and wishlist adds —
//!   `n_product_added_to_wishlist`); `n_custom`: custom signals; `n_events`: all events.
//! - `n_stage_top|middle|bottom`: events per funnel stage, as the [`Taxonomy`] stages them
//!   (custom signals included).
//! - `taxonomy_score`: Σ weight × count over builtin signals — the engine's stand-in intent
//!   score (`Profile::intent`) before its logistic squash.
//! - `distinct_products`, `distinct_categories`: distinct product ids and categories named by
//!   the events' properties or items.
//! - `view_price_min|mean|max`: `properties.price` of `product_viewed` events (0 when none).
//! - `cart_items`, `cart_value`: the session's cart as the engine keeps one — an add puts
//!   `quantity` (default 1) of a product at its price, a remove takes the whole product out, an
//!   order empties it; items are Σ quantity, value Σ quantity × price. Only this session's adds:
//!   a cart carried over from an earlier session is not counted.
//! - `gap_mean_s`, `gap_max_s`: dwell between consecutive events (seconds);
//!   `product_dwell_total_s`, `product_dwell_mean_s`: time on product views — the gap after each
//!   `product_viewed` to the session's next event (a view with no next event yet is not
//!   counted); `session_duration_s`: the last event's time less the session's start.
//!
//! Across sessions, as the shopper stood just before the session's first event:
//! - `earlier_sessions`: sessions opened before this one; `recency_days`: time since the
//!   shopper's previous event (the previous session's end); `tenure_days`: time since the
//!   shopper's first event (both 0 for a first session).
//! - `events_7d`, `events_30d`: the shopper's earlier events on the session's UTC day and the
//!   6 (or 29) UTC days before it. Counted per whole day, so a shopper's memory is a handful of
//!   (day, count) pairs whatever their traffic.
//! - `reengaged`: 1 when the previous event lies more than [`REENGAGEMENT_GAP_MS`] (7 days)
//!   before the session's start.
//! - `earlier_orders`, `earlier_revenue`: orders completed before the session, and their value
//!   (`revenue`, else Σ items' price × quantity, else price × quantity).
//!
//! Context:
//! - `device_*`: one-hot of [`DeviceType`], the last device the session's events named
//!   (`unknown` until one does).
//! - `hour_local`, `weekday_local` (0 = Monday): the session's start in the shopper's time zone —
//!   the last `context.timezone` the shopper sent, in this session or before; UTC when none is
//!   known or the name is not a zone.
//! - `referrer_*`: one-hot of [`ReferrerClass`], the first class the session's events named.
//!
//! Missing values are 0 (with a count or one-hot beside them that tells "none" from "zero"), so
//! every learner can read the matrix; every value is finite.
//!
//! # The leak rule
//!
//! A feature may only see events strictly before the moment being predicted. The accumulators
//! cannot look ahead — a value depends only on the events pushed so far and on the history at
//! the session's start — so the rule is the caller's: push only the prefix. For the label
//! `purchase-in-session`, [`crate::dataset`] pushes a session's events only while their time is
//! strictly before the session's first `order_completed`; events at that same instant are
//! withheld too, since a shop may log them as side effects of the order.
//!
//! # Compatibility
//!
//! [`FEATURE_SCHEMA_VERSION`] and [`FEATURE_SCHEMA_HASH`] (a hash of the version and the names)
//! name this vector; a model records [`FeatureSchema::CURRENT`] and checks it on load. The
//! stages and weights come from the taxonomy, so a model also records
//! [`taxonomy_fingerprint`].

use glint_event::{Builtin, DeviceType, Event, Properties, ReferrerClass, Signal, Stage, Taxonomy};

use serde::{Deserialize, Serialize};

use crate::Error;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// The short frequency window, in UTC days (the session's day included).
pub const WEEK_DAYS: i64 = 7;

/// The long frequency window, in UTC days (the session's day included); a shopper's history
/// forgets days older than this.
pub const MONTH_DAYS: i64 = 30;

/// A quiet spell longer than this before a session makes it a re-engagement (`reengaged`):
/// a week, the usual boundary between a returning and a lapsed shopper in CRM flows.
pub const REENGAGEMENT_GAP_MS: i64 = 7 * DAY_MS;

/// Version of the feature vector. Bump it with any change to the names, their order or their
/// meaning; [`FEATURE_SCHEMA_HASH`] catches changes to the names alone.
pub const FEATURE_SCHEMA_VERSION: u32 = 1;

/// The feature columns, in vector order.
pub const FEATURE_NAMES: &[&str] = &[
    // Per builtin signal, in `Builtin::ALL` order (checked by a test).
    "n_page_viewed",
    "n_products_searched",
    "n_product_list_viewed",
    "n_product_list_filtered",
    "n_product_viewed",
    "n_product_clicked",
    "n_reviews_viewed",
    "n_video_played",
    "n_product_added_to_wishlist",
    "n_product_added",
    "n_product_removed",
    "n_cart_viewed",
    "n_checkout_started",
    "n_checkout_step_completed",
    "n_payment_info_entered",
    "n_order_completed",
    "n_order_refunded",
    "n_order_cancelled",
    "n_coupon_applied",
    "n_newsletter_subscribed",
    "n_account_created",
    "n_back_in_stock_requested",
    "n_product_back_in_stock",
    "n_order_shipped",
    "n_order_delayed",
    "n_review_submitted",
    "n_support_ticket_opened",
    "n_email_unsubscribed",
    "n_points_earned",
    "n_identified",
    "n_aliased",
    "n_grouped",
    "n_custom",
    "n_events",
    "n_stage_top",
    "n_stage_middle",
    "n_stage_bottom",
    "taxonomy_score",
    "distinct_products",
    "distinct_categories",
    "view_price_min",
    "view_price_mean",
    "view_price_max",
    "cart_items",
    "cart_value",
    "gap_mean_s",
    "gap_max_s",
    "product_dwell_total_s",
    "product_dwell_mean_s",
    "session_duration_s",
    "earlier_sessions",
    "recency_days",
    "tenure_days",
    "events_7d",
    "events_30d",
    "reengaged",
    "earlier_orders",
    "earlier_revenue",
    "device_unknown",
    "device_desktop",
    "device_mobile",
    "device_tablet",
    "device_bot",
    "hour_local",
    "weekday_local",
    "referrer_unknown",
    "referrer_direct",
    "referrer_search",
    "referrer_social",
    "referrer_email",
    "referrer_paid",
    "referrer_internal",
    "referrer_referral",
];

/// Length of the feature vector.
pub const FEATURE_COUNT: usize = FEATURE_NAMES.len();

/// FNV-1a (64-bit) of the version (little endian) and each name followed by `\n`: stable
/// across builds and platforms, and computable at compile time.
pub const FEATURE_SCHEMA_HASH: u64 = schema_hash(FEATURE_SCHEMA_VERSION, FEATURE_NAMES);

const fn schema_hash(version: u32, names: &[&str]) -> u64 {
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let v = version.to_le_bytes();
    let mut i = 0;
    while i < v.len() {
        h = (h ^ v[i] as u64).wrapping_mul(PRIME);
        i += 1;
    }
    let mut n = 0;
    while n < names.len() {
        let bytes = names[n].as_bytes();
        let mut j = 0;
        while j < bytes.len() {
            h = (h ^ bytes[j] as u64).wrapping_mul(PRIME);
            j += 1;
        }
        h = (h ^ b'\n' as u64).wrapping_mul(PRIME);
        n += 1;
    }
    h
}

/// Which feature vector a model was trained on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeatureSchema {
    /// [`FEATURE_SCHEMA_VERSION`] when written.
    pub version: u32,
    /// [`FEATURE_SCHEMA_HASH`] when written.
    pub hash: u64,
}

impl FeatureSchema {
    /// The vector this build computes.
    pub const CURRENT: FeatureSchema = FeatureSchema { version: FEATURE_SCHEMA_VERSION, hash: FEATURE_SCHEMA_HASH };

    /// The id a model file records: `v<version>-<hash as 16 hex digits>`.
    pub fn id(self) -> String {
        format!("v{}-{:016x}", self.version, self.hash)
    }

    /// Whether a model trained on `found` can be fed this build's vectors.
    ///
    /// # Errors
    /// [`Error::SchemaMismatch`] when the version or hash differ.
    pub fn check(found: FeatureSchema) -> Result<(), Error> {
        if found == Self::CURRENT {
            Ok(())
        } else {
            Err(Error::SchemaMismatch { expected: Self::CURRENT, found })
        }
    }
}

/// The column of a feature, by name.
pub fn feature_index(name: &str) -> Option<usize> {
    FEATURE_NAMES.iter().position(|n| *n == name)
}

/// A hash of what the taxonomy contributes to the features: each builtin signal's stage and
/// weight (xxh3-64). Custom signals' overrides cannot be listed from a [`Taxonomy`] and are
/// not included.
pub fn taxonomy_fingerprint(taxonomy: &Taxonomy) -> u64 {
    let mut buf = Vec::with_capacity(Builtin::ALL.len() * 10);
    for &b in Builtin::ALL {
        let info = taxonomy.info(&Signal::Builtin(b));
        buf.push(b.code());
        buf.push(stage_slot(info.stage) as u8);
        buf.extend_from_slice(&info.weight.to_bits().to_le_bytes());
    }
    xxhash_rust::xxh3::xxh3_64(&buf)
}

const SIGNAL_COUNT: usize = Builtin::ALL.len();

/// Position in `Builtin::ALL` of each log code (`u8::MAX`: no builtin has that code).
const SLOT_OF_CODE: [u8; 256] = {
    let mut table = [u8::MAX; 256];
    let mut i = 0;
    while i < SIGNAL_COUNT {
        table[Builtin::ALL[i] as usize] = i as u8;
        i += 1;
    }
    table
};

const DEVICES: [DeviceType; 5] = [DeviceType::Unknown, DeviceType::Desktop, DeviceType::Mobile, DeviceType::Tablet, DeviceType::Bot];

const REFERRERS: [ReferrerClass; 8] = [
    ReferrerClass::Unknown,
    ReferrerClass::Direct,
    ReferrerClass::Search,
    ReferrerClass::Social,
    ReferrerClass::Email,
    ReferrerClass::Paid,
    ReferrerClass::Internal,
    ReferrerClass::Referral,
];

fn stage_slot(stage: Stage) -> usize {
    match stage {
        Stage::Top => 0,
        Stage::Middle => 1,
        Stage::Bottom => 2,
    }
}

/// A number from input, when it is one: decoders accept `NaN` and `inf` in CSV columns.
fn finite(x: Option<f64>) -> Option<f64> {
    x.filter(|v| v.is_finite())
}

/// What an order brought in: `revenue`, else Σ items' price × quantity, else price × quantity
/// (REES46 logs one purchase row per product with its price), else 0.
fn order_value(p: &Properties) -> f64 {
    if let Some(r) = finite(p.revenue) {
        return r;
    }
    if !p.items.is_empty() {
        return total(p.items.iter().map(|i| finite(i.price).unwrap_or(0.0) * finite(i.quantity).unwrap_or(1.0)));
    }
    finite(p.price).map_or(0.0, |price| price * finite(p.quantity).unwrap_or(1.0))
}

/// Σ of a series, 0.0 when empty (`Iterator::sum` of no floats is −0.0, which CSV prints as
/// `-0`).
fn total(xs: impl Iterator<Item = f64>) -> f64 {
    xs.fold(0.0, |a, b| a + b)
}

/// A set of id hashes that keeps its first few inline, where the session's other fields are,
/// and only a long session's in a sorted vector: a separate allocation per set cost the live
/// engine a cache miss per event.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(from = "Vec<u64>", into = "Vec<u64>")]
struct SmallSet {
    inline: [u64; SMALL_SET_INLINE],
    len: u32,
    /// Members past the inline ones, sorted.
    spill: Vec<u64>,
}

/// Members a [`SmallSet`] holds inline.
const SMALL_SET_INLINE: usize = 4;

impl SmallSet {
    fn len(&self) -> u32 {
        self.len
    }

    fn insert(&mut self, x: u64) {
        let inline = (self.len as usize).min(SMALL_SET_INLINE);
        if self.inline[..inline].contains(&x) {
            return;
        }
        if inline < SMALL_SET_INLINE {
            self.inline[inline] = x;
        } else {
            match self.spill.binary_search(&x) {
                Ok(_) => return,
                Err(at) => self.spill.insert(at, x),
            }
        }
        self.len = self.len.saturating_add(1);
    }
}

/// Equal as sets, whatever order the members came in.
impl PartialEq for SmallSet {
    fn eq(&self, other: &SmallSet) -> bool {
        self.len == other.len && Vec::from(self.clone()) == Vec::from(other.clone())
    }
}

/// Serialised as the sorted members, so equal sets give equal bytes.
impl From<SmallSet> for Vec<u64> {
    fn from(s: SmallSet) -> Vec<u64> {
        let mut v: Vec<u64> = s.inline[..(s.len as usize).min(SMALL_SET_INLINE)].to_vec();
        v.extend(s.spill);
        v.sort_unstable();
        v
    }
}

impl From<Vec<u64>> for SmallSet {
    fn from(v: Vec<u64>) -> SmallSet {
        let mut s = SmallSet::default();
        for x in v {
            s.insert(x);
        }
        s
    }
}

fn id_hash(s: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(s.as_bytes())
}

/// The hour (0–23) and weekday (0 = Monday) of `ms` in the zone named `tz`, UTC when `None` or
/// not a zone.
fn local_hour_weekday(ms: i64, tz: Option<&str>) -> (u8, u8) {
    if let Some(zone) = tz.and_then(zone)
        && let Ok(ts) = jiff::Timestamp::from_millisecond(ms)
    {
        let local = zone.to_datetime(ts);
        return (local.hour() as u8, local.weekday().to_monday_zero_offset() as u8);
    }
    // 1970-01-01 was a Thursday: Monday-based weekday 3.
    (ms.div_euclid(HOUR_MS).rem_euclid(24) as u8, (ms.div_euclid(DAY_MS) + 3).rem_euclid(7) as u8)
}

/// The time zone named `name`, if it is one. Cached per thread: `TimeZone::get` searches the
/// database (and builds an error for an unknown name) on every call, and the engine opens
/// sessions by the hundred thousand. The cache changes no result.
fn zone(name: &str) -> Option<jiff::tz::TimeZone> {
    use std::cell::RefCell;
    use std::collections::HashMap;
    /// Names kept at most (a bound against hostile input naming endless zones).
    const ZONES_MAX: usize = 4096;
    thread_local! {
        static ZONES: RefCell<HashMap<Box<str>, Option<jiff::tz::TimeZone>>> = RefCell::new(HashMap::new());
    }
    ZONES.with(|zones| {
        let mut zones = zones.borrow_mut();
        if let Some(z) = zones.get(name) {
            return z.clone();
        }
        if zones.len() >= ZONES_MAX {
            zones.clear();
        }
        let z = jiff::tz::TimeZone::get(name).ok();
        zones.insert(name.into(), z.clone());
        z
    })
}

/// One shopper across sessions: what the cross-session features need, and no more.
///
/// Memory is bounded per shopper: a few numbers, the time zone name, and at most
/// [`MONTH_DAYS`] (day, count) pairs.
///
/// It serialises (serde) for the engine's checkpoints; floats as their bit patterns, so a
/// restored history computes exactly what the saved one would have.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ShopperHistory {
    sessions: u32,
    first_ms: Option<i64>,
    last_ms: Option<i64>,
    /// (UTC day number, events that day), oldest first, only days a later session's
    /// `events_30d` window can still reach — all before `today`.
    days: Vec<(i64, u32)>,
    /// The newest day and its events (count 0: no event yet), kept inline: nearly every
    /// event lands on it, and the live engine then touches no other memory for it.
    #[serde(default)]
    today: (i64, u32),
    orders: u32,
    #[serde(with = "bits")]
    revenue: f64,
    timezone: Option<Box<str>>,
    /// Hash of `timezone` (0: none): a push compares it rather than reading the name.
    #[serde(default)]
    timezone_hash: u64,
}

impl ShopperHistory {
    /// Sessions opened so far.
    pub fn sessions(&self) -> u32 {
        self.sessions
    }

    /// Open a session whose first event is at `start_ms`: its features see the history as it
    /// stands now, so call this before pushing that first event anywhere.
    pub fn open_session(&mut self, start_ms: i64) -> SessionFeatures {
        let history = self.snapshot(start_ms);
        self.sessions = self.sessions.saturating_add(1);
        let (hour, weekday) = local_hour_weekday(start_ms, self.timezone.as_deref());
        SessionFeatures {
            start_ms,
            last_ms: None,
            events: 0,
            history,
            counts: [0; SIGNAL_COUNT],
            custom: 0,
            stages: [0; 3],
            score: 0.0,
            products: SmallSet::default(),
            categories: SmallSet::default(),
            view_prices: Spread::default(),
            cart: Vec::new(),
            gaps: Spread::default(),
            dwell: Spread::default(),
            after_product_view: false,
            device: DeviceType::Unknown,
            referrer: ReferrerClass::Unknown,
            timezone: self.timezone.as_deref().map_or(0, id_hash),
            hour,
            weekday,
        }
    }

    /// Remember one of the shopper's events (after pushing it to its session).
    pub fn push(&mut self, e: &Event) {
        let t = e.time_ms;
        self.first_ms = Some(self.first_ms.map_or(t, |f| f.min(t)));
        self.last_ms = Some(self.last_ms.map_or(t, |l| l.max(t)));
        let day = t.div_euclid(DAY_MS);
        if self.today.1 > 0 && day == self.today.0 {
            self.today.1 = self.today.1.saturating_add(1);
            return self.push_rest(e);
        }
        if self.today.1 == 0 || day > self.today.0 {
            // Events come in time order, so this is nearly always how a day ends.
            if self.today.1 > 0 {
                self.days.push(self.today);
            }
            self.today = (day, 1);
        } else {
            // A late event, on an earlier day.
            match self.days.binary_search_by_key(&day, |(d, _)| *d) {
                Ok(i) => self.days[i].1 = self.days[i].1.saturating_add(1),
                Err(i) => self.days.insert(i, (day, 1)),
            }
        }
        // Sessions open after the newest event, so older days fall outside every window.
        let newest = self.today.0;
        let keep_from = self.days.partition_point(|(d, _)| *d <= newest - MONTH_DAYS);
        self.days.drain(..keep_from);
        self.push_rest(e);
    }

    /// What an event tells besides its day.
    fn push_rest(&mut self, e: &Event) {
        if e.signal == Signal::Builtin(Builtin::OrderCompleted) {
            self.orders = self.orders.saturating_add(1);
            self.revenue += order_value(&e.properties);
        }
        if let Some(tz) = &e.context.timezone {
            let h = id_hash(tz);
            if self.timezone_hash != h || self.timezone.is_none() {
                self.timezone = Some(tz.as_str().into());
                self.timezone_hash = h;
            }
        }
    }

    fn snapshot(&self, start_ms: i64) -> HistorySnapshot {
        let day = start_ms.div_euclid(DAY_MS);
        let today = (self.today.1 > 0).then_some(self.today);
        let in_window = |days: i64| total(self.days.iter().chain(today.iter()).filter(|(d, _)| *d > day - days && *d <= day).map(|(_, n)| f64::from(*n)));
        let since = |t: Option<i64>| t.map_or(0.0, |t| start_ms.saturating_sub(t).max(0) as f64 / DAY_MS as f64);
        HistorySnapshot {
            earlier_sessions: f64::from(self.sessions),
            recency_days: since(self.last_ms),
            tenure_days: since(self.first_ms),
            events_7d: in_window(WEEK_DAYS),
            events_30d: in_window(MONTH_DAYS),
            reengaged: self.last_ms.is_some_and(|l| start_ms.saturating_sub(l) > REENGAGEMENT_GAP_MS),
            earlier_orders: f64::from(self.orders),
            earlier_revenue: self.revenue,
        }
    }
}

/// The cross-session features, frozen when the session opened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct HistorySnapshot {
    #[serde(with = "bits")]
    earlier_sessions: f64,
    #[serde(with = "bits")]
    recency_days: f64,
    #[serde(with = "bits")]
    tenure_days: f64,
    #[serde(with = "bits")]
    events_7d: f64,
    #[serde(with = "bits")]
    events_30d: f64,
    reengaged: bool,
    #[serde(with = "bits")]
    earlier_orders: f64,
    #[serde(with = "bits")]
    earlier_revenue: f64,
}

/// Count, sum, minimum and maximum of a series.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Spread {
    n: u32,
    #[serde(with = "bits")]
    sum: f64,
    #[serde(with = "bits")]
    min: f64,
    #[serde(with = "bits")]
    max: f64,
}

impl Spread {
    fn add(&mut self, x: f64) {
        if self.n == 0 {
            (self.min, self.max) = (x, x);
        } else {
            self.min = self.min.min(x);
            self.max = self.max.max(x);
        }
        self.n = self.n.saturating_add(1);
        self.sum += x;
    }

    fn mean(&self) -> f64 {
        if self.n == 0 { 0.0 } else { self.sum / f64::from(self.n) }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct CartLine {
    /// Hash of the product id; `None` for adds that named no product (one unnamed line).
    product: Option<u64>,
    #[serde(with = "bits")]
    quantity: f64,
    #[serde(with = "bits")]
    price: f64,
}

/// The features of one session prefix, accumulated one event at a time.
///
/// Opened by [`ShopperHistory::open_session`]; fed by [`push`](Self::push); read by
/// [`values`](Self::values) or [`fill`](Self::fill) at any point, as often as needed (reading
/// costs O([`FEATURE_COUNT`])). Serialises like [`ShopperHistory`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
// Fields in the order of use, hottest first (`repr(C)` keeps it): the live engine pushes events
// for a hundred thousand shoppers, so each push is a few cache misses, and what every push
// touches fits in the first three lines.
#[repr(C)]
pub struct SessionFeatures {
    last_ms: Option<i64>,
    events: u32,
    custom: u32,
    /// Per builtin signal, in `Builtin::ALL` order (saturating).
    #[serde(with = "counts")]
    counts: [u16; SIGNAL_COUNT],
    /// Per stage: top, middle, bottom.
    stages: [u32; 3],
    #[serde(with = "bits")]
    score: f64,
    /// Gaps between consecutive events, ms.
    gaps: Spread,
    /// Gaps after product views, ms.
    dwell: Spread,
    /// Hash of the last time zone name the shopper sent (0: none), to notice a change
    /// without reading the name.
    timezone: u64,
    after_product_view: bool,
    #[serde(with = "device_code")]
    device: DeviceType,
    #[serde(with = "referrer_code")]
    referrer: ReferrerClass,
    hour: u8,
    weekday: u8,
    /// Hashes of ids, not the ids: only their number is a feature.
    products: SmallSet,
    categories: SmallSet,
    view_prices: Spread,
    cart: Vec<CartLine>,
    start_ms: i64,
    history: HistorySnapshot,
}

impl SessionFeatures {
    /// Time of the session's first event (epoch ms), as given to
    /// [`ShopperHistory::open_session`].
    pub fn start_ms(&self) -> i64 {
        self.start_ms
    }

    /// Events pushed so far.
    pub fn events(&self) -> u32 {
        self.events
    }

    /// Add the session's next event. `taxonomy` stages and weighs it; pass the same one for
    /// every event (and record [`taxonomy_fingerprint`] beside a model).
    pub fn push(&mut self, taxonomy: &Taxonomy, e: &Event) {
        let t = e.time_ms;
        if let Some(last) = self.last_ms {
            // A late event (live traffic) counts as no gap rather than a negative one.
            let gap = t.saturating_sub(last).max(0) as f64;
            self.gaps.add(gap);
            if self.after_product_view {
                self.dwell.add(gap);
            }
        }
        self.last_ms = Some(self.last_ms.map_or(t, |l| l.max(t)));
        self.events = self.events.saturating_add(1);
        let info = taxonomy.info(&e.signal);
        self.stages[stage_slot(info.stage)] = self.stages[stage_slot(info.stage)].saturating_add(1);
        let builtin = match &e.signal {
            Signal::Builtin(b) => {
                let slot = usize::from(SLOT_OF_CODE[usize::from(b.code())]);
                if let Some(n) = self.counts.get_mut(slot) {
                    *n = n.saturating_add(1);
                }
                self.score += info.weight;
                Some(*b)
            }
            Signal::Custom(_) => {
                self.custom = self.custom.saturating_add(1);
                None
            }
        };
        self.after_product_view = builtin == Some(Builtin::ProductViewed);
        let p = &e.properties;
        for id in p.product_id.iter().chain(p.items.iter().filter_map(|i| i.product_id.as_ref())) {
            self.products.insert(id_hash(id));
        }
        for c in p.category.iter().chain(p.items.iter().filter_map(|i| i.category.as_ref())) {
            self.categories.insert(id_hash(c));
        }
        match builtin {
            Some(Builtin::ProductViewed) => {
                if let Some(price) = finite(p.price) {
                    self.view_prices.add(price);
                }
            }
            Some(Builtin::ProductAdded) => {
                let product = p.product_id.as_deref().map(id_hash);
                let quantity = finite(p.quantity).filter(|q| *q > 0.0).unwrap_or(1.0);
                let price = finite(p.price);
                match self.cart.iter_mut().find(|l| l.product == product) {
                    Some(line) => {
                        line.quantity += quantity;
                        if let Some(price) = price {
                            line.price = price;
                        }
                    }
                    None => self.cart.push(CartLine { product, quantity, price: price.unwrap_or(0.0) }),
                }
            }
            Some(Builtin::ProductRemoved) => {
                // The whole product leaves the cart, whatever quantity was sent (as the engine's).
                let product = p.product_id.as_deref().map(id_hash);
                self.cart.retain(|l| l.product != product);
            }
            Some(Builtin::OrderCompleted) => self.cart.clear(),
            _ => {}
        }
        if e.context.device != DeviceType::Unknown {
            self.device = e.context.device;
        }
        if self.referrer == ReferrerClass::Unknown {
            self.referrer = e.context.referrer_class;
        }
        if let Some(tz) = &e.context.timezone {
            let h = id_hash(tz);
            if self.timezone != h {
                self.timezone = h;
                (self.hour, self.weekday) = local_hour_weekday(self.start_ms, Some(tz));
            }
        }
    }

    /// The feature vector, in [`FEATURE_NAMES`] order.
    pub fn values(&self) -> Vec<f64> {
        let mut out = vec![0.0; FEATURE_COUNT];
        self.fill(&mut out);
        out
    }

    /// One feature by name (for tests and explanations; [`values`](Self::values) for all).
    pub fn get(&self, name: &str) -> Option<f64> {
        feature_index(name).map(|i| self.values()[i])
    }

    /// Write the feature vector into `out`, in [`FEATURE_NAMES`] order, without allocating.
    ///
    /// # Panics
    /// When `out.len()` is not [`FEATURE_COUNT`].
    pub fn fill(&self, out: &mut [f64]) {
        assert_eq!(out.len(), FEATURE_COUNT, "a feature vector has FEATURE_COUNT values");
        let s = |ms: f64| ms / 1000.0;
        let flag = |b: bool| if b { 1.0 } else { 0.0 };
        let mut w = Slots { out, at: 0 };
        for (i, b) in Builtin::ALL.iter().enumerate() {
            w.put_named("n_", b.name(), f64::from(self.counts[i]));
        }
        w.put("n_custom", f64::from(self.custom));
        w.put("n_events", f64::from(self.events));
        w.put("n_stage_top", f64::from(self.stages[0]));
        w.put("n_stage_middle", f64::from(self.stages[1]));
        w.put("n_stage_bottom", f64::from(self.stages[2]));
        w.put("taxonomy_score", self.score);
        w.put("distinct_products", f64::from(self.products.len()));
        w.put("distinct_categories", f64::from(self.categories.len()));
        w.put("view_price_min", self.view_prices.min);
        w.put("view_price_mean", self.view_prices.mean());
        w.put("view_price_max", self.view_prices.max);
        w.put("cart_items", total(self.cart.iter().map(|l| l.quantity)));
        w.put("cart_value", total(self.cart.iter().map(|l| l.quantity * l.price)));
        w.put("gap_mean_s", s(self.gaps.mean()));
        w.put("gap_max_s", s(self.gaps.max));
        w.put("product_dwell_total_s", s(self.dwell.sum));
        w.put("product_dwell_mean_s", s(self.dwell.mean()));
        w.put("session_duration_s", self.last_ms.map_or(0.0, |l| s(l.saturating_sub(self.start_ms).max(0) as f64)));
        let h = &self.history;
        w.put("earlier_sessions", h.earlier_sessions);
        w.put("recency_days", h.recency_days);
        w.put("tenure_days", h.tenure_days);
        w.put("events_7d", h.events_7d);
        w.put("events_30d", h.events_30d);
        w.put("reengaged", flag(h.reengaged));
        w.put("earlier_orders", h.earlier_orders);
        w.put("earlier_revenue", h.earlier_revenue);
        for d in DEVICES {
            w.put_named("device_", d.as_str(), flag(self.device == d));
        }
        w.put("hour_local", f64::from(self.hour));
        w.put("weekday_local", f64::from(self.weekday));
        for r in REFERRERS {
            w.put_named("referrer_", r.as_str(), flag(self.referrer == r));
        }
        debug_assert_eq!(w.at, FEATURE_COUNT, "every feature written once");
    }
}

/// Writes values in order, checking in debug builds that each lands under its own name.
struct Slots<'a> {
    out: &'a mut [f64],
    at: usize,
}

impl Slots<'_> {
    fn put(&mut self, name: &str, v: f64) {
        self.put_named("", name, v);
    }

    fn put_named(&mut self, prefix: &str, name: &str, v: f64) {
        debug_assert_eq!(FEATURE_NAMES[self.at].strip_prefix(prefix), Some(name), "feature {} out of order", self.at);
        // Every value finite and no −0.0, whatever the input: sums of huge prices can overflow.
        let v = if v.is_nan() { 0.0 } else { v.clamp(f64::MIN, f64::MAX) + 0.0 };
        self.out[self.at] = v;
        self.at += 1;
    }
}

/// Floats as their bit patterns: JSON's decimal form would not always read back exactly.
mod bits {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(x.to_bits())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        u64::deserialize(d).map(f64::from_bits)
    }
}

/// Per-signal counts as a list, refusing one of another length (a build with other signals).
mod counts {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    use super::SIGNAL_COUNT;

    pub(super) fn serialize<S: Serializer>(x: &[u16; SIGNAL_COUNT], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(x.iter())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u16; SIGNAL_COUNT], D::Error> {
        let v = Vec::<u16>::deserialize(d)?;
        let n = v.len();
        v.try_into().map_err(|_| D::Error::custom(format!("{n} signal counts, this build has {SIGNAL_COUNT} signals")))
    }
}


/// Device class by its log code.
mod device_code {
    use glint_event::DeviceType;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(x: &DeviceType, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(*x as u8)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DeviceType, D::Error> {
        u8::deserialize(d).map(DeviceType::from_code)
    }
}

/// Referrer class by its log code.
mod referrer_code {
    use glint_event::ReferrerClass;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(x: &ReferrerClass, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(*x as u8)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ReferrerClass, D::Error> {
        u8::deserialize(d).map(ReferrerClass::from_code)
    }
}

#[cfg(test)]
mod tests;
