//! A shopper's live picture: sessions, per-signal counts, cart, wishlist, orders, traits,
//! consent and the taxonomy's intent score. Updated one event at a time, in event time.

use std::collections::HashMap;

use glint_event::{Builtin, DeviceType, Event, ReferrerClass, Signal, Source, Taxonomy};

/// Inactivity that ends a session when the client sent no session id (as in `glint stats`).
pub const SESSION_GAP_MS: i64 = 30 * 60 * 1000;

/// Products remembered as recently viewed.
const RECENT_VIEWS_MAX: usize = 5;

/// Events per builtin signal, sparse: a shopper touches a handful of the signals, so pairs
/// (signal code, count) in code order take a fraction of a dense array of them all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SignalCounts(Vec<(u8, u32)>);

impl SignalCounts {
    pub(crate) fn get(&self, b: Builtin) -> u32 {
        let code = b.code();
        self.0.iter().find(|(c, _)| *c == code).map_or(0, |(_, n)| *n)
    }

    pub(crate) fn add(&mut self, b: Builtin, n: u32) {
        let code = b.code();
        match self.0.binary_search_by_key(&code, |(c, _)| *c) {
            Ok(i) => self.0[i].1 = self.0[i].1.saturating_add(n),
            Err(i) => self.0.insert(i, (code, n)),
        }
    }

    /// As a dense array indexed by signal code (the checkpoint's form).
    pub(crate) fn dense(&self) -> Vec<u32> {
        let mut out = vec![0; self.0.last().map_or(0, |(c, _)| usize::from(*c) + 1)];
        for (c, n) in &self.0 {
            out[usize::from(*c)] = *n;
        }
        out
    }

    /// From a dense array; codes that are not builtin signals are dropped.
    pub(crate) fn from_dense(dense: &[u32]) -> SignalCounts {
        SignalCounts(dense.iter().enumerate().filter(|(c, n)| **n > 0 && *c <= usize::from(u8::MAX) && Builtin::from_code(*c as u8).is_some()).map(|(c, n)| (c as u8, *n)).collect())
    }

    fn absorb(&mut self, other: &SignalCounts) {
        for (c, n) in &other.0 {
            if let Some(b) = Builtin::from_code(*c) {
                self.add(b, *n);
            }
        }
    }
}

/// One line of the cart.
#[derive(Clone, Debug, PartialEq)]
pub struct CartLine {
    /// The product; `None` for an add without a product id (one unnamed item).
    pub product_id: Option<String>,
    /// Quantity in the cart.
    pub quantity: f64,
    /// Unit price, when known.
    pub price: f64,
}

/// The shopper's current session.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Session {
    /// The client's session id, when it sent one.
    pub client_id: Option<String>,
    /// First and last event time.
    pub start_ms: i64,
    /// Last event time.
    pub last_ms: i64,
    /// Events per builtin signal code in this session.
    pub(crate) counts: SignalCounts,
    /// Time of the session's first `product_viewed`.
    pub first_view_ms: Option<i64>,
    /// Where the session came from.
    pub referrer: ReferrerClass,
}

impl Session {
    /// Events of `signal` in this session (builtins only; custom signals count as 0).
    pub fn count(&self, b: Builtin) -> u32 {
        self.counts.get(b)
    }

    /// Whether the event just applied was the session's first of its signal (builtins only).
    pub fn first_of(&self, s: &Signal) -> bool {
        matches!(s, Signal::Builtin(b) if self.count(*b) == 1)
    }
}

