//! End-to-end tests: each starts the real `glint` binary in a fresh temporary directory and
//! talks to it over real HTTP or its command line.
//!
//! - `util`: the harness (temp dirs, running `glint`, starting and killing servers).
//! - `ingest`: every ingestion route and the error table of bad inputs, with exact statuses.
//! - `crash`: `kill -9` during concurrent ingestion; every acknowledged message survives once.
//! - `import`: every import format, idempotency, `--strict`, and the shared real datasets.
//! - `erase`: erasure from disk (grep of raw files), suppression, receipts.
//! - `cli`: stats, export (JSONL and Parquet), simulate, demo, config.
//! - `funnel`: `glint funnel` JSON, text and errors; counts equal ClickHouse's windowFunnel (chdb).
//! - `replay`: deterministic firings; counts on the real datasets against an independent count.
//! - `lift`: `glint lift` and `glint signals` on simulated firings: keys, counts, SRM, censoring.
//! - `report`: `glint report`: a self-contained HTML page, every figure, funnel bars = `glint funnel`.
//! - `live`: the live engine in `glint serve`: firings as time passes, `/v1/decide`, restarts.
//! - `intent`: `glint features` on the real REES46 sample.
//! - `webhooks`: signed webhooks to a real receiver across a `kill -9` of the server.
//! - `clients`: the official Segment and PostHog client libraries against `glint serve`.
//! - `pipe`: every command's output into a pipe that closes early: no panic, success.
//! - `tidy`: rules the compiler does not check (module docs, anyhow only in the binary,
//!   printing only through the pipe-safe macros).

// A test binary has no public API: `pub` means "shared between modules".
#![allow(unreachable_pub, missing_docs)]

mod cli;
mod clients;
mod crash;
mod erase;
mod funnel;
mod import;
mod replay;
mod report;
mod tidy;
mod ingest;
mod lift;
mod pipe;
mod intent;
mod live;
mod util;
mod webhooks;
