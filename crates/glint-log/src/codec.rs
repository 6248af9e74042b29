//! The record encoding: one [`Event`] as compact bytes.
//!
//! Integers are LEB128 varints (signed ones zigzagged); times are stored as event time plus
//! the receive delay; money-like numbers with at most two decimals are stored as varint cents.
//! Strings that repeat (shopper ids, products, categories, user agents' parts) are interned per
//! *string table* — an active segment, or one chunk of a sealed segment — so the second
//! occurrence costs one or two bytes. A table is rebuilt by reading its records in order, so a
//! record can only be decoded after every record before it in the same table.
//!
//! String tags: `0` absent, `1` literal not interned, `2` literal interned (gets the next id),
//! `3 + id` a reference to interned string `id`.

use std::collections::HashMap;

use glint_event::{
    Builtin, Consent, Context, DeviceType, Event, EventKind, Item, Properties, ReferrerClass, Signal, Source, Traits,
};

/// Most strings one table interns; past it strings are written literally. Bounds the memory
/// of a table's reader and writer alike.
pub(crate) const INTERNED_PER_TABLE_MAX: usize = 1 << 20;

/// Why bytes did not decode as a record. Only reachable through corruption that slipped past
/// the CRC, or a bug: the log reports it as corruption with its position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("record does not decode: {0}")]
pub(crate) struct DecodeError(pub(crate) &'static str);

/// Encodes records into one string table.
#[derive(Debug, Default)]
pub(crate) struct Encoder {
    // foldhash: SipHash's DoS resistance buys nothing for a per-segment table, and costs.
    table: HashMap<String, u32, foldhash::fast::RandomState>,
}

/// Decodes records of one string table, in order — or, once [`Decoder::freeze`] has been
/// called after reading every record, any record in any order (sealing sorts this way).
#[derive(Debug, Default)]
pub(crate) struct Decoder {
    table: Vec<String>,
    frozen: bool,
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(crate) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

pub(crate) fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Reads values off a byte slice, failing instead of panicking when it runs short.
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        let b = *self.buf.get(self.pos).ok_or(DecodeError("truncated"))?;
        self.pos += 1;
        Ok(b)
    }

    pub(crate) fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError("varint longer than 10 bytes"))
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or(DecodeError("length overflow"))?;
        let s = self.buf.get(self.pos..end).ok_or(DecodeError("truncated"))?;
        self.pos = end;
        Ok(s)
    }
}

impl Encoder {
    /// The table as a decoder needs it (strings by id), frozen: what sealing decodes against,
    /// so it need not rebuild the table with a pass over every record.
    pub(crate) fn into_decoder(self) -> Decoder {
        let mut table = vec![String::new(); self.table.len()];
        for (s, id) in self.table {
            table[id as usize] = s;
        }
        Decoder { table, frozen: true }
    }

    fn string(&mut self, out: &mut Vec<u8>, s: Option<&str>) {
        let Some(s) = s else {
            out.push(0);
            return;
        };
        if let Some(&id) = self.table.get(s) {
            put_varint(out, 3 + u64::from(id));
            return;
        }
        let tag = if self.table.len() < INTERNED_PER_TABLE_MAX {
            self.table.insert(s.to_string(), self.table.len() as u32);
            2
        } else {
            1
        };
        out.push(tag);
        put_varint(out, s.len() as u64);
        out.extend_from_slice(s.as_bytes());
    }

    /// A string that never repeats (message ids, JSON extras): never interned.
    fn literal(out: &mut Vec<u8>, s: Option<&str>) {
        match s {
            None => out.push(0),
            Some(s) => {
                out.push(1);
                put_varint(out, s.len() as u64);
                out.extend_from_slice(s.as_bytes());
            }
        }
    }

    fn number(out: &mut Vec<u8>, v: Option<f64>) {
        // 0 = absent; (zigzag(cents) << 1 | 0) + 1 for values with ≤ 2 decimals; 2 then 8 raw bytes.
        let Some(v) = v else {
            out.push(0);
            return;
        };
        let cents = (v * 100.0).round();
        if cents.abs() < (1u64 << 52) as f64 && cents / 100.0 == v {
            put_varint(out, (zigzag(cents as i64) << 1) + 1 + 2);
        } else {
            out.push(2);
            out.extend_from_slice(&v.to_bits().to_le_bytes());
        }
    }

