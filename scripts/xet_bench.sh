#!/usr/bin/env bash
# The Xet benchmark (issue 56), in one run on this machine, against strata on 127.0.0.1: a CSV of
# XET_BENCH_MB MiB (default 1024) pushed, then pushed again with 1 % of its rows changed (a
# contiguous run in the middle), through huggingface_hub with hf_xet (each push from a client
# with an empty cache) and through git-lfs side by side: the time of each push, the bytes the
# second push sent (Xet: the xorbs it uploaded) and stored (the data directory's growth), the
# time from the file on disk to a commit on the server (git-lfs: `git add`, which hashes and
# copies the file, with the commit and the push), then the file downloaded by hf_hub_download
# through Xet beside the same download with Xet off (a plain GET), curl of the raw file and
# `git lfs pull` of git-lfs's own. git-lfs's pushes are chunked by the server in the
# background (every 5 s here): what they stored is measured once that settles, with the
# chunker's throughput, the server's peak RSS, and curl of the git-lfs file whole (right after
# its push) beside the same once it is kept as chunks.
# Not a test: nothing here passes or fails on timing. XET_BENCH_PROFILE=debug measures the debug
# build (quicker to build; slower to run). XET_BENCH_ONLY=views runs the views part alone. XET_BENCH_STORAGE=s3 keeps the objects and xorbs in an
# S3 server (s3s-fs, the tests' own) rather than on the local disk: "stored" then counts its
# bucket too, and the chunked download reads its xorbs from there. Needs the test tools (scripts/test.sh installs them:
# STRATA_TEST_TOOLS, default target/test-tools) and git-lfs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tools=${STRATA_TEST_TOOLS:-$root/target/test-tools}
py=$tools/venv/bin/python
profile=${XET_BENCH_PROFILE:-release}
work=$(mktemp -d /tmp/strata-xet-bench.XXXXXX)
pid=
cleanup() {
  [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
  [ -z "${s3pid:-}" ] || kill "$s3pid" 2>/dev/null || true
  wait 2>/dev/null || true; rm -rf "$work"
}
trap cleanup EXIT

storage=${XET_BENCH_STORAGE:-local}
echo "building strata ($profile, $storage)" >&2
extra=()
[ "$storage" = s3 ] && extra=(--features bench --example s3_server)
case "$profile" in
  release) cargo build -q --release --bin strata "${extra[@]}" ;;
  debug) cargo build -q --bin strata "${extra[@]}" ;;
  *) echo "XET_BENCH_PROFILE is release or debug" >&2; exit 2 ;;
esac
strata=${CARGO_TARGET_DIR:-$root/target}/$profile/strata
s3pid=
case "$storage" in
  local) export XET_BENCH_STORE= ;;
  s3)
    "${CARGO_TARGET_DIR:-$root/target}/$profile/examples/s3_server" > "$work/s3.out" & s3pid=$!
    for _ in $(seq 100); do [ "$(wc -l < "$work/s3.out")" -ge 2 ] && break; sleep 0.1; done
    export STRATA_STORAGE=s3 STRATA_BUCKET=strata-test STRATA_S3_ENDPOINT=$(sed -n 1p "$work/s3.out") \
      STRATA_S3_PATH_STYLE=true STRATA_S3_ACCESS_KEY_ID=AKIASTRATATEST \
      STRATA_S3_SECRET_ACCESS_KEY=strata-test-secret-key-0123456789 XET_BENCH_STORE=$(sed -n 2p "$work/s3.out")
    ;;
  *) echo "XET_BENCH_STORAGE is local or s3" >&2; exit 2 ;;
esac
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export STRATA_DATA_DIR=$work/data STRATA_LISTEN=127.0.0.1:$port STRATA_LOG=warn STRATA_CHUNKING_INTERVAL_SECS=5
mkdir -p "$work/data"
"$strata" serve & pid=$!
for _ in $(seq 300); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
"$strata" admin create-user bench >/dev/null
token=$("$strata" admin token --user bench --name bench 2>/dev/null)
"$py" scripts/xet_bench.py "http://127.0.0.1:$port" "$token" "$work" "${XET_BENCH_MB:-1024}" "$pid"
