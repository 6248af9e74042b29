//! The behavioural constants of simulated shoppers, in one place, each with where its value
//! comes from. Session-level funnel constants are calibrated to the REES46 sample and the
//! per-shopper purchase share to the retentioneering demo shop; `tests/calibration.rs` checks
//! both against the real files. Everything else is a documented judgement call chosen so that
//! every Glint moment is reachable.

// ---- Sessions and their rhythm -------------------------------------------------------------

/// Mean sessions per shopper per day. Chosen so that ≈17 % of shoppers buy within a 7-day
/// window (retentioneering) while each session converts at REES46's ≈4 %: that needs about
/// six sessions per shopper per week (measured 6.1 for 3,000 shoppers × 7 days).
pub(crate) const SESSIONS_PER_DAY: f64 = 0.9;
/// Log-normal spread of a shopper's session rate (some come daily, many once or twice).
pub(crate) const SESSION_RATE_SIGMA: f64 = 0.8;
/// Minimum quiet time between two sessions of one shopper: the 30-minute inactivity rule that
/// analytics tools (and REES46's `user_session`) use to split sessions.
pub(crate) const MIN_SESSION_GAP_MS: i64 = 31 * crate::clock::MINUTE_MS;

/// Product views per session: `1 + floor(LogNormal(μ, σ))`, capped. Fitted to REES46 (share of
/// sessions with 1 view 41.7 %, mean 3.37, ≥5 views 20.9 %, ≥10 views 6.8 %).
pub(crate) const VIEWS_MU: f64 = 0.27;
/// See [`VIEWS_MU`].
pub(crate) const VIEWS_SIGMA: f64 = 1.3;
/// Cap on product views in one session (REES46's longest head session has 51 events).
pub(crate) const VIEWS_MAX: u32 = 60;
/// Share of sessions that bounce without viewing any product (home or search page only).
pub(crate) const NO_VIEW_SESSION: f64 = 0.10;

/// Median seconds between two page-level actions; REES46's median gap between events is 33 s.
pub(crate) const DWELL_MEDIAN_S: f64 = 30.0;
/// Log-normal spread of dwell times (REES46 mean gap 55 s ≈ 30 s · e^(σ²/2) with σ ≈ 1).
pub(crate) const DWELL_SIGMA: f64 = 1.0;

// ---- Funnel (session level: REES46) ----------------------------------------------------------

/// Base probability that a session with product views adds something to the cart, before the
/// shopper-, device- and depth multipliers. Calibrated so ≈5 % of product sessions reach the
/// cart or a purchase (REES46: 4.99 %).
pub(crate) const ADD_TO_CART_BASE: f64 = 0.058;
/// Log-normal spread of a shopper's buying propensity (mean 1). Kept modest: concentrating
/// purchases on few shoppers would lower the share of shoppers who buy at all.
pub(crate) const PROPENSITY_SIGMA: f64 = 0.35;
/// Chance that one more item is added after the first in the same session (REES46 carts per
/// cart session ≈ 1.3 with implied carts).
pub(crate) const EXTRA_ITEM: f64 = 0.30;
/// Chance that an item is added with quantity 2.
pub(crate) const QUANTITY_TWO: f64 = 0.08;
/// Chance of removing one line when the cart holds several.
pub(crate) const REMOVE_LINE: f64 = 0.25;

/// After adding, chance of starting checkout in the same session. With the stages below, ≈70 %
/// of carted items are bought, close to REES46's 0.70 purchased items per (implied) cart add;
/// the rest are the abandoned carts that cart-wobble nudges.
pub(crate) const CHECKOUT_START: f64 = 0.80;
/// Chance of completing the shipping and delivery steps once checkout started.
pub(crate) const CHECKOUT_STEPS: f64 = 0.95;
/// Chance of entering payment info after the steps.
pub(crate) const PAYMENT_INFO: f64 = 0.96;
/// Chance of placing the order after entering payment info.
pub(crate) const ORDER_PLACED: f64 = 0.96;
/// Chance that a shopper holding an abandoned cart comes back to it at the next session.
pub(crate) const CART_RETURN: f64 = 0.45;
/// Chance that a shopper who came back to the cart checks out.
pub(crate) const CART_RETURN_BUY: f64 = 0.45;
/// Chance a checkout uses a coupon.
pub(crate) const COUPON: f64 = 0.15;

