#!/usr/bin/env bash
# Compare `glint funnel` with ClickHouse's windowFunnel (PyPI chdb) on the shared samples, a
# simulated shop and a seeded adversarial one; exits non-zero on any difference.
# Installs chdb and pyarrow into benches/.venv (scripts/setup-test-deps) and builds the debug
# glint unless GLINT names a binary. Other arguments go to funnel_vs_clickhouse.py
# (--work DIR keeps the data sets and Parquet exports; --data DIR compares on your own data).
#
# Usage: benches/funnel_vs_clickhouse.sh [--work DIR] [--data DIR ...] [--quick]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup-test-deps"
glint="${GLINT:-}"
if [[ -z "$glint" ]]; then
  (cd "$root" && cargo build --quiet -p glint)
  glint="$root/target/debug/glint"
fi
exec "$root/benches/.venv/bin/python" "$root/benches/funnel_vs_clickhouse.py" --glint "$glint" "$@"
