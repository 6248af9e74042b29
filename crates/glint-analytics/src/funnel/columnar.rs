//! The columnar funnel scan, `glint funnel`'s hot path.
//!
//! It reads each segment's columns — shopper, time, signal and the breakdown property — from
//! the log's column files ([`glint_log::ColumnSource`]; segments without usable ones, and the
//! active segment, are decoded from their rows by the log), on `threads` threads, and feeds
//! the very per-shopper evaluation the row scan ([`FunnelBuilder`](super::FunnelBuilder))
//! uses, so the answers are the same; a proptest in `tests.rs` checks that on random logs.
//!
//! Three phases:
//!
//! 1. **Gather**, in parallel over segments: keep only the events whose signal is a step or
//!    an exclusion (in `strict`, every event with a shopper: any other event can stop a
//!    chain), as [`Hit`]s beside a segment-local *slot* for their shopper. A shopper's slot
//!    lives in one of `P` partitions, chosen by the 128-bit xxh3 hash of their key.
//! 2. **Group**, in parallel over partitions: number the partition's shoppers by key hash,
//!    count hits per shopper, and place them shopper by shopper (a counting sort), visiting
//!    segments in id order so that each shopper's hits keep the log's order; equal
//!    (second, step) hits then tie-break on milliseconds and that order exactly as the row
//!    scan reads them, which decides the breakdown value of a chain's first event.
//! 3. **Evaluate** each shopper with `eval::evaluate_into` (no allocation per shopper) into
//!    the partition's [`Tallies`], which merge at the end.
//!
//! Shoppers are told apart by the xxh3-128 hash of their key: two keys share a hash with
//! probability about n²/2¹²⁹ (below 10⁻²⁵ for a million shoppers), the same trust the log puts
//! in hashes for suppression.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use glint_event::{DeviceType, ReferrerClass, Signal};
use glint_log::{ColumnOrigin, ColumnReader, ColumnSet, ColumnSource, Log, NO_ID, RowsBecause, SegmentColumns};

use super::eval::{self, Hit, Plan};
use super::{Breakdown, FunnelError, FunnelReport, FunnelSpec, Mode, RoleTable, STAGES, Tallies, deepest_recent, locale_region, stage_rank};

/// The step of a hit that is an excluded event (steps are 1 to 64; 0 is an unrelated event).
const EXCLUDED: u8 = u8::MAX;
/// The step of a hit that only marks a middle or bottom stage event for `--by funnel_stage`
/// (its group is the stage's rank); it is dropped before evaluation.
const STAGE_MARK: u8 = u8::MAX - 1;
/// A shopper not yet given a slot in this segment.
const UNSEEN: u32 = u32::MAX;
/// A shopper's slot word: partition in the top byte, slot in the low 24 bits (a segment holds
/// far fewer than 2^24 shoppers: `SEGMENT_BYTES_MAX` / the smallest record).
const SLOT_BITS: u32 = 24;
/// Partitions per thread: enough that a thread finishing early finds more work.
const PARTITIONS_PER_THREAD: usize = 4;

/// The answer of a columnar scan, and how it was read.
#[derive(Clone, Debug, PartialEq)]
pub struct ColumnScan {
    /// The funnel.
    pub report: FunnelReport,
    /// Events read.
    pub events: u64,
    /// Segments read.
    pub segments: usize,
    /// Segments decoded from rows instead of columns, and why.
    pub from_rows: Vec<(u64, RowsBecause)>,
}

/// Answer `spec` over `log` with the columnar scan on `threads` threads (at least one).
///
/// # Errors
/// [`FunnelError::Log`] when a segment's rows cannot be read; the name checks of
/// [`FunnelBuilder::finish`](super::FunnelBuilder::finish).
///
/// # Panics
/// If `spec` breaks down by a property the column files do not hold
/// ([`Breakdown::in_columns`]): the caller uses the row scan for those.
pub fn scan_columns(spec: &FunnelSpec, log: &Log, threads: usize) -> Result<ColumnScan, FunnelError> {
    assert!(spec.by.is_none_or(Breakdown::in_columns), "breakdowns outside the columns take the row scan");
    let threads = threads.max(1);
    let ctx = Ctx::new(spec, threads * PARTITIONS_PER_THREAD);
    let sources = log.column_sources();
    let gathered = gather_all(&ctx, &sources, threads)?;

    let mut seen = vec![false; ctx.table.n_custom];
    let mut names: Vec<&str> = Vec::new();
    for g in &gathered {
        for (mine, theirs) in seen.iter_mut().zip(&g.custom_seen) {
            *mine |= *theirs;
        }
        names.extend(g.custom_names.iter().map(|n| &**n));
    }
    names.sort_unstable();
    names.dedup();
    ctx.table.check_names(spec, &seen, names.iter().copied())?;

    let next = AtomicUsize::new(0);
    let tallies: Vec<Tallies> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut t = Tallies::new(spec.steps.len(), spec.by.is_some());
                    let mut scratch = Settle::default();
                    loop {
                        let p = next.fetch_add(1, Ordering::Relaxed);
                        if p >= ctx.partitions {
                            return t;
                        }
                        settle(&ctx, &gathered, p, &mut scratch, &mut t);
                    }
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
    });
    let mut total = Tallies::new(spec.steps.len(), spec.by.is_some());
    for t in tallies {
        total.merge(t);
    }
    let names = ctx.groups.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner).names;
    let report = total.report(spec, |g| names.get(g as usize).cloned().unwrap_or_default());
    let from_rows = gathered.iter().filter_map(|g| match &g.origin {
        ColumnOrigin::Rows(why) => Some((g.segment, why.clone())),
        _ => None,
    });
    Ok(ColumnScan { report, events: gathered.iter().map(|g| g.events).sum(), segments: gathered.len(), from_rows: from_rows.collect() })
}

