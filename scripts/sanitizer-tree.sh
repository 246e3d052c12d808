# Sourced by scripts/test-sanitizers.sh and fuzz/run.sh: configures the one clang tree both use
# (./build-asan unless BUILD_DIR is set): every target compiled with AddressSanitizer +
# UndefinedBehaviorSanitizer (-fno-sanitize-recover) and libFuzzer's coverage hooks, at -O1
# with line tables only, so that the C++ tests and the fuzz targets share one build of the
# libraries. Also sets the sanitizer run-time options: any report aborts the process.
BUILD_DIR=${BUILD_DIR:-build-asan}
JOBS=${JOBS:-$(nproc)}

configure_sanitizer_tree() {
  # A tree configured by an earlier version of this script with GCC cannot switch compilers.
  if [ -f "$BUILD_DIR/CMakeCache.txt" ] &&
     ! grep -q '^CMAKE_CXX_COMPILER:[A-Z]*=.*clang' "$BUILD_DIR/CMakeCache.txt"; then
    echo "sanitizer-tree: $BUILD_DIR was configured without clang; reconfiguring from scratch"
    rm -rf "$BUILD_DIR"
  fi
  CC=clang CXX=clang++ cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only -DNDEBUG" \
    -DGPUFIT_SANITIZE=ON -DGPUFIT_FUZZ=ON -DGPUFIT_BUILD_TESTS=ON -DGPUFIT_BUILD_BENCH=OFF \
    -DGPUFIT_INTEGRATION_TESTS=OFF -DGPUFIT_DEPLOY_TESTS=OFF "$@" >/dev/null
}

supp="$PWD/tests/sanitizers"
export ASAN_OPTIONS="abort_on_error=1:detect_stack_use_after_return=1:strict_init_order=1:check_initialization_order=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$supp/ubsan.supp${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
# Symbolized reports (llvm-symbolizer comes with Debian's llvm-14).
if [ -z "${ASAN_SYMBOLIZER_PATH:-}" ] && [ -x /usr/lib/llvm-14/bin/llvm-symbolizer ]; then
  export ASAN_SYMBOLIZER_PATH=/usr/lib/llvm-14/bin/llvm-symbolizer
fi
