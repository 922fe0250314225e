"""Iceberg engines against strata's catalog: `iceberg_client.py ENGINE URL TOKEN TABLE [WAREHOUSE [IDS]]`
prints JSON. TOKEN "-" is no token. TABLE is "ns.dataset.table".

- pyiceberg: namespaces, tables, the table's snapshots, refs and schema, its rows now, at every
  snapshot and at each ref (`scan(snapshot_id=)`), each file the load names read back through the
  S3 gateway with the vended key (`files`: the bytes of every manifest list, manifest and data file).
- ray: Ray Data (`ray.data.read_iceberg`) on a local cluster of two worker processes: the rows
  now and at each snapshot of IDS.
- polars: `scan_iceberg` of the table PyIceberg loads: the rows now and at each snapshot of IDS.
- duckdb: the extension (from PyPI, offline) attached to the catalog: the rows now and at each
  snapshot of IDS (comma-separated; `AT (VERSION => id)`).
- write: PyIceberg writes; IDS is JSON `{"op": "append"|"overwrite"|"stale", "rows": [...]}`
  ("stale": two loads, an append through the first, then one through the second). Prints the
  refusal if any, and the rows and snapshot count a new load reads after.
"""

import json
import sys


def pyiceberg(url, token, name, warehouse, _at):
    from pyiceberg.catalog import load_catalog

    props = {"type": "rest", "uri": url + "/iceberg"}
    if token != "-":
        props["token"] = token
    if warehouse:
        props["warehouse"] = warehouse
    cat = load_catalog("strata", **props)
    out = {"namespaces": [list(n) for n in cat.list_namespaces()]}
    parts = name.split(".")
    ns = tuple(parts[:-1])
    try:
        out["children"] = [list(n) for n in cat.list_namespaces(ns[:1])]
        out["tables"] = [list(t) for t in cat.list_tables(ns)]
        t = cat.load_table(ns + (parts[-1],))
    except Exception as e:  # the refusal, as the client raises it
        out["error"] = type(e).__name__
        out["message"] = str(e)
        return out
    rows = lambda scan: sorted(map(lambda r: json.dumps(r, default=str, sort_keys=True), scan.to_arrow().to_pylist()))
    out["rows"] = rows(t.scan())
    out["columns"] = [f.name for f in t.schema().fields]
    out["field_ids"] = {f.name: f.field_id for f in t.schema().fields}
    out["snapshots"] = []
    for s in t.snapshots():
        out["snapshots"].append({
            "id": s.snapshot_id,
            "summary": dict(s.summary.additional_properties) if s.summary else {},
            "rows": rows(t.scan(snapshot_id=s.snapshot_id)),
            "schema": [f.name for f in t.schemas()[s.schema_id].fields] if s.schema_id is not None else None,
        })
    out["refs"] = {k: v.snapshot_id for k, v in t.refs().items()}
    # Column bounds in the manifests: files a filter cannot match are not planned.
    if "id" in out["columns"]:
        out["planned"] = {f: len(list(t.scan(row_filter=f).plan_files())) for f in ("id > 100", "id >= 3")}
    out["current"] = t.metadata.current_snapshot_id
    out["properties"] = dict(t.properties)
    out["metadata"] = json.loads(t.metadata.model_dump_json())
    # Every file the load names, through the gateway with the vended key.
    io = t.io
    files = []
    for s in t.snapshots():
        files.append(s.manifest_list)
        for m in s.manifests(io):
            files.append(m.manifest_path)
            for e in m.fetch_manifest_entry(io):
                files.append(e.data_file.file_path)
    blobs = []
    for f in files:
        with io.new_input(f).open() as h:
            blobs.append(h.read().hex())
    out["files"] = files
    out["blobs"] = blobs
    out["config"] = {k: v for k, v in t.io.properties.items() if k.startswith("s3.")}
    return out


