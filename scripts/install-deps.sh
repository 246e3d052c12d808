#!/usr/bin/env bash
# Installs what gpufit needs on Debian 12, only what is missing. Idempotent; run as root.
set -euo pipefail

# Build and test dependencies, all Debian 12 packages.
PACKAGES=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libabsl-dev libprotobuf-dev protobuf-compiler
  libgrpc++-dev protobuf-compiler-grpc
  libyaml-cpp-dev libsimdjson-dev nlohmann-json3-dev libcpp-httplib-dev
  prometheus-cpp-dev coinor-libcbc-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang-format
  prometheus openssl  # integration-test peers: Prometheus + promtool, TLS certificates
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

# npm packages of the integration tests, exactly as locked; reinstalled only when the lock
# file changed since the last install (a copy of it is kept in node_modules as the stamp).
node_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/integration/node"
if [ -f "$node_dir/package.json" ]; then
  stamp="$node_dir/node_modules/.gpufit-installed-lock"
  if [ -f "$node_dir/package-lock.json" ]; then
    if ! cmp -s "$node_dir/package-lock.json" "$stamp" 2>/dev/null; then
      echo "install-deps: npm ci in tests/integration/node"
      (cd "$node_dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
      cp "$node_dir/package-lock.json" "$stamp"
    fi
  elif [ ! -d "$node_dir/node_modules" ]; then
    echo "install-deps: npm install in tests/integration/node"
    (cd "$node_dir" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
  fi
fi
