#!/usr/bin/env bash
# Installs everything Peregrine needs to build, test and benchmark, from Debian's packages only.
# Idempotent: packages already present are not reinstalled, and apt's lists are refreshed only when
# something is missing.
set -euo pipefail

PACKAGES=(
  # build
  cmake g++ make pkg-config
  libdnnl-dev libonnx-dev libprotobuf-dev protobuf-compiler libabsl-dev libcli11-dev
  libboost-dev libsimdjson-dev rapidjson-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev libonnx-testdata clang libclang-rt-14-dev
  curl apache2-utils wrk python3-requests
  chromium  # renders `peregrine bench --report` pages in tests
  # examples and reference outputs (PyTorch exports, ONNX checks)
  python3 python3-torch python3-onnx python3-numpy
  # the seed-000 peers of bench/generate_compare.py (Node.js for the ONNX Runtime peers is expected on the machine)
  python3-flask
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "setup: all dependencies present"
