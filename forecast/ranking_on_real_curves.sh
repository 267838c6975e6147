#!/usr/bin/env bash
# Reproduces the real-curve ranking table of forecast/README.md: trains LR
# sweeps of the Fashion-MNIST MLP from several checkpoints (real libtorch
# training, ~1.5 min per sweep on one core), then scores the forecasters on
# them at tau' = 50, 100 and 200 (tau = 1000).
#   forecast/ranking_on_real_curves.sh [work_dir]
set -euo pipefail
cd "$(dirname "$0")/.."
WORK="${1:-$(mktemp -d /tmp/autolrs-curves.XXXXXX)}"
mkdir -p "$WORK"
export OMP_NUM_THREADS=1

deploy/install_deps.sh
bazel build -c opt //examples/fashion_mnist:curves //forecast:ranking_benchmark
BIN="$(bazel info -c opt bazel-bin 2>/dev/null)"

# name optimizer base_lr num_lrs
SWEEPS=(
  "sgd-0.05 sgd 0.05 10"
  "sgd-0.1 sgd 0.1 8"
  "sgd-0.02 sgd 0.02 8"
  "adam-0.001 adam 0.001 8"
  "adam-0.003 adam 0.003 8"
)
for sweep in "${SWEEPS[@]}"; do
  read -r name optimizer base_lr num_lrs <<<"$sweep"
  csv="$WORK/$name.csv"
  if [ ! -s "$csv" ]; then
    lr_min=1e-3; lr_max=1
    if [ "$optimizer" = adam ]; then lr_min=1e-5; lr_max=1e-1; fi
    "$BIN/examples/fashion_mnist/curves" --model=mlp --optimizer="$optimizer" --base_lr="$base_lr" \
      --checkpoint_steps=0,300,1000,2000 --lr_min="$lr_min" --lr_max="$lr_max" \
      --num_lrs="$num_lrs" --tau=1000 --out="$csv.tmp" >&2
    mv "$csv.tmp" "$csv"
  fi
done

echo "| tau' | method | mean Spearman | mean relative regret | sweeps |"
echo "|---:|---|---:|---:|---:|"
for tau_probe in 50 100 200; do
  for sweep in "${SWEEPS[@]}"; do
    read -r name _ <<<"$sweep"
    "$BIN/forecast/ranking_benchmark" --curves="$WORK/$name.csv" --tau_probe="$tau_probe" >"$WORK/$name.$tau_probe.md"
    grep '^| [a-z]' "$WORK/$name.$tau_probe.md" | grep -v '^| method'
  done | awk -F'|' -v tp="$tau_probe" '
    { gsub(/ /, "", $2); n[$2]++; s[$2] += $4; r[$2] += $6 }
    END { for (k in n) printf "| %d | %s | %.3f | %.3f | %d |\n", tp, k, s[k] / n[k], r[k] / n[k], n[k] }' | sort
done
echo
echo "per-sweep tables and curves kept in $WORK"
