#!/usr/bin/env bash
# The seeded chaos campaign (issue 28): builds the core server, the stand-in and the driver in Release, starts a
# throwaway PostgreSQL on 127.0.0.1:25464 (DONTGOBACK_CHAOS_PG_PORT), runs R clustered replicas and the stand-in
# through D days with the seed's faults, then the oracle; removes the cluster on exit.
#   bench/chaos.sh --seed S --days D --users N --replicas R [--day-seconds W] [--first-day YYYY-MM-DD]
# Standard output is the summary (markdown); the timeline and progress go to standard error; the replicas' and the
# commands' logs stay in /tmp/dontgoback-chaos/seed-S (DONTGOBACK_CHAOS_WORK). Exit 1 when the oracle finds anything.
# DONTGOBACK_CHAOS_CONFIGURATION=Debug runs the Debug build instead, and DONTGOBACK_CHAOS_NO_BUILD=1 runs what is
# built already (scripts/test.sh does both, on the build dotnet test made).
# Sizes: CI, bench/chaos-ci.sh (seeds 1 and 17 side by side, `--days 3 --users 5000 --replicas 3 --day-seconds 30`,
# run by scripts/test.sh); the bench `--days 30 --users 100000 --replicas 3`.
set -euo pipefail
cd "$(dirname "$0")/.."

port=${DONTGOBACK_CHAOS_PG_PORT:-25464}
framework=net10.0
configuration=${DONTGOBACK_CHAOS_CONFIGURATION:-Release}
seed=1
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  [ "${args[$i]}" = "--seed" ] && seed=${args[$((i + 1))]:-1}
done
work=${DONTGOBACK_CHAOS_WORK:-/tmp/dontgoback-chaos/seed-$seed}
mkdir -p "$work"
# Absolute: the stand-in and the replicas resolve a relative path against their own folders, not this one.
work=$(cd "$work" && pwd)

if [ -z "${DONTGOBACK_CHAOS_NO_BUILD:-}" ]; then
  for project in src/DontGoBack.CoreServer src/DontGoBack.ExtensionSimulator bench/DontGoBack.Chaos; do
    dotnet build "$project" -c "$configuration" --nologo -v quiet >&2
  done
fi

trap 'scripts/postgres.sh stop "$port"' EXIT
connection=$(scripts/postgres.sh start "$port" | tail -n 1)

dotnet "bench/DontGoBack.Chaos/bin/$configuration/$framework/DontGoBack.Chaos.dll" \
  --connection "$connection" \
  --postgres-port "$port" \
  --postgres-script "$PWD/scripts/postgres.sh" \
  --core-dll "$PWD/src/DontGoBack.CoreServer/bin/$configuration/$framework/DontGoBack.CoreServer.dll" \
  --simulator-dll "$PWD/src/DontGoBack.ExtensionSimulator/bin/$configuration/$framework/DontGoBack.ExtensionSimulator.dll" \
  --work-dir "$work" \
  "$@"
