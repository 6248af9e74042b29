//! Decoding what clients send — Segment's HTTP API, GA4's Measurement Protocol, PostHog's
//! capture API — into canonical events.
//!
//! A body decodes into a [`DecodedBody`]: the key the client presented, and one result per
//! message, so a bad message is reported by index and never takes its neighbours down.
//! Decoding never panics and knows nothing of storage or HTTP.

mod common;
pub mod ga4;
pub mod posthog;
pub mod segment;
mod slim;

use std::fmt;

pub use common::{DecodeOptions, Decoder, PROPERTY_FIELDS, PropertyField, property_field};

use crate::event::Event;

/// Why one message was refused: the field (JSON path, e.g. `properties.price`) and the reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct FieldError {
    /// JSON path of the offending field, or `message` for the message as a whole.
    pub field: String,
    /// What is wrong with it, in plain words.
    pub error: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.error)
    }
}

impl FieldError {
    /// A field error.
    pub fn new(field: impl Into<String>, error: impl Into<String>) -> FieldError {
        FieldError { field: field.into(), error: error.into() }
    }
}

/// A whole body that cannot be read at all (the answer is 400 or 413).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    /// Not JSON, or JSON nested deeper than allowed.
    #[error("body is not valid JSON: {0}")]
    Json(String),
    /// JSON of the wrong shape (e.g. no `batch` array).
    #[error("{field}: {error}")]
    Shape {
        /// The offending field.
        field: String,
        /// What is wrong.
        error: String,
    },
    /// More messages than `BATCH_EVENTS_MAX`.
    #[error("batch has {len} messages, more than the limit of {limit}")]
    TooManyMessages {
        /// Messages sent.
        len: usize,
        /// The limit.
        limit: usize,
    },
}

/// A decoded request body.
#[derive(Debug, Default)]
pub struct DecodedBody {
    /// The write key / API key / API secret found in the body, if any.
    pub key: Option<String>,
    /// One result per message, in order.
    pub messages: Vec<Result<Event, FieldError>>,
}
