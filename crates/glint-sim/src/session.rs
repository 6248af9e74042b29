//! What happens in one shopping session — landing, log-in or sign-up, search, browsing with its
//! micro-conversions, cart, checkout — and the server-side aftermath of an order (points,
//! shipment, delay, cancellation, refund, review, support ticket).
//!
//! A session is planned in one go when it starts: its steps are timestamped by walking a clock
//! forward with realistic dwell times and queued on the shopper.

use std::sync::Arc;

use rand::Rng;

use crate::behaviour as b;
use crate::catalog::Catalog;
use crate::clock::{DAY_MS, HOUR_MS, MINUTE_MS};
use crate::device::{Campaign, DeviceClass};
use crate::random::{chance, log_normal, pick_weighted, uniform_i64};
use crate::shopper::{Identity, Shopper};
use crate::step::{Basket, COUPONS, Line, PageKind, PointsReason, Step, TICKET_REASONS, cents};

/// Most lines a cart holds (keeps baskets and memory bounded).
const CART_LINES_MAX: usize = 6;

/// Orders below this pay shipping.
const FREE_SHIPPING_FROM: f64 = 50.0;
const SHIPPING_FEE: f64 = 4.99;

impl Shopper {
    /// Time spent on a page before the next action, in ms.
    fn dwell(&mut self) -> i64 {
        let s = log_normal(&mut self.rng, b::DWELL_MEDIAN_S.ln(), b::DWELL_SIGMA).clamp(2.0, 20.0 * 60.0);
        (s * 1000.0) as i64
    }

    /// A quick follow-up action on the same page (a click, a button), in ms.
    fn blink(&mut self) -> i64 {
        self.rng.random_range(400..4_000)
    }

    /// Product views this session: REES46's heavy-tailed depth (see [`b::VIEWS_MU`]).
    fn session_views(&mut self) -> u32 {
        if chance(&mut self.rng, b::NO_VIEW_SESSION) {
            return 0;
        }
        let x = log_normal(&mut self.rng, b::VIEWS_MU, b::VIEWS_SIGMA);
        (1 + x.min(f64::from(b::VIEWS_MAX)) as u32).min(b::VIEWS_MAX)
    }

    /// How likely this session is to add to cart, relative to the base rate: deeper sessions,
    /// desktops and high-propensity shoppers convert better (the signal an intent model learns).
    fn add_multiplier(&self, views: u32) -> f64 {
        let depth = match views {
            0 => 0.0,
            1 => 0.55,
            2 => 0.85,
            3..=4 => 1.1,
            5..=9 => 1.35,
            _ => 1.5,
        };
        let device = match self.device_class() {
            DeviceClass::Desktop => 1.3,
            DeviceClass::Mobile => 0.85,
            DeviceClass::Tablet => 1.0,
        };
        depth * device * f64::from(self.profile.propensity)
    }

