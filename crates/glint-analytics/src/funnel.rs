//! `glint funnel`: how many shoppers take a list of steps, how fast, and where they drop out.
//!
//! The central types: a [`FunnelSpec`] (steps, window, [`Mode`], exclusions, an optional
//! [`Breakdown`]) is checked once; a [`FunnelBuilder`] is fed the log's events in event-time
//! order and keeps, per shopper, only the seconds (and breakdown value) of the events that
//! match a step; [`FunnelBuilder::finish`] evaluates every shopper and returns a
//! [`FunnelReport`] with one [`StepStats`] per step, overall and per breakdown value.
//!
//! ```
//! use glint_analytics::funnel::{FunnelBuilder, FunnelSpec, Mode, parse_steps};
//! use glint_event::{Builtin, Event, Signal, Source};
//!
//! let steps = parse_steps("product_viewed,product_added,order_completed").unwrap();
//! let spec = FunnelSpec::new(steps, 3600, Mode::Ordered, Vec::new(), None).unwrap();
//! let mut b = FunnelBuilder::new(spec);
//! for (t_s, signal) in [(0, Builtin::ProductViewed), (60, Builtin::ProductAdded), (90, Builtin::OrderCompleted)] {
//!     let mut e = Event::new(format!("m{t_s}"), t_s * 1000, Signal::Builtin(signal), Source::Segment);
//!     e.user_id = Some("u1".into());
//!     b.add(&e);
//! }
//! let report = b.finish().unwrap();
//! assert_eq!(report.steps.iter().map(|s| s.users).collect::<Vec<_>>(), [1, 1, 1]);
//! assert_eq!(report.steps[2].median_seconds, Some(90));
//! ```
//!
//! # Shoppers, time and matches
//!
//! A shopper is the event's user id, else its anonymous id, as in `glint stats`; events with
//! neither (inventory updates) are not in any funnel. Time is in whole **seconds** (event time
//! floored), because the reference is ClickHouse's `windowFunnel` over `toDateTime(time)`, and
//! at that resolution events of the same second are simultaneous. Every event whose signal is
//! step k's signal is a *match* for step k; an event whose signal appears in several steps
//! (`--steps a,b,a`) is a match for each of them.
//!
//! # `ordered` — ClickHouse's `windowFunnel(window)`
//!
//! A *chain* is one match per step 1, 2, …, L, in that step order, at non-decreasing seconds,
//! the last within `window` seconds (inclusive) of the first. A shopper's level is the largest
//! L with a chain; "users" of step k are the shoppers whose level is at least k. This is
//! exactly what ClickHouse computes (checked by `benches/funnel_vs_clickhouse.py` with chdb,
//! ClickHouse 26.9). Its consequences, which surprise (each established with chdb; the unit
//! tests `clickhouse_*` carry them with their provenance):
//!
//! - **Same-second events count in step order, whatever order they arrived in.** ClickHouse
//!   sorts a shopper's matches by (timestamp, step index), so `b` then `a` within one second
//!   is the funnel a → b: level 2.
//! - **One event can fill several steps.** A single `a` reaches step 2 of `--steps a,a`
//!   (its two matches, (t, 1) and (t, 2), are a chain), and `a@0 b@1 a@1` reaches step 3 of
//!   `a,b,a` using the `a@1` twice. Funnels that mean "came back" should use a window or
//!   distinct signals.
//! - **The window is inclusive** and counted from the chain's step-1 event: with a 60 s window,
//!   `a@0 b@60` reaches step 2, `a@0 b@61` does not.
//!
//! # `strict` — `windowFunnel(window, 'strict_order')`
//!
//! The shopper's events (all of them, step or not) are read in ClickHouse's order: by second,
//! then step index, where an event matching no step sorts *before* step matches of its second.
//! Reading stops, after the first step-1 match, at the first event that matches no step, or at
//! a step-k match (k > 1) while no chain has reached step k − 1 yet. The level is the ordered
//! level of what was read before the stop. Surprises (chdb):
//!
//! - **A new step-1 event does not reset the chain.** `a@1 b@2 a@3 c@4` reaches step 3 of
//!   `a,b,c` (the second `a` starts another chain, but `b` still stands from the first).
//! - **An out-of-window step does not stop reading, an unrelated event does.** With a 60 s
//!   window, `a@1 b@100 c@101` stops at `c` (step 2 was never reached in the window): level 1.
//!   `a@4 x@5 b@5` stops at `x`: level 1.
//! - **An unrelated event in the step-1 second is harmless**: `a@5 x@5 b@6` reaches step 2,
//!   because `x` sorts before `a` and nothing has started yet.
//! - **A signal repeated in the steps can stop reading at once.** With `a,b,a`, every `a` is
//!   also a step-3 match, read right after its step-1 match while step 2 is unreached: out of
//!   order. `a@0 b@1 a@2` is level 1 in `strict` (3 in `ordered`); with `a,b,b`, though,
//!   `a@0 b@1` is level 3, the one `b` filling steps 2 and 3.
//!
//! # `any` — steps in any order (no ClickHouse twin)
//!
//! Step k is reached when the shopper has *distinct* events for step k and every required step
//! before it, in any order, all within `window` seconds of the earliest of them. Unlike
//! `ordered`, one event fills one step: `--steps a,a` needs two `a` events.
//!
//! # Optional steps (`--steps a,b?,c`; `ordered` and `any`)
//!
//! An optional step may be skipped. In `ordered`, a chain may leave out optional steps (never a
//! required one) between the steps it takes; step k is reached when some chain takes it. So
//! with `a,b?,c`, `a c` reaches `c` but not `b`, and `a b c` reaches both. The first step cannot
//! be optional. Conversion "from the previous step" divides by the nearest earlier *required*
//! step, since shoppers who skipped an optional step never passed it.
//!
//! # Exclusions (`--exclude SIGNAL`; `ordered` and `any`)
//!
//! An event of an excluded signal breaks every chain it falls strictly inside: a chain (or, in
//! `any`, a set of events) whose first event is at second `f` and whose last is at `l` is void
//! if an excluded event lies at a second `x` with `f < x < l`. Same-second events have no
//! order at this resolution, so an excluded event at `f` or `l` breaks nothing. Example, with
//! `--steps a,b --exclude r`: `a@0 r@5 b@9` stops at step 1, but `a@0 r@5 a@6 b@9` reaches
//! step 2 through the second `a`.
//!
//! `strict` takes neither optional steps nor exclusions: any unrelated event already stops it.
//!
//! # Time to convert
//!
//! Measured on each shopper's *earliest deepest chain*: of the attempts (one per step-1 second)
//! that reach the shopper's deepest step, the one that starts first; within it each step is
//! taken at its earliest possible second. Step k's time is then that second minus the start,
//! reported over shoppers as the median and 90th percentile by nearest rank
//! ([`percentile_nearest_rank`]). In `any` the start is the earliest event the deepest step
//! needs, and a step's time is the second at which its set of events is complete.
//!
//! # Breakdowns
//!
//! `--by` splits the report by what was true at the event that starts each shopper's earliest
//! deepest chain ([`Breakdown`]). Most values are properties of that event: device, country
//! (the region of the locale, `en-GB` → `GB`; Glint keeps no geo-IP), referrer class, OS,
//! browser, source, UTM source/medium/campaign. Two are the shopper's state at it:
//!
//! - **funnel stage**: the deepest taxonomy stage (`top` < `middle` < `bottom`) among the
//!   shopper's events in the [`STAGE_LOOKBACK_MS`] (30 minutes) up to and including the chain's
//!   first event, in the log's order — how far down the shop's funnel the shopper had got
//!   in this visit when the chain began. (A property of the first event alone would split
//!   nothing in `ordered` and `strict`, whose chains all start with step 1.)
//! - **intent stage**: the purchase-intent model's stage (`curiosity`, `consideration`,
//!   `readiness`) of the shopper's current session just after that event, as the live engine
//!   would score it there. It needs a model and every event's features, which this crate does
//!   not hold: the caller supplies them as an [`IntentStages`]
//!   ([`FunnelBuilder::with_intent`]), and only the row scan takes it.
//!
//! Every value is computed where the hit is gathered, so each step-1 attempt carries its own.
//!
//! # Two scans, one answer
//!
//! [`FunnelBuilder`] reads decoded row records (`Log::scan`) one at a time; [`scan_columns`]
//! (`columnar.rs`) reads the log's column files in parallel and is what `glint funnel` uses
//! unless the breakdown is a property the columns do not hold ([`Breakdown::in_columns`]).
//! Both reduce a shopper to [`Hit`](eval::Hit)s and evaluate them with the same code
//! (`eval.rs`), in the same order: hits sort by (second, step, millisecond), stable over the
//! log's order (time, ingest sequence), which the columnar scan keeps by visiting segments in
//! id order. A proptest runs both on random logs (sealed and active segments, erasure,
//! retention, damaged column files) and requires equal reports.

