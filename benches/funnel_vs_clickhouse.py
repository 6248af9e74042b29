#!/usr/bin/env python3
"""Funnel counts of `glint funnel` against ClickHouse's windowFunnel, on the same events.

A correctness comparison, not a timing one: for each data set it exports the stored events to
Parquet with `glint export`, asks ClickHouse in-process (PyPI `chdb`) for

    SELECT level, count() FROM (
      SELECT shopper AS u,
             windowFunnel(W[, 'strict_order'])(toDateTime(time), signal = 's1', ...) AS level
      FROM file('events.parquet', Parquet) WHERE shopper IS NOT NULL GROUP BY u)
    GROUP BY level

turns the level histogram into "shoppers reaching step k" (level >= k), and compares that,
step by step, with `glint funnel --json` for several step lists (2 to 12 steps, with repeated
signals), windows (60 s, 1 h, 1 d) and modes (ordered = windowFunnel's default mode, strict =
'strict_order'). Any difference prints both tables and makes the exit status 1.

The match-up is like-for-like: both read every event of every shopper at second resolution
(toDateTime floors the millisecond timestamps Glint stores; Glint floors the same way).

Data sets (built in --work unless --data names existing directories):
  rees46     ../shared/data/rees46_multicategory_2019-Oct_head.csv (second timestamps: ties)
  retention  ../shared/data/retentioneering_simple-onlineshop.csv, cart/payment_done mapped
  sim        `glint simulate --users 2000 --days 3 --seal` (read from column files)
  random     a seeded adversarial shop: few signals, many repeats, same-second and
             same-millisecond events, shoppers known only by an anonymous id

Usage:
  benches/funnel_vs_clickhouse.py --glint target/debug/glint [--work DIR] [--shared DIR]
                                  [--data DIR ...] [--quick] [--verbose]
Needs chdb and pyarrow: scripts/setup-test-deps installs them into benches/.venv.
"""

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import chdb
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
WINDOWS = [60, 3600, 86400]
MODES = ["ordered", "strict"]

# Funnels that mean something on each known data set (used when all their signals occur).
NAMED = [
    ["product_viewed", "product_added", "order_completed"],
    ["product_viewed", "cart_viewed", "order_completed"],
    ["catalog", "product1", "cart_viewed", "delivery_choice", "payment_choice", "order_completed"],
    ["main", "catalog", "product2", "cart_viewed", "delivery_choice", "delivery_courier", "payment_choice", "payment_card", "order_completed"],
    ["page_viewed", "product_viewed", "product_added", "checkout_started", "payment_info_entered", "order_completed"],
    ["product_list_viewed", "product_clicked", "product_viewed", "reviews_viewed", "product_added", "cart_viewed", "checkout_started", "checkout_step_completed", "payment_info_entered", "order_completed", "points_earned", "page_viewed"],
]


def run(cmd, **kw):
    out = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    if out.returncode != 0:
        sys.exit(f"command failed ({out.returncode}): {' '.join(map(str, cmd))}\n{out.stderr}{out.stdout}")
    return out.stdout


def random_shop(path, seed=7, shoppers=400):
    """Segment JSON lines built to hit windowFunnel's corner cases."""
    rng = random.Random(seed)
    signals = ["ev_a", "ev_b", "ev_c", "ev_d", "ev_e", "ev_noise"]
    weights = [5, 4, 3, 2, 1, 3]
    # Gaps in ms: equal timestamps, same second, next second, and beyond 60 s / 1 h / 1 d.
    gaps = [0, 0, 150, 400, 999, 1000, 1500, 5000, 59_000, 60_000, 61_000, 600_000, 3_599_000, 3_600_000, 3_601_000, 40_000_000, 86_400_000, 90_000_000]
    base = 1_767_571_200_000  # 2026-01-05T00:00:00Z
    lines = []
    for u in range(shoppers):
        t = base + rng.randrange(0, 86_400_000)
        ident = {"userId": f"u{u}"} if u % 5 else {"anonymousId": f"anon{u}"}
        for i in range(rng.randrange(1, 40)):
            t += rng.choice(gaps)
            ts = f"{t // 1000}.{t % 1000:03d}"
            lines.append({"type": "track", "event": rng.choices(signals, weights)[0], "timestamp": _iso(t), "messageId": f"r{u}-{i}-{ts}", **ident})
    rng.shuffle(lines)  # Arrival order must not matter.
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def _iso(ms):
    import datetime

    d = datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def build(glint, work, shared):
    """Import the shared samples, simulate, and build the random shop; return data dirs."""
    dirs = []
    rees = shared / "rees46_multicategory_2019-Oct_head.csv"
    retention = shared / "retentioneering_simple-onlineshop.csv"
    if rees.exists() and retention.exists():
        run([glint, "import", "--data", work / "rees46", "--format", "rees46", rees])
        run([glint, "import", "--data", work / "retention", "--format", "clickstream", "--map", "cart=cart_viewed,payment_done=order_completed", retention])
        dirs += [work / "rees46", work / "retention"]
    else:
        print(f"note: shared data not found in {shared}; comparing on simulated data only", file=sys.stderr)
    # Sealed, so this data set is read from column files (the others from rows).
    run([glint, "simulate", "--users", "2000", "--days", "3", "--data", work / "sim", "--seal"])
    random_shop(work / "random.jsonl")
    run([glint, "import", "--data", work / "random", "--format", "segment-jsonl", work / "random.jsonl"])
    return dirs + [work / "sim", work / "random"]


