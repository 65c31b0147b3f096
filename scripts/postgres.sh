#!/usr/bin/env bash
# Throwaway PostgreSQL 15 cluster on loopback for tests and benchmarks.
#   scripts/postgres.sh start [port]   -> prints the connection string on the last line
#   scripts/postgres.sh stop  [port]
#   scripts/postgres.sh pause|resume [port]   -> stops / starts the server keeping its data (an outage, for tests)
#   scripts/postgres.sh pages [port]           -> the shared buffers' size and whether they sit in huge pages (for the benches' notes)
# initdb refuses to run as root, so the cluster runs as the 'postgres' system user.
#
# Variables it reads (all optional):
#   DONTGOBACK_PG_PORT              the port when none is given (25432)
#   DONTGOBACK_PG_DATA              the cluster's data directory (/tmp/dontgoback-pg-<port>); `start` empties
#                                   it and `stop` deletes it, so never point it at data you keep
#   DONTGOBACK_PG_SHARED_BUFFERS_MB PostgreSQL's shared_buffers in MB (512)
#   PG_BIN                          PostgreSQL 15's binaries (/usr/lib/postgresql/15/bin)
#
# What it changes on the machine, when run as root, each said on stderr as it happens:
#   - creates the 'postgres' system user if missing (it stays: later runs reuse it);
#   - raises vm.nr_hugepages by what the cluster's shared buffers need (`stop` gives back what
#     `start`/`resume` raised, and nothing more).
set -euo pipefail

action=${1:?usage: postgres.sh start|stop|pause|resume [port]}
port=${2:-${DONTGOBACK_PG_PORT:-25432}}
bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
data=${DONTGOBACK_PG_DATA:-/tmp/dontgoback-pg-$port}

# Durability off: the cluster is thrown away after the run, and fsync only slows tests.
# Shared buffers in huge pages when the kernel has them (see reserve_huge_pages): PostgreSQL's
# own advice for large shared memory, and on this kind of VM a backend's first touch of a 4 kB
# page of shared buffers is a page fault costing tens of microseconds (a cold 45-buffer query
# took 2.4 ms with 4 kB pages and 0.35 ms with huge ones).
# DONTGOBACK_PG_SHARED_BUFFERS_MB sizes the buffers (512 by default, for tests and benches alike).
shared_buffers_mb=${DONTGOBACK_PG_SHARED_BUFFERS_MB:-512}
case "$shared_buffers_mb" in
  ''|*[!0-9]*) echo "DONTGOBACK_PG_SHARED_BUFFERS_MB must be a whole number of MB" >&2; exit 2 ;;
esac
options="-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$data -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 -c shared_buffers=${shared_buffers_mb}MB -c huge_pages=try"
# 2 MB each: the buffers, their descriptors and queues (about 3% more), locks and WAL buffers.
huge_pages_per_cluster=$(( shared_buffers_mb * 103 / 200 + 50 ))

# Reserves huge pages for one more cluster when this runs as root and the kernel allows it;
# otherwise PostgreSQL starts on ordinary pages (huge_pages=try) and this says so. What it raised
# is noted in the data directory, for `stop` to give back exactly that.
raised_note() { echo "$data/dontgoback-raised-huge-pages"; }
reserve_huge_pages() {
  local nr=/proc/sys/vm/nr_hugepages free before after
  # Free pages that another cluster has not reserved already.
  unclaimed() { awk '/HugePages_Free/ {f=$2} /HugePages_Rsvd/ {r=$2} END {print (f - r) + 0}' /proc/meminfo 2>/dev/null || echo 0; }
  free=$(unclaimed)
  before=$(cat "$nr" 2>/dev/null || echo 0)
  if [ "$free" -lt "$huge_pages_per_cluster" ]; then
    echo $(( before + huge_pages_per_cluster - free )) 2>/dev/null > "$nr" || true
  fi
  after=$(cat "$nr" 2>/dev/null || echo 0)
  if [ "$after" -gt "$before" ]; then
    echo "postgres.sh: raised vm.nr_hugepages from $before to $after for the cluster on port $port (its stop gives them back)" >&2
    echo $(( $(cat "$(raised_note)" 2>/dev/null || echo 0) + after - before )) > "$(raised_note)"
  fi
  if [ "$(unclaimed)" -lt "$huge_pages_per_cluster" ]; then
    echo "no huge pages for PostgreSQL's shared buffers (vm.nr_hugepages not raised); it starts on 4 kB pages, slower on VMs" >&2
  fi
}

# Gives back the huge pages this cluster's start raised, once it has stopped; other clusters'
# pages, and what the machine had before, stay.
release_huge_pages() {
  local nr=/proc/sys/vm/nr_hugepages raised before after
  raised=$(cat "$(raised_note)" 2>/dev/null || echo 0)
  [ "$raised" -gt 0 ] || return 0
  before=$(cat "$nr" 2>/dev/null || echo 0)
  after=$(( before > raised ? before - raised : 0 ))
  echo "$after" 2>/dev/null > "$nr" || true
  echo "postgres.sh: gave back vm.nr_hugepages from $before to $(cat "$nr" 2>/dev/null || echo "?") (the cluster on port $port is stopped)" >&2
}

as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$action" in
  start)
    [ -x "$bin/initdb" ] || { echo "PostgreSQL 15 binaries not found in $bin" >&2; exit 1; }
    if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
      useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
      echo "postgres.sh: created the system user 'postgres' to run PostgreSQL (initdb refuses root); it stays for later runs (userdel postgres removes it)" >&2
    fi
    if as_postgres "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
      echo "already running on port $port" >&2
    else
      rm -rf "$data"
      mkdir -p "$data"
      [ "$(id -u)" -eq 0 ] && chown postgres "$data"
      as_postgres "$bin/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 --no-locale >/dev/null
      reserve_huge_pages
      as_postgres "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -o "$options" start >/dev/null
    fi
    echo "Host=127.0.0.1;Port=$port;Username=postgres;Database=postgres"
    ;;
  stop)
    as_postgres "$bin/pg_ctl" -D "$data" -m fast stop >/dev/null 2>&1 || true
    release_huge_pages
    rm -rf "$data"
    ;;
  pause)
    # Sessions are ended at once (57P01), as when an operator or a failover stops the server.
    as_postgres "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null
    ;;
  resume)
    reserve_huge_pages
    as_postgres "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -o "$options" start >/dev/null
    ;;
  pages)
    # Not per cluster (PostgreSQL 15 cannot tell): the huge pages held on this machine, which runs one bench at a time.
    # The running cluster's own setting, not this script's default: a kept cluster may have been started otherwise.
    buffers=$("$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -Atqc "SHOW shared_buffers" 2>/dev/null || echo "unknown (server not reachable)")
    awk -v buffers="$buffers" '/HugePages_Total/ {t=$2} /HugePages_Free/ {f=$2} /HugePages_Rsvd/ {r=$2}
         END {h = t - f + r; printf "PostgreSQL shared buffers %s, ", buffers;
              if (h > 0) print "in huge pages (" h " of 2 MB held)"; else print "on 4 kB pages"}' /proc/meminfo
    ;;
  *) echo "usage: postgres.sh start|stop|pause|resume|pages [port]" >&2; exit 2 ;;
esac
