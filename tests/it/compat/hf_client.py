"""The Hugging Face Hub tests' client: `huggingface_hub` itself, pointed at strata with
HF_ENDPOINT and a strata token (the caller sets both, and HF_HUB_DISABLE_XET=1: strata takes
uploads through Git LFS, not Xet).

`roundtrip REPO FOLDER`: create_repo, upload_folder, then every read the client offers (HfFileSystem's
`info(refresh=True)` and `get_paths_info` too), and move_repo last, printed as one JSON object. `denied REPO FILE`: what each read and a write answer, as error class names
and statuses. `access REPO ACTION [USER [REASON]]`: a gated dataset's requests as its admin
answers them (`list` every status, `accept`, `reject`, `cancel`, `grant`), or as a visitor
(`read FILE`: `dataset_info`'s `gated` and a download), as JSON.
"""
import hashlib
import json
import os
import sys

from huggingface_hub import HfApi, HfFileSystem, hf_hub_download, snapshot_download
from huggingface_hub.errors import HfHubHTTPError


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def roundtrip(repo, folder):
    api = HfApi()
    out = {}
    out["created"] = str(api.create_repo(repo, repo_type="dataset", private=True))
    # Again, exist_ok: no error.
    api.create_repo(repo, repo_type="dataset", exist_ok=True)
    info = api.upload_folder(repo_id=repo, repo_type="dataset", folder_path=folder,
                             commit_message="First files", commit_description="From the Hub client")
    out["commit"] = info.oid
    out["files"] = sorted(api.list_repo_files(repo, repo_type="dataset"))
    d = api.dataset_info(repo)
    out["info"] = {"id": d.id, "sha": d.sha, "private": d.private,
                   "siblings": sorted(s.rfilename for s in d.siblings)}
    tree = api.list_repo_tree(repo, repo_type="dataset", recursive=True)
    out["tree"] = sorted(
        [e.path, type(e).__name__, getattr(e, "size", None), e.lfs.sha256 if getattr(e, "lfs", None) else None]
        for e in tree)
    top = api.list_repo_tree(repo, repo_type="dataset")
    out["top"] = sorted([e.path, type(e).__name__] for e in top)
    out["commits"] = [[c.commit_id, c.title, c.message, c.authors] for c in api.list_repo_commits(repo, repo_type="dataset")]
    refs = api.list_repo_refs(repo, repo_type="dataset")
    out["branches"] = sorted([b.name, b.target_commit] for b in refs.branches)
    # paths-info: what `datasets` asks through HfFileSystem.info(refresh=True), and the call
    # itself (a path that is not there left out; expand adds each one's last commit).
    fs = HfFileSystem()
    out["fs_info"] = [[i["name"], i["type"], i["size"]] for i in (
        fs.info(f"datasets/{repo}/data/a.csv", refresh=True),
        fs.info(f"datasets/{repo}/data", refresh=True),
    )]
    paths = api.get_paths_info(repo, ["data/b.bin", "nope.txt", "nested"], repo_type="dataset", expand=True)
    out["paths_info"] = [
        [type(p).__name__, p.path, getattr(p, "size", None),
         p.lfs.sha256 if getattr(p, "lfs", None) else None,
         p.last_commit.oid if p.last_commit else None]
        for p in paths]
    out["downloads"] = {}
    for f in out["files"]:
        p = hf_hub_download(repo, f, repo_type="dataset")
        out["downloads"][f] = sha(p)
    # Pinned to the first commit, after a second one changed a file.
    api.upload_file(path_or_fileobj=b"id,name\n9,zed\n", path_in_repo="data/a.csv",
                    repo_id=repo, repo_type="dataset", commit_message="Replace a")
    old = hf_hub_download(repo, "data/a.csv", repo_type="dataset", revision=out["commit"])
    new = hf_hub_download(repo, "data/a.csv", repo_type="dataset")
    out["pinned"] = [sha(old), sha(new)]
    snap = snapshot_download(repo, repo_type="dataset", revision=out["commit"])
    out["snapshot"] = {os.path.relpath(os.path.join(r, n), snap): sha(os.path.join(r, n))
                       for r, _, names in os.walk(snap) for n in names}
    api.delete_file("README.md", repo_id=repo, repo_type="dataset", commit_message="No readme")
    out["after_delete"] = sorted(api.list_repo_files(repo, repo_type="dataset"))
    out["whoami"] = api.whoami()["name"]
    # What is not there, as the client's own errors.
    for name, f in [
        ("missing_file", lambda: hf_hub_download(repo, "nope.csv", repo_type="dataset")),
        ("missing_revision", lambda: api.dataset_info(repo, revision="no-such-branch")),
        ("missing_dataset", lambda: api.dataset_info(repo + "-not")),
        ("missing_folder", lambda: list(api.list_repo_tree(repo, path_in_repo="nope", repo_type="dataset"))),
    ]:
        try:
            f()
            out[name] = "ok"
        except Exception as e:  # noqa: BLE001 - the class is the answer
            out[name] = type(e).__name__
    # Renamed: the old id still reads, under the new one.
    api.move_repo(repo, repo + "-moved", repo_type="dataset")
    moved = hf_hub_download(repo, "data/a.csv", repo_type="dataset")
    out["moved"] = [api.dataset_info(repo + "-moved").id, sha(moved)]
    try:
        api.move_repo(repo + "-moved", "elsewhere/x", repo_type="dataset")
        out["moved_away"] = "ok"
    except HfHubHTTPError as e:
        out["moved_away"] = e.response.status_code
    api.move_repo(repo + "-moved", repo, repo_type="dataset")
    print(json.dumps(out))


