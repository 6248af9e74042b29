//! Log tests: durability across reopen, ordering, recovery's decision table, erase, retention,
//! and a proptest model of append/rotate/reopen against a plain vector.

use std::fs;
use std::io::Write;

use glint_event::{Builtin, Event, Signal, Source};
use proptest::prelude::*;

use super::*;

fn ev(id: &str, user: &str, time: i64) -> Event {
    let mut e = Event::new(id.to_string(), time, Signal::Builtin(Builtin::ProductViewed), Source::Segment);
    e.user_id = Some(user.to_string());
    e.properties.product_id = Some(format!("p-{}", time % 7));
    e
}

fn small() -> LogOptions {
    LogOptions { segment_bytes_max: 4096, seal_cpu_share: 1.0 }
}

fn all(log: &Log) -> Vec<Event> {
    log.scan(..).expect("scan").collect::<Result<_, _>>().expect("read")
}

fn ids(events: &[Event]) -> Vec<String> {
    events.iter().map(|e| e.message_id.clone()).collect()
}

fn active_file(dir: &Path) -> PathBuf {
    fs::read_dir(dir.join("log"))
        .expect("log dir")
        .map(|e| e.expect("entry").path())
        .find(|p| p.extension().is_some_and(|x| x == "active"))
        .expect("an active segment")
}

#[test]
fn appended_events_survive_reopen_and_duplicates_stay_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let mut log = Log::open(dir.path(), LogOptions::default()).expect("open");
        let out = log.append(vec![ev("a", "u", 10), ev("b", "u", 5), ev("a", "u", 99)]).expect("append");
        assert_eq!((out.stored, out.duplicates), (2, 1));
        log.sync().expect("sync");
    }
    let mut log = Log::open(dir.path(), LogOptions::default()).expect("reopen");
    assert_eq!(ids(&all(&log)), ["b", "a"], "ordered by event time");
    let out = log.append(vec![ev("a", "u", 1), ev("c", "u", 1)]).expect("append");
    assert_eq!(out.statuses, vec![AppendStatus::Duplicate, AppendStatus::Stored(3)]);
}

#[test]
fn a_second_writer_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _log = Log::open(dir.path(), LogOptions::default()).expect("open");
    assert!(matches!(Log::open(dir.path(), LogOptions::default()), Err(Error::Locked(_))));
    assert!(Log::open_read_only(dir.path()).is_ok(), "readers need no lock");
}

#[test]
fn order_is_event_time_then_ingest_order_across_sealed_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Paced sealing, as the server runs it: slower, same result.
    let mut log = Log::open(dir.path(), LogOptions { seal_cpu_share: 0.5, ..small() }).expect("open");
    let mut want = Vec::new();
    for i in 0..500i64 {
        let t = (i * 7919) % 100; // many ties, out of order
        let e = ev(&format!("m{i}"), &format!("u{}", i % 13), t);
        want.push((t, i, e.message_id.clone()));
        log.append(vec![e]).expect("append");
        log.sync().expect("sync");
    }
    assert!(log.summary().sealed_segments >= 3, "small segments were sealed");
    want.sort();
    let want: Vec<String> = want.into_iter().map(|(_, _, id)| id).collect();
    assert_eq!(ids(&all(&log)), want);
    drop(log);
    let log = Log::open(dir.path(), small()).expect("reopen");
    assert_eq!(ids(&all(&log)), want);
    let ranged: Vec<Event> = log.scan(40..=41).expect("scan").collect::<Result<_, _>>().expect("read");
    assert!(!ranged.is_empty() && ranged.iter().all(|e| (40..=41).contains(&e.time_ms)));
    assert_eq!(ranged.len(), want.len() / 50, "two of 100 distinct times");
}

