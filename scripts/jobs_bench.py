"""The jobs benchmark's measurements (scripts/jobs_bench.sh starts the server): trigger latency,
the runner's overhead beside the same command run directly, an incremental run beside a full
one. Standard library only; prints a Markdown table."""
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import time
import urllib.request

BASE, TOKEN, WORK, PY, PROFILE = sys.argv[1:6]
API = f"{BASE}/api/v1/datasets"
PUSHES = int(os.environ.get("JOBS_BENCH_PUSHES", "20"))
MB = int(os.environ.get("JOBS_BENCH_MB", "100"))
ROWS = int(os.environ.get("JOBS_BENCH_ROWS", "20000000"))

EVEN = """import csv, os, sys
src, out = sys.argv[1], sys.argv[2]
for name in sorted(os.listdir(src)):
    with open(os.path.join(src, name), newline='') as f, open(os.path.join(out, name), 'w', newline='') as o:
        r, w = csv.reader(f), csv.writer(o)
        w.writerow(next(r))
        n = 0
        for row in r:
            n += 1
            if int(row[1]) % 2 == 0:
                w.writerow(row)
    print('rows read', n)
"""

# Incremental: the feed's inserted and updated rows when given one, every row otherwise.
TOTALS = """import json, os, sys
import pyarrow.compute as pc, pyarrow.csv as pv, pyarrow.parquet as pq
changes = json.load(open(os.environ['STRATA_CHANGES']))['big'] if 'STRATA_CHANGES' in os.environ else {'full': True}
inputs, out = os.environ['STRATA_INPUTS'], os.environ['STRATA_OUTPUT']
if changes['full']:
    t = pv.read_csv(os.path.join(inputs, 'big', 'big.csv'))
else:
    feed = os.path.join(os.path.dirname(os.environ['STRATA_CHANGES']), changes['rows']['big.csv']['file'])
    t = pq.read_table(feed, columns=['id', 'value', '_change_type'])
    t = t.filter(pc.is_in(t['_change_type'], value_set=__import__('pyarrow').array(['insert', 'update_postimage'])))
print('rows read', t.num_rows)
pq.write_table(t.select(['id', 'value']), os.path.join(out, 'part-%s.parquet' % os.environ['STRATA_RUN']))
"""


def call(method, url, body=None, ctype="application/json"):
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Authorization", f"Bearer {TOKEN}")
    if data is not None:
        req.add_header("Content-Type", ctype)
    with urllib.request.urlopen(req, timeout=3600) as r:
        text = r.read()
        return json.loads(text) if text else None


def create(name):
    call("POST", API, {"namespace": "bench", "name": name, "visibility": "private"})


def head(repo):
    return call("GET", f"{API}/{repo}")["revision"]["id"]


def commit_files(repo, files):
    lines = [json.dumps({"key": "header", "value": {"summary": "files", "parent": head(repo)}})]
    lines += [json.dumps({"key": "file", "value": {"path": p, "content": c}}) for p, c in files]
    return call("POST", f"{API}/{repo}/commit", "\n".join(lines).encode(), "application/x-ndjson")["revision"]["id"]


def upload(repo, path):
    """Uploads a file through the LFS batch API: its oid and size."""
    h, size = hashlib.sha256(), os.path.getsize(path)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    oid = h.hexdigest()
    batch = call("POST", f"{BASE}/{repo}.git/info/lfs/objects/batch",
                 {"operation": "upload", "transfers": ["basic"], "objects": [{"oid": oid, "size": size}]},
                 "application/vnd.git-lfs+json")
    action = batch["objects"][0].get("actions", {}).get("upload")
    if action:
        subprocess.run(["curl", "-sf", "-X", "PUT", "-T", path, action["href"]]
                       + sum((["-H", f"{k}: {v}"] for k, v in action.get("header", {}).items()), []),
                       check=True)
    return oid, size


def put_table(repo, name, path, schema):
    oid, size = upload(repo, path)
    v = call("GET", f"{API}/{repo}")
    package = v["datapackage"]
    package["resources"] = [r for r in package.get("resources", []) if r["name"] != name] + [
        {"name": name, "path": os.path.basename(path), "format": "csv", "bytes": size,
         "hash": f"sha256:{oid}", "schema": schema}]
    call("PUT", f"{API}/{repo}", {"datapackage": package, "parent": v["revision"]["id"]})


def put_table_read(repo, name, path, schema):
    """put_table, then one SQL query over the table at its new head, which makes its views (as
    they are made ahead of time when a job runs a while after the commit): the query's time."""
    put_table(repo, name, path, schema)
    t0 = time.monotonic()
    call("POST", f"{BASE}/api/v1/sql", {"query": f'SELECT sum("value") FROM "{repo}"."{name}"'})
    return time.monotonic() - t0


def declare(jobs):
    v = call("GET", f"{API}/bench/pipeline")
    package = v["datapackage"]
    package["jobs"] = jobs
    call("PUT", f"{API}/bench/pipeline", {"datapackage": package, "parent": v["revision"]["id"]})


def runs(job):
    return call("GET", f"{API}/bench/pipeline/jobs/{job}/runs")


def run_to_end(job, force=True):
    run = call("POST", f"{API}/bench/pipeline/jobs/{job}/runs?force={'true' if force else 'false'}")
    t0 = time.monotonic()
    while run["state"] in ("queued", "running"):
        time.sleep(0.02)
        run = call("GET", f"{API}/bench/pipeline/runs/{run['id']}")
    if run["state"] != "succeeded":
        sys.exit(f"{job} {run['state']}: {run.get('error')}\n{run.get('log')}")
    return time.monotonic() - t0, run


