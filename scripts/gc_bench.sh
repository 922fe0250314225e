#!/usr/bin/env bash
# Garbage collection benchmark, in one run on this machine (release build, SQLite, local disk).
# Not a test: nothing here passes or fails on timing.
#
#   scripts/gc_bench.sh        # GC_DATASETS=1000 GC_OBJECTS=100 GC_SECS=10 GC_KEEP=1
#
# Seeds GC_DATASETS datasets of GC_OBJECTS objects each through the REST and batch APIs (four
# fifths committed on main, the rest on a branch that is then deleted: garbage), then measures:
#   1. `strata admin gc --dry-run` and `strata admin gc --grace-secs 0`, flat out (`--pace 0`):
#      wall time and peak RSS (of the whole command: it opens the database and storage as the
#      server does);
#   2. download-batch throughput (100-object batches, concurrency 16, GC_SECS s) with nothing
#      else running, then while the server runs collections back to back at the default pace
#      (dry runs through POST /api/v1/admin/gc, which walk every dataset as a run does), and the
#      ratio (target: under 10 % slower).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
datasets=${GC_DATASETS:-1000}
objects=${GC_OBJECTS:-100}
secs=${GC_SECS:-10}
work=$(mktemp -d /tmp/strata-gc-bench.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; [ -n "${GC_KEEP:-}" ] || rm -rf "$work"; }
trap cleanup EXIT

echo "building strata and the load generators (release)" >&2
cargo build -q --release --bin strata --features bench --example lfs_bench --example gc_bench
strata=${CARGO_TARGET_DIR:-$root/target}/release/strata
lfs=${CARGO_TARGET_DIR:-$root/target}/release/examples/lfs_bench
seed=${CARGO_TARGET_DIR:-$root/target}/release/examples/gc_bench

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port
export STRATA_DATA_DIR=$work/data STRATA_LISTEN=127.0.0.1:$port STRATA_PUBLIC_URL=$url STRATA_LOG=warn \
  STRATA_GC_INTERVAL_SECS=0
"$strata" serve 2>"$work/strata.log" & pid=$!
for _ in $(seq 300); do [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/readyz")" = 200 ] && break; sleep 0.1; done
"$strata" admin create-user bench >/dev/null
"$strata" admin create-user root --admin >/dev/null
token=$("$strata" admin token --user bench --name bench)
admin=$("$strata" admin token --user root --name root)
"$strata" admin create-repo bench/data >/dev/null

echo "seeding $datasets datasets x $objects objects" >&2
"$seed" seed "$url" bench "$token" "$datasets" "$objects" 8

# Runs a command; prints "seconds peak-RSS-MiB".
measure() {
  python3 - "$@" <<'PY'
import resource, subprocess, sys, time
t = time.time()
p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL)
dt = time.time() - t
if p.returncode:
    sys.exit(p.returncode)
print(f"{dt:.2f} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f}")
PY
}
echo "1/2 strata admin gc: a dry run, then a run with no grace" >&2
read -r dry_s dry_mib < <(measure "$strata" admin gc --dry-run --grace-secs 0 --pace 0)
report=$work/report.json
read -r run_s run_mib < <(measure sh -c "'$strata' admin gc --grace-secs 0 --pace 0 --json > '$report'")
removed=$(python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(r['links_removed'], r['objects_removed'], r['reachable'], r['revisions'])" "$report")

echo "2/2 batch throughput alone, then during collections" >&2
# (Seeded now: objects uploaded and never committed are garbage, and the run above took them.)
"$lfs" seed "$url/bench/data.git/info/lfs/objects/batch" 100 "bench:$token"
"$lfs" batch "$url/bench/data.git/info/lfs/objects/batch" 100 16 2 "bench:$token" >/dev/null
read -r alone_rps alone_p50 alone_p99 < <("$lfs" batch "$url/bench/data.git/info/lfs/objects/batch" 100 16 "$secs" "bench:$token")
runs=$work/runs
: > "$runs"
( while :; do
    curl -sf -X POST -H "Authorization: Bearer $admin" -H 'content-type: application/json' \
      -d '{"dry_run": true, "grace_secs": 0}' "$url/api/v1/admin/gc" -o /dev/null && echo run >> "$runs"
  done ) & gcloop=$!
sleep 0.5
read -r during_rps during_p50 during_p99 < <("$lfs" batch "$url/bench/data.git/info/lfs/objects/batch" 100 16 "$secs" "bench:$token")
kill "$gcloop" 2>/dev/null; wait "$gcloop" 2>/dev/null || true
collections=$(wc -l < "$runs")

read -r links objs reachable revisions <<<"$removed"
total=$((datasets * objects))
cat <<TABLE

| measure ($datasets datasets, $total objects; 2 cores, release, SQLite, local disk) | value |
|---|---|
| \`strata admin gc --dry-run --pace 0\`: wall time, peak RSS | ${dry_s} s, ${dry_mib} MiB |
| \`strata admin gc --grace-secs 0 --pace 0\`: wall time, peak RSS | ${run_s} s, ${run_mib} MiB |
| that run: revisions walked, objects reachable, links and objects removed | $revisions, $reachable, $links, $objs |
| download batches alone: req/s, p50, p99 | ${alone_rps}, ${alone_p50} ms, ${alone_p99} ms |
| download batches while paced collections run back to back ($collections finished in the window): req/s, p50, p99 | ${during_rps}, ${during_p50} ms, ${during_p99} ms |
| throughput during collections / alone (target ≥ 0.90) | $(python3 -c "print(f'{$during_rps / $alone_rps:.2f}')") |
TABLE
