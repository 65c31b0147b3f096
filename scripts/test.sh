#!/usr/bin/env bash
# Runs every test: starts a throwaway PostgreSQL 15 on loopback, points the tests at it,
# runs `dotnet test` on the solution, and removes the cluster afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

# The console's browser tests drive Debian's chromium (Playwright cannot download browsers here).
if [ ! -x /usr/bin/chromium ]; then
    echo "Installing chromium for the console's browser tests…" >&2
    apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi

port=${DONTGOBACK_PG_PORT:-25433}
export DONTGOBACK_TEST_POSTGRES
DONTGOBACK_TEST_POSTGRES=$(scripts/postgres.sh start "$port" | tail -n 1)
trap 'scripts/postgres.sh stop "$port"' EXIT

dotnet test DontGoBack.slnx "$@"
