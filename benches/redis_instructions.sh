#!/usr/bin/env bash
# Redis's own instructions for the commands one returning request sends,
# per store layout, side by side: the same commands as
# benches/redis_commands.sh (ours, the previous release's, the release
# before, tower-sessions'), counted by callgrind in a redis-server of this
# script's own instead of timed. A count does not swing with what else the
# machine does, as `INFO commandstats` times do (±20 % from round to round
# on these shared 2-core machines): on a quiet machine the same commands
# count the same within 2 % on every run (`--hz 1` keeps Redis's timers,
# whose work grows with the time valgrind takes, from adding more).
#
# Each command runs N times from one redis-benchmark client (one command a
# round trip, as each server sends them); the count between
# `callgrind_control -z` and `-d`, over N, is one call's, including what
# Redis does for any command (reading it off the socket, writing the
# reply), which is shown apart as PING's.
#
#   benches/redis_instructions.sh            # N=20000
#
# Needs valgrind, redis-server and redis-benchmark; the server listens on
# a free loopback port and is stopped at the end.
set -euo pipefail
N=${N:-20000}
for tool in valgrind callgrind_control redis-server redis-cli redis-benchmark python3; do
    command -v "$tool" >/dev/null || { echo "$tool is needed" >&2; exit 2; }
done
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
DIR=$(mktemp -d)
valgrind --tool=callgrind --callgrind-out-file="$DIR/callgrind.out" \
    redis-server --port "$PORT" --bind 127.0.0.1 --save "" --appendonly no --hz 1 >"$DIR/valgrind.log" 2>&1 &
VALGRIND=$!
trap 'kill "$VALGRIND" 2>/dev/null; wait "$VALGRIND" 2>/dev/null; rm -rf "$DIR"' EXIT
cli() { redis-cli -p "$PORT" "$@"; }
for _ in $(seq 100); do cli PING >/dev/null 2>&1 && break; sleep 0.2; done
cli PING >/dev/null

# shellcheck source=benches/redis_layouts.sh
source "$(dirname "$0")/redis_layouts.sh"

# Instructions of one call of the command given.
per_call() {
    callgrind_control -z "$VALGRIND" >/dev/null 2>&1
    redis-benchmark -p "$PORT" -q -n "$N" -c 1 "$@" >/dev/null
    callgrind_control -d "$VALGRIND" >/dev/null 2>&1
    local dump
    dump=$(ls -t "$DIR"/callgrind.out.* | head -1)
    awk -v n="$N" '/^totals:/ { printf "%d", $2 / n }' "$dump"
}

ping=$(per_call PING)
hgetall_ours=$(per_call HGETALL ours)
hset_ours=$(per_call HSET ours d:test_counter 4)
hgetall_previous=$(per_call HGETALL previous)
hset_previous=$(per_call HSET previous d:test_counter 4)
hgetall_before=$(per_call HGETALL before)
hset_before=$(per_call HSET before m:s "$((NOW + 1))ms" d:test_counter 4)
get_tower=$(per_call GET tower)
set_tower=$(per_call SET tower "$BLOB" EXAT 1797094456 XX)

row() { printf '  %-44s %8d  (%s)\n' "$1" "$(($2 + $3))" "$4"; }
echo "Redis instructions per returning request (callgrind, $N calls each; PING: $ping a call):"
row "ours (HGETALL of m:c and the value, HSET)" "$hgetall_ours" "$hset_ours" "$hgetall_ours + $hset_ours"
row "previous release (m:c, m:e and the value)" "$hgetall_previous" "$hset_previous" "$hgetall_previous + $hset_previous"
row "release before (m:s kept and written)" "$hgetall_before" "$hset_before" "$hgetall_before + $hset_before"
row "tower-sessions (GET, SET EXAT XX)" "$get_tower" "$set_tower" "$get_tower + $set_tower"
