#!/usr/bin/env bash
# Tables benchmark, side by side with DuckDB on the same file, in one run on this machine:
#   1. a TABLES_MIB (default 1024) MiB CSV (PaySim rows, each made distinct) behind Fybrik's sample policy
#      (3 PII columns redacted): its raw download from an untagged dataset; the governed read not
#      yet materialized (/tables as CSV, streamed through the policy); the unrestricted views made
#      ahead of time as the tables land; the governed view being made (the first viewer page,
#      cold) beside DuckDB's `COPY (FROM csv) TO parquet`; the view once made (Parquet, whole);
#   2. the first viewer page once cached; a page sorted by a number column beside DuckDB's
#      `ORDER BY … LIMIT 100`; column statistics beside DuckDB's `SUMMARIZE`; DuckDB on the CSV
#      (what a user would run instead) and on the view's Parquet (the same bytes strata reads);
#   3. strata's peak RSS through all of it.
# Needs python3 with duckdb (scripts/test.sh installs it into target/test-tools/venv).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mib=${TABLES_MIB:-1024}
py=${STRATA_TEST_TOOLS:-$root/target/test-tools}/venv/bin/python
"$py" -c 'import duckdb' 2>/dev/null || { echo "error: $py has no duckdb: run scripts/test.sh once, or set STRATA_TEST_TOOLS" >&2; exit 1; }
work=$(mktemp -d /tmp/strata-tables-bench.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

echo "building strata (release)" >&2
cargo build -q --release --bin strata -p strata
strata=${CARGO_TARGET_DIR:-$root/target}/release/strata
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port
export STRATA_DATA_DIR=$work/data STRATA_LISTEN=127.0.0.1:$port STRATA_PUBLIC_URL=$url STRATA_LOG=warn \
  STRATA_POLICY_DATASET=bench/policies STRATA_REGION=theshire
"$strata" serve 2>"$work/strata.log" & pid=$!
for _ in $(seq 300); do [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/readyz")" = 200 ] && break; sleep 0.1; done
"$strata" admin create-user bench --admin >/dev/null
token=$("$strata" admin token --user bench --name bench)
api=$url/api/v1/datasets
auth=(-H "Authorization: Bearer $token")

echo "== a ${mib} MiB CSV, PaySim rows, Fybrik's sample policy" >&2
"$py" - "$work/big.csv" "$mib" fixtures/governance/paysim/PS_20174392719_1491204439457_log.csv <<'PY'
import sys
# PaySim's rows, each made distinct (a running step, names and amounts varied), so that the view
# compresses as real data does and not as one block repeated.
out, mib, src = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lines = open(src, newline="").read().splitlines()
header, rows = lines[0], [l.split(",") for l in lines[1:]]
with open(out, "w") as f:
    f.write(header + "\n")
    size, k = len(header) + 1, 0
    while size < mib << 20:
        block = []
        for r in rows:
            k += 1
            v = 0.5 + (k * 7919 % 10007) / 10007
            block.append(f"{k // 1000 + 1},{r[1]},{float(r[2]) * v:.2f},C{1000000000 + k * 2654435761 % 999999999},"
                         f"{float(r[4]) * v:.2f},{float(r[5]) * v:.2f},M{1000000000 + k * 40503 % 999999937},"
                         f"{float(r[7]) * v:.2f},{float(r[8]) * v:.2f},{r[9]},{r[10]}")
        text = "\n".join(block) + "\n"
        f.write(text); size += len(text)
PY
size=$(stat -c %s "$work/big.csv")
oid=$(sha256sum "$work/big.csv" | cut -d' ' -f1)
for ds in policies paysim plain; do
  curl -s -o /dev/null "${auth[@]}" -H 'Content-Type: application/json' -X POST "$api" -d "{\"namespace\":\"bench\",\"name\":\"$ds\"}"
done
"$py" - "$api" "$token" fixtures/governance/policies <<'PY'
import json, sys, urllib.request
api, token, policies = sys.argv[1:]
def call(method, url, body=None, ctype="application/json"):
    req = urllib.request.Request(url, method=method, data=body, headers={"Authorization": "Bearer " + token, "Content-Type": ctype})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read() or b"null")
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
"$py" - "$api" "$token" "$oid" "$size" <<'PY'
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
# Both datasets' unrestricted views are made in the background as soon as the tables land
# (docs/tables.md): wait for them, so that what follows runs on an otherwise idle machine.
ahead_from=$(date +%s.%N)
ahead() { curl -s "$url/metrics" | awk -v o="$1" '$1 ~ "^strata_table_views_ahead_total" && $1 ~ "outcome=\""o"\"" {n += $2} END {print n + 0}'; }
for _ in $(seq 600); do
  [ "$(ahead made)" -ge 2 ] || [ "$(ahead failed)" -gt 0 ] && break
  sleep 0.2
done
ahead_s=$(python3 -c "print(f'{$(date +%s.%N) - $ahead_from:.1f}')")
[ "$(ahead failed)" = 0 ] || { echo "a view made ahead failed: see $work/strata.log" >&2; exit 1; }
t=$api/bench/paysim/tables/big
seconds() { curl -s -o /dev/null -w '%{time_total}' "${auth[@]}" "$1"; }
best() { local b=999999 s; for _ in $(seq "$2"); do s=$(seconds "$1"); b=$(python3 -c "print(min($b, $s))"); done; echo "$b"; }
mibs() { python3 -c "print(f'{$size / 1048576 / $1:.0f}')"; }

