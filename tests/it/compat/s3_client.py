"""The S3 gateway tests' clients: boto3, s3fs, pyarrow's S3 filesystem, DuckDB and pandas, each
unchanged, pointed at the gateway (`S3_ENDPOINT`) with a strata token's access key id (its first
20 characters) and the token as the secret (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, set by
the caller). Every check is an assert: a failure exits non-zero with the reason.

`roundtrip BUCKET FOLDER`: writes and reads with every client, printing one JSON object of what
they saw. `hostile BUCKET OTHER_BUCKET`: the refusals a stranger's calls get (with the token
given, a read-only one), printed as error codes. `read BUCKET KEY`: one object's bytes (hex).
`etags BUCKET`: the ETags of puts, parts, multipart uploads, heads, gets, listings and copies,
checked against S3's (MD5s); `again BUCKET` puts the same bytes again. `presign BUCKET KEY
PARAMS`: a presigned GET URL with extra parameters (JSON). `mkbucket BUCKET`: CreateBucket's code.
"""
import hashlib
import io
import json
import os
import sys
import urllib.error
import urllib.request

import boto3
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = os.environ["S3_ENDPOINT"]


def s3(**kw):
    # No credentials in the environment: unsigned requests (an anonymous caller).
    unsigned = {} if os.environ.get("AWS_ACCESS_KEY_ID") else {"signature_version": UNSIGNED}
    return boto3.client("s3", endpoint_url=ENDPOINT, region_name="us-east-1",
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                                      **unsigned), **kw)


def code(f):
    """The S3 error code (and HTTP status) of calling f, or None if it succeeds."""
    try:
        f()
    except ClientError as e:
        return f'{e.response["Error"]["Code"]} {e.response["ResponseMetadata"]["HTTPStatusCode"]}'
    return None


def keys(client, bucket, prefix, **kw):
    out, token = [], None
    while True:
        args = dict(Bucket=bucket, Prefix=prefix, **kw)
        if token:
            args["ContinuationToken"] = token
        page = client.list_objects_v2(**args)
        out += [o["Key"] for o in page.get("Contents", [])]
        out += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        if not page["IsTruncated"]:
            return out
        token = page["NextContinuationToken"]


