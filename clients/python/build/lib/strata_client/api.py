"""The REST calls the filesystem and the metastore backend share: requests with a token, errors
that carry strata's message and request id, uploads through the Git LFS batch API, and commits."""
import hashlib
import json
import os
import tempfile
from urllib.parse import quote

import requests

LFS = "application/vnd.git-lfs+json"


class StrataError(Exception):
    """A refusal from strata: its HTTP status, message and request id."""

    def __init__(self, status, message, request_id=None):
        super().__init__(f"{status}: {message}" + (f" (request {request_id})" if request_id else ""))
        self.status = status
        self.message = message
        self.request_id = request_id


class Client:
    """strata's REST API at `url` (default `STRATA_URL`) with `token` (default `STRATA_TOKEN`;
    none: anonymous)."""

    def __init__(self, url=None, token=None):
        self.url = (url or os.environ.get("STRATA_URL") or "http://127.0.0.1:8080").rstrip("/")
        self.token = token if token is not None else os.environ.get("STRATA_TOKEN")
        self.session = requests.Session()
        if self.token:
            self.session.headers["Authorization"] = f"Bearer {self.token}"

    def api(self, dataset):
        return f"{self.url}/api/v1/datasets/{dataset}"

    def request(self, method, url, ok=(200,), **kw):
        r = self.session.request(method, url, **kw)
        if r.status_code not in ok:
            try:
                body = r.json()
            except ValueError:
                body = {"message": r.text[:300]}
            raise StrataError(r.status_code, body.get("message", r.reason), body.get("request_id"))
        return r

    def json(self, method, url, **kw):
        return self.request(method, url, **kw).json()

    def head(self, dataset, rev=None):
        """The revision id `rev` (default: the default branch) names; `None` before any commit."""
        params = {"rev": rev} if rev else {}
        revision = self.json("GET", self.api(dataset), params=params)["revision"]
        return revision["id"] if revision else None

    def tree(self, dataset, rev=None, path=""):
        params = {"path": path} if path else {}
        if rev:
            params["rev"] = rev
        return self.json("GET", self.api(dataset) + "/tree", params=params)

    def raw(self, dataset, path, rev=None, start=None, end=None):
        """A file's bytes, or bytes [start, end) of it."""
        headers = {}
        if start is not None:
            headers["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        params = {"rev": rev} if rev else {}
        url = self.api(dataset) + "/raw/" + quote(path)
        r = self.request("GET", url, ok=(200, 206), params=params, headers=headers)
        if start is not None and r.status_code == 200:
            # A file kept in git comes whole: the range is cut here.
            return r.content[start:end]
        return r.content

    def upload(self, dataset, fileobj):
        """Uploads a file object's bytes as an LFS object of `dataset`: its (oid, size)."""
        h, size = hashlib.sha256(), 0
        fileobj.seek(0)
        for chunk in iter(lambda: fileobj.read(1 << 20), b""):
            h.update(chunk)
            size += len(chunk)
        oid = h.hexdigest()
        batch = self.json("POST", f"{self.url}/{dataset}.git/info/lfs/objects/batch",
                          headers={"Accept": LFS, "Content-Type": LFS},
                          data=json.dumps({"operation": "upload", "transfers": ["basic"],
                                           "objects": [{"oid": oid, "size": size}]}))
        obj = batch["objects"][0]
        if obj.get("error"):
            raise StrataError(obj["error"].get("code"), obj["error"].get("message"))
        actions = obj.get("actions") or {}
        if "upload" in actions:
            fileobj.seek(0)
            up = actions["upload"]
            r = requests.put(up["href"], data=fileobj, headers=up.get("header", {}))
            if r.status_code not in (200, 201):
                raise StrataError(r.status_code, r.text[:300])
        if "verify" in actions:
            # The href is signed: the token stays home (the href may name another host).
            v = actions["verify"]
            headers = {"Content-Type": LFS, **v.get("header", {})}
            r = requests.post(v["href"], headers=headers, data=json.dumps({"oid": oid, "size": size}))
            if r.status_code != 200:
                raise StrataError(r.status_code, r.text[:300])
        return oid, size

    def commit(self, dataset, lines, summary, branch=None):
        """One commit of `lines` (NDJSON operations) on `branch` (default: the default branch),
        on top of its head."""
        header = {"summary": summary}
        if branch:
            header["branch"] = branch
        try:
            parent = self.head(dataset, branch)
        except StrataError as e:
            if e.status == 404 and branch:
                raise StrataError(404, f"{dataset} has no branch {branch!r}: create it first", e.request_id) from e
            raise
        if parent:
            header["parent"] = parent
        body = "\n".join(json.dumps(x) for x in [{"key": "header", "value": header}] + lines)
        return self.json("POST", self.api(dataset) + "/commit", data=body,
                         headers={"Content-Type": "application/x-ndjson"})

    def put(self, dataset, path, fileobj, branch=None, message=None):
        """Writes a file: its bytes as an LFS object, then one commit."""
        oid, size = self.upload(dataset, fileobj)
        line = {"key": "lfsFile", "value": {"path": path, "oid": oid, "size": size}}
        return self.commit(dataset, [line], message or f"Upload {path}", branch)

    def put_bytes(self, dataset, path, data, branch=None, message=None):
        with tempfile.SpooledTemporaryFile(max_size=64 << 20) as f:
            f.write(data)
            return self.put(dataset, path, f, branch, message)

    def delete(self, dataset, paths, branch=None, message=None):
        lines = [{"key": "deletedFile", "value": {"path": p}} for p in paths]
        summary = message or (f"Delete {paths[0]}" if len(paths) == 1 else f"Delete {len(paths)} files")
        return self.commit(dataset, lines, summary, branch)

    def table_arrow(self, dataset, resource, rev=None, columns=None, intent=None):
        """A table as its caller may read it (the policies' obligations applied), as an Arrow
        table."""
        import pyarrow.ipc as ipc

        params = {"format": "arrow"}
        if rev:
            params["rev"] = rev
        if columns:
            params["columns"] = ",".join(columns)
        if intent:
            params["intent"] = intent
        r = self.request("GET", self.api(dataset) + "/tables/" + quote(resource, safe=""), params=params)
        return ipc.open_stream(r.content).read_all()
