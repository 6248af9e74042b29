//! Column files: a compact columnar copy of each sealed segment, for analytics scans.
//!
//! A funnel needs four things of an event — shopper, time, signal and at most one breakdown
//! property — and decoding whole row records to get them costs about 2 µs an event. So when a
//! segment is sealed (or rewritten by erasure or retention), the log also writes
//! `NNNNNNNNNNNNNNNN.cols` beside `NNNNNNNNNNNNNNNN.sealed`, holding those fields of the same
//! records in the same order (event time, then ingest sequence), column by column.
//!
//! ## Layout (format version 1)
//!
//! A header of `HEADER_LEN` bytes: magic `GLNTCOL\0`, version (u16), the segment id, the
//! number of events, the sealed segment's *fingerprint* (record count, largest sequence number,
//! CRC32C of its chunk index), then one entry per section — offset (u64), stored length (u32),
//! raw length (u32), CRC32C of the stored bytes (u32) — and a CRC32C of everything before it.
//! Sections follow in this order, each one zstd frame — or, from version 2, its raw bytes when
//! compression would save less than a quarter of them (a section's stored length then equals its
//! raw length, which a frame written by this rule never does): shopper ids and times hardly
//! compress, and decompressing them cost a quarter of a funnel scan's instructions.
//!
//! | section        | raw content                                                              |
//! |----------------|--------------------------------------------------------------------------|
//! | signal dict    | varint count, then each canonical signal name (varint length, bytes)     |
//! | shopper dict   | the same for shopper keys (user id, else anonymous id), first-seen order |
//! | locale dict    | the same for `context.locale` values                                     |
//! | signal         | per event, 1 + signal id, little-endian, width fixed by the dict's size  |
//! | time           | zigzag varint of the first event time (ms), then varint deltas (sorted)  |
//! | shopper        | per event, 0 (no shopper) or 1 + shopper id, width as for signal         |
//! | device         | per event, the `DeviceType` code (one byte)                              |
//! | referrer class | per event, the `ReferrerClass` code (one byte)                           |
//! | locale         | per event, 0 (none) or 1 + locale id                                     |
//!
//! Widths are the fewest bytes (1–4) that hold the dictionary's size. On simulated traffic the
//! whole file costs about 6.1 bytes an event next to the segment's 42: shopper ids 2.0 and
//! times 1.1 (both stored as is; zstd saved 13 % of each), the shopper dictionary (repeated in
//! every segment a shopper appears in) 1.5, the rest under 0.5 each.
//!
//! ## Invariants
//!
//! - Derived, never ground truth: a column file is only used when its fingerprint matches the
//!   sealed segment in place and every checksum and bound holds; otherwise the reader decodes
//!   the segment's rows instead and says why ([`RowsBecause`]). A column file can therefore
//!   be missing (data written before this format existed), stale or damaged without a wrong
//!   answer or a crash.
//! - Written atomically after the sealed file it describes (temp, fsync, rename, fsync dir).
//!   A rewrite (erasure, retention) removes the old column file *before* touching the sealed
//!   file, so an erased shopper's name never outlives the rewrite in a stale column file.
//! - Recovery removes column files whose sealed segment is gone.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use glint_event::{DeviceType, Event, ReferrerClass, Signal};

use crate::Error;
use crate::codec::{put_varint, unzigzag, zigzag};
use crate::segment::{sync_dir, u32_at, u64_at};

const MAGIC: &[u8; 8] = b"GLNTCOL\0";
/// The column format this build writes; it reads this one and version 1 (every section a zstd
/// frame). A file of another version is not read (the rows are), and the next rewrite replaces
/// it.
pub(crate) const VERSION: u16 = 2;
const SECTIONS: usize = 9;
const SECTION_ENTRY_LEN: usize = 20;
/// magic 8, version 2, reserved 6, id 8, events 8, records 8, max_seq 8, index crc 4,
/// reserved 4, sections, header crc 4.
const HEADER_LEN: usize = 56 + SECTIONS * SECTION_ENTRY_LEN + 4;
/// Columns compress well (sorted times, few signals); level 3 keeps sealing cheap.
const ZSTD_LEVEL: i32 = 3;

/// A shopper or property value that is absent, in [`SegmentColumns`].
pub const NO_ID: u32 = u32::MAX;

#[derive(Clone, Copy)]
enum Section {
    SignalDict = 0,
    ShopperDict,
    LocaleDict,
    Signal,
    Time,
    Shopper,
    Device,
    Referrer,
    Locale,
}

pub(crate) fn columns_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:016}.cols"))
}

/// What identifies the exact sealed file a column file was made from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Fingerprint {
    pub(crate) records: u64,
    pub(crate) max_seq: u64,
    pub(crate) index_crc: u32,
}

