//! Output into a pipe that closes early (`glint funnel ... | head -1`): every command ends
//! quietly, with success and no panic message (issue 5).

use std::process::Stdio;

use crate::util::{glint, ok, simulated, tempdir};

/// Run `glint args` with stdout into a pipe whose reader closes at once — before the process
/// has even parsed its arguments, so its first write meets EPIPE (reading a little first
/// would let short outputs fit the pipe's buffer and never fail); return (success, stderr).
fn into_closed_pipe(args: &[&str]) -> (bool, String) {
    let mut child = glint().args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("glint starts");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("glint ends");
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn commands_writing_into_a_closed_pipe_end_quietly_without_a_panic() {
    let dir = tempdir();
    let d = simulated(dir.path(), 400, 2);
    let d = d.as_str();
    let firings = dir.path().join("firings.jsonl");
    ok(&["replay", "--data", d, "--out", firings.to_str().expect("utf-8")]);
    let cases: Vec<Vec<&str>> = vec![
        vec!["funnel", "--data", d, "--steps", "product_viewed,product_added,checkout_started,order_completed", "--window", "1h", "--by", "country"],
        vec!["funnel", "--data", d, "--steps", "product_viewed,product_added", "--window", "1h", "--json"],
        vec!["signals", "--data", d, "--target", "order_completed"],
        vec!["lift", "--data", d, "--firings", firings.to_str().expect("utf-8")],
        vec!["stats", "--data", d],
        vec!["moments"],
        vec!["config"],
    ];
    for args in cases {
        let (success, stderr) = into_closed_pipe(&args);
        assert!(!stderr.contains("panicked"), "glint {args:?} panicked on a closed pipe: {stderr}");
        assert!(success, "glint {args:?} failed on a closed pipe: {stderr}");
    }
}
