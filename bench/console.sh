#!/usr/bin/env bash
# Benchmarks the operations console's pages on the built core server (Release) against PostgreSQL with a
# large data set: 1,000,000 users (the ACTIVE tenth with 90 days of history, by the shared binary-COPY
# seeder), ten years of daily runs of the asset refresh with their attempts and partitions, one run with
# 100,000 failed users, and operator actions over the years (set-based SQL). Then every page variant is
# asked for one request at a time — a warm-up, then the timed requests — and the table gives p50, p95 and
# max per variant. Standard output is the markdown table; progress goes to standard error.
#   bench/console.sh [--users N] [--history-percent P] [--history-days D] [--years Y] [--failures F]
#                    [--operator-actions A] [--requests R] [--warm-up W] [--pages Overview,Run,...]
#                    [--core-dll PATH] [--skip-seed] [--keep-cluster]
set -euo pipefail
cd "$(dirname "$0")/.."

users=1000000 history_percent=10 history_days=90 years=10 failures=100000 operator_actions=5000
requests=200 warm_up=20 pages="" core_dll="" skip_seed=false keep_cluster=false
while [ $# -gt 0 ]; do
  case "$1" in
    --users) users=$2; shift 2 ;;
    --history-percent) history_percent=$2; shift 2 ;;
    --history-days) history_days=$2; shift 2 ;;
    --years) years=$2; shift 2 ;;
    --failures) failures=$2; shift 2 ;;
    --operator-actions) operator_actions=$2; shift 2 ;;
    --requests) requests=$2; shift 2 ;;
    --warm-up) warm_up=$2; shift 2 ;;
    --pages) pages=$2; shift 2 ;;
    --core-dll) core_dll=$2; shift 2 ;;
    --skip-seed) skip_seed=true; shift ;;
    --keep-cluster) keep_cluster=true; shift ;;
    *) echo "unknown option $1; see the top of bench/console.sh" >&2; exit 2 ;;
  esac
done

port=${DONTGOBACK_BENCH_PG_PORT:-25436}
http_port=${CONSOLE_BENCH_HTTP_PORT:-$((port + 20000))}
framework=net10.0
base_url="http://127.0.0.1:$http_port"
admin_token=console-bench-token

if [ -z "$core_dll" ]; then
  dotnet build src/DontGoBack.CoreServer -c Release --nologo -v quiet >&2
  core_dll="src/DontGoBack.CoreServer/bin/Release/$framework/DontGoBack.CoreServer.dll"
fi
dotnet build bench/DontGoBack.ConsoleBench -c Release --nologo -v quiet >&2
bench() { dotnet "bench/DontGoBack.ConsoleBench/bin/Release/$framework/DontGoBack.ConsoleBench.dll" "$@"; }

server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  if [ "$keep_cluster" = false ]; then scripts/postgres.sh stop "$port"; fi
}
trap cleanup EXIT

admin=$(scripts/postgres.sh start "$port" | tail -n 1)
connection="${admin/Database=postgres/Database=dontgoback_console}"
psql=(/usr/lib/postgresql/15/bin/psql -h 127.0.0.1 -p "$port" -U postgres -qAt)
last_day=$(TZ=Asia/Seoul date +%F)

# Both jobs stay registered (the overview, runs and schedule pages show them) but never fire during the timing.
export Database__Provider=Postgres ConnectionStrings__DontGoBack="$connection" DemoData__UsersOnEmptyDatabase=0 \
  AssetRefresh__Enabled=false UserDormancy__Enabled=false PublicRateLimit__Enabled=false Logging__LogLevel__Default=Warning \
  InternalAccess__AdminToken=$admin_token

if [ "$skip_seed" = false ]; then
  seed_start=$SECONDS
  "${psql[@]}" -c "DROP DATABASE IF EXISTS dontgoback_console" -c "CREATE DATABASE dontgoback_console" >&2
  dotnet "$core_dll" runs >/dev/null   # applies the migrations
  bench seed --connection "$connection" --last-day "$last_day" --users "$users" --history-percent "$history_percent" \
    --history-days "$history_days" --years "$years" --failures "$failures" --operator-actions "$operator_actions"
  echo "seeded in $((SECONDS - seed_start)) s" >&2
fi

dotnet "$core_dll" --urls "$base_url" >&2 &
server_pid=$!
for _ in $(seq 1 300); do
  if curl -sf -o /dev/null -H "X-Admin-Token: $admin_token" "$base_url/internal/console/schedule"; then break; fi
  kill -0 "$server_pid" 2>/dev/null || { echo "the core server exited" >&2; exit 1; }
  sleep 0.2
done

counts=$("${psql[@]}" -d dontgoback_console -F ' ' -c "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM daily_asset_snapshots),
  (SELECT count(*) FROM batch_runs), (SELECT count(*) FROM batch_run_attempts), (SELECT max(failed) FROM batch_runs),
  (SELECT count(*) FROM asset_refresh_failures), (SELECT count(*) FROM operator_actions)")
read -r n_users n_snapshots n_runs n_attempts n_big n_failures n_actions <<<"$counts"
load=$(cut -d' ' -f1-3 /proc/loadavg)
measure_start=$SECONDS
bench measure --connection "$connection" --base-url "$base_url" --admin-token "$admin_token" \
  --requests "$requests" --warm-up "$warm_up" ${pages:+--pages "$pages"}

echo
printf "Data: %d users, %d snapshots, %d runs (%d attempts), one run with %d failures (%d failure rows in all), %d operator actions; last day %s.\n" \
  "$n_users" "$n_snapshots" "$n_runs" "$n_attempts" "$n_big" "$n_failures" "$n_actions" "$last_day"
echo "Per variant: $warm_up untimed requests, then $requests timed, one at a time over one kept-alive connection; a time is from sending the request to the last byte read (the server's time plus loopback). Timing took $((SECONDS - measure_start)) s."
echo "Load average before: $load; after: $(cut -d' ' -f1-3 /proc/loadavg). Machine: $(nproc) logical CPUs, $(free -g | awk '/Mem:/ {print $2}') GiB RAM; $(scripts/postgres.sh pages "$port"); $(date -u '+%Y-%m-%d %H:%M UTC')."