echo "== 1. reading the whole table" >&2
raw=$(best "$api/bench/plain/raw/big.csv" 3)
streamed=$(best "$t" 2)
made=$(seconds "$t/rows?limit=100")
rows=$(curl -s "${auth[@]}" "$t/rows?limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')
lines=$(($(wc -l < "$work/big.csv") - 1))
[ "$rows" = "$lines" ] || { echo "the view has $rows rows, the CSV $lines" >&2; exit 1; }
view=$(curl -s -o /dev/null -w '%{size_download}' "${auth[@]}" "$t?format=parquet")
parquet=$(best "$t?format=parquet" 3)
printf '  %-58s %6s MiB/s\n' "raw download (untagged dataset)" "$(mibs "$raw")"
printf '  %-58s %6s MiB/s  (%s of raw)\n' "governed, not materialized (CSV streamed through the policy)" "$(mibs "$streamed")" \
  "$(python3 -c "print(f'{$raw / $streamed:.0%}')")"
printf '  %-58s %6.1f s     (%s MiB/s of CSV; %s rows)\n' "the view made (first viewer page, cold)" "$made" "$(mibs "$made")" "$rows"
printf '  %-58s %6.1f s     (%s MiB/s of CSV each)\n' "two unrestricted views made ahead (background, in turn)" "$ahead_s" \
  "$(python3 -c "print(f'{2 * $size / 1048576 / $ahead_s:.0f}')")"
copy=$("$py" - "$work/big.csv" "$work/duck.parquet" <<'PY'
import sys, time, duckdb
csv, out = sys.argv[1:]
best = 1e9
for _ in range(2):
    c = duckdb.connect(); t = time.perf_counter()
    c.execute(f"COPY (FROM read_csv('{csv}')) TO '{out}' (FORMAT parquet)")
    best = min(best, time.perf_counter() - t)
print(best)
PY
)
rm -f "$work/duck.parquet"
printf '  %-58s %6.1f s     (%s MiB/s of CSV; strata / DuckDB: %s)\n' "DuckDB COPY (FROM the CSV) TO Parquet, beside it" "$copy" "$(mibs "$copy")" \
  "$(python3 -c "print(f'{$made / $copy:.2f}x')")"
printf '  %-58s %6s MiB/s  (%s of raw; the view is %d MiB, %s of the CSV)\n' "the view once made (Parquet, whole)" \
  "$(python3 -c "print(f'{$view / 1048576 / $parquet:.0f}')")" "$(python3 -c "print(f'{$view / $parquet / ($size / $raw):.0%}')")" \
  "$((view >> 20))" "$(python3 -c "print(f'{$view / $size:.0%}')")"
curl -s -o "$work/view.parquet" "${auth[@]}" "$t?format=parquet"

echo "== 2. the viewer's queries beside DuckDB on the CSV" >&2
page=$(best "$t/rows?limit=100" 5)
sorted_cold=$(seconds "$t/rows?limit=100&sort=amount:desc")
sorted=$(best "$t/rows?limit=100&sort=amount:desc" 3)
stats_cold=$(seconds "$t/stats")
stats=$(best "$t/stats" 3)
counted=$(curl -s "${auth[@]}" "$t/stats" | python3 -c 'import json,sys; s=json.load(sys.stdin); print(s["columns"][2]["count"] + s["columns"][2]["nulls"] if "columns" in s else s)')
[ "$counted" = "$lines" ] || { echo "the statistics count $counted rows, the CSV has $lines" >&2; exit 1; }
top=$(curl -s "${auth[@]}" "$t/rows?limit=1&sort=amount:desc&columns=amount" | python3 -c 'import json,sys; print(json.load(sys.stdin)["rows"][0][0])')
want=$("$py" -c "import duckdb; print(duckdb.sql(\"SELECT max(amount) FROM read_csv('$work/big.csv')\").fetchone()[0])")
python3 -c "assert abs($top - $want) < 1e-6, ($top, $want)" || { echo "the sorted page's top amount $top is not the CSV's $want" >&2; exit 1; }
"$py" - "$work/big.csv" "$work/view.parquet" "$page" "$sorted_cold" "$sorted" "$stats_cold" "$stats" <<'PY'
import sys, time, duckdb
csv, view, page, sorted_cold, sorted_, stats_cold, stats = sys.argv[1], sys.argv[2], *map(float, sys.argv[3:])
def best(sql, n=3):
    b = 1e9
    for _ in range(n):
        c = duckdb.connect(); t = time.perf_counter(); c.execute(sql).fetchall(); b = min(b, time.perf_counter() - t)
    return b
d_sort = best(f"SELECT * FROM read_csv('{csv}') ORDER BY amount DESC LIMIT 100")
d_sum = best(f"SUMMARIZE SELECT * FROM read_csv('{csv}')", 1)
p_sort = best(f"SELECT * FROM read_parquet('{view}') ORDER BY amount DESC LIMIT 100")
p_sum = best(f"SUMMARIZE SELECT * FROM read_parquet('{view}')", 1)
print(f"  first page, cached                                         {page*1000:7.0f} ms")
print(f"  sorted by amount, 100 rows: strata {sorted_cold*1000:.0f} ms first, {sorted_*1000:.0f} ms after;")
print(f"    DuckDB on the CSV {d_sort*1000:.0f} ms ({sorted_cold/d_sort:.2f}x), on the view's Parquet {p_sort*1000:.0f} ms ({sorted_cold/p_sort:.1f}x)")
print(f"  column statistics: strata {stats_cold*1000:.0f} ms computed, {stats*1000:.0f} ms kept;")
print(f"    DuckDB SUMMARIZE on the CSV {d_sum*1000:.0f} ms ({stats_cold/d_sum:.2f}x), on the view's Parquet {p_sum*1000:.0f} ms ({stats_cold/p_sum:.1f}x)")
PY
echo "  strata peak RSS: $(grep VmHWM /proc/$pid/status | awk '{print int($2/1024)}') MiB"
