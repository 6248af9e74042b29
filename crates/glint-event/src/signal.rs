//! Signals: the canonical micro-conversion kinds, and the taxonomy that maps every input
//! vocabulary (Segment E-commerce v2, GA4, PostHog, dataset formats) onto them.
//!
//! Each signal carries a funnel stage, a Google moment and a weight. The defaults below are
//! the table in the brief; `glint.toml` may rename inputs (`[taxonomy.aliases]`) and re-stage or
//! re-weight any signal, custom ones included (`[taxonomy.signals.NAME]`).

use std::collections::HashMap;
use std::fmt;

use serde::Deserialize;

/// Where a signal sits in the purchase funnel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Discovery: landing, searching, browsing lists.
    Top,
    /// Consideration: looking at products, reviews, wishlists.
    Middle,
    /// Decision and after: carts, checkout, orders, post-purchase service.
    Bottom,
}

/// Google's micro-moment a signal expresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GoogleMoment {
    /// I want to know.
    Know,
    /// I want to go.
    Go,
    /// I want to do.
    Do,
    /// I want to buy.
    Buy,
}

impl Stage {
    /// The snake_case name used in config and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Top => "top",
            Stage::Middle => "middle",
            Stage::Bottom => "bottom",
        }
    }
}

impl GoogleMoment {
    /// The snake_case name used in config and output.
    pub fn as_str(self) -> &'static str {
        match self {
            GoogleMoment::Know => "know",
            GoogleMoment::Go => "go",
            GoogleMoment::Do => "do",
            GoogleMoment::Buy => "buy",
        }
    }
}

macro_rules! builtins {
    ($( $variant:ident = $code:literal, $name:literal, $stage:ident, $moment:ident, $weight:literal; )*) => {
        /// A signal Glint knows by name. The numeric code is stored in the log: never reuse one.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        #[allow(missing_docs)]
        pub enum Builtin { $( $variant = $code, )* }

        impl Builtin {
            /// Every builtin signal, in code order.
            pub const ALL: &'static [Builtin] = &[ $( Builtin::$variant, )* ];

            /// The canonical snake_case name.
            pub fn name(self) -> &'static str {
                match self { $( Builtin::$variant => $name, )* }
            }

            /// The code stored in the log.
            pub fn code(self) -> u8 { self as u8 }

            /// The builtin with this log code, if any.
            pub fn from_code(code: u8) -> Option<Builtin> {
                match code { $( $code => Some(Builtin::$variant), )* _ => None }
            }

            /// The builtin with this canonical name, if any.
            pub fn from_name(name: &str) -> Option<Builtin> {
                match name { $( $name => Some(Builtin::$variant), )* _ => None }
            }

            fn default_info(self) -> SignalInfo {
                match self {
                    $( Builtin::$variant => SignalInfo {
                        stage: Stage::$stage, moment: GoogleMoment::$moment, weight: $weight,
                    }, )*
                }
            }
        }
    };
}

builtins! {
    PageViewed = 1, "page_viewed", Top, Know, 0.2;
    ProductsSearched = 2, "products_searched", Top, Know, 0.5;
    ProductListViewed = 3, "product_list_viewed", Top, Know, 0.3;
    ProductListFiltered = 4, "product_list_filtered", Top, Know, 0.6;
    ProductViewed = 5, "product_viewed", Middle, Do, 1.0;
    ProductClicked = 6, "product_clicked", Middle, Do, 0.8;
    ReviewsViewed = 7, "reviews_viewed", Middle, Know, 1.5;
    VideoPlayed = 8, "video_played", Middle, Know, 1.5;
    ProductAddedToWishlist = 9, "product_added_to_wishlist", Middle, Buy, 2.0;
    ProductAdded = 10, "product_added", Bottom, Buy, 4.0;
    ProductRemoved = 11, "product_removed", Bottom, Buy, -1.0;
    CartViewed = 12, "cart_viewed", Bottom, Buy, 3.0;
    CheckoutStarted = 13, "checkout_started", Bottom, Buy, 6.0;
    CheckoutStepCompleted = 14, "checkout_step_completed", Bottom, Buy, 6.0;
    PaymentInfoEntered = 15, "payment_info_entered", Bottom, Buy, 8.0;
    OrderCompleted = 16, "order_completed", Bottom, Buy, 10.0;
    OrderRefunded = 17, "order_refunded", Bottom, Buy, -3.0;
    OrderCancelled = 18, "order_cancelled", Bottom, Buy, -3.0;
    CouponApplied = 19, "coupon_applied", Bottom, Buy, 3.0;
    NewsletterSubscribed = 20, "newsletter_subscribed", Top, Know, 1.0;
    AccountCreated = 21, "account_created", Middle, Do, 2.0;
    BackInStockRequested = 22, "back_in_stock_requested", Middle, Buy, 2.5;
    ProductBackInStock = 23, "product_back_in_stock", Middle, Buy, 0.0;
    OrderShipped = 24, "order_shipped", Bottom, Go, 0.0;
    OrderDelayed = 25, "order_delayed", Bottom, Go, -1.0;
    ReviewSubmitted = 26, "review_submitted", Bottom, Do, 1.0;
    SupportTicketOpened = 27, "support_ticket_opened", Bottom, Do, -1.0;
    EmailUnsubscribed = 28, "email_unsubscribed", Top, Know, -2.0;
    PointsEarned = 29, "points_earned", Bottom, Buy, 0.5;
    Identified = 30, "identified", Top, Know, 0.0;
    Aliased = 31, "aliased", Top, Know, 0.0;
    Grouped = 32, "grouped", Top, Know, 0.0;
}

