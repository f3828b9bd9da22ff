#!/usr/bin/env bash
# One-command benchmark: switchyard against direct, a bare TCP relay (the
# floor), a lean TLS + HTTP/1.1 relay on switchyard's stack (the floor of
# its kind), nginx, mitmdump and LiteLLM, same load client
# (benches/loadgen), same fast fake upstream.
#
#   scripts/bench.sh                 # full run (~7 minutes of measuring)
#   scripts/bench.sh --quick         # short windows, fewer hosts/streams/rounds (~3 min)
#   scripts/bench.sh --peers nginx   # only some peers (nginx,mitmdump,litellm; "" = none)
#   scripts/bench.sh --pgo           # also the PGO build's intercept (scripts/build-pgo.sh, ~10 min more)
#   scripts/bench.sh --rounds 30     # more head-to-head rounds (default 15, --quick 6; 0 = none)
#
# Flags: --quick, --duration SECS (measured seconds per run), --no-pin,
# --no-install (use what is there), --peers LIST, --no-switchyard (peers
# only, to debug a peer), --pgo (build switchyard with PGO and measure its
# intercept path as one more row, sy_intercept_pgo), --rounds N (head-to-head
# rounds, below), --no-free (no unpinned latency runs, below), --out DIR
# (default target/bench). Writes DIR/results.md and
# DIR/results.json; prints the table.
#
# Head to head: after the peers, switchyard (default and audit without
# bodies), the hyper relay and nginx run side by side on the proxy's CPU,
# and N rounds measure each at c=16 for one second in turn, in a rotating
# order. The report compares them round by round: on a VM whose speed
# drifts over minutes, the main table's single runs, minutes apart, cannot
# settle a 0.8× target; many short rounds put the paired measurements
# seconds apart.
#
# Pinning (default): the proxy under test runs alone on CPU 1; the load
# client and the upstream share CPU 0. On a 2-core machine that is the only
# honest split: every figure is "what one core of proxy does" (in the
# head-to-head rounds the other proxies sit idle on that CPU). The c=1
# latency runs are then repeated with nothing pinned for direct, the TCP
# relay, switchyard and nginx ("Nothing pinned" in the report; --no-free
# skips them): pinned, every request wakes the proxy's CPU and the client's
# in turn, which costs more on a VM than any proxy's own work. Other
# processes on the machine are not ours to stop: the report records the
# load average, the busiest processes, and per run the share of CPU they
# took while we measured.
#
# On-demand only: not part of scripts/test.sh or CI.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

QUICK=0
DURATION=""
PIN=1
INSTALL=1
PEERS="nginx,mitmdump,litellm"
SWITCHYARD=1
PGO=0
ROUNDS=""
FREE=1
OUT="$ROOT/target/bench"
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1 ;;
        --duration) DURATION="$2"; shift ;;
        --no-pin) PIN=0 ;;
        --no-install) INSTALL=0 ;;
        --peers) PEERS="$2"; shift ;;
        --no-switchyard) SWITCHYARD=0 ;;
        --pgo) PGO=1 ;;
        --rounds) ROUNDS="$2"; shift ;;
        --no-free) FREE=0 ;;
        --out) OUT="$2"; shift ;;
        -h|--help) sed -n '2,36p' "$0"; exit 0 ;;
        *) echo "bench.sh: unknown flag $1" >&2; exit 2 ;;
    esac
    shift
done
if [ "$QUICK" = 1 ]; then
    DURATION="${DURATION:-2}"; WARMUP=0.5; NEWHOSTS=20; STREAMS=1000; MITM_NEWHOSTS=10
    ROUNDS="${ROUNDS:-6}"; ROUND_SECS=1
else
    DURATION="${DURATION:-5}"; WARMUP=1; NEWHOSTS=100; STREAMS=1000; MITM_NEWHOSTS=30
    ROUNDS="${ROUNDS:-15}"; ROUND_SECS=1
fi
# Upstream SSE shape: 20 text deltas, 5 ms apart.
SSE_EVENTS=20
SSE_GAP_MS=5

