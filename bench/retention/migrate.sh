#!/usr/bin/env bash
# The online history migration (`migrate-history`, issue 27) measured on a plain-layout PostgreSQL database while the
# daily refresh runs beside it. One run:
#   1. seed: bench/DontGoBack.PlainHistory recreates the database, applies the core server's migrations up to
#      MonthlyRollups and seeds --users users (90% ACTIVE) with --days days of history by the benches' shared seeder
#      (HistoryCopy, binary COPY); then the core server's `verify` applies the rest (MonthlyPartitions keeps the plain
#      tables, as on a server installed before it, and fills users.current_snapshot_day). Checks the layout is plain.
#   2. baseline: the core server's `refresh` of the next day alone, bulk mode as bench/run.sh runs it (stand-in
#      extension server on loopback, 1000 users a call, 4 calls in flight, 256 users in flight).
#   3. the pair: `migrate-history --batch-size B` started, and once its copy is under way, the refresh of the day after.
#      Times the migration (and each step from its log lines), its copy rate, the switch (its own log line), the
#      refresh beside the baseline, the WAL written from the migration's start to its end (the refresh's share included;
#      the baseline refresh's own WAL is printed to set against it), the database's size every 10 s.
#   4. after: a refresh of the next day alone on the partitioned layout (the same refresh, to bracket the pair);
#      `verify`, the row counts against the counts before plus the rows the refreshes wrote, no (user, day) twice, the
#      DEFAULT partitions empty, the plain tables and the migration's own table gone, `\d+ daily_asset_snapshots`.
# Every measured step is preceded by VACUUM (ANALYZE), CHECKPOINT and sync, as bench/run.sh settles its runs, and
# notes the load averages at its start and end. Days: the history ends three days before today (UTC), the refreshes
# take the three days after it. Progress and logs on standard error and under the output directory; the summary table
# (markdown) on standard output.
#
#   bench/retention/migrate.sh                          # 1,000,000 users x 60 days, one run, cluster on 127.0.0.1:25438
#   bench/retention/migrate.sh --users 20000 --days 10  # smoke run, a minute or two
#   bench/retention/migrate.sh --runs 2                 # the database seeded again and the whole run repeated
#   bench/retention/migrate.sh --skip-seed              # the first run reuses a plain database a run before left seeded
#
# Needs what bench/run.sh needs (the .NET SDK, PostgreSQL 15 binaries), and about 25 GB of disk at 1,000,000 users x 60
# days (the history twice during the copy, plus WAL). DONTGOBACK_MIGBENCH_PG_PORT changes the port (25438);
# DONTGOBACK_MIGBENCH_OUT the output directory (/tmp/migbench-<port>). The cluster is started by scripts/postgres.sh
# (fsync off, full_page_writes off: the WAL figures leave out the page images production writes after a checkpoint) and
# stopped on exit unless --keep-cluster.
set -euo pipefail
cd "$(dirname "$0")/../.."

users=1000000
days=60
batch_size=20000
runs=1
skip_seed=0
keep_cluster=0
while [ $# -gt 0 ]; do
  case "$1" in
    --users) users=$2; shift 2 ;;
    --days) days=$2; shift 2 ;;
    --batch-size) batch_size=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --skip-seed) skip_seed=1; shift ;;
    --keep-cluster) keep_cluster=1; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

port=${DONTGOBACK_MIGBENCH_PG_PORT:-25438}
out=${DONTGOBACK_MIGBENCH_OUT:-/tmp/migbench-$port}
database=dontgoback_plain
framework=net10.0
core=src/DontGoBack.CoreServer/bin/Release/$framework/DontGoBack.CoreServer.dll
simulator_dll=src/DontGoBack.ExtensionSimulator/bin/Release/$framework/DontGoBack.ExtensionSimulator.dll
seeder=bench/DontGoBack.PlainHistory/bin/Release/$framework/DontGoBack.PlainHistory.dll
mkdir -p "$out"

say() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

for project in src/DontGoBack.CoreServer src/DontGoBack.ExtensionSimulator bench/DontGoBack.PlainHistory; do
  dotnet build "$project" -c Release --nologo -v quiet >&2
