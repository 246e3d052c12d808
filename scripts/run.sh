#!/usr/bin/env bash
# The main job: install what is missing, build, and plan the seed's reference workload
# (Llama 3 8B FP8 chat, 50 concurrent users) on the compiled-in default catalog.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh -DGPUFIT_BUILD_TESTS=OFF -DGPUFIT_BUILD_BENCH=OFF
echo
echo "\$ gpufit plan examples/chat-llama3-8b.yaml"
build/gpufit plan examples/chat-llama3-8b.yaml "$@"
