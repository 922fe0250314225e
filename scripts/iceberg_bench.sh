#!/usr/bin/env bash
# Iceberg catalog benchmark, in one run on this machine:
#   1. load-table latency of a table with ICEBERG_SNAPSHOTS (default 1000) revisions: p50 and p99
#      of 200 loads once its views are made (a load is kept a minute per caller and heads), and
#      of loads right after a ref moved (nothing kept);
#   2. TPC-H q1 and q6 on an ICEBERG_MIB (default 1024) MiB lineitem table: DuckDB through the
#      catalog (the iceberg extension, files through the S3 gateway) beside DuckDB on the same
#      Parquet view on the local disk, and strata's own SQL; best of 3, answers compared;
#   3. scale-out: the whole table read through the catalog by Ray Data on a local cluster of 2
#      worker processes and by PyIceberg in one process (rows a second), with strata's peak RSS
#      while they read (the data plane is the gateway: it streams, never buffers a file).
# Needs python3 with duckdb (and its iceberg, avro, httpfs packages), pyiceberg and ray
# (scripts/test.sh installs them into target/test-tools/venv).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mib=${ICEBERG_MIB:-1024}
snapshots=${ICEBERG_SNAPSHOTS:-1000}
py=${STRATA_TEST_TOOLS:-$root/target/test-tools}/venv/bin/python
"$py" -c 'import duckdb, duckdb_ext, pyiceberg.catalog.rest, ray.data' 2>/dev/null || { echo "error: $py lacks duckdb, pyiceberg or ray: run scripts/test.sh once, or set STRATA_TEST_TOOLS" >&2; exit 1; }
work=$(mktemp -d /tmp/strata-iceberg-bench.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

echo "building strata (release)" >&2
cargo build -q --release --bin strata -p strata
strata=${CARGO_TARGET_DIR:-$root/target}/release/strata
free() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free); s3port=$(free)
url=http://127.0.0.1:$port
export STRATA_DATA_DIR=$work/data STRATA_LISTEN=127.0.0.1:$port STRATA_PUBLIC_URL=$url STRATA_LOG=warn \
  STRATA_S3_LISTEN=127.0.0.1:$s3port
"$strata" serve 2>"$work/strata.log" & pid=$!
for _ in $(seq 300); do [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/readyz")" = 200 ] && break; sleep 0.1; done
"$strata" admin create-user bench --admin >/dev/null
token=$("$strata" admin token --user bench --name bench)
echo "strata $url, S3 gateway 127.0.0.1:$s3port" >&2

"$py" - "$url" "$token" "$pid" "$mib" "$snapshots" "$work" <<'PY'
import hashlib, json, os, statistics, sys, time, urllib.request
url, token, pid, mib, snapshots, work = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
api = url + "/api/v1/datasets"

def call(method, path, body=None, ctype="application/json", base=api):
    data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
    req = urllib.request.Request(base + path, method=method, data=data,
                                 headers={"Authorization": "Bearer " + token, "Content-Type": ctype})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read() or b"null")

def upload(ds, path):
    size, h = os.path.getsize(path), hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    oid = h.hexdigest()
    batch = call("POST", f"/bench/{ds}.git/info/lfs/objects/batch",
                 {"operation": "upload", "objects": [{"oid": oid, "size": size}]},
                 "application/vnd.git-lfs+json", base=url)
    href = batch["objects"][0].get("actions", {}).get("upload", {}).get("href")
    if href:
        with open(path, "rb") as f:
            urllib.request.urlopen(urllib.request.Request(href, method="PUT", data=f, headers={"Content-Length": str(size)}))
    return oid, size

def put_table(ds, name, path, fields):
    oid, size = upload(ds, path)
    head = call("GET", f"/bench/{ds}")["revision"]
    pkg = {"name": ds, "resources": [{"name": name, "path": os.path.basename(path), "format": "csv",
           "bytes": size, "hash": "sha256:" + oid, "schema": {"fields": fields}}]}
    call("PUT", f"/bench/{ds}", {"datapackage": pkg, "parent": head and head["id"]})