    /// Plan a whole session starting at `start`; returns when it ends.
    pub(crate) fn run_session(&mut self, start: i64, catalog: &Catalog, end_ms: i64) -> i64 {
        self.session = self.new_session_context();
        let mut t = start;
        let views = self.session_views();
        // Campaign clicks often land on the deal of the day, and such shoppers came for it.
        let deal = self.session.campaign.is_some() && views > 0 && chance(&mut self.rng, b::DEAL_LANDING);
        let first = match catalog.deal_of_the_day(start) {
            Some(p) if deal => p,
            _ => catalog.popular(&mut self.rng),
        };
        let focus = catalog.product(first).category;

        let landing = match self.session.campaign {
            _ if deal => PageKind::Product(first),
            Some(Campaign::GoogleCpc | Campaign::FacebookSocial) if views > 0 => PageKind::Product(first),
            Some(Campaign::Newsletter) => PageKind::Category(focus),
            _ => PageKind::Home,
        };
        self.plan(t, Step::Page(landing));

        // Members log in at their first session (the first page was still anonymous, which is
        // what identity merging has to stitch); later sessions sometimes re-identify.
        if self.profile.identity == Identity::Member && (!self.signed_in || chance(&mut self.rng, b::REIDENTIFY)) {
            t += self.blink() + 3_000;
            self.signed_in = true;
            self.plan(t, Step::Identify);
        }
        if self.profile.identity == Identity::Prospect && !self.signed_in && chance(&mut self.rng, b::SIGN_UP_PER_SESSION) {
            t += self.dwell();
            self.sign_up(t, end_ms);
        }

        // A shopper holding an abandoned cart may come back to it.
        let mut buy_now = false;
        if !self.cart.is_empty() && chance(&mut self.rng, b::CART_RETURN) {
            t += self.dwell();
            self.plan(t, Step::Page(PageKind::Cart));
            t += self.blink();
            let snapshot = self.basket(catalog, None);
            self.plan(t, Step::CartViewed(snapshot));
            buy_now = chance(&mut self.rng, b::CART_RETURN_BUY);
        }

        // Shoppers who landed on a product page look at it first rather than search.
        if !matches!(landing, PageKind::Product(_)) && chance(&mut self.rng, b::SEARCH_SESSION) {
            t += self.dwell();
            self.plan(t, Step::Searched { product: first });
            t += self.blink();
            self.plan(t, Step::Page(PageKind::Search(first)));
            if chance(&mut self.rng, b::FILTER) {
                t += self.dwell();
                let filter = self.rng.random_range(0..4);
                self.plan(t, Step::ListFiltered { category: focus, filter });
            }
        }

        let p_add = b::ADD_TO_CART_BASE * self.add_multiplier(views);
        // Adds happen in the second half of browsing: people compare before they commit.
        let add_at =
            (!buy_now && chance(&mut self.rng, p_add)).then(|| if deal { 0 } else { self.rng.random_range(views / 2..views.max(1)) });
        let mut adding = false;
        let mut added = false;
        for i in 0..views {
            t += self.dwell();
            let product = if i == 0 {
                first
            } else if chance(&mut self.rng, b::IN_FOCUS_CATEGORY) {
                catalog.popular_in(&mut self.rng, focus)
            } else {
                catalog.popular(&mut self.rng)
            };
            let landed_here = i == 0 && landing == PageKind::Product(first);
            if !landed_here && chance(&mut self.rng, b::FROM_LIST) {
                let category = catalog.product(product).category;
                self.plan(t, Step::ListViewed { category });
                if chance(&mut self.rng, b::FILTER) {
                    t += self.dwell();
                    let filter = self.rng.random_range(0..4);
                    self.plan(t, Step::ListFiltered { category, filter });
                }
                t += self.dwell();
                let position = self.rng.random_range(1..25);
                self.plan(t, Step::ProductClicked { product, position });
                t += self.blink();
            }
            self.plan(t, Step::ProductViewed { product });
            if chance(&mut self.rng, b::REVIEWS_VIEWED) {
                t += self.dwell();
                self.plan(t, Step::ReviewsViewed { product });
            }
            if catalog.product(product).has_video && chance(&mut self.rng, b::VIDEO_PLAYED) {
                t += self.blink();
                self.plan(t, Step::VideoPlayed { product });
            }
            let stocked = catalog.in_stock(product, t);
            if !stocked {
                if chance(&mut self.rng, b::BACK_IN_STOCK_REQUEST) {
                    t += self.blink();
                    self.plan(t, Step::BackInStockRequested { product });
                }
                if chance(&mut self.rng, b::WISHLIST_OUT_OF_STOCK) {
                    t += self.blink();
                    self.plan(t, Step::Wishlisted { product });
                }
            } else if chance(&mut self.rng, b::WISHLIST) {
                t += self.blink();
                self.plan(t, Step::Wishlisted { product });
            }
            if add_at == Some(i) {
                adding = true;
            }
            // An out-of-stock product cannot be added; the wish to add carries to the next view.
            if adding && stocked && self.cart.len() < CART_LINES_MAX {
                t += self.blink();
                let quantity = if chance(&mut self.rng, b::QUANTITY_TWO) { 2 } else { 1 };
                let line = Line { product, quantity };
                self.add_line(line);
                self.plan(t, Step::ProductAdded { line, cart_no: self.cart_no });
                added = true;
                adding = chance(&mut self.rng, b::EXTRA_ITEM);
            }
        }

        if added && self.cart.len() >= 2 && chance(&mut self.rng, b::REMOVE_LINE) {
            t += self.dwell();
            self.plan(t, Step::Page(PageKind::Cart));
            let i = self.rng.random_range(0..self.cart.len());
            let line = self.cart.remove(i);
            t += self.blink();
            self.plan(t, Step::ProductRemoved { line, cart_no: self.cart_no });
        }

        if !self.cart.is_empty() && (buy_now || (added && chance(&mut self.rng, b::CHECKOUT_START))) {
            t = self.checkout(t, catalog, end_ms, buy_now);
        }

        if !self.newsletter && chance(&mut self.rng, b::NEWSLETTER) {
            t += self.dwell();
            self.newsletter = true;
            self.plan(t, Step::NewsletterSubscribed);
        } else if self.newsletter && chance(&mut self.rng, b::UNSUBSCRIBE) {
            // The unsubscribe link is clicked in an email later; the email provider reports it.
            self.newsletter = false;
            let at = t + uniform_i64(&mut self.rng, HOUR_MS, 2 * DAY_MS);
            self.plan_server(at, end_ms, Step::EmailUnsubscribed);
        }
        t
    }

