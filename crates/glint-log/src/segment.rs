//! Segment files: the active segment new records are appended to, and sealed segments.
//!
//! ## Active segment (`NNNNNNNNNNNNNNNN.active`)
//!
//! A 32-byte header (magic `GLNTLOG\0`, format version, kind, segment id, CRC32C of the
//! header), then records framed as `len: u32 LE | crc32c(payload): u32 LE | payload`. Records
//! are in ingest order and share one string table (see `codec`).
//!
//! Recovery reads records from the start and decides at the first frame that is not whole and
//! valid, by this table (asserted in code as `Tail`):
//!
//! | what follows the last good record                          | verdict               |
//! |------------------------------------------------------------|-----------------------|
//! | nothing                                                    | clean                 |
//! | fewer than 8 bytes, or only zero bytes                     | torn tail: truncate   |
//! | a frame whose length runs past the end of the file         | torn tail: truncate   |
//! | a bad CRC or undecodable frame that ends exactly at EOF    | torn tail: truncate   |
//! | a bad CRC, bad length or undecodable frame with more after | corrupt: refuse       |
//!
//! Only unacknowledged bytes can be torn, because a batch is acknowledged after `fsync`, and
//! appends reach the disk in order; so truncating a torn tail never loses an acknowledged event,
//! and a bad frame with data after it is real corruption that a human must look at.
//!
//! ## Sealed segment (`NNNNNNNNNNNNNNNN.sealed`)
//!
//! Written once, whole, atomically (temp file, fsync, rename, fsync directory). Records are
//! sorted by (event time, ingest sequence) and cut into chunks of about `CHUNK_RECORDS_MAX`
//! records; each chunk is zstd-compressed with its own string table, so a chunk decodes alone.
//! Layout: header (72 bytes: record count, time range, chunk count, index offset, largest
//! sequence number, CRC) |
//! chunks | chunk index (offset, length, records, first/last time, CRC32C per chunk; CRC of the
//! index) | the 64-bit hash of every record's message id (for de-duplication; CRC'd). The chunk
//! index is the time index: a time-range read skips chunks outside the range.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use glint_event::Event;
use glint_event::limits::RECORD_BYTES_MAX;

use crate::codec::{self, Cursor};
use crate::{Error, columns};

pub(crate) const MAGIC: &[u8; 8] = b"GLNTLOG\0";
pub(crate) const VERSION: u16 = 1;
const KIND_ACTIVE: u16 = 1;
const KIND_SEALED: u16 = 2;
pub(crate) const ACTIVE_HEADER_LEN: u64 = 32;
const SEALED_HEADER_LEN: usize = 72;
const FRAME_HEADER_LEN: usize = 8;
const CHUNK_INDEX_ENTRY_LEN: usize = 36;
/// Records per sealed chunk: big enough for zstd to find repetition, small enough that a
/// time-range read decompresses little it does not need.
pub(crate) const CHUNK_RECORDS_MAX: usize = 16_384;
const ZSTD_LEVEL: i32 = 3;

/// 64-bit hash of a message id, the de-duplication key.
pub(crate) fn id_hash(message_id: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(message_id.as_bytes())
}

pub(crate) fn active_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:016}.active"))
}

pub(crate) fn sealed_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:016}.sealed"))
}

/// fsync a directory so a create, rename or delete inside it is durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| Error::io(dir, e))
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
pub(crate) fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
pub(crate) fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

pub(crate) fn active_header_for_fuzzing(id: u64) -> [u8; ACTIVE_HEADER_LEN as usize] {
    active_header(id)
}

fn active_header(id: u64) -> [u8; ACTIVE_HEADER_LEN as usize] {
    let mut h = [0u8; ACTIVE_HEADER_LEN as usize];
    h[0..8].copy_from_slice(MAGIC);
    h[8..10].copy_from_slice(&VERSION.to_le_bytes());
    h[10..12].copy_from_slice(&KIND_ACTIVE.to_le_bytes());
    h[16..24].copy_from_slice(&id.to_le_bytes());
    let crc = crc32c::crc32c(&h[0..24]);
    h[24..28].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Summary of a segment's records, kept in memory for every segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SegmentMeta {
    pub(crate) id: u64,
    pub(crate) records: u64,
    pub(crate) min_time: i64,
    pub(crate) max_time: i64,
    pub(crate) bytes: u64,
}

