#!/usr/bin/env bash
# Benchmarks the core server's daily asset refresh end to end: builds it, the stand-in extension
# server and the bench in Release, starts a throwaway PostgreSQL on 127.0.0.1:25434, runs the bench
# and removes the cluster. Standard output is only the markdown table; progress goes to standard error.
#   bench/run.sh [--users N] [--active-percent P] [--modes bulk,per-user] [--latency-ms MS]
#                [--error-rate R] [--concurrency C] [--bulk-size B] [--raw-requests N] [--keep-cluster]
# --keep-cluster (run.sh's own option) leaves the cluster running with its databases (dontgoback_bench and, with
# --history-days, dontgoback_bench_deep) for later work on them, e.g. bench/retention/let-go.sh; stop it with
# scripts/postgres.sh stop <port>.
set -euo pipefail
cd "$(dirname "$0")/.."

keep_cluster=false
args=()
for arg in "$@"; do
  if [[ $arg == --keep-cluster ]]; then keep_cluster=true; else args+=("$arg"); fi
done
set -- "${args[@]}"

port=${DONTGOBACK_BENCH_PG_PORT:-25434}
framework=net10.0

for project in src/DontGoBack.CoreServer src/DontGoBack.ExtensionSimulator bench/DontGoBack.Bench; do
  dotnet build "$project" -c Release --nologo -v quiet >&2
done

if [[ $keep_cluster == true ]]; then
  trap 'echo "cluster kept on port $port: scripts/postgres.sh stop $port" >&2' EXIT
else
  trap 'scripts/postgres.sh stop "$port"' EXIT
fi
connection=$(scripts/postgres.sh start "$port" | tail -n 1)

dotnet "bench/DontGoBack.Bench/bin/Release/$framework/DontGoBack.Bench.dll" \
  --connection "$connection" \
  --core-dll "src/DontGoBack.CoreServer/bin/Release/$framework/DontGoBack.CoreServer.dll" \
  --simulator-dll "src/DontGoBack.ExtensionSimulator/bin/Release/$framework/DontGoBack.ExtensionSimulator.dll" \
  "$@"
echo "$(scripts/postgres.sh pages "$port")."