#[test]
fn recovery_cuts_a_torn_tail_and_keeps_every_whole_record() {
    for torn in [&b"\x05\x00"[..], &[0u8; 40][..], &b"\xff\x00\x00\x00\x01\x02\x03\x04partial"[..], &b"\x04\x00\x00\x00\xde\xad\xbe\xef\x01\x02\x03\x04"[..]] {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut log = Log::open(dir.path(), LogOptions::default()).expect("open");
            log.append((0..10).map(|i| ev(&format!("m{i}"), "u", i))).expect("append");
            log.sync().expect("sync");
        }
        let path = active_file(dir.path());
        let good_len = fs::metadata(&path).expect("meta").len();
        fs::OpenOptions::new().append(true).open(&path).expect("open").write_all(torn).expect("tear");
        let mut log = Log::open(dir.path(), LogOptions::default()).expect("recovers");
        assert_eq!(log.recovery().torn_bytes_cut, torn.len() as u64, "{torn:?}");
        assert_eq!(fs::metadata(&path).expect("meta").len(), good_len);
        assert_eq!(all(&log).len(), 10);
        log.append(vec![ev("m10", "u", 10)]).expect("append after recovery");
        log.sync().expect("sync");
        drop(log);
        assert_eq!(all(&Log::open(dir.path(), LogOptions::default()).expect("reopen")).len(), 11);
    }
}

#[test]
fn recovery_refuses_a_corrupt_middle_naming_file_and_offset() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let mut log = Log::open(dir.path(), LogOptions::default()).expect("open");
        log.append((0..10).map(|i| ev(&format!("m{i}"), "u", i))).expect("append");
        log.sync().expect("sync");
    }
    let path = active_file(dir.path());
    let mut bytes = fs::read(&path).expect("read");
    let at = segment::ACTIVE_HEADER_LEN as usize + 8 + 2; // inside the first record's payload
    bytes[at] ^= 0x40;
    fs::write(&path, &bytes).expect("write");
    match Log::open(dir.path(), LogOptions::default()) {
        Err(Error::Corrupt { path: p, offset, why }) => {
            assert_eq!(p, path);
            assert_eq!(offset, segment::ACTIVE_HEADER_LEN);
            assert!(why.contains("checksum"), "{why}");
        }
        other => panic!("expected corruption, got {other:?}"),
    }
}

#[test]
fn a_flipped_bit_in_a_sealed_chunk_is_reported_not_returned() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let mut log = Log::open(dir.path(), LogOptions::default()).expect("open");
        log.append((0..100).map(|i| ev(&format!("m{i}"), "u", i))).expect("append");
        log.rotate().expect("seal");
    }
    let path = fs::read_dir(dir.path().join("log")).expect("dir").map(|e| e.expect("e").path()).find(|p| p.extension().is_some_and(|x| x == "sealed")).expect("sealed");
    let mut bytes = fs::read(&path).expect("read");
    bytes[80] ^= 1;
    fs::write(&path, &bytes).expect("write");
    let log = Log::open(dir.path(), LogOptions::default()).expect("header and index are fine");
    let err = log.scan(..).expect("scan").find_map(Result::err).expect("an error");
    assert!(err.to_string().contains("chunk checksum mismatch"), "{err}");
}

#[test]
fn an_interrupted_seal_is_finished_or_undone() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let mut log = Log::open(dir.path(), LogOptions::default()).expect("open");
        log.append((0..20).map(|i| ev(&format!("m{i}"), "u", i))).expect("append");
        log.sync().expect("sync");
    }
    let active = active_file(dir.path());
    let copy = fs::read(&active).expect("read");
    // Seal, then put the active file back as if we crashed before deleting it, plus a tmp.
    {
        let mut log = Log::open(dir.path(), LogOptions::default()).expect("open");
        log.rotate().expect("seal");
    }
    fs::write(&active, copy).expect("restore active");
    fs::write(dir.path().join("log").join("0000000000000009.sealed.tmp"), b"half").expect("tmp");
    let log = Log::open(dir.path(), LogOptions::default()).expect("open");
    assert_eq!(log.recovery().leftovers_removed, 2);
    assert_eq!(all(&log).len(), 20, "no event twice, none lost");
}

fn grep_dir(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).expect("dir") {
            let p = entry.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if fs::read(&p).expect("file").windows(needle.len()).any(|w| w == needle) {
                hits.push(p);
            }
        }
    }
    hits
}

