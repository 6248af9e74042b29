//! Checkpoints: the engine's state written out ([`Engine::save`]) and read back
//! ([`Engine::restore`]), so a restart resumes where it stopped instead of replaying the whole
//! log — with the same firings afterwards as a replay from the start.
//!
//! ## Format (version 1)
//!
//! | bytes | content |
//! |-------|---------|
//! | 8     | magic `GLINTCKP` |
//! | 2     | format version, u16 LE |
//! | 2     | reserved, zero |
//! | 4     | fingerprint length `n`, u32 LE |
//! | 8     | xxh3-64 of the fingerprint, u64 LE |
//! | `n`   | fingerprint: JSON of what the state depends on — seed, consent defaults, budget, the taxonomy's builtin weights, each moment's name and rule version, in order, and whether intent features are kept |
//! | rest  | the state: one zstd frame (with its content checksum) of JSON, to the end |
//!
//! The fingerprint comes before the state, so a checkpoint made under another configuration
//! is refused ([`CheckpointError::ConfigChanged`]) without decompressing anything; the caller
//! then rebuilds from the log. Damage anywhere is caught by the fingerprint's hash, zstd's
//! checksum or the JSON parser and reported as [`CheckpointError::Corrupt`], never a panic.
//!
//! The state is written through the private `Saved*` mirror types below rather than serde
//! derives on the engine's own types, which stay not `Serialize` (the binary renders firings).
//! Floats are stored as their bit patterns (they come back exactly: a threshold crossing must
//! not move by a rounding), hash maps as lists sorted by key (the same state gives the same
//! bytes), signals by name, device and referrer classes by their log codes. Changing a
//! `Saved*` type changes the format: bump `FORMAT_VERSION`.
//!
//! Shoppers' intent features (version 4) are `glint-intent`'s accumulators in their own serde
//! form (floats as bits too). The intent *model* is not part of the state or the fingerprint:
//! features do not depend on it, so a new model needs no replay. Drift counts restart.
//!
//! A checkpoint knows nothing of the log: the caller stores its own position (the last
//! sequence number applied) beside it, and feeds the events after it once restored.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::io::{self, BufReader, BufWriter, Read, Write};

use glint_event::{Builtin, DeviceType, ReferrerClass, Signal, Taxonomy};
use serde::{Deserialize, Serialize};

use crate::intent::IntentTrack;
use crate::{Candidate, CartLine, IntentStage, Counted, Engine, EngineConfig, EngineStats, Fact, Profile, Session, ShopperState, Timer};

const MAGIC: &[u8; 8] = b"GLINTCKP";
/// The format this build writes and reads. Bump it when a `Saved*` type or the header changes.
const FORMAT_VERSION: u16 = 4;
const HEADER_LEN: usize = 24;
/// Largest fingerprint read: a damaged length must not become a huge allocation. A rule file
/// holds at most 65,535 moments; their names and versions stay far below this.
const FINGERPRINT_BYTES_MAX: u32 = 64 << 20;
/// zstd's default level: the state's JSON is repetitive, and checkpoints are written often.
const ZSTD_LEVEL: i32 = 3;

/// Why a checkpoint could not be written or read back.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The writer or reader failed.
    #[error("checkpoint I/O: {0}")]
    Io(#[from] io::Error),
    /// The bytes do not start with a checkpoint's magic.
    #[error("not a Glint checkpoint (it does not start with GLINTCKP)")]
    NotACheckpoint,
    /// Written in a format version this build does not read.
    #[error("checkpoint format version {found}, this build reads version {supported}; rebuild the state from the log")]
    Version {
        /// Version in the checkpoint.
        found: u16,
        /// Version this build reads.
        supported: u16,
    },
    /// Made under another configuration (seed, consent defaults, budget, taxonomy weights or
    /// moments): its state is not what these rules would have built, so rebuild from the log.
    #[error("the checkpoint was made under another configuration ({what}); rebuild the state from the log")]
    ConfigChanged {
        /// The first difference found.
        what: String,
    },
    /// Truncated or damaged.
    #[error("corrupt checkpoint: {why}")]
    Corrupt {
        /// What check failed.
        why: String,
    },
}