    /// Append the encoding of `e` with sequence number `seq` to `out`.
    pub(crate) fn encode(&mut self, seq: u64, e: &Event, out: &mut Vec<u8>) {
        put_varint(out, seq);
        put_varint(out, zigzag(e.time_ms));
        put_varint(out, zigzag(e.received_ms.wrapping_sub(e.time_ms)));
        out.push(e.kind as u8);
        out.push(e.source as u8);
        match &e.signal {
            Signal::Builtin(b) => out.push(b.code()),
            Signal::Custom(c) => {
                out.push(0);
                self.string(out, Some(c));
            }
        }
        Self::literal(out, Some(&e.message_id));
        self.string(out, e.user_id.as_deref());
        self.string(out, e.anonymous_id.as_deref());
        self.string(out, e.session_id.as_deref());

        let p = &e.properties;
        for s in [&p.product_id, &p.category, &p.brand, &p.cart_id, &p.order_id, &p.currency, &p.query, &p.coupon] {
            self.string(out, s.as_deref());
        }
        for n in [p.price, p.quantity, p.revenue, p.rating, p.points] {
            Self::number(out, n);
        }
        put_varint(out, p.items.len() as u64);
        for it in &p.items {
            self.string(out, it.product_id.as_deref());
            self.string(out, it.category.as_deref());
            self.string(out, it.brand.as_deref());
            Self::number(out, it.price);
            Self::number(out, it.quantity);
        }
        Self::literal(out, p.extra.as_deref());

        let t = &e.traits;
        for s in [&t.birthday, &t.tier, &t.renewal_date, &t.previous_id, &t.group_id] {
            self.string(out, s.as_deref());
        }
        Self::number(out, t.points);
        Self::literal(out, t.extra.as_deref());

        let c = &e.context;
        out.push(c.device as u8);
        out.push(c.referrer_class as u8);
        for s in [&c.os, &c.browser, &c.ip, &c.locale, &c.timezone, &c.page_url, &c.referrer, &c.utm_source, &c.utm_medium, &c.utm_campaign] {
            self.string(out, s.as_deref());
        }
        put_varint(out, c.consent.purposes.len() as u64);
        for (purpose, granted) in &c.consent.purposes {
            self.string(out, Some(purpose));
            out.push(u8::from(*granted));
        }
    }
}

impl Decoder {
    /// Stop growing the table: every string it will be asked for is in it, so records may now
    /// be decoded out of order (a tag-2 literal is read without being interned again).
    pub(crate) fn freeze(&mut self) {
        self.frozen = true;
    }

    /// Whether two decoders hold the same table (a debug check of `Encoder::into_decoder`).
    pub(crate) fn same_table(&self, other: &Decoder) -> bool {
        self.table == other.table
    }

    fn string(&mut self, c: &mut Cursor<'_>) -> Result<Option<String>, DecodeError> {
        let tag = c.varint()?;
        match tag {
            0 => Ok(None),
            1 | 2 => {
                let n = c.varint()? as usize;
                let s = std::str::from_utf8(c.bytes(n)?).map_err(|_| DecodeError("string is not UTF-8"))?.to_string();
                if tag == 2 && !self.frozen {
                    if self.table.len() >= INTERNED_PER_TABLE_MAX {
                        return Err(DecodeError("string table overflow"));
                    }
                    self.table.push(s.clone());
                }
                Ok(Some(s))
            }
            _ => {
                let id = usize::try_from(tag - 3).map_err(|_| DecodeError("string id overflow"))?;
                self.table.get(id).cloned().map(Some).ok_or(DecodeError("reference to an unknown string"))
            }
        }
    }

    fn number(c: &mut Cursor<'_>) -> Result<Option<f64>, DecodeError> {
        let tag = c.varint()?;
        match tag {
            0 => Ok(None),
            2 => {
                let raw: [u8; 8] = c.bytes(8)?.try_into().map_err(|_| DecodeError("truncated"))?;
                Ok(Some(f64::from_bits(u64::from_le_bytes(raw))))
            }
            1 => Err(DecodeError("bad number tag")),
            _ => Ok(Some(unzigzag((tag - 3) >> 1) as f64 / 100.0)),
        }
    }