/// What every phase needs to know of the funnel.
struct Ctx<'a> {
    spec: &'a FunnelSpec,
    table: RoleTable,
    plan: Plan,
    partitions: usize,
    want: ColumnSet,
    /// Breakdown values by name, shared by the gathering threads (each segment takes the lock
    /// once, to map its own dictionary).
    groups: Mutex<GroupNames>,
    /// `--by funnel_stage`: the group id of each stage, by rank. Hits carry the rank of their
    /// own signal's stage until [`settle`] replaces it with the shopper's deepest recent one.
    stage_groups: [u32; 3],
}

#[derive(Default)]
struct GroupNames {
    ids: HashMap<String, u32>,
    names: Vec<String>,
}

impl GroupNames {
    fn id(&mut self, name: &str) -> u32 {
        if let Some(id) = self.ids.get(name) {
            return *id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.to_string());
        self.ids.insert(name.to_string(), id);
        id
    }
}

impl<'a> Ctx<'a> {
    fn new(spec: &'a FunnelSpec, partitions: usize) -> Ctx<'a> {
        let want = ColumnSet {
            device: spec.by == Some(Breakdown::Device),
            referrer_class: spec.by == Some(Breakdown::ReferrerClass),
            locale: spec.by == Some(Breakdown::Country),
        };
        assert!(partitions < 255, "a partition number fits the slot word's top byte beside UNSEEN");
        let mut groups = GroupNames::default();
        let stage_groups = STAGES.map(|s| groups.id(s.as_str()));
        Ctx { table: RoleTable::new(spec), plan: Plan::new(&spec.steps, spec.window_s, spec.mode), partitions, want, groups: Mutex::new(groups), stage_groups, spec }
    }

    /// The hits one event of `signal` makes: its steps; `EXCLUDED`; in `strict`, step 0 for
    /// any other signal; nothing otherwise.
    fn steps_of(&self, signal: &Signal) -> Vec<u8> {
        match self.table.of(signal) {
            None if self.spec.mode == Mode::Strict => vec![0],
            None => Vec::new(),
            Some(r) => {
                let role = &self.table.roles[usize::from(r)];
                if role.exclude {
                    vec![EXCLUDED]
                } else if self.spec.mode == Mode::Any {
                    vec![role.any_class]
                } else {
                    role.steps.clone()
                }
            }
        }
    }
}

/// One segment's hits, by partition.
struct Gathered {
    segment: u64,
    origin: ColumnOrigin,
    events: u64,
    /// Per partition: hits, and beside each the slot of its shopper.
    hits: Vec<Vec<Hit>>,
    slots: Vec<Vec<u32>>,
    /// Per partition, per slot: the shopper's key hash.
    keys: Vec<Vec<u128>>,
    /// Per custom step or exclusion: whether this segment holds its signal.
    custom_seen: Vec<bool>,
    /// Custom signals in this segment.
    custom_names: Vec<Box<str>>,
}

fn gather_all(ctx: &Ctx<'_>, sources: &[ColumnSource], threads: usize) -> Result<Vec<Gathered>, FunnelError> {
    // Slowest first: segments read from rows (active ones), then the biggest.
    let mut order: Vec<usize> = (0..sources.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(sources[i].events().unwrap_or(u64::MAX)));
    let next = AtomicUsize::new(0);
    let results: Vec<Vec<(usize, Result<Gathered, FunnelError>)>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.min(sources.len().max(1)))
            .map(|_| {
                scope.spawn(|| {
                    let mut out = Vec::new();
                    let mut w = Worker::default();
                    loop {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&i) = order.get(k) else { return out };
                        out.push((i, gather(ctx, &sources[i], &mut w)));
                    }
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
    });
    let mut all: Vec<(usize, Result<Gathered, FunnelError>)> = results.into_iter().flatten().collect();
    all.sort_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, g)| g).collect()
}

