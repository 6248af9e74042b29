//! Simulated messages straight to [`Event`]s, without building and re-parsing their JSON.
//!
//! [`to_event`] gives the event `Decoder::segment_value` would give for `message.to_json()`,
//! for the shapes the simulator emits: it follows `wire::segment` and `wire::common` (typed
//! properties and their aliases, `extra` as sorted compact JSON, context normalisation, identify
//! traits). Anything outside those shapes — a string over the limits, a number where an id is
//! expected, a timestamp outside years 1970–9999 — returns `None`, and the caller decodes the
//! JSON instead. The test `fast_path_stores_the_same_events` holds the two paths equal, event
//! by event, on several configurations; a change to the decoder that it catches must be
//! mirrored here.

use glint_event::context::{UserAgentInfo, classify_referrer, parse_user_agent, truncate_ip, url_host, utm_from_url};
use glint_event::limits::{ITEMS_PER_EVENT_MAX, STRING_BYTES_MAX};
use glint_event::wire::{Decoder, PROPERTY_FIELDS, PropertyField, property_field};
use glint_event::{Builtin, Consent, Context, Event, EventKind, Item, Properties, Signal, Source, Traits};
use glint_sim::{Field, Message, MessageContext, MessageKind};

/// Last millisecond of 9999-12-31: later timestamps are not four-digit-year ISO 8601.
const TIMESTAMP_MS_MAX: i64 = 253_402_300_799_999;

