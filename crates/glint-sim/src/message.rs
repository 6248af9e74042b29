//! Turning planned steps into Segment HTTP API messages (JSON objects shaped exactly as
//! Segment's libraries send them: analytics.js in the browser, a server library for back-end
//! events), with Segment E-commerce v2 event and property names.
//!
//! A step first becomes a typed [`Message`] (static keys, borrowed catalogue strings); its
//! [`Message::to_json`] is the Segment JSON. Consumers that do not need JSON (the CLI writing
//! straight into a log) read the typed form and skip building and parsing a JSON tree.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::catalog::{CATEGORIES, Catalog, Product};
use crate::clock::{DAY_MS, iso_date, iso_timestamp};
use crate::device::{DEVICES, SHOP_ORIGIN, ZONES, ip_address};
use crate::shopper::{Shopper, TIERS};
use crate::step::{Basket, COUPONS, Line, PageKind, Pending, PointsReason, Step, TICKET_REASONS};

/// The shop's currency (REES46 prices are in USD).
const CURRENCY: &str = "USD";

/// analytics.js identifies itself like this in `context.library`.
const BROWSER_LIBRARY: Library = Library { name: "analytics.js", version: "next-1.76.0" };
/// Server-side messages come from a back-end library.
const SERVER_LIBRARY: Library = Library { name: "analytics-node", version: "2.2.0" };

/// Which Segment call a message is (its `type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// `track`: a named event with properties.
    Track,
    /// `page`: a page view, with the page as properties and its title as `name`.
    Page,
    /// `identify`: traits of the shopper, no properties.
    Identify,
}

impl MessageKind {
    /// The `type` field's value.
    pub fn name(self) -> &'static str {
        match self {
            Self::Track => "track",
            Self::Page => "page",
            Self::Identify => "identify",
        }
    }
}

/// One value of a message's properties or traits.
#[derive(Debug, Clone, PartialEq)]
pub enum Field<'a> {
    /// A JSON string.
    Text(Cow<'a, str>),
    /// A JSON integer.
    Int(i64),
    /// A JSON floating-point number (money).
    Float(f64),
    /// A JSON boolean.
    Bool(bool),
    /// A JSON array of objects (`products`, `filters`, `sorts`).
    Objects(Vec<Fields<'a>>),
}

/// A JSON object as `(key, value)` pairs with distinct keys, in no meaningful order (JSON
/// objects are unordered; [`Message::to_json`] sorts keys, as `serde_json::Map` does).
pub type Fields<'a> = Vec<(&'static str, Field<'a>)>;

/// `context.library`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Library {
    /// Library name.
    pub name: &'static str,
    /// Library version.
    pub version: &'static str,
}

/// `context.page` of a browser message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageContext {
    /// Full URL.
    pub url: String,
    /// Path and query.
    pub path: String,
    /// `document.referrer` (empty when none).
    pub referrer: &'static str,
    /// Page title.
    pub title: &'static str,
}

/// `context.campaign`: the session's UTM parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utm {
    /// `utm_source`.
    pub source: &'static str,
    /// `utm_medium`.
    pub medium: &'static str,
    /// `utm_campaign`.
    pub name: &'static str,
}

/// The context analytics.js sends from the shopper's browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserContext {
    /// `userAgent`.
    pub user_agent: &'static str,
    /// `ip`.
    pub ip: String,
    /// `locale`.
    pub locale: &'static str,
    /// `timezone` (IANA name).
    pub timezone: &'static str,
    /// `page`.
    pub page: PageContext,
    /// `campaign`, when the session came from one.
    pub campaign: Option<Utm>,
    /// `consent.categoryPreferences.marketing`.
    pub marketing: bool,
    /// `consent.categoryPreferences.personalization`.
    pub personalization: bool,
}

/// A message's `context`.
// Most messages come from the browser, and one message lives at a time: boxing the large
// variant would only add an allocation per message.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageContext {
    /// From the browser (analytics.js).
    Browser(BrowserContext),
    /// From the shop's back end: only `library`.
    Server,
}

impl MessageContext {
    /// `context.library`.
    pub fn library(&self) -> Library {
        match self {
            Self::Browser(_) => BROWSER_LIBRARY,
            Self::Server => SERVER_LIBRARY,
        }
    }
}