#[test]
fn erase_removes_the_shopper_and_linked_ids_from_disk_and_suppresses_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = Log::open(dir.path(), LogOptions::default()).expect("open");
    let mut batch: Vec<Event> = (0..50).map(|i| ev(&format!("m{i}"), if i % 5 == 0 { "victim-7731" } else { "keeper" }, i)).collect();
    let mut link = ev("link", "victim-7731", 60);
    link.anonymous_id = Some("anon-victim-42".into());
    batch.push(link);
    batch.push({
        let mut anon = ev("anon-only", "x", 61);
        anon.user_id = None;
        anon.anonymous_id = Some("anon-victim-42".into());
        anon
    });
    log.append(batch).expect("append");
    log.sync().expect("sync");
    log.rotate().expect("seal half");
    log.append(vec![ev("late", "victim-7731", 70), ev("late2", "keeper", 71)]).expect("append");
    log.sync().expect("sync");
    // A firing log in the data directory names shoppers too.
    let firings = "{\"fire_id\":\"a\",\"user\":\"victim-7731\"}\n{\"fire_id\":\"b\",\"user\":\"keeper\"}\n{\"fire_id\":\"c\",\"user\":\"anon-victim-42\"}\n";
    fs::write(dir.path().join(FIRING_LOG), firings).expect("firings");
    assert!(!grep_dir(dir.path(), b"victim-7731").is_empty());

    let erasure = log.erase("victim-7731").expect("erase");
    assert_eq!(erasure.events_removed, 10 + 1 + 1 + 1);
    assert_eq!(erasure.linked_ids, 1);
    assert!(grep_dir(dir.path(), b"victim-7731").is_empty(), "no file under the data dir holds the id");
    assert!(grep_dir(dir.path(), b"anon-victim-42").is_empty());
    assert!(all(&log).iter().all(|e| e.user_id.as_deref() == Some("keeper")));
    assert_eq!(all(&log).len(), 41);
    let receipt: serde_json::Value = serde_json::from_slice(&fs::read(&erasure.receipt).expect("receipt")).expect("json");
    assert_eq!(receipt["events_removed"], 13);
    assert_eq!(receipt["firings_removed"], 2);
    assert_eq!(fs::read_to_string(dir.path().join(FIRING_LOG)).expect("firings"), "{\"fire_id\":\"b\",\"user\":\"keeper\"}\n");

    // A client retry or re-import cannot bring them back, also after a restart.
    drop(log);
    let mut log = Log::open(dir.path(), LogOptions::default()).expect("reopen");
    let out = log.append(vec![ev("new-1", "victim-7731", 80), ev("new-2", "keeper", 80)]).expect("append");
    assert_eq!(out.statuses[0], AppendStatus::Suppressed);
    assert_eq!(out.stored, 1);
}

#[test]
fn retention_drops_old_events_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = Log::open(dir.path(), small()).expect("open");
    for i in 0..300i64 {
        log.append(vec![ev(&format!("m{i}"), "u", i)]).expect("append");
        log.sync().expect("sync");
    }
    let r = log.apply_retention(150).expect("retention");
    assert_eq!(r.events_removed, 150);
    assert!(r.segments_deleted >= 1);
    let left = all(&log);
    assert_eq!(left.len(), 150);
    assert!(left.iter().all(|e| e.time_ms >= 150));
}

/// (shopper, time, signal) of every event as the columns tell it, merged in the log's order
/// (time, then segment id, then position), and the origins of each segment's columns.
/// (shopper, time, signal) of one event.
type EventView = (Option<String>, i64, String);

fn column_view(log: &Log) -> (Vec<EventView>, Vec<ColumnOrigin>) {
    let mut rows = Vec::new();
    let mut origins = Vec::new();
    for src in log.column_sources() {
        let c = src.read(ColumnSet::default()).expect("columns");
        origins.push(c.origin.clone());
        for i in 0..c.len() {
            let shopper = (c.shopper[i] != NO_ID).then(|| c.shoppers.get(c.shopper[i]).expect("in dict").to_string());
            rows.push((c.time_ms[i], c.segment, i, shopper, c.signals[c.signal[i] as usize].name().to_string()));
        }
    }
    rows.sort_by_key(|r| (r.0, r.1, r.2));
    (rows.into_iter().map(|(t, _, _, s, g)| (s, t, g)).collect(), origins)
}

fn row_view(log: &Log) -> Vec<EventView> {
    all(log).into_iter().map(|e| (e.shopper_key().map(str::to_string), e.time_ms, e.signal.name().to_string())).collect()
}

