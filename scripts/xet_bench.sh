#!/usr/bin/env bash
# The Xet benchmark (issue 56), in one run on this machine, against strata on 127.0.0.1: a CSV of
# XET_BENCH_MB MiB (default 1024) pushed, then pushed again with 1 % of its rows changed (a
# contiguous run in the middle), through huggingface_hub with hf_xet (each push from a client
# with an empty cache) and through git-lfs side by side: the time of each push, the bytes the
# second push sent (Xet: the xorbs it uploaded) and stored (the data directory's growth), then
# the file downloaded by hf_hub_download through Xet beside the same download with Xet off (a
# plain GET) and curl of the raw file. git-lfs's pushes are chunked by the server in the
# background (every 5 s here): what they stored is measured once that settles, with the
# chunker's throughput, the server's peak RSS, and curl of the git-lfs file whole (right after
# its push) beside the same once it is kept as chunks.
# Not a test: nothing here passes or fails on timing. XET_BENCH_PROFILE=debug measures the debug
# build (quicker to build; slower to run). Needs the test tools (scripts/test.sh installs them:
# STRATA_TEST_TOOLS, default target/test-tools) and git-lfs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tools=${STRATA_TEST_TOOLS:-$root/target/test-tools}
py=$tools/venv/bin/python
profile=${XET_BENCH_PROFILE:-release}
work=$(mktemp -d /tmp/strata-xet-bench.XXXXXX)
pid=
cleanup() { [ -z "$pid" ] || kill "$pid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

echo "building strata ($profile)" >&2
case "$profile" in
  release) cargo build -q --release --bin strata ;;
  debug) cargo build -q --bin strata ;;
  *) echo "XET_BENCH_PROFILE is release or debug" >&2; exit 2 ;;
esac
strata=${CARGO_TARGET_DIR:-$root/target}/$profile/strata
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export STRATA_DATA_DIR=$work/data STRATA_LISTEN=127.0.0.1:$port STRATA_LOG=warn STRATA_CHUNKING_INTERVAL_SECS=5
mkdir -p "$work/data"
"$strata" serve & pid=$!
for _ in $(seq 300); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
"$strata" admin create-user bench >/dev/null
token=$("$strata" admin token --user bench --name bench 2>/dev/null)
"$py" scripts/xet_bench.py "http://127.0.0.1:$port" "$token" "$work" "${XET_BENCH_MB:-1024}" "$pid"
