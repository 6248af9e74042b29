//! One simulated shopper: the stable profile (device, zone, identity, traits, propensities),
//! the queue of planned messages, and the clock that decides when the next session starts.
//!
//! A shopper plans one session at a time, when that session's start time is reached, so its
//! memory stays bounded however long the simulation runs; orders add a handful of server-side
//! follow-ups (shipment, review, …) that wait in the same queue.

use rand::Rng;
use rand_pcg::Pcg64;

use crate::behaviour as b;
use crate::clock::{DAY_MS, DIURNAL_PEAK_RATIO, MINUTE_MS, diurnal_accept};
use crate::device::{Campaign, DEVICES, DeviceClass, ZONES};
use crate::random::{chance, exponential, log_normal_mean, pick_weighted, stream_rng, uniform_i64};
use crate::step::{Line, Pending, Step};

/// How a shopper relates to accounts, which decides when messages carry `userId`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Identity {
    /// Has an account and logs in at the first session.
    Member,
    /// Anonymous until signing up mid-life (identify with the same anonymousId).
    Prospect,
    /// Never signs up; checks out as a guest.
    Guest,
}

/// Loyalty tiers as the shop's CRM names them.
pub(crate) const TIERS: [&str; 3] = ["bronze", "silver", "gold"];

/// What stays the same for a shopper across sessions.
#[derive(Debug)]
pub(crate) struct Profile {
    /// Bits of the shopper's `anonymousId` (formatted as a UUID v4).
    pub(crate) anonymous: u128,
    /// Index into [`DEVICES`].
    pub(crate) device: u8,
    /// Index into [`ZONES`].
    pub(crate) zone: u8,
    /// Home IP code (see `device::ip_address`).
    pub(crate) ip: u16,
    pub(crate) marketing: bool,
    pub(crate) personalization: bool,
    pub(crate) identity: Identity,
    /// Multiplier on the chance to add to cart (mean 1).
    pub(crate) propensity: f32,
    /// Mean sessions per day.
    pub(crate) session_rate: f32,
    /// Index into [`TIERS`].
    pub(crate) tier: u8,
    /// Birthday as days since the epoch.
    pub(crate) birthday: Option<i64>,
    /// Subscription renewal date as days since the epoch.
    pub(crate) renewal: Option<i64>,
}

/// The current session's context (what varies by session).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SessionContext {
    pub(crate) campaign: Option<Campaign>,
    pub(crate) referrer: &'static str,
    pub(crate) ip: u16,
}

/// One shopper and their plan.
#[derive(Debug)]
pub(crate) struct Shopper {
    pub(crate) index: u64,
    pub(crate) rng: Pcg64,
    pub(crate) profile: Profile,
    /// Whether messages planned now carry `userId`.
    pub(crate) signed_in: bool,
    pub(crate) newsletter: bool,
    /// Loyalty balance, updated when a Points Earned message is emitted (so identify traits
    /// never report points from the future).
    pub(crate) points: u32,
    pub(crate) cart: Vec<Line>,
    pub(crate) cart_no: u32,
    pub(crate) orders: u32,
    pub(crate) session: SessionContext,
    next_session_ms: Option<i64>,
    /// Planned messages, sorted by descending `(at_ms, seq)` so the next one is at the end.
    pending: Vec<Pending>,
    seq: u32,
}

