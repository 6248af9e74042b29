//! Examples for training and evaluation: sessions as `glint stats` counts them, one example
//! per session with its label and its train/test split, and the CSV that `glint features`
//! writes.
//!
//! # Sessions
//!
//! Exactly those of `glint stats` (`glint_analytics::stats`): the shopper is the event's user
//! id, else its anonymous id (events with neither — inventory updates — belong to no session);
//! where the client sent a session id, each distinct (shopper, session id) pair is one session,
//! however far apart its events; the shopper's events without one form sessions that end after
//! [`SESSION_GAP_MS`] without such events. A test checks the count against `glint stats` on
//! random traffic. A session is named by the client's id, or by `~` and its start in epoch ms.
//!
//! # Labels
//!
//! - [`Label::PurchaseInSession`] (`purchase-in-session`): 1 when the session contains an
//!   `order_completed`. The features see only the session's events strictly before the first
//!   one *in time*: events at the order's instant are withheld even when logged before it.
//!   A session with no such event (its first event is the purchase) has no prefix: it is left
//!   out and counted ([`Summary::no_prefix`]). Sessions without an order use all their events.
//! - [`Label::PurchaseWithin`] (`purchase-within:7d`): 1 when the shopper completes an order
//!   after the session's last event and no later than the window after it — in
//!   `(end, end + window]`, in any later session. Features see the whole session. A negative
//!   whose window reaches past the last event of the data is uncertain: it is kept and counted
//!   ([`Summary::censored`]).
//!
//! # Split
//!
//! All sessions (those left out included, so a session's split does not depend on the label)
//! are sorted by start time, then session name, then shopper; the first
//! `round(train_fraction × sessions)` are `train`, the rest `test`.
//!
//! # Two passes
//!
//! A session is only known to be complete at its last event, and a label may need the
//! shopper's later orders, so the events are read twice, in the same order — (event time,
//! ingest order), the log's reading order: [`SessionPlanner`] learns every session's start,
//! end, event count and first order and each shopper's order times; [`ExampleBuilder`] then
//! computes the features and hands each example back as its session's last event passes.
//! Memory is O(shoppers + sessions) small records plus the sessions open at once, never the
//! whole matrix. Examples come out in the order their sessions end.

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::str::FromStr;

use glint_event::time::{format_rfc3339_ms, parse_duration_ms};
use glint_event::{Builtin, Event, Signal, Taxonomy};

use crate::Error;
use crate::features::{FEATURE_COUNT, FEATURE_NAMES, SessionFeatures, ShopperHistory};

/// Inactivity that ends a session when the client sent no session id: 30 minutes, as
/// `glint_analytics::stats::SESSION_GAP_MS` (a test keeps them equal; this crate does not
/// depend on the analytics crate, which the engine must not pull in).
pub const SESSION_GAP_MS: i64 = 30 * 60 * 1000;

/// What an example predicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Label {
    /// The session contains an `order_completed`; features from the events strictly before
    /// the first one.
    PurchaseInSession,
    /// The shopper completes an order within `window_ms` after the session's last event;
    /// features from the whole session.
    PurchaseWithin {
        /// The window, ms (> 0).
        window_ms: i64,
    },
}

impl FromStr for Label {
    type Err = Error;

    /// `purchase-in-session` or `purchase-within:DURATION` (`7d`, `24h`, `30m`, `2w`).
    fn from_str(spec: &str) -> Result<Label, Error> {
        let bad = |reason: String| Error::Label { spec: spec.to_string(), reason };
        match spec.trim() {
            "purchase-in-session" => Ok(Label::PurchaseInSession),
            other => match other.strip_prefix("purchase-within:") {
                Some(d) => match parse_duration_ms(d) {
                    Ok(window_ms) if window_ms > 0 => Ok(Label::PurchaseWithin { window_ms }),
                    Ok(_) => Err(bad("the window must be longer than 0".into())),
                    Err(e) => Err(bad(e)),
                },
                None => Err(bad("expected purchase-in-session or purchase-within:DURATION (e.g. purchase-within:7d)".into())),
            },
        }
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Label::PurchaseInSession => f.write_str("purchase-in-session"),
            Label::PurchaseWithin { window_ms } => {
                // The largest unit that says the window exactly, so the text parses back.
                let units = [(7 * 86_400_000, "w"), (86_400_000, "d"), (3_600_000, "h"), (60_000, "m"), (1000, "s"), (1, "ms")];
                let (scale, unit) = units.into_iter().find(|(s, _)| window_ms % s == 0).unwrap_or((1, "ms"));
                write!(f, "purchase-within:{}{unit}", window_ms / scale)
            }
        }
    }
}

