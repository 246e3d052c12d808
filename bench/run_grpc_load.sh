#!/usr/bin/env bash
# Starts gpufitd on free loopback ports, runs bench/grpc_load against it (Place vs the no-op
# Health/Check in the same run; see bench/grpc_load.cc), and stops the daemon.
#
# Usage: bench/run_grpc_load.sh [grpc_load flags, e.g. --requests 20000 --concurrency 64]
# Env:   BUILD_DIR (default build), GPUFIT_CONFIG (a --config file for gpufitd; default none)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
GPUFITD="$BUILD_DIR/gpufitd"
GRPC_LOAD="$BUILD_DIR/bench/grpc_load"
for bin in "$GPUFITD" "$GRPC_LOAD"; do
  [ -x "$bin" ] || { echo "run_grpc_load: $bin not built (scripts/build.sh)" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/gpufit-grpc-load.XXXXXX")
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

args=(--grpc-address 127.0.0.1:0 --http-address 127.0.0.1:0 --log-level info)
[ -n "${GPUFIT_CONFIG:-}" ] && args+=(--config "$GPUFIT_CONFIG")
"$GPUFITD" "${args[@]}" 2>"$work/gpufitd.log" &
pid=$!

# The daemon reports the ports it bound on its "serving" log line; wait for it (bounded).
target=""
for _ in $(seq 1 300); do
  line=$(grep -m1 '"msg":"serving"' "$work/gpufitd.log" || true)
  if [ -n "$line" ]; then
    target=$(sed -E 's/.*"grpc_address":"([^"]+)".*/\1/' <<<"$line")
    break
  fi
  kill -0 "$pid" 2>/dev/null || { echo "run_grpc_load: gpufitd exited:" >&2; cat "$work/gpufitd.log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$target" ] || { echo "run_grpc_load: gpufitd did not report serving" >&2; cat "$work/gpufitd.log" >&2; exit 1; }

status=0
"$GRPC_LOAD" --target "$target" "$@" || status=$?

kill -TERM "$pid"
wait "$pid" || { echo "run_grpc_load: gpufitd exited with $?" >&2; status=1; }
pid=""
exit "$status"