/// One Segment message in typed form; [`Message::to_json`] gives its JSON. `'a` borrows the
/// simulator's catalogue (product ids, SKUs and names).
#[derive(Debug, Clone, PartialEq)]
pub struct Message<'a> {
    /// `type`.
    pub kind: MessageKind,
    /// `event` (track only).
    pub event: Option<&'static str>,
    /// `messageId`.
    pub message_id: String,
    /// `timestamp`, as epoch milliseconds (JSON: `YYYY-MM-DDTHH:MM:SS.mmmZ`).
    pub timestamp_ms: i64,
    /// `userId`.
    pub user_id: Option<String>,
    /// `anonymousId`.
    pub anonymous_id: Option<String>,
    /// `name` (page only: the page title).
    pub name: Option<&'static str>,
    /// `properties` (track and page).
    pub properties: Option<Fields<'a>>,
    /// `traits` (identify only).
    pub traits: Option<Fields<'a>>,
    /// `context`.
    pub context: MessageContext,
}

fn fields_json(fields: &[(&'static str, Field<'_>)]) -> Value {
    Value::Object(fields.iter().map(|(k, v)| ((*k).to_owned(), field_json(v))).collect())
}

fn field_json(v: &Field<'_>) -> Value {
    match v {
        Field::Text(s) => Value::String(s.as_ref().to_owned()),
        Field::Int(i) => Value::from(*i),
        Field::Float(f) => Value::from(*f),
        Field::Bool(b) => Value::Bool(*b),
        Field::Objects(list) => Value::Array(list.iter().map(|o| fields_json(o)).collect()),
    }
}

type Obj = Map<String, Value>;

fn put(m: &mut Obj, k: &str, v: impl Into<Value>) {
    m.insert(k.to_owned(), v.into());
}

impl Message<'_> {
    /// The Segment JSON object of this message.
    pub fn to_json(&self) -> Value {
        let mut m = Obj::new();
        put(&mut m, "type", self.kind.name());
        put(&mut m, "messageId", self.message_id.as_str());
        put(&mut m, "timestamp", iso_timestamp(self.timestamp_ms));
        if let Some(e) = self.event {
            put(&mut m, "event", e);
        }
        if let Some(u) = &self.user_id {
            put(&mut m, "userId", u.as_str());
        }
        if let Some(a) = &self.anonymous_id {
            put(&mut m, "anonymousId", a.as_str());
        }
        if let Some(n) = self.name {
            put(&mut m, "name", n);
        }
        if let Some(p) = &self.properties {
            put(&mut m, "properties", fields_json(p));
        }
        if let Some(t) = &self.traits {
            put(&mut m, "traits", fields_json(t));
        }
        let mut c = Obj::new();
        let lib = self.context.library();
        let mut l = Obj::new();
        put(&mut l, "name", lib.name);
        put(&mut l, "version", lib.version);
        put(&mut c, "library", l);
        if let MessageContext::Browser(b) = &self.context {
            put(&mut c, "userAgent", b.user_agent);
            put(&mut c, "ip", b.ip.as_str());
            put(&mut c, "locale", b.locale);
            put(&mut c, "timezone", b.timezone);
            let mut p = Obj::new();
            put(&mut p, "url", b.page.url.as_str());
            put(&mut p, "path", b.page.path.as_str());
            put(&mut p, "referrer", b.page.referrer);
            put(&mut p, "title", b.page.title);
            put(&mut c, "page", p);
            if let Some(u) = b.campaign {
                let mut k = Obj::new();
                put(&mut k, "source", u.source);
                put(&mut k, "medium", u.medium);
                put(&mut k, "name", u.name);
                put(&mut c, "campaign", k);
            }
            let mut prefs = Obj::new();
            put(&mut prefs, "marketing", b.marketing);
            put(&mut prefs, "personalization", b.personalization);
            let mut consent = Obj::new();
            put(&mut consent, "categoryPreferences", prefs);
            put(&mut c, "consent", consent);
        }
        put(&mut m, "context", c);
        Value::Object(m)
    }
}

fn text(s: impl Into<String>) -> Field<'static> {
    Field::Text(Cow::Owned(s.into()))
}

fn stat(s: &'static str) -> Field<'static> {
    Field::Text(Cow::Borrowed(s))
}

fn borrowed(s: &str) -> Field<'_> {
    Field::Text(Cow::Borrowed(s))
}

fn int(i: impl Into<i64>) -> Field<'static> {
    Field::Int(i.into())
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

