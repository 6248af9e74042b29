//! Turning planned steps into Segment HTTP API messages (JSON objects shaped exactly as
//! Segment's libraries send them: analytics.js in the browser, a server library for back-end
//! events), with Segment E-commerce v2 event and property names.

use serde_json::{Map, Value};

use crate::catalog::{CATEGORIES, Catalog, Product};
use crate::clock::{DAY_MS, iso_date, iso_timestamp};
use crate::device::{DEVICES, SHOP_ORIGIN, ZONES, ip_address};
use crate::shopper::{Shopper, TIERS};
use crate::step::{Basket, COUPONS, Line, PageKind, Pending, PointsReason, Step, TICKET_REASONS};

/// The shop's currency (REES46 prices are in USD).
const CURRENCY: &str = "USD";

/// analytics.js identifies itself like this in `context.library`.
const BROWSER_LIBRARY: (&str, &str) = ("analytics.js", "next-1.76.0");
/// Server-side messages come from a back-end library.
const SERVER_LIBRARY: (&str, &str) = ("analytics-node", "2.2.0");

type Obj = Map<String, Value>;

fn put(m: &mut Obj, k: &str, v: impl Into<Value>) {
    m.insert(k.to_owned(), v.into());
}

fn library(m: &mut Obj, (name, version): (&str, &str)) {
    let mut lib = Obj::new();
    put(&mut lib, "name", name);
    put(&mut lib, "version", version);
    put(m, "library", lib);
}

/// The message's envelope: type, ids, timestamp.
fn envelope(kind: &str, message_id: String, at_ms: i64) -> Obj {
    let mut m = Obj::new();
    put(&mut m, "type", kind);
    put(&mut m, "messageId", message_id);
    put(&mut m, "timestamp", iso_timestamp(at_ms));
    m
}

/// Segment `userId` of shopper `index`.
pub(crate) fn user_id(index: u64) -> String {
    format!("user-{index:07}")
}

/// A UUID v4 string from 128 random bits (version and variant bits forced).
pub(crate) fn uuid(bits: u128) -> String {
    let with_version = (bits & !(0xF000_u128 << 64)) | (0x4000_u128 << 64);
    let v = (with_version & !(0xC000_u128 << 48)) | (0x8000_u128 << 48);
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(36);
    for i in 0..32 {
        if matches!(i, 8 | 12 | 16 | 20) {
            s.push('-');
        }
        let nibble = (v >> (124 - 4 * i)) & 0xF;
        s.push(char::from(HEX[nibble as usize]));
    }
    s
}

fn product_fields(m: &mut Obj, p: &Product) {
    put(m, "product_id", p.id.as_str());
    put(m, "sku", p.sku.as_str());
    put(m, "category", CATEGORIES[usize::from(p.category)].code);
    put(m, "name", p.name.as_str());
    put(m, "brand", p.brand);
    put(m, "price", p.price);
}

fn product_props(catalog: &Catalog, product: u32) -> Obj {
    let mut m = Obj::new();
    product_fields(&mut m, catalog.product(product));
    m
}

fn line_item(catalog: &Catalog, line: &Line) -> Value {
    let mut m = product_props(catalog, line.product);
    put(&mut m, "quantity", line.quantity);
    Value::Object(m)
}

fn products(catalog: &Catalog, lines: &[Line]) -> Value {
    Value::Array(lines.iter().map(|l| line_item(catalog, l)).collect())
}

fn cart_id(index: u64, cart_no: u32) -> String {
    format!("cart-{index}-{cart_no}")
}

fn order_id(index: u64, basket: &Basket) -> String {
    format!("ord-{index}-{}", basket.order_no)
}

fn checkout_id(index: u64, basket: &Basket) -> String {
    format!("chk-{index}-{}", basket.order_no)
}

