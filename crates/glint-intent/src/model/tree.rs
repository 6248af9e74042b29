//! One regression tree: its flat layout, prediction, Saabas contributions, and leaf-wise growth
//! on histograms.
//!
//! Layout (LightGBM's): internal node `k` tests `x[feature[k]] ≤ threshold[k]`; a child
//! `c ≥ 0` is internal node `c`, a child `c < 0` is leaf `!c`. A tree of one leaf has no nodes.
//! Children are always created after their parent, so every internal child index is larger than
//! its parent's: a loaded file is checked for exactly that, which rules out cycles.

use super::bins::Binned;
use super::gbdt::GbdtParams;

/// A fitted tree.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Tree {
    pub(crate) feature: Vec<u32>,
    pub(crate) threshold: Vec<f64>,
    /// Where non-finite values go.
    pub(crate) default_left: Vec<bool>,
    pub(crate) left: Vec<i32>,
    pub(crate) right: Vec<i32>,
    /// Output of each leaf (already scaled by the learning rate).
    pub(crate) leaf_value: Vec<f64>,
    /// Sum of hessians of the training rows in each leaf (the cover).
    pub(crate) leaf_cover: Vec<f64>,
    /// Training rows in each leaf.
    pub(crate) leaf_count: Vec<u32>,
    /// Cover-weighted mean of the leaves below each internal node: the "expected value" that
    /// Saabas contributions take differences of. Derived, not stored in the file.
    pub(crate) node_value: Vec<f64>,
}

impl Tree {
    pub(crate) fn single_leaf(value: f64, cover: f64, count: u32) -> Tree {
        Tree {
            feature: Vec::new(),
            threshold: Vec::new(),
            default_left: Vec::new(),
            left: Vec::new(),
            right: Vec::new(),
            leaf_value: vec![value],
            leaf_cover: vec![cover],
            leaf_count: vec![count],
            node_value: Vec::new(),
        }
    }

    /// Fills `node_value` from the leaves. Children come after parents, so a reverse sweep
    /// sees both children of a node before the node.
    pub(crate) fn derive_node_values(&mut self) {
        let n = self.feature.len();
        let mut value = vec![0.0; n];
        let mut cover = vec![0.0; n];
        for k in (0..n).rev() {
            let (vl, cl) = self.child_value(self.left[k], &value, &cover);
            let (vr, cr) = self.child_value(self.right[k], &value, &cover);
            cover[k] = cl + cr;
            // Hessian sums are positive unless min_sum_hessian was set to 0 and every row in
            // both children saturated; fall back to the plain mean then.
            value[k] = if cl + cr > 0.0 { (vl * cl + vr * cr) / (cl + cr) } else { (vl + vr) / 2.0 };
        }
        self.node_value = value;
    }

    fn child_value(&self, c: i32, value: &[f64], cover: &[f64]) -> (f64, f64) {
        if c < 0 {
            let l = !c as usize;
            (self.leaf_value[l], self.leaf_cover[l])
        } else {
            (value[c as usize], cover[c as usize])
        }
    }

    /// The leaf a row falls in.
    pub(crate) fn leaf(&self, row: &[f64]) -> usize {
        if self.feature.is_empty() {
            return 0;
        }
        let mut k = 0usize;
        loop {
            let next = self.next(k, row);
            if next < 0 {
                return !next as usize;
            }
            k = next as usize;
        }
    }

    #[inline]
    fn next(&self, k: usize, row: &[f64]) -> i32 {
        let x = row[self.feature[k] as usize];
        let go_left = if x.is_finite() { x <= self.threshold[k] } else { self.default_left[k] };
        if go_left { self.left[k] } else { self.right[k] }
    }

    /// Splits on the longest path from the root (0 for a single leaf).
    pub(crate) fn depth(&self) -> u32 {
        // Children come after parents: one forward sweep gives every node's level.
        let mut level = vec![0u32; self.feature.len()];
        let mut deepest = if self.feature.is_empty() { 0 } else { 1 };
        for k in 0..self.feature.len() {
            for c in [self.left[k], self.right[k]] {
                if c >= 0 {
                    level[c as usize] = level[k] + 1;
                }
                deepest = deepest.max(level[k] + 1);
            }
        }
        deepest
    }

    pub(crate) fn predict(&self, row: &[f64]) -> f64 {
        self.leaf_value[self.leaf(row)]
    }

