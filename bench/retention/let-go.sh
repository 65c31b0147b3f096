#!/usr/bin/env bash
# Letting a month go on a deep, monthly-partitioned database (issue 27, "Measured by bench/"): the core server's own
# history-maintenance job rolls the oldest month of daily history up and detaches and drops its partitions, and the
# bulk refresh runs beside it.
#
# It works on the database bench/run.sh left with --history-days and --keep-cluster, e.g.
#   DONTGOBACK_BENCH_PG_PORT=25436 bench/run.sh --users 200000 --modes bulk --history-days 760 \
#       --days-at-depth 3 --fresh-days 3 --keep-cluster
#   DONTGOBACK_BENCH_PG_PORT=25436 bench/retention/let-go.sh [--rounds 3] [--pairs 3] [--connection-options 'Command Timeout=0']
#   scripts/postgres.sh stop 25436
# and uses the Release builds run.sh made (src/DontGoBack.CoreServer, src/DontGoBack.ExtensionSimulator).
#
# 1. --rounds times, the job alone: `run --job history-maintenance --day D` with History__KeepDailyMonths set so that
#    exactly the oldest month with daily rows leaves (one less each round). Its times come from the run record: the run's
#    started_at, the month's rolled_up_at (set in the roll-up's transaction) and daily_rows_deleted_at (set after the drop
#    committed), the run's finished_at; the job's own log lines say what it rolled up and dropped. The WAL is
#    pg_current_wal_lsn() sampled every 50 ms until the month's asset_rolled_up_months row is visible (the roll-up
#    committed), and again when the job has exited.
# 2. --pairs times: a bulk refresh of a new day alone, and the refresh of the next day with the job (letting the next
#    month go) started beside it at the same moment; the order alternates from pair to pair (alone first, then beside
#    first, ...). Before every refresh and every job alone: VACUUM ANALYZE, CHECKPOINT and sync, as run.sh does.
# --connection-options adds to the core server's connection string (e.g. 'Command Timeout=0': on 2026-12-07 the refresh's
# count of due users ran past Npgsql's default 30 s at 760 days of partitioned history, see bench/RESULTS.md).
# Standard output is markdown; progress and the processes' logs go to standard error.
set -euo pipefail
cd "$(dirname "$0")/../.."

port=${DONTGOBACK_BENCH_PG_PORT:-25434}
database=dontgoback_bench_deep
connection_options=""
rounds=3
pairs=3
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --pairs) pairs=$2; shift 2 ;;
    --database) database=$2; shift 2 ;;
    --connection-options) connection_options=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

framework=net10.0
core=src/DontGoBack.CoreServer/bin/Release/$framework/DontGoBack.CoreServer.dll
simulator=src/DontGoBack.ExtensionSimulator/bin/Release/$framework/DontGoBack.ExtensionSimulator.dll
for dll in "$core" "$simulator"; do
  [ -f "$dll" ] || { echo "$dll is missing: bench/run.sh builds it" >&2; exit 2; }
done
connection="Host=127.0.0.1;Port=$port;Username=postgres;Database=$database${connection_options:+;$connection_options}"
sql() { psql -h 127.0.0.1 -p "$port" -U postgres -d "$database" -XAtq -v ON_ERROR_STOP=1 -c "$1"; }
say() { echo "[let-go $(date -u +%H:%M:%S)] $*" >&2; }
settle() { sql "VACUUM ANALYZE" && sql "CHECKPOINT" && sync; }

sim_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sim_url="http://127.0.0.1:$sim_port"
Urls=$sim_url Simulator__MaxBulkItems=1000 Simulator__TokenLifetimeSeconds=86400 Logging__LogLevel__Default=Warning \
  dotnet "$simulator" > /tmp/let-go-simulator.log 2>&1 &
sim_pid=$!
trap 'kill "$sim_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -sf -X POST -H 'Content-Type: application/json' -d '{"clientId":"core","clientSecret":"local-core-secret"}' \
    "$sim_url/msa/auth/api/token" > /dev/null && break
  sleep 0.3