fn files_with(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir.join("log")).expect("log dir").map(|e| e.expect("entry").path()).filter(|p| p.extension().is_some_and(|x| x == ext)).collect();
    v.sort();
    v
}

fn cols_files(dir: &Path) -> Vec<PathBuf> {
    files_with(dir, "cols")
}

/// File stems (segment ids) of a list of files.
fn stems(files: Vec<PathBuf>) -> Vec<String> {
    files.iter().map(|p| p.file_stem().expect("stem").to_string_lossy().into_owned()).collect()
}

#[test]
fn columns_follow_sealing_erasure_and_retention_and_bad_ones_fall_back_to_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = Log::open(dir.path(), small()).expect("open");
    for i in 0..400i64 {
        let mut e = ev(&format!("m{i}"), if i % 9 == 0 { "victim-5150" } else { "keeper" }, (i * 37) % 500);
        if i % 4 == 0 {
            e.user_id = None;
            e.anonymous_id = Some(format!("anon-{}", i % 3));
        }
        log.append(vec![e]).expect("append");
        log.sync().expect("sync");
    }
    let (view, origins) = column_view(&log);
    assert_eq!(view, row_view(&log));
    assert!(origins.iter().filter(|o| **o == ColumnOrigin::Columns).count() >= 2, "sealed segments have columns: {origins:?}");
    assert_eq!(origins.last(), Some(&ColumnOrigin::Rows(RowsBecause::Active)));

    // Erasure seals the active segment and waits for every seal (columns are written after
    // their sealed file, so only then do the two lists match).
    log.erase("victim-5150").expect("erase");
    assert_eq!(stems(cols_files(dir.path())), stems(files_with(dir.path(), "sealed")), "every sealed segment has its column file");
    assert!(grep_dir(dir.path(), b"victim-5150").is_empty(), "no column file names the erased shopper");
    let (view, origins) = column_view(&log);
    assert_eq!(view, row_view(&log));
    assert!(origins.iter().all(|o| *o == ColumnOrigin::Columns), "erase seals the active segment; rewrites write columns: {origins:?}");

    log.apply_retention(200).expect("retention");
    assert_eq!(column_view(&log).0, row_view(&log));
    assert_eq!(stems(cols_files(dir.path())), stems(files_with(dir.path(), "sealed")), "retired segments took their columns along");

    // Damage: a flipped byte, a truncation, a missing file, a stale file. Each segment falls
    // back to its rows and the answer stays the same.
    let files = cols_files(dir.path());
    assert!(files.len() >= 4);
    let mut bytes = fs::read(&files[0]).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    fs::write(&files[0], bytes).expect("write");
    let len = fs::metadata(&files[1]).expect("meta").len();
    fs::OpenOptions::new().write(true).open(&files[1]).expect("open").set_len(len / 2).expect("truncate");
    fs::remove_file(&files[2]).expect("remove");
    fs::copy(&files[4.min(files.len() - 1)], &files[3]).expect("stale copy");
    let (view, origins) = column_view(&log);
    assert_eq!(view, row_view(&log));
    assert!(matches!(&origins[0], ColumnOrigin::Rows(RowsBecause::Unusable(why)) if why.contains("checksum")), "{:?}", origins[0]);
    assert!(matches!(&origins[1], ColumnOrigin::Rows(RowsBecause::Unusable(_))));
    assert_eq!(origins[2], ColumnOrigin::Rows(RowsBecause::Missing));
    assert!(matches!(&origins[3], ColumnOrigin::Rows(RowsBecause::Unusable(why)) if why.contains("segment id")), "{:?}", origins[3]);

    // Columns whose segment is gone are removed on recovery.
    drop(log);
    fs::copy(&files[0], dir.path().join("log").join("9999999999999999.cols")).expect("orphan");
    let log = Log::open(dir.path(), small()).expect("reopen");
    assert!(!dir.path().join("log").join("9999999999999999.cols").exists());
    assert_eq!(log.recovery().leftovers_removed, 1);
}

/// Every event of a scan with its sequence number, through `next_with_seq`.
fn with_seqs(mut scan: Scan) -> Vec<(u64, Event)> {
    std::iter::from_fn(|| scan.next_with_seq()).collect::<Result<_, _>>().expect("read")
}

