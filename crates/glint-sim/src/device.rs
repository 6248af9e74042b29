//! What a shopper's browser puts in Segment's `context`: user-agent strings, time zones with
//! their locales, documentation-range IP addresses and marketing campaigns.
//!
//! Everything here is static data so that per-message context building only copies short
//! strings. Time zones carry a fixed UTC offset (their January offset) instead of a tz
//! database lookup: the diurnal rhythm is approximate anyway, and a fixed table keeps output
//! identical on machines with different zoneinfo files.

/// The broad device class, which also shifts conversion (desktop converts better).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeviceClass {
    Desktop,
    Mobile,
    Tablet,
}

/// One browser/OS combination a shopper uses.
#[derive(Debug)]
pub(crate) struct Device {
    pub(crate) user_agent: &'static str,
    pub(crate) class: DeviceClass,
    /// Share in the shopper population (per mille).
    pub(crate) weight: u32,
}

/// Mobile-heavy mix typical for 2025-26 retail traffic.
pub(crate) const DEVICES: &[Device] = &[
    Device {
        user_agent: "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
        class: DeviceClass::Mobile,
        weight: 280,
    },
    Device {
        user_agent: "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
        class: DeviceClass::Mobile,
        weight: 260,
    },
    Device {
        user_agent: "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
        class: DeviceClass::Mobile,
        weight: 50,
    },
    Device {
        user_agent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        class: DeviceClass::Desktop,
        weight: 170,
    },
    Device {
        user_agent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
        class: DeviceClass::Desktop,
        weight: 50,
    },
    Device {
        user_agent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
        class: DeviceClass::Desktop,
        weight: 60,
    },
    Device {
        user_agent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
        class: DeviceClass::Desktop,
        weight: 30,
    },
    Device {
        user_agent: "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        class: DeviceClass::Desktop,
        weight: 20,
    },
    Device {
        user_agent: "Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
        class: DeviceClass::Tablet,
        weight: 50,
    },
    Device {
        user_agent: "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        class: DeviceClass::Tablet,
        weight: 30,
    },
];

/// A shopper's home time zone and the locale that usually goes with it.
#[derive(Debug)]
pub(crate) struct Zone {
    pub(crate) name: &'static str,
    pub(crate) locale: &'static str,
    /// UTC offset in minutes in January (Sydney is on daylight time then).
    pub(crate) offset_min: i64,
    /// Share of shoppers (per mille): a European shop with American and Asian customers.
    pub(crate) weight: u32,
}

/// Shopper home zones.
pub(crate) const ZONES: &[Zone] = &[
    Zone { name: "Europe/London", locale: "en-GB", offset_min: 0, weight: 140 },
    Zone { name: "Europe/Berlin", locale: "de-DE", offset_min: 60, weight: 140 },
    Zone { name: "Europe/Paris", locale: "fr-FR", offset_min: 60, weight: 90 },
    Zone { name: "Europe/Madrid", locale: "es-ES", offset_min: 60, weight: 60 },
    Zone { name: "Europe/Warsaw", locale: "pl-PL", offset_min: 60, weight: 50 },
    Zone { name: "Europe/Amsterdam", locale: "nl-NL", offset_min: 60, weight: 30 },
    Zone { name: "Europe/Helsinki", locale: "fi-FI", offset_min: 120, weight: 20 },
    Zone { name: "America/New_York", locale: "en-US", offset_min: -300, weight: 130 },
    Zone { name: "America/Chicago", locale: "en-US", offset_min: -360, weight: 60 },
    Zone { name: "America/Denver", locale: "en-US", offset_min: -420, weight: 20 },
    Zone { name: "America/Los_Angeles", locale: "en-US", offset_min: -480, weight: 70 },
    Zone { name: "America/Toronto", locale: "en-CA", offset_min: -300, weight: 30 },
    Zone { name: "America/Sao_Paulo", locale: "pt-BR", offset_min: -180, weight: 40 },
    Zone { name: "Asia/Tokyo", locale: "ja-JP", offset_min: 540, weight: 40 },
    Zone { name: "Asia/Singapore", locale: "en-SG", offset_min: 480, weight: 25 },
    Zone { name: "Asia/Kolkata", locale: "en-IN", offset_min: 330, weight: 30 },
    Zone { name: "Asia/Dubai", locale: "ar-AE", offset_min: 240, weight: 10 },
    Zone { name: "Australia/Sydney", locale: "en-AU", offset_min: 660, weight: 15 },
];

/// The three IPv4 documentation ranges (RFC 5737), so simulated traffic never names a real host.
const IP_PREFIXES: [&str; 3] = ["192.0.2.", "198.51.100.", "203.0.113."];

/// A documentation-range address from a packed code (range in the high bits, host in the low).
pub(crate) fn ip_address(code: u16) -> String {
    let prefix = IP_PREFIXES[usize::from(code >> 8) % IP_PREFIXES.len()];
    let host = (code & 0xff) as u8 % 254 + 1;
    let mut s = String::with_capacity(15);
    s.push_str(prefix);
    s.push_str(&host.to_string());
    s
}

/// A marketing campaign a session may arrive from (`context.campaign`, i.e. UTM parameters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Campaign {
    GoogleCpc,
    Newsletter,
    FacebookSocial,
}

impl Campaign {
    /// `(source, medium, name)` as the UTM parameters carry them.
    pub(crate) const fn utm(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Self::GoogleCpc => ("google", "cpc", "winter_sale"),
            Self::Newsletter => ("newsletter", "email", "weekly_picks"),
            Self::FacebookSocial => ("facebook", "social", "retargeting"),
        }
    }

    /// The referrer the browser reports for this campaign's click.
    pub(crate) const fn referrer(self) -> &'static str {
        match self {
            Self::GoogleCpc => "https://www.google.com/",
            Self::Newsletter => "",
            Self::FacebookSocial => "https://l.facebook.com/",
        }
    }
}

/// The shop's own origin for page URLs (an RFC 2606 example domain).
pub(crate) const SHOP_ORIGIN: &str = "https://shop.example.com";

/// Referrer of sessions that come from organic search without a campaign.
pub(crate) const ORGANIC_REFERRER: &str = "https://www.google.com/";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ips_are_documentation_addresses() {
        for code in [0_u16, 255, 256, 511, 767, 65_535] {
            let ip = ip_address(code);
            assert!(IP_PREFIXES.iter().any(|p| ip.starts_with(p)), "{ip}");
            assert!(!ip.ends_with(".0") && !ip.ends_with(".255"), "{ip}");
        }
    }

    #[test]
    fn tables_are_weighted() {
        assert_eq!(DEVICES.iter().map(|d| d.weight).sum::<u32>(), 1000);
        assert_eq!(ZONES.iter().map(|z| z.weight).sum::<u32>(), 1000);
    }
}
