//! Segment's HTTP tracking API: `/v1/{track,identify,page,screen,group,alias,batch}` and the
//! short paths analytics.js uses (`/v1/t`, `/v1/i`, `/v1/p`, …), as well as one message per
//! line of `segment-jsonl` imports.
//!
//! Rules followed from Segment's docs and libraries: the write key comes as HTTP Basic user or
//! as `writeKey` in the body; batch-level `context` and `sentAt` apply to every message; event
//! time is `timestamp` corrected by `receivedAt - sentAt`; a message needs `userId` or
//! `anonymousId` (server-side product and order signals excepted).

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::common::{Decoder, clip, derived_id, id_at, properties_from, str_at, traits_from};
use super::{BodyError, DecodedBody, FieldError};
use crate::event::{Event, EventKind, Source};
use crate::limits::BATCH_EVENTS_MAX;
use crate::signal::{Builtin, Signal};
use crate::time::parse_timestamp_ms;

/// Batch-level fields that apply to every message in it.
#[derive(Debug, Default)]
struct BatchDefaults {
    sent_at_ms: Option<i64>,
    context: Option<Map<String, Value>>,
}

fn sent_at(obj: &Map<String, Value>) -> Option<i64> {
    obj.get("sentAt").and_then(Value::as_str).and_then(parse_timestamp_ms)
}

impl Decoder {
    /// Decode a single-message Segment request (`/v1/track` and friends).
    ///
    /// # Errors
    /// When the body is not a JSON object.
    pub fn segment_single(&self, kind: EventKind, body: &[u8], received_ms: i64) -> Result<DecodedBody, BodyError> {
        let text = std::str::from_utf8(body).map_err(|e| BodyError::Json(format!("invalid UTF-8: {e}")))?;
        let obj = super::slim::parse_message(text).map_err(|e| BodyError::Json(e.to_string()))?;
        let key = obj.get("writeKey").and_then(Value::as_str).map(str::to_string);
        let result = self.segment_message(Some(kind), body.len(), &obj, &BatchDefaults::default(), received_ms, Source::Segment);
        Ok(DecodedBody { key, messages: vec![result] })
    }

