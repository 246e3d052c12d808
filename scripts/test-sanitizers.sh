#!/usr/bin/env bash
# Builds every C++ test binary (tests/CMakeLists.txt's gpufit_cxx_tests), gpufit and gpufitd
# with AddressSanitizer + UndefinedBehaviorSanitizer into ./build-asan (clang, -O1; shared
# with the fuzz targets, scripts/sanitizer-tree.sh) and runs those tests there. Any report
# fails the run: UBSan does not recover, ASan aborts, LeakSanitizer is on (suppressions in
# tests/sanitizers). GPUFIT_BUILD_FUZZERS=1 also builds the fuzz targets in the same ninja run.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/sanitizer-tree.sh
source scripts/sanitizer-tree.sh
configure_sanitizer_tree
targets=(gpufit_cxx_tests gpufit gpufitd)
if [ -n "${GPUFIT_BUILD_FUZZERS:-}" ]; then targets+=(gpufit_fuzzers); fi
cmake --build "$BUILD_DIR" -j "$JOBS" --target "${targets[@]}"
# Every folder registered with gpufit_test_dir(), whatever other tests the tree has.
labels=$(paste -sd'|' "$BUILD_DIR/cxx_test_labels.txt")
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS" --timeout 600 -L "^($labels)\$"
