//! Context normalisation: user agent → device/OS/browser (woothee, cached), IP truncation,
//! referrer and UTM → referrer class.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::event::{DeviceType, ReferrerClass};
use crate::limits::USER_AGENT_CACHE_MAX;

/// What a user agent says.
#[derive(Clone, Debug, PartialEq)]
pub struct UserAgentInfo {
    /// Device class.
    pub device: DeviceType,
    /// Operating system name, when recognised.
    pub os: Option<String>,
    /// Browser name, when recognised.
    pub browser: Option<String>,
}

/// A user-agent parser with a bounded cache: real traffic repeats a few hundred agents, and
/// parsing is the dearest part of decoding a message.
#[derive(Debug, Default)]
pub struct UserAgentCache {
    cache: Mutex<HashMap<String, UserAgentInfo>>,
}

impl UserAgentCache {
    /// Parse (or recall) a user agent.
    pub fn parse(&self, ua: &str) -> UserAgentInfo {
        if let Ok(cache) = self.cache.lock()
            && let Some(hit) = cache.get(ua) {
                return hit.clone();
            }
        let info = parse_user_agent(ua);
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= USER_AGENT_CACHE_MAX {
                cache.clear();
            }
            cache.insert(ua.to_string(), info.clone());
        }
        info
    }
}

fn known(s: &str) -> Option<String> {
    (!s.is_empty() && s != woothee::woothee::VALUE_UNKNOWN).then(|| s.to_string())
}

/// Parse a user agent without caching.
pub fn parse_user_agent(ua: &str) -> UserAgentInfo {
    let parser = woothee::parser::Parser::new();
    let Some(r) = parser.parse(ua) else {
        return UserAgentInfo { device: DeviceType::Unknown, os: None, browser: None };
    };
    let lower = ua.to_ascii_lowercase();
    // woothee calls tablets "smartphone"; iPad and Android without "Mobile" are tablets.
    let device = match r.category {
        "pc" => DeviceType::Desktop,
        "smartphone" | "mobilephone" => {
            if lower.contains("ipad") || (lower.contains("android") && !lower.contains("mobile")) || lower.contains("tablet") {
                DeviceType::Tablet
            } else {
                DeviceType::Mobile
            }
        }
        "crawler" => DeviceType::Bot,
        _ => DeviceType::Unknown,
    };
    UserAgentInfo { device, os: known(r.os), browser: known(r.name) }
}

/// Truncate an IP address so it no longer identifies a household: IPv4 keeps /24, IPv6 /48.
/// Returns `None` for text that is not an IP address.
pub fn truncate_ip(ip: &str) -> Option<String> {
    match ip.trim().parse::<std::net::IpAddr>().ok()? {
        std::net::IpAddr::V4(v4) => {
            let o = v4.octets();
            Some(format!("{}.{}.{}.0", o[0], o[1], o[2]))
        }
        std::net::IpAddr::V6(v6) => {
            let s = v6.segments();
            Some(format!("{:x}:{:x}:{:x}::", s[0], s[1], s[2]))
        }
    }
}

const SEARCH_HOSTS: &[&str] = &["google.", "bing.", "duckduckgo.", "yahoo.", "yandex.", "baidu.", "ecosia.", "qwant."];
const SOCIAL_HOSTS: &[&str] = &[
    "facebook.", "fb.", "instagram.", "t.co", "twitter.", "x.com", "linkedin.", "pinterest.",
    "reddit.", "tiktok.", "youtube.", "snapchat.", "whatsapp.",
];
const EMAIL_HOSTS: &[&str] = &["mail.", "outlook.", "gmail."];

/// The host of a URL, lowercased, without `www.`.
pub fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host = rest.split(['/', '?', '#']).next()?.rsplit('@').next()?;
    let host = host.split(':').next()?.to_ascii_lowercase();
    let host = host.strip_prefix("www.").map(str::to_string).unwrap_or(host);
    (!host.is_empty()).then_some(host)
}

