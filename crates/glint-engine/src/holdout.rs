//! Holdout assignment: a seeded hash of (seed, shopper, moment) into 10,000 buckets.
//!
//! Deterministic, so replay and live agree and a shopper stays in the same group for a
//! moment; independent across moments, so being held out of one says nothing of another.

/// Buckets a shopper-moment pair hashes into; a holdout share of 10 % is buckets 0..1000.
pub const BUCKETS: u32 = 10_000;

/// The bucket of `shopper` for `moment` under `seed`, in `0..BUCKETS`.
pub fn bucket(seed: u64, shopper: &str, moment: &str) -> u32 {
    let mut buf = Vec::with_capacity(shopper.len() + moment.len() + 2);
    buf.extend_from_slice(moment.as_bytes());
    buf.push(0);
    buf.extend_from_slice(shopper.as_bytes());
    (xxhash_rust::xxh3::xxh3_64_with_seed(&buf, seed) % u64::from(BUCKETS)) as u32
}

/// Whether the pair is held out, for a holdout share given in basis points (1,000 = 10 %).
pub fn is_holdout(seed: u64, shopper: &str, moment: &str, share_bp: u32) -> bool {
    bucket(seed, shopper, moment) < share_bp.min(BUCKETS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn share_is_within_statistical_bounds() {
        // 20,000 shoppers at 10 %: binomial sd = sqrt(20000 · 0.1 · 0.9) ≈ 42; allow 5 sd.
        let n = (0..20_000).filter(|i| is_holdout(42, &format!("shopper-{i}"), "cart_wobble", 1000)).count();
        assert!((2000 - 212..=2000 + 212).contains(&n), "{n}");
    }

    proptest! {
        #[test]
        fn assignment_is_deterministic_and_in_range(seed in any::<u64>(), shopper in ".{0,20}", moment in "[a-z_]{1,12}") {
            let b = bucket(seed, &shopper, &moment);
            prop_assert!(b < BUCKETS);
            prop_assert_eq!(b, bucket(seed, &shopper, &moment));
            prop_assert!(!is_holdout(seed, &shopper, &moment, 0));
            prop_assert!(is_holdout(seed, &shopper, &moment, BUCKETS));
        }
    }
}
