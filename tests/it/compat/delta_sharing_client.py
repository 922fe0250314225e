"""Delta Sharing's own Python client (`delta-sharing`, in a venv of its own) against strata.

    delta_sharing_client.py PROFILE list
    delta_sharing_client.py PROFILE load SHARE.SCHEMA.TABLE [VERSION|-] [TIMESTAMP|-]
    delta_sharing_client.py PROFILE changes SHARE.SCHEMA.TABLE START [END|-]
    delta_sharing_client.py PROFILE version SHARE.SCHEMA.TABLE [STARTING_TIMESTAMP]

Prints one JSON line: what was listed or read (rows as records, columns in order), or
{"error": class, "message": …} when the client raised.
"""

import json
import os
import sys

import delta_sharing


def frame(df):
    rows = json.loads(df.to_json(orient="records", date_format="iso"))
    return {"columns": list(df.columns), "rows": rows}


def main():
    profile, action = sys.argv[1], sys.argv[2]
    args = sys.argv[3:]
    client = delta_sharing.SharingClient(profile)
    if action == "list":
        shares = client.list_shares()
        out = {"shares": [s.name for s in shares], "schemas": {}, "tables": {}, "all": []}
        for s in shares:
            out["schemas"][s.name] = [x.name for x in client.list_schemas(s)]
            for schema in client.list_schemas(s):
                key = f"{s.name}.{schema.name}"
                out["tables"][key] = [t.name for t in client.list_tables(schema)]
        out["all"] = sorted(f"{t.share}.{t.schema}.{t.name}" for t in client.list_all_tables())
        return out
    url = f"{profile}#{args[0]}"
    if action == "load":
        version = int(args[1]) if len(args) > 1 and args[1] != "-" else None
        timestamp = args[2] if len(args) > 2 and args[2] != "-" else None
        return frame(delta_sharing.load_as_pandas(url, version=version, timestamp=timestamp))
    if action == "changes":
        end = int(args[2]) if len(args) > 2 and args[2] != "-" else None
        df = delta_sharing.load_table_changes_as_pandas(
            url, starting_version=int(args[1]), ending_version=end
        )
        return frame(df)
    if action == "version":
        starting = args[1] if len(args) > 1 else None
        return {"version": delta_sharing.get_table_version(url, starting_timestamp=starting)}
    raise SystemExit(f"unknown action {action}")


if __name__ == "__main__":
    try:
        print(json.dumps(main()))
    except Exception as e:  # noqa: BLE001 - the test reads what the client raised
        print(json.dumps({"error": type(e).__name__, "message": str(e)[:2000]}))
    # The client's native threads (pyarrow's, the kernel wrapper's) can abort the interpreter's
    # shutdown ("terminate called without an active exception") after the answer is printed:
    # leave without one.
    sys.stdout.flush()
    os._exit(0)