/// Which side of the time split an example is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// The earlier sessions.
    Train,
    /// The later sessions.
    Test,
}

impl Split {
    /// `train` or `test`, as in the CSV.
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }
}

/// One row of the matrix: a session, its label and its features.
#[derive(Clone, Debug, PartialEq)]
pub struct Example {
    /// The session's name: the client's session id, or `~` and its start in epoch ms.
    pub session: String,
    /// The shopper key (user id, else anonymous id).
    pub shopper: String,
    /// The session's first event (epoch ms).
    pub start_ms: i64,
    /// The label.
    pub label: bool,
    /// Train or test.
    pub split: Split,
    /// [`FEATURE_COUNT`] values, in [`FEATURE_NAMES`] order.
    pub features: Vec<f64>,
    /// With [`ExampleBuilder::with_prefixes`]: the features of the session cut to its first
    /// k events, one per requested k (a session shorter than k gives its whole prefix) — for
    /// judging how early the model sees the purchase coming. Empty otherwise.
    pub prefix_features: Vec<Vec<f64>>,
}

/// What an export produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Sessions in the data (as `glint stats` counts them).
    pub sessions: u64,
    /// Examples produced: sessions less those left out.
    pub examples: u64,
    /// Examples labelled 1.
    pub positives: u64,
    /// `purchase-in-session`: sessions left out because their first event is the purchase.
    pub no_prefix: u64,
    /// `purchase-within`: negatives whose window runs past the end of the data.
    pub censored: u64,
    /// Examples in the train split.
    pub train: u64,
    /// Examples in the test split.
    pub test: u64,
}

/// Assigns events to sessions by the `glint stats` rule; `T` is the caller's per-shopper state.
#[derive(Debug)]
struct Sessionizer<T> {
    shoppers: HashMap<Box<str>, ShopperSessions<T>, foldhash::fast::RandomState>,
    next: u32,
}

#[derive(Debug, Default)]
struct ShopperSessions<T> {
    /// Client session id → session number.
    client: HashMap<Box<str>, u32, foldhash::fast::RandomState>,
    /// The inferred session of events without a client id: (last such event, session number).
    inferred: Option<(i64, u32)>,
    state: T,
}

/// An event's place: its session's number, whether the event opened it, its name when it
/// did, and the shopper's state.
struct Placed<'a, T> {
    session: u32,
    opened: Option<Box<str>>,
    shopper: &'a str,
    state: &'a mut T,
}

impl<T: Default> Default for Sessionizer<T> {
    fn default() -> Self {
        Sessionizer { shoppers: HashMap::default(), next: 0 }
    }
}

impl<T: Default> Sessionizer<T> {
    /// `None` for events without a shopper.
    fn place<'a>(&'a mut self, e: &'a Event) -> Option<Placed<'a, T>> {
        let shopper = e.shopper_key()?;
        if !self.shoppers.contains_key(shopper) {
            self.shoppers.insert(shopper.into(), ShopperSessions { client: HashMap::default(), inferred: None, state: T::default() });
        }
        let s = self.shoppers.get_mut(shopper)?;
        let mut opened = None;
        let session = match &e.session_id {
            Some(sid) => match s.client.get(sid.as_str()) {
                Some(n) => *n,
                None => {
                    let n = self.next;
                    self.next += 1;
                    s.client.insert(sid.as_str().into(), n);
                    opened = Some(sid.as_str().into());
                    n
                }
            },
            None => match &mut s.inferred {
                Some((last, n)) if e.time_ms.saturating_sub(*last) <= SESSION_GAP_MS => {
                    *last = (*last).max(e.time_ms);
                    *n
                }
                slot => {
                    let n = self.next;
                    self.next += 1;
                    *slot = Some((e.time_ms, n));
                    opened = Some(format!("~{}", e.time_ms).into());
                    n
                }
            },
        };
        Some(Placed { session, opened, shopper, state: &mut s.state })
    }
}

/// One session as the first pass saw it.
#[derive(Clone, Debug)]
struct PlannedSession {
    shopper: Box<str>,
    name: Box<str>,
    start_ms: i64,
    last_ms: i64,
    /// Events in the session; the second pass counts them down to find the session's end.
    events: u32,
    /// The session's first `order_completed`.
    first_order_ms: Option<i64>,
    split: Split,
}

