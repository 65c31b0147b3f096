#!/usr/bin/env bash
# Runs every test: starts a throwaway PostgreSQL 15 on loopback, points the tests at it,
# runs `dotnet test` on the solution, and removes the cluster afterwards. Arguments go to
# `dotnet test` (e.g. --filter "FullyQualifiedName~ConsoleTests").
#
# Then the chaos campaign's CI size (issue 28; bench/chaos-ci.sh): seeds 1 and 17 side by side, each
# 3 days × 5,000 users × 3 replicas with 30-s days, on the tests' Debug build (chaos-ci.sh adds the driver to it) and
# on two more throwaway clusters of their own, on the test cluster's port + 1 and
# + 2 (its PostgreSQL restarts must not touch the tests' cluster). It should take under three minutes
# on a machine of its own (far longer on a loaded one: see bench/README.md), and it runs after the
# tests, not beside them: on two cores the cluster tests' leases and the campaign's own timing
# (replicas up within the 20 s before the fire) both suffer when they share the CPU.
# A run with --filter leaves the campaign out (a subset is for seconds, not minutes), and so does
# DONTGOBACK_TEST_CHAOS=0; so does a run in which no test ran (the build failed).
#
# What it prints: the build, each failed test's message and stack trace as it fails, every 30 s a
# progress line ("test.sh: 2m30s: 212 passed, 0 failed, 1 skipped; lately: ConsoleTests,
# RunHistoryTests": the classes with results since the line before), dotnet test's summary, the
# campaign's progress every 30 s ("chaos-ci.sh: 1m30s: seed 1 on day 2 of 3, seed 17 on day 2 of 3")
# and one line per seed ("chaos campaign seed 1: passed, the oracle found nothing (…, 152 s); logs
# in artifacts/chaos/seed-1", or "FAILED" with the oracle's table above it), and last the plain
# line "N passed, N failed", which counts the tests and each campaign seed as one. It leaves out the
# line per passed test and the servers' log entries that its per-test logger shows; pass your own
# --logger to see everything that logger prints (.ci/run does). The exit code is `dotnet test`'s
# when that is not 0, else 1 when a campaign seed failed, else 0.
#
# Variables it reads (all optional):
#   DONTGOBACK_PG_PORT              the test cluster's port (25433); the campaign's are the next two
#   DONTGOBACK_TEST_CHAOS           1 (the default) runs the campaign after the tests, 0 leaves it out
#   DONTGOBACK_PG_DATA              the test cluster's data directory (/tmp/dontgoback-pg-<port>); it is
#                                   emptied at the start and deleted at the end, so never point it at data
#                                   you keep. Clusters the tests start of their own never use it.
#   DONTGOBACK_PG_SHARED_BUFFERS_MB the cluster's shared_buffers in MB (512)
#   PG_BIN                          PostgreSQL 15's binaries (/usr/lib/postgresql/15/bin)
# (the last three are read by scripts/postgres.sh, which this runs).
#
# What it changes on the machine, each said on stderr when it happens:
#   - installs Debian's chromium and fonts-noto-cjk when missing (the console's browser tests, and
#     Korean nicknames in them); they stay installed;
#   - as root, creates the 'postgres' system user when missing (initdb refuses root); it stays;
#   - as root, raises vm.nr_hugepages for the cluster's shared buffers, and gives back what it
#     raised when it stops the cluster on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

