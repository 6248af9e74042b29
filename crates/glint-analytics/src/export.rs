//! Exporting canonical events: JSON lines (one object per event, the canonical field names)
//! and Parquet (flat columns, zstd) for ClickHouse, DuckDB and Spark.

use std::io::Write;
use std::sync::Arc;

use glint_event::Event;
use glint_event::time::format_rfc3339_ms;
use parquet::basic::{Compression, ZstdLevel};
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use serde_json::{Map, Value, json};

/// Export failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// Writing failed.
    #[error("writing failed: {0}")]
    Io(#[from] std::io::Error),
    /// The Parquet writer failed.
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// Reading the log failed.
    #[error(transparent)]
    Log(#[from] glint_log::Error),
}

fn put(m: &mut Map<String, Value>, k: &str, v: Option<impl Into<Value>>) {
    if let Some(v) = v {
        m.insert(k.to_string(), v.into());
    }
}

/// The canonical JSON form of an event (what `glint export --format jsonl` writes).
pub fn event_json(e: &Event) -> Value {
    let mut m = Map::new();
    m.insert("message_id".into(), e.message_id.clone().into());
    m.insert("time".into(), format_rfc3339_ms(e.time_ms).into());
    m.insert("received_at".into(), format_rfc3339_ms(e.received_ms).into());
    m.insert("type".into(), e.kind.as_str().into());
    m.insert("signal".into(), e.signal.name().into());
    m.insert("source".into(), e.source.as_str().into());
    put(&mut m, "user_id", e.user_id.clone());
    put(&mut m, "anonymous_id", e.anonymous_id.clone());
    put(&mut m, "session_id", e.session_id.clone());
    let p = &e.properties;
    let mut props = Map::new();
    put(&mut props, "product_id", p.product_id.clone());
    put(&mut props, "category", p.category.clone());
    put(&mut props, "brand", p.brand.clone());
    put(&mut props, "price", p.price);
    put(&mut props, "quantity", p.quantity);
    put(&mut props, "cart_id", p.cart_id.clone());
    put(&mut props, "order_id", p.order_id.clone());
    put(&mut props, "revenue", p.revenue);
    put(&mut props, "currency", p.currency.clone());
    put(&mut props, "rating", p.rating);
    put(&mut props, "query", p.query.clone());
    put(&mut props, "coupon", p.coupon.clone());
    put(&mut props, "points", p.points);
    if !p.items.is_empty() {
        let items: Vec<Value> = p
            .items
            .iter()
            .map(|i| {
                let mut o = Map::new();
                put(&mut o, "product_id", i.product_id.clone());
                put(&mut o, "category", i.category.clone());
                put(&mut o, "brand", i.brand.clone());
                put(&mut o, "price", i.price);
                put(&mut o, "quantity", i.quantity);
                Value::Object(o)
            })
            .collect();
        props.insert("items".into(), items.into());
    }
    if let Some(Value::Object(extra)) = p.extra.as_deref().and_then(|x| serde_json::from_str(x).ok()) {
        for (k, v) in extra {
            props.entry(k).or_insert(v);
        }
    }
    if !props.is_empty() {
        m.insert("properties".into(), Value::Object(props));
    }
    let t = &e.traits;
    let mut traits = Map::new();
    put(&mut traits, "birthday", t.birthday.clone());
    put(&mut traits, "tier", t.tier.clone());
    put(&mut traits, "points", t.points);
    put(&mut traits, "renewal_date", t.renewal_date.clone());
    put(&mut traits, "previous_id", t.previous_id.clone());
    put(&mut traits, "group_id", t.group_id.clone());
    if let Some(Value::Object(extra)) = t.extra.as_deref().and_then(|x| serde_json::from_str(x).ok()) {
        for (k, v) in extra {
            traits.entry(k).or_insert(v);
        }
    }
    if !traits.is_empty() {
        m.insert("traits".into(), Value::Object(traits));
    }
    let c = &e.context;
    let mut ctx = Map::new();
    ctx.insert("device".into(), c.device.as_str().into());
    put(&mut ctx, "os", c.os.clone());
    put(&mut ctx, "browser", c.browser.clone());
    put(&mut ctx, "ip", c.ip.clone());
    put(&mut ctx, "locale", c.locale.clone());
    put(&mut ctx, "timezone", c.timezone.clone());
    put(&mut ctx, "page_url", c.page_url.clone());
    put(&mut ctx, "referrer", c.referrer.clone());
    ctx.insert("referrer_class".into(), c.referrer_class.as_str().into());
    put(&mut ctx, "utm_source", c.utm_source.clone());
    put(&mut ctx, "utm_medium", c.utm_medium.clone());
    put(&mut ctx, "utm_campaign", c.utm_campaign.clone());
    if !c.consent.purposes.is_empty() {
        let consent: Map<String, Value> = c.consent.purposes.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        ctx.insert("consent".into(), Value::Object(consent));
    }
    m.insert("context".into(), Value::Object(ctx));
    Value::Object(m)
}

/// Write events as JSON lines; returns how many.
///
/// # Errors
/// On read or write errors.
pub fn write_jsonl<W: Write>(events: impl Iterator<Item = Result<Event, glint_log::Error>>, out: W) -> Result<u64, ExportError> {
    let mut out = std::io::BufWriter::new(out);
    let mut n = 0;
    for e in events {
        serde_json::to_writer(&mut out, &event_json(&e?)).map_err(std::io::Error::other)?;
        out.write_all(b"\n")?;
        n += 1;
    }
    out.flush()?;
    Ok(n)
}

/// The Parquet schema: one flat row per event. Times are epoch milliseconds annotated as
/// UTC timestamps, so DuckDB and ClickHouse read them as such.
const SCHEMA: &str = "message glint_event {
  REQUIRED BYTE_ARRAY message_id (UTF8);
  REQUIRED INT64 time (TIMESTAMP(MILLIS,true));
  REQUIRED INT64 received_at (TIMESTAMP(MILLIS,true));
  REQUIRED BYTE_ARRAY type (UTF8);
  REQUIRED BYTE_ARRAY signal (UTF8);
  REQUIRED BYTE_ARRAY source (UTF8);
  OPTIONAL BYTE_ARRAY shopper (UTF8);
  OPTIONAL BYTE_ARRAY user_id (UTF8);
  OPTIONAL BYTE_ARRAY anonymous_id (UTF8);
  OPTIONAL BYTE_ARRAY session_id (UTF8);
  OPTIONAL BYTE_ARRAY product_id (UTF8);
  OPTIONAL BYTE_ARRAY category (UTF8);
  OPTIONAL BYTE_ARRAY brand (UTF8);
  OPTIONAL DOUBLE price;
  OPTIONAL DOUBLE quantity;
  OPTIONAL BYTE_ARRAY cart_id (UTF8);
  OPTIONAL BYTE_ARRAY order_id (UTF8);
  OPTIONAL DOUBLE revenue;
  OPTIONAL BYTE_ARRAY currency (UTF8);
  OPTIONAL DOUBLE rating;
  OPTIONAL BYTE_ARRAY query (UTF8);
  OPTIONAL DOUBLE points;
  REQUIRED BYTE_ARRAY device (UTF8);
  OPTIONAL BYTE_ARRAY os (UTF8);
  OPTIONAL BYTE_ARRAY browser (UTF8);
  OPTIONAL BYTE_ARRAY timezone (UTF8);
  OPTIONAL BYTE_ARRAY page_url (UTF8);
  REQUIRED BYTE_ARRAY referrer_class (UTF8);
  OPTIONAL BYTE_ARRAY utm_source (UTF8);
  OPTIONAL BYTE_ARRAY utm_medium (UTF8);
  OPTIONAL BYTE_ARRAY utm_campaign (UTF8);
  OPTIONAL BYTE_ARRAY properties_json (UTF8);
}";

