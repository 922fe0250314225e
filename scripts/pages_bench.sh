#!/usr/bin/env bash
# How long the dataset page takes to render the first page of a folder of 10,000 files (and a
# later page), measured with curl against the release build on 127.0.0.1: the median and the
# slowest of 21 requests. Not a test: nothing here passes or fails on timing.
#
#   scripts/pages_bench.sh        # PAGES_FILES=10000
set -euo pipefail
cd "$(dirname "$0")/.."
files=${PAGES_FILES:-10000}
work=$(mktemp -d /tmp/strata-pages.XXXXXX)
pid=
cleanup() { [ -z "$pid" ] || kill "$pid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
cargo build -q --release --bin strata
strata=$PWD/target/release/strata
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export STRATA_DATA_DIR=$work/data STRATA_LISTEN=127.0.0.1:$port STRATA_LOG=warn
mkdir -p "$work/data"
"$strata" serve & pid=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
"$strata" admin create-user bench >/dev/null
token=$("$strata" admin token --user bench 2>/dev/null)
api=http://127.0.0.1:$port/api/v1/datasets
head=$(curl -sf -H "Authorization: Bearer $token" -H 'Content-Type: application/json' "$api" \
  -d '{"namespace": "bench", "name": "many", "visibility": "public"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["revision"]["id"])')
python3 - "$files" "$head" > "$work/commit.ndjson" <<'PY'
import json, sys
n, parent = int(sys.argv[1]), sys.argv[2]
print(json.dumps({"key": "header", "value": {"summary": f"{n} files", "parent": parent}}))
for i in range(n):
    print(json.dumps({"key": "file", "value": {"path": f"big/file-{i:05d}.csv", "content": f"id\n{i}\n"}}))
PY
curl -sf -o /dev/null -H "Authorization: Bearer $token" -H 'Content-Type: application/x-ndjson' \
  --data-binary "@$work/commit.ndjson" "$api/bench/many/commit"
measure() { # url -> "median max" in ms over 21 requests (after one warm-up)
  curl -sf -o /dev/null "$1"
  for _ in $(seq 21); do curl -s -o /dev/null -w '%{time_total}\n' "$1"; done \
    | sort -n | awk '{ t[NR] = $1 * 1000 } END { printf "%.1f %.1f\n", t[11], t[NR] }'
}
base=http://127.0.0.1:$port/datasets/bench/many
read -r first_med first_max < <(measure "$base?path=big")
read -r later_med later_max < <(measure "$base?path=big&page=40")
read -r root_med root_max < <(measure "$base")
echo "Folder of $files files, $(nproc) cores, $(git rev-parse --short HEAD), ms (median / slowest of 21):"
echo "| page | median | slowest |"
echo "|---|---|---|"
echo "| first page of the folder (200 entries) | $first_med | $first_max |"
echo "| page 40 of the folder | $later_med | $later_max |"
echo "| the dataset's root (one folder entry) | $root_med | $root_max |"