    /// Decode one record; returns its sequence number and event.
    pub(crate) fn decode(&mut self, bytes: &[u8]) -> Result<(u64, Event), DecodeError> {
        let mut c = Cursor::new(bytes);
        let seq = c.varint()?;
        let time_ms = unzigzag(c.varint()?);
        let received_ms = time_ms.wrapping_add(unzigzag(c.varint()?));
        let kind = EventKind::from_code(c.u8()?).ok_or(DecodeError("unknown event kind"))?;
        let source = Source::from_code(c.u8()?).ok_or(DecodeError("unknown source"))?;
        let signal = match c.u8()? {
            0 => Signal::Custom(self.string(&mut c)?.ok_or(DecodeError("custom signal without a name"))?.into()),
            code => Signal::Builtin(Builtin::from_code(code).ok_or(DecodeError("unknown signal code"))?),
        };
        let message_id = self.string(&mut c)?.ok_or(DecodeError("record without a message id"))?;
        let user_id = self.string(&mut c)?;
        let anonymous_id = self.string(&mut c)?;
        let session_id = self.string(&mut c)?;
        let mut p = Properties {
            product_id: self.string(&mut c)?,
            category: self.string(&mut c)?,
            brand: self.string(&mut c)?,
            cart_id: self.string(&mut c)?,
            order_id: self.string(&mut c)?,
            currency: self.string(&mut c)?,
            query: self.string(&mut c)?,
            coupon: self.string(&mut c)?,
            ..Default::default()
        };
        p.price = Self::number(&mut c)?;
        p.quantity = Self::number(&mut c)?;
        p.revenue = Self::number(&mut c)?;
        p.rating = Self::number(&mut c)?;
        p.points = Self::number(&mut c)?;
        let n_items = c.varint()? as usize;
        if n_items > glint_event::limits::ITEMS_PER_EVENT_MAX {
            return Err(DecodeError("too many items"));
        }
        for _ in 0..n_items {
            p.items.push(Item {
                product_id: self.string(&mut c)?,
                category: self.string(&mut c)?,
                brand: self.string(&mut c)?,
                price: Self::number(&mut c)?,
                quantity: Self::number(&mut c)?,
            });
        }
        p.extra = self.string(&mut c)?;
        let traits = Traits {
            birthday: self.string(&mut c)?,
            tier: self.string(&mut c)?,
            renewal_date: self.string(&mut c)?,
            previous_id: self.string(&mut c)?,
            group_id: self.string(&mut c)?,
            points: Self::number(&mut c)?,
            extra: self.string(&mut c)?,
        };
        let device = DeviceType::from_code(c.u8()?);
        let referrer_class = ReferrerClass::from_code(c.u8()?);
        let mut ctx = Context {
            device,
            referrer_class,
            os: self.string(&mut c)?,
            browser: self.string(&mut c)?,
            ip: self.string(&mut c)?,
            locale: self.string(&mut c)?,
            timezone: self.string(&mut c)?,
            page_url: self.string(&mut c)?,
            referrer: self.string(&mut c)?,
            utm_source: self.string(&mut c)?,
            utm_medium: self.string(&mut c)?,
            utm_campaign: self.string(&mut c)?,
            consent: Consent::default(),
        };
        let n_purposes = c.varint()? as usize;
        if n_purposes > 64 {
            return Err(DecodeError("too many consent purposes"));
        }
        for _ in 0..n_purposes {
            let purpose = self.string(&mut c)?.ok_or(DecodeError("consent purpose without a name"))?;
            ctx.consent.purposes.push((purpose, c.u8()? != 0));
        }
        if !c.is_empty() {
            return Err(DecodeError("trailing bytes after the record"));
        }
        Ok((seq, Event { message_id, time_ms, received_ms, kind, signal, source, user_id, anonymous_id, session_id, properties: p, traits, context: ctx }))
    }
}