mod clickhouse;
mod columnar;
mod eval;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::str::FromStr;

use glint_event::{Builtin, Event, Signal, Stage, Taxonomy, normalize_name};

use eval::{Hit, Plan};

pub use columnar::{ColumnScan, scan_columns};

/// The most steps a funnel may have. Reached steps are a 64-bit set per shopper, and every
/// step-1 second of a shopper costs O(steps) work; ClickHouse stops at 32.
pub const STEPS_MAX: usize = 64;

/// How a chain may take the steps. See the module docs for the exact rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mode {
    /// In step order, other events allowed between: ClickHouse's `windowFunnel(window)`.
    #[default]
    Ordered,
    /// In step order with nothing else between: `windowFunnel(window, 'strict_order')`.
    Strict,
    /// In any order within the window.
    Any,
}

impl Mode {
    /// The CLI's name: `ordered`, `strict`, `any`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Ordered => "ordered",
            Mode::Strict => "strict",
            Mode::Any => "any",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One step of a funnel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// The canonical signal name (snake_case).
    pub signal: String,
    /// Whether shoppers may skip it (`b?` on the command line).
    pub optional: bool,
}

/// Which side of the funnel a signal name came from, for error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignalRole {
    /// A step (`--steps`).
    Step,
    /// An exclusion (`--exclude`).
    Exclude,
}

/// How far back [`Breakdown::FunnelStage`] looks for the shopper's deepest stage: the
/// inactivity that ends a visit ([`SESSION_GAP_MS`](crate::stats::SESSION_GAP_MS)).
pub const STAGE_LOOKBACK_MS: i64 = 30 * 60 * 1000;