impl SegmentMeta {
    pub(crate) fn empty(id: u64) -> SegmentMeta {
        SegmentMeta { id, records: 0, min_time: i64::MAX, max_time: i64::MIN, bytes: 0 }
    }

    pub(crate) fn add(&mut self, time: i64) {
        self.records += 1;
        self.min_time = self.min_time.min(time);
        self.max_time = self.max_time.max(time);
    }
}

/// One record read back: its sequence number, event time, and where its payload lies in the
/// segment's bytes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RawRecord {
    pub(crate) seq: u64,
    pub(crate) time: i64,
    start: usize,
    len: usize,
}

/// An active segment's bytes and its records, which point into them (no copy per record).
#[derive(Debug, Default)]
pub(crate) struct RawRecords {
    bytes: Vec<u8>,
    pub(crate) list: Vec<RawRecord>,
}

impl RawRecords {
    pub(crate) fn payload(&self, r: &RawRecord) -> &[u8] {
        &self.bytes[r.start..r.start + r.len]
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Every record's payload, in file order.
    pub(crate) fn payloads(&self) -> impl Iterator<Item = &[u8]> {
        self.list.iter().map(|r| self.payload(r))
    }
}

/// How an active segment's tail looked on open (the recovery decision table's rows).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tail {
    Clean,
    TornShort,
    TornZeros,
    TornPastEnd,
    TornBadLast,
}

/// The active segment: appended to, fsync'd by the caller's group commit.
#[derive(Debug)]
pub(crate) struct ActiveSegment {
    pub(crate) path: PathBuf,
    file: File,
    pub(crate) meta: SegmentMeta,
    pub(crate) len: u64,
    encoder: codec::Encoder,
}

impl ActiveSegment {
    pub(crate) fn create(dir: &Path, id: u64) -> Result<ActiveSegment, Error> {
        let path = active_path(dir, id);
        let mut file = OpenOptions::new().create_new(true).read(true).append(true).open(&path).map_err(|e| Error::io(&path, e))?;
        file.write_all(&active_header(id)).map_err(|e| Error::io(&path, e))?;
        file.sync_all().map_err(|e| Error::io(&path, e))?;
        sync_dir(dir)?;
        Ok(ActiveSegment { path, file, meta: SegmentMeta::empty(id), len: ACTIVE_HEADER_LEN, encoder: codec::Encoder::default() })
    }

    /// Open an existing active segment, apply the recovery table, and return it with its
    /// records (the caller rebuilds indexes from them) and the verdict on its tail.
    pub(crate) fn recover(path: &Path, id: u64, truncate: bool) -> Result<(Option<ActiveSegment>, RawRecords, Tail), Error> {
        let mut bytes = Vec::new();
        File::open(path).and_then(|mut f| f.read_to_end(&mut bytes)).map_err(|e| Error::io(path, e))?;
        if bytes.len() < ACTIVE_HEADER_LEN as usize {
            // Crashed while creating the file: nothing in it was ever acknowledged.
            if truncate {
                fs::remove_file(path).map_err(|e| Error::io(path, e))?;
            }
            return Ok((None, RawRecords::default(), Tail::TornShort));
        }
        check_header(path, &bytes, KIND_ACTIVE, id)?;
        let (list, good_len, tail) = scan_frames(path, &bytes)?;
        let records = RawRecords { bytes, list };
        if !truncate {
            return Ok((None, records, tail));
        }
        // Re-prime the encoder's string table by decoding every record in order.
        let mut meta = SegmentMeta::empty(id);
        let mut dec = codec::Decoder::default();
        let mut enc = codec::Encoder::default();
        let mut scratch = Vec::new();
        for r in &records.list {
            let (seq, e) = dec.decode(records.payload(r)).map_err(|d| Error::Corrupt { path: path.to_path_buf(), offset: 0, why: d.0.to_string() })?;
            assert_eq!(seq, r.seq, "peeked and decoded sequence numbers agree");
            meta.add(e.time_ms);
            scratch.clear();
            enc.encode(seq, &e, &mut scratch);
        }
        let file = OpenOptions::new().read(true).append(true).open(path).map_err(|e| Error::io(path, e))?;
        if tail != Tail::Clean {
            file.set_len(good_len).map_err(|e| Error::io(path, e))?;
            file.sync_all().map_err(|e| Error::io(path, e))?;
        }
        meta.bytes = good_len;
        let seg = ActiveSegment { path: path.to_path_buf(), file, meta, len: good_len, encoder: enc };
        Ok((Some(seg), records, tail))
    }