def rss_peak():
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) // 1024 for l in f if l.startswith("VmHWM"))

def reset_peak():
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")

from pyiceberg.catalog import load_catalog
catalog = load_catalog("bench", type="rest", uri=url + "/iceberg", token=token)

def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]

# 1. Load latency with many snapshots.
print(f"== load-table latency, {snapshots} snapshots", flush=True)
call("POST", "", {"namespace": "bench", "name": "history"})
t0 = time.time()
small = os.path.join(work, "small.csv")
for i in range(snapshots):
    with open(small, "w") as f:
        f.write("id,v\n" + "".join(f"{j},{i * 10 + j}\n" for j in range(10)))
    put_table("history", "t", small, [{"name": "id", "type": "integer"}, {"name": "v", "type": "integer"}])
print(f"  {snapshots} revisions written in {time.time() - t0:.0f} s", flush=True)
t0 = time.time()
while True:
    t = catalog.load_table("bench.history.t")
    if "strata.snapshots-omitted" not in t.properties and len(t.snapshots()) >= snapshots:
        break
    time.sleep(0.5)
print(f"  every snapshot's view made {time.time() - t0:.0f} s later ({len(t.snapshots())} snapshots)", flush=True)
def timed_load():
    s = time.perf_counter()
    urllib.request.urlopen(urllib.request.Request(url + "/iceberg/v1/main/namespaces/bench%1Fhistory/tables/t",
                                                  headers={"Authorization": "Bearer " + token})).read()
    return (time.perf_counter() - s) * 1000
kept = [timed_load() for _ in range(200)]
print(f"  kept: p50 {pct(kept, .5):.1f} ms, p99 {pct(kept, .99):.1f} ms (200 loads)")
fresh = []
head = call("GET", "/bench/history")["revision"]["id"]
for i in range(10):
    call("POST", "/bench/history/tags", {"name": f"b{i}", "revision": head})
    fresh.append(timed_load())
print(f"  after a ref moved: p50 {pct(fresh, .5):.0f} ms, max {max(fresh):.0f} ms (10 loads)", flush=True)

# 2. TPC-H q1 and q6.
print(f"== a {mib} MiB lineitem table", flush=True)
import duckdb, duckdb_ext
line = os.path.join(work, "lineitem.csv")
duckdb.sql(f"""
COPY (SELECT i // 4 + 1 AS l_orderkey, hash(i) % 200000 + 1 AS l_partkey, i % 4 + 1 AS l_linenumber,
  (hash(i + 2) % 50 + 1)::DOUBLE AS l_quantity, round(900 + (hash(i + 3) % 10400000) / 100.0, 2) AS l_extendedprice,
  (hash(i + 4) % 11) / 100.0 AS l_discount, (hash(i + 5) % 9) / 100.0 AS l_tax,
  ['A', 'N', 'R'][(hash(i + 6) % 3 + 1)::BIGINT] AS l_returnflag, ['F', 'O'][(hash(i + 7) % 2 + 1)::BIGINT] AS l_linestatus,
  DATE '1992-01-02' + (hash(i + 8) % 2526)::INTEGER AS l_shipdate, 'carefully ' || md5(i::VARCHAR)[1:24] AS l_comment
FROM range({mib * 9000}) t(i)) TO '{line}' (HEADER)""")
call("POST", "", {"namespace": "bench", "name": "tpch"})
types = {"l_orderkey": "integer", "l_partkey": "integer", "l_linenumber": "integer", "l_returnflag": "string",
         "l_linestatus": "string", "l_shipdate": "date", "l_comment": "string"}
