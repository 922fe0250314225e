"""The import-by-reference benchmark's measurements (scripts/import_bench.sh starts the server
and writes the objects): an import of the prefix against a git-lfs copy of the same files,
then the prefix imported again. Prints a Markdown table."""
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request

BASE, TOKEN, WORK = sys.argv[1:4]
FILES, KB = int(sys.argv[4]), int(sys.argv[5])
DATA = os.path.join(WORK, "data")


def call(method, url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Authorization", f"Bearer {TOKEN}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=3600) as r:
        text = r.read()
        return json.loads(text) if text else None


def git(*args, cwd, env):
    r = subprocess.run(["git", *args], cwd=cwd, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, env=env, check=False)
    if r.returncode != 0:
        sys.exit(f"git {' '.join(args)}: {r.stderr.decode(errors='replace')[-2000:]}")


def stored():
    """Bytes in strata's object store (the local disk's objects)."""
    total = 0
    for d, _, names in os.walk(os.path.join(DATA, "objects")):
        total += sum(os.path.getsize(os.path.join(d, n)) for n in names)
    return total


def imported(dataset, path):
    before = stored()
    start = time.monotonic()
    v = call("POST", f"{BASE}/api/v1/datasets/{dataset}/imports",
             {"source": "bench", "prefix": "objects", "path": path})
    iid = v["import"]["id"]
    while True:
        v = call("GET", f"{BASE}/api/v1/datasets/{dataset}/imports/{iid}")["import"]
        if v["state"] in ("done", "failed"):
            break
        time.sleep(0.05)
    took = time.monotonic() - start
    if v["state"] != "done":
        sys.exit(f"the import failed: {v['error']}")
    return took, stored() - before, v


def main():
    env = dict(os.environ, HOME=os.path.join(WORK, "home"), GIT_CONFIG_NOSYSTEM="1",
               GIT_TERMINAL_PROMPT="0", GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@x",
               GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@x")
    os.makedirs(env["HOME"])
    git("lfs", "install", cwd=env["HOME"], env=env)
    for name in ("imported", "copied"):
        call("POST", f"{BASE}/api/v1/datasets", {"namespace": "alice", "name": name})
    total = FILES * (KB << 10)

    took, grew, v = imported("alice/imported", "")
    again, grew_again, w = imported("alice/imported", "again")

    host = BASE.split("://", 1)[1]
    clone = os.path.join(WORK, "copy")
    git("clone", "-q", f"http://alice:{TOKEN}@{host}/alice/copied.git", clone, cwd=WORK, env=env)
    git("lfs", "track", "*.bin", cwd=clone, env=env)
    # No automatic `git gc` packing the 10,000 new blobs while git-lfs's pre-push reads them.
    git("config", "gc.auto", "0", cwd=clone, env=env)
    shutil.copytree(os.path.join(WORK, "bucket", "objects"), clone, dirs_exist_ok=True)
    before = stored()
    start = time.monotonic()
    git("add", "-A", cwd=clone, env=env)
    git("commit", "-qm", "copy", cwd=clone, env=env)
    git("push", "-q", "origin", "HEAD:main", cwd=clone, env=env)
    copy_took = time.monotonic() - start
    copy_grew = stored() - before

    mib = total / (1 << 20)
    print(f"{FILES} objects of {KB} KiB ({mib:.0f} MiB), one run on this machine\n")
    print("| | time | store grew by | copied (reported) | objects/s |")
    print("|---|---:|---:|---:|---:|")
    print(f"| import by reference | {took:.1f} s | {grew} B | {v['bytes_copied']} B | {FILES / took:.0f} |")
    print(f"| the same prefix imported again ({w['reused']} known, {w['hashed']} read) | "
          f"{again:.1f} s | {grew_again} B | {w['bytes_copied']} B | {FILES / again:.0f} |")
    print(f"| git add + commit + push with git-lfs (the copy) | {copy_took:.1f} s | "
          f"{copy_grew / (1 << 20):.0f} MiB | {total / (1 << 20):.0f} MiB | {FILES / copy_took:.0f} |")
    print(f"\nimport / copy time: {took / copy_took:.2f}; the copy takes {copy_took / took:.1f}x as long")


main()