# Another apt or dpkg (an unattended upgrade, a second checkout's tests) may hold a lock: wait for
# it, up to ten minutes. dpkg's lock honours DPkg::Lock::Timeout; apt-get update's lists lock does not.
apt_get() {
    local waited=0 unlocked_failures=0 said=0
    busy() { fuser /var/lib/apt/lists/lock /var/lib/dpkg/lock-frontend /var/lib/dpkg/lock >/dev/null 2>&1; }
    # apt-get waits on dpkg's lock without a word when quiet: say so before it does.
    if busy; then
        echo "apt is busy in another process; waiting for it (up to ten minutes)…" >&2
        said=1
    fi
    until apt-get -o DPkg::Lock::Timeout=600 "$@"; do
        # A failure with no lock held (the holder may just have let go) is tried once more, not waited on.
        if ! busy; then
            unlocked_failures=$((unlocked_failures + 1))
            [ "$unlocked_failures" -ge 2 ] && return 1
        fi
        [ "$waited" -ge 600 ] && return 1
        [ "$said" -eq 0 ] && echo "apt is busy in another process; waiting for it (up to ten minutes)…" >&2
        said=1
        sleep 5
        waited=$((waited + 5))
    done
}
# The console's browser tests drive Debian's chromium (Playwright cannot download browsers here),
# and the console shows Korean nicknames: without a CJK font they come out as missing-glyph boxes.
packages=()
[ -x /usr/bin/chromium ] || packages+=(chromium)
if ! { command -v fc-list >/dev/null && fc-list :lang=ko | grep -q .; } && ! dpkg -s fonts-noto-cjk >/dev/null 2>&1; then
    packages+=(fonts-noto-cjk)
fi
if [ "${#packages[@]}" -gt 0 ]; then
    echo "Installing ${packages[*]} for the console's browser tests (apt-get install; they stay installed)…" >&2
    apt_get update -qq && apt_get install -y -qq "${packages[@]}" >/dev/null
fi

# One line a test from the console logger, unless the caller chose a logger of their own. The campaign
# runs the build dotnet test makes: Debug, unless the arguments choose another configuration.
quiet=1
chaos=${DONTGOBACK_TEST_CHAOS:-1}
case "$chaos" in
    0|1) ;;
    *) echo "DONTGOBACK_TEST_CHAOS must be 1 (run the chaos campaign after the tests) or 0 (leave it out), not '$chaos'" >&2; exit 2 ;;
esac
configuration=Debug
previous=""
for argument in "$@"; do
    case "$argument" in
        --logger|--logger=*|-l|-l=*) quiet=0 ;;
        --filter|--filter=*) chaos=0 ;;
        --configuration=*) configuration=${argument#*=} ;;
    esac
    case "$previous" in -c|--configuration) configuration=$argument ;; esac
    previous=$argument
done
logger=()
[ "$quiet" -eq 1 ] && logger=(--logger "console;verbosity=normal")

port=${DONTGOBACK_PG_PORT:-25433}
export DONTGOBACK_TEST_POSTGRES
DONTGOBACK_TEST_POSTGRES=$(scripts/postgres.sh start "$port" | tail -n 1)
scratch=$(mktemp -d)
counts=$scratch/counts
trap 'rm -rf "$scratch"; scripts/postgres.sh stop "$port"' EXIT