/// What the report can be split by: a property of the event that starts a shopper's chain,
/// or the shopper's state there ([module docs](self#breakdowns)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Breakdown {
    /// Device class from the user agent (`desktop`, `mobile`, …).
    Device,
    /// Region of the locale (`en-GB` → `GB`), else `unknown`.
    Country,
    /// Where the visit came from (`search`, `social`, `email`, …).
    ReferrerClass,
    /// Operating system.
    Os,
    /// Browser.
    Browser,
    /// The door the event came in by (`segment`, `rees46`, …).
    Source,
    /// `utm_source`.
    UtmSource,
    /// `utm_medium`.
    UtmMedium,
    /// `utm_campaign`.
    UtmCampaign,
    /// The shopper's deepest taxonomy stage (`top`, `middle`, `bottom`) in the
    /// [`STAGE_LOOKBACK_MS`] up to and including the chain's first event.
    FunnelStage,
    /// The intent model's stage of the shopper's session just after the chain's first event
    /// (`curiosity`, `consideration`, `readiness`); needs an [`IntentStages`].
    IntentStage,
}

impl Breakdown {
    /// Every property, with its CLI name.
    pub const ALL: &'static [(&'static str, Breakdown)] = &[
        ("device", Breakdown::Device),
        ("country", Breakdown::Country),
        ("referrer_class", Breakdown::ReferrerClass),
        ("os", Breakdown::Os),
        ("browser", Breakdown::Browser),
        ("source", Breakdown::Source),
        ("utm_source", Breakdown::UtmSource),
        ("utm_medium", Breakdown::UtmMedium),
        ("utm_campaign", Breakdown::UtmCampaign),
        ("funnel_stage", Breakdown::FunnelStage),
        ("intent_stage", Breakdown::IntentStage),
    ];

    /// The CLI name.
    pub fn as_str(self) -> &'static str {
        Breakdown::ALL.iter().find(|(_, b)| *b == self).map_or("?", |(n, _)| n)
    }

    /// Whether the log's column files hold this property, so the columnar scan can answer;
    /// the others are read from row records.
    pub fn in_columns(self) -> bool {
        matches!(self, Breakdown::Device | Breakdown::Country | Breakdown::ReferrerClass | Breakdown::FunnelStage)
        // IntentStage needs every event's features: rows.
    }

    /// This property's value on one event (missing values read `unknown`); `None` for the
    /// shopper's state ([`FunnelStage`](Breakdown::FunnelStage),
    /// [`IntentStage`](Breakdown::IntentStage)), which one event does not tell.
    pub fn value(self, e: &Event) -> Option<&str> {
        const UNKNOWN: &str = "unknown";
        let c = &e.context;
        Some(match self {
            Breakdown::FunnelStage | Breakdown::IntentStage => return None,
            Breakdown::Device => c.device.as_str(),
            Breakdown::Country => c.locale.as_deref().and_then(locale_region).unwrap_or(UNKNOWN),
            Breakdown::ReferrerClass => c.referrer_class.as_str(),
            Breakdown::Os => c.os.as_deref().unwrap_or(UNKNOWN),
            Breakdown::Browser => c.browser.as_deref().unwrap_or(UNKNOWN),
            Breakdown::Source => e.source.as_str(),
            Breakdown::UtmSource => c.utm_source.as_deref().unwrap_or(UNKNOWN),
            Breakdown::UtmMedium => c.utm_medium.as_deref().unwrap_or(UNKNOWN),
            Breakdown::UtmCampaign => c.utm_campaign.as_deref().unwrap_or(UNKNOWN),
        })
    }
}

/// The taxonomy's stages, shallowest first: [`Breakdown::FunnelStage`] keeps, per shopper, the
/// last time of each.
pub(crate) const STAGES: [Stage; 3] = [Stage::Top, Stage::Middle, Stage::Bottom];

/// A stage's place in [`STAGES`].
pub(crate) fn stage_rank(stage: Stage) -> usize {
    match stage {
        Stage::Top => 0,
        Stage::Middle => 1,
        Stage::Bottom => 2,
    }
}

/// The deepest stage whose last event (`last_ms`, per rank) lies within `lookback_ms` before
/// `at_ms`, inclusive; `top` when none does (the event at `at_ms` itself is always counted by
/// the callers, so that does not happen in practice).
pub(crate) fn deepest_recent(last_ms: &[i64; 3], at_ms: i64, lookback_ms: i64) -> usize {
    let since = at_ms.saturating_sub(lookback_ms);
    (0..STAGES.len()).rev().find(|&r| last_ms[r] >= since).unwrap_or(0)
}

/// The intent stage of a shopper as of an event, for [`Breakdown::IntentStage`]. It needs a
/// model and each shopper's feature accumulators, which this crate does not own (the binary
/// builds one from `glint-intent`).
pub trait IntentStages {
    /// Take one event, before the funnel looks at it: every event of the log comes, in the
    /// log's order.
    fn observe(&mut self, e: &Event);
    /// The stage (`curiosity`, `consideration`, `readiness`) of the shopper of `e`, which was
    /// just observed, as of `e`.
    fn stage(&mut self, e: &Event) -> &'static str;
}

impl FromStr for Breakdown {
    type Err = FunnelError;

