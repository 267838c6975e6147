#!/usr/bin/env bash
# Installs the Debian 12 packages that the build, the tests, the examples and
# the benchmarks need. Idempotent: does nothing when they are all present.
# Usage: deploy/install_deps.sh [all|server|image]   (as root, or with sudo)
#   all     (default) everything: build, tests, examples, benchmarks, image test
#   server  only what building //server:autolrs_server needs (the Docker image)
#   image   what deploy/image_test.py needs to build and run the image
set -euo pipefail

SERVER_PACKAGES=(
  # Toolchain and build.
  bazel-bootstrap g++ protobuf-compiler protobuf-compiler-grpc
  # Libraries.
  libgrpc++-dev libprotobuf-dev libabsl-dev libeigen3-dev libsqlite3-dev libssl-dev
  # Metrics in the Prometheus format, with their HTTP exposer.
  prometheus-cpp-dev
  # The PostgreSQL store's client library (--store=postgresql://...).
  libpq-dev
)
# Building and running the image without a Docker engine (deploy/image_test.py):
# debootstrap makes the debian:12 base, buildah builds, podman runs with runc,
# the CNI plugins and iptables publish its port; python3-yaml checks the
# compose file and Kubernetes manifests (//deploy:deploy_files_test).
IMAGE_PACKAGES=(
  buildah podman runc debootstrap containernetworking-plugins iptables python3-yaml
)
ALL_PACKAGES=(
  "${SERVER_PACKAGES[@]}"
  "${IMAGE_PACKAGES[@]}"
  # Tests and benchmarks; clang with libFuzzer and the sanitizers for the
  # fuzz targets (tests/fuzz/run_fuzzers.sh).
  libgtest-dev libgmock-dev libbenchmark-dev clang libclang-rt-14-dev
  # The TLS tests make a throwaway CA with the openssl command.
  openssl
  # A real PostgreSQL 15 that the store and replica tests start on loopback
  # (testing/postgres_process.h).
  postgresql
  # Real trainers on CPU: libtorch, the data set, a fast BLAS, plots.
  libtorch-dev dataset-fashion-mnist libopenblas0-pthread gnuplot-nox
  # The Python client (client/python) and its tests and PyTorch example;
  # python-is-python3 for the shebang of Bazel 4's py_test launcher.
  python3-grpcio python3-protobuf python3-torch python3-pytest python3-setuptools
  python3-pip python3-venv python-is-python3
)

case "${1:-all}" in
  all) PACKAGES=("${ALL_PACKAGES[@]}") ;;
  server) PACKAGES=("${SERVER_PACKAGES[@]}") ;;
  image) PACKAGES=("${IMAGE_PACKAGES[@]}") ;;
  *) echo "usage: $0 [all|server|image]" >&2; exit 2 ;;
esac

missing=()
for p in "${PACKAGES[@]}"; do
  if [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" != "installed" ]; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install_deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
