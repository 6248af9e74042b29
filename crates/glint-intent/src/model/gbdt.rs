//! Gradient-boosted trees on histograms, LightGBM-style, for binary log loss.
//!
//! A fit bins every feature once ([`super::bins`]: ≤ `max_bin` equal-count value bins from the
//! training set plus a missing bin), starts from the log-odds of the base rate, and then each
//! round computes the gradient `p − y` and hessian `p(1 − p)` of every row and grows one tree
//! leaf-wise ([`super::tree`]): always split the leaf whose best split gains most,
//! `gain = G_L²/(H_L+λ) + G_R²/(H_R+λ) − G²/(H+λ)`, until `num_leaves`; a leaf outputs
//! `−G/(H+λ) × learning_rate`. Histograms are built only for the smaller child, the larger is
//! the parent's minus it. Non-finite values have their own bin and each split learns which way
//! they go. With a validation set the fit stops when its log loss has not improved for
//! `early_stopping_rounds` rounds and keeps the trees up to the best round.

use super::bins::Binned;
use super::logistic::sigmoid;
use super::rng::Rng;
use super::tree::{Grower, Tree};
use super::{Contributions, Error, Matrix, metrics};

/// Hyperparameters of [`Gbdt::fit`]. Names and defaults follow LightGBM's (its name in
/// brackets where it differs), so a run can be mirrored there.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GbdtParams {
    /// Boosting rounds at most (`num_iterations`). Default 100.
    pub num_rounds: u32,
    /// Shrinkage of each tree's output. Default 0.1.
    pub learning_rate: f64,
    /// Leaves per tree at most (≥ 2). Default 31.
    pub num_leaves: u32,
    /// Depth limit; `None` is unlimited (LightGBM's −1). Default `None`.
    pub max_depth: Option<u32>,
    /// Training rows a leaf needs at least (≥ 1). Default 20.
    pub min_data_in_leaf: u32,
    /// Sum of hessians a leaf needs at least (`min_sum_hessian_in_leaf`). Default 1e-3.
    pub min_sum_hessian: f64,
    /// L2 penalty λ on leaf outputs. Default 0.
    pub lambda_l2: f64,
    /// Share of features each tree may split on, drawn per tree from the seed. Default 1.
    pub feature_fraction: f64,
    /// Share of rows each tree is grown on, drawn without replacement. Default 1.
    pub bagging_fraction: f64,
    /// Redraw the row bag every this many rounds; 0 turns bagging off. Default 0.
    pub bagging_freq: u32,
    /// Stop when the validation log loss has not improved for this many rounds
    /// (`early_stopping_round`); needs a validation set. Default `None`.
    pub early_stopping_rounds: Option<u32>,
    /// Value bins per feature at most, 2..=255 (one more bin holds missing values). Default 255.
    pub max_bin: u32,
    /// Seed of every random draw (bags, feature subsets, the binning sample above 200k rows).
    pub seed: u64,
}

impl Default for GbdtParams {
    fn default() -> Self {
        GbdtParams {
            num_rounds: 100,
            learning_rate: 0.1,
            num_leaves: 31,
            max_depth: None,
            min_data_in_leaf: 20,
            min_sum_hessian: 1e-3,
            lambda_l2: 0.0,
            feature_fraction: 1.0,
            bagging_fraction: 1.0,
            bagging_freq: 0,
            early_stopping_rounds: None,
            max_bin: 255,
            seed: 0,
        }
    }
}

/// Leaves per tree at most: leaf ids are stored as `!id` in an `i32`, and far fewer already
/// overfit any shop's data.
const NUM_LEAVES_MAX: u32 = 1 << 16;

impl GbdtParams {
    pub(crate) fn check(&self) -> Result<(), Error> {
        let unit = |v: f64| v > 0.0 && v <= 1.0;
        if self.num_rounds == 0 {
            return Err(Error::param("num_rounds", self.num_rounds, "must be ≥ 1"));
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return Err(Error::param("learning_rate", self.learning_rate, "must be finite and > 0"));
        }
        if !(2..=NUM_LEAVES_MAX).contains(&self.num_leaves) {
            return Err(Error::param("num_leaves", self.num_leaves, "must be between 2 and 65536"));
        }
        if self.max_depth == Some(0) {
            return Err(Error::param("max_depth", 0, "must be ≥ 1 (or none for unlimited)"));
        }
        if self.min_data_in_leaf == 0 {
            return Err(Error::param("min_data_in_leaf", 0, "must be ≥ 1"));
        }
        if !(self.min_sum_hessian >= 0.0 && self.min_sum_hessian.is_finite()) {
            return Err(Error::param("min_sum_hessian", self.min_sum_hessian, "must be finite and ≥ 0"));
        }
        if !(self.lambda_l2 >= 0.0 && self.lambda_l2.is_finite()) {
            return Err(Error::param("lambda_l2", self.lambda_l2, "must be finite and ≥ 0"));
        }
        if !unit(self.feature_fraction) {
            return Err(Error::param("feature_fraction", self.feature_fraction, "must be in (0, 1]"));
        }
        if !unit(self.bagging_fraction) {
            return Err(Error::param("bagging_fraction", self.bagging_fraction, "must be in (0, 1]"));
        }
        if self.early_stopping_rounds == Some(0) {
            return Err(Error::param("early_stopping_rounds", 0, "must be ≥ 1 (or none)"));
        }
        if !(2..=255).contains(&self.max_bin) {
            return Err(Error::param("max_bin", self.max_bin, "must be between 2 and 255"));
        }
        Ok(())
    }
}

