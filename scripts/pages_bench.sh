#!/usr/bin/env bash
# How long the dataset page takes to render the first page of a folder of 10,000 files (and a
# later page), measured with curl against the release build on 127.0.0.1: the median and the
# slowest of 21 requests. Then what a writer gets (the file manager's page): the HTML's weight
# for a folder of 200 files and for the 10,000-file folder, and, in headless Chromium driven over
# WebDriver (chromedriver), the navigation timings of those pages (DOM interactive and load
# event, median of 5). Last, a dataset's front (its README, the viewer of a 20,000-row table with
# a chart in every heading, "Use this dataset"): what it transfers compressed (the page, its CSS
# and script) and when it is interactive, on loopback and on an emulated 10 Mbit/s link (20 ms);
# and the grid of a 1,000-photo folder: when the thumbnails in view have arrived.
# Not a test: nothing here passes or fails on timing.
#
#   scripts/pages_bench.sh        # PAGES_FILES=10000; needs chromium and chromedriver
set -euo pipefail
cd "$(dirname "$0")/.."
files=${PAGES_FILES:-10000}
work=$(mktemp -d /tmp/strata-pages.XXXXXX)
pid=
cleanup() { [ -z "$pid" ] || kill "$pid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
cargo build -q --release --bin strata --features bench
strata=${CARGO_TARGET_DIR:-$PWD/target}/release/strata
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
# And a folder of 200 files beside it (a second commit: one holds at most 10,000 operations).
head=$(curl -sf -H "Authorization: Bearer $token" "$api/bench/many" | python3 -c 'import json,sys; print(json.load(sys.stdin)["revision"]["id"])')
python3 - "$head" > "$work/small.ndjson" <<'PY'
import json, sys
print(json.dumps({"key": "header", "value": {"summary": "200 files", "parent": sys.argv[1]}}))
for i in range(200):
    print(json.dumps({"key": "file", "value": {"path": f"small/file-{i:03d}.csv", "content": f"id\n{i}\n"}}))
PY
curl -sf -o /dev/null -H "Authorization: Bearer $token" -H 'Content-Type: application/x-ndjson' \
  --data-binary "@$work/small.ndjson" "$api/bench/many/commit"
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

# A dataset whose front shows a 20,000-row table: uploaded as the browser does (an LFS object,
# then a commit that describes it, so it is a typed resource).
python3 - "$work" <<'PY'
import sys
with open(f"{sys.argv[1]}/stations.csv", "w") as f:
    f.write("id,name,region,temp,reading\n")
    for i in range(1, 20001):
        f.write(f"{i},station {i},{['north', 'south', 'east', 'west', ''][i % 5]},{(i * 7) % 40 - 5},{i * 0.37:.2f}\n")
with open(f"{sys.argv[1]}/README.md", "w") as f:
    f.write("---\nlicense: cc-by-4.0\ntags: [climate]\n---\n# Stations\n\nHourly readings of 20,000 stations.\n")
PY
curl -sf -o /dev/null -H "Authorization: Bearer $token" -H 'Content-Type: application/json' "$api" \
  -d '{"namespace": "bench", "name": "front", "visibility": "public"}'
lines=""
for f in stations.csv README.md; do
  oid=$(sha256sum "$work/$f" | cut -d' ' -f1); size=$(stat -c %s "$work/$f")
  href=$(curl -sf -H "Authorization: Bearer $token" -H 'Content-Type: application/vnd.git-lfs+json' \
    "http://127.0.0.1:$port/bench/front.git/info/lfs/objects/batch" \
    -d "{\"operation\": \"upload\", \"objects\": [{\"oid\": \"$oid\", \"size\": $size}]}" \
    | python3 -c 'import json,sys; o=json.load(sys.stdin)["objects"][0]; print(o.get("actions", {}).get("upload", {}).get("href", ""))')
  [ -z "$href" ] || curl -sf -o /dev/null -H "Authorization: Bearer $token" -T "$work/$f" "$href"
  lines="$lines{\"key\": \"lfsFile\", \"value\": {\"path\": \"$f\", \"oid\": \"$oid\", \"size\": $size}}"$'\n'
done
head=$(curl -sf -H "Authorization: Bearer $token" "$api/bench/front" | python3 -c 'import json,sys; print(json.load(sys.stdin)["revision"]["id"])')
printf '{"key": "header", "value": {"summary": "Upload", "parent": "%s", "describe": true}}\n%s' "$head" "$lines" \
  | curl -sf -o /dev/null -H "Authorization: Bearer $token" -H 'Content-Type: application/x-ndjson' \
    --data-binary @- "$api/bench/front/commit"
# The views and statistics are made once per table: a first visit makes them.
curl -sf -o /dev/null "http://127.0.0.1:$port/datasets/bench/front"

# A folder of 1,000 photos (320x240 PNGs, each its own colours) for the grid of thumbnails.
curl -sf -o /dev/null -H "Authorization: Bearer $token" -H 'Content-Type: application/json' "$api" \
  -d '{"namespace": "bench", "name": "photos", "visibility": "public"}'
# Through the LFS batch API, as the browser's upload sends them (a commit body holds at most
# --max-json-body bytes).
python3 - "http://127.0.0.1:$port" "$token" <<'PY'
import hashlib, json, struct, sys, urllib.request, zlib
base, token = sys.argv[1], sys.argv[2]
def png(w, h, seed):
    rows = b"".join(b"\0" + bytes(v for x in range(w) for v in
                                    ((x * seed) % 256, (y * 3 + seed) % 256, (x + y + seed * 7) % 256))
                    for y in range(h))
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows, 6)) + chunk(b"IEND", b""))
def call(method, url, body=None, kind="application/json"):
    req = urllib.request.Request(url, data=body, method=method,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": kind})
    return urllib.request.urlopen(req).read()
photos = [png(320, 240, i + 1) for i in range(1000)]
lines = []
for start in range(0, len(photos), 100):
    batch = [{"oid": hashlib.sha256(p).hexdigest(), "size": len(p)} for p in photos[start:start + 100]]
    answer = json.loads(call("POST", f"{base}/bench/photos.git/info/lfs/objects/batch",
                             json.dumps({"operation": "upload", "objects": batch}).encode(),
                             "application/vnd.git-lfs+json"))
    for i, o in enumerate(answer["objects"]):
        upload = o.get("actions", {}).get("upload")
        if upload:
            call("PUT", upload["href"], photos[start + i], "application/octet-stream")
        lines.append({"key": "lfsFile", "value": {"path": f"photos/p-{start + i:04d}.png",
                                                   "oid": o["oid"], "size": o["size"]}})
head = json.loads(call("GET", f"{base}/api/v1/datasets/bench/photos"))["revision"]["id"]
body = [json.dumps({"key": "header", "value": {"summary": "1,000 photos", "parent": head}})]
body += [json.dumps(l) for l in lines]
call("POST", f"{base}/api/v1/datasets/bench/photos/commit", "\n".join(body).encode(), "application/x-ndjson")
PY

# The writer's view: signed in as the dataset's owner, so every row carries its pick box and the
# folder its file manager.
echo 'a long bench passphrase' | "$strata" admin set-password bench >/dev/null
driver_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
chromedriver --port="$driver_port" >/dev/null 2>&1 & driver=$!
trap 'kill $driver 2>/dev/null || true; cleanup' EXIT
python3 - "http://127.0.0.1:$port" "http://127.0.0.1:$driver_port" <<'PY'
import http.cookiejar, json, re, statistics, sys, time, urllib.parse, urllib.request
base, driver = sys.argv[1], sys.argv[2]
jar = http.cookiejar.CookieJar()
web = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
login = web.open(f"{base}/login").read().decode()
csrf = re.search(r'name="csrf" value="([^"]+)"', login).group(1)
form = urllib.parse.urlencode({"csrf": csrf, "username": "bench", "password": "a long bench passphrase"})
web.open(f"{base}/login", form.encode())
session = next(c.value for c in jar if c.name == "strata_session")
pages = {"200-file folder": "/datasets/bench/many?path=small", "10,000-file folder (first 200)": "/datasets/bench/many?path=big"}
weight = {name: len(web.open(base + path).read()) for name, path in pages.items()}

def wd(method, path, body=None):
    req = urllib.request.Request(driver + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req))["value"]

