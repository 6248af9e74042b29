//! Glint's deterministic shop-traffic simulator.
//!
//! [`Simulator`] is an iterator of Segment HTTP API messages (`serde_json::Value` objects, as
//! analytics.js and Segment's server libraries send them; [`Simulator::next_message`] gives
//! the same messages typed, as [`Message`]s, for consumers that would only take the JSON
//! apart again) for a population of simulated
//! shoppers over a number of days: page views, searches, filters, product views, reviews read,
//! videos played, wishlists, back-in-stock requests, carts (and abandoned carts), checkout
//! steps, coupons, orders, sign-ups and log-ins (identify with traits), newsletter sign-ups,
//! plus server-side shipments, delays, cancellations, refunds, reviews, support tickets,
//! unsubscribes, loyalty points and inventory restocks. Traffic follows a diurnal rhythm in each
//! shopper's time zone, product popularity is Zipf-like, and session-level funnel rates are
//! calibrated to the REES46 sample and per-shopper purchase rates to the retentioneering demo
//! shop (`tests/calibration.rs` checks both against the real files).
//!
//! Guarantees:
//! - messages come in non-decreasing `timestamp` order, ties broken by shopper index;
//! - every message carries `userId` or `anonymousId`, except the inventory feed's
//!   "Product Back In Stock", which is about a product, not a shopper;
//! - the same [`SimConfig`] gives byte-identical output; another seed gives other output;
//! - `messageId` is `sim-{seed}-{n}`, unique within a run;
//! - memory is O(users): each shopper plans one session at a time (a heap of shoppers keyed by
//!   their next event time merges their streams), so millions of events stream through.
//!
//! ```
//! use glint_sim::{SimConfig, Simulator};
//! let first = Simulator::new(SimConfig::new(100, 1, 7)).next().expect("traffic");
//! assert!(first["timestamp"].as_str().is_some_and(|t| t.starts_with("2026-01-05T")));
//! ```

mod behaviour;
mod catalog;
mod clock;
mod device;
mod message;
mod random;
mod session;
mod shopper;
mod step;

pub use message::{BrowserContext, Field, Fields, Library, Message, MessageContext, MessageKind, PageContext, Utm};

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use serde_json::Value;

use crate::catalog::Catalog;
use crate::shopper::Shopper;

/// 2026-01-05T00:00:00Z (a Monday) in epoch milliseconds: the default first simulated day.
const DEFAULT_START_MS: i64 = 1_767_571_200_000;

/// What to simulate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimConfig {
    /// Number of shoppers; each shows up at least once in the window, so short windows carry
    /// more messages per shopper-day (≈12 for one day, ≈7 for seven days).
    pub users: u64,
    /// Length of the simulated window in days.
    pub days: u32,
    /// Seed of every random choice: the same config always gives the same messages.
    pub seed: u64,
    /// UTC epoch milliseconds of the start of day 0.
    pub start_ms: i64,
}

impl SimConfig {
    /// `users` shoppers over `days` days from 2026-01-05T00:00:00Z, with `seed`.
    pub fn new(users: u64, days: u32, seed: u64) -> Self {
        Self { users, days, seed, start_ms: DEFAULT_START_MS }
    }
}

/// Heap key of the inventory feed; it sorts after every shopper on equal times.
const INVENTORY_STREAM: u64 = u64::MAX;

/// A stream of Segment messages for a [`SimConfig`], in timestamp order.
#[derive(Debug)]
pub struct Simulator {
    seed: u64,
    end_ms: i64,
    catalog: Catalog,
    shoppers: Vec<Shopper>,
    /// Streams keyed by their next event time, then by stream index for deterministic ties.
    heap: BinaryHeap<Reverse<(i64, u64)>>,
    /// Next entry of the catalogue's restock feed.
    restock_cursor: usize,
    /// Messages emitted so far (the `messageId` counter).
    emitted: u64,
}

impl Simulator {
    /// Prepare the simulation (draws every shopper's profile and first session; no messages
    /// are generated until iterated).
    ///
    /// # Panics
    /// When `users` does not fit in memory addressing (`usize`) or the window overflows `i64`.
    pub fn new(cfg: SimConfig) -> Self {
        let users = usize::try_from(cfg.users).expect("users fits in usize");
        assert!(cfg.users < INVENTORY_STREAM, "users must be below u64::MAX");
        let end_ms = i64::from(cfg.days)
            .checked_mul(clock::DAY_MS)
            .and_then(|span| cfg.start_ms.checked_add(span))
            .expect("start_ms + days fits in i64");
        let catalog = Catalog::new(cfg.seed, cfg.start_ms, end_ms);
        let mut heap = BinaryHeap::with_capacity(users + 1);
        let mut shoppers = Vec::with_capacity(users);
        if end_ms > cfg.start_ms {
            for index in 0..cfg.users {
                let shopper = Shopper::new(cfg.seed, index, cfg.start_ms, end_ms);
                if let Some(t) = shopper.next_time().filter(|&t| t < end_ms) {
                    heap.push(Reverse((t, index)));
                }
                shoppers.push(shopper);
            }
            if let Some(&(t, _)) = catalog.restocks().first() {
                heap.push(Reverse((t, INVENTORY_STREAM)));
            }
        }
        Self { seed: cfg.seed, end_ms, catalog, shoppers, heap, restock_cursor: 0, emitted: 0 }
    }

    fn next_message_id(&mut self) -> String {
        let id = format!("sim-{}-{}", self.seed, self.emitted);
        self.emitted += 1;
        id
    }

    fn next_restock(&mut self) -> Option<Message<'_>> {
        let &(at, product) = self.catalog.restocks().get(self.restock_cursor)?;
        self.restock_cursor += 1;
        if let Some(&(t, _)) = self.catalog.restocks().get(self.restock_cursor) {
            self.heap.push(Reverse((t, INVENTORY_STREAM)));
        }
        let id = self.next_message_id();
        Some(message::back_in_stock(&self.catalog, product, at, id))
    }
}

impl Simulator {
    /// The next message in typed form ([`Message::to_json`] is what iterating yields): for
    /// consumers that would only take the JSON apart again.
    pub fn next_message(&mut self) -> Option<Message<'_>> {
        loop {
            let Reverse((_, stream)) = self.heap.pop()?;
            if stream == INVENTORY_STREAM {
                return self.next_restock();
            }
            let Some(shopper) = usize::try_from(stream).ok().and_then(|i| self.shoppers.get_mut(i)) else {
                continue;
            };
            let pending = shopper.advance(&self.catalog, self.end_ms);
            if let Some(t) = shopper.next_time().filter(|&t| t < self.end_ms) {
                self.heap.push(Reverse((t, stream)));
            }
            // Session steps planned past the end of the window are cut off, as a data export
            // cuts sessions in progress.
            let Some(pending) = pending.filter(|p| p.at_ms < self.end_ms) else { continue };
            // The id is formatted inline (not via `next_message_id`) because `shopper` still
            // borrows `self.shoppers`.
            let id = format!("sim-{}-{}", self.seed, self.emitted);
            self.emitted += 1;
            return Some(message::build(&self.catalog, shopper, &pending, id));
        }
    }
}

impl Iterator for Simulator {
    type Item = Value;

    fn next(&mut self) -> Option<Value> {
        self.next_message().map(|m| m.to_json())
    }
}
