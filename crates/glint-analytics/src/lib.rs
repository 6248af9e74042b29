//! Glint's scans over the event log: [`stats`] (counts, shoppers, sessions), [`export`]
//! (canonical JSON lines and Parquet) and [`funnel`] (ClickHouse `windowFunnel` semantics,
//! plus `any` order, optional steps and exclusions) and [`lift`] (per moment, holdout lift of
//! its KPI, shared by `glint lift` and the server's `GET /v1/lift`).
//!
//! Architecture invariant: analytics reads the log, never writes it.

pub mod export;
pub mod funnel;
pub mod lift;
pub mod stats;
