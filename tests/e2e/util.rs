//! The end-to-end harness: a fresh directory per test, the real `glint` binary, servers
//! started on a free port and stopped (or killed) for real.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const KEY: &str = "test-write-key";
pub const ADMIN: &str = "test-admin-key";

pub fn glint() -> Command {
    Command::new(env!("CARGO_BIN_EXE_glint"))
}

/// Run glint with arguments; return its output (any exit code).
pub fn run(args: &[&str]) -> Output {
    glint().args(args).output().expect("glint runs")
}

/// Run glint and insist on success; return stdout.
pub fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(out.status.success(), "glint {args:?} failed: {}\n{}", String::from_utf8_lossy(&out.stderr), String::from_utf8_lossy(&out.stdout));
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// `DIR/data`, filled by `glint simulate` with `users` shoppers over `days` days; its path.
pub fn simulated(dir: &Path, users: u32, days: u32) -> String {
    let d = dir.join("data").to_str().expect("utf-8 path").to_string();
    ok(&["simulate", "--users", &users.to_string(), "--days", &days.to_string(), "--data", &d]);
    d
}

/// `glint stats --json` of a data directory.
pub fn stats(data: &Path) -> serde_json::Value {
    serde_json::from_str(&ok(&["stats", "--data", data.to_str().expect("utf-8 path"), "--json"])).expect("stats JSON")
}

/// The shared real datasets, or `None` (with a notice) when absent. Panics instead when
/// `GLINT_REQUIRE_SHARED_DATA=1`, as CI sets it.
pub fn shared_data() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    if dir.join("README.md").exists() {
        return Some(dir);
    }
    let msg = format!("shared data not found at {}", dir.display());
    if std::env::var("GLINT_REQUIRE_SHARED_DATA").as_deref() == Ok("1") {
        panic!("{msg}, and GLINT_REQUIRE_SHARED_DATA=1");
    }
    eprintln!("{msg}; skipping");
    None
}

/// A running `glint serve`.
pub struct Server {
    pub child: Child,
    pub url: String,
    pub data: PathBuf,
}

impl Server {
    pub fn start(data: &Path) -> Server {
        Self::start_with(data, &[])
    }

    pub fn start_with(data: &Path, extra: &[&str]) -> Server {
        let mut child = glint()
            .args(["serve", "--data", data.to_str().expect("utf-8"), "--listen", "127.0.0.1:0", "--write-key", KEY, "--admin-key", ADMIN])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn glint serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("read the serving line");
        let url = line.split_whitespace().find(|w| w.starts_with("http://")).unwrap_or_else(|| panic!("no URL in {line:?}")).to_string();
        let s = Server { child, url, data: data.to_path_buf() };
        s.wait_healthy();
        s
    }

    fn wait_healthy(&self) {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if agent().get(&format!("{}/health", self.url)).call().is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("server at {} never became healthy", self.url);
    }

    /// `kill -9`: no chance to flush or clean up.
    pub fn kill9(mut self) {
        let _ = Command::new("kill").args(["-9", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }

    pub fn post(&self, path: &str, body: &[u8]) -> Reply {
        post(&format!("{}{path}", self.url), &[("authorization", &basic(KEY)), ("content-type", "application/json")], body)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(Duration::from_secs(30))).build().into()
}

pub fn basic(key: &str) -> String {
    use base64::Engine;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{key}:")))
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: serde_json::Value,
    pub headers: Vec<(String, String)>,
}

pub fn post(url: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut req = agent().post(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut resp = req.send(body).expect("HTTP request");
    let status = resp.status().as_u16();
    let headers = resp.headers().iter().map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string())).collect();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    Reply { status, body, headers }
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).expect("gzip");
    e.finish().expect("gzip")
}

/// Every file under `dir` whose bytes contain `needle`.
pub fn grep_files(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let p = entry.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if std::fs::read(&p).map(|b| b.windows(needle.len()).any(|w| w == needle)).unwrap_or(false) {
                hits.push(p);
            }
        }
    }
    hits
}

/// A fresh temporary directory.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// The engine checkpoint of a data directory, decompressed, as text ("" when there is none):
/// compressed bytes would hide an id from a plain search.
pub fn checkpoint_text(data: &Path) -> String {
    let Ok(bytes) = std::fs::read(data.join("engine").join("checkpoint")) else { return String::new() };
    let magic = [0x28, 0xB5, 0x2F, 0xFD];
    let Some(at) = bytes.windows(4).position(|w| w == magic) else { return String::new() };
    let state = zstd::stream::decode_all(&bytes[at..]).unwrap_or_default();
    format!("{}{}", String::from_utf8_lossy(&bytes[..at]), String::from_utf8_lossy(&state))
}