/// Parsed user agents and resolved event names, recalled by address: both are `&'static str`s
/// from the simulator's small tables, so a few pointer compares beat normalising or hashing
/// the text for every message.
#[derive(Debug, Default)]
pub struct Memo {
    agents: Vec<(&'static str, UserAgentInfo)>,
    signals: Vec<(&'static str, Signal)>,
}

/// Most entries either table keeps; the simulator has a few dozen of each, the bound only
/// guards against a future caller with many.
const MEMO_MAX: usize = 256;

impl Memo {
    fn agent(&mut self, ua: &'static str) -> UserAgentInfo {
        if let Some((_, info)) = self.agents.iter().find(|(k, _)| std::ptr::eq(*k, ua)) {
            return info.clone();
        }
        let info = parse_user_agent(ua);
        if self.agents.len() < MEMO_MAX {
            self.agents.push((ua, info.clone()));
        }
        info
    }

    fn signal(&mut self, decoder: &Decoder, name: &'static str) -> Signal {
        if let Some((_, s)) = self.signals.iter().find(|(k, _)| std::ptr::eq(*k, name)) {
            return s.clone();
        }
        let s = decoder.taxonomy().resolve(name);
        if self.signals.len() < MEMO_MAX {
            self.signals.push((name, s.clone()));
        }
        s
    }
}

type Entry<'m, 'a> = &'m (&'static str, Field<'a>);

/// For each typed property, the index of the best-ranked entry feeding it.
fn pick(fields: &[(&'static str, Field<'_>)]) -> [Option<(u8, usize)>; PROPERTY_FIELDS] {
    let mut picked = [None; PROPERTY_FIELDS];
    for (i, (k, _)) in fields.iter().enumerate() {
        if let Some((t, rank)) = property_field(k) {
            let slot: &mut Option<(u8, usize)> = &mut picked[t as usize];
            if slot.is_none_or(|(r, _)| rank < r) {
                *slot = Some((rank, i));
            }
        }
    }
    picked
}

/// `id_value`: a non-blank string (numbers never reach a string property here).
fn id_text(entry: Option<Entry<'_, '_>>) -> Option<Option<String>> {
    match entry {
        None => Some(None),
        Some((_, Field::Text(s))) if s.len() <= STRING_BYTES_MAX => Some((!s.trim().is_empty()).then(|| s.to_string())),
        Some(_) => None,
    }
}

/// `num_value` for the number shapes the simulator sends.
fn number(entry: Option<Entry<'_, '_>>) -> Option<Option<f64>> {
    match entry {
        None => Some(None),
        Some((_, Field::Int(i))) => Some(Some(*i as f64)),
        Some((_, Field::Float(f))) if f.is_finite() => Some(Some(*f)),
        Some(_) => None,
    }
}

fn entry_at<'m, 'a>(fields: &'m [(&'static str, Field<'a>)], slot: Option<(u8, usize)>) -> Option<Entry<'m, 'a>> {
    slot.and_then(|(_, i)| fields.get(i))
}

/// `properties_from`; `name` is a page call's `name`, which the decoder adds to `extra`.
fn properties(fields: &[(&'static str, Field<'_>)], name: Option<&str>) -> Option<Properties> {
    use PropertyField::*;
    let f = pick(fields);
    let at = |t: PropertyField| entry_at(fields, f[t as usize]);
    let mut p = Properties {
        product_id: id_text(at(ProductId))?,
        category: id_text(at(Category))?,
        brand: id_text(at(Brand))?,
        price: number(at(Price))?,
        quantity: number(at(Quantity))?,
        cart_id: id_text(at(CartId))?,
        order_id: id_text(at(OrderId))?,
        revenue: number(at(Revenue))?,
        currency: id_text(at(Currency))?,
        rating: number(at(Rating))?,
        query: id_text(at(Query))?,
        coupon: id_text(at(Coupon))?,
        points: number(at(Points))?,
        items: Vec::new(),
        extra: None,
    };
    if let Some((_, value)) = at(Items) {
        let Field::Objects(list) = value else { return None };
        p.items.reserve(list.len().min(ITEMS_PER_EVENT_MAX));
        for o in list.iter().take(ITEMS_PER_EVENT_MAX) {
            let g = pick(o);
            let at = |t: PropertyField| entry_at(o, g[t as usize]);
            p.items.push(Item {
                product_id: id_text(at(ProductId))?,
                category: id_text(at(Category))?,
                brand: id_text(at(Brand))?,
                price: number(at(Price))?,
                quantity: number(at(Quantity))?,
            });
        }
    }
    let consumed: Vec<usize> = f.iter().flatten().map(|&(_, i)| i).collect();
    let mut rest: Vec<Entry<'_, '_>> = fields.iter().enumerate().filter(|(i, _)| !consumed.contains(i)).map(|(_, e)| e).collect();
    let name_entry;
    if let Some(n) = name {
        // The decoder clips the name to 256 bytes; longer names take the JSON path.
        if n.len() > 256 {
            return None;
        }
        rest.retain(|(k, _)| *k != "name");
        name_entry = ("name", Field::Text(n.into()));
        rest.push(&name_entry);
    }
    if !rest.is_empty() {
        let mut out = Vec::with_capacity(128);
        write_object(&mut out, &mut rest)?;
        p.extra = Some(String::from_utf8(out).ok()?);
    }
    Some(p)
}

/// Compact JSON of an object with keys sorted (serde_json's `Map` order, so the text is
/// what the decoder's `serde_json::to_string` of the remaining entries gives).
fn write_object(out: &mut Vec<u8>, entries: &mut [Entry<'_, '_>]) -> Option<()> {
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    out.push(b'{');
    for (i, (k, v)) in entries.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut *out, k).ok()?;
        out.push(b':');
        match v {
            Field::Text(s) => serde_json::to_writer(&mut *out, s.as_ref()).ok()?,
            Field::Int(n) => serde_json::to_writer(&mut *out, n).ok()?,
            // A non-finite float is `null` in JSON, which the decoder would skip: JSON path.
            Field::Float(f) if f.is_finite() => serde_json::to_writer(&mut *out, f).ok()?,
            Field::Float(_) => return None,
            Field::Bool(b) => serde_json::to_writer(&mut *out, b).ok()?,
            Field::Objects(list) => {
                out.push(b'[');
                for (j, o) in list.iter().enumerate() {
                    if j > 0 {
                        out.push(b',');
                    }
                    let mut inner: Vec<Entry<'_, '_>> = o.iter().collect();
                    write_object(out, &mut inner)?;
                }
                out.push(b']');
            }
        }
    }
    out.push(b'}');
    Some(())
}

