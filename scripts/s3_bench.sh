#!/usr/bin/env bash
# The interop benchmark (issue: the S3 gateway and the Hub API), in one run on this machine, with
# release strata on an S3 server (s3s-fs) as its storage and its S3 gateway on:
#   1. GetObject of a 1 GiB object through the gateway (a presigned gateway URL, with curl),
#      beside strata's raw route (curl with a token) and a presigned URL of the storage itself
#      (the LFS batch's download action): MB/s and the gateway's share of raw; then, once strata
#      keeps the object as chunks, its LFS download through strata beside that presigned URL;
#   2. ListObjectsV2 over a dataset of 10,000 files, every page (boto3's paginator);
#   3. `aws s3 sync` of 1,000 small files up and down beside `git lfs push` and a clone with
#      `git lfs pull` of the same files;
#      and what a verify action (sent to clients other than git-lfs) costs 1,000 uploads;
#   4. `snapshot_download` (huggingface_hub) of the 1 GiB dataset beside `git clone` (LFS smudge).
# S3_BENCH_ONLY=get|list|sync runs that step alone (hub needs get's dataset).
# Needs curl, git, git-lfs and the test tools' Python (scripts/test.sh installs them:
# STRATA_TEST_TOOLS, default target/test-tools).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tools=${STRATA_TEST_TOOLS:-$root/target/test-tools}
py=$tools/venv/bin/python
work=$(mktemp -d /tmp/strata-s3-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

echo "building strata (release)" >&2
cargo build -q --release --bin strata --features bench --example s3_server
strata=${CARGO_TARGET_DIR:-$root/target}/release/strata
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

"${CARGO_TARGET_DIR:-$root/target}/release/examples/s3_server" > "$work/s3.endpoint" & pids+=($!)
for _ in $(seq 100); do [ -s "$work/s3.endpoint" ] && break; sleep 0.1; done
storage=$(head -n 1 "$work/s3.endpoint")
port=$(free_port); gport=$(free_port)
export STRATA_DATA_DIR=$work/data STRATA_LISTEN=127.0.0.1:$port STRATA_S3_LISTEN=127.0.0.1:$gport \
  STRATA_STORAGE=s3 STRATA_BUCKET=strata-test STRATA_S3_ENDPOINT=$storage STRATA_S3_PATH_STYLE=true \
  STRATA_S3_ACCESS_KEY_ID=AKIASTRATATEST STRATA_S3_SECRET_ACCESS_KEY=strata-test-secret-key-0123456789 \
  STRATA_LOG=warn
"$strata" serve 2>"$work/strata.log" & pids+=($!)
for _ in $(seq 300); do [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" = 200 ] && break; sleep 0.1; done
"$strata" admin create-user bench >/dev/null
for d in big many small lfs verify; do "$strata" admin create-repo "bench/$d" >/dev/null; done
token=$("$strata" admin token --user bench --name bench --scopes '*' 2>/dev/null | tail -n 1)

STRATA_URL=http://127.0.0.1:$port S3_ENDPOINT=http://127.0.0.1:$gport TOKEN=$token WORK=$work \
  PATH="$tools/venv/bin:$PATH" "$py" "$root/scripts/s3_bench.py"
