"""The mirror benchmark's measurements (scripts/mirror_bench.sh starts the two servers): a
mirror's first sync against `git clone` + `git lfs pull` of the same dataset, then the recovery
point of webhook-triggered syncs. Prints Markdown tables."""
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request

SRC, SRC_TOKEN, DST, DST_TOKEN, WORK = sys.argv[1:6]
FILES, MB, ROUNDS = int(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8])


def call(method, url, token, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=3600) as r:
        text = r.read()
        return json.loads(text) if text else None


def git(*args, cwd, env=None):
    subprocess.run(["git", *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, env=env)


def head(base, token, dataset):
    v = call("GET", f"{base}/api/v1/datasets/{dataset}", token)
    return v["revision"]["id"] if v.get("revision") else None


def mirror_state():
    return call("GET", f"{DST}/api/v1/datasets/bob/copy/mirror", DST_TOKEN)["mirror"]


def main():
    env = dict(os.environ, HOME=os.path.join(WORK, "home"), GIT_CONFIG_NOSYSTEM="1",
               GIT_TERMINAL_PROMPT="0", GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@x",
               GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@x")
    os.makedirs(env["HOME"])
    git("lfs", "install", cwd=env["HOME"], env=env)
    call("POST", f"{SRC}/api/v1/datasets", SRC_TOKEN, {"namespace": "alice", "name": "data"})
    call("POST", f"{DST}/api/v1/datasets", DST_TOKEN, {"namespace": "bob", "name": "copy"})
    host = SRC.split("://", 1)[1]
    url = f"http://alice:{SRC_TOKEN}@{host}/alice/data.git"
    clone = os.path.join(WORK, "push")
    git("clone", "-q", url, clone, cwd=WORK, env=env)
    git("lfs", "track", "*.bin", cwd=clone, env=env)
    for i in range(FILES):
        with open(os.path.join(clone, f"f{i}.bin"), "wb") as f:
            f.write(os.urandom(MB << 20))
    git("add", "-A", cwd=clone, env=env)
    git("commit", "-qm", "data", cwd=clone, env=env)
    git("push", "-q", "origin", "HEAD:main", cwd=clone, env=env)
    total = FILES * (MB << 20)

    # git clone + git lfs pull from the source.
    started = time.monotonic()
    out = os.path.join(WORK, "clone")
    git("-c", "lfs.fetchexclude=*", "clone", "-q", url, out, cwd=WORK, env=env)
    git("lfs", "pull", cwd=out, env=env)
    t_clone = time.monotonic() - started
    shutil.rmtree(out)

    # The mirror's first sync.
    started = time.monotonic()
    v = call("PUT", f"{DST}/api/v1/datasets/bob/copy/mirror", DST_TOKEN,
             {"url": f"{SRC}/alice/data.git", "token": SRC_TOKEN})
    secret = v["hook_secret"]
    want = head(SRC, SRC_TOKEN, "alice/data")
    while head(DST, DST_TOKEN, "bob/copy") != want:
        m = mirror_state()
        if m["state"] == "failed":
            sys.exit(f"the mirror failed: {m['last_error']}")
        time.sleep(0.05)
    t_mirror = time.monotonic() - started
    print(f"\n{FILES} LFS files of {MB} MiB ({total / 2**20:.0f} MiB), first copy:\n")
    print("| copy by | time | throughput | vs git clone + git lfs pull |")
    print("|---|---|---|---|")
    for name, t in (("git clone + git lfs pull", t_clone), ("a mirror's first sync", t_mirror)):
        print(f"| {name} | {t:.1f} s | {total / t / 2**20:.0f} MiB/s | {t_clone / t:.2f}× |")

    # The recovery point: the source's webhook (signed with the mirror's secret) tells the mirror.
    hook = call("POST", f"{SRC}/api/v1/datasets/alice/data/webhooks", SRC_TOKEN,
                {"url": f"{DST}/api/v1/datasets/bob/copy/mirror/hook", "events": ["branch.updated"]})
    call("PUT", f"{DST}/api/v1/datasets/bob/copy/mirror", DST_TOKEN,
         {"url": f"{SRC}/alice/data.git", "hook_secret": hook["secret"]})
    del secret
    while mirror_state()["syncing"]:
        time.sleep(0.05)
    lags = []
    for r in range(ROUNDS):
        with open(os.path.join(clone, "new.bin"), "wb") as f:
            f.write(os.urandom(100 << 20))
        git("add", "-A", cwd=clone, env=env)
        git("commit", "-qm", f"round {r}", cwd=clone, env=env)
        git("push", "-q", "origin", "HEAD:main", cwd=clone, env=env)
        pushed = time.monotonic()
        want = head(SRC, SRC_TOKEN, "alice/data")
        while head(DST, DST_TOKEN, "bob/copy") != want:
            if time.monotonic() - pushed > 120:
                sys.exit(f"round {r}: the mirror did not follow: {mirror_state()}")
            time.sleep(0.02)
        lags.append(time.monotonic() - pushed)
    lags.sort()
    p99 = lags[min(len(lags) - 1, int(round(0.99 * (len(lags) - 1))))]
    print(f"\nRecovery point: {ROUNDS} pushes of a 100 MiB file, webhook-triggered:\n")
    print("| p50 | p99 | min | max |")
    print("|---|---|---|---|")
    print(f"| {statistics.median(lags):.2f} s | {p99:.2f} s | {lags[0]:.2f} s | {lags[-1]:.2f} s |")


main()