/// `str_at`: a non-empty string, clipped (the simulator's are short; longer ones take the JSON
/// path rather than re-implementing the clip).
fn text_at(s: &str) -> Option<Option<String>> {
    if s.len() > STRING_BYTES_MAX {
        return None;
    }
    Some((!s.is_empty()).then(|| s.to_owned()))
}

/// `Decoder::finish_context`.
fn finish_context(out: &mut Context) {
    if out.utm_source.is_none()
        && out.utm_medium.is_none()
        && let Some(url) = &out.page_url
    {
        (out.utm_source, out.utm_medium, out.utm_campaign) = utm_from_url(url);
    }
    let page_host = out.page_url.as_deref().and_then(url_host);
    out.referrer_class = classify_referrer(out.referrer.as_deref(), page_host.as_deref(), out.utm_medium.as_deref());
}

/// `Decoder::context` for a browser or server context. Checks come first: the page URL is
/// moved out of the message only once nothing can fail (a `None` leaves it whole).
fn context(decoder: &Decoder, memo: &mut Memo, ctx: &mut MessageContext) -> Option<Context> {
    let mut out = Context::default();
    if let MessageContext::Browser(b) = ctx {
        if b.page.url.len() > STRING_BYTES_MAX || (decoder.options().keep_full_ip && b.ip.len() > 64) {
            // The decoder clips these; the simulator's are far shorter.
            return None;
        }
        out.locale = text_at(b.locale)?;
        out.timezone = text_at(b.timezone)?;
        out.referrer = text_at(b.page.referrer)?;
        if let Some(c) = b.campaign {
            out.utm_source = text_at(c.source)?;
            out.utm_medium = text_at(c.medium)?;
            out.utm_campaign = text_at(c.name)?;
        }
        let info = memo.agent(b.user_agent);
        (out.device, out.os, out.browser) = (info.device, info.os, info.browser);
        out.ip = if decoder.options().keep_full_ip { Some(b.ip.clone()) } else { truncate_ip(&b.ip) };
        out.page_url = (!b.page.url.is_empty()).then(|| std::mem::take(&mut b.page.url));
        finish_context(&mut out);
        // `consent_from` sorts purposes by name.
        out.consent = Consent { purposes: vec![("marketing".into(), b.marketing), ("personalization".into(), b.personalization)] };
    } else {
        finish_context(&mut out);
    }
    Some(out)
}

/// `traits_from` for identify traits.
fn traits(fields: &[(&'static str, Field<'_>)]) -> Option<Traits> {
    const KNOWN: &[&str] = &["birthday", "tier", "points", "subscription_renewal_date", "renewal_date"];
    let get = |k: &str| fields.iter().find(|(key, _)| *key == k).map(|(_, v)| v);
    let date = |k: &str| -> Option<Option<String>> {
        match get(k) {
            None => Some(None),
            // Full dates only; the decoder's `MM-DD` form and longer timestamps take the JSON path.
            Some(Field::Text(s)) if s.len() == 10 => {
                glint_event::time::parse_timestamp_ms(&format!("{s}T00:00:00Z"))?;
                Some(Some(s.to_string()))
            }
            Some(_) => None,
        }
    };
    let renewal = match date("subscription_renewal_date")? {
        Some(d) => Some(d),
        None => date("renewal_date")?,
    };
    let tier = match get("tier") {
        None => None,
        Some(Field::Text(s)) => text_at(s)?,
        Some(_) => return None,
    };
    let points = match get("points") {
        None => None,
        Some(Field::Int(i)) => Some(*i as f64),
        Some(Field::Float(f)) if f.is_finite() => Some(*f),
        Some(_) => return None,
    };
    let mut rest: Vec<Entry<'_, '_>> = fields.iter().filter(|(k, _)| !KNOWN.contains(k)).collect();
    let extra = if rest.is_empty() {
        None
    } else {
        let mut out = Vec::with_capacity(32);
        write_object(&mut out, &mut rest)?;
        Some(String::from_utf8(out).ok()?)
    };
    Some(Traits { birthday: date("birthday")?, tier, points, renewal_date: renewal, previous_id: None, group_id: None, extra })
}

