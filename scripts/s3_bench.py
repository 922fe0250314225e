"""The measurements of scripts/s3_bench.sh (which starts the servers and sets STRATA_URL,
S3_ENDPOINT, TOKEN and WORK): prints one line per figure."""
import os
import statistics
import subprocess
import time

import boto3
import requests
from botocore.config import Config

URL, S3, TOKEN, WORK = (os.environ[k] for k in ("STRATA_URL", "S3_ENDPOINT", "TOKEN", "WORK"))
ENV = dict(os.environ, AWS_ACCESS_KEY_ID=TOKEN[:20], AWS_SECRET_ACCESS_KEY=TOKEN,
           AWS_DEFAULT_REGION="us-east-1", HF_ENDPOINT=URL, HF_TOKEN=TOKEN,
           HF_HUB_DISABLE_XET="1", HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_DISABLE_PROGRESS_BARS="1",
           HF_HOME=os.path.join(WORK, "hf"), GIT_TERMINAL_PROMPT="0", HOME=os.path.join(WORK, "home"))
os.makedirs(ENV["HOME"], exist_ok=True)
s3 = boto3.client("s3", endpoint_url=S3, region_name="us-east-1", aws_access_key_id=TOKEN[:20],
                  aws_secret_access_key=TOKEN, config=Config(s3={"addressing_style": "path"}))
AUTH = {"Authorization": f"Bearer {TOKEN}"}
GIB = 1 << 30


def run(*cmd, cwd=None):
    subprocess.run(cmd, cwd=cwd, env=ENV, check=True, stdout=subprocess.DEVNULL)


def timed(f, runs=3):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def curl(url, headers=()):
    args = ["curl", "-sf", "-o", "/dev/null"]
    for h in headers:
        args += ["-H", h]
    run(*args, url)


ONLY = os.environ.get("S3_BENCH_ONLY", "")  # get, list, sync or hub: that step alone

# 1. GetObject of 1 GiB.
if ONLY in ("", "get"):
    big = os.path.join(WORK, "big.bin")
    with open(big, "wb") as f:
        for _ in range(1024):
            f.write(os.urandom(1 << 20))
    run("aws", "--endpoint-url", S3, "s3", "cp", "--only-show-errors", big, "s3://bench.big/main/big.bin")
    gateway = s3.generate_presigned_url("get_object", Params={"Bucket": "bench.big", "Key": "main/big.bin"})
    raw = f"{URL}/api/v1/datasets/bench/big/raw/big.bin"
    oid = s3.head_object(Bucket="bench.big", Key="main/big.bin")["ETag"].strip('"')
    batch = requests.post(f"{URL}/bench/big.git/info/lfs/objects/batch", headers={**AUTH, "Content-Type": "application/vnd.git-lfs+json", "Accept": "application/vnd.git-lfs+json"},
                          json={"operation": "download", "objects": [{"oid": oid, "size": GIB}]}).json()
    presigned = batch["objects"][0]["actions"]["download"]["href"]
    t_gateway = timed(lambda: curl(gateway))
    t_raw = timed(lambda: curl(raw, [f"Authorization: Bearer {TOKEN}"]))
    t_presigned = timed(lambda: curl(presigned))
    mb = lambda t: GIB / t / 1e6
    print(f"GetObject 1 GiB: gateway {mb(t_gateway):.0f} MB/s, raw route {mb(t_raw):.0f} MB/s, "
          f"presigned storage URL {mb(t_presigned):.0f} MB/s; gateway/raw {t_raw / t_gateway:.2f}, "
          f"gateway/presigned {t_presigned / t_gateway:.2f}")

    # The same object once strata keeps it as chunks (within --chunking-interval-secs): the batch
    # API's download URL is then strata's, reading the chunks, beside the presigned URL of the
    # whole copy (valid until the URLs handed out before it was chunked expire).
    deadline = time.time() + 900
    while True:
        answer = requests.post(f"{URL}/bench/big.git/info/lfs/objects/batch", headers={**AUTH, "Content-Type": "application/vnd.git-lfs+json", "Accept": "application/vnd.git-lfs+json"},
                               json={"operation": "download", "objects": [{"oid": oid, "size": GIB}]}).json()
        chunked = answer["objects"][0]["actions"]["download"]["href"]
        if chunked.startswith(URL):
            break
        if time.time() > deadline:
            raise SystemExit("the object was not chunked within 15 minutes")
        time.sleep(1)
    t_chunked = timed(lambda: curl(chunked))
    t_presigned = timed(lambda: curl(presigned))
    print(f"LFS download of 1 GiB kept as chunks on the bucket (through strata) {mb(t_chunked):.0f} MB/s, "
          f"its whole copy's presigned URL {mb(t_presigned):.0f} MB/s: chunked/presigned {t_presigned / t_chunked:.2f}")

# 2. ListObjectsV2 over 10,000 files (one commit through the REST API).
if ONLY in ("", "list"):
    lines = ['{"key":"header","value":{"summary":"10,000 files"}}']
    lines += [f'{{"key":"file","value":{{"path":"f/{i:05}.txt","content":"{i}"}}}}' for i in range(10_000)]
    r = requests.post(f"{URL}/api/v1/datasets/bench/many/commit", headers={**AUTH, "Content-Type": "application/x-ndjson"},
                      data="\n".join(lines))
    assert r.status_code == 200, r.text


    def list_all():
        n = 0
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket="bench.many", Prefix="main/"):
            n += len(page.get("Contents", []))
        assert n >= 10_000, n


    # The first listing reads the commit's files from git; the next ones find them kept.
    t = time.perf_counter()
    list_all()
    cold = time.perf_counter() - t
    print(f"ListObjectsV2, 10,000 files, every page: first {cold:.2f} s, then {timed(list_all):.2f} s")

