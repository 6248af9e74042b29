//! The canonical event: what every decoder produces and what the log stores.
//!
//! Times are UTC epoch milliseconds. Strings are owned; the log interns them per segment, so
//! repetition costs little on disk. Engine-facing code reads these fields directly.

use crate::signal::Signal;

/// The Segment call an event came from (GA4 and PostHog map onto the same kinds).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum EventKind {
    /// A named action (`track`).
    Track = 1,
    /// A page view.
    Page = 2,
    /// A mobile screen view.
    Screen = 3,
    /// Traits about a shopper.
    Identify = 4,
    /// Membership of a group (account, household).
    Group = 5,
    /// Two shopper ids are one person.
    Alias = 6,
}

impl EventKind {
    /// The Segment type name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Track => "track",
            EventKind::Page => "page",
            EventKind::Screen => "screen",
            EventKind::Identify => "identify",
            EventKind::Group => "group",
            EventKind::Alias => "alias",
        }
    }

    /// The kind for a Segment type name.
    pub fn from_name(name: &str) -> Option<EventKind> {
        Some(match name {
            "track" => EventKind::Track,
            "page" => EventKind::Page,
            "screen" => EventKind::Screen,
            "identify" => EventKind::Identify,
            "group" => EventKind::Group,
            "alias" => EventKind::Alias,
            _ => return None,
        })
    }

    /// The kind for a log code.
    pub fn from_code(code: u8) -> Option<EventKind> {
        Some(match code {
            1 => EventKind::Track,
            2 => EventKind::Page,
            3 => EventKind::Screen,
            4 => EventKind::Identify,
            5 => EventKind::Group,
            6 => EventKind::Alias,
            _ => return None,
        })
    }
}

/// Which door an event came in by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
#[allow(missing_docs)]
pub enum Source {
    Segment = 1,
    Ga4 = 2,
    PostHog = 3,
    Rees46 = 10,
    RetailRocket = 11,
    Taobao = 12,
    Diginetica = 13,
    Otto = 14,
    Clickstream = 15,
    SegmentJsonl = 16,
}

impl Source {
    /// Short lowercase name used in output.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Segment => "segment",
            Source::Ga4 => "ga4",
            Source::PostHog => "posthog",
            Source::Rees46 => "rees46",
            Source::RetailRocket => "retailrocket",
            Source::Taobao => "taobao",
            Source::Diginetica => "diginetica",
            Source::Otto => "otto",
            Source::Clickstream => "clickstream",
            Source::SegmentJsonl => "segment-jsonl",
        }
    }

    /// The source for a log code.
    pub fn from_code(code: u8) -> Option<Source> {
        Some(match code {
            1 => Source::Segment,
            2 => Source::Ga4,
            3 => Source::PostHog,
            10 => Source::Rees46,
            11 => Source::RetailRocket,
            12 => Source::Taobao,
            13 => Source::Diginetica,
            14 => Source::Otto,
            15 => Source::Clickstream,
            16 => Source::SegmentJsonl,
            _ => return None,
        })
    }
}

/// Device class from the user agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
#[allow(missing_docs)]
pub enum DeviceType {
    #[default]
    Unknown = 0,
    Desktop = 1,
    Mobile = 2,
    Tablet = 3,
    Bot = 4,
}

impl DeviceType {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceType::Unknown => "unknown",
            DeviceType::Desktop => "desktop",
            DeviceType::Mobile => "mobile",
            DeviceType::Tablet => "tablet",
            DeviceType::Bot => "bot",
        }
    }

    /// The device type for a log code (unknown codes read as `Unknown`).
    pub fn from_code(code: u8) -> DeviceType {
        match code {
            1 => DeviceType::Desktop,
            2 => DeviceType::Mobile,
            3 => DeviceType::Tablet,
            4 => DeviceType::Bot,
            _ => DeviceType::Unknown,
        }
    }
}

/// Where a visit came from, from the referrer and UTM parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
#[allow(missing_docs)]
pub enum ReferrerClass {
    #[default]
    Unknown = 0,
    Direct = 1,
    Search = 2,
    Social = 3,
    Email = 4,
    Paid = 5,
    Internal = 6,
    Referral = 7,
}

impl ReferrerClass {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            ReferrerClass::Unknown => "unknown",
            ReferrerClass::Direct => "direct",
            ReferrerClass::Search => "search",
            ReferrerClass::Social => "social",
            ReferrerClass::Email => "email",
            ReferrerClass::Paid => "paid",
            ReferrerClass::Internal => "internal",
            ReferrerClass::Referral => "referral",
        }
    }

    /// The class for a log code (unknown codes read as `Unknown`).
    pub fn from_code(code: u8) -> ReferrerClass {
        match code {
            1 => ReferrerClass::Direct,
            2 => ReferrerClass::Search,
            3 => ReferrerClass::Social,
            4 => ReferrerClass::Email,
            5 => ReferrerClass::Paid,
            6 => ReferrerClass::Internal,
            7 => ReferrerClass::Referral,
            _ => ReferrerClass::Unknown,
        }
    }
}

