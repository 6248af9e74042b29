//! Glint's event log: the ground truth every other part of Glint derives from.
//!
//! [`Log`] is the single writer: [`Log::append`] encodes a batch into the active segment and
//! answers, per event, whether it was stored, a duplicate (its message id was seen before, also
//! across restarts) or suppressed (its shopper was erased); [`Log::sync`] makes everything
//! appended durable with one `fsync` — the server calls it once per group of concurrent
//! requests and acknowledges only after it returns. [`Log::scan`] reads events back in a stable
//! order: event time, then ingest order; [`Log::scan_after_seq`] reads, in the same order, only
//! what was appended after a sequence number, so a reader that saved its state at
//! [`Log::last_seq`] resumes from there ([`Scan::next_with_seq`] tells each event's number).
//! [`Log::erase`] removes a shopper from disk and suppresses them; [`Log::apply_retention`]
//! drops old events.
//!
//! ```
//! use glint_event::{Event, Signal, Builtin, Source};
//! let dir = tempfile::tempdir().unwrap();
//! let mut log = glint_log::Log::open(dir.path(), glint_log::LogOptions::default()).unwrap();
//! let mut e = Event::new("m1".into(), 1_000, Signal::Builtin(Builtin::ProductViewed), Source::Segment);
//! e.user_id = Some("u1".into());
//! let outcome = log.append(vec![e.clone(), e]).unwrap();
//! log.sync().unwrap(); // only now may the client be told "accepted"
//! assert_eq!(outcome.stored, 1);
//! assert_eq!(outcome.duplicates, 1);
//! let events: Vec<_> = log.scan(..).unwrap().collect::<Result<_, _>>().unwrap();
//! assert_eq!(events.len(), 1);
//! ```
//!
//! Architecture invariants: an append is acknowledged only after `fsync`; every checksum is
//! verified on read and in recovery; recovery cuts a torn tail without losing a whole record
//! before it and refuses a corrupt middle; sequence numbers never go backwards; an `fsync`
//! failure poisons the log (later calls fail) because the kernel may have dropped the pages.
//! The on-disk layout is documented in `segment.rs`.

mod codec;
mod columns;
mod scan;
mod segment;

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};

use glint_event::Event;
use glint_event::limits::SEGMENT_BYTES_MAX;

pub use columns::{ColumnOrigin, ColumnReader, ColumnSet, Dictionary, NO_ID, RowsBecause, SegmentColumns};
pub use scan::Scan;
use segment::{ActiveSegment, SealedSegment, SegmentMeta, Tail, id_hash, sync_dir};

/// What went wrong in the log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The operating system refused a read, write, fsync, rename or lock.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A segment's bytes fail their checksums or structure somewhere other than a torn tail.
    #[error("{path}: corrupt at byte {offset}: {why}; refusing to guess (move the file aside to start without it)")]
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// Byte offset of the first bad frame.
        offset: u64,
        /// What check failed.
        why: String,
    },
    /// A segment written by a newer (or unknown) format version.
    #[error("{path}: log format version {found}, this build reads version {supported}")]
    Version {
        /// The segment file.
        path: PathBuf,
        /// Version in the file.
        found: u16,
        /// Version this build reads.
        supported: u16,
    },
    /// Another process holds the log's write lock.
    #[error("{0}: another glint process is writing to this data directory")]
    Locked(PathBuf),
    /// A previous fsync failed; the log refuses writes until it is reopened.
    #[error("the log is poisoned by an earlier failed fsync; restart to recover from disk")]
    Poisoned,
}

impl Error {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Error {
        Error::Io { path: path.to_path_buf(), source }
    }
}

/// Options for opening a log.
#[derive(Clone, Debug)]
pub struct LogOptions {
    /// Seal the active segment when it grows past this many bytes (at most `SEGMENT_BYTES_MAX`).
    pub segment_bytes_max: u64,
    /// Share of one core background sealing may use, in (0, 1]. A server lowers it so sealing
    /// never starves request handling on a small machine; batch imports keep 1.
    pub seal_cpu_share: f64,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions { segment_bytes_max: SEGMENT_BYTES_MAX, seal_cpu_share: 1.0 }
    }
}

/// What happened to each event of an appended batch, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppendStatus {
    /// Written, with this sequence number.
    Stored(u64),
    /// Its message id was stored before: not written again.
    Duplicate,
    /// Its shopper was erased: not written.
    Suppressed,
}

/// Totals of one append.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AppendOutcome {
    /// Per event, in order.
    pub statuses: Vec<AppendStatus>,
    /// Events written.
    pub stored: usize,
    /// Events skipped as duplicates.
    pub duplicates: usize,
    /// Events skipped because their shopper is erased.
    pub suppressed: usize,
    /// Bytes appended to the active segment.
    pub bytes: u64,
}

/// What recovery found when the log was opened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Bytes cut from a torn tail of the active segment (never an acknowledged record).
    pub torn_bytes_cut: u64,
    /// Leftover files from an interrupted seal, erase or retention that were removed.
    pub leftovers_removed: usize,
}