fn corrupt(why: impl Into<String>) -> CheckpointError {
    CheckpointError::Corrupt { why: why.into() }
}

impl Engine {
    /// Write the engine's state to `w` as a checkpoint (format in `checkpoint.rs`). The same
    /// state always gives the same bytes. The caller stores its own log position beside it.
    ///
    /// # Errors
    /// When writing to `w` fails.
    pub fn save(&self, w: impl Write) -> Result<(), CheckpointError> {
        let mut w = w;
        let fingerprint = serde_json::to_vec(&Fingerprint::of(&self.config, &self.taxonomy)).map_err(io::Error::from)?;
        let n = u32::try_from(fingerprint.len()).ok().filter(|n| *n <= FINGERPRINT_BYTES_MAX).ok_or_else(|| io::Error::other("the configuration's fingerprint is too large"))?;
        let mut header = [0u8; HEADER_LEN];
        header[0..8].copy_from_slice(MAGIC);
        header[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        header[12..16].copy_from_slice(&n.to_le_bytes());
        header[16..24].copy_from_slice(&xxhash_rust::xxh3::xxh3_64(&fingerprint).to_le_bytes());
        w.write_all(&header)?;
        w.write_all(&fingerprint)?;
        let mut encoder = zstd::stream::write::Encoder::new(w, ZSTD_LEVEL)?;
        encoder.include_checksum(true)?;
        // serde_json writes in small pieces; batch them before the compressor.
        let mut buffered = BufWriter::with_capacity(64 * 1024, encoder);
        serde_json::to_writer(&mut buffered, &self.state_out()).map_err(io::Error::from)?;
        let encoder = buffered.into_inner().map_err(io::IntoInnerError::into_error)?;
        encoder.finish()?.flush()?;
        Ok(())
    }

    /// Rebuild an engine from a checkpoint written by [`Engine::save`], under `config` and
    /// `taxonomy`, which must be those it was saved under. The checkpoint runs to the end of
    /// `r`. Then feed it the events after the log position stored with the checkpoint.
    ///
    /// # Errors
    /// [`CheckpointError::ConfigChanged`] when the configuration differs (rebuild from the log
    /// instead); [`CheckpointError::NotACheckpoint`], [`CheckpointError::Version`] or
    /// [`CheckpointError::Corrupt`] for bytes this build cannot use; [`CheckpointError::Io`]
    /// when reading fails.
    pub fn restore(config: EngineConfig, taxonomy: Taxonomy, r: impl Read) -> Result<Engine, CheckpointError> {
        let mut src = Tracked { inner: r, failure: None };
        let mut header = [0u8; HEADER_LEN];
        src.read_exact(&mut header).map_err(|_| src.failed_or("truncated: shorter than the header"))?;
        if &header[0..8] != MAGIC {
            return Err(CheckpointError::NotACheckpoint);
        }
        let version = u16::from_le_bytes([header[8], header[9]]);
        if version != FORMAT_VERSION {
            return Err(CheckpointError::Version { found: version, supported: FORMAT_VERSION });
        }
        if header[10..12] != [0, 0] {
            return Err(corrupt("reserved header bytes are not zero"));
        }
        let n = u32::from_le_bytes([header[12], header[13], header[14], header[15]]);
        if n > FINGERPRINT_BYTES_MAX {
            return Err(corrupt(format!("fingerprint length {n} is over the limit")));
        }
        let mut fingerprint = vec![0u8; n as usize];
        src.read_exact(&mut fingerprint).map_err(|_| src.failed_or("truncated inside the fingerprint"))?;
        let mut hash = [0u8; 8];
        hash.copy_from_slice(&header[16..24]);
        if xxhash_rust::xxh3::xxh3_64(&fingerprint) != u64::from_le_bytes(hash) {
            return Err(corrupt("fingerprint checksum mismatch"));
        }
        let saved: Fingerprint = serde_json::from_slice(&fingerprint).map_err(|e| corrupt(format!("fingerprint: {e}")))?;
        if let Some(what) = saved.difference(&Fingerprint::of(&config, &taxonomy)) {
            return Err(CheckpointError::ConfigChanged { what });
        }
        let decoder = zstd::stream::read::Decoder::new(&mut src)?;
        let parsed = serde_json::from_reader::<_, StateIn>(BufReader::with_capacity(64 * 1024, decoder));
        let state = match parsed {
            Ok(state) => state,
            Err(e) => return Err(src.failed_or(&format!("state: {e}"))),
        };
        let mut engine = Engine::new(config, taxonomy);
        engine.load_state(state)?;
        Ok(engine)
    }

    fn state_out(&self) -> StateOut<'_> {
        let mut shoppers: Vec<(&str, &ShopperState)> = self.shoppers.iter().map(|(id, s)| (id.as_str(), &**s)).collect();
        shoppers.sort_unstable_by_key(|(id, _)| *id);
        let mut aliases: Vec<(&str, &str)> = self.aliases.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        aliases.sort_unstable();
        let mut wishers: Vec<(&str, &BTreeSet<String>)> = self.wishers.iter().map(|(p, w)| (p.as_str(), w)).collect();
        wishers.sort_unstable_by_key(|(p, _)| *p);
        let recent = self
            .recent
            .iter()
            .map(|(signal, by_product)| {
                let mut products: RecentOut<'_> = by_product.iter().map(|(p, t)| (p.as_str(), t)).collect();
                products.sort_unstable_by_key(|(p, _)| *p);
                (signal.name(), products)
            })
            .collect();
        let EngineStats { condition_errors, condition_false } = self.stats;
        StateOut {
            now_ms: self.now_ms,
            condition_errors,
            condition_false,
            timer_seq: self.timers.next_seq,
            calendar_armed: &self.calendar_armed,
            timers: TimersOut(&self.timers.by_due),
            shoppers: ShoppersOut(shoppers),
            aliases,
            wishers,
            recent,
        }
    }

