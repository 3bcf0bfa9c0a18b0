#!/bin/sh
# Runs the memory benchmark: raw hnswlib and libkos Memory::Search on
# Fashion-MNIST (60k train / 1k test queries, 784-d, L2) interleaved in one
# process at efSearch 16..256, filtered searches at 10% and 0.1% selectivity,
# and durable ingest (128-d synthetic vectors into a SQLite-backed namespace)
# beside raw hnswlib addPoint. Prints a table with overhead vs raw.
#
# Usage: benchmarks/run_memory_bench.sh [build-dir [benchmark flags...]]
#   (default build-dir: build-bench; flags go to the binary, e.g.
#   --benchmark_filter='BM_RawHnswlib|BM_KosMemory'). KOS_BENCH_TRAIN and
#   KOS_BENCH_QUERIES shrink the data set (see memory_benchmark.cc).
# Needs the Debian package dataset-fashion-mnist (scripts/install-deps.sh).
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build-bench}
[ $# -gt 0 ] && shift
py=/usr/bin/python3
if [ ! -d /usr/share/datasets/fashion-mnist ]; then
  echo "missing /usr/share/datasets/fashion-mnist: apt-get install dataset-fashion-mnist" >&2
  exit 1
fi
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DKOS_BUILD_BENCHMARKS=ON \
    -DKOS_BUILD_TESTS=OFF -DPython_EXECUTABLE=$py >/dev/null
fi
make -C "$build" -j2 kos_memory_benchmark >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Single-threaded: FAISS/OpenBLAS must not fan out either.
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$build/benchmarks/kos_memory_benchmark" \
  --benchmark_format=json "$@" >"$tmp/out.json"
$py - "$tmp/out.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
ctx = d["context"]
print("machine: %s CPUs, load avg %s" % (ctx["num_cpus"], ctx.get("load_avg")))
rows = {b["name"]: b for b in d["benchmarks"]}
raw = {}
unfiltered = {}
print("| search | efSearch | recall@10 | QPS (CPU time) | p50 / p99 CPU us | QPS (wall) | p99 wall us | overhead vs raw (CPU QPS) / filtered vs unfiltered |")
print("|---|---|---|---|---|---|---|---|")
for b in d["benchmarks"]:
    n = b["name"]
    if not (n.startswith("BM_RawHnswlib") or n.startswith("BM_KosMemory")):
        continue
    parts = n.split("/")
    ef = parts[1]
    sel = parts[2] if n.startswith("BM_KosMemory") else None
    label = "raw hnswlib" if sel is None else {"0": "libkos Memory", "1": "libkos, filter 10%", "2": "libkos, filter 0.1%"}[sel]
    if sel is None:
        raw[ef] = b
    over = ""
    if sel == "0" and ef in raw:
        over = "%+.1f%%" % ((raw[ef]["cpu_qps"] / b["cpu_qps"] - 1) * 100)
        unfiltered[ef] = b
    if sel in ("1", "2") and ef in unfiltered:
        over = "p99 %.2fx unfiltered (CPU)" % (b["cpu_p99_us"] / unfiltered[ef]["cpu_p99_us"])
    print("| %s | %s | %.4f | %.0f | %.0f / %.0f | %.0f | %.0f | %s |" % (
        label, ef, b["recall@10"], b["cpu_qps"], b["cpu_p50_us"], b["cpu_p99_us"],
        b["wall_qps"], b["wall_p99_us"], over))
print()
for b in d["benchmarks"]:
    if b["name"].startswith("BM_Ingest"):
        print("%s: %.0f vectors/s wall, %.0f vectors/s CPU" % (
            b["name"].split("/")[0], b["items_per_second"], b["cpu_vectors_per_s"]))
for b in d["benchmarks"]:
    if b["name"].startswith("BM_RawHnswlib/16"):
        print("raw hnswlib build (%d x 784, M=16, efC=100): %.1f s wall" % (b["n"], b["build_s"]))
    if b["name"].startswith("BM_KosMemory/16/0"):
        print("libkos Memory AddBatch build (same): %.1f s wall" % b["build_s"])
PY
