//! `glint import`: every format, idempotency, `--strict`, and the real shared datasets, whose
//! counts must match their README.

use std::path::Path;

use serde_json::{Value, json};

use crate::util::{ok, run, shared_data, stats, tempdir};

fn import_json(data: &Path, format: &str, extra: &[&str], files: &[&Path]) -> Value {
    let mut args = vec!["import", "--data", data.to_str().expect("utf-8"), "--format", format, "--json"];
    args.extend_from_slice(extra);
    args.extend(files.iter().map(|f| f.to_str().expect("utf-8")));
    serde_json::from_str(&ok(&args)).expect("import JSON")
}

#[test]
fn the_real_rees46_sample_reproduces_its_readme_counts_and_imports_once() {
    let Some(shared) = shared_data() else { return };
    let dir = tempdir();
    let file = shared.join("rees46_multicategory_2019-Oct_head.csv");
    let first = import_json(dir.path(), "rees46", &[], &[&file]);
    assert_eq!(first["stored"], 17_435);
    assert_eq!(first["rejected"], json!([]));
    let s = stats(dir.path());
    // README: 17,435 events; 4,505 users; 5,068 (user, session) pairs.
    assert_eq!((s["events"].clone(), s["users"].clone(), s["sessions"].clone()), (json!(17_435), json!(4_505), json!(5_068)));
    assert_eq!(s["first"], "2019-10-01T00:00:00.000Z");
    assert_eq!(s["last"], "2019-10-01T02:50:00.000Z");
    // Independent count of the file's event types, computed here from the raw CSV.
    let text = std::fs::read_to_string(&file).expect("read");
    let count = |t: &str| text.lines().skip(1).filter(|l| l.split(',').nth(1) == Some(t)).count() as u64;
    assert_eq!(s["signals"]["product_viewed"], count("view"));
    assert_eq!(s["signals"]["product_added"], count("cart"));
    assert_eq!(s["signals"]["order_completed"], count("purchase"));
    let again = import_json(dir.path(), "rees46", &[], &[&file]);
    assert_eq!((again["stored"].clone(), again["duplicates"].clone()), (json!(0), json!(17_435)), "importing twice adds nothing");
}

#[test]
fn the_real_retentioneering_sample_maps_with_map() {
    let Some(shared) = shared_data() else { return };
    let dir = tempdir();
    let file = shared.join("retentioneering_simple-onlineshop.csv");
    import_json(dir.path(), "clickstream", &["--map", "cart=cart_viewed,payment_done=order_completed"], &[&file]);
    let s = stats(dir.path());
    assert_eq!((s["events"].clone(), s["users"].clone()), (json!(32_283), json!(3_751)));
    let text = std::fs::read_to_string(&file).expect("read");
    let rows: Vec<Vec<&str>> = text.lines().skip(1).map(|l| l.split(',').collect()).collect();
    let count = |t: &str| rows.iter().filter(|r| r[1] == t).count() as u64;
    assert_eq!(s["signals"]["order_completed"], count("payment_done"));
    assert_eq!(s["signals"]["cart_viewed"], count("cart"));
    assert_eq!(s["signals"]["catalog"], count("catalog"), "unmapped names become custom signals, never dropped");
    let buyers: std::collections::HashSet<&str> = rows.iter().filter(|r| r[1] == "payment_done").map(|r| r[0]).collect();
    assert_eq!(buyers.len(), 653, "README: 653 users reach payment_done");
}

#[test]
fn the_real_otto_sample_imports_sessions_as_shoppers() {
    let Some(shared) = shared_data() else { return };
    let dir = tempdir();
    import_json(dir.path(), "otto", &[], &[&shared.join("otto_train_first20sessions.jsonl")]);
    let s = stats(dir.path());
    assert_eq!((s["events"].clone(), s["users"].clone()), (json!(862), json!(20)));
}