fn after(log: &Log, seq: u64) -> Vec<(u64, String)> {
    with_seqs(log.scan_after_seq(seq).expect("scan")).into_iter().map(|(s, e)| (s, e.message_id)).collect()
}

#[test]
fn scan_after_seq_returns_exactly_the_later_events_across_sealed_and_active_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = Log::open(dir.path(), small()).expect("open");
    assert_eq!(log.last_seq(), 0, "an empty log");
    // (time, seq, id) of everything stored; times out of order with ties, so the seq order
    // and the reading order differ.
    let mut stored: Vec<(i64, u64, String)> = Vec::new();
    for i in 0..400i64 {
        let e = ev(&format!("m{i}"), &format!("u{}", i % 11), (i * 7919) % 120);
        let t = e.time_ms;
        let out = log.append(vec![e.clone(), e]).expect("append");
        let AppendStatus::Stored(seq) = out.statuses[0] else { panic!("stored: {:?}", out.statuses) };
        assert_eq!(out.statuses[1], AppendStatus::Duplicate);
        assert_eq!(log.last_seq(), seq);
        stored.push((t, seq, format!("m{i}")));
        log.sync().expect("sync");
    }
    let summary = log.summary();
    assert!(summary.sealed_segments >= 3 && summary.active_bytes > 0, "sealed and active segments both hold events: {summary:?}");
    let want = |cut: u64| {
        let mut w: Vec<(i64, u64, String)> = stored.iter().filter(|(_, s, _)| *s > cut).cloned().collect();
        w.sort();
        w.into_iter().map(|(_, s, id)| (s, id)).collect::<Vec<_>>()
    };
    let last = log.last_seq();
    let cuts = [0, 1, 57, 200, 333, last - 1, last, last + 10];
    for cut in cuts {
        assert_eq!(after(&log, cut), want(cut), "after {cut}");
    }
    assert_eq!(after(&log, 0).len(), 400);
    assert_eq!(with_seqs(log.scan(..).expect("scan")), with_seqs(log.scan_after_seq(0).expect("scan")), "after 0 is everything");

    // More after a reopen: the seqs continue, and a reader that stopped at `last` sees only
    // the new events.
    drop(log);
    let mut log = Log::open(dir.path(), small()).expect("reopen");
    assert_eq!(log.last_seq(), last);
    for cut in cuts {
        assert_eq!(after(&log, cut), want(cut), "after {cut}, reopened");
    }
    let out = log.append(vec![ev("late-a", "u", 5), ev("late-b", "u", 1_000), ev("m3", "u", 7)]).expect("append");
    assert_eq!(out.statuses[..2], [AppendStatus::Stored(last + 1), AppendStatus::Stored(last + 2)]);
    log.sync().expect("sync");
    assert_eq!(after(&log, last), [(last + 1, "late-a".to_string()), (last + 2, "late-b".to_string())]);
    log.rotate().expect("seal");
    drop(log);
    let log = Log::open_read_only(dir.path()).expect("read only");
    assert_eq!(log.last_seq(), last + 2);
    assert_eq!(after(&log, last), [(last + 1, "late-a".to_string()), (last + 2, "late-b".to_string())]);
    assert!(after(&log, last + 2).is_empty());
}

#[test]
fn scan_after_seq_never_reads_a_sealed_segment_that_holds_nothing_later() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first_max;
    {
        let mut log = Log::open(dir.path(), LogOptions::default()).expect("open");
        log.append((0..100).map(|i| ev(&format!("old{i}"), "u", 1_000 + i))).expect("append");
        log.rotate().expect("seal");
        first_max = log.last_seq();
        // Later in ingest order but earlier in event time: the old segment overlaps in time.
        log.append((0..10).map(|i| ev(&format!("new{i}"), "u", 1_050 + i))).expect("append");
        log.rotate().expect("seal");
    }
    // Break the first segment's chunk: a read of it fails, so skipping it shows it was skipped.
    let mut sealed: Vec<PathBuf> = fs::read_dir(dir.path().join("log")).expect("dir").map(|e| e.expect("e").path()).filter(|p| p.extension().is_some_and(|x| x == "sealed")).collect();
    sealed.sort();
    let mut bytes = fs::read(&sealed[0]).expect("read");
    bytes[80] ^= 1;
    fs::write(&sealed[0], &bytes).expect("write");
    let log = Log::open(dir.path(), LogOptions::default()).expect("open");
    assert!(log.scan(..).expect("scan").any(|r| r.is_err()), "a full scan reads the broken chunk");
    let got = after(&log, first_max);
    assert_eq!(got.len(), 10);
    assert!(got.iter().all(|(s, id)| *s > first_max && id.starts_with("new")), "{got:?}");
}