    /// Decode a Segment batch (`/v1/batch`, `/v1/import`, analytics.js `/v1/b`).
    ///
    /// # Errors
    /// When the body is not JSON, has no `batch` array, or holds too many messages.
    pub fn segment_batch(&self, body: &[u8], received_ms: i64) -> Result<DecodedBody, BodyError> {
        #[derive(serde::Deserialize)]
        struct Batch<'a> {
            #[serde(borrow)]
            batch: Option<Vec<&'a RawValue>>,
            #[serde(rename = "writeKey")]
            write_key: Option<String>,
            #[serde(rename = "sentAt")]
            sent_at: Option<String>,
            context: Option<Map<String, Value>>,
        }
        let b: Batch<'_> = parse_json_borrowed(body)?;
        let Some(raw) = b.batch else {
            return Err(BodyError::Shape { field: "batch".into(), error: "required: an array of messages".into() });
        };
        if raw.len() > BATCH_EVENTS_MAX {
            return Err(BodyError::TooManyMessages { len: raw.len(), limit: BATCH_EVENTS_MAX });
        }
        let defaults = BatchDefaults { sent_at_ms: b.sent_at.as_deref().and_then(parse_timestamp_ms), context: b.context };
        let messages = raw
            .iter()
            .map(|r| {
                let obj = super::slim::parse_message(r.get()).map_err(|e| {
                    let why = if e.to_string().contains("recursion limit") {
                        "is nested too deeply (more than 128 levels)"
                    } else {
                        "must be a JSON object"
                    };
                    FieldError::new("message", why)
                })?;
                self.segment_message(None, r.get().len(), &obj, &defaults, received_ms, Source::Segment)
            })
            .collect();
        Ok(DecodedBody { key: b.write_key, messages })
    }

    /// Decode one line of a `segment-jsonl` file (import): a Segment message with its `type`.
    ///
    /// # Errors
    /// A field error naming what is wrong with the line's message.
    pub fn segment_line(&self, line: &str, received_ms: i64) -> Result<Event, FieldError> {
        let obj = super::slim::parse_message(line).map_err(|e| FieldError::new("line", format!("not a JSON object: {e}")))?;
        self.segment_message(None, line.len(), &obj, &BatchDefaults::default(), received_ms, Source::SegmentJsonl)
    }

    /// Decode one Segment message already parsed into a JSON object (simulator, import).
    ///
    /// # Errors
    /// A field error naming what is wrong.
    pub fn segment_value(&self, obj: &Map<String, Value>, received_ms: i64, source: Source) -> Result<Event, FieldError> {
        self.segment_message(None, 0, obj, &BatchDefaults::default(), received_ms, source)
    }

    fn segment_message(
        &self,
        route_kind: Option<EventKind>,
        len: usize,
        msg: &Map<String, Value>,
        defaults: &BatchDefaults,
        received_ms: i64,
        source: Source,
    ) -> Result<Event, FieldError> {
        if len > self.options.event_bytes_max {
            return Err(FieldError::new("message", format!("is {len} bytes, more than the limit of {}", self.options.event_bytes_max)));
        }
        let kind = match (route_kind, msg.get("type")) {
            (Some(k), _) => k,
            (None, Some(Value::String(t))) => EventKind::from_name(t).ok_or_else(|| {
                FieldError::new("type", format!("unknown type {:?}: expected track, identify, page, screen, group or alias", clip(t, 32)))
            })?,
            (None, Some(_)) => return Err(FieldError::new("type", "must be a string")),
            (None, None) => return Err(FieldError::new("type", "required in a batch message")),
        };
        let user_id = id_at(msg, "userId", "userId")?;
        let anonymous_id = id_at(msg, "anonymousId", "anonymousId")?;

        let properties_obj = match msg.get("properties") {
            None | Some(Value::Null) => None,
            Some(Value::Object(o)) => Some(o),
            Some(_) => return Err(FieldError::new("properties", "must be an object")),
        };
        let signal = match kind {
            EventKind::Track => {
                let name = match msg.get("event") {
                    Some(Value::String(s)) if !s.trim().is_empty() => s,
                    Some(Value::String(_)) | None | Some(Value::Null) => {
                        return Err(FieldError::new("event", "required for track: the event name"));
                    }
                    Some(_) => return Err(FieldError::new("event", "must be a string")),
                };
                self.taxonomy.resolve(name)
            }
            EventKind::Page | EventKind::Screen => Signal::Builtin(Builtin::PageViewed),
            EventKind::Identify => Signal::Builtin(Builtin::Identified),
            EventKind::Group => Signal::Builtin(Builtin::Grouped),
            EventKind::Alias => Signal::Builtin(Builtin::Aliased),
        };

        let mut properties = match properties_obj {
            Some(o) => properties_from(o, "properties")?,
            None => Default::default(),
        };
        if matches!(kind, EventKind::Page | EventKind::Screen)
            && let Some(name) = msg.get("name").and_then(Value::as_str) {
                let mut extra: Map<String, Value> =
                    properties.extra.as_deref().and_then(|e| serde_json::from_str(e).ok()).unwrap_or_default();
                extra.insert("name".into(), Value::String(clip(name, 256)));
                properties.extra = serde_json::to_string(&extra).ok();
            }

        let ctx_obj = match msg.get("context") {
            None | Some(Value::Null) => defaults.context.as_ref(),
            Some(Value::Object(o)) => Some(o),
            Some(_) => return Err(FieldError::new("context", "must be an object")),
        };
        let mut context = self.context(ctx_obj);
        if context.page_url.is_none()
            && let Some(p) = properties_obj {
                context.page_url = str_at(p, "url");
                context.referrer = context.referrer.take().or_else(|| str_at(p, "referrer"));
                self.finish_context(&mut context);
            }

        let traits_obj = match (msg.get("traits"), ctx_obj.and_then(|c| c.get("traits"))) {
            (Some(Value::Object(o)), _) => Some((o, "traits")),
            (Some(Value::Null) | None, Some(Value::Object(o))) => Some((o, "context.traits")),
            (Some(Value::Null) | None, _) => None,
            (Some(_), _) => return Err(FieldError::new("traits", "must be an object")),
        };
        let mut traits = match traits_obj {
            Some((o, path)) if kind == EventKind::Identify || kind == EventKind::Group => traits_from(o, path)?,
            _ => Default::default(),
        };
        if kind == EventKind::Alias {
            traits.previous_id = id_at(msg, "previousId", "previousId")?;
            if traits.previous_id.is_none() {
                return Err(FieldError::new("previousId", "required for alias"));
            }
            if user_id.is_none() {
                return Err(FieldError::new("userId", "required for alias"));
            }
        }
        if kind == EventKind::Group {
            traits.group_id = id_at(msg, "groupId", "groupId")?;
            if traits.group_id.is_none() {
                return Err(FieldError::new("groupId", "required for group"));
            }
        }

        let server_side = matches!(&signal, Signal::Builtin(b) if b.is_server_side())
            && (properties.product_id.is_some() || properties.order_id.is_some());
        if user_id.is_none() && anonymous_id.is_none() && !server_side {
            return Err(FieldError::new("userId", "missing shopper key: userId or anonymousId is required"));
        }

        let sent_at_ms = sent_at(msg).or(defaults.sent_at_ms);
        let (ts_field, ts) = match msg.get("timestamp") {
            Some(v) if !v.is_null() => ("timestamp", Some(v)),
            _ => ("originalTimestamp", msg.get("originalTimestamp")),
        };
        let time_ms = self.resolve_time(ts_field, ts, sent_at_ms, received_ms)?;

        let message_id = match id_at(msg, "messageId", "messageId")? {
            Some(id) => id,
            None => derived_id("seg", &[serde_json::to_string(msg).unwrap_or_default().as_bytes()]),
        };
        let session_id = ctx_obj
            .and_then(|c| str_at(c, "sessionId").or_else(|| str_at(c, "session_id")))
            .or_else(|| properties_obj.and_then(|p| str_at(p, "session_id")))
            .or_else(|| {
                msg.get("integrations")
                    .and_then(|i| i.get("Amplitude"))
                    .and_then(Value::as_object)
                    .and_then(|a| str_at(a, "session_id"))
            });

        Ok(Event {
            message_id,
            time_ms,
            received_ms,
            kind,
            signal,
            source,
            user_id,
            anonymous_id,
            session_id,
            properties,
            traits,
            context,
        })
    }
}

