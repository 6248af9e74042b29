//! `glint`: the command-line front door. Parses arguments, loads `glint.toml`, wires the
//! crates together, and maps errors to exit codes. This is the only crate that uses `anyhow`.
//!
//! Exit codes: 0 success; 1 an error (message on stderr); 2 a usage error (from clap);
//! 3 `import --strict` stopped at a bad row.

// A binary has no public API: `pub` here means "shared between modules".
#![allow(unreachable_pub)]

// First: its `outln!`/`out!` macros are used by the modules after it.
#[macro_use]
mod output;
mod client;
mod cmd;
mod config;
mod prom;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Decoding JSON and building events allocates many small strings; glibc's allocator spent a
/// quarter of JSONL import time in malloc/free, mimalloc a fraction of that.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Glint — a self-hosted real-time micro-moment engine for online shops.
///
/// Point your existing Segment, GA4 or PostHog instrumentation at `glint serve`, load history
/// with `glint import`, write your moments in `moments.toml` (`glint moments`), and measure
/// them with `glint lift`, `glint funnel` and `glint report`. `glint demo` runs it all on
/// simulated shop traffic.
#[derive(Debug, Parser)]
#[command(name = "glint", version, propagate_version = true, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the main job on simulated traffic: an embedded server and live engine, shoppers
    /// posting over HTTP, moments firing, signed webhooks to a built-in receiver, a summary
    /// and an HTML report.
    Demo(cmd::demo::Args),
    /// Accept events over HTTP (Segment /v1/*, GA4 /mp/collect, PostHog /batch, /capture, /e)
    /// and run the live engine on them.
    ///
    /// Every answer comes after the accepted events are fsync'd. Moments fire as events arrive
    /// and as time passes; their firings go to DATA/firings.jsonl, nudges to the webhook
    /// endpoints of [webhooks] in glint.toml (signed, retried, durable: see `glint outbox`),
    /// and GET /v1/decide/{user} answers what to show a shopper now. Example:
    ///   glint serve --data ./data --listen 127.0.0.1:8080 --write-key my-key --config glint.toml
    Serve(cmd::serve::Args),
    /// Import history files (REES46, RetailRocket, Taobao, Diginetica, OTTO, clickstream CSV,
    /// Segment JSONL). Importing a file twice adds nothing.
    ///
    /// Example: glint import --data ./data --format rees46 2019-Oct.csv
    Import(cmd::import::Args),
    /// Write the stored events as JSON lines or Parquet (for ClickHouse, DuckDB, Spark).
    Export(cmd::export::Args),
    /// Run the moments over stored events in event time; write every firing and a backtest.
    ///
    /// Deterministic: the same events and rules give the same bytes. Example:
    ///   glint replay --data ./data --moments moments.toml --out firings.jsonl
    Replay(cmd::replay::Args),
    /// Print the twelve shipped moments as a commented moments.toml, or check your own.
    ///
    /// Start a rule file with `glint moments > moments.toml`; validate it with
    /// `glint moments --check moments.toml --config glint.toml` (errors give file:line:col).
    Moments(cmd::moments::Args),
    /// Inspect the webhook outbox: pending, delivered and dead deliveries; re-drive dead letters.
    ///
    /// Examples: glint outbox --data ./data; glint outbox --data ./data --dead;
    ///   glint outbox --data ./data --redrive --endpoint shop
    Outbox(cmd::outbox::Args),
    /// Count events, shoppers, sessions and signals in a data directory.
    Stats(cmd::stats::Args),
    /// Show how many shoppers take each step of a funnel, how fast, and where they drop out.
    ///
    /// Per shopper (user id, else anonymous id), a chain starts at a step-1 event and takes
    /// the later steps in order, all within --window of its start; a shopper counts at every
    /// step their deepest chain reached. `ordered` is exactly ClickHouse's windowFunnel,
    /// `strict` its 'strict_order' (any other event between steps ends the chain), `any`
    /// takes the steps in any order. Times are whole seconds; time to convert is measured on
    /// each shopper's earliest deepest chain (median and p90, nearest rank).
    ///
    /// Example: glint funnel --data ./data --steps product_viewed,product_added?,order_completed
    /// --window 1h --by device
    Funnel(cmd::funnel::Args),
    /// Which signals foretell a target: for each signal, the share of shoppers who did it and
    /// (at any time) reached the target, against the share of those who did not.
    ///
    /// Per shopper (user id, else anonymous id): did they ever do the signal, did they ever
    /// reach the target — "at any time", before or after, so it shows association, not cause.
    /// The ratio of the two shares (risk ratio) comes with a 95 % CI (delta method on its
    /// log); signals are ranked by it. Also the top co-occurring pairs: of shoppers who did A,
    /// the share who also did B. Example: glint signals --data ./data --target order_completed
    Signals(cmd::signals::Args),
    /// Did each moment's nudge lift its KPI? Treatment against holdout, from a firing file.
    ///
    /// Per moment, each shopper counts once: their first `sent` (treatment) or `holdout`
    /// firing. They converted if a KPI signal of the moment followed within its window;
    /// firings whose window runs past the data's end are censored (shown, not counted).
    /// Reported: rates, absolute lift with a 95 % Newcombe CI, relative lift (delta method),
    /// a two-sided pooled z-test p-value, P(treatment better) under Beta posteriors, an
    /// anytime-valid 95 % confidence sequence (safe to watch continuously), a sample-ratio
    /// mismatch check (χ², flagged at p < 0.001), revenue per shopper and guardrails
    /// (email_unsubscribed, order_refunded significantly higher in treatment).
    /// Example: glint lift --data ./data --firings firings.jsonl --json
    Lift(cmd::lift::Args),
    /// Write one self-contained HTML page of charts: funnel, traffic, signals, outcomes, lift.
    ///
    /// The funnel (product_viewed → product_added → checkout_started → order_completed within
    /// 1h) with drop-off and time to convert, events per hour and the signal ranking; with
    /// --firings, firing outcomes per moment and a forest plot of each moment's lift with its
    /// 95 % CI (as `glint lift`); with --model, the intent model's calibration curve and AUC
    /// by prefix length (as `glint eval`).
    ///
    /// Inline CSS and SVG, no external asset, no script to run: open it anywhere, mail it,
    /// archive it. Each chart's numbers are also in a table and a JSON block beside it.
    /// Example: glint report --data ./data --firings firings.jsonl --model intent.model
    /// --out report.html
    Report(cmd::report::Args),
    /// Export the labelled feature matrix as CSV: one row per session with the features the
    /// intent model trains on, so any learner can be compared on the same rows and split.
    ///
    /// Sessions are those of `glint stats`. Columns: session, shopper, start, label, split
    /// (the earliest 80 % of sessions by start are train), then one per feature. With the
    /// default label, purchase-in-session, features see only events before the first order.
    /// Example: glint features --data ./data --out features.csv --label purchase-within:7d
    Features(cmd::features::Args),
    /// Train the purchase-intent model (gradient-boosted trees or logistic regression) on the
    /// features of a data directory's sessions, or on any CSV table.
    ///
    /// From a data directory it learns from session states — each session after its first 1,
    /// 2, 3, 5 and 10 events and whole — because the live engine scores shoppers mid-session
    /// (`--train-on sessions` for whole sessions only). A small seeded hyperparameter search
    /// runs on a validation split (the latest 20 % of the rows); the model file carries its
    /// feature schema and its intent-stage thresholds.
    /// Example: glint train --data ./data --out intent.model --algo gbdt
    Train(cmd::intent::TrainArgs),
    /// Judge the intent model on a time split: AUC-ROC, PR-AUC, log loss, Brier, calibration
    /// error, best F1, AUC by prefix length (how early a purchase is foreseen), and drift (the
    /// population stability index of each feature and of the score against training; 0.2 or
    /// more is flagged).
    ///
    /// Sessions sorted by start, the first 80 % train, the rest test. With --model, that file
    /// is judged; without, one is trained on the train split. `--features-csv` judges any
    /// table with a `split` column instead. Example:
    ///   glint eval --data ./data --split-time-fraction 0.8 --algo gbdt --json
    Eval(cmd::intent::EvalArgs),
    /// Why a shopper's latest session scores as it does: the model's top contributions.
    ///
    /// Example: glint explain --data ./data --model intent.model user-42
    Explain(cmd::intent::ExplainArgs),
    /// Generate realistic shop traffic: to a JSONL file, straight into a log, or live over HTTP.
    Simulate(cmd::simulate::Args),
    /// Remove every event of a shopper from disk, write a receipt, and block their return.
    Erase(cmd::erase::Args),
    /// Drop events older than an age (or the `[retention] max_age` of the config).
    Retain(cmd::retain::Args),
    /// Print the commented default glint.toml.
    Config,
    /// Measure Glint against its peers and print figures for BENCHMARKS.md.
    Bench(cmd::bench::Args),
}