impl Shopper {
    /// Draw shopper `index`'s profile and first session for a window `[start_ms, end_ms)`.
    pub(crate) fn new(seed: u64, index: u64, start_ms: i64, end_ms: i64) -> Self {
        let mut rng = stream_rng(seed, index);
        let device_weights: Vec<u32> = DEVICES.iter().map(|d| d.weight).collect();
        let zone_weights: Vec<u32> = ZONES.iter().map(|z| z.weight).collect();
        let device = pick_weighted(&mut rng, &device_weights) as u8;
        let zone = pick_weighted(&mut rng, &zone_weights) as u8;
        let identity = match rng.random::<f64>() {
            x if x < b::MEMBER => Identity::Member,
            x if x < b::MEMBER + b::PROSPECT => Identity::Prospect,
            _ => Identity::Guest,
        };
        let tier = pick_weighted(&mut rng, &[70, 22, 8]) as u8;
        let initial_points = match tier {
            0 => rng.random_range(0..400),
            1 => rng.random_range(300..900),
            _ => rng.random_range(700..2500),
        };
        let start_day = start_ms.div_euclid(DAY_MS);
        let window_days = (end_ms - start_ms).div_euclid(DAY_MS).max(1);
        let birthday = chance(&mut rng, b::HAS_BIRTHDAY).then(|| {
            let year = rng.random_range(1955..2007);
            let (month, day) = if chance(&mut rng, b::BIRTHDAY_IN_WINDOW) {
                // Same month and day as a day inside the window.
                let (_, m, d) = crate::clock::civil_from_days(start_day + rng.random_range(0..window_days));
                (m, d)
            } else {
                (rng.random_range(1..=12), rng.random_range(1..=28))
            };
            crate::clock::days_from_civil(year, month, day)
        });
        let renewal = chance(&mut rng, b::SUBSCRIBER).then(|| start_day + rng.random_range(0..b::RENEWAL_HORIZON_DAYS));
        let profile = Profile {
            anonymous: rng.random(),
            device,
            zone,
            ip: rng.random_range(0..768),
            // ~20 % refuse marketing, fewer refuse personalisation (a common CMP outcome).
            marketing: chance(&mut rng, 0.80),
            personalization: chance(&mut rng, 0.88),
            identity,
            propensity: log_normal_mean(&mut rng, 1.0, b::PROPENSITY_SIGMA) as f32,
            session_rate: log_normal_mean(&mut rng, b::SESSIONS_PER_DAY, b::SESSION_RATE_SIGMA) as f32,
            tier,
            birthday,
            renewal,
        };
        let newsletter = identity == Identity::Member && chance(&mut rng, 0.35);
        let mut shopper = Self {
            index,
            rng,
            signed_in: false,
            newsletter,
            points: initial_points,
            cart: Vec::new(),
            cart_no: 1,
            orders: 0,
            session: SessionContext { campaign: None, referrer: "", ip: profile.ip },
            profile,
            next_session_ms: None,
            pending: Vec::new(),
            seq: 0,
        };
        shopper.next_session_ms = shopper.next_arrival(start_ms, end_ms).or_else(|| Some(shopper.forced_arrival(start_ms, end_ms)));
        shopper
    }

    /// The shopper's device class.
    pub(crate) fn device_class(&self) -> DeviceClass {
        DEVICES[usize::from(self.profile.device)].class
    }

    /// UTC offset of the shopper's home zone in milliseconds.
    fn offset_ms(&self) -> i64 {
        ZONES[usize::from(self.profile.zone)].offset_min * MINUTE_MS
    }

    /// The next session start after `from`, from a Poisson process at the shopper's rate whose
    /// intensity follows the diurnal curve in the shopper's zone (thinning); `None` when it
    /// falls outside the window.
    pub(crate) fn next_arrival(&mut self, from: i64, end_ms: i64) -> Option<i64> {
        let rate = f64::from(self.profile.session_rate).max(1e-6) * DIURNAL_PEAK_RATIO;
        let mean_gap_ms = DAY_MS as f64 / rate;
        let offset = self.offset_ms();
        let mut t = from;
        loop {
            t = t.saturating_add(exponential(&mut self.rng, mean_gap_ms) as i64);
            if t >= end_ms {
                return None;
            }
            if chance(&mut self.rng, diurnal_accept(t + offset)) {
                return Some(t);
            }
        }
    }