# Reads dotnet test's output: counts the results by class, hides the passed tests' lines (and any
# output they printed) and the servers' log entries when quiet, prints a progress line every 30 s, and leaves
# "passed failed" in $counts, taken from dotnet test's own summary ("Total tests"/"Passed:"/"Failed:", or
# "Passed!  - Failed: X, Passed: Y, ...").
report() {
    local line name class hiding=0 passed=0 failed=0 skipped=0 last=$SECONDS
    local summary_passed="" summary_failed=""
    local -A lately=()
    progress() {
        local minutes=$(((SECONDS - started) / 60)) seconds=$(((SECONDS - started) % 60)) classes=""
        if [ $((passed + failed + skipped)) -eq 0 ]; then
            printf 'test.sh: %dm%02ds: building and starting the tests…\n' "$minutes" "$seconds"
        else
            [ "${#lately[@]}" -gt 0 ] && classes="; lately: $(printf '%s\n' "${!lately[@]}" | sort | paste -sd, - | sed 's/,/, /g')"
            printf 'test.sh: %dm%02ds: %d passed, %d failed, %d skipped%s\n' "$minutes" "$seconds" "$passed" "$failed" "$skipped" "$classes"
        fi
        lately=()
        last=$SECONDS
    }
    while :; do
        if IFS= read -r -t 5 line; then
            case "$line" in
                "  Passed "*|"  Failed "*|"  Skipped "*)
                    name=${line#  * }
                    name=${name%%(*}
                    name=${name%% \[*}
                    class=${name%.*}
                    lately[${class##*.}]=1
                    hiding=0
                    case "$line" in
                        "  Passed "*) passed=$((passed + 1)); hiding=$quiet ;;
                        "  Failed "*) failed=$((failed + 1)) ;;
                        *) skipped=$((skipped + 1)) ;;
                    esac
                    ;;
                # A passed test's own output is indented under it, and so is a log entry's message.
                " "*|"") ;;
                # The servers under test log to the test host's console, which this logger shows:
                # thousands of lines, left out unless asked for (a failure's own output stays).
                trce:*|dbug:*|info:*|warn:*|fail:*|crit:*) hiding=$quiet ;;
                *) hiding=0 ;;
            esac
            case "$line" in
                "     Passed: "*) summary_passed=${line##* } ;;
                "     Failed: "*) summary_failed=${line##* } ;;
                "Passed!  - "*|"Failed!  - "*)
                    summary_failed=$(sed -E 's/.*Failed: *([0-9]+).*/\1/' <<<"$line")
                    summary_passed=$(sed -E 's/.*Passed: *([0-9]+).*/\1/' <<<"$line")
                    ;;
            esac
            [ "$hiding" -eq 1 ] || printf '%s\n' "$line"
        elif [ $? -le 128 ]; then
            break # the end of the output (a status above 128 is read's timeout)
        fi
        [ $((SECONDS - last)) -lt 30 ] || progress
    done
    # dotnet test's summary when it printed one (a run that never started has none).
    echo "${summary_passed:-$passed} ${summary_failed:-$failed}" >"$counts"
}

started=$SECONDS
set +e
dotnet test DontGoBack.slnx "${logger[@]}" "$@" 2>&1 | report
status=${PIPESTATUS[0]}
set -e
read -r passed failed <"$counts" || { passed=0; failed=0; }

if [ "$chaos" -eq 1 ] && [ $((passed + failed)) -eq 0 ]; then
    echo "test.sh: no test ran (did the build fail?), so the chaos campaign is left out"
elif [ "$chaos" -eq 1 ]; then
    elapsed=$((SECONDS - started))
    printf 'test.sh: %dm%02ds: the chaos campaign, seeds 1 and 17 side by side (bench/chaos-ci.sh)…\n' $((elapsed / 60)) $((elapsed % 60))
    chaos_status=0
    # chaos-ci.sh builds its three projects in the tests' configuration: dotnet test builds the test projects and what
    # they reference, not the campaign's driver, so on a fresh clone there is no driver to run until then.
    DONTGOBACK_CHAOS_PG_PORT=$((port + 1)) DONTGOBACK_CHAOS_CONFIGURATION=$configuration \
        bench/chaos-ci.sh 2>&1 | tee "$scratch/campaign" || chaos_status=$?
    chaos_passed=$(grep -c '^chaos campaign seed [0-9]*: passed' "$scratch/campaign" || true)
    chaos_failed=$(grep -c '^chaos campaign seed [0-9]*: FAILED' "$scratch/campaign" || true)
    # A campaign script that ended without its verdicts still counts as one failure.
    if [ "$chaos_status" -ne 0 ] && [ "$chaos_failed" -eq 0 ]; then
        echo "chaos campaign: FAILED, bench/chaos-ci.sh exited $chaos_status without a verdict"
        chaos_failed=1
    fi
    passed=$((passed + chaos_passed))
    failed=$((failed + chaos_failed))
    [ "$status" -ne 0 ] || status=$chaos_status
fi
echo "$passed passed, $failed failed"
exit "$status"