/// Rows per row group: ~1M keeps memory near 200 MB and row groups big enough for scans.
const ROW_GROUP_ROWS: usize = 1 << 20;

/// Column values of one row group, in schema order.
#[derive(Default)]
struct Columns {
    strs: Vec<(Vec<ByteArray>, Vec<i16>)>,
    nums: Vec<(Vec<f64>, Vec<i16>)>,
    ints: Vec<Vec<i64>>,
    rows: usize,
}

enum Col {
    Str(usize),
    Num(usize),
    Int(usize),
}

fn layout() -> Vec<Col> {
    use Col::*;
    // Order must follow SCHEMA.
    vec![
        Str(0), Int(0), Int(1), Str(1), Str(2), Str(3), Str(4), Str(5), Str(6), Str(7), Str(8), Str(9), Str(10), Num(0), Num(1),
        Str(11), Str(12), Num(2), Str(13), Num(3), Str(14), Num(4), Str(15), Str(16), Str(17), Str(18), Str(19), Str(20),
        Str(21), Str(22), Str(23), Str(24),
    ]
}

impl Columns {
    fn new() -> Columns {
        Columns { strs: (0..25).map(|_| Default::default()).collect(), nums: (0..5).map(|_| Default::default()).collect(), ints: vec![Vec::new(), Vec::new()], rows: 0 }
    }

    fn s(&mut self, i: usize, v: Option<&str>) {
        let (vals, defs) = &mut self.strs[i];
        match v {
            Some(v) => {
                vals.push(ByteArray::from(v));
                defs.push(1);
            }
            None => defs.push(0),
        }
    }

    fn n(&mut self, i: usize, v: Option<f64>) {
        let (vals, defs) = &mut self.nums[i];
        match v {
            Some(v) => {
                vals.push(v);
                defs.push(1);
            }
            None => defs.push(0),
        }
    }