    /// Encode `event` as the next record into `buf` (not yet written).
    pub(crate) fn encode_into(&mut self, seq: u64, event: &Event, buf: &mut Vec<u8>) {
        let start = buf.len();
        buf.extend_from_slice(&[0u8; FRAME_HEADER_LEN]);
        self.encoder.encode(seq, event, buf);
        let payload_len = buf.len() - start - FRAME_HEADER_LEN;
        assert!(payload_len <= RECORD_BYTES_MAX, "an event that passed EVENT_BYTES_MAX encodes within RECORD_BYTES_MAX");
        let crc = crc32c::crc32c(&buf[start + FRAME_HEADER_LEN..]);
        buf[start..start + 4].copy_from_slice(&(payload_len as u32).to_le_bytes());
        buf[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
        self.meta.add(event.time_ms);
    }

    /// Write encoded records (to the OS; durable only after `sync`).
    pub(crate) fn write(&mut self, buf: &[u8]) -> Result<(), Error> {
        self.file.write_all(buf).map_err(|e| Error::io(&self.path, e))?;
        self.len += buf.len() as u64;
        self.meta.bytes = self.len;
        Ok(())
    }

    pub(crate) fn sync(&self) -> Result<(), Error> {
        self.file.sync_data().map_err(|e| Error::io(&self.path, e))
    }

    /// Retire the segment: close it and hand over its string table for sealing.
    pub(crate) fn retire(self) -> codec::Decoder {
        self.encoder.into_decoder()
    }
}

fn check_header(path: &Path, b: &[u8], kind: u16, id: u64) -> Result<(), Error> {
    let corrupt = |why: &str| Error::Corrupt { path: path.to_path_buf(), offset: 0, why: why.to_string() };
    if &b[0..8] != MAGIC {
        return Err(corrupt("not a Glint log segment (bad magic number)"));
    }
    let version = u16_at(b, 8);
    if version != VERSION {
        return Err(Error::Version { path: path.to_path_buf(), found: version, supported: VERSION });
    }
    let (hdr_len, crc_at) = if kind == KIND_ACTIVE { (24, 24) } else { (SEALED_HEADER_LEN - 4, SEALED_HEADER_LEN - 4) };
    if crc32c::crc32c(&b[0..hdr_len]) != u32_at(b, crc_at) {
        return Err(corrupt("header checksum mismatch"));
    }
    if u16_at(b, 10) != kind {
        return Err(corrupt("segment kind does not match its file name"));
    }
    if u64_at(b, 16) != id {
        return Err(corrupt("segment id does not match its file name"));
    }
    Ok(())
}

/// Walk the frames of an active segment; return the good records, where they end, and the
/// tail verdict. Errors only for corruption in the middle.
fn scan_frames(path: &Path, b: &[u8]) -> Result<(Vec<RawRecord>, u64, Tail), Error> {
    let mut at = ACTIVE_HEADER_LEN as usize;
    let mut records = Vec::new();
    let mut last_seq = None;
    let tail = loop {
        let rest = &b[at..];
        if rest.is_empty() {
            break Tail::Clean;
        }
        if rest.iter().all(|&x| x == 0) {
            break Tail::TornZeros;
        }
        if rest.len() < FRAME_HEADER_LEN {
            break Tail::TornShort;
        }
        let len = u32_at(rest, 0) as usize;
        let crc = u32_at(rest, 4);
        let corrupt = |why: &str| Error::Corrupt { path: path.to_path_buf(), offset: at as u64, why: why.to_string() };
        if len == 0 || len > RECORD_BYTES_MAX {
            if FRAME_HEADER_LEN + len.min(RECORD_BYTES_MAX) >= rest.len() {
                break Tail::TornPastEnd;
            }
            return Err(corrupt("record length out of range with data after it"));
        }
        if FRAME_HEADER_LEN + len > rest.len() {
            break Tail::TornPastEnd;
        }
        let payload = &rest[FRAME_HEADER_LEN..FRAME_HEADER_LEN + len];
        let ends_at_eof = FRAME_HEADER_LEN + len == rest.len();
        let peeked = codec::peek_seq_time(payload);
        if crc32c::crc32c(payload) != crc || peeked.is_err() {
            if ends_at_eof {
                break Tail::TornBadLast;
            }
            return Err(corrupt("record checksum mismatch with data after it"));
        }
        let (seq, time) = peeked.map_err(|d| corrupt(d.0))?;
        if let Some(prev) = last_seq
            && seq <= prev {
                return Err(corrupt("sequence numbers go backwards"));
            }
        last_seq = Some(seq);
        records.push(RawRecord { seq, time, start: at + FRAME_HEADER_LEN, len });
        at += FRAME_HEADER_LEN + len;
    };
    assert!(tail == Tail::Clean || at < b.len(), "a torn tail leaves bytes to cut");
    Ok((records, at as u64, tail))
}

/// One chunk of a sealed segment, as listed in its index.
#[derive(Clone, Debug)]
pub(crate) struct ChunkInfo {
    offset: u64,
    len: u32,
    pub(crate) records: u32,
    pub(crate) first_time: i64,
    pub(crate) last_time: i64,
    crc: u32,
}

/// A sealed segment's header and index, read on open; chunks are read on demand.
#[derive(Clone, Debug)]
pub(crate) struct SealedSegment {
    pub(crate) path: PathBuf,
    pub(crate) meta: SegmentMeta,
    pub(crate) chunks: Vec<ChunkInfo>,
    /// Largest sequence number inside, so a reopened log never reuses one.
    pub(crate) max_seq: u64,
    /// CRC32C of the chunk index: with the record count and `max_seq`, what ties a column
    /// file to this exact sealed file.
    pub(crate) index_crc: u32,
}

/// Write a sealed segment from decoded events (any order; sorted here) atomically.
pub(crate) fn write_sealed(dir: &Path, id: u64, mut events: Vec<(u64, Event)>) -> Result<SealedSegment, Error> {
    assert!(!events.is_empty(), "never seal an empty segment");
    events.sort_by_key(|(seq, e)| (e.time_ms, *seq));
    let chunks: Vec<Result<Vec<(u64, Event)>, Error>> = {
        let mut out = Vec::new();
        let mut it = events.into_iter().peekable();
        while it.peek().is_some() {
            out.push(Ok(it.by_ref().take(CHUNK_RECORDS_MAX).collect()));
        }
        out
    };
    write_sealed_chunks(dir, id, chunks.into_iter(), 1.0)
}

/// Seal an active segment's raw records without holding them all decoded: pass one decodes in
/// file order only to build the string table; the (time, seq) keys are sorted; pass two decodes
/// one chunk at a time, in sorted order, against the frozen table. Memory: the table and one
/// chunk, not the segment.
///
/// `table` is the writer's own string table when it has one (it saves pass one).
pub(crate) fn seal_records(
    dir: &Path,
    id: u64,
    path: &Path,
    records: &RawRecords,
    table: Option<codec::Decoder>,
    cpu_share: f64,
) -> Result<SealedSegment, Error> {
    assert!(!records.is_empty(), "never seal an empty segment");
    let corrupt = |d: codec::DecodeError| Error::Corrupt { path: path.to_path_buf(), offset: 0, why: d.0.to_string() };
    let rebuild = || -> Result<codec::Decoder, Error> {
        let mut dec = codec::Decoder::default();
        for payload in records.payloads() {
            dec.decode(payload).map_err(corrupt)?;
        }
        dec.freeze();
        Ok(dec)
    };
    let dec = match table {
        Some(t) => {
            debug_assert!(rebuild().is_ok_and(|r| r.same_table(&t)), "the writer's table is the file's table");
            t
        }
        None => rebuild()?,
    };
    let mut order: Vec<(i64, u64, usize)> = records.list.iter().enumerate().map(|(i, r)| (r.time, r.seq, i)).collect();
    order.sort_unstable();
    let mut dec = dec;
    let chunks = order.chunks(CHUNK_RECORDS_MAX).map(|keys| {
        keys.iter()
            .map(|&(time, seq, i)| {
                let (s, e) = dec.decode(records.payload(&records.list[i])).map_err(corrupt)?;
                assert_eq!((s, e.time_ms), (seq, time), "a frozen-table decode agrees with the peeked key");
                Ok((s, e))
            })
            .collect::<Result<Vec<_>, Error>>()
    });
    write_sealed_chunks(dir, id, chunks, cpu_share)
}

/// Bytes of sealed data written between `fdatasync`s. One big flush at the end would hold the
/// file system's journal long enough to stall the group commits of live ingestion behind it
/// (ext4 orders them in one journal transaction); small flushes keep each stall short.
const SEAL_SYNC_BYTES: usize = 4 << 20;

/// Write chunks of events, each already sorted and all in order, as a sealed segment: chunks
/// stream to a temporary file (synced every `SEAL_SYNC_BYTES`), then the index, the id list and
/// finally the header at the front; then fsync, rename, fsync the directory.
///
/// With `cpu_share` below 1, the writer rests after each chunk in proportion to the time the
/// chunk took, so it uses about that share of one core.
fn write_sealed_chunks(
    dir: &Path,
    id: u64,
    mut chunks: impl Iterator<Item = Result<Vec<(u64, Event)>, Error>>,
    cpu_share: f64,
) -> Result<SealedSegment, Error> {
    let path = sealed_path(dir, id);
    let tmp = dir.join(format!("{id:016}.sealed.tmp"));
    let io = |e: std::io::Error| Error::io(&tmp, e);
    // A rewrite (erasure, retention) must not leave the old columns behind: they may name an
    // erased shopper, and they describe the old file. Remove them before anything changes.
    columns::remove(dir, id)?;
    let mut cols = columns::ColumnBuilder::default();
    let mut f = File::create(&tmp).map_err(io)?;
    f.write_all(&[0u8; SEALED_HEADER_LEN]).map_err(io)?;
    let mut offset = SEALED_HEADER_LEN as u64;
    let mut unsynced = 0usize;
    let mut infos = Vec::new();
    let mut meta = SegmentMeta::empty(id);
    let mut ids = Vec::new();
    let mut max_seq = 0;
    let mut last_key = None;
    loop {
        let started = std::time::Instant::now();
        let Some(group) = chunks.next() else { break };
        let group = group?;
        let (Some(first), Some(last)) = (group.first(), group.last()) else { continue };
        let mut enc = codec::Encoder::default();
        let mut raw = Vec::new();
        let mut rec = Vec::new();
        for (seq, e) in &group {
            let key = (e.time_ms, *seq);
            assert!(last_key < Some(key), "sealed records are strictly ordered by (time, seq)");
            last_key = Some(key);
            rec.clear();
            enc.encode(*seq, e, &mut rec);
            put_varint(&mut raw, rec.len() as u64);
            raw.extend_from_slice(&rec);
            meta.add(e.time_ms);
            cols.push(e);
            ids.extend_from_slice(&id_hash(&e.message_id).to_le_bytes());
            max_seq = max_seq.max(*seq);
        }
        let compressed = zstd::bulk::compress(&raw, ZSTD_LEVEL).map_err(io)?;
        infos.push(ChunkInfo {
            offset,
            len: compressed.len() as u32,
            records: group.len() as u32,
            first_time: first.1.time_ms,
            last_time: last.1.time_ms,
            crc: crc32c::crc32c(&compressed),
        });
        f.write_all(&compressed).map_err(io)?;
        offset += compressed.len() as u64;
        unsynced += compressed.len();
        if unsynced >= SEAL_SYNC_BYTES {
            f.sync_data().map_err(io)?;
            unsynced = 0;
        }
        if cpu_share < 1.0 {
            std::thread::sleep(started.elapsed().mul_f64(1.0 / cpu_share - 1.0));
        }
    }
    assert!(meta.records > 0, "never seal an empty segment");
    let index_offset = offset;
    let mut index = Vec::with_capacity(infos.len() * CHUNK_INDEX_ENTRY_LEN + 4);
    for c in &infos {
        index.extend_from_slice(&c.offset.to_le_bytes());
        index.extend_from_slice(&c.len.to_le_bytes());
        index.extend_from_slice(&c.records.to_le_bytes());
        index.extend_from_slice(&c.first_time.to_le_bytes());
        index.extend_from_slice(&c.last_time.to_le_bytes());
        index.extend_from_slice(&c.crc.to_le_bytes());
    }
    let index_crc = crc32c::crc32c(&index);
    index.extend_from_slice(&index_crc.to_le_bytes());
    let ids_crc = crc32c::crc32c(&ids);
    ids.extend_from_slice(&ids_crc.to_le_bytes());

    let mut h = [0u8; SEALED_HEADER_LEN];
    h[0..8].copy_from_slice(MAGIC);
    h[8..10].copy_from_slice(&VERSION.to_le_bytes());
    h[10..12].copy_from_slice(&KIND_SEALED.to_le_bytes());
    h[16..24].copy_from_slice(&id.to_le_bytes());
    h[24..32].copy_from_slice(&meta.records.to_le_bytes());
    h[32..40].copy_from_slice(&meta.min_time.to_le_bytes());
    h[40..48].copy_from_slice(&meta.max_time.to_le_bytes());
    h[48..52].copy_from_slice(&(infos.len() as u32).to_le_bytes());
    h[52..60].copy_from_slice(&index_offset.to_le_bytes());
    h[60..68].copy_from_slice(&max_seq.to_le_bytes());
    let crc = crc32c::crc32c(&h[0..SEALED_HEADER_LEN - 4]);
    h[SEALED_HEADER_LEN - 4..].copy_from_slice(&crc.to_le_bytes());

    f.write_all(&index).map_err(io)?;
    f.write_all(&ids).map_err(io)?;
    f.seek(SeekFrom::Start(0)).map_err(io)?;
    f.write_all(&h).map_err(io)?;
    f.sync_all().map_err(io)?;
    drop(f);
    fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
    sync_dir(dir)?;
    meta.bytes = index_offset + index.len() as u64 + ids.len() as u64;
    let sealed = SealedSegment { path, meta, chunks: infos, max_seq, index_crc };
    // After the sealed file is in place: a crash before this leaves no column file, which a
    // reader answers from the rows.
    columns::write(dir, id, sealed.fingerprint(), &cols.finish(id, columns::ColumnOrigin::Columns))?;
    Ok(sealed)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

impl SealedSegment {
    /// Open a sealed segment: verify header and index checksums.
    pub(crate) fn open(path: &Path, id: u64) -> Result<SealedSegment, Error> {
        let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
        let file_len = f.metadata().map_err(|e| Error::io(path, e))?.len();
        let corrupt = |offset: u64, why: &str| Error::Corrupt { path: path.to_path_buf(), offset, why: why.to_string() };
        let mut h = [0u8; SEALED_HEADER_LEN];
        f.read_exact(&mut h).map_err(|_| corrupt(0, "shorter than a sealed header"))?;
        check_header(path, &h, KIND_SEALED, id)?;
        let records = u64_at(&h, 24);
        let (min_time, max_time) = (u64_at(&h, 32) as i64, u64_at(&h, 40) as i64);
        let n_chunks = u32_at(&h, 48) as usize;
        let index_offset = u64_at(&h, 52);
        let index_len = n_chunks * CHUNK_INDEX_ENTRY_LEN + 4;
        if index_offset + index_len as u64 + records * 8 + 4 != file_len {
            return Err(corrupt(index_offset, "file length does not match its header"));
        }
        let mut index = vec![0u8; index_len];
        f.seek(SeekFrom::Start(index_offset)).and_then(|_| f.read_exact(&mut index)).map_err(|e| Error::io(path, e))?;
        if crc32c::crc32c(&index[..index_len - 4]) != u32_at(&index, index_len - 4) {
            return Err(corrupt(index_offset, "chunk index checksum mismatch"));
        }
        let chunks: Vec<ChunkInfo> = index[..index_len - 4]
            .chunks_exact(CHUNK_INDEX_ENTRY_LEN)
            .map(|c| ChunkInfo {
                offset: u64_at(c, 0),
                len: u32_at(c, 8),
                records: u32_at(c, 12),
                first_time: u64_at(c, 16) as i64,
                last_time: u64_at(c, 24) as i64,
                crc: u32_at(c, 32),
            })
            .collect();
        let sum: u64 = chunks.iter().map(|c| u64::from(c.records)).sum();
        if sum != records {
            return Err(corrupt(index_offset, "chunk record counts do not add up"));
        }
        let meta = SegmentMeta { id, records, min_time, max_time, bytes: file_len };
        let index_crc = u32_at(&index, index_len - 4);
        Ok(SealedSegment { path: path.to_path_buf(), meta, chunks, max_seq: u64_at(&h, 60), index_crc })
    }

    /// What a column file of this segment must carry to be used.
    pub(crate) fn fingerprint(&self) -> columns::Fingerprint {
        columns::Fingerprint { records: self.meta.records, max_seq: self.max_seq, index_crc: self.index_crc }
    }

    /// Every record, decoded, in (time, seq) order.
    pub(crate) fn read_all(&self) -> Result<Vec<(u64, Event)>, Error> {
        let mut f = File::open(&self.path).map_err(|e| Error::io(&self.path, e))?;
        let mut out = Vec::with_capacity(self.meta.records as usize);
        for i in 0..self.chunks.len() {
            out.extend(self.read_chunk(&mut f, i)?);
        }
        Ok(out)
    }

    /// The message-id hashes of every record (for the de-duplication index).
    pub(crate) fn read_ids(&self) -> Result<Vec<u64>, Error> {
        let mut f = File::open(&self.path).map_err(|e| Error::io(&self.path, e))?;
        let n = self.meta.records as usize;
        let at = self.meta.bytes - (n as u64 * 8 + 4);
        let mut b = vec![0u8; n * 8 + 4];
        f.seek(SeekFrom::Start(at)).and_then(|_| f.read_exact(&mut b)).map_err(|e| Error::io(&self.path, e))?;
        if crc32c::crc32c(&b[..n * 8]) != u32_at(&b, n * 8) {
            return Err(Error::Corrupt { path: self.path.clone(), offset: at, why: "message-id list checksum mismatch".into() });
        }
        Ok(b[..n * 8].chunks_exact(8).map(|c| u64_at(c, 0)).collect())
    }

    /// Decode one chunk's records, in (time, seq) order.
    pub(crate) fn read_chunk(&self, file: &mut File, idx: usize) -> Result<Vec<(u64, Event)>, Error> {
        let c = &self.chunks[idx];
        let corrupt = |why: String| Error::Corrupt { path: self.path.clone(), offset: c.offset, why };
        let mut compressed = vec![0u8; c.len as usize];
        file.seek(SeekFrom::Start(c.offset)).and_then(|_| file.read_exact(&mut compressed)).map_err(|e| Error::io(&self.path, e))?;
        if crc32c::crc32c(&compressed) != c.crc {
            return Err(corrupt("chunk checksum mismatch".into()));
        }
        let raw = zstd::stream::decode_all(&compressed[..]).map_err(|e| corrupt(format!("chunk does not decompress: {e}")))?;
        let mut cur = Cursor::new(&raw);
        let mut dec = codec::Decoder::default();
        let mut out = Vec::with_capacity(c.records as usize);
        while !cur.is_empty() {
            let n = cur.varint().map_err(|d| corrupt(d.0.into()))? as usize;
            let rec = cur.bytes(n).map_err(|d| corrupt(d.0.into()))?;
            out.push(dec.decode(rec).map_err(|d| corrupt(d.0.into()))?);
        }
        if out.len() != c.records as usize {
            return Err(corrupt("chunk holds a different number of records than its index says".into()));
        }
        debug_assert!(out.windows(2).all(|w| (w[0].1.time_ms, w[0].0) < (w[1].1.time_ms, w[1].0)), "sealed chunks are sorted");
        Ok(out)
    }
}
