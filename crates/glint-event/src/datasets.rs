//! Importing history: public dataset formats and Segment JSONL, row by row into events.
//!
//! Every row's message id is derived from (format, row content, occurrence number of identical
//! rows), so importing a file twice adds nothing while genuinely repeated rows still count.
//! Bad rows are reported with their 1-based line number and never stop good ones (unless the
//! caller chooses `--strict`). Naive timestamps are UTC.

use std::collections::HashMap;
use std::io::{BufRead, Read};

use crate::event::{Event, EventKind, Source};
use crate::signal::{Signal, normalize_name};
use crate::time::parse_timestamp_ms;
use crate::wire::Decoder;

/// A supported import format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatasetFormat {
    /// One Segment message per line.
    SegmentJsonl,
    /// REES46 multi-category store CSV.
    Rees46,
    /// RetailRocket `events.csv`.
    RetailRocket,
    /// Taobao UserBehavior CSV (no header).
    Taobao,
    /// Diginetica CIKM Cup 2016 views and purchases (`;`-separated).
    Diginetica,
    /// OTTO sessions JSONL.
    Otto,
    /// Generic `user_id,event,timestamp` clickstream CSV.
    Clickstream,
}

impl DatasetFormat {
    /// All formats with their command-line names.
    pub const ALL: &'static [(&'static str, DatasetFormat)] = &[
        ("segment-jsonl", DatasetFormat::SegmentJsonl),
        ("rees46", DatasetFormat::Rees46),
        ("retailrocket", DatasetFormat::RetailRocket),
        ("taobao", DatasetFormat::Taobao),
        ("diginetica", DatasetFormat::Diginetica),
        ("otto", DatasetFormat::Otto),
        ("clickstream", DatasetFormat::Clickstream),
    ];

    /// The format for a command-line name.
    pub fn from_name(name: &str) -> Option<DatasetFormat> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
    }

    /// The command-line name.
    pub fn name(self) -> &'static str {
        Self::ALL.iter().find(|(_, f)| *f == self).map_or("?", |(n, _)| n)
    }

    fn source(self) -> Source {
        match self {
            DatasetFormat::SegmentJsonl => Source::SegmentJsonl,
            DatasetFormat::Rees46 => Source::Rees46,
            DatasetFormat::RetailRocket => Source::RetailRocket,
            DatasetFormat::Taobao => Source::Taobao,
            DatasetFormat::Diginetica => Source::Diginetica,
            DatasetFormat::Otto => Source::Otto,
            DatasetFormat::Clickstream => Source::Clickstream,
        }
    }
}

/// A row that could not be imported.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {field}: {error}")]
pub struct RowError {
    /// 1-based line number in the file (the header is line 1 where there is one).
    pub line: u64,
    /// The column or JSON field at fault.
    pub field: String,
    /// What is wrong.
    pub error: String,
}

/// The file itself cannot be read as this format.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// Reading failed.
    #[error("reading failed: {0}")]
    Io(#[from] std::io::Error),
    /// The header does not match the format.
    #[error("line 1: header {found:?} does not match format {format}: expected {expected}")]
    Header {
        /// The format asked for.
        format: &'static str,
        /// What the header should be.
        expected: &'static str,
        /// What it was.
        found: String,
    },
    /// A `--map` entry could not be understood.
    #[error("--map: {0:?} is not NAME=SIGNAL")]
    Map(String),
}

/// Turns rows of one format into events.
#[derive(Debug)]
pub struct Importer<'a> {
    format: DatasetFormat,
    decoder: &'a Decoder,
    map: HashMap<String, Signal>,
    /// Occurrences of each row content hash so far; the key is already a hash.
    seen: HashMap<u128, u32, foldhash::fast::RandomState>,
    /// Raw event-type names already resolved (a file has a handful).
    signals: HashMap<Vec<u8>, Signal, foldhash::fast::RandomState>,
    scratch: Vec<u8>,
    received_ms: i64,
}

