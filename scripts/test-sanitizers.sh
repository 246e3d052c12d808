#!/usr/bin/env bash
# Builds the C++ test suite, gpufit and gpufitd with AddressSanitizer + UndefinedBehaviorSanitizer
# (-DGPUFIT_SANITIZE=ON, -O1) into ./build-asan and runs the C++ tests there. Any report fails
# the run: UBSan does not recover, ASan aborts, LeakSanitizer is on (suppressions below).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build-asan}
JOBS=${JOBS:-$(nproc)}
LABELS="core|config|golden|cli|server|metrics|k8s"

cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g -DNDEBUG" \
  -DGPUFIT_SANITIZE=ON -DGPUFIT_BUILD_TESTS=ON -DGPUFIT_BUILD_BENCH=OFF \
  -DGPUFIT_INTEGRATION_TESTS=OFF -DGPUFIT_DEPLOY_TESTS=OFF >/dev/null
# Only what the C++ tests run: the test binaries and the two programs.
cmake --build "$BUILD_DIR" -j "$JOBS" --target \
  core_test config_test golden_test cli_test metrics_test server_test k8s_test gpufit gpufitd

supp="$PWD/tests/sanitizers"
export ASAN_OPTIONS="abort_on_error=1:detect_stack_use_after_return=1:strict_init_order=1:check_initialization_order=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$supp/ubsan.supp${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS" --timeout 600 -L "^($LABELS)\$"