    fn add_line(&mut self, line: Line) {
        match self.cart.iter_mut().find(|l| l.product == line.product) {
            Some(l) => l.quantity = l.quantity.saturating_add(line.quantity),
            None => self.cart.push(line),
        }
    }

    /// Queue a server-side step if it falls inside the window (later ones would never be
    /// emitted, so they are not kept).
    fn plan_server(&mut self, at: i64, end_ms: i64, step: Step) {
        if at < end_ms {
            self.plan(at, step);
        }
    }

    /// A prospect creates an account: identify (userId + the same anonymousId) and the track.
    fn sign_up(&mut self, t: i64, end_ms: i64) {
        self.signed_in = true;
        self.plan(t, Step::Page(PageKind::Account));
        self.plan(t + 1_500, Step::Identify);
        self.plan(t + 1_600, Step::AccountCreated);
        let welcome = Step::PointsEarned { points: b::POINTS_FOR_SIGN_UP, reason: PointsReason::SignUp, basket: None };
        self.plan_server(t + 60_000, end_ms, welcome);
    }

    /// The current cart as a basket, with a coupon when given.
    fn basket(&self, catalog: &Catalog, coupon: Option<u8>) -> Arc<Basket> {
        let subtotal = cents(self.cart.iter().map(|l| catalog.product(l.product).price * f64::from(l.quantity)).sum());
        let discount = coupon.map_or(0.0, |c| cents(subtotal * COUPONS[usize::from(c)].1));
        let shipping = if subtotal - discount >= FREE_SHIPPING_FROM { 0.0 } else { SHIPPING_FEE };
        Arc::new(Basket {
            cart_no: self.cart_no,
            order_no: self.orders + 1,
            lines: self.cart.clone(),
            coupon,
            subtotal,
            discount,
            shipping,
            total: cents(subtotal - discount + shipping),
        })
    }

    /// Checkout with its staged drop-offs; returns the time it ends. An abandoned checkout
    /// leaves the cart in place (the cart-wobble moment's raw material).
    fn checkout(&mut self, mut t: i64, catalog: &Catalog, end_ms: i64, cart_viewed: bool) -> i64 {
        if !cart_viewed {
            // Shoppers go through the cart page on their way to checkout.
            t += self.dwell();
            self.plan(t, Step::Page(PageKind::Cart));
            t += self.blink();
            let snapshot = self.basket(catalog, None);
            self.plan(t, Step::CartViewed(snapshot));
        }
        let coupon = chance(&mut self.rng, b::COUPON).then(|| self.rng.random_range(0..COUPONS.len()) as u8);
        let basket = self.basket(catalog, coupon);
        t += self.dwell();
        self.plan(t, Step::Page(PageKind::Checkout));
        t += self.blink();
        self.plan(t, Step::CheckoutStarted(Arc::clone(&basket)));
        if !chance(&mut self.rng, b::CHECKOUT_STEPS) {
            return t;
        }
        for step in 1..=2 {
            t += self.dwell();
            self.plan(t, Step::CheckoutStepCompleted(Arc::clone(&basket), step));
        }
        if basket.coupon.is_some() {
            t += self.blink();
            self.plan(t, Step::CouponApplied(Arc::clone(&basket)));
        }
        if !chance(&mut self.rng, b::PAYMENT_INFO) {
            return t;
        }
        t += self.dwell();
        self.plan(t, Step::PaymentInfoEntered(Arc::clone(&basket)));
        // Prospects create their account when they first buy; guests buy as guests.
        if self.profile.identity == Identity::Prospect && !self.signed_in {
            t += self.blink();
            self.sign_up(t, end_ms);
            t += 2_000;
        }
        if !chance(&mut self.rng, b::ORDER_PLACED) {
            return t;
        }
        t += self.blink();
        self.plan(t, Step::OrderCompleted(Arc::clone(&basket)));
        self.cart.clear();
        self.cart_no += 1;
        self.orders += 1;
        self.after_order(t, basket, end_ms);
        t
    }

