//! Figures checked against scipy/statsmodels, properties checked by proptest, and the
//! confidence sequence checked under continuous monitoring by simulation.
//!
//! Provenance of every expected value below (computed once, pasted here):
//! scipy 1.17.1, statsmodels 0.15.0, numpy 2.4.6, Python 3 in a throwaway venv:
//!
//! ```python
//! from scipy import stats, integrate
//! from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest, proportion_confint
//! for x1, n1, x2, n2 in [(120,1000,90,1000), (3,50,0,45), (450,9000,40,1000), (56,70,48,80)]:
//!     proportion_confint(x1, n1, alpha=0.05, method="wilson")
//!     confint_proportions_2indep(x1, n1, x2, n2, method="newcomb", compare="diff", alpha=0.05)
//!     proportions_ztest([x1, x2], [n1, n2])[1]                  # pooled, two-sided
//!     confint_proportions_2indep(x1, n1, x2, n2, method="log", compare="ratio", alpha=0.05)
//!     f = lambda x: stats.beta.pdf(x, 1+x1, 1+n1-x1) * stats.beta.cdf(x, 1+x2, 1+n2-x2)
//!     integrate.quad(f, 0, 1, points=[x1/n1, x2/n2], limit=500, epsabs=1e-13, epsrel=1e-12)[0]
//! for obs, exp in [([9100,900],[9000,1000]), ([505,495],[500,500]), ([1850,150],[1800,200])]:
//!     stats.chisquare(obs, f_exp=exp).pvalue
//! ```
//!
//! The case (56/70, 48/80) is also Newcombe's (1998) own worked example: method 10 gives
//! 0.0524 to 0.3339 in his Table II.

use proptest::prelude::*;
use rand::{Rng, SeedableRng};

use super::*;

/// (x_t, n_t, x_h, n_h), Newcombe (low, high), z-test p, ratio (low, high), prob_better.
type Case = (u64, u64, u64, u64, (f64, f64), f64, Option<(f64, f64)>, f64);

const CASES: &[Case] = &[
    (120, 1000, 90, 1000, (0.0030960486785798005, 0.057009571192658454), 0.028650240398448473, Some((1.0292342604166858, 1.7272819669431172)), 0.9855986255855164),
    (3, 50, 0, 45, (-0.02796166519485345, 0.16217091688838173), 0.09497011598374895, None, 0.9278754574525806),
    (450, 9000, 40, 1000, (-0.00465876546114366, 0.02149300964799534), 0.16460842831795208, Some((0.9106781720746017, 1.715754311361711)), 0.9112639943355185),
    (56, 70, 48, 80, (0.05243147240236498, 0.33387265403690614), 0.00804508136819656, Some((1.0766264227631928, 1.6512485112663873)), 0.9959295389768567),
];

fn counts(n: u64, x: u64) -> Counts {
    Counts::new(n, x).expect("test counts are valid")
}

fn close(got: f64, want: f64, tol: f64, what: &str) {
    assert!((got - want).abs() <= tol, "{what}: got {got}, want {want} (tolerance {tol})");
}

#[test]
fn wilson_matches_statsmodels() {
    let (lo, hi) = wilson(counts(1000, 120), Z_95).expect("trials");
    close(lo, 0.10129926060130912, 1e-12, "wilson low");
    close(hi, 0.14160907584771276, 1e-12, "wilson high");
    let (lo, hi) = wilson(counts(70, 56), Z_95).expect("trials");
    close(lo, 0.6918335550374695, 1e-12, "wilson low");
    close(hi, 0.8769526075163705, 1e-12, "wilson high");
}

#[test]
fn newcombe_z_test_ratio_and_prob_better_match_statsmodels_and_scipy() {
    for &(x1, n1, x2, n2, (nlo, nhi), p, rr, pb) in CASES {
        let (t, h) = (counts(n1, x1), counts(n2, x2));
        let what = format!("({x1}/{n1} vs {x2}/{n2})");
        let d = newcombe_diff(t, h, Z_95).expect("trials");
        close(d.low, nlo, 1e-12, &format!("newcombe low {what}"));
        close(d.high, nhi, 1e-12, &format!("newcombe high {what}"));
        close(two_proportion_p(t, h).expect("trials"), p, 1e-9 * p, &format!("z-test p {what}"));
        match (ratio_log(t, h, Z_95), rr) {
            (Some(r), Some((lo, hi))) => {
                close(r.low, lo, 1e-12, &format!("ratio low {what}"));
                close(r.high, hi, 1e-12, &format!("ratio high {what}"));
            }
            (None, None) => {}
            (got, want) => panic!("ratio {what}: got {got:?}, want {want:?}"),
        }
        // statrs's erfc is good to ~1e-10 relative, below any decision threshold.
        // quad's own error estimate is far below this tolerance; the closed form is exact.
        close(prob_better(t, h), pb, 1e-9, &format!("prob_better {what}"));
    }
}

