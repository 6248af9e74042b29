//! The journal file: its line format, recovery, the book folded from it, and rewrites.
//!
//! # Format
//!
//! `journal.log` is append-only text, one record per line:
//!
//! ```text
//! 3f1c09a2 {"t":"enqueued","fire_id":"9b…","endpoint":"crm","user":"u1","enqueued_ms":1700000000000,"body":{…}}
//! 77d0e4b1 {"t":"delivered","fire_id":"9b…","endpoint":"crm","user":"u1","enqueued_ms":1700000000000,"attempts":1,"status":200,"at_ms":1700000000120}
//! 0c2d5e3f {"t":"dead","fire_id":"9b…","endpoint":"crm","user":"u1","attempts":8,"status":500,"error":"HTTP 500 …","at_ms":…}
//! 91aa03c7 {"t":"redriven","fire_id":"9b…","endpoint":"crm","user":"u1","at_ms":…}
//! ```
//!
//! The first 8 characters are the CRC32C (hex) of the JSON after the space. `body` is the exact
//! webhook body (raw JSON, byte for byte what is signed and sent). Every record names its
//! shopper (`user`), so erasure can drop every line of a shopper without joins.
//!
//! # Folding
//!
//! A delivery is keyed by (endpoint, fire id). `enqueued` makes it pending; `delivered` and
//! `dead` settle a pending one; `redriven` makes a dead one pending again. A `delivered` line
//! with no `enqueued` before it is how a rewrite keeps an idempotence marker without the body.
//! Lines that do not apply (a settlement of something already settled) are ignored, so a
//! replayed journal folds to the same book as the live one.
//!
//! # Recovery decision table
//!
//! | bytes after the last `\n` | a complete line fails CRC or parse | action                               |
//! |---------------------------|------------------------------------|--------------------------------------|
//! | none                      | no                                 | open                                 |
//! | some (a torn append)      | no                                 | cut them (writer), ignore (reader)   |
//! | any                       | yes                                | refuse: [`OutboxError::Corrupt`] with file and line |
//!
//! Only an unterminated tail is ever cut: a complete line was acknowledged (its fsync
//! returned), so a bad one is damage, not a torn write, and the outbox refuses to guess.
//!
//! # Rewrites
//!
//! Compaction and erasure write the book back as `journal.log.tmp` (pending: `enqueued`; dead:
//! `enqueued` + `dead`; delivered: `delivered` alone, kept [`DELIVERED_KEEP_MS`]), fsync it,
//! rename it over `journal.log` and fsync the directory. A crash at any point leaves either the
//! old or the new file whole; a leftover `.tmp` is removed at open.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::OutboxError;

/// The journal's file name inside the outbox directory.
pub(crate) const JOURNAL: &str = "journal.log";
/// Where rewrites are staged before the rename.
pub(crate) const JOURNAL_TMP: &str = "journal.log.tmp";
/// The writer's lock file: one outbox writer per directory.
pub(crate) const LOCK: &str = "LOCK";

/// How long a rewrite keeps the marker of a delivered firing. Firing ids are deterministic and
/// the engine itself writes each firing once, so the marker only guards against a re-enqueue
/// soon after; 30 days bounds the journal of a busy shop.
pub const DELIVERED_KEEP_MS: i64 = 30 * 24 * 3600 * 1000;

/// A rewrite happens only when the file has at least this many lines…
const COMPACT_LINES_MIN: u64 = 4_096;
/// …and at least this many times the lines the book needs.
const COMPACT_RATIO: u64 = 2;

/// A webhook body: JSON text, validated once at enqueue.
pub(crate) type Body = Arc<str>;

/// Which of the four records a line is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Enqueued,
    Delivered,
    Dead,
    Redriven,
}

/// A line as JSON, every field a record kind may have. The body is spliced in by hand when
/// writing (it is already JSON) and read back raw, so its bytes never change.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    t: Kind,
    fire_id: String,
    endpoint: String,
    user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    enqueued_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    attempts: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    at_ms: Option<i64>,
    #[serde(default, skip_serializing)]
    body: Option<Box<RawValue>>,
}

