#!/usr/bin/env bash
# Installs what is missing, builds everything, and runs every test (unit, golden, CLI,
# integration, deploy, kubernetes) with CTest, plus the formatting check; then the hardening
# stage: the C++ tests again under ASan + UBSan and each fuzz target for FUZZ_SECONDS
# (default 15), in one clang tree (./build-asan). GPUFIT_SKIP_HARDENING=1 skips that stage.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh -DGPUFIT_BUILD_TESTS=ON -DGPUFIT_BUILD_BENCH=ON
scripts/check-format.sh
# The Kubernetes test harness (tests/kubernetes) first and alone, so that a cold build of
# Kubernetes does not compete with the tests for the CPUs; in the full run below its fixture
# finds it up to date. Nothing is run where the tests are registered as skipped (no Go >= 1.26,
# or -DGPUFIT_KUBERNETES_TESTS=OFF).
ctest --test-dir build --output-on-failure --no-tests=ignore -R '^kubernetes_build$'
ctest --test-dir build --output-on-failure -j "$(nproc)" --timeout 600
if [ -z "${GPUFIT_SKIP_HARDENING:-}" ]; then
  GPUFIT_BUILD_FUZZERS=1 scripts/test-sanitizers.sh
  FUZZ_NO_BUILD=1 fuzz/run.sh
fi
