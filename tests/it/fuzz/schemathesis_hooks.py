"""Serializers schemathesis lacks for two request bodies strata's OpenAPI document names: a
commit's NDJSON (application/x-ndjson) and an app's TOML manifest (application/toml). Each goes
on the wire as the text generated for it, as a client would send a file of that type."""

import json

import schemathesis


@schemathesis.serializer("application/x-ndjson", "application/toml")
def as_text(ctx, value):
    if isinstance(value, bytes):
        return {"data": value}
    if isinstance(value, str):
        return {"data": value.encode("utf-8", "surrogatepass")}
    return {"data": json.dumps(value).encode("utf-8")}