/// One journal record, typed.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Record {
    /// A delivery accepted: durable before `enqueue` returns.
    Enqueued { endpoint: String, fire_id: String, user: String, enqueued_ms: i64, body: Body },
    /// A 2xx answer: never sent again.
    Delivered { endpoint: String, fire_id: String, user: String, enqueued_ms: i64, attempts: u32, status: u16, at_ms: i64 },
    /// Out of attempts.
    Dead { endpoint: String, fire_id: String, user: String, attempts: u32, status: Option<u16>, error: String, at_ms: i64 },
    /// A dead letter made pending again.
    Redriven { endpoint: String, fire_id: String, user: String, at_ms: i64 },
}

impl Record {
    /// The line's bytes, checksum first, newline last.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let (kind, endpoint, fire_id, user) = match self {
            Record::Enqueued { endpoint, fire_id, user, .. } => (Kind::Enqueued, endpoint, fire_id, user),
            Record::Delivered { endpoint, fire_id, user, .. } => (Kind::Delivered, endpoint, fire_id, user),
            Record::Dead { endpoint, fire_id, user, .. } => (Kind::Dead, endpoint, fire_id, user),
            Record::Redriven { endpoint, fire_id, user, .. } => (Kind::Redriven, endpoint, fire_id, user),
        };
        let mut line = Line {
            t: kind,
            fire_id: fire_id.clone(),
            endpoint: endpoint.clone(),
            user: user.clone(),
            enqueued_ms: None,
            attempts: None,
            status: None,
            error: None,
            at_ms: None,
            body: None,
        };
        let mut body = None;
        match self {
            Record::Enqueued { enqueued_ms, body: b, .. } => {
                line.enqueued_ms = Some(*enqueued_ms);
                body = Some(b);
            }
            Record::Delivered { enqueued_ms, attempts, status, at_ms, .. } => {
                line.enqueued_ms = Some(*enqueued_ms);
                line.attempts = Some(*attempts);
                line.status = Some(*status);
                line.at_ms = Some(*at_ms);
            }
            Record::Dead { attempts, status, error, at_ms, .. } => {
                line.attempts = Some(*attempts);
                line.status = *status;
                line.error = Some(error.clone());
                line.at_ms = Some(*at_ms);
            }
            Record::Redriven { at_ms, .. } => line.at_ms = Some(*at_ms),
        }
        let mut json = serde_json::to_string(&line).expect("a Line of strings and integers always serialises");
        if let Some(body) = body {
            // `json` ends with the object's `}`; the body is validated JSON, appended raw.
            debug_assert!(json.ends_with('}'));
            json.pop();
            json.push_str(",\"body\":");
            json.push_str(body);
            json.push('}');
        }
        let mut out = format!("{:08x} ", crc32c::crc32c(json.as_bytes())).into_bytes();
        out.extend_from_slice(json.as_bytes());
        out.push(b'\n');
        out
    }

    /// Parse one line (without its newline); the error says which check failed.
    fn decode(bytes: &[u8]) -> Result<Record, String> {
        let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_string())?;
        let (crc_hex, json) = text.split_once(' ').ok_or("no checksum before the JSON")?;
        let crc = u32::from_str_radix(crc_hex, 16).map_err(|_| format!("checksum {crc_hex:?} is not hex"))?;
        if crc_hex.len() != 8 || crc != crc32c::crc32c(json.as_bytes()) {
            return Err("checksum mismatch".into());
        }
        let line: Line = serde_json::from_str(json).map_err(|e| format!("bad JSON: {e}"))?;
        let need = |field: &str| format!("{:?} record without {field}", line.t);
        Ok(match line.t {
            Kind::Enqueued => Record::Enqueued {
                enqueued_ms: line.enqueued_ms.ok_or_else(|| need("enqueued_ms"))?,
                body: Arc::from(line.body.ok_or_else(|| need("body"))?.get()),
                endpoint: line.endpoint,
                fire_id: line.fire_id,
                user: line.user,
            },
            Kind::Delivered => Record::Delivered {
                enqueued_ms: line.enqueued_ms.ok_or_else(|| need("enqueued_ms"))?,
                attempts: line.attempts.ok_or_else(|| need("attempts"))?,
                status: line.status.ok_or_else(|| need("status"))?,
                at_ms: line.at_ms.ok_or_else(|| need("at_ms"))?,
                endpoint: line.endpoint,
                fire_id: line.fire_id,
                user: line.user,
            },
            Kind::Dead => Record::Dead {
                attempts: line.attempts.ok_or_else(|| need("attempts"))?,
                error: line.error.ok_or_else(|| need("error"))?,
                at_ms: line.at_ms.ok_or_else(|| need("at_ms"))?,
                status: line.status,
                endpoint: line.endpoint,
                fire_id: line.fire_id,
                user: line.user,
            },
            Kind::Redriven => Record::Redriven {
                at_ms: line.at_ms.ok_or_else(|| need("at_ms"))?,
                endpoint: line.endpoint,
                fire_id: line.fire_id,
                user: line.user,
            },
        })
    }
}