/// Why a fit ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stop {
    /// All `num_rounds` were run.
    Rounds,
    /// The validation loss stopped improving.
    EarlyStopping,
    /// A round could not split its root under the leaf constraints (LightGBM stops there too).
    NoSplit,
}

/// What happened during [`Gbdt::fit`].
#[derive(Clone, Debug, PartialEq)]
pub struct GbdtReport {
    /// Rounds grown before stopping.
    pub rounds_run: usize,
    /// Trees kept: the best round under early stopping, else `rounds_run`.
    pub trees_kept: usize,
    /// Validation log loss after each round (empty without a validation set).
    pub valid_log_loss: Vec<f64>,
    /// Why it stopped.
    pub stop: Stop,
}

/// A fitted tree ensemble.
#[derive(Clone, Debug, PartialEq)]
pub struct Gbdt {
    pub(crate) names: Vec<String>,
    pub(crate) params: GbdtParams,
    /// Raw score before any tree: log-odds of the training base rate.
    pub(crate) base_score: f64,
    pub(crate) trees: Vec<Tree>,
    /// The trees again, laid out for scoring (derived from `trees`).
    pub(crate) forest: Forest,
}

/// The trees laid out for scoring. A walk down a tree is a chain of dependent loads whose
/// every step is an unpredictable branch, so one tree at a time is latency-bound. Here all
/// nodes sit in one array (test, children and value side by side), a leaf is a node whose
/// children are itself, and [`LANES`] trees are walked together for as many steps as the
/// deepest of them, choosing each child without a branch: the lanes' chains are independent,
/// so the CPU overlaps them — about three times faster than one tree at a time at 200 trees
/// of depth 6 (BENCHMARKS.md). Trees are grouped by depth, so a deep tree does not make
/// seven shallow ones walk in place; deep groups stop once every lane stands on a leaf. Scores
/// are those of the per-tree walk up to rounding (the same leaves, summed group by group).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Forest {
    nodes: Vec<Node>,
    groups: Vec<Group>,
    trees: usize,
}

/// Up to `LANES` trees of similar depth.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Group {
    roots: [u32; LANES],
    /// Lanes in use; the rest stand on the padding leaf.
    lanes: usize,
    /// Steps to walk: the deepest tree's depth.
    depth: u32,
}

/// Groups deeper than this check after each further step whether every lane is done.
const EARLY_EXIT_DEPTH: u32 = 8;

/// Trees walked together.
const LANES: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq)]
struct Node {
    threshold: f64,
    /// For a leaf: its value; for a split: the cover-weighted mean of its leaves (Saabas).
    value: f64,
    feature: u32,
    /// Children, as indices into `nodes`; a leaf's are itself.
    left: u32,
    right: u32,
    /// Where a non-finite value goes: right (`!default_left`).
    missing_right: bool,
}

impl Forest {
    pub(crate) fn of(trees: &[Tree]) -> Forest {
        // Node 0: the leaf padding lanes of the last group stand on (value 0).
        let pad = Node { threshold: f64::INFINITY, value: 0.0, feature: 0, left: 0, right: 0, missing_right: false };
        let mut f = Forest { nodes: vec![pad], groups: Vec::new(), trees: trees.len() };
        let mut order: Vec<(u32, usize)> = trees.iter().enumerate().map(|(i, t)| (t.depth(), i)).collect();
        order.sort_unstable();
        for chunk in order.chunks(LANES) {
            let mut g = Group { roots: [0; LANES], lanes: chunk.len(), depth: 0 };
            for (lane, &(depth, i)) in chunk.iter().enumerate() {
                g.roots[lane] = f.push_tree(&trees[i]);
                g.depth = g.depth.max(depth);
            }
            f.groups.push(g);
        }
        f
    }

