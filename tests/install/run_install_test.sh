#!/usr/bin/env bash
# Installs the built tree into a temporary prefix, then builds and runs a tiny
# consumer against it twice: with find_package(kos) and with pkg-config.
set -euo pipefail
build_dir=$1
src_dir=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

cmake --install "$build_dir" --prefix "$prefix" >/dev/null
libdir=$(find "$prefix" -name 'libkos.so' -printf '%h\n' | head -n1)
export LD_LIBRARY_PATH=$libdir

cmake -S "$src_dir/consumer" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/cmake-build" >/dev/null
out=$("$work/cmake-build/consumer")
echo "find_package consumer: $out"
[ "$out" = "hello from an installed libkos (version 1)" ]

export PKG_CONFIG_PATH=$libdir/pkgconfig
# shellcheck disable=SC2046
g++ -o "$work/pc-consumer" "$src_dir/consumer/main.cc" $(pkg-config --cflags --libs kos)
out=$("$work/pc-consumer")
echo "pkg-config consumer: $out"
[ "$out" = "hello from an installed libkos (version 1)" ]
echo "install test passed"