/// Parse `--map a=b,c=d` into input name → signal.
///
/// # Errors
/// When an entry lacks `=` or a side is empty.
pub fn parse_map(spec: &str) -> Result<Vec<(String, String)>, ImportError> {
    spec.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((a, b)) if !a.trim().is_empty() && !b.trim().is_empty() => Ok((a.trim().to_string(), b.trim().to_string())),
            _ => Err(ImportError::Map(pair.to_string())),
        })
        .collect()
}

const REES46_HEADER: &str = "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session";
const RETAILROCKET_HEADER: &str = "timestamp,visitorid,event,itemid,transactionid";
const CLICKSTREAM_HEADER: &str = "user_id,event,timestamp";

impl<'a> Importer<'a> {
    /// An importer for `format`, with `map` overriding the taxonomy for this format's event
    /// names. `received_ms` stamps every event's receive time.
    pub fn new(format: DatasetFormat, decoder: &'a Decoder, map: &[(String, String)], received_ms: i64) -> Importer<'a> {
        let map = map.iter().map(|(k, v)| (normalize_name(k), Signal::from_canonical(&normalize_name(v)))).collect();
        Importer { format, decoder, map, seen: HashMap::default(), signals: HashMap::default(), scratch: Vec::new(), received_ms }
    }

    fn signal(&mut self, name: &str) -> Signal {
        if let Some(s) = self.signals.get(name.as_bytes()) {
            return s.clone();
        }
        let norm = normalize_name(name);
        let s = match self.map.get(&norm) {
            Some(s) => s.clone(),
            None => self.decoder.taxonomy().resolve(&norm),
        };
        if self.signals.len() < 4096 {
            self.signals.insert(name.as_bytes().to_vec(), s.clone());
        }
        s
    }

    /// A content-derived id: identical rows get occurrence numbers 0, 1, 2 … in file order.
    fn row_id(&mut self, fields: &[&[u8]]) -> String {
        // One-shot hashing of a reused buffer: the streaming hasher's setup costs more than
        // hashing a short row.
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        buf.extend_from_slice(self.format.name().as_bytes());
        for f in fields {
            buf.extend_from_slice(&(f.len() as u32).to_le_bytes());
            buf.extend_from_slice(f);
        }
        let digest = xxhash_rust::xxh3::xxh3_128(&buf);
        self.scratch = buf;
        let n = self.seen.entry(digest).or_insert(0);
        let occurrence = *n;
        *n += 1;
        let mut id = String::with_capacity(self.format.name().len() + 40);
        id.push_str(self.format.name());
        id.push('-');
        push_hex(&mut id, digest);
        if occurrence > 0 {
            // The first occurrence needs no suffix; later identical rows get `-N`.
            id.push('-');
            id.push_str(&occurrence.to_string());
        }
        id
    }

    /// Read every row of `input`, calling `sink` with each event or row error in file order.
    ///
    /// # Errors
    /// When the input cannot be read, or its header does not fit the format; the sink's
    /// own error (e.g. `--strict` stopping) is passed through as `Ok(Err(..))`.
    pub fn run<R: Read, E>(
        &mut self,
        input: R,
        mut sink: impl FnMut(Result<Event, RowError>) -> Result<(), E>,
    ) -> Result<Result<(), E>, ImportError> {
        match self.format {
            DatasetFormat::SegmentJsonl | DatasetFormat::Otto => self.run_lines(input, &mut sink),
            _ => self.run_csv(input, &mut sink),
        }
    }

    fn run_lines<R: Read, E>(
        &mut self,
        input: R,
        sink: &mut impl FnMut(Result<Event, RowError>) -> Result<(), E>,
    ) -> Result<Result<(), E>, ImportError> {
        let reader = std::io::BufReader::with_capacity(1 << 20, input);
        for (idx, line) in reader.split(b'\n').enumerate() {
            let line = line?;
            let line_no = idx as u64 + 1;
            let line = line.strip_suffix(b"\r").unwrap_or(&line);
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let Ok(text) = std::str::from_utf8(line) else {
                if let Err(e) = sink(Err(RowError { line: line_no, field: "line".into(), error: "not valid UTF-8".into() })) {
                    return Ok(Err(e));
                }
                continue;
            };
            if self.format == DatasetFormat::SegmentJsonl {
                let r = self.decoder.segment_line(text, self.received_ms).map_err(|f| RowError { line: line_no, field: f.field, error: f.error });
                if let Err(e) = sink(r) {
                    return Ok(Err(e));
                }
            } else {
                for r in self.otto_line(text, line_no) {
                    if let Err(e) = sink(r) {
                        return Ok(Err(e));
                    }
                }
            }
        }
        Ok(Ok(()))
    }

    fn otto_line(&mut self, text: &str, line: u64) -> Vec<Result<Event, RowError>> {
        let err = |field: &str, error: &str| vec![Err(RowError { line, field: field.into(), error: error.into() })];
        let Ok(v) = serde_json::from_str::<serde_json::Value>(text) else { return err("line", "not a JSON object") };
        let Some(session) = v.get("session").and_then(|s| s.as_u64().map(|n| n.to_string()).or_else(|| s.as_str().map(str::to_string))) else {
            return err("session", "required: the session number");
        };
        let Some(events) = v.get("events").and_then(|e| e.as_array()) else { return err("events", "required: an array") };
        let mut out = Vec::with_capacity(events.len());
        for (i, ev) in events.iter().enumerate() {
            let field = |f: &str| format!("events[{i}].{f}");
            let aid = ev.get("aid").and_then(|a| a.as_u64().map(|n| n.to_string()).or_else(|| a.as_str().map(str::to_string)));
            let ts = ev.get("ts").and_then(serde_json::Value::as_i64);
            let ty = ev.get("type").and_then(serde_json::Value::as_str);
            let (Some(aid), Some(ts), Some(ty)) = (aid, ts, ty) else {
                let missing = if ev.get("aid").is_none() { "aid" } else if ts.is_none() { "ts" } else { "type" };
                out.push(Err(RowError { line, field: field(missing), error: "missing or of the wrong type".into() }));
                continue;
            };
            let id = self.row_id(&[session.as_bytes(), aid.as_bytes(), &ts.to_le_bytes(), ty.as_bytes()]);
            let mut e = Event::new(id, ts, self.signal(ty), Source::Otto);
            e.received_ms = self.received_ms;
            e.user_id = Some(session.clone());
            e.properties.product_id = Some(aid);
            out.push(Ok(e));
        }
        out
    }

    fn run_csv<R: Read, E>(
        &mut self,
        input: R,
        sink: &mut impl FnMut(Result<Event, RowError>) -> Result<(), E>,
    ) -> Result<Result<(), E>, ImportError> {
        let delimiter = if self.format == DatasetFormat::Diginetica { b';' } else { b',' };
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(delimiter)
            .buffer_capacity(1 << 20)
            .from_reader(input);
        let mut rec = csv::ByteRecord::new();
        let mut layout = None;
        let mut line_no = 0u64;
        loop {
            match rdr.read_byte_record(&mut rec) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => {
                    line_no = e.position().map_or(line_no + 1, |p| p.line());
                    if let Err(e) = sink(Err(RowError { line: line_no, field: "row".into(), error: e.to_string() })) {
                        return Ok(Err(e));
                    }
                    continue;
                }
            }
            line_no = rec.position().map_or(line_no + 1, |p| p.line());
            if layout.is_none() {
                let (l, is_header) = self.layout_for(&rec)?;
                layout = Some(l);
                if is_header {
                    continue;
                }
            }
            let Some(l) = layout else { continue };
            let r = self.csv_row(l, &rec, line_no);
            if let Err(e) = sink(r) {
                return Ok(Err(e));
            }
        }
        Ok(Ok(()))
    }

