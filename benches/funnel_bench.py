#!/usr/bin/env python3
"""Funnel speed: `glint funnel` against ClickHouse's windowFunnel (chdb) and DuckDB SQL.

The question, for every engine: a 4-step ordered funnel with a 1 h window,

    product_viewed -> product_added -> checkout_started -> order_completed

over simulated shop traffic, answered as "shoppers reaching step k" (k = 1..4) with
ClickHouse's `windowFunnel(3600)` semantics at second resolution.

Data: `glint simulate --users U --days 7 --data DIR --seal` writes the events straight into a
Glint log (210,000 shoppers give ~10M events, 2,100,000 ~100M); `glint export` writes the same
events as Parquet for the peers (1M-row groups, zstd). Each engine reads its own native form:
Glint its log (column files), the peers the Parquet file.

Engines, 2 threads each, warm cache (one untimed run first), median of --runs timed runs:

- Glint: `glint funnel --data DIR --steps ... --window 1h --threads 2 --json`, one process per
  run, timed end to end (process start, log open, scan, JSON out): the conservative figure.
- ClickHouse (chdb, in-process, warm session): windowFunnel over the Parquet file, with
  `max_threads=2`; the query filters to the four step signals first (windowFunnel ignores other
  events in its default mode, so the answer is the same and ClickHouse does less work).
- DuckDB (in-process, warm connection, `SET threads=2`): the fairest SQL found for the same
  semantics, `DUCKDB_SQL` below. For a fixed step-1 event, taking each later step at its
  earliest time not before the previous step's is optimal, so chains are ASOF joins: step 1's
  distinct (shopper, second) rows, each joined to the earliest step-2 second >= it, that to the
  earliest step-3 second >= the step-2 one, and so on; a start reaches step k when step k's
  second is within 3600 s of the start; a shopper's level is the best over their starts. With
  four distinct signals this equals windowFunnel exactly (checked against ClickHouse each run).

The peers run in child Python processes so that each one's peak resident memory
(ru_maxrss of its process: the interpreter and library are included, and reported apart as the
baseline) is its own; Glint's is its process's peak. The in-process peers pay no process
start-up in their timings, Glint does: the match-up is uneven in the peers' favour there.

Timed parts hold /tmp/glint-bench.lock (flock) so other benchmarks on the machine do not
overlap them. Results: a Markdown table on stdout and raw JSON in --out.

Usage:
  benches/funnel_bench.py --glint target/release/glint [--work DIR] [--sizes 10m,100m]
                          [--runs 5] [--threads 2] [--out results.json]
"""

import argparse
import fcntl
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STEPS = ["product_viewed", "product_added", "checkout_started", "order_completed"]
WINDOW_S = 3600
SIZES = {"10m": 210_000, "100m": 2_100_000}  # shoppers for ~10M and ~100M events (7 days)
LOCK = "/tmp/glint-bench.lock"

CLICKHOUSE_SQL = """
SELECT level, count() FROM (
  SELECT shopper, windowFunnel({window})(toDateTime(time), {conds}) AS level
  FROM file('{parquet}', Parquet)
  WHERE shopper IS NOT NULL AND signal IN ({signals})
  GROUP BY shopper)
GROUP BY level ORDER BY level
SETTINGS max_threads = {threads}
"""

DUCKDB_SQL = """
WITH e AS (
  SELECT shopper, epoch_ms(time) // 1000 AS t,
         CASE signal WHEN '{s1}' THEN 1 WHEN '{s2}' THEN 2 WHEN '{s3}' THEN 3 ELSE 4 END AS step
  FROM read_parquet('{parquet}')
  WHERE shopper IS NOT NULL AND signal IN ('{s1}', '{s2}', '{s3}', '{s4}')
),
s1 AS (SELECT DISTINCT shopper, t FROM e WHERE step = 1),
s2 AS (SELECT DISTINCT shopper, t FROM e WHERE step = 2),
s3 AS (SELECT DISTINCT shopper, t FROM e WHERE step = 3),
s4 AS (SELECT DISTINCT shopper, t FROM e WHERE step = 4),
c2 AS (SELECT s1.shopper, s1.t AS t1, s2.t AS t2 FROM s1 ASOF LEFT JOIN s2 ON s1.shopper = s2.shopper AND s2.t >= s1.t),
c3 AS (SELECT c2.*, s3.t AS t3 FROM c2 ASOF LEFT JOIN s3 ON c2.shopper = s3.shopper AND s3.t >= c2.t2),
c4 AS (SELECT c3.*, s4.t AS t4 FROM c3 ASOF LEFT JOIN s4 ON c3.shopper = s4.shopper AND s4.t >= c3.t3),
levels AS (
  SELECT shopper, max(CASE WHEN t4 <= t1 + {window} THEN 4 WHEN t3 <= t1 + {window} THEN 3
                           WHEN t2 <= t1 + {window} THEN 2 ELSE 1 END) AS level
  FROM c4 GROUP BY shopper)
SELECT level, count(*) FROM levels GROUP BY level ORDER BY level
"""