    /// Install a parsed state into a fresh engine (made by `Engine::new` from the same
    /// configuration), checking what the configuration fixes: moment indices, the calendar
    /// slots, the signals counted for `Popular` triggers.
    fn load_state(&mut self, s: StateIn) -> Result<(), CheckpointError> {
        let n_moments = self.config.moments.len();
        let moment_ok = |m: usize, what: &str| if m < n_moments { Ok(()) } else { Err(corrupt(format!("{what} names moment {m} of {n_moments}"))) };
        if s.calendar_armed.len() != n_moments {
            return Err(corrupt(format!("{} calendar slots for {n_moments} moments", s.calendar_armed.len())));
        }
        let expected: Vec<&str> = self.recent.iter().map(|(signal, _)| signal.name()).collect();
        let found: Vec<&str> = s.recent.iter().map(|(name, _)| name.as_str()).collect();
        if expected != found {
            return Err(corrupt(format!("popular counts for signals {found:?}, expected {expected:?}")));
        }
        for ((_, by_product), (_, saved)) in self.recent.iter_mut().zip(s.recent) {
            for (product, times) in saved {
                if by_product.insert(product, times).is_some() {
                    return Err(corrupt("a product appears twice in the popular counts"));
                }
            }
        }
        for t in s.timers {
            let (key, timer) = t.load()?;
            moment_ok(timer.moment, "a timer")?;
            if let Some(c) = &timer.deferred {
                moment_ok(c.moment, "a deferred qualification")?;
            }
            if key.1 >= s.timer_seq {
                return Err(corrupt("a timer was armed after the last arming recorded"));
            }
            if self.timers.by_due.insert(key, timer).is_some() {
                return Err(corrupt("two timers share a key"));
            }
        }
        self.timers.next_seq = s.timer_seq;
        for saved in s.shoppers {
            let (id, state) = saved.load()?;
            for m in state.counted.iter().map(|c| c.moment).chain(state.armed.iter().map(|(m, _)| *m)) {
                moment_ok(usize::from(m), "a shopper's cap or timer")?;
            }
            if self.shoppers.insert(id, Box::new(state)).is_some() {
                return Err(corrupt("a shopper appears twice"));
            }
        }
        for (from, to) in s.aliases {
            if self.aliases.insert(from, to).is_some() {
                return Err(corrupt("an alias appears twice"));
            }
        }
        for (product, wishers) in s.wishers {
            if self.wishers.insert(product, wishers).is_some() {
                return Err(corrupt("a product's wishers appear twice"));
            }
        }
        self.calendar_armed = s.calendar_armed;
        self.now_ms = s.now_ms;
        self.stats = EngineStats { condition_errors: s.condition_errors, condition_false: s.condition_false };
        Ok(())
    }
}

