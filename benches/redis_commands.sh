#!/usr/bin/env bash
# Redis's own CPU for the commands one returning request sends, per store
# layout, side by side: ours (HGETALL of a hash of the times, `m:c`, and the
# value, then HSET of the value written over, whose answer is also the
# liveness check); the previous release's (the end in a field of its own,
# `m:e`); the release before (`m:s` in every hash and every write); and
# tower-sessions' (GET, then SET .. EXAT .. XX of a MessagePack blob). The
# command shapes are those `redis-cli MONITOR` shows for one
# `GET /session_test` of each server.
#
# Each command runs alone under redis-benchmark, and INFO commandstats gives
# Redis's time per call: unlike the `redis_us` column of benches/load.sh,
# no session server competes with Redis for the 2 cores meanwhile. Still,
# it swings by ±20 % from round to round: read the median.
#
#   REDIS_URL=redis://127.0.0.1:6379/14 ROUNDS=5 benches/redis_commands.sh
#
# The database named (not 0) is emptied before and after.
set -euo pipefail
URL=${REDIS_URL:-redis://127.0.0.1:6379/14}
ROUNDS=${ROUNDS:-5}
DB=${URL##*/}
if [[ ! $DB =~ ^[0-9]+$ || $DB == 0 ]]; then
    echo "name a scratch Redis database, e.g. REDIS_URL=redis://127.0.0.1:6379/14" >&2
    exit 2
fi
HOSTPORT=${URL#*://}
HOSTPORT=${HOSTPORT%%/*}
HOST=${HOSTPORT%%:*}
PORT=${HOSTPORT##*:}
cli() { redis-cli -u "$URL" "$@"; }
cli FLUSHDB >/dev/null
trap 'cli FLUSHDB >/dev/null' EXIT

# shellcheck source=benches/redis_layouts.sh
source "$(dirname "$0")/redis_layouts.sh"

# usec_per_call of one command, run 200,000 times by 4 clients.
per_call() {
    local name
    name=$(tr '[:upper:]' '[:lower:]' <<<"$1")
    cli CONFIG RESETSTAT >/dev/null
    redis-benchmark -h "$HOST" -p "$PORT" --dbnum "$DB" -q -n 200000 -c 4 "$@" >/dev/null
    cli INFO commandstats | grep "^cmdstat_$name:" | grep -o 'usec_per_call=[0-9.]*' | cut -d= -f2
}
sum() { awk '{s = 0; for (i = 1; i <= NF; i++) s += $i; printf "%.2f", s}' <<<"$*"; }

RESULTS=$(mktemp)
for round in $(seq "$ROUNDS"); do
    ours=$(sum "$(per_call HGETALL ours) $(per_call HSET ours d:test_counter 4)")
    previous=$(sum "$(per_call HGETALL previous) $(per_call HSET previous d:test_counter 4)")
    before=$(sum "$(per_call HGETALL before) $(per_call HSET before m:s "$((NOW + 1))ms" d:test_counter 4)")
    tower=$(sum "$(per_call GET tower) $(per_call SET tower "$BLOB" EXAT 1797094456 XX)")
    echo "round $round: ours $ours µs, previous release $previous µs, release before $before µs, tower-sessions $tower µs" >&2
    echo "$ours $previous $before $tower" >>"$RESULTS"
done
median() { cut -d' ' -f"$1" "$RESULTS" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
echo "Redis µs per returning request (median of $ROUNDS rounds):"
echo "  ours (HGETALL of m:c and the value, HSET)    $(median 1)"
echo "  previous release (m:c, m:e and the value)    $(median 2)"
echo "  release before (m:s kept and written)        $(median 3)"
echo "  tower-sessions (GET, SET EXAT XX)            $(median 4)"
rm -f "$RESULTS"
