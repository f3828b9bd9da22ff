#!/usr/bin/env bash
# Heap allocations per request on switchyard's hot paths, counted by
# valgrind's DHAT: exact and repeatable, where their cost in time is not.
#
#   scripts/bench-allocs.sh                        # intercept, gateway, convert; 1,000 requests
#   scripts/bench-allocs.sh --requests 500 --paths intercept --top 40
#
# Builds switchyard with the system allocator (feature `system-alloc`; DHAT
# cannot see into mimalloc) and line tables, into target/allocs. Each path
# runs twice, with N and with 2N requests after the same warm-up, and the
# difference is divided by N: start-up and warm-up allocations cancel out.
# Prints allocations and bytes per request, then the call sites that
# allocate per request, each named by its first frames outside the
# standard library. The raw DHAT files stay in target/bench/allocs-*/
# (open them in valgrind's dh_view.html). On-demand only.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
REQUESTS=1000
PATHS="intercept gateway convert"
TOP=25
while [ $# -gt 0 ]; do
    case "$1" in
        --requests) REQUESTS="$2"; shift ;;
        --paths) PATHS="${2//,/ }"; shift ;;
        --top) TOP="$2"; shift ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) echo "bench-allocs.sh: unknown flag $1" >&2; exit 2 ;;
    esac
    shift
done
command -v valgrind >/dev/null || { echo "bench-allocs.sh: valgrind is needed (apt-get install valgrind)" >&2; exit 1; }

PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM
log() { echo "allocs: $*" >&2; }
wait_line() {
    local i
    for i in $(seq 1 $(($3 * 10))); do
        if grep -m1 "$2" "$1" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    log "timed out waiting for '$2' in $1"; return 1
}

log "building switchyard with the system allocator (target/allocs) and the bench tools"
cargo build --quiet --release -p loadgen --bins
# Thin, parallel codegen: allocation counts do not depend on it, and the
# build takes a third of the release profile's time.
cargo build --quiet --bin switchyard --features system-alloc --profile allocs \
    --config 'profile.allocs.inherits="release"' \
    --config 'profile.allocs.strip=false' \
    --config 'profile.allocs.debug="line-tables-only"' \
    --config 'profile.allocs.lto=false' \
    --config 'profile.allocs.codegen-units=16'
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$TARGET/release"
SY="$TARGET/allocs/switchyard"

mkdir -p "$TARGET/bench"
W="$(mktemp -d "$TARGET/bench/allocs-XXXXXX")"
"$BIN/bench-upstream" --listen 127.0.0.1:0 > "$W/upstream.out" 2>&1 &
PIDS+=("$!")
UP="$(wait_line "$W/upstream.out" "listening on" 10 | sed 's|.*http://||')"

# One switchyard under DHAT: warm-up, then $2 counted requests on path $1.
run() {
    local path="$1" n="$2" out="$W/dhat.$1.$2.json" state="$W/state-$1-$2" addr args pid
    mkdir -p "$state"
    "$ROOT/scripts/bench-config.sh" "$UP" "$state/audit.jsonl" > "$state/switchyard.toml"
    SWITCHYARD_STATE_DIR="$state" valgrind --tool=dhat --dhat-out-file="$out" \
        "$SY" run --config "$state/switchyard.toml" > "$state/out" 2> "$state/err" &
    pid=$!
    PIDS+=("$pid")
    addr="$(wait_line "$state/out" "listening on" 120 | sed 's|.*http://||')"
    case "$path" in
        intercept) args="--addr $addr --via connect --host api.bench.test --ca $state/ca/ca.pem" ;;
        gateway) args="--addr $addr" ;;
        convert) args="--addr $addr --api messages" ;;
        *) log "unknown path $path"; return 1 ;;
    esac
    # shellcheck disable=SC2086
    "$BIN/loadgen" load --label "$path" -c 1 --warmup 0 -d 120 --requests 100 $args > /dev/null
    # shellcheck disable=SC2086
    "$BIN/loadgen" load --label "$path" -c 1 --warmup 0 -d 600 --requests "$n" $args > "$state/load.json"
    kill -TERM "$pid"
    wait "$pid" || true
    python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); sys.exit(0 if r["requests"]==int(sys.argv[2]) and r["errors"]==0 else 1)' \
        "$state/load.json" "$n" || { log "$path: the load did not complete cleanly"; return 1; }
}

: > "$W/summary.txt"
for path in $PATHS; do
    log "$path: $REQUESTS and $((2 * REQUESTS)) counted requests under DHAT"
    run "$path" "$REQUESTS"
    run "$path" "$((2 * REQUESTS))"
    python3 "$ROOT/scripts/dhat-per-request.py" "$path" "$REQUESTS" "$TOP" \
        "$W/dhat.$path.$REQUESTS.json" "$W/dhat.$path.$((2 * REQUESTS)).json" | tee -a "$W/summary.txt"
done
log "DHAT files and the summary in $W"