/// The receipt of an erasure, also written as JSON under `erasures/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Erasure {
    /// Events removed from disk.
    pub events_removed: u64,
    /// Segments rewritten (or deleted when nothing else was in them).
    pub segments_rewritten: usize,
    /// Shopper ids linked to the erased one (anonymous ids, aliases) that were erased too.
    pub linked_ids: usize,
    /// Where the receipt was written.
    pub receipt: PathBuf,
    /// The erased ids (the shopper's and the linked ones), for the stores beyond the log:
    /// the engine's state and the webhook outbox.
    pub ids: Vec<String>,
}

/// What retention removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Retention {
    /// Events removed.
    pub events_removed: u64,
    /// Segments deleted outright.
    pub segments_deleted: usize,
    /// Segments rewritten without their old events.
    pub segments_rewritten: usize,
}

/// Sizes and counts, for stats and metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogSummary {
    /// Events stored.
    pub events: u64,
    /// Sealed segments.
    pub sealed_segments: usize,
    /// Bytes of sealed segments on disk.
    pub sealed_bytes: u64,
    /// Events in sealed segments.
    pub sealed_events: u64,
    /// Bytes of the active segment.
    pub active_bytes: u64,
    /// Earliest event time, if any event.
    pub first_ms: Option<i64>,
    /// Latest event time, if any event.
    pub last_ms: Option<i64>,
}

/// The event log of one data directory. One writer per directory (a lock file enforces it).
#[derive(Debug)]
pub struct Log {
    dir: PathBuf,
    seg_dir: PathBuf,
    options: LogOptions,
    sealed: BTreeMap<u64, SealedSegment>,
    active: Option<ActiveSegment>,
    ids: HashSet<u64, IdHasher>,
    suppressed: HashSet<u128, IdHasher>,
    secret: u64,
    next_seq: u64,
    /// The last sequence number recorded in `SEQ_FILE`.
    seq_recorded: u64,
    next_segment: u64,
    poisoned: bool,
    recovery: Recovery,
    /// Active segments seen by a read-only open (the writer owns them).
    readonly_active: Vec<(u64, Vec<segment::RawRecord>)>,
    /// Full active segments being sealed on background threads, oldest first.
    sealing: Vec<Sealing>,
    _lock: Option<File>,
}

/// The de-duplication set holds 64-bit xxh3 hashes of message ids (and the suppression set
/// keyed 128-bit hashes): they are uniformly distributed already, so hashing them again is
/// wasted work. This hasher passes the low 64 bits through.
#[derive(Clone, Copy, Debug, Default)]
struct IdHasher;

impl std::hash::BuildHasher for IdHasher {
    type Hasher = PassThrough;
    fn build_hasher(&self) -> PassThrough {
        PassThrough(0)
    }
}

#[derive(Debug)]
struct PassThrough(u64);

impl std::hash::Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only reached for types other than u64/u128; fold them in.
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
    fn write_u128(&mut self, v: u128) {
        self.0 = v as u64;
    }
}

/// A full active segment being sealed off the writer's path: its file stays in place (and in
/// scans) until the sealed copy is installed, so a crash at any point recovers as from an
/// interrupted seal.
#[derive(Debug)]
struct Sealing {
    meta: SegmentMeta,
    path: PathBuf,
    handle: std::thread::JoinHandle<Result<SealedSegment, Error>>,
}

/// Seals in flight at most; a writer that outpaces sealing waits for the oldest, so memory
/// stays bounded.
const SEALING_MAX: usize = 2;

const SUPPRESSED_FILE: &str = "suppressed.list";
/// The highest sequence number assigned, recorded before erasure or retention removes events:
/// the segments alone would forget it if the newest events went, and a reused number would
/// hide new events from a reader resuming after it (`scan_after_seq`).
const SEQ_FILE: &str = "seq.max";
const SECRET_FILE: &str = "secret";

impl Log {
    /// Open (creating if needed) the log in `dir`, taking its write lock and recovering from
    /// any crash: torn tails are cut, interrupted seals finished or undone.
    ///
    /// # Errors
    /// On I/O errors, corruption other than a torn tail, an unknown format version, or when
    /// another process holds the lock.
    pub fn open(dir: &Path, options: LogOptions) -> Result<Log, Error> {
        Self::open_inner(dir, options, true)
    }

    /// Open for reading only, alongside a running writer: no lock, no repairs; a torn tail
    /// is ignored rather than cut. Appends on a read-only log fail.
    ///
    /// # Errors
    /// As [`Log::open`], except for the lock.
    pub fn open_read_only(dir: &Path) -> Result<Log, Error> {
        Self::open_inner(dir, LogOptions::default(), false)
    }