    /// Decide the column layout from the first record; say whether it is a header.
    fn layout_for(&self, first: &csv::ByteRecord) -> Result<(Layout, bool), ImportError> {
        let joined = first.iter().map(|f| String::from_utf8_lossy(f).trim().to_string()).collect::<Vec<_>>();
        let header = joined.join(",");
        let expect = |expected: &'static str, layout: Layout| {
            if header.eq_ignore_ascii_case(expected) {
                Ok((layout, true))
            } else {
                Err(ImportError::Header { format: self.format.name(), expected, found: header.clone() })
            }
        };
        match self.format {
            DatasetFormat::Rees46 => expect(REES46_HEADER, Layout::Rees46),
            DatasetFormat::RetailRocket => expect(RETAILROCKET_HEADER, Layout::RetailRocket),
            DatasetFormat::Clickstream => expect(CLICKSTREAM_HEADER, Layout::Clickstream),
            DatasetFormat::Taobao => {
                // No header; a first row that does not start with a number is someone's header.
                let looks_numeric = first.get(0).is_some_and(|f| !f.is_empty() && f.iter().all(u8::is_ascii_digit));
                if looks_numeric || first.len() != 5 {
                    Ok((Layout::Taobao, false))
                } else {
                    Err(ImportError::Header { format: "taobao", expected: "no header: user_id,item_id,category_id,behavior,timestamp", found: header })
                }
            }
            DatasetFormat::Diginetica => {
                let norm: Vec<String> = joined.iter().map(|h| h.to_ascii_lowercase().replace('_', "")).collect();
                let norm: Vec<&str> = norm.iter().map(String::as_str).collect();
                match norm.as_slice() {
                    ["sessionid", "userid", "itemid", "timeframe", "eventdate"] => Ok((Layout::DigineticaViews, true)),
                    ["sessionid", "userid", "timeframe", "eventdate", "ordernumber", "itemid"] => Ok((Layout::DigineticaPurchases, true)),
                    _ => Err(ImportError::Header {
                        format: "diginetica",
                        expected: "session_id;user_id;item_id;timeframe;eventdate (views) or sessionId;userId;timeframe;eventdate;ordernumber;itemId (purchases)",
                        found: joined.join(";"),
                    }),
                }
            }
            DatasetFormat::SegmentJsonl | DatasetFormat::Otto => Err(ImportError::Header { format: self.format.name(), expected: "JSON lines", found: header }),
        }
    }

    fn csv_row(&mut self, layout: Layout, rec: &csv::ByteRecord, line: u64) -> Result<Event, RowError> {
        let err = |field: &str, error: String| RowError { line, field: field.into(), error };
        let want = layout.columns();
        // REES46's user_session is optional (empty in some rows of the full dataset, and cut
        // off entirely when a sample file ends mid-row): 8 columns read as an empty session.
        let optional_last = layout == Layout::Rees46 && rec.len() + 1 == want.len();
        if rec.len() != want.len() && !optional_last {
            return Err(err("row", format!("has {} columns, expected {} ({})", rec.len(), want.len(), want.join(","))));
        }
        let mut cols: [&str; 9] = [""; 9];
        for (i, f) in rec.iter().enumerate() {
            cols[i] = std::str::from_utf8(f).map_err(|_| err(want[i], "not valid UTF-8".into()))?.trim();
        }
        let need = |i: usize| -> Result<&str, RowError> {
            let v = cols[i];
            if v.is_empty() { Err(err(want[i], "required, but empty".into())) } else { Ok(v) }
        };
        let fields: Vec<&[u8]> = rec.iter().collect();
        let id = self.row_id(&fields);
        let source = self.format.source();
        let time = |s: &str, col: &str| parse_timestamp_ms(s).ok_or_else(|| err(col, format!("not a timestamp: {s:?}")));
        let int_time = |s: &str, col: &str, scale: i64| {
            s.parse::<i64>().ok().and_then(|v| v.checked_mul(scale)).ok_or_else(|| err(col, format!("not an integer timestamp: {s:?}")))
        };
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
        let mut e = match layout {
            Layout::Rees46 => {
                let t = time(need(0)?, "event_time")?;
                let mut e = Event::new(id, t, self.signal(need(1)?), source);
                e.properties.product_id = Some(need(2)?.to_string());
                e.properties.category = opt(cols[4]).or_else(|| opt(cols[3]));
                e.properties.brand = opt(cols[5]);
                if !cols[6].is_empty() {
                    e.properties.price = Some(cols[6].parse().map_err(|_| err("price", format!("not a number: {:?}", cols[6])))?);
                }
                e.user_id = Some(need(7)?.to_string());
                e.session_id = opt(cols[8]);
                e
            }
            Layout::RetailRocket => {
                let t = int_time(need(0)?, "timestamp", 1)?;
                let mut e = Event::new(id, t, self.signal(need(2)?), source);
                e.user_id = Some(need(1)?.to_string());
                e.properties.product_id = Some(need(3)?.to_string());
                e.properties.order_id = opt(cols[4]);
                e
            }
            Layout::Taobao => {
                let t = int_time(need(4)?, "timestamp", 1000)?;
                let mut e = Event::new(id, t, self.signal(need(3)?), source);
                e.user_id = Some(need(0)?.to_string());
                e.properties.product_id = Some(need(1)?.to_string());
                e.properties.category = opt(cols[2]);
                e
            }
            Layout::DigineticaViews | Layout::DigineticaPurchases => {
                let views = layout == Layout::DigineticaViews;
                let (item, tf, date) = if views { (cols[2], 3, 4) } else { (cols[5], 2, 3) };
                let day = time(&format!("{}T00:00:00Z", need(date)?), "eventdate")?;
                let frame = int_time(need(tf)?, "timeframe", 1)?;
                let signal = if views { self.signal("view") } else { self.signal("purchase") };
                let mut e = Event::new(id, day + frame, signal, source);
                let session = need(0)?.to_string();
                // An `NA` user means an anonymous visit: the session is the shopper.
                e.user_id = match cols[1] {
                    "" | "NA" => Some(session.clone()),
                    u => Some(u.to_string()),
                };
                e.session_id = Some(session);
                if item.is_empty() {
                    return Err(err("itemId", "required, but empty".into()));
                }
                e.properties.product_id = Some(item.to_string());
                if !views {
                    e.properties.order_id = opt(cols[4]);
                }
                e
            }
            Layout::Clickstream => {
                let t = time(need(2)?, "timestamp")?;
                let mut e = Event::new(id, t, self.signal(need(1)?), source);
                e.user_id = Some(need(0)?.to_string());
                e
            }
        };
        e.received_ms = self.received_ms;
        e.kind = EventKind::Track;
        Ok(e)
    }
}