impl Builtin {
    /// Signals a shop's server sends about a product or an order rather than a shopper's
    /// own action; they may arrive without a shopper key.
    pub fn is_server_side(self) -> bool {
        matches!(
            self,
            Builtin::ProductBackInStock
                | Builtin::OrderShipped
                | Builtin::OrderDelayed
                | Builtin::ReviewSubmitted
                | Builtin::SupportTicketOpened
                | Builtin::EmailUnsubscribed
                | Builtin::PointsEarned
        )
    }
}

/// A canonical micro-conversion kind: one of the builtins, or a shop's custom name
/// (normalised to snake_case) that is kept, never dropped.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Signal {
    /// A signal from the brief's table.
    Builtin(Builtin),
    /// Any other name, normalised to snake_case.
    Custom(Box<str>),
}

impl Signal {
    /// The canonical name.
    pub fn name(&self) -> &str {
        match self {
            Signal::Builtin(b) => b.name(),
            Signal::Custom(s) => s,
        }
    }

    /// The signal for a canonical (already normalised) name.
    pub fn from_canonical(name: &str) -> Signal {
        match Builtin::from_name(name) {
            Some(b) => Signal::Builtin(b),
            None => Signal::Custom(name.into()),
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl From<Builtin> for Signal {
    fn from(b: Builtin) -> Signal {
        Signal::Builtin(b)
    }
}

/// What the taxonomy says of one signal.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SignalInfo {
    /// Funnel stage.
    pub stage: Stage,
    /// Google moment.
    pub moment: GoogleMoment,
    /// Weight in the taxonomy's intent score (negative for signals that lower intent).
    pub weight: f64,
}

/// Turn any event name into Glint's snake_case form: `"Product Viewed"` → `"product_viewed"`,
/// `"view-item"` → `"view_item"`, `"$pageview"` stays `"$pageview"`.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending_sep = false;
    for c in name.trim().chars() {
        if c == ' ' || c == '-' || c == '_' || c == '.' {
            pending_sep = !out.is_empty();
            continue;
        }
        if pending_sep {
            out.push('_');
            pending_sep = false;
        }
        out.extend(c.to_lowercase());
    }
    out
}

/// Overrides of the taxonomy, as read from `[taxonomy]` in `glint.toml`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaxonomyConfig {
    /// Input name (any spelling) → canonical signal name.
    #[serde(default)]
    pub aliases: HashMap<String, String>,
    /// Canonical signal name → overrides of its stage, moment and weight.
    #[serde(default)]
    pub signals: HashMap<String, SignalOverride>,
}

/// An override for one signal; unset fields keep the default.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalOverride {
    /// Funnel stage.
    pub stage: Option<Stage>,
    /// Google moment.
    pub moment: Option<GoogleMoment>,
    /// Weight.
    pub weight: Option<f64>,
}

/// Maps input vocabularies onto signals and describes each signal.
#[derive(Clone, Debug)]
pub struct Taxonomy {
    aliases: HashMap<String, Signal>,
    builtin_info: Vec<SignalInfo>,
    custom_info: HashMap<Box<str>, SignalInfo>,
}