// ---- Browsing micro-conversions --------------------------------------------------------------

/// Share of sessions that start with a site search.
pub(crate) const SEARCH_SESSION: f64 = 0.25;
/// Chance a search or list view is refined with a filter.
pub(crate) const FILTER: f64 = 0.30;
/// Chance a product view comes from a product list (list viewed + product clicked before it).
pub(crate) const FROM_LIST: f64 = 0.30;
/// Chance a product view stays in the session's focus category.
pub(crate) const IN_FOCUS_CATEGORY: f64 = 0.70;
/// Chance that a campaign session lands on the deal of the day (and, if it buys, buys that).
pub(crate) const DEAL_LANDING: f64 = 0.5;
/// Chance of reading reviews after a product view.
pub(crate) const REVIEWS_VIEWED: f64 = 0.12;
/// Chance of playing the product video (when the product has one).
pub(crate) const VIDEO_PLAYED: f64 = 0.15;
/// Chance of wishlisting an in-stock product after viewing it.
pub(crate) const WISHLIST: f64 = 0.025;
/// Chance of asking to be told when a viewed out-of-stock product is back.
pub(crate) const BACK_IN_STOCK_REQUEST: f64 = 0.25;
/// Chance of wishlisting a viewed out-of-stock product.
pub(crate) const WISHLIST_OUT_OF_STOCK: f64 = 0.10;
/// Chance per session of subscribing to the newsletter (once per shopper).
pub(crate) const NEWSLETTER: f64 = 0.015;

// ---- Identity -------------------------------------------------------------------------------

/// Share of shoppers who already have an account (they log in at their first session).
pub(crate) const MEMBER: f64 = 0.40;
/// Share of shoppers who sign up at some point (the rest stay anonymous / check out as guests).
pub(crate) const PROSPECT: f64 = 0.20;
/// Chance per session that a prospect signs up (they also sign up at their first checkout).
pub(crate) const SIGN_UP_PER_SESSION: f64 = 0.12;
/// Chance that a member's later session re-sends identify (analytics.js does on login).
pub(crate) const REIDENTIFY: f64 = 0.15;

// ---- After the order (server side) --------------------------------------------------------

/// Share of orders cancelled within hours.
pub(crate) const ORDER_CANCELLED: f64 = 0.03;
/// Share of shipped orders that are delayed.
pub(crate) const ORDER_DELAYED: f64 = 0.08;
/// Share of delivered orders that are refunded.
pub(crate) const ORDER_REFUNDED: f64 = 0.05;
/// Share of delivered orders that get a review.
pub(crate) const REVIEW: f64 = 0.30;
/// Chance of a support ticket after a delay.
pub(crate) const TICKET_AFTER_DELAY: f64 = 0.40;
/// Chance of a support ticket about any order.
pub(crate) const TICKET_ANY_ORDER: f64 = 0.03;
/// Chance per session that a newsletter subscriber unsubscribes (via the email provider).
pub(crate) const UNSUBSCRIBE: f64 = 0.006;
/// Loyalty points per currency unit spent (members only).
pub(crate) const POINTS_PER_DOLLAR: f64 = 1.0;
/// Points for a submitted review.
pub(crate) const POINTS_FOR_REVIEW: u32 = 50;
/// Welcome points at sign-up.
pub(crate) const POINTS_FOR_SIGN_UP: u32 = 100;

// ---- Identify traits -------------------------------------------------------------------------

/// Share of members who told the shop their birthday.
pub(crate) const HAS_BIRTHDAY: f64 = 0.70;
/// Share of birthdays forced into the simulated window, on top of the ≈days/365 that fall there
/// by chance, so short simulations still exercise the birthday moment.
pub(crate) const BIRTHDAY_IN_WINDOW: f64 = 0.04;
/// Share of members with a subscription (renewal date within the next 40 days).
pub(crate) const SUBSCRIBER: f64 = 0.25;
/// Days ahead within which subscription renewal dates fall.
pub(crate) const RENEWAL_HORIZON_DAYS: i64 = 40;