#[test]
fn srm_matches_scipy_chisquare() {
    close(srm_p(9100, 900, 0.1).expect("share").expect("firings"), 0.0008581206663936758, 1e-13, "srm 9100/900");
    close(srm_p(505, 495, 0.5).expect("share").expect("firings"), 0.7518296340458492, 1e-13, "srm 505/495");
    close(srm_p(1850, 150, 0.1).expect("share").expect("firings"), 0.0001939416291037193, 1e-13, "srm 1850/150");
    assert!(srm_p(9100, 900, 0.1).expect("share").expect("firings") < SRM_P_FLAG);
    assert_eq!(srm_p(0, 0, 0.1), Ok(None));
    assert_eq!(srm_p(10, 0, 0.0), Ok(None));
    assert!(srm_p(10, 0, 1.5).is_err());
}

#[test]
fn counts_refuse_more_conversions_than_trials() {
    assert_eq!(Counts::new(3, 4), Err(Error::ConversionsExceedTrials { n: 3, conversions: 4 }));
}

#[test]
fn prob_better_is_symmetric_and_half_for_equal_arms() {
    // Continuous posteriors never tie, so equal arms give exactly one half.
    close(prob_better(counts(100, 10), counts(100, 10)), 0.5, 1e-12, "equal arms");
    close(prob_better(counts(0, 0), counts(0, 0)), 0.5, 1e-12, "empty arms");
    let (a, b) = (counts(300, 40), counts(250, 20));
    close(prob_better(a, b) + prob_better(b, a), 1.0, 1e-9, "complement");
}

#[test]
fn mean_diff_and_cuped_agree_when_the_covariate_is_noise_and_cuped_narrows_when_it_predicts() {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(7);
    let (mut y_t, mut x_t, mut y_h, mut x_h) = (vec![], vec![], vec![], vec![]);
    for i in 0..4000 {
        let x: f64 = rng.random::<f64>() * 10.0;
        let y = 2.0 * x + rng.random::<f64>() + if i % 2 == 0 { 0.5 } else { 0.0 };
        if i % 2 == 0 {
            y_t.push(y);
            x_t.push(x);
        } else {
            y_h.push(y);
            x_h.push(x);
        }
    }
    let plain = mean_diff(Summary::of(&y_t), Summary::of(&y_h), Z_95).expect("values");
    let cuped = cuped_diff(&y_t, &x_t, &y_h, &x_h, Z_95).expect("values");
    assert!(cuped.high - cuped.low < (plain.high - plain.low) / 5.0, "{cuped:?} vs {plain:?}");
    assert!(cuped.low < 0.5 && 0.5 < cuped.high, "{cuped:?}");
}

#[test]
fn lift_bundles_the_pieces() {
    let l = lift(counts(1000, 120), counts(1000, 90), 0.5).expect("share");
    let rel = l.lift_rel.expect("conversions in both");
    close(rel.value, 120.0 / 90.0 - 1.0, 1e-12, "relative lift");
    close(rel.low, 1.0292342604166858 - 1.0, 1e-12, "relative low");
    let (lo, hi) = l.cs.expect("a share within (0, 1)");
    let abs = l.lift_abs.expect("trials");
    // Anytime validity costs width: the sequence contains the fixed-n interval's estimate and
    // is wider than it.
    assert!(lo < abs.value && abs.value < hi);
    assert!(hi - lo > abs.high - abs.low);
    assert!(lift(counts(1, 0), counts(1, 0), -0.1).is_err());
}

