#!/usr/bin/env bash
# Delta Sharing benchmark, side by side in one run on this machine:
#   1. a DS_MIB (default 1024) MiB CSV of PaySim rows behind Fybrik's sample policy (3 PII
#      columns redacted), shared with a recipient: `delta_sharing.load_as_pandas` of the table
#      (first, while its view is made; then again) beside a direct download (curl) of the same
#      governed view's file, and beside that file read into pandas locally the way the client
#      converts it (one thread);
#   2. a second revision with 1 % of the rows changed: `load_table_changes_as_pandas` of it (the
#      feed made, then again) beside the owner's row diff of the same revisions over REST;
#   3. revocation: the time from the revoke's answer to the recipient's first refused call;
#   4. strata's peak RSS.
# Needs target/test-tools/ds-venv (scripts/test.sh makes it: delta-sharing 1.4.2).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mib=${DS_MIB:-1024}
tools=${STRATA_TEST_TOOLS:-$root/target/test-tools}
py=$tools/ds-venv/bin/python
"$py" -c 'import delta_sharing' 2>/dev/null || { echo "error: $py has no delta_sharing: run scripts/test.sh once, or set STRATA_TEST_TOOLS" >&2; exit 1; }
work=$(mktemp -d /tmp/strata-ds-bench.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

echo "building strata (release)" >&2
cargo build -q --release --bin strata -p strata
strata=${CARGO_TARGET_DIR:-$root/target}/release/strata
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port
export STRATA_DATA_DIR=$work/data STRATA_LISTEN=127.0.0.1:$port STRATA_PUBLIC_URL=$url STRATA_LOG=warn \
  STRATA_POLICY_DATASET=bench/policies STRATA_REGION=theshire NO_PROXY=127.0.0.1,localhost
"$strata" serve 2>"$work/strata.log" & pid=$!
for _ in $(seq 300); do [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/readyz")" = 200 ] && break; sleep 0.1; done
"$strata" admin create-user bench --admin >/dev/null
token=$("$strata" admin token --user bench --name bench)
api=$url/api/v1

echo "== a ${mib} MiB CSV, PaySim rows, Fybrik's sample policy; a second revision with 1 % changed" >&2
"$py" - "$work" "$mib" fixtures/governance/paysim/PS_20174392719_1491204439457_log.csv <<'PY'
import sys
work, mib, src = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lines = open(src, newline="").read().splitlines()
header, rows = lines[0], [l.split(",") for l in lines[1:]]
with open(f"{work}/a.csv", "w") as a, open(f"{work}/b.csv", "w") as b:
    a.write(header + "\n"); b.write(header + "\n")
    size, k = len(header) + 1, 0
    while size < mib << 20:
        for r in rows:
            k += 1
            v = 0.5 + (k * 7919 % 10007) / 10007
            line = (f"{k // 1000 + 1},{r[1]},{float(r[2]) * v:.2f},C{1000000000 + k * 2654435761 % 999999999},"
                    f"{float(r[4]) * v:.2f},{float(r[5]) * v:.2f},M{1000000000 + k * 40503 % 999999937},"
                    f"{float(r[7]) * v:.2f},{float(r[8]) * v:.2f},{r[9]},{r[10]}\n")
            a.write(line); size += len(line)
            if k % 100 == 0:
                line = line.replace(f",{r[1]},", ",CHANGED,", 1)
            b.write(line)
PY
"$py" - "$api" "$url" "$token" "$work" fixtures/governance/policies <<'PY'
import hashlib, json, os, subprocess, sys, urllib.request
api, url, token, work, policies = sys.argv[1:]
def call(method, path, body=None, ctype="application/json"):
    req = urllib.request.Request(api + path, method=method, data=body, headers={"Authorization": "Bearer " + token, "Content-Type": ctype})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read() or b"null")
for ds in ("policies", "paysim"):
    call("POST", "/datasets", json.dumps({"namespace": "bench", "name": ds}).encode())