/// Order properties shared by checkout and order events (Segment's Order Completed shape).
fn order_props(catalog: &Catalog, index: u64, basket: &Basket, with_products: bool) -> Obj {
    let mut m = Obj::new();
    put(&mut m, "order_id", order_id(index, basket));
    put(&mut m, "checkout_id", checkout_id(index, basket));
    put(&mut m, "cart_id", cart_id(index, basket.cart_no));
    put(&mut m, "total", basket.total);
    put(&mut m, "revenue", basket.revenue());
    put(&mut m, "subtotal", basket.subtotal);
    put(&mut m, "shipping", basket.shipping);
    put(&mut m, "tax", 0.0);
    put(&mut m, "discount", basket.discount);
    if let Some(c) = basket.coupon {
        put(&mut m, "coupon", COUPONS[usize::from(c)].0);
    }
    put(&mut m, "currency", CURRENCY);
    if with_products {
        put(&mut m, "products", products(catalog, &basket.lines));
    }
    m
}

fn search_query(catalog: &Catalog, product: u32) -> String {
    let p = catalog.product(product);
    let noun = CATEGORIES[usize::from(p.category)].noun;
    // Half the searches name a brand, half only the kind of product.
    if product.is_multiple_of(2) { format!("{} {noun}", p.brand) } else { noun.to_owned() }
}

/// `(path, title)` of a page.
fn page_path(catalog: &Catalog, page: PageKind) -> (String, &'static str) {
    match page {
        PageKind::Home => ("/".to_owned(), "Home"),
        PageKind::Category(c) => (format!("/c/{}", CATEGORIES[usize::from(c)].code.replace('.', "/")), "Category"),
        PageKind::Product(p) => (format!("/p/{}", catalog.product(p).id), "Product"),
        PageKind::Search(p) => (format!("/search?q={}", search_query(catalog, p).replace(' ', "+")), "Search Results"),
        PageKind::Cart => ("/cart".to_owned(), "Cart"),
        PageKind::Checkout => ("/checkout".to_owned(), "Checkout"),
        PageKind::Account => ("/account".to_owned(), "Account"),
    }
}

/// The page a client-side step happens on.
fn page_of(catalog: &Catalog, step: &Step) -> PageKind {
    match *step {
        Step::Page(p) => p,
        Step::Identify | Step::AccountCreated => PageKind::Account,
        Step::Searched { product } => PageKind::Search(product),
        Step::ListViewed { category } | Step::ListFiltered { category, .. } => PageKind::Category(category),
        Step::ProductClicked { product, .. } => PageKind::Category(catalog.product(product).category),
        Step::ProductViewed { product }
        | Step::ReviewsViewed { product }
        | Step::VideoPlayed { product }
        | Step::Wishlisted { product }
        | Step::BackInStockRequested { product } => PageKind::Product(product),
        Step::ProductAdded { line, .. } => PageKind::Product(line.product),
        Step::ProductRemoved { .. } | Step::CartViewed(_) => PageKind::Cart,
        Step::CheckoutStarted(_)
        | Step::CheckoutStepCompleted(..)
        | Step::CouponApplied(_)
        | Step::PaymentInfoEntered(_)
        | Step::OrderCompleted(_) => PageKind::Checkout,
        _ => PageKind::Home,
    }
}

/// The browser context of a client-side message.
fn client_context(catalog: &Catalog, shopper: &Shopper, page: PageKind) -> Obj {
    let profile = &shopper.profile;
    let zone = &ZONES[usize::from(profile.zone)];
    let mut c = Obj::new();
    library(&mut c, BROWSER_LIBRARY);
    put(&mut c, "userAgent", DEVICES[usize::from(profile.device)].user_agent);
    put(&mut c, "ip", ip_address(shopper.session.ip));
    put(&mut c, "locale", zone.locale);
    put(&mut c, "timezone", zone.name);
    let (path, title) = page_path(catalog, page);
    let mut p = Obj::new();
    put(&mut p, "url", format!("{SHOP_ORIGIN}{path}"));
    put(&mut p, "path", path);
    put(&mut p, "referrer", shopper.session.referrer);
    put(&mut p, "title", title);
    put(&mut c, "page", p);
    if let Some(campaign) = shopper.session.campaign {
        let (source, medium, name) = campaign.utm();
        let mut k = Obj::new();
        put(&mut k, "source", source);
        put(&mut k, "medium", medium);
        put(&mut k, "name", name);
        put(&mut c, "campaign", k);
    }
    let mut prefs = Obj::new();
    put(&mut prefs, "marketing", profile.marketing);
    put(&mut prefs, "personalization", profile.personalization);
    let mut consent = Obj::new();
    put(&mut consent, "categoryPreferences", prefs);
    put(&mut c, "consent", consent);
    c
}