fn product_fields<'a>(m: &mut Fields<'a>, p: &'a Product) {
    m.push(("product_id", borrowed(&p.id)));
    m.push(("sku", borrowed(&p.sku)));
    m.push(("category", stat(CATEGORIES[usize::from(p.category)].code)));
    m.push(("name", borrowed(&p.name)));
    m.push(("brand", stat(p.brand)));
    m.push(("price", Field::Float(p.price)));
}

/// A product's fields with room for `extra` more.
fn product_props(catalog: &Catalog, product: u32, extra: usize) -> Fields<'_> {
    let mut m = Vec::with_capacity(6 + extra);
    product_fields(&mut m, catalog.product(product));
    m
}

fn line_item<'a>(catalog: &'a Catalog, line: &Line) -> Fields<'a> {
    let mut m = product_props(catalog, line.product, 1);
    m.push(("quantity", int(line.quantity)));
    m
}

fn products<'a>(catalog: &'a Catalog, lines: &[Line]) -> Field<'a> {
    Field::Objects(lines.iter().map(|l| line_item(catalog, l)).collect())
}

fn cart_id(index: u64, cart_no: u32) -> Field<'static> {
    text(format!("cart-{index}-{cart_no}"))
}

fn order_id(index: u64, basket: &Basket) -> Field<'static> {
    text(format!("ord-{index}-{}", basket.order_no))
}

fn checkout_id(index: u64, basket: &Basket) -> Field<'static> {
    text(format!("chk-{index}-{}", basket.order_no))
}

/// Order properties shared by checkout and order events (Segment's Order Completed shape).
fn order_props<'a>(catalog: &'a Catalog, index: u64, basket: &Basket, with_products: bool) -> Fields<'a> {
    let mut m = Vec::with_capacity(15);
    m.push(("order_id", order_id(index, basket)));
    m.push(("checkout_id", checkout_id(index, basket)));
    m.push(("cart_id", cart_id(index, basket.cart_no)));
    m.push(("total", Field::Float(basket.total)));
    m.push(("revenue", Field::Float(basket.revenue())));
    m.push(("subtotal", Field::Float(basket.subtotal)));
    m.push(("shipping", Field::Float(basket.shipping)));
    m.push(("tax", Field::Float(0.0)));
    m.push(("discount", Field::Float(basket.discount)));
    if let Some(c) = basket.coupon {
        m.push(("coupon", stat(COUPONS[usize::from(c)].0)));
    }
    m.push(("currency", stat(CURRENCY)));
    if with_products {
        m.push(("products", products(catalog, &basket.lines)));
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

/// `(url, path, title)` of a page.
fn page_parts(catalog: &Catalog, page: PageKind) -> (String, String, &'static str) {
    let (path, title) = page_path(catalog, page);
    (format!("{SHOP_ORIGIN}{path}"), path, title)
}

/// The browser context of a client-side message on a page (url, path, title).
fn client_context(shopper: &Shopper, (url, path, title): (String, String, &'static str)) -> MessageContext {
    let profile = &shopper.profile;
    let zone = &ZONES[usize::from(profile.zone)];
    MessageContext::Browser(BrowserContext {
        user_agent: DEVICES[usize::from(profile.device)].user_agent,
        ip: ip_address(shopper.session.ip),
        locale: zone.locale,
        timezone: zone.name,
        page: PageContext { url, path, referrer: shopper.session.referrer, title },
        campaign: shopper.session.campaign.map(|c| {
            let (source, medium, name) = c.utm();
            Utm { source, medium, name }
        }),
        marketing: profile.marketing,
        personalization: profile.personalization,
    })
}

/// Identify traits: no PII, just what Glint's moments use.
fn traits(shopper: &Shopper) -> Fields<'static> {
    let p = &shopper.profile;
    let mut t = Vec::with_capacity(5);
    t.push(("tier", stat(TIERS[usize::from(p.tier)])));
    t.push(("points", int(shopper.points)));
    if let Some(d) = p.birthday {
        t.push(("birthday", text(iso_date(d))));
    }
    if let Some(d) = p.renewal {
        t.push(("subscription_renewal_date", text(iso_date(d))));
    }
    t.push(("newsletter", Field::Bool(shopper.newsletter)));
    t
}

/// Build the message for `pending` (mutates the shopper's emitted-state such as the points
/// balance, which must follow emission order).
pub(crate) fn build<'a>(catalog: &'a Catalog, shopper: &mut Shopper, pending: &Pending, message_id: String) -> Message<'a> {
    let index = shopper.index;
    let step = &pending.step;
    let (kind, event) = match step {
        Step::Page(_) => (MessageKind::Page, None),
        Step::Identify => (MessageKind::Identify, None),
        _ => (MessageKind::Track, Some(event_name(step))),
    };
    let server = step.is_server_side();
    let user_id = pending.signed_in.then(|| user_id(index));
    // Browsers always send their anonymousId; the back end only when it has no userId.
    let anonymous_id = (!server || !pending.signed_in).then(|| uuid(shopper.profile.anonymous));
    if let Step::PointsEarned { points, .. } = step {
        shopper.points = shopper.points.saturating_add(*points);
    }
    let (mut name, mut props, mut traits_of) = (None, None, None);
    let context = match step {
        Step::Identify => {
            traits_of = Some(traits(shopper));
            client_context(shopper, page_parts(catalog, PageKind::Account))
        }
        Step::Page(page) => {
            let (url, path, title) = page_parts(catalog, *page);
            name = Some(title);
            props = Some(vec![
                ("url", text(url.as_str())),
                ("path", text(path.as_str())),
                ("title", stat(title)),
                ("referrer", stat(shopper.session.referrer)),
            ]);
            client_context(shopper, (url, path, title))
        }
        _ => {
            props = Some(properties(catalog, shopper, step));
            if server { MessageContext::Server } else { client_context(shopper, page_parts(catalog, page_of(catalog, step))) }
        }
    };
    Message {
        kind,
        event,
        message_id,
        timestamp_ms: pending.at_ms,
        user_id,
        anonymous_id,
        name,
        properties: props,
        traits: traits_of,
        context,
    }
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

