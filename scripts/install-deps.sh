#!/usr/bin/env bash
# Installs what gpufit needs on Debian 12, only what is missing. Idempotent; run as root.
set -euo pipefail

# Build and test dependencies, all Debian 12 packages.
PACKAGES=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libabsl-dev libprotobuf-dev protobuf-compiler
  libgrpc++-dev protobuf-compiler-grpc
  libyaml-cpp-dev libsimdjson-dev nlohmann-json3-dev libcpp-httplib-dev
  prometheus-cpp-dev coinor-libcbc-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang-format
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all Debian packages present"
fi
