//! Parsing a Segment message into a JSON object that keeps only what the decoder reads.
//!
//! Client libraries send a lot the decoder never looks at (`context.library`, `_metadata`,
//! `context.page.title`, `integrations`' other destinations …). Building `Value`s for all of it
//! was most of the cost of decoding. This parser skips unknown keys without allocating and keeps
//! known keys as ordinary `Value`s, so the decoder's checks — and its error messages — are
//! exactly those it applies to a fully parsed message.

use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Top-level keys the Segment decoder reads.
fn is_message_key(k: &str) -> bool {
    matches!(
        k,
        "type" | "messageId" | "userId" | "anonymousId" | "event" | "properties" | "context" | "traits" | "timestamp"
            | "originalTimestamp" | "sentAt" | "name" | "previousId" | "groupId" | "integrations" | "writeKey"
    )
}

/// Keys of `context` the decoder reads.
fn is_context_key(k: &str) -> bool {
    matches!(k, "userAgent" | "ip" | "locale" | "timezone" | "page" | "campaign" | "consent" | "traits" | "sessionId" | "session_id")
}

/// Which object is being read: what to keep, and how to keep the children.
#[derive(Clone, Copy)]
enum Level {
    Message,
    Context,
}

/// Parse `text` as a Segment message object, keeping only the keys the decoder reads.
///
/// # Errors
/// When `text` is not a JSON object (the caller reports that as the message's error).
pub(crate) fn parse_message(text: &str) -> Result<Map<String, Value>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let v = Slim(Level::Message).deserialize(&mut de)?;
    de.end()?;
    match v {
        Value::Object(m) => Ok(m),
        _ => Err(de::Error::invalid_type(de::Unexpected::Other("non-object"), &"a JSON object")),
    }
}

struct Slim(Level);

impl<'de> DeserializeSeed<'de> for Slim {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Slim {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let keep = match self.0 {
                Level::Message => is_message_key(&key),
                Level::Context => is_context_key(&key),
            };
            if !keep {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let value = if matches!(self.0, Level::Message) && key == "context" {
                map.next_value_seed(Slim(Level::Context))?
            } else {
                map.next_value::<Value>()?
            };
            out.insert(key.into_owned(), value);
        }
        Ok(Value::Object(out))
    }

    // A non-object where an object belongs is an error the decoder reports by field; its
    // content does not matter, only its type.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Value::Array(Vec::new()))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_what_the_decoder_reads_and_drops_the_rest() {
        let text = r#"{"type":"track","event":"E","userId":7,"_metadata":{"x":[1,2]},
            "context":{"library":{"name":"n"},"userAgent":"UA","page":{"url":"u","title":"t"}},
            "properties":{"a":{"b":1}}}"#;
        let m = parse_message(text).expect("object");
        assert_eq!(m.get("userId"), Some(&Value::from(7)));
        assert!(m.get("_metadata").is_none());
        assert_eq!(m["context"].get("library"), None);
        assert_eq!(m["context"]["page"]["title"], "t", "kept objects stay whole");
        assert_eq!(m["properties"]["a"]["b"], 1);
        assert!(parse_message("[1]").is_err());
        assert_eq!(parse_message(r#"{"context":"nope"}"#).expect("object")["context"], "nope");
    }

    #[test]
    fn agrees_with_full_parsing_on_kept_keys() {
        let text = r#"{"type":"identify","userId":"u","traits":{"tier":"gold"},"timestamp":"2026-01-01T00:00:00Z","context":{"ip":"1.2.3.4","consent":{"categoryPreferences":{"marketing":true}}}}"#;
        let slim = parse_message(text).expect("object");
        let full: Map<String, Value> = serde_json::from_str(text).expect("object");
        assert_eq!(Value::Object(slim), Value::Object(full));
    }
}