head = call("GET", "/datasets/bench/policies")["revision"]["id"]
lines = [{"key": "header", "value": {"summary": "policies", "parent": head}}]
for f in ("sample-policy.rego", "lib.rego"):
    lines.append({"key": "file", "value": {"path": f, "content": open(f"{policies}/{f}").read()}})
call("POST", "/datasets/bench/policies/commit", "\n".join(map(json.dumps, lines)).encode(), "application/x-ndjson")
header = "step,type,amount,nameOrig,oldbalanceOrg,newbalanceOrig,nameDest,oldbalanceDest,newbalanceDest,isFraud,isFlaggedFraud".split(",")
kind = lambda c: "integer" if c in ("step", "isFraud", "isFlaggedFraud") else "string" if c in ("type", "nameOrig", "nameDest") else "number"
for name in ("a", "b"):
    path = f"{work}/{name}.csv"
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    oid, size = h.hexdigest(), os.path.getsize(path)
    batch = {"operation": "upload", "objects": [{"oid": oid, "size": size}]}
    req = urllib.request.Request(f"{url}/bench/paysim.git/info/lfs/objects/batch", data=json.dumps(batch).encode(),
        headers={"Authorization": "Bearer " + token, "Content-Type": "application/vnd.git-lfs+json", "Accept": "application/vnd.git-lfs+json"})
    with urllib.request.urlopen(req) as r:
        href = json.loads(r.read())["objects"][0].get("actions", {}).get("upload", {}).get("href")
    if href:
        subprocess.run(["curl", "-sf", "-o", "/dev/null", "-T", path, href], check=True)
    fields = [{"name": c, "type": kind(c), "tags": {"PII": c in ("nameOrig", "oldbalanceOrg", "newbalanceOrig")}} for c in header]
    pkg = {"name": "paysim", "tags": {"finance": True}, "geography": "theshire", "resources": [{"name": "big", "path": "big.csv",
        "format": "csv", "bytes": size, "hash": "sha256:" + oid, "schema": {"fields": fields}}]}
    head = call("GET", "/datasets/bench/paysim")["revision"]["id"]
    call("PUT", "/datasets/bench/paysim", json.dumps({"datapackage": pkg, "parent": head, "message": name}).encode())
call("POST", "/namespaces/bench/delta-shares", json.dumps({"name": "fin"}).encode())
call("POST", "/namespaces/bench/delta-shares/fin/tables", json.dumps({"schema": "pay", "name": "tx", "dataset": "paysim", "resource": "big"}).encode())
made = call("POST", "/namespaces/bench/recipients", json.dumps({"name": "partner", "organization": "globex", "shares": ["fin"]}).encode())
open(f"{work}/profile.share", "w").write(json.dumps(made["profile"]))
PY
# The unrestricted views of both revisions are made ahead of time as they land: let them finish,
# so that what follows runs on an otherwise idle machine.
ahead() { curl -s "$url/metrics" | awk -v o="$1" '$1 ~ "^strata_table_views_ahead_total" && $1 ~ "outcome=\""o"\"" {n += $2} END {print n + 0}'; }
for _ in $(seq 1200); do
  [ "$(ahead made)" -ge 2 ] || [ "$(ahead failed)" -gt 0 ] && break
  sleep 0.5
done

echo "== 1. load_as_pandas beside a direct download of the same view" >&2
"$py" - "$work" "$token" "$api" <<'PY'
import json, subprocess, sys, time, urllib.request
import delta_sharing, pyarrow.dataset as pds
work, token, api = sys.argv[1:]
profile = f"{work}/profile.share"
table = f"{profile}#fin.pay.tx"
def timed(f):
    t = time.perf_counter(); out = f(); return time.perf_counter() - t, out
first, df = timed(lambda: delta_sharing.load_as_pandas(table))
warm = min(timed(lambda: delta_sharing.load_as_pandas(table))[0] for _ in range(2))
bearer = json.load(open(profile))["bearerToken"]
req = urllib.request.Request(json.load(open(profile))["endpoint"] + "/shares/fin/schemas/pay/tables/tx/query",
    data=b"{}", headers={"Authorization": "Bearer " + bearer, "Content-Type": "application/json"})