def roundtrip(bucket, folder):
    c = s3()
    out = {}
    out["buckets"] = [b["Name"] for b in c.list_buckets()["Buckets"]]
    csv = b"id,name,score\n1,ann,3.5\n2,bo,4.0\n3,cy,2.25\n"
    c.put_object(Bucket=bucket, Key="main/data/a.csv", Body=csv, Metadata={"message": "Add a.csv"})
    c.put_object(Bucket=bucket, Key="main/README.md", Body=b"# Survey\n")
    blob = bytes((i * 2654435761 >> 13) & 0xFF for i in range(300_000))
    c.put_object(Bucket=bucket, Key="main/data/blob.bin", Body=blob)
    # A multipart upload (boto3 cuts at 5 MiB parts here).
    big = bytes((i * 40503 >> 7) & 0xFF for i in range(12 * 1024 * 1024))
    from boto3.s3.transfer import TransferConfig
    c.upload_fileobj(io.BytesIO(big), bucket, "main/data/big.bin",
                     Config=TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20))
    head = c.head_object(Bucket=bucket, Key="main/data/big.bin")
    assert head["ContentLength"] == len(big), head
    assert head["ETag"].strip('"') == multipart_etag(big, 5 << 20), head["ETag"]
    got = c.get_object(Bucket=bucket, Key="main/data/big.bin")["Body"].read()
    assert got == big
    # Ranges: a middle, an open end, a suffix; of an LFS object and of a file kept in git.
    r = c.get_object(Bucket=bucket, Key="main/data/blob.bin", Range="bytes=100-199")
    assert r["Body"].read() == blob[100:200] and r["ContentRange"] == f"bytes 100-199/{len(blob)}", r
    assert c.get_object(Bucket=bucket, Key="main/data/blob.bin", Range="bytes=-10")["Body"].read() == blob[-10:]
    assert c.get_object(Bucket=bucket, Key="main/README.md", Range="bytes=2-")["Body"].read() == b"Survey\n"
    out["invalid_range"] = code(lambda: c.get_object(Bucket=bucket, Key="main/data/a.csv", Range="bytes=9999-"))
    # Conditional reads.
    etag = c.head_object(Bucket=bucket, Key="main/data/a.csv")["ETag"]
    assert etag.strip('"') == hashlib.md5(csv).hexdigest(), etag
    out["if_none_match"] = code(lambda: c.get_object(Bucket=bucket, Key="main/data/a.csv", IfNoneMatch=etag))
    out["if_match_other"] = code(lambda: c.get_object(Bucket=bucket, Key="main/data/a.csv", IfMatch='"abc"'))
    assert c.get_object(Bucket=bucket, Key="main/data/a.csv", IfMatch=etag)["Body"].read() == csv
    # Listings: the refs at the root, folders with a delimiter, pages of 2.
    out["root"] = keys(c, bucket, "", Delimiter="/")
    out["data"] = keys(c, bucket, "main/data/", Delimiter="/")
    out["paged"] = keys(c, bucket, "main/", MaxKeys=2)
    v1 = c.list_objects(Bucket=bucket, Prefix="main/data/")
    out["v1"] = [o["Key"] for o in v1["Contents"]]
    # Copy within the dataset; delete one and a batch (one commit).
    c.copy_object(Bucket=bucket, Key="main/data/copy.csv", CopySource={"Bucket": bucket, "Key": "main/data/a.csv"})
    assert c.get_object(Bucket=bucket, Key="main/data/copy.csv")["Body"].read() == csv
    c.delete_object(Bucket=bucket, Key="main/data/copy.csv")
    c.put_object(Bucket=bucket, Key="main/tmp/x.txt", Body=b"x")
    c.put_object(Bucket=bucket, Key="main/tmp/y.txt", Body=b"y")
    d = c.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "main/tmp/x.txt"}, {"Key": "main/tmp/y.txt"},
                                                            {"Key": "main/tmp/never.txt"}]})
    out["deleted"] = sorted(o["Key"] for o in d.get("Deleted", []))
    out["after_delete"] = keys(c, bucket, "main/tmp/")
    out["missing"] = code(lambda: c.head_object(Bucket=bucket, Key="main/data/copy.csv"))
    # Keys with characters a URL-encoded listing must carry through (botocore asks for it).
    odd = "main/odd/a+b %41&c.txt"
    c.put_object(Bucket=bucket, Key=odd, Body=b"odd")
    out["odd_listed"] = keys(c, bucket, "main/odd/")
    assert c.get_object(Bucket=bucket, Key=odd)["Body"].read() == b"odd"
    # Conditional writes, a folder marker.
    out["put_if_none_match"] = code(lambda: c.put_object(Bucket=bucket, Key="main/data/a.csv", Body=b"x", IfNoneMatch="*"))
    c.put_object(Bucket=bucket, Key="main/data/new.csv", Body=b"id\n", IfNoneMatch="*")
    out["put_if_match_other"] = code(lambda: c.put_object(Bucket=bucket, Key="main/data/new.csv", Body=b"y", IfMatch='"0000"'))
    c.put_object(Bucket=bucket, Key="main/empty/", Body=b"")
    c.delete_object(Bucket=bucket, Key="main/data/new.csv")
    # A presigned URL lives at most 7 days.
    week = c.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "main/data/a.csv"}, ExpiresIn=604800)
    assert urllib.request.urlopen(week).read() == csv
    # A minute past the week: under load the URL may be checked a few seconds after it was made,
    # and a SigV2 URL's expiry is a time, so it would then be within the week again.
    long = c.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "main/data/a.csv"}, ExpiresIn=604860)
    try:
        urllib.request.urlopen(long)
        out["presigned_too_long"] = 200
    except urllib.error.HTTPError as e:
        out["presigned_too_long"] = e.code
    # A presigned GET works for anybody holding the URL, for its key only.
    url = c.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "main/data/a.csv"}, ExpiresIn=300)
    assert urllib.request.urlopen(url).read() == csv
    # s3fs (fsspec), and pandas through it.
    import s3fs
    import pandas as pd
    fs = s3fs.S3FileSystem(key=os.environ["AWS_ACCESS_KEY_ID"], secret=os.environ["AWS_SECRET_ACCESS_KEY"],
                           endpoint_url=ENDPOINT, client_kwargs={"region_name": "us-east-1"})
    out["s3fs_ls"] = sorted(fs.ls(f"{bucket}/main/data"))
    with fs.open(f"{bucket}/main/data/blob.bin", "rb") as f:
        f.seek(1000)
        assert f.read(50) == blob[1000:1050]
    fs.pipe(f"{bucket}/main/data/from_s3fs.txt", b"written by s3fs\n")
    assert fs.cat(f"{bucket}/main/data/from_s3fs.txt") == b"written by s3fs\n"
    opts = {"key": os.environ["AWS_ACCESS_KEY_ID"], "secret": os.environ["AWS_SECRET_ACCESS_KEY"],
            "client_kwargs": {"endpoint_url": ENDPOINT, "region_name": "us-east-1"}}
    df = pd.read_csv(f"s3://{bucket}/main/data/a.csv", storage_options=opts)
    out["pandas"] = df.to_dict(orient="list")
    df.to_parquet(f"s3://{bucket}/main/data/a.parquet", storage_options=opts, index=False)
    # pyarrow's own S3 filesystem.
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq
    host = ENDPOINT.removeprefix("http://")
    pfs = pafs.S3FileSystem(access_key=os.environ["AWS_ACCESS_KEY_ID"], secret_key=os.environ["AWS_SECRET_ACCESS_KEY"],
                            endpoint_override=host, scheme="http", region="us-east-1", force_virtual_addressing=False)
    out["pyarrow"] = pq.read_table(f"{bucket}/main/data/a.parquet", filesystem=pfs).to_pydict()
    infos = pfs.get_file_info(pafs.FileSelector(f"{bucket}/main/data"))
    out["pyarrow_ls"] = sorted(i.path for i in infos)
    # DuckDB's httpfs.
    import duckdb, duckdb_ext, glob
    # The httpfs extension from PyPI, loaded from its file (no download).
    ext = glob.glob(os.path.join(list(duckdb_ext.__path__)[0], "extensions", "v*", "*", "httpfs.duckdb_extension"))[0]
    con = duckdb.connect()
    con.execute(f"LOAD '{ext}'")
    con.execute(f"""CREATE SECRET (TYPE s3, KEY_ID '{os.environ["AWS_ACCESS_KEY_ID"]}',
        SECRET '{os.environ["AWS_SECRET_ACCESS_KEY"]}', ENDPOINT '{host}', URL_STYLE 'path', USE_SSL false,
        REGION 'us-east-1')""")
    out["duckdb"] = con.execute(f"SELECT sum(score), count(*) FROM read_csv('s3://{bucket}/main/data/a.csv')").fetchall()[0]
    out["duckdb_parquet"] = con.execute(f"SELECT max(id) FROM 's3://{bucket}/main/data/a.parquet'").fetchall()[0]
    out["duckdb_glob"] = sorted(r[0] for r in con.execute(f"SELECT file FROM glob('s3://{bucket}/main/data/*.csv')").fetchall())
    print(json.dumps(out, default=str))