/// One line of an order or cart.
#[derive(Clone, Debug, Default, PartialEq)]
#[allow(missing_docs)]
pub struct Item {
    pub product_id: Option<String>,
    pub category: Option<String>,
    pub brand: Option<String>,
    pub price: Option<f64>,
    pub quantity: Option<f64>,
}

/// The properties Glint understands, typed; anything else is kept as JSON text in `extra`.
#[derive(Clone, Debug, Default, PartialEq)]
#[allow(missing_docs)]
pub struct Properties {
    pub product_id: Option<String>,
    pub category: Option<String>,
    pub brand: Option<String>,
    pub price: Option<f64>,
    pub quantity: Option<f64>,
    pub cart_id: Option<String>,
    pub order_id: Option<String>,
    pub revenue: Option<f64>,
    pub currency: Option<String>,
    pub rating: Option<f64>,
    pub query: Option<String>,
    pub coupon: Option<String>,
    pub points: Option<f64>,
    pub items: Vec<Item>,
    /// The remaining properties as a compact JSON object, or `None` when there are none.
    pub extra: Option<String>,
}

/// Profile traits from `identify` (and alias/group ids), typed where moments use them.
#[derive(Clone, Debug, Default, PartialEq)]
#[allow(missing_docs)]
pub struct Traits {
    /// `YYYY-MM-DD` or `MM-DD`.
    pub birthday: Option<String>,
    pub tier: Option<String>,
    pub points: Option<f64>,
    /// `YYYY-MM-DD`.
    pub renewal_date: Option<String>,
    /// For `alias`: the id being merged into `user_id`.
    pub previous_id: Option<String>,
    /// For `group`.
    pub group_id: Option<String>,
    /// The remaining traits as compact JSON, or `None`.
    pub extra: Option<String>,
}

/// Consent per purpose, from `context.consent.categoryPreferences`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Consent {
    /// (purpose, granted), sorted by purpose; empty when the client sent none.
    pub purposes: Vec<(String, bool)>,
}

impl Consent {
    /// Whether the client said anything about `purpose`.
    pub fn get(&self, purpose: &str) -> Option<bool> {
        self.purposes.iter().find(|(p, _)| p == purpose).map(|(_, g)| *g)
    }
}

/// Normalised context: device, place, source of the visit, consent.
#[derive(Clone, Debug, Default, PartialEq)]
#[allow(missing_docs)]
pub struct Context {
    pub device: DeviceType,
    pub os: Option<String>,
    pub browser: Option<String>,
    /// Truncated unless configured otherwise (IPv4 /24, IPv6 /48).
    pub ip: Option<String>,
    pub locale: Option<String>,
    /// IANA time zone name.
    pub timezone: Option<String>,
    pub page_url: Option<String>,
    pub referrer: Option<String>,
    pub referrer_class: ReferrerClass,
    pub utm_source: Option<String>,
    pub utm_medium: Option<String>,
    pub utm_campaign: Option<String>,
    pub consent: Consent,
}

/// One canonical event.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// Client's `messageId` / uuid, or one derived from content; the de-duplication key.
    pub message_id: String,
    /// Event time, UTC epoch ms, after clock-skew correction.
    pub time_ms: i64,
    /// When Glint received it, UTC epoch ms.
    pub received_ms: i64,
    /// What kind of call.
    pub kind: EventKind,
    /// The canonical signal.
    pub signal: Signal,
    /// Which door it came in by.
    pub source: Source,
    /// The shop's own id for the shopper.
    pub user_id: Option<String>,
    /// The client's anonymous id.
    pub anonymous_id: Option<String>,
    /// The client's session id, when it sent one.
    pub session_id: Option<String>,
    /// Typed properties.
    pub properties: Properties,
    /// Traits (identify, alias, group).
    pub traits: Traits,
    /// Normalised context.
    pub context: Context,
}

impl Event {
    /// A bare event: used by decoders and tests before they fill in the rest.
    pub fn new(message_id: String, time_ms: i64, signal: Signal, source: Source) -> Event {
        Event {
            message_id,
            time_ms,
            received_ms: time_ms,
            kind: EventKind::Track,
            signal,
            source,
            user_id: None,
            anonymous_id: None,
            session_id: None,
            properties: Properties::default(),
            traits: Traits::default(),
            context: Context::default(),
        }
    }

    /// The shopper this event is about: the user id when known, else the anonymous id.
    /// Identity merging (alias, identify with both ids) is the engine's job.
    pub fn shopper_key(&self) -> Option<&str> {
        self.user_id.as_deref().or(self.anonymous_id.as_deref())
    }
}