/// The first pass: learns the sessions and each shopper's orders. Feed it every event, in
/// the order the second pass will see them, then [`finish`](Self::finish).
#[derive(Debug, Default)]
pub struct SessionPlanner {
    sessionizer: Sessionizer<Vec<i64>>,
    sessions: Vec<PlannedSession>,
    last_ms: Option<i64>,
}

impl SessionPlanner {
    /// Take one event.
    pub fn add(&mut self, e: &Event) {
        self.last_ms = Some(self.last_ms.map_or(e.time_ms, |l| l.max(e.time_ms)));
        let Some(placed) = self.sessionizer.place(e) else { return };
        let is_order = e.signal == Signal::Builtin(Builtin::OrderCompleted);
        if is_order {
            placed.state.push(e.time_ms);
        }
        if let Some(name) = placed.opened {
            debug_assert_eq!(placed.session as usize, self.sessions.len(), "sessions are numbered in order");
            self.sessions.push(PlannedSession {
                shopper: placed.shopper.into(),
                name,
                start_ms: e.time_ms,
                last_ms: e.time_ms,
                events: 0,
                first_order_ms: None,
                split: Split::Test,
            });
        }
        let Some(s) = self.sessions.get_mut(placed.session as usize) else { return };
        s.last_ms = s.last_ms.max(e.time_ms);
        s.events = s.events.saturating_add(1);
        if is_order && s.first_order_ms.is_none() {
            s.first_order_ms = Some(e.time_ms);
        }
    }

    /// Sessions seen so far.
    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }

    /// Decide the split and hand over the plan.
    ///
    /// # Errors
    /// [`Error::TrainFraction`] unless `0 ≤ train_fraction ≤ 1`.
    pub fn finish(self, train_fraction: f64) -> Result<SessionPlan, Error> {
        if !(0.0..=1.0).contains(&train_fraction) {
            return Err(Error::TrainFraction(train_fraction));
        }
        let mut sessions = self.sessions;
        let mut order: Vec<usize> = (0..sessions.len()).collect();
        order.sort_by(|&a, &b| {
            let (a, b) = (&sessions[a], &sessions[b]);
            a.start_ms.cmp(&b.start_ms).then_with(|| a.name.cmp(&b.name)).then_with(|| a.shopper.cmp(&b.shopper))
        });
        let n_train = (train_fraction * sessions.len() as f64).round() as usize;
        for &i in order.iter().take(n_train) {
            sessions[i].split = Split::Train;
        }
        let orders = self.sessionizer.shoppers.into_iter().filter(|(_, s)| !s.state.is_empty()).map(|(k, s)| (k, s.state)).collect();
        Ok(SessionPlan { sessions, orders, last_ms: self.last_ms })
    }
}

/// What the first pass learnt: every session, its split, and each shopper's order times.
#[derive(Debug)]
pub struct SessionPlan {
    sessions: Vec<PlannedSession>,
    /// Per shopper with orders: their times, in event order.
    orders: HashMap<Box<str>, Vec<i64>, foldhash::fast::RandomState>,
    /// The data's last event time.
    last_ms: Option<i64>,
}

impl SessionPlan {
    /// Sessions in the data.
    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }

    /// Sessions in the train split.
    pub fn train_sessions(&self) -> usize {
        self.sessions.iter().filter(|s| s.split == Split::Train).count()
    }
}

/// The second pass: features and labels. Feed it the same events in the same order as the
/// [`SessionPlanner`], collect the examples [`push`](Self::push) returns, then
/// [`finish`](Self::finish).
#[derive(Debug)]
pub struct ExampleBuilder {
    taxonomy: Taxonomy,
    label: Label,
    plan: SessionPlan,
    sessionizer: Sessionizer<ShopperHistory>,
    open: HashMap<u32, SessionFeatures, foldhash::fast::RandomState>,
    summary: Summary,
    /// Prefix lengths to snapshot, ascending, and each open session's snapshots so far.
    prefixes: Vec<usize>,
    snapshots: HashMap<u32, Vec<Vec<f64>>, foldhash::fast::RandomState>,
}

impl ExampleBuilder {
    /// A builder for `label` over the sessions of `plan`, staging and weighing signals by
    /// `taxonomy`.
    pub fn new(taxonomy: Taxonomy, label: Label, plan: SessionPlan) -> ExampleBuilder {
        let summary = Summary { sessions: plan.sessions.len() as u64, ..Summary::default() };
        ExampleBuilder { taxonomy, label, plan, sessionizer: Sessionizer::default(), open: HashMap::default(), summary, prefixes: Vec::new(), snapshots: HashMap::default() }
    }