    fn open_inner(dir: &Path, options: LogOptions, writable: bool) -> Result<Log, Error> {
        let seg_dir = dir.join("log");
        let mut lock = None;
        if writable {
            fs::create_dir_all(&seg_dir).map_err(|e| Error::io(&seg_dir, e))?;
            let lock_path = dir.join("LOCK");
            let f = OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path).map_err(|e| Error::io(&lock_path, e))?;
            match f.try_lock() {
                Ok(()) => lock = Some(f),
                Err(std::fs::TryLockError::WouldBlock) => return Err(Error::Locked(dir.to_path_buf())),
                Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(&lock_path, e)),
            }
        } else if !seg_dir.is_dir() {
            return Err(Error::io(&seg_dir, std::io::Error::new(std::io::ErrorKind::NotFound, "no Glint log here (expected a log/ directory)")));
        }
        let mut log = Log {
            dir: dir.to_path_buf(),
            seg_dir: seg_dir.clone(),
            options: LogOptions {
                segment_bytes_max: options.segment_bytes_max.clamp(4096, SEGMENT_BYTES_MAX),
                seal_cpu_share: if options.seal_cpu_share.is_finite() { options.seal_cpu_share.clamp(0.05, 1.0) } else { 1.0 },
            },
            sealed: BTreeMap::new(),
            active: None,
            ids: HashSet::default(),
            suppressed: HashSet::default(),
            secret: 0,
            next_seq: 1,
            seq_recorded: 0,
            next_segment: 1,
            poisoned: false,
            recovery: Recovery::default(),
            readonly_active: Vec::new(),
            sealing: Vec::new(),
            _lock: lock,
        };
        log.secret = log.load_secret(writable)?;
        log.load_suppressed()?;
        log.recover(writable)?;
        log.load_recorded_seq()?;
        Ok(log)
    }

    fn load_secret(&self, writable: bool) -> Result<u64, Error> {
        let path = self.dir.join(SECRET_FILE);
        if let Ok(text) = fs::read_to_string(&path)
            && let Ok(v) = u64::from_str_radix(text.trim(), 16) {
                return Ok(v);
            }
        if !writable {
            return Ok(0);
        }
        // A per-install key for hashing erased shopper ids, so the suppression list does not
        // itself reveal who was erased. RandomState is seeded from the OS.
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
        h.write_u32(std::process::id());
        let secret = h.finish();
        write_durably(&self.dir, &path, format!("{secret:016x}\n").as_bytes())?;
        Ok(secret)
    }

    fn shopper_hash(&self, id: &str) -> u128 {
        xxhash_rust::xxh3::xxh3_128_with_seed(id.as_bytes(), self.secret)
    }

    fn load_suppressed(&mut self) -> Result<(), Error> {
        let path = self.dir.join(SUPPRESSED_FILE);
        let Ok(text) = fs::read_to_string(&path) else { return Ok(()) };
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            match u128::from_str_radix(line.trim(), 16) {
                Ok(h) => {
                    self.suppressed.insert(h);
                }
                Err(_) => return Err(Error::Corrupt { path, offset: 0, why: format!("bad line in suppression list: {line:?}") }),
            }
        }
        Ok(())
    }

    fn load_recorded_seq(&mut self) -> Result<(), Error> {
        let path = self.dir.join(SEQ_FILE);
        let Ok(text) = fs::read_to_string(&path) else { return Ok(()) };
        let recorded = text.trim().parse::<u64>().map_err(|_| Error::Corrupt { path, offset: 0, why: format!("bad sequence number {:?}", text.trim()) })?;
        self.seq_recorded = recorded;
        self.next_seq = self.next_seq.max(recorded.saturating_add(1));
        Ok(())
    }

    /// Record the highest sequence number durably (if it grew) before events are removed.
    fn record_seq(&mut self) -> Result<(), Error> {
        let last = self.last_seq();
        if last > self.seq_recorded {
            write_durably(&self.dir, &self.dir.join(SEQ_FILE), format!("{last}\n").as_bytes())?;
            self.seq_recorded = last;
        }
        Ok(())
    }

    fn recover(&mut self, writable: bool) -> Result<(), Error> {
        let mut actives = Vec::new();
        let mut column_files = Vec::new();
        let entries = fs::read_dir(&self.seg_dir).map_err(|e| Error::io(&self.seg_dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(&self.seg_dir, e))?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".tmp") {
                // An interrupted seal or rewrite: the original is still in place.
                if writable {
                    fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
                    self.recovery.leftovers_removed += 1;
                }
                continue;
            }
            let Some((stem, ext)) = name.split_once('.') else { continue };
            let Ok(id) = stem.parse::<u64>() else { continue };
            match ext {
                "sealed" => {
                    let seg = SealedSegment::open(&path, id)?;
                    self.sealed.insert(id, seg);
                }
                "active" => actives.push((id, path)),
                "cols" => column_files.push(id),
                _ => {}
            }
            self.next_segment = self.next_segment.max(id + 1);
        }
        for id in column_files {
            // Columns outlived their segment (a crash between deleting the two): derived data
            // about nothing, and it may name an erased shopper.
            if writable && !self.sealed.contains_key(&id) && columns::remove(&self.seg_dir, id)? {
                self.recovery.leftovers_removed += 1;
            }
        }
        actives.sort();
        for (id, path) in actives {
            if self.sealed.contains_key(&id) {
                // Crashed after sealing but before removing the active file: the sealed copy
                // is complete (it was renamed into place only after fsync).
                if writable {
                    fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
                    sync_dir(&self.seg_dir)?;
                    self.recovery.leftovers_removed += 1;
                }
                continue;
            }
            let before = fs::metadata(&path).map_err(|e| Error::io(&path, e))?.len();
            let (seg, records, tail) = ActiveSegment::recover(&path, id, writable)?;
            for r in &records.list {
                self.next_seq = self.next_seq.max(r.seq + 1);
            }
            // The de-duplication set serves appends only: a reader skips building it (for a
            // big log that is most of the time a read-only open would take).
            if writable {
                let mut dec = codec::Decoder::default();
                for payload in records.payloads() {
                    let (_, e) = dec.decode(payload).map_err(|d| Error::Corrupt { path: path.clone(), offset: 0, why: d.0.into() })?;
                    self.ids.insert(id_hash(&e.message_id));
                }
            }
            match seg {
                Some(seg) => {
                    if tail != Tail::Clean {
                        self.recovery.torn_bytes_cut += before - seg.len;
                    }
                    if let Some(old) = self.active.replace(seg) {
                        // Two active segments: only after a crash mid-rotation. Seal the older.
                        let newer = self.active.replace(old);
                        self.rotate()?;
                        self.active = newer;
                    }
                }
                None if !writable => self.readonly_active.push((id, records.list)),
                None => {}
            }
        }
        for seg in self.sealed.values() {
            if writable {
                for h in seg.read_ids()? {
                    self.ids.insert(h);
                }
            }
            self.next_seq = self.next_seq.max(seg.max_seq + 1);
        }
        Ok(())
    }

    /// What recovery found on open.
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether a shopper id (user or anonymous) has been erased.
    pub fn is_suppressed(&self, shopper: &str) -> bool {
        self.suppressed.contains(&self.shopper_hash(shopper))
    }

    fn event_suppressed(&self, e: &Event) -> bool {
        !self.suppressed.is_empty()
            && [e.user_id.as_deref(), e.anonymous_id.as_deref(), e.traits.previous_id.as_deref()]
                .into_iter()
                .flatten()
                .any(|id| self.is_suppressed(id))
    }

    fn ensure_writable(&self) -> Result<(), Error> {
        if self.poisoned {
            return Err(Error::Poisoned);
        }
        if self._lock.is_none() {
            return Err(Error::io(&self.dir, std::io::Error::new(std::io::ErrorKind::PermissionDenied, "log opened read-only")));
        }
        Ok(())
    }

    /// Encode and write a batch (to the OS, not yet durable): call [`Log::sync`] before
    /// acknowledging. Duplicates (by message id, within the batch too) and events of erased
    /// shoppers are skipped and reported.
    ///
    /// # Errors
    /// On I/O errors; a failed write poisons the log.
    pub fn append<E: std::borrow::Borrow<Event>>(&mut self, events: impl IntoIterator<Item = E>) -> Result<AppendOutcome, Error> {
        self.ensure_writable()?;
        self.install_sealed(false)?;
        if self.active.is_none() {
            let seg = ActiveSegment::create(&self.seg_dir, self.next_segment)?;
            self.next_segment += 1;
            self.active = Some(seg);
        }
        let mut out = AppendOutcome::default();
        let mut buf = Vec::with_capacity(64 * 1024);
        let Some(mut active) = self.active.take() else { unreachable!("created above") };
        for e in events {
            let e = e.borrow();
            if self.event_suppressed(e) {
                out.statuses.push(AppendStatus::Suppressed);
                out.suppressed += 1;
                continue;
            }
            if !self.ids.insert(id_hash(&e.message_id)) {
                out.statuses.push(AppendStatus::Duplicate);
                out.duplicates += 1;
                continue;
            }
            let seq = self.next_seq;
            self.next_seq += 1;
            active.encode_into(seq, e, &mut buf);
            out.statuses.push(AppendStatus::Stored(seq));
            out.stored += 1;
        }
        let written = active.write(&buf);
        let full = active.len >= self.options.segment_bytes_max;
        self.active = Some(active);
        if let Err(err) = written {
            self.poisoned = true;
            return Err(err);
        }
        out.bytes = buf.len() as u64;
        if full {
            // Sealing fsyncs the active segment first, then seals it on another thread.
            self.rotate_background()?;
        }
        Ok(out)
    }

    /// Make everything appended durable: one `fsync` for the whole group. (A segment that
    /// grew past its size limit was already fsync'd by `append` before it went to be sealed.)
    ///
    /// # Errors
    /// On I/O errors; a failed fsync poisons the log, since the kernel may have thrown the
    /// dirty pages away and a retry could falsely succeed.
    pub fn sync(&mut self) -> Result<(), Error> {
        self.ensure_writable()?;
        self.install_sealed(false)?;
        let Some(active) = &self.active else { return Ok(()) };
        if let Err(e) = active.sync() {
            self.poisoned = true;
            return Err(e);
        }
        Ok(())
    }

    /// Seal the active segment now (if it holds anything) and wait until it is sealed; the next
    /// append starts a new one.
    ///
    /// # Errors
    /// On I/O errors.
    pub fn rotate(&mut self) -> Result<(), Error> {
        self.ensure_writable()?;
        self.rotate_background()?;
        self.install_sealed(true)
    }

    /// Hand the active segment (fsync'd) to a sealing thread.
    fn rotate_background(&mut self) -> Result<(), Error> {
        let Some(active) = self.active.take() else { return Ok(()) };
        if active.meta.records == 0 {
            self.active = Some(active);
            return Ok(());
        }
        if let Err(e) = active.sync() {
            self.poisoned = true;
            return Err(e);
        }
        while self.sealing.len() >= SEALING_MAX {
            self.install_oldest()?;
        }
        let (id, path, meta) = (active.meta.id, active.path.clone(), active.meta.clone());
        let table = active.retire();
        let seg_dir = self.seg_dir.clone();
        let thread_path = path.clone();
        let share = self.options.seal_cpu_share;
        let handle = std::thread::Builder::new()
            .name(format!("glint-seal-{id}"))
            .spawn(move || {
                let (_, records, _) = ActiveSegment::recover(&thread_path, id, false)?;
                assert!(!records.is_empty(), "only segments with records are sealed");
                segment::seal_records(&seg_dir, id, &thread_path, &records, Some(table), share)
            })
            .map_err(|e| Error::io(&path, e))?;
        self.sealing.push(Sealing { meta, path, handle });
        Ok(())
    }

    /// Install finished seals (all of them, waiting, when `block`): the sealed file is in place
    /// and durable, so the active file it came from is removed.
    fn install_sealed(&mut self, block: bool) -> Result<(), Error> {
        while self.sealing.first().is_some_and(|s| block || s.handle.is_finished()) {
            self.install_oldest()?;
        }
        Ok(())
    }

    fn install_oldest(&mut self) -> Result<(), Error> {
        let s = self.sealing.remove(0);
        let sealed = match s.handle.join() {
            Ok(Ok(sealed)) => sealed,
            Ok(Err(e)) => {
                // The active file is intact, so nothing is lost; refuse writes until a restart
                // retries the seal in recovery.
                self.poisoned = true;
                return Err(e);
            }
            Err(_) => {
                self.poisoned = true;
                return Err(Error::io(&s.path, std::io::Error::other("the sealing thread panicked")));
            }
        };
        assert_eq!(sealed.meta.records, s.meta.records, "a seal keeps every record of its segment");
        self.sealed.insert(sealed.meta.id, sealed);
        fs::remove_file(&s.path).map_err(|e| Error::io(&s.path, e))?;
        sync_dir(&self.seg_dir)
    }

    /// Read events whose event time falls in `range` (epoch ms), ordered by event time, then
    /// ingest order. Reads what was appended before the call.
    ///
    /// # Errors
    /// On I/O errors opening the segments; later errors (corruption) come through the iterator.
    pub fn scan(&self, range: impl RangeBounds<i64>) -> Result<Scan, Error> {
        Scan::new(self.scan_sources(), (range.start_bound().cloned(), range.end_bound().cloned()), 0)
    }

    /// Read the events appended after sequence number `after` (those with a larger one), in
    /// the same order as [`Log::scan`]: event time, then ingest order. With `after` =
    /// [`Log::last_seq`] at the time a reader saved its state, this is exactly what it has
    /// not yet seen. Sealed segments holding nothing after `after` are skipped unread.
    ///
    /// # Errors
    /// As [`Log::scan`].
    pub fn scan_after_seq(&self, after: u64) -> Result<Scan, Error> {
        Scan::new(self.scan_sources(), (Bound::Unbounded, Bound::Unbounded), after)
    }

    /// The highest sequence number appended so far (0 when nothing was): every event a later
    /// append stores gets a larger one, also across restarts, erasure and retention.
    pub fn last_seq(&self) -> u64 {
        self.next_seq - 1
    }

    /// Every segment a scan merges: sealed, being sealed, active.
    fn scan_sources(&self) -> Vec<scan::Source> {
        let mut sources = Vec::new();
        for seg in self.sealed.values() {
            sources.push(scan::Source::sealed(seg.clone()));
        }
        for s in &self.sealing {
            sources.push(scan::Source::Pending { path: s.path.clone(), id: s.meta.id, min_time: s.meta.min_time });
        }
        if let Some(active) = &self.active {
            sources.push(scan::Source::Pending { path: active.path.clone(), id: active.meta.id, min_time: active.meta.min_time });
        }
        for (id, records) in &self.readonly_active {
            let min_time = records.iter().map(|r| r.time).min().unwrap_or(i64::MAX);
            sources.push(scan::Source::Pending { path: segment::active_path(&self.seg_dir, *id), id: *id, min_time });
        }
        sources
    }

    /// Every segment as an input of a columnar scan, in segment-id order (which is ingest
    /// order: each segment holds a range of sequence numbers above the previous one's).
    /// Reading them is up to the caller, in parallel if it likes: each reads alone.
    pub fn column_sources(&self) -> Vec<ColumnSource> {
        let mut out: Vec<ColumnSource> = self.sealed.values().map(|seg| ColumnSource { id: seg.meta.id, kind: SourceKind::Sealed(seg.clone()) }).collect();
        for s in &self.sealing {
            out.push(ColumnSource { id: s.meta.id, kind: SourceKind::Pending(s.path.clone()) });
        }
        if let Some(active) = &self.active {
            out.push(ColumnSource { id: active.meta.id, kind: SourceKind::Pending(active.path.clone()) });
        }
        for (id, _) in &self.readonly_active {
            out.push(ColumnSource { id: *id, kind: SourceKind::Pending(segment::active_path(&self.seg_dir, *id)) });
        }
        out.sort_by_key(|s| s.id);
        out
    }

    /// Counts, sizes and time range.
    pub fn summary(&self) -> LogSummary {
        let mut s = LogSummary::default();
        let mut metas: Vec<&SegmentMeta> = self.sealed.values().map(|v| &v.meta).collect();
        for m in &metas {
            s.sealed_segments += 1;
            s.sealed_bytes += m.bytes;
            s.sealed_events += m.records;
        }
        if let Some(a) = &self.active {
            s.active_bytes = a.len;
            metas.push(&a.meta);
        }
        for sealing in &self.sealing {
            s.active_bytes += sealing.meta.bytes;
            metas.push(&sealing.meta);
        }
        let mut ro = Vec::new();
        for (id, records) in &self.readonly_active {
            let mut m = SegmentMeta::empty(*id);
            for r in records {
                m.add(r.time);
            }
            ro.push(m);
        }
        metas.extend(ro.iter());
        for m in metas.iter().filter(|m| m.records > 0) {
            s.events += m.records;
            s.first_ms = Some(s.first_ms.map_or(m.min_time, |f| f.min(m.min_time)));
            s.last_ms = Some(s.last_ms.map_or(m.max_time, |l| l.max(m.max_time)));
        }
        s
    }

    /// Remove every event of `shopper` — and of ids linked to it by identify or alias — from
    /// disk, rewriting the segments that held them; write an erasure receipt; and suppress the
    /// ids so a retry or re-import cannot bring them back.
    ///
    /// # Errors
    /// On I/O errors or corruption. Suppression is made durable first, so a crash part-way
    /// leaves the shopper suppressed and a repeated erase finishes the job.
    pub fn erase(&mut self, shopper: &str) -> Result<Erasure, Error> {
        self.ensure_writable()?;
        self.rotate()?;
        self.record_seq()?;
        let linked = self.linked_ids(shopper)?;
        let hashes: Vec<u128> = linked.iter().map(|id| self.shopper_hash(id)).collect();
        let mut text = String::new();
        for h in &hashes {
            if self.suppressed.insert(*h) {
                text.push_str(&format!("{h:032x}\n"));
            }
        }
        append_durably(&self.dir, &self.dir.join(SUPPRESSED_FILE), text.as_bytes())?;
        let ids: HashSet<&str> = linked.iter().map(String::as_str).collect();
        let (removed, rewritten) = self.rewrite_where(|e| {
            [e.user_id.as_deref(), e.anonymous_id.as_deref(), e.traits.previous_id.as_deref()].into_iter().flatten().any(|i| ids.contains(i))
        })?;
        let firings_removed = scrub_firing_log(&self.dir, &ids)?;
        let receipts = self.dir.join("erasures");
        fs::create_dir_all(&receipts).map_err(|e| Error::io(&receipts, e))?;
        let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        let receipt = receipts.join(format!("{now_ms}-{:08x}.json", hashes[0] as u32));
        let body = serde_json::json!({
            "erased_at": glint_event::time::format_rfc3339_ms(now_ms),
            "shopper_hash": format!("{:032x}", hashes[0]),
            "linked_ids": linked.len() - 1,
            "events_removed": removed,
            "segments_rewritten": rewritten,
            "firings_removed": firings_removed,
            "suppressed": true,
            "stores": ["log", "suppression list", FIRING_LOG],
        });
        write_durably(&receipts, &receipt, format!("{body:#}\n").as_bytes())?;
        let mut ids: Vec<String> = linked.to_vec();
        ids.sort();
        Ok(Erasure { events_removed: removed, segments_rewritten: rewritten, linked_ids: linked.len() - 1, receipt, ids })
    }

    /// The shopper id and every id linked to it through events that carry two ids (identify
    /// with user and anonymous id, alias), to a fixed point.
    fn linked_ids(&self, shopper: &str) -> Result<Vec<String>, Error> {
        let mut ids: Vec<String> = vec![shopper.to_string()];
        let mut set: HashSet<String> = ids.iter().cloned().collect();
        loop {
            let before = set.len();
            for e in self.scan(..)? {
                let e = e?;
                let group: Vec<&str> = [e.user_id.as_deref(), e.anonymous_id.as_deref(), e.traits.previous_id.as_deref()].into_iter().flatten().collect();
                if group.len() > 1 && group.iter().any(|i| set.contains(*i)) {
                    for i in group {
                        if set.insert(i.to_string()) {
                            ids.push(i.to_string());
                        }
                    }
                }
            }
            if set.len() == before {
                return Ok(ids);
            }
        }
    }

    /// Drop events with event time before `cutoff_ms`.
    ///
    /// # Errors
    /// On I/O errors or corruption.
    pub fn apply_retention(&mut self, cutoff_ms: i64) -> Result<Retention, Error> {
        self.ensure_writable()?;
        self.install_sealed(true)?;
        self.record_seq()?;
        let mut r = Retention::default();
        if self.active.as_ref().is_some_and(|a| a.meta.min_time < cutoff_ms) {
            self.rotate()?;
        }
        let whole: Vec<u64> = self.sealed.values().filter(|s| s.meta.max_time < cutoff_ms).map(|s| s.meta.id).collect();
        for id in whole {
            if let Some(seg) = self.sealed.remove(&id) {
                columns::remove(&self.seg_dir, id)?;
                fs::remove_file(&seg.path).map_err(|e| Error::io(&seg.path, e))?;
                r.events_removed += seg.meta.records;
                r.segments_deleted += 1;
            }
        }
        sync_dir(&self.seg_dir)?;
        let (removed, rewritten) = self.rewrite_where(|e| e.time_ms < cutoff_ms)?;
        r.events_removed += removed;
        r.segments_rewritten += rewritten;
        Ok(r)
    }

    /// Rewrite every sealed segment holding an event matching `doomed`, without those events.
    fn rewrite_where(&mut self, doomed: impl Fn(&Event) -> bool) -> Result<(u64, usize), Error> {
        let mut removed = 0;
        let mut rewritten = 0;
        let ids: Vec<u64> = self.sealed.keys().copied().collect();
        for id in ids {
            let Some(seg) = self.sealed.get(&id).cloned() else { continue };
            let mut f = File::open(&seg.path).map_err(|e| Error::io(&seg.path, e))?;
            let mut keep = Vec::with_capacity(seg.meta.records as usize);
            let mut hit = 0u64;
            for i in 0..seg.chunks.len() {
                for (seq, e) in seg.read_chunk(&mut f, i)? {
                    if doomed(&e) { hit += 1 } else { keep.push((seq, e)) }
                }
            }
            if hit == 0 {
                continue;
            }
            removed += hit;
            rewritten += 1;
            if keep.is_empty() {
                columns::remove(&self.seg_dir, id)?;
                fs::remove_file(&seg.path).map_err(|e| Error::io(&seg.path, e))?;
                sync_dir(&self.seg_dir)?;
                self.sealed.remove(&id);
            } else {
                let new = segment::write_sealed(&self.seg_dir, id, keep)?;
                self.sealed.insert(id, new);
            }
        }
        Ok((removed, rewritten))
    }
}