lines = urllib.request.urlopen(req).read().decode().splitlines()
file = json.loads(lines[2])["file"]
def curl():
    subprocess.run(["curl", "-sf", "-o", f"{work}/view.parquet", file["url"]], check=True)
download = min(timed(curl)[0] for _ in range(3))
# The client's own conversion (delta_sharing/reader.py): the whole file, one thread.
convert = lambda: pds.dataset(f"{work}/view.parquet", format="parquet").to_table().to_pandas(
    date_as_object=True, use_threads=False, split_blocks=False, self_destruct=True)
local = min(timed(convert)[0] for _ in range(2))
size = file["size"] / 1048576
print(f"  {len(df):,} rows, {len(df.columns)} columns; the governed view is {size:.0f} MiB of Parquet")
print(f"  load_as_pandas, first (the recipient's view made)      {first:7.2f} s")
print(f"  load_as_pandas, again                                  {warm:7.2f} s   ({size / warm:.0f} MiB/s of the view)")
print(f"  curl of the same file URL                              {download:7.2f} s   ({size / download:.0f} MiB/s)")
print(f"  that file into pandas locally, as the client converts   {local:7.2f} s")
print(f"  load_as_pandas / (download + local read): {(download + local) / warm:.2f}x the speed; / download alone: {download / warm:.2f}x")
PY

echo "== 2. the change feed of 1 % changed rows beside the owner's row diff" >&2
"$py" - "$work" "$token" "$api" <<'PY'
import json, sys, time, urllib.request
import delta_sharing
work, token, api = sys.argv[1:]
table = f"{work}/profile.share#fin.pay.tx"
def timed(f):
    t = time.perf_counter(); out = f(); return time.perf_counter() - t, out
cold, df = timed(lambda: delta_sharing.load_table_changes_as_pandas(table, starting_version=1, ending_version=1))
warm = min(timed(lambda: delta_sharing.load_table_changes_as_pandas(table, starting_version=1, ending_version=1))[0] for _ in range(2))
revs = json.loads(urllib.request.urlopen(urllib.request.Request(api + "/datasets/bench/paysim/revisions?limit=3",
    headers={"Authorization": "Bearer " + token})).read())
ids = [r["id"] for r in (revs["revisions"] if isinstance(revs, dict) else revs)]
diff_url = f"{api}/datasets/bench/paysim/tables/big/diff?from={ids[1]}&to={ids[0]}&limit=100"
def diff():
    return json.loads(urllib.request.urlopen(urllib.request.Request(diff_url, headers={"Authorization": "Bearer " + token})).read())
d_cold, d = timed(diff)
d_warm = min(timed(diff)[0] for _ in range(2))
kinds = df["_change_type"].value_counts().to_dict()
print(f"  feed rows: {kinds}; the row diff counts {d['counts']}")
print(f"  load_table_changes_as_pandas, first (the feed made)    {cold:7.2f} s")
print(f"  load_table_changes_as_pandas, again                    {warm:7.2f} s")
print(f"  row diff over REST (owner; counts and a page), first   {d_cold:7.2f} s; again {d_warm:.2f} s")
PY

echo "== 3. revocation" >&2
"$py" - "$work" "$api" "$token" <<'PY'
import json, sys, time, urllib.error, urllib.request
work, api, token = sys.argv[1:]
profile = json.load(open(f"{work}/profile.share"))
def shares():
    req = urllib.request.Request(profile["endpoint"] + "/shares", headers={"Authorization": "Bearer " + profile["bearerToken"]})
    try:
        urllib.request.urlopen(req); return 200
    except urllib.error.HTTPError as e:
        return e.code
assert shares() == 200
urllib.request.urlopen(urllib.request.Request(api + "/namespaces/bench/recipients/partner", method="DELETE",
    headers={"Authorization": "Bearer " + token}))
t = time.perf_counter(); n = 1
while shares() != 401:
    n += 1
print(f"  revoke answered → first refused call: {(time.perf_counter() - t) * 1000:.1f} ms ({n} call(s))")
PY
echo "  strata peak RSS: $(grep VmHWM /proc/$pid/status | awk '{print int($2/1024)}') MiB"
