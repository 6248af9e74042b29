//! The small, seeded hyperparameter search both learners get, on a validation split carved
//! from the training rows.
//!
//! The protocol, written so a Python script can mirror it for LightGBM and scikit-learn:
//!
//! 1. Validation split ([`validation_split`]): the **last** `round(fraction × n)` training rows
//!    (rows arrive in session start order, so validation is the most recent slice of training,
//!    like the test split after it); no random draw, nothing to mirror but the order.
//! 2. Candidates: a fixed grid, in a fixed order ([`gbdt_grid`], [`logistic_grid`]); or a seeded
//!    subset of it ([`sample_candidates`]).
//! 3. Each candidate is fitted on the rest of the training rows; trees early-stop on the
//!    validation split.
//! 4. The winner has the lowest validation log loss (or the highest AUC, by [`Criterion`]); a
//!    tie goes to the earlier candidate. Its fitted model is kept as is (no refit on all
//!    training rows), exactly what LightGBM's `early_stopping` callback leaves behind.
//!
//! The grids have no row or feature sampling, so both sides are deterministic without having
//! to share a random stream.

use super::rng::Rng;
use super::{Error, Gbdt, GbdtParams, Logistic, LogisticParams, Matrix, metrics};

/// Share of the training rows held out for validation by default.
pub const VALID_FRACTION: f64 = 0.2;

/// Boosting rounds at most in the GBDT grid: early stopping ends far sooner on shop data.
pub const GRID_NUM_ROUNDS: u32 = 1000;

/// Early-stopping patience in the GBDT grid.
pub const GRID_EARLY_STOPPING_ROUNDS: u32 = 50;

/// The GBDT grid: `learning_rate ∈ {0.05, 0.1}` × `num_leaves ∈ {15, 31}` ×
/// `min_data_in_leaf ∈ {20, 50}` × `lambda_l2 ∈ {0, 1}` (16 candidates, in that nesting order,
/// the first varying slowest), each with [`GRID_NUM_ROUNDS`], early stopping after
/// [`GRID_EARLY_STOPPING_ROUNDS`], and otherwise [`GbdtParams::default`] (`max_bin` 255,
/// `min_sum_hessian` 1e-3, no depth limit, no bagging or feature sampling) with `seed`.
///
/// LightGBM mirror: `objective="binary"`, `num_iterations=1000`,
/// `callbacks=[early_stopping(50)]`, `max_bin=255`, `min_sum_hessian_in_leaf=1e-3`, and the
/// four grid parameters under the same names.
pub fn gbdt_grid(seed: u64) -> Vec<GbdtParams> {
    let mut grid = Vec::with_capacity(16);
    for learning_rate in [0.05, 0.1] {
        for num_leaves in [15, 31] {
            for min_data_in_leaf in [20, 50] {
                for lambda_l2 in [0.0, 1.0] {
                    grid.push(GbdtParams {
                        num_rounds: GRID_NUM_ROUNDS,
                        learning_rate,
                        num_leaves,
                        min_data_in_leaf,
                        lambda_l2,
                        early_stopping_rounds: Some(GRID_EARLY_STOPPING_ROUNDS),
                        seed,
                        ..GbdtParams::default()
                    });
                }
            }
        }
    }
    grid
}

/// The logistic grid: `l2 ∈ {0.01, 0.1, 1, 10, 100}` (5 candidates, in that order), otherwise
/// [`LogisticParams::default`].
///
/// scikit-learn mirror: `StandardScaler()` then
/// `LogisticRegression(C=1/l2, solver="newton-cholesky", max_iter=50)` (non-finite cells set to
/// the training mean first).
pub fn logistic_grid() -> Vec<LogisticParams> {
    [0.01, 0.1, 1.0, 10.0, 100.0].into_iter().map(|l2| LogisticParams { l2, ..LogisticParams::default() }).collect()
}

/// `n` candidates drawn from `grid` without replacement by `seed`, in grid order.
pub fn sample_candidates<P: Clone>(grid: &[P], n: usize, seed: u64) -> Vec<P> {
    Rng::new(seed).sample(grid.len(), n).into_iter().map(|i| grid[i].clone()).collect()
}

/// The fit rows and the validation rows: the last `round(fraction × n_rows)` rows validate.
///
/// # Errors
/// [`Error::ValidationSplit`] when either side would be empty.
pub fn validation_split(
    n_rows: usize,
    fraction: f64,
) -> Result<(std::ops::Range<usize>, std::ops::Range<usize>), Error> {
    let n_valid = if fraction > 0.0 && fraction < 1.0 { (fraction * n_rows as f64).round() as usize } else { 0 };
    if n_valid == 0 || n_valid >= n_rows {
        return Err(Error::ValidationSplit { fraction, rows: n_rows });
    }
    let start = n_rows - n_valid;
    Ok((0..start, start..n_rows))
}