    /// Append a tree's nodes (splits, then leaves); returns its root.
    fn push_tree(&mut self, t: &Tree) -> u32 {
        let (first, n_splits) = (self.nodes.len() as u32, t.feature.len() as u32);
        let at = |c: i32| if c < 0 { first + n_splits + (!c) as u32 } else { first + c as u32 };
        for k in 0..t.feature.len() {
            let value = t.node_value.get(k).copied().unwrap_or(0.0);
            self.nodes.push(Node { threshold: t.threshold[k], value, feature: t.feature[k], left: at(t.left[k]), right: at(t.right[k]), missing_right: !t.default_left[k] });
        }
        for (l, &value) in t.leaf_value.iter().enumerate() {
            let me = first + n_splits + l as u32;
            self.nodes.push(Node { threshold: f64::INFINITY, value, feature: 0, left: me, right: me, missing_right: false });
        }
        if t.feature.is_empty() { first } else { at(0) }
    }

    /// One step down for each lane (a leaf stays put).
    #[inline]
    fn step(&self, at: &mut [u32; LANES], row: &[f64]) {
        for i in at.iter_mut() {
            let n = &self.nodes[*i as usize];
            let x = row[n.feature as usize];
            let finite = x.is_finite();
            let right = (finite & (x > n.threshold)) | (!finite & n.missing_right);
            *i = if right { n.right } else { n.left };
        }
    }

    /// Walk a group to its leaves, calling `each` with every step's (from, to) nodes.
    #[inline]
    fn walk(&self, g: &Group, row: &[f64], mut each: impl FnMut(&[u32; LANES], &[u32; LANES])) -> [u32; LANES] {
        let mut at = g.roots;
        for step in 0..g.depth {
            let before = at;
            self.step(&mut at, row);
            each(&before, &at);
            if step >= EARLY_EXIT_DEPTH && at == before {
                break;
            }
        }
        at
    }

    /// Σ of each tree's leaf for `row` (in group order: the same row always sums the same
    /// way, equal to the per-tree walk up to rounding).
    fn sum(&self, row: &[f64]) -> f64 {
        let mut total = 0.0;
        for g in &self.groups {
            let at = self.walk(g, row, |_, _| {});
            for i in at.iter().take(g.lanes) {
                total += self.nodes[*i as usize].value;
            }
        }
        total
    }

    /// Adds each split's change in expected value along `row`'s paths to its feature (Saabas).
    fn add_contributions(&self, row: &[f64], out: &mut [f64]) {
        for g in &self.groups {
            let lanes = g.lanes;
            self.walk(g, row, |before, at| {
                for (b, a) in before.iter().zip(at).take(lanes) {
                    let (from, to) = (&self.nodes[*b as usize], &self.nodes[*a as usize]);
                    // A leaf's step goes nowhere and adds nothing.
                    if b != a {
                        out[from.feature as usize] += to.value - from.value;
                    }
                }
            });
        }
    }
}