/// Where one delivery stands.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum State {
    /// Waiting, backing off or in flight.
    Pending,
    /// Answered 2xx; durable, so never sent again.
    Delivered { attempts: u32, status: u16, at_ms: i64 },
    /// Out of attempts; kept with its body for a redrive.
    Dead { attempts: u32, status: Option<u16>, error: String, at_ms: i64 },
}

/// One delivery in the book.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    /// Journal order, for stable rewrites and resume order.
    pub(crate) seq: u64,
    pub(crate) user: String,
    pub(crate) enqueued_ms: i64,
    /// Present while the entry may still be sent (pending or dead).
    pub(crate) body: Option<Body>,
    pub(crate) state: State,
}

/// What applying a record changed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Applied {
    /// The record did not apply (its effect was already there).
    Nothing,
    /// The delivery became pending (new, or redriven).
    Pending,
    /// A pending delivery was settled (delivered or dead).
    Settled,
    /// A delivered marker from a rewrite.
    Marker,
}

/// Every delivery the journal knows, by endpoint then fire id.
#[derive(Debug, Default)]
pub(crate) struct Book {
    pub(crate) endpoints: HashMap<String, HashMap<String, Entry>>,
    next_seq: u64,
}

impl Book {
    pub(crate) fn get(&self, endpoint: &str, fire_id: &str) -> Option<&Entry> {
        self.endpoints.get(endpoint)?.get(fire_id)
    }

    pub(crate) fn contains(&self, endpoint: &str, fire_id: &str) -> bool {
        self.get(endpoint, fire_id).is_some()
    }

    pub(crate) fn is_pending(&self, endpoint: &str, fire_id: &str) -> bool {
        self.get(endpoint, fire_id).is_some_and(|e| e.state == State::Pending)
    }

    /// Fold one record in (recovery and live commits share this).
    pub(crate) fn apply(&mut self, record: &Record) -> Applied {
        match record {
            Record::Enqueued { endpoint, fire_id, user, enqueued_ms, body } => {
                if self.contains(endpoint, fire_id) {
                    return Applied::Nothing;
                }
                let entry = Entry { seq: self.next_seq, user: user.clone(), enqueued_ms: *enqueued_ms, body: Some(body.clone()), state: State::Pending };
                self.next_seq += 1;
                self.endpoints.entry(endpoint.clone()).or_default().insert(fire_id.clone(), entry);
                Applied::Pending
            }
            Record::Delivered { endpoint, fire_id, user, enqueued_ms, attempts, status, at_ms } => {
                let delivered = State::Delivered { attempts: *attempts, status: *status, at_ms: *at_ms };
                match self.endpoints.get_mut(endpoint.as_str()).and_then(|m| m.get_mut(fire_id.as_str())) {
                    Some(entry) if entry.state == State::Pending => {
                        entry.state = delivered;
                        entry.body = None;
                        Applied::Settled
                    }
                    Some(_) => Applied::Nothing,
                    None => {
                        let entry = Entry { seq: self.next_seq, user: user.clone(), enqueued_ms: *enqueued_ms, body: None, state: delivered };
                        self.next_seq += 1;
                        self.endpoints.entry(endpoint.clone()).or_default().insert(fire_id.clone(), entry);
                        Applied::Marker
                    }
                }
            }
            Record::Dead { endpoint, fire_id, attempts, status, error, at_ms, .. } => {
                match self.endpoints.get_mut(endpoint.as_str()).and_then(|m| m.get_mut(fire_id.as_str())) {
                    Some(entry) if entry.state == State::Pending => {
                        entry.state = State::Dead { attempts: *attempts, status: *status, error: error.clone(), at_ms: *at_ms };
                        Applied::Settled
                    }
                    _ => Applied::Nothing,
                }
            }
            Record::Redriven { endpoint, fire_id, .. } => {
                match self.endpoints.get_mut(endpoint.as_str()).and_then(|m| m.get_mut(fire_id.as_str())) {
                    Some(entry) if matches!(entry.state, State::Dead { .. }) => {
                        debug_assert!(entry.body.is_some(), "a dead letter keeps its body");
                        entry.state = State::Pending;
                        Applied::Pending
                    }
                    _ => Applied::Nothing,
                }
            }
        }
    }