done

simulator_pid=
cleanup() {
  [ -n "$simulator_pid" ] && kill "$simulator_pid" 2>/dev/null || true
  [ "$keep_cluster" -eq 1 ] || scripts/postgres.sh stop "$port"
}
trap cleanup EXIT
admin=$(scripts/postgres.sh start "$port" | tail -n 1)
connection="${admin/Database=postgres/Database=$database}"
server_log=/tmp/dontgoback-pg-$port/server.log
sql() { psql -h 127.0.0.1 -p "$port" -U postgres -d "$database" -v ON_ERROR_STOP=1 -qAtc "$1"; }
# A lock wait of a second or more is logged by the server: the report greps for it.
psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -qAtc "ALTER SYSTEM SET log_lock_waits = on" -c "SELECT pg_reload_conf()" >/dev/null

settle() {
  sql "VACUUM (ANALYZE)"
  sql "CHECKPOINT"
  sync
}

core_env=(Database__Provider=Postgres "ConnectionStrings__DontGoBack=$connection" DemoData__UsersOnEmptyDatabase=0 Logging__LogLevel__Default=Warning)

# The stand-in extension server as bench/run.sh starts it (DontGoBack.Bench/ExtensionSimulator.cs), on a free loopback port.
sim_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sim_url=http://127.0.0.1:$sim_port
env Urls=$sim_url Simulator__AddedLatencyMs=0 Simulator__ErrorRate=0 Simulator__MaxBulkItems=1000 \
  Simulator__TokenLifetimeSeconds=86400 Logging__LogLevel__Default=Warning \
  dotnet "$simulator_dll" > "$out/simulator.log" 2>&1 &
simulator_pid=$!
for _ in $(seq 300); do
  curl -sf -X POST -H 'Content-Type: application/json' -d '{"clientId":"core","clientSecret":"local-core-secret"}' \
    "$sim_url/msa/auth/api/token" >/dev/null 2>&1 && break
  sleep 0.2
done
say "stand-in extension server at $sim_url (pid $simulator_pid)"

# Without a command timeout too: the refresh's count of the day's due users (AssetRefreshStore.DueCountSql) is planned as a
# hash join over a sequential scan of the whole history, which at 54 million snapshots outlasts the default 30 s here and
# fails the day before its first call ("database unavailable: Exception while reading from stream"); reported with the figures.
refresh_env=("${core_env[@]}" "ConnectionStrings__DontGoBack=$connection;Command Timeout=0" "Extension__BaseUrl=$sim_url" "Auth__BaseUrl=$sim_url" Auth__ClientId=core Auth__ClientSecret=local-core-secret
  AssetRefresh__MaxConcurrency=256 Extension__MaxInFlight=256 Extension__BulkSize=1000 Extension__BulkCallsInFlight=4
  LoadTest__AllowFutureDays=true)

# refresh DAY LOG: the bulk refresh of one day; its JSON result line is the log's last line on standard output.
refresh() {
  local code=0
  env "${refresh_env[@]}" /usr/bin/time -f 'peak RSS %M kB' dotnet "$core" refresh --day "$1" --json --allow-future-day > "$2" 2> "$2.err" || code=$?
  [ "$code" -eq 0 ] || say "refresh $1 exited with code $code: see $2.err"
}
elapsed_ms() { tail -n 1 "$1" | jq -r '.elapsedMs'; }
status_of() { tail -n 1 "$1" | jq -r '"\(.status), success \(.success), failed \(.failed)"'; }

today=$(date -u +%F)
opening_day=$(date -u -d "$today - $(( days + 2 )) days" +%F)
baseline_day=$(date -u -d "$today - 2 days" +%F)
pair_day=$(date -u -d "$today - 1 days" +%F)
after_day=$today
mb() { echo $(( $1 / 1048576 )); }

rows_table='| run | users × days | seed | baseline refresh | refresh beside the migration | ratio | refresh after | migration total | copy (snapshots) | switch | finish | WAL, migration window | DB size before → peak → after |
|---|---|---|---|---|---|---|---|---|---|---|---|---|'