impl Gbdt {
    /// Fits trees to `x`, `y`; `valid` is the validation split for early stopping.
    ///
    /// # Errors
    /// [`Error::LabelCount`], [`Error::Empty`], [`Error::OneClass`] for unusable training data;
    /// [`Error::ColumnMismatch`] when `valid` has other columns; [`Error::Param`] for a bad
    /// hyperparameter or early stopping without a validation set.
    pub fn fit(
        params: &GbdtParams,
        x: &Matrix,
        y: &[bool],
        valid: Option<(&Matrix, &[bool])>,
    ) -> Result<(Gbdt, GbdtReport), Error> {
        params.check()?;
        let (n_rows, n_pos) = x.check_training(y)?;
        if n_rows > u32::MAX as usize {
            return Err(Error::param("rows", n_rows, "at most 2³² − 1 rows per fit"));
        }
        if let Some((vx, vy)) = valid {
            vx.check_labels(vy)?;
            x.check_same_columns(vx)?;
        } else if params.early_stopping_rounds.is_some() {
            return Err(Error::param("early_stopping_rounds", "set", "needs a validation set"));
        }

        let mut rng = Rng::new(params.seed);
        let data = Binned::new(x, params.max_bin as usize, &mut rng);
        let base_score = (n_pos as f64 / (n_rows - n_pos) as f64).ln();
        let mut score = vec![base_score; n_rows];
        let mut grad = vec![0.0; n_rows];
        let mut hess = vec![0.0; n_rows];
        let mut valid_score = valid.map(|(vx, _)| vec![base_score; vx.n_rows()]).unwrap_or_default();
        let mut valid_prob = valid_score.clone();
        let bagging = params.bagging_freq > 0 && params.bagging_fraction < 1.0;
        let bag_size = ((params.bagging_fraction * n_rows as f64).round() as usize).max(1);
        let n_features = ((params.feature_fraction * x.n_cols() as f64).round() as usize).clamp(1, x.n_cols().max(1));
        let all_features: Vec<usize> = (0..x.n_cols()).collect();
        let mut bag: Vec<u32> = (0..n_rows as u32).collect();
        let mut in_bag = vec![true; n_rows];
        let mut indices = Vec::with_capacity(n_rows);
        let mut grower = Grower::new(&data, params);
        let mut trees = Vec::new();
        let mut report = GbdtReport { rounds_run: 0, trees_kept: 0, valid_log_loss: Vec::new(), stop: Stop::Rounds };
        let mut best: Option<(f64, usize)> = None;

        for round in 0..params.num_rounds {
            for i in 0..n_rows {
                let p = sigmoid(score[i]);
                grad[i] = p - f64::from(u8::from(y[i]));
                hess[i] = p * (1.0 - p);
            }
            if bagging && round % params.bagging_freq == 0 {
                bag = rng.sample(n_rows, bag_size).into_iter().map(|i| i as u32).collect();
                in_bag.fill(false);
                for &r in &bag {
                    in_bag[r as usize] = true;
                }
            }
            let features =
                if n_features < x.n_cols() { rng.sample(x.n_cols(), n_features) } else { all_features.clone() };
            // A fresh, sorted copy each round: the previous tree reordered it.
            indices.clear();
            indices.extend_from_slice(&bag);
            let (tree, ranges) = grower.grow(&grad, &hess, &mut indices, &features);
            if tree.feature.is_empty() {
                report.stop = Stop::NoSplit;
                break;
            }
            for (leaf, range) in ranges.into_iter().enumerate() {
                let v = tree.leaf_value[leaf];
                for &r in &indices[range] {
                    score[r as usize] += v;
                }
            }
            if bagging {
                for i in 0..n_rows {
                    if !in_bag[i] {
                        score[i] += tree.predict(x.row(i));
                    }
                }
            }
            if let Some((vx, vy)) = valid {
                for i in 0..vx.n_rows() {
                    valid_score[i] += tree.predict(vx.row(i));
                    valid_prob[i] = sigmoid(valid_score[i]);
                }
                report.valid_log_loss.push(metrics::log_loss(&valid_prob, vy));
            }
            trees.push(tree);
            report.rounds_run = trees.len();
            if let (Some(patience), Some(&loss)) = (params.early_stopping_rounds, report.valid_log_loss.last()) {
                match best {
                    Some((b, _)) if loss >= b => {}
                    _ => best = Some((loss, trees.len())),
                }
                if let Some((_, at)) = best
                    && trees.len() - at >= patience as usize
                {
                    trees.truncate(at);
                    report.stop = Stop::EarlyStopping;
                    break;
                }
            }
        }
        if report.stop != Stop::EarlyStopping
            && let Some((_, at)) = best
        {
            // Ran out of rounds (or splits) while still within the patience window: the best
            // round may still be behind us, and the early-stopping promise is to keep it.
            trees.truncate(at);
        }
        report.trees_kept = trees.len();
        let forest = Forest::of(&trees);
        Ok((Gbdt { names: x.names().to_vec(), params: params.clone(), base_score, forest, trees }, report))
    }

    /// The log-odds of a purchase for one row.
    ///
    /// # Panics
    /// When `row` does not have one value per feature.
    pub fn raw_score(&self, row: &[f64]) -> f64 {
        assert_eq!(row.len(), self.names.len(), "row length");
        self.base_score + self.forest.sum(row)
    }

    /// The probability of a purchase for one row.
    ///
    /// # Panics
    /// When `row` does not have one value per feature.
    pub fn predict_proba(&self, row: &[f64]) -> f64 {
        sigmoid(self.raw_score(row))
    }

    /// Saabas path contributions: along the row's path in each tree, every split's change in the
    /// expected (cover-weighted mean) leaf value is credited to the split's feature. The base is
    /// the starting log-odds plus every tree's expected value, so `base + Σ per_feature` is
    /// [`raw_score`](Self::raw_score) up to rounding.
    ///
    /// # Panics
    /// When `row` does not have one value per feature.
    pub fn contributions(&self, row: &[f64]) -> Contributions {
        assert_eq!(row.len(), self.names.len(), "row length");
        let mut per_feature = vec![0.0; row.len()];
        let base = self.base_score + self.trees.iter().map(Tree::root_value).sum::<f64>();
        self.forest.add_contributions(row, &mut per_feature);
        Contributions { base, per_feature }
    }

    /// Trees in the ensemble.
    pub fn n_trees(&self) -> usize {
        self.trees.len()
    }

    /// The feature names, in column order.
    pub fn feature_names(&self) -> &[String] {
        &self.names
    }

    /// The hyperparameters it was fitted with.
    pub fn params(&self) -> &GbdtParams {
        &self.params
    }
}