def rows_read(run):
    return next(l for l in run["log"].splitlines() if l.startswith("rows read")).split()[-1]


for name in ("small", "raw", "big", "out", "pipeline"):
    create(name)
commit_files("bench/pipeline", [("jobs/even.py", EVEN), ("jobs/totals.py", TOTALS)])
commit_files("bench/small", [("n.csv", "id,value\n1,2\n")])

# 1. Trigger latency.
declare({"ping": {"inputs": [{"dataset": "bench/small"}], "run": {"interpreter": "python", "script": "jobs/even.py",
                  "args": ["{inputs}/small", "{output}"]}, "output": {"dataset": "bench/out", "path": "ping"},
                  "triggers": ["push"]}})
time.sleep(2)  # the jobs kept from the declaration's event
latencies = []
for i in range(PUSHES):
    seen = {r["id"] for r in runs("ping")}
    commit_files("bench/small", [("n.csv", f"id,value\n{i},{i * 2}\n")])
    t0 = time.monotonic()
    while True:
        new = [r for r in runs("ping") if r["id"] not in seen]
        if new and new[0]["state"] in ("running", "succeeded", "failed"):
            latencies.append(time.monotonic() - t0)
            break
        time.sleep(0.02)
    while runs("ping")[0]["state"] in ("queued", "running"):
        time.sleep(0.05)
latencies.sort()
p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]

# 2. The runner's overhead.
raw = os.path.join(WORK, "readings.csv")
with open(raw, "w") as f:
    f.write("id,value\n")
    i = 0
    while f.tell() < MB << 20:
        f.write("".join(f"{i + k},{(i + k) * 7919 % 1000}\n" for k in range(10000)))
        i += 10000
oid, size = upload("bench/raw", raw)
call("POST", f"{API}/bench/raw/commit", (json.dumps({"key": "header", "value": {"summary": "readings", "parent": head("bench/raw")}})
     + "\n" + json.dumps({"key": "lfsFile", "value": {"path": "readings.csv", "oid": oid, "size": size}})).encode(), "application/x-ndjson")
declare({"even": {"inputs": [{"dataset": "bench/raw", "paths": ["*.csv"]}], "run": {"interpreter": "python", "script": "jobs/even.py",
                  "args": ["{inputs}/raw", "{output}"]}, "output": {"dataset": "bench/out", "path": "even"}}})
script = os.path.join(WORK, "even.py")
with open(script, "w") as f:
    f.write(EVEN)
os.makedirs(os.path.join(WORK, "src"), exist_ok=True)
os.replace(raw, os.path.join(WORK, "src", "readings.csv"))
direct, runner = [], []
for _ in range(3):
    outdir = os.path.join(WORK, "direct-out")
    os.makedirs(outdir, exist_ok=True)
    t0 = time.monotonic()
    subprocess.run([PY, script, os.path.join(WORK, "src"), outdir], check=True, stdout=subprocess.DEVNULL)
    direct.append(time.monotonic() - t0)
    runner.append(run_to_end("even")[0])
os.remove(os.path.join(WORK, "src", "readings.csv"))

# 3. Incremental beside full.
big = os.path.join(WORK, "big.csv")
rnd = random.Random(7)
with open(big, "w") as f:
    f.write("id,value,note\n")
    for start in range(0, ROWS, 100000):
        f.write("".join(f"{i},{i % 997},row {i} of the table\n" for i in range(start, min(ROWS, start + 100000))))
schema = {"primaryKey": "id", "fields": [{"name": "id", "type": "integer"}, {"name": "value", "type": "integer"},
                                         {"name": "note", "type": "string"}]}
ahead_first = put_table_read("bench/big", "big", big, schema)
declare({"totals": {"inputs": [{"dataset": "bench/big", "paths": ["big.csv"]}],
                    "run": {"interpreter": "python", "script": "jobs/totals.py"},
                    "output": {"dataset": "bench/out", "path": "totals"}, "incremental": True}})
first, run = run_to_end("totals")
changed = set(rnd.sample(range(ROWS), ROWS // 100))
with open(big, "w") as f:
    f.write("id,value,note\n")
    for start in range(0, ROWS, 100000):
        f.write("".join(f"{i},{(i % 997) + (1 if i in changed else 0)},row {i} of the table\n"
                        for i in range(start, min(ROWS, start + 100000))))
ahead_second = put_table_read("bench/big", "big", big, schema)
incremental, inc_run = run_to_end("totals", force=False)
full_rows = rows_read(run)

size_mb = os.path.getsize(big) / (1 << 20)
print(f"\n## Jobs ({PROFILE} build)\n")
print("| what | measured |")
print("|---|---|")
print(f"| push → run under way, {len(latencies)} commits | median {statistics.median(latencies) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms |")
d, r = statistics.median(direct), statistics.median(runner)
print(f"| {MB} MiB CSV, the script run directly | {d:.2f} s |")
print(f"| the same as a job (fetch, sandbox, store, commit) | {r:.2f} s ({r / d:.2f}×) |")
print(f"| {ROWS:,} rows ({size_mb:.0f} MiB CSV), full run | {first:.1f} s, {int(full_rows):,} rows read |")
print(f"| 1 % of the rows changed, incremental run (its feed made) | {incremental:.1f} s, {int(rows_read(inc_run)):,} rows read |")
print(f"| (each revision's views made before its run, by a SQL count: {ahead_first:.1f} s and {ahead_second:.1f} s) | |")