    fn push(&mut self, e: &Event) {
        let p = &e.properties;
        let c = &e.context;
        self.s(0, Some(&e.message_id));
        self.ints[0].push(e.time_ms);
        self.ints[1].push(e.received_ms);
        self.s(1, Some(e.kind.as_str()));
        self.s(2, Some(e.signal.name()));
        self.s(3, Some(e.source.as_str()));
        self.s(4, e.shopper_key());
        self.s(5, e.user_id.as_deref());
        self.s(6, e.anonymous_id.as_deref());
        self.s(7, e.session_id.as_deref());
        self.s(8, p.product_id.as_deref());
        self.s(9, p.category.as_deref());
        self.s(10, p.brand.as_deref());
        self.n(0, p.price);
        self.n(1, p.quantity);
        self.s(11, p.cart_id.as_deref());
        self.s(12, p.order_id.as_deref());
        self.n(2, p.revenue);
        self.s(13, p.currency.as_deref());
        self.n(3, p.rating);
        self.s(14, p.query.as_deref());
        self.n(4, p.points.or(e.traits.points));
        self.s(15, Some(c.device.as_str()));
        self.s(16, c.os.as_deref());
        self.s(17, c.browser.as_deref());
        self.s(18, c.timezone.as_deref());
        self.s(19, c.page_url.as_deref());
        self.s(20, Some(c.referrer_class.as_str()));
        self.s(21, c.utm_source.as_deref());
        self.s(22, c.utm_medium.as_deref());
        self.s(23, c.utm_campaign.as_deref());
        let props = event_json(e).get("properties").map(Value::to_string);
        self.s(24, props.as_deref());
        self.rows += 1;
    }
}

fn flush<W: Write + Send>(w: &mut SerializedFileWriter<W>, cols: &mut Columns) -> Result<(), ExportError> {
    if cols.rows == 0 {
        return Ok(());
    }
    let mut rg = w.next_row_group()?;
    for col in layout() {
        let Some(mut cw) = rg.next_column()? else { break };
        match col {
            Col::Str(i) => {
                let (vals, defs) = &cols.strs[i];
                let required = defs.iter().all(|d| *d == 1) && matches!(i, 0..=3 | 15 | 20);
                cw.typed::<ByteArrayType>().write_batch(vals, if required { None } else { Some(defs) }, None)?;
            }
            Col::Num(i) => {
                let (vals, defs) = &cols.nums[i];
                cw.typed::<DoubleType>().write_batch(vals, Some(defs), None)?;
            }
            Col::Int(i) => {
                cw.typed::<Int64Type>().write_batch(&cols.ints[i], None, None)?;
            }
        }
        cw.close()?;
    }
    rg.close()?;
    *cols = Columns::new();
    Ok(())
}

/// Write events as one Parquet file; returns how many.
///
/// # Errors
/// On read or write errors.
pub fn write_parquet<W: Write + Send>(events: impl Iterator<Item = Result<Event, glint_log::Error>>, out: W) -> Result<u64, ExportError> {
    let schema = Arc::new(parse_message_type(SCHEMA)?);
    let props = Arc::new(
        WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
            .set_created_by("glint".into())
            .build(),
    );
    let mut w = SerializedFileWriter::new(out, schema, props)?;
    let mut cols = Columns::new();
    let mut n = 0;
    for e in events {
        cols.push(&e?);
        n += 1;
        if cols.rows >= ROW_GROUP_ROWS {
            flush(&mut w, &mut cols)?;
        }
    }
    flush(&mut w, &mut cols)?;
    w.close()?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use glint_event::{Builtin, Signal, Source};
    use parquet::file::reader::{FileReader, SerializedFileReader};

    fn events() -> Vec<Event> {
        (0..3000)
            .map(|i| {
                let mut e = Event::new(format!("m{i}"), 1_000 + i, Signal::Builtin(Builtin::ProductViewed), Source::Segment);
                e.user_id = (i % 2 == 0).then(|| format!("u{i}"));
                e.properties.price = (i % 3 == 0).then_some(9.5);
                e.properties.extra = Some(r#"{"color":"red"}"#.into());
                e
            })
            .collect()
    }

    #[test]
    fn parquet_round_trips_rows_and_nulls() {
        let mut buf = Vec::new();
        let n = write_parquet(events().into_iter().map(Ok), &mut buf).expect("write");
        assert_eq!(n, 3000);
        let reader = SerializedFileReader::new(bytes_of(buf)).expect("read");
        assert_eq!(reader.metadata().file_metadata().num_rows(), 3000);
        let rows: Vec<_> = reader.get_row_iter(None).expect("rows").collect::<Result<_, _>>().expect("rows");
        let first = rows[0].to_string();
        assert!(first.contains("message_id: \"m0\"") && first.contains("user_id: \"u0\"") && first.contains("price: 9.5"), "{first}");
        let second = rows[1].to_string();
        assert!(second.contains("user_id: null") && second.contains("price: null"), "{second}");
        assert!(first.contains(r#"properties_json: "{"color":"red","price":9.5}""#), "{first}");
    }

    fn bytes_of(v: Vec<u8>) -> bytes::Bytes {
        bytes::Bytes::from(v)
    }

    #[test]
    fn jsonl_is_canonical() {
        let mut buf = Vec::new();
        write_jsonl(events().into_iter().take(1).map(Ok), &mut buf).expect("write");
        let v: Value = serde_json::from_slice(&buf).expect("json");
        assert_eq!(v["signal"], "product_viewed");
        assert_eq!(v["time"], "1970-01-01T00:00:01.000Z");
        assert_eq!(v["properties"]["color"], "red");
    }
}
