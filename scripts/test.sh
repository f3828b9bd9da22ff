#!/usr/bin/env bash
# Runs switchyard's full test suite, installing every peer it drives first:
# curl, squid, openssl, ca-certificates, chromium, chromium-driver, npm,
# redis-server and postgresql (Debian packages), a Python venv with the official anthropic and openai
# SDKs, and the AI tools from npm (Claude Code, Codex CLI, Gemini CLI). A peer
# that cannot be installed fails the run; no test skips itself.
set -euo pipefail
cd "$(dirname "$0")/.."
# The suite needs ~4 GB of disk (build, fuzz build, SDK venv, npm tools);
# say what there is, so a full disk reads as such in the log.
echo "test.sh: free disk here: $(df -h . | awk 'NR==2 {print $4}')"

apt_packages=()
command -v curl >/dev/null || apt_packages+=(curl)
command -v openssl >/dev/null || apt_packages+=(openssl)
[ -x /usr/sbin/squid ] || command -v squid >/dev/null || apt_packages+=(squid)
# ca_trust.rs installs into the real Debian store; live_page.rs drives the
# live page in headless Chromium through chromedriver.
[ -x /usr/sbin/update-ca-certificates ] || apt_packages+=(ca-certificates)
command -v chromium >/dev/null || apt_packages+=(chromium)
command -v chromedriver >/dev/null || apt_packages+=(chromium-driver)
command -v npm >/dev/null || apt_packages+=(nodejs npm)
# fleet.rs runs real Redis and PostgreSQL servers (temp data dirs, loopback).
pg_bin=/usr/lib/postgresql/15/bin
command -v redis-server >/dev/null || apt_packages+=(redis-server)
[ -x "$pg_bin/postgres" ] || apt_packages+=(postgresql)
if [ ${#apt_packages[@]} -gt 0 ]; then
  echo "test.sh: installing ${apt_packages[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "test.sh: need root to install ${apt_packages[*]} (or install them yourself)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${apt_packages[@]}" >/dev/null
fi
# The tests start their own servers on free ports, never the packages'
# system-wide services; what they need is the binaries.
for must in redis-server "$pg_bin/postgres" "$pg_bin/initdb" "$pg_bin/psql"; do
  if ! command -v "$must" >/dev/null; then
    echo "test.sh: $must is missing after installing redis-server and postgresql" >&2
    exit 1
  fi
done

venv="${SWITCHYARD_VENV:-$PWD/target/test-venv}"
if ! "$venv/bin/python" -c 'import anthropic, openai' 2>/dev/null; then
  echo "test.sh: creating the SDK venv in $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check anthropic openai
fi
export SWITCHYARD_PYTHON="$venv/bin/python"

# The real tools, pinned so a new release cannot change the suite's outcome
# unnoticed; bump deliberately. npm does nothing when they are already there.
npm_dir="${SWITCHYARD_NPM_DIR:-$PWD/target/npm}"
npm_packages=(@anthropic-ai/claude-code@2.1.197 @openai/codex@0.169.0 @google/gemini-cli@0.61.0)
echo "test.sh: installing ${npm_packages[*]} into $npm_dir"
mkdir -p "$npm_dir"
npm install --prefix "$npm_dir" --no-audit --no-fund --loglevel=error "${npm_packages[@]}"
export SWITCHYARD_CLAUDE="$npm_dir/node_modules/.bin/claude"
export SWITCHYARD_CODEX="$npm_dir/node_modules/.bin/codex"
export SWITCHYARD_GEMINI="$npm_dir/node_modules/.bin/gemini"
"$SWITCHYARD_CLAUDE" --version
"$SWITCHYARD_CODEX" --version
"$SWITCHYARD_GEMINI" --version

# Incremental state would add ~2.6 GB to a from-scratch build of the suite,
# and CI machines can be short of disk; opt back in with CARGO_INCREMENTAL=1.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

log="target/test-output.log"
mkdir -p target
set +e
cargo test --workspace --no-fail-fast "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

# A short fuzz smoke over every target (scripts/fuzz.sh runs the deep ones),
# when the whole suite ran.
if [ "$status" -eq 0 ] && [ $# -eq 0 ]; then
  FUZZ_SANITIZER=none scripts/fuzz.sh 2000
fi

# One closing line for the whole run, after the fuzz output.
passed=$(grep -Eo 'test result: [a-zA-Z]+\. [0-9]+ passed' "$log" | grep -Eo '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed;' "$log" | awk '{s+=$1} END {print s+0}')
echo "switchyard: $passed passed, $failed failed"
exit "$status"