/// One segment, as an input of a columnar scan ([`Log::column_sources`]).
#[derive(Clone, Debug)]
pub struct ColumnSource {
    id: u64,
    kind: SourceKind,
}

#[derive(Clone, Debug)]
enum SourceKind {
    Sealed(SealedSegment),
    /// An active segment, or one being sealed: rows only.
    Pending(PathBuf),
}

impl ColumnSource {
    /// The segment's id.
    pub fn segment(&self) -> u64 {
        self.id
    }

    /// Events in the segment, when known without reading it (sealed segments).
    pub fn events(&self) -> Option<u64> {
        match &self.kind {
            SourceKind::Sealed(seg) => Some(seg.meta.records),
            SourceKind::Pending(_) => None,
        }
    }

    /// The segment's columns: from its column file when that is present and sound, else
    /// decoded from its rows (the reason is in [`SegmentColumns::origin`]). Shopper, time and
    /// signal always; the optional columns in `want`.
    ///
    /// # Errors
    /// Only when the rows themselves cannot be read (I/O errors, corruption): a bad column
    /// file is never an error, since the rows can stand in for it.
    pub fn read(&self, want: ColumnSet) -> Result<SegmentColumns, Error> {
        let mut out = SegmentColumns::default();
        self.read_into(want, &mut ColumnReader::default(), &mut out)?;
        Ok(out)
    }

