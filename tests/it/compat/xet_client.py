"""The Xet tests' client: `huggingface_hub` with `hf_xet`, as installed (Xet on, nothing
disabled), pointed at strata with HF_ENDPOINT and a strata token. The caller sets HF_HOME and
HF_XET_CACHE (a client's own cache of what it uploaded).

`upload REPO FOLDER MESSAGE`: create_repo (exist_ok), upload_folder, printed as `{"commit"}`.
`download REPO CACHE FILE...`: hf_hub_download of each file, then snapshot_download, into CACHE:
the sha256 of every file each gave, as JSON. `denied REPO FILE`: a download refused, as the error
class name and status.
"""
import hashlib
import json
import os
import sys

from huggingface_hub import HfApi, hf_hub_download, snapshot_download
from huggingface_hub.errors import HfHubHTTPError


def sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def upload(repo, folder, message):
    api = HfApi()
    api.create_repo(repo, repo_type="dataset", private=True, exist_ok=True)
    info = api.upload_folder(repo_id=repo, repo_type="dataset", folder_path=folder,
                             commit_message=message)
    print(json.dumps({"commit": info.oid}))


def download(repo, cache, files):
    out = {"one": {}, "snapshot": {}}
    for f in files:
        out["one"][f] = sha(hf_hub_download(repo, f, repo_type="dataset",
                                            cache_dir=os.path.join(cache, "one")))
    root = snapshot_download(repo, repo_type="dataset", cache_dir=os.path.join(cache, "snap"))
    for d, _, names in os.walk(root):
        for n in names:
            p = os.path.join(d, n)
            out["snapshot"][os.path.relpath(p, root)] = sha(p)
    print(json.dumps(out))


def denied(repo, f):
    try:
        hf_hub_download(repo, f, repo_type="dataset")
        print(json.dumps({"error": None}))
    except HfHubHTTPError as e:
        print(json.dumps({"error": type(e).__name__, "status": e.response.status_code}))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "upload":
        upload(*args)
    elif cmd == "download":
        download(args[0], args[1], args[2:])
    elif cmd == "denied":
        denied(*args)
    else:
        sys.exit(f"unknown command {cmd}")
