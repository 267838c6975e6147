#!/usr/bin/env bash
# Runs autolrs_forecast (path in $1) on good and bad input and checks its
# output and exit status.
set -uo pipefail
bin="$1"
tmp="${TEST_TMPDIR:-$(mktemp -d)}"
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# expect_ok NAME INPUT ARGS... -> stdout in $tmp/out
expect_ok() {
  local name="$1" input="$2"; shift 2
  if ! printf '%b' "$input" | "$bin" "$@" >"$tmp/out" 2>"$tmp/err"; then
    fail "$name: exit status $? (stderr: $(cat "$tmp/err"))"
    return 1
  fi
  if [ "$(wc -l <"$tmp/out")" -ne 1 ]; then fail "$name: expected one line"; fi
  for key in a b c prediction diverged model; do
    grep -q "\"$key\":" "$tmp/out" || fail "$name: no \"$key\" in $(cat "$tmp/out")"
  done
}

# expect_error NAME INPUT PATTERN ARGS...
expect_error() {
  local name="$1" input="$2" pattern="$3"; shift 3
  printf '%b' "$input" | "$bin" "$@" >"$tmp/out" 2>"$tmp/err"
  local status=$?
  [ "$status" -ne 0 ] || fail "$name: exit status 0, expected non-zero"
  [ ! -s "$tmp/out" ] || fail "$name: printed to stdout: $(cat "$tmp/out")"
  grep -q "$pattern" "$tmp/err" || fail "$name: stderr lacks '$pattern': $(cat "$tmp/err")"
}

# Value of a numeric JSON key in $tmp/out.
value() { sed -n "s/.*\"$1\":\([^,}]*\).*/\1/p" "$tmp/out"; }

# 100 losses of 1.0*exp(-0.04 t) + 0.3, t = 1..100.
curve=""
for t in $(seq 1 100); do
  curve+="$(awk -v t="$t" 'BEGIN { printf "%.12f", exp(-0.04 * t) + 0.3 }')\n"
done

expect_ok "robust exponential" "$curve" --horizon=1000 && {
  p=$(value prediction)
  awk -v p="$p" 'BEGIN { exit !(p > 0.29 && p < 0.31) }' || fail "robust prediction $p, expected ~0.3"
  grep -q '"model":"exponential"' "$tmp/out" || fail "robust model: $(cat "$tmp/out")"
  grep -q '"diverged":false' "$tmp/out" || fail "robust diverged: $(cat "$tmp/out")"
  b=$(value b)
  awk -v b="$b" 'BEGIN { exit !(b > -0.0401 && b < -0.0399) }' || fail "robust b $b, expected -0.04"
}

expect_ok "last mean" "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n" --horizon=100 --method=last_mean && {
  [ "$(value prediction)" = "7.5" ] || fail "last_mean prediction $(value prediction), expected 7.5 (mean of 3..12)"
}

expect_ok "reference, validation" "$curve" --horizon=1000 --method=reference --kind=validation && {
  grep -q '"method":"reference"' "$tmp/out" || fail "reference method: $(cat "$tmp/out")"
}

expect_ok "blank lines and spaces" "\n 0.5 \n0.4\n\n0.35\n" --horizon=10 && {
  grep -q '"n":3' "$tmp/out" || fail "blank lines: $(cat "$tmp/out")"
}

expect_ok "nan means diverged" "0.5\nnan\n0.4\n" --horizon=10 && {
  grep -q '"diverged":true' "$tmp/out" || fail "nan: $(cat "$tmp/out")"
  grep -q '"prediction":null' "$tmp/out" || fail "nan prediction: $(cat "$tmp/out")"
}

expect_error "not a number" "0.5\nabc\n" "line 2" --horizon=10
expect_error "empty input" "" "no losses" --horizon=10
expect_error "missing horizon" "0.5\n" "horizon"
expect_error "horizon before the end" "0.5\n0.4\n0.3\n" "horizon" --horizon=2
expect_error "unknown method" "0.5\n" "unknown method" --horizon=10 --method=magic
expect_error "unknown kind" "0.5\n" "kind" --horizon=10 --kind=test
expect_error "stray argument" "0.5\n" "unexpected argument" --horizon=10 extra

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "all checks passed"