done
say "stand-in extension server at $sim_url (pid $sim_pid)"

# The core server as run.sh runs it, plus the lifecycle's log lines (what it rolled up and dropped).
core_env=(
  Database__Provider=Postgres "ConnectionStrings__DontGoBack=$connection" DemoData__UsersOnEmptyDatabase=0
  Logging__LogLevel__Default=Warning Logging__LogLevel__DontGoBack.CoreServer.Domain.Assets=Information
  "Extension__BaseUrl=$sim_url" "Auth__BaseUrl=$sim_url" Auth__ClientId=core Auth__ClientSecret=local-core-secret
  AssetRefresh__MaxConcurrency=256 Extension__MaxInFlight=256 Extension__BulkSize=1000 Extension__BulkCallsInFlight=4
  LoadTest__AllowFutureDays=true
)
json_field() { python3 -c "import json,sys; print(json.loads([l for l in open(sys.argv[1]) if l.strip()][-1])[sys.argv[2]])" "$1" "$2"; }

refresh() { # day -> job seconds
  local day=$1 out=/tmp/let-go-refresh-$1.json
  env "${core_env[@]}" dotnet "$core" refresh --day "$day" --json --allow-future-day > "$out" 2> >(sed "s/^/[refresh $day] /" >&2)
  python3 -c "import json,sys; r=json.loads([l for l in open(sys.argv[1]) if l.strip()][-1]); \
print(f\"{r['elapsedMs']/1000:.2f} {r['status']} {r['success']} {r['failed']}\")" "$out"
}

maintenance() { # day keep-months -> writes /tmp/let-go-maintenance-<day>.{json,log}
  local day=$1 keep=$2
  env "${core_env[@]}" History__KeepDailyMonths="$keep" \
    dotnet "$core" run --job history-maintenance --day "$day" --json --allow-future-day \
    > "/tmp/let-go-maintenance-$day.json" 2> "/tmp/let-go-maintenance-$day.log"
}

