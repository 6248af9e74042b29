#!/usr/bin/env bash
# Glint's intent model against LightGBM on the same features and the same time split, on the
# real samples in ../shared/data (REES46, and retentioneering with payment_done as the purchase).
# Installs what it needs (a venv with lightgbm and scikit-learn under target/), builds Glint in
# release, then runs benches/intent_vs_lightgbm.py, which prints the Markdown for BENCHMARKS.md.
#
#   benches/intent_vs_lightgbm.sh            # results to stdout and benches/results/
set -euo pipefail
cd "$(dirname "$0")/.."
shared="${GLINT_SHARED_DATA:-../shared/data}"
[ -d "$shared" ] || { echo "no shared data at $shared" >&2; exit 1; }
python="$(benches/lightgbm-venv)"
cargo build --release --quiet
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
glint=target/release/glint
"$glint" import --data "$work/rees46" --format rees46 "$shared/rees46_multicategory_2019-Oct_head.csv" > /dev/null
"$glint" import --data "$work/retention" --format clickstream --map cart=cart_viewed,payment_done=order_completed \
  "$shared/retentioneering_simple-onlineshop.csv" > /dev/null
mkdir -p benches/results
"$python" benches/intent_vs_lightgbm.py "$glint" "$work" rees46 retention | tee benches/results/intent-vs-lightgbm.md
