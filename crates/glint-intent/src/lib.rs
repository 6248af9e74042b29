//! Glint's purchase-intent model: what a shopper's micro-conversions say about a purchase.
//!
//! It turns events into a labelled feature matrix, with one code path for training and
//! serving, and learns, judges and explains the model:
//!
//! - [`features`]: [`ShopperHistory`] (one per shopper) and [`SessionFeatures`] (one per
//!   session) accumulate events one at a time and read out a fixed, named vector
//!   ([`FEATURE_NAMES`], versioned by [`FeatureSchema`]). The batch export uses them, and the
//!   live engine (`glint-engine`) feeds the very same accumulators to score incrementally.
//! - [`dataset`]: sessions exactly as `glint stats` counts them, the labels
//!   `purchase-in-session` and `purchase-within:DURATION` ([`Label`]), the time split, and the
//!   CSV of `glint features` — two passes over the events ([`SessionPlanner`], then
//!   [`ExampleBuilder`]).
//! - [`model`]: the learners (logistic regression, histogram GBDT), their search, the model
//!   file, metrics, stage thresholds and drift (PSI).
//!
//! ```
//! use glint_event::{Builtin, Event, Signal, Source, Taxonomy};
//! use glint_intent::{Label, ShopperHistory, build_examples};
//!
//! let ev = |id: &str, min: i64, b: Builtin| {
//!     let mut e = Event::new(id.into(), min * 60_000, Signal::Builtin(b), Source::Segment);
//!     e.user_id = Some("u1".into());
//!     e
//! };
//! let session = [ev("a", 0, Builtin::ProductViewed), ev("b", 2, Builtin::ProductAdded), ev("c", 5, Builtin::OrderCompleted)];
//!
//! // Live: one accumulator per session, read whenever a score is needed.
//! let taxonomy = Taxonomy::default();
//! let mut history = ShopperHistory::default();
//! let mut features = history.open_session(session[0].time_ms);
//! for e in &session[..2] {
//!     features.push(&taxonomy, e);
//!     history.push(e);
//! }
//! assert_eq!(features.get("cart_items"), Some(1.0));
//! assert_eq!(features.get("session_duration_s"), Some(120.0));
//!
//! // Batch: the same code, one example per session, features from before the purchase.
//! let (examples, summary) = build_examples(&session, &taxonomy, Label::PurchaseInSession, 0.8).unwrap();
//! assert_eq!((summary.sessions, summary.positives), (1, 1));
//! assert_eq!(examples[0].features, features.values());
//! ```
//!
//! Architecture invariant: features are a pure function of the events pushed (and the
//! taxonomy): no wall clock, no I/O, no randomness. Reading the log and writing files belong to
//! the caller (`glint features`); this crate depends on neither the log nor the engine, so the
//! engine can depend on it.

pub mod dataset;
pub mod features;

pub use dataset::{CsvWriter, EXAMPLE_COLUMNS, Example, ExampleBuilder, Label, SESSION_GAP_MS, SessionPlan, SessionPlanner, SessionTracker, Split, Summary, build_examples, csv_header};
pub use features::{FEATURE_COUNT, FEATURE_NAMES, FEATURE_SCHEMA_HASH, FEATURE_SCHEMA_VERSION, FeatureSchema, SessionFeatures, ShopperHistory, feature_index, taxonomy_fingerprint};

/// What can go wrong building features and examples.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A label spec that is neither `purchase-in-session` nor `purchase-within:DURATION`.
    #[error("label {spec:?}: {reason}")]
    Label {
        /// The spec as given.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A train fraction outside 0..=1.
    #[error("train fraction {0} is not between 0 and 1")]
    TrainFraction(f64),
    /// A model's feature schema is not the one this build computes.
    #[error(
        "feature schema mismatch: this build computes version {} (hash {:016x}), the model was trained on version {} (hash {:016x}); retrain it",
        expected.version, expected.hash, found.version, found.hash
    )]
    SchemaMismatch {
        /// This build's schema.
        expected: FeatureSchema,
        /// The model's.
        found: FeatureSchema,
    },
    /// The second pass over the events saw other events than the first.
    #[error("the events changed between the two passes (near event time {time_ms} ms): was something writing to the data directory? Run again")]
    EventsChanged {
        /// Event time where the difference showed.
        time_ms: i64,
    },
    /// Writing the CSV failed.
    #[error("writing CSV: {0}")]
    Csv(#[from] csv::Error),
    /// Flushing the output failed.
    #[error("writing: {0}")]
    Io(#[from] std::io::Error),
}
pub mod model;
