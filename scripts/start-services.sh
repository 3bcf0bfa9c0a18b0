#!/usr/bin/env bash
# Starts throwaway PostgreSQL and Redis servers on loopback ports for the
# external-backend tests, then writes the URIs the tests read.
#
#   scripts/start-services.sh [ENV_FILE]     (default: build/services.env)
#
# Idempotent: a server already answering on its port is left alone, a stale
# data directory is reused or rebuilt. Installs nothing (scripts/install-deps.sh
# brings postgresql and redis-server). Works as root (PostgreSQL then runs as
# the `postgres` user, as it refuses to run as root) and as a normal user.
#
# Environment overrides:
#   KOS_SERVICES_DIR   where data, sockets and logs live (default /tmp/kos-services-<uid>)
#   KOS_PG_PORT        PostgreSQL port (default 55432)
#   KOS_REDIS_PORT     Redis port (default 56379)
#   KOS_PG_BINDIR      PostgreSQL server binaries (default: newest /usr/lib/postgresql/*/bin)
set -euo pipefail

ENV_FILE=${1:-build/services.env}
DIR=${KOS_SERVICES_DIR:-/tmp/kos-services-$(id -u)}
PG_PORT=${KOS_PG_PORT:-55432}
REDIS_PORT=${KOS_REDIS_PORT:-56379}
PG_DB=kos_test

log() { echo "start-services: $*"; }
die() { echo "start-services: ERROR: $*" >&2; exit 1; }

if [ -z "${KOS_PG_BINDIR:-}" ]; then
  KOS_PG_BINDIR=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
fi
[ -x "${KOS_PG_BINDIR}/initdb" ] || die "PostgreSQL server binaries not found (run scripts/install-deps.sh or set KOS_PG_BINDIR)"
command -v redis-server >/dev/null || die "redis-server not found (run scripts/install-deps.sh)"
command -v redis-cli >/dev/null || die "redis-cli not found (run scripts/install-deps.sh)"

mkdir -p "$DIR"
chmod 755 "$DIR"

# --- PostgreSQL -------------------------------------------------------------
# PostgreSQL refuses to run as root: as root, run its tools as `postgres`.
PG_USER=$(id -un)
as_pg() { "$@"; }
if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || die "running as root but there is no 'postgres' user (is postgresql installed?)"
  PG_USER=postgres
  as_pg() { runuser -u postgres -- "$@"; }
fi
PGDATA="$DIR/pg"
PSQL=("${KOS_PG_BINDIR}/psql" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -X -q -v ON_ERROR_STOP=1)

# Creates the cluster if missing and starts it; false if it did not start.
pg_start() {
  if [ ! -d "$PGDATA" ]; then
    mkdir -p "$PGDATA"
    if [ "$(id -u)" -eq 0 ]; then chown postgres: "$PGDATA"; fi
    chmod 700 "$PGDATA"
    log "initdb $PGDATA"
    as_pg "${KOS_PG_BINDIR}/initdb" -D "$PGDATA" -U "$PG_USER" --auth=trust -E UTF8 \
      --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1 || { cat "$DIR/initdb.log" >&2; die "initdb failed"; }
  fi
  # The log lives outside PGDATA so a rebuild keeps it for diagnosis.
  touch "$DIR/pg-server.log"
  if [ "$(id -u)" -eq 0 ]; then chown postgres: "$PGDATA" "$DIR/pg-server.log"; fi
  # Throwaway test cluster: durability off for speed, loopback only, sockets
  # in its own directory (the system's /var/run/postgresql may not exist).
  log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
  as_pg "${KOS_PG_BINDIR}/pg_ctl" -D "$PGDATA" -l "$DIR/pg-server.log" -w -t 60 start \
    -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $PGDATA -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    >/dev/null 2>&1
}

pg_ready() { "${KOS_PG_BINDIR}/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d postgres -t 1 >/dev/null 2>&1; }

if pg_ready; then
  log "PostgreSQL already answering on 127.0.0.1:$PG_PORT"
else
  if [ -d "$PGDATA" ] && [ ! -f "$PGDATA/PG_VERSION" ]; then
    log "removing incomplete cluster in $PGDATA"
    rm -rf "$PGDATA"
  fi
  # A postmaster.pid left by a killed server names a dead process: remove it
  # (a pid reused by another process would otherwise block the start).
  if [ -f "$PGDATA/postmaster.pid" ]; then
    old_pid=$(head -n1 "$PGDATA/postmaster.pid" 2>/dev/null || true)
    if [ -z "$old_pid" ] || [ "$(cat "/proc/$old_pid/comm" 2>/dev/null || true)" != "postgres" ]; then
      log "removing stale $PGDATA/postmaster.pid"
      rm -f "$PGDATA/postmaster.pid"
    fi
  fi
  if ! pg_start; then
    # The cluster is throwaway: when it will not start, build a fresh one.
    log "PostgreSQL did not start from $PGDATA; rebuilding the cluster"
    tail -n 5 "$DIR/pg-server.log" >&2 || true
    sleep 2
    rm -rf "$PGDATA"
    pg_start || { tail -n 30 "$DIR/pg-server.log" >&2 || true; die "PostgreSQL did not start"; }
  fi
fi
for _ in $(seq 1 60); do pg_ready && break; sleep 0.5; done
pg_ready || die "PostgreSQL does not answer on 127.0.0.1:$PG_PORT"
if [ "$("${PSQL[@]}" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'")" != "1" ]; then
  log "creating database $PG_DB"
  "${PSQL[@]}" -d postgres -c "CREATE DATABASE $PG_DB" >/dev/null
fi

# --- Redis ------------------------------------------------------------------
redis_ready() { [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = "PONG" ]; }

if redis_ready; then
  log "Redis already answering on 127.0.0.1:$REDIS_PORT"
else
  mkdir -p "$DIR/redis"
  log "starting Redis on 127.0.0.1:$REDIS_PORT"
  # No persistence: test keys must not outlive the server.
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes --save "" --appendonly no \
    --dir "$DIR/redis" --pidfile "$DIR/redis/redis.pid" --logfile "$DIR/redis/redis.log" \
    --protected-mode yes >/dev/null || die "redis-server did not start"
  for _ in $(seq 1 100); do redis_ready && break; sleep 0.1; done
  redis_ready || { tail -n 20 "$DIR/redis/redis.log" >&2 || true; die "Redis does not answer on 127.0.0.1:$REDIS_PORT"; }
fi

# --- URIs for the tests -----------------------------------------------------
mkdir -p "$(dirname "$ENV_FILE")"
cat >"$ENV_FILE" <<ENV
KOS_TEST_POSTGRES_URI=postgresql://$PG_USER@127.0.0.1:$PG_PORT/$PG_DB
KOS_TEST_REDIS_URI=redis://127.0.0.1:$REDIS_PORT/0
ENV
log "wrote $ENV_FILE"
