"""Glint's learner alone against LightGBM on the UCI Online Shoppers Purchasing Intention table.

The table (12,330 sessions, label `Revenue`) is read as is; `Month`, `VisitorType` and the
integer-coded `OperatingSystems`, `Browser`, `Region` and `TrafficType` are one-hot encoded (one
0/1 column per level seen in the file, no level dropped); `Weekend` and `Revenue` become 0/1; the
ten numeric columns are kept as they are. The same five folds serve both learners:
`StratifiedKFold(n_splits=5, shuffle=True, random_state=42)`.

For each fold one CSV holds every row in the file's order with a `split` column (train/test), so
the training rows stay in file order and Glint's validation split — the last 20 % of its
training rows — is exactly the rows LightGBM validates on. Glint: `glint eval --features-csv …
--label-column Revenue --json --predictions …` (GBDT, then `--algo logistic` for reference),
timed end to end, with its own `train_seconds`; `glint train --features-csv` once more, untimed,
to record which candidate its search chose. LightGBM: the same search — the 16 candidates of
crates/glint-intent/src/model/search.rs in the same order, fitted on the same rows, early
stopping after 50 rounds without improvement of the validation log loss (at most 1000 rounds),
the winner the candidate with the lowest validation log loss, no refit — with `num_threads=2`
and once more with `num_threads=1`, its training time the whole search (datasets, fits,
validation predictions) by `time.perf_counter` (and its CPU time by `time.process_time`). Both
are scored by `sklearn.metrics.roc_auc_score` on the test fold. The load average before and after
is printed: OpenMP's spinning threads make LightGBM's 2-thread time balloon whenever another
process wants a core, and the 1-thread time is the one to trust then.

    python learner_vs_lightgbm.py GLINT DATA.csv WORKDIR COMMAND
"""

import csv
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import time

import lightgbm as lgb
import numpy as np
import sklearn
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold

from glint_search import GRID, PATIENCE, ROUNDS, VALID_FRACTION, n_valid

LABEL = "Revenue"
ONE_HOT = ["Month", "OperatingSystems", "Browser", "Region", "TrafficType", "VisitorType"]
BOOLEAN = ["Weekend"]
FOLDS = 5
FOLD_SEED = 42
GOAL = 0.005
SEED = 7
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "June", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def boolean(cell):
    v = cell.strip().lower()
    if v in ("true", "1"):
        return 1
    if v in ("false", "0"):
        return 0
    raise ValueError(f"{cell!r} is not a boolean")


def level_key(column, level):
    if column == "Month":
        return MONTHS.index(level)
    return int(level) if level.isdigit() else level


def load(path):
    """The table as (names, X, y) with the categoricals one-hot, rows in file order."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    header = list(rows[0].keys())
    numeric = [c for c in header if c not in ONE_HOT + BOOLEAN + [LABEL]]
    levels = {c: sorted({r[c] for r in rows}, key=lambda v: level_key(c, v)) for c in ONE_HOT}
    names = numeric + BOOLEAN + [f"{c}_{v}" for c in ONE_HOT for v in levels[c]]
    x = np.empty((len(rows), len(names)))
    for i, r in enumerate(rows):
        values = [float(r[c]) for c in numeric] + [boolean(r[c]) for c in BOOLEAN]
        for c in ONE_HOT:
            values.extend(1.0 if r[c] == v else 0.0 for v in levels[c])
        x[i] = values
    y = np.array([boolean(r[LABEL]) for r in rows])
    return names, numeric, levels, x, y


def write_fold(path, names, x, y, test):
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(names + [LABEL, "split"])
        for row, label, t in zip(x, y, test):
            # repr round-trips: Glint parses exactly the float64 LightGBM gets.
            w.writerow([repr(float(v)) if not float(v).is_integer() else str(int(v)) for v in row] + [int(label), "test" if t else "train"])


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def glint_eval(glint, table, algo, predictions):
    cpu, started = children_cpu(), time.perf_counter()
    res = subprocess.run([glint, "eval", "--features-csv", table, "--label-column", LABEL, "--algo", algo, "--json", "--predictions", predictions], check=True, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - started, children_cpu() - cpu
    summary = json.loads(res.stdout)
    with open(predictions, newline="") as f:
        preds = list(csv.DictReader(f))
    p = np.array([float(r["p"]) for r in preds])
    labels = np.array([int(r["label"]) for r in preds])
    return summary, labels, p, wall, cpu


def glint_search(glint, table, model):
    """Glint's search once more (untimed): the chosen candidate and its trees."""
    res = subprocess.run([glint, "train", "--features-csv", table, "--label", LABEL, "--out", model, "--json"], check=True, capture_output=True, text=True)
    summary = json.loads(res.stdout)
    with open(model) as f:
        file = json.load(f)
    return summary, file