    fn from_str(s: &str) -> Result<Breakdown, FunnelError> {
        let name = normalize_name(s);
        // `referrer` is what people type; the context field is `referrer_class`.
        let name = if name == "referrer" { "referrer_class".to_string() } else { name };
        Breakdown::ALL.iter().find(|(n, _)| *n == name).map(|(_, b)| *b).ok_or_else(|| FunnelError::UnknownProperty { name: s.to_string() })
    }
}

/// The region subtag of a BCP 47 locale: `en-GB` → `GB`, `pt_br` → `BR`, `de` → none.
pub(crate) fn locale_region(locale: &str) -> Option<&str> {
    // The region is the first later subtag of two letters or three digits (`zh-Hant-TW` → `TW`).
    locale.split(['-', '_']).skip(1).find(|t| (t.len() == 2 && t.chars().all(|c| c.is_ascii_alphabetic())) || (t.len() == 3 && t.chars().all(|c| c.is_ascii_digit())))
}

/// A funnel question was malformed, or its answer cannot be trusted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FunnelError {
    /// `--steps` named nothing.
    #[error("no steps given: name at least one signal, e.g. product_viewed,product_added")]
    NoSteps,
    /// More steps than [`STEPS_MAX`].
    #[error("{count} steps: a funnel has at most {max}")]
    TooManySteps {
        /// Steps given.
        count: usize,
        /// The bound.
        max: usize,
    },
    /// A step was blank (`a,,b`).
    #[error("step {position} is empty (two commas in a row, or a lone `?`)")]
    EmptyStep {
        /// 1-based position in the list.
        position: usize,
    },
    /// The first step was marked optional.
    #[error("the first step {signal:?} cannot be optional: every chain starts with it")]
    OptionalFirstStep {
        /// Its signal.
        signal: String,
    },
    /// Optional steps or exclusions were given with `--mode strict`.
    #[error("strict mode is ClickHouse's strict_order, which has no {what}: use --mode ordered")]
    NotInStrict {
        /// `optional steps` or `exclusions`.
        what: &'static str,
    },
    /// A signal is both a step and an exclusion.
    #[error("{signal:?} is both a step and an exclusion")]
    ExcludedStep {
        /// The signal.
        signal: String,
    },
    /// A name is neither a built-in signal nor one seen in the data.
    #[error("unknown signal {signal:?}: not a built-in signal and not in the data{}", closest.as_ref().map(|c| format!(" (did you mean {c:?}?)")).unwrap_or_default())]
    UnknownSignal {
        /// The name as normalised.
        signal: String,
        /// Whether it was a step or an exclusion.
        role: SignalRole,
        /// The nearest known name, when one is close.
        closest: Option<String>,
    },
    /// `--by` named no known property.
    #[error("unknown property {name:?}: use one of {}", Breakdown::ALL.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "))]
    UnknownProperty {
        /// What was given.
        name: String,
    },
    /// `--by intent_stage` without an intent model to score with.
    #[error("a breakdown by intent_stage needs an intent model (train one with `glint train`, then pass --model FILE)")]
    NoIntentModel,
    /// The log could not be read (I/O error or corruption in its rows).
    #[error("reading the log: {0}")]
    Log(#[from] glint_log::Error),
    /// Events were not given in event-time order (the builder relies on it).
    #[error("events out of time order: {ms} ms after {previous_ms} ms")]
    OutOfOrder {
        /// The earlier event's time.
        previous_ms: i64,
        /// The later-read, earlier-stamped event's time.
        ms: i64,
    },
}

/// Parse `a,b?,c`: comma-separated signal names (any spelling; normalised to snake_case), a
/// trailing `?` marking an optional step.
///
/// # Errors
/// [`FunnelError::NoSteps`], [`FunnelError::EmptyStep`], [`FunnelError::TooManySteps`].
pub fn parse_steps(list: &str) -> Result<Vec<Step>, FunnelError> {
    if list.trim().is_empty() {
        return Err(FunnelError::NoSteps);
    }
    let mut steps = Vec::new();
    for (i, raw) in list.split(',').enumerate() {
        let raw = raw.trim();
        let (name, optional) = match raw.strip_suffix('?') {
            Some(n) => (n, true),
            None => (raw, false),
        };
        let signal = normalize_name(name);
        if signal.is_empty() {
            return Err(FunnelError::EmptyStep { position: i + 1 });
        }
        steps.push(Step { signal, optional });
    }
    if steps.len() > STEPS_MAX {
        return Err(FunnelError::TooManySteps { count: steps.len(), max: STEPS_MAX });
    }
    Ok(steps)
}

/// A checked funnel question.
#[derive(Clone, Debug)]
pub struct FunnelSpec {
    steps: Vec<Step>,
    window_s: u64,
    mode: Mode,
    exclude: Vec<String>,
    by: Option<Breakdown>,
    taxonomy: Taxonomy,
    /// [`STAGE_LOOKBACK_MS`]; tests shorten it.
    stage_lookback_ms: i64,
}