    /// The shop back end's follow-ups to an order.
    fn after_order(&mut self, t0: i64, basket: Arc<Basket>, end_ms: i64) {
        if self.signed_in {
            let points = (basket.revenue() * b::POINTS_PER_DOLLAR).floor().max(0.0) as u32;
            let step = Step::PointsEarned { points, reason: PointsReason::Order, basket: Some(Arc::clone(&basket)) };
            let at = t0 + uniform_i64(&mut self.rng, 5_000, 60_000);
            self.plan_server(at, end_ms, step);
        }
        if chance(&mut self.rng, b::ORDER_CANCELLED) {
            let at = t0 + uniform_i64(&mut self.rng, HOUR_MS, 8 * HOUR_MS);
            self.plan_server(at, end_ms, Step::OrderCancelled(basket));
            return;
        }
        let shipped = t0 + uniform_i64(&mut self.rng, 16 * HOUR_MS, 40 * HOUR_MS);
        self.plan_server(shipped, end_ms, Step::OrderShipped(Arc::clone(&basket)));
        let delayed = chance(&mut self.rng, b::ORDER_DELAYED);
        let mut delivered = shipped + uniform_i64(&mut self.rng, 18 * HOUR_MS, 2 * DAY_MS);
        if delayed {
            let at = shipped + uniform_i64(&mut self.rng, DAY_MS, 3 * DAY_MS);
            self.plan_server(at, end_ms, Step::OrderDelayed(Arc::clone(&basket)));
            delivered = at + uniform_i64(&mut self.rng, DAY_MS, 4 * DAY_MS);
            if chance(&mut self.rng, b::TICKET_AFTER_DELAY) {
                let at = at + uniform_i64(&mut self.rng, HOUR_MS, 12 * HOUR_MS);
                self.plan_server(at, end_ms, Step::SupportTicketOpened { basket: Some(Arc::clone(&basket)), reason: 0 });
            }
        }
        if chance(&mut self.rng, b::TICKET_ANY_ORDER) {
            let at = delivered + uniform_i64(&mut self.rng, HOUR_MS, 3 * DAY_MS);
            let reason = self.rng.random_range(1..TICKET_REASONS.len()) as u8;
            self.plan_server(at, end_ms, Step::SupportTicketOpened { basket: Some(Arc::clone(&basket)), reason });
        }
        if chance(&mut self.rng, b::ORDER_REFUNDED) {
            let at = delivered + uniform_i64(&mut self.rng, DAY_MS, 6 * DAY_MS);
            self.plan_server(at, end_ms, Step::OrderRefunded(Arc::clone(&basket)));
        }
        if chance(&mut self.rng, b::REVIEW) {
            // Late parcels get worse reviews: the apology moment's typical trigger.
            let weights: &[u32] = if delayed { &[25, 25, 20, 15, 15] } else { &[7, 6, 10, 25, 52] };
            let rating = pick_weighted(&mut self.rng, weights) as u8 + 1;
            let at = delivered + uniform_i64(&mut self.rng, 2 * HOUR_MS, 3 * DAY_MS);
            let product = basket.lines.first().map_or(0, |l| l.product);
            self.plan_server(at, end_ms, Step::ReviewSubmitted { basket: Arc::clone(&basket), product, rating });
            if self.signed_in {
                let step = Step::PointsEarned { points: b::POINTS_FOR_REVIEW, reason: PointsReason::Review, basket: Some(basket) };
                self.plan_server(at + MINUTE_MS, end_ms, step);
            }
        }
    }
}
