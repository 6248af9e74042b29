//! Logistic regression: standardised features, an L2 penalty, fitted by Newton's method.
//!
//! Objective (the scikit-learn convention, so `LogisticRegression(C = 1/λ)` on
//! `StandardScaler`-ed features mirrors it):
//!
//! ```text
//! minimise  Σᵢ [ log(1 + e^{mᵢ}) − yᵢ·mᵢ ] + λ/2 · Σⱼ wⱼ²      mᵢ = b + Σⱼ wⱼ·zᵢⱼ
//! ```
//!
//! where `zᵢⱼ = (xᵢⱼ − meanⱼ) / stdⱼ` with the training mean and population standard deviation;
//! the intercept `b` is not penalised. Newton steps solve the (p+1)×(p+1) Hessian system with a
//! hand-written Cholesky factorisation: features number about a hundred, so one O(n·p²) pass per
//! step is cheaper than the hundreds of O(n·p) passes a quasi-Newton method needs, and it
//! converges to the exact optimum in a handful of steps, deterministically.

use super::{Contributions, Error, Matrix};

/// Hyperparameters of [`Logistic::fit`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LogisticParams {
    /// L2 penalty λ on the standardised weights (scikit-learn's `C` is `1/λ`). `0` is allowed but
    /// separable data then has no optimum and the fit stops at `max_iterations`.
    pub l2: f64,
    /// Newton steps at most.
    pub max_iterations: u32,
    /// Stop when half the squared Newton decrement falls below `tolerance × rows` (the
    /// predicted objective decrease per row).
    pub tolerance: f64,
}

impl Default for LogisticParams {
    fn default() -> Self {
        LogisticParams { l2: 1.0, max_iterations: 50, tolerance: 1e-12 }
    }
}

impl LogisticParams {
    pub(crate) fn check(&self) -> Result<(), Error> {
        if !(self.l2 >= 0.0 && self.l2.is_finite()) {
            return Err(Error::param("l2", self.l2, "must be finite and ≥ 0"));
        }
        if self.max_iterations == 0 {
            return Err(Error::param("max_iterations", self.max_iterations, "must be ≥ 1"));
        }
        if !(self.tolerance > 0.0 && self.tolerance.is_finite()) {
            return Err(Error::param("tolerance", self.tolerance, "must be finite and > 0"));
        }
        Ok(())
    }
}

/// One weight of a fitted [`Logistic`], in two units.
#[derive(Clone, Debug, PartialEq)]
pub struct Coefficient {
    /// Feature name.
    pub name: String,
    /// Change in log-odds per training standard deviation of the feature (comparable across
    /// features: this is what the penalty shrinks).
    pub per_std: f64,
    /// Change in log-odds per unit of the feature as computed (`per_std / std`).
    pub per_unit: f64,
}

/// A fitted logistic regression.
#[derive(Clone, Debug, PartialEq)]
pub struct Logistic {
    pub(crate) names: Vec<String>,
    pub(crate) params: LogisticParams,
    /// Training mean of each feature (finite values only).
    pub(crate) mean: Vec<f64>,
    /// Training standard deviation of each feature; 1 for a constant feature.
    pub(crate) scale: Vec<f64>,
    /// Intercept on the standardised scale.
    pub(crate) intercept: f64,
    /// Weights on the standardised scale.
    pub(crate) weights: Vec<f64>,
    /// Newton steps taken.
    pub(crate) iterations: u32,
    /// Whether the tolerance was met within `max_iterations`.
    pub(crate) converged: bool,
}