/// Input names from Segment E-commerce v2, GA4 recommended events, PostHog and the dataset
/// formats, normalised, with their canonical signal. Canonical names map to themselves
/// without being listed.
const DEFAULT_ALIASES: &[(&str, Builtin)] = &[
    // Segment spec names that do not normalise straight onto ours.
    ("product_reviewed", Builtin::ReviewSubmitted),
    ("product_shared", Builtin::ProductClicked),
    ("promotion_clicked", Builtin::ProductClicked),
    ("order_updated", Builtin::CheckoutStepCompleted),
    ("checkout_step_viewed", Builtin::CheckoutStepCompleted),
    ("signed_up", Builtin::AccountCreated),
    ("email_subscribed", Builtin::NewsletterSubscribed),
    ("video_playback_started", Builtin::VideoPlayed),
    ("unsubscribed", Builtin::EmailUnsubscribed),
    ("product_added_to_cart", Builtin::ProductAdded),
    ("product_removed_from_cart", Builtin::ProductRemoved),
    ("wishlist_product_added_to_cart", Builtin::ProductAdded),
    // GA4 recommended e-commerce events.
    ("page_view", Builtin::PageViewed),
    ("screen_view", Builtin::PageViewed),
    ("search", Builtin::ProductsSearched),
    ("view_search_results", Builtin::ProductsSearched),
    ("view_item_list", Builtin::ProductListViewed),
    ("select_item", Builtin::ProductClicked),
    ("view_item", Builtin::ProductViewed),
    ("add_to_wishlist", Builtin::ProductAddedToWishlist),
    ("add_to_cart", Builtin::ProductAdded),
    ("remove_from_cart", Builtin::ProductRemoved),
    ("view_cart", Builtin::CartViewed),
    ("begin_checkout", Builtin::CheckoutStarted),
    ("add_shipping_info", Builtin::CheckoutStepCompleted),
    ("add_payment_info", Builtin::PaymentInfoEntered),
    ("purchase", Builtin::OrderCompleted),
    ("refund", Builtin::OrderRefunded),
    ("sign_up", Builtin::AccountCreated),
    ("earn_virtual_currency", Builtin::PointsEarned),
    // PostHog.
    ("$pageview", Builtin::PageViewed),
    ("$screen", Builtin::PageViewed),
    ("$identify", Builtin::Identified),
    ("$create_alias", Builtin::Aliased),
    ("$groupidentify", Builtin::Grouped),
    // Dataset formats (REES46, RetailRocket, Taobao, Diginetica, OTTO).
    ("view", Builtin::ProductViewed),
    ("pv", Builtin::ProductViewed),
    ("clicks", Builtin::ProductViewed),
    ("cart", Builtin::ProductAdded),
    ("addtocart", Builtin::ProductAdded),
    ("carts", Builtin::ProductAdded),
    ("fav", Builtin::ProductAddedToWishlist),
    ("buy", Builtin::OrderCompleted),
    ("transaction", Builtin::OrderCompleted),
    ("orders", Builtin::OrderCompleted),
];

/// Custom signals get this until configured: top of funnel, no weight in the intent score.
const CUSTOM_INFO: SignalInfo =
    SignalInfo { stage: Stage::Top, moment: GoogleMoment::Know, weight: 0.0 };

impl Default for Taxonomy {
    fn default() -> Self {
        let aliases = DEFAULT_ALIASES.iter().map(|&(k, b)| (k.to_string(), Signal::Builtin(b))).collect();
        let builtin_info = (0..=u8::MAX as usize)
            .map(|code| Builtin::from_code(code as u8).map_or(CUSTOM_INFO, |b| b.default_info()))
            .collect();
        Taxonomy { aliases, builtin_info, custom_info: HashMap::new() }
    }
}

/// A taxonomy override that names something that does not fit.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TaxonomyError {
    /// An alias or override has an empty name.
    #[error("taxonomy: empty signal name in {0}")]
    EmptyName(&'static str),
}