    /// [`ColumnSource::read`] into `out`, reusing its memory and `reader`'s: a scan over many
    /// segments keeps one of each per thread.
    ///
    /// # Errors
    /// As [`ColumnSource::read`].
    pub fn read_into(&self, want: ColumnSet, reader: &mut ColumnReader, out: &mut SegmentColumns) -> Result<(), Error> {
        match &self.kind {
            SourceKind::Sealed(seg) => {
                let dir = seg.path.parent().unwrap_or(Path::new("."));
                let because = match columns::read(dir, self.id, seg.fingerprint(), want, reader, out) {
                    Ok(()) => return Ok(()),
                    Err(columns::Unusable::Missing) => RowsBecause::Missing,
                    Err(columns::Unusable::Bad(why)) => RowsBecause::Unusable(why),
                };
                let events = seg.read_all()?;
                *out = columns::from_rows(self.id, ColumnOrigin::Rows(because), events.iter().map(|(_, e)| e), want);
                Ok(())
            }
            SourceKind::Pending(path) => {
                let mut events = read_pending_events(path, self.id)?;
                events.sort_by_key(|(seq, e)| (e.time_ms, *seq));
                *out = columns::from_rows(self.id, ColumnOrigin::Rows(RowsBecause::Active), events.iter().map(|(_, e)| e), want);
                Ok(())
            }
        }
    }
}