/// Everything Glint knows of one shopper, derived from their events.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Profile {
    /// First and last event time.
    pub first_seen_ms: i64,
    /// Last event time.
    pub last_seen_ms: i64,
    /// Sessions so far.
    pub sessions: u32,
    /// The current session.
    pub session: Session,
    /// Lifetime events per builtin signal code.
    pub(crate) lifetime: SignalCounts,
    /// Custom signals, lifetime.
    pub(crate) custom: HashMap<Box<str>, u32>,
    /// The cart now.
    pub cart: Vec<CartLine>,
    /// Time of the last cart activity (add, remove, checkout, order).
    pub cart_activity_ms: Option<i64>,
    /// Products wished for or requested back in stock.
    pub wishlist: Vec<String>,
    /// Most recent product views, newest last.
    pub recent_views: Vec<String>,
    /// Orders completed.
    pub orders: u32,
    /// Revenue of those orders.
    pub revenue: f64,
    /// Traits.
    pub tier: Option<String>,
    /// Loyalty points.
    pub points: Option<f64>,
    /// `YYYY-MM-DD` or `MM-DD`.
    pub birthday: Option<String>,
    /// `YYYY-MM-DD`.
    pub renewal_date: Option<String>,
    /// IANA time zone.
    pub timezone: Option<String>,
    /// Device of the last event that said.
    pub device: DeviceType,
    /// Consent per purpose, as last stated.
    pub consent: Vec<(String, bool)>,
    /// Whether the last event came from history (import) rather than live traffic.
    pub imported: bool,
    /// Nudges sent (firings with outcome `sent`).
    pub nudges: u32,
}

impl Profile {
    /// Lifetime count of a builtin signal.
    pub fn lifetime(&self, b: Builtin) -> u32 {
        self.lifetime.get(b)
    }

    /// Cart value: Σ quantity × price.
    pub fn cart_value(&self) -> f64 {
        self.cart.iter().map(|l| l.quantity * l.price).sum()
    }

    /// Items in the cart: Σ quantity.
    pub fn cart_items(&self) -> f64 {
        self.cart.iter().map(|l| l.quantity).sum()
    }

    /// What the shopper said about `purpose`, if anything.
    pub fn consent_for(&self, purpose: &str) -> Option<bool> {
        self.consent.iter().find(|(p, _)| p == purpose).map(|(_, g)| *g)
    }

    /// The taxonomy's intent score for the current session: a logistic squash of the weighted
    /// signal counts, with the top contributions as reasons. A stand-in until the trained model.
    pub fn intent(&self, taxonomy: &Taxonomy) -> (f64, Vec<(&'static str, f64)>) {
        let mut parts: Vec<(&'static str, f64)> = Builtin::ALL
            .iter()
            .filter_map(|&b| {
                let n = self.session.count(b);
                let w = taxonomy.info(&Signal::Builtin(b)).weight;
                (n > 0 && w != 0.0).then(|| (b.name(), w * f64::from(n)))
            })
            .collect();
        let raw: f64 = parts.iter().map(|(_, c)| c).sum();
        parts.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()).then(a.0.cmp(b.0)));
        parts.truncate(3);
        // Centred so that a few product views sit low and a cart plus checkout sits high.
        let p = 1.0 / (1.0 + (-(raw - 8.0) / 3.0).exp());
        (p, parts)
    }

