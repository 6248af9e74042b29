//! GA4 Measurement Protocol (`POST /mp/collect?measurement_id=…&api_secret=…`): a JSON body
//! with `client_id`, optional `user_id`, `timestamp_micros`, `consent`, `user_properties` and
//! up to 25 `events` of `{name, params}`. The `api_secret` travels in the query string.
//!
//! GA4 sends no message id; one is derived from the request's content and the event's index,
//! so a retried request de-duplicates while two equal events in one request both count.

use serde_json::{Map, Value};

use super::common::{Decoder, clip, derived_id, id_at, properties_from, str_at};
use super::{BodyError, DecodedBody, FieldError};
use crate::event::{Consent, Context, DeviceType, Event, EventKind, Source, Traits};
use crate::limits::BATCH_EVENTS_MAX;
use crate::signal::{Builtin, Signal};

fn micros(v: Option<&Value>, field: &str) -> Result<Option<i64>, FieldError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(|m| Some(m / 1000)).ok_or_else(|| FieldError::new(field, "must be an integer")),
        Some(Value::String(s)) => s.parse::<i64>().map(|m| Some(m / 1000)).map_err(|_| FieldError::new(field, "must be an integer")),
        Some(_) => Err(FieldError::new(field, "must be an integer of microseconds")),
    }
}

impl Decoder {
    /// Decode a Measurement Protocol body. The key is the `api_secret` from the query string,
    /// which the caller passes in `DecodedBody::key` itself.
    ///
    /// # Errors
    /// When the body is not JSON or not an object with an `events` array.
    pub fn ga4_collect(&self, body: &[u8], received_ms: i64) -> Result<DecodedBody, BodyError> {
        let obj: Map<String, Value> = serde_json::from_slice(body).map_err(|e| BodyError::Json(e.to_string()))?;
        let Some(events) = obj.get("events").and_then(Value::as_array) else {
            return Err(BodyError::Shape { field: "events".into(), error: "required: an array of events".into() });
        };
        if events.len() > BATCH_EVENTS_MAX {
            return Err(BodyError::TooManyMessages { len: events.len(), limit: BATCH_EVENTS_MAX });
        }
        let shared = self.ga4_shared(&obj, received_ms);
        let mut messages: Vec<Result<Event, FieldError>> = Vec::with_capacity(events.len() + 1);
        if let Ok((_, user_id, anonymous_id, _, _)) = &shared
            && let Some(up) = obj.get("user_properties").and_then(Value::as_object).filter(|m| !m.is_empty()) {
                messages.push(self.ga4_identify(up, user_id, anonymous_id, received_ms, body));
            }
        for (i, ev) in events.iter().enumerate() {
            messages.push(match &shared {
                Ok(s) => self.ga4_event(i, ev, s, received_ms, body),
                Err(e) => Err(e.clone()),
            });
        }
        Ok(DecodedBody { key: None, messages })
    }

    #[allow(clippy::type_complexity)]
    fn ga4_shared(
        &self,
        obj: &Map<String, Value>,
        received_ms: i64,
    ) -> Result<(Option<i64>, Option<String>, Option<String>, Consent, Context), FieldError> {
        let user_id = id_at(obj, "user_id", "user_id")?;
        let anonymous_id = match id_at(obj, "client_id", "client_id")? {
            Some(c) => Some(c),
            None => id_at(obj, "app_instance_id", "app_instance_id")?,
        };
        if user_id.is_none() && anonymous_id.is_none() {
            return Err(FieldError::new("client_id", "missing shopper key: client_id or user_id is required"));
        }
        let ts = micros(obj.get("timestamp_micros"), "timestamp_micros")?;
        if let Some(ms) = ts {
            self.check_future("timestamp_micros", ms, received_ms)?;
        }
        let mut purposes = Vec::new();
        if let Some(c) = obj.get("consent").and_then(Value::as_object) {
            for (k, purpose) in [("ad_user_data", "marketing"), ("ad_personalization", "personalization")] {
                if let Some(v) = c.get(k).and_then(Value::as_str) {
                    purposes.push((purpose.to_string(), v.eq_ignore_ascii_case("granted")));
                }
            }
        }
        purposes.sort();
        let mut context = Context::default();
        if let Some(d) = obj.get("device").and_then(Value::as_object) {
            context.device = match d.get("category").and_then(Value::as_str) {
                Some("desktop") => DeviceType::Desktop,
                Some("mobile") => DeviceType::Mobile,
                Some("tablet") => DeviceType::Tablet,
                _ => DeviceType::Unknown,
            };
            context.os = str_at(d, "operating_system");
            context.browser = str_at(d, "browser");
            context.locale = str_at(d, "language");
        }
        if let Some(ua) = obj.get("user_agent").and_then(Value::as_str) {
            let info = self.user_agent(ua);
            (context.device, context.os, context.browser) = (info.device, info.os, info.browser);
        }
        Ok((ts, user_id, anonymous_id, Consent { purposes }, context))
    }

