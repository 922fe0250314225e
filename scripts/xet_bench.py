"""The Xet benchmark's measurements (scripts/xet_bench.sh starts the server): two pushes of a
CSV through huggingface_hub + hf_xet and through git-lfs, what the second sent and stored, and
downloads through Xet, with Xet off, and by curl. Prints a Markdown table."""
import glob
import hashlib
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.request

BASE, TOKEN, WORK, MB, PID = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
DATA = os.path.join(WORK, "data")
HOST = BASE.split("://", 1)[1]
PY = sys.executable


def call(method, url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Authorization", f"Bearer {TOKEN}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=3600) as r:
        text = r.read()
        return json.loads(text) if text else None


STORE = os.environ.get("XET_BENCH_STORE") or None


def stored():
    """Bytes under the data directory (objects whole and xorbs, git repositories), and in the
    bucket when the objects are kept in S3 (XET_BENCH_STORE: the S3 server's directory)."""
    total = 0
    for top in filter(None, (DATA, STORE)):
        for d, _, names in os.walk(top):
            for n in names:
                try:
                    total += os.path.getsize(os.path.join(d, n))
                except FileNotFoundError:
                    pass
    return total


def xorb_bytes():
    db = glob.glob(os.path.join(DATA, "*.db"))[0]
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return con.execute("SELECT COALESCE(SUM(size), 0) FROM xet_xorbs").fetchone()[0]
    finally:
        con.close()


def query(sql):
    db = glob.glob(os.path.join(DATA, "*.db"))[0]
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return con.execute(sql).fetchone()[0]
    finally:
        con.close()


def unchunked():
    """Objects of 1 MiB or more that a dataset links, or keeps as a table view, and holds
    neither as chunks nor as a xorb; and whole copies still waiting to go (a bucket)."""
    return query("""SELECT (SELECT COUNT(*) FROM repo_objects r JOIN objects o ON o.oid = r.oid
        WHERE o.size >= 1048576
          AND NOT EXISTS (SELECT 1 FROM xet_files f WHERE f.repo_id = r.repo_id AND f.oid = r.oid)
          AND NOT EXISTS (SELECT 1 FROM xet_xorbs x WHERE x.repo_id = r.repo_id AND x.oid = r.oid))
        + (SELECT COUNT(*) FROM table_views v WHERE v.store IS NULL AND v.size >= 1048576
          AND NOT EXISTS (SELECT 1 FROM xet_files f WHERE f.repo_id = v.repo_id AND f.oid = v.oid))""")


def settle():
    """Waits until the server chunked every object waiting: the seconds from now."""
    started = time.monotonic()
    while unchunked():
        time.sleep(0.2)
    return time.monotonic() - started