fn server_context() -> Obj {
    let mut c = Obj::new();
    library(&mut c, SERVER_LIBRARY);
    c
}

/// Identify traits: no PII, just what Glint's moments use.
fn traits(shopper: &Shopper) -> Obj {
    let p = &shopper.profile;
    let mut t = Obj::new();
    put(&mut t, "tier", TIERS[usize::from(p.tier)]);
    put(&mut t, "points", shopper.points);
    if let Some(d) = p.birthday {
        put(&mut t, "birthday", iso_date(d));
    }
    if let Some(d) = p.renewal {
        put(&mut t, "subscription_renewal_date", iso_date(d));
    }
    put(&mut t, "newsletter", shopper.newsletter);
    t
}

/// Build the Segment message for `pending` (mutates the shopper's emitted-state such as the
/// points balance, which must follow emission order).
pub(crate) fn build(catalog: &Catalog, shopper: &mut Shopper, pending: &Pending, message_id: String) -> Value {
    let index = shopper.index;
    let step = &pending.step;
    let (kind, event): (&str, Option<&str>) = match step {
        Step::Page(_) => ("page", None),
        Step::Identify => ("identify", None),
        _ => ("track", Some(event_name(step))),
    };
    let mut m = envelope(kind, message_id, pending.at_ms);
    if let Some(e) = event {
        put(&mut m, "event", e);
    }
    let server = step.is_server_side();
    if pending.signed_in {
        put(&mut m, "userId", user_id(index));
    }
    // Browsers always send their anonymousId; the back end only when it has no userId.
    if !server || !pending.signed_in {
        put(&mut m, "anonymousId", uuid(shopper.profile.anonymous));
    }
    if let Step::PointsEarned { points, .. } = step {
        shopper.points = shopper.points.saturating_add(*points);
    }
    match step {
        Step::Identify => put(&mut m, "traits", traits(shopper)),
        Step::Page(page) => {
            let (path, title) = page_path(catalog, *page);
            put(&mut m, "name", title);
            let mut p = Obj::new();
            put(&mut p, "url", format!("{SHOP_ORIGIN}{path}"));
            put(&mut p, "path", path);
            put(&mut p, "title", title);
            put(&mut p, "referrer", shopper.session.referrer);
            put(&mut m, "properties", p);
        }
        _ => put(&mut m, "properties", properties(catalog, shopper, step)),
    }
    let context = if server { server_context() } else { client_context(catalog, shopper, page_of(catalog, step)) };
    put(&mut m, "context", context);
    Value::Object(m)
}

/// Segment E-commerce v2 (and Glint-mapped) event names.
fn event_name(step: &Step) -> &'static str {
    match step {
        Step::Page(_) | Step::Identify => "",
        Step::AccountCreated => "Account Created",
        Step::Searched { .. } => "Products Searched",
        Step::ListViewed { .. } => "Product List Viewed",
        Step::ListFiltered { .. } => "Product List Filtered",
        Step::ProductClicked { .. } => "Product Clicked",
        Step::ProductViewed { .. } => "Product Viewed",
        Step::ReviewsViewed { .. } => "Reviews Viewed",
        Step::VideoPlayed { .. } => "Video Played",
        Step::Wishlisted { .. } => "Product Added to Wishlist",
        Step::BackInStockRequested { .. } => "Back In Stock Requested",
        Step::ProductAdded { .. } => "Product Added",
        Step::ProductRemoved { .. } => "Product Removed",
        Step::CartViewed(_) => "Cart Viewed",
        Step::CheckoutStarted(_) => "Checkout Started",
        Step::CheckoutStepCompleted(..) => "Checkout Step Completed",
        Step::CouponApplied(_) => "Coupon Applied",
        Step::PaymentInfoEntered(_) => "Payment Info Entered",
        Step::OrderCompleted(_) => "Order Completed",
        Step::NewsletterSubscribed => "Newsletter Subscribed",
        Step::OrderShipped(_) => "Order Shipped",
        Step::OrderDelayed(_) => "Order Delayed",
        Step::OrderCancelled(_) => "Order Cancelled",
        Step::OrderRefunded(_) => "Order Refunded",
        Step::ReviewSubmitted { .. } => "Review Submitted",
        Step::SupportTicketOpened { .. } => "Support Ticket Opened",
        Step::EmailUnsubscribed => "Email Unsubscribed",
        Step::PointsEarned { .. } => "Points Earned",
    }
}

