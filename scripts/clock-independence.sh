#!/usr/bin/env bash
# Runs tests with the system clock set to 02:00 UTC (outside office hours, a few hours after
# midnight UTC) under each of several time zones, to show no test depends on the wall clock or
# the zone. The clock is moved with libfaketime (Debian package faketime, installed if missing);
# it keeps running from there, and monotonic time is left alone so timers behave.
#
# usage: scripts/clock-independence.sh [COMMAND...]
#   default COMMAND: the unit tests (npx mocha 'dist/test/unit/**/*.test.js'); build first.
#   e.g. scripts/clock-independence.sh npm test        (the whole suite, once per zone)
#   CLOCK_AT=2026-03-29T00:30:00Z TZS="Europe/Tallinn" scripts/clock-independence.sh
set -euo pipefail
cd "$(dirname "$0")/.."

command -v faketime >/dev/null 2>&1 || bash scripts/apt-install.sh faketime

at="${CLOCK_AT:-$(date -u +%Y-%m-%dT02:00:00Z)}"
zones="${TZS:-UTC America/New_York Pacific/Chatham Europe/Tallinn}"
if [ $# -eq 0 ]; then set -- npx mocha 'dist/test/unit/**/*.test.js'; fi

failed=()
for zone in $zones; do
  # libfaketime reads the start time in the process's own zone.
  local_at="$(TZ="$zone" date -d "$at" '+%Y-%m-%d %H:%M:%S')"
  echo "== clock at $at (local $local_at, TZ=$zone): $*"
  if ! TZ="$zone" FAKETIME_DONT_FAKE_MONOTONIC=1 faketime -f "@$local_at" "$@"; then
    failed+=("$zone")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "clock-independence: failed under TZ=${failed[*]} at $at" >&2
  exit 1
fi
echo "clock-independence: passed at $at under TZ=$zones"