/// 200 seeded A/A experiments (same true rate in both arms, 10 % and 50 % holdout), each
/// watched after every shopper up to 3,000: the share whose confidence sequence *ever*
/// excludes 0 must stay at or below α = 5 % (plus 2 points of Monte-Carlo slack). The same
/// experiments watched with the fixed-n Newcombe interval show why: peeking at it after every
/// 25 shoppers "finds" a difference far more often than 5 %.
#[test]
fn confidence_sequence_keeps_its_error_rate_under_continuous_monitoring() {
    let (n_experiments, n_max, alpha) = (200, 3000, 0.05);
    for (holdout_share, rate) in [(0.1, 0.1), (0.5, 0.3)] {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(20_240_601);
        let (mut cs_errors, mut naive_errors) = (0, 0);
        for _ in 0..n_experiments {
            let (mut t, mut h) = (Counts::default(), Counts::default());
            let (mut cs_wrong, mut naive_wrong) = (false, false);
            for i in 0..n_max {
                let converted = rng.random::<f64>() < rate;
                let arm = if rng.random::<f64>() < holdout_share { &mut h } else { &mut t };
                arm.n += 1;
                arm.conversions += u64::from(converted);
                if let Some((lo, hi)) = confidence_sequence_diff(t, h, 1.0 - holdout_share, alpha) {
                    cs_wrong |= lo > 0.0 || hi < 0.0;
                }
                if i % 25 == 24
                    && let Some(d) = newcombe_diff(t, h, Z_95)
                {
                    naive_wrong |= d.low > 0.0 || d.high < 0.0;
                }
            }
            cs_errors += u32::from(cs_wrong);
            naive_errors += u32::from(naive_wrong);
        }
        let cs_rate = f64::from(cs_errors) / f64::from(n_experiments);
        let naive_rate = f64::from(naive_errors) / f64::from(n_experiments);
        assert!(cs_rate <= alpha + 0.02, "holdout {holdout_share}: CS excluded 0 in {cs_rate} of A/A runs");
        assert!(naive_rate > alpha + 0.05, "holdout {holdout_share}: peeking at Newcombe erred in only {naive_rate}");
    }
}

#[test]
fn confidence_sequence_finds_a_real_difference() {
    // 30 % against 20 % with 20,000 shoppers, half held out: the sequence must exclude 0.
    let (lo, hi) = confidence_sequence_diff(counts(10_000, 3_000), counts(10_000, 2_000), 0.5, 0.05).expect("valid");
    assert!(lo > 0.0 && hi > lo, "({lo}, {hi})");
    assert_eq!(confidence_sequence_diff(counts(10, 1), counts(0, 0), 1.0, 0.05), None);
}

fn arm() -> impl Strategy<Value = Counts> {
    (1u64..5000).prop_flat_map(|n| (Just(n), 0..=n)).prop_map(|(n, x)| counts(n, x))
}

proptest! {
    #[test]
    fn intervals_contain_their_estimates_and_p_values_are_probabilities(t in arm(), h in arm(), share in 0.01f64..0.99) {
        let l = lift(t, h, share).expect("share within range");
        let abs = l.lift_abs.expect("trials");
        prop_assert!(abs.low <= abs.value + 1e-12 && abs.value <= abs.high + 1e-12, "{abs:?}");
        prop_assert!(abs.low >= -1.0 - 1e-12 && abs.high <= 1.0 + 1e-12);
        if let Some(rel) = l.lift_rel {
            prop_assert!(rel.low <= rel.value + 1e-12 && rel.value <= rel.high + 1e-12, "{rel:?}");
        }
        let (lo, hi) = wilson(t, Z_95).expect("trials");
        let p = t.rate().expect("trials");
        prop_assert!(lo <= p && p <= hi);
        let pv = l.p_value.expect("trials");
        prop_assert!((0.0..=1.0).contains(&pv));
        prop_assert!((0.0..=1.0).contains(&l.prob_better));
        let srm = srm_p(t.n, h.n, share).expect("share").expect("firings");
        prop_assert!((0.0..=1.0).contains(&srm));
        let (cs_lo, cs_hi) = l.cs.expect("share within (0, 1)");
        prop_assert!(cs_lo <= cs_hi && cs_lo >= -1.0 && cs_hi <= 1.0);
    }

    #[test]
    fn intervals_shrink_as_the_sample_grows(n in 20u64..2000, rate_t in 0.05f64..0.95, rate_h in 0.05f64..0.95, k in 2u64..10) {
        let small = (counts(n, (n as f64 * rate_t) as u64), counts(n, (n as f64 * rate_h) as u64));
        let big = (counts(n * k, small.0.conversions * k), counts(n * k, small.1.conversions * k));
        let width = |i: Interval| i.high - i.low;
        let (a, b) = (newcombe_diff(small.0, small.1, Z_95).expect("n"), newcombe_diff(big.0, big.1, Z_95).expect("n"));
        prop_assert!(width(b) < width(a));
        if let (Some(a), Some(b)) = (ratio_log(small.0, small.1, Z_95), ratio_log(big.0, big.1, Z_95)) {
            prop_assert!((b.high / b.low).ln() < (a.high / a.low).ln());
        }
        let cs = |c: (Counts, Counts)| confidence_sequence_diff(c.0, c.1, 0.5, 0.05).map(|(l, h)| h - l);
        prop_assert!(cs(big) <= cs(small));
    }
}
