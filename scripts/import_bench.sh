#!/usr/bin/env bash
# The import-by-reference benchmark (issue 57), in one run on this machine: IMPORT_BENCH_FILES
# objects (default 10,000) of IMPORT_BENCH_KB KiB each (default 16, random) in a directory
# declared as an import source; side by side, their import by reference into one dataset (time,
# bytes strata's store grew by, what the import reports as copied) against the copy a user
# makes without it: `git add` + `git commit` + `git push` with git-lfs of the same files into
# another dataset. Then the same prefix imported again (nothing read twice).
# Not a test: nothing here passes or fails on timing. IMPORT_BENCH_PROFILE=debug measures the
# debug build. Needs git-lfs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
profile=${IMPORT_BENCH_PROFILE:-release}
work=$(mktemp -d /tmp/strata-import-bench.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

echo "building strata ($profile)" >&2
case "$profile" in
  release) cargo build -q --release --bin strata ;;
  debug) cargo build -q --bin strata ;;
  *) echo "IMPORT_BENCH_PROFILE is release or debug" >&2; exit 2 ;;
esac
strata=${CARGO_TARGET_DIR:-$root/target}/$profile/strata
files=${IMPORT_BENCH_FILES:-10000}
kb=${IMPORT_BENCH_KB:-16}

echo "writing $files objects of $kb KiB" >&2
python3 - "$work/bucket/objects" "$files" "$kb" <<'PY'
import os, sys
root, n, kb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(n):
    d = os.path.join(root, f"part={i // 1000:02d}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"obj-{i:05d}.bin"), "wb") as f:
        f.write(os.urandom(kb << 10))
PY

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
data=$work/data
mkdir -p "$data"
STRATA_DATA_DIR=$data STRATA_LISTEN=127.0.0.1:$port STRATA_LOG=warn \
  STRATA_PUBLIC_URL=http://127.0.0.1:$port \
  STRATA_IMPORT_SOURCES="bench=file://$work/bucket?namespace=alice" \
  "$strata" serve >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 300); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
STRATA_DATA_DIR=$data "$strata" admin create-user alice >/dev/null
token=$(STRATA_DATA_DIR=$data "$strata" admin token --user alice --name bench 2>/dev/null)
python3 scripts/import_bench.py "http://127.0.0.1:$port" "$token" "$work" "$files" "$kb"