# 3. 1,000 small files: aws s3 sync up and down, git lfs push and clone + pull.
if ONLY in ("", "sync"):
    small = os.path.join(WORK, "small")
    os.makedirs(small)
    for i in range(1000):
        with open(os.path.join(small, f"{i:04}.bin"), "wb") as f:
            f.write(os.urandom(4096))
    t = time.perf_counter()
    run("aws", "--endpoint-url", S3, "s3", "sync", "--only-show-errors", small, "s3://bench.small/main/sync/")
    t_up = time.perf_counter() - t
    down = os.path.join(WORK, "down")
    t = time.perf_counter()
    run("aws", "--endpoint-url", S3, "s3", "sync", "--only-show-errors", "s3://bench.small/main/sync/", down)
    t_down = time.perf_counter() - t
    assert len(os.listdir(down)) == 1000
    host = URL.removeprefix("http://")
    with open(os.path.join(ENV["HOME"], ".git-credentials"), "w") as f:
        f.write(f"http://bench:{TOKEN}@{host}\n")
    run("git", "config", "--global", "credential.helper", "store")
    run("git", "config", "--global", "user.name", "bench")
    run("git", "config", "--global", "user.email", "bench@example.org")
    run("git", "lfs", "install")
    repo = os.path.join(WORK, "lfsrepo")
    # (Another dataset than the sync's: its objects would already be there.)
    run("git", "clone", "-q", f"{URL}/bench/lfs.git", repo)
    run("git", "lfs", "track", "lfs/*.bin", cwd=repo)
    os.makedirs(os.path.join(repo, "lfs"))
    for name in os.listdir(small):
        os.link(os.path.join(small, name), os.path.join(repo, "lfs", name))
    run("git", "add", "-A", cwd=repo)
    run("git", "commit", "-qm", "1,000 files", cwd=repo)
    t = time.perf_counter()
    run("git", "push", "-q", "origin", "HEAD:main", cwd=repo)
    t_push = time.perf_counter() - t
    clone = os.path.join(WORK, "clone")
    t = time.perf_counter()
    subprocess.run(["git", "clone", "-q", f"{URL}/bench/lfs.git", clone], env={**ENV, "GIT_LFS_SKIP_SMUDGE": "1"}, check=True)
    run("git", "lfs", "pull", cwd=clone)
    t_pull = time.perf_counter() - t
    print(f"1,000 files of 4 KiB: aws s3 sync up {t_up:.1f} s, down {t_down:.1f} s; "
          f"git lfs push {t_push:.1f} s, clone + git lfs pull {t_pull:.1f} s")

    # 3b. What a verify action costs per uploaded object: 1,000 fresh 4 KiB objects uploaded through
    # the batch as a client other than git-lfs (which gets a verify action), then each verified, 8 at
    # a time as git-lfs transfers; beside the git lfs push above.
    from concurrent.futures import ThreadPoolExecutor  # noqa: E402

    blobs = [os.urandom(4096) for _ in range(1000)]
    import hashlib  # noqa: E402
    objs = [{"oid": hashlib.sha256(b).hexdigest(), "size": len(b)} for b in blobs]
    lfs_headers = {**AUTH, "Content-Type": "application/vnd.git-lfs+json", "Accept": "application/vnd.git-lfs+json"}
    actions = []
    for i in range(0, 1000, 100):
        answer = requests.post(f"{URL}/bench/verify.git/info/lfs/objects/batch", headers=lfs_headers,
                               json={"operation": "upload", "objects": objs[i:i + 100]}).json()
        actions += [o["actions"] for o in answer["objects"]]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda a_b: requests.put(a_b[0]["upload"]["href"], data=a_b[1], headers=a_b[0]["upload"].get("header", {})).raise_for_status(),
                      zip(actions, blobs)))
    session = requests.Session()
    t = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda a_o: session.post(a_o[0]["verify"]["href"], headers={"Content-Type": "application/vnd.git-lfs+json"},
                                               json=a_o[1]).raise_for_status(), zip(actions, objs)))
    t_verify = time.perf_counter() - t
    print(f"verify actions: 1,000 verifies, 8 at a time, {t_verify:.2f} s "
          f"({t_verify / t_push * 100:.0f} % of the git lfs push of 1,000 files above, which gets none)")

# 4. snapshot_download of the 1 GiB dataset beside git clone.
if ONLY in ("", "hub"):
    os.environ.update({k: ENV[k] for k in ENV if k.startswith("HF_")})
    from huggingface_hub import snapshot_download  # noqa: E402
    t = time.perf_counter()
    snapshot_download("bench/big", repo_type="dataset", local_dir=os.path.join(WORK, "snap"), token=TOKEN)
    t_snap = time.perf_counter() - t
    t = time.perf_counter()
    run("git", "clone", "-q", f"{URL}/bench/big.git", os.path.join(WORK, "bigclone"))
    t_clone = time.perf_counter() - t
    print(f"1 GiB dataset: snapshot_download {t_snap:.1f} s, git clone (LFS smudge) {t_clone:.1f} s")
