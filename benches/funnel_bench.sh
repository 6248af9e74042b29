#!/usr/bin/env bash
# Time a 4-step ordered funnel (1 h window) on 10M and 100M simulated events: `glint funnel`
# against ClickHouse's windowFunnel (PyPI chdb) and DuckDB SQL of the same semantics (PyPI
# duckdb), 2 threads each, warm cache, median of 5; checks the answers agree and reports peak
# memory. Installs chdb, duckdb and pyarrow into benches/.venv (scripts/setup-test-deps) and
# builds the release glint unless GLINT names a binary. Timed parts take /tmp/glint-bench.lock
# (flock), so benchmarks of other checkouts on the same machine do not overlap them.
#
# Usage: benches/funnel_bench.sh [--work DIR] [--sizes 10m,100m] [--runs 5] [--threads 2]
#        (see benches/funnel_bench.py --help; --work keeps the generated logs and Parquet)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup-test-deps"
glint="${GLINT:-}"
if [[ -z "$glint" ]]; then
  (cd "$root" && cargo build --quiet --release -p glint)
  glint="$root/target/release/glint"
fi
exec "$root/benches/.venv/bin/python" "$root/benches/funnel_bench.py" --glint "$glint" "$@"