impl Logistic {
    /// Fits the model to `x` and the labels `y` (one per row).
    ///
    /// # Errors
    /// [`Error::LabelCount`], [`Error::Empty`], [`Error::OneClass`] for unusable data,
    /// [`Error::Param`] for a bad hyperparameter.
    pub fn fit(params: &LogisticParams, x: &Matrix, y: &[bool]) -> Result<Logistic, Error> {
        params.check()?;
        let (n_rows, n_pos) = x.check_training(y)?;
        let (mean, scale) = standardisation(x);
        let n_cols = x.n_cols();
        let dim = n_cols + 1;
        // Start at the base rate: the first step then only has to find the slopes.
        let mut w = vec![0.0; dim];
        w[0] = (n_pos as f64 / (n_rows - n_pos) as f64).ln();
        let mut z = vec![0.0; dim];
        let mut grad = vec![0.0; dim];
        let mut hess = vec![0.0; dim * dim];
        let mut iterations = 0;
        let mut converged = false;
        let mut trial = vec![0.0; dim];
        while iterations < params.max_iterations {
            iterations += 1;
            grad.fill(0.0);
            hess.fill(0.0);
            let mut loss = 0.0;
            for (i, &label) in y.iter().enumerate() {
                standardise_into(x.row(i), &mean, &scale, &mut z);
                let m = dot(&w, &z);
                let p = sigmoid(m);
                loss += softplus(m) - if label { m } else { 0.0 };
                let r = p - f64::from(u8::from(label));
                let weight = p * (1.0 - p);
                for j in 0..dim {
                    grad[j] += r * z[j];
                    let a = weight * z[j];
                    // Missing and constant cells standardise to exactly 0: skip their rows.
                    if a == 0.0 {
                        continue;
                    }
                    let row = &mut hess[j * dim..(j + 1) * dim];
                    for k in j..dim {
                        row[k] += a * z[k];
                    }
                }
            }
            loss += penalty(params.l2, &w);
            for j in 1..dim {
                grad[j] += params.l2 * w[j];
                hess[j * dim + j] += params.l2;
            }
            for j in 0..dim {
                for k in 0..j {
                    hess[j * dim + k] = hess[k * dim + j];
                }
            }
            let Some(step) = solve_spd(&hess, dim, &grad) else {
                // Even the largest jitter did not make the Hessian positive definite: the
                // data is degenerate beyond repair (e.g. every row saturated); keep `w`.
                break;
            };
            // `step` solves H·s = g; the Newton direction is −s.
            let decrement = dot(&grad, &step);
            if decrement / 2.0 <= params.tolerance * n_rows as f64 {
                // This close, the full step is safe and squares the remaining error: take it.
                for j in 0..dim {
                    w[j] -= step[j];
                }
                converged = true;
                break;
            }
            // Backtracking (Armijo) keeps every step a descent even far from the optimum.
            let mut t = 1.0;
            let mut accepted = false;
            while t > 1e-10 {
                for j in 0..dim {
                    trial[j] = w[j] - t * step[j];
                }
                let trial_loss = objective(x, y, &mean, &scale, &trial, params.l2, &mut z);
                if trial_loss <= loss - 1e-4 * t * decrement {
                    accepted = true;
                    break;
                }
                t /= 2.0;
            }
            if !accepted {
                // No decrease is representable any more: we are at the optimum to within
                // floating-point resolution.
                converged = true;
                break;
            }
            w.copy_from_slice(&trial);
        }
        Ok(Logistic {
            names: x.names().to_vec(),
            params: params.clone(),
            mean,
            scale,
            intercept: w[0],
            weights: w[1..].to_vec(),
            iterations,
            converged,
        })
    }

    /// The log-odds of a purchase for one row.
    ///
    /// # Panics
    /// When `row` does not have one value per feature.
    pub fn raw_score(&self, row: &[f64]) -> f64 {
        assert_eq!(row.len(), self.weights.len(), "row length");
        let mut m = self.intercept;
        for (j, &v) in row.iter().enumerate() {
            m += self.weights[j] * self.z(j, v);
        }
        m
    }

    /// The probability of a purchase for one row.
    ///
    /// # Panics
    /// When `row` does not have one value per feature.
    pub fn predict_proba(&self, row: &[f64]) -> f64 {
        sigmoid(self.raw_score(row))
    }

    /// Each feature's share of the log-odds: weight × standardised value; the base is the
    /// intercept (the log-odds of a row at the training means).
    ///
    /// # Panics
    /// When `row` does not have one value per feature.
    pub fn contributions(&self, row: &[f64]) -> Contributions {
        assert_eq!(row.len(), self.weights.len(), "row length");
        let per_feature = row.iter().enumerate().map(|(j, &v)| self.weights[j] * self.z(j, v)).collect();
        Contributions { base: self.intercept, per_feature }
    }

    /// The weights, in feature order, per standard deviation and per unit.
    pub fn coefficients(&self) -> Vec<Coefficient> {
        (self.names.iter().zip(&self.weights).zip(&self.scale))
            .map(|((name, &w), &s)| Coefficient { name: name.clone(), per_std: w, per_unit: w / s })
            .collect()
    }

    /// The intercept: `(standardised, per_unit)`. The first is the log-odds at the training
    /// means, the second at all features zero.
    pub fn intercept(&self) -> (f64, f64) {
        let shift: f64 = (0..self.weights.len()).map(|j| self.weights[j] * self.mean[j] / self.scale[j]).sum();
        (self.intercept, self.intercept - shift)
    }

    /// The feature names, in column order.
    pub fn feature_names(&self) -> &[String] {
        &self.names
    }

    /// The hyperparameters it was fitted with.
    pub fn params(&self) -> &LogisticParams {
        &self.params
    }

    /// Newton steps taken, and whether the tolerance was met.
    pub fn convergence(&self) -> (u32, bool) {
        (self.iterations, self.converged)
    }

    fn z(&self, j: usize, v: f64) -> f64 {
        if v.is_finite() { (v - self.mean[j]) / self.scale[j] } else { 0.0 }
    }
}

