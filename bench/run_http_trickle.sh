#!/usr/bin/env bash
# Starts gpufitd on free loopback ports with the chart's default HTTP limits, runs
# bench/http_trickle against it (a normal client's /healthz and /filter latency, quiet vs
# under N slow clients; see bench/http_trickle.cc), and stops the daemon.
#
# Usage: bench/run_http_trickle.sh [http_trickle flags, e.g. --connections 500 --requests 200]
# Env:   BUILD_DIR (default build), GPUFITD_ARGS (extra gpufitd flags)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
GPUFITD="$BUILD_DIR/gpufitd"
TRICKLE="$BUILD_DIR/bench/http_trickle"
for bin in "$GPUFITD" "$TRICKLE"; do
  [ -x "$bin" ] || { echo "run_http_trickle: $bin not built (scripts/build.sh)" >&2; exit 1; }
done
# Slow clients are file descriptors on both ends.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

work=$(mktemp -d "${TMPDIR:-/tmp}/gpufit-http-trickle.XXXXXX")
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

# shellcheck disable=SC2086
"$GPUFITD" --grpc-address 127.0.0.1:0 --http-address 127.0.0.1:0 --log-level info \
  ${GPUFITD_ARGS:-} 2>"$work/gpufitd.log" &
pid=$!
port=""
for _ in $(seq 1 300); do
  line=$(grep -m1 '"msg":"serving"' "$work/gpufitd.log" || true)
  if [ -n "$line" ]; then
    port=$(sed -E 's/.*"http_address":"[^"]*:([0-9]+)".*/\1/' <<<"$line")
    break
  fi
  kill -0 "$pid" 2>/dev/null || { echo "run_http_trickle: gpufitd exited:" >&2; cat "$work/gpufitd.log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$port" ] || { echo "run_http_trickle: gpufitd did not report serving" >&2; exit 1; }

status=0
"$TRICKLE" --port "$port" --pid "$pid" "$@" || status=$?
kill -TERM "$pid"
wait "$pid" || { echo "run_http_trickle: gpufitd exited with $?" >&2; status=1; }
pid=""
exit "$status"
