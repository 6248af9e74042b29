//! Measures generation speed: `cargo run --release -p glint-sim --example throughput -- USERS DAYS`
//! prints messages, messages per user-day and messages per second (generation plus JSON
//! serialisation, single thread).

use std::time::Instant;

use glint_sim::{SimConfig, Simulator};

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<u64>());
    let users = args.next().and_then(Result::ok).unwrap_or(100_000);
    let days = args.next().and_then(Result::ok).map_or(7, |d| u32::try_from(d).unwrap_or(7));
    let started = Instant::now();
    let sim = Simulator::new(SimConfig::new(users, days, 42));
    let setup = started.elapsed();
    let (mut messages, mut bytes) = (0_u64, 0_u64);
    for m in sim {
        messages += 1;
        bytes += serde_json::to_string(&m).map_or(0, |s| s.len() as u64);
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{users} shoppers x {days} days: {messages} messages ({:.2} per user-day), {:.0} bytes/message, setup {:.2} s, total {secs:.2} s, {:.0} messages/s",
        messages as f64 / (users as f64 * f64::from(days)),
        bytes as f64 / messages.max(1) as f64,
        setup.as_secs_f64(),
        messages as f64 / secs
    );
}