    /// Apply one event; returns whether it started a new session.
    pub(crate) fn apply(&mut self, e: &Event) -> bool {
        let t = e.time_ms;
        let new_session = if self.sessions == 0 {
            true
        } else {
            match (&e.session_id, &self.session.client_id) {
                (Some(id), Some(cur)) => id != cur,
                (Some(_), None) => true,
                (None, _) => t - self.session.last_ms > SESSION_GAP_MS,
            }
        };
        if self.sessions == 0 {
            self.first_seen_ms = t;
        }
        if new_session {
            self.sessions += 1;
            self.session = Session { client_id: e.session_id.clone(), start_ms: t, last_ms: t, counts: SignalCounts::default(), first_view_ms: None, referrer: e.context.referrer_class };
        }
        self.session.last_ms = t;
        self.last_seen_ms = t;
        self.imported = !matches!(e.source, Source::Segment | Source::Ga4 | Source::PostHog);
        match &e.signal {
            Signal::Builtin(b) => {
                self.session.counts.add(*b, 1);
                self.lifetime.add(*b, 1);
            }
            Signal::Custom(c) => *self.custom.entry(c.clone()).or_insert(0) += 1,
        }
        if e.context.device != DeviceType::Unknown {
            self.device = e.context.device;
        }
        if let Some(tz) = &e.context.timezone {
            self.timezone = Some(tz.clone());
        }
        for (purpose, granted) in &e.context.consent.purposes {
            match self.consent.iter_mut().find(|(p, _)| p == purpose) {
                Some(slot) => slot.1 = *granted,
                None => self.consent.push((purpose.clone(), *granted)),
            }
        }
        let tr = &e.traits;
        if tr.tier.is_some() {
            self.tier = tr.tier.clone();
        }
        if tr.points.is_some() {
            self.points = tr.points;
        }
        if tr.birthday.is_some() {
            self.birthday = tr.birthday.clone();
        }
        if tr.renewal_date.is_some() {
            self.renewal_date = tr.renewal_date.clone();
        }
        let p = &e.properties;
        if let Signal::Builtin(b) = &e.signal {
            match b {
                Builtin::ProductViewed => {
                    if self.session.first_view_ms.is_none() {
                        self.session.first_view_ms = Some(t);
                    }
                    if let Some(id) = &p.product_id {
                        // Most recent last; the evicted entry's buffer is reused (views are
                        // most events: no allocation for each).
                        if let Some(at) = self.recent_views.iter().position(|v| v == id) {
                            let seen = self.recent_views.remove(at);
                            self.recent_views.push(seen);
                        } else if self.recent_views.len() >= RECENT_VIEWS_MAX {
                            let mut reused = self.recent_views.remove(0);
                            reused.clear();
                            reused.push_str(id);
                            self.recent_views.push(reused);
                        } else {
                            self.recent_views.push(id.clone());
                        }
                    }
                }
                Builtin::ProductAdded => {
                    let qty = p.quantity.filter(|q| *q > 0.0).unwrap_or(1.0);
                    let price = p.price.unwrap_or(0.0);
                    match self.cart.iter_mut().find(|l| l.product_id == p.product_id) {
                        Some(line) => {
                            line.quantity += qty;
                            if p.price.is_some() {
                                line.price = price;
                            }
                        }
                        None => self.cart.push(CartLine { product_id: p.product_id.clone(), quantity: qty, price }),
                    }
                    self.cart_touch(e);
                }
                Builtin::ProductRemoved => {
                    // The whole product leaves the cart, whatever quantity was sent.
                    self.cart.retain(|l| l.product_id != p.product_id);
                    self.cart_touch(e);
                }
                Builtin::CheckoutStarted => self.cart_touch(e),
                Builtin::OrderCompleted => {
                    self.orders += 1;
                    self.revenue += p.revenue.unwrap_or_else(|| p.items.iter().map(|i| i.price.unwrap_or(0.0) * i.quantity.unwrap_or(1.0)).sum());
                    self.cart.clear();
                    self.cart_touch(e);
                }
                Builtin::ProductAddedToWishlist | Builtin::BackInStockRequested => {
                    if let Some(id) = &p.product_id
                        && !self.wishlist.contains(id) {
                            self.wishlist.push(id.clone());
                        }
                }
                Builtin::PointsEarned => {
                    if let Some(pts) = p.points {
                        self.points = Some(self.points.unwrap_or(0.0) + pts);
                    }
                }
                _ => {}
            }
        }
        new_session
    }

    fn cart_touch(&mut self, e: &Event) {
        self.cart_activity_ms = Some(e.time_ms);
    }

    /// Fold another profile (an anonymous shopper who turned out to be this one) into this.
    pub(crate) fn absorb(&mut self, other: Profile) {
        if other.sessions == 0 {
            return;
        }
        if self.sessions == 0 {
            *self = other;
            return;
        }
        self.first_seen_ms = self.first_seen_ms.min(other.first_seen_ms);
        self.sessions += other.sessions;
        self.lifetime.absorb(&other.lifetime);
        for (k, n) in other.custom {
            *self.custom.entry(k).or_insert(0) += n;
        }
        if self.cart.is_empty() && !other.cart.is_empty() {
            self.cart = other.cart;
            self.cart_activity_ms = other.cart_activity_ms;
        }
        for w in other.wishlist {
            if !self.wishlist.contains(&w) {
                self.wishlist.push(w);
            }
        }
        self.orders += other.orders;
        self.revenue += other.revenue;
        self.nudges += other.nudges;
    }
}

