#!/usr/bin/env bash
# Benchmarks the read path: GET /api/users/{id}/asset-series on the built core server (Release)
# against PostgreSQL, driven by wrk. Seeds N users × D days of history by binary COPY, then per
# interval: cold runs (a fresh server, every request a user not asked before; then the same server
# again on users half-way through the ids, as cold a cache in a warm process), a warm-up pass
# over every user, warm runs (random users), revalidation runs (If-None-Match with held ETags),
# and EXPLAIN ANALYZE of one user's query as the database's own time. Standard output is the
# markdown table; progress goes to standard error.
#   bench/read.sh [--users N] [--days D] [--rollup-months M] [--early-rollups] [--span-days S] [--connections 16,64] [--duration S]
#                 [--intervals day,week,month] [--threads T] [--core-dll PATH] [--baseline] [--skip-seed] [--keep-cluster]
# --rollup-months M: M months of monthly roll-ups before the daily rows, as the history lifecycle leaves them; the
# daily rows then start on the first of the month --days reaches back to; those months are sealed (they left the daily
# history). --early-rollups: every closed month that keeps its daily rows is rolled up too (rolled up, not sealed), as the
# lifecycle rolls a month up as soon as it closes, so a month graph reads those months from their roll-ups. --span-days S: every request asks for the S
# days ending today (from=), not the endpoint's default 30, e.g. 731 for a two-year graph.
# --baseline: the server in --core-dll is a build from before the read path was cached (no cache
# to warm, no ETag): the warm-up pass is skipped and the yardstick explains the statements it sent.
set -euo pipefail
cd "$(dirname "$0")/.."

users=100000 days=90 rollup_months=0 early_rollups=false span_days="" connections=16,64 duration=10 intervals=day,week,month threads=2
core_dll="" baseline=false skip_seed=false keep_cluster=false
while [ $# -gt 0 ]; do
  case "$1" in
    --users) users=$2; shift 2 ;;
    --days) days=$2; shift 2 ;;
    --rollup-months) rollup_months=$2; shift 2 ;;
    --early-rollups) early_rollups=true; shift ;;
    --span-days) span_days=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --intervals) intervals=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --core-dll) core_dll=$2; shift 2 ;;
    --baseline) baseline=true; shift ;;
    --skip-seed) skip_seed=true; shift ;;
    --keep-cluster) keep_cluster=true; shift ;;
    *) echo "unknown option $1; see the top of bench/read.sh" >&2; exit 2 ;;
  esac
done

port=${DONTGOBACK_BENCH_PG_PORT:-25435}
http_port=${READ_BENCH_HTTP_PORT:-$((port + 20000))}
framework=net10.0
base_url="http://127.0.0.1:$http_port"

if ! command -v wrk >/dev/null; then
  echo "installing wrk" >&2
  { apt-get update -qq && apt-get install -y -qq wrk; } >&2
fi

if [ -z "$core_dll" ]; then
  # The deployable build: published, so with ReadyToRun (the project asks for it), as a server is run.
  dotnet publish src/DontGoBack.CoreServer -c Release --self-contained false \
    -o artifacts/read-bench/core --nologo -v quiet >&2
  core_dll="artifacts/read-bench/core/DontGoBack.CoreServer.dll"
fi
dotnet build bench/DontGoBack.ReadBench -c Release --nologo -v quiet >&2
bench() { dotnet "bench/DontGoBack.ReadBench/bin/Release/$framework/DontGoBack.ReadBench.dll" "$@"; }

server_pid=""
stop_server() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; server_pid=""; fi
}
cleanup() {
  stop_server
  if [ "$keep_cluster" = false ]; then scripts/postgres.sh stop "$port"; fi
}
trap cleanup EXIT

admin=$(scripts/postgres.sh start "$port" | tail -n 1)
connection="${admin/Database=postgres/Database=dontgoback_read}"
psql=(/usr/lib/postgresql/15/bin/psql -h 127.0.0.1 -p "$port" -U postgres -qAt)
last_day=$(TZ=Asia/Seoul date +%F)
first_daily=$(date -d "$last_day - $((days - 1)) days" +%F)
history="$days days (to $last_day)"
if [ "$rollup_months" -gt 0 ]; then
  # As the seeder lays it out: whole months rolled up, the daily rows from the first of a month.
  first_daily=$(date -d "$last_day - $((days - 1)) days" +%Y-%m-01)
  history="$rollup_months months of roll-ups ($(date -d "$first_daily - $rollup_months months" +%Y-%m) to $(date -d "$first_daily - 1 month" +%Y-%m)) + $(( ($(date -d "$last_day" +%s) - $(date -d "$first_daily" +%s)) / 86400 + 1 )) days ($first_daily to $last_day)"
fi
if [ "$early_rollups" = true ]; then
  history="$history, the closed months of the days rolled up early (to $(date -d "$(date -d "$last_day" +%Y-%m-01) - 1 month" +%Y-%m))"
