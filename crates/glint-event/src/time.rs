//! Timestamps: parsing the spellings clients and datasets use, and printing RFC 3339.
//!
//! The common shapes (`2019-10-01 00:00:00 UTC`, `2024-05-01T10:00:00.123Z`) take a hand-written
//! fast path because imports parse millions of them; anything else goes through `jiff`.
//! Naive timestamps are UTC.

/// Parse a timestamp into UTC epoch milliseconds. Accepts RFC 3339 / ISO 8601 with `Z` or an
/// offset, and naive `YYYY-MM-DD[ T]HH:MM:SS[.frac]` optionally followed by ` UTC` (as UTC).
pub fn parse_timestamp_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    let s = s.strip_suffix(" UTC").unwrap_or(s);
    if let Some(ms) = parse_fast(s) {
        return Some(ms);
    }
    if let Ok(ts) = s.parse::<jiff::Timestamp>() {
        return Some(ts.as_millisecond());
    }
    // Naive civil date-time without offset: UTC.
    let dt: jiff::civil::DateTime = s.parse().ok()?;
    let ts = dt.to_zoned(jiff::tz::TimeZone::UTC).ok()?.timestamp();
    Some(ts.as_millisecond())
}

fn digits(b: &[u8]) -> Option<i64> {
    let mut v: i64 = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(c - b'0');
    }
    Some(v)
}

/// `YYYY-MM-DD[T ]HH:MM:SS[.f+][Z]`, the shapes nearly every input uses.
fn parse_fast(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || (b[10] != b'T' && b[10] != b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?);
    let (hour, min, sec) = (digits(&b[11..13])?, digits(&b[14..16])?, digits(&b[17..19])?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || min > 59 || sec > 59 {
        return None;
    }
    let mut rest = &b[19..];
    let mut ms = 0i64;
    if let Some((&b'.', frac)) = rest.split_first() {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        let mut scaled = 0i64;
        for i in 0..3 {
            scaled = scaled * 10 + frac.get(i).filter(|_| i < n).map_or(0, |c| i64::from(c - b'0'));
        }
        ms = scaled;
        rest = &frac[n..];
    }
    match rest {
        b"" | b"Z" | b"z" | b"+00:00" | b"+0000" => {}
        _ => return None,
    }
    let days = days_from_civil(year, month, day);
    Some(((days * 24 + hour) * 60 + min) * 60_000 + sec * 1000 + ms)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// RFC 3339 in UTC with millisecond precision and `Z`, e.g. `2026-01-05T08:00:00.000Z`.
pub fn format_rfc3339_ms(ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(ts) => ts.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        Err(_) => format!("invalid-time({ms})"),
    }
}

/// RFC 3339 in UTC with whole seconds and `Z`, e.g. `2026-01-05T08:00:00Z`.
pub fn format_rfc3339_s(ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(ts) => ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        Err(_) => format!("invalid-time({ms})"),
    }
}

/// `"90d"`, `"24h"`, `"30m"`, `"45s"`, `"500ms"`, `"2w"`, or `"0"` → milliseconds; the one
/// spelling of durations in `glint.toml` and `moments.toml`. The error says what is wrong.
pub fn parse_duration_ms(s: &str) -> Result<i64, String> {
    let s = s.trim();
    if s == "0" {
        return Ok(0);
    }
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: i64 = num.parse().map_err(|_| format!("{s:?} is not a duration like 30m, 24h or 90d"))?;
    let scale = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        _ => return Err(format!("{s:?} has unknown unit {unit:?}: use ms, s, m, h, d or w")),
    };
    n.checked_mul(scale).ok_or_else(|| format!("{s:?} is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_the_spellings_inputs_use() {
        let base = 1_569_888_000_000; // 2019-10-01T00:00:00Z
        assert_eq!(parse_timestamp_ms("2019-10-01 00:00:00 UTC"), Some(base));
        assert_eq!(parse_timestamp_ms("2019-10-01T00:00:00Z"), Some(base));
        assert_eq!(parse_timestamp_ms("2019-10-01T00:00:00.250Z"), Some(base + 250));
        assert_eq!(parse_timestamp_ms("2019-10-01 00:00:00.273932"), Some(base + 273));
        assert_eq!(parse_timestamp_ms("2019-10-01T02:00:00+02:00"), Some(base));
        assert_eq!(parse_timestamp_ms("2019-10-01T00:00:00.5-01:00"), Some(base + 3_600_500));
        for bad in ["", "yesterday", "2019-13-01 00:00:00", "2019-02-30T00:00:00Z", "2019-10-01T25:00:00Z"] {
            assert_eq!(parse_timestamp_ms(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn fast_path_agrees_with_jiff(ms in 0i64..4_102_444_800_000) {
            let text = format_rfc3339_ms(ms);
            prop_assert_eq!(parse_fast(&text), Some(ms));
            let jiff_ms = text.parse::<jiff::Timestamp>().map(|t| t.as_millisecond()).ok();
            prop_assert_eq!(jiff_ms, Some(ms));
        }
    }
}