impl FunnelSpec {
    /// Check a funnel: 1 to [`STEPS_MAX`] steps, the first required, `strict` without optional
    /// steps or exclusions, no signal both a step and an exclusion. Exclusion names are
    /// normalised like steps.
    ///
    /// # Errors
    /// The [`FunnelError`] variant naming the problem.
    pub fn new(steps: Vec<Step>, window_s: u64, mode: Mode, exclude: Vec<String>, by: Option<Breakdown>) -> Result<FunnelSpec, FunnelError> {
        let Some(first) = steps.first() else { return Err(FunnelError::NoSteps) };
        if steps.len() > STEPS_MAX {
            return Err(FunnelError::TooManySteps { count: steps.len(), max: STEPS_MAX });
        }
        if first.optional {
            return Err(FunnelError::OptionalFirstStep { signal: first.signal.clone() });
        }
        let mut excluded: Vec<String> = Vec::new();
        for x in exclude {
            let x = normalize_name(&x);
            if !x.is_empty() && !excluded.contains(&x) {
                excluded.push(x);
            }
        }
        if mode == Mode::Strict {
            if steps.iter().any(|s| s.optional) {
                return Err(FunnelError::NotInStrict { what: "optional steps" });
            }
            if !excluded.is_empty() {
                return Err(FunnelError::NotInStrict { what: "exclusions" });
            }
        }
        if let Some(x) = excluded.iter().find(|x| steps.iter().any(|s| &s.signal == *x)) {
            return Err(FunnelError::ExcludedStep { signal: x.clone() });
        }
        Ok(FunnelSpec { steps, window_s, mode, exclude: excluded, by, taxonomy: Taxonomy::default(), stage_lookback_ms: STAGE_LOOKBACK_MS })
    }

    /// Use `taxonomy` (e.g. from `glint.toml`) for signals' funnel stages instead of the
    /// defaults.
    pub fn with_taxonomy(mut self, taxonomy: Taxonomy) -> FunnelSpec {
        self.taxonomy = taxonomy;
        self
    }

    /// The steps.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// The window in seconds.
    pub fn window_s(&self) -> u64 {
        self.window_s
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The excluded signals (normalised).
    pub fn exclude(&self) -> &[String] {
        &self.exclude
    }

    /// The breakdown property, if any.
    pub fn by(&self) -> Option<Breakdown> {
        self.by
    }
}

/// What one signal means to this funnel.
#[derive(Clone, Debug, Default)]
pub(crate) struct Role {
    /// Steps it matches (1-based), ascending.
    pub(crate) steps: Vec<u8>,
    /// In `any` mode, the one step standing for every step of this signal (the first of them):
    /// one event fills one step, so events are counted per signal, not per step.
    pub(crate) any_class: u8,
    /// Whether it is an excluded signal.
    pub(crate) exclude: bool,
    /// Index into the "seen in the data" flags for names that are not builtins.
    pub(crate) custom: Option<usize>,
}

/// What the builder keeps of one shopper: the matches, nothing else of the events.
#[derive(Debug, Default)]
struct ShopperHits {
    /// Step matches (and, in `strict`, at most one unrelated event), in reading order.
    hits: Vec<Hit>,
    /// Seconds of excluded events that can matter (after the shopper's first match), ascending.
    exclusions: Vec<i64>,
    /// Second of the first step-1 match.
    first_start: Option<i64>,
    /// `strict`: an unrelated event after a start was recorded; nothing later can matter.
    closed: bool,
}

/// What every signal of the data means to one funnel: built once from the spec, shared by
/// the row and the columnar scans.
#[derive(Debug)]
pub(crate) struct RoleTable {
    pub(crate) roles: Vec<Role>,
    /// Role index by builtin code.
    builtin: Vec<Option<u16>>,
    /// Role index by custom signal name.
    custom: HashMap<Box<str>, u16>,
    /// Custom step/exclusion names, for the "seen in the data" check.
    n_custom: usize,
}

impl RoleTable {
    pub(crate) fn new(spec: &FunnelSpec) -> RoleTable {
        let mut roles: Vec<Role> = Vec::new();
        let mut by_name: HashMap<String, usize> = HashMap::new();
        let mut role_of = |name: &str, roles: &mut Vec<Role>| -> usize {
            *by_name.entry(name.to_string()).or_insert_with(|| {
                roles.push(Role::default());
                roles.len() - 1
            })
        };
        for (i, step) in spec.steps.iter().enumerate() {
            let r = role_of(&step.signal, &mut roles);
            // Bounded by STEPS_MAX (64), so the 1-based index fits a u8.
            let k = (i + 1) as u8;
            if roles[r].steps.is_empty() {
                roles[r].any_class = k;
            }
            roles[r].steps.push(k);
        }
        for x in &spec.exclude {
            let r = role_of(x, &mut roles);
            roles[r].exclude = true;
        }
        let mut builtin = vec![None; 256];
        let mut custom = HashMap::new();
        let mut n_custom = 0;
        let mut names: Vec<(&String, usize)> = by_name.iter().map(|(n, r)| (n, *r)).collect();
        names.sort_by_key(|(_, r)| *r);
        for (name, r) in names {
            match Signal::from_canonical(name) {
                Signal::Builtin(b) => builtin[usize::from(b.code())] = Some(r as u16),
                Signal::Custom(_) => {
                    roles[r].custom = Some(n_custom);
                    n_custom += 1;
                    custom.insert(name.as_str().into(), r as u16);
                }
            }
        }
        RoleTable { roles, builtin, custom, n_custom }
    }

    /// The role of a signal, if it is a step or an exclusion.
    pub(crate) fn of(&self, signal: &Signal) -> Option<u16> {
        match signal {
            Signal::Builtin(b) => self.builtin[usize::from(b.code())],
            Signal::Custom(name) => self.custom.get(&**name).copied(),
        }
    }

