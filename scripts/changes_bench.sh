#!/usr/bin/env bash
# Changes benchmark, in one run on this machine:
#   1. two revisions of a CHANGES_MIB (default 1024) MiB CSV with an `id` primary key, the second
#      differing in 1 % of its rows (a cell changed in 0.8 %, 0.1 % removed, 0.1 % added);
#   2. the row diff between them (GET …/tables/t/diff, once the views and digest indexes made in
#      the background as the revisions land are there, and again), beside
#      pandas `merge(indicator=True)` of the same two files (what a user would run instead), with
#      both answers' counts checked against each other, and each one's peak memory;
#   3. a contract check: new revisions of the table written to a protected branch with its Table
#      Schema's constraints (required, minimum, maximum, enum, pattern, the primary key), each
#      making its view and checking it: the write's time and throughput, for one that keeps the
#      contract and one breaking row 1000 (refused, naming it);
#   4. a merge request of a branch changing another 1 % of the rows (comments changed, rows
#      added, none the target changed) into the branch holding the second revision, once the
#      source's views are made in the background: the status (the three sides merge-joined on
#      the key, finding conflicts) and the merge (merge-joined again, writing the merged table
#      into the store), the merged rows counted;
#   5. strata's peak RSS through all of it, and of the diff, the status, the merge and the
#      contract check each (the peak started again before each: /proc/PID/clear_refs).
# strata runs under a process memory limit the kernel enforces, CHANGES_MEMORY_LIMIT_MIB
# (default 768) of data (RLIMIT_DATA through prlimit: heap and private anonymous memory; past it
# allocations fail and the server dies), so every step above, the 1 GiB merge among them,
# completing is the test that it stays inside it; the script fails otherwise. The allocator
# (mimalloc) is told not to commit the address space it reserves ahead
# (MIMALLOC_ARENA_EAGER_COMMIT=0): RLIMIT_DATA counts committed address space, not memory
# touched, and an idle strata otherwise holds a 1 GiB arena reservation that is no memory at all
# (VmData 1,040 MiB beside 113 MiB resident). What the limit counts then is what was allocated.
# Needs python3 with pandas (scripts/test.sh installs it into target/test-tools/venv).
# CHANGES_ONLY=diff stops after step 2 (the row diff beside pandas).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mib=${CHANGES_MIB:-1024}
py=${STRATA_TEST_TOOLS:-$root/target/test-tools}/venv/bin/python
"$py" -c 'import pandas' 2>/dev/null || { echo "error: $py has no pandas: run scripts/test.sh once, or set STRATA_TEST_TOOLS" >&2; exit 1; }
work=$(mktemp -d /tmp/strata-changes-bench.XXXXXX)
pid=
cleanup() {
  if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
    echo "strata is not running (its data limit: ${limit:-?} MiB); the end of its log:" >&2
    tail -5 "$work/strata.log" >&2 || true
  fi
  # Stopped before its files go (its background work may be writing views).
  if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "building strata (release)" >&2
cargo build -q --release --bin strata -p strata
strata=${CARGO_TARGET_DIR:-$root/target}/release/strata
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port
export STRATA_DATA_DIR=$work/data STRATA_LISTEN=127.0.0.1:$port STRATA_PUBLIC_URL=$url STRATA_LOG=warn
limit=${CHANGES_MEMORY_LIMIT_MIB:-768}
MIMALLOC_ARENA_EAGER_COMMIT=0 prlimit --data=$((limit * 1048576)) "$strata" serve 2>"$work/strata.log" & pid=$!
for _ in $(seq 300); do [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/readyz")" = 200 ] && break; sleep 0.1; done
"$strata" admin create-user bench >/dev/null
token=$("$strata" admin token --user bench --name bench)
export BENCH_URL=$url BENCH_TOKEN=$token BENCH_WORK=$work BENCH_MIB=$mib PY=$py BENCH_PID=$pid

echo "== two revisions of a ${mib} MiB CSV, 1 % of the rows changed" >&2
"$py" - <<'PY'
import os, random
work, mib = os.environ["BENCH_WORK"], int(os.environ["BENCH_MIB"])
random.seed(7)
codes = ["AB", "CD", "EF", "GH"]
with open(f"{work}/a.csv", "w") as a, open(f"{work}/b.csv", "w") as b, open(f"{work}/c.csv", "w") as c:
    header = "id,name,age,code,amount,comment\n"
    a.write(header); b.write(header); c.write(header)
    size, i = len(header), 0
    while size < mib << 20:
        i += 1
        row = f"{i},person {i * 7919 % 1000003},{i % 97},{codes[i % 4]},{(i * 2654435761 % 1000000) / 100:.2f},row {i} of the benchmark table\n"
        a.write(row); size += len(row)
        r = random.random()
        if r < 0.008:
            b.write(row.replace(f",{i % 97},", f",{(i + 1) % 97},", 1))
        elif r < 0.009:
            pass
        else:
            b.write(row)
        if 0.009 <= r < 0.010:
            j = 10_000_000_000 + i
            b.write(f"{j},added {j},{j % 97},AB,1.00,added row\n")
        # The merge's source: another 1 % (rows b leaves alone), comments changed and rows added.
        if r >= 0.010 and i % 100 == 50:
            c.write(row.replace(" of the benchmark table", " of the merged table"))
        else:
            c.write(row)
        if r >= 0.010 and i % 1000 == 7:
            j = 20_000_000_000 + i
            c.write(f"{j},branch {j},{j % 97},CD,2.00,added on the branch\n")
PY

"$py" - <<'PY'
import hashlib, json, os, resource, subprocess, threading, time, urllib.request
url, token, work = os.environ["BENCH_URL"], os.environ["BENCH_TOKEN"], os.environ["BENCH_WORK"]
api = f"{url}/api/v1/datasets"
def call(method, path, body=None, ctype="application/json"):
    req = urllib.request.Request(api + path, method=method, data=body,
                                 headers={"Authorization": "Bearer " + token, "Content-Type": ctype})
    try:
        with urllib.request.urlopen(req, timeout=3600) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")
def peak_reset():
    # The process's peak RSS starts again from what it holds now (Linux: clear_refs 5).
    with open(f"/proc/{os.environ['BENCH_PID']}/clear_refs", "w") as f:
        f.write("5")
def peak():
    with open(f"/proc/{os.environ['BENCH_PID']}/status") as f:
        return next(int(l.split()[1]) // 1024 for l in f if l.startswith("VmHWM"))
def oid_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
def upload(path):
    oid, size = oid_of(path), os.path.getsize(path)
    req = urllib.request.Request(f"{url}/bench/t.git/info/lfs/objects/batch", method="POST",
        data=json.dumps({"operation": "upload", "objects": [{"oid": oid, "size": size}]}).encode(),
        headers={"Authorization": "Bearer " + token, "Content-Type": "application/vnd.git-lfs+json"})
    with urllib.request.urlopen(req) as r:
        o = json.loads(r.read())["objects"][0]
    href = o.get("actions", {}).get("upload", {}).get("href")
    if href:
        subprocess.run(["curl", "-sf", "-o", "/dev/null", "-T", path, href], check=True)
    return oid, size
FIELDS = [{"name": "id", "type": "integer"}, {"name": "name", "type": "string"},
          {"name": "age", "type": "integer"}, {"name": "code", "type": "string"},
          {"name": "amount", "type": "number"}, {"name": "comment", "type": "string"}]
def put(path, constraints=False, branch="main", parent=None):
    oid, size = upload(path)
    fields = json.loads(json.dumps(FIELDS))
    if constraints:
        fields[1]["constraints"] = {"required": True}
        fields[2]["constraints"] = {"minimum": 0, "maximum": 150}
        fields[3]["constraints"] = {"enum": ["AB", "CD", "EF", "GH"], "pattern": "[A-Z]{2}"}
    pkg = {"name": "t", "resources": [{"name": "t", "path": "t.csv", "format": "csv", "bytes": size,
           "hash": "sha256:" + oid, "schema": {"primaryKey": "id", "fields": fields}}]}
    if parent is None:
        _, head = call("GET", f"/bench/t?rev={branch}")
        parent = head["revision"]["id"]
    t = time.perf_counter()
    status, v = call("PUT", "/bench/t", json.dumps({"datapackage": pkg, "parent": parent, "branch": branch}).encode())
    return time.perf_counter() - t, status, v
def protect(on):
    req = urllib.request.Request(f"{api}/bench/t/protection", method="PUT", data=json.dumps({"default_branch": on}).encode(),
                                 headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    urllib.request.urlopen(req).read()
call("POST", "", json.dumps({"namespace": "bench", "name": "t"}).encode())
# Unprotected first: the two revisions land unchecked.
protect(False)
size = os.path.getsize(f"{work}/a.csv")
_, s, v = put(f"{work}/a.csv"); assert s == 200, v
rev_a = v["revision"]["id"]
_, s, v = put(f"{work}/b.csv"); assert s == 200, v
rev_b = v["revision"]["id"]

print(f"== 2. the row diff of two revisions of {size / 1048576:.0f} MiB", flush=True)
# Each revision's view and digest index are made in the background as it lands: wait for both.
def ahead(outcome):
    text = urllib.request.urlopen(f"{url}/metrics").read().decode()
    return sum(float(l.split()[-1]) for l in text.splitlines()
               if l.startswith("strata_table_views_ahead_total") and f'outcome="{outcome}"' in l)
t = time.perf_counter()
while ahead("made") < 2 and ahead("failed") == 0 and time.perf_counter() - t < 600:
    time.sleep(0.2)
print(f"  views and digest indexes made ahead (background, both revisions, from the second write) {time.perf_counter() - t:7.2f} s")
peak_reset()
t = time.perf_counter()
s, d = call("GET", f"/bench/t/tables/t/diff?from={rev_a}&to={rev_b}&limit=100")
first = time.perf_counter() - t
if s != 200:
    print(f"  strata: FAILED after {first:.2f} s: {s} {d.get('message')}")
else:
    t = time.perf_counter()
    s, d = call("GET", f"/bench/t/tables/t/diff?from={rev_a}&to={rev_b}&limit=100")
    again = time.perf_counter() - t
    counts = d["counts"]
    print(f"  strata, first (made ahead)         {first:7.2f} s")
    print(f"  strata, again                      {again:7.2f} s   counts {counts}; peak RSS of the two {peak()} MiB")
code = f"""
import pandas as pd, resource, time
t = time.perf_counter()
a = pd.read_csv('{work}/a.csv'); b = pd.read_csv('{work}/b.csv')
m = a.merge(b, on='id', how='outer', indicator=True, suffixes=('_a', '_b'))
both = m[m['_merge'] == 'both']
cols = [c for c in a.columns if c != 'id']
changed = (both[[c + '_a' for c in cols]].values != both[[c + '_b' for c in cols]].values).any(axis=1).sum()
print((m['_merge'] == 'right_only').sum(), (m['_merge'] == 'left_only').sum(), changed,
      time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""
out = subprocess.run([os.environ.get("PY", "python3"), "-c", code], capture_output=True, text=True, check=True).stdout.split()
added, removed, changed, secs, rss = int(out[0]), int(out[1]), int(out[2]), float(out[3]), int(out[4])
print(f"  pandas merge(indicator=True)       {secs:7.2f} s   added {added}, removed {removed}, changed {changed}; peak {rss} MiB")
if s == 200:
    assert (counts["added"], counts["removed"], counts["changed"]) == (added, removed, changed), (counts, added, removed, changed)
    print(f"  strata first / pandas: {first / secs:.2f}x; views made / pandas: {again / secs:.2f}x")

if os.environ.get("CHANGES_ONLY") == "diff":
    raise SystemExit(0)
print("== 3. a merge request of a branch changing another 1 % into main", flush=True)
s, v = call("POST", "/bench/t/branches", json.dumps({"name": "feature", "revision": rev_a}).encode()); assert s == 201, v
made = ahead("made")
_, s, v = put(f"{work}/c.csv", branch="feature", parent=rev_a); assert s == 200, v
# The source's views (typed, digest index, and the text view merges read) are made in the
# background as it lands, like the target's and the base's: wait for them.
t = time.perf_counter()
while ahead("made") <= made and ahead("failed") == 0 and time.perf_counter() - t < 600:
    time.sleep(0.2)
print(f"  the source's views made ahead (background)               {time.perf_counter() - t:7.2f} s")
s, v = call("POST", "/bench/t/merge-requests", json.dumps({"source": "feature", "title": "bench"}).encode()); assert s == 201, v
n = v["number"]
peak_reset()
t = time.perf_counter()
s, v = call("GET", f"/bench/t/merge-requests/{n}")
status_secs = time.perf_counter() - t
if s != 200:
    print(f"  status: FAILED after {status_secs:.2f} s: {s} {v.get('message')}")
else:
    print(f"  status (the three sides merge-joined on the key)         {status_secs:7.2f} s   conflicts {len(v['conflicts'])}, mergeable {v['mergeable']}; peak RSS {peak()} MiB")
    peak_reset()
    t = time.perf_counter()
    s, v = call("POST", f"/bench/t/merge-requests/{n}/merge", json.dumps({}).encode())
    merge_secs = time.perf_counter() - t
    if s != 200:
        print(f"  merge: FAILED after {merge_secs:.2f} s: {s} {v.get('message')}")
    else:
        rows = lambda p: sum(1 for _ in open(p)) - 1
        expected = rows(f"{work}/b.csv") + rows(f"{work}/c.csv") - rows(f"{work}/a.csv")
        _, pkg = call("GET", "/bench/t")
        merged = pkg["datapackage"]["resources"][0]["bytes"]
        got = subprocess.run(["curl", "-sf", "-H", "Authorization: Bearer " + token, f"{api}/bench/t/raw/t.csv"],
                             capture_output=True, check=True).stdout.count(b"\n") - 1
        assert got == expected, (got, expected)
        print(f"  merge (merge-joined again, merged table written)         {merge_secs:7.2f} s = {size / 1048576 / merge_secs:6.0f} MiB/s of the base; {merged / 1048576:.0f} MiB merged, {got} rows, as expected; peak RSS {peak()} MiB")

print("== 4. a contract checked on a protected branch", flush=True)
protect(True)
# New objects (their views are made by the check): a.csv with one more row, and a.csv with row
# 1000's code in lower case (the pattern and the enum refuse it).
with open(f"{work}/a.csv") as f, open(f"{work}/good.csv", "w") as g, open(f"{work}/bad.csv", "w") as h:
    for n, line in enumerate(f):
        g.write(line)
        h.write(line.replace(",AB,", ",ab,", 1).replace(",CD,", ",cd,", 1) if n == 1000 else line)
    g.write("99999999999,one more,40,AB,1.00,one more row\n")
peak_reset()
secs, s, v = put(f"{work}/good.csv", constraints=True)
assert s == 200, v
print(f"  (peak RSS of the check {peak()} MiB)")
print(f"  a write that keeps the contract (view made, then checked)  {secs:7.2f} s = {size / 1048576 / secs:6.0f} MiB/s")
secs, s, v = put(f"{work}/bad.csv", constraints=True)
assert s == 422 and "row 1000" in v["message"], (s, v)
print(f"  a write breaking row 1000, refused naming it               {secs:7.2f} s = {size / 1048576 / secs:6.0f} MiB/s")
PY
kill -0 "$pid" 2>/dev/null || { echo "error: strata died under its ${limit} MiB data limit:" >&2; tail -5 "$work/strata.log" >&2; exit 1; }
echo "== 5. strata peak RSS: $(grep VmHWM /proc/$pid/status | awk '{print int($2/1024)}') MiB, data $(grep VmData /proc/$pid/status | awk '{print int($2/1024)}') MiB; all of it under a ${limit} MiB data limit (RLIMIT_DATA), held"