/// Per event of a segment, the id of its breakdown value.
fn group_table(ctx: &Ctx<'_>, c: &SegmentColumns) -> Vec<u32> {
    let Some(by) = ctx.spec.by else { return Vec::new() };
    let mut groups = ctx.groups.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    match by {
        Breakdown::Device => (0..=u8::MAX).map(|code| groups.id(DeviceType::from_code(code).as_str())).collect(),
        Breakdown::ReferrerClass => (0..=u8::MAX).map(|code| groups.id(ReferrerClass::from_code(code).as_str())).collect(),
        // Locale ids, then one more entry for "no locale".
        Breakdown::Country => c.locales.iter().map(|l| locale_region(l).unwrap_or("unknown")).chain(["unknown"]).map(|r| groups.id(r)).collect(),
        // Not a group id yet: the rank, resolved per shopper in `settle`.
        Breakdown::FunnelStage => c.signals.iter().map(|s| stage_rank(ctx.spec.taxonomy.info(s).stage) as u32).collect(),
        _ => unreachable!("checked by scan_columns: only breakdowns in the columns"),
    }
}

/// What one gathering thread reuses from segment to segment.
#[derive(Default)]
struct Worker {
    reader: ColumnReader,
    cols: SegmentColumns,
    /// Per shopper id of the segment: its slot word, or `UNSEEN`.
    slot_of: Vec<u32>,
    hashes: Vec<u128>,
    /// Hits per event in the thread's last segment, to size the next one's vectors.
    hits_per_event: f64,
}

fn gather(ctx: &Ctx<'_>, src: &ColumnSource, w: &mut Worker) -> Result<Gathered, FunnelError> {
    src.read_into(ctx.want, &mut w.reader, &mut w.cols)?;
    let c = &w.cols;
    // Per signal id: its hits' steps, flat (first, count), so the loop below reads two bytes.
    let acts: Vec<Vec<u8>> = c.signals.iter().map(|s| ctx.steps_of(s)).collect();
    let act_count: Vec<u8> = acts.iter().map(|a| a.len() as u8).collect();
    let act_first: Vec<u8> = acts.iter().map(|a| a.first().copied().unwrap_or(0)).collect();
    let mut custom_seen = vec![false; ctx.table.n_custom];
    let mut custom_names = Vec::new();
    for s in &c.signals {
        if let Signal::Custom(name) = s {
            custom_names.push(name.clone());
            if let Some(k) = ctx.table.of(s).and_then(|r| ctx.table.roles[usize::from(r)].custom) {
                custom_seen[k] = true;
            }
        }
    }
    let table = group_table(ctx, c);
    let no_locale = c.locales.len();
    let group_of = |i: usize| -> u32 {
        match ctx.spec.by {
            None => 0,
            Some(Breakdown::Device) => table[usize::from(c.device[i])],
            Some(Breakdown::ReferrerClass) => table[usize::from(c.referrer_class[i])],
            Some(Breakdown::Country) => table[if c.locale[i] == NO_ID { no_locale } else { c.locale[i] as usize }],
            Some(Breakdown::FunnelStage) => table[c.signal[i] as usize],
            Some(_) => 0,
        }
    };
    let p_count = ctx.partitions;
    // Sized from the last segment, so the vectors seldom grow (a grown vector is a copy and
    // fresh pages).
    let expect = (c.len() as f64 * w.hits_per_event * 1.1 / p_count as f64) as usize;
    let mut hits: Vec<Vec<Hit>> = (0..p_count).map(|_| Vec::with_capacity(expect)).collect();
    let mut slots: Vec<Vec<u32>> = (0..p_count).map(|_| Vec::with_capacity(expect)).collect();
    let mut keys: Vec<Vec<u128>> = (0..p_count).map(|_| Vec::new()).collect();
    w.slot_of.clear();
    w.slot_of.resize(c.shoppers.len(), UNSEEN);
    // One pass over the dictionary, in order: cheaper than hashing names as shoppers appear.
    w.hashes.clear();
    w.hashes.extend(c.shoppers.iter().map(|name| xxhash_rust::xxh3::xxh3_128(name.as_bytes())));
    let mut n_hits = 0usize;
    let marks = ctx.spec.by == Some(Breakdown::FunnelStage);
    for (i, (&sid, &s)) in c.signal.iter().zip(&c.shopper).enumerate() {
        let mut count = act_count[sid as usize];
        if s == NO_ID {
            continue;
        }
        // Any other event deeper than `top` marks the shopper's stage: one hit more.
        let mark = count == 0 && marks && table[sid as usize] > 0;
        if count == 0 && !mark {
            continue;
        }
        let si = s as usize;
        let mut word = w.slot_of[si];
        if word == UNSEEN {
            let h = w.hashes[si];
            // The high half picks the partition, the low half feeds the shopper map.
            let p = ((h >> 64) as u64 % p_count as u64) as usize;
            word = ((p as u32) << SLOT_BITS) | keys[p].len() as u32;
            keys[p].push(h);
            w.slot_of[si] = word;
        }
        let (p, slot) = ((word >> SLOT_BITS) as usize, word & ((1 << SLOT_BITS) - 1));
        let group = group_of(i);
        let time_ms = c.time_ms[i];
        if mark {
            hits[p].push(Hit::at(time_ms, STAGE_MARK, group));
            slots[p].push(slot);
            count = 1;
        } else if count == 1 {
            hits[p].push(Hit::at(time_ms, act_first[sid as usize], group));
            slots[p].push(slot);
        } else {
            for &k in &acts[sid as usize] {
                hits[p].push(Hit::at(time_ms, k, group));
                slots[p].push(slot);
            }
        }
        n_hits += usize::from(count);
    }
    let events = c.len() as u64;
    w.hits_per_event = n_hits as f64 / (events.max(1) as f64);
    Ok(Gathered { segment: c.segment, origin: c.origin.clone(), events, hits, slots, keys, custom_seen, custom_names })
}

