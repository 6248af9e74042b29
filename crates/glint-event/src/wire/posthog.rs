//! PostHog's capture API: `/batch/` (`{api_key, batch: [...]}` from posthog-node and
//! posthog-python), `/capture/` and `/e/` (a single event, an array of events, or
//! `{api_key, batch}` from posthog-js; the server undoes gzip and `data=` form encoding first).
//!
//! PostHog's `distinct_id` is its person key: it becomes `user_id`; `$anon_distinct_id` on
//! `$identify` becomes `anonymous_id`, so identity merges. `$set` becomes traits.

use serde_json::{Map, Value};

use super::common::{Decoder, clip, derived_id, id_at, properties_from, str_at, traits_from};
use super::{BodyError, DecodedBody, FieldError};
use crate::event::{Event, EventKind, Source};
use crate::limits::BATCH_EVENTS_MAX;
use crate::signal::{Builtin, Signal};
use crate::time::parse_timestamp_ms;

impl Decoder {
    /// Decode a PostHog capture body (already decompressed and un-form-encoded).
    ///
    /// # Errors
    /// When the body is not JSON, or neither an event, an array of events, nor a batch.
    pub fn posthog_capture(&self, body: &[u8], received_ms: i64) -> Result<DecodedBody, BodyError> {
        let v: Value = serde_json::from_slice(body).map_err(|e| BodyError::Json(e.to_string()))?;
        let (key, sent_at, events): (Option<String>, Option<i64>, Vec<Value>) = match v {
            Value::Array(a) => (None, None, a),
            Value::Object(mut o) => {
                let key = o.get("api_key").or_else(|| o.get("token")).and_then(Value::as_str).map(str::to_string);
                let sent_at = o.get("sent_at").and_then(Value::as_str).and_then(parse_timestamp_ms);
                match o.remove("batch") {
                    Some(Value::Array(a)) => (key, sent_at, a),
                    Some(_) => return Err(BodyError::Shape { field: "batch".into(), error: "must be an array of events".into() }),
                    None => (key, sent_at, vec![Value::Object(o)]),
                }
            }
            _ => return Err(BodyError::Shape { field: "body".into(), error: "must be an event, an array of events or a batch".into() }),
        };
        if events.len() > BATCH_EVENTS_MAX {
            return Err(BodyError::TooManyMessages { len: events.len(), limit: BATCH_EVENTS_MAX });
        }
        // posthog-js puts the project key inside each event's properties as `token`.
        let key = key.or_else(|| {
            events.iter().find_map(|e| e.get("properties").and_then(|p| p.get("token")).and_then(Value::as_str).map(str::to_string))
        });
        let messages = events.iter().enumerate().map(|(i, e)| self.posthog_event(i, e, sent_at, received_ms)).collect();
        Ok(DecodedBody { key, messages })
    }