    fn ga4_identify(
        &self,
        up: &Map<String, Value>,
        user_id: &Option<String>,
        anonymous_id: &Option<String>,
        received_ms: i64,
        body: &[u8],
    ) -> Result<Event, FieldError> {
        // user_properties are `{name: {value: …}}`; flatten them to traits.
        let flat: Map<String, Value> =
            up.iter().map(|(k, v)| (k.clone(), v.get("value").cloned().unwrap_or_else(|| v.clone()))).collect();
        let traits: Traits = super::common::traits_from(&flat, "user_properties")?;
        let mut e = Event::new(derived_id("ga4", &[body, b"user_properties"]), received_ms, Signal::Builtin(Builtin::Identified), Source::Ga4);
        e.kind = EventKind::Identify;
        e.user_id = user_id.clone();
        e.anonymous_id = anonymous_id.clone();
        e.traits = traits;
        Ok(e)
    }

    fn ga4_event(
        &self,
        i: usize,
        ev: &Value,
        shared: &(Option<i64>, Option<String>, Option<String>, Consent, Context),
        received_ms: i64,
        body: &[u8],
    ) -> Result<Event, FieldError> {
        let (ts, user_id, anonymous_id, consent, base_ctx) = shared;
        let path = format!("events[{i}]");
        let Some(obj) = ev.as_object() else { return Err(FieldError::new(path, "must be an object")) };
        let name = match obj.get("name") {
            Some(Value::String(s)) if !s.trim().is_empty() => s,
            _ => return Err(FieldError::new(format!("{path}.name"), "required: the event name")),
        };
        let params = match obj.get("params") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(o)) => o.clone(),
            Some(_) => return Err(FieldError::new(format!("{path}.params"), "must be an object")),
        };
        let ppath = format!("{path}.params");
        let properties = properties_from(&params, &ppath)?;
        let ev_ts = micros(obj.get("timestamp_micros"), &format!("{path}.timestamp_micros"))?;
        let time_ms = match ev_ts.or(*ts) {
            Some(ms) => self.check_future(&format!("{path}.timestamp_micros"), ms, received_ms)?,
            None => received_ms,
        };
        let mut context = base_ctx.clone();
        context.consent = consent.clone();
        context.page_url = str_at(&params, "page_location");
        context.referrer = str_at(&params, "page_referrer");
        context.utm_source = str_at(&params, "source").or_else(|| str_at(&params, "campaign_source"));
        context.utm_medium = str_at(&params, "medium").or_else(|| str_at(&params, "campaign_medium"));
        context.utm_campaign = str_at(&params, "campaign").or_else(|| str_at(&params, "campaign_name"));
        self.finish_context(&mut context);
        let idx = i.to_le_bytes();
        let mut e = Event::new(
            derived_id("ga4", &[body, &idx]),
            time_ms,
            self.taxonomy.resolve(&clip(name, 256)),
            Source::Ga4,
        );
        e.received_ms = received_ms;
        e.kind = if e.signal == Signal::Builtin(Builtin::PageViewed) { EventKind::Page } else { EventKind::Track };
        e.user_id = user_id.clone();
        e.anonymous_id = anonymous_id.clone();
        e.session_id = str_at(&params, "session_id");
        e.properties = properties;
        e.context = context;
        Ok(e)
    }
}

#[cfg(test)]
mod tests {
    use crate::signal::{Builtin, Signal, Taxonomy};
    use crate::wire::{DecodeOptions, Decoder};

    #[test]
    fn a_purchase_with_items_decodes_and_retries_share_ids() {
        let d = Decoder::new(Taxonomy::default(), DecodeOptions::default());
        let body = br#"{"client_id":"123.456","user_id":"u7","timestamp_micros":1767225600000000,
          "consent":{"ad_user_data":"GRANTED","ad_personalization":"DENIED"},
          "events":[{"name":"purchase","params":{"transaction_id":"T1","value":42.5,"currency":"EUR","session_id":"s1",
             "items":[{"item_id":"p1","price":20,"quantity":1},{"item_id":"p2","price":22.5,"quantity":1}]}},
             {"name":"view_item"},{"params":{}}]}"#;
        let a = d.ga4_collect(body, 1_767_225_700_000).expect("valid");
        let e = a.messages[0].as_ref().expect("purchase");
        assert_eq!(e.signal, Signal::Builtin(Builtin::OrderCompleted));
        assert_eq!(e.time_ms, 1_767_225_600_000);
        assert_eq!(e.properties.order_id.as_deref(), Some("T1"));
        assert_eq!(e.properties.revenue, Some(42.5));
        assert_eq!(e.properties.items.len(), 2);
        assert_eq!(e.session_id.as_deref(), Some("s1"));
        assert_eq!(e.context.consent.get("marketing"), Some(true));
        assert_eq!(e.context.consent.get("personalization"), Some(false));
        assert_eq!(a.messages[2].as_ref().err().map(|f| f.field.as_str()), Some("events[2].name"));
        let b = d.ga4_collect(body, 1_767_225_800_000).expect("valid");
        assert_eq!(b.messages[0].as_ref().map(|e| &e.message_id).ok(), Some(&e.message_id));
        assert_ne!(a.messages[0].as_ref().map(|e| &e.message_id).ok(), a.messages[1].as_ref().map(|e| &e.message_id).ok());
    }
}