def denied(repo, file):
    api = HfApi()
    out = {}

    def attempt(name, f):
        try:
            f()
            out[name] = "ok"
        except Exception as e:  # noqa: BLE001 - every failure is reported
            # hf_hub_download wraps its HEAD request's HTTP error in a ValueError.
            http = e if isinstance(e, HfHubHTTPError) else e.__cause__
            if isinstance(http, HfHubHTTPError) and http.response is not None:
                out[name] = [type(http).__name__, http.response.status_code]
            else:
                out[name] = [type(e).__name__, None, str(e)[:300]]

    attempt("info", lambda: api.dataset_info(repo))
    attempt("files", lambda: api.list_repo_files(repo, repo_type="dataset"))
    attempt("download", lambda: hf_hub_download(repo, file, repo_type="dataset", force_download=True))
    attempt("upload", lambda: api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo,
                                              repo_type="dataset"))
    print(json.dumps(out))


def access(repo, action, user=None, reason=None):
    api = HfApi()
    out = {}
    try:
        if action == "list":
            for status in ("pending", "accepted", "rejected"):
                listed = getattr(api, f"list_{status}_access_requests")(repo, repo_type="dataset")
                out[status] = [[r.username, r.fullname, r.email, r.status, r.fields,
                                r.timestamp.isoformat()] for r in listed]
        elif action == "accept":
            api.accept_access_request(repo, user, repo_type="dataset")
        elif action == "reject":
            api.reject_access_request(repo, user, repo_type="dataset", rejection_reason=reason)
        elif action == "cancel":
            api.cancel_access_request(repo, user, repo_type="dataset")
        elif action == "grant":
            out["granted"] = api.grant_access(repo, user, repo_type="dataset")
        elif action == "read":
            try:
                out["gated"] = api.dataset_info(repo).gated
            except Exception as e:  # noqa: BLE001 - the class is the answer
                out["gated"] = type(e).__name__
            p = hf_hub_download(repo, user, repo_type="dataset", force_download=True)
            with open(p, "rb") as f:
                out["read"] = f.read().decode()
        out["ok"] = True
    except Exception as e:  # noqa: BLE001 - the class and status are the answer
        # hf_hub_download wraps its HEAD request's HTTP error in a ValueError: the cause's class.
        http = e if isinstance(e, HfHubHTTPError) else e.__cause__
        if isinstance(http, HfHubHTTPError) and http.response is not None:
            out["error"] = [type(http).__name__, http.response.status_code]
        else:
            out["error"] = [type(e).__name__, None, str(e)[:300]]
    print(json.dumps(out))


def shared(repo):
    """What a reader of one folder gets: a snapshot, the refs."""
    api = HfApi()
    snap = snapshot_download(repo, repo_type="dataset")
    files = sorted(os.path.relpath(os.path.join(r, n), snap) for r, _, names in os.walk(snap) for n in names)
    refs = api.list_repo_refs(repo, repo_type="dataset")
    print(json.dumps({"files": files, "branches": [b.name for b in refs.branches],
                      "tags": [t.name for t in refs.tags]}))


if __name__ == "__main__":
    {"roundtrip": roundtrip, "denied": denied, "shared": shared, "access": access}[sys.argv[1]](*sys.argv[2:])
