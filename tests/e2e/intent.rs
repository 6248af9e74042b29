//! The intent model's data: `glint features` on real data, through the command line, against
//! the sample's documented counts and the CSV contract other tools rely on.

use serde_json::Value;

use crate::util::{ok, shared_data, tempdir};

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