    /// Fail on a step or exclusion that is neither a builtin nor seen in the data (`seen`:
    /// per custom role, as numbered in [`Role::custom`]); `names` are the custom signals seen.
    pub(crate) fn check_names<'a>(&self, spec: &FunnelSpec, seen: &[bool], names: impl Iterator<Item = &'a str> + Clone) -> Result<(), FunnelError> {
        debug_assert_eq!(seen.len(), self.n_custom);
        let named = spec.steps.iter().map(|s| (&s.signal, SignalRole::Step)).chain(spec.exclude.iter().map(|x| (x, SignalRole::Exclude)));
        for (name, role) in named {
            if Builtin::from_name(name).is_some() {
                continue;
            }
            let is_seen = self.custom.get(name.as_str()).and_then(|r| self.roles[usize::from(*r)].custom).is_some_and(|c| seen.get(c).copied().unwrap_or(false));
            if !is_seen {
                let known = Builtin::ALL.iter().map(|b| b.name()).chain(names.clone());
                return Err(FunnelError::UnknownSignal { signal: name.clone(), role, closest: closest(name, known) });
            }
        }
        Ok(())
    }
}

/// Accumulates a funnel over events given in event-time order (as `Log::scan` yields them).
#[derive(Debug)]
pub struct FunnelBuilder {
    spec: FunnelSpec,
    plan: Plan,
    table: RoleTable,
    /// Per custom step/exclusion name (in `roles` order): seen in the data.
    custom_seen: Vec<bool>,
    /// Every custom signal name seen, for "did you mean".
    custom_names: HashSet<Box<str>>,
    shopper_ids: HashMap<Box<str>, u32>,
    shoppers: Vec<ShopperHits>,
    group_ids: HashMap<Box<str>, u32>,
    group_names: Vec<Box<str>>,
    /// `--by funnel_stage`: per shopper, the last time of each stage ([`STAGES`]).
    stage_last: HashMap<Box<str>, [i64; 3]>,
    /// `--by intent_stage`: the caller's scorer.
    intent: Option<IntentSlot>,
    last_ms: i64,
    out_of_order: Option<(i64, i64)>,
}

/// An [`IntentStages`] in a [`FunnelBuilder`] (which is `Debug`).
struct IntentSlot(Box<dyn IntentStages>);

impl fmt::Debug for IntentSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IntentStages")
    }
}

impl FunnelBuilder {
    /// A builder for one funnel.
    pub fn new(spec: FunnelSpec) -> FunnelBuilder {
        let table = RoleTable::new(&spec);
        let plan = Plan::new(&spec.steps, spec.window_s, spec.mode);
        FunnelBuilder {
            plan,
            custom_seen: vec![false; table.n_custom],
            table,
            custom_names: HashSet::new(),
            shopper_ids: HashMap::new(),
            shoppers: Vec::new(),
            group_ids: HashMap::new(),
            group_names: Vec::new(),
            stage_last: HashMap::new(),
            intent: None,
            last_ms: i64::MIN,
            out_of_order: None,
            spec,
        }
    }

    fn role(&mut self, signal: &Signal) -> Option<u16> {
        if let Signal::Custom(name) = signal
            && !self.custom_names.contains(&**name)
        {
            self.custom_names.insert(name.clone());
        }
        let r = self.table.of(signal)?;
        if let Some(c) = self.table.roles[usize::from(r)].custom {
            self.custom_seen[c] = true;
        }
        Some(r)
    }

    /// Score intent stages for [`Breakdown::IntentStage`] with `stages`; it will see every
    /// event given to [`add`](Self::add).
    pub fn with_intent(mut self, stages: Box<dyn IntentStages>) -> FunnelBuilder {
        self.intent = Some(IntentSlot(stages));
        self
    }

    /// Keep what the shopper-state breakdowns need to know of every event.
    fn observe(&mut self, e: &Event) {
        match self.spec.by {
            Some(Breakdown::FunnelStage) => {
                let Some(key) = e.shopper_key() else { return };
                let rank = stage_rank(self.spec.taxonomy.info(&e.signal).stage);
                match self.stage_last.get_mut(key) {
                    Some(last) => last[rank] = e.time_ms,
                    None => {
                        let mut last = [i64::MIN; 3];
                        last[rank] = e.time_ms;
                        self.stage_last.insert(key.into(), last);
                    }
                }
            }
            Some(Breakdown::IntentStage) => {
                if let Some(i) = &mut self.intent {
                    i.0.observe(e);
                }
            }
            _ => {}
        }
    }

    fn group(&mut self, e: &Event) -> u32 {
        let Some(by) = self.spec.by else { return 0 };
        let value = match by {
            Breakdown::FunnelStage => {
                let last = e.shopper_key().and_then(|k| self.stage_last.get(k));
                STAGES[last.map_or(0, |l| deepest_recent(l, e.time_ms, self.spec.stage_lookback_ms))].as_str()
            }
            // Without a scorer `finish` fails; the value is never shown.
            Breakdown::IntentStage => self.intent.as_mut().map_or("unknown", |i| i.0.stage(e)),
            _ => by.value(e).unwrap_or("unknown"),
        };
        if let Some(id) = self.group_ids.get(value) {
            return *id;
        }
        let id = self.group_names.len() as u32;
        self.group_names.push(value.into());
        self.group_ids.insert(value.into(), id);
        id
    }