#[test]
fn sequence_numbers_are_not_reused_after_the_newest_events_are_erased_or_retired() {
    let dir = tempfile::tempdir().expect("tempdir");
    let last;
    {
        let mut log = Log::open(dir.path(), LogOptions::default()).expect("open");
        log.append((0..20).map(|i| ev(&format!("m{i}"), "keeper", 100 + i))).expect("append");
        log.append((0..5).map(|i| ev(&format!("v{i}"), "victim", 200 + i))).expect("append");
        log.sync().expect("sync");
        last = log.last_seq();
        log.erase("victim").expect("erase");
        assert_eq!(log.last_seq(), last, "erasure takes events, not sequence numbers");
    }
    let mut log = Log::open(dir.path(), LogOptions::default()).expect("reopen");
    assert_eq!(log.last_seq(), last, "the high-water mark survives the erased segment tail");
    let out = log.append(vec![ev("after-erase", "keeper", 300)]).expect("append");
    assert_eq!(out.statuses, [AppendStatus::Stored(last + 1)]);
    log.sync().expect("sync");
    assert_eq!(after(&log, last), [(last + 1, "after-erase".to_string())], "a reader resuming at the old position sees the new event");
    // Retention may delete whole segments, the newest sequence numbers among them.
    log.apply_retention(1_000).expect("retention");
    assert_eq!(all(&log).len(), 0);
    drop(log);
    let mut log = Log::open(dir.path(), LogOptions::default()).expect("reopen");
    assert_eq!(log.last_seq(), last + 1);
    assert_eq!(log.append(vec![ev("fresh", "keeper", 2_000)]).expect("append").statuses, [AppendStatus::Stored(last + 2)]);
}

#[derive(Clone, Debug)]
enum Op {
    Append(Vec<(u8, i64)>),
    Sync,
    Rotate,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => proptest::collection::vec((0u8..40, 0i64..50), 1..6).prop_map(Op::Append),
        2 => Just(Op::Sync),
        1 => Just(Op::Rotate),
        1 => Just(Op::Reopen),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    /// The log against the obvious model: a vector of (time, seq, id) without duplicate ids,
    /// sorted on read. Only synced appends must survive a reopen; unsynced ones may or may not
    /// (the OS usually has them), so the model syncs before each reopen.
    #[test]
    fn log_matches_a_sorted_vector(ops in proptest::collection::vec(op(), 1..30), cut in 0u64..60) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = Log::open(dir.path(), small()).expect("open");
        let mut model: Vec<(i64, u64, String)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut seq = 0u64;
        for op in ops {
            match op {
                Op::Append(batch) => {
                    let events: Vec<Event> = batch.iter().map(|(id, t)| ev(&format!("id{id}"), "u", *t)).collect();
                    log.append(events).expect("append");
                    for (id, t) in batch {
                        if seen.insert(id) {
                            seq += 1;
                            model.push((t, seq, format!("id{id}")));
                        }
                    }
                }
                Op::Sync => log.sync().expect("sync"),
                Op::Rotate => log.rotate().expect("rotate"),
                Op::Reopen => {
                    log.sync().expect("sync");
                    drop(log);
                    log = Log::open(dir.path(), small()).expect("reopen");
                }
            }
            let mut want = model.clone();
            want.sort();
            let got = ids(&all(&log));
            prop_assert_eq!(got, want.iter().map(|(_, _, id)| id.clone()).collect::<Vec<_>>());
            prop_assert_eq!(log.last_seq(), seq);
            let later: Vec<(u64, String)> = want.into_iter().filter(|(_, s, _)| *s > cut).map(|(_, s, id)| (s, id)).collect();
            prop_assert_eq!(after(&log, cut), later);
        }
    }
}
