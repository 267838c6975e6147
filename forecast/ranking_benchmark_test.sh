#!/usr/bin/env bash
# Runs ranking_benchmark ($1) on a synthetic CSV written by
# make_synthetic_curves ($2), and on bad input.
set -uo pipefail
bench="$1"
make_curves="$2"
tmp="${TEST_TMPDIR:-$(mktemp -d)}"
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

"$make_curves" --seed=3 --tau=300 --checkpoint_steps=0,500 \
  --lrs=0.02,0.1,0.3,1.0,2.5 >"$tmp/curves.csv" || fail "make_synthetic_curves failed"
head -n1 "$tmp/curves.csv" | grep -qx 'checkpoint,lr,step,loss' || fail "CSV header"
[ "$(wc -l <"$tmp/curves.csv")" -eq $((1 + 2 * 5 * 300)) ] || fail "CSV rows"

if "$bench" --curves="$tmp/curves.csv" --tau_probe=30 --details >"$tmp/out" 2>"$tmp/err"; then
  cat "$tmp/out"
  for method in 'robust (default)' 'reference' 'last-10 mean'; do
    grep -q "^| $method | 2 | " "$tmp/out" || fail "no row for '$method'"
  done
  grep -q 'truth = mean of the last' "$tmp/out" || fail "truth definition missing"
  grep -q '10 curves (2 diverged)' "$tmp/out" || fail "curve count"
  grep -q '^| ckpt500 | 2.5 | inf | inf diverged |' "$tmp/out" || fail "details row"
else
  fail "ranking_benchmark exit status $?: $(cat "$tmp/err")"
fi

expect_error() {
  local name="$1" pattern="$2"; shift 2
  "$bench" "$@" >"$tmp/out" 2>"$tmp/err" && fail "$name: exit status 0"
  grep -q "$pattern" "$tmp/err" || fail "$name: stderr lacks '$pattern': $(cat "$tmp/err")"
}
expect_error "no --curves" "curves is required" --tau_probe=30
expect_error "missing file" "cannot open" --curves="$tmp/none.csv" --tau_probe=30
expect_error "tau_probe too large" "fewer than tau_probe" --curves="$tmp/curves.csv" --tau_probe=301
printf 'checkpoint,lr,step,loss\nc,0.1,1,0.5\nc,0.1,3,0.4\n' >"$tmp/gap.csv"
expect_error "gap in steps" "steps are not 1..3" --curves="$tmp/gap.csv" --tau_probe=1

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "all checks passed"
