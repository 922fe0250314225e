"""The Python package's tests' client: `strata_client` (clients/python) against the server at
STRATA_URL with STRATA_TOKEN, through fsspec URLs as pandas opens them and through its
metastore-lib backend. Every check is an assert; what it saw is printed as one JSON object.

`roundtrip`: writes and reads of alice/survey. `stranger`: what another user (or, without a
token, the anonymous) gets. `governed DATASET RESOURCE PATH`: a governed table read raw
(refused, by every read) and as a table.
"""
import json
import os
import sys
import tempfile
import warnings

warnings.filterwarnings("ignore")

import fsspec  # noqa: E402
import pandas as pd  # noqa: E402
from metastore.backend import create_metastore  # noqa: E402
from metastore.backend.exc import NotFound  # noqa: E402

from strata_client import StrataError  # noqa: E402

fs = fsspec.filesystem("strata")  # through the package's fsspec entry point


def roundtrip():
    out = {}
    fs.pipe("strata://alice/survey/data/a.csv", b"id,name\n1,ann\n2,bo\n")
    blob = bytes(range(256)) * 1000
    fs.pipe("strata://alice/survey/data/blob.bin", blob)
    with fs.open("strata://alice/survey/notes/n.txt", "wb") as f:
        f.write(b"first line\n")
        f.write(b"second line\n")
    out["ls"] = fs.ls("strata://alice/survey", detail=False)
    out["ls_data"] = fs.ls("strata://alice/survey/data", detail=False)
    info = fs.info("strata://alice/survey/data/blob.bin")
    out["info"] = {k: info[k] for k in ("size", "type", "lfs")}
    with fs.open("strata://alice/survey/data/blob.bin", "rb", block_size=4096) as f:
        f.seek(70_000)
        assert f.read(300) == blob[70_000:70_300]
    assert fs.cat_file("strata://alice/survey/data/blob.bin", start=-10) == blob[-10:]
    out["read_csv"] = pd.read_csv("strata://alice/survey/data/a.csv").to_dict(orient="list")
    pd.DataFrame({"x": [1.5, 2.5]}).to_parquet("strata://alice/survey/data/x.parquet")
    out["read_parquet"] = pd.read_parquet("strata://alice/survey/data/x.parquet")["x"].tolist()
    # A revision pinned: the files as they were, after a delete.
    rev = fs.client.head("alice/survey")
    fs.rm("strata://alice/survey/notes", recursive=True)
    out["after_rm"] = fs.ls("strata://alice/survey", detail=False)
    out["pinned"] = fs.cat(f"strata://alice/survey@{rev}/notes/n.txt").decode()
    out["missing"] = type_of(lambda: fs.cat("strata://alice/survey/nope.txt"))
    # metastore-lib on strata.
    store = create_metastore("strata_client.metastore:StrataStorage", {})
    made = store.create("alice/meta", {"name": "meta", "title": "Meta"}, message="First")
    patched = store.update("alice/meta", {"title": "Meta 2"}, partial=True, message="Second")
    out["meta"] = [patched.package["title"], len(store.revision_list("alice/meta"))]
    store.tag_create("alice/meta", made.revision, "v1", description="the first")
    out["meta_tag"] = [t.name for t in store.tag_list("alice/meta")]
    out["meta_at_tag"] = store.fetch("alice/meta", "v1").package["title"]
    out["meta_valid"] = [store.is_valid_revision_id(made.revision), store.is_valid_revision_id("v1")]
    out["meta_missing"] = type_of(lambda: store.fetch("alice/none"))
    store.delete("alice/meta")
    out["meta_deleted"] = type_of(lambda: store.fetch("alice/meta"))
    print(json.dumps(out))


def type_of(f):
    try:
        f()
    except Exception as e:  # noqa: BLE001
        return type(e).__name__ + (f" {e.status}" if isinstance(e, StrataError) else "")
    return None


def stranger():
    out = {
        "ls": type_of(lambda: fs.ls("strata://alice/survey")),
        "cat": type_of(lambda: fs.cat("strata://alice/survey/data/a.csv")),
        "open": type_of(lambda: fs.open("strata://alice/survey/data/a.csv", "rb").read()),
        "table": type_of(lambda: fs.read_arrow("alice/survey", "a")),
        "pipe": type_of(lambda: fs.pipe("strata://alice/survey/data/evil.csv", b"x")),
        "rm": type_of(lambda: fs.rm("strata://alice/survey/data/a.csv")),
        "meta": type_of(lambda: create_metastore("strata_client.metastore:StrataStorage", {}).fetch("alice/survey")),
    }
    print(json.dumps(out))


def governed(dataset, resource, path):
    url = f"strata://{dataset}/{path}"
    # Every way to the raw bytes answers the same error: cat, a file opened and read, head.
    out = {
        "raw": type_of(lambda: fs.cat(url)),
        "open": type_of(lambda: fs.open(url, "rb").read()),
        "head": type_of(lambda: fs.head(url, 10)),
        "get": type_of(lambda: fs.get_file(url, os.path.join(tempfile.mkdtemp(), "t.csv"))),
    }
    df = fs.read_pandas(dataset, resource)
    out["rows"] = json.loads(df.to_json(orient="records"))
    print(json.dumps(out))


if __name__ == "__main__":
    {"roundtrip": roundtrip, "stranger": stranger, "governed": governed}[sys.argv[1]](*sys.argv[2:])
