//! Glint's canonical event model: what a micro-conversion looks like once it is inside Glint.
//!
//! The central types are [`Event`] (one canonical event), [`Signal`] (its micro-conversion kind)
//! and [`Taxonomy`] (how every input vocabulary maps onto signals, with each signal's funnel
//! stage, Google moment and weight). Decoders turn what clients send into events:
//! [`wire::Decoder`] for Segment, GA4 and PostHog, [`datasets::Importer`] for history files.
//! Every bound lives in [`limits`].
//!
//! ```
//! use glint_event::{Taxonomy, wire::{Decoder, DecodeOptions}, EventKind};
//! let decoder = Decoder::new(Taxonomy::default(), DecodeOptions::default());
//! let body = br#"{"userId":"u1","event":"Product Added","properties":{"product_id":"p1","price":9.5}}"#;
//! let decoded = decoder.segment_single(EventKind::Track, body, 1_767_225_600_000).unwrap();
//! let event = decoded.messages[0].as_ref().unwrap();
//! assert_eq!(event.signal.name(), "product_added");
//! assert_eq!(event.properties.price, Some(9.5));
//! ```
//!
//! Architecture invariant: decoding never panics on input and knows nothing of storage or HTTP.

pub mod context;
pub mod datasets;
mod event;
pub mod limits;
mod signal;
pub mod time;
pub mod wire;

pub use event::{Consent, Context, DeviceType, Event, EventKind, Item, Properties, ReferrerClass, Source, Traits};
pub use signal::{Builtin, GoogleMoment, Signal, SignalInfo, SignalOverride, Stage, Taxonomy, TaxonomyConfig, TaxonomyError, normalize_name};
