//! What the three wire formats share: options, the decoder, typed property extraction,
//! context normalisation and timestamp resolution.

use serde_json::{Map, Value};

use crate::context::{UserAgentCache, classify_referrer, truncate_ip, url_host, utm_from_url};
use crate::event::{Consent, Context, Item, Properties, Traits};
use crate::limits::{FUTURE_MS_MAX_DEFAULT, ITEMS_PER_EVENT_MAX, STRING_BYTES_MAX};
use crate::signal::Taxonomy;
use crate::time::parse_timestamp_ms;

use super::FieldError;

/// Knobs that change how messages decode.
#[derive(Clone, Debug)]
pub struct DecodeOptions {
    /// How far past the receive time an event time may be, in ms.
    pub future_ms_max: i64,
    /// Keep full IP addresses instead of truncating them (off by default for privacy).
    pub keep_full_ip: bool,
    /// Largest message in bytes (at most `EVENT_BYTES_MAX`).
    pub event_bytes_max: usize,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            future_ms_max: FUTURE_MS_MAX_DEFAULT,
            keep_full_ip: false,
            event_bytes_max: crate::limits::EVENT_BYTES_MAX,
        }
    }
}

/// Decodes wire messages into events. Cheap to share across threads.
#[derive(Debug)]
pub struct Decoder {
    pub(crate) taxonomy: Taxonomy,
    pub(crate) options: DecodeOptions,
    user_agents: UserAgentCache,
}

impl Decoder {
    /// A decoder with this taxonomy and options.
    pub fn new(taxonomy: Taxonomy, options: DecodeOptions) -> Decoder {
        Decoder { taxonomy, options, user_agents: UserAgentCache::default() }
    }

    /// The taxonomy in use.
    pub fn taxonomy(&self) -> &Taxonomy {
        &self.taxonomy
    }

    /// The options in use.
    pub fn options(&self) -> &DecodeOptions {
        &self.options
    }

    /// Event time from a client timestamp, corrected for clock skew the way Segment does:
    /// `timestamp + (received - sentAt)` when the client said when it sent the message.
    pub(crate) fn resolve_time(
        &self,
        field: &str,
        timestamp: Option<&Value>,
        sent_at_ms: Option<i64>,
        received_ms: i64,
    ) -> Result<i64, FieldError> {
        let Some(ts) = timestamp.filter(|v| !v.is_null()) else { return Ok(received_ms) };
        let client_ms = match ts {
            Value::String(s) => parse_timestamp_ms(s)
                .ok_or_else(|| FieldError::new(field, format!("not an ISO 8601 timestamp: {:?}", clip(s, 64))))?,
            _ => return Err(FieldError::new(field, "must be an ISO 8601 string")),
        };
        let ms = match sent_at_ms {
            Some(sent) => client_ms.saturating_add(received_ms.saturating_sub(sent)),
            None => client_ms,
        };
        self.check_future(field, ms, received_ms)
    }

    pub(crate) fn check_future(&self, field: &str, ms: i64, received_ms: i64) -> Result<i64, FieldError> {
        if ms > received_ms.saturating_add(self.options.future_ms_max) {
            let hours = self.options.future_ms_max / 3_600_000;
            return Err(FieldError::new(field, format!("lies more than {hours}h in the future")));
        }
        if ms < 0 {
            return Err(FieldError::new(field, "lies before 1970"));
        }
        Ok(ms)
    }

