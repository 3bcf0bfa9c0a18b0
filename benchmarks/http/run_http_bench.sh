#!/usr/bin/env bash
# HTTP benchmark: kos-server against the FastAPI baseline, same machine, same
# run, same wrk settings, on two routes:
#   GET /health                    (no auth)
#   GET /api/v1/users/me/profile   (EdDSA JWT validation + role check + a row read)
#
#   benchmarks/http/run_http_bench.sh [KOS_SERVER]
#
# KOS_SERVER (an explicit argument always wins) defaults to
# build-release/servers/http/kos-server when that exists, else
# build/servers/http/kos-server. Builds nothing.
# Environment: DURATION (10s), THREADS (2), CONNECTIONS (64), WARMUP (2s),
# PIN (1: servers on CPU 0, wrk on CPU 1 when there are >= 2 CPUs),
# KOS_THREADS (kos-server --threads = event-loop threads; default 1, since
# the server is pinned to one CPU and uvicorn runs one worker process too).
# Prints a markdown table (req/s, p50, p99, server CPU time per request,
# kos/FastAPI ratio) and the load average before and after. CPU µs/request
# is the server process's utime+stime delta over the measured run divided by
# the requests wrk completed: it moves much less with other tenants' load
# than req/s does. A row whose responses were not all 200 is marked INVALID
# instead of being compared.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
py=/usr/bin/python3

kos="${1:-}"
if [ -z "$kos" ]; then
  if [ -x "$root/build-release/servers/http/kos-server" ]; then
    kos="$root/build-release/servers/http/kos-server"
  else
    kos="$root/build/servers/http/kos-server"
  fi
fi
[ -x "$kos" ] || { echo "run_http_bench.sh: no kos-server at '$kos'" >&2; exit 1; }
command -v wrk >/dev/null || { echo "run_http_bench.sh: wrk not found (apt-get install wrk)" >&2; exit 1; }
$py -c 'import fastapi, uvicorn, uvloop, httptools, jwt' 2>/dev/null ||
  { echo "run_http_bench.sh: needs python3-fastapi python3-uvicorn python3-uvloop python3-httptools python3-jwt" >&2; exit 1; }

DURATION="${DURATION:-10s}"
THREADS="${THREADS:-2}"
CONNECTIONS="${CONNECTIONS:-64}"
WARMUP="${WARMUP:-2s}"
KOS_THREADS="${KOS_THREADS:-1}"
PIN="${PIN:-1}"

