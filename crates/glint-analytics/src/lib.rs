//! Glint's scans over the event log: [`stats`] (counts, shoppers, sessions) and [`export`]
//! (canonical JSON lines and Parquet). Funnels, signal correlations and the report come later.
//!
//! Architecture invariant: analytics reads the log, never writes it.

pub mod export;
pub mod stats;