    /// Also give each example the features of its session cut to each of `ks` events
    /// ([`Example::prefix_features`]), computed by the same accumulator as the full row.
    pub fn with_prefixes(mut self, ks: &[usize]) -> ExampleBuilder {
        self.prefixes = ks.to_vec();
        self.prefixes.sort_unstable();
        self.prefixes.dedup();
        self
    }

    /// Take one event; returns its session's example when this was the session's last event
    /// (and the session is not left out).
    ///
    /// # Errors
    /// [`Error::EventsChanged`] when the events differ from the first pass's (a server
    /// appended to the data directory between the passes).
    pub fn push(&mut self, e: &Event) -> Result<Option<Example>, Error> {
        let ExampleBuilder { taxonomy, label, plan, sessionizer, open, summary, prefixes, snapshots } = self;
        let Some(placed) = sessionizer.place(e) else { return Ok(None) };
        let changed = || Error::EventsChanged { time_ms: e.time_ms };
        let planned = plan.sessions.get_mut(placed.session as usize).ok_or_else(changed)?;
        if let Some(name) = &placed.opened {
            if *planned.name != **name || *planned.shopper != *placed.shopper || planned.start_ms != e.time_ms {
                return Err(changed());
            }
            open.insert(placed.session, placed.state.open_session(e.time_ms));
        }
        planned.events = planned.events.checked_sub(1).ok_or_else(changed)?;
        let features = open.get_mut(&placed.session).ok_or_else(changed)?;
        // The leak rule: nothing at or after the first order's instant reaches the features.
        let in_prefix = match label {
            Label::PurchaseInSession => planned.first_order_ms.is_none_or(|t| e.time_ms < t),
            Label::PurchaseWithin { .. } => true,
        };
        if in_prefix {
            features.push(taxonomy, e);
            if prefixes.contains(&(features.events() as usize)) {
                snapshots.entry(placed.session).or_default().push(features.values());
            }
        }
        placed.state.push(e);
        if planned.events > 0 {
            return Ok(None);
        }
        let features = open.remove(&placed.session).ok_or_else(changed)?;
        let mut prefix_features = snapshots.remove(&placed.session).unwrap_or_default();
        if !prefixes.is_empty() {
            // Shorter than some k: its whole prefix stands for that k.
            let whole = features.values();
            prefix_features.resize(prefixes.len(), whole);
        }
        let positive = match *label {
            Label::PurchaseInSession => {
                if features.events() == 0 {
                    summary.no_prefix += 1;
                    return Ok(None);
                }
                planned.first_order_ms.is_some()
            }
            Label::PurchaseWithin { window_ms } => {
                let end = planned.last_ms;
                let until = end.saturating_add(window_ms);
                let times = plan.orders.get(placed.shopper).map_or(&[][..], Vec::as_slice);
                let next = times.partition_point(|t| *t <= end);
                let positive = times.get(next).is_some_and(|t| *t <= until);
                if !positive && plan.last_ms.is_some_and(|last| until > last) {
                    summary.censored += 1;
                }
                positive
            }
        };
        summary.examples += 1;
        summary.positives += u64::from(positive);
        match planned.split {
            Split::Train => summary.train += 1,
            Split::Test => summary.test += 1,
        }
        Ok(Some(Example {
            session: planned.name.to_string(),
            shopper: placed.shopper.to_string(),
            start_ms: planned.start_ms,
            label: positive,
            split: planned.split,
            features: features.values(),
            prefix_features,
        }))
    }

    /// The totals.
    ///
    /// # Errors
    /// [`Error::EventsChanged`] when sessions of the first pass did not end in this one.
    pub fn finish(self) -> Result<Summary, Error> {
        if let Some(s) = self.plan.sessions.iter().find(|s| s.events > 0) {
            return Err(Error::EventsChanged { time_ms: s.last_ms });
        }
        debug_assert!(self.open.is_empty(), "every session closed at its last event");
        Ok(self.summary)
    }
}

/// Each shopper's current session features as they stand after every event, in one pass:
/// what a model scoring live would see at that event, with sessions cut by the rule above.
/// Unlike [`ExampleBuilder`] it knows no session's end and no label, so nothing is withheld:
/// an `order_completed` counts in its own session's features from its event on.
///
/// One session per shopper is kept: an event of a client session other than the one last
/// touched opens fresh features for it (and counts as another session in the shopper's
/// history). Shoppers interleaving two client session ids are rare; keeping every session
/// open would cost memory without end, since one pass never learns that a session is over.
#[derive(Debug)]
pub struct SessionTracker {
    taxonomy: Taxonomy,
    sessionizer: Sessionizer<Tracked>,
}

