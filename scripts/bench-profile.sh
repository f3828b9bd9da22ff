#!/usr/bin/env bash
# Per-request profiles of switchyard's hot paths under valgrind, counts that
# are repeatable on a noisy machine where wall-clock figures are not:
# instructions under callgrind, or heap allocations under DHAT (--allocs).
#
#   scripts/bench-profile.sh                 # intercept, gateway, convert; 2,000 requests each
#   scripts/bench-profile.sh --requests 500 --paths intercept
#   scripts/bench-profile.sh --allocs --requests 500 --top 40
#
# Instructions: builds switchyard with symbols (profile "profiling" =
# release + line tables, not stripped, in target/profiling), runs it under
# callgrind with instrumentation off, warms each path up, then counts
# exactly N requests per path (one dump each). Prints instructions per
# request and the top functions; the raw dumps stay in
# target/bench/profile-*/ for callgrind_annotate or kcachegrind.
#
# Allocations: builds switchyard with the system allocator (feature
# `system-alloc`: DHAT cannot see into mimalloc) in target/allocs. Each path
# runs twice, N and 2N requests after the same warm-up, and the difference
# is divided by N, so start-up cancels out. Prints allocations and bytes per
# request and the call sites behind them, named by their first frames
# outside the standard library (scripts/dhat-per-request.py); the DHAT files
# stay in target/bench/profile-*/ for valgrind's dh_view.html.
#
# On-demand only. CARGO_TARGET_DIR is honoured.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
REQUESTS=2000
PATHS="intercept gateway convert"
ALLOCS=0
TOP=25
while [ $# -gt 0 ]; do
    case "$1" in
        --requests) REQUESTS="$2"; shift ;;
        --paths) PATHS="${2//,/ }"; shift ;;
        --allocs) ALLOCS=1 ;;
        --top) TOP="$2"; shift ;;
        -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
        *) echo "bench-profile.sh: unknown flag $1" >&2; exit 2 ;;
    esac
    shift
done
command -v valgrind >/dev/null || { echo "bench-profile.sh: valgrind is needed (apt-get install valgrind)" >&2; exit 1; }

PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT INT TERM
log() { echo "profile: $*" >&2; }
wait_line() {
    local i
    for i in $(seq 1 $(($3 * 10))); do
        if grep -m1 "$2" "$1" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    log "timed out waiting for '$2' in $1"; return 1
}

TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$TARGET/release"
log "building the bench tools and switchyard ($([ "$ALLOCS" = 1 ] && echo "system allocator, target/allocs" || echo "with symbols, target/profiling"))"
cargo build --quiet --release -p loadgen --bins
if [ "$ALLOCS" = 1 ]; then
    # Thin, parallel codegen: allocation counts do not depend on it, and the
    # build takes a third of the release profile's time.
    cargo build --quiet --bin switchyard --features system-alloc --profile allocs \
        --config 'profile.allocs.inherits="release"' \
        --config 'profile.allocs.strip=false' \
        --config 'profile.allocs.debug="line-tables-only"' \
        --config 'profile.allocs.lto=false' \
        --config 'profile.allocs.codegen-units=16'
    SY="$TARGET/allocs/switchyard"
else
    cargo build --quiet --bin switchyard --profile profiling \
        --config 'profile.profiling.inherits="release"' \
        --config 'profile.profiling.strip=false' \
        --config 'profile.profiling.debug="line-tables-only"'
    SY="$TARGET/profiling/switchyard"
fi

mkdir -p "$TARGET/bench"
W="$(mktemp -d "$TARGET/bench/profile-XXXXXX")"
"$BIN/bench-upstream" --listen 127.0.0.1:0 > "$W/upstream.out" 2>&1 &
PIDS+=("$!")
UP="$(wait_line "$W/upstream.out" "listening on" 10 | sed 's|.*http://||')"