    /// Entries in journal order.
    pub(crate) fn ordered(&self) -> Vec<(&str, &str, &Entry)> {
        let mut all: Vec<_> = self.endpoints.iter().flat_map(|(ep, m)| m.iter().map(move |(id, e)| (ep.as_str(), id.as_str(), e))).collect();
        all.sort_by_key(|(_, _, e)| e.seq);
        all
    }

    /// Lines a rewrite of the book takes.
    fn lines_needed(&self) -> u64 {
        self.endpoints.values().flat_map(|m| m.values()).map(|e| if matches!(e.state, State::Dead { .. }) { 2 } else { 1 }).sum()
    }

    /// The records that rebuild this book.
    fn render(&self) -> Vec<Record> {
        let mut out = Vec::new();
        for (endpoint, fire_id, entry) in self.ordered() {
            let (endpoint, fire_id, user) = (endpoint.to_string(), fire_id.to_string(), entry.user.clone());
            let enqueued = |body: &Body| Record::Enqueued {
                endpoint: endpoint.clone(),
                fire_id: fire_id.clone(),
                user: user.clone(),
                enqueued_ms: entry.enqueued_ms,
                body: body.clone(),
            };
            match (&entry.state, &entry.body) {
                (State::Pending, Some(body)) => out.push(enqueued(body)),
                (State::Dead { attempts, status, error, at_ms }, Some(body)) => {
                    out.push(enqueued(body));
                    out.push(Record::Dead { endpoint, fire_id, user, attempts: *attempts, status: *status, error: error.clone(), at_ms: *at_ms });
                }
                (State::Delivered { attempts, status, at_ms }, _) => out.push(Record::Delivered {
                    endpoint,
                    fire_id,
                    user,
                    enqueued_ms: entry.enqueued_ms,
                    attempts: *attempts,
                    status: *status,
                    at_ms: *at_ms,
                }),
                (State::Pending | State::Dead { .. }, None) => unreachable!("pending and dead entries keep their body"),
            }
        }
        out
    }

    /// Forget every delivery of these shoppers; returns how many went.
    pub(crate) fn remove_users(&mut self, users: &HashSet<&str>) -> usize {
        let mut n_removed = 0;
        for m in self.endpoints.values_mut() {
            let before = m.len();
            m.retain(|_, e| !users.contains(e.user.as_str()));
            n_removed += before - m.len();
        }
        n_removed
    }

    /// Forget delivered markers settled before `cutoff_ms`.
    fn drop_delivered_before(&mut self, cutoff_ms: i64) {
        for m in self.endpoints.values_mut() {
            m.retain(|_, e| !matches!(e.state, State::Delivered { at_ms, .. } if at_ms < cutoff_ms));
        }
    }
}

/// What a scan of the file found.
struct Scanned {
    book: Book,
    /// Complete lines.
    lines: u64,
    /// Bytes up to and including the last newline.
    valid_len: u64,
}

