//! `glint stats`: events, shoppers, sessions, signals, time range — one ordered pass.
//!
//! Sessions: where the client sent a session id, each distinct (shopper, session id) pair is a
//! session; otherwise a shopper's session ends after `SESSION_GAP_MS` without events. This is
//! the definition every later count of sessions (features, funnels) uses.

use std::collections::{BTreeMap, HashMap, HashSet};

use glint_event::Event;

/// Inactivity that ends a session when the client sent no session id: 30 minutes, the
/// convention of GA and Segment destinations.
pub const SESSION_GAP_MS: i64 = 30 * 60 * 1000;

/// The answer of `glint stats`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Events.
    pub events: u64,
    /// Distinct shopper keys (user id, else anonymous id). Events without one (inventory
    /// updates) are counted in `events` only.
    pub users: u64,
    /// Sessions, as defined in the module docs.
    pub sessions: u64,
    /// Events per signal name.
    pub signals: BTreeMap<String, u64>,
    /// Earliest event time (epoch ms).
    pub first_ms: Option<i64>,
    /// Latest event time (epoch ms).
    pub last_ms: Option<i64>,
}

/// Accumulates [`Stats`] over events given in event-time order.
#[derive(Debug, Default)]
pub struct StatsBuilder {
    stats: Stats,
    /// Per shopper: last event time without a client session id.
    last_seen: HashMap<String, i64>,
    client_sessions: HashSet<(String, String)>,
    users: HashSet<String>,
}

impl StatsBuilder {
    /// Count one event. Events must come in non-decreasing event time for the inactivity rule.
    pub fn add(&mut self, e: &Event) {
        let s = &mut self.stats;
        s.events += 1;
        s.first_ms = Some(s.first_ms.map_or(e.time_ms, |f| f.min(e.time_ms)));
        s.last_ms = Some(s.last_ms.map_or(e.time_ms, |l| l.max(e.time_ms)));
        match s.signals.get_mut(e.signal.name()) {
            Some(n) => *n += 1,
            None => {
                s.signals.insert(e.signal.name().to_string(), 1);
            }
        }
        let Some(shopper) = e.shopper_key() else { return };
        if !self.users.contains(shopper) {
            self.users.insert(shopper.to_string());
        }
        match &e.session_id {
            Some(sid) => {
                let key = (shopper.to_string(), sid.clone());
                if self.client_sessions.insert(key) {
                    s.sessions += 1;
                }
            }
            None => match self.last_seen.get_mut(shopper) {
                Some(last) => {
                    debug_assert!(e.time_ms >= *last, "stats need events in time order");
                    if e.time_ms - *last > SESSION_GAP_MS {
                        s.sessions += 1;
                    }
                    *last = e.time_ms;
                }
                None => {
                    s.sessions += 1;
                    self.last_seen.insert(shopper.to_string(), e.time_ms);
                }
            },
        }
    }

    /// The totals.
    pub fn finish(mut self) -> Stats {
        self.stats.users = self.users.len() as u64;
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use glint_event::{Builtin, Signal, Source};

    fn ev(user: &str, t_min: i64, session: Option<&str>) -> Event {
        let mut e = Event::new(format!("{user}{t_min}"), t_min * 60_000, Signal::Builtin(Builtin::ProductViewed), Source::Segment);
        e.user_id = Some(user.into());
        e.session_id = session.map(str::to_string);
        e
    }

    #[test]
    fn sessions_follow_client_ids_or_thirty_minutes_of_quiet() {
        let mut b = StatsBuilder::default();
        // u1: 0, 10, 40 (gap 30: same session), 71 (gap 31: new) → 2 sessions.
        for t in [0, 10, 40, 71] {
            b.add(&ev("u1", t, None));
        }
        // u2 with client session ids: s1 twice, s2 once; the same id under u3 is another session.
        b.add(&ev("u2", 100, Some("s1")));
        b.add(&ev("u2", 200, Some("s1")));
        b.add(&ev("u2", 201, Some("s2")));
        b.add(&ev("u3", 202, Some("s1")));
        let mut inventory = Event::new("inv".into(), 203 * 60_000, Signal::Builtin(Builtin::ProductBackInStock), Source::Segment);
        inventory.properties.product_id = Some("p".into());
        b.add(&inventory);
        let s = b.finish();
        assert_eq!((s.events, s.users, s.sessions), (9, 3, 5));
        assert_eq!(s.signals.get("product_viewed"), Some(&8));
        assert_eq!((s.first_ms, s.last_ms), (Some(0), Some(203 * 60_000)));
    }
}
