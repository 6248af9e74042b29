//! `glint funnel`: its JSON and text, its errors naming the argument, and its counts against
//! ClickHouse's `windowFunnel` through `benches/funnel_vs_clickhouse.py` (chdb, installed into
//! `benches/.venv` by `scripts/setup-test-deps`).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::util::{ok, run, shared_data, simulated, tempdir};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The benchmark venv's python with chdb and pyarrow, or `None` with a notice;
/// `GLINT_REQUIRE_CLIENTS=1` (set by `scripts/test`, which installs them) makes it a failure.
fn peers_python() -> Option<PathBuf> {
    let python = root().join("benches/.venv/bin/python");
    if python.exists() && Command::new(&python).args(["-c", "import chdb, pyarrow"]).output().is_ok_and(|o| o.status.success()) {
        return Some(python);
    }
    let msg = "chdb not installed in benches/.venv (run scripts/setup-test-deps)";
    if std::env::var("GLINT_REQUIRE_CLIENTS").as_deref() == Ok("1") {
        panic!("{msg}, and GLINT_REQUIRE_CLIENTS=1");
    }
    eprintln!("{msg}; skipping");
    None
}

fn funnel_json(args: &[&str]) -> Value {
    let mut all = vec!["funnel"];
    all.extend_from_slice(args);
    all.push("--json");
    serde_json::from_str(&ok(&all)).expect("funnel JSON")
}

#[test]
fn funnel_counts_equal_clickhouse_window_funnel() {
    let Some(python) = peers_python() else { return };
    let dir = tempdir();
    // Without the shared samples the script compares on simulated and random shops only.
    let shared = shared_data().unwrap_or_else(|| dir.path().join("no-shared-data"));
    let out = Command::new(python)
        .arg(root().join("benches/funnel_vs_clickhouse.py"))
        .args(["--glint", env!("CARGO_BIN_EXE_glint")])
        .arg("--work")
        .arg(dir.path().join("work"))
        .arg("--shared")
        .arg(&shared)
        .output()
        .expect("the comparison script runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stdout}{stderr}");
    assert!(out.status.success(), "glint funnel differs from ClickHouse windowFunnel:\n{stdout}\n{stderr}");
    assert!(stdout.contains(" 0 mismatches"), "{stdout}");
}