/// Which of the optional columns a reader wants (shopper, time and signal always come).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ColumnSet {
    /// [`SegmentColumns::device`].
    pub device: bool,
    /// [`SegmentColumns::referrer_class`].
    pub referrer_class: bool,
    /// [`SegmentColumns::locale`].
    pub locale: bool,
}

/// Where a segment's columns came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ColumnOrigin {
    /// Its column file.
    Columns,
    /// Its row records, decoded (slower), for this reason.
    Rows(RowsBecause),
}

/// Why a segment's columns were built from its rows.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RowsBecause {
    /// The active segment (or one being sealed) has no column file yet.
    Active,
    /// The sealed segment has no column file (written before column files existed).
    Missing,
    /// The column file does not match its sealed segment, fails a check, or has another
    /// format version.
    Unusable(String),
}

/// Strings by id: a column's dictionary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dictionary {
    bytes: String,
    ends: Vec<usize>,
}

impl Dictionary {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether it has no entries.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Entry `id`, if there is one.
    pub fn get(&self, id: u32) -> Option<&str> {
        let i = id as usize;
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        self.bytes.get(start..end)
    }

    /// Every entry, by id.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let s = &self.bytes[start..end];
            start = end;
            s
        })
    }

    fn push(&mut self, s: &str) -> u32 {
        self.bytes.push_str(s);
        self.ends.push(self.bytes.len());
        (self.ends.len() - 1) as u32
    }
}

/// One segment's events as columns, in the segment's order (event time, then ingest order).
/// Every per-event vector has [`SegmentColumns::len`] entries, except the optional ones not
/// asked for, which are empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentColumns {
    /// The segment's id: segments in id order hold ascending ranges of sequence numbers, so
    /// (time, segment id, position) is the log's (time, ingest) order.
    pub segment: u64,
    /// How these were read.
    pub origin: ColumnOrigin,
    /// Signal by id.
    pub signals: Vec<Signal>,
    /// Shopper key (user id, else anonymous id) by id.
    pub shoppers: Dictionary,
    /// Locale by id.
    pub locales: Dictionary,
    /// Per event: signal id.
    pub signal: Vec<u32>,
    /// Per event: event time, epoch ms.
    pub time_ms: Vec<i64>,
    /// Per event: shopper id, or [`NO_ID`].
    pub shopper: Vec<u32>,
    /// Per event: `DeviceType` code (if asked for).
    pub device: Vec<u8>,
    /// Per event: `ReferrerClass` code (if asked for).
    pub referrer_class: Vec<u8>,
    /// Per event: locale id, or [`NO_ID`] (if asked for).
    pub locale: Vec<u32>,
}

impl Default for SegmentColumns {
    fn default() -> Self {
        SegmentColumns {
            segment: 0,
            origin: ColumnOrigin::Columns,
            signals: Vec::new(),
            shoppers: Dictionary::default(),
            locales: Dictionary::default(),
            signal: Vec::new(),
            time_ms: Vec::new(),
            shopper: Vec::new(),
            device: Vec::new(),
            referrer_class: Vec::new(),
            locale: Vec::new(),
        }
    }
}

impl SegmentColumns {
    /// Number of events.
    pub fn len(&self) -> usize {
        self.time_ms.len()
    }

    /// Whether there are no events.
    pub fn is_empty(&self) -> bool {
        self.time_ms.is_empty()
    }

    /// The device of event `i` (columns asked for with `device`).
    pub fn device_of(&self, i: usize) -> DeviceType {
        DeviceType::from_code(self.device.get(i).copied().unwrap_or(0))
    }

    /// The referrer class of event `i` (columns asked for with `referrer_class`).
    pub fn referrer_class_of(&self, i: usize) -> ReferrerClass {
        ReferrerClass::from_code(self.referrer_class.get(i).copied().unwrap_or(0))
    }
}

/// Builds columns from events given in segment order.
#[derive(Debug, Default)]
pub(crate) struct ColumnBuilder {
    builtin_ids: Vec<u32>,
    custom_ids: HashMap<Box<str>, u32, foldhash::fast::RandomState>,
    shopper_ids: HashMap<Box<str>, u32, foldhash::fast::RandomState>,
    locale_ids: HashMap<Box<str>, u32, foldhash::fast::RandomState>,
    cols: Option<SegmentColumns>,
}

impl ColumnBuilder {
    fn cols(&mut self) -> &mut SegmentColumns {
        self.cols.get_or_insert_with(SegmentColumns::default)
    }

