#!/usr/bin/env bash
# How fast events reach a webhook: the time from a commit's request (and from its answer) to its
# delivery on a receiver on 127.0.0.1 (p50, p99, max over EVENTS_COMMITS sequential commits, one
# webhook), and the deliveries per second sustained when each of EVENTS_BURST commits fans out to
# EVENTS_HOOKS webhooks. Release build, SQLite, the default `--refs git`, then `--refs sql`
# (events written in the ref move's transaction). Not a test: nothing passes or fails on timing.
#
#   scripts/events_bench.sh        # EVENTS_COMMITS=200 EVENTS_BURST=100 EVENTS_HOOKS=10
set -euo pipefail
cd "$(dirname "$0")/.."
commits=${EVENTS_COMMITS:-200}
burst=${EVENTS_BURST:-100}
hooks=${EVENTS_HOOKS:-10}
work=$(mktemp -d /tmp/strata-events.XXXXXX)
pid=
cleanup() { [ -z "$pid" ] || kill "$pid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
cargo build -q --release --bin strata
strata=${CARGO_TARGET_DIR:-$PWD/target}/release/strata
echo "Events, $(nproc) cores, $(git rev-parse --short HEAD): $commits commits one by one to one webhook; $burst commits to $hooks webhooks"
echo "| refs | commit request → delivery p50 | p99 | max | commit answer → delivery p50 | p99 | deliveries/s ($burst × $hooks) |"
echo "|---|---|---|---|---|---|---|"
for refs in git sql; do
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  rm -rf "$work/data"; mkdir -p "$work/data"
  export STRATA_DATA_DIR=$work/data STRATA_LISTEN=127.0.0.1:$port STRATA_LOG=warn \
    STRATA_WEBHOOKS_ALLOW_PRIVATE=on STRATA_REFS=$refs
  "$strata" serve & pid=$!
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/livez" && break; sleep 0.1; done
  "$strata" admin create-user bench >/dev/null
  token=$("$strata" admin token --user bench 2>/dev/null)
  python3 - "$port" "$token" "$commits" "$burst" "$hooks" "$refs" <<'PY'
import json, sys, threading, time, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, token, commits, burst, hooks, refs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
api = f"http://127.0.0.1:{port}/api/v1/datasets"
arrived = {}   # (webhook path, after) -> arrival time
lock = threading.Lock()

class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        with lock:
            arrived.setdefault((self.path, body["data"]["after"]), time.time())
        self.send_response(200); self.send_header("content-length", "0"); self.end_headers()
    def log_message(self, *a): pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
threading.Thread(target=server.serve_forever, daemon=True).start()
hook = f"http://127.0.0.1:{server.server_address[1]}"

def call(method, url, body=None):
    req = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.load(r) if r.status != 204 else None

def dataset(name, n_hooks):
    head = call("POST", api, {"namespace": "bench", "name": name})["revision"]["id"]
    for i in range(n_hooks):
        call("POST", f"{api}/bench/{name}/webhooks", {"url": f"{hook}/{name}/{i}", "events": ["branch.updated"]})
    return head

def commit(name, parent, i):
    t0 = time.time()
    v = call("PUT", f"{api}/bench/{name}", {"datapackage": {"name": name, "description": f"commit {i}", "resources": []}, "parent": parent})
    return v["revision"]["id"], time.time(), t0

def wait(keys, timeout=300):
    end = time.time() + timeout
    while time.time() < end:
        with lock:
            if all(k in arrived for k in keys): return True
        time.sleep(0.01)
    return False

# Latency: one commit at a time, each waited for.
head = dataset("latency", 1)
lat, after = [], []
for i in range(commits):
    head, done, t0 = commit("latency", head, i)
    key = (f"/latency/0", head)
    assert wait([key], 30), f"commit {i} never delivered"
    lat.append((arrived[key] - t0) * 1000)
    # The delivery can arrive before the client has read the commit's answer.
    after.append(max(0.0, arrived[key] - done) * 1000)
lat.sort(); after.sort()
pct = lambda xs, p: xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]

# Throughput: a burst of commits, each fanned out to every webhook.
head = dataset("burst", hooks)
keys, start = [], time.time()
for i in range(burst):
    head, _, _ = commit("burst", head, i)
    keys += [(f"/burst/{h}", head) for h in range(hooks)]
assert wait(keys), "a delivery never came"
last = max(arrived[k] for k in keys)
rate = len(keys) / (last - start)
print(f"| {refs} | {pct(lat, 50):.1f} ms | {pct(lat, 99):.1f} ms | {lat[-1]:.1f} ms | {pct(after, 50):.1f} ms | {pct(after, 99):.1f} ms | {rate:.0f} |")
PY
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
done