/// Fold the journal's bytes; a torn tail is left out, a bad complete line refused.
fn scan(path: &Path, bytes: &[u8]) -> Result<Scanned, OutboxError> {
    let mut book = Book::default();
    let mut lines = 0;
    let mut start = 0;
    while let Some(n) = bytes[start..].iter().position(|&b| b == b'\n') {
        lines += 1;
        let record = Record::decode(&bytes[start..start + n]).map_err(|why| OutboxError::Corrupt { path: path.to_path_buf(), line: lines, why })?;
        book.apply(&record);
        start += n + 1;
    }
    Ok(Scanned { book, lines, valid_len: start as u64 })
}

/// Read the journal of `dir` without locking or repairing it (safe beside a running writer:
/// appends are whole lines and rewrites are renames, so a reader sees a prefix of one file).
pub(crate) fn read_book(dir: &Path) -> Result<Book, OutboxError> {
    let path = dir.join(JOURNAL);
    match fs::read(&path) {
        Ok(bytes) => Ok(scan(&path, &bytes)?.book),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Book::default()),
        Err(e) => Err(OutboxError::io(&path, e)),
    }
}

/// The writer's handle on the journal: the lock, the append handle, the line count.
#[derive(Debug)]
pub(crate) struct Store {
    dir: PathBuf,
    path: PathBuf,
    file: File,
    _lock: File,
    /// Lines in the file, to decide on compaction.
    lines: u64,
    /// Line count at which [`Store::should_compact`] next looks at the book (a full pass), so
    /// a group commit does not pay for it every time.
    next_check: u64,
    /// Bytes of a torn tail cut at open.
    pub(crate) torn_bytes_cut: u64,
}

impl Store {
    /// Take the lock and recover. `None` when `dir` does not exist and `create` is false.
    pub(crate) fn open(dir: &Path, create: bool) -> Result<Option<(Store, Book)>, OutboxError> {
        if !dir.is_dir() {
            if !create {
                return Ok(None);
            }
            fs::create_dir_all(dir).map_err(|e| OutboxError::io(dir, e))?;
        }
        let lock_path = dir.join(LOCK);
        let lock = OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path).map_err(|e| OutboxError::io(&lock_path, e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(OutboxError::Locked(dir.to_path_buf())),
            Err(fs::TryLockError::Error(e)) => return Err(OutboxError::io(&lock_path, e)),
        }
        let tmp = dir.join(JOURNAL_TMP);
        if tmp.exists() {
            // An interrupted rewrite: the journal itself is still the old, whole file.
            fs::remove_file(&tmp).map_err(|e| OutboxError::io(&tmp, e))?;
        }
        let path = dir.join(JOURNAL);
        let existed = path.exists();
        let mut file = OpenOptions::new().create(true).read(true).append(true).open(&path).map_err(|e| OutboxError::io(&path, e))?;
        if !existed {
            sync_dir(dir)?;
        }
        let bytes = {
            use std::io::Read;
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes).map_err(|e| OutboxError::io(&path, e))?;
            bytes
        };
        let scanned = scan(&path, &bytes)?;
        let torn_bytes_cut = bytes.len() as u64 - scanned.valid_len;
        if torn_bytes_cut > 0 {
            file.set_len(scanned.valid_len).and_then(|()| file.sync_data()).map_err(|e| OutboxError::io(&path, e))?;
        }
        let store = Store { dir: dir.to_path_buf(), path, file, _lock: lock, lines: scanned.lines, next_check: COMPACT_LINES_MIN, torn_bytes_cut };
        Ok(Some((store, scanned.book)))
    }

    /// Append records and make them durable (one write, one `fdatasync`).
    pub(crate) fn append(&mut self, records: &[Record]) -> Result<(), OutboxError> {
        if records.is_empty() {
            return Ok(());
        }
        let bytes: Vec<u8> = records.iter().flat_map(Record::encode).collect();
        self.file.write_all(&bytes).and_then(|()| self.file.sync_data()).map_err(|e| OutboxError::io(&self.path, e))?;
        self.lines += records.len() as u64;
        Ok(())
    }

    /// Whether the file has grown well past what the book needs.
    pub(crate) fn should_compact(&mut self, book: &Book) -> bool {
        if self.lines < self.next_check {
            return false;
        }
        self.next_check = self.lines + (self.lines / 4).max(COMPACT_LINES_MIN / 4);
        self.lines >= COMPACT_RATIO * book.lines_needed()
    }

    /// Replace the journal with a rendering of `book` (after dropping old delivered markers):
    /// temp file, fsync, rename, fsync directory.
    pub(crate) fn rewrite(&mut self, book: &mut Book, now_ms: i64) -> Result<(), OutboxError> {
        book.drop_delivered_before(now_ms.saturating_sub(DELIVERED_KEEP_MS));
        let records = book.render();
        let bytes: Vec<u8> = records.iter().flat_map(Record::encode).collect();
        let tmp = self.dir.join(JOURNAL_TMP);
        let mut f = File::create(&tmp).map_err(|e| OutboxError::io(&tmp, e))?;
        f.write_all(&bytes).and_then(|()| f.sync_all()).map_err(|e| OutboxError::io(&tmp, e))?;
        fs::rename(&tmp, &self.path).map_err(|e| OutboxError::io(&self.path, e))?;
        sync_dir(&self.dir)?;
        // The old handle points at the replaced inode; appends must go to the new one.
        self.file = OpenOptions::new().append(true).open(&self.path).map_err(|e| OutboxError::io(&self.path, e))?;
        self.lines = records.len() as u64;
        self.next_check = (COMPACT_RATIO * self.lines).max(COMPACT_LINES_MIN);
        debug_assert!(records.iter().all(|r| book.contains(r.endpoint(), r.fire_id())));
        Ok(())
    }

    /// Lines in the file now.
    #[cfg(test)]
    pub(crate) fn lines(&self) -> u64 {
        self.lines
    }
}