fn parse_json_borrowed<'a, T: serde::Deserialize<'a>>(body: &'a [u8]) -> Result<T, BodyError> {
    serde_json::from_slice(body).map_err(|e| BodyError::Json(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signal::Taxonomy;
    use crate::wire::DecodeOptions;

    fn dec() -> Decoder {
        Decoder::new(Taxonomy::default(), DecodeOptions::default())
    }

    const NOW: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

    #[test]
    fn a_track_decodes_with_skew_correction_and_typed_properties() {
        let body = br#"{"userId":"u1","event":"Product Added","messageId":"m1",
            "timestamp":"2026-01-01T00:00:00.000Z","sentAt":"2026-01-01T00:00:10.000Z",
            "properties":{"product_id":"p9","price":"19.5","quantity":2,"color":"red"},
            "context":{"userAgent":"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
                       "ip":"203.0.113.9","timezone":"Europe/Berlin",
                       "consent":{"categoryPreferences":{"marketing":false,"personalization":true}}}}"#;
        let d = dec().segment_single(EventKind::Track, body, NOW).expect("valid body");
        let e = d.messages[0].as_ref().expect("valid message");
        assert_eq!(e.signal, Signal::Builtin(Builtin::ProductAdded));
        // The client's clock ran 10 s ahead of ours: timestamp + (received - sentAt).
        assert_eq!(e.time_ms, NOW - 10_000);
        assert_eq!(e.properties.product_id.as_deref(), Some("p9"));
        assert_eq!(e.properties.price, Some(19.5));
        assert_eq!(e.properties.extra.as_deref(), Some(r#"{"color":"red"}"#));
        assert_eq!(e.context.device, crate::event::DeviceType::Mobile);
        assert_eq!(e.context.ip.as_deref(), Some("203.0.113.0"));
        assert_eq!(e.context.consent.get("marketing"), Some(false));
    }

    #[test]
    fn a_batch_reports_each_bad_message_by_field_and_keeps_the_good_ones() {
        let body = br#"{"writeKey":"k","batch":[
            {"type":"track","userId":"u","event":"Order Completed","messageId":"a"},
            {"type":"track","event":"Order Completed","messageId":"b"},
            {"type":"track","userId":"u","event":"X","properties":{"price":"cheap"}},
            {"type":"bogus","userId":"u"},
            {"type":"identify","userId":"u","traits":{"birthday":"1990-02-03","tier":"gold"}},
            {"type":"track","userId":"u","event":"X","timestamp":"2099-01-01T00:00:00Z"},
            {"type":"alias","userId":"u"}
        ]}"#;
        let d = dec().segment_batch(body, NOW).expect("valid body");
        assert_eq!(d.key.as_deref(), Some("k"));
        let fields: Vec<Option<String>> = d.messages.iter().map(|r| r.as_ref().err().map(|e| e.field.clone())).collect();
        assert_eq!(
            fields,
            vec![
                None,
                Some("userId".into()),
                Some("properties.price".into()),
                Some("type".into()),
                None,
                Some("timestamp".into()),
                Some("previousId".into())
            ]
        );
        let identify = d.messages[4].as_ref().expect("identify ok");
        assert_eq!(identify.traits.birthday.as_deref(), Some("1990-02-03"));
    }

    #[test]
    fn server_side_inventory_needs_no_shopper() {
        let line = r#"{"type":"track","event":"Product Back In Stock","properties":{"product_id":"p1"},"timestamp":"2026-01-01T00:00:00Z"}"#;
        let e = dec().segment_line(line, NOW).expect("inventory event");
        assert_eq!(e.signal, Signal::Builtin(Builtin::ProductBackInStock));
        assert_eq!(e.shopper_key(), None);
    }

    #[test]
    fn bodies_that_are_not_json_or_too_deep_are_body_errors() {
        assert!(matches!(dec().segment_batch(b"not json", NOW), Err(BodyError::Json(_))));
        let deep = format!("{{\"batch\":[{{\"properties\":{{\"a\":{}1{}}}}}]}}", "[".repeat(200), "]".repeat(200));
        let d = dec().segment_batch(deep.as_bytes(), NOW).expect("the batch itself is fine");
        assert_eq!(d.messages[0].as_ref().err().map(|f| f.error.as_str()), Some("is nested too deeply (more than 128 levels)"));
        let deep_single = format!("{{\"userId\":\"u\",\"event\":\"x\",\"properties\":{{\"a\":{}1{}}}}}", "[".repeat(200), "]".repeat(200));
        assert!(matches!(dec().segment_single(EventKind::Track, deep_single.as_bytes(), NOW), Err(BodyError::Json(_))));
        assert!(matches!(dec().segment_batch(b"{}", NOW), Err(BodyError::Shape { .. })));
        // Fields the decoder never reads are skipped without recursion, however deep.
        let absurd = format!("{{\"batch\":[{{\"type\":\"track\",\"userId\":\"u\",\"event\":\"e\",\"_x\":{}1{}}}]}}", "[".repeat(10_000), "]".repeat(10_000));
        let d = dec().segment_batch(absurd.as_bytes(), NOW).expect("batch");
        assert!(d.messages[0].is_ok(), "{:?}", d.messages[0]);
    }
}
