#!/usr/bin/env bash
# Letting a month go on a deep, monthly-partitioned database (issue 27, "Measured by bench/"), with the core server's own
# history-maintenance job: it rolls every closed month up as soon as it closes, and letting a month go later is a seal
# (a SHARE lock, sealed_at set) and the detach and drop of its partitions. The bulk refresh runs beside both.
#
# It works on the database bench/run.sh left with --history-days and --keep-cluster, e.g.
#   DONTGOBACK_BENCH_PG_PORT=25437 bench/run.sh --users 200000 --modes bulk --history-days 220 \
#       --days-at-depth 1 --fresh-days 1 --keep-cluster
#   DONTGOBACK_BENCH_PG_PORT=25437 bench/retention/let-go.sh [--rounds 3] [--pairs 2] [--rollup-pairs 2] \
#       [--connection-options 'Command Timeout=0']
#   scripts/postgres.sh stop 25437
# and uses the Release builds run.sh made (src/DontGoBack.CoreServer, src/DontGoBack.ExtensionSimulator).
#
# 0. Once, the catch-up: `run --job history-maintenance --day D` with History__KeepDailyMonths=40, which keeps every day
#    of the bench's history, so the job rolls up every closed month and lets none go (the seeded history was never
#    rolled up). Each month's time is its rolled_up_at less the one before it (the first: less the run's started_at).
# 1. --rounds times, the job alone, with History__KeepDailyMonths set so that exactly the oldest month with daily rows
#    leaves (one less each round). Its times come from the run record: the run's started_at, the month's sealed_at (set
#    under the seal's lock) and daily_rows_deleted_at (set after the drop committed), the run's finished_at; the job's own
#    log lines say what it sealed and dropped, and whether it rolled anything up (a round's day in a new month would).
#    The WAL is pg_current_wal_lsn() just before the job starts, sampled every 50 ms until the month's sealed_at is
#    visible (the seal committed), and again when the job has exited.
# 2. --pairs times: a bulk refresh of a new day alone, and the refresh of the next day with the job (letting the next
#    month go) started beside it at the same moment; the order alternates from pair to pair (alone first, then beside
#    first, ...). Before every refresh and every job alone: VACUUM ANALYZE, CHECKPOINT and sync, as run.sh does.
# 3. The early roll-up, as the job on the first day of a month does it for the month that just closed: the newest
#    rolled-up, unsealed month is made to roll up again (its roll-up rows and its asset_rolled_up_months row deleted, then
#    VACUUM ANALYZE, CHECKPOINT and sync), and the job runs with History__KeepDailyMonths=40: once alone, then
#    --rollup-pairs times beside a refresh, paired with a refresh alone as in 2. Its time is the month's rolled_up_at
#    less the run's started_at.
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
rollup_pairs=1
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --pairs) pairs=$2; shift 2 ;;
    --rollup-pairs) rollup_pairs=$2; shift 2 ;;
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

# Keeps every day of the bench's history (it spans months, not years): the job then only rolls closed months up.
keep_everything=40

newest=$(sql "SELECT max(current_snapshot_day) FROM users")
next_day() { python3 -c "import sys,datetime as d; print(d.date.fromisoformat(sys.argv[1]) + d.timedelta(days=1))" "$1"; }
# Every run on a day no job has run for, also when this script ran on the database before (its jobs ran for days after
# the newest snapshot's).
day=$(next_day "$(sql "SELECT greatest('$newest'::date, (SELECT max(day) FROM batch_runs))")")
say "database $database: newest day $newest, oldest month partition $(oldest_month); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

