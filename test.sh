#!/usr/bin/env bash
# Installs what is missing, then builds everything and runs every test.
# Extra arguments go to `bazel test` (e.g. ./test.sh //bo/...).
set -euo pipefail
cd "$(dirname "$0")"
deploy/install_deps.sh
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(//...)
bazel build "${targets[@]}"
bazel test "${targets[@]}"