fn properties<'a>(catalog: &'a Catalog, shopper: &Shopper, step: &Step) -> Fields<'a> {
    let index = shopper.index;
    match step {
        Step::Page(_) | Step::Identify => Vec::new(),
        Step::AccountCreated => vec![("signup_method", stat("email"))],
        Step::Searched { product } => vec![("query", text(search_query(catalog, *product)))],
        Step::ListViewed { category } => {
            let code = CATEGORIES[usize::from(*category)].code;
            vec![("list_id", stat(code)), ("category", stat(code))]
        }
        Step::ListFiltered { category, filter } => {
            let code = CATEGORIES[usize::from(*category)].code;
            let (ty, value) = FILTERS[usize::from(*filter) % FILTERS.len()];
            vec![
                ("list_id", stat(code)),
                ("category", stat(code)),
                ("filters", Field::Objects(vec![vec![("type", stat(ty)), ("value", stat(value))]])),
                ("sorts", Field::Objects(vec![vec![("type", stat("price")), ("value", stat("asc"))]])),
            ]
        }
        Step::ProductClicked { product, position } => {
            let mut m = product_props(catalog, *product, 1);
            m.push(("position", int(*position)));
            m
        }
        Step::ProductViewed { product } => {
            let mut m = product_props(catalog, *product, 1);
            m.push(("currency", stat(CURRENCY)));
            m
        }
        Step::ReviewsViewed { product } => {
            let p = catalog.product(*product);
            vec![("product_id", borrowed(&p.id)), ("category", stat(CATEGORIES[usize::from(p.category)].code))]
        }
        Step::VideoPlayed { product } => {
            let p = catalog.product(*product);
            vec![("product_id", borrowed(&p.id)), ("video_id", text(format!("vid-{}", p.id))), ("position", int(0))]
        }
        Step::Wishlisted { product } => {
            let mut m = product_props(catalog, *product, 2);
            m.push(("wishlist_id", text(format!("wl-{index}"))));
            m.push(("wishlist_name", stat("Favourites")));
            m
        }
        Step::BackInStockRequested { product } => product_props(catalog, *product, 0),
        Step::ProductAdded { line, cart_no } | Step::ProductRemoved { line, cart_no } => {
            let mut m = product_props(catalog, line.product, 2);
            m.push(("quantity", int(line.quantity)));
            m.push(("cart_id", cart_id(index, *cart_no)));
            m
        }
        Step::CartViewed(basket) => vec![
            ("cart_id", cart_id(index, basket.cart_no)),
            ("value", Field::Float(basket.subtotal)),
            ("currency", stat(CURRENCY)),
            ("products", products(catalog, &basket.lines)),
        ],
        Step::CheckoutStarted(basket) => {
            let mut m = order_props(catalog, index, basket, true);
            m.push(("value", Field::Float(basket.total)));
            m
        }
        Step::CheckoutStepCompleted(basket, step) => {
            let method = SHIPPING_METHODS[(basket.order_no as usize + index as usize) % SHIPPING_METHODS.len()];
            vec![("checkout_id", checkout_id(index, basket)), ("step", int(*step)), ("shipping_method", stat(method))]
        }
        Step::CouponApplied(basket) => {
            let code = basket.coupon.map_or("", |c| COUPONS[usize::from(c)].0);
            vec![
                ("order_id", order_id(index, basket)),
                ("cart_id", cart_id(index, basket.cart_no)),
                ("coupon_id", stat(code)),
                ("coupon_name", stat(code)),
                ("discount", Field::Float(basket.discount)),
            ]
        }
        Step::PaymentInfoEntered(basket) => vec![
            ("checkout_id", checkout_id(index, basket)),
            ("order_id", order_id(index, basket)),
            ("step", int(3)),
            ("payment_method", stat(PAYMENT_METHODS[index as usize % PAYMENT_METHODS.len()])),
        ],
        Step::OrderCompleted(basket) | Step::OrderRefunded(basket) => order_props(catalog, index, basket, true),
        Step::OrderCancelled(basket) => {
            let mut m = order_props(catalog, index, basket, true);
            m.push(("reason", stat("out_of_stock_at_warehouse")));
            m
        }
        Step::OrderShipped(basket) => {
            let mut m = order_props(catalog, index, basket, false);
            m.push(("carrier", stat(if basket.order_no % 2 == 0 { "DHL" } else { "UPS" })));
            m.push(("tracking_number", text(format!("TRK{index:09}{}", basket.order_no))));
            m
        }
        Step::OrderDelayed(basket) => {
            let mut m = order_props(catalog, index, basket, false);
            m.push(("reason", stat("carrier_backlog")));
            m.push(("delay_days", int(2 + basket.order_no % 3)));
            m
        }
        Step::ReviewSubmitted { basket, product, rating } => {
            let p = catalog.product(*product);
            vec![
                ("product_id", borrowed(&p.id)),
                ("order_id", order_id(index, basket)),
                ("review_id", text(format!("rev-{index}-{}", basket.order_no))),
                ("rating", int(*rating)),
            ]
        }
        Step::SupportTicketOpened { basket, reason } => {
            let order = basket.as_ref().map_or(0, |b| b.order_no);
            let mut m = vec![
                ("ticket_id", text(format!("tkt-{index}-{order}-{reason}"))),
                ("reason", stat(TICKET_REASONS[usize::from(*reason) % TICKET_REASONS.len()])),
            ];
            if let Some(b) = basket {
                m.push(("order_id", order_id(index, b)));
            }
            m
        }
        Step::NewsletterSubscribed | Step::EmailUnsubscribed => vec![("list_id", stat("newsletter"))],
        Step::PointsEarned { points, reason, basket } => {
            let why = match reason {
                PointsReason::Order => "order",
                PointsReason::Review => "review",
                PointsReason::SignUp => "sign_up",
            };
            let mut m = vec![("points", int(*points)), ("balance", int(shopper.points)), ("reason", stat(why))];
            if let Some(b) = basket {
                m.push(("order_id", order_id(index, b)));
            }
            m
        }
    }
}

/// The inventory system's "Product Back In Stock" for product `product` (no shopper ids: it
/// is about a product, and Glint matches it to shoppers who asked for it).
pub(crate) fn back_in_stock(catalog: &Catalog, product: u32, at_ms: i64, message_id: String) -> Message<'_> {
    let mut p = product_props(catalog, product, 1);
    // A deterministic restock quantity between 5 and 54.
    p.push(("quantity", int(5 + (at_ms / DAY_MS + i64::from(product)) % 50)));
    Message {
        kind: MessageKind::Track,
        event: Some("Product Back In Stock"),
        message_id,
        timestamp_ms: at_ms,
        user_id: None,
        anonymous_id: None,
        name: None,
        properties: Some(p),
        traits: None,
        context: MessageContext::Server,
    }
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