# start_switchyard NAME VALGRIND-ARGS...: runs switchyard under valgrind
# with its own state and audit file in $W/NAME; sets SY_PID and ADDR.
start_switchyard() {
    local name="$1"
    shift
    mkdir -p "$W/$name"
    "$ROOT/scripts/bench-config.sh" "$UP" "$W/$name/audit.jsonl" > "$W/$name/switchyard.toml"
    SWITCHYARD_STATE_DIR="$W/$name" valgrind "$@" \
        "$SY" run --config "$W/$name/switchyard.toml" > "$W/$name/out" 2> "$W/$name/err" &
    SY_PID=$!
    PIDS+=("$SY_PID")
    ADDR="$(wait_line "$W/$name/out" "listening on" 120 | sed 's|.*http://||')"
    CA="$W/$name/ca/ca.pem"
}

target_args() {
    case "$1" in
        intercept) echo "--addr $ADDR --via connect --host api.bench.test --ca $CA" ;;
        gateway) echo "--addr $ADDR" ;;
        convert) echo "--addr $ADDR --api messages" ;;
        *) log "unknown path $1"; return 1 ;;
    esac
}

# load PATH N OUT: N requests at c=1, keep-alive; fails unless all succeed.
load() {
    local args
    args="$(target_args "$1")"
    # shellcheck disable=SC2086
    "$BIN/loadgen" load --label "$1" -c 1 --warmup 0 -d 600 --requests "$2" $args > "$3"
    python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); sys.exit(0 if r["requests"]==int(sys.argv[2]) and r["errors"]==0 else 1)' \
        "$3" "$2" || { log "$1: the load did not complete cleanly ($3)"; return 1; }
}

: > "$W/summary.txt"
if [ "$ALLOCS" = 1 ]; then
    for path in $PATHS; do
        log "$path: $REQUESTS and $((2 * REQUESTS)) counted requests under DHAT"
        for n in "$REQUESTS" "$((2 * REQUESTS))"; do
            start_switchyard "$path-$n" --tool=dhat --dhat-out-file="$W/dhat.$path.$n.json"
            load "$path" 100 "$W/warmup.json"
            load "$path" "$n" "$W/$path-$n/load.json"
            kill -TERM "$SY_PID"
            wait "$SY_PID" || true
        done
        python3 "$ROOT/scripts/dhat-per-request.py" "$path" "$REQUESTS" "$TOP" \
            "$W/dhat.$path.$REQUESTS.json" "$W/dhat.$path.$((2 * REQUESTS)).json" | tee -a "$W/summary.txt"
    done
    log "DHAT files and the summary in $W"
    exit 0
fi

start_switchyard callgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$W/callgrind.out"
for path in $PATHS; do
    log "$path: warm-up, then $REQUESTS counted requests (c=1, keep-alive)"
    load "$path" 100 "$W/warmup.json"
    callgrind_control --instr=on "$SY_PID" > /dev/null
    load "$path" "$REQUESTS" "$W/$path.json"
    callgrind_control --dump="$path" "$SY_PID" > /dev/null
    callgrind_control --instr=off "$SY_PID" > /dev/null
    dump="$(ls -t "$W"/callgrind.out.* 2>/dev/null | sed -n 1p)"
    mv "$dump" "$W/callgrind.$path.out"
    # The dump's own cost lines add up to `totals:`; its `summary:` is a
    # delta of global counters that goes wrong once instrumentation has
    # been switched off and on again.
    total="$(sed -n 's/^totals: \([0-9]*\).*/\1/p' "$W/callgrind.$path.out")"
    echo "$path: $total instructions / $REQUESTS requests = $((${total:-0} / REQUESTS)) per request" | tee -a "$W/summary.txt"
    callgrind_annotate --inclusive=no "$W/callgrind.$path.out" > "$W/$path.self.txt" 2>/dev/null || true
    callgrind_annotate --inclusive=yes "$W/callgrind.$path.out" > "$W/$path.inclusive.txt" 2>/dev/null || true
done
log "dumps and top-function lists in $W"
cat "$W/summary.txt"