/// Buffers one thread reuses across partitions.
#[derive(Default)]
struct Settle {
    scratch: eval::Scratch,
    start: Vec<usize>,
    fill: Vec<usize>,
    all: Vec<Hit>,
    exclusions: Vec<i64>,
    gids: Vec<Vec<u32>>,
}

/// Group partition `p`'s hits by shopper and evaluate each shopper into `tally`.
fn settle(ctx: &Ctx<'_>, gathered: &[Gathered], p: usize, b: &mut Settle, tally: &mut Tallies) {
    let mut ids: HashMap<u128, u32, foldhash::fast::RandomState> = HashMap::default();
    b.gids.resize_with(gathered.len(), Vec::new);
    for (g, gids) in gathered.iter().zip(&mut b.gids) {
        gids.clear();
        for &h in &g.keys[p] {
            let next = ids.len() as u32;
            gids.push(*ids.entry(h).or_insert(next));
        }
    }
    let n = ids.len();
    drop(ids);
    b.start.clear();
    b.start.resize(n + 1, 0);
    for (g, gids) in gathered.iter().zip(&b.gids) {
        for &slot in &g.slots[p] {
            b.start[gids[slot as usize] as usize + 1] += 1;
        }
    }
    for i in 0..n {
        b.start[i + 1] += b.start[i];
    }
    b.fill.clear();
    b.fill.extend_from_slice(&b.start[..n]);
    b.all.clear();
    b.all.resize(b.start[n], Hit { sec: 0, group: 0, ms: 0, step: 0 });
    // Segments in id order, each in its own order: every shopper's hits in the log's order.
    for (g, gids) in gathered.iter().zip(&b.gids) {
        for (hit, &slot) in g.hits[p].iter().zip(&g.slots[p]) {
            let at = &mut b.fill[gids[slot as usize] as usize];
            b.all[*at] = *hit;
            *at += 1;
        }
    }
    let has_exclusions = !ctx.spec.exclude.is_empty();
    let stages = ctx.spec.by == Some(Breakdown::FunnelStage);
    for i in 0..n {
        let hits = &mut b.all[b.start[i]..b.start[i + 1]];
        if stages {
            // In the log's order — time, then ingest: segments may overlap in time, and a
            // stable sort of hits gathered in segment order restores it — each hit's group
            // becomes the deepest stage the shopper reached within the lookback, its own
            // event included, as the row scan computes it.
            hits.sort_by_key(|h| (h.sec, h.ms));
            let mut last = [i64::MIN; 3];
            for h in hits.iter_mut() {
                let ms = h.sec * 1000 + i64::from(h.ms);
                last[h.group as usize] = ms;
                h.group = ctx.stage_groups[deepest_recent(&last, ms, ctx.spec.stage_lookback_ms)];
            }
        }
        let kept = if has_exclusions || stages {
            // Excluded events apart, ascending; marks dropped; step hits compacted in order.
            b.exclusions.clear();
            let mut w = 0;
            for r in 0..hits.len() {
                let h = hits[r];
                if h.step == EXCLUDED {
                    b.exclusions.push(h.sec);
                } else if h.step != STAGE_MARK {
                    hits[w] = h;
                    w += 1;
                }
            }
            b.exclusions.sort_unstable();
            w
        } else {
            hits.len()
        };
        if let Some((reached, group)) = eval::evaluate_into(&ctx.plan, &mut hits[..kept], &b.exclusions, &mut b.scratch) {
            tally.add(reached, &b.scratch.out_times, group);
        }
    }
}