fn push_hex(out: &mut String, v: u128) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for i in (0..32).rev() {
        out.push(HEX[((v >> (i * 4)) & 0xf) as usize] as char);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    Rees46,
    RetailRocket,
    Taobao,
    DigineticaViews,
    DigineticaPurchases,
    Clickstream,
}

impl Layout {
    fn columns(self) -> &'static [&'static str] {
        match self {
            Layout::Rees46 => &["event_time", "event_type", "product_id", "category_id", "category_code", "brand", "price", "user_id", "user_session"],
            Layout::RetailRocket => &["timestamp", "visitorid", "event", "itemid", "transactionid"],
            Layout::Taobao => &["user_id", "item_id", "category_id", "behavior", "timestamp"],
            Layout::DigineticaViews => &["sessionId", "userId", "itemId", "timeframe", "eventdate"],
            Layout::DigineticaPurchases => &["sessionId", "userId", "timeframe", "eventdate", "ordernumber", "itemId"],
            Layout::Clickstream => &["user_id", "event", "timestamp"],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signal::{Builtin, Taxonomy};
    use crate::wire::DecodeOptions;

    fn import(format: DatasetFormat, map: &[(String, String)], text: &str) -> (Vec<Event>, Vec<RowError>) {
        let dec = Decoder::new(Taxonomy::default(), DecodeOptions::default());
        let mut imp = Importer::new(format, &dec, map, 0);
        let (mut ok, mut bad) = (Vec::new(), Vec::new());
        imp.run(text.as_bytes(), |r| {
            match r {
                Ok(e) => ok.push(e),
                Err(e) => bad.push(e),
            }
            Ok::<(), ()>(())
        })
        .expect("readable")
        .expect("sink never stops");
        (ok, bad)
    }

    #[test]
    fn rees46_rows_map_and_bad_rows_name_their_line() {
        let text = format!(
            "{REES46_HEADER}\n2019-10-01 00:00:00 UTC,view,44600062,2103807459595387724,,shiseido,35.79,541312140,72d76fde\n\
             2019-10-01 00:00:00 UTC,view,44600062,2103807459595387724,,shiseido,35.79,541312140,72d76fde\n\
             not-a-time,view,1,2,,b,1,5,s\n2019-10-01 00:00:01 UTC,purchase,3,4,electronics.smartphone,apple,999.0,7,s2\n"
        );
        let (ok, bad) = import(DatasetFormat::Rees46, &[], &text);
        assert_eq!(ok.len(), 3);
        assert_eq!(ok[0].signal, Signal::Builtin(Builtin::ProductViewed));
        assert_ne!(ok[0].message_id, ok[1].message_id, "identical rows both count");
        assert_eq!(ok[2].signal, Signal::Builtin(Builtin::OrderCompleted));
        assert_eq!(ok[2].properties.category.as_deref(), Some("electronics.smartphone"));
        assert_eq!(bad, vec![RowError { line: 4, field: "event_time".into(), error: "not a timestamp: \"not-a-time\"".into() }]);
        let (again, _) = import(DatasetFormat::Rees46, &[], &text);
        assert_eq!(ok.iter().map(|e| &e.message_id).collect::<Vec<_>>(), again.iter().map(|e| &e.message_id).collect::<Vec<_>>());
    }

    #[test]
    fn each_format_reads_its_shape() {
        let (ok, bad) = import(DatasetFormat::RetailRocket, &[], "timestamp,visitorid,event,itemid,transactionid\n1433221332117,257597,view,355908,\n1433224214164,992329,transaction,248676,4000\n");
        assert!(bad.is_empty());
        assert_eq!(ok[1].properties.order_id.as_deref(), Some("4000"));
        assert_eq!(ok[0].time_ms, 1_433_221_332_117);

        let (ok, _) = import(DatasetFormat::Taobao, &[], "1,2268318,2520377,pv,1511544070\n1,2333346,2520771,fav,1511561733\n");
        assert_eq!(ok[0].time_ms, 1_511_544_070_000);
        assert_eq!(ok[1].signal, Signal::Builtin(Builtin::ProductAddedToWishlist));

        let (ok, _) = import(DatasetFormat::Diginetica, &[], "session_id;user_id;item_id;timeframe;eventdate\n1;NA;81766;526309;2016-05-09\n");
        assert_eq!(ok[0].user_id.as_deref(), Some("1"));
        assert_eq!(ok[0].time_ms, 1_462_752_000_000 + 526_309);
        let (ok, _) = import(DatasetFormat::Diginetica, &[], "sessionId;userId;timeframe;eventdate;ordernumber;itemId\n150;18278;849217;2016-05-06;1;24857\n");
        assert_eq!(ok[0].signal, Signal::Builtin(Builtin::OrderCompleted));
        assert_eq!(ok[0].user_id.as_deref(), Some("18278"));

        let (ok, bad) = import(DatasetFormat::Otto, &[], "{\"session\":7,\"events\":[{\"aid\":1,\"ts\":1659304800025,\"type\":\"clicks\"},{\"aid\":2,\"ts\":1659304800026,\"type\":\"orders\"},{\"ts\":1}]}\n");
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[1].signal, Signal::Builtin(Builtin::OrderCompleted));
        assert_eq!(bad[0].field, "events[2].aid");

        let map = parse_map("cart=cart_viewed,payment_done=order_completed").expect("valid map");
        let (ok, _) = import(DatasetFormat::Clickstream, &map, "user_id,event,timestamp\nu1,catalog,2019-11-01 17:59:13.273932\nu1,cart,2019-11-01 18:00:00\nu1,payment_done,2019-11-01 18:01:00\n");
        assert_eq!(ok[0].signal, Signal::Custom("catalog".into()));
        assert_eq!(ok[1].signal, Signal::Builtin(Builtin::CartViewed));
        assert_eq!(ok[2].signal, Signal::Builtin(Builtin::OrderCompleted));
    }

    #[test]
    fn a_wrong_header_is_refused_naming_the_format() {
        let dec = Decoder::new(Taxonomy::default(), DecodeOptions::default());
        let mut imp = Importer::new(DatasetFormat::Rees46, &dec, &[], 0);
        let r = imp.run("a,b,c\n".as_bytes(), |_| Ok::<(), ()>(()));
        assert!(matches!(r, Err(ImportError::Header { format: "rees46", .. })));
        assert!(parse_map("cart").is_err());
    }
}