#[test]
fn every_format_imports_and_bad_rows_are_reported_by_line() {
    let dir = tempdir();
    let files = [
        ("retailrocket", "rr.csv", "timestamp,visitorid,event,itemid,transactionid\n1433221332117,257597,view,355908,\n1433224214164,257597,addtocart,248676,\n1433224214999,257597,transaction,248676,4000\nbad,1,view,2,\n"),
        ("taobao", "tb.csv", "1,2268318,2520377,pv,1511544070\n1,2333346,2520771,fav,1511561733\n1,2333346,2520771,buy,1511561999\n2,3,4,cart\n"),
        ("segment-jsonl", "s.jsonl", "{\"type\":\"track\",\"userId\":\"u\",\"event\":\"Product Viewed\",\"messageId\":\"x1\",\"timestamp\":\"2020-01-01T00:00:00Z\"}\n{\"type\":\"track\",\"event\":\"Product Viewed\"}\nnot json\n"),
        ("otto", "o.jsonl", "{\"session\":1,\"events\":[{\"aid\":5,\"ts\":1659304800025,\"type\":\"clicks\"},{\"aid\":5,\"ts\":1659304800026,\"type\":\"carts\"}]}\n{\"events\":[]}\n"),
    ];
    let expect_stored = [3u64, 3, 1, 2];
    let expect_bad_line = [5u64, 4, 2, 2];
    for (((format, name, text), stored), line) in files.iter().zip(expect_stored).zip(expect_bad_line) {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        let data = dir.path().join(format!("data-{format}"));
        let out = import_json(&data, format, &[], &[&path]);
        assert_eq!(out["stored"], stored, "{format}: {out:#}");
        assert_eq!(out["rejected"][0]["line"], line, "{format}: {out:#}");
        assert!(out["rejected"][0]["error"].as_str().is_some_and(|e| !e.is_empty()));
        assert_eq!(stats(&data)["events"], stored);
    }
    // Diginetica: views then purchases, both header spellings; NA users are their session.
    let views = dir.path().join("views.csv");
    std::fs::write(&views, "session_id;user_id;item_id;timeframe;eventdate\n1;NA;81766;526309;2016-05-09\n1;NA;31331;1031018;2016-05-09\n2;18278;100;1;2016-05-06\n").expect("write");
    let buys = dir.path().join("buys.csv");
    std::fs::write(&buys, "sessionId;userId;timeframe;eventdate;ordernumber;itemId\n2;18278;849217;2016-05-06;1;100\n").expect("write");
    let data = dir.path().join("data-dig");
    let out = import_json(&data, "diginetica", &[], &[&views, &buys]);
    assert_eq!(out["stored"], 4);
    let s = stats(&data);
    assert_eq!((s["users"].clone(), s["signals"]["order_completed"].clone()), (json!(2), json!(1)));
}

#[test]
fn strict_stops_at_the_first_bad_row_with_its_line_and_exit_code_3() {
    let dir = tempdir();
    let path = dir.path().join("c.csv");
    std::fs::write(&path, "user_id,event,timestamp\nu1,catalog,2020-01-01 00:00:00\nu1,catalog,not-a-time\nu2,catalog,2020-01-01 00:00:02\n").expect("write");
    let data = dir.path().join("data");
    let out = run(&["import", "--data", data.to_str().expect("utf-8"), "--format", "clickstream", "--strict", path.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(":3: timestamp: not a timestamp"), "{err}");
    // Without --strict: exit 0, the bad row reported, the good rows imported (the first was
    // already imported by the strict run: it is not stored twice).
    let v = import_json(&data, "clickstream", &[], &[&path]);
    assert_eq!((v["stored"].clone(), v["duplicates"].clone()), (json!(1), json!(1)));
    assert_eq!(v["rejected"][0]["line"], 3);
    // A header that does not fit the format is refused naming both.
    let out = run(&["import", "--data", data.to_str().expect("utf-8"), "--format", "rees46", path.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not match format rees46"), "{err}");
}