def hostile(bucket, other):
    c = s3()
    out = {}
    out["put"] = code(lambda: c.put_object(Bucket=bucket, Key="main/data/evil.csv", Body=b"x"))
    out["delete"] = code(lambda: c.delete_object(Bucket=bucket, Key="main/data/a.csv"))
    out["multipart"] = code(lambda: c.create_multipart_upload(Bucket=bucket, Key="main/evil.bin"))
    out["read"] = code(lambda: c.get_object(Bucket=bucket, Key="main/data/a.csv"))
    out["other"] = code(lambda: c.list_objects_v2(Bucket=other))
    out["no_bucket"] = code(lambda: c.list_objects_v2(Bucket="nobody.nothing"))
    out["no_ref"] = code(lambda: c.get_object(Bucket=bucket, Key="nope/data/a.csv"))
    out["dotdot"] = code(lambda: c.get_object(Bucket=bucket, Key="main/data/../data/a.csv"))
    out["buckets"] = sorted(b["Name"] for b in c.list_buckets()["Buckets"])
    print(json.dumps(out))


def quota(bucket, size):
    """A put and a multipart upload of `size` bytes each: their error codes."""
    c, body = s3(), b"q" * int(size)
    out = {"put": code(lambda: c.put_object(Bucket=bucket, Key="main/put.bin", Body=body))}

    def multipart():
        up = c.create_multipart_upload(Bucket=bucket, Key="main/multi.bin")["UploadId"]
        etag = c.upload_part(Bucket=bucket, Key="main/multi.bin", UploadId=up, PartNumber=1,
                             Body=body + b"m")["ETag"]
        c.complete_multipart_upload(Bucket=bucket, Key="main/multi.bin", UploadId=up,
                                    MultipartUpload={"Parts": [{"ETag": etag, "PartNumber": 1}]})
    out["multipart"] = code(multipart)
    print(json.dumps(out))


