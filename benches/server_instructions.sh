#!/usr/bin/env bash
# User-space instructions per request of one server process, counted by
# callgrind (every thread, kernel time not included): the server's own cost
# of a request, which wall-clock runs on these shared machines cannot see
# through their noise. The server runs under valgrind on a free port; the
# load generator (benches/twins, built by benches/load.sh) warms it up for
# 2 s, then callgrind's counters are zeroed, 5 s of load run, and the
# counters are dumped and divided by the requests answered.
#
#   SESSION_STORE=redis://127.0.0.1:6379/15 benches/server_instructions.sh
#   SESSION_STORE=redis://127.0.0.1:6379/15 benches/server_instructions.sh \
#       benches/twins/target/release/tower_twin new
#
# Arguments: the server binary (default: examples/counter, release) and the
# mode (`returning`, the default, or `new`). With Redis, name a scratch
# database: the script empties it before and after, and refuses database 0.
# The count moves by a few tenths of a percent from run to run, with how
# the load generator's requests happen to batch.
set -euo pipefail
cd "$(dirname "$0")/.."
SERVER=${1:-target/release/examples/counter}
MODE=${2:-returning}
STORE=${SESSION_STORE:-}
LOADGEN=benches/twins/target/release/loadgen
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
if [[ ! -x $LOADGEN || ! -x $SERVER ]]; then
    echo "build first: benches/load.sh builds the examples and benches/twins" >&2
    exit 2
fi
if [[ $STORE == redis://* ]]; then
    if [[ ! $STORE =~ /[0-9]+$ || $STORE =~ /0$ ]]; then
        echo "name a scratch Redis database, e.g. SESSION_STORE=redis://127.0.0.1:6379/15" >&2
        exit 2
    fi
    redis-cli -u "$STORE" FLUSHDB >/dev/null
fi
OUT=$(mktemp -d)
cleanup() {
    kill "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    rm -rf "$OUT"
    if [[ $STORE == redis://* ]]; then redis-cli -u "$STORE" FLUSHDB >/dev/null; fi
}
TOKIO_WORKER_THREADS=${TOKIO_WORKER_THREADS:-1} ADDR=127.0.0.1:$PORT SESSION_STORE=$STORE \
    SESSION_SECRET=${SESSION_SECRET:-load-test-secret-that-is-long-enough-1234} RUST_LOG=warn \
    valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.%p.out" "$SERVER" >/dev/null 2>"$OUT/valgrind.log" &
PID=$!
trap cleanup EXIT
URL=http://127.0.0.1:$PORT/session_test
for _ in $(seq 300); do curl -s -o /dev/null "$URL" && break; sleep 0.2; done
"$LOADGEN" "$URL" 4 2 "$MODE" >/dev/null
callgrind_control -z "$PID" >/dev/null 2>&1
line=$("$LOADGEN" "$URL" 4 5 "$MODE")
callgrind_control -d "$PID" >/dev/null 2>&1
requests=$(sed -E 's/.*requests=([0-9]+).*/\1/' <<<"$line")
dump=$(ls -t "$OUT"/callgrind.*.out.* | head -1)
instructions=$(awk '/^(summary|totals):/ {print $2; exit}' "$dump")
echo "$(basename "$SERVER") $MODE: $requests requests, $instructions instructions, $((instructions / requests)) per request"
