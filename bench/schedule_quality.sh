#!/usr/bin/env bash
# The schedule-quality benchmark in one command (see bench/README.md):
#   bench/schedule_quality.sh           full run: 3 seeds, 8 tasks x 2 stage settings,
#                                       3 families x 3 runs per task and setting;
#                                       writes bench/RESULTS.md and bench/plots/*.png
#                                       (several hours on 2 cores)
#   bench/schedule_quality.sh --quick   smoke run: 1 seed, small budgets, 3-value grid, no
#                                       families (add --families=1 --family_runs=2);
#                                       writes /tmp/schedule_quality-quick/ (< 10 min)
# Finished runs whose inputs (train arguments, binaries) did not change are
# reused from the work dir ($HOME/.cache/autolrs/schedule_quality, or
# /tmp/schedule_quality-quick/work); --rerun runs everything again.
# Any other flag goes to //bench:schedule_quality (e.g. --tasks=mlp-sgd,
# --add_variants='notol=recommended:choice_tolerance: 0').
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install_deps.sh
bazel build -c opt //bench:schedule_quality
out=bench
for arg in "$@"; do [ "$arg" = --quick ] && out=/tmp/schedule_quality-quick; done
rev="commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
dirty="$(git status --porcelain --untracked-files=no -- bo forecast server client proto \
  examples bench 2>/dev/null | awk '{print $2}' | tr '\n' ' ')"
[ -n "$dirty" ] && rev="$rev + uncommitted changes in ${dirty% }"
exec bazel-out/k8-opt/bin/bench/schedule_quality --out_dir="$out" --revision="$rev" "$@"