def peak_rss():
    with open(f"/proc/{PID}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


FIRST_BYTE = {}


def curl(url, out):
    """Downloads `url` to `out`: the time it took (its first byte's, in FIRST_BYTE[out])."""
    started = time.monotonic()
    done = subprocess.run(["curl", "-sf", "-o", out, "-w", "%{time_starttransfer}", "-H",
                           f"Authorization: Bearer {TOKEN}", url],
                          check=True, capture_output=True, text=True)
    FIRST_BYTE[out] = float(done.stdout.strip() or 0)
    return time.monotonic() - started


def make_csv(path, rows, changed=None, seed=7):
    rnd = random.Random(seed)
    with open(path, "w") as f:
        f.write("id,group,value,note\n")
        for i in range(rows):
            value = rnd.randrange(1_000_000)
            note = "".join(rnd.choice("abcdefghij") for _ in range(24))
            if changed and changed[0] <= i < changed[1]:
                value, note = value + 1, note.upper()
            f.write(f"{i},{i % 97},{value},{note}\n")


def hub(script, *args, xet=True):
    env = dict(os.environ, HF_ENDPOINT=BASE, HF_TOKEN=TOKEN, HF_HUB_DISABLE_TELEMETRY="1",
               HF_HUB_DISABLE_PROGRESS_BARS="1",
               HF_HOME=os.path.join(WORK, f"hf-{time.monotonic_ns()}"),
               HF_XET_CACHE=os.path.join(WORK, f"xet-{time.monotonic_ns()}"))
    if not xet:
        env["HF_HUB_DISABLE_XET"] = "1"
    started = time.monotonic()
    subprocess.run([PY, "-c", script, *args], env=env, check=True)
    return time.monotonic() - started


UPLOAD = """import sys
from huggingface_hub import HfApi
HfApi().upload_file(path_or_fileobj=sys.argv[1], path_in_repo="big.csv", repo_id=sys.argv[2],
                    repo_type="dataset", commit_message=sys.argv[3])
"""
DOWNLOAD = """import sys
from huggingface_hub import hf_hub_download
hf_hub_download(sys.argv[1], "big.csv", repo_type="dataset", cache_dir=sys.argv[2])
"""


def git(*args, cwd):
    subprocess.run(["git", *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def main():
    row_bytes = 45
    rows = MB * 1024 * 1024 // row_bytes
    first = os.path.join(WORK, "first.csv")
    second = os.path.join(WORK, "second.csv")
    mid = rows // 2
    make_csv(first, rows)
    make_csv(second, rows, (mid, mid + rows // 100))
    if os.environ.get("XET_BENCH_ONLY") == "views":
        views(first, second)
        return
    # git-lfs pushes files of their own: a file Xet stored already would be stored once.
    lfs_first = os.path.join(WORK, "lfs-first.csv")
    lfs_second = os.path.join(WORK, "lfs-second.csv")
    make_csv(lfs_first, rows, seed=8)
    make_csv(lfs_second, rows, (mid, mid + rows // 100), seed=8)
    size = os.path.getsize(first)
    for name in ("xet", "lfs"):
        call("POST", f"{BASE}/api/v1/datasets", {"namespace": "bench", "name": name})
    out = []

    # Through huggingface_hub + hf_xet, each push from a client with an empty cache.
    s0, x0 = stored(), xorb_bytes()
    t1 = hub(UPLOAD, first, "bench/xet", "first")
    s1, x1 = stored(), xorb_bytes()
    t2 = hub(UPLOAD, second, "bench/xet", "1 % of rows changed")
    s2, x2 = stored(), xorb_bytes()
    out.append(("huggingface_hub + hf_xet", t1, t2, x2 - x1, s2 - s1, s1 - s0))

    # Through git-lfs.
    home = os.path.join(WORK, "git")
    os.makedirs(home)
    url = f"http://bench:{TOKEN}@{HOST}/bench/lfs.git"
    git("clone", url, "lfs", cwd=home)
    clone = os.path.join(home, "lfs")
    git("lfs", "install", "--local", cwd=clone)
    git("lfs", "track", "*.csv", cwd=clone)
    shutil.copy(lfs_first, os.path.join(clone, "big.csv"))
    # git-lfs hashes the file and copies it into .git/lfs as it is added: part of its upload,
    # as hf_xet's chunking and hashing are part of upload_file's.
    started = time.monotonic()
    git("add", ".gitattributes", "big.csv", cwd=clone)
    git("-c", "user.name=b", "-c", "user.email=b@x", "commit", "-m", "first", cwd=clone)
    a1 = time.monotonic() - started
    settle()
    s0 = stored()
    started = time.monotonic()
    git("push", "origin", "HEAD:main", cwd=clone)
    t1 = time.monotonic() - started
    # The object whole, read before the chunker (every 5 s) gets to it.
    raw = f"{BASE}/api/v1/datasets/bench/lfs/raw/big.csv"
    was_whole = unchunked() > 0
    t_whole = curl(raw, os.path.join(WORK, "whole.csv"))
    t_chunking = settle() + t_whole
    s1 = stored()
    t_chunked = curl(raw, os.path.join(WORK, "chunked.csv"))
    shutil.copy(lfs_second, os.path.join(clone, "big.csv"))
    started = time.monotonic()
    git("-c", "user.name=b", "-c", "user.email=b@x", "commit", "-am", "1 %", cwd=clone)
    a2 = time.monotonic() - started
    started = time.monotonic()
    git("push", "origin", "HEAD:main", cwd=clone)
    t2 = time.monotonic() - started
    settle()
    s2 = stored()
    out.append(("git-lfs", t1, t2, os.path.getsize(lfs_second), s2 - s1, s1 - s0))
    ends = {"xet": (out[0][1], out[0][2]), "lfs": (a1 + t1, a2 + t2), "add": (a1, a2)}

    print(f"\n{MB} MiB CSV ({size} bytes), then 1 % of its rows changed (contiguous):\n")
    print("| push through | first push | second push | second sent | second stored | first stored |")
    # Stored: the data directory's growth (the database's pages included).
    print("|---|---|---|---|---|---|")
    for name, t1, t2, sent, st2, st1 in out:
        print(f"| {name} | {t1:.1f} s ({size / t1 / 2**20:.0f} MiB/s) | {t2:.1f} s | "
              f"{sent / 2**20:.1f} MiB ({100 * sent / size:.1f} %) | "
              f"{st2 / 2**20:.1f} MiB ({100 * st2 / size:.1f} %) | {st1 / 2**20:.1f} MiB |")

    print("\n| from the file on disk to a commit on the server | first | second | Xet vs git-lfs |")
    print("|---|---|---|---|")
    (x1, x2), (l1, l2), (d1, d2) = ends["xet"], ends["lfs"], ends["add"]
    print(f"| `upload_file` through Xet | {x1:.1f} s ({size / x1 / 2**20:.0f} MiB/s) | {x2:.1f} s "
          f"| {l1 / x1:.2f}×, {l2 / x2:.2f}× |")
    print(f"| git-lfs: `git add` + `git commit` ({d1:.1f} s, {d2:.1f} s), then `git push` | "
          f"{l1:.1f} s ({size / l1 / 2**20:.0f} MiB/s) | {l2:.1f} s | 1.00× |")

    lfs_size = os.path.getsize(lfs_first)
    print(f"\nThe chunker on git-lfs's first push: {lfs_size / 2**20:.0f} MiB kept as chunks "
          f"within {t_chunking:.1f} s of the push (at least {lfs_size / t_chunking / 2**20:.0f} "
          f"MiB/s); the server's peak RSS over the whole run: {peak_rss() / 2**20:.0f} MiB.")
    print("\n| curl of git-lfs's first file | time | throughput | vs whole | first byte |")
    print("|---|---|---|---|---|")
    whole_label = "stored whole" if was_whole else "stored whole (already chunked: see note)"
    for name, t, out in ((whole_label, t_whole, "whole.csv"),
                         ("kept as chunks", t_chunked, "chunked.csv")):
        ttfb = FIRST_BYTE[os.path.join(WORK, out)] * 1000
        print(f"| {name} | {t:.2f} s | {lfs_size / t / 2**20:.0f} MiB/s | {t_whole / t:.2f}× "
              f"| {ttfb:.1f} ms |")
    for name in ("whole.csv", "chunked.csv"):
        with open(os.path.join(WORK, name), "rb") as f, open(lfs_first, "rb") as g:
            assert hashlib.sha256(f.read()).digest() == hashlib.sha256(g.read()).digest()

    # Downloads of the second file: through Xet, with Xet off (a plain GET), curl of the raw file.
    t_xet = hub(DOWNLOAD, "bench/xet", os.path.join(WORK, "dx"))
    t_plain = hub(DOWNLOAD, "bench/xet", os.path.join(WORK, "dp"), xet=False)
    started = time.monotonic()
    subprocess.run(["curl", "-sf", "-o", os.path.join(WORK, "curl.csv"), "-H",
                    f"Authorization: Bearer {TOKEN}",
                    f"{BASE}/api/v1/datasets/bench/xet/raw/big.csv"], check=True)
    t_curl = time.monotonic() - started
    # git-lfs's second file (the same shape, kept as chunks): a clone without it, then
    # `git lfs pull` (download, check, and check out into the work tree).
    pulled = os.path.join(home, "pulled")
    env = dict(os.environ, GIT_LFS_SKIP_SMUDGE="1")
    subprocess.run(["git", "clone", "-q", url, pulled], check=True, env=env)
    git("lfs", "install", "--local", cwd=pulled)
    started = time.monotonic()
    git("lfs", "pull", cwd=pulled)
    t_pull = time.monotonic() - started
    print("\n| download of the second file | time | throughput | vs curl | vs git-lfs |")
    print("|---|---|---|---|---|")
    for name, t in (("hf_hub_download through Xet", t_xet),
                    ("hf_hub_download, Xet off", t_plain), ("curl of /raw", t_curl),
                    ("`git lfs pull` (git-lfs's own file)", t_pull)):
        print(f"| {name} | {t:.1f} s | {size / t / 2**20:.0f} MiB/s | {t_curl / t:.2f}× "
              f"| {t_pull / t:.2f}× |")
    with open(os.path.join(pulled, "big.csv"), "rb") as f, open(lfs_second, "rb") as g:
        got = f.read()
        assert hashlib.sha256(got).digest() == hashlib.sha256(g.read()).digest(), got[:100]
    with open(os.path.join(WORK, "curl.csv"), "rb") as f, open(second, "rb") as g:
        assert hashlib.sha256(f.read()).digest() == hashlib.sha256(g.read()).digest()

    views(first, second)


def views(first, second):
    """The Parquet views of both versions of the CSV as a table (bench/views): the time from
    the commit naming it a table to its view made ahead and kept as chunks, the view's size,
    what keeping it as chunks stored, and a read of the whole view from its chunks."""
    call("POST", f"{BASE}/api/v1/datasets", {"namespace": "bench", "name": "views"})
    api = f"{BASE}/api/v1/datasets/bench/views"
    count = "SELECT COUNT(*) FROM table_views WHERE store IS NULL"
    rows = []
    for n, path in enumerate((first, second)):
        hub(UPLOAD, path, "bench/views", f"version {n + 1}")
        with open(path, "rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
        settle()
        before, made = xorb_bytes(), query(count)
        started = time.monotonic()
        head = call("GET", api)
        call("PUT", api, {"parent": head["revision"]["id"], "datapackage": {
            "name": "views", "resources": [{"name": "big", "path": "big.csv",
                                            "bytes": os.path.getsize(path),
                                            "hash": f"sha256:{digest}"}]}})
        while query(count) <= made:
            time.sleep(0.2)
        settle()
        kept = time.monotonic() - started
        out = os.path.join(WORK, f"view{n}.parquet")
        took = curl(f"{api}/tables/big?format=parquet", out)
        rows.append((n + 1, kept, os.path.getsize(out), xorb_bytes() - before, took))
        os.remove(out)
    print("\n| the table's Parquet view | made and kept as chunks | view | new xorbs "
          "| read whole from its chunks |")
    print("|---|---|---|---|---|")
    for n, kept, size, st, took in rows:
        print(f"| version {n} | {kept:.1f} s after the commit | {size / 2**20:.1f} MiB "
              f"| {st / 2**20:.1f} MiB ({100 * st / size:.1f} %) "
              f"| {took:.2f} s ({size / took / 2**20:.0f} MiB/s) |")

main()