def multipart_etag(data, chunk):
    """S3's ETag of `data` uploaded in parts of `chunk` bytes: the MD5 of the parts' MD5s, `-`,
    their count."""
    parts = [data[i:i + chunk] for i in range(0, len(data), chunk)]
    return hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest() + f"-{len(parts)}"


# What `etags` puts, and `again` puts again.
ONE = bytes((i * 7 + 3) & 0xFF for i in range(70_000))
README = b"# ETags\n"
PARTS = [bytes((i * 13) & 0xFF for i in range(300_000)), bytes((i * 5) & 0xFF for i in range(1_000))]


def put_parts(c, bucket, key):
    """A multipart upload of PARTS: each part's ETag (checked to be its MD5), then the completion's
    answer."""
    up = c.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    named = []
    for n, part in enumerate(PARTS, 1):
        tag = c.upload_part(Bucket=bucket, Key=key, UploadId=up, PartNumber=n, Body=part)["ETag"]
        assert tag == f'"{hashlib.md5(part).hexdigest()}"', (n, tag)
        named.append({"ETag": tag, "PartNumber": n})
    listed = c.list_parts(Bucket=bucket, Key=key, UploadId=up)["Parts"]
    assert [p["ETag"] for p in listed] == [p["ETag"] for p in named], listed
    return c.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up,
                                       MultipartUpload={"Parts": named})


