#!/usr/bin/env bash
# Glint's learner alone against LightGBM on ../shared/data/online_shoppers_intention.csv (label
# `Revenue`, the categoricals one-hot), on the same 5 stratified, shuffled folds (seed 42), each
# learner with the same 16-candidate search; test AUC and training time of both, per fold and on
# average. Installs what it needs (a venv with lightgbm and scikit-learn under target/), builds
# Glint in release (or uses GLINT_BIN), then runs benches/learner_vs_lightgbm.py, which prints
# the Markdown for BENCHMARKS.md. The timed part holds /tmp/glint-bench.lock, so it never overlaps
# another benchmark on the machine.
#
#   benches/learner_vs_lightgbm.sh       # results to stdout and benches/results/2026-11-24-learner/
#   GLINT_SHARED_DATA=DIR                # where online_shoppers_intention.csv is (default ../shared/data)
#   GLINT_BIN=PATH                       # a glint binary to use instead of building target/release/glint
set -euo pipefail
cd "$(dirname "$0")/.."
shared="${GLINT_SHARED_DATA:-../shared/data}"
data="$shared/online_shoppers_intention.csv"
[ -f "$data" ] || { echo "learner_vs_lightgbm: no $data (the UCI Online Shoppers Purchasing Intention table; set GLINT_SHARED_DATA to its directory)" >&2; exit 1; }
python="$(benches/lightgbm-venv)"
glint="${GLINT_BIN:-}"
if [ -z "$glint" ]; then
  cargo build --release --quiet -p glint
  glint=target/release/glint
fi
[ -x "$glint" ] || { echo "learner_vs_lightgbm: $glint is not an executable glint binary" >&2; exit 1; }
# LightGBM's OpenMP threads spin while they wait (OMP_WAIT_POLICY left at its default: passive
# waiting makes its 2-thread search 6x slower on an idle 2-vCPU VM). So when another process
# holds a core, its 2-thread time balloons (measured 1.3 s -> 230 s a fold): the timed part
# holds the lock, the load average is printed, and the 1-thread search is timed too.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
out=benches/results/2026-11-24-learner
mkdir -p "$out"
command="${GLINT_BIN:+GLINT_BIN=$GLINT_BIN }benches/learner_vs_lightgbm.sh"
flock /tmp/glint-bench.lock "$python" benches/learner_vs_lightgbm.py "$glint" "$data" "$work" "$command" | tee "$out/learner-vs-lightgbm.md"