has_peer() { case ",$PEERS," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

mkdir -p "$OUT"
WORK="$(mktemp -d "$OUT/run.XXXXXX")"
RUNS="$WORK/runs.jsonl"
: > "$RUNS"
# One venv per peer: litellm pins a cryptography that mitmproxy refuses.
MITM_VENV="$ROOT/target/bench/venv-mitmproxy"
LL_VENV="$ROOT/target/bench/venv-litellm"
BIN="$ROOT/target/release"
PIDS=()

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        # Each service runs in its own process group (setsid): end the group,
        # so workers and children (nginx, LiteLLM) go too.
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL -- "-$pid" 2>/dev/null || true
    done
    PIDS=()
}
trap cleanup EXIT INT TERM

log() { echo "bench: $*" >&2; }

pin() { # pin CPU -- command...: run on one CPU when pinning
    local cpu="$1"; shift
    if [ "$PIN" = 1 ] && [ "$(nproc --all)" -ge 2 ]; then taskset -c "$cpu" "$@"; else "$@"; fi
}

start() { # start NAME CPU command...: background, own process group; sets LAST_PID
    local name="$1" cpu="$2"; shift 2
    if [ "$PIN" = 1 ] && [ "$(nproc --all)" -ge 2 ]; then
        setsid taskset -c "$cpu" "$@" > "$WORK/$name.out" 2> "$WORK/$name.err" &
    else
        setsid "$@" > "$WORK/$name.out" 2> "$WORK/$name.err" &
    fi
    LAST_PID=$!
    PIDS+=("$LAST_PID")
}