const FILTERS: &[(&str, &str)] = &[("price", "0-100"), ("price", "100-500"), ("brand", "samsung"), ("rating", "4+")];
const PAYMENT_METHODS: &[&str] = &["card", "paypal", "apple_pay", "card"];
const SHIPPING_METHODS: &[&str] = &["standard", "express", "pickup"];

fn properties(catalog: &Catalog, shopper: &Shopper, step: &Step) -> Obj {
    let index = shopper.index;
    match step {
        Step::Page(_) | Step::Identify => Obj::new(),
        Step::AccountCreated => {
            let mut m = Obj::new();
            put(&mut m, "signup_method", "email");
            m
        }
        Step::Searched { product } => {
            let mut m = Obj::new();
            put(&mut m, "query", search_query(catalog, *product));
            m
        }
        Step::ListViewed { category } => {
            let code = CATEGORIES[usize::from(*category)].code;
            let mut m = Obj::new();
            put(&mut m, "list_id", code);
            put(&mut m, "category", code);
            m
        }
        Step::ListFiltered { category, filter } => {
            let code = CATEGORIES[usize::from(*category)].code;
            let (ty, value) = FILTERS[usize::from(*filter) % FILTERS.len()];
            let mut f = Obj::new();
            put(&mut f, "type", ty);
            put(&mut f, "value", value);
            let mut s = Obj::new();
            put(&mut s, "type", "price");
            put(&mut s, "value", "asc");
            let mut m = Obj::new();
            put(&mut m, "list_id", code);
            put(&mut m, "category", code);
            put(&mut m, "filters", Value::Array(vec![Value::Object(f)]));
            put(&mut m, "sorts", Value::Array(vec![Value::Object(s)]));
            m
        }
        Step::ProductClicked { product, position } => {
            let mut m = product_props(catalog, *product);
            put(&mut m, "position", *position);
            m
        }
        Step::ProductViewed { product } => {
            let mut m = product_props(catalog, *product);
            put(&mut m, "currency", CURRENCY);
            m
        }
        Step::ReviewsViewed { product } => {
            let p = catalog.product(*product);
            let mut m = Obj::new();
            put(&mut m, "product_id", p.id.as_str());
            put(&mut m, "category", CATEGORIES[usize::from(p.category)].code);
            m
        }
        Step::VideoPlayed { product } => {
            let p = catalog.product(*product);
            let mut m = Obj::new();
            put(&mut m, "product_id", p.id.as_str());
            put(&mut m, "video_id", format!("vid-{}", p.id));
            put(&mut m, "position", 0);
            m
        }
        Step::Wishlisted { product } => {
            let mut m = product_props(catalog, *product);
            put(&mut m, "wishlist_id", format!("wl-{index}"));
            put(&mut m, "wishlist_name", "Favourites");
            m
        }
        Step::BackInStockRequested { product } => product_props(catalog, *product),
        Step::ProductAdded { line, cart_no } | Step::ProductRemoved { line, cart_no } => {
            let mut m = product_props(catalog, line.product);
            put(&mut m, "quantity", line.quantity);
            put(&mut m, "cart_id", cart_id(index, *cart_no));
            m
        }
        Step::CartViewed(basket) => {
            let mut m = Obj::new();
            put(&mut m, "cart_id", cart_id(index, basket.cart_no));
            put(&mut m, "value", basket.subtotal);
            put(&mut m, "currency", CURRENCY);
            put(&mut m, "products", products(catalog, &basket.lines));
            m
        }
        Step::CheckoutStarted(basket) => {
            let mut m = order_props(catalog, index, basket, true);
            put(&mut m, "value", basket.total);
            m
        }
        Step::CheckoutStepCompleted(basket, step) => {
            let mut m = Obj::new();
            put(&mut m, "checkout_id", checkout_id(index, basket));
            put(&mut m, "step", *step);
            let method = SHIPPING_METHODS[(basket.order_no as usize + index as usize) % SHIPPING_METHODS.len()];
            put(&mut m, "shipping_method", method);
            m
        }
        Step::CouponApplied(basket) => {
            let code = basket.coupon.map_or("", |c| COUPONS[usize::from(c)].0);
            let mut m = Obj::new();
            put(&mut m, "order_id", order_id(index, basket));
            put(&mut m, "cart_id", cart_id(index, basket.cart_no));
            put(&mut m, "coupon_id", code);
            put(&mut m, "coupon_name", code);
            put(&mut m, "discount", basket.discount);
            m
        }
        Step::PaymentInfoEntered(basket) => {
            let mut m = Obj::new();
            put(&mut m, "checkout_id", checkout_id(index, basket));
            put(&mut m, "order_id", order_id(index, basket));
            put(&mut m, "step", 3);
            put(&mut m, "payment_method", PAYMENT_METHODS[index as usize % PAYMENT_METHODS.len()]);
            m
        }
        Step::OrderCompleted(basket) | Step::OrderRefunded(basket) => order_props(catalog, index, basket, true),
        Step::OrderCancelled(basket) => {
            let mut m = order_props(catalog, index, basket, true);
            put(&mut m, "reason", "out_of_stock_at_warehouse");
            m
        }
        Step::OrderShipped(basket) => {
            let mut m = order_props(catalog, index, basket, false);
            put(&mut m, "carrier", if basket.order_no % 2 == 0 { "DHL" } else { "UPS" });
            put(&mut m, "tracking_number", format!("TRK{index:09}{}", basket.order_no));
            m
        }
        Step::OrderDelayed(basket) => {
            let mut m = order_props(catalog, index, basket, false);
            put(&mut m, "reason", "carrier_backlog");
            put(&mut m, "delay_days", 2 + basket.order_no % 3);
            m
        }
        Step::ReviewSubmitted { basket, product, rating } => {
            let p = catalog.product(*product);
            let mut m = Obj::new();
            put(&mut m, "product_id", p.id.as_str());
            put(&mut m, "order_id", order_id(index, basket));
            put(&mut m, "review_id", format!("rev-{index}-{}", basket.order_no));
            put(&mut m, "rating", *rating);
            m
        }
        Step::SupportTicketOpened { basket, reason } => {
            let mut m = Obj::new();
            let order = basket.as_ref().map_or(0, |b| b.order_no);
            put(&mut m, "ticket_id", format!("tkt-{index}-{order}-{reason}"));
            put(&mut m, "reason", TICKET_REASONS[usize::from(*reason) % TICKET_REASONS.len()]);
            if let Some(b) = basket {
                put(&mut m, "order_id", order_id(index, b));
            }
            m
        }
        Step::NewsletterSubscribed | Step::EmailUnsubscribed => {
            let mut m = Obj::new();
            put(&mut m, "list_id", "newsletter");
            m
        }
        Step::PointsEarned { points, reason, basket } => {
            let mut m = Obj::new();
            put(&mut m, "points", *points);
            put(&mut m, "balance", shopper.points);
            let why = match reason {
                PointsReason::Order => "order",
                PointsReason::Review => "review",
                PointsReason::SignUp => "sign_up",
            };
            put(&mut m, "reason", why);
            if let Some(b) = basket {
                put(&mut m, "order_id", order_id(index, b));
            }
            m
        }
    }
}

/// The inventory system's "Product Back In Stock" for product `product` (no shopper ids: it
/// is about a product, and Glint matches it to shoppers who asked for it).
pub(crate) fn back_in_stock(catalog: &Catalog, product: u32, at_ms: i64, message_id: String) -> Value {
    let mut m = envelope("track", message_id, at_ms);
    put(&mut m, "event", "Product Back In Stock");
    let mut p = product_props(catalog, product);
    // A deterministic restock quantity between 5 and 54.
    put(&mut p, "quantity", 5 + (at_ms / DAY_MS + i64::from(product)) % 50);
    put(&mut m, "properties", p);
    put(&mut m, "context", server_context());
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_v4_shaped() {
        let u = uuid(u128::MAX);
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"), "{u}");
        assert_eq!(uuid(0), "00000000-0000-4000-8000-000000000000");
    }
}
