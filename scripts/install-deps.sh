#!/usr/bin/env bash
# Installs every Debian 12 package libkos needs to build, test, benchmark and serve.
# Idempotent: packages already present are skipped, so a second run costs one dpkg query.
set -euo pipefail

PKGS=(
  # toolchain
  build-essential cmake pkg-config ccache git clang-format clang
  # core libraries
  libabsl-dev libsodium-dev libsqlitecpp-dev libsqlite3-dev sqlite3 nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev libkainjow-mustache-dev
  libcpp-httplib-dev libssl-dev zlib1g-dev
  # kos-server's HTTP engine (Boost.Asio + Boost.Beast, header-only)
  libboost1.81-dev
  # vector search
  libfaiss-dev libhnswlib-dev libopenblas-dev libopenblas0-pthread libomp-dev
  # rpc
  libprotobuf-dev protobuf-compiler libgrpc++-dev protobuf-compiler-grpc
  # external stores
  libpqxx-dev libpq-dev libhiredis-dev postgresql redis-server
  # python bindings and tests
  python3 python3-dev pybind11-dev python3-pytest python3-numpy python3-nacl
  python3-jwt python3-cryptography python3-grpcio python3-grpc-tools python3-jinja2
  # gateway (deploy/nginx.conf test) and benchmarks (wrk against kos-server and FastAPI)
  nginx-light openssl wrk python3-fastapi python3-uvicorn python3-uvloop python3-httptools
  dataset-fashion-mnist
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "install-deps: installing ${#missing[@]} packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
