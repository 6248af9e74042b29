//! Tidiness the compiler does not check: every Rust file opens with a `//!` doc saying what it
//! owns, and no library crate uses `anyhow` (typed errors there; `anyhow` only in the binary).

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let p = entry.expect("entry").path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if p.is_dir() {
            if !matches!(name, "target" | "node_modules" | ".venv" | "corpus" | "artifacts") {
                rust_files(&p, out);
            }
        } else if name.ends_with(".rs") {
            out.push(p);
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn every_rust_file_opens_with_a_module_doc() {
    let mut files = Vec::new();
    for dir in ["crates", "tests", "fuzz/fuzz_targets", "benches"] {
        let d = root().join(dir);
        if d.is_dir() {
            rust_files(&d, &mut files);
        }
    }
    assert!(files.len() > 20, "found too few files: {}", files.len());
    let missing: Vec<_> = files
        .iter()
        .filter(|f| {
            let text = std::fs::read_to_string(f).expect("read");
            !text.trim_start().starts_with("//!")
        })
        .collect();
    assert!(missing.is_empty(), "files without a leading //! doc: {missing:#?}");
}

#[test]
fn only_the_binary_uses_anyhow() {
    for entry in std::fs::read_dir(root().join("crates")).expect("crates") {
        let dir = entry.expect("entry").path();
        if dir.file_name().is_some_and(|n| n == "glint") {
            continue;
        }
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).expect("manifest");
        assert!(!manifest.contains("anyhow"), "{} depends on anyhow", dir.display());
    }
}

/// `println!` panics when stdout is a closed pipe (`glint funnel ... | head -1`); commands
/// print through `outln!`/`out!` (crates/glint/src/output.rs), which end quietly instead.
#[test]
fn the_binary_prints_only_through_the_pipe_safe_macros() {
    let mut files = Vec::new();
    rust_files(&root().join("crates/glint/src"), &mut files);
    let offenders: Vec<String> = files
        .iter()
        .flat_map(|f| {
            let text = std::fs::read_to_string(f).expect("source");
            text.lines()
                .enumerate()
                .filter(|(_, l)| {
                    let code = l.split("//").next().unwrap_or("");
                    ["println!(", "print!("].iter().any(|m| code.match_indices(m).any(|(i, _)| i == 0 || !code.as_bytes()[i - 1].is_ascii_alphanumeric()))
                })
                .map(|(n, l)| format!("{}:{}: {}", f.display(), n + 1, l.trim()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(offenders.is_empty(), "use outln!/out! instead: {offenders:#?}");
}
