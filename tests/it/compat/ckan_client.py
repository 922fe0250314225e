"""The CKAN tests' clients: `ckanapi` (CKAN's own) and Datopian's `ckan-client` (with its
`frictionless-ckan-mapper`), unchanged, pointed at strata with a strata token as the API key.
Every check is an assert; the answers are printed as one JSON object.

`roundtrip URL FILE`: a package created, a file uploaded the way ckan-client does (authz_authorize,
the giftless-style batch, PUT, verify), the package updated with it as a resource, then read back
every way. `stranger URL`: what another user's and an anonymous caller's calls get.
"""
import hashlib
import json
import os
import sys

import ckanapi
import requests
from ckanclient import Client

TOKEN = os.environ.get("CKAN_TOKEN") or None


def error(f):
    """The ckanapi error class of calling f, or None if it succeeds."""
    try:
        f()
    except ckanapi.errors.CKANAPIError as e:
        return type(e).__name__
    return None


def roundtrip(url, path):
    out = {}
    ckan = ckanapi.RemoteCKAN(url, apikey=TOKEN)
    made = ckan.action.package_create(name="survey", owner_org="alice", title="Survey",
                                      notes="Answers of 2026", tags=[{"name": "poll"}],
                                      extras=[{"key": "geography", "value": "theshire"}])
    out["created"] = {k: made[k] for k in ("id", "name", "owner_org", "private", "notes")}
    out["again"] = error(lambda: ckan.action.package_create(name="survey", owner_org="alice"))
    # ckan-client's upload: a JWT from authz_authorize, the batch, the PUT, the verify it expects.
    data = open(path, "rb").read()
    sha = hashlib.sha256(data).hexdigest()
    client = Client(url, TOKEN, "alice", "survey", f"{url}/alice/survey")
    # (push_blob returns nothing once it uploaded and verified; a failure raises.)
    client.push_blob({"descriptor": {"name": "answers", "hash": sha}, "size": len(data), "path": path})
    out["pushed"] = requests.post(f"{url}/alice/survey.git/info/lfs/objects/batch",
                                  headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/vnd.git-lfs+json"},
                                  json={"operation": "download", "objects": [{"oid": sha, "size": len(data)}]}
                                  ).json()["objects"][0].get("actions") is not None
    resource = {"name": "answers", "url": "data/answers.csv", "size": len(data), "hash": f"sha256:{sha}",
                "format": "csv", "mimetype": "text/csv", "description": "One row an answer"}
    updated = ckan.action.package_update(id="alice/survey", title="Survey 2026", notes="Answers of 2026",
                                         tags=[{"name": "poll"}, {"name": "2026"}], resources=[resource],
                                         extras=[{"key": "geography", "value": "theshire"}])
    out["updated"] = {k: updated[k] for k in ("title", "num_resources")}
    # A token minted here cannot mint itself another (nor can anything narrower than `*`).
    minted = ckan.action.authz_authorize(scopes=["obj:alice/survey/*:write"])["token"]
    again = requests.post(f"{url}/api/3/action/authz_authorize", headers={"Authorization": f"Bearer {minted}"},
                          json={"scopes": ["obj:alice/survey/*:write"]})
    out["mint_again"] = again.status_code
    # Resources as package_show gives them go back unchanged through package_update (their
    # URLs are their paths), a path with a space and a folder named raw included.
    second = dict(resource, name="copy", url="data/raw/my file.csv")
    ckan.action.package_update(id="alice/survey", title="Survey 2026", notes="Answers of 2026",
                               tags=[{"name": "poll"}, {"name": "2026"}], resources=[resource, second],
                               extras=[{"key": "geography", "value": "theshire"}])
    shown = ckan.action.package_show(id="alice/survey")
    ckan.action.package_update(**shown)
    shown = ckan.action.package_show(id="alice/survey")
    out["tags"] = sorted(t["name"] for t in shown["tags"])
    out["extras"] = shown["extras"]
    r = shown["resources"][0]
    out["resource"] = {k: r[k] for k in ("id", "name", "size", "mimetype", "format")}
    got = requests.get(r["url"], headers={"Authorization": f"Bearer {TOKEN}"})
    assert got.status_code == 200 and got.content == data, got.status_code
    out["resource_show"] = ckan.action.resource_show(id="alice/survey/answers")["url"] == r["url"]
    out["search"] = ckan.action.package_search(q="survey")["count"]
    out["list"] = sorted(ckan.action.package_list())
    patched = ckan.action.package_patch(id="alice/survey", notes="Patched")
    out["patched"] = (patched["notes"], patched["num_resources"])
    # /api/3/action/ as ckan-client calls it: a GET with parameters, a form-encoded create.
    # (ckan-client hands back CKAN's whole answer, `result` inside.)
    retrieved = client.retrieve("alice/survey")
    out["retrieved"] = retrieved["result"]["name"]
    # (With a bare name the mapper fails before any request: it needs a licence to map.)
    made = client.create({"name": "notes", "owner_org": "alice", "license_id": "CC0-1.0"})
    out["form_create"] = made["result"]["id"]
    # A bad id, an unknown action.
    out["no_package"] = error(lambda: ckan.action.package_show(id="alice/none"))
    out["unknown"] = requests.post(f"{url}/api/3/action/group_list", json={}).status_code
    print(json.dumps(out))


def stranger(url):
    out = {}
    ckan = ckanapi.RemoteCKAN(url, apikey=TOKEN)
    out["show"] = error(lambda: ckan.action.package_show(id="alice/survey"))
    out["update"] = error(lambda: ckan.action.package_update(id="alice/survey", title="Mine now"))
    out["create_elsewhere"] = error(lambda: ckan.action.package_create(name="evil", owner_org="alice"))
    out["list"] = sorted(ckan.action.package_list())
    out["search"] = ckan.action.package_search(q="survey")["count"]
    out["resource"] = error(lambda: ckan.action.resource_show(id="alice/survey/answers"))
    if TOKEN:
        # A token for alice's objects, minted for the stranger, reaches nothing of alice's.
        token = ckan.action.authz_authorize(scopes=["obj:alice/survey/*:write"])["token"]
        batch = requests.post(f"{url}/alice/survey/objects/batch",
                              headers={"Authorization": f"Bearer {token}",
                                       "Content-Type": "application/vnd.git-lfs+json"},
                              json={"operation": "upload", "objects": [{"oid": "a" * 64, "size": 1}]})
        out["minted_batch"] = batch.status_code
    else:
        out["authz"] = error(lambda: ckan.action.authz_authorize(scopes=["obj:alice/survey/*:write"]))
    body = requests.post(f"{url}/api/action/package_show", json={"id": "alice/survey"},
                         headers={"Authorization": TOKEN} if TOKEN else {}).json()
    out["envelope"] = {"success": body["success"], "type": body["error"]["__type"],
                       "has_request_id": bool(body.get("request_id"))}
    print(json.dumps(out))


if __name__ == "__main__":
    {"roundtrip": roundtrip, "stranger": stranger}[sys.argv[1]](*sys.argv[2:])
