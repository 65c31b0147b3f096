#!/usr/bin/env bash
# The bulk refresh on the two databases bench/run.sh left with --history-days and --keep-cluster, paired day by day as
# run.sh pairs them (fresh, deep | deep, fresh | ...), each refresh after VACUUM ANALYZE, CHECKPOINT and sync, on the day
# after its database's newest; for running the days at depth again on a kept cluster without seeding it again.
#   DONTGOBACK_BENCH_PG_PORT=25436 bench/retention/depth-pairs.sh [--rounds 3] [--connection-options 'Command Timeout=0']
# --connection-options adds to the core server's connection string. Standard output is markdown.
set -euo pipefail
cd "$(dirname "$0")/../.."

port=${DONTGOBACK_BENCH_PG_PORT:-25434}
rounds=3
connection_options=""
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --connection-options) connection_options=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
framework=net10.0
core=src/DontGoBack.CoreServer/bin/Release/$framework/DontGoBack.CoreServer.dll
simulator=src/DontGoBack.ExtensionSimulator/bin/Release/$framework/DontGoBack.ExtensionSimulator.dll
sql() { psql -h 127.0.0.1 -p "$port" -U postgres -d "$1" -XAtq -v ON_ERROR_STOP=1 -c "$2"; }
say() { echo "[depth-pairs $(date -u +%H:%M:%S)] $*" >&2; }

sim_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sim_url="http://127.0.0.1:$sim_port"
Urls=$sim_url Simulator__MaxBulkItems=1000 Simulator__TokenLifetimeSeconds=86400 Logging__LogLevel__Default=Warning \
  dotnet "$simulator" > /tmp/depth-pairs-simulator.log 2>&1 &
sim_pid=$!
trap 'kill "$sim_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -sf -X POST -H 'Content-Type: application/json' -d '{"clientId":"core","clientSecret":"local-core-secret"}' \
    "$sim_url/msa/auth/api/token" > /dev/null && break
  sleep 0.3
done

refresh() { # database -> "seconds status success failed day"
  local database=$1 day out
  day=$(sql "$database" "SELECT max(current_snapshot_day) + 1 FROM users")
  sql "$database" "VACUUM ANALYZE" && sql "$database" "CHECKPOINT" && sync
  out=/tmp/depth-pairs-$database-$day.json
  say "refresh bulk on $database for $day"
  env Database__Provider=Postgres \
    "ConnectionStrings__DontGoBack=Host=127.0.0.1;Port=$port;Username=postgres;Database=$database${connection_options:+;$connection_options}" \
    DemoData__UsersOnEmptyDatabase=0 Logging__LogLevel__Default=Warning "Extension__BaseUrl=$sim_url" "Auth__BaseUrl=$sim_url" \
    Auth__ClientId=core Auth__ClientSecret=local-core-secret AssetRefresh__MaxConcurrency=256 Extension__MaxInFlight=256 \
    Extension__BulkSize=1000 Extension__BulkCallsInFlight=4 LoadTest__AllowFutureDays=true \
    dotnet "$core" refresh --day "$day" --json --allow-future-day > "$out" 2> >(sed "s/^/[refresh $database $day] /" >&2) || true
  python3 -c "import json,sys; r=json.loads([l for l in open(sys.argv[1]) if l.strip()][-1]); \
print(f\"{r['elapsedMs']/1000:.2f} {r['status']} {r['success']} {r['failed']} {sys.argv[2]}\")" "$out" "$day"
}

echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| round | order | fresh day | fresh job s | fresh status | deep day | deep job s | deep status | deep ÷ fresh |"
echo "|---|---|---|---|---|---|---|---|---|"
fresh_all=(); deep_all=()
for round in $(seq 1 "$rounds"); do
  if [ $((round % 2)) -eq 1 ]; then order="fresh, deep"; dbs="dontgoback_bench dontgoback_bench_deep"; else order="deep, fresh"; dbs="dontgoback_bench_deep dontgoback_bench"; fi
  for db in $dbs; do
    read -r s status success failed day <<< "$(refresh "$db")"
    say "$db $day: $s s, $status, success $success, failed $failed"
    if [ "$db" = dontgoback_bench ]; then fs=$s; fst="$status $success/$failed"; fd=$day; else ds=$s; dst="$status $success/$failed"; dd=$day; fi
  done
  fresh_all+=("$fs"); deep_all+=("$ds")
  echo "| $round | $order | $fd | $fs | $fst | $dd | $ds | $dst | $(python3 -c "import sys; print(f'{float(sys.argv[2])/float(sys.argv[1]):.3f}')" "$fs" "$ds") |"
done
echo
python3 - "${fresh_all[*]}" "${deep_all[*]}" <<'PY'
import statistics, sys
f = [float(x) for x in sys.argv[1].split()]; d = [float(x) for x in sys.argv[2].split()]
print(f"Median job s: fresh {statistics.median(f):.2f}, at depth {statistics.median(d):.2f}; depth ÷ fresh {statistics.median(d)/statistics.median(f):.3f}")
PY
echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
