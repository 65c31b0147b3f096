#!/usr/bin/env bash
# Throwaway PostgreSQL 15 cluster on loopback for tests and benchmarks.
#   scripts/postgres.sh start [port]   -> prints the connection string on the last line
#   scripts/postgres.sh stop  [port]
#   scripts/postgres.sh pause|resume [port]   -> stops / starts the server keeping its data (an outage, for tests)
# initdb refuses to run as root, so the cluster runs as the 'postgres' system user.
set -euo pipefail

action=${1:?usage: postgres.sh start|stop|pause|resume [port]}
port=${2:-${DONTGOBACK_PG_PORT:-25432}}
bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
data=${DONTGOBACK_PG_DATA:-/tmp/dontgoback-pg-$port}

# Durability off: the cluster is thrown away after the run, and fsync only slows tests.
options="-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$data -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 -c shared_buffers=512MB"

as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$action" in
  start)
    [ -x "$bin/initdb" ] || { echo "PostgreSQL 15 binaries not found in $bin" >&2; exit 1; }
    if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
      useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
    fi
    if as_postgres "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
      echo "already running on port $port" >&2
    else
      rm -rf "$data"
      mkdir -p "$data"
      [ "$(id -u)" -eq 0 ] && chown postgres "$data"
      as_postgres "$bin/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 --no-locale >/dev/null
      as_postgres "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -o "$options" start >/dev/null
    fi
    echo "Host=127.0.0.1;Port=$port;Username=postgres;Database=postgres"
    ;;
  stop)
    as_postgres "$bin/pg_ctl" -D "$data" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$data"
    ;;
  pause)
    # Sessions are ended at once (57P01), as when an operator or a failover stops the server.
    as_postgres "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null
    ;;
  resume)
    as_postgres "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -o "$options" start >/dev/null
    ;;
  *) echo "usage: postgres.sh start|stop|pause|resume [port]" >&2; exit 2 ;;
esac