    pub(crate) fn push(&mut self, e: &Event) {
        if self.builtin_ids.is_empty() {
            self.builtin_ids = vec![NO_ID; 256];
        }
        let signal = match &e.signal {
            Signal::Builtin(b) => {
                let slot = usize::from(b.code());
                if self.builtin_ids[slot] == NO_ID {
                    let c = self.cols();
                    c.signals.push(e.signal.clone());
                    let id = (c.signals.len() - 1) as u32;
                    self.builtin_ids[slot] = id;
                }
                self.builtin_ids[slot]
            }
            Signal::Custom(name) => match self.custom_ids.get(&**name) {
                Some(id) => *id,
                None => {
                    let c = self.cols();
                    c.signals.push(e.signal.clone());
                    let id = (c.signals.len() - 1) as u32;
                    self.custom_ids.insert(name.clone(), id);
                    id
                }
            },
        };
        let shopper = match e.shopper_key() {
            None => NO_ID,
            Some(key) => match self.shopper_ids.get(key) {
                Some(id) => *id,
                None => {
                    let id = self.cols().shoppers.push(key);
                    self.shopper_ids.insert(key.into(), id);
                    id
                }
            },
        };
        let locale = match e.context.locale.as_deref() {
            None => NO_ID,
            Some(l) => match self.locale_ids.get(l) {
                Some(id) => *id,
                None => {
                    let id = self.cols().locales.push(l);
                    self.locale_ids.insert(l.into(), id);
                    id
                }
            },
        };
        let c = self.cols();
        c.signal.push(signal);
        c.time_ms.push(e.time_ms);
        c.shopper.push(shopper);
        c.device.push(e.context.device as u8);
        c.referrer_class.push(e.context.referrer_class as u8);
        c.locale.push(locale);
    }

    pub(crate) fn finish(mut self, segment: u64, origin: ColumnOrigin) -> SegmentColumns {
        let c = self.cols();
        c.segment = segment;
        c.origin = origin;
        self.cols.take().unwrap_or_else(|| unreachable!("created by cols()"))
    }
}

/// Columns built from decoded rows (given in segment order), keeping only what `want` asks.
pub(crate) fn from_rows<'a>(segment: u64, origin: ColumnOrigin, events: impl Iterator<Item = &'a Event>, want: ColumnSet) -> SegmentColumns {
    let mut b = ColumnBuilder::default();
    for e in events {
        b.push(e);
    }
    let mut c = b.finish(segment, origin);
    trim(&mut c, want);
    c
}

fn trim(c: &mut SegmentColumns, want: ColumnSet) {
    if !want.device {
        c.device = Vec::new();
    }
    if !want.referrer_class {
        c.referrer_class = Vec::new();
    }
    if !want.locale {
        c.locale = Vec::new();
    }
}


/// Bytes per value for ids 0..=`max` (1 to 4).
fn width_for(max: usize) -> usize {
    match max {
        0..=0xff => 1,
        0x100..=0xffff => 2,
        0x1_0000..=0xff_ffff => 3,
        _ => 4,
    }
}

fn encode_dict<'a>(names: impl Iterator<Item = &'a str>, count: usize) -> Vec<u8> {
    let mut out = Vec::new();
    put_varint(&mut out, count as u64);
    for n in names {
        put_varint(&mut out, n.len() as u64);
        out.extend_from_slice(n.as_bytes());
    }
    out
}

/// Ids as `0` for [`NO_ID`], else id + 1, in `width_for(dict_len)` bytes each.
fn encode_ids(ids: &[u32], dict_len: usize) -> Vec<u8> {
    let w = width_for(dict_len);
    let mut out = Vec::with_capacity(ids.len() * w);
    for &id in ids {
        let v = if id == NO_ID { 0 } else { id + 1 };
        out.extend_from_slice(&v.to_le_bytes()[..w]);
    }
    out
}

