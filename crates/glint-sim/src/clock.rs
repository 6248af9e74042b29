//! Time owned by the simulator: epoch milliseconds turned into the ISO-8601 strings Segment's
//! libraries send, civil dates for identify traits, and the diurnal traffic curve.
//!
//! Formatting is hand-rolled rather than done with `jiff` because it runs once per message and
//! the fixed `YYYY-MM-DDTHH:MM:SS.mmmZ` shape (always three fractional digits) is what
//! analytics.js emits; a test cross-checks it against `jiff`.

use std::fmt::Write as _;

/// One minute in milliseconds.
pub(crate) const MINUTE_MS: i64 = 60_000;
/// One hour in milliseconds.
pub(crate) const HOUR_MS: i64 = 60 * MINUTE_MS;
/// One day in milliseconds.
pub(crate) const DAY_MS: i64 = 24 * HOUR_MS;

/// Days since 1970-01-01 to (year, month, day) — Howard Hinnant's `civil_from_days`.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// (year, month, day) to days since 1970-01-01 — the inverse of [`civil_from_days`].
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn push2(s: &mut String, v: u32) {
    s.push(char::from(b'0' + (v / 10 % 10) as u8));
    s.push(char::from(b'0' + (v % 10) as u8));
}

fn push_date(s: &mut String, days: i64) {
    let (y, m, d) = civil_from_days(days);
    if (0..=9999).contains(&y) {
        let y = y as u32;
        push2(s, y / 100);
        push2(s, y % 100);
    } else {
        // Far outside any shop's history; keep it valid ISO-8601 (expanded year) rather than panic.
        let _ = write!(s, "{y:+07}");
    }
    s.push('-');
    push2(s, m);
    s.push('-');
    push2(s, d);
}

/// Epoch milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub(crate) fn iso_timestamp(ms: i64) -> String {
    let mut s = String::with_capacity(24);
    push_date(&mut s, ms.div_euclid(DAY_MS));
    let rem = ms.rem_euclid(DAY_MS) as u32;
    s.push('T');
    push2(&mut s, rem / 3_600_000);
    s.push(':');
    push2(&mut s, rem / 60_000 % 60);
    s.push(':');
    push2(&mut s, rem / 1000 % 60);
    s.push('.');
    let milli = rem % 1000;
    s.push(char::from(b'0' + (milli / 100) as u8));
    push2(&mut s, milli % 100);
    s.push('Z');
    s
}

/// Days since the epoch as `YYYY-MM-DD` (the date format Glint reads from traits).
pub(crate) fn iso_date(days: i64) -> String {
    let mut s = String::with_capacity(10);
    push_date(&mut s, days);
    s
}

/// Relative shop traffic by local hour of day (0–23): a night trough, a lunch bump and an
/// evening peak around 20:00, the common shape of e-commerce traffic curves.
const DIURNAL: [f64; 24] = [
    0.40, 0.22, 0.13, 0.09, 0.08, 0.11, 0.25, 0.50, 0.75, 0.90, 1.00, 1.05, //
    1.15, 1.10, 1.05, 1.05, 1.10, 1.20, 1.40, 1.65, 1.85, 1.80, 1.45, 0.85,
];

const fn diurnal_max() -> f64 {
    let mut i = 0;
    let mut m = 0.0;
    while i < 24 {
        if DIURNAL[i] > m {
            m = DIURNAL[i];
        }
        i += 1;
    }
    m
}

const fn diurnal_mean() -> f64 {
    let mut i = 0;
    let mut s = 0.0;
    while i < 24 {
        s += DIURNAL[i];
        i += 1;
    }
    s / 24.0
}

/// How much faster than the daily average the busiest hour is; session arrivals are drawn at
/// this peak rate and thinned by [`diurnal_accept`].
pub(crate) const DIURNAL_PEAK_RATIO: f64 = diurnal_max() / diurnal_mean();

/// The probability of keeping a candidate arrival at local time `local_ms` (thinning of a
/// Poisson process at the peak rate gives arrivals following the diurnal curve).
pub(crate) fn diurnal_accept(local_ms: i64) -> f64 {
    let hour = (local_ms.rem_euclid(DAY_MS) / HOUR_MS) as usize;
    DIURNAL[hour] / diurnal_max()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_match_jiff() {
        for ms in [0_i64, 1_767_571_200_000, 1_767_571_200_000 + 29_523_123, 951_782_400_007, 4_102_444_799_999, -1] {
            let ours = iso_timestamp(ms);
            let theirs = jiff::Timestamp::from_millisecond(ms).expect("in range").strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
            assert_eq!(ours, theirs, "{ms}");
        }
    }

    #[test]
    fn civil_round_trip() {
        for days in -800_000..800_000_i64 {
            if days % 997 != 0 {
                continue;
            }
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(iso_date(days_from_civil(2026, 1, 5)), "2026-01-05");
        assert_eq!(iso_date(days_from_civil(2024, 2, 29)), "2024-02-29");
    }

    #[test]
    fn diurnal_peaks_in_the_evening() {
        assert!(diurnal_accept(20 * HOUR_MS) > 0.99);
        assert!(diurnal_accept(4 * HOUR_MS) < 0.1);
        const { assert!(DIURNAL_PEAK_RATIO > 1.5 && DIURNAL_PEAK_RATIO < 2.5) };
    }
}