# A child process per peer: import, warm up, time the runs, report JSON on stdout.
PEER = r"""
import json, resource, sys, time
engine, sql, runs, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if engine == "clickhouse":
    import chdb
    from chdb import session
    s = session.Session()
    def query():
        return [tuple(map(int, r)) for r in json.loads(s.query(sql, "JSONCompact").bytes())["data"]]
    version = s.query("SELECT version()", "CSV").bytes().decode().strip().strip('"')
else:
    import duckdb
    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    def query():
        return [tuple(map(int, r)) for r in con.execute(sql).fetchall()]
    version = duckdb.__version__
base = max(base, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
levels = query()  # warm-up: file in the page cache, session ready
times = []
for _ in range(runs):
    t = time.perf_counter()
    got = query()
    times.append(time.perf_counter() - t)
    assert got == levels, (got, levels)
print(json.dumps({"times": times, "levels": levels, "version": version, "baseline_rss_kb": base,
                  "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def run(cmd, **kw):
    out = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    if out.returncode != 0:
        sys.exit(f"command failed ({out.returncode}): {' '.join(map(str, cmd))}\n{out.stderr}{out.stdout}")
    return out


def users_per_step(levels, n):
    """A windowFunnel level histogram [(level, shoppers)] -> shoppers reaching step k."""
    return [sum(c for lvl, c in levels if lvl >= k) for k in range(1, n + 1)]


def timed_child(cmd):
    """Run cmd; return (seconds, its peak RSS in KB, stdout)."""
    t = time.perf_counter()
    p = subprocess.Popen([str(c) for c in cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(p.pid, 0)
    elapsed = time.perf_counter() - t
    out, err = p.stdout.read(), p.stderr.read()
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit(f"command failed ({p.returncode}): {' '.join(map(str, cmd))}\n{err}")
    return elapsed, usage.ru_maxrss, out


def prepare(glint, work, size, users):
    data = work / f"sim-{size}"
    parquet = work / f"sim-{size}.parquet"
    facts = {}
    if not (data / "log").is_dir():
        t = time.perf_counter()
        out = run([glint, "simulate", "--users", users, "--days", "7", "--data", data, "--seal"])
        facts["simulate_s"] = time.perf_counter() - t
        facts["simulate_note"] = out.stderr.strip().splitlines()[-1]
        print(f"  {facts['simulate_note']}", file=sys.stderr)
    if not parquet.exists():
        t = time.perf_counter()
        run([glint, "export", "--data", data, "--out", parquet])
        facts["export_s"] = time.perf_counter() - t
    stats = json.loads(run([glint, "stats", "--data", data, "--json"]).stdout) if size == "10m" else None
    log_bytes = sum(f.stat().st_size for f in (data / "log").iterdir())
    cols_bytes = sum(f.stat().st_size for f in (data / "log").iterdir() if f.suffix == ".cols")
    facts.update({"log_bytes": log_bytes, "column_bytes": cols_bytes, "parquet_bytes": parquet.stat().st_size})
    if stats:
        facts.update({"events": stats["events"], "shoppers": stats["users"]})
    return data, parquet, facts


def measure(glint, data, parquet, runs, threads):
    results = {}
    cmd = [glint, "funnel", "--data", data, "--steps", ",".join(STEPS), "--window", f"{WINDOW_S}s", "--threads", threads, "--json"]
    timed_child(cmd)  # warm-up
    times, peaks, answer = [], [], None
    for _ in range(runs):
        secs, peak, out = timed_child(cmd)
        times.append(secs)
        peaks.append(peak)
        got = [s["users"] for s in json.loads(out)["steps"]]
        assert answer is None or answer == got, (answer, got)
        answer = got
    results["glint"] = {"times": times, "users": answer, "peak_rss_kb": max(peaks)}
    print(f"  glint: median {statistics.median(times):.3f} s, times {times}, peak RSS {max(peaks)} kB, users {answer}", file=sys.stderr)

    quoted = ", ".join(f"'{s}'" for s in STEPS)
    conds = ", ".join(f"signal = '{s}'" for s in STEPS)
    ch_sql = CLICKHOUSE_SQL.format(window=WINDOW_S, conds=conds, parquet=parquet, signals=quoted, threads=threads)
    s1, s2, s3, s4 = STEPS
    dd_sql = DUCKDB_SQL.format(s1=s1, s2=s2, s3=s3, s4=s4, parquet=parquet, window=WINDOW_S)
    for engine, sql in [("clickhouse", ch_sql), ("duckdb", dd_sql)]:
        out = run([sys.executable, "-c", PEER, engine, sql, runs, threads]).stdout
        # The report is the last JSON object printed: a library may print before it, even on
        # the same line (DuckDB's progress bar does on long queries).
        at = out.rfind('{"times"')
        if at < 0:
            sys.exit(f"{engine}: no report in its output:\n{out[-2000:]}")
        r = json.loads(out[at:].splitlines()[0])
        r["users"] = users_per_step(r.pop("levels"), len(STEPS))
        r["sql"] = sql.strip()
        results[engine] = r
        print(f"  {engine}: median {statistics.median(r['times']):.3f} s", file=sys.stderr)
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--glint", required=True, help="the glint binary (release build)")
    ap.add_argument("--work", help="where to keep the logs and Parquet files [default: a temporary dir, removed]")
    ap.add_argument("--sizes", default="10m,100m", help="comma-separated: 10m, 100m")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", help="write the raw results as JSON here")
    a = ap.parse_args()
    work = Path(a.work) if a.work else Path(tempfile.mkdtemp(prefix="glint-funnel-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), platform.processor())
    report = {"machine": f"{os.cpu_count()} cores, {cpu}", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "steps": STEPS, "window_s": WINDOW_S, "threads": a.threads, "runs": a.runs, "sizes": {}}
    try:
        for size in a.sizes.split(","):
            print(f"{size}: preparing data in {work}", file=sys.stderr)
            data, parquet, facts = prepare(a.glint, work, size, SIZES[size])
            print(f"{size}: timing (waiting for {LOCK})", file=sys.stderr)
            with open(LOCK, "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                results = measure(a.glint, data, parquet, a.runs, a.threads)
            report["sizes"][size] = {"facts": facts, "results": results}
            print_table(size, facts, results)
    finally:
        if a.out:
            Path(a.out).write_text(json.dumps(report, indent=2) + "\n")
        if not a.work:
            shutil.rmtree(work, ignore_errors=True)
    bad = [(size, e) for size, r in report["sizes"].items() for e in ("clickhouse", "duckdb") if r["results"][e]["users"] != r["results"]["glint"]["users"]]
    if bad:
        print(f"ANSWERS DIFFER: {bad}", file=sys.stderr)
        return 1
    return 0


def print_table(size, facts, results):
    glint_median = statistics.median(results["glint"]["times"])
    print(f"\n{size}: {facts.get('events', '?')} events, {facts.get('shoppers', '?')} shoppers; log {facts['log_bytes'] / 1e6:.0f} MB "
          f"(column files {facts['column_bytes'] / 1e6:.0f} MB), Parquet {facts['parquet_bytes'] / 1e6:.0f} MB")
    print("| engine | median s | min s | max s | vs Glint | peak RSS MB | users per step | same as ClickHouse |")
    print("|---|---:|---:|---:|---:|---:|---|---|")
    for engine in ("glint", "clickhouse", "duckdb"):
        r = results[engine]
        med = statistics.median(r["times"])
        base = f" (baseline {r['baseline_rss_kb'] / 1024:.0f})" if "baseline_rss_kb" in r else ""
        same = "yes" if r["users"] == results["clickhouse"]["users"] else "NO"
        print(f"| {engine} | {med:.3f} | {min(r['times']):.3f} | {max(r['times']):.3f} | {med / glint_median:.1f}x | "
              f"{r['peak_rss_kb'] / 1024:.0f}{base} | {' '.join(map(str, r['users']))} | {same} |")
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
