"""Glint's intent model against LightGBM on exactly the same rows, features and split.

For each data directory: `glint features` exports the matrix (the time split is in its `split`
column); `glint eval --train-on sessions --predictions` gives Glint's test-set scores (GBDT and
logistic, each with Glint's seeded search on the latest 20 % of the training rows; whole
sessions only, the rows LightGBM gets, not the mid-session states `glint train` adds by default). LightGBM then gets the same
search — the same 16 candidates in the same order, the same validation rows (the latest 20 % of
the training sessions by start, ties by session id then shopper), the same early stopping
(50 rounds, at most 1000), chosen by validation log loss — and is scored on the same test rows.
The AUC difference (Glint − LightGBM) gets a paired bootstrap 95 % interval over test sessions.

    python intent_vs_lightgbm.py GLINT WORKDIR DATASET...   (each WORKDIR/DATASET is a data dir)
"""

import csv
import json
import subprocess
import sys

import lightgbm as lgb
import numpy as np
from sklearn.metrics import average_precision_score, log_loss, roc_auc_score

from glint_search import GRID, PATIENCE, ROUNDS, n_valid

META = ["session", "shopper", "start", "label", "split"]
BOOTSTRAP = 2000
SEED = 7


def load(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    names = [c for c in rows[0].keys() if c not in META]
    # Glint's order: start, then session id, then shopper.
    rows.sort(key=lambda r: (r["start"], r["session"], r["shopper"]))
    x = np.array([[float(r[c]) for c in names] for r in rows])
    y = np.array([int(r["label"]) for r in rows])
    split = np.array([r["split"] for r in rows])
    keys = [(r["session"], r["shopper"]) for r in rows]
    return x, y, split, keys


def lightgbm_search(x, y):
    k = n_valid(len(y))
    fx, fy, vx, vy = x[:-k], y[:-k], x[-k:], y[-k:]
    best = None
    for params in GRID:
        p = dict(objective="binary", max_bin=255, min_sum_hessian_in_leaf=1e-3, verbose=-1, seed=SEED, deterministic=True, num_threads=1, **params)
        booster = lgb.train(p, lgb.Dataset(fx, fy), num_boost_round=ROUNDS, valid_sets=[lgb.Dataset(vx, vy)], callbacks=[lgb.early_stopping(PATIENCE, verbose=False)])
        loss = log_loss(vy, booster.predict(vx, num_iteration=booster.best_iteration), labels=[0, 1])
        if best is None or loss < best[0]:
            best = (loss, params, booster)
    return best


def glint_predictions(glint, data, algo, out):
    res = subprocess.run([glint, "eval", "--data", data, "--split-time-fraction", "0.8", "--algo", algo, "--train-on", "sessions", "--json", "--predictions", out], check=True, capture_output=True, text=True)
    with open(out, newline="") as f:
        preds = {(r["session"], r["shopper"]): float(r["p"]) for r in csv.DictReader(f)}
    return json.loads(res.stdout), preds


def main():
    glint, work, datasets = sys.argv[1], sys.argv[2], sys.argv[3:]
    rng = np.random.default_rng(SEED)
    print("| data | test sessions (positive) | learner | AUC | PR-AUC | log loss |")
    print("|---|---:|---|---:|---:|---:|")
    diffs = []
    for name in datasets:
        data = f"{work}/{name}"
        features = f"{work}/{name}-features.csv"
        subprocess.run([glint, "features", "--data", data, "--out", features], check=True, capture_output=True)
        x, y, split, keys = load(features)
        train, test = split == "train", split == "test"
        ty = y[test]
        scores = {}
        for algo in ("gbdt", "logistic"):
            summary, preds = glint_predictions(glint, data, algo, f"{work}/{name}-{algo}.csv")
            scores[f"Glint {algo}"] = np.array([preds[k] for k, t in zip(keys, test) if t])
        loss, params, booster = lightgbm_search(x[train], y[train])
        scores["LightGBM"] = booster.predict(x[test], num_iteration=booster.best_iteration)
        for learner, p in scores.items():
            print(f"| {name} | {test.sum():,} ({ty.sum()}) | {learner} | {roc_auc_score(ty, p):.4f} | {average_precision_score(ty, p):.4f} | {log_loss(ty, np.clip(p, 1e-15, 1 - 1e-15), labels=[0, 1]):.4f} |")
        # Paired bootstrap of the AUC difference over test sessions.
        g, l = scores["Glint gbdt"], scores["LightGBM"]
        point = roc_auc_score(ty, g) - roc_auc_score(ty, l)
        boot = []
        idx = np.arange(len(ty))
        while len(boot) < BOOTSTRAP:
            s = rng.choice(idx, size=len(idx), replace=True)
            if ty[s].min() == ty[s].max():
                continue
            boot.append(roc_auc_score(ty[s], g[s]) - roc_auc_score(ty[s], l[s]))
        low, high = np.percentile(boot, [2.5, 97.5])
        diffs.append((name, point, low, high, params, booster.best_iteration))
    print()
    print("| data | AUC difference, Glint GBDT − LightGBM | bootstrap 95 % interval | goal (upper end ≥ 0 and point within 0.01) | LightGBM's chosen candidate |")
    print("|---|---:|---|---|---|")
    for name, point, low, high, params, rounds in diffs:
        met = "met" if high >= 0 and point >= -0.01 else "not met"
        print(f"| {name} | {point:+.4f} | [{low:+.4f}, {high:+.4f}] | {met} | {params}, {rounds} rounds |")


if __name__ == "__main__":
    main()
