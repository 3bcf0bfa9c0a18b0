#!/usr/bin/env bash
# Installs the built tree into a temporary prefix (as tests/install does), then
# compiles examples/c/example.c with the C compiler and pkg-config exactly as
# its README says, and runs it.
#   run_c_example_test.sh <build dir> <examples/c dir> [C compiler]
set -euo pipefail
build_dir=$1
example_dir=$2
cc=${3:-cc}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

cmake --install "$build_dir" --prefix "$prefix" >/dev/null
libdir=$(find "$prefix" -name 'libkos.so' -printf '%h\n' | head -n1)
export LD_LIBRARY_PATH=$libdir
export PKG_CONFIG_PATH=$libdir/pkgconfig

# kos.pc carries -std=c++17 for C++ users; a C compiler only warns about it.
# shellcheck disable=SC2046
"$cc" -Wall -Wextra -o "$work/kos-example" "$example_dir/example.c" $(pkg-config --cflags --libs kos) \
  2> "$work/cc.log" || { cat "$work/cc.log"; exit 1; }
grep -v -e "valid for C++" -e "^cc1: " "$work/cc.log" >&2 || true

out=$("$work/kos-example")
echo "$out"
grep -q "^vault: read back 11 bytes from kv/demo/api-key$" <<<"$out"
grep -q "^signed task: verified ok$" <<<"$out"
grep -q "^signed task: replay refused with UNAUTHENTICATED$" <<<"$out"
grep -q "^memory: .* cats sleep most of the day$" <<<"$out"
[ "$(grep -c '^memory: ' <<<"$out")" = 2 ]
echo "C example test passed"