#[test]
fn funnel_json_gives_every_step_with_conversion_and_times() {
    let dir = tempdir();
    let d = simulated(dir.path(), 300, 2);
    let v = funnel_json(&["--data", &d, "--steps", "product_viewed,product_added,checkout_started,order_completed", "--window", "1d"]);
    assert_eq!(v["mode"], "ordered");
    assert_eq!(v["window_seconds"], 86_400);
    let steps = v["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 4);
    let users: Vec<u64> = steps.iter().map(|s| s["users"].as_u64().expect("users")).collect();
    assert!(users[0] > 100 && users[3] > 0, "{v:#}");
    assert!(users.windows(2).all(|w| w[0] >= w[1]), "{users:?}");
    assert_eq!(v["entered"].as_u64(), Some(users[0]));
    assert_eq!(v["converted"].as_u64(), Some(users[3]));
    assert_eq!(steps[0]["signal"], "product_viewed");
    assert_eq!(steps[0]["median_seconds"], 0);
    assert!(steps[0]["conversion_from_previous"].is_null());
    for (i, s) in steps.iter().enumerate().skip(1) {
        let prev = users[i - 1] as f64;
        let conv = s["conversion_from_previous"].as_f64().expect("conversion");
        assert!((conv - users[i] as f64 / prev).abs() < 1e-12, "{s}");
        let first = s["conversion_from_first"].as_f64().expect("conversion");
        assert!((first - users[i] as f64 / users[0] as f64).abs() < 1e-12, "{s}");
        assert_eq!(s["drop_off"].as_u64(), Some(users[i - 1] - users[i]));
        let (median, p90) = (s["median_seconds"].as_u64().expect("median"), s["p90_seconds"].as_u64().expect("p90"));
        assert!(median <= p90 && p90 <= 86_400, "{s}");
    }
    // Strict never counts more than ordered, step by step.
    let strict = funnel_json(&["--data", &d, "--steps", "product_viewed,product_added,checkout_started,order_completed", "--window", "1d", "--mode", "strict"]);
    for (o, s) in steps.iter().zip(strict["steps"].as_array().expect("steps")) {
        assert!(s["users"].as_u64() <= o["users"].as_u64(), "{s} vs {o}");
    }
}

#[test]
fn funnel_by_device_splits_the_same_shoppers() {
    let dir = tempdir();
    let d = simulated(dir.path(), 300, 2);
    let args = ["--data", d.as_str(), "--steps", "product_viewed,product_added?,order_completed", "--window", "2h", "--exclude", "product_removed", "--by", "device"];
    let v = funnel_json(&args);
    assert_eq!(v["by"], "device");
    let groups = v["breakdown"].as_array().expect("breakdown");
    assert!(groups.len() >= 2, "{v:#}");
    assert_eq!(v["steps"][1]["optional"], true);
    for k in 0..3 {
        let total: u64 = groups.iter().map(|g| g["steps"][k]["users"].as_u64().expect("users")).sum();
        assert_eq!(Some(total), v["steps"][k]["users"].as_u64(), "step {k}: groups add up");
    }
    assert!(groups.iter().all(|g| ["desktop", "mobile", "tablet", "bot", "unknown"].contains(&g["value"].as_str().expect("value"))), "{v:#}");
    let text = ok(&["funnel", "--data", d.as_str(), "--steps", "product_viewed,product_added?,order_completed", "--window", "2h", "--by", "device"]);
    assert!(text.contains("product_added?") && text.contains("device = "), "{text}");
    assert!(text.lines().any(|l| l.contains("shoppers entered at product_viewed") && l.contains("reached order_completed")), "{text}");
}

#[test]
fn funnel_errors_name_the_argument() {
    let dir = tempdir();
    let d = simulated(dir.path(), 300, 2);
    let fails = |extra: &[&str], code: i32, want: &[&str]| {
        let mut args = vec!["funnel", "--data", d.as_str()];
        args.extend_from_slice(extra);
        let out = run(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        for w in want {
            assert!(err.contains(w), "{args:?}: {err:?} lacks {w:?}");
        }
    };
    fails(&["--steps", "product_viewed,prodcut_added", "--window", "1h"], 1, &["--steps", "unknown signal \"prodcut_added\"", "did you mean \"product_added\""]);
    fails(&["--steps", "product_viewed,product_added", "--window", "1h", "--exclude", "nothing_like_it"], 1, &["--exclude", "unknown signal \"nothing_like_it\""]);
    fails(&["--steps", "product_viewed,product_added", "--window", "90x"], 2, &["--window", "unknown unit"]);
    fails(&["--steps", "product_viewed,product_added", "--window", "1500ms"], 2, &["--window", "whole number of seconds"]);
    fails(&["--steps", "product_viewed,,product_added", "--window", "1h"], 2, &["--steps", "step 2 is empty"]);
    fails(&["--steps", "product_viewed,product_added?", "--window", "1h", "--mode", "strict"], 1, &["--mode", "optional steps"]);
    fails(&["--steps", "product_viewed", "--window", "1h", "--by", "planet"], 2, &["--by", "device, country"]);
    // A built-in signal absent from the data is no error: nobody took that step.
    let v = funnel_json(&["--data", &d, "--steps", "product_viewed,grouped", "--window", "1h"]);
    assert_eq!(v["steps"][1]["users"], 0);
}

/// Groups as (value, users per step), and a check that they add up to the totals.
fn groups_adding_up(v: &Value) -> Vec<(String, Vec<u64>)> {
    let steps = v["steps"].as_array().expect("steps").len();
    let groups: Vec<(String, Vec<u64>)> = v["breakdown"].as_array().expect("breakdown").iter().map(|g| (g["value"].as_str().expect("value").to_string(), (0..steps).map(|k| g["steps"][k]["users"].as_u64().expect("users")).collect())).collect();
    for k in 0..steps {
        assert_eq!(Some(groups.iter().map(|g| g.1[k]).sum::<u64>()), v["steps"][k]["users"].as_u64(), "step {k}: groups add up in {v:#}");
    }
    groups
}

#[test]
fn funnel_by_intent_stage_scores_each_chain_start_with_the_model() {
    let dir = tempdir();
    let d = simulated(dir.path(), 300, 2);
    let steps = ["--data", d.as_str(), "--steps", "product_viewed,product_added,order_completed", "--window", "2h", "--by", "intent_stage"];
    // No model: refused before the scan, naming what is missing.
    let mut args = vec!["funnel"];
    args.extend_from_slice(&steps);
    let out = run(&args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("--by") && err.contains("--model"), "{err}");
    let junk = dir.path().join("junk.model");
    std::fs::write(&junk, "{ not a model").expect("write");
    let mut args = vec!["funnel"];
    args.extend_from_slice(&steps);
    args.extend_from_slice(&["--model", junk.to_str().expect("utf-8")]);
    let out = run(&args);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("--model"), "{}", String::from_utf8_lossy(&out.stderr));

    let model = dir.path().join("intent.model");
    ok(&["train", "--data", &d, "--out", model.to_str().expect("utf-8")]);
    let mut args = steps.to_vec();
    args.extend_from_slice(&["--model", model.to_str().expect("utf-8")]);
    let v = funnel_json(&args);
    assert_eq!(v["by"], "intent_stage");
    let groups = groups_adding_up(&v);
    assert!(groups.len() >= 2, "the model tells shoppers apart: {v:#}");
    assert!(groups.iter().all(|(g, _)| ["curiosity", "consideration", "readiness"].contains(&g.as_str())), "{v:#}");
    // What the stages mean: at a shopper's first order the model (which sees the order in
    // the session) calls most of them ready; at their first page view, most are curious.
    let majority = |step: &str| {
        let mut args = steps.to_vec();
        args[3] = step;
        args.extend_from_slice(&["--model", model.to_str().expect("utf-8")]);
        let v = funnel_json(&args);
        let groups = groups_adding_up(&v);
        let total: u64 = groups.iter().map(|(_, u)| u[0]).sum();
        groups.into_iter().find(|(_, u)| 2 * u[0] > total).map(|(g, _)| g)
    };
    assert_eq!(majority("order_completed").as_deref(), Some("readiness"));
    assert_eq!(majority("page_viewed").as_deref(), Some("curiosity"));
}

#[test]
fn funnel_by_funnel_stage_reads_the_shoppers_recent_depth_from_columns_as_from_rows() {
    let dir = tempdir();
    let d = simulated(dir.path(), 300, 2);
    let args = ["--data", d.as_str(), "--steps", "product_viewed,product_added,checkout_started", "--window", "1h", "--by", "funnel_stage"];
    let v = funnel_json(&args);
    let groups = groups_adding_up(&v);
    assert!(groups.iter().all(|(g, _)| ["top", "middle", "bottom"].contains(&g.as_str())), "{v:#}");
    // Every chain starts at a product view (middle): no shopper is `top` there.
    assert!(!groups.iter().any(|(g, _)| g == "top"), "{v:#}");
    assert!(groups.iter().any(|(g, _)| g == "bottom") && groups.iter().any(|(g, _)| g == "middle"), "returning checkouts and first views both happen: {v:#}");
    let mut rows = args.to_vec();
    rows.push("--rows");
    assert_eq!(funnel_json(&rows), v, "the row scan agrees");
}
