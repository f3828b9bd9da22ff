#!/usr/bin/env bash
# Fuzzes every parser switchyard owns: one cargo-fuzz target each for the
# converters (requests, responses, SSE streams, errors), the config file,
# the SSE parser and header handling (fuzz/fuzz_targets/).
#
#   scripts/fuzz.sh [RUNS] [TARGET...]
#
# RUNS: executions per target (default 5000, a short smoke run); TARGETS:
# default all four. Installs cargo-fuzz if it is missing. cargo-fuzz needs
# nightly compiler flags; on a stable toolchain RUSTC_BOOTSTRAP=1 enables
# them. Crashes land in fuzz/artifacts/<target>/ and fail the script.
# Not part of scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

runs="${1:-5000}"
shift || true
case "$runs" in
  ''|*[!0-9]*) echo "usage: scripts/fuzz.sh [RUNS] [TARGET...]" >&2; exit 2 ;;
esac
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(convert_request convert_response convert_stream convert_error config sse headers)
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

# Stable toolchains refuse -Z flags unless told this is a bootstrap build.
if ! rustc --version | grep -q nightly; then
  export RUSTC_BOOTSTRAP=1
fi
# ASan needs the sanitizer runtime of the toolchain; FUZZ_SANITIZER=none
# skips it (faster, still catches panics and the targets' assertions).
sanitizer="${FUZZ_SANITIZER:-address}"

for target in "${targets[@]}"; do
  echo "fuzz.sh: $target, $runs runs"
  # Seeds are read from fuzz/corpus/<target>; new inputs go to a scratch
  # corpus so the checked-in seeds stay small.
  scratch="fuzz/target/corpus/$target"
  mkdir -p "$scratch"
  if [ ! -d "fuzz/corpus/$target" ]; then
    echo "fuzz.sh: no seed corpus in fuzz/corpus/$target (seeds must be named seed-*)" >&2
    exit 1
  fi
  (cd fuzz && cargo fuzz run --sanitizer "$sanitizer" "$target" \
    "../$scratch" "corpus/$target" -- \
    -runs="$runs" -max_len=65536 -timeout=10 -print_final_stats=1)
done
echo "fuzz.sh: ${#targets[@]} target(s), $runs runs each, no crash"