    /// Device, place, source of visit and consent from a Segment-shaped `context` object.
    pub(crate) fn context(&self, ctx: Option<&Map<String, Value>>) -> Context {
        let mut out = Context::default();
        let Some(ctx) = ctx else {
            out.referrer_class = crate::event::ReferrerClass::Direct;
            return out;
        };
        if let Some(ua) = ctx.get("userAgent").and_then(Value::as_str) {
            let info = self.user_agents.parse(ua);
            out.device = info.device;
            out.os = info.os;
            out.browser = info.browser;
        }
        if let Some(ip) = ctx.get("ip").and_then(Value::as_str) {
            out.ip = if self.options.keep_full_ip { Some(clip(ip, 64)) } else { truncate_ip(ip) };
        }
        out.locale = str_at(ctx, "locale");
        out.timezone = str_at(ctx, "timezone");
        let page = ctx.get("page").and_then(Value::as_object);
        out.page_url = page.and_then(|p| str_at(p, "url"));
        out.referrer = page.and_then(|p| str_at(p, "referrer"));
        if let Some(campaign) = ctx.get("campaign").and_then(Value::as_object) {
            out.utm_source = str_at(campaign, "source");
            out.utm_medium = str_at(campaign, "medium");
            out.utm_campaign = str_at(campaign, "name");
        }
        self.finish_context(&mut out);
        if let Some(prefs) = ctx
            .get("consent")
            .and_then(|c| c.get("categoryPreferences"))
            .and_then(Value::as_object)
        {
            out.consent = consent_from(prefs);
        }
        out
    }

    /// Fill UTM from the page URL when the client did not send `campaign`, and classify.
    pub(crate) fn finish_context(&self, out: &mut Context) {
        if out.utm_source.is_none() && out.utm_medium.is_none()
            && let Some(url) = &out.page_url {
                let (s, m, c) = utm_from_url(url);
                (out.utm_source, out.utm_medium, out.utm_campaign) = (s, m, c);
            }
        let page_host = out.page_url.as_deref().and_then(url_host);
        out.referrer_class =
            classify_referrer(out.referrer.as_deref(), page_host.as_deref(), out.utm_medium.as_deref());
    }

    /// A parsed user agent (for formats that send it outside a Segment context).
    pub(crate) fn user_agent(&self, ua: &str) -> crate::context::UserAgentInfo {
        self.user_agents.parse(ua)
    }
}

pub(crate) fn consent_from(prefs: &Map<String, Value>) -> Consent {
    let mut purposes: Vec<(String, bool)> = prefs
        .iter()
        .filter_map(|(k, v)| match v {
            Value::Bool(b) => Some((k.clone(), *b)),
            Value::String(s) => Some((k.clone(), matches!(s.to_ascii_lowercase().as_str(), "granted" | "true" | "yes"))),
            _ => None,
        })
        .collect();
    purposes.sort();
    Consent { purposes }
}

/// Cut a string to at most `max` bytes at a char boundary.
pub(crate) fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// A string field; numbers are accepted and printed (ids are often numeric).
pub(crate) fn str_at(obj: &Map<String, Value>, key: &str) -> Option<String> {
    match obj.get(key)? {
        Value::String(s) if !s.is_empty() => Some(clip(s, STRING_BYTES_MAX)),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An id field (userId, anonymousId, product_id …): a non-empty string or a number.
/// Anything else is a field error, because silently dropping an id loses the shopper.
pub(crate) fn id_at(obj: &Map<String, Value>, key: &str, path: &str) -> Result<Option<String>, FieldError> {
    match obj.get(key) {
        None => Ok(None),
        Some(v) => id_value(v, path),
    }
}

fn id_value(v: &Value, path: &str) -> Result<Option<String>, FieldError> {
    match Some(v) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => {
            if s.len() > STRING_BYTES_MAX {
                return Err(FieldError::new(path, format!("longer than {STRING_BYTES_MAX} bytes")));
            }
            Ok(Some(s.clone()))
        }
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(FieldError::new(path, "must be a string or a number")),
    }
}

/// A numeric field; numeric strings are accepted (`"19.99"`), other types are errors.
pub(crate) fn num_at(obj: &Map<String, Value>, key: &str, path: &str) -> Result<Option<f64>, FieldError> {
    match obj.get(key) {
        None => Ok(None),
        Some(v) => num_value(v, path),
    }
}

fn num_value(v: &Value, path: &str) -> Result<Option<f64>, FieldError> {
    match Some(v) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64().filter(|f| f.is_finite())),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Some)
            .ok_or_else(|| FieldError::new(path, format!("must be a number, got {:?}", clip(s, 32)))),
        Some(_) => Err(FieldError::new(path, "must be a number")),
    }
}

