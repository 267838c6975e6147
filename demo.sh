#!/usr/bin/env bash
# The main demo. Installs what is missing, builds, and runs what exists.
set -euo pipefail
cd "$(dirname "$0")"
deploy/install_deps.sh
bazel build //proto:autolrs_v1
echo "The autolrs.v1 API compiles; the server and trainer demo arrive with them."