for _ in range(50):
    try:
        wd("GET", "/status"); break
    except Exception:
        time.sleep(0.1)
caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
    "binary": "/usr/bin/chromium", "args": ["--headless=new", "--no-sandbox", "--disable-gpu"]}}}}
sid = wd("POST", "/session", caps)["sessionId"]
try:
    wd("POST", f"/session/{sid}/url", {"url": f"{base}/healthz"})
    wd("POST", f"/session/{sid}/cookie", {"cookie": {"name": "strata_session", "value": session, "path": "/"}})
    timing = "const n = performance.getEntriesByType('navigation')[0]; return [n.domInteractive, n.loadEventEnd, document.querySelectorAll('#files tbody tr').length];"
    print("Writer's view (signed in as the owner), headless Chromium, ms (median of 5):")
    print("| page | HTML | rows | DOM interactive | load event |")
    print("|---|---|---|---|---|")
    for name, path in pages.items():
        runs = []
        for _ in range(6):
            wd("POST", f"/session/{sid}/url", {"url": base + path})
            runs.append(wd("POST", f"/session/{sid}/execute/sync", {"script": timing, "args": []}))
        runs = runs[1:]
        inter = statistics.median(r[0] for r in runs)
        load = statistics.median(r[1] for r in runs)
        print(f"| {name} | {weight[name] / 1024:.1f} KiB | {runs[0][2]} | {inter:.0f} | {load:.0f} |")
    # The dataset's front: bytes transferred (compressed, as the browser got them: the page, its
    # style sheet and scripts; a fresh load each time) and DOM interactive, on loopback and on
    # an emulated 10 Mbit/s link with 20 ms of latency.
    front = "/datasets/bench/front"
    weigh = ("const n = performance.getEntriesByType('navigation')[0]; "
             "const r = performance.getEntriesByType('resource'); "
             "return [n.domInteractive, n.transferSize + r.reduce((s, e) => s + e.transferSize, 0), "
             "n.decodedBodySize, document.querySelectorAll('#table-rows svg.chart').length];")
    print()
    print("Dataset front (README, viewer of a 20,000-row table with charts, snippets), headless Chromium, median of 5:")
    print("| link | transferred (page, CSS, JS) | HTML decoded | charts | DOM interactive (ms) |")
    print("|---|---|---|---|---|")
    for label, conditions in [("loopback", None), ("10 Mbit/s, 20 ms", {"offline": False, "latency": 20,
            "download_throughput": 1_250_000, "upload_throughput": 1_250_000})]:
        if conditions:
            wd("POST", f"/session/{sid}/chromium/network_conditions", {"network_conditions": conditions})
        runs = []
        for _ in range(6):
            wd("POST", f"/session/{sid}/goog/cdp/execute", {"cmd": "Network.clearBrowserCache", "params": {}})
            wd("POST", f"/session/{sid}/url", {"url": base + front})
            runs.append(wd("POST", f"/session/{sid}/execute/sync", {"script": weigh, "args": []}))
        runs = runs[1:]
        inter = statistics.median(r[0] for r in runs)
        sent = statistics.median(r[1] for r in runs)
        print(f"| {label} | {sent / 1024:.1f} KiB | {runs[0][2] / 1024:.1f} KiB | {runs[0][3]} | {inter:.0f} |")
    # The grid of a 1,000-photo folder (its first page of 200): DOM interactive, and when every
    # thumbnail of the grid's first screenful has arrived (made on the first visit, kept after),
    # in a 1280x800 window scrolled to the grid.
    grid = "/datasets/bench/photos?path=photos&view=grid"
    shown = ("const n = performance.getEntriesByType('navigation')[0]; "
             "const imgs = [...document.querySelectorAll('#grid img')]; "
             "const seen = imgs.filter(i => { const r = i.getBoundingClientRect(); return r.top < innerHeight && r.bottom > 0; }); "
             "const done = seen.length > 0 && seen.every(i => i.complete && i.naturalWidth > 0); "
             "const wanted = new Set(seen.map(i => i.currentSrc)); "
             "const t = performance.getEntriesByType('resource').filter(e => wanted.has(e.name)); "
             "return [n.domInteractive, done, Math.max(0, ...t.map(e => e.responseEnd)), seen.length, imgs.length, "
             "n.transferSize + t.reduce((s, e) => s + e.transferSize, 0)];")
    print()
    print("Grid of a 1,000-photo folder (first 200, thumbnails in view), headless Chromium, median of 5 (first visit apart):")
    print("| link | visit | DOM interactive (ms) | thumbnails in view done (ms) | in view / on page | transferred |")
    print("|---|---|---|---|---|---|")
    wd("POST", f"/session/{sid}/window/rect", {"width": 1280, "height": 800})
    for label, conditions in [("loopback", None), ("10 Mbit/s, 20 ms", {"offline": False, "latency": 20,
            "download_throughput": 1_250_000, "upload_throughput": 1_250_000})]:
        wd("POST", f"/session/{sid}/chromium/network_conditions",
           {"network_conditions": conditions or {"offline": False, "latency": 0,
                                                 "download_throughput": -1, "upload_throughput": -1}})
        runs = []
        for _ in range(6):
            wd("POST", f"/session/{sid}/goog/cdp/execute", {"cmd": "Network.clearBrowserCache", "params": {}})
            wd("POST", f"/session/{sid}/url", {"url": base + grid})
            # The grid's first screenful (a tall window would show it at once; at 1280x800 the
            # folder's tools come first).
            wd("POST", f"/session/{sid}/execute/sync",
               {"script": "document.getElementById('grid').scrollIntoView()", "args": []})
            for _ in range(200):
                r = wd("POST", f"/session/{sid}/execute/sync", {"script": shown, "args": []})
                if r[1]:
                    break
                time.sleep(0.05)
            runs.append(r)
        first, runs = runs[0], runs[1:]
        for visit, rs in [("first" if label == "loopback" else "first (kept)", [first]), ("later", runs)]:
            inter = statistics.median(r[0] for r in rs)
            done = statistics.median(r[2] for r in rs)
            sent = statistics.median(r[5] for r in rs)
            print(f"| {label} | {visit} | {inter:.0f} | {done:.0f} | {rs[0][3]} / {rs[0][4]} | {sent / 1024:.1f} KiB |")
finally:
    wd("DELETE", f"/session/{sid}")
PY
