//! A shopper's planned actions ("steps"): compact descriptions of the Segment messages a
//! shopper will send, kept in a per-shopper queue until their time comes.
//!
//! Steps are small (product indices, shared baskets) rather than ready-made JSON so that the
//! queues of a million shoppers stay cheap; `message.rs` turns one into JSON when it is emitted.

use std::sync::Arc;

/// One cart line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Line {
    pub(crate) product: u32,
    pub(crate) quantity: u8,
}

/// A snapshot of a cart on its way to becoming an order, with its money figures.
#[derive(Debug)]
pub(crate) struct Basket {
    /// The shopper's cart number (`cart_id` is derived from it).
    pub(crate) cart_no: u32,
    /// The shopper's order number (`order_id`/`checkout_id` are derived from it).
    pub(crate) order_no: u32,
    pub(crate) lines: Vec<Line>,
    /// Index into [`COUPONS`], when one is used.
    pub(crate) coupon: Option<u8>,
    pub(crate) subtotal: f64,
    pub(crate) discount: f64,
    pub(crate) shipping: f64,
    /// What the shopper pays: subtotal − discount + shipping (prices include VAT, tax is 0).
    pub(crate) total: f64,
}

impl Basket {
    /// Segment's `revenue`: the order value without shipping and tax.
    pub(crate) fn revenue(&self) -> f64 {
        cents(self.subtotal - self.discount)
    }
}

/// Coupon codes and their percentage discount.
pub(crate) const COUPONS: &[(&str, f64)] = &[("WELCOME10", 0.10), ("WINTER15", 0.15), ("VIP20", 0.20)];

/// Round money to cents so that JSON shows `19.99`, not `19.990000000000002`.
pub(crate) fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Which page a page call or a track call happens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PageKind {
    Home,
    Category(u16),
    Product(u32),
    /// Search results for the query derived from this product.
    Search(u32),
    Cart,
    Checkout,
    Account,
}

/// Why a support ticket was opened.
pub(crate) const TICKET_REASONS: &[&str] = &["late_delivery", "damaged_item", "wrong_item", "payment_issue", "return_request"];

/// Why points were earned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PointsReason {
    Order,
    Review,
    SignUp,
}

/// One planned message.
#[derive(Debug)]
pub(crate) enum Step {
    // Client side (browser, analytics.js): carry the session's context.
    Page(PageKind),
    Identify,
    AccountCreated,
    Searched { product: u32 },
    ListViewed { category: u16 },
    ListFiltered { category: u16, filter: u8 },
    ProductClicked { product: u32, position: u8 },
    ProductViewed { product: u32 },
    ReviewsViewed { product: u32 },
    VideoPlayed { product: u32 },
    Wishlisted { product: u32 },
    BackInStockRequested { product: u32 },
    ProductAdded { line: Line, cart_no: u32 },
    ProductRemoved { line: Line, cart_no: u32 },
    CartViewed(Arc<Basket>),
    CheckoutStarted(Arc<Basket>),
    CheckoutStepCompleted(Arc<Basket>, u8),
    CouponApplied(Arc<Basket>),
    PaymentInfoEntered(Arc<Basket>),
    OrderCompleted(Arc<Basket>),
    NewsletterSubscribed,
    // Server side (shop back end, email provider): no browser context.
    OrderShipped(Arc<Basket>),
    OrderDelayed(Arc<Basket>),
    OrderCancelled(Arc<Basket>),
    OrderRefunded(Arc<Basket>),
    ReviewSubmitted { basket: Arc<Basket>, product: u32, rating: u8 },
    SupportTicketOpened { basket: Option<Arc<Basket>>, reason: u8 },
    EmailUnsubscribed,
    PointsEarned { points: u32, reason: PointsReason, basket: Option<Arc<Basket>> },
}

impl Step {
    /// Whether the message comes from the shop's server rather than the shopper's browser.
    pub(crate) fn is_server_side(&self) -> bool {
        matches!(
            self,
            Self::OrderShipped(_)
                | Self::OrderDelayed(_)
                | Self::OrderCancelled(_)
                | Self::OrderRefunded(_)
                | Self::ReviewSubmitted { .. }
                | Self::SupportTicketOpened { .. }
                | Self::EmailUnsubscribed
                | Self::PointsEarned { .. }
        )
    }
}

/// A step with its time and whether the shopper was signed in when it was planned.
#[derive(Debug)]
pub(crate) struct Pending {
    pub(crate) at_ms: i64,
    /// Per-shopper sequence number: orders steps planned for the same millisecond.
    pub(crate) seq: u32,
    /// Whether the message carries `userId`.
    pub(crate) signed_in: bool,
    pub(crate) step: Step,
}
