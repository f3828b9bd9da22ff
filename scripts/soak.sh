#!/usr/bin/env bash
# The fault soak on demand: N requests (default 10,000) of mixed protocols,
# streaming and not, against providers injecting 429/5xx, resets, truncation,
# drips and invalid JSON, with client aborts and a bridge going down and up.
# Prints answered/closed/aborted counts, audit completeness, fds and RSS.
# CI runs the same test with 240 requests (scripts/test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
requests="${1:-10000}"
SOAK_REQUESTS="$requests" cargo test --release --test soak -- --nocapture
