#!/usr/bin/env bash
# Instructions per returning-visitor request of each front door, counted by
# callgrind (exact and immune to a noisy machine, unlike timings), in process:
# benches/twins/src/bin/front_doors.rs serves the seed's counter as an axum
# Router, through `oneshot`, with
#   plain      no sessions (the baseline)
#   identity   no sessions, a layer that does nothing (axum's own wrapping)
#   tower      tower-sessions' layer, its MemoryStore
#   layer      our SessionLayer + SharedSession extractor, our memory store
#   attribute  our #[with_session] on a handler taking the Request
# and the first three layered modes again, each wrapped around the whole
# Router (`identity-around`, `tower-around`, `layer-around`), where axum
# adds no wrapping of its own to the layer's, and `extension-around`: no
# sessions, axum's `Extension` layer around the Router handing an `Arc` to
# its extractor, what any layer pays to hand a handler a per-request value
# through the request's extensions (tower-sessions' and ours do).
# Each runs N1 and N2 requests; (total(N2) - total(N1)) / (N2 - N1) is the
# cost of one request, start-up cancelled out. A session's cost is its
# mode minus `plain`, minus the SHA-256 compressions it runs (our HMAC tag
# and store key; tower-sessions hashes nothing), so that the comparison is
# of the work around the cryptography. The valgrind CPU has no SHA
# extensions: the compressions run in software there.
#
#   benches/front_doors.sh            # N1=1000 N2=2000
set -euo pipefail
cd "$(dirname "$0")/twins"

N1=${N1:-1000}
N2=${N2:-2000}
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 2; }
echo "building (release)..." >&2
cargo build --quiet --release --bin front_doors
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

# totals MODE N: prints "instructions sha256_instructions"
totals() {
    local file="$OUT/$1.$2.out"
    valgrind --tool=callgrind --callgrind-out-file="$file" target/release/front_doors "$1" "$2" >/dev/null 2>&1
    callgrind_annotate --threshold=100 --inclusive=yes "$file" 2>/dev/null | awk '
        { gsub(",", "", $1) }
        /PROGRAM TOTALS/ { total = $1 }
        # The function as a whole (the entry named with its binary), not
        # the lines of other files inlined into it.
        /:sha2::sha256::compress256( \([0-9,]+x\))? \[/ { if ($1 > sha) sha = $1 }
        END { print total, sha + 0 }'
}

printf '%-17s %12s %12s %14s\n' mode insn/req sha256/req session/req
declare -A COST
for mode in plain identity tower layer attribute identity-around extension-around tower-around layer-around; do
    read -r t1 s1 < <(totals "$mode" "$N1")
    read -r t2 s2 < <(totals "$mode" "$N2")
    per=$(( (t2 - t1) / (N2 - N1) ))
    sha=$(( (s2 - s1) / (N2 - N1) ))
    [[ $mode == plain ]] && PLAIN=$per
    COST[$mode]=$(( per - PLAIN - sha ))
    printf '%-17s %12d %12d %14d\n' "$mode" "$per" "$sha" "${COST[$mode]}"
done
echo
awk -v layer="${COST[layer]}" -v tower="${COST[tower]}" -v attr="${COST[attribute]}" -v ident="${COST[identity]}" \
    -v layer_a="${COST[layer-around]}" -v tower_a="${COST[tower-around]}" -v ext_a="${COST[extension-around]}" 'BEGIN {
    printf "on the routes (Router::layer):\n"
    printf "  layer / tower-sessions:               %.3f\n", layer / tower
    printf "  layer / attribute:                    %.3f\n", layer / attr
    printf "  (layer - axum wrapping) / attribute:  %.3f\n", (layer - ident) / attr
    printf "around the Router (Layer::layer(router)):\n"
    printf "  layer / tower-sessions:               %.3f\n", layer_a / tower_a
    printf "  layer / attribute:                    %.3f\n", layer_a / attr
    printf "  (layer - extension hand-over) / attr: %.3f\n", (layer_a - ext_a) / attr
}'
