#!/usr/bin/env bash
# Builds the libFuzzer targets with Debian's clang (-fsanitize=fuzzer,address,
# undefined; Bazel builds everything else with gcc) and runs each for SECONDS.
#
#   tests/fuzz/run_fuzzers.sh [SECONDS]     (default 35)
#
# Prints one line per target:
#   fuzz <name>: PASS|FAIL  <runs> runs, <n> exec/s, corpus <k> inputs
# and exits non-zero if a target did not build or found a crash, a sanitizer
# report or a broken invariant (the reproducer is left in the build dir's
# artifacts/). Object files, generated protos and the growing corpora live
# in $FUZZ_BUILD_DIR (default: .fuzz-build/ at the repository root), so a
# later run is incremental and starts from the corpus found so far;
# tests/fuzz/corpus/<name>/ seeds it and keeps the reproducers of findings
# (degenerate_lr_interval_*: CreateJob with lr_max = lr_min (1 + 1e-6)
# answers INTERNAL instead of INVALID_ARGUMENT, a job_config defect), so
# that they fail every run until fixed and stay fixed after.
set -uo pipefail
cd "$(dirname "$0")/../.."
SECONDS_EACH="${1:-35}"
BUILD="${FUZZ_BUILD_DIR:-$PWD/.fuzz-build}"
CXX="${FUZZ_CXX:-clang++}"
TARGETS=(service_fuzzer stored_job_fuzzer)

mkdir -p "$BUILD/gen" "$BUILD/obj" "$BUILD/artifacts"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-sanitize=vptr"
CXXFLAGS=(-std=c++17 -O1 -g -fno-omit-frame-pointer $SAN -fsanitize=fuzzer-no-link
  -I. -I"$BUILD/gen" -I/usr/include/eigen3 -DNDEBUG -w)

fail_all() {
  echo "run_fuzzers: $1" >&2
  for t in "${TARGETS[@]}"; do echo "fuzz $t: FAIL  (not built)"; done
  exit 1
}
command -v "$CXX" >/dev/null || fail_all "$CXX not found (deploy/install_deps.sh installs clang)"

# Protos, with the system protoc (messages only; no gRPC stubs are needed).
protoc -Iproto --cpp_out="$BUILD/gen" proto/autolrs/v1/family.proto proto/autolrs/v1/job.proto \
  proto/autolrs/v1/service.proto \
  || fail_all "protoc failed"
protoc -I. -Iproto --cpp_out="$BUILD/gen" server/job_state.proto || fail_all "protoc failed"

LIBRARY_SOURCES=(
  "$BUILD/gen/autolrs/v1/family.pb.cc" "$BUILD/gen/autolrs/v1/job.pb.cc"
  "$BUILD/gen/autolrs/v1/service.pb.cc"
  "$BUILD/gen/server/job_state.pb.cc"
  bo/acquisition.cc bo/gaussian_process.cc bo/optimizer.cc
  forecast/exponential_fit.cc forecast/forecaster.cc forecast/outlier_filter.cc
  server/job_config.cc server/job.cc server/first_stage_confirmation.cc server/stage_choice.cc
  server/stage_search.cc
  server/compute_timer.cc
  server/job_observer.cc
  server/scheduler.cc server/memory_job_store.cc server/stored_job_codec.cc
  server/family_records.cc server/family.cc server/family_prior.cc server/family_registry.cc
)
ABSL_LIBS=$(grep -o '"-labsl_[a-z_0-9]*"' third_party/BUILD | tr -d '"' | tr '\n' ' ')

# Compiles $1 into an object unless it is up to date (generated protos are
# rewritten each run, so they are compared by content through a hash).
compile() {
  local src="$1" obj="$BUILD/obj/$(echo "$1" | tr '/' '_').o"
  local stamp="$obj.sha"
  local sum
  sum=$( (sha256sum "$src"; echo "${CXXFLAGS[*]}"; cat server/*.h bo/*.h forecast/*.h \
    "$BUILD"/gen/autolrs/v1/*.pb.h "$BUILD"/gen/server/*.pb.h 2>/dev/null) | sha256sum)
  if [ -f "$obj" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$sum" ]; then echo "$obj"; return 0; fi
  "$CXX" "${CXXFLAGS[@]}" -c "$src" -o "$obj" >&2 || return 1
  echo "$sum" > "$stamp"
  echo "$obj"
}

objects=()
pids=()
for src in "${LIBRARY_SOURCES[@]}"; do
  obj=$(compile "$src") || fail_all "cannot compile $src"
  objects+=("$obj")
done

status=0
for t in "${TARGETS[@]}"; do
  main=$(compile "tests/fuzz/$t.cc") || { echo "fuzz $t: FAIL  (does not compile)"; status=1; continue; }
  if ! "$CXX" "${CXXFLAGS[@]}" -fsanitize=fuzzer "$main" "${objects[@]}" -o "$BUILD/$t" \
      -lprotobuf $ABSL_LIBS -lpthread; then
    echo "fuzz $t: FAIL  (does not link)"; status=1; continue
  fi
  corpus="$BUILD/corpus/$t"
  mkdir -p "$corpus"
  seeds=()
  [ -d "tests/fuzz/corpus/$t" ] && seeds=("tests/fuzz/corpus/$t")
  log="$BUILD/$t.log"
  UBSAN_OPTIONS=print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
    "$BUILD/$t" -max_total_time="$SECONDS_EACH" -print_final_stats=1 -timeout=20 \
    -rss_limit_mb=2048 -max_len=8192 -artifact_prefix="$BUILD/artifacts/$t-" \
    "$corpus" "${seeds[@]}" > "$log" 2>&1
  rc=$?
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  size=$(find "$corpus" -type f | wc -l)
  if [ "$rc" -eq 0 ]; then
    echo "fuzz $t: PASS  ${runs:-0} runs, ${rate:-0} exec/s, corpus $size inputs"
  else
    echo "fuzz $t: FAIL  ${runs:-0} runs, ${rate:-0} exec/s, corpus $size inputs (exit $rc; log $log)"
    grep -m5 -E 'ERROR|SUMMARY|answered|changed job|runtime error' "$log" | sed 's/^/  /'
    status=1
  fi
done
exit $status
