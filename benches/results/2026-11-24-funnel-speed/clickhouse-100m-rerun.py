# Re-run only the ClickHouse (chdb) peer of benches/funnel_bench.py at 100M: the full run's
# report parser failed on the peers' extra output and lost ClickHouse's details.
import json, subprocess, sys
sys.path.insert(0, ".")
import funnel_bench as fb
parquet = "/tmp/fbench/sim-100m.parquet"
quoted = ", ".join(f"'{s}'" for s in fb.STEPS)
conds = ", ".join(f"signal = '{s}'" for s in fb.STEPS)
sql = fb.CLICKHOUSE_SQL.format(window=fb.WINDOW_S, conds=conds, parquet=parquet, signals=quoted, threads=2)
out = subprocess.run([sys.executable, "-c", fb.PEER, "clickhouse", sql, "5", "2"], capture_output=True, text=True)
print(out.stdout[-3000:])
print(out.stderr[-3000:], file=sys.stderr)