    /// The tree's expected output before looking at any feature.
    pub(crate) fn root_value(&self) -> f64 {
        self.node_value.first().copied().unwrap_or(self.leaf_value[0])
    }

    /// Adds each split's change in expected value to its feature (Saabas). The sum of what is
    /// added is `predict(row) − root_value()`. The reference for the scoring layout's
    /// (`gbdt::Forest`), which is what models use.
    #[cfg(test)]
    pub(crate) fn add_contributions(&self, row: &[f64], out: &mut [f64]) {
        if self.feature.is_empty() {
            return;
        }
        let mut k = 0usize;
        let mut value = self.node_value[0];
        loop {
            let next = self.next(k, row);
            let next_value = if next < 0 { self.leaf_value[!next as usize] } else { self.node_value[next as usize] };
            out[self.feature[k] as usize] += next_value - value;
            if next < 0 {
                return;
            }
            value = next_value;
            k = next as usize;
        }
    }

    /// Checks the structure of a tree read from a file: lengths, child ranges, each node and
    /// leaf reached exactly once from the root, features below `n_features`, finite numbers.
    pub(crate) fn validate(&self, n_features: usize) -> Result<(), String> {
        let n = self.feature.len();
        if [self.threshold.len(), self.default_left.len(), self.left.len(), self.right.len()] != [n; 4] {
            return Err("node arrays differ in length".into());
        }
        if self.leaf_value.len() != n + 1 || self.leaf_cover.len() != n + 1 || self.leaf_count.len() != n + 1 {
            return Err(format!("{n} nodes need {} leaves", n + 1));
        }
        if self.leaf_value.iter().chain(&self.leaf_cover).chain(&self.threshold).any(|v| !v.is_finite()) {
            return Err("a value is not finite".into());
        }
        let mut node_seen = vec![false; n];
        let mut leaf_seen = vec![false; n + 1];
        if n > 0 {
            node_seen[0] = true;
        }
        for k in 0..n {
            if self.feature[k] as usize >= n_features {
                return Err(format!("node {k} splits on feature {} of {n_features}", self.feature[k]));
            }
            for c in [self.left[k], self.right[k]] {
                if c < 0 {
                    let l = !c as usize;
                    if l > n || std::mem::replace(&mut leaf_seen[l], true) {
                        return Err(format!("node {k}: leaf {l} out of range or reached twice"));
                    }
                } else {
                    let c = c as usize;
                    if c <= k || c >= n || std::mem::replace(&mut node_seen[c], true) {
                        return Err(format!("node {k}: child {c} out of order or reached twice"));
                    }
                }
            }
        }
        if n > 0 && (node_seen.contains(&false) || leaf_seen.contains(&false)) {
            return Err("a node or leaf is not reachable from the root".into());
        }
        Ok(())
    }
}

/// Gradient statistics of a set of rows (or of one histogram bin).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Stats {
    pub(crate) g: f64,
    pub(crate) h: f64,
    pub(crate) n: u32,
}

impl Stats {
    fn add(&mut self, o: Stats) {
        self.g += o.g;
        self.h += o.h;
        self.n += o.n;
    }

    fn minus(self, o: Stats) -> Stats {
        Stats { g: self.g - o.g, h: self.h - o.h, n: self.n - o.n }
    }

    /// `G² / (H + λ)`: twice the loss decrease of giving these rows their optimal value.
    fn score(self, lambda_l2: f64) -> f64 {
        let d = self.h + lambda_l2;
        if d > 0.0 { self.g * self.g / d } else { 0.0 }
    }
}

/// The best split found for a leaf.
#[derive(Clone, Copy, Debug)]
struct Split {
    gain: f64,
    feature: usize,
    /// Value bins `0..=bin` go left.
    bin: usize,
    default_left: bool,
    left: Stats,
    right: Stats,
}

/// A leaf under construction: its rows are `indices[start..start + len]`.
struct Leaf {
    start: usize,
    len: usize,
    depth: u32,
    sum: Stats,
    hist: Vec<Stats>,
    best: Option<Split>,
    /// The internal node whose child this leaf is, and whether it is the left child.
    parent: Option<(usize, bool)>,
}

/// Grows trees on a binned matrix, reusing its buffers across rounds.
pub(crate) struct Grower<'a> {
    data: &'a Binned,
    params: &'a GbdtParams,
    /// Histograms no longer in use, kept to avoid reallocating ~hundreds of KB per leaf.
    free: Vec<Vec<Stats>>,
    scratch: Vec<u32>,
}

