//! Prints simulated messages as JSON lines (a Segment JSONL import file):
//! `cargo run -p glint-sim --example dump -- USERS DAYS SEED > traffic.jsonl`.

use std::io::{BufWriter, Write};

use glint_sim::{SimConfig, Simulator};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<u64>().ok());
    let users = args.next().flatten().unwrap_or(100);
    let days = args.next().flatten().and_then(|d| u32::try_from(d).ok()).unwrap_or(1);
    let seed = args.next().flatten().unwrap_or(42);
    let mut out = BufWriter::new(std::io::stdout().lock());
    for m in Simulator::new(SimConfig::new(users, days, seed)) {
        serde_json::to_writer(&mut out, &m)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}
