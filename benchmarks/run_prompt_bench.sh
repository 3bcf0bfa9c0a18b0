#!/bin/sh
# Renders the same ~2 KB prompt (20 variables, a 10-item loop) with libkos
# (kos_prompt_benchmark) and with python3-jinja2 in one run, checks that both
# outputs are byte-identical, and prints p50 latencies and the ratio.
#
# Usage: benchmarks/run_prompt_bench.sh [build-dir]   (default: build-bench)
# The build dir must be configured with -DKOS_BUILD_BENCHMARKS=ON; the script
# builds kos_prompt_benchmark in it.
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build-bench}
py=/usr/bin/python3
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DKOS_BUILD_BENCHMARKS=ON \
    -DKOS_BUILD_TESTS=OFF -DPython_EXECUTABLE=$py >/dev/null
fi
make -C "$build" -j2 kos_prompt_benchmark >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
KOS_PROMPT_BENCH_OUTPUT=$tmp/kos.txt "$build/benchmarks/kos_prompt_benchmark" \
  --benchmark_format=json --benchmark_min_time=2 --benchmark_repetitions=1 >"$tmp/kos.json"
$py "$src/benchmarks/prompt_jinja2_baseline.py" --iterations 50000 --output "$tmp/jinja.txt" \
  >"$tmp/jinja.json"
if cmp -s "$tmp/kos.txt" "$tmp/jinja.txt"; then same=yes; else same=NO; fi
$py - "$tmp/kos.json" "$tmp/jinja.json" "$same" <<'PY'
import json, sys
kos = json.load(open(sys.argv[1]))
jinja = json.load(open(sys.argv[2]))
print("machine: %s CPUs, load avg %s" % (kos["context"]["num_cpus"], kos["context"].get("load_avg")))
print("outputs identical: %s (%d bytes)" % (sys.argv[3], jinja["output_bytes"]))
print("%-34s %10s %10s %10s" % ("case", "p50_us", "p99_us", "mean_us"))
rows = {}
for b in kos["benchmarks"]:
    if "p50_us" in b:
        mean = b["real_time"] / 1000.0 if b["time_unit"] == "ns" else b["real_time"]
        rows[b["name"]] = b["p50_us"]
        print("%-34s %10.2f %10.2f %10.2f" % (b["name"], b["p50_us"], b["p99_us"], mean))
    else:
        print("%-34s %10s %10s %10.2f" % (b["name"], "-", "-", b["real_time"] / 1000.0))
print("%-34s %10.2f %10.2f %10.2f" % (jinja["engine"] + " render", jinja["p50_us"], jinja["p99_us"],
                                       jinja["mean_us"]))
for name, p50 in rows.items():
    print("p50 speedup of %s over jinja2: %.1fx" % (name, jinja["p50_us"] / p50))
if sys.argv[3] != "yes":
    sys.exit("outputs differ")
PY