server_cpu=() wrk_cpu=()
if [ "$PIN" = 1 ] && [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
  server_cpu=(taskset -c 0)
  wrk_cpu=(taskset -c 1)
fi

free_port() { $py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

tmp="$(mktemp -d "${TMPDIR:-/tmp}/kos-http-bench.XXXXXX")"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

wait_http() {  # url pid seconds
  local i
  for i in $(seq $(( $3 * 10 ))); do
    if curl -fsS -o /dev/null -m 1 "$1" 2>/dev/null; then return 0; fi
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# kos-server's own rate limits (global 1000/hour per address, api 100/minute
# per user) would turn a benchmark into a 429 benchmark; the baseline has
# none, so they are switched off when the binary offers a flag for it.
kos_flags=()
help="$("$kos" --help 2>&1 || true)"
for f in --no-rate-limits --no-rate-limit --disable-rate-limits; do
  if grep -q -- "$f\b" <<<"$help"; then kos_flags+=("$f"); break; fi
done
[ ${#kos_flags[@]} -gt 0 ] || echo "warning: $kos has no flag to switch its rate limits off; expect 429s" >&2

cp -r "$root/deploy/config" "$tmp/config"
kport="$(free_port)"
"${server_cpu[@]}" "$kos" --host 127.0.0.1 --port "$kport" --data "$tmp/data" \
  --config "$tmp/config" --logs "$tmp/logs" --threads "$KOS_THREADS" \
  --admin-password-file "$tmp/admin-password" "${kos_flags[@]}" >"$tmp/kos.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$kport/health" "${pids[-1]}" 60 ||
  { echo "kos-server did not start:" >&2; cat "$tmp/kos.log" >&2; exit 1; }

login="$(curl -fsS -m 30 -H 'Content-Type: application/json' \
  --data "$($py -c 'import json,sys; print(json.dumps({"username":"admin","password":open(sys.argv[1]).read().strip()}))' "$tmp/admin-password")" \
  "http://127.0.0.1:$kport/api/v1/auth/login")"
$py -c 'import json,sys; print(json.loads(sys.argv[1])["access_token"])' "$login" >"$tmp/token"
export KOS_BENCH_TOKEN="$(cat "$tmp/token")"

auth_route=/api/v1/users/me/profile
have_auth=1
if ! curl -fsS -o /dev/null -m 10 -H "Authorization: Bearer $KOS_BENCH_TOKEN" \
    "http://127.0.0.1:$kport$auth_route"; then
  echo "note: kos-server does not serve $auth_route yet; only /health is measured" >&2
  have_auth=0
fi

fport="$(free_port)"
if [ "$have_auth" = 1 ]; then token_arg=(--token-file "$tmp/token"); else token_arg=(); fi
"${server_cpu[@]}" $py "$here/fastapi_app.py" --port "$fport" --kos-url "http://127.0.0.1:$kport" \
  --db "$tmp/fastapi-users.db" "${token_arg[@]}" >"$tmp/fastapi.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$fport/health" "${pids[-1]}" 60 ||
  { echo "FastAPI did not start:" >&2; cat "$tmp/fastapi.log" >&2; exit 1; }

load_before="$(cut -d' ' -f1-3 /proc/loadavg)"

kos_pid="${pids[0]}" fastapi_pid="${pids[1]}"
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# run NAME URL PID -> appends "NAME rps p50_ms p99_ms statuses cpu_us" to $tmp/results
run() {
  local name="$1" url="$2" pid="$3" out t0 t1
  "${wrk_cpu[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" -s "$here/auth.lua" "$url" >/dev/null
  t0="$(cpu_ticks "$pid")"
  out="$("${wrk_cpu[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$here/auth.lua" "$url")"
  t1="$(cpu_ticks "$pid")"
  echo "$out" >"$tmp/wrk-$name.txt"
  $py - "$name" "$out" "$((t1 - t0))" "$(getconf CLK_TCK)" >>"$tmp/results" <<'PY'
import re, sys
name, out = sys.argv[1], sys.argv[2]
ticks, tck = int(sys.argv[3]), int(sys.argv[4])
n = int(re.search(r"(\d+) requests in", out).group(1))
cpu_us = ticks * 1e6 / tck / max(n, 1)
def ms(v):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", v)
    return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[m.group(2)]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
p50 = ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
p99 = ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
st = re.search(r"^statuses: (.*)$", out, re.M)
errs = re.search(r"Socket errors: (.*)$", out, re.M)
statuses = st.group(1).strip() if st else "?"
sock = ""
if errs:  # "connect 0, read 0, write 0, timeout 12" -> ",socket_errors:timeout=12"
    bad = ["%s=%s" % (k, v) for k, v in re.findall(r"(\w+) (\d+)", errs.group(1)) if v != "0"]
    sock = ",socket_errors:" + "+".join(bad)
print("%s %.1f %.3f %.3f %s%s %.0f" % (name, rps, p50, p99, statuses.replace(" ", ","), sock, cpu_us))
PY
}

: >"$tmp/results"
run kos_health "http://127.0.0.1:$kport/health" "$kos_pid"
run fastapi_health "http://127.0.0.1:$fport/health" "$fastapi_pid"
if [ "$have_auth" = 1 ]; then
  run kos_auth "http://127.0.0.1:$kport$auth_route" "$kos_pid"
  run fastapi_auth "http://127.0.0.1:$fport$auth_route" "$fastapi_pid"
fi
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

$py - "$tmp/results" <<PY
import sys
rows = {}
for line in open(sys.argv[1]):
    name, rps, p50, p99, st, cpu = line.split()
    rows[name] = (float(rps), float(p50), float(p99), st, float(cpu))
def ok(st):
    return all(p.startswith("200=") for p in st.split(",")) and "socket_errors" not in st
print()
print("kos-server: $kos (threads $KOS_THREADS${kos_flags:+, ${kos_flags[*]}})")
print("wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency (after a $WARMUP warm-up)%s"
      % ("; servers pinned to CPU 0, wrk to CPU 1" if "${server_cpu[*]}" else ""))
print("load average before: $load_before; after: $load_after ($(nproc) CPUs, shared)")
print()
print("| route | server | req/s | p50 ms | p99 ms | CPU µs/req | responses | kos/FastAPI req/s |")
print("|---|---|---:|---:|---:|---:|---|---:|")
for route, key in (("GET /health", "health"), ("GET $auth_route", "auth")):
    k, f = rows.get("kos_" + key), rows.get("fastapi_" + key)
    if not k or not f:
        continue
    valid = ok(k[3]) and ok(f[3])
    ratio = "%.1fx" % (k[0] / f[0]) if valid and f[0] > 0 else "INVALID (non-200 responses)"
    print("| %s | kos-server | %.0f | %.2f | %.2f | %.0f | %s | %s |" % (route, k[0], k[1], k[2], k[4], k[3], ratio))
    print("| %s | FastAPI | %.0f | %.2f | %.2f | %.0f | %s | |" % (route, f[0], f[1], f[2], f[4], f[3]))
PY