def duckdb(url, token, name, warehouse, at):
    import duckdb
    import duckdb_ext
    import os

    exts = os.path.join(list(duckdb_ext.__path__)[0], "extensions")
    c = duckdb.connect(config={"extension_directory": exts, "autoinstall_known_extensions": "false"})
    c.execute("LOAD httpfs")
    c.execute("LOAD avro")
    c.execute("LOAD iceberg")
    auth = f"TOKEN '{token}'" if token != "-" else "AUTHORIZATION_TYPE 'none'"
    c.execute(
        f"ATTACH '{warehouse or ''}' AS cat (TYPE iceberg, ENDPOINT '{url}/iceberg', {auth}, "
        "SUPPORT_NESTED_NAMESPACES true)"
    )
    parts = name.split(".")
    ref = f'cat."{".".join(parts[:-1])}"."{parts[-1]}"'
    out = {}
    rows = lambda q: sorted(json.dumps(list(r), default=str) for r in c.execute(q).fetchall())
    try:
        out["rows"] = rows(f"SELECT * FROM {ref}")
    except Exception as e:
        out["error"] = type(e).__name__
        out["message"] = str(e)
        return out
    out["at"] = {s: rows(f"SELECT * FROM {ref} AT (VERSION => {s})") for s in at if s}
    return out


def write(url, token, name, warehouse, spec):
    import pyarrow as pa
    from pyiceberg.catalog import load_catalog

    props = {"type": "rest", "uri": url + "/iceberg"}
    if token != "-":
        props["token"] = token
    if warehouse:
        props["warehouse"] = warehouse
    cat = load_catalog("strata", **props)
    spec = json.loads(spec)
    t = cat.load_table(name)
    df = pa.Table.from_pylist(spec["rows"], schema=t.schema().as_arrow())
    out = {}
    try:
        if spec["op"] == "stale":
            other = cat.load_table(name)
            t.append(df)
            other.append(df)
        elif spec["op"] == "overwrite":
            t.overwrite(df)
        else:
            t.append(df)
        out["after"] = t.metadata.current_snapshot_id
    except Exception as e:  # the refusal, as the client raises it
        out["error"] = type(e).__name__
        out["message"] = str(e)
    again = cat.load_table(name)
    out["rows"] = sorted(json.dumps(r, default=str, sort_keys=True) for r in again.scan().to_arrow().to_pylist())
    out["snapshots"] = len(again.snapshots())
    out["current"] = again.metadata.current_snapshot_id
    return out


def ray_data(url, token, name, warehouse, at):
    import ray

    # A local cluster: the head and two worker processes.
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    kwargs = {"name": "strata", "type": "rest", "uri": url + "/iceberg"}
    if token != "-":
        kwargs["token"] = token
    if warehouse:
        kwargs["warehouse"] = warehouse
    rows = lambda ds: sorted(json.dumps(r, default=str, sort_keys=True) for r in ds.take_all())
    out = {"rows": rows(ray.data.read_iceberg(table_identifier=name, catalog_kwargs=dict(kwargs)))}
    out["at"] = {
        s: rows(ray.data.read_iceberg(table_identifier=name, catalog_kwargs=dict(kwargs), snapshot_id=int(s)))
        for s in at
        if s
    }
    return out


def polars(url, token, name, warehouse, at):
    import polars as pl
    from pyiceberg.catalog import load_catalog

    props = {"type": "rest", "uri": url + "/iceberg"}
    if token != "-":
        props["token"] = token
    t = load_catalog("strata", **props).load_table(name)
    # Polars reads the files itself: the gateway and the load's key, as object_store names them.
    io = t.io.properties
    storage = {
        "aws_endpoint_url": io["s3.endpoint"],
        "aws_access_key_id": io["s3.access-key-id"],
        "aws_secret_access_key": io["s3.secret-access-key"],
        "aws_region": io["s3.region"],
        "aws_allow_http": "true",
        "aws_virtual_hosted_style_request": "false",
    }
    scan = lambda **kw: pl.scan_iceberg(t, storage_options=storage, **kw).collect()
    rows = lambda df: sorted(json.dumps(r, default=str, sort_keys=True) for r in df.to_dicts())
    out = {"rows": rows(scan())}
    out["at"] = {s: rows(scan(snapshot_id=int(s))) for s in at if s}
    return out


if __name__ == "__main__":
    engine, url, token, name = sys.argv[1:5]
    warehouse = sys.argv[5] if len(sys.argv) > 5 else ""
    at = sys.argv[6] if len(sys.argv) > 6 else ""
    at = at if engine == "write" else at.split(",")
    engines = {"pyiceberg": pyiceberg, "duckdb": duckdb, "ray": ray_data, "polars": polars, "write": write}
    out = engines[engine](url, token, name, warehouse, at)
    print(json.dumps(out))
    sys.stdout.flush()
    import os

    os._exit(0)