/// The config file option shared by commands that read it.
#[derive(Debug, clap::Args)]
pub struct ConfigArg {
    /// A glint.toml (see `glint config` for every setting and its default).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// The moments option shared by commands that run the engine.
#[derive(Debug, clap::Args)]
pub struct MomentsArg {
    /// A moments.toml [default: [engine] moments of the config, else the twelve shipped
    /// moments; `glint moments` prints them].
    #[arg(long, value_name = "FILE")]
    pub moments: Option<PathBuf>,
}

/// `--model`: the intent model to score with.
#[derive(Debug, clap::Args)]
pub struct ModelArg {
    /// An intent model from `glint train` to score shoppers with [default: [intent] model of
    /// the config, else the taxonomy's weighted score stands in].
    #[arg(long, value_name = "MODEL")]
    pub model: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(a) => cmd::demo::run(a),
        Command::Serve(a) => cmd::serve::run(a),
        Command::Import(a) => cmd::import::run(a),
        Command::Export(a) => cmd::export::run(a),
        Command::Replay(a) => cmd::replay::run(a),
        Command::Moments(a) => cmd::moments::run(a),
        Command::Train(a) => cmd::intent::train(a),
        Command::Eval(a) => cmd::intent::eval(a),
        Command::Explain(a) => cmd::intent::explain(a),
        Command::Outbox(a) => cmd::outbox::run(a),
        Command::Stats(a) => cmd::stats::run(a),
        Command::Funnel(a) => cmd::funnel::run(a),
        Command::Features(a) => cmd::features::run(a),
        Command::Signals(a) => cmd::signals::run(a),
        Command::Lift(a) => cmd::lift::run(a),
        Command::Report(a) => cmd::report::run(a),
        Command::Simulate(a) => cmd::simulate::run(a),
        Command::Erase(a) => cmd::erase::run(a),
        Command::Retain(a) => cmd::retain::run(a),
        Command::Config => {
            out!("{}", config::DEFAULT_TOML);
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(a) => cmd::bench::run(a),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            // A closed pipe (`glint export | head`) is not an error worth a message.
            if err.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
