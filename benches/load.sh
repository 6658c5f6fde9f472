#!/usr/bin/env bash
# End-to-end load over loopback, side by side in one run:
#   ours  = examples/counter.rs (#[with_session])
#   bare  = the same endpoint on bare hyper, no session
#   tower = the same endpoint on tower-sessions, same cookie options
#   oursax = examples/axum.rs (axum Router + our SessionLayer)
#   towerax = the same endpoint on axum + tower-sessions (benches/twins axum_twin)
#   actix = the same endpoint on actix-web + actix-session (Redis runs only:
#           actix-session has no server-side memory or SQL store)
# Each server is pinned to one core (SERVER_CPU) with one worker thread; the
# load generator (benches/twins/src/bin/loadgen.rs) runs on the other core.
# Two modes: `returning` (each connection is one client keeping its cookie)
# and `new` (no cookie ever sent: every request is a new visitor).
#
#   benches/load.sh                                  # memory stores
#   SESSION_STORE=redis://127.0.0.1:6379/15 benches/load.sh   # Redis stores
#   SESSION_STORE=postgres://postgres@127.0.0.1:5432/test benches/load.sh
#                                  # PostgreSQL: ours and tower-sessions-sqlx-store
#
# With Redis, name a scratch database (here 15): the runs create hundreds of
# thousands of sessions there, and the script empties that database
# (FLUSHDB) before and after. It refuses database 0.
#
# The servers take turns, ROUNDS times, so that a noisy neighbour hurts all
# of them alike; the table shows the median of the rounds: req/s, p50, p99,
# the server's CPU share, req/s per server-core-second, and the ratios to
# bare hyper. With Redis, also Redis commands per request from INFO
# commandstats (those a Lua script runs count too), and Redis's CPU time per
# request from the same statistics. Round trips are not
# visible there (a pipeline is several commands in one): they are asserted
# by session/tests/redis_store.rs through a recording proxy.
#
# With PostgreSQL, the script creates a scratch database next to the one
# the URL names (hs_load_<pid>), runs every server against it, and drops it
# at exit. The cmd/req column is then transactions per request, from
# pg_stat_database.xact_commit (every statement outside a transaction is
# one; tower-sessions' `create` is a transaction of several). Statements
# and round trips are asserted by session/tests/conformance_postgres.rs
# through a proxy that reads the protocol.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-32}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
PORT=${PORT:-3917}
STORE=${SESSION_STORE:-}
export SESSION_SECRET=${SESSION_SECRET:-load-test-secret-that-is-long-enough-1234}
# One worker thread a server unless TOKIO_WORKER_THREADS says otherwise
# (actix_twin reads it too); every server stays on its one core.
export TOKIO_WORKER_THREADS=${TOKIO_WORKER_THREADS:-1} RUST_LOG=warn
if [[ $STORE == redis://* ]]; then
    if [[ ! $STORE =~ /[0-9]+$ || $STORE =~ /0$ ]]; then
        echo "name a scratch Redis database for the load test, e.g. SESSION_STORE=redis://127.0.0.1:6379/15" >&2
        exit 2
    fi
    redis-cli -u "$STORE" FLUSHDB >/dev/null
    trap 'redis-cli -u "$STORE" FLUSHDB >/dev/null' EXIT
fi
PG_ADMIN=""
if [[ $STORE == postgres://* || $STORE == postgresql://* ]]; then
    PG_ADMIN=$STORE
    SCRATCH=hs_load_$$
    psql "$PG_ADMIN" -qAtc "CREATE DATABASE $SCRATCH" >/dev/null
    trap 'psql "$PG_ADMIN" -qAtc "DROP DATABASE IF EXISTS $SCRATCH WITH (FORCE)" >/dev/null' EXIT
    STORE=$(sed -E "s|^([a-z]+://[^/]*)/?[^?]*|\1/$SCRATCH|" <<<"$PG_ADMIN")
fi
# Transactions committed in the scratch database so far (flushed by
# PostgreSQL when a connection ends, so read between servers).
pg_xacts() {
    sleep 0.5
    psql "$PG_ADMIN" -qAtc "SELECT xact_commit FROM pg_stat_database WHERE datname = '$SCRATCH'"
}

echo "building (release)..." >&2
cargo build --quiet --release --example counter --example axum --features redis,postgres,axum
(cd benches/twins && cargo build --quiet --release)
OURS=target/release/examples/counter
OURS_AXUM=target/release/examples/axum
TWINS=benches/twins/target/release
TICKS=$(getconf CLK_TCK)
# Instructions per request (user + kernel) are immune to the noise of a
# shared machine, unlike req/s: the steadiest measure of server cost.
PERF=""
if command -v perf >/dev/null && perf stat -x, -e instructions true 2>&1 | grep -q '^[0-9]'; then PERF=1; fi

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# run NAME MODE COMMAND...
run() {
    local name=$1 mode=$2; shift 2
    local xacts_before=0 warm_line
    if [[ -n $PG_ADMIN ]]; then xacts_before=$(pg_xacts); fi
    ADDR=127.0.0.1:$PORT SESSION_STORE=$STORE taskset -c "$SERVER_CPU" "$@" >/dev/null 2>&1 &
    local pid=$!
    for _ in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$PORT/session_test" && break
        sleep 0.05
    done
    warm_line=$(taskset -c "$LOAD_CPU" "$TWINS/loadgen" "http://127.0.0.1:$PORT/session_test" "$CONNECTIONS" 1 "$mode")
    if [[ $STORE == redis://* ]]; then redis-cli -u "$STORE" CONFIG RESETSTAT >/dev/null; fi
    local before after line perf_out perf_pid=""
    perf_out=$(mktemp)
    if [[ -n $PERF ]]; then
        perf stat -x, -e instructions:u,instructions:k -p "$pid" -o "$perf_out" &
        perf_pid=$!
    fi
    before=$(cpu_ticks "$pid")
    line=$(taskset -c "$LOAD_CPU" "$TWINS/loadgen" "http://127.0.0.1:$PORT/session_test" "$CONNECTIONS" "$DURATION" "$mode")
    after=$(cpu_ticks "$pid")
    local insns="-"
    if [[ -n $perf_pid ]]; then
        kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null || true
        local requests_done
        requests_done=$(sed -E 's/.*requests=([0-9]+).*/\1/' <<<"$line")
        insns=$(awk -F, -v r="$requests_done" '/instructions/ {s += $1} END {printf "%.0f", (r > 0 ? s / r / 1000 : 0)}' "$perf_out")
    fi
    rm -f "$perf_out"
    local cmds="-" redis_us="-"
    if [[ $STORE == redis://* ]]; then
        local stats total usec requests
        stats=$(redis-cli -u "$STORE" INFO commandstats | awk -F'[=,:]' '/^cmdstat_/ && !/^cmdstat_(info|config|ping|client|hello|select):/ {c += $3; u += $5} END {print c+0, u+0}')
        read -r total usec <<<"$stats"
        requests=$(sed -E 's/.*requests=([0-9]+).*/\1/' <<<"$line")
        cmds=$(awk -v t="$total" -v r="$requests" 'BEGIN {printf "%.2f", t / r}')
        # Redis's own CPU time per request, as its command statistics count it.
        redis_us=$(awk -v u="$usec" -v r="$requests" 'BEGIN {printf "%.2f", u / r}')
    fi
    kill "$pid"; wait "$pid" 2>/dev/null || true
    if [[ -n $PG_ADMIN ]]; then
        local xacts_after all_requests
        xacts_after=$(pg_xacts)
        # Every request the server answered: the probe, the warm-up, the run.
        all_requests=$(( $(sed -E 's/.*requests=([0-9]+).*/\1/' <<<"$warm_line") + $(sed -E 's/.*requests=([0-9]+).*/\1/' <<<"$line") + 1 ))
        cmds=$(awk -v t="$((xacts_after - xacts_before))" -v r="$all_requests" 'BEGIN {printf "%.2f", t / r}')
    fi
    local rps p50 p99 errors
    rps=$(sed -E 's/.*rps=([0-9]+).*/\1/' <<<"$line")
    p50=$(sed -E 's/.*p50_us=([0-9]+).*/\1/' <<<"$line")
    p99=$(sed -E 's/.*p99_us=([0-9]+).*/\1/' <<<"$line")
    errors=$(sed -E 's/.*errors=([0-9]+).*/\1/' <<<"$line")
    local cpu per_core
    cpu=$(awk -v d=$((after - before)) -v t="$TICKS" -v s="$DURATION" 'BEGIN {printf "%.2f", d / t / s}')
    per_core=$(awk -v r="$rps" -v c="$cpu" 'BEGIN {printf "%.0f", (c > 0 ? r / c : 0)}')
    echo "  round: $name $mode rps=$rps p99_us=$p99 cpu=$cpu kinsn/req=$insns" >&2
    echo "$name $mode $rps $p50 $p99 $cpu $per_core $cmds $errors $insns $redis_us" >>"$RESULTS"
}

RESULTS=$(mktemp)
echo "store: ${STORE:-memory}; $CONNECTIONS connections, ${DURATION}s per run; $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
for round in $(seq "$ROUNDS"); do
    for mode in returning new; do
        run bare "$mode" "$TWINS/bare"
        run ours "$mode" "$OURS"
        run tower "$mode" "$TWINS/tower_twin"
        run oursax "$mode" "$OURS_AXUM"
        run towerax "$mode" "$TWINS/axum_twin"
        if [[ $STORE == redis://* ]]; then run actix "$mode" "$TWINS/actix_twin"; fi
    done
done
printf '%-7s %-9s %8s %7s %7s %5s %9s %7s %6s %10s %9s\n' server mode req/s p50_us p99_us cpu req/core-s cmd/req errors kinsn/req redis_us/req
# Medians over the rounds, column by column.
for mode in returning new; do
    for name in bare ours tower oursax towerax actix; do
        row=$(awk -v n="$name" -v m="$mode" '$1 == n && $2 == m' "$RESULTS")
        [[ -n $row ]] || continue
        median() { cut -d' ' -f"$1" <<<"$row" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
        printf '%-7s %-9s %8s %7s %7s %5s %9s %7s %6s %10s %9s\n' "$name" "$mode" "$(median 3)" "$(median 4)" \
            "$(median 5)" "$(median 6)" "$(median 7)" "$(median 8)" "$(median 9)" "$(median 10)" "$(median 11)"
    done
done
echo
# A shared machine drifts between runs by more than the differences measured
# here, so each ratio compares runs of the same round (back to back), and the
# table gives the median of those per-round ratios.
echo "ratios to bare hyper in the same round, median of $ROUNDS rounds:"
echo "  server mode      req/s  req/core-s  req/instruction"
awk '$1 == "bare" {rps[$2] = $3; core[$2] = $7; ins[$2] = $10; next}
     {printf "%s %s %.3f %.3f %s\n", $1, $2, $3 / rps[$2], $7 / core[$2], ($10 > 0 ? sprintf("%.3f", ins[$2] / $10) : "-")}' \
    "$RESULTS" >"$RESULTS.ratios"
for mode in returning new; do
    for name in ours tower oursax towerax actix; do
        row=$(awk -v n="$name" -v m="$mode" '$1 == n && $2 == m' "$RESULTS.ratios")
        [[ -n $row ]] || continue
        median() { cut -d' ' -f"$1" <<<"$row" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
        printf '  %-7s %-9s %5.2f  %10.2f  %15s\n' "$name" "$mode" "$(median 3)" "$(median 4)" "$(median 5)"
    done
done
rm -f "$RESULTS" "$RESULTS.ratios"