fn encode_times(times: &[i64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(times.len() * 2);
    let mut prev = None;
    for &t in times {
        match prev {
            None => put_varint(&mut out, zigzag(t)),
            Some(p) => {
                assert!(t >= p, "columns are written in time order");
                put_varint(&mut out, t.abs_diff(p));
            }
        }
        prev = Some(t);
    }
    out
}

/// Write `cols` as the column file of sealed segment `id` atomically and durably.
pub(crate) fn write(dir: &Path, id: u64, fp: Fingerprint, cols: &SegmentColumns) -> Result<(), Error> {
    write_version(dir, id, fp, cols, VERSION)
}

/// [`write`] in format `version` (1: every section compressed; tests read old files with it).
fn write_version(dir: &Path, id: u64, fp: Fingerprint, cols: &SegmentColumns, version: u16) -> Result<(), Error> {
    assert_eq!(fp.records, cols.len() as u64, "one column entry per sealed record");
    let path = columns_path(dir, id);
    let tmp = dir.join(format!("{id:016}.cols.tmp"));
    let io = |e: std::io::Error| Error::io(&tmp, e);
    let n = cols.len();
    let raw: [Vec<u8>; SECTIONS] = [
        encode_dict(cols.signals.iter().map(Signal::name), cols.signals.len()),
        encode_dict(cols.shoppers.iter(), cols.shoppers.len()),
        encode_dict(cols.locales.iter(), cols.locales.len()),
        encode_ids(&cols.signal, cols.signals.len()),
        encode_times(&cols.time_ms),
        encode_ids(&cols.shopper, cols.shoppers.len()),
        if cols.device.len() == n { cols.device.clone() } else { vec![0; n] },
        if cols.referrer_class.len() == n { cols.referrer_class.clone() } else { vec![0; n] },
        encode_ids(if cols.locale.len() == n { &cols.locale } else { &[] }, cols.locales.len()),
    ];
    let mut header = vec![0u8; HEADER_LEN];
    header[0..8].copy_from_slice(MAGIC);
    header[8..10].copy_from_slice(&version.to_le_bytes());
    header[16..24].copy_from_slice(&id.to_le_bytes());
    header[24..32].copy_from_slice(&(n as u64).to_le_bytes());
    header[32..40].copy_from_slice(&fp.records.to_le_bytes());
    header[40..48].copy_from_slice(&fp.max_seq.to_le_bytes());
    header[48..52].copy_from_slice(&fp.index_crc.to_le_bytes());
    let mut body = Vec::new();
    for (s, r) in raw.iter().enumerate() {
        let compressed = zstd::bulk::compress(r, ZSTD_LEVEL).map_err(io)?;
        // Kept compressed only when that saves a quarter (decompressing costs more than reading
        // the difference): then it is shorter than the raw bytes, so "stored length = raw
        // length" marks a section stored as is.
        let stored = if version == 1 || compressed.len() * 4 < r.len() * 3 { compressed } else { r.clone() };
        let at = 56 + s * SECTION_ENTRY_LEN;
        let offset = (HEADER_LEN + body.len()) as u64;
        let raw_len = u32::try_from(r.len()).map_err(|_| io(std::io::Error::other("a column section over 4 GiB")))?;
        header[at..at + 8].copy_from_slice(&offset.to_le_bytes());
        header[at + 8..at + 12].copy_from_slice(&(stored.len() as u32).to_le_bytes());
        header[at + 12..at + 16].copy_from_slice(&raw_len.to_le_bytes());
        header[at + 16..at + 20].copy_from_slice(&crc32c::crc32c(&stored).to_le_bytes());
        body.extend_from_slice(&stored);
    }
    let crc = crc32c::crc32c(&header[..HEADER_LEN - 4]);
    header[HEADER_LEN - 4..].copy_from_slice(&crc.to_le_bytes());
    let mut f = File::create(&tmp).map_err(io)?;
    f.write_all(&header).and_then(|_| f.write_all(&body)).and_then(|_| f.sync_all()).map_err(io)?;
    drop(f);
    fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
    sync_dir(dir)
}

/// Remove the column file of segment `id`, if any, durably. Returns whether one was there.
pub(crate) fn remove(dir: &Path, id: u64) -> Result<bool, Error> {
    let path = columns_path(dir, id);
    match fs::remove_file(&path) {
        Ok(()) => {
            sync_dir(dir)?;
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io(&path, e)),
    }
}

/// Why a column file was not used.
#[derive(Debug)]
pub(crate) enum Unusable {
    Missing,
    Bad(String),
}


/// Reads values off a byte slice, failing instead of panicking when it runs short.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn varint(&mut self) -> Option<u64> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos)?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
}

fn decode_dict(raw: &[u8], d: &mut Dictionary) -> Result<(), String> {
    let mut r = Reader { buf: raw, pos: 0 };
    let count = r.varint().ok_or("dictionary count")? as usize;
    if count > raw.len() {
        return Err("dictionary count beyond its bytes".into());
    }
    d.bytes.clear();
    d.ends.clear();
    d.ends.reserve(count);
    // Lengths under 128 are one ASCII byte, so a section of short entries is itself UTF-8 and
    // one check covers them all; an entry is then valid when it starts and ends on character
    // boundaries. Otherwise (a long entry's length byte is not ASCII) each entry is checked.
    let whole = std::str::from_utf8(raw).ok();
    for _ in 0..count {
        let len = r.varint().ok_or("dictionary entry length")? as usize;
        let end = r.pos.checked_add(len).ok_or("dictionary entry length")?;
        let entry = match whole.and_then(|w| w.get(r.pos..end)) {
            Some(s) => s,
            None => std::str::from_utf8(raw.get(r.pos..end).ok_or("dictionary entry past the end")?).map_err(|_| "dictionary entry is not UTF-8")?,
        };
        d.push(entry);
        r.pos = end;
    }
    if r.pos != raw.len() {
        return Err("trailing bytes after a dictionary".into());
    }
    Ok(())
}