/// How candidates are compared on the validation split.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Criterion {
    /// Lowest log loss (the default: it rewards calibration, which the intent stages rely on).
    LogLoss,
    /// Highest AUC-ROC.
    Auc,
}

/// One candidate's validation result.
#[derive(Clone, Debug, PartialEq)]
pub struct Trial<P> {
    /// The candidate.
    pub params: P,
    /// Its validation log loss.
    pub valid_log_loss: f64,
    /// Its validation AUC (`None` when the split has one class).
    pub valid_auc: Option<f64>,
}

/// The outcome of a search.
#[derive(Clone, Debug)]
pub struct Search<P, M> {
    /// Every candidate, in order.
    pub trials: Vec<Trial<P>>,
    /// Index of the winner in `trials`.
    pub best: usize,
    /// The winner, fitted.
    pub model: M,
}

/// Searches `candidates` for the best GBDT (see the [module docs](self)).
///
/// # Errors
/// [`Error::NoCandidates`], or the first error of a fit.
pub fn search_gbdt(
    candidates: &[GbdtParams],
    train: (&Matrix, &[bool]),
    valid: (&Matrix, &[bool]),
    criterion: Criterion,
) -> Result<Search<GbdtParams, Gbdt>, Error> {
    search(candidates, valid, criterion, |p| Ok(Gbdt::fit(p, train.0, train.1, Some(valid))?.0), Gbdt::predict_proba)
}

/// Searches `candidates` for the best logistic regression (see the [module docs](self)).
///
/// # Errors
/// [`Error::NoCandidates`], or the first error of a fit.
pub fn search_logistic(
    candidates: &[LogisticParams],
    train: (&Matrix, &[bool]),
    valid: (&Matrix, &[bool]),
    criterion: Criterion,
) -> Result<Search<LogisticParams, Logistic>, Error> {
    search(candidates, valid, criterion, |p| Logistic::fit(p, train.0, train.1), Logistic::predict_proba)
}

/// Fit every candidate, on as many threads as the machine has (candidates are independent and
/// each fit is seeded, so the models do not depend on the threads); results in candidate order.
fn fit_all<P: Sync, M: Send>(candidates: &[P], fit: impl Fn(&P) -> Result<M, Error> + Sync) -> Vec<Result<M, Error>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(candidates.len());
    if threads <= 1 {
        return candidates.iter().map(fit).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let done: std::sync::Mutex<Vec<(usize, Result<M, Error>)>> = std::sync::Mutex::new(Vec::with_capacity(candidates.len()));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(p) = candidates.get(i) else { break };
                    let r = fit(p);
                    // A poisoned lock means another fit panicked; the scope re-raises it.
                    if let Ok(mut d) = done.lock() {
                        d.push((i, r));
                    }
                }
            });
        }
    });
    let mut done = done.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

fn search<P: Clone + Sync, M: Send>(
    candidates: &[P],
    valid: (&Matrix, &[bool]),
    criterion: Criterion,
    fit: impl Fn(&P) -> Result<M, Error> + Sync,
    predict: impl Fn(&M, &[f64]) -> f64,
) -> Result<Search<P, M>, Error> {
    let (vx, vy) = valid;
    vx.check_labels(vy)?;
    let mut trials = Vec::with_capacity(candidates.len());
    let mut best: Option<(usize, M)> = None;
    for (params, fitted) in candidates.iter().zip(fit_all(candidates, fit)) {
        let model = fitted?;
        let probs: Vec<f64> = (0..vx.n_rows()).map(|i| predict(&model, vx.row(i))).collect();
        let trial = Trial {
            params: params.clone(),
            valid_log_loss: metrics::log_loss(&probs, vy),
            valid_auc: metrics::auc(&probs, vy),
        };
        let better = match &best {
            None => true,
            Some((b, _)) => {
                let held: &Trial<P> = &trials[*b];
                match criterion {
                    Criterion::LogLoss => trial.valid_log_loss < held.valid_log_loss,
                    Criterion::Auc => {
                        trial.valid_auc.unwrap_or(f64::NEG_INFINITY) > held.valid_auc.unwrap_or(f64::NEG_INFINITY)
                    }
                }
            }
        };
        trials.push(trial);
        if better {
            best = Some((trials.len() - 1, model));
        }
    }
    let (best, model) = best.ok_or(Error::NoCandidates)?;
    Ok(Search { trials, best, model })
}