/// The typed property fields, in `Properties` order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PropertyField {
    /// `Properties::product_id`.
    ProductId,
    /// `Properties::category`.
    Category,
    /// `Properties::brand`.
    Brand,
    /// `Properties::price`.
    Price,
    /// `Properties::quantity`.
    Quantity,
    /// `Properties::cart_id`.
    CartId,
    /// `Properties::order_id`.
    OrderId,
    /// `Properties::revenue`.
    Revenue,
    /// `Properties::currency`.
    Currency,
    /// `Properties::rating`.
    Rating,
    /// `Properties::query`.
    Query,
    /// `Properties::coupon`.
    Coupon,
    /// `Properties::points`.
    Points,
    /// `Properties::items`.
    Items,
}

/// How many [`PropertyField`]s there are.
pub const PROPERTY_FIELDS: usize = 14;

/// Which typed field a property name feeds, and its rank among that field's aliases across
/// Segment, GA4 and PostHog (0 wins over 1 …): one `match` per key instead of a lookup per
/// alias. Public so that code building events without JSON (the simulator's fast path) picks
/// fields exactly as the decoders do.
pub fn property_field(key: &str) -> Option<(PropertyField, u8)> {
    use PropertyField::*;
    Some(match key {
        "product_id" => (ProductId, 0),
        "productId" => (ProductId, 1),
        "item_id" => (ProductId, 2),
        "sku" => (ProductId, 3),
        "id" => (ProductId, 4),
        "category" => (Category, 0),
        "item_category" => (Category, 1),
        "brand" => (Brand, 0),
        "item_brand" => (Brand, 1),
        "price" => (Price, 0),
        "quantity" => (Quantity, 0),
        "cart_id" => (CartId, 0),
        "cartId" => (CartId, 1),
        "order_id" => (OrderId, 0),
        "orderId" => (OrderId, 1),
        "transaction_id" => (OrderId, 2),
        "checkout_id" => (OrderId, 3),
        "revenue" => (Revenue, 0),
        "total" => (Revenue, 1),
        "value" => (Revenue, 2),
        "currency" => (Currency, 0),
        "rating" => (Rating, 0),
        "query" => (Query, 0),
        "search_term" => (Query, 1),
        "coupon" => (Coupon, 0),
        "points" => (Points, 0),
        "products" => (Items, 0),
        "items" => (Items, 1),
        _ => return None,
    })
}

/// For each typed field, the best-ranked non-null property feeding it.
fn pick_fields(obj: &Map<String, Value>) -> [Option<(u8, &str, &Value)>; PROPERTY_FIELDS] {
    let mut picked: [Option<(u8, &str, &Value)>; PROPERTY_FIELDS] = [None; PROPERTY_FIELDS];
    for (k, v) in obj {
        if v.is_null() {
            continue;
        }
        if let Some((f, rank)) = property_field(k) {
            let slot = &mut picked[f as usize];
            if slot.is_none_or(|(r, _, _)| rank < r) {
                *slot = Some((rank, k.as_str(), v));
            }
        }
    }
    picked
}

fn one_str(v: Option<(u8, &str, &Value)>, prefix: &str) -> Result<Option<String>, FieldError> {
    let Some((_, key, value)) = v else { return Ok(None) };
    id_value(value, &format!("{prefix}.{key}"))
}

fn one_num(v: Option<(u8, &str, &Value)>, prefix: &str) -> Result<Option<f64>, FieldError> {
    let Some((_, key, value)) = v else { return Ok(None) };
    num_value(value, &format!("{prefix}.{key}"))
}