/// Events of an active segment for a scan; if a writer sealed it meanwhile (the active file is
/// gone), read the sealed copy instead.
fn read_pending_events(path: &Path, id: u64) -> Result<Vec<(u64, Event)>, Error> {
    match read_active_events(path, id) {
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            let dir = path.parent().unwrap_or(Path::new("."));
            SealedSegment::open(&segment::sealed_path(dir, id), id)?.read_all()
        }
        other => other,
    }
}

fn read_active_events(path: &Path, id: u64) -> Result<Vec<(u64, Event)>, Error> {
    let (_, records, _) = ActiveSegment::recover(path, id, false)?;
    let mut dec = codec::Decoder::default();
    records
        .payloads()
        .map(|payload| dec.decode(payload).map_err(|d| Error::Corrupt { path: path.to_path_buf(), offset: 0, why: d.0.into() }))
        .collect()
}

/// The firing log the engine writes into a data directory (one JSON object per line, with the
/// canonical shopper id under `user`). It is derived data, but it names shoppers, so erasure
/// must reach it.
pub const FIRING_LOG: &str = "firings.jsonl";

/// Rewrite the data directory's firing log without the lines of `ids`; returns how many went.
fn scrub_firing_log(dir: &Path, ids: &HashSet<&str>) -> Result<u64, Error> {
    let path = dir.join(FIRING_LOG);
    let Ok(text) = fs::read_to_string(&path) else { return Ok(0) };
    let mut kept = String::with_capacity(text.len());
    let mut removed = 0;
    for line in text.lines() {
        let user = serde_json::from_str::<serde_json::Value>(line).ok().and_then(|v| v.get("user").and_then(|u| u.as_str()).map(str::to_string));
        if user.as_deref().is_some_and(|u| ids.contains(u)) {
            removed += 1;
        } else {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    if removed > 0 {
        write_durably(dir, &path, kept.as_bytes())?;
    }
    Ok(removed)
}

/// Write a small file atomically and durably (temp, fsync, rename, fsync dir).
fn write_durably(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    f.write_all(bytes).and_then(|_| f.sync_all()).map_err(|e| Error::io(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
    sync_dir(dir)
}

fn append_durably(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let existed = path.exists();
    let mut f = OpenOptions::new().create(true).append(true).open(path).map_err(|e| Error::io(path, e))?;
    f.write_all(bytes).and_then(|_| f.sync_all()).map_err(|e| Error::io(path, e))?;
    if !existed {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Entry points for the fuzz targets in `fuzz/`: not part of the API.
#[doc(hidden)]
pub mod fuzzing {
    /// Decode arbitrary bytes as one record of a fresh string table; must never panic.
    pub fn decode_record(bytes: &[u8]) -> bool {
        crate::codec::Decoder::default().decode(bytes).is_ok()
    }

    /// Recover an active segment whose records are `body`; must never panic, only cut a torn
    /// tail or report corruption.
    pub fn recover_active(body: &[u8]) -> bool {
        let Ok(dir) = std::env::temp_dir().join(format!("glint-fuzz-{}", std::process::id())).canonicalize().or_else(|_| {
            let d = std::env::temp_dir().join(format!("glint-fuzz-{}", std::process::id()));
            std::fs::create_dir_all(&d).map(|()| d)
        }) else {
            return false;
        };
        let path = crate::segment::active_path(&dir, 1);
        let mut bytes = crate::segment::active_header_for_fuzzing(1).to_vec();
        bytes.extend_from_slice(body);
        if std::fs::write(&path, &bytes).is_err() {
            return false;
        }
        crate::segment::ActiveSegment::recover(&path, 1, false).is_ok()
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        // Let seals in flight finish so their files are complete; recovery would cope either
        // way, but a reopen in the same process should not race a sealing thread.
        for s in self.sealing.drain(..) {
            if let Ok(Ok(sealed)) = s.handle.join() {
                if fs::remove_file(&s.path).is_ok() {
                    let _ = sync_dir(&self.seg_dir);
                }
                drop(sealed);
            }
        }
    }
}

#[cfg(test)]
mod tests;
