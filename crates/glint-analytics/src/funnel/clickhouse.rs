//! A line-by-line model of ClickHouse's `windowFunnel` level computation
//! (`src/AggregateFunctions/AggregateFunctionWindowFunnel.cpp`, `getEventLevelNonStrictOnce`,
//! as shipped in ClickHouse 26.9 / chdb 4.4), for the default mode and `strict_order`.
//!
//! `strict` uses it to find where reading stops; the tests use it as the oracle the general
//! `ordered` evaluation must agree with on every random shopper. Its state, per level, is the
//! start second of the latest chain that reached the level; a level is never cleared.

use super::eval::Hit;

/// The level `windowFunnel(window[, 'strict_order'])` returns for one shopper, and how many
/// of `hits` it read before returning. `hits` must be sorted by (second, step), ClickHouse's
/// order; step 0 marks an event matching no step, which only `strict_order` records.
pub(crate) fn window_funnel(n: usize, window_s: i64, strict_order: bool, hits: &[Hit]) -> (usize, usize) {
    debug_assert!(hits.is_sorted_by_key(|h| (h.sec, h.step)));
    // level_start[k]: start second of the chain that last reached step k + 1.
    let mut level_start: Vec<Option<i64>> = vec![None; n];
    let mut started = false;
    let level = |level_start: &[Option<i64>]| level_start.iter().rposition(Option::is_some).map_or(0, |k| k + 1);
    for (i, h) in hits.iter().enumerate() {
        if h.step == 0 {
            if !strict_order {
                continue;
            }
            if started {
                return (level(&level_start), i);
            }
            continue;
        }
        let k = usize::from(h.step) - 1;
        if k == 0 {
            level_start[0] = Some(h.sec);
            started = true;
            // ClickHouse answers 1 for a one-step funnel without looking further.
            if n == 1 {
                return (1, i + 1);
            }
        } else if strict_order && started && level_start[k - 1].is_none() {
            // A step out of order: ClickHouse returns the first level not reached.
            let first_gap = level_start.iter().position(Option::is_none).unwrap_or(n);
            return (first_gap, i);
        } else if let Some(first) = level_start[k - 1]
            && h.sec <= first.saturating_add(window_s)
        {
            level_start[k] = Some(first);
            if k + 1 == n {
                return (n, i + 1);
            }
        }
    }
    (level(&level_start), hits.len())
}