/// Mean and population standard deviation of each column over its finite cells. A column
/// with no spread gets scale 1, so its standardised value is 0 and its weight stays 0.
fn standardisation(x: &Matrix) -> (Vec<f64>, Vec<f64>) {
    let n_cols = x.n_cols();
    let mut sum = vec![0.0; n_cols];
    let mut count = vec![0usize; n_cols];
    for i in 0..x.n_rows() {
        for (j, &v) in x.row(i).iter().enumerate() {
            if v.is_finite() {
                sum[j] += v;
                count[j] += 1;
            }
        }
    }
    let mean: Vec<f64> = (0..n_cols).map(|j| if count[j] > 0 { sum[j] / count[j] as f64 } else { 0.0 }).collect();
    // A second pass over deviations: one-pass E[x²]−E[x]² loses everything for large means.
    let mut sq = vec![0.0; n_cols];
    for i in 0..x.n_rows() {
        for (j, &v) in x.row(i).iter().enumerate() {
            if v.is_finite() {
                sq[j] += (v - mean[j]) * (v - mean[j]);
            }
        }
    }
    let scale = (0..n_cols)
        .map(|j| {
            let sd = if count[j] > 0 { (sq[j] / count[j] as f64).sqrt() } else { 0.0 };
            // Rounding leaves a constant column a spread of ~1e-17·|mean|, not 0.
            if sd > 1e-12 * mean[j].abs().max(1.0) { sd } else { 1.0 }
        })
        .collect();
    (mean, scale)
}

/// Writes `[1, z₁, …, z_p]` into `z`.
fn standardise_into(row: &[f64], mean: &[f64], scale: &[f64], z: &mut [f64]) {
    z[0] = 1.0;
    for j in 0..row.len() {
        let v = row[j];
        z[j + 1] = if v.is_finite() { (v - mean[j]) / scale[j] } else { 0.0 };
    }
}

fn objective(x: &Matrix, y: &[bool], mean: &[f64], scale: &[f64], w: &[f64], l2: f64, z: &mut [f64]) -> f64 {
    let mut loss = 0.0;
    for (i, &label) in y.iter().enumerate() {
        standardise_into(x.row(i), mean, scale, z);
        let m = dot(w, z);
        loss += softplus(m) - if label { m } else { 0.0 };
    }
    loss + penalty(l2, w)
}

fn penalty(l2: f64, w: &[f64]) -> f64 {
    l2 / 2.0 * w[1..].iter().map(|v| v * v).sum::<f64>()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `log(1 + eᵐ)` without overflow.
fn softplus(m: f64) -> f64 {
    if m > 0.0 { m + (-m).exp().ln_1p() } else { m.exp().ln_1p() }
}

/// The logistic function, `1 / (1 + e^{−m})`.
pub(crate) fn sigmoid(m: f64) -> f64 {
    1.0 / (1.0 + (-m).exp())
}

/// Solves `a·x = b` for a symmetric positive (semi)definite `a` (n×n, row-major). When the
/// factorisation fails a growing ridge is added to the diagonal, so a rank-deficient Hessian
/// (perfectly collinear features with λ = 0) still gives the minimum-ish step instead of
/// failing. `None` when even the largest ridge fails (non-finite input).
pub(crate) fn solve_spd(a: &[f64], n: usize, b: &[f64]) -> Option<Vec<f64>> {
    let diag_max = (0..n).map(|i| a[i * n + i].abs()).fold(0.0, f64::max).max(1e-300);
    let mut jitter = 0.0;
    for _ in 0..12 {
        if let Some(l) = cholesky(a, n, jitter) {
            return Some(cholesky_solve(&l, n, b));
        }
        jitter = if jitter == 0.0 { 1e-12 * diag_max } else { jitter * 100.0 };
    }
    None
}

/// Lower-triangular `L` with `L·Lᵀ = a + jitter·I`, or `None` when not positive definite.
fn cholesky(a: &[f64], n: usize, jitter: f64) -> Option<Vec<f64>> {
    let mut l = vec![0.0; n * n];
    for j in 0..n {
        let mut d = a[j * n + j] + jitter;
        for k in 0..j {
            d -= l[j * n + k] * l[j * n + k];
        }
        if !(d > 0.0 && d.is_finite()) {
            return None;
        }
        let d = d.sqrt();
        l[j * n + j] = d;
        for i in j + 1..n {
            let mut s = a[i * n + j];
            for k in 0..j {
                s -= l[i * n + k] * l[j * n + k];
            }
            l[i * n + j] = s / d;
        }
    }
    Some(l)
}

fn cholesky_solve(l: &[f64], n: usize, b: &[f64]) -> Vec<f64> {
    let mut y = b.to_vec();
    for i in 0..n {
        for k in 0..i {
            y[i] -= l[i * n + k] * y[k];
        }
        y[i] /= l[i * n + i];
    }
    for i in (0..n).rev() {
        for k in i + 1..n {
            y[i] -= l[k * n + i] * y[k];
        }
        y[i] /= l[i * n + i];
    }
    y
}