/// Ids written by `encode_ids` into `out`, checked against the dictionary's size; [`NO_ID`]
/// only where `none_ok`.
fn decode_ids(raw: &[u8], n: usize, dict_len: usize, none_ok: bool, out: &mut Vec<u32>) -> Result<(), String> {
    let w = width_for(dict_len);
    if raw.len() != n * w {
        return Err(format!("id column of {} bytes for {n} events of width {w}", raw.len()));
    }
    out.clear();
    match w {
        1 => out.extend(raw.iter().map(|&b| u32::from(b).wrapping_sub(1))),
        2 => out.extend(raw.chunks_exact(2).map(|c| u32::from(u16::from_le_bytes([c[0], c[1]])).wrapping_sub(1))),
        3 => out.extend(raw.chunks_exact(3).map(|c| u32::from_le_bytes([c[0], c[1], c[2], 0]).wrapping_sub(1))),
        _ => out.extend(raw.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]).wrapping_sub(1))),
    }
    let limit = dict_len as u32;
    if !out.iter().all(|&v| v < limit || (none_ok && v == NO_ID)) {
        return Err("an id beyond its dictionary".into());
    }
    Ok(())
}

fn decode_times(raw: &[u8], n: usize, out: &mut Vec<i64>) -> Result<(), String> {
    out.clear();
    out.reserve(n);
    let mut r = Reader { buf: raw, pos: 0 };
    if n > 0 {
        let mut t = unzigzag(r.varint().ok_or("first time")?);
        out.push(t);
        for _ in 1..n {
            // Most deltas between sorted times fit one byte.
            let d = match r.buf.get(r.pos) {
                Some(&b) if b < 0x80 => {
                    r.pos += 1;
                    i64::from(b)
                }
                _ => i64::try_from(r.varint().ok_or("time delta")?).map_err(|_| "time delta overflows")?,
            };
            t = t.checked_add(d).ok_or("time overflows")?;
            out.push(t);
        }
    }
    if r.pos != raw.len() {
        return Err("trailing bytes after the time column".into());
    }
    Ok(())
}

/// Buffers and a zstd context a reader reuses from one segment's columns to the next: fresh
/// memory for every segment costs a page fault per 4 KiB, which was half a funnel's time.
#[derive(Default)]
pub struct ColumnReader {
    file: Vec<u8>,
    raw: Vec<u8>,
    zstd: Option<zstd::bulk::Decompressor<'static>>,
}

impl std::fmt::Debug for ColumnReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ColumnReader").field("file", &self.file.len()).field("raw", &self.raw.len()).finish_non_exhaustive()
    }
}

/// Read the column file of sealed segment `id` into `out`, checking it against `fp` and every
/// checksum.
pub(crate) fn read(dir: &Path, id: u64, fp: Fingerprint, want: ColumnSet, reader: &mut ColumnReader, out: &mut SegmentColumns) -> Result<(), Unusable> {
    let path = columns_path(dir, id);
    reader.file.clear();
    match File::open(&path).and_then(|mut f| std::io::Read::read_to_end(&mut f, &mut reader.file)) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Unusable::Missing),
        Err(e) => return Err(Unusable::Bad(format!("{}: {e}", path.display()))),
    }
    if reader.zstd.is_none() {
        reader.zstd = Some(zstd::bulk::Decompressor::new().map_err(|e| Unusable::Bad(format!("zstd: {e}")))?);
    }
    let Some(dctx) = reader.zstd.as_mut() else { unreachable!("set above") };
    decode(&reader.file, id, fp, want, &mut reader.raw, dctx, out).map_err(|why| Unusable::Bad(format!("{}: {why}", path.display())))
}

