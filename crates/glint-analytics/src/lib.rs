//! Glint's scans over the event log: [`stats`] (counts, shoppers, sessions), [`export`]
//! (canonical JSON lines and Parquet) and [`funnel`] (ClickHouse `windowFunnel` semantics,
//! plus `any` order, optional steps and exclusions). Signal correlations, lift and the report
//! come later.
//!
//! Architecture invariant: analytics reads the log, never writes it.

pub mod export;
pub mod funnel;
pub mod stats;
