#!/usr/bin/env bash
# Fuzzing, longer than the suite does it: scripts/fuzz.sh [SECONDS] [--targets-only]
#
# 1. The cargo fuzz targets (fuzz/fuzz_targets: LFS pointers and batch requests,
#    datapackage.json, SQL through the private-query rewriter, SigV4 requests to the S3 gateway,
#    CSV tables through a policy's plan, NDJSON commits), each for SECONDS (default 300;
#    scripts/test.sh runs them 20 s each, --targets-only), two at a time (STRATA_FUZZ_JOBS). Installs cargo-fuzz when it is
#    missing. Builds with libFuzzer's coverage but no sanitizer (`-s none`: the code is safe Rust;
#    what the fuzzers look for is panics, overflow and broken properties), on the stable
#    toolchain, in the dev profile (debug assertions and overflow checks on). Each target first
#    replays its regressions (fuzz/regressions/<target>: inputs that once failed), then fuzzes
#    from its seeds and corpus. A failing input is left in fuzz/artifacts/<target>/: add it to
#    fuzz/regressions/<target> with the fix, and a unit test where the fix is.
# 2. schemathesis over the REST API (tests/it/fuzz/operations.rs) for SECONDS per run, from a new
#    seed.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-300}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.13.2
cargo fuzz build -s none --dev
# One target on each core at a time; each target's output goes to a log, printed when it ends
# (all of it when it fails, its final stats when it passes).
logs=$(mktemp -d)
fuzz_target() {
  local t=$1
  mkdir -p "corpus/$t"
  if [ -d "regressions/$t" ]; then
    cargo fuzz run -s none --dev "$t" "regressions/$t" -- -runs=0 || return 1
  fi
  local dict=() seeds=()
  [ -f "dicts/$t.dict" ] && dict=("-dict=dicts/$t.dict")
  [ -d "seeds/$t" ] && seeds=("seeds/$t")
  cargo fuzz run -s none --dev "$t" "corpus/$t" "${seeds[@]}" -- \
    -max_total_time="$seconds" -max_len=65536 -timeout=20 -rss_limit_mb=4096 \
    -print_final_stats=1 "${dict[@]}"
}
report() {
  local t=$1 status=$2
  if [ "$status" = 0 ]; then
    echo "== fuzz $t (${seconds} s): passed"
    grep -E '^(stat::|Done )' "$logs/$t.log" || true
  else
    echo "== fuzz $t (${seconds} s): FAILED"
    cat "$logs/$t.log"
  fi
}
jobs=${STRATA_FUZZ_JOBS:-2}
declare -A running=()
failed=0
reap() {
  local pid
  for pid in "${!running[@]}"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      local status=0
      wait "$pid" || status=$?
      report "${running[$pid]}" "$status"
      [ "$status" = 0 ] || failed=1
      unset "running[$pid]"
    fi
  done
}
for t in $(cargo fuzz list); do
  while [ ${#running[@]} -ge "$jobs" ]; do
    wait -n || true
    reap
  done
  fuzz_target "$t" >"$logs/$t.log" 2>&1 &
  running[$!]=$t
done
while [ ${#running[@]} -gt 0 ]; do
  wait -n || true
  reap
done
rm -rf "$logs"
[ "$failed" = 0 ] || { echo "fuzzing found failures: see above" >&2; exit 1; }
[ "${2:-}" = --targets-only ] && exit 0

cd ..
STRATA_FUZZ_SECONDS=$seconds STRATA_FUZZ_SEED=random cargo test --test it --locked -- fuzz::operations