impl Taxonomy {
    /// The defaults with `config`'s overrides applied.
    ///
    /// # Errors
    /// When an alias or override names an empty signal.
    pub fn with_config(config: &TaxonomyConfig) -> Result<Taxonomy, TaxonomyError> {
        let mut t = Taxonomy::default();
        for (input, target) in &config.aliases {
            let target = normalize_name(target);
            if target.is_empty() || normalize_name(input).is_empty() {
                return Err(TaxonomyError::EmptyName("[taxonomy.aliases]"));
            }
            t.aliases.insert(normalize_name(input), Signal::from_canonical(&target));
        }
        for (name, ov) in &config.signals {
            let name = normalize_name(name);
            if name.is_empty() {
                return Err(TaxonomyError::EmptyName("[taxonomy.signals]"));
            }
            let signal = Signal::from_canonical(&name);
            let mut info = t.info(&signal);
            if let Some(s) = ov.stage {
                info.stage = s;
            }
            if let Some(m) = ov.moment {
                info.moment = m;
            }
            if let Some(w) = ov.weight {
                info.weight = w;
            }
            match signal {
                Signal::Builtin(b) => t.builtin_info[b.code() as usize] = info,
                Signal::Custom(c) => {
                    t.custom_info.insert(c, info);
                }
            }
        }
        Ok(t)
    }

    /// The signal for an input event name in any vocabulary; unknown names become custom
    /// signals under their normalised name.
    pub fn resolve(&self, input: &str) -> Signal {
        let norm = normalize_name(input);
        if let Some(s) = self.aliases.get(&norm) {
            return s.clone();
        }
        Signal::from_canonical(&norm)
    }

    /// Whether a signal is known: a builtin, a custom signal configured in `[taxonomy]`, or the
    /// target of an alias. Rules refuse others, as likely typos.
    pub fn knows(&self, signal: &Signal) -> bool {
        match signal {
            Signal::Builtin(_) => true,
            Signal::Custom(c) => self.custom_info.contains_key(c) || self.aliases.values().any(|s| s == signal),
        }
    }

    /// Stage, moment and weight of a signal.
    pub fn info(&self, signal: &Signal) -> SignalInfo {
        match signal {
            Signal::Builtin(b) => self.builtin_info[b.code() as usize],
            Signal::Custom(c) => self.custom_info.get(c).copied().unwrap_or(CUSTOM_INFO),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_vocabulary_resolves_to_the_canonical_signal() {
        let t = Taxonomy::default();
        for (input, want) in [
            ("Product Viewed", "product_viewed"),
            ("view_item", "product_viewed"),
            ("$pageview", "page_viewed"),
            ("Order Completed", "order_completed"),
            ("purchase", "order_completed"),
            ("addtocart", "product_added"),
            ("Product Added to Wishlist", "product_added_to_wishlist"),
            ("Back In Stock Requested", "back_in_stock_requested"),
            ("Spun The Wheel", "spun_the_wheel"),
        ] {
            assert_eq!(t.resolve(input).name(), want, "{input}");
        }
    }

    #[test]
    fn codes_round_trip_and_never_collide() {
        let mut seen = std::collections::HashSet::new();
        for &b in Builtin::ALL {
            assert!(seen.insert(b.code()));
            assert_eq!(Builtin::from_code(b.code()), Some(b));
            assert_eq!(Builtin::from_name(b.name()), Some(b));
            assert_eq!(normalize_name(b.name()), b.name());
        }
        assert_eq!(Builtin::from_code(0), None);
    }

    #[test]
    fn config_overrides_aliases_and_weights() {
        let cfg: TaxonomyConfig = toml_like(
            &[("Added To Bag", "product_added"), ("payment_done", "order_completed")],
            &[("video_played", 9.0), ("spin_wheel", 2.0)],
        );
        let t = Taxonomy::with_config(&cfg).expect("valid config");
        assert_eq!(t.resolve("added to bag"), Signal::Builtin(Builtin::ProductAdded));
        assert_eq!(t.resolve("payment_done"), Signal::Builtin(Builtin::OrderCompleted));
        assert_eq!(t.info(&Builtin::VideoPlayed.into()).weight, 9.0);
        assert_eq!(t.info(&Signal::Custom("spin_wheel".into())).weight, 2.0);
        assert_eq!(t.info(&Signal::Custom("other".into())).weight, 0.0);
    }

    fn toml_like(aliases: &[(&str, &str)], weights: &[(&str, f64)]) -> TaxonomyConfig {
        TaxonomyConfig {
            aliases: aliases.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect(),
            signals: weights
                .iter()
                .map(|(n, w)| (n.to_string(), SignalOverride { weight: Some(*w), ..Default::default() }))
                .collect(),
        }
    }
}