stop() { # stop PID: end one service's process group and wait for it
    local pid="$1" keep=() p
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    for p in "${PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}

wait_line() { # wait_line FILE PATTERN SECS: print the first matching line
    local file="$1" pattern="$2" secs="$3" i
    for i in $(seq 1 $((secs * 10))); do
        if grep -m1 "$pattern" "$file" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    log "timed out waiting for '$pattern' in $file"; tail -20 "${file%.out}.err" >&2 || true
    return 1
}

wait_port() { # wait_port PORT SECS
    local i
    for i in $(seq 1 $(($2 * 10))); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    log "timed out waiting for port $1"; return 1
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

group_pids() { # the service's pid and its descendants, as --pid flags
    local pid="$1" all="$1" kids
    kids="$(pgrep -g "$pid" 2>/dev/null || true)"
    for k in $kids; do [ "$k" = "$pid" ] || all="$all $k"; done
    for p in $all; do printf -- '--pid %s ' "$p"; done
}

CLIENT_CPU=0
lg() { # lg ARGS...: run the load client on the client's CPU(s), append its result
    local line
    if line="$(pin "$CLIENT_CPU" "$BIN/loadgen" "$@")"; then
        echo "$line" >> "$RUNS"
        log "  $(echo "$line" | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["label"], r["scenario"], {k: (round(v,3) if isinstance(v,float) else v) for k,v in r.items() if k in ("rps","errors","opened","rss_mb","rss_open_mb")}, (r.get("new_tls_ready") or {}).get("p50_ms",""), (r.get("latency") or {}).get("p50_ms",""), r.get("first_error") or "")')"
    else
        log "  loadgen $1 failed: $*"
    fi
}

# The standard set for one path: JSON at c=1 and c=16, one SSE run.
measure_path() { # measure_path LABEL PIDFLAGS TARGET-ARGS...
    local label="$1" pids="$2"; shift 2
    log "measuring $label"
    # shellcheck disable=SC2086
    lg load --label "$label" --scenario json_c1 -c 1 -d "$DURATION" --warmup "$WARMUP" $pids --aux-pid "$UP_PID" "$@"
    # shellcheck disable=SC2086
    lg load --label "$label" --scenario json_c16 -c 16 -d "$DURATION" --warmup "$WARMUP" $pids --aux-pid "$UP_PID" "$@"
    # What coding agents send: ~100 KB of tool definitions and conversation.
    # shellcheck disable=SC2086
    lg load --label "$label" --scenario agent_c16 -c 16 -d "$DURATION" --warmup "$WARMUP" --request-kb 100 $pids --aux-pid "$UP_PID" "$@"
    # shellcheck disable=SC2086
    lg load --label "$label" --scenario sse -c 1 -d "$DURATION" --warmup "$WARMUP" --stream --sse-gap-ms "$SSE_GAP_MS" $pids --aux-pid "$UP_PID" "$@"
    # The same streams without gaps: no CPU goes idle between events, so
    # the first event measures the path, not the VM waking idle CPUs.
    # shellcheck disable=SC2086
    lg load --label "$label" --scenario sse_warm -c 1 -d "$DURATION" --warmup "$WARMUP" --stream --sse-gap-ms 0 --header "x-bench-gap-ms: 0" $pids --aux-pid "$UP_PID" "$@"
}

snapshot() { # machine state, for the report's contention block
    echo "== $1: $(date -u +%FT%TZ)"
    echo "cpus: $(nproc --all); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "busiest processes (%CPU over their lifetime, pid, command):"
    ps -eo pcpu=,pid=,comm= --sort=-pcpu | head -8 | sed 's/^/  /'
}

# ---------------------------------------------------------------- build
log "building release binaries (switchyard, loadgen, bench-upstream, bench-relay, bench-lean, bench-report)"
# Two commands: with `-p loadgen`, `--bin switchyard` would be looked for in loadgen.
cargo build --release --quiet --bin switchyard
cargo build --release --quiet -p loadgen --bins
if [ "$PGO" = 1 ]; then
    log "building switchyard with PGO (scripts/build-pgo.sh)"
    scripts/build-pgo.sh
fi

# ---------------------------------------------------------------- peers
if [ "$INSTALL" = 1 ]; then
    if has_peer nginx && ! command -v nginx >/dev/null; then
        log "installing nginx and openssl (Debian packages)"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx openssl >/dev/null
    fi
    if has_peer mitmdump && [ ! -x "$MITM_VENV/bin/mitmdump" ]; then
        log "installing mitmproxy into $MITM_VENV"
        python3 -m venv "$MITM_VENV"
        "$MITM_VENV/bin/pip" install -q mitmproxy
    fi
    if has_peer litellm && [ ! -x "$LL_VENV/bin/litellm" ]; then
        log "installing litellm[proxy] into $LL_VENV"
        python3 -m venv "$LL_VENV"
        "$LL_VENV/bin/pip" install -q 'litellm[proxy]'
    fi
fi

CONTENTION="$(snapshot start)"
log "machine at start:"; echo "$CONTENTION" >&2

# ---------------------------------------------------------------- upstream
start upstream 0 "$BIN/bench-upstream" --listen 127.0.0.1:0 --events "$SSE_EVENTS" --gap-ms "$SSE_GAP_MS"
UP_PID=$LAST_PID
UP_ADDR="$(wait_line "$WORK/upstream.out" "listening on" 10 | sed 's|.*http://||')"
log "upstream on $UP_ADDR"

# ---------------------------------------------------------------- direct
measure_path direct "" --addr "$UP_ADDR"

# ---------------------------------------------------------------- floor
# A relay that copies bytes and does nothing else, on the proxy's CPU: what
# one more process on the path costs here, before any TLS or HTTP work.
start relay 1 "$BIN/bench-relay" --to "$UP_ADDR"
RELAY_PID=$LAST_PID
RELAY_ADDR="$(wait_line "$WORK/relay.out" "listening on" 10 | sed 's|.*tcp://||')"
measure_path tcp_relay "--pid $RELAY_PID" --addr "$RELAY_ADDR"
stop "$RELAY_PID"

# The floor of a TLS + HTTP/1.1 proxy on switchyard's stack (tokio, rustls):
# heads parsed, bytes relayed, nothing else (no routing, no audit).
start lean 1 "$BIN/bench-lean" --to "$UP_ADDR" --ca-out "$WORK/lean-ca.pem"
LEAN_PID=$LAST_PID
LEAN_ADDR="$(wait_line "$WORK/lean.out" "listening on" 10 | sed 's|.*https://||')"
measure_path lean_tls "--pid $LEAN_PID" --addr "$LEAN_ADDR" --via tls --host localhost --ca "$WORK/lean-ca.pem"
stop "$LEAN_PID"
# The same relay on hyper's server (switchyard's) and hyper-util's legacy
# pooled client (switchyard's until its own pool): what the HTTP library
# adds to that floor.
start hyperrelay 1 "$BIN/bench-lean" --hyper --to "$UP_ADDR" --ca-out "$WORK/hyper-ca.pem"
HYPER_PID=$LAST_PID
HYPER_ADDR="$(wait_line "$WORK/hyperrelay.out" "listening on" 10 | sed 's|.*https://||')"
measure_path hyper_tls "--pid $HYPER_PID" --addr "$HYPER_ADDR" --via tls --host localhost --ca "$WORK/hyper-ca.pem"
stop "$HYPER_PID"

# ---------------------------------------------------------------- switchyard
AUDIT_LINES=0
if [ "$SWITCHYARD" = 1 ]; then
start_switchyard() { # start_switchyard NAME BINARY [BUSY_POLL_US] [AUDIT_KEYS] [CPUS]: sets SY_PID, SY_ADDR, SY_CA
    local name="$1" binary="$2" busy="${3:-}" audit="${4:-}" cpus="${5:-1}" state="$WORK/$1-state"
    mkdir -p "$state"
    scripts/bench-config.sh "$UP_ADDR" "$WORK/$name-audit.jsonl" "$audit" > "$WORK/$name.toml"
    if [ -n "$busy" ]; then printf '\n[runtime]\nbusy_poll_us = %s\n' "$busy" >> "$WORK/$name.toml"; fi
    SWITCHYARD_STATE_DIR="$state" start "$name" "$cpus" "$binary" run --config "$WORK/$name.toml"
    SY_PID=$LAST_PID
    SY_ADDR="$(wait_line "$WORK/$name.out" "listening on" 30 | sed 's|.*http://||')"
    SY_CA="$state/ca/ca.pem"
    log "$name on $SY_ADDR (pid $SY_PID)"
}
stop_switchyard() { # stop_switchyard NAME: stops SY_PID, then deletes NAME's audit files
    stop "$SY_PID"
    # Left in place, hundreds of MB of audit lines per configuration would
    # be flushed, reclaimed and (on VMs that report free pages to the host)
    # faulted in afresh while the rows after them run: their cost would land
    # on whichever path came next. Deleted, they cost only the row that
    # wrote them.
    rm -f "$WORK/$1-audit.jsonl"*
}
start_switchyard switchyard "$BIN/switchyard"
sleep 1
lg rss --label sy_intercept --scenario rss_idle --pid "$SY_PID"

measure_path sy_intercept "--pid $SY_PID" --addr "$SY_ADDR" --via connect --host api.bench.test --ca "$SY_CA"
measure_path sy_gateway "--pid $SY_PID" --addr "$SY_ADDR"
measure_path sy_convert "--pid $SY_PID" --addr "$SY_ADDR" --api messages
log "switchyard: $NEWHOSTS new hosts, then $STREAMS open streams"
lg newhost --label sy_intercept --scenario newhost --count "$NEWHOSTS" --pid "$SY_PID" \
    --addr "$SY_ADDR" --via connect --ca "$SY_CA"
lg hold --label sy_intercept --scenario hold --streams "$STREAMS" --pid "$SY_PID" \
    --addr "$SY_ADDR" --via connect --host api.bench.test --ca "$SY_CA"
sleep 1
lg rss --label sy_intercept --scenario rss_after --pid "$SY_PID"
# The audit file rotates at 64 MB under this load: count every file.
AUDIT_LINES="$(cat "$WORK"/switchyard-audit.jsonl* 2>/dev/null | wc -l)" || AUDIT_LINES=0
stop_switchyard switchyard
# Busy polling, the opt-in that trades CPU for latency: the same binary and
# configuration plus [runtime] busy_poll_us = 200, intercept path only.
start_switchyard switchyard-busy "$BIN/switchyard" 200
sleep 1
measure_path sy_intercept_busy "--pid $SY_PID" --addr "$SY_ADDR" --via connect --host api.bench.test --ca "$SY_CA"
stop_switchyard switchyard-busy
# The audit trail without bodies ([audit] max_body_bytes = 0): still a
# hash-chained record per request, with sizes, usage and timings, but no
# captured, redacted and escaped bodies. What body capture costs, beside
# nginx, which logs nothing here.
start_switchyard switchyard-meta "$BIN/switchyard" "" "max_body_bytes = 0"
sleep 1
measure_path sy_intercept_meta "--pid $SY_PID" --addr "$SY_ADDR" --via connect --host api.bench.test --ca "$SY_CA"
stop_switchyard switchyard-meta
if [ "$PGO" = 1 ]; then
    # The same source built with PGO, same configuration: the row beside
    # sy_intercept is the A/B.
    start_switchyard switchyard-pgo "$ROOT/target/pgo/switchyard"
    sleep 1
    measure_path sy_intercept_pgo "--pid $SY_PID" --addr "$SY_ADDR" --via connect --host api.bench.test --ca "$SY_CA"
    stop_switchyard switchyard-pgo
fi
fi

# ---------------------------------------------------------------- nginx
NG="$WORK/nginx"
nginx_files() { # nginx_files PORT: a throw-away CA, a leaf for localhost, the config
    mkdir -p "$NG"
    # An ECDSA P-256 leaf under its own CA, as switchyard's (a self-signed
    # certificate would be a CA used as an end entity, which rustls rightly
    # refuses).
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=bench nginx CA" -keyout "$NG/ca.key" -out "$NG/ca.pem" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
        -keyout "$NG/key.pem" -out "$NG/leaf.csr" 2>/dev/null
    printf 'subjectAltName=DNS:localhost\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n' > "$NG/ext.cnf"
    openssl x509 -req -in "$NG/leaf.csr" -CA "$NG/ca.pem" -CAkey "$NG/ca.key" -CAcreateserial \
        -days 2 -extfile "$NG/ext.cnf" -out "$NG/cert.pem" 2>/dev/null
    cat > "$NG/nginx.conf" <<EOF
daemon off;
worker_processes 2;
pid $NG/nginx.pid;
error_log $NG/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $NG/body;
    # Agent-sized (100 KB) request bodies stay in memory, as in switchyard.
    client_body_buffer_size 256k;
    proxy_temp_path $NG/proxy;
    fastcgi_temp_path $NG/fastcgi;
    uwsgi_temp_path $NG/uwsgi;
    scgi_temp_path $NG/scgi;
    upstream fake { server $UP_ADDR; keepalive 64; }
    server {
        listen 127.0.0.1:$1 ssl;
        ssl_certificate $NG/cert.pem;
        ssl_certificate_key $NG/key.pem;
        location / {
            proxy_pass http://fake;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }
    }
}
EOF
}
start_nginx() { # start_nginx [CPUS]: sets NG_PID, NG_PORT and NG_PIDS (its processes, as --pid flags)
    NG_PORT="$(free_port)"
    nginx_files "$NG_PORT"
    start nginx "${1:-1}" nginx -c "$NG/nginx.conf" -e "$NG/error.log"
    NG_PID=$LAST_PID
    wait_port "$NG_PORT" 10
    sleep 0.5
    NG_PIDS="$(group_pids "$NG_PID")"
}
if has_peer nginx && command -v nginx >/dev/null; then
    start_nginx
    # shellcheck disable=SC2086
    lg rss --label nginx_tls --scenario rss_idle $NG_PIDS
    measure_path nginx_tls "$NG_PIDS" --addr "127.0.0.1:$NG_PORT" --via tls --host localhost --ca "$NG/ca.pem"
    # shellcheck disable=SC2086
    lg hold --label nginx_tls --scenario hold --streams "$STREAMS" $NG_PIDS \
        --addr "127.0.0.1:$NG_PORT" --via tls --host localhost --ca "$NG/ca.pem"
    stop "$NG_PID"
fi

# ---------------------------------------------------------------- mitmdump
if has_peer mitmdump && [ -x "$MITM_VENV/bin/mitmdump" ]; then
    MITM="$WORK/mitm"
    mkdir -p "$MITM"
    cat > "$MITM/addon.py" <<EOF
# Sends every intercepted request to the bench upstream, streaming answers
# (mitmproxy buffers bodies otherwise).
UP_HOST, UP_PORT = "${UP_ADDR%:*}", ${UP_ADDR##*:}

def request(flow):
    flow.request.scheme = "http"
    flow.request.host = UP_HOST
    flow.request.port = UP_PORT

def responseheaders(flow):
    flow.response.stream = True
EOF
    MITM_PORT="$(free_port)"
    start mitmdump 1 "$MITM_VENV/bin/mitmdump" -q --listen-host 127.0.0.1 --listen-port "$MITM_PORT" \
        --set confdir="$MITM" --set connection_strategy=lazy -s "$MITM/addon.py"
    MITM_PID=$LAST_PID
    wait_port "$MITM_PORT" 60
    for _ in $(seq 1 100); do [ -s "$MITM/mitmproxy-ca-cert.pem" ] && break; sleep 0.1; done
    sleep 0.5
    lg rss --label mitmdump --scenario rss_idle --pid "$MITM_PID"
    measure_path mitmdump "--pid $MITM_PID" --addr "127.0.0.1:$MITM_PORT" --via connect --host api.bench.test --ca "$MITM/mitmproxy-ca-cert.pem"
    lg newhost --label mitmdump --scenario newhost --count "$MITM_NEWHOSTS" --pid "$MITM_PID" \
        --addr "127.0.0.1:$MITM_PORT" --via connect --ca "$MITM/mitmproxy-ca-cert.pem"
    stop "$MITM_PID"
fi

# ---------------------------------------------------------------- LiteLLM
if has_peer litellm && [ -x "$LL_VENV/bin/litellm" ]; then
    LL="$WORK/litellm"
    mkdir -p "$LL"
    cat > "$LL/config.yaml" <<EOF
model_list:
  - model_name: gpt-bench
    litellm_params:
      model: openai/gpt-bench
      api_base: http://$UP_ADDR/v1
      api_key: sk-bench
  # Messages requests for claude-bench are converted to Chat Completions:
  # hosted_vllm is LiteLLM's Chat-only OpenAI-compatible provider, as
  # switchyard's openai_chat (with openai/, LiteLLM would call /responses).
  - model_name: claude-bench
    litellm_params:
      model: hosted_vllm/gpt-bench
      api_base: http://$UP_ADDR/v1
      api_key: sk-bench
litellm_settings:
  telemetry: false
  drop_params: true
EOF
    LL_PORT="$(free_port)"
    # Offline: the bundled model cost map, no telemetry; one worker (one core).
    # Since 1.10x LiteLLM refuses to start without a master key; loopback
    # only, like switchyard's own default, so its open mode is allowed.
    LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_LOG=ERROR LITELLM_TELEMETRY=False \
        LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY=true \
        start litellm 1 "$LL_VENV/bin/litellm" --config "$LL/config.yaml" --host 127.0.0.1 \
        --port "$LL_PORT" --num_workers 1
    LL_PID=$LAST_PID
    if wait_port "$LL_PORT" 180; then
        sleep 1
        LL_PIDS="$(group_pids "$LL_PID")"
        # shellcheck disable=SC2086
        lg rss --label litellm_gateway --scenario rss_idle $LL_PIDS
        measure_path litellm_gateway "$LL_PIDS" --addr "127.0.0.1:$LL_PORT"
        measure_path litellm_convert "$LL_PIDS" --addr "127.0.0.1:$LL_PORT" --api messages
    else
        log "LiteLLM did not start; its rows are missing from the report. Its log:"
        tail -15 "$WORK/litellm.err" >&2 || true
    fi
    stop "$LL_PID"
fi

# ---------------------------------------------------------------- nothing pinned
# The c=1 latency targets once more with nothing pinned: proxy, client and
# upstream share every CPU, as on a workstation. Pinned, each request
# crosses to the proxy's CPU and back twice, and waking that CPU is most of
# what any proxy adds here (the tcp_relay row); unpinned, the scheduler can
# run the proxy where its client just ran. switchyard starts unpinned too,
# so it runs one worker per CPU as users get it. Both verdicts are
# reported. Skipped with --no-pin, where the main rows are unpinned already.
if [ "$PIN" = 1 ] && [ "$(nproc --all)" -ge 2 ] && [ "$FREE" = 1 ]; then
    ALL_CPUS="0-$(($(nproc --all) - 1))"
    log "nothing pinned: c=1 latency and first events on CPUs $ALL_CPUS"
    taskset -a -p -c "$ALL_CPUS" "$UP_PID" > /dev/null
    CLIENT_CPU="$ALL_CPUS"
    measure_free() { # measure_free LABEL PIDFLAGS TARGET-ARGS...
        local label="$1" pids="$2"; shift 2
        # shellcheck disable=SC2086
        lg load --label "$label" --scenario json_c1_free -c 1 -d "$DURATION" --warmup "$WARMUP" $pids --aux-pid "$UP_PID" "$@"
        # shellcheck disable=SC2086
        lg load --label "$label" --scenario sse_free -c 1 -d "$DURATION" --warmup "$WARMUP" --stream --sse-gap-ms "$SSE_GAP_MS" $pids --aux-pid "$UP_PID" "$@"
    }
    measure_free direct "" --addr "$UP_ADDR"
    start relay-free "$ALL_CPUS" "$BIN/bench-relay" --to "$UP_ADDR"
    RELAY_PID=$LAST_PID
    RELAY_ADDR="$(wait_line "$WORK/relay-free.out" "listening on" 10 | sed 's|.*tcp://||')"
    measure_free tcp_relay "--pid $RELAY_PID" --addr "$RELAY_ADDR"
    stop "$RELAY_PID"
    if [ "$SWITCHYARD" = 1 ]; then
        start_switchyard switchyard-free "$BIN/switchyard" "" "" "$ALL_CPUS"
        sleep 1
        measure_free sy_intercept "--pid $SY_PID" --addr "$SY_ADDR" --via connect --host api.bench.test --ca "$SY_CA"
        # shellcheck disable=SC2086
        lg load --label sy_convert --scenario json_c1_free -c 1 -d "$DURATION" --warmup "$WARMUP" \
            --pid "$SY_PID" --aux-pid "$UP_PID" --addr "$SY_ADDR" --api messages
        stop_switchyard switchyard-free
    fi
    if has_peer nginx && command -v nginx >/dev/null; then
        start_nginx "$ALL_CPUS"
        measure_free nginx_tls "$NG_PIDS" --addr "127.0.0.1:$NG_PORT" --via tls --host localhost --ca "$NG/ca.pem"
        stop "$NG_PID"
    fi
    CLIENT_CPU=0
    taskset -a -p -c 0 "$UP_PID" > /dev/null
fi

# ---------------------------------------------------------------- head to head
# The paths the nginx target is about, running side by side on the proxy's
# CPU (idle but for the one measured), measured in turn for $ROUNDS rounds.
if [ "$ROUNDS" -gt 0 ]; then
    log "head to head: $ROUNDS interleaved rounds at c=16, $ROUND_SECS s each"
    H2H=()      # label|pid flags|target flags
    H2H_SY=()   # name:pid of each switchyard, for its audit files
    start hyperrelay-h2h 1 "$BIN/bench-lean" --hyper --to "$UP_ADDR" --ca-out "$WORK/hyper-h2h-ca.pem"
    H2H_HYPER=$LAST_PID
    HYPER_ADDR="$(wait_line "$WORK/hyperrelay-h2h.out" "listening on" 10 | sed 's|.*https://||')"
    H2H+=("hyper_tls|--pid $H2H_HYPER|--addr $HYPER_ADDR --via tls --host localhost --ca $WORK/hyper-h2h-ca.pem")
    if [ "$SWITCHYARD" = 1 ]; then
        start_switchyard switchyard-h2h "$BIN/switchyard"
        H2H_SY+=("switchyard-h2h:$SY_PID")
        H2H+=("sy_intercept|--pid $SY_PID|--addr $SY_ADDR --via connect --host api.bench.test --ca $SY_CA")
        start_switchyard switchyard-meta-h2h "$BIN/switchyard" "" "max_body_bytes = 0"
        H2H_SY+=("switchyard-meta-h2h:$SY_PID")
        H2H+=("sy_intercept_meta|--pid $SY_PID|--addr $SY_ADDR --via connect --host api.bench.test --ca $SY_CA")
    fi
    H2H_NGINX=""
    if has_peer nginx && command -v nginx >/dev/null; then
        start_nginx
        H2H_NGINX=$NG_PID
        H2H+=("nginx_tls|$NG_PIDS|--addr 127.0.0.1:$NG_PORT --via tls --host localhost --ca $NG/ca.pem")
    fi
    sleep 1
    n=${#H2H[@]}
    for round in $(seq 1 "$ROUNDS"); do
        for i in $(seq 0 $((n - 1))); do
            # Each round starts one path later, and every other round runs
            # backwards: no path always follows the same one.
            if [ $((round % 2)) = 0 ]; then i=$((n - 1 - i)); fi
            IFS='|' read -r label pids target <<< "${H2H[$(((i + round) % n))]}"
            # The last path's dirty audit pages go to disk now, not in
            # this path's window.
            sync
            # shellcheck disable=SC2086
            lg load --label "$label" --scenario "round_c16:$round" -c 16 -d "$ROUND_SECS" --warmup 0.5 \
                $pids --aux-pid "$UP_PID" $target
        done
    done
    stop "$H2H_HYPER"
    [ -z "$H2H_NGINX" ] || stop "$H2H_NGINX"
    for entry in "${H2H_SY[@]}"; do
        SY_PID="${entry#*:}"
        stop_switchyard "${entry%%:*}"
    done
fi

stop "$UP_PID"

# ---------------------------------------------------------------- report
CONTENTION="$CONTENTION
$(snapshot end)
pinning: $([ "$PIN" = 1 ] && echo "proxy under test on CPU 1; load client and upstream on CPU 0$([ "$FREE" = 1 ] && echo "; the *_free runs: nothing pinned")" || echo "none")
measured seconds per run: $DURATION (warm-up $WARMUP); SSE: $SSE_EVENTS deltas $SSE_GAP_MS ms apart
switchyard audit lines written: $AUDIT_LINES (audit on, default settings)
head to head: $ROUNDS rounds of $ROUND_SECS s (warm-up 0.5 s) per path
switchyard binaries: release profile (fat LTO)$([ "$PGO" = 1 ] && echo "; sy_intercept_pgo: the same with PGO (scripts/build-pgo.sh)")
versions: $(rustc --version); nginx $(nginx -v 2>&1 | sed 's|.*/||' || true); mitmproxy $("$MITM_VENV/bin/mitmdump" --version 2>/dev/null | sed -n 's/^Mitmproxy: //p' || true); litellm $("$LL_VENV/bin/pip" show litellm 2>/dev/null | sed -n 's/^Version: //p' || true)"
python3 -c 'import json,sys; print(json.dumps({"contention": sys.stdin.read(), "quick": '"$QUICK"' == 1}))' \
    <<< "$CONTENTION" > "$WORK/meta.json"
"$BIN/bench-report" --runs "$RUNS" --meta "$WORK/meta.json" \
    --markdown "$OUT/results.md" --json "$OUT/results.json"
log "wrote $OUT/results.md and $OUT/results.json (raw runs: $RUNS)"
