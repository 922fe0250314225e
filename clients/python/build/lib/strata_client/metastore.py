"""A `metastore-lib` storage backend on strata: a package id is `{ns}/{name}`, its metadata the
dataset's datapackage, revisions its commits, tags its tags.

    from metastore.backend import create_metastore
    store = create_metastore("strata_client.metastore:StrataStorage", {"url": ..., "token": ...})
"""
import re
from datetime import datetime, timezone

from metastore.backend import StorageBackend
from metastore.backend.exc import Conflict, NotFound, StorageBackendError
from metastore.types import Author, PackageRevisionInfo, TagInfo

from .api import Client, StrataError


def _time(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else datetime.now(timezone.utc)


def _raise(e, what):
    if e.status == 404:
        raise NotFound(f"{what}: {e.message}") from e
    if e.status == 409:
        raise Conflict(f"{what}: {e.message}") from e
    raise StorageBackendError(f"{what}: {e}") from e


class StrataStorage(StorageBackend):
    def __init__(self, url=None, token=None, private=True):
        self.client = Client(url, token)
        self.private = private

    def _revision(self, package_id, rev, package=None):
        author = rev.get("author") or {}
        return PackageRevisionInfo(package_id, rev["id"], _time(rev.get("time") or rev.get("created")),
                                   Author(author.get("name"), author.get("email")),
                                   rev.get("message"), package)

    def create(self, package_id, metadata, author=None, message=None):
        ns, _, name = package_id.partition("/")
        # A datapackage always has resources (metastore-lib's examples often leave them out).
        metadata = {"resources": [], **metadata}
        body = {"namespace": ns, "name": name, "visibility": "private" if self.private else "public",
                "datapackage": metadata}
        if message:
            body["message"] = message
        try:
            v = self.client.json("POST", f"{self.client.url}/api/v1/datasets", ok=(201,), json=body)
        except StrataError as e:
            _raise(e, package_id)
        # The revision this call made, not whatever the head is by now.
        return self._revision(package_id, v["revision"], v["datapackage"])

    def fetch(self, package_id, revision_ref=None):
        try:
            v = self.client.json("GET", self.client.api(package_id),
                                 params={"rev": revision_ref} if revision_ref else {})
        except StrataError as e:
            _raise(e, package_id)
        if not v.get("revision"):
            raise NotFound(f"{package_id} has no revision yet")
        return self._revision(package_id, v["revision"], v["datapackage"])

    def update(self, package_id, metadata, author=None, partial=False, message=None, base_revision_ref=None):
        current = self.fetch(package_id, base_revision_ref)
        package = dict(current.package, **metadata) if partial else {"resources": [], **metadata}
        body = {"datapackage": package, "parent": current.revision}
        if message:
            body["message"] = message
        try:
            v = self.client.json("PUT", self.client.api(package_id), json=body)
        except StrataError as e:
            _raise(e, package_id)
        return self._revision(package_id, v["revision"], v["datapackage"])

    def delete(self, package_id):
        try:
            self.client.request("DELETE", self.client.api(package_id), ok=(204,))
        except StrataError as e:
            _raise(e, package_id)

    def revision_list(self, package_id):
        try:
            v = self.client.json("GET", self.client.api(package_id) + "/revisions", params={"limit": 100})
        except StrataError as e:
            _raise(e, package_id)
        return [self._revision(package_id, r) for r in v["revisions"]]

    def revision_fetch(self, package_id, revision_ref):
        try:
            v = self.client.json("GET", self.client.api(package_id) + f"/revisions/{revision_ref}")
        except StrataError as e:
            _raise(e, package_id)
        return self._revision(package_id, v.get("revision", v))

    def _tag(self, package_id, t):
        tagger = t.get("tagger") or {}
        return TagInfo(package_id, t["name"], _time(t.get("created")), t["revision"],
                       Author(tagger.get("name"), tagger.get("email")), None, t.get("description"))

    def tag_create(self, package_id, revision_ref, name, author=None, description=None):
        body = {"name": name, "revision": revision_ref, "description": description or ""}
        try:
            t = self.client.json("POST", self.client.api(package_id) + "/tags", ok=(200, 201), json=body)
        except StrataError as e:
            _raise(e, f"{package_id} tag {name}")
        return self._tag(package_id, t.get("tag", t))

    def tag_list(self, package_id):
        try:
            v = self.client.json("GET", self.client.api(package_id) + "/tags")
        except StrataError as e:
            _raise(e, package_id)
        return [self._tag(package_id, t) for t in v["tags"]]

    def tag_fetch(self, package_id, tag):
        try:
            t = self.client.json("GET", self.client.api(package_id) + f"/tags/{tag}")
        except StrataError as e:
            _raise(e, f"{package_id} tag {tag}")
        return self._tag(package_id, t.get("tag", t))

    def tag_update(self, package_id, tag, author=None, new_name=None, new_description=None):
        body = {}
        if new_name:
            body["name"] = new_name
        if new_description is not None:
            body["description"] = new_description
        try:
            t = self.client.json("PATCH", self.client.api(package_id) + f"/tags/{tag}", json=body)
        except StrataError as e:
            _raise(e, f"{package_id} tag {tag}")
        return self._tag(package_id, t.get("tag", t))

    def tag_delete(self, package_id, tag):
        try:
            self.client.request("DELETE", self.client.api(package_id) + f"/tags/{tag}", ok=(200, 204))
        except StrataError as e:
            _raise(e, f"{package_id} tag {tag}")

    @classmethod
    def is_valid_revision_id(cls, revision_id):
        return bool(re.fullmatch(r"[0-9a-f]{40}", revision_id or ""))