#[derive(Debug, Default)]
struct Tracked {
    history: ShopperHistory,
    /// The session last touched, by number, and its features.
    current: Option<(u32, SessionFeatures)>,
}

impl SessionTracker {
    /// A tracker staging and weighing signals by `taxonomy`.
    pub fn new(taxonomy: Taxonomy) -> SessionTracker {
        SessionTracker { taxonomy, sessionizer: Sessionizer::default() }
    }

    /// Take one event, in the log's order (events without a shopper change nothing).
    pub fn push(&mut self, e: &Event) {
        let Some(placed) = self.sessionizer.place(e) else { return };
        let Tracked { history, current } = placed.state;
        let features = match current {
            Some((n, f)) if *n == placed.session => f,
            slot => &mut slot.insert((placed.session, history.open_session(e.time_ms))).1,
        };
        features.push(&self.taxonomy, e);
        history.push(e);
    }

    /// The features of `shopper`'s current session, as of the last event pushed.
    pub fn current(&self, shopper: &str) -> Option<&SessionFeatures> {
        self.sessionizer.shoppers.get(shopper)?.state.current.as_ref().map(|(_, f)| f)
    }

    /// Shoppers seen.
    pub fn shoppers(&self) -> usize {
        self.sessionizer.shoppers.len()
    }
}

/// Both passes over events already in memory (tests, small files): the examples in the order
/// their sessions end, and the totals.
///
/// # Errors
/// [`Error::TrainFraction`] unless `0 ≤ train_fraction ≤ 1`.
pub fn build_examples(events: &[Event], taxonomy: &Taxonomy, label: Label, train_fraction: f64) -> Result<(Vec<Example>, Summary), Error> {
    let mut planner = SessionPlanner::default();
    for e in events {
        planner.add(e);
    }
    let mut builder = ExampleBuilder::new(taxonomy.clone(), label, planner.finish(train_fraction)?);
    let mut examples = Vec::new();
    for e in events {
        examples.extend(builder.push(e)?);
    }
    Ok((examples, builder.finish()?))
}

/// The columns before the features, in CSV order.
pub const EXAMPLE_COLUMNS: &[&str] = &["session", "shopper", "start", "label", "split"];

/// The CSV header: [`EXAMPLE_COLUMNS`], then [`FEATURE_NAMES`].
pub fn csv_header() -> Vec<&'static str> {
    EXAMPLE_COLUMNS.iter().chain(FEATURE_NAMES).copied().collect()
}

/// Writes examples as CSV: the header of [`csv_header`], then one row per example — `start`
/// in RFC 3339 UTC with milliseconds, `label` 0 or 1, `split` `train` or `test`, features in
/// Rust's shortest round-trip decimal form.
#[derive(Debug)]
pub struct CsvWriter<W: Write> {
    csv: csv::Writer<W>,
    field: String,
}

impl<W: Write> CsvWriter<W> {
    /// Start the file: writes the header.
    ///
    /// # Errors
    /// When writing fails.
    pub fn new(out: W) -> Result<CsvWriter<W>, Error> {
        let mut csv = csv::Writer::from_writer(out);
        csv.write_record(csv_header())?;
        Ok(CsvWriter { csv, field: String::new() })
    }

    /// Write one example.
    ///
    /// # Errors
    /// When writing fails.
    ///
    /// # Panics
    /// When the example does not have [`FEATURE_COUNT`] features.
    pub fn write(&mut self, ex: &Example) -> Result<(), Error> {
        use std::fmt::Write as _;
        assert_eq!(ex.features.len(), FEATURE_COUNT, "an example has FEATURE_COUNT features");
        self.csv.write_field(&ex.session)?;
        self.csv.write_field(&ex.shopper)?;
        self.csv.write_field(format_rfc3339_ms(ex.start_ms))?;
        self.csv.write_field(if ex.label { "1" } else { "0" })?;
        self.csv.write_field(ex.split.as_str())?;
        for v in &ex.features {
            self.field.clear();
            // Writing to a String cannot fail.
            let _ = write!(self.field, "{v}");
            self.csv.write_field(&self.field)?;
        }
        self.csv.write_record(None::<&[u8]>)?;
        Ok(())
    }

    /// Flush and hand back the writer.
    ///
    /// # Errors
    /// When flushing fails.
    pub fn finish(self) -> Result<W, Error> {
        self.csv.into_inner().map_err(|e| Error::Io(e.into_error()))
    }
}

#[cfg(test)]
mod tests;