def lightgbm_search(x, y, threads):
    k = n_valid(len(y))
    fx, fy, vx, vy = x[:-k], y[:-k], x[-k:], y[-k:]
    best, trials = None, []
    for i, params in enumerate(GRID):
        p = dict(objective="binary", max_bin=255, min_sum_hessian_in_leaf=1e-3, verbose=-1, seed=SEED, deterministic=True, num_threads=threads, **params)
        booster = lgb.train(p, lgb.Dataset(fx, fy), num_boost_round=ROUNDS, valid_sets=[lgb.Dataset(vx, vy)], callbacks=[lgb.early_stopping(PATIENCE, verbose=False)])
        loss = log_loss(vy, booster.predict(vx, num_iteration=booster.best_iteration), labels=[0, 1])
        trials.append(loss)
        if best is None or loss < best[0]:
            best = (loss, i, booster)
    return best, trials, k


def describe(params):
    return f"lr {params['learning_rate']:g}, {params['num_leaves']} leaves, min_data {params['min_data_in_leaf']}, λ {params['lambda_l2']:g}"


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main():
    glint, data, work, command = sys.argv[1:5]
    names, numeric, levels, x, y = load(data)
    glint_version = subprocess.run([glint, "--version"], check=True, capture_output=True, text=True).stdout.strip()
    commit = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True).stdout.strip() or "unknown"
    built = datetime.datetime.fromtimestamp(os.path.getmtime(glint), datetime.timezone.utc)

    print("## The learner alone: Glint vs LightGBM on Online Shoppers Purchasing Intention (5 folds)")
    print()
    print(f"- Command: `{command}`")
    print(f"- Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"- Machine: {os.cpu_count()} CPUs (nproc), {cpu_model()}, {platform.system()} {platform.release()}")
    print(f"- Versions: {glint_version} (`{glint}`, built {built:%Y-%m-%d %H:%M} UTC; working tree at {commit}), LightGBM {lgb.__version__}, scikit-learn {sklearn.__version__}, NumPy {np.__version__}, Python {platform.python_version()}")
    print(f"- Data: `{os.path.basename(data)}`, {len(y):,} sessions, {int(y.sum()):,} with `Revenue` ({y.mean():.2%}); {len(names)} features: "
          f"the {len(numeric)} numeric columns as they are, `Weekend` as 0/1, and one-hot (one 0/1 column per level, none dropped) "
          + ", ".join(f"`{c}` ({len(levels[c])})" for c in ONE_HOT) + ".")
    print(f"- Folds: `StratifiedKFold(n_splits={FOLDS}, shuffle=True, random_state={FOLD_SEED})`, the same for both learners. Each fold's training rows stay in file order; "
          f"both searches validate on the last {VALID_FRACTION:.0%} of them and fit on the rest.")
    print("- Search, both learners: learning_rate {0.05, 0.1} × num_leaves {15, 31} × min_data_in_leaf {20, 50} × lambda_l2 {0, 1}, "
          f"max_bin 255, min_sum_hessian 1e-3, no bagging or feature sampling, early stopping after {PATIENCE} rounds (at most {ROUNDS}), "
          "the lowest validation log loss wins, no refit. LightGBM: `deterministic=True`, `num_threads=2` (and again with 1 for the timing), "
          f"`OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}`.")
    print("- Training time: LightGBM, the whole 16-candidate search (`time.perf_counter`; CPU seconds by `time.process_time`); Glint, its own `train_seconds` "
          "(the search, stage thresholds and drift reference), and the whole `glint eval` process (reading the CSV, training, scoring, writing predictions) "
          "with its CPU seconds (`getrusage`).")
    print()

    load_before = os.getloadavg()
    folds = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=FOLD_SEED)
    results = []
    for fold, (train_idx, test_idx) in enumerate(folds.split(x, y), start=1):
        assert np.all(np.diff(train_idx) > 0), "training rows must stay in file order"
        test = np.zeros(len(y), dtype=bool)
        test[test_idx] = True
        table = f"{work}/fold{fold}.csv"
        write_fold(table, names, x, y, test)
        ty = y[test_idx]
        r = dict(fold=fold, train=len(train_idx), train_pos=int(y[train_idx].sum()), test=len(test_idx), test_pos=int(ty.sum()))
        for algo in ("gbdt", "logistic"):
            summary, labels, p, wall, cpu = glint_eval(glint, table, algo, f"{work}/fold{fold}-{algo}.csv")
            assert np.array_equal(labels, ty), f"fold {fold}: Glint's test rows are not the fold's"
            auc = roc_auc_score(ty, p)
            assert abs(summary["auc"] - auc) <= 1e-9, f"fold {fold} {algo}: Glint's AUC {summary['auc']} vs scikit-learn's {auc}"
            assert summary["train_rows"] == len(train_idx)
            r[algo] = dict(auc=auc, train_seconds=summary["train_seconds"], wall=wall, cpu=cpu)
        gsum, gfile = glint_search(glint, table, f"{work}/fold{fold}-gbdt.json")
        chosen = gfile["training"]["trials"][gsum["chosen"]]
        r["glint_chosen"] = (gsum["chosen"], chosen["params"], len(gfile["gbdt"]["trees"]), chosen["valid_log_loss"])
        r["glint_trials"] = [t["valid_log_loss"] for t in gfile["training"]["trials"]]
        for threads, key in ((2, "lightgbm"), (1, "lightgbm1")):
            cpu, started = time.process_time(), time.perf_counter()
            (loss, best, booster), trials, k = lightgbm_search(x[train_idx], y[train_idx], threads)
            r[key] = dict(train_seconds=time.perf_counter() - started, cpu=time.process_time() - cpu)
            r[key]["auc"] = roc_auc_score(ty, booster.predict(x[test_idx], num_iteration=booster.best_iteration))
            if threads == 2:
                chosen2 = (best, GRID[best], booster.best_iteration, loss, trials, k)
        best, params, rounds, loss, trials, k = chosen2
        r["lgb_chosen"] = (best, params, rounds, loss)
        r["lgb_trials"] = trials
        r["valid"], r["valid_pos"] = k, int(y[train_idx][-k:].sum())
        results.append(r)
        print(f"fold {fold}: Glint GBDT {r['gbdt']['auc']:.4f}, LightGBM {r['lightgbm']['auc']:.4f}", file=sys.stderr)

    load_after = os.getloadavg()
    mean = lambda key, field: float(np.mean([r[key][field] for r in results]))
    total = lambda key, field: float(np.sum([r[key][field] for r in results]))
    diffs = np.array([r["gbdt"]["auc"] - r["lightgbm"]["auc"] for r in results])
    print("Test AUC per fold:")
    print()
    print("| fold | train rows (positive) | test rows (positive) | Glint GBDT | LightGBM | Glint − LightGBM | Glint logistic |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        g, l, lo = r["gbdt"], r["lightgbm"], r["logistic"]
        print(f"| {r['fold']} | {r['train']:,} ({r['train_pos']:,}) | {r['test']:,} ({r['test_pos']:,}) | {g['auc']:.4f} | {l['auc']:.4f} | {g['auc'] - l['auc']:+.4f} | {lo['auc']:.4f} |")
    print(f"| **mean** | | | **{mean('gbdt', 'auc'):.4f}** | **{mean('lightgbm', 'auc'):.4f}** | **{diffs.mean():+.4f}** | {mean('logistic', 'auc'):.4f} |")
    print()
    d = diffs.mean()
    if abs(d) <= GOAL:
        verdict = f"**met**: |{d:+.4f}| ≤ {GOAL}"
    elif d > 0:
        verdict = f"**met**: Glint is better by {d:.4f}"
    else:
        verdict = f"**not met**: Glint is {-d:.4f} behind, more than {GOAL}"
    same = max(abs(r["lightgbm1"]["auc"] - r["lightgbm"]["auc"]) for r in results)
    print(f"Goal (issue 4): mean AUC of Glint's GBDT within {GOAL} of LightGBM's (or better) — {verdict}. "
          f"Per fold the difference ranges {diffs.min():+.4f} … {diffs.max():+.4f} (standard deviation {diffs.std(ddof=1):.4f}). "
          f"LightGBM with 1 thread: mean AUC {mean('lightgbm1', 'auc'):.4f} (largest difference from 2 threads {same:.1e}).")
    print()
    print(f"Training time per fold, seconds, wall (CPU) — load average {load_before[0]:.2f} before, {load_after[0]:.2f} after (1-minute):")
    print()
    print("| fold | Glint GBDT `train_seconds` | Glint GBDT, whole `glint eval` | LightGBM search, 2 threads | LightGBM search, 1 thread | Glint logistic `train_seconds` |")
    print("|---:|---:|---:|---:|---:|---:|")
    row = lambda r: (f"{r['gbdt']['train_seconds']:.2f} | {r['gbdt']['wall']:.2f} ({r['gbdt']['cpu']:.2f}) | {r['lightgbm']['train_seconds']:.2f} ({r['lightgbm']['cpu']:.2f}) | "
                     f"{r['lightgbm1']['train_seconds']:.2f} ({r['lightgbm1']['cpu']:.2f}) | {r['logistic']['train_seconds']:.2f}")
    for r in results:
        print(f"| {r['fold']} | {row(r)} |")
    m = {k: {f: mean(k, f) for f in results[0][k] if f != "auc"} for k in ("gbdt", "lightgbm", "lightgbm1", "logistic")}
    print(f"| **mean** | {row(m)} |")
    print()
    print(f"All five folds: Glint GBDT {total('gbdt', 'train_seconds'):.1f} s, LightGBM {total('lightgbm', 'train_seconds'):.1f} s with 2 threads, "
          f"{total('lightgbm1', 'train_seconds'):.1f} s with 1.")
    print()
    print("What each search chose (validation: the last 20 % of the fold's training rows):")
    print()
    print("| fold | validation rows (positive) | Glint's winner | its trees | its validation log loss | LightGBM's winner | its rounds | its validation log loss |")
    print("|---:|---:|---|---:|---:|---|---:|---:|")
    for r in results:
        gi, gp, gtrees, gloss = r["glint_chosen"]
        li, lp, lrounds, lloss = r["lgb_chosen"]
        print(f"| {r['fold']} | {r['valid']:,} ({r['valid_pos']:,}) | #{gi + 1}: {describe(gp)} | {gtrees} | {gloss:.5f} | #{li + 1}: {describe(lp)} | {lrounds} | {lloss:.5f} |")
    g = np.array([r["glint_trials"] for r in results])
    l = np.array([r["lgb_trials"] for r in results])
    print()
    print(f"Every candidate on every fold ({g.size} fits a side), the same rows and hyperparameters: validation log loss Glint − LightGBM "
          f"mean {np.mean(g - l):+.5f}, mean absolute {np.mean(np.abs(g - l)):.5f}, range {np.min(g - l):+.5f} … {np.max(g - l):+.5f}; "
          f"Glint lower in {int(np.sum(g < l))} of {g.size}.")


if __name__ == "__main__":
    main()
