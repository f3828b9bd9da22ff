#!/usr/bin/env bash
# Instruction counts per request for switchyard's hot paths, under
# valgrind's callgrind: repeatable on a noisy machine, where wall-clock
# figures are not.
#
#   scripts/bench-profile.sh                 # intercept, gateway, convert; 2,000 requests each
#   scripts/bench-profile.sh --requests 500 --paths intercept
#
# Builds switchyard with symbols (profile "profiling" = release + line
# tables, not stripped, in target/profiling), runs it under callgrind with
# instrumentation off, warms each path up, then counts exactly N requests
# per path (one dump each). Prints instructions per request and the top
# functions; the raw dumps stay in target/bench/profile-*/ for
# callgrind_annotate or kcachegrind. On-demand only.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
REQUESTS=2000
PATHS="intercept gateway convert"
while [ $# -gt 0 ]; do
    case "$1" in
        --requests) REQUESTS="$2"; shift ;;
        --paths) PATHS="${2//,/ }"; shift ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
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

log "building switchyard with symbols (target/profiling) and the bench tools"
cargo build --quiet --release -p loadgen --bins
cargo build --quiet --bin switchyard --profile profiling \
    --config 'profile.profiling.inherits="release"' \
    --config 'profile.profiling.strip=false' \
    --config 'profile.profiling.debug="line-tables-only"'
BIN="$ROOT/target/release"
SY="$ROOT/target/profiling/switchyard"

mkdir -p "$ROOT/target/bench"
W="$(mktemp -d "$ROOT/target/bench/profile-XXXXXX")"
"$BIN/bench-upstream" --listen 127.0.0.1:0 > "$W/upstream.out" 2>&1 &
PIDS+=("$!")
UP="$(wait_line "$W/upstream.out" "listening on" 10 | sed 's|.*http://||')"
mkdir -p "$W/state"
"$ROOT/scripts/bench-config.sh" "$UP" "$W/audit.jsonl" > "$W/switchyard.toml"
SWITCHYARD_STATE_DIR="$W/state" valgrind --tool=callgrind --instr-atstart=no \
    --callgrind-out-file="$W/callgrind.out" \
    "$SY" run --config "$W/switchyard.toml" > "$W/switchyard.out" 2> "$W/switchyard.err" &
SY_PID=$!
PIDS+=("$SY_PID")
ADDR="$(wait_line "$W/switchyard.out" "listening on" 120 | sed 's|.*http://||')"
CA="$W/state/ca/ca.pem"

target_args() {
    case "$1" in
        intercept) echo "--addr $ADDR --via connect --host api.bench.test --ca $CA" ;;
        gateway) echo "--addr $ADDR" ;;
        convert) echo "--addr $ADDR --api messages" ;;
        *) log "unknown path $1"; return 1 ;;
    esac
}

: > "$W/summary.txt"
n=0
for path in $PATHS; do
    args="$(target_args "$path")"
    log "$path: warm-up, then $REQUESTS counted requests (c=1, keep-alive)"
    # shellcheck disable=SC2086
    "$BIN/loadgen" load --label "$path" -c 1 --warmup 0 -d 120 --requests 100 $args > /dev/null
    callgrind_control --instr=on "$SY_PID" > /dev/null
    # shellcheck disable=SC2086
    "$BIN/loadgen" load --label "$path" -c 1 --warmup 0 -d 600 --requests "$REQUESTS" $args > "$W/$path.json"
    callgrind_control --dump="$path" "$SY_PID" > /dev/null
    callgrind_control --instr=off "$SY_PID" > /dev/null
    n=$((n + 1))
    dump="$(ls -t "$W"/callgrind.out.* 2>/dev/null | sed -n 1p)"
    mv "$dump" "$W/callgrind.$path.out"
    # The dump's own cost lines add up to `totals:`; its `summary:` is a
    # delta of global counters that goes wrong once instrumentation has
    # been switched off and on again.
    total="$(sed -n 's/^totals: \([0-9]*\).*/\1/p' "$W/callgrind.$path.out")"
    done_requests="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["requests"])' "$W/$path.json")"
    echo "$path: $total instructions / $done_requests requests = $((${total:-0} / (done_requests > 0 ? done_requests : 1))) per request" | tee -a "$W/summary.txt"
    callgrind_annotate --inclusive=no "$W/callgrind.$path.out" > "$W/$path.self.txt" 2>/dev/null || true
    callgrind_annotate --inclusive=yes "$W/callgrind.$path.out" > "$W/$path.inclusive.txt" 2>/dev/null || true
done
log "dumps and top-function lists in $W"
cat "$W/summary.txt"