impl Record {
    fn endpoint(&self) -> &str {
        match self {
            Record::Enqueued { endpoint, .. } | Record::Delivered { endpoint, .. } | Record::Dead { endpoint, .. } | Record::Redriven { endpoint, .. } => endpoint,
        }
    }

    fn fire_id(&self) -> &str {
        match self {
            Record::Enqueued { fire_id, .. } | Record::Delivered { fire_id, .. } | Record::Dead { fire_id, .. } | Record::Redriven { fire_id, .. } => fire_id,
        }
    }
}

/// fsync a directory so a create or rename inside it is durable.
fn sync_dir(dir: &Path) -> Result<(), OutboxError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| OutboxError::io(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enq(fire_id: &str, user: &str) -> Record {
        Record::Enqueued { endpoint: "crm".into(), fire_id: fire_id.into(), user: user.into(), enqueued_ms: 5, body: Arc::from(r#"{"a": [1, 2.50, "x"]}"#) }
    }

    #[test]
    fn records_round_trip_through_their_line_with_the_body_byte_exact() {
        let records = [
            enq("f1", "u1"),
            Record::Delivered { endpoint: "crm".into(), fire_id: "f1".into(), user: "u1".into(), enqueued_ms: 5, attempts: 3, status: 204, at_ms: 9 },
            Record::Dead { endpoint: "crm".into(), fire_id: "f2".into(), user: "u\"2\n".into(), attempts: 8, status: None, error: "connect: refused".into(), at_ms: 9 },
            Record::Redriven { endpoint: "crm".into(), fire_id: "f2".into(), user: "u2".into(), at_ms: 10 },
        ];
        for record in records {
            let line = record.encode();
            assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1, "one line per record");
            let back = Record::decode(&line[..line.len() - 1]).expect("decodes");
            assert_eq!(back, record);
        }
        let line = String::from_utf8(enq("f1", "u1").encode()).expect("utf8");
        assert!(line.contains(r#""body":{"a": [1, 2.50, "x"]}"#), "{line}");
    }

    #[test]
    fn decode_names_the_failed_check() {
        let mut line = enq("f1", "u1").encode();
        line.pop();
        let good = line.clone();
        line[20] ^= 0x01;
        assert_eq!(Record::decode(&line), Err("checksum mismatch".into()));
        assert_eq!(Record::decode(b"{}"), Err("no checksum before the JSON".into()));
        let json = r#"{"t":"dead","fire_id":"f","endpoint":"e","user":"u","attempts":1,"at_ms":1}"#;
        let line = format!("{:08x} {json}", crc32c::crc32c(json.as_bytes()));
        assert_eq!(Record::decode(line.as_bytes()), Err("Dead record without error".into()));
        assert!(Record::decode(&good).is_ok());
    }

    #[test]
    fn compaction_is_due_once_most_of_a_long_journal_is_settled() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut store, mut book) = Store::open(dir.path(), true).expect("open").expect("created");
        let n = COMPACT_LINES_MIN / 2;
        let mut records: Vec<Record> = (0..n).map(|i| enq(&format!("f{i}"), "u")).collect();
        store.append(&records).expect("append");
        records.iter().for_each(|r| assert_eq!(book.apply(r), Applied::Pending));
        assert!(!store.should_compact(&book), "short journal");
        records = (0..n)
            .map(|i| Record::Delivered { endpoint: "crm".into(), fire_id: format!("f{i}"), user: "u".into(), enqueued_ms: 5, attempts: 1, status: 200, at_ms: 6 })
            .collect();
        store.append(&records).expect("append");
        records.iter().for_each(|r| assert_eq!(book.apply(r), Applied::Settled));
        assert!(store.should_compact(&book), "{} lines for {} needed", store.lines(), book.lines_needed());
        store.rewrite(&mut book, 7).expect("rewrite");
        assert_eq!(store.lines(), n);
        assert!(!store.should_compact(&book));
    }

    #[test]
    fn rewrite_keeps_pending_dead_and_recent_delivered_markers_and_folds_the_same() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut store, mut book) = Store::open(dir.path(), true).expect("open").expect("created");
        let now = 100 * DELIVERED_KEEP_MS;
        let mut records = vec![enq("pending", "u1"), enq("dead", "u2"), enq("new-ok", "u3"), enq("old-ok", "u4")];
        let settle = |fire_id: &str, user: &str, at_ms| Record::Delivered { endpoint: "crm".into(), fire_id: fire_id.into(), user: user.into(), enqueued_ms: 5, attempts: 1, status: 200, at_ms };
        records.push(settle("new-ok", "u3", now - 1));
        records.push(settle("old-ok", "u4", now - DELIVERED_KEEP_MS - 1));
        records.push(Record::Dead { endpoint: "crm".into(), fire_id: "dead".into(), user: "u2".into(), attempts: 2, status: Some(500), error: "HTTP 500".into(), at_ms: now });
        for r in &records {
            book.apply(r);
        }
        store.append(&records).expect("append");
        assert_eq!(store.lines(), 7);
        store.rewrite(&mut book, now).expect("rewrite");
        assert_eq!(store.lines(), 4, "pending 1 + dead 2 + recent delivered 1");
        drop(store);
        let reread = read_book(dir.path()).expect("read");
        assert_eq!(reread.get("crm", "pending").map(|e| e.state.clone()), Some(State::Pending));
        assert!(matches!(reread.get("crm", "dead").map(|e| &e.state), Some(State::Dead { attempts: 2, .. })));
        assert!(reread.get("crm", "dead").and_then(|e| e.body.clone()).is_some(), "a dead letter keeps its body for redrive");
        assert!(matches!(reread.get("crm", "new-ok").map(|e| &e.state), Some(State::Delivered { .. })));
        assert!(!reread.contains("crm", "old-ok"), "markers older than DELIVERED_KEEP_MS go");
        // Appends after a rewrite land in the new file.
        let (mut store, _) = Store::open(dir.path(), false).expect("open").expect("exists");
        store.append(&[enq("later", "u5")]).expect("append");
        assert!(read_book(dir.path()).expect("read").is_pending("crm", "later"));
    }
}
