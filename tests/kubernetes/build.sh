#!/usr/bin/env bash
# Builds the Kubernetes test harness into OUT_DIR (default: $BUILD_DIR/kubernetes, BUILD_DIR
# defaulting to the repository's build/):
#   gpufit-controlplane   etcd + kube-apiserver + kube-scheduler (tests/kubernetes/controlplane)
#   smoke.test            the smoke tests (controlplane/smoke), compiled with `go test -c`
#
# Usage: tests/kubernetes/build.sh [OUT_DIR]
#
# Kubernetes is ~2,000 Go packages: the first build on a 2-core machine takes tens of minutes
# (README.md has the measured figures). Go's build and module caches keep the result: they
# live outside the checkout (GOCACHE, GOMODCACHE: Go's defaults under $HOME unless set), so a
# second build, in this or a fresh clone, compiles nothing and only links. go.sum is
# committed and -mod=readonly keeps the build from changing go.mod or go.sum.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo_dir="$(cd "$here/../.." && pwd)"
out_dir="${1:-${BUILD_DIR:-$repo_dir/build}/kubernetes}"
go_bin="${GO:-go}"
# One compile per core: more only adds memory pressure on a 2-core machine.
jobs="${GPUFIT_GO_JOBS:-$(nproc)}"

if ! command -v "$go_bin" >/dev/null 2>&1; then
  echo "tests/kubernetes/build.sh: go: not found (the Kubernetes tests need Go >= 1.26)" >&2
  exit 1
fi
mkdir -p "$out_dir"
out_dir="$(cd "$out_dir" && pwd)"

GOCACHE="$("$go_bin" env GOCACHE)"
GOMODCACHE="$("$go_bin" env GOMODCACHE)"
export GOCACHE GOMODCACHE
# -buildvcs=false: a worktree or a CI clone may have no usable .git; nothing reads the stamp.
export GOFLAGS="-mod=readonly -buildvcs=false"
# The Go on the machine builds it (go.mod says go 1.26.0); never fetch another toolchain.
export GOTOOLCHAIN=local

echo "tests/kubernetes/build.sh: $("$go_bin" version), -p $jobs"
echo "  GOCACHE=$GOCACHE"
echo "  GOMODCACHE=$GOMODCACHE"
echo "  output: $out_dir"

step() {
  local name="$1"
  shift
  local start=$SECONDS
  "$@"
  echo "tests/kubernetes/build.sh: $name: $((SECONDS - start)) s"
}

cd "$here/controlplane"
total_start=$SECONDS
step "modules" "$go_bin" mod download
# Stamp the release into /version (and kubectl's skew check), as Kubernetes' own build does;
# unstamped it reads v0.0.0-master. Only the link step sees -X, so the cache still hits.
k8s_version="$("$go_bin" list -m -f '{{.Version}}' k8s.io/kubernetes)"   # v1.37.2
k8s_minor="${k8s_version#v*.}"
k8s_minor="${k8s_minor%%.*}"
version_pkg=k8s.io/component-base/version
ldflags="-X $version_pkg.gitVersion=$k8s_version -X $version_pkg.gitMajor=1"
ldflags+=" -X $version_pkg.gitMinor=$k8s_minor -X $version_pkg.gitTreeState=clean"
step "gpufit-controlplane" "$go_bin" build -p "$jobs" -ldflags "$ldflags" \
  -o "$out_dir/gpufit-controlplane" .
step "smoke.test" "$go_bin" test -c -p "$jobs" -o "$out_dir/smoke.test" ./smoke
echo "tests/kubernetes/build.sh: total: $((SECONDS - total_start)) s"