def etags(bucket):
    c = s3()
    md5 = lambda b: f'"{hashlib.md5(b).hexdigest()}"'
    key = "main/etags/one.bin"
    put = c.put_object(Bucket=bucket, Key=key, Body=ONE)["ETag"]
    assert put == md5(ONE), put
    got = c.get_object(Bucket=bucket, Key=key)
    assert got["ETag"] == put and got["Body"].read() == ONE, got["ETag"]
    assert c.head_object(Bucket=bucket, Key=key)["ETag"] == put
    # A file kept in git: the MD5 of its bytes too.
    assert c.put_object(Bucket=bucket, Key="main/etags/README.md", Body=README)["ETag"] == md5(README)
    assert c.head_object(Bucket=bucket, Key="main/etags/README.md")["ETag"] == md5(README)
    # Multipart: the MD5 of the parts' MD5s and their count, from the completion and every read.
    whole = '"' + hashlib.md5(b"".join(hashlib.md5(p).digest() for p in PARTS)).hexdigest() + f'-{len(PARTS)}"'
    done = put_parts(c, bucket, "main/etags/parts.bin")["ETag"]
    assert done == whole, (done, whole)
    out = {"one": put, "readme": md5(README), "parts": done}
    assert c.head_object(Bucket=bucket, Key="main/etags/parts.bin")["ETag"] == whole
    assert c.get_object(Bucket=bucket, Key="main/etags/parts.bin")["Body"].read() == b"".join(PARTS)
    # Copies within the dataset keep the object's ETag.
    copy = c.copy_object(Bucket=bucket, Key="main/etags/copy.bin",
                         CopySource={"Bucket": bucket, "Key": key})["CopyObjectResult"]["ETag"]
    assert copy == put, copy
    # Listings (both versions) give what reads give.
    v2 = {o["Key"]: o["ETag"] for o in c.list_objects_v2(Bucket=bucket, Prefix="main/etags/")["Contents"]}
    v1 = {o["Key"]: o["ETag"] for o in c.list_objects(Bucket=bucket, Prefix="main/etags/")["Contents"]}
    want = {key: put, "main/etags/README.md": md5(README), "main/etags/parts.bin": whole,
            "main/etags/copy.bin": put}
    assert v2 == want and v1 == want, (v2, v1)
    # Conditions name these ETags.
    assert c.get_object(Bucket=bucket, Key=key, IfMatch=put)["Body"].read() == ONE
    out["if_none_match"] = code(lambda: c.get_object(Bucket=bucket, Key=key, IfNoneMatch=put))
    out["if_none_match_parts"] = code(lambda: c.head_object(Bucket=bucket, Key="main/etags/parts.bin",
                                                            IfNoneMatch=whole))
    out["if_match_sha256"] = code(lambda: c.get_object(Bucket=bucket, Key=key,
                                                       IfMatch=f'"{hashlib.sha256(ONE).hexdigest()}"'))
    out["put_if_match"] = code(lambda: c.put_object(Bucket=bucket, Key=key, Body=ONE, IfMatch=put))
    print(json.dumps(out))


def again(bucket):
    """Puts again what `etags` put: each answer's ETag, and the revisions they say the branch is at
    (`x-strata-revision`)."""
    c = s3()
    answers = {"one": c.put_object(Bucket=bucket, Key="main/etags/one.bin", Body=ONE),
               "readme": c.put_object(Bucket=bucket, Key="main/etags/README.md", Body=README),
               "parts": put_parts(c, bucket, "main/etags/parts.bin"),
               # A copy onto itself (as rclone sets a modification time).
               "copy": c.copy_object(Bucket=bucket, Key="main/etags/copy.bin", MetadataDirective="REPLACE",
                                     CopySource={"Bucket": bucket, "Key": "main/etags/copy.bin"},
                                     Metadata={"mtime": "1700000000"})}
    out = {k: a.get("CopyObjectResult", a)["ETag"] for k, a in answers.items()}
    out["revisions"] = sorted({a["ResponseMetadata"]["HTTPHeaders"].get("x-strata-revision", "")
                               for a in answers.values()})
    print(json.dumps(out))


def presign(bucket, key, params):
    url = s3().generate_presigned_url("get_object", ExpiresIn=300,
                                      Params=dict(Bucket=bucket, Key=key, **json.loads(params)))
    print(json.dumps({"url": url}))


def mkbucket(bucket):
    print(json.dumps({"code": code(lambda: s3().create_bucket(Bucket=bucket))}))


def read(bucket, key):
    print(json.dumps({"hex": s3().get_object(Bucket=bucket, Key=key)["Body"].read().hex()}))


if __name__ == "__main__":
    {"roundtrip": roundtrip, "hostile": hostile, "read": read, "quota": quota, "etags": etags,
     "again": again, "presign": presign, "mkbucket": mkbucket}[sys.argv[1]](*sys.argv[2:])