impl<'a> Grower<'a> {
    pub(crate) fn new(data: &'a Binned, params: &'a GbdtParams) -> Grower<'a> {
        Grower { data, params, free: Vec::new(), scratch: Vec::new() }
    }

    /// Grows one tree on the rows `indices` (reordered in place, leaf by leaf) using only
    /// `features` (ascending). Also returns where each leaf's rows ended up in `indices`, so the
    /// caller can update its scores without traversing.
    pub(crate) fn grow(
        &mut self,
        grad: &[f64],
        hess: &[f64],
        indices: &mut [u32],
        features: &[usize],
    ) -> (Tree, Vec<std::ops::Range<usize>>) {
        let p = self.params;
        let mut root_hist = self.take_hist();
        self.build_hist(grad, hess, indices, features, &mut root_hist);
        let mut sum = Stats::default();
        for &r in indices.iter() {
            sum.add(Stats { g: grad[r as usize], h: hess[r as usize], n: 1 });
        }
        let mut leaves =
            vec![Leaf { start: 0, len: indices.len(), depth: 0, sum, hist: root_hist, best: None, parent: None }];
        leaves[0].best = self.best_split(&leaves[0], features);
        let mut tree = Tree::single_leaf(0.0, 0.0, 0);
        tree.leaf_value.clear();
        tree.leaf_cover.clear();
        tree.leaf_count.clear();
        while leaves.len() < p.num_leaves as usize {
            // The leaf whose split gains most; ties go to the lower leaf index.
            let mut pick: Option<(usize, f64)> = None;
            for (i, leaf) in leaves.iter().enumerate() {
                if let Some(s) = &leaf.best
                    && pick.is_none_or(|(_, g)| s.gain > g)
                {
                    pick = Some((i, s.gain));
                }
            }
            let Some((li, _)) = pick else { break };
            let Some(split) = leaves[li].best.take() else { break };
            let (start, len, depth, parent) = (leaves[li].start, leaves[li].len, leaves[li].depth, leaves[li].parent);
            let n_left = self.partition(&mut indices[start..start + len], &split);
            assert_eq!(n_left, split.left.n as usize, "histogram and partition disagree");

            let node = tree.feature.len();
            let new_leaf = leaves.len();
            tree.feature.push(split.feature as u32);
            tree.threshold.push(self.data.mappers[split.feature].threshold(split.bin));
            tree.default_left.push(split.default_left);
            tree.left.push(!(li as i32));
            tree.right.push(!(new_leaf as i32));
            if let Some((pn, is_left)) = parent {
                if is_left {
                    tree.left[pn] = node as i32;
                } else {
                    tree.right[pn] = node as i32;
                }
            }

            // Build the smaller child's histogram from its rows; the larger one is the
            // parent's minus it (the subtraction trick halves histogram work at least).
            let parent_hist = std::mem::take(&mut leaves[li].hist);
            let mut small_hist = self.take_hist();
            let left_smaller = split.left.n <= split.right.n;
            let (small_rows, large_hist) = if left_smaller {
                (&indices[start..start + n_left], parent_hist)
            } else {
                (&indices[start + n_left..start + len], parent_hist)
            };
            self.build_hist(grad, hess, small_rows, features, &mut small_hist);
            let mut large_hist = large_hist;
            for &f in features {
                for b in self.data.offsets[f]..self.data.offsets[f + 1] {
                    large_hist[b] = large_hist[b].minus(small_hist[b]);
                }
            }
            let (left_hist, right_hist) =
                if left_smaller { (small_hist, large_hist) } else { (large_hist, small_hist) };
            leaves[li] = Leaf {
                start,
                len: n_left,
                depth: depth + 1,
                sum: split.left,
                hist: left_hist,
                best: None,
                parent: Some((node, true)),
            };
            leaves.push(Leaf {
                start: start + n_left,
                len: len - n_left,
                depth: depth + 1,
                sum: split.right,
                hist: right_hist,
                best: None,
                parent: Some((node, false)),
            });
            if leaves.len() < p.num_leaves as usize {
                leaves[li].best = self.best_split(&leaves[li], features);
                leaves[new_leaf].best = self.best_split(&leaves[new_leaf], features);
            }
        }
        let mut ranges = Vec::with_capacity(leaves.len());
        for leaf in leaves {
            let value = leaf_output(leaf.sum, p.lambda_l2) * p.learning_rate;
            ranges.push(leaf.start..leaf.start + leaf.len);
            tree.leaf_value.push(value);
            tree.leaf_cover.push(leaf.sum.h);
            tree.leaf_count.push(leaf.sum.n);
            self.free.push(leaf.hist);
        }
        tree.derive_node_values();
        (tree, ranges)
    }

    fn take_hist(&mut self) -> Vec<Stats> {
        let len = self.data.hist_len();
        match self.free.pop() {
            Some(mut h) if h.len() == len => {
                h.fill(Stats::default());
                h
            }
            _ => vec![Stats::default(); len],
        }
    }

    fn build_hist(&self, grad: &[f64], hess: &[f64], rows: &[u32], features: &[usize], hist: &mut [Stats]) {
        let offsets = &self.data.offsets;
        let all = features.len() == self.data.n_cols;
        for &r in rows {
            let r = r as usize;
            let (g, h) = (grad[r], hess[r]);
            let bins = self.data.row(r);
            if all {
                for (&off, &b) in offsets.iter().zip(bins) {
                    let s = &mut hist[off + b as usize];
                    s.g += g;
                    s.h += h;
                    s.n += 1;
                }
            } else {
                for &f in features {
                    let s = &mut hist[offsets[f] + bins[f] as usize];
                    s.g += g;
                    s.h += h;
                    s.n += 1;
                }
            }
        }
    }

    /// Scans every threshold of every feature, with missing values sent left and right.
    fn best_split(&self, leaf: &Leaf, features: &[usize]) -> Option<Split> {
        let p = self.params;
        if p.max_depth.is_some_and(|d| leaf.depth >= d) || leaf.sum.n < 2 * p.min_data_in_leaf {
            return None;
        }
        let parent_score = leaf.sum.score(p.lambda_l2);
        let mut best: Option<Split> = None;
        for &f in features {
            let hist = &leaf.hist[self.data.offsets[f]..self.data.offsets[f + 1]];
            let (values, missing) = hist.split_at(hist.len() - 1);
            let missing = missing[0];
            let mut acc = Stats::default();
            for (t, &bin) in values.iter().enumerate() {
                acc.add(bin);
                // With no missing rows here both directions are the same split: try one.
                let directions: &[bool] = if missing.n == 0 { &[false] } else { &[false, true] };
                for &missing_left in directions {
                    let mut left = acc;
                    if missing_left {
                        left.add(missing);
                    }
                    let right = leaf.sum.minus(left);
                    if left.n < p.min_data_in_leaf
                        || right.n < p.min_data_in_leaf
                        || left.n == 0
                        || right.n == 0
                        || left.h < p.min_sum_hessian
                        || right.h < p.min_sum_hessian
                    {
                        continue;
                    }
                    let gain = left.score(p.lambda_l2) + right.score(p.lambda_l2) - parent_score;
                    if gain > 0.0 && best.is_none_or(|b| gain > b.gain) {
                        // Unseen missing values follow the bigger side.
                        let default_left = if missing.n == 0 { left.n >= right.n } else { missing_left };
                        best = Some(Split { gain, feature: f, bin: t, default_left, left, right });
                    }
                }
            }
        }
        best
    }

    /// Moves the rows going left to the front, keeping the order within each side (so a fit
    /// does not depend on how a partition happens to shuffle). Returns how many went left.
    fn partition(&mut self, rows: &mut [u32], split: &Split) -> usize {
        let missing_bin = self.data.mappers[split.feature].missing_bin();
        self.scratch.clear();
        let mut n_left = 0;
        for i in 0..rows.len() {
            let r = rows[i];
            let b = self.data.row(r as usize)[split.feature] as usize;
            let go_left = if b == missing_bin { split.default_left } else { b <= split.bin };
            if go_left {
                rows[n_left] = r;
                n_left += 1;
            } else {
                self.scratch.push(r);
            }
        }
        rows[n_left..].copy_from_slice(&self.scratch);
        n_left
    }
}

/// `−G / (H + λ)`: the Newton step for a leaf.
fn leaf_output(s: Stats, lambda_l2: f64) -> f64 {
    let d = s.h + lambda_l2;
    if d > 0.0 { -s.g / d } else { 0.0 }
}
