//! Every bound Glint enforces, in one place, with why that number and what happens at it.
//!
//! Configuration may lower a bound but never raise it: the server and the log size their
//! buffers from these constants. Relations between bounds are checked at compile time.

/// Largest single message, in bytes of its JSON. Segment's documented per-message limit;
/// a bigger message is rejected with 413 (alone) or an error naming `index` (in a batch).
pub const EVENT_BYTES_MAX: usize = 32 * 1024;

/// Largest request body after decompression, in bytes. Segment's documented batch limit;
/// a bigger body is answered 413 before it is parsed.
pub const REQUEST_BYTES_MAX: usize = 500 * 1024;

/// Largest compressed request body we read off the wire. gzip of JSON rarely beats 20:1 and a
/// bigger compressed body must inflate past `REQUEST_BYTES_MAX` anyway.
pub const REQUEST_WIRE_BYTES_MAX: usize = REQUEST_BYTES_MAX;

/// Most messages in one batch. 500 KB of the smallest useful message (~200 B) is 2,500; we
/// allow that many so a valid Segment batch is never refused for its count alone.
pub const BATCH_EVENTS_MAX: usize = 2_500;

/// Deepest JSON nesting accepted in a message. Past this a message is refused by the parser
/// (serde_json stops at 128) and the error names the message.
pub const JSON_DEPTH_MAX: usize = 128;

/// How far in the future an event time may lie, relative to when we received it, by default.
/// Segment corrects clock skew with `sentAt`; beyond this the clock is simply wrong.
pub const FUTURE_MS_MAX_DEFAULT: i64 = 24 * 3600 * 1000;

/// Longest string kept in a property or trait, in bytes. Longer strings are cut at a char
/// boundary: shoppers' page titles do not deserve unbounded disk.
pub const STRING_BYTES_MAX: usize = 2_048;

/// Most items kept from a `products[]`/`items[]` array. Orders beyond it are rare and the
/// rest are counted in `quantity`/`revenue` anyway.
pub const ITEMS_PER_EVENT_MAX: usize = 200;

/// Largest encoded record in the log. An event that passed `EVENT_BYTES_MAX` as JSON always
/// encodes smaller, so hitting this is a bug, asserted in the log.
pub const RECORD_BYTES_MAX: usize = 64 * 1024;

/// An active segment is sealed (sorted, compressed, indexed) when it reaches this size.
pub const SEGMENT_BYTES_MAX: u64 = 64 * 1024 * 1024;

/// Batches waiting for the log writer. When full, ingestion answers 429 with Retry-After
/// rather than buffering without bound: back-pressure reaches the client.
pub const INGEST_QUEUE_DEPTH_MAX: usize = 1_024;

/// Entries in the user-agent parse cache. Real traffic has a few hundred distinct agents a
/// minute; when the cache is full it is cleared (cheap, and keeps memory flat).
pub const USER_AGENT_CACHE_MAX: usize = 4_096;

const _: () = assert!(EVENT_BYTES_MAX <= REQUEST_BYTES_MAX);
const _: () = assert!(EVENT_BYTES_MAX * 2 <= RECORD_BYTES_MAX);
const _: () = assert!(RECORD_BYTES_MAX as u64 <= SEGMENT_BYTES_MAX);
const _: () = assert!(STRING_BYTES_MAX <= EVENT_BYTES_MAX);

/// How much of an oversize request body the server reads and discards before answering 413.
/// Clients write the whole body before reading the answer; closing on them mid-body turns a
/// clear 413 into a broken pipe, which client libraries retry forever. Past this, it closes.
pub const DRAIN_BYTES_MAX: usize = 16 * REQUEST_BYTES_MAX;