header = open(line).readline().strip().split(",")
put_table("tpch", "lineitem", line, [{"name": c, "type": types.get(c, "number")} for c in header])
Q1 = """SELECT l_returnflag, l_linestatus, sum(l_quantity), sum(l_extendedprice),
  sum(l_extendedprice * (1 - l_discount)), sum(l_extendedprice * (1 - l_discount) * (1 + l_tax)),
  avg(l_quantity), avg(l_extendedprice), avg(l_discount), count(*)
FROM T WHERE l_shipdate <= DATE '1998-09-02' GROUP BY 1, 2 ORDER BY 1, 2"""
Q6 = """SELECT sum(l_extendedprice * l_discount) FROM T WHERE l_shipdate >= DATE '1994-01-01'
  AND l_shipdate < DATE '1995-01-01' AND l_discount BETWEEN 0.05 AND 0.07 AND l_quantity < 24"""
exts = os.path.join(list(duckdb_ext.__path__)[0], "extensions")
con = duckdb.connect(config={"extension_directory": exts, "autoinstall_known_extensions": "false"})
for e in ("httpfs", "avro", "iceberg"):
    con.execute(f"LOAD {e}")
con.execute(f"ATTACH '' AS cat (TYPE iceberg, ENDPOINT '{url}/iceberg', TOKEN '{token}', SUPPORT_NESTED_NAMESPACES true)")
t0 = time.time()
table = catalog.load_table("bench.tpch.lineitem")
print(f"  first load (the view made): {time.time() - t0:.1f} s", flush=True)
data_file = next(e.data_file.file_path for m in table.current_snapshot().manifests(table.io) for e in m.fetch_manifest_entry(table.io))
local = os.path.join(work, "view.parquet")
with table.io.new_input(data_file).open() as src, open(local, "wb") as dst:
    while b := src.read(8 << 20):
        dst.write(b)
def best(f):
    out, times = None, []
    for _ in range(3):
        s = time.perf_counter(); out = f(); times.append(time.perf_counter() - s)
    return min(times), out
def same(a, b):
    # Float sums differ in their last digits with the order they are added in.
    import math
    close = lambda x, y: math.isclose(x, y, rel_tol=1e-9) if isinstance(x, float) else x == y
    return len(a) == len(b) and all(len(r) == len(s) and all(map(close, r, s)) for r, s in zip(a, b))
for name, q in (("q1", Q1), ("q6", Q6)):
    on = lambda t: q.replace("FROM T ", f"FROM {t} ")
    cat_t, cat_rows = best(lambda: con.execute(on('cat."bench.tpch".lineitem')).fetchall())
    loc_t, loc_rows = best(lambda: con.execute(on(f"'{local}'")).fetchall())
    sql_t, sql_out = best(lambda: call("POST", "", {"query": on('"bench/tpch"."lineitem"')}, base=url + "/api/v1/sql"))
    assert same(cat_rows, loc_rows), (cat_rows, loc_rows)
    print(f"  {name}: DuckDB through the catalog {cat_t:.2f} s, DuckDB on the local view {loc_t:.2f} s "
          f"({cat_t / loc_t:.2f}x), strata SQL {sql_t:.2f} s", flush=True)

# 3. Scale-out reads.
print("== the whole table read through the catalog", flush=True)
rows = duckdb.sql(f"SELECT count(*) FROM '{local}'").fetchone()[0]
reset_peak()
s = time.perf_counter()
n = table.scan().to_arrow().num_rows
one = time.perf_counter() - s
print(f"  PyIceberg, one process: {n} rows in {one:.1f} s ({n / one / 1e6:.2f} M rows/s), strata peak RSS {rss_peak()} MiB", flush=True)
import ray
ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
reset_peak()
s = time.perf_counter()
ds = ray.data.read_iceberg(table_identifier="bench.tpch.lineitem",
                           catalog_kwargs={"name": "bench", "type": "rest", "uri": url + "/iceberg", "token": token})
n = ds.materialize().count()  # every file read by the workers, not counted from the manifests
two = time.perf_counter() - s
assert n == rows, (n, rows)
print(f"  Ray Data, 2 workers: {n} rows in {two:.1f} s ({n / two / 1e6:.2f} M rows/s, {one / two:.2f}x one process), "
      f"strata peak RSS {rss_peak()} MiB", flush=True)
sys.stdout.flush()
os._exit(0)
PY
