//! `glint lift` and `glint signals` on simulated traffic: every moment reported with the JSON
//! keys, counts consistent with the firing file, no sample-ratio mismatch from the seeded
//! holdout hash, censoring counted.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::util::{ok, simulated, tempdir};

/// Per moment and arm (true = treatment), the distinct shoppers with a `sent` or `holdout`
/// firing: the shoppers `glint lift` must account for, as counted or censored.
fn shoppers_per_arm(firings: &str) -> BTreeMap<(String, bool), BTreeSet<String>> {
    let mut out: BTreeMap<(String, bool), BTreeSet<String>> = BTreeMap::new();
    for line in firings.lines().filter(|l| !l.trim().is_empty()) {
        let f: Value = serde_json::from_str(line).expect("a firing is JSON");
        let treatment = match f["outcome"].as_str() {
            Some("sent") => true,
            Some("holdout") => false,
            _ => continue,
        };
        let moment = f["moment"].as_str().expect("moment").to_string();
        out.entry((moment, treatment)).or_default().insert(f["user"].as_str().expect("user").to_string());
    }
    out
}

#[test]
fn lift_on_simulated_firings_accounts_for_every_shopper_without_sample_ratio_mismatch() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let firings = dir.path().join("firings.jsonl");
    let (d, f) = (data.to_str().expect("utf-8"), firings.to_str().expect("utf-8"));
    ok(&["simulate", "--users", "2000", "--days", "7", "--data", d]);
    ok(&["replay", "--data", d, "--out", f]);
    let report: Value = serde_json::from_str(&ok(&["lift", "--data", d, "--firings", f, "--json"])).expect("lift --json is JSON");
    let moments = report["moments"].as_array().expect("moments");
    // The twelve shipped moments, each reported even when it never fired.
    assert_eq!(moments.len(), 12, "{report:#}");
    let expected = shoppers_per_arm(&std::fs::read_to_string(&firings).expect("firings"));
    assert!(!expected.is_empty(), "the simulation produced no sent or holdout firings");
    let mut censored_total = 0;
    for m in moments {
        let name = m["moment"].as_str().expect("moment name");
        for key in ["treatment", "holdout", "lift_abs", "lift_rel", "p_value", "prob_better", "srm_p", "censored", "cs_low", "cs_high", "srm_flag", "guardrail"] {
            assert!(m.get(key).is_some(), "{name}: missing {key}: {m:#}");
        }
        for (arm, is_treatment, censored_key) in [("treatment", true, "censored_treatment"), ("holdout", false, "censored_holdout")] {
            let n = m[arm]["n"].as_u64().expect("n");
            let conversions = m[arm]["conversions"].as_u64().expect("conversions");
            let censored = m[censored_key].as_u64().expect("censored per arm");
            assert!(conversions <= n, "{name} {arm}: {conversions} of {n}");
            let shoppers = expected.get(&(name.to_string(), is_treatment)).map_or(0, BTreeSet::len) as u64;
            assert_eq!(n + censored, shoppers, "{name} {arm}: counted {n} + censored {censored} != distinct shoppers {shoppers} in the firing file");
            if n > 0 {
                let rate = m[arm]["rate"].as_f64().expect("rate");
                assert!((rate - conversions as f64 / n as f64).abs() < 1e-12);
            }
        }
        assert_eq!(m["censored"].as_u64(), Some(m["censored_treatment"].as_u64().expect("t") + m["censored_holdout"].as_u64().expect("h")));
        censored_total += m["censored"].as_u64().expect("censored");
        // The holdout split is a seeded hash of (seed, shopper, moment): it must pass SRM.
        assert_eq!(m["srm_flag"], Value::Bool(false), "{name}: sample-ratio mismatch on simulated firings: {m:#}");
        if let Some(p) = m["p_value"].as_f64() {
            assert!((0.0..=1.0).contains(&p));
        }
        let abs = &m["lift_abs"];
        if !abs.is_null() {
            let (lo, v, hi) = (abs["ci_low"].as_f64().expect("low"), abs["value"].as_f64().expect("value"), abs["ci_high"].as_f64().expect("high"));
            assert!(lo <= v && v <= hi, "{name}: {abs}");
        }
    }
    // Moments with 30-day KPI windows cannot finish inside 7 days of data.
    assert!(censored_total > 0, "no firing was censored: {report:#}");

    let text = ok(&["lift", "--data", d, "--firings", f]);
    assert!(text.lines().last().is_some_and(|l| l.starts_with("12 moments:")), "{text}");

    // CUPED: the same counts, plus an adjusted difference whose interval holds its estimate
    // and whose estimate stays near the unadjusted one (the covariate precedes assignment).
    let cuped: Value = serde_json::from_str(&ok(&["lift", "--data", d, "--firings", f, "--json", "--cuped"])).expect("json");
    let plain = report["moments"].as_array().expect("moments");
    let adjusted = cuped["moments"].as_array().expect("moments");
    let mut checked = 0;
    for (p, c) in plain.iter().zip(adjusted) {
        assert_eq!(p["treatment"], c["treatment"]);
        assert_eq!(p["holdout"], c["holdout"]);
        let n = c["treatment"]["n"].as_u64().unwrap_or(0).min(c["holdout"]["n"].as_u64().unwrap_or(0));
        if n < 20 {
            continue;
        }
        let a = &c["lift_abs_cuped"];
        let (v, lo, hi) = (a["value"].as_f64().expect("value"), a["ci_low"].as_f64().expect("low"), a["ci_high"].as_f64().expect("high"));
        assert!(lo <= v && v <= hi, "{}: {a}", c["moment"]);
        let unadjusted = p["lift_abs"]["value"].as_f64().expect("value");
        assert!((v - unadjusted).abs() < 0.05, "{}: CUPED {v} vs plain {unadjusted}", c["moment"]);
        checked += 1;
    }
    assert!(checked > 0, "no moment had 20 shoppers per arm");
}

#[test]
fn signals_ranks_cart_adds_above_page_views_for_orders() {
    let dir = tempdir();
    let d = simulated(dir.path(), 500, 3);
    let d = d.as_str();
    let report: Value = serde_json::from_str(&ok(&["signals", "--data", d, "--target", "order_completed", "--json"])).expect("signals --json is JSON");
    let rows = report["signals"].as_array().expect("signals");
    let rank = |s: &str| rows.iter().position(|r| r["signal"] == s).unwrap_or_else(|| panic!("{s} missing: {report:#}"));
    assert!(rank("product_added") < rank("page_viewed"), "{report:#}");
    assert!(rows.iter().all(|r| r["signal"] != "order_completed"), "the target is not its own predictor");
    let added = &rows[rank("product_added")];
    assert!(added["share_with"].as_f64() > added["share_without"].as_f64(), "{added}");
    assert!(report["pairs"].as_array().is_some_and(|p| !p.is_empty()));
}
