#!/usr/bin/env bash
# Installs what is missing, builds everything, and runs every test (unit, golden, CLI,
# integration) with CTest, plus the formatting check.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh -DGPUFIT_BUILD_TESTS=ON -DGPUFIT_BUILD_BENCH=ON
scripts/check-format.sh
ctest --test-dir build --output-on-failure -j "$(nproc)" --timeout 600
