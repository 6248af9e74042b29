"""Glint's hyperparameter search, as the LightGBM comparisons mirror it: one copy, so a change to
`crates/glint-intent/src/model/search.rs` is mirrored in one place."""

import math

# `gbdt_grid`, in its order: no row or feature sampling, so nothing seeded needs mirroring.
GRID = [
    dict(learning_rate=lr, num_leaves=nl, min_data_in_leaf=md, lambda_l2=l2)
    for lr in (0.05, 0.1)
    for nl in (15, 31)
    for md in (20, 50)
    for l2 in (0.0, 1.0)
]
VALID_FRACTION = 0.2  # search::VALID_FRACTION
ROUNDS = 1000  # search::GRID_NUM_ROUNDS
PATIENCE = 50  # search::GRID_EARLY_STOPPING_ROUNDS


def n_valid(n):
    """Rows the search validates on, the latest of `n`: Rust's f64::round, half away from zero."""
    return int(math.floor(VALID_FRACTION * n + 0.5))