wal_lsn() { sql "SELECT pg_current_wal_lsn()"; }
wal_since() { sql "SELECT pg_wal_lsn_diff('$2', '$1')::bigint"; }
# The job's own log lines saying it rolled a month up ("History 2027-06 rolled up: …").
months_rolled_up() { grep -c ' rolled up: ' "/tmp/let-go-maintenance-$1.log" || true; }
run_seconds() { sql "SELECT round(extract(epoch FROM finished_at - started_at)::numeric, 2) || ' ' || status
                       FROM batch_runs WHERE job_name = 'history-maintenance' AND day = '$1'"; }

# 0. Every closed month rolled up early, once; prints the table.
catch_up() {
  local day=$1 walstart walend
  say "history-maintenance for $day with History__KeepDailyMonths=$keep_everything: every closed month rolled up (catch-up)"
  walstart=$(wal_lsn)
  maintenance "$day" "$keep_everything" || say "history-maintenance exited with $?"
  walend=$(wal_lsn)
  sed "s/^/[maintenance $day] /" "/tmp/let-go-maintenance-$day.log" >&2
  echo "## The catch-up: every closed month rolled up early (the job for $day, History__KeepDailyMonths=$keep_everything, alone)"
  echo
  echo "| month | roll-up rows | s (rolled_up_at less the month before's; the first less the run's start) |"
  echo "|---|---:|---:|"
  sql "SELECT '| ' || to_char(m.month, 'YYYY-MM') || ' | ' || m.users || ' | ' ||
              round(extract(epoch FROM m.rolled_up_at - coalesce(lag(m.rolled_up_at) OVER (ORDER BY m.month), r.started_at))::numeric, 2) || ' |'
         FROM asset_rolled_up_months m JOIN batch_runs r ON r.job_name = 'history-maintenance' AND r.day = '$day'
        WHERE m.rolled_up_at >= r.started_at ORDER BY m.month"
  echo
  read -r run status <<< "$(run_seconds "$day")"
  echo "$(months_rolled_up "$day") months rolled up; run $run s (record), elapsedMs $(json_field "/tmp/let-go-maintenance-$day.json" elapsedMs), $status;" \
       "WAL job start → exit $(wal_since "$walstart" "$walend") B; load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
}

# One month let go by the job (sealed, detached, dropped); prints a table row. $2: "alone" or "beside".
let_go() {
  local day=$1 how=$2 month keep walrun walstart walend log
  month=$(oldest_month)
  keep=$(keep_for "$month" "$day")
  say "history-maintenance for $day with History__KeepDailyMonths=$keep: $month leaves ($how)"
  local bytes
  bytes=$(sql "SELECT pg_total_relation_size('$(python3 -c "import sys; y,m,_=sys.argv[1].split('-'); print(f'daily_asset_snapshots_y{y}m{m}')" "$month")') +
               pg_total_relation_size('$(python3 -c "import sys; y,m,_=sys.argv[1].split('-'); print(f'asset_changes_y{y}m{m}')" "$month")')")
  walrun=$(wal_lsn)
  maintenance "$day" "$keep" &
  local job=$!
  walstart=""
  while kill -0 "$job" 2>/dev/null; do
    if [ -n "$(sql "SELECT 1 FROM asset_rolled_up_months WHERE month = '$month' AND sealed_at IS NOT NULL")" ]; then
      walstart=$(wal_lsn); break
    fi
    sleep 0.05
  done
  wait "$job" || say "history-maintenance exited with $?"
  walend=$(wal_lsn)
  log=/tmp/let-go-maintenance-$day.log
  sed "s/^/[maintenance $day] /" "$log" >&2
  local times
  times=$(sql "SELECT coalesce(round(extract(epoch FROM m.sealed_at - r.started_at)::numeric, 2)::text, '—') || ' ' ||
                      coalesce(round(extract(epoch FROM m.daily_rows_deleted_at - m.sealed_at)::numeric, 2)::text, '—') || ' ' ||
                      coalesce(round(extract(epoch FROM m.daily_rows_deleted_at - r.started_at)::numeric, 2)::text, '—') || ' ' ||
                      coalesce(round(extract(epoch FROM r.finished_at - r.started_at)::numeric, 2)::text, '—') || ' ' || r.status || ' ' || m.users
                 FROM batch_runs r, asset_rolled_up_months m
                WHERE r.job_name = 'history-maintenance' AND r.day = '$day' AND m.month = '$month'")
  local wal="—"
  [ -n "$walstart" ] && wal=$(wal_since "$walstart" "$walend")
  read -r sealed drop total run status users <<< "$times"
  echo "| $how | $day | ${month:0:7} | $keep | $users | $(months_rolled_up "$day") | $sealed | $drop | $total | $run | $(json_field "/tmp/let-go-maintenance-$day.json" elapsedMs) | $bytes | $wal | $(wal_since "$walrun" "$walend") | $status |"
}
let_go_header="| how | day | month | KeepDailyMonths | users in its roll-up | months rolled up in the run | run start → sealed s | sealed → dropped s | run start → dropped s | run s (record) | elapsedMs (result) | bytes dropped | WAL sealed → job exit B | WAL job start → exit B | status |
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"

# The month the next early roll-up rolls up: the newest rolled up and not sealed, made to roll up again as if it had just
# closed (its roll-up rows go too: the roll-up keeps a row it finds, so it would write nothing).
rollup_month=""
prepare_early_rollup() {
  rollup_month=$(sql "SELECT max(month) FROM asset_rolled_up_months WHERE sealed_at IS NULL")
  [ -n "$rollup_month" ] || { echo "no rolled-up, unsealed month to roll up again" >&2; exit 1; }
  say "$rollup_month made to roll up again: its roll-up rows and its asset_rolled_up_months row deleted"
  sql "BEGIN; DELETE FROM asset_month_rollups WHERE month = '$rollup_month'; DELETE FROM asset_rolled_up_months WHERE month = '$rollup_month'; COMMIT"
}
prepare_let_go() { :; }

# The month prepare_early_rollup chose rolled up by the job, as on the first day after it closes; prints a table row.
early_rollup() {
  local day=$1 how=$2 walrun walend
  say "history-maintenance for $day with History__KeepDailyMonths=$keep_everything: $rollup_month rolls up ($how)"
  walrun=$(wal_lsn)
  maintenance "$day" "$keep_everything" || say "history-maintenance exited with $?"
  walend=$(wal_lsn)
  sed "s/^/[maintenance $day] /" "/tmp/let-go-maintenance-$day.log" >&2
  local times
  times=$(sql "SELECT coalesce(round(extract(epoch FROM m.rolled_up_at - r.started_at)::numeric, 2)::text, '—') || ' ' ||
                      coalesce(round(extract(epoch FROM r.finished_at - r.started_at)::numeric, 2)::text, '—') || ' ' || r.status || ' ' || m.users
                 FROM batch_runs r, asset_rolled_up_months m
                WHERE r.job_name = 'history-maintenance' AND r.day = '$day' AND m.month = '$rollup_month'")
  read -r rolled run status users <<< "$times"
  echo "| $how | $day | ${rollup_month:0:7} | $users | $(months_rolled_up "$day") | $rolled | $run | $(json_field "/tmp/let-go-maintenance-$day.json" elapsedMs) | $(wal_since "$walrun" "$walend") | $status |"
}
early_rollup_header="| how | day | month | roll-up rows | months rolled up in the run | run start → rolled up s | run s (record) | elapsedMs (result) | WAL job start → exit B | status |
|---|---|---|---|---|---|---|---|---|---|"

# $1 pairs of a refresh alone and a refresh beside the job $2 (let_go or early_rollup), each on a new day from $day; prints
# the pairs' table, then the job's rows beside the refresh under $3.
paired() {
  local count=$1 job=$2 header=$3 pair alone_day beside_day order which alone_s beside_s
  local -a beside_rows=()
  echo "| pair | order | refresh alone: day | job s | refresh beside: day | job s | beside ÷ alone |"
  echo "|---|---|---|---|---|---|---|"
  for pair in $(seq 1 "$count"); do
    alone_day=$day; beside_day=$(next_day "$day")
    if [ $((pair % 2)) -eq 1 ]; then order="alone, beside"; else order="beside, alone"; alone_day=$beside_day; beside_day=$day; fi
    for which in $(if [ $((pair % 2)) -eq 1 ]; then echo alone beside; else echo beside alone; fi); do
      if [ "$which" = alone ]; then
        settle
        say "refresh alone for $alone_day"
        read -r alone_s alone_status _ <<< "$(refresh "$alone_day")"
        say "refresh alone for $alone_day: $alone_s s, $alone_status"
      else
        "prepare_$job"
        settle
        say "refresh beside $job for $beside_day"
        "$job" "$beside_day" beside > "/tmp/let-go-beside-$job-$pair.txt" &
        local job_pid=$!
        read -r beside_s beside_status _ <<< "$(refresh "$beside_day")"
        wait "$job_pid"
        beside_rows+=("$(cat "/tmp/let-go-beside-$job-$pair.txt")")
        say "refresh beside for $beside_day: $beside_s s, $beside_status"
      fi
    done
    echo "| $pair | $order | $alone_day | $alone_s | $beside_day | $beside_s | $(python3 -c "import sys; print(f'{float(sys.argv[2])/float(sys.argv[1]):.3f}')" "$alone_s" "$beside_s") |"
    day=$(next_day "$(next_day "$day")")
  done
  echo
  echo "The job beside the refresh:"
  echo
  echo "$header"
  printf '%s\n' "${beside_rows[@]}"
  echo
}

settle
catch_up "$day"
day=$(next_day "$day")

echo "## Letting a month go: the job alone"
echo
echo "$let_go_header"
for round in $(seq 1 "$rounds"); do
  settle
  let_go "$day" alone
  day=$(next_day "$day")
done
echo
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

echo "## The refresh alone and beside the job letting a month go (each on a new day)"
echo
paired "$pairs" let_go "$let_go_header"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

if [ "$rollup_pairs" -gt 0 ]; then
  echo "## A month's early roll-up: the job alone, then the refresh alone and beside it (each on a new day)"
  echo
  echo "$early_rollup_header"
  prepare_early_rollup
  settle
  early_rollup "$day" alone
  day=$(next_day "$day")
  echo
  paired "$rollup_pairs" early_rollup "$early_rollup_header"
fi
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