for run in $(seq "$runs"); do
  dir=$out/run$run
  mkdir -p "$dir"
  say "run $run: $users users x $days days from $opening_day; refreshes on $baseline_day (alone), $pair_day (beside the migration), $after_day (after)"

  # 1. The plain database.
  if [ "$run" -gt 1 ] || [ "$skip_seed" -eq 0 ]; then
    say "seed: $database, migrations up to MonthlyRollups, then the history (binary COPY)"
    start=$(date +%s.%N)
    dotnet "$seeder" --connection "$admin" --database "$database" --users "$users" --active-percent 90 --opening-day "$opening_day" --days "$days" 2>&1 | tee "$dir/seed.log" >&2
  else
    start=$(date +%s.%N)
  fi
  # The core server applies its remaining migrations (MonthlyPartitions keeps the plain tables) and checks the chain.
  # Without a command timeout: MonthlyPartitions fills users.current_snapshot_day in one UPDATE, which at 1,000,000 users
  # over 54 million snapshots outlasts Npgsql's default 30 s, and the server sets none for its migrations (the
  # migration fails with "Exception while reading from stream" and is rolled back; reported with issue 27's item 5).
  env "${core_env[@]}" "ConnectionStrings__DontGoBack=$connection;Command Timeout=0" dotnet "$core" verify > "$dir/verify-before.log" 2>&1 \
    || { cat "$dir/verify-before.log" >&2; exit 1; }
  seed_s=$(printf '%.0f' "$(echo "$(date +%s.%N) - $start" | bc)")
  [ "$run" -gt 1 ] || [ "$skip_seed" -eq 0 ] || seed_s="reused, verify $seed_s"
  say "seeded and migrated by the core server in $seed_s s: $(tail -n 1 "$dir/verify-before.log")"
  partitioned=$(sql "SELECT count(*) FROM pg_partitioned_table")
  [ "$partitioned" = 0 ] || { say "the database is partitioned already ($partitioned partitioned tables): nothing to migrate"; exit 1; }
  sql "SELECT 'plain layout: ' || (SELECT count(*) FROM users) || ' users (' || (SELECT count(*) FROM users WHERE status = 'ACTIVE') || ' ACTIVE), '
         || (SELECT count(*) FROM daily_asset_snapshots) || ' snapshots, ' || (SELECT count(*) FROM asset_changes) || ' change rows, '
         || (SELECT count(*) FROM users WHERE current_snapshot_day IS NOT NULL) || ' pointers with their day, pg_partitioned_table '
         || (SELECT count(*) FROM pg_partitioned_table) || ', database ' || pg_size_pretty(pg_database_size(current_database()))" | tee "$dir/layout.txt" >&2
  active=$(sql "SELECT count(*) FROM users WHERE status = 'ACTIVE'")

  # 2. Baseline: the refresh alone.
  settle
  # Lock waits are counted from here: the seeding's own (its index builds behind autovacuum) are not the measurement's.
  log_from=$(( $(wc -l < "$server_log") + 1 ))
  wal0=$(sql "SELECT pg_current_wal_lsn()")
  load_start=$(load)
  say "baseline: refresh $baseline_day alone (load $load_start)"
  refresh "$baseline_day" "$dir/refresh-baseline.log"
  load_end=$(load)
  baseline_wal=$(sql "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$wal0')")
  baseline_ms=$(elapsed_ms "$dir/refresh-baseline.log")
  say "baseline: $(status_of "$dir/refresh-baseline.log") in $baseline_ms ms, WAL $(mb "$baseline_wal") MB, $(tail -n 1 "$dir/refresh-baseline.log.err") (load $load_end)"
  echo "baseline refresh $baseline_day: load at start $load_start, at end $load_end" > "$dir/load.txt"

  # 3. The migration, and the refresh beside it once its copy is under way.
  settle
  snapshots_before=$(sql "SELECT count(*) FROM daily_asset_snapshots")
  changes_before=$(sql "SELECT count(*) FROM asset_changes")
  size_before=$(sql "SELECT pg_database_size(current_database())")
  wal1=$(sql "SELECT pg_current_wal_lsn()")
  load_start=$(load)
  say "migration: migrate-history --batch-size $batch_size ($snapshots_before snapshots, $changes_before change rows, $(mb "$size_before") MB; load $load_start)"
  ( while sleep 10; do
      echo "$(date -u +%H:%M:%S) $(sql "SELECT pg_database_size(current_database())") $(df -B1M --output=avail / | tail -n 1) $(load)"
    done ) > "$dir/sizes.txt" 2>/dev/null &
  sampler_pid=$!
  migration_start=$(date +%s.%N)
  ( env "${core_env[@]}" Logging__LogLevel__DontGoBack.CoreServer.Domain.Assets=Information \
      /usr/bin/time -f 'peak RSS %M kB' dotnet "$core" migrate-history --batch-size "$batch_size" 2>&1; echo "exit $?" ) \
    | ts '%H:%M:%.S' > "$dir/migrate.log" &
  migration_pid=$!
  for _ in $(seq 3000); do
    grep -q 'rows copied' "$dir/migrate.log" && break
    kill -0 "$migration_pid" 2>/dev/null || break
    sleep 0.2
  done
  pair_start_copy=$(grep 'rows copied' "$dir/migrate.log" | tail -n 1 | cut -d' ' -f2-)
  say "migration: copy under way ($pair_start_copy); refresh $pair_day beside it"
  refresh "$pair_day" "$dir/refresh-pair.log"
  pair_ms=$(elapsed_ms "$dir/refresh-pair.log")
  pair_end_copy=$(grep 'rows copied' "$dir/migrate.log" | tail -n 1 | cut -d' ' -f2-)
  say "refresh beside the migration: $(status_of "$dir/refresh-pair.log") in $pair_ms ms, $(tail -n 1 "$dir/refresh-pair.log.err"); the copy then at: $pair_end_copy"
  wait "$migration_pid"
  migration_s=$(echo "$(date +%s.%N) - $migration_start" | bc)
  load_end=$(load)
  kill "$sampler_pid" 2>/dev/null || true
  wal_window=$(sql "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$wal1')")
  echo "migration + refresh $pair_day: load at start $load_start, at end $load_end" >> "$dir/load.txt"
  grep -v 'rows copied' "$dir/migrate.log" >&2 || true
  tail -n 1 "$dir/migrate.log" | grep -q 'exit 0' || { say "migrate-history failed: see $dir/migrate.log"; exit 1; }
  size_after=$(sql "SELECT pg_database_size(current_database())")
  # The samples' largest, or the end's when the migration outran the first sample.
  size_peak=$(awk -v m="$size_after" '$2 > m {m = $2} END {print m}' "$dir/sizes.txt")

  # The steps, from the log's timestamps (seconds since midnight UTC).
  at() { grep -m1 "$1" "$dir/migrate.log" | cut -d' ' -f1 | awk -F: '{print $1 * 3600 + $2 * 60 + $3}'; }
  prepared=$(at 'have partitioned twins')
  snapshots_copied=$(at 'daily_asset_snapshots copied')
  changes_copied=$(at 'asset_changes copied')
  switched=$(at 'now partitioned by month')
  finished=$(at 'compared key by key')
  copied_rows=$(grep -m1 -o 'daily_asset_snapshots copied ([0-9]* rows)' "$dir/migrate.log" | grep -o '[0-9]*')
  switch_ms=$(grep -m1 -o 'the switch took [0-9]* ms' "$dir/migrate.log" | grep -o '[0-9]*')
  copy_s=$(echo "$snapshots_copied - $prepared" | bc)
  copy_rate=$(echo "$copied_rows / $copy_s" | bc)
  finish_s=$(echo "$finished - $switched" | bc)
  say "migration: $migration_s s in all; snapshots copied ($copied_rows rows) in $copy_s s = $copy_rate rows/s, changes by $(echo "$changes_copied - $prepared" | bc) s;" \
      "switch $switch_ms ms; finish $finish_s s; WAL in its window $(mb "$wal_window") MB; size $(mb "$size_before") -> peak $(mb "$size_peak") -> $(mb "$size_after") MB"

  # 4. After: the refresh alone on the partitioned layout, then the checks.
  settle
  load_start=$(load)
  refresh "$after_day" "$dir/refresh-after.log"
  after_ms=$(elapsed_ms "$dir/refresh-after.log")
  echo "refresh after, $after_day: load at start $load_start, at end $(load)" >> "$dir/load.txt"
  say "refresh after the migration: $(status_of "$dir/refresh-after.log") in $after_ms ms"
  env "${core_env[@]}" dotnet "$core" verify > "$dir/verify-after.log" 2>&1 || true
  say "verify: $(tail -n 1 "$dir/verify-after.log")"
  {
    echo "counts before the migration: $snapshots_before snapshots, $changes_before change rows; $active ACTIVE users"
    sql "SELECT 'written by the refreshes of $pair_day and $after_day: ' || count(*) FILTER (WHERE snapshot_day = '$pair_day') || ' and '
           || count(*) FILTER (WHERE snapshot_day = '$after_day') || ' snapshots' FROM daily_asset_snapshots WHERE snapshot_day >= '$pair_day'"
    sql "SELECT 'change rows of those days: ' || count(*) FROM asset_changes WHERE snapshot_day >= '$pair_day'"
    sql "SELECT 'after: ' || (SELECT count(*) FROM daily_asset_snapshots) || ' snapshots (expected ' || $snapshots_before
           + (SELECT count(*) FROM daily_asset_snapshots WHERE snapshot_day >= '$pair_day') || '), '
           || (SELECT count(*) FROM asset_changes) || ' change rows (expected ' || $changes_before
           + (SELECT count(*) FROM asset_changes WHERE snapshot_day >= '$pair_day') || ')'"
    sql "SELECT '(user, day) twice: ' || count(*) FROM (SELECT 1 FROM daily_asset_snapshots GROUP BY user_id, snapshot_day HAVING count(*) > 1) t"
    sql "SELECT 'default partitions: ' || (SELECT count(*) FROM daily_asset_snapshots_default) || ' snapshots, ' || (SELECT count(*) FROM asset_changes_default) || ' change rows'"
    sql "SELECT 'left of the plain layout: ' || coalesce(string_agg(relname, ', '), 'nothing') FROM pg_class
          WHERE relname IN ('daily_asset_snapshots_plain', 'asset_changes_plain', 'daily_asset_snapshots_next', 'asset_changes_next', 'history_layout_migration')"
    sql "SELECT 'partitioned tables: ' || count(*) FROM pg_partitioned_table"
    sql "SELECT 'database size: ' || pg_size_pretty(pg_database_size(current_database()))"
    psql -h 127.0.0.1 -p "$port" -U postgres -d "$database" -c '\d+ daily_asset_snapshots'
  } 2>&1 | tee "$dir/after.txt" >&2
  tail -n "+$log_from" "$server_log" | grep -h 'still waiting\|acquired\|deadlock' > "$dir/lock-waits.txt" 2>/dev/null || true
  say "lock waits of a second or more in the server log from the baseline on: $(grep -c 'still waiting' "$dir/lock-waits.txt")"

  ratio=$(echo "scale=2; $pair_ms / $baseline_ms" | bc)
  rows_table+="
| $run | $users × $days | $seed_s s | $(printf %.1f "$(echo "$baseline_ms / 1000" | bc -l)") s | $(printf %.1f "$(echo "$pair_ms / 1000" | bc -l)") s | $ratio | $(printf %.1f "$(echo "$after_ms / 1000" | bc -l)") s | $(printf '%.0f' "$migration_s") s | $(printf '%.0f' "$copy_s") s, $copy_rate rows/s | $switch_ms ms | $(printf '%.0f' "$finish_s") s | $(mb "$wal_window") MB (baseline refresh alone $(mb "$baseline_wal") MB) | $(mb "$size_before") → $(mb "$size_peak") → $(mb "$size_after") MB |"
done

echo "$rows_table"
