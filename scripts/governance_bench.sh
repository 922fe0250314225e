#!/usr/bin/env bash
# Governance benchmark, in one run on this machine:
#   1. policy decision latency (median, p99) with Fybrik's sample policy and lib.rego loaded;
#   2. a 1 GiB CSV (PaySim rows repeated) read through the Fybrik policy (3 columns redacted) as
#      CSV and as an Arrow IPC stream from /tables, beside the raw download of the same bytes from
#      an untagged dataset; MiB/s each, the ratio to raw, and strata's peak RSS.
# GOV_MIB (default 1024) sets the CSV's size.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mib=${GOV_MIB:-1024}
work=$(mktemp -d /tmp/strata-gov-bench.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

echo "building strata (release)" >&2
cargo build -q --release --bin strata -p strata -p strata-policy --features strata/bench,strata-policy/bench --example decide_bench --example table_bench
strata=${CARGO_TARGET_DIR:-$root/target}/release/strata

echo "== 1. policy decisions"
"${CARGO_TARGET_DIR:-$root/target}/release/examples/decide_bench" 20000

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port
export STRATA_DATA_DIR=$work/data STRATA_LISTEN=127.0.0.1:$port STRATA_PUBLIC_URL=$url STRATA_LOG=warn \
  STRATA_POLICY_DATASET=bench/policies STRATA_REGION=theshire
"$strata" serve 2>"$work/strata.log" & pid=$!
for _ in $(seq 300); do [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/readyz")" = 200 ] && break; sleep 0.1; done
"$strata" admin create-user bench --admin >/dev/null
token=$("$strata" admin token --user bench --name bench)

echo "== 2. a ${mib} MiB CSV: raw download beside /tables through the policy" >&2
python3 - "$work/big.csv" "$mib" fixtures/governance/paysim/PS_20174392719_1491204439457_log.csv <<'PY'
import sys
out, mib, src = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lines = open(src, newline="").read().splitlines()
header, rows = lines[0], "\n".join(lines[1:]) + "\n"
with open(out, "w") as f:
    f.write(header + "\n")
    size = len(header) + 1
    while size < mib << 20:
        f.write(rows); size += len(rows)
PY
size=$(stat -c %s "$work/big.csv")
oid=$(sha256sum "$work/big.csv" | cut -d' ' -f1)
api=$url/api/v1/datasets
auth=(-H "Authorization: Bearer $token")
python3 - "$api" "$token" "$oid" "$size" fixtures/governance/policies <<'PY'
import json, sys, urllib.request
api, token, oid, size, policies = sys.argv[1:]
def call(method, url, body=None, ctype="application/json"):
    req = urllib.request.Request(url, method=method, data=body, headers={"Authorization": "Bearer " + token, "Content-Type": ctype})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read() or b"null")
for name in ("policies", "paysim", "plain"):
    call("POST", api, json.dumps({"namespace": "bench", "name": name}).encode())
head = call("GET", api + "/bench/policies")["revision"]["id"]
lines = [{"key": "header", "value": {"summary": "policies", "parent": head}}]
for f in ("sample-policy.rego", "lib.rego"):
    lines.append({"key": "file", "value": {"path": f, "content": open(f"{policies}/{f}").read()}})
call("POST", api + "/bench/policies/commit", "\n".join(map(json.dumps, lines)).encode(), "application/x-ndjson")
PY
for ds in paysim plain; do
  href=$(curl -s "${auth[@]}" -H 'Content-Type: application/vnd.git-lfs+json' -X POST "$url/bench/$ds.git/info/lfs/objects/batch" \
    -d "{\"operation\":\"upload\",\"objects\":[{\"oid\":\"$oid\",\"size\":$size}]}" | python3 -c 'import json,sys; o=json.load(sys.stdin)["objects"][0]; print(o.get("actions",{}).get("upload",{}).get("href",""))')
  [ -n "$href" ] && curl -s -o /dev/null -T "$work/big.csv" "$href"
done
python3 - "$api" "$token" "$oid" "$size" <<'PY'
import json, sys, urllib.request
api, token, oid, size = sys.argv[1:]
def call(method, url, body=None):
    req = urllib.request.Request(url, method=method, data=body, headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read() or b"null")
header = "step,type,amount,nameOrig,oldbalanceOrg,newbalanceOrig,nameDest,oldbalanceDest,newbalanceDest,isFraud,isFlaggedFraud".split(",")
kind = lambda c: "integer" if c in ("step", "isFraud", "isFlaggedFraud") else "string" if c in ("type", "nameOrig", "nameDest") else "number"
for name, tags in (("paysim", {"finance": True}), ("plain", {})):
    fields = [{"name": c, "type": kind(c), "tags": {"PII": c in ("nameOrig", "oldbalanceOrg", "newbalanceOrig")}} for c in header]
    pkg = {"name": name, "tags": tags, "geography": "theshire", "resources": [{"name": "big", "path": "big.csv", "format": "csv", "bytes": int(size), "hash": "sha256:" + oid, "schema": {"fields": fields}}]}
    head = call("GET", f"{api}/bench/{name}")["revision"]["id"]
    call("PUT", f"{api}/bench/{name}", json.dumps({"datapackage": pkg, "parent": head}).encode())
PY
measure() { # label url
  local best=0 t
  for _ in 1 2 3; do
    t=$(curl -s -o /dev/null -w '%{time_total}' "${auth[@]}" "$2")
    best=$(python3 -c "print(max($best, $size / 1048576 / $t))")
  done
  printf '  %-44s %8.0f MiB/s (of the CSV'"'"'s %d MiB; best of 3)\n' "$1" "$best" "$((size >> 20))" >&2
  echo "$best"
}
[ "$(curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" "$api/bench/paysim/raw/big.csv")" = 403 ] || { echo "the governed raw download was not refused" >&2; exit 1; }
{ curl -s "${auth[@]}" "$api/bench/paysim/tables/big" || true; } | head -c 4096 > "$work/head.csv"
sed -n 2p "$work/head.csv" | grep -q XXXXXXXXXX || { echo "the table is not redacted" >&2; exit 1; }
raw=$(measure "raw download (untagged dataset)" "$api/bench/plain/raw/big.csv")
csv=$(measure "/tables, Fybrik policy, CSV out" "$api/bench/paysim/tables/big")
arrow=$(measure "/tables, Fybrik policy, Arrow IPC out" "$api/bench/paysim/tables/big?format=arrow")
python3 -c "print(f'  ratio to raw: CSV {$csv/$raw:.0%}, Arrow {$arrow/$raw:.0%}')"
echo "  the transform alone, file to sink (no HTTP):"
"${CARGO_TARGET_DIR:-$root/target}/release/examples/table_bench" "$work/big.csv" | sed 's/^/    /'
echo "  strata peak RSS: $(grep VmHWM /proc/$pid/status | awk '{print int($2/1024)}') MiB"
