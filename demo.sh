#!/usr/bin/env bash
# The main demo: AutoLRS as a service on a real trainer.
#
# Installs what is missing, builds the server and the Fashion-MNIST trainer,
# starts autolrs_server on an embedded SQLite file, trains the MLP once with
# AutoLRS and once with a constant LR for the same number of steps (probe
# steps count against the AutoLRS budget), prints the schedule AutoLRS found
# and the final test accuracy of both runs, and stops the server with SIGTERM.
#
# About 1-2 minutes once built, on 2 cores with one torch thread.
# Environment: DEMO_DIR=<dir> keeps the database, logs and per-step CSVs
# there (default: a temporary directory removed at exit); STEPS=<S> changes
# the budget of both runs (default 6000).
set -euo pipefail
cd "$(dirname "$0")"
start_time=$SECONDS

STEPS="${STEPS:-6000}"
LR_MIN=1e-3
LR_MAX=1
CONSTANT_LR=0.0316   # the geometric middle of [LR_MIN, LR_MAX]
JOB_ID=demo-mlp
export OMP_NUM_THREADS=1

if [ -n "${DEMO_DIR:-}" ]; then
  mkdir -p "$DEMO_DIR"
  WORK="$(cd "$DEMO_DIR" && pwd)"
  REMOVE_WORK=0
else
  WORK="$(mktemp -d /tmp/autolrs-demo.XXXXXX)"
  REMOVE_WORK=1
fi
SERVER_PID=""

cleanup() {
  local status=$?
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [ "$REMOVE_WORK" = 1 ]; then rm -rf "$WORK"; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "== Installing dependencies (if missing)"
deploy/install_deps.sh

echo "== Building the server and the trainer (bazel build -c opt)"
bazel build -c opt //server:autolrs_server //examples/fashion_mnist:train \
  //examples/fashion_mnist:show_schedule
BIN="$(bazel info -c opt bazel-bin 2>/dev/null)"

echo "== Starting autolrs_server on sqlite:$WORK/autolrs.db"
rm -f "$WORK/port"
"$BIN/server/autolrs_server" --listen=127.0.0.1:0 --store="sqlite:$WORK/autolrs.db" \
  --port_file="$WORK/port" 2>"$WORK/server.log" &
SERVER_PID=$!
for _ in $(seq 300); do
  [ -s "$WORK/port" ] && break
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "autolrs_server exited early:" >&2
    cat "$WORK/server.log" >&2
    exit 1
  fi
  sleep 0.1
done
[ -s "$WORK/port" ] || { echo "autolrs_server did not report its port" >&2; exit 1; }
SERVER="127.0.0.1:$(cat "$WORK/port")"
echo "server at $SERVER (pid $SERVER_PID)"

COMMON=(--model=mlp --optimizer=sgd --total_steps="$STEPS" --seed=1 --batch_size=128
        --threads=1 --eval_every=1000)

echo
echo "== Run 1: AutoLRS, S = $STEPS steps (tau 200 -> 800; 5 probes of tau/10 in the first"
echo "   stage, 4 within 0.3 decade of the last LR after it; the last 20% a linear cooldown)"
"$BIN/examples/fashion_mnist/train" "${COMMON[@]}" --schedule=autolrs --server="$SERVER" \
  --job_id="$JOB_ID" --lr_min="$LR_MIN" --lr_max="$LR_MAX" --tau_initial=200 --tau_max=800 \
  --probes_per_stage=5 --preset=recommended --csv="$WORK/autolrs.csv" | tee "$WORK/autolrs.out"

echo
echo "== Run 2: constant LR $CONSTANT_LR, S = $STEPS steps"
"$BIN/examples/fashion_mnist/train" "${COMMON[@]}" --schedule=constant --lr="$CONSTANT_LR" \
  --csv="$WORK/constant.csv" | tee "$WORK/constant.out"

echo
echo "== The schedule AutoLRS found (GetSchedule)"
echo
"$BIN/examples/fashion_mnist/show_schedule" --server="$SERVER" --job_id="$JOB_ID"

# field <file> <key>: the value of key=... on the file's final: line.
field() { grep '^final:' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

echo
echo "== Final comparison ($STEPS steps each, Fashion-MNIST test set)"
echo
printf '| %-26s | %13s | %9s | %8s | %11s | %9s |\n' schedule test_accuracy test_loss val_loss \
  model_steps seconds
printf '|%s|%s|%s|%s|%s|%s|\n' ---------------------------- --------------: ----------: \
  ---------: ------------: ----------:
for run in autolrs constant; do
  label="AutoLRS [$LR_MIN, $LR_MAX]"
  [ "$run" = constant ] && label="constant $CONSTANT_LR"
  printf '| %-26s | %13s | %9s | %8s | %11s | %9s |\n' "$label" \
    "$(field "$WORK/$run.out" test_accuracy)" "$(field "$WORK/$run.out" test_loss)" \
    "$(field "$WORK/$run.out" val_loss)" "$(field "$WORK/$run.out" model_steps)" \
    "$(field "$WORK/$run.out" seconds)"
done

echo
echo "== Stopping the server (SIGTERM)"
kill -TERM "$SERVER_PID"
server_status=0
wait "$SERVER_PID" || server_status=$?
SERVER_PID=""
if [ "$server_status" -ne 0 ]; then
  echo "autolrs_server exited with status $server_status" >&2
  cat "$WORK/server.log" >&2
  exit 1
fi
echo "autolrs_server exited 0"
[ "$REMOVE_WORK" = 0 ] && echo "per-step CSVs and logs kept in $WORK"
echo "demo took $((SECONDS - start_time)) s"