    /// Take one event. Events must come in non-decreasing event time; one that does not is
    /// remembered and makes [`finish`](Self::finish) fail rather than answer wrongly.
    pub fn add(&mut self, e: &Event) {
        if e.time_ms < self.last_ms {
            self.out_of_order.get_or_insert((self.last_ms, e.time_ms));
        }
        self.last_ms = e.time_ms;
        self.observe(e);
        let role = self.role(&e.signal);
        let Some(key) = e.shopper_key() else { return };
        let sec = e.time_ms.div_euclid(1000);
        let mode = self.spec.mode;
        let Some(r) = role else {
            // Only `strict` looks at unrelated events, and only one after a start: reading
            // stops there (module docs), so nothing later can change the shopper's level.
            if mode == Mode::Strict
                && let Some(&id) = self.shopper_ids.get(key)
            {
                let s = &mut self.shoppers[id as usize];
                if !s.closed && s.first_start.is_some_and(|f| f < sec) {
                    s.hits.push(Hit::at(e.time_ms, 0, 0));
                    s.closed = true;
                }
            }
            return;
        };
        let r = usize::from(r);
        if self.table.roles[r].exclude {
            if let Some(&id) = self.shopper_ids.get(key) {
                let s = &mut self.shoppers[id as usize];
                // An exclusion matters only strictly inside a chain, so only after a match.
                if s.hits.first().is_some_and(|h| h.sec < sec) && s.exclusions.last() != Some(&sec) {
                    s.exclusions.push(sec);
                }
            }
            return;
        }
        let group = self.group(e);
        let id = match self.shopper_ids.get(key) {
            Some(id) => *id,
            None => {
                let id = self.shoppers.len() as u32;
                self.shopper_ids.insert(key.into(), id);
                self.shoppers.push(ShopperHits::default());
                id
            }
        };
        let s = &mut self.shoppers[id as usize];
        if s.closed {
            return;
        }
        let role = &self.table.roles[r];
        if mode == Mode::Any {
            s.hits.push(Hit::at(e.time_ms, role.any_class, group));
            return;
        }
        // Before a shopper's first step-1 match, only matches of the current second can still
        // join a chain (a same-second step 1 sorts ahead of them); drop older ones.
        if s.first_start.is_none() && s.hits.last().is_some_and(|h| h.sec < sec) {
            s.hits.clear();
        }
        for &step in &role.steps {
            s.hits.push(Hit::at(e.time_ms, step, group));
            if step == 1 && s.first_start.is_none() {
                s.first_start = Some(sec);
            }
        }
    }

    /// Evaluate every shopper and total the steps.
    ///
    /// # Errors
    /// [`FunnelError::UnknownSignal`] for a step or exclusion that is neither a builtin nor
    /// seen in the data (a typo would otherwise read as "nobody converted");
    /// [`FunnelError::OutOfOrder`] if events came out of time order;
    /// [`FunnelError::NoIntentModel`] for a breakdown by intent stage without
    /// [`with_intent`](Self::with_intent).
    pub fn finish(self) -> Result<FunnelReport, FunnelError> {
        if let Some((previous_ms, ms)) = self.out_of_order {
            return Err(FunnelError::OutOfOrder { previous_ms, ms });
        }
        if self.spec.by == Some(Breakdown::IntentStage) && self.intent.is_none() {
            return Err(FunnelError::NoIntentModel);
        }
        self.table.check_names(&self.spec, &self.custom_seen, self.custom_names.iter().map(|n| &**n))?;
        let mut tally = Tallies::new(self.spec.steps.len(), self.spec.by.is_some());
        let mut scratch = eval::Scratch::default();
        for mut s in self.shoppers {
            let Some((reached, group)) = eval::evaluate_into(&self.plan, &mut s.hits, &s.exclusions, &mut scratch) else { continue };
            tally.add(reached, &scratch.out_times, group);
        }
        Ok(tally.report(&self.spec, |g| self.group_names.get(g as usize).map_or_else(String::new, |v| v.to_string())))
    }
}

/// Totals over shoppers, overall and per breakdown value; scans in parallel keep one each and
/// merge them.
#[derive(Debug)]
pub(crate) struct Tallies {
    n: usize,
    overall: Tally,
    per_group: Option<HashMap<u32, Tally>>,
}

impl Tallies {
    pub(crate) fn new(n: usize, by: bool) -> Tallies {
        Tallies { n, overall: Tally::new(n), per_group: by.then(HashMap::new) }
    }

    pub(crate) fn add(&mut self, reached: u64, times: &[Option<u64>], group: u32) {
        self.overall.add(reached, times);
        if let Some(per) = &mut self.per_group {
            per.entry(group).or_insert_with(|| Tally::new(self.n)).add(reached, times);
        }
    }

    pub(crate) fn merge(&mut self, other: Tallies) {
        self.overall.merge(other.overall);
        if let (Some(mine), Some(theirs)) = (&mut self.per_group, other.per_group) {
            for (g, t) in theirs {
                match mine.get_mut(&g) {
                    Some(m) => m.merge(t),
                    None => {
                        mine.insert(g, t);
                    }
                }
            }
        }
    }

