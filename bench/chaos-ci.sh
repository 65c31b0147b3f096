#!/usr/bin/env bash
# The chaos campaign's CI size (issue 28), which scripts/test.sh runs after the tests: seeds 1 and 17, each
# `bench/chaos.sh --days 3 --users 5000 --replicas 3 --day-seconds 30`, side by side, each on its own throwaway
# PostgreSQL and in its own work directory. Between them the two seeds' 3 days inject every kind of fault and action
# the schedule knows (kill -9, SIGSTOP past the lease, fast and immediate PostgreSQL stops, pg_terminate_backend,
# extension 500s, latency, resets and 429s, an auth outage longer than the deadline, a skewed clock; cancel, pause,
# run again, late retry). The 30-s day (the driver's least) puts every fault within the seven seconds around the
# fire, while the day's run is going, instead of spreading them over a 55-s day whose run is over 5 s after the fire.
#
#   bench/chaos-ci.sh
#
# What it prints: a progress line every 30 s ("chaos-ci.sh: 1m30s: seed 1 on day 2 of 3, seed 17 on day 2 of 3"),
# then one line per seed, in seed order, saying the oracle's verdict and where the logs are:
#   chaos campaign seed 1: passed, the oracle found nothing (3 days × 5,000 users × 3 replicas, 152 s); logs in …
#   chaos campaign seed 17: FAILED, the oracle found something (exit 1, 150 s); see summary.md in …
# A failed seed's summary (the oracle's table) or the end of its timeline comes first. Exit 1 when a seed failed.
# Each seed's work directory holds summary.md (the driver's standard output), timeline.txt (its standard error) and
# the replicas', commands' and stand-in's logs.
#
# Variables it reads (all optional):
#   DONTGOBACK_CHAOS_PG_PORT       the first seed's cluster port (25465); the second seed's is the next one
#   DONTGOBACK_CHAOS_WORK          where the seeds' work directories go, seed-S each (artifacts/chaos)
#   DONTGOBACK_CHAOS_CONFIGURATION the build to run, Release or Debug (Release)
#   DONTGOBACK_CHAOS_NO_BUILD      set: run what is built already
set -euo pipefail
cd "$(dirname "$0")/.."

seeds=(1 17)
size=(--days 3 --users 5000 --replicas 3 --day-seconds 30)
first_port=${DONTGOBACK_CHAOS_PG_PORT:-25465}
work=${DONTGOBACK_CHAOS_WORK:-artifacts/chaos}
configuration=${DONTGOBACK_CHAOS_CONFIGURATION:-Release}
# Each campaign's cluster lives in postgres.sh's own /tmp/dontgoback-pg-<port>: a DONTGOBACK_PG_DATA meant for the
# tests' cluster would have both campaigns empty and stop that one directory.
unset DONTGOBACK_PG_DATA

# One build for both seeds: two builds of the same projects side by side would write over each other.
if [ -z "${DONTGOBACK_CHAOS_NO_BUILD:-}" ]; then
  for project in src/DontGoBack.CoreServer src/DontGoBack.ExtensionSimulator bench/DontGoBack.Chaos; do
    dotnet build "$project" -c "$configuration" --nologo -v quiet >&2
  done
fi

started=$SECONDS
pids=()
for i in "${!seeds[@]}"; do
  seed=${seeds[$i]}
  dir=$work/seed-$seed
  mkdir -p "$dir"
  rm -f "$dir/result"
  # summary.md and timeline.txt, not *.log: the driver clears its work directory's logs as it starts. result holds
  # the seed's exit code and seconds, taken as it ends (the seeds end in either order).
  (
    status=0
    DONTGOBACK_CHAOS_PG_PORT=$((first_port + i)) DONTGOBACK_CHAOS_WORK=$dir DONTGOBACK_CHAOS_NO_BUILD=1 \
      DONTGOBACK_CHAOS_CONFIGURATION=$configuration \
      bench/chaos.sh --seed "$seed" "${size[@]}" >"$dir/summary.md" 2>"$dir/timeline.txt" || status=$?
    echo "$status $((SECONDS - started))" >"$dir/result"
  ) &
  pids+=($!)
done

# Where a seed is, from the driver's own lines on its timeline.
whereabouts() {
  local line
  line=$(grep -E '^\[ *[0-9.]+\] (Seeded|Day [0-9]+ \(|Final pass|Campaign seed)' "$1/timeline.txt" 2>/dev/null | tail -n 1 || true)
  case "$line" in
    *"] Day "*" ends "*) echo "past day $(sed -E 's/.*\] Day ([0-9]+) .*/\1/' <<<"$line") of 3" ;;
    *"] Day "*) echo "on day $(sed -E 's/.*\] Day ([0-9]+) .*/\1/' <<<"$line") of 3" ;;
    *"] Final pass"*) echo "in the final pass" ;;
    *"] Seeded"*) echo "seeded" ;;
    *) echo "starting" ;;
  esac
}
statuses=()
took=()
last=$SECONDS
for i in "${!seeds[@]}"; do
  while kill -0 "${pids[$i]}" 2>/dev/null; do
    sleep 1
    if [ $((SECONDS - last)) -ge 30 ]; then
      progress=()
      for j in "${!seeds[@]}"; do
        kill -0 "${pids[$j]}" 2>/dev/null && progress+=("seed ${seeds[$j]} $(whereabouts "$work/seed-${seeds[$j]}")")
      done
      elapsed=$((SECONDS - started))
      printf 'chaos-ci.sh: %dm%02ds: %s\n' $((elapsed / 60)) $((elapsed % 60)) "$(printf '%s\n' "${progress[@]}" | paste -sd, - | sed 's/,/, /g')"
      last=$SECONDS
    fi
  done
  wait "${pids[$i]}" || true
  read -r status seconds <"$work/seed-${seeds[$i]}/result" || { status=125; seconds=$((SECONDS - started)); }
  statuses+=("$status")
  took+=("$seconds")
done

# Verdicts last, one line each, with a failure's evidence just above them.
failed=0
for i in "${!seeds[@]}"; do
  [ "${statuses[$i]}" -eq 0 ] && continue
  failed=1
  dir=$work/seed-${seeds[$i]}
  echo "--- chaos campaign seed ${seeds[$i]}:"
  if grep -q '^| check' "$dir/summary.md" 2>/dev/null; then
    sed -n '/^| check/,$p' "$dir/summary.md"
  else
    tail -n 15 "$dir/timeline.txt"
  fi
done
for i in "${!seeds[@]}"; do
  seed=${seeds[$i]}
  dir=$work/seed-$seed
  case "${statuses[$i]}" in
    0) echo "chaos campaign seed $seed: passed, the oracle found nothing (3 days × 5,000 users × 3 replicas, ${took[$i]} s); logs in $dir" ;;
    1) echo "chaos campaign seed $seed: FAILED, the oracle found something (exit 1, ${took[$i]} s); see summary.md in $dir" ;;
    *) echo "chaos campaign seed $seed: FAILED, the campaign did not finish (exit ${statuses[$i]}, ${took[$i]} s); see timeline.txt in $dir" ;;
  esac
done
exit "$failed"
