#!/usr/bin/env bash
# The mirror benchmark (issue 57), in one run on this machine: two stratas on 127.0.0.1, a source
# and a mirror. A dataset of MIRROR_BENCH_FILES LFS files of MIRROR_BENCH_MB MiB each (defaults 8
# and 64) is pushed to the source by git-lfs; then side by side, the first sync of a new mirror
# of it (set up to refs moved) against `git clone` + `git lfs pull` of the same dataset from the
# source. Then the recovery point: MIRROR_BENCH_ROUNDS commits (default 10) of a 100 MiB file
# pushed to the source, whose webhook tells the mirror; the time from the end of each push to
# the mirror's `main` at that commit, p50 and p99 (the largest, at 10 rounds).
# Not a test: nothing here passes or fails on timing. MIRROR_BENCH_PROFILE=debug measures the
# debug build (quicker to build; slower to run). Needs git-lfs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
profile=${MIRROR_BENCH_PROFILE:-release}
work=$(mktemp -d /tmp/strata-mirror-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

echo "building strata ($profile)" >&2
case "$profile" in
  release) cargo build -q --release --bin strata ;;
  debug) cargo build -q --bin strata ;;
  *) echo "MIRROR_BENCH_PROFILE is release or debug" >&2; exit 2 ;;
esac
strata=${CARGO_TARGET_DIR:-$root/target}/$profile/strata
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start NAME USER: a strata with its own data directory; prints "URL TOKEN".
start() {
  local dir=$work/$1 port
  port=$(free_port)
  mkdir -p "$dir"
  STRATA_DATA_DIR=$dir STRATA_LISTEN=127.0.0.1:$port STRATA_LOG=warn \
    STRATA_WEBHOOKS_ALLOW_PRIVATE=on STRATA_MIRRORS_ALLOW_PRIVATE=on \
    STRATA_MIRROR_MIN_INTERVAL_SECS=1 STRATA_PUBLIC_URL=http://127.0.0.1:$port \
    "$strata" serve >"$dir.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 300); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
  STRATA_DATA_DIR=$dir "$strata" admin create-user "$2" >/dev/null
  echo "http://127.0.0.1:$port $(STRATA_DATA_DIR=$dir "$strata" admin token --user "$2" --name bench 2>/dev/null)"
}
read -r src_url src_token < <(start source alice)
read -r dst_url dst_token < <(start mirror bob)
python3 scripts/mirror_bench.py "$src_url" "$src_token" "$dst_url" "$dst_token" "$work" \
  "${MIRROR_BENCH_FILES:-8}" "${MIRROR_BENCH_MB:-64}" "${MIRROR_BENCH_ROUNDS:-10}"