def check_schema(parquet):
    """The columns the query reads, with the types it assumes."""
    schema = pq.read_schema(parquet)
    want = {"shopper": "string", "time": "timestamp[ms, tz=UTC]", "signal": "string"}
    got = {name: str(schema.field(name).type) for name in want if name in schema.names}
    if got != want:
        sys.exit(f"{parquet}: expected columns {want}, found {got}")


def step_lists(parquet, quick):
    """Named funnels whose signals occur, plus generic ones over the commonest signals:
    2 to 12 steps, with repeated signals."""
    rows = chdb.query(f"SELECT signal, count() AS n FROM file('{parquet}', Parquet) WHERE shopper IS NOT NULL GROUP BY signal ORDER BY n DESC, signal", "JSONCompact")
    top = [r[0] for r in json.loads(rows.bytes())["data"]]
    present = set(top)
    lists = [f for f in NAMED if set(f) <= present]
    s = top + top[:1] * 5  # Pad so tiny data sets still give every shape.
    generic = [
        [s[0], s[1]],
        [s[1], s[0]],
        [s[0], s[0]],
        [s[0], s[1], s[0]],
        [s[0], s[1], s[2], s[3]],
        [s[2], s[1], s[1], s[0]],
        [s[0], s[1], s[2], s[0], s[1], s[2], s[3], s[0], s[1], s[2], s[3], s[4]],
    ]
    for g in generic:
        if g not in lists:
            lists.append(g)
    return lists[:4] if quick else lists


def clickhouse(parquet, steps, window, mode):
    conds = ", ".join("signal = '" + s.replace("'", "''") + "'" for s in steps)
    opt = ", 'strict_order'" if mode == "strict" else ""
    sql = (
        f"SELECT level, count() FROM (SELECT shopper AS u, windowFunnel({window}{opt})(toDateTime(time), {conds}) AS level "
        f"FROM file('{parquet}', Parquet) WHERE shopper IS NOT NULL GROUP BY u) GROUP BY level ORDER BY level"
    )
    levels = {int(level): int(n) for level, n in json.loads(chdb.query(sql, "JSONCompact").bytes())["data"]}
    return [sum(n for level, n in levels.items() if level >= k) for k in range(1, len(steps) + 1)]


def glint_funnel(glint, data, steps, window, mode):
    out = run([glint, "funnel", "--data", data, "--steps", ",".join(steps), "--window", f"{window}s", "--mode", mode, "--json"])
    return [s["users"] for s in json.loads(out)["steps"]]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--glint", default=str(ROOT / "target/debug/glint"), help="the glint binary")
    ap.add_argument("--data", action="append", default=[], help="compare on this data dir (repeatable) instead of building data sets")
    ap.add_argument("--work", help="where to build data sets and exports [default: a temporary dir, removed]")
    ap.add_argument("--shared", default=str(ROOT.parent / "shared/data"), help="the shared real data samples")
    ap.add_argument("--quick", action="store_true", help="fewer step lists")
    ap.add_argument("--verbose", action="store_true", help="print every comparison, not only mismatches")
    a = ap.parse_args()

    work = Path(a.work) if a.work else Path(tempfile.mkdtemp(prefix="glint-funnel-ch-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        dirs = [Path(d) for d in a.data] or build(a.glint, work, Path(a.shared))
        failures = compared = 0
        for data in dirs:
            parquet = work / f"{data.name}.parquet"
            run([a.glint, "export", "--data", data, "--out", parquet])
            check_schema(parquet)
            lists = step_lists(parquet, a.quick)
            shoppers = 0
            for steps in lists:
                for window in WINDOWS:
                    for mode in MODES:
                        ch = clickhouse(parquet, steps, window, mode)
                        gl = glint_funnel(a.glint, data, steps, window, mode)
                        compared += 1
                        shoppers = max(shoppers, ch[0])
                        if a.verbose and ch == gl:
                            print(f"same {data.name} {mode} {window}s {','.join(steps)}: {' '.join(map(str, ch))}")
                        if ch != gl:
                            failures += 1
                            print(f"MISMATCH {data.name} mode={mode} window={window}s steps={','.join(steps)}")
                            print(f"  {'step':<28} {'clickhouse':>10} {'glint':>10}")
                            for s, c, g in zip(steps, ch, gl):
                                mark = "" if c == g else "  <--"
                                print(f"  {s:<28} {c:>10} {g:>10}{mark}")
            print(f"{data.name}: {len(lists)} step lists x {len(WINDOWS)} windows x {len(MODES)} modes; up to {shoppers} shoppers at step 1")
        print(f"{compared} funnels compared, {failures} mismatches (chdb {chdb.__version__}, ClickHouse {chdb.query('SELECT version()', 'CSV').bytes().decode().strip()})")
        return 1 if failures else 0
    finally:
        if not a.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
