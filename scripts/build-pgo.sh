#!/usr/bin/env bash
# Builds switchyard with profile-guided optimisation (PGO): an instrumented
# build serves a short training load (the bench kit's client and fake
# upstream, on loopback), and the profile it writes steers inlining and code
# layout in the final build. Measured on this kind of machine: ~13 % less CPU
# per intercepted request, ~15 % more requests per second (README,
# Performance).
#
#   scripts/build-pgo.sh          # writes target/pgo/switchyard
#   scripts/build-pgo.sh --force  # rebuild even if it is newer than the source
#
# Needs the `llvm-tools` rustup component for llvm-profdata (installed here
# if missing). Takes two release builds plus ~1 min of training: ~15 minutes
# on 2 cores. The builds use their own target directories (target/pgo-gen,
# target/pgo-use), so the ordinary release build stays incremental.
#
# Training covers what a workstation proxy spends its time on: intercepted
# and gateway JSON and SSE (CONNECT + TLS, keep-alive), conversion in three
# directions (Messages -> Chat, Chat -> Messages, Responses -> Chat), 100 KB
# agent-sized requests, and leaf minting for new hosts. A training run that
# fails or gets a wrongly shaped answer fails the build.
# Code the training does not reach is compiled as without PGO, only colder.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
OUT="$ROOT/target/pgo"
PROFILES="$OUT/profiles"
SECS=3

log() { echo "build-pgo: $*" >&2; }

# The optimised build recompiles every crate (each one's inputs include the
# profile), so a binary newer than the source is kept.
if [ "${1:-}" != "--force" ] && [ -x "$OUT/switchyard" ] &&
    [ -z "$(find src Cargo.toml Cargo.lock -newer "$OUT/switchyard" -print -quit)" ]; then
    log "$OUT/switchyard is newer than the source; kept (--force rebuilds)"
    exit 0
fi

HOST="$(rustc -vV | sed -n 's/^host: //p')"
PROFDATA="$(rustc --print sysroot)/lib/rustlib/$HOST/bin/llvm-profdata"
if [ ! -x "$PROFDATA" ]; then
    log "installing the llvm-tools rustup component (llvm-profdata)"
    rustup component add llvm-tools
fi
if [ ! -x "$PROFDATA" ]; then
    log "llvm-profdata not found at $PROFDATA after installing llvm-tools"
    exit 1
fi

mkdir -p "$OUT"
rm -rf "$PROFILES"
log "building the bench kit and an instrumented switchyard (target/pgo-gen)"
cargo build --release --quiet -p loadgen --bins
RUSTFLAGS="${RUSTFLAGS:-} -Cprofile-generate=$PROFILES" \
    cargo build --release --quiet --bin switchyard --target-dir "$ROOT/target/pgo-gen"
# Build scripts ran instrumented too: only switchyard's own profile counts.
rm -rf "$PROFILES"

BIN="$ROOT/target/release"
WORK="$(mktemp -d "$OUT/train.XXXXXX")"
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

wait_line() { # wait_line FILE PATTERN: print the first matching line
    local i
    for i in $(seq 1 300); do
        if grep -m1 "$2" "$1" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    log "timed out waiting for '$2' in $1"; tail -20 "${1%.out}.err" >&2 || true
    return 1
}

"$BIN/bench-upstream" --listen 127.0.0.1:0 --events 20 --gap-ms 0 \
    > "$WORK/upstream.out" 2> "$WORK/upstream.err" &
PIDS+=("$!")
UP="$(wait_line "$WORK/upstream.out" "listening on" | sed 's|.*http://||')"

# The bench's configuration, so the profile trains what bench.sh measures.
"$ROOT/scripts/bench-config.sh" "$UP" "$WORK/audit.jsonl" > "$WORK/switchyard.toml"
mkdir -p "$WORK/state"
SWITCHYARD_STATE_DIR="$WORK/state" "$ROOT/target/pgo-gen/release/switchyard" run \
    --config "$WORK/switchyard.toml" > "$WORK/switchyard.out" 2> "$WORK/switchyard.err" &
SY_PID=$!
PIDS+=("$SY_PID")
SY="$(wait_line "$WORK/switchyard.out" "listening on" | sed 's|.*http://||')"
CA="$WORK/state/ca/ca.pem"
INTERCEPT=(--addr "$SY" --via connect --host api.bench.test --ca "$CA")

train() { # train WHAT ARGS...: one load run; a failed or wrong answer fails the build
    log "training: $1"
    shift
    local out
    out="$("$BIN/loadgen" load --label train -d "$SECS" --warmup 0.5 "$@")"
    case "$out" in
        *'"errors":0,'*'"first_error":null'*) ;;
        *) echo "build-pgo.sh: training run failed: $out" >&2; exit 1 ;;
    esac
}
train "intercept, JSON, c=16" -c 16 "${INTERCEPT[@]}"
train "intercept, SSE" -c 4 --stream "${INTERCEPT[@]}"
train "intercept, 100 KB requests" -c 16 --request-kb 100 "${INTERCEPT[@]}"
train "gateway, JSON, c=16" -c 16 --addr "$SY"
train "gateway, SSE" -c 4 --stream --addr "$SY"
train "conversion, JSON, c=16" -c 16 --api messages --addr "$SY"
train "conversion, SSE" -c 4 --stream --api messages --addr "$SY"
train "conversion, 100 KB requests" -c 16 --request-kb 100 --api messages --addr "$SY"
# The other conversions (routes in bench-config.sh): Chat -> Messages and
# Responses -> Chat, so that their encoders and stream state machines are
# not left cold.
train "Chat -> Messages, JSON" -c 16 --api chat --model claude-bench --addr "$SY"
train "Chat -> Messages, SSE" -c 4 --stream --api chat --model claude-bench --addr "$SY"
train "Responses -> Chat, JSON" -c 16 --api responses --addr "$SY"
train "Responses -> Chat, SSE" -c 4 --stream --api responses --addr "$SY"
train "Responses -> Chat, 100 KB requests" -c 16 --request-kb 100 --api responses --addr "$SY"
log "training: new hosts"
"$BIN/loadgen" newhost --label train --count 50 --addr "$SY" --via connect --ca "$CA" > /dev/null

# A clean exit is what writes the profile.
kill -TERM "$SY_PID"
wait "$SY_PID" || { log "the instrumented switchyard did not exit cleanly"; exit 1; }

log "merging $(find "$PROFILES" -name '*.profraw' | wc -l) profile(s)"
"$PROFDATA" merge -o "$OUT/switchyard.profdata" "$PROFILES"
log "building switchyard with the profile (target/pgo-use)"
RUSTFLAGS="${RUSTFLAGS:-} -Cprofile-use=$OUT/switchyard.profdata" \
    cargo build --release --quiet --bin switchyard --target-dir "$ROOT/target/pgo-use"
cp "$ROOT/target/pgo-use/release/switchyard" "$OUT/switchyard"
log "wrote $OUT/switchyard"
