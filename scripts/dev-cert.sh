#!/usr/bin/env bash
# Makes a self-signed TLS pair for development: an EC P-256 key (accepted by
# nginx, cpp-httplib/OpenSSL, Python's ssl module, curl and browsers alike)
# and a certificate for localhost / 127.0.0.1 valid for 365 days.
#
#   scripts/dev-cert.sh [--force] [--days N] [OUTDIR]     (OUTDIR default: ./dev-certs)
#
# Writes OUTDIR/server.crt (0644) and OUTDIR/server.key (0600) and prints
#   cert=OUTDIR/server.crt
#   key=OUTDIR/server.key
# An existing pair is kept (and printed) unless --force is given. The
# certificate is its own CA: clients trust it with e.g.
#   curl --cacert OUTDIR/server.crt https://localhost:8443/health
# Never use this pair in production.
set -euo pipefail

usage() { echo "usage: $0 [--force] [--days N] [OUTDIR]" >&2; exit 2; }

force=0
days=365
outdir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --force) force=1 ;;
    --days) [ $# -ge 2 ] || usage; days="$2"; shift ;;
    -h|--help) usage ;;
    -*) echo "$0: unknown option '$1'" >&2; usage ;;
    *) [ -z "$outdir" ] || usage; outdir="$1" ;;
  esac
  shift
done
outdir="${outdir:-./dev-certs}"
case "$days" in ''|*[!0-9]*) echo "$0: --days needs a positive integer" >&2; exit 2 ;; esac

command -v openssl >/dev/null || { echo "$0: openssl not found (apt-get install openssl)" >&2; exit 1; }

mkdir -p "$outdir"
outdir="$(cd "$outdir" && pwd)"
crt="$outdir/server.crt"
key="$outdir/server.key"

if [ "$force" = 0 ] && [ -s "$crt" ] && [ -s "$key" ]; then
  echo "cert=$crt"
  echo "key=$key"
  exit 0
fi

# The key is created under umask 077 so it is never world-readable, not even
# for the moment between writing and chmod.
tmp="$(umask 077 && mktemp -d "$outdir/.dev-cert.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
(
  umask 077
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -sha256 -nodes \
    -days "$days" -subj "/CN=localhost/O=kos development" \
    -keyout "$tmp/server.key" -out "$tmp/server.crt" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,digitalSignature,keyCertSign" \
    -addext "extendedKeyUsage=serverAuth" 2>"$tmp/openssl.err"
) || { cat "$tmp/openssl.err" >&2; echo "$0: openssl failed" >&2; exit 1; }
chmod 0600 "$tmp/server.key"
chmod 0644 "$tmp/server.crt"
mv -f "$tmp/server.key" "$key"
mv -f "$tmp/server.crt" "$crt"
echo "cert=$crt"
echo "key=$key"