fi
from_args=()
span="the endpoint's default 30 days"
if [ -n "$span_days" ]; then
  export READ_FROM=$(date -d "$last_day - $((span_days - 1)) days" +%F)
  from_args=(--from "$READ_FROM")
  span="$span_days days ($READ_FROM to $last_day)"
fi

# The cache must hold every user's graph for the warm runs (about 5 KB each for 30 days), and keep
# it through the warm-up pass and the runs: a bench setting, not a default (see the README).
cache_mb=$(( users * 6 / 1000 > 256 ? users * 6 / 1000 : 256 ))
export Database__Provider=Postgres ConnectionStrings__DontGoBack="$connection" DemoData__UsersOnEmptyDatabase=0 \
  AssetRefresh__Enabled=false PublicRateLimit__Enabled=false Logging__LogLevel__Default=Warning \
  SeriesCache__SizeLimitMegabytes=$cache_mb SeriesCache__Lifetime=01:00:00

if [ "$skip_seed" = false ]; then
  "${psql[@]}" -c "DROP DATABASE IF EXISTS dontgoback_read" -c "CREATE DATABASE dontgoback_read" >&2
  dotnet "$core_dll" runs >/dev/null   # applies the migrations
  bench seed --connection "$connection" --users "$users" --days "$days" --last-day "$last_day" --rollup-months "$rollup_months" \
    $([ "$early_rollups" = true ] && echo --early-rollups)
fi
# What the history takes on disk as seeded (indexes rebuilt packed after the load, then VACUUM ANALYZE): bench/retention/bytes.sql.
mapfile -t stored < <("${psql[@]}" -d dontgoback_read -f bench/retention/bytes.sql)

start_server() {
  stop_server
  dotnet "$core_dll" --urls "$base_url" >&2 &
  server_pid=$!
  for _ in $(seq 1 300); do
    # A user id that does not exist: readiness without filling the cache.
    if curl -s -o /dev/null "$base_url/api/users/0/asset-series"; then return 0; fi
    sleep 0.2
  done
  echo "the core server did not start" >&2; exit 1
}

export READ_LUA_DIR="$PWD/bench/read" READ_USERS=$users READ_THREADS=$threads
row() {  # phase interval connections script
  local out
  out=$(READ_INTERVAL=$2 wrk -t "$threads" -c "$3" -d "${duration}s" --latency -s "bench/read/$4.lua" "$base_url" | grep '^RESULT')
  read -r _ rps p50 p99 requests errors not_modified <<<"$out"
  local extra=""
  [ "$4" = revalidate ] && extra=" ($not_modified of them 304)"
  echo "| $1 | $2 | $3 | $rps | $p50 | $p99 | $requests$extra | $errors |"
}

load=$(cut -d' ' -f1-3 /proc/loadavg)
echo "| phase | interval | connections | requests/s | p50 ms | p99 ms | requests | errors |"
echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
IFS=, read -ra interval_list <<<"$intervals"
IFS=, read -ra connection_list <<<"$connections"
notes=()
for interval in "${interval_list[@]}"; do
  for c in "${connection_list[@]}"; do
    start_server
    row cold "$interval" "$c" cold
    # The same server again, on users half-way through the ids that it was never asked for: the
    # cache is as cold, the process (JIT, pools, PostgreSQL's backends) no longer is.
    READ_FIRST_USER=$(( users / 2 )) row "cold, warm process" "$interval" "$c" cold
  done
  start_server
  if [ "$baseline" = false ]; then
    notes+=("$(bench warm --base-url "$base_url" --users "$users" --interval "$interval" "${from_args[@]}" --concurrency 64)")
  fi
  for c in "${connection_list[@]}"; do row warm "$interval" "$c" random; done
  etags_file=$(mktemp --suffix=.lua)
  if bench etags --base-url "$base_url" --users "$users" --interval "$interval" "${from_args[@]}" --out "$etags_file"; then
    for c in "${connection_list[@]}"; do READ_ETAGS=$etags_file row revalidate "$interval" "$c" revalidate; done
  else
    echo "| revalidate | $interval | — | no ETag | | | | |"
  fi
  rm -f "$etags_file"
  notes+=("$(bench explain --connection "$connection" --user $(( (RANDOM * 32768 + RANDOM) % users + 1 )) --interval "$interval" --last-day "$last_day" "${from_args[@]}" $([ "$baseline" = true ] && echo --before))")
done
stop_server

echo
echo "$users users × $history, each request $span; PostgreSQL 15 on 127.0.0.1, wrk $threads threads, ${duration} s per run; load average before: $load."
for line in "${stored[@]}"; do echo "$line"; done
for note in "${notes[@]}"; do echo "$note"; done
echo "Load average after: $(cut -d" " -f1-3 /proc/loadavg). Machine: $(nproc) logical CPUs, $(free -g | awk '/Mem:/ {print $2}') GiB RAM; $(scripts/postgres.sh pages "$port"); $(date -u '+%Y-%m-%d %H:%M UTC')."