/// The caller's reader, remembering a failure of its own, so that an error surfacing through
/// the decompressor or the JSON parser is told apart from damaged bytes.
struct Tracked<R> {
    inner: R,
    failure: Option<io::Error>,
}

impl<R: Read> Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            if e.kind() != io::ErrorKind::Interrupted {
                self.failure = Some(io::Error::new(e.kind(), e.to_string()));
            }
        })
    }
}

impl<R> Tracked<R> {
    /// The reader's own failure if it had one, else damage described by `why`.
    fn failed_or(&mut self, why: &str) -> CheckpointError {
        match self.failure.take() {
            Some(e) => CheckpointError::Io(e),
            None => corrupt(why),
        }
    }
}

/// What the state depends on besides the events: a checkpoint is only valid under the same.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fingerprint {
    seed: u64,
    /// Import granted, live marketing granted, live personalization granted.
    consent: [bool; 3],
    /// Max and window.
    budget: Option<(u32, i64)>,
    /// Each builtin's intent weight (bits), in code order: conditions may read the intent.
    weights: Vec<u64>,
    /// Name and rule version of each moment, in order (state refers to moments by index).
    moments: Vec<(String, String)>,
    /// Whether shoppers carry intent features (a state without them cannot score a model).
    intent_features: bool,
}

impl Fingerprint {
    fn of(config: &EngineConfig, taxonomy: &Taxonomy) -> Fingerprint {
        let c = config.consent;
        Fingerprint {
            seed: config.seed,
            consent: [c.import_granted, c.live_marketing_granted, c.live_personalization_granted],
            budget: config.budget.map(|b| (b.max, b.window_ms)),
            weights: Builtin::ALL.iter().map(|b| taxonomy.info(&Signal::Builtin(*b)).weight.to_bits()).collect(),
            moments: config.moments.iter().map(|m| (m.name.clone(), m.version.clone())).collect(),
            intent_features: config.intent_features,
        }
    }

    /// The first way `self` (saved) differs from `now`, in words.
    fn difference(&self, now: &Fingerprint) -> Option<String> {
        if self.seed != now.seed {
            return Some("the seed changed".into());
        }
        if self.consent != now.consent {
            return Some("the consent defaults changed".into());
        }
        if self.budget != now.budget {
            return Some("the budget changed".into());
        }
        if self.weights != now.weights {
            return Some("the taxonomy's signal weights changed".into());
        }
        for (i, ((was_name, was_version), (name, version))) in self.moments.iter().zip(&now.moments).enumerate() {
            if was_name != name {
                return Some(format!("moment {} was `{was_name}`, now `{name}`", i + 1));
            }
            if was_version != version {
                return Some(format!("moment `{name}` changed (rule version {was_version}, now {version})"));
            }
        }
        if self.moments.len() != now.moments.len() {
            return Some(format!("{} moments, now {}", self.moments.len(), now.moments.len()));
        }
        if self.intent_features != now.intent_features {
            return Some(if now.intent_features { "intent features are now kept (a model is configured)".into() } else { "intent features are no longer kept".into() });
        }
        None
    }
}

/// Product → times of one counted signal, sorted by product.
type RecentOut<'a> = Vec<(&'a str, &'a VecDeque<i64>)>;
type RecentIn = Vec<(String, VecDeque<i64>)>;

/// The state as written: borrowed from the engine. Field for field the same as `StateIn`.
#[derive(Serialize)]
struct StateOut<'a> {
    now_ms: i64,
    condition_errors: u64,
    condition_false: u64,
    timer_seq: u64,
    calendar_armed: &'a [Option<(i64, u64)>],
    timers: TimersOut<'a>,
    shoppers: ShoppersOut<'a>,
    aliases: Vec<(&'a str, &'a str)>,
    wishers: Vec<(&'a str, &'a BTreeSet<String>)>,
    /// Per counted signal (by name, in the configuration's order): product → times.
    recent: Vec<(&'a str, RecentOut<'a>)>,
}