    /// A first-session time for shoppers whose own rate gave none inside the window: every
    /// configured shopper shows up at least once, at a diurnally plausible time.
    fn forced_arrival(&mut self, start_ms: i64, end_ms: i64) -> i64 {
        let offset = self.offset_ms();
        let mut t = start_ms;
        for _ in 0..64 {
            t = uniform_i64(&mut self.rng, start_ms, end_ms);
            if chance(&mut self.rng, diurnal_accept(t + offset)) {
                break;
            }
        }
        t
    }

    /// When this shopper's next message (or next session plan) is due.
    pub(crate) fn next_time(&self) -> Option<i64> {
        let queued = self.pending.last().map(|p| p.at_ms);
        match (queued, self.next_session_ms) {
            (Some(a), Some(s)) => Some(a.min(s)),
            (a, s) => a.or(s),
        }
    }

    /// Plan a step at `at_ms` (which must not precede anything already emitted).
    pub(crate) fn plan(&mut self, at_ms: i64, step: Step) {
        self.seq = self.seq.wrapping_add(1);
        let key = (at_ms, self.seq);
        let pos = self.pending.partition_point(|p| (p.at_ms, p.seq) > key);
        self.pending.insert(pos, Pending { at_ms, seq: self.seq, signed_in: self.signed_in, step });
    }

    /// The next planned message, planning sessions as their start times come up.
    pub(crate) fn advance(&mut self, catalog: &crate::catalog::Catalog, end_ms: i64) -> Option<Pending> {
        loop {
            let queued = self.pending.last().map(|p| p.at_ms);
            match (queued, self.next_session_ms) {
                (Some(q), Some(s)) if s < q => {}
                (None, Some(_)) => {}
                _ => {
                    let next = self.pending.pop();
                    // Between sessions, give back the session's queue so that idle shoppers
                    // cost only their profile (memory stays O(users) with a small constant).
                    if self.pending.is_empty() && self.pending.capacity() > 8 {
                        self.pending = Vec::new();
                    }
                    return next;
                }
            }
            let start = self.next_session_ms.take()?;
            let session_end = self.run_session(start, catalog, end_ms);
            self.next_session_ms = self.next_arrival(session_end + b::MIN_SESSION_GAP_MS, end_ms);
        }
    }

    /// The session's context: campaign, referrer and IP (mobile networks change addresses).
    pub(crate) fn new_session_context(&mut self) -> SessionContext {
        let campaign = match self.rng.random::<f64>() {
            x if x < 0.12 => Some(Campaign::GoogleCpc),
            x if x < 0.19 && self.newsletter => Some(Campaign::Newsletter),
            x if x < 0.25 => Some(Campaign::FacebookSocial),
            _ => None,
        };
        let referrer = match campaign {
            Some(c) => c.referrer(),
            None if chance(&mut self.rng, 0.25) => crate::device::ORGANIC_REFERRER,
            None => "",
        };
        let ip = if self.device_class() == DeviceClass::Mobile && chance(&mut self.rng, 0.5) {
            self.rng.random_range(0..768)
        } else {
            self.profile.ip
        };
        SessionContext { campaign, referrer, ip }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shopper_is_a_function_of_seed_and_index() {
        let a = Shopper::new(5, 17, 0, 7 * DAY_MS);
        let b = Shopper::new(5, 17, 0, 7 * DAY_MS);
        let c = Shopper::new(5, 18, 0, 7 * DAY_MS);
        assert_eq!(a.profile.anonymous, b.profile.anonymous);
        assert_eq!(a.next_time(), b.next_time());
        assert_ne!(a.profile.anonymous, c.profile.anonymous);
        assert!(a.next_time().is_some_and(|t| (0..7 * DAY_MS).contains(&t)));
    }

    #[test]
    fn shopper_state_stays_small() {
        // Memory is O(users): keep the per-shopper footprint modest.
        assert!(std::mem::size_of::<Shopper>() <= 256, "{}", std::mem::size_of::<Shopper>());
    }
}