oldest_month() { sql "SELECT min(to_date(substr(c.relname, length('daily_asset_snapshots_y') + 1), 'YYYY\"m\"MM'))
  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
  WHERE i.inhparent = 'daily_asset_snapshots'::regclass AND c.relname LIKE 'daily_asset_snapshots_y%'"; }
# KeepDailyMonths that lets exactly <month> go when the job runs for <day>: the months from <month>'s next to <day>'s, counted.
keep_for() { python3 -c "import sys,datetime as d; m=d.date.fromisoformat(sys.argv[1]); x=d.date.fromisoformat(sys.argv[2]); \
print((x.year - m.year) * 12 + x.month - m.month)" "$1" "$2"; }

newest=$(sql "SELECT max(current_snapshot_day) FROM users")
next_day() { python3 -c "import sys,datetime as d; print(d.date.fromisoformat(sys.argv[1]) + d.timedelta(days=1))" "$1"; }
day=$(next_day "$newest")
say "database $database: newest day $newest, oldest month partition $(oldest_month); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

# One month let go by the job; prints a table row. $3: "alone" or "beside".
let_go() {
  local day=$1 how=$2 month keep walstart walend log
  month=$(oldest_month)
  keep=$(keep_for "$month" "$day")
  say "history-maintenance for $day with History__KeepDailyMonths=$keep: $month leaves ($how)"
  local bytes
  bytes=$(sql "SELECT pg_total_relation_size('$(python3 -c "import sys; y,m,_=sys.argv[1].split('-'); print(f'daily_asset_snapshots_y{y}m{m}')" "$month")') +
               pg_total_relation_size('$(python3 -c "import sys; y,m,_=sys.argv[1].split('-'); print(f'asset_changes_y{y}m{m}')" "$month")')")
  maintenance "$day" "$keep" &
  local job=$!
  walstart=""
  while kill -0 "$job" 2>/dev/null; do
    if [ -n "$(sql "SELECT 1 FROM asset_rolled_up_months WHERE month = '$month'")" ]; then
      walstart=$(sql "SELECT pg_current_wal_lsn()"); break
    fi
    sleep 0.05
  done
  wait "$job" || say "history-maintenance exited with $?"
  walend=$(sql "SELECT pg_current_wal_lsn()")
  log=/tmp/let-go-maintenance-$day.log
  sed "s/^/[maintenance $day] /" "$log" >&2
  local times
  times=$(sql "SELECT round(extract(epoch FROM m.rolled_up_at - r.started_at)::numeric, 2) || ' ' ||
                      round(extract(epoch FROM m.daily_rows_deleted_at - m.rolled_up_at)::numeric, 2) || ' ' ||
                      round(extract(epoch FROM m.daily_rows_deleted_at - r.started_at)::numeric, 2) || ' ' ||
                      round(extract(epoch FROM r.finished_at - r.started_at)::numeric, 2) || ' ' || r.status || ' ' || m.users
                 FROM batch_runs r, asset_rolled_up_months m
                WHERE r.job_name = 'history-maintenance' AND r.day = '$day' AND m.month = '$month'")
  local wal="—"
  [ -n "$walstart" ] && wal=$(sql "SELECT pg_wal_lsn_diff('$walend', '$walstart')::bigint")
  read -r rollup drop total run status users <<< "$times"
  echo "| $how | $day | ${month:0:7} | $keep | $users | $rollup | $drop | $total | $run | $(json_field "/tmp/let-go-maintenance-$day.json" elapsedMs) | $bytes | $wal | $status |"
}

echo "## The job alone"
echo
echo "| how | day | month | KeepDailyMonths | roll-up rows | run start → rolled up s | rolled up → dropped s | run start → dropped s | run s (record) | elapsedMs (result) | bytes dropped | WAL rolled up → job exit B | status |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for round in $(seq 1 "$rounds"); do
  settle
  let_go "$day" alone
  day=$(next_day "$day")
done

echo
echo "## The refresh alone and beside the job (each on a new day)"
echo
beside_rows=()
echo "| pair | order | refresh alone: day | job s | refresh beside: day | job s | beside ÷ alone |"
echo "|---|---|---|---|---|---|---|"
for pair in $(seq 1 "$pairs"); do
  alone_day=$day; beside_day=$(next_day "$day")
  if [ $((pair % 2)) -eq 1 ]; then order="alone, beside"; else order="beside, alone"; alone_day=$beside_day; beside_day=$day; fi
  for which in $(if [ $((pair % 2)) -eq 1 ]; then echo alone beside; else echo beside alone; fi); do
    settle
    if [ "$which" = alone ]; then
      say "refresh alone for $alone_day"
      read -r alone_s alone_status _ <<< "$(refresh "$alone_day")"
      say "refresh alone for $alone_day: $alone_s s, $alone_status"
    else
      say "refresh beside history-maintenance for $beside_day"
      let_go "$beside_day" beside > /tmp/let-go-beside-row-$pair.txt &
      let_pid=$!
      read -r beside_s beside_status _ <<< "$(refresh "$beside_day")"
      wait "$let_pid"
      beside_rows+=("$(cat /tmp/let-go-beside-row-$pair.txt)")
      say "refresh beside for $beside_day: $beside_s s, $beside_status"
    fi
  done
  echo "| $pair | $order | $alone_day | $alone_s | $beside_day | $beside_s | $(python3 -c "import sys; print(f'{float(sys.argv[2])/float(sys.argv[1]):.3f}')" "$alone_s" "$beside_s") |"
  day=$(next_day "$(next_day "$day")")
done
echo
echo "The job beside the refresh:"
echo
echo "| how | day | month | KeepDailyMonths | roll-up rows | run start → rolled up s | rolled up → dropped s | run start → dropped s | run s (record) | elapsedMs (result) | bytes dropped | WAL rolled up → job exit B | status |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${beside_rows[@]}"
echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