/// A non-blank id no longer than the decoder accepts; `None` when the JSON path must judge it.
fn id_ok(s: Option<&String>) -> bool {
    s.is_none_or(|s| s.len() <= STRING_BYTES_MAX)
}

/// Moves an id out of the message: `id_value` (blank is absent).
fn take_id(s: &mut Option<String>) -> Option<String> {
    s.take().filter(|s| !s.trim().is_empty())
}

/// The event `decoder.segment_value(&message.to_json(), t, Source::Segment)` gives, where `t`
/// is the message's timestamp (what `into_log` passes as the receive time); `None` when the
/// message is outside the shapes handled here — then the message is as it was, to decode its
/// JSON instead. On success its strings that the event keeps (ids, page URL) are moved out.
pub fn to_event(decoder: &Decoder, memo: &mut Memo, m: &mut Message<'_>) -> Option<Event> {
    if !(0..=TIMESTAMP_MS_MAX).contains(&m.timestamp_ms)
        || m.message_id.trim().is_empty()
        || !id_ok(Some(&m.message_id))
        || !id_ok(m.user_id.as_ref())
        || !id_ok(m.anonymous_id.as_ref())
    {
        return None;
    }
    let (kind, signal) = match m.kind {
        MessageKind::Track => {
            let name = m.event.filter(|e| !e.trim().is_empty())?;
            (EventKind::Track, memo.signal(decoder, name))
        }
        MessageKind::Page => (EventKind::Page, Signal::Builtin(Builtin::PageViewed)),
        MessageKind::Identify => (EventKind::Identify, Signal::Builtin(Builtin::Identified)),
    };
    let name = if kind == EventKind::Page { m.name } else { None };
    let props = m.properties.as_deref();
    let properties = match props {
        Some(p) => properties(p, name)?,
        None if name.is_some() => properties(&[], name)?,
        None => Properties::default(),
    };
    // `str_at` on a property, checked now and copied only when used.
    let prop_text = |k: &str| match props.and_then(|p| p.iter().find(|(key, _)| *key == k)) {
        None => Some(None),
        Some((_, Field::Text(s))) if s.len() <= STRING_BYTES_MAX => Some((!s.is_empty()).then_some(s.as_ref())),
        Some(_) => None,
    };
    let session_id = prop_text("session_id")?.map(str::to_owned);
    let (prop_url, prop_referrer) = (prop_text("url")?, prop_text("referrer")?);
    let traits = match (&m.traits, kind) {
        (Some(t), EventKind::Identify) => traits(t)?,
        _ => Traits::default(),
    };
    let blank = |s: &Option<String>| s.as_deref().is_none_or(|s| s.trim().is_empty());
    let server_side = matches!(&signal, Signal::Builtin(b) if b.is_server_side())
        && (properties.product_id.is_some() || properties.order_id.is_some());
    if blank(&m.user_id) && blank(&m.anonymous_id) && !server_side {
        // The decoder refuses it; let it say why.
        return None;
    }
    // Nothing below fails but `context`, which checks before it moves anything.
    let mut context = context(decoder, memo, &mut m.context)?;
    if context.page_url.is_none() && props.is_some() {
        context.page_url = prop_url.map(str::to_owned);
        context.referrer = context.referrer.take().or_else(|| prop_referrer.map(str::to_owned));
        finish_context(&mut context);
    }
    Some(Event {
        message_id: std::mem::take(&mut m.message_id),
        time_ms: m.timestamp_ms,
        received_ms: m.timestamp_ms,
        kind,
        signal,
        source: Source::Segment,
        user_id: take_id(&mut m.user_id),
        anonymous_id: take_id(&mut m.anonymous_id),
        session_id,
        properties,
        traits,
        context,
    })
}