/// Timers, each mirrored as it is written.
struct TimersOut<'a>(&'a std::collections::BTreeMap<(i64, u64), Timer>);

impl Serialize for TimersOut<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|(&(due, seq), t)| SavedTimer::of(due, seq, t)))
    }
}

/// Shoppers sorted by id, each mirrored as it is written: saving never holds a second copy of
/// the state.
struct ShoppersOut<'a>(Vec<(&'a str, &'a ShopperState)>);

impl Serialize for ShoppersOut<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|&(id, s)| SavedShopper::of(id, s)))
    }
}

/// The state as read.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StateIn {
    now_ms: i64,
    condition_errors: u64,
    condition_false: u64,
    timer_seq: u64,
    calendar_armed: Vec<Option<(i64, u64)>>,
    timers: Vec<SavedTimer<'static>>,
    shoppers: Vec<SavedShopper<'static>>,
    aliases: Vec<(String, String)>,
    wishers: Vec<(String, BTreeSet<String>)>,
    recent: Vec<(String, RecentIn)>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedTimer<'a> {
    due: i64,
    seq: u64,
    moment: usize,
    shopper: Cow<'a, str>,
    stamp: i64,
    trigger_id: Option<Cow<'a, str>>,
    deferred: Option<SavedCandidate<'a>>,
}

impl SavedTimer<'_> {
    fn of(due: i64, seq: u64, t: &Timer) -> SavedTimer<'_> {
        let Timer { moment, shopper, stamp, trigger_id, deferred } = t;
        SavedTimer {
            due,
            seq,
            moment: *moment,
            shopper: Cow::Borrowed(shopper),
            stamp: *stamp,
            trigger_id: trigger_id.as_deref().map(Cow::Borrowed),
            deferred: deferred.as_deref().map(SavedCandidate::of),
        }
    }

    fn load(self) -> Result<((i64, u64), Timer), CheckpointError> {
        let timer = Timer {
            moment: self.moment,
            shopper: self.shopper.into_owned(),
            stamp: self.stamp,
            trigger_id: self.trigger_id.map(Cow::into_owned),
            deferred: self.deferred.map(|c| Box::new(c.load())),
        };
        Ok(((self.due, self.seq), timer))
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedCandidate<'a> {
    moment: usize,
    shopper: Cow<'a, str>,
    at: i64,
    values: Vec<(Cow<'a, str>, SavedFact<'a>)>,
    trigger_ids: Cow<'a, [String]>,
    correlation: Option<Cow<'a, str>>,
}

