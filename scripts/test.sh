#!/usr/bin/env bash
# Runs every test: starts a throwaway PostgreSQL 15 on loopback, points the tests at it,
# runs `dotnet test` on the solution, and removes the cluster afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

# The console's browser tests drive Debian's chromium (Playwright cannot download browsers here).
# Another apt or dpkg (an unattended upgrade, a second checkout's tests) may hold a lock: wait for
# it, up to ten minutes. dpkg's lock honours DPkg::Lock::Timeout; apt-get update's lists lock does not.
apt_get() {
    local waited=0 unlocked_failures=0
    until apt-get -o DPkg::Lock::Timeout=600 "$@"; do
        # A failure with no lock held (the holder may just have let go) is tried once more, not waited on.
        if ! fuser /var/lib/apt/lists/lock /var/lib/dpkg/lock-frontend /var/lib/dpkg/lock >/dev/null 2>&1; then
            unlocked_failures=$((unlocked_failures + 1))
            [ "$unlocked_failures" -ge 2 ] && return 1
        fi
        [ "$waited" -ge 600 ] && return 1
        [ "$waited" -eq 0 ] && echo "apt is busy in another process; waiting for it…" >&2
        sleep 5
        waited=$((waited + 5))
    done
}
if [ ! -x /usr/bin/chromium ]; then
    echo "Installing chromium for the console's browser tests…" >&2
    apt_get update -qq && apt_get install -y -qq chromium >/dev/null
fi

port=${DONTGOBACK_PG_PORT:-25433}
export DONTGOBACK_TEST_POSTGRES
DONTGOBACK_TEST_POSTGRES=$(scripts/postgres.sh start "$port" | tail -n 1)
trap 'scripts/postgres.sh stop "$port"' EXIT

dotnet test DontGoBack.slnx "$@"