    fn posthog_event(&self, i: usize, ev: &Value, sent_at: Option<i64>, received_ms: i64) -> Result<Event, FieldError> {
        let Some(obj) = ev.as_object() else { return Err(FieldError::new(format!("batch[{i}]"), "must be an object")) };
        let name = match obj.get("event") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            _ => return Err(FieldError::new("event", "required: the event name")),
        };
        let empty = Map::new();
        let props = match obj.get("properties") {
            None | Some(Value::Null) => &empty,
            Some(Value::Object(o)) => o,
            Some(_) => return Err(FieldError::new("properties", "must be an object")),
        };
        let distinct = match id_at(obj, "distinct_id", "distinct_id")? {
            Some(d) => Some(d),
            None => id_at(props, "distinct_id", "properties.distinct_id")?,
        };
        let Some(distinct) = distinct else {
            return Err(FieldError::new("distinct_id", "missing shopper key: distinct_id is required"));
        };
        // Keep PostHog's `$`-properties out of the shop's own properties: they are context.
        let own: Map<String, Value> = props.iter().filter(|(k, _)| !k.starts_with('$') && *k != "token" && *k != "distinct_id").map(|(k, v)| (k.clone(), v.clone())).collect();
        let properties = properties_from(&own, "properties")?;
        let signal = self.taxonomy.resolve(&clip(&name, 256));
        let kind = match &signal {
            Signal::Builtin(Builtin::PageViewed) => EventKind::Page,
            Signal::Builtin(Builtin::Identified) => EventKind::Identify,
            Signal::Builtin(Builtin::Aliased) => EventKind::Alias,
            Signal::Builtin(Builtin::Grouped) => EventKind::Group,
            _ => EventKind::Track,
        };
        let set = obj.get("$set").or_else(|| props.get("$set")).and_then(Value::as_object);
        let mut traits = match set {
            Some(s) => traits_from(s, "$set")?,
            None => Default::default(),
        };
        let mut anonymous_id = None;
        if kind == EventKind::Identify {
            anonymous_id = id_at(props, "$anon_distinct_id", "properties.$anon_distinct_id")?;
        }
        if kind == EventKind::Alias {
            traits.previous_id = id_at(props, "alias", "properties.alias")?;
        }
        let ts = obj.get("timestamp").filter(|v| !v.is_null());
        let time_ms = match (ts, obj.get("offset").and_then(Value::as_i64)) {
            // Older posthog-js batches say how many ms before sending the event happened.
            (None, Some(offset)) if offset >= 0 => received_ms.saturating_sub(offset),
            _ => self.resolve_time("timestamp", ts, sent_at, received_ms)?,
        };
        let message_id = match id_at(obj, "uuid", "uuid")? {
            Some(u) => u,
            None => derived_id("ph", &[serde_json::to_string(obj).unwrap_or_default().as_bytes()]),
        };
        let mut ctx = Map::new();
        if let Some(ua) = props.get("$raw_user_agent").or_else(|| props.get("$user_agent")) {
            ctx.insert("userAgent".into(), ua.clone());
        }
        if let Some(ip) = props.get("$ip") {
            ctx.insert("ip".into(), ip.clone());
        }
        if let Some(tz) = props.get("$timezone") {
            ctx.insert("timezone".into(), tz.clone());
        }
        if let Some(l) = props.get("$locale").or_else(|| props.get("$browser_language")) {
            ctx.insert("locale".into(), l.clone());
        }
        let mut page = Map::new();
        if let Some(u) = props.get("$current_url") {
            page.insert("url".into(), u.clone());
        }
        if let Some(r) = props.get("$referrer").filter(|r| r.as_str() != Some("$direct")) {
            page.insert("referrer".into(), r.clone());
        }
        ctx.insert("page".into(), Value::Object(page));
        let mut context = self.context(Some(&ctx));
        if context.browser.is_none() {
            context.browser = str_at(props, "$browser");
            context.os = str_at(props, "$os");
            context.device = match props.get("$device_type").and_then(Value::as_str) {
                Some("Desktop") => crate::event::DeviceType::Desktop,
                Some("Mobile") => crate::event::DeviceType::Mobile,
                Some("Tablet") => crate::event::DeviceType::Tablet,
                _ => context.device,
            };
        }
        Ok(Event {
            message_id,
            time_ms,
            received_ms,
            kind,
            signal,
            source: Source::PostHog,
            user_id: Some(distinct),
            anonymous_id,
            session_id: str_at(props, "$session_id"),
            properties,
            traits,
            context,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::signal::{Builtin, Signal, Taxonomy};
    use crate::wire::{DecodeOptions, Decoder};

    #[test]
    fn node_batches_and_js_arrays_decode() {
        let d = Decoder::new(Taxonomy::default(), DecodeOptions::default());
        let node = br#"{"api_key":"phc_x","batch":[{"event":"Product Viewed","distinct_id":"u1","uuid":"0190-a",
            "properties":{"product_id":"p1","$session_id":"s9","$current_url":"https://shop.example/p1?utm_medium=email"},
            "timestamp":"2026-01-01T00:00:00Z"},{"event":"$pageview","properties":{}}]}"#;
        let b = d.posthog_capture(node, 1_767_225_600_000).expect("valid");
        assert_eq!(b.key.as_deref(), Some("phc_x"));
        let e = b.messages[0].as_ref().expect("event");
        assert_eq!(e.signal, Signal::Builtin(Builtin::ProductViewed));
        assert_eq!(e.message_id, "0190-a");
        assert_eq!(e.session_id.as_deref(), Some("s9"));
        assert_eq!(e.context.referrer_class, crate::event::ReferrerClass::Email);
        assert_eq!(b.messages[1].as_ref().err().map(|f| f.field.as_str()), Some("distinct_id"));

        let js = br#"[{"event":"$identify","offset":250,"properties":{"distinct_id":"u1","$anon_distinct_id":"anon-1","token":"phc_y","$set":{"tier":"gold"}}}]"#;
        let b = d.posthog_capture(js, 1_767_225_600_000).expect("valid");
        assert_eq!(b.key.as_deref(), Some("phc_y"));
        let e = b.messages[0].as_ref().expect("identify");
        assert_eq!(e.anonymous_id.as_deref(), Some("anon-1"));
        assert_eq!(e.traits.tier.as_deref(), Some("gold"));
        assert_eq!(e.time_ms, 1_767_225_600_000 - 250, "offset counts back from receipt");
    }
}
