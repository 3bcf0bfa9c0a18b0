#!/bin/sh
# Runs the memory benchmark: raw hnswlib, raw FAISS HNSW and libkos
# Memory::Search (hnswlib namespace) on Fashion-MNIST (60k train / 1k test
# queries, 784-d, L2) interleaved in one process at efSearch 16..256; raw FAISS
# IVF-flat and libkos over a faiss_ivf namespace at nprobe 4..32; filtered
# searches at 10% and 0.1% selectivity; and durable ingest (128-d synthetic
# vectors into a SQLite-backed namespace, hnswlib and faiss_ivf) beside the
# raw index builds. Prints tables with the libkos overhead vs the raw index.
#
# Usage: benchmarks/run_memory_bench.sh [build-dir [benchmark flags...]]
#   (default build-dir: build-bench; flags go to the binary, e.g.
#   --benchmark_filter='BM_RawHnswlib|BM_KosMemory'). KOS_BENCH_TRAIN and
#   KOS_BENCH_QUERIES shrink the data set; KOS_BENCH_CACHE=<dir> keeps the
#   built HNSW graphs between runs (see memory_benchmark.cc).
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
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
# Single-threaded: FAISS/OpenBLAS must not fan out either.
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$build/benchmarks/kos_memory_benchmark" \
  --benchmark_format=json "$@" >"$tmp/out.json"
$py - "$tmp/out.json" <<'PY'
import json, os, sys
d = json.load(open(sys.argv[1]))
ctx = d["context"]
print("machine: %s CPUs, load avg (1/5/15 min) when the benchmarks started %s, at the end %s" % (
    ctx["num_cpus"], ctx.get("load_avg"), open("/proc/loadavg").read().split()[:3]))
B = d["benchmarks"]
def find(name):
    for b in B:
        if b["name"] == name and not b.get("error_occurred"):
            return b
    return None
def row(label, knob, b, extra=""):
    print("| %s | %s | %.4f | %.0f | %.0f / %.0f | %.0f | %s |" % (
        label, knob, b["recall@10"], b["cpu_qps"], b["cpu_p50_us"], b["cpu_p99_us"],
        b["wall_qps"], extra))
hdr = "| search | %s | recall@10 | QPS (thread CPU) | p50 / p99 CPU us | QPS (wall) | libkos vs raw it wraps (CPU time per query) / filtered p99 vs unfiltered |"
print(); print(hdr % "efSearch"); print("|---|---|---|---|---|---|---|")
for ef in ["16", "32", "64", "128", "256"]:
    deb = find("BM_RawHnswlib/%s/0/iterations:1/real_time" % ef)
    raw = find("BM_RawHnswlib/%s/1/iterations:1/real_time" % ef)
    kos = find("BM_KosMemory/%s/0/iterations:1/real_time" % ef)
    fh = find("BM_RawFaissHnsw/%s/iterations:1/real_time" % ef)
    if deb: row("raw hnswlib, its own kernel (Debian: SSE)", ef, deb)
    if raw: row("raw hnswlib, libkos's AVX2+FMA kernel", ef, raw)
    if kos: row("libkos Memory (hnswlib)", ef, kos,
                "%+.1f%%" % ((raw["cpu_qps"] / kos["cpu_qps"] - 1) * 100) if raw else "")
    if fh: row("raw FAISS HNSWFlat", ef, fh)
for ef in ["64", "128"]:
    un = find("BM_KosMemory/%s/0/iterations:1/real_time" % ef)
    for sel, lab in (("1", "10%"), ("2", "0.1%")):
        b = find("BM_KosMemory/%s/%s/iterations:1/real_time" % (ef, sel))
        if b: row("libkos, filter %s" % lab, ef, b,
                  "p99 %.2fx unfiltered" % (b["cpu_p99_us"] / un["cpu_p99_us"]) if un else "")
print(); print(hdr % "nprobe"); print("|---|---|---|---|---|---|---|")
for nprobe in ["4", "8", "16", "32"]:
    raw = find("BM_RawFaissIvf/%s/iterations:1/real_time" % nprobe)
    kos = find("BM_KosIvf/%s/0/iterations:1/real_time" % nprobe)
    if raw: row("raw FAISS IVFFlat", nprobe, raw)
    if kos: row("libkos Memory (faiss_ivf)", nprobe, kos,
                "%+.1f%%" % ((raw["cpu_qps"] / kos["cpu_qps"] - 1) * 100) if raw else "")
print()
for b in B:
    if b["name"].startswith("BM_Ingest"):
        print("%s: %.0f vectors/s wall, %.0f vectors/s thread CPU%s" % (
            b["name"].replace("/iterations:1/real_time", ""), b["items_per_second"],
            b["cpu_vectors_per_s"],
            ", %.0f process CPU" % b["process_cpu_vectors_per_s"]
            if "process_cpu_vectors_per_s" in b else ""))
for name, lab in (("BM_RawHnswlib/16/0", "raw hnswlib build"), ("BM_KosMemory/16/0", "libkos hnswlib AddBatch build"),
                  ("BM_RawFaissHnsw/16", "raw FAISS HNSW build"), ("BM_RawFaissIvf/4", "raw FAISS IVF train+add"),
                  ("BM_KosIvf/4/0", "libkos faiss_ivf AddBatch build")):
    b = find(name + ("/0" if False else "") + "/iterations:1/real_time")
    if b:
        print("%s (%d x 784): %.1f s wall%s" % (lab, b["n"], b["build_s"],
              " (cached)" if b["build_s"] == 0 else ""))
PY
