#!/usr/bin/env bash
# Runs every benchmark binary of a Release build, then the comparison scripts
# that measure a baseline in the same run. Results go to stdout and
# benchmarks/results/ (JSON from Google Benchmark).
set -euo pipefail
build=${1:-build-release}
here=$(cd "$(dirname "$0")" && pwd)
out=$here/results
mkdir -p "$out"
for b in "$build"/benchmarks/kos_*_benchmark; do
  [ -x "$b" ] || continue
  name=$(basename "$b")
  echo "== $name"
  "$b" --benchmark_out="$out/$name.json" --benchmark_out_format=json
done
for s in "$here"/run_*_bench.sh; do
  [ -x "$s" ] || [ -f "$s" ] || continue
  echo "== $(basename "$s")"
  bash "$s" "$build"
done