/// UTM parameters from a page URL's query string: (source, medium, campaign).
pub fn utm_from_url(url: &str) -> (Option<String>, Option<String>, Option<String>) {
    let Some((_, query)) = url.split_once('?') else { return (None, None, None) };
    let query = query.split('#').next().unwrap_or("");
    let (mut s, mut m, mut c) = (None, None, None);
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        match &*k {
            "utm_source" => s = Some(v.into_owned()),
            "utm_medium" => m = Some(v.into_owned()),
            "utm_campaign" => c = Some(v.into_owned()),
            _ => {}
        }
    }
    (s, m, c)
}

/// Classify a visit's origin. UTM medium wins (the shop tagged it on purpose); then the
/// referrer's host; no referrer at all is a direct visit.
pub fn classify_referrer(referrer: Option<&str>, page_host: Option<&str>, utm_medium: Option<&str>) -> ReferrerClass {
    if let Some(medium) = utm_medium.map(str::to_ascii_lowercase) {
        match medium.as_str() {
            "cpc" | "ppc" | "paid" | "paidsearch" | "paid_social" | "display" | "cpm" | "affiliate" => return ReferrerClass::Paid,
            "email" | "e-mail" | "newsletter" => return ReferrerClass::Email,
            "social" | "social-network" | "sm" => return ReferrerClass::Social,
            "organic" => return ReferrerClass::Search,
            _ => {}
        }
    }
    let Some(host) = referrer.and_then(url_host) else { return ReferrerClass::Direct };
    if page_host.is_some_and(|p| p == host) {
        return ReferrerClass::Internal;
    }
    let has = |list: &[&str]| list.iter().any(|h| host.starts_with(h) || host.contains(&format!(".{h}")) || host == h.trim_end_matches('.'));
    if has(SEARCH_HOSTS) {
        ReferrerClass::Search
    } else if has(SOCIAL_HOSTS) {
        ReferrerClass::Social
    } else if has(EMAIL_HOSTS) {
        ReferrerClass::Email
    } else {
        ReferrerClass::Referral
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agents_map_to_devices() {
        let cases = [
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36", DeviceType::Desktop),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1", DeviceType::Mobile),
            ("Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1", DeviceType::Tablet),
            ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36", DeviceType::Mobile),
            ("Googlebot/2.1 (+http://www.google.com/bot.html)", DeviceType::Bot),
            ("", DeviceType::Unknown),
        ];
        let cache = UserAgentCache::default();
        for (ua, want) in cases {
            assert_eq!(cache.parse(ua).device, want, "{ua}");
            assert_eq!(cache.parse(ua), parse_user_agent(ua), "cache must not change the answer");
        }
        assert_eq!(cache.parse(cases[0].0).browser.as_deref(), Some("Chrome"));
    }

    #[test]
    fn ips_are_truncated() {
        assert_eq!(truncate_ip("203.0.113.77").as_deref(), Some("203.0.113.0"));
        assert_eq!(truncate_ip("2001:db8:85a3:1:2:3:4:5").as_deref(), Some("2001:db8:85a3::"));
        assert_eq!(truncate_ip("not-an-ip"), None);
    }

    #[test]
    fn referrers_are_classified() {
        use ReferrerClass::*;
        assert_eq!(classify_referrer(None, None, None), Direct);
        assert_eq!(classify_referrer(Some("https://www.google.com/search?q=x"), None, None), Search);
        assert_eq!(classify_referrer(Some("https://l.facebook.com/"), None, None), Social);
        assert_eq!(classify_referrer(Some("https://shop.example/cart"), Some("shop.example"), None), Internal);
        assert_eq!(classify_referrer(Some("https://blog.example.org/"), Some("shop.example"), None), Referral);
        assert_eq!(classify_referrer(Some("https://www.google.com/"), None, Some("cpc")), Paid);
        assert_eq!(classify_referrer(None, None, Some("email")), Email);
        let (s, m, c) = utm_from_url("https://shop.example/p?utm_source=news&utm_medium=email&utm_campaign=spring%20sale#top");
        assert_eq!((s.as_deref(), m.as_deref(), c.as_deref()), (Some("news"), Some("email"), Some("spring sale")));
    }
}