impl SavedCandidate<'_> {
    fn of(c: &Candidate) -> SavedCandidate<'_> {
        let Candidate { moment, shopper, at, values, trigger_ids, correlation } = c;
        SavedCandidate {
            moment: *moment,
            shopper: Cow::Borrowed(shopper),
            at: *at,
            values: values.iter().map(|(k, v)| (Cow::Borrowed(k.as_str()), SavedFact::of(v))).collect(),
            trigger_ids: Cow::Borrowed(trigger_ids),
            correlation: correlation.as_deref().map(Cow::Borrowed),
        }
    }

    fn load(self) -> Candidate {
        Candidate {
            moment: self.moment,
            shopper: self.shopper.into_owned(),
            at: self.at,
            values: self.values.into_iter().map(|(k, v)| (k.into_owned(), v.load())).collect(),
            trigger_ids: self.trigger_ids.into_owned(),
            correlation: self.correlation.map(Cow::into_owned),
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
enum SavedFact<'a> {
    /// Bits of the number.
    Num(u64),
    Text(Cow<'a, str>),
    Bool(bool),
}

impl SavedFact<'_> {
    fn of(f: &Fact) -> SavedFact<'_> {
        match f {
            Fact::Num(n) => SavedFact::Num(n.to_bits()),
            Fact::Text(t) => SavedFact::Text(Cow::Borrowed(t)),
            Fact::Bool(b) => SavedFact::Bool(*b),
        }
    }

    fn load(self) -> Fact {
        match self {
            SavedFact::Num(bits) => Fact::Num(f64::from_bits(bits)),
            SavedFact::Text(t) => Fact::Text(t.into_owned()),
            SavedFact::Bool(b) => Fact::Bool(b),
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedShopper<'a> {
    id: Cow<'a, str>,
    profile: SavedProfile<'a>,
    /// (moment, correlation hash, time, sent rather than held out) of recent `sent` and
    /// `holdout` firings, oldest first.
    counted: Vec<(u16, u64, i64, bool)>,
    armed: Cow<'a, [(u16, (i64, u64))]>,
    /// Intent features (`glint-intent`'s own serialisation, floats as bits).
    intent: Option<Cow<'a, IntentTrack>>,
    /// Intent stage after the session's last event: 0 curiosity, 1 consideration, 2 readiness.
    stage: Option<u8>,
}

const STAGES: [IntentStage; 3] = [IntentStage::Curiosity, IntentStage::Consideration, IntentStage::Readiness];

impl SavedShopper<'_> {
    fn of<'a>(id: &'a str, s: &'a ShopperState) -> SavedShopper<'a> {
        let ShopperState { profile, counted, armed, intent, stage } = s;
        SavedShopper {
            id: Cow::Borrowed(id),
            profile: SavedProfile::of(profile),
            counted: counted.iter().map(|&Counted { moment, key, at, sent }| (moment, key, at, sent)).collect(),
            armed: Cow::Borrowed(armed),
            intent: intent.as_deref().map(Cow::Borrowed),
            stage: stage.and_then(|st| STAGES.iter().position(|s| *s == st)).map(|i| i as u8),
        }
    }

    fn load(self) -> Result<(String, ShopperState), CheckpointError> {
        let stage = match self.stage {
            None => None,
            Some(i) => Some(*STAGES.get(usize::from(i)).ok_or_else(|| corrupt(format!("unknown intent stage {i}")))?),
        };
        let state = ShopperState {
            profile: self.profile.load()?,
            counted: self.counted.into_iter().map(|(moment, key, at, sent)| Counted { moment, key, at, sent }).collect(),
            armed: self.armed.into_owned(),
            intent: self.intent.map(|t| Box::new(t.into_owned())),
            stage,
        };
        Ok((self.id.into_owned(), state))
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedSession<'a> {
    client_id: Option<Cow<'a, str>>,
    start_ms: i64,
    last_ms: i64,
    counts: Cow<'a, [u32]>,
    first_view_ms: Option<i64>,
    referrer: u8,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedCartLine<'a> {
    product_id: Option<Cow<'a, str>>,
    quantity: u64,
    price: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedProfile<'a> {
    first_seen_ms: i64,
    last_seen_ms: i64,
    sessions: u32,
    session: SavedSession<'a>,
    lifetime: Cow<'a, [u32]>,
    /// Sorted by signal name.
    custom: Vec<(Cow<'a, str>, u32)>,
    cart: Vec<SavedCartLine<'a>>,
    cart_activity_ms: Option<i64>,
    wishlist: Cow<'a, [String]>,
    recent_views: Cow<'a, [String]>,
    orders: u32,
    revenue: u64,
    tier: Option<Cow<'a, str>>,
    points: Option<u64>,
    birthday: Option<Cow<'a, str>>,
    renewal_date: Option<Cow<'a, str>>,
    timezone: Option<Cow<'a, str>>,
    device: u8,
    consent: Cow<'a, [(String, bool)]>,
    imported: bool,
    nudges: u32,
}

fn borrowed(s: &Option<String>) -> Option<Cow<'_, str>> {
    s.as_deref().map(Cow::Borrowed)
}

fn owned(s: Option<Cow<'_, str>>) -> Option<String> {
    s.map(Cow::into_owned)
}

impl SavedProfile<'_> {
    // Destructured field by field, here and in `load`: a field added to `Profile` or
    // `Session` fails to compile until the checkpoint carries it.
    fn of(p: &Profile) -> SavedProfile<'_> {
        let Profile {
            first_seen_ms,
            last_seen_ms,
            sessions,
            session,
            lifetime,
            custom,
            cart,
            cart_activity_ms,
            wishlist,
            recent_views,
            orders,
            revenue,
            tier,
            points,
            birthday,
            renewal_date,
            timezone,
            device,
            consent,
            imported,
            nudges,
        } = p;
        let Session { client_id, start_ms, last_ms, counts, first_view_ms, referrer } = session;
        let mut custom: Vec<(Cow<'_, str>, u32)> = custom.iter().map(|(k, n)| (Cow::Borrowed(&**k), *n)).collect();
        custom.sort_unstable();
        SavedProfile {
            first_seen_ms: *first_seen_ms,
            last_seen_ms: *last_seen_ms,
            sessions: *sessions,
            session: SavedSession {
                client_id: borrowed(client_id),
                start_ms: *start_ms,
                last_ms: *last_ms,
                counts: Cow::Owned(counts.dense()),
                first_view_ms: *first_view_ms,
                referrer: *referrer as u8,
            },
            lifetime: Cow::Owned(lifetime.dense()),
            custom,
            cart: cart
                .iter()
                .map(|CartLine { product_id, quantity, price }| SavedCartLine { product_id: borrowed(product_id), quantity: quantity.to_bits(), price: price.to_bits() })
                .collect(),
            cart_activity_ms: *cart_activity_ms,
            wishlist: Cow::Borrowed(wishlist),
            recent_views: Cow::Borrowed(recent_views),
            orders: *orders,
            revenue: revenue.to_bits(),
            tier: borrowed(tier),
            points: points.map(f64::to_bits),
            birthday: borrowed(birthday),
            renewal_date: borrowed(renewal_date),
            timezone: borrowed(timezone),
            device: *device as u8,
            consent: Cow::Borrowed(consent),
            imported: *imported,
            nudges: *nudges,
        }
    }

    fn load(self) -> Result<Profile, CheckpointError> {
        // The log codes read back leniently (unknown → Unknown); a checkpoint must round-trip.
        let device = DeviceType::from_code(self.device);
        let referrer = ReferrerClass::from_code(self.session.referrer);
        if device as u8 != self.device || referrer as u8 != self.session.referrer {
            return Err(corrupt(format!("unknown device {} or referrer {} code", self.device, self.session.referrer)));
        }
        let s = self.session;
        let mut custom = HashMap::with_capacity(self.custom.len());
        for (name, n) in self.custom {
            if custom.insert(name.into_owned().into_boxed_str(), n).is_some() {
                return Err(corrupt("a custom signal is counted twice"));
            }
        }
        Ok(Profile {
            first_seen_ms: self.first_seen_ms,
            last_seen_ms: self.last_seen_ms,
            sessions: self.sessions,
            session: Session {
                client_id: owned(s.client_id),
                start_ms: s.start_ms,
                last_ms: s.last_ms,
                counts: crate::profile::SignalCounts::from_dense(&s.counts),
                first_view_ms: s.first_view_ms,
                referrer,
            },
            lifetime: crate::profile::SignalCounts::from_dense(&self.lifetime),
            custom,
            cart: self
                .cart
                .into_iter()
                .map(|l| CartLine { product_id: owned(l.product_id), quantity: f64::from_bits(l.quantity), price: f64::from_bits(l.price) })
                .collect(),
            cart_activity_ms: self.cart_activity_ms,
            wishlist: self.wishlist.into_owned(),
            recent_views: self.recent_views.into_owned(),
            orders: self.orders,
            revenue: f64::from_bits(self.revenue),
            tier: owned(self.tier),
            points: self.points.map(f64::from_bits),
            birthday: owned(self.birthday),
            renewal_date: owned(self.renewal_date),
            timezone: owned(self.timezone),
            device,
            consent: self.consent.into_owned(),
            imported: self.imported,
            nudges: self.nudges,
        })
    }
}

/// The decompressed state of a checkpoint, for tests that look inside.
#[cfg(test)]
pub(crate) fn state_bytes(checkpoint: &[u8]) -> Vec<u8> {
    let n = u32::from_le_bytes([checkpoint[12], checkpoint[13], checkpoint[14], checkpoint[15]]) as usize;
    zstd::stream::decode_all(&checkpoint[HEADER_LEN + n..]).expect("a whole checkpoint decompresses")
}
