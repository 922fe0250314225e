#!/usr/bin/env bash
# App benchmark, in one run on this machine, with the small app of the tests
# (fixtures/apps/echo_app.py, Python's threading http.server) behind a release strata:
#   1. cold start to first byte: the instance is stopped, then one GET through /apps/… is timed
#      until its first byte (the request waits for the start), five times;
#   2. proxy overhead: closed-loop GETs of /health with 8 connections for APPS_SECS (default 10)
#      seconds, straight to the app and through /apps/…, taking turns twice; requests/s and
#      median latency, and the ratio;
#   3. websocket echo round trip, straight and through the proxy (2,000 round trips each).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
secs=${APPS_SECS:-10}
work=$(mktemp -d /tmp/strata-apps-bench.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; sleep 0.5; rm -rf "$work"; }
trap cleanup EXIT

echo "building strata and the load generator (release)" >&2
cargo build -q --release --bin strata --features bench --example apps_bench
strata=${CARGO_TARGET_DIR:-$root/target}/release/strata
load=${CARGO_TARGET_DIR:-$root/target}/release/examples/apps_bench

mkdir -p "$work/apps"
cat > "$work/apps/echo.toml" <<TOML
id = "echo"
name = "Echo"
prefix = "strip"
health = "/health"
idle_timeout_secs = 3600
scopes = ["dataset:*:read"]
[runner]
kind = "process"
command = "python3"
args = ["$root/fixtures/apps/echo_app.py", "--port", "{port}"]
TOML
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port
export STRATA_DATA_DIR=$work/data STRATA_LISTEN=127.0.0.1:$port STRATA_PUBLIC_URL=$url STRATA_LOG=warn \
  STRATA_APPS_DIR=$work/apps STRATA_APPS_SAME_ORIGIN=true
"$strata" serve 2>"$work/strata.log" & pid=$!
for _ in $(seq 300); do [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/readyz")" = 200 ] && break; sleep 0.1; done
"$strata" admin create-user bench >/dev/null
token=$("$strata" admin token --user bench --name bench)
auth="Bearer $token"
curl -sf -X PUT -H "Authorization: $auth" -H 'content-type: application/json' \
  -d '{"scopes":["dataset:*:read"]}' "$url/api/v1/user/apps/echo" >/dev/null

echo "== 1. cold start to first byte (python3 http.server app), 5 runs"
starts=()
for i in 1 2 3 4 5; do
  curl -sf -X POST -H "Authorization: $auth" "$url/api/v1/user/apps/echo/stop" >/dev/null
  t=$(curl -s -o /dev/null -w '%{http_code} %{time_starttransfer}' -H "Authorization: $auth" "$url/apps/bench/echo/health")
  [ "${t%% *}" = 200 ] || { echo "cold start $i answered ${t%% *}" >&2; exit 1; }
  starts+=("${t#* }")
  echo "  run $i: ${t#* } s"
done
printf '%s\n' "${starts[@]}" | sort -n | awk '{a[NR]=$1} END {printf "  median: %.3f s (target: under 1 s)\n", a[int((NR+1)/2)]}'

direct_port=$(curl -sf -H "Authorization: $auth" "$url/apps/bench/echo/env" | python3 -c 'import json,sys; print(json.load(sys.stdin)["PORT"])')
direct=http://127.0.0.1:$direct_port

echo "== 2. GET /health, 8 connections, ${secs} s each, taking turns"
: > "$work/http.jsonl"
for round in 1 2; do
  "$load" http "$direct/health" - 8 "$secs" | tee -a "$work/http.jsonl"
  "$load" http "$url/apps/bench/echo/health" "$auth" 8 "$secs" | tee -a "$work/http.jsonl"
done
echo "== 3. websocket echo round trips"
: > "$work/ws.jsonl"
"$load" ws "127.0.0.1:$direct_port" /ws - 2000 | tee -a "$work/ws.jsonl"
"$load" ws "127.0.0.1:$port" /apps/bench/echo/ws "$auth" 2000 | tee -a "$work/ws.jsonl"

python3 - "$work/http.jsonl" "$work/ws.jsonl" <<'PY'
import json, statistics, sys
http = [json.loads(l) for l in open(sys.argv[1])]
ws = [json.loads(l) for l in open(sys.argv[2])]
direct = [r for r in http if "/apps/" not in r["url"]]
proxied = [r for r in http if "/apps/" in r["url"]]
d_rps = statistics.median(r["rps"] for r in direct)
p_rps = statistics.median(r["rps"] for r in proxied)
d_med = statistics.median(r["median_ms"] for r in direct)
p_med = statistics.median(r["median_ms"] for r in proxied)
errors = sum(r["errors"] for r in http)
print()
print("| | direct | through /apps/ | ratio |")
print("|---|---|---|---|")
print(f"| requests/s (8 connections) | {d_rps:.0f} | {p_rps:.0f} | {p_rps / d_rps:.0%} |")
print(f"| median latency | {d_med:.2f} ms | {p_med:.2f} ms | +{p_med - d_med:.2f} ms |")
print(f"| websocket round trip (median) | {ws[0]['median_ms']:.3f} ms | {ws[1]['median_ms']:.3f} ms | +{ws[1]['median_ms'] - ws[0]['median_ms']:.3f} ms |")
print(f"errors: {errors}")
PY