/// Typed properties from a property object; the rest is kept as compact JSON in `extra`.
/// `prefix` is the path used in errors (`properties`, `events[2].params`).
pub(crate) fn properties_from(obj: &Map<String, Value>, prefix: &str) -> Result<Properties, FieldError> {
    use PropertyField::*;
    let f = pick_fields(obj);
    let at = |x: PropertyField| f[x as usize];
    let mut p = Properties {
        product_id: one_str(at(ProductId), prefix)?,
        category: one_str(at(Category), prefix)?,
        brand: one_str(at(Brand), prefix)?,
        price: one_num(at(Price), prefix)?,
        quantity: one_num(at(Quantity), prefix)?,
        cart_id: one_str(at(CartId), prefix)?,
        order_id: one_str(at(OrderId), prefix)?,
        revenue: one_num(at(Revenue), prefix)?,
        currency: one_str(at(Currency), prefix)?,
        rating: one_num(at(Rating), prefix)?,
        query: one_str(at(Query), prefix)?,
        coupon: one_str(at(Coupon), prefix)?,
        points: one_num(at(Points), prefix)?,
        items: Vec::new(),
        extra: None,
    };
    if let Some((_, k, v)) = at(Items) {
        let path = format!("{prefix}.{k}");
        let Some(arr) = v.as_array() else {
            return Err(FieldError::new(path, "must be an array of objects"));
        };
        for (i, it) in arr.iter().take(ITEMS_PER_EVENT_MAX).enumerate() {
            let ipath = format!("{path}[{i}]");
            let Some(o) = it.as_object() else { return Err(FieldError::new(ipath, "must be an object")) };
            let g = pick_fields(o);
            p.items.push(Item {
                product_id: one_str(g[ProductId as usize], &ipath)?,
                category: one_str(g[Category as usize], &ipath)?,
                brand: one_str(g[Brand as usize], &ipath)?,
                price: one_num(g[Price as usize], &ipath)?,
                quantity: one_num(g[Quantity as usize], &ipath)?,
            });
        }
    }
    let consumed: Vec<&str> = f.iter().flatten().map(|(_, k, _)| *k).collect();
    if obj.len() > consumed.len() {
        p.extra = serde_json::to_string(&Remaining { obj, skip: &consumed }).ok();
    }
    Ok(p)
}

/// The entries of a JSON object except `skip`, serialized without copying them.
struct Remaining<'a> {
    obj: &'a Map<String, Value>,
    skip: &'a [&'a str],
}

impl serde::Serialize for Remaining<'_> {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = ser.serialize_map(None)?;
        for (k, v) in self.obj.iter().filter(|(k, _)| !self.skip.contains(&k.as_str())) {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// Typed traits from an `identify` traits object (or PostHog `$set`); the rest goes to `extra`.
pub(crate) fn traits_from(obj: &Map<String, Value>, prefix: &str) -> Result<Traits, FieldError> {
    const KNOWN: &[&str] = &["birthday", "tier", "points", "subscription_renewal_date", "renewal_date"];
    let date = |k: &str| -> Result<Option<String>, FieldError> {
        match obj.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => {
                let day = s.get(..10).unwrap_or(s);
                let ok = crate::time::parse_timestamp_ms(&format!("{day}T00:00:00Z")).is_some()
                    || (s.len() == 5 && crate::time::parse_timestamp_ms(&format!("2000-{s}T00:00:00Z")).is_some());
                if ok {
                    Ok(Some(if s.len() == 5 { s.clone() } else { day.to_string() }))
                } else {
                    Err(FieldError::new(format!("{prefix}.{k}"), format!("must be a date YYYY-MM-DD, got {:?}", clip(s, 32))))
                }
            }
            Some(_) => Err(FieldError::new(format!("{prefix}.{k}"), "must be a date string YYYY-MM-DD")),
        }
    };
    let renewal = match date("subscription_renewal_date")? {
        Some(d) => Some(d),
        None => date("renewal_date")?,
    };
    let extra: Map<String, Value> = obj.iter().filter(|(k, _)| !KNOWN.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect();
    Ok(Traits {
        birthday: date("birthday")?,
        tier: str_at(obj, "tier"),
        points: num_at(obj, "points", &format!("{prefix}.points"))?,
        renewal_date: renewal,
        previous_id: None,
        group_id: None,
        extra: (!extra.is_empty()).then(|| serde_json::to_string(&extra).ok()).flatten(),
    })
}

/// A stable message id for formats that do not send one: a hash of what identifies the
/// message, so a retried request de-duplicates.
pub(crate) fn derived_id(prefix: &str, parts: &[&[u8]]) -> String {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for p in parts {
        h.update(&(p.len() as u64).to_le_bytes());
        h.update(p);
    }
    format!("{prefix}-{:032x}", h.digest128())
}
