"""`strata://{ns}/{name}@{rev}/{path}`: strata's datasets as an fsspec filesystem. `@{rev}` (a
branch, a tag or a commit id; a `/` in it written `%2F`) is optional: the default branch. Reads
go through the same gates as REST (a governed table's raw bytes are refused: read it with
`read_arrow`); every refusal, of a read or a write, is `FileNotFoundError` (404) or
`PermissionError` (401, 403), whichever call meets it. Each write (`put`, `pipe`, a file opened
for writing and closed, `rm`) is one commit on the branch, its data an LFS object."""
import tempfile
from urllib.parse import quote, unquote

from fsspec.spec import AbstractBufferedFile, AbstractFileSystem

from .api import Client, StrataError


def refused(e, path):
    """A refusal as the error fsspec's callers expect: missing, or not allowed."""
    if e.status == 404:
        return FileNotFoundError(path)
    if e.status in (401, 403):
        return PermissionError(f"{path}: {e.message}")
    return e


class _Refused:
    """Turns strata's refusals of a read or a write of `path` into fsspec's errors (every call
    the filesystem and its files make goes through one)."""

    def __init__(self, path):
        self.path = path

    def __enter__(self):
        return self

    def __exit__(self, kind, e, tb):
        if isinstance(e, StrataError) and refused(e, self.path) is not e:
            raise refused(e, self.path) from e
        return False


def split(path):
    """(`ns/name`, rev or None, path inside) of a stripped path."""
    parts = path.strip("/").split("/", 2)
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise ValueError(f"{path!r}: a strata path is {{ns}}/{{name}}[@{{rev}}]/{{path}}")
    name, _, rev = parts[1].partition("@")
    return f"{parts[0]}/{name}", (unquote(rev) if rev else None), (parts[2] if len(parts) > 2 else "")


class StrataFileSystem(AbstractFileSystem):
    protocol = "strata"
    root_marker = ""

    def __init__(self, url=None, token=None, **kw):
        super().__init__(**kw)
        self.client = Client(url, token)

    @classmethod
    def _strip_protocol(cls, path):
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        path = str(path)
        if path.startswith("strata://"):
            path = path[len("strata://"):]
        return path.rstrip("/")

    def _prefix(self, dataset, rev):
        return dataset + (f"@{quote(rev, safe='')}" if rev else "")

    def ls(self, path, detail=True, **kw):
        path = self._strip_protocol(path)
        dataset, rev, inside = split(path)
        with _Refused(path):
            tree = self.client.tree(dataset, rev)
        prefix = self._prefix(dataset, rev)
        base = inside.strip("/")
        entries, dirs = [], set()
        for f in tree["files"]:
            p = f["path"]
            if base and p == base:
                entries.append(self._entry(prefix, f))
                continue
            if base and not p.startswith(base + "/"):
                continue
            rest = p[len(base) + 1:] if base else p
            if "/" in rest:
                dirs.add(rest.split("/", 1)[0])
            else:
                entries.append(self._entry(prefix, f))
        for d in sorted(dirs):
            full = f"{base}/{d}" if base else d
            entries.append({"name": f"{prefix}/{full}", "size": 0, "type": "directory"})
        if not entries and base:
            raise FileNotFoundError(path)
        entries.sort(key=lambda e: e["name"])
        return entries if detail else [e["name"] for e in entries]

    @staticmethod
    def _entry(prefix, f):
        return {"name": f"{prefix}/{f['path']}", "size": f["size"], "type": "file",
                "lfs": f["type"] == "lfs", "oid": f.get("oid")}

    def info(self, path, **kw):
        path = self._strip_protocol(path)
        dataset, rev, inside = split(path)
        if not inside:
            with _Refused(path):
                self.client.head(dataset, rev)
            return {"name": path, "size": 0, "type": "directory"}
        parent = path.rsplit("/", 1)[0]
        for e in self.ls(parent, detail=True):
            if e["name"].rstrip("/") == path:
                return e
        raise FileNotFoundError(path)

    def _open(self, path, mode="rb", block_size=None, autocommit=True, cache_options=None, **kw):
        if mode not in ("rb", "wb"):
            raise ValueError(f"mode {mode!r}: strata files open for reading (rb) or writing whole (wb)")
        return StrataFile(self, self._strip_protocol(path), mode, block_size or 4 << 20,
                          autocommit=autocommit, cache_options=cache_options, **kw)

    def cat_file(self, path, start=None, end=None, **kw):
        dataset, rev, inside = split(self._strip_protocol(path))
        if start is None and end is not None:
            start = 0
        if start is not None and start < 0 or end is not None and end < 0:
            size = self.info(path)["size"]
            start = size + start if start is not None and start < 0 else start
            end = size + end if end is not None and end < 0 else end
        if start is not None and end is not None and start >= end:
            return b""
        with _Refused(path):
            return self.client.raw(dataset, inside, rev, start, end)

    def pipe_file(self, path, value, **kw):
        dataset, rev, inside = split(self._strip_protocol(path))
        with _Refused(path):
            self.client.put_bytes(dataset, inside, value, branch=rev, message=kw.get("message"))
        self.invalidate_cache()

    def put_file(self, lpath, rpath, callback=None, **kw):
        dataset, rev, inside = split(self._strip_protocol(rpath))
        with open(lpath, "rb") as f, _Refused(rpath):
            self.client.put(dataset, inside, f, branch=rev, message=kw.get("message"))
        self.invalidate_cache()

    def rm(self, path, recursive=False, maxdepth=None):
        paths = path if isinstance(path, list) else [path]
        by_dataset = {}
        for p in paths:
            p = self._strip_protocol(p)
            dataset, rev, inside = split(p)
            if self.isdir(p):
                if not recursive:
                    raise IsADirectoryError(p)
                files = [split(f)[2] for f in self.find(p)]
            else:
                files = [inside]
            by_dataset.setdefault((dataset, rev), []).extend(files)
        for (dataset, rev), files in by_dataset.items():
            if files:
                with _Refused(dataset):
                    self.client.delete(dataset, files, branch=rev)
        self.invalidate_cache()

    def rm_file(self, path):
        self.rm(path)

    def mkdir(self, path, create_parents=True, **kw):
        pass  # folders exist while files are in them

    def makedirs(self, path, exist_ok=False):
        pass

    def read_arrow(self, dataset, resource, rev=None, columns=None, intent=None):
        """Table `resource` of `dataset` as an Arrow table, as the caller may read it."""
        with _Refused(f"{dataset}/{resource}"):
            return self.client.table_arrow(dataset, resource, rev, columns, intent)

    def read_pandas(self, dataset, resource, **kw):
        return self.read_arrow(dataset, resource, **kw).to_pandas()

    def read_polars(self, dataset, resource, **kw):
        import polars as pl

        return pl.from_arrow(self.read_arrow(dataset, resource, **kw))


class StrataFile(AbstractBufferedFile):
    """A file of a dataset: read in ranges, or written whole (one commit when closed)."""

    def _fetch_range(self, start, end):
        dataset, rev, inside = split(self.path)
        if start >= end:
            return b""
        with _Refused(self.path):
            return self.fs.client.raw(dataset, inside, rev, start, end)

    def _initiate_upload(self):
        self._spool = tempfile.SpooledTemporaryFile(max_size=64 << 20)

    def _upload_chunk(self, final=False):
        self._spool.write(self.buffer.getvalue())
        if final:
            dataset, rev, inside = split(self.path)
            with _Refused(self.path):
                self.fs.client.put(dataset, inside, self._spool, branch=rev)
            self.fs.invalidate_cache()
        return True