    pub(crate) fn report(self, spec: &FunnelSpec, name: impl Fn(u32) -> String) -> FunnelReport {
        let steps = self.overall.stats(&spec.steps);
        let mut breakdown: Vec<GroupStats> = self.per_group.unwrap_or_default().into_iter().map(|(g, t)| GroupStats { value: name(g), steps: t.stats(&spec.steps) }).collect();
        breakdown.sort_by(|a, b| b.steps[0].users.cmp(&a.steps[0].users).then_with(|| a.value.cmp(&b.value)));
        FunnelReport { mode: spec.mode, window_s: spec.window_s, by: spec.by, steps, breakdown }
    }
}

/// The known name nearest to `name` by edit distance, when it is close enough to be a typo.
fn closest<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> Option<String> {
    let (d, best) = known.map(|k| (edit_distance(name, k), k)).min()?;
    // A third of the length: catches `product_view` and `prodcut_viewed`, not unrelated names.
    (d <= name.len().div_ceil(3)).then(|| best.to_string())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diag + usize::from(ca != *cb)).min(row[j] + 1).min(row[j + 1] + 1);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// Shoppers and conversion times per step, before they become [`StepStats`].
#[derive(Debug)]
struct Tally {
    users: Vec<u64>,
    times: Vec<Vec<u64>>,
}

impl Tally {
    fn new(n: usize) -> Tally {
        Tally { users: vec![0; n], times: vec![Vec::new(); n] }
    }

    fn add(&mut self, reached: u64, times: &[Option<u64>]) {
        for (k, users) in self.users.iter_mut().enumerate() {
            if reached & (1 << k) != 0 {
                *users += 1;
            }
        }
        for (k, t) in times.iter().enumerate() {
            if let Some(t) = t {
                self.times[k].push(*t);
            }
        }
    }

    fn merge(&mut self, other: Tally) {
        for (mine, theirs) in self.users.iter_mut().zip(other.users) {
            *mine += theirs;
        }
        for (mine, theirs) in self.times.iter_mut().zip(other.times) {
            mine.extend(theirs);
        }
    }

    fn stats(mut self, steps: &[Step]) -> Vec<StepStats> {
        let first = self.users.first().copied().unwrap_or(0);
        let ratio = |num: u64, den: u64| (den > 0).then(|| num as f64 / den as f64);
        let mut out = Vec::with_capacity(steps.len());
        for (k, step) in steps.iter().enumerate() {
            let users = self.users[k];
            // The nearest earlier required step: shoppers who skipped an optional one never
            // passed it, so it is no denominator.
            let previous = (0..k).rev().find(|j| !steps[*j].optional);
            let previous_users = previous.map(|j| self.users[j]);
            let times = &mut self.times[k];
            times.sort_unstable();
            out.push(StepStats {
                signal: step.signal.clone(),
                optional: step.optional,
                users,
                conversion_from_previous: previous_users.and_then(|p| ratio(users, p)),
                conversion_from_first: ratio(users, first),
                drop_off: previous_users.map_or(0, |p| p.saturating_sub(users)),
                median_seconds: percentile_nearest_rank(times, 0.5),
                p90_seconds: percentile_nearest_rank(times, 0.9),
            });
        }
        out
    }
}

/// The answer for one step.
#[derive(Clone, Debug, PartialEq)]
pub struct StepStats {
    /// The step's signal.
    pub signal: String,
    /// Whether the step was optional.
    pub optional: bool,
    /// Shoppers who reached this step.
    pub users: u64,
    /// `users` over the users of the nearest earlier required step; `None` for step 1 or when
    /// that step has no users.
    pub conversion_from_previous: Option<f64>,
    /// `users` over the users of step 1; `None` when step 1 has none.
    pub conversion_from_first: Option<f64>,
    /// Users of the nearest earlier required step who did not reach this one (0 for step 1).
    pub drop_off: u64,
    /// Median seconds from the chain's start to this step (module docs), nearest rank.
    pub median_seconds: Option<u64>,
    /// 90th percentile of the same, nearest rank.
    pub p90_seconds: Option<u64>,
}

/// The steps for the shoppers whose chain started with one breakdown value.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupStats {
    /// The property's value.
    pub value: String,
    /// The steps, as in [`FunnelReport::steps`].
    pub steps: Vec<StepStats>,
}

/// The answer of `glint funnel`.
#[derive(Clone, Debug, PartialEq)]
pub struct FunnelReport {
    /// The mode asked for.
    pub mode: Mode,
    /// The window asked for, in seconds.
    pub window_s: u64,
    /// The breakdown property, if any.
    pub by: Option<Breakdown>,
    /// One entry per step, over all shoppers.
    pub steps: Vec<StepStats>,
    /// With a breakdown: the steps per value, most step-1 shoppers first.
    pub breakdown: Vec<GroupStats>,
}

/// The `p`-quantile (0 < p ≤ 1) of sorted values by nearest rank: the value at rank
/// ⌈p·n⌉ (1-based), so the median of `[1, 2, 3, 4]` is 2 and its 90th percentile is 4;
/// `None` for no values.
pub fn percentile_nearest_rank(sorted: &[u64], p: f64) -> Option<u64> {
    debug_assert!(sorted.is_sorted(), "percentiles need sorted values");
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    // Float rounding must not push an exact rank (0.9 · 10 = 9.000000000000002) up by one.
    let rank = ((p * n as f64) - 1e-9).ceil().clamp(1.0, n as f64) as usize;
    sorted.get(rank - 1).copied()
}
