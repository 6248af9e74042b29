//! The intent model's data: `glint features` on real data, through the command line, against
//! the sample's documented counts and the CSV contract other tools rely on.

use serde_json::Value;

use crate::util::{ok, shared_data, simulated, tempdir};

#[test]
fn features_of_the_rees46_sample_match_its_sessions_and_purchases() {
    let Some(shared) = shared_data() else { return };
    let dir = tempdir();
    let data = dir.path().join("data");
    let data_s = data.to_str().expect("utf-8");
    let file = shared.join("rees46_multicategory_2019-Oct_head.csv");
    ok(&["import", "--data", data_s, "--format", "rees46", file.to_str().expect("utf-8")]);
    let out = dir.path().join("features.csv");
    let summary: Value = serde_json::from_str(&ok(&["features", "--data", data_s, "--out", out.to_str().expect("utf-8"), "--json"])).expect("json");
    // README: 5,068 sessions, 200 of them with a purchase. One session opens with its purchase:
    // it has no prefix to predict from, so it is left out and counted.
    assert_eq!(summary["sessions"], 5_068, "{summary:#}");
    assert_eq!(summary["no_prefix"], 1);
    assert_eq!(summary["examples"], 5_067);
    assert_eq!(summary["positives"], 199);
    assert_eq!(summary["train"].as_u64().unwrap_or(0) + summary["test"].as_u64().unwrap_or(0), 5_067);

    let mut reader = csv::Reader::from_path(&out).expect("csv");
    let header: Vec<String> = reader.headers().expect("header").iter().map(str::to_string).collect();
    assert_eq!(&header[..5], ["session", "shopper", "start", "label", "split"]);
    assert_eq!(header.len(), 5 + summary["features"].as_u64().unwrap_or(0) as usize);
    let rows: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>().expect("rows");
    assert_eq!(rows.len(), 5_067);
    assert_eq!(rows.iter().filter(|r| &r[3] == "1").count(), 199);
    // The split is by start time: every train session starts no later than every test one.
    let last_train = rows.iter().filter(|r| &r[4] == "train").map(|r| r[2].to_string()).max().expect("train rows");
    let first_test = rows.iter().filter(|r| &r[4] == "test").map(|r| r[2].to_string()).min().expect("test rows");
    assert!(last_train <= first_test, "{last_train} > {first_test}");
    // Same data, same bytes.
    let again = dir.path().join("again.csv");
    ok(&["features", "--data", data_s, "--out", again.to_str().expect("utf-8")]);
    assert_eq!(std::fs::read(&out).expect("a"), std::fs::read(&again).expect("b"));
}

#[test]
fn train_eval_and_explain_on_the_rees46_sample() {
    let Some(shared) = shared_data() else { return };
    let dir = tempdir();
    let data = dir.path().join("data");
    let data_s = data.to_str().expect("utf-8");
    ok(&["import", "--data", data_s, "--format", "rees46", shared.join("rees46_multicategory_2019-Oct_head.csv").to_str().expect("utf-8")]);

    // A time split, a model trained on its train part, every figure on its test part.
    let preds = dir.path().join("preds.csv");
    let e: Value = serde_json::from_str(&ok(&["eval", "--data", data_s, "--split-time-fraction", "0.8", "--algo", "logistic", "--json", "--predictions", preds.to_str().expect("utf-8")])).expect("json");
    for key in ["auc", "pr_auc", "log_loss", "brier", "ece", "f1", "sessions", "positives", "auc_by_prefix"] {
        assert!(!e[key].is_null(), "eval lacks {key}: {e:#}");
    }
    // 5,067 examples, the latest 20 % (round(0.2 × 5,068) of all sessions) are test.
    assert_eq!(e["sessions"].as_u64().unwrap_or(0) + e["train_sessions"].as_u64().unwrap_or(0), 5_067, "{e:#}");
    let auc = e["auc"].as_f64().unwrap_or(0.0);
    assert!(auc > 0.6 && auc <= 1.0, "the model ranks buyers above browsers: AUC {auc}");
    let keys: Vec<&String> = e["auc_by_prefix"].as_object().expect("object").keys().collect();
    assert_eq!(keys.len(), 5, "{keys:?}");
    let rows = std::fs::read_to_string(&preds).expect("predictions");
    assert_eq!(rows.lines().count() as u64, 1 + e["sessions"].as_u64().unwrap_or(0));

    // A model file for the whole data, and why one shopper scores as they do.
    let model = dir.path().join("intent.model");
    let t: Value = serde_json::from_str(&ok(&["train", "--data", data_s, "--out", model.to_str().expect("utf-8"), "--algo", "gbdt", "--json"])).expect("json");
    assert_eq!((t["sessions"].as_u64(), t["session_positives"].as_u64()), (Some(5_067), Some(199)), "{t:#}");
    // Trained on states: mid-session snapshots beside each whole session.
    assert!(t["rows"].as_u64().unwrap_or(0) > 5_067, "{t:#}");
    let sessions_only: Value = serde_json::from_str(&ok(&["train", "--data", data_s, "--out", dir.path().join("sessions.model").to_str().expect("utf-8"), "--train-on", "sessions", "--json"])).expect("json");
    assert_eq!(sessions_only["rows"], 5_067, "{sessions_only:#}");
    let file: Value = serde_json::from_str(&std::fs::read_to_string(&model).expect("model")).expect("model json");
    assert_eq!(file["algorithm"], "gbdt");
    let shopper = rows.lines().nth(1).and_then(|l| l.split(',').nth(1)).expect("a shopper").to_string();
    let x: Value = serde_json::from_str(&ok(&["explain", "--data", data_s, "--model", model.to_str().expect("utf-8"), &shopper, "--json"])).expect("json");
    let p = x["p"].as_f64().unwrap_or(-1.0);
    assert!((0.0..=1.0).contains(&p), "{x:#}");
    assert!(["curiosity", "consideration", "readiness"].contains(&x["stage"].as_str().unwrap_or("")), "{x:#}");
    assert!(!x["contributions"].as_array().expect("array").is_empty());

    // A model trained on another table's columns is refused, naming the schema.
    let features = dir.path().join("f.csv");
    ok(&["features", "--data", data_s, "--out", features.to_str().expect("utf-8")]);
    let other = dir.path().join("table.model");
    ok(&["train", "--features-csv", features.to_str().expect("utf-8"), "--label", "label", "--out", other.to_str().expect("utf-8"), "--algo", "logistic"]);
    let out = crate::util::run(&["eval", "--data", data_s, "--model", other.to_str().expect("utf-8")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("schema"), "{err}");
}

/// Why the model learns from session states: scored mid-session (as the live engine does), a
/// model that only saw whole sessions misreads early states; one trained on states sees the
/// purchase coming sooner. Simulated traffic, a time split, the same learner.
#[test]
fn training_on_session_states_sees_purchases_coming_earlier() {
    let dir = tempdir();
    let d = simulated(dir.path(), 3000, 7);
    let eval = |on: &str| -> Value { serde_json::from_str(&ok(&["eval", "--data", &d, "--train-on", on, "--json"])).expect("json") };
    let (states, sessions) = (eval("states"), eval("sessions"));
    let at = |v: &Value, k: &str| v["auc_by_prefix"][k].as_f64().unwrap_or(0.0);
    for k in ["3", "5", "10"] {
        assert!(at(&states, k) > at(&sessions, k), "AUC after {k} events: states {} vs sessions {}", at(&states, k), at(&sessions, k));
    }
    // Whole sessions stay well ranked.
    assert!(states["auc"].as_f64().unwrap_or(0.0) > 0.95, "{states:#}");
}
