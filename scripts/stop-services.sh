#!/usr/bin/env bash
# Stops the servers scripts/start-services.sh started. Data stays in
# $KOS_SERVICES_DIR (pass --purge to delete it too).
set -euo pipefail

DIR=${KOS_SERVICES_DIR:-/tmp/kos-services-$(id -u)}
REDIS_PORT=${KOS_REDIS_PORT:-56379}
if [ -z "${KOS_PG_BINDIR:-}" ]; then
  KOS_PG_BINDIR=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
fi
log() { echo "stop-services: $*"; }

as_pg() { "$@"; }
[ "$(id -u)" -eq 0 ] && as_pg() { runuser -u postgres -- "$@"; }

if [ -f "$DIR/pg/postmaster.pid" ] && [ -x "${KOS_PG_BINDIR}/pg_ctl" ]; then
  as_pg "${KOS_PG_BINDIR}/pg_ctl" -D "$DIR/pg" -m fast -w stop >/dev/null && log "PostgreSQL stopped" \
    || log "PostgreSQL was not running"
else
  log "no PostgreSQL cluster running from $DIR/pg"
fi

if redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1; then
  # Only stop the server we started: its pid file lives in our directory.
  if [ -f "$DIR/redis/redis.pid" ]; then
    pid=$(cat "$DIR/redis/redis.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    log "Redis stopped"
  else
    log "Redis on port $REDIS_PORT was not started by start-services.sh; left running"
  fi
else
  log "no Redis answering on port $REDIS_PORT"
fi

if [ "${1:-}" = "--purge" ]; then
  rm -rf "$DIR"
  log "removed $DIR"
fi