/// Quickly read just the sequence number and event time of a record (no string table needed).
pub(crate) fn peek_seq_time(bytes: &[u8]) -> Result<(u64, i64), DecodeError> {
    let mut c = Cursor::new(bytes);
    let seq = c.varint()?;
    let time = unzigzag(c.varint()?);
    Ok((seq, time))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn opt_str() -> impl Strategy<Value = Option<String>> {
        prop_oneof![Just(None), "[a-z0-9]{0,3}".prop_map(Some), ".{0,12}".prop_map(Some)]
    }

    fn opt_num() -> impl Strategy<Value = Option<f64>> {
        prop_oneof![Just(None), (-1_000_000i64..1_000_000).prop_map(|c| Some(c as f64 / 100.0)), any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Some)]
    }

    prop_compose! {
        fn item()(product_id in opt_str(), category in opt_str(), brand in opt_str(), price in opt_num(), quantity in opt_num()) -> Item {
            Item { product_id, category, brand, price, quantity }
        }
    }

    prop_compose! {
        fn event()(
            message_id in ".{1,20}", time_ms in -10_000_000_000_000i64..10_000_000_000_000, delay in -100_000i64..100_000,
            signal in prop_oneof![(1u8..=32).prop_map(|c| Signal::Builtin(Builtin::from_code(c).expect("valid code"))), "[a-z_]{1,10}".prop_map(|s| Signal::Custom(s.into()))],
            ids in (opt_str(), opt_str(), opt_str()),
            strs in proptest::collection::vec(opt_str(), 8),
            nums in proptest::collection::vec(opt_num(), 6),
            items in proptest::collection::vec(item(), 0..4),
            extra in opt_str(),
            tstrs in proptest::collection::vec(opt_str(), 6),
            cstrs in proptest::collection::vec(opt_str(), 10),
            codes in (0u8..5, 0u8..8),
            consent in proptest::collection::vec(("[a-z]{1,8}", any::<bool>()), 0..3),
        ) -> Event {
            let mut e = Event::new(message_id, time_ms, signal, Source::Segment);
            e.received_ms = time_ms + delay;
            (e.user_id, e.anonymous_id, e.session_id) = ids;
            let p = &mut e.properties;
            (p.product_id, p.category, p.brand, p.cart_id) = (strs[0].clone(), strs[1].clone(), strs[2].clone(), strs[3].clone());
            (p.order_id, p.currency, p.query, p.coupon) = (strs[4].clone(), strs[5].clone(), strs[6].clone(), strs[7].clone());
            (p.price, p.quantity, p.revenue, p.rating, p.points) = (nums[0], nums[1], nums[2], nums[3], nums[4]);
            p.items = items;
            p.extra = extra;
            let t = &mut e.traits;
            (t.birthday, t.tier, t.renewal_date, t.previous_id, t.group_id, t.extra) = (tstrs[0].clone(), tstrs[1].clone(), tstrs[2].clone(), tstrs[3].clone(), tstrs[4].clone(), tstrs[5].clone());
            t.points = nums[5];
            let c = &mut e.context;
            c.device = DeviceType::from_code(codes.0);
            c.referrer_class = ReferrerClass::from_code(codes.1);
            (c.os, c.browser, c.ip, c.locale, c.timezone) = (cstrs[0].clone(), cstrs[1].clone(), cstrs[2].clone(), cstrs[3].clone(), cstrs[4].clone());
            (c.page_url, c.referrer, c.utm_source, c.utm_medium, c.utm_campaign) = (cstrs[5].clone(), cstrs[6].clone(), cstrs[7].clone(), cstrs[8].clone(), cstrs[9].clone());
            c.consent.purposes = consent;
            e
        }
    }

    proptest! {
        #[test]
        fn records_round_trip_through_one_table(events in proptest::collection::vec(event(), 1..20)) {
            let mut enc = Encoder::default();
            let mut bufs = Vec::new();
            for (i, e) in events.iter().enumerate() {
                let mut b = Vec::new();
                enc.encode(i as u64 * 3, e, &mut b);
                bufs.push(b);
            }
            let mut dec = Decoder::default();
            for (i, (b, e)) in bufs.iter().zip(&events).enumerate() {
                let (seq, got) = dec.decode(b).expect("round trip");
                prop_assert_eq!(seq, i as u64 * 3);
                prop_assert_eq!(peek_seq_time(b).expect("peek"), (seq, e.time_ms));
                // NaN-free by construction, so PartialEq is exact.
                prop_assert_eq!(&got, e);
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = Decoder::default().decode(&bytes);
        }
    }
}