fn decode(bytes: &[u8], id: u64, fp: Fingerprint, want: ColumnSet, raw: &mut Vec<u8>, dctx: &mut zstd::bulk::Decompressor<'static>, out: &mut SegmentColumns) -> Result<(), String> {
    if bytes.len() < HEADER_LEN {
        return Err("shorter than a column header".into());
    }
    let h = &bytes[..HEADER_LEN];
    if &h[0..8] != MAGIC {
        return Err("not a column file (bad magic number)".into());
    }
    let version = u16::from_le_bytes([h[8], h[9]]);
    if version != VERSION && version != 1 {
        return Err(format!("column format version {version}, this build reads 1 and {VERSION}"));
    }
    if crc32c::crc32c(&h[..HEADER_LEN - 4]) != u32_at(h, HEADER_LEN - 4) {
        return Err("header checksum mismatch".into());
    }
    if u64_at(h, 16) != id {
        return Err("segment id does not match the file name".into());
    }
    let found = Fingerprint { records: u64_at(h, 32), max_seq: u64_at(h, 40), index_crc: u32_at(h, 48) };
    if found != fp {
        return Err("made from another version of the sealed segment (stale)".into());
    }
    let n = usize::try_from(u64_at(h, 24)).map_err(|_| "event count overflows")?;
    if n as u64 != fp.records {
        return Err("event count differs from the sealed segment's".into());
    }
    let mut section = |s: Section, raw: &mut Vec<u8>| -> Result<(), String> {
        let at = 56 + s as usize * SECTION_ENTRY_LEN;
        let offset = usize::try_from(u64_at(h, at)).map_err(|_| "section offset overflows")?;
        let (len, raw_len, crc) = (u32_at(h, at + 8) as usize, u32_at(h, at + 12) as usize, u32_at(h, at + 16));
        let stored = offset.checked_add(len).and_then(|end| bytes.get(offset..end)).ok_or("section past the end of the file")?;
        if crc32c::crc32c(stored) != crc {
            return Err(format!("section {} checksum mismatch", s as usize));
        }
        raw.clear();
        if version >= 2 && len == raw_len {
            raw.extend_from_slice(stored);
            return Ok(());
        }
        raw.reserve(raw_len);
        let got = dctx.decompress_to_buffer(stored, raw).map_err(|e| format!("section {} does not decompress: {e}", s as usize))?;
        if got != raw_len || raw.len() != raw_len {
            return Err(format!("section {} has {got} bytes, its header says {raw_len}", s as usize));
        }
        Ok(())
    };
    out.segment = id;
    out.origin = ColumnOrigin::Columns;
    section(Section::SignalDict, raw)?;
    let mut names = Dictionary::default();
    decode_dict(raw, &mut names)?;
    out.signals.clear();
    out.signals.extend(names.iter().map(Signal::from_canonical));
    section(Section::ShopperDict, raw)?;
    decode_dict(raw, &mut out.shoppers)?;
    section(Section::Signal, raw)?;
    decode_ids(raw, n, out.signals.len(), false, &mut out.signal)?;
    section(Section::Time, raw)?;
    decode_times(raw, n, &mut out.time_ms)?;
    section(Section::Shopper, raw)?;
    decode_ids(raw, n, out.shoppers.len(), true, &mut out.shopper)?;
    for (s, wanted, col) in [(Section::Device, want.device, &mut out.device), (Section::Referrer, want.referrer_class, &mut out.referrer_class)] {
        col.clear();
        if wanted {
            section(s, raw)?;
            if raw.len() != n {
                return Err(format!("section {} has {} bytes for {n} events", s as usize, raw.len()));
            }
            col.extend_from_slice(raw);
        }
    }
    out.locale.clear();
    if want.locale {
        section(Section::LocaleDict, raw)?;
        decode_dict(raw, &mut out.locales)?;
        section(Section::Locale, raw)?;
        decode_ids(raw, n, out.locales.len(), true, &mut out.locale)?;
    } else {
        out.locales = Dictionary::default();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use glint_event::{Builtin, Source};

    fn events() -> Vec<Event> {
        (0..300)
            .map(|i| {
                let signal = if i % 7 == 0 { Signal::Custom(format!("custom_{}", i % 3).into()) } else { Signal::Builtin(Builtin::from_code((i % 5 + 1) as u8).expect("code")) };
                let mut e = Event::new(format!("m{i}"), 1_000 + i64::from(i) * 333, signal, Source::Segment);
                match i % 4 {
                    0 => e.user_id = Some(format!("u{}", i % 11)),
                    1 => e.anonymous_id = Some(format!("a{}", i % 13)),
                    2 => {}
                    _ => {
                        e.user_id = Some(format!("u{}", i % 11));
                        e.anonymous_id = Some("ignored".into());
                    }
                }
                e.context.locale = (i % 3 == 0).then(|| ["en-GB", "de", "pt_BR"][(i % 9 / 3) as usize].to_string());
                e.context.device = DeviceType::from_code((i % 4) as u8);
                e.context.referrer_class = ReferrerClass::from_code((i % 6) as u8);
                e
            })
            .collect()
    }

    const ALL: ColumnSet = ColumnSet { device: true, referrer_class: true, locale: true };

    fn read_new(dir: &Path, id: u64, fp: Fingerprint, want: ColumnSet) -> Result<SegmentColumns, Unusable> {
        let mut out = SegmentColumns::default();
        read(dir, id, fp, want, &mut ColumnReader::default(), &mut out).map(|()| out)
    }

    fn decode_new(bytes: &[u8], id: u64, fp: Fingerprint) -> Result<SegmentColumns, String> {
        let mut out = SegmentColumns::default();
        let mut dctx = zstd::bulk::Decompressor::new().expect("zstd");
        decode(bytes, id, fp, ALL, &mut Vec::new(), &mut dctx, &mut out).map(|()| out)
    }

    #[test]
    fn a_reader_reused_across_segments_gives_what_a_fresh_one_does() {
        let dir = tempfile::tempdir().expect("tempdir");
        let evs = events();
        let mut reader = ColumnReader::default();
        let mut out = SegmentColumns::default();
        for (id, take) in [(1u64, 300usize), (2, 17), (3, 120)] {
            let cols = from_rows(id, ColumnOrigin::Columns, evs[..take].iter(), ALL);
            let fp = Fingerprint { records: take as u64, max_seq: id, index_crc: 1 };
            write(dir.path(), id, fp, &cols).expect("write");
            read(dir.path(), id, fp, ALL, &mut reader, &mut out).expect("read");
            assert_eq!(out, cols);
        }
    }

    #[test]
    fn columns_round_trip_through_their_file_and_hold_each_event_fields() {
        let dir = tempfile::tempdir().expect("tempdir");
        let evs = events();
        let cols = from_rows(3, ColumnOrigin::Columns, evs.iter(), ALL);
        let fp = Fingerprint { records: evs.len() as u64, max_seq: 9, index_crc: 77 };
        write(dir.path(), 3, fp, &cols).expect("write");
        let back = read_new(dir.path(), 3, fp, ALL).expect("read");
        assert_eq!(back, cols);
        for (i, e) in evs.iter().enumerate() {
            assert_eq!(back.signals[back.signal[i] as usize], e.signal);
            assert_eq!(back.time_ms[i], e.time_ms);
            assert_eq!(e.shopper_key(), (back.shopper[i] != NO_ID).then(|| back.shoppers.get(back.shopper[i]).expect("in dict")));
            assert_eq!(e.context.locale.as_deref(), (back.locale[i] != NO_ID).then(|| back.locales.get(back.locale[i]).expect("in dict")));
            assert_eq!((back.device_of(i), back.referrer_class_of(i)), (e.context.device, e.context.referrer_class));
        }
        let lean = read_new(dir.path(), 3, fp, ColumnSet::default()).expect("read");
        assert!(lean.device.is_empty() && lean.locale.is_empty() && lean.referrer_class.is_empty());
        assert_eq!(lean.shopper, cols.shopper);
    }

    #[test]
    fn a_stale_or_damaged_column_file_is_refused_with_a_reason() {
        let dir = tempfile::tempdir().expect("tempdir");
        let evs = events();
        let cols = from_rows(1, ColumnOrigin::Columns, evs.iter(), ALL);
        let fp = Fingerprint { records: evs.len() as u64, max_seq: 9, index_crc: 77 };
        write(dir.path(), 1, fp, &cols).expect("write");
        let stale = Fingerprint { index_crc: 78, ..fp };
        assert!(matches!(read_new(dir.path(), 1, stale, ALL), Err(Unusable::Bad(why)) if why.contains("stale")));
        assert!(matches!(read_new(dir.path(), 2, fp, ALL), Err(Unusable::Missing)));
        let path = columns_path(dir.path(), 1);
        let good = fs::read(&path).expect("read");
        // Every single flipped byte and every truncation is caught (CRCs and lengths).
        for at in (0..good.len()).step_by(7) {
            let mut bad = good.clone();
            bad[at] ^= 0x40;
            assert!(decode_new(&bad, 1, fp).is_err(), "flip at {at} went unnoticed");
        }
        for len in [0, 10, HEADER_LEN - 1, HEADER_LEN + 3, good.len() - 1] {
            assert!(decode_new(&good[..len], 1, fp).is_err(), "truncation to {len} went unnoticed");
        }
    }

    #[test]
    fn widths_grow_with_the_dictionary() {
        assert_eq!((width_for(0), width_for(255), width_for(256), width_for(65_536), width_for(1 << 24)), (1, 1, 2, 3, 4));
        for dict_len in [1usize, 255, 256, 70_000, 1 << 24] {
            let ids = [0, NO_ID, (dict_len - 1) as u32];
            let mut out = Vec::new();
            decode_ids(&encode_ids(&ids, dict_len), 3, dict_len, true, &mut out).expect("decode");
            assert_eq!(out, ids);
        }
    }

    /// Version 2 stores what does not compress as is; version 1 files (every section a zstd
    /// frame), as earlier builds wrote them, still read the same.
    #[test]
    fn incompressible_sections_are_stored_as_is_and_version_1_files_still_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        // Times a pseudo-random walk and many shoppers: sections zstd cannot shrink by a quarter.
        let mut t = 0i64;
        let events: Vec<Event> = (0u64..5_000)
            .map(|i| {
                let r = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
                t += (r % 100_000) as i64;
                let mut e = Event::new(format!("m{i}"), t, Signal::Builtin(Builtin::from_code((r % 5 + 1) as u8).expect("code")), Source::Segment);
                e.user_id = Some(format!("u{}", r % 3_000));
                e
            })
            .collect();
        let cols = from_rows(1, ColumnOrigin::Columns, events.iter(), ALL);
        let fp = Fingerprint { records: cols.len() as u64, max_seq: 9, index_crc: 7 };
        let mut got = Vec::new();
        for version in [1, VERSION] {
            write_version(dir.path(), 1, fp, &cols, version).expect("write");
            let bytes = fs::read(columns_path(dir.path(), 1)).expect("read");
            let as_is = (0..SECTIONS).filter(|s| {
                let at = 56 + s * SECTION_ENTRY_LEN;
                u32_at(&bytes, at + 8) == u32_at(&bytes, at + 12) && u32_at(&bytes, at + 12) > 0
            });
            assert_eq!(as_is.count() > 0, version >= 2, "version {version}");
            got.push(read_new(dir.path(), 1, fp, ALL).expect("read back"));
        }
        assert_eq!(got[0], got[1]);
        assert_eq!(got[1].time_ms, events.iter().map(|e| e.time_ms).collect::<Vec<_>>());
    }

    #[test]
    fn dictionaries_of_any_text_round_trip_and_bad_bytes_are_refused() {
        let section = |entries: &[&[u8]]| {
            let mut raw = Vec::new();
            put_varint(&mut raw, entries.len() as u64);
            for e in entries {
                put_varint(&mut raw, e.len() as u64);
                raw.extend_from_slice(e);
            }
            raw
        };
        let long = format!("{}é", "x".repeat(200));
        let texts = ["a", "é", "", "日本", long.as_str()];
        let mut d = Dictionary::default();
        decode_dict(&section(&texts.map(str::as_bytes)), &mut d).expect("valid");
        assert_eq!(d.iter().collect::<Vec<_>>(), texts);
        // Short entries only: the one-check path.
        decode_dict(&section(&[b"u1", "ü".as_bytes()]), &mut d).expect("valid");
        assert_eq!(d.iter().collect::<Vec<_>>(), ["u1", "ü"]);
        assert!(decode_dict(&section(&[b"ok", &[0xff]]), &mut d).is_err());
        // "é" split across two entries: each half alone is not UTF-8.
        assert!(decode_dict(&section(&[&[0xc3], &[0xa9]]), &mut d).is_err());
        assert!(decode_dict(&section(&[long.as_bytes(), &[0xc3]]), &mut d).is_err());
    }

    /// The decoders refuse what does not fit (the file's CRCs catch damage first; these guard
    /// against a writer's bug).
    #[test]
    fn decoders_refuse_ids_and_times_out_of_bounds() {
        let mut out = Vec::new();
        // Stored 1 + id: 3 is id 2, beyond a dictionary of 2; 0 is "none".
        assert!(decode_ids(&[1, 3], 2, 2, true, &mut out).is_err());
        assert!(decode_ids(&[1, 2, 0], 3, 2, true, &mut out).is_ok());
        assert!(decode_ids(&[1, 2, 0], 3, 2, false, &mut out).is_err(), "none where none is not allowed");
        assert!(decode_ids(&[1, 2], 3, 2, true, &mut out).is_err(), "length");
        // Times: a first value, one-byte and multi-byte deltas.
        let mut raw = Vec::new();
        put_varint(&mut raw, zigzag(-5));
        for d in [0u64, 127, 128, 300_000] {
            put_varint(&mut raw, d);
        }
        let mut times = Vec::new();
        decode_times(&raw, 5, &mut times).expect("times");
        assert_eq!(times, [-5, -5, 122, 250, 300_250]);
        assert!(decode_times(&raw, 6, &mut times).is_err(), "too few");
        assert!(decode_times(&raw, 4, &mut times).is_err(), "trailing bytes");
        let mut huge = Vec::new();
        put_varint(&mut huge, zigzag(i64::MAX - 1));
        put_varint(&mut huge, 5);
        assert!(decode_times(&huge, 2, &mut times).is_err(), "overflow");
    }
}
