//! The S3 gateway with stock S3 clients (pinned in `scripts/test.sh`): boto3 (puts, a multipart
//! upload, ranges, conditional reads, listings in pages, copies, deletes, a presigned URL), s3fs
//! and pandas through it, pyarrow's S3 filesystem, DuckDB's httpfs, the AWS CLI's `s3 sync` both
//! ways; then what strangers, narrow tokens, presigned URLs moved to another key, revoked tokens
//! and unsigned callers get. Governed tables and DVC are in `s3_more.rs`.

use std::process::Command;

use serde_json::Value;
use strata_core::db::Visibility;

use crate::common::*;

/// Starts the S3 gateway of `server` on a port of its own; its endpoint URL.
pub async fn gateway(server: &TestServer) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = server.state.clone();
    tokio::spawn(strata::run_s3(listener, state, std::future::pending()));
    format!("http://{addr}")
}

/// A command with the S3 credentials of `token` (none: unsigned) and the gateway's endpoint.
pub fn with_token(cmd: &mut Command, endpoint: &str, token: Option<&str>) {
    cmd.env("S3_ENDPOINT", endpoint)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN");
    match token {
        Some(t) => cmd
            .env("AWS_ACCESS_KEY_ID", &t[..20])
            .env("AWS_SECRET_ACCESS_KEY", t),
        None => cmd
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY"),
    };
}

/// Runs `s3_client.py` with `args` as `token`'s holder: its JSON answer.
pub async fn client(endpoint: &str, token: Option<&str>, args: &[&str]) -> Value {
    let mut cmd = Command::new(python_tool("python"));
    cmd.arg(format!(
        "{}/tests/it/compat/s3_client.py",
        env!("CARGO_MANIFEST_DIR")
    ))
    .args(args);
    with_token(&mut cmd, endpoint, token);
    json_answer(cmd).await
}

/// The AWS CLI with `token`'s credentials against the gateway; its output.
async fn aws(endpoint: &str, token: &str, args: &[&str]) -> String {
    let mut cmd = Command::new(python_tool("aws"));
    cmd.args(["--endpoint-url", endpoint]).args(args);
    with_token(&mut cmd, endpoint, Some(token));
    tokio::task::spawn_blocking(move || run(&mut cmd))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_clients_write_and_read_a_dataset() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    server.repo("alice/survey", Visibility::Private).await;
    let s3 = gateway(&server).await;
    let folder = tempfile::tempdir().unwrap();
    let dir = folder.path().to_str().unwrap().to_owned();

    let v = client(&s3, Some(&alice), &["roundtrip", "alice.survey", &dir]).await;
    assert_eq!(v["buckets"], serde_json::json!(["alice.survey"]));
    assert_eq!(v["invalid_range"], "InvalidRange 416");
    assert_eq!(v["if_none_match"], "304 304");
    assert_eq!(v["if_match_other"], "PreconditionFailed 412");
    assert_eq!(v["root"], serde_json::json!(["main/"]));
    assert_eq!(
        v["data"],
        serde_json::json!(["main/data/a.csv", "main/data/big.bin", "main/data/blob.bin"])
    );
    let paged: Vec<&str> = v["paged"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert_eq!(
        paged,
        [
            "main/.gitattributes",
            "main/README.md",
            "main/data/a.csv",
            "main/data/big.bin",
            "main/data/blob.bin"
        ]
    );
    assert_eq!(v["v1"], v["data"]);
    assert_eq!(
        v["deleted"],
        serde_json::json!(["main/tmp/never.txt", "main/tmp/x.txt", "main/tmp/y.txt"])
    );
    assert_eq!(v["after_delete"], serde_json::json!([]));
    assert_eq!(
        v["odd_listed"],
        serde_json::json!(["main/odd/a+b %41&c.txt"])
    );
    assert_eq!(v["put_if_none_match"], "PreconditionFailed 412");
    assert_eq!(v["put_if_match_other"], "PreconditionFailed 412");
    assert_eq!(v["presigned_too_long"], 403);
    assert_eq!(v["missing"], "404 404");
    assert!(v["s3fs_ls"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("alice.survey/main/data/a.csv")));
    assert_eq!(v["pandas"]["name"], serde_json::json!(["ann", "bo", "cy"]));
    assert_eq!(v["pyarrow"]["score"], serde_json::json!([3.5, 4.0, 2.25]));
    assert!(v["pyarrow_ls"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("alice.survey/main/data/a.parquet")));
    assert_eq!(v["duckdb"], serde_json::json!([9.75, 3]));
    assert_eq!(v["duckdb_parquet"], serde_json::json!([3]));
    assert_eq!(
        v["duckdb_glob"],
        serde_json::json!(["s3://alice.survey/main/data/a.csv"])
    );

    // Each write is a commit of the dataset, with the message the client gave; the files are the
    // dataset's on every other surface.
    let api = format!("{}/api/v1/datasets/alice/survey", server.url);
    let log: Value = reqwest::Client::new()
        .get(format!("{api}/revisions?limit=100"))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let messages: Vec<&str> = log["revisions"]
        .as_array()
        .unwrap_or_else(|| panic!("{log}"))
        .iter()
        .map(|r| r["message"].as_str().unwrap().trim())
        .collect();
    assert!(messages.contains(&"Add a.csv"), "{messages:?}");
    assert!(messages.contains(&"Delete 2 files"), "{messages:?}");
    let raw = reqwest::Client::new()
        .get(format!("{api}/raw/data/a.csv"))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(
        raw.text().await.unwrap(),
        "id,name,score\n1,ann,3.5\n2,bo,4.0\n3,cy,2.25\n"
    );

    // The AWS CLI: 25 files synced up (ten at a time, each a commit on the same branch), listed,
    // synced down into an empty folder, byte for byte.
    let up = tempfile::tempdir().unwrap();
    for i in 0..25 {
        std::fs::write(
            up.path().join(format!("f{i:02}.txt")),
            format!("file {i}\n"),
        )
        .unwrap();
    }
    let target = "s3://alice.survey/main/sync/";
    let quiet = "--only-show-errors";
    aws(
        &s3,
        &alice,
        &["s3", "sync", quiet, up.path().to_str().unwrap(), target],
    )
    .await;
    let listed = aws(&s3, &alice, &["s3", "ls", target]).await;
    assert_eq!(listed.lines().count(), 25, "{listed}");
    let down = tempfile::tempdir().unwrap();
    aws(
        &s3,
        &alice,
        &["s3", "sync", quiet, target, down.path().to_str().unwrap()],
    )
    .await;
    for i in 0..25 {
        let name = format!("f{i:02}.txt");
        assert_eq!(
            std::fs::read(down.path().join(&name)).unwrap(),
            format!("file {i}\n").as_bytes()
        );
    }
    // Again: nothing to send either way.
    let again = aws(
        &s3,
        &alice,
        &["s3", "sync", quiet, up.path().to_str().unwrap(), target],
    )
    .await;
    assert!(again.trim().is_empty(), "{again}");
}

/// The S3 error code and status of a raw request.
async fn refused(resp: reqwest::Response) -> (u16, String, String) {
    let status = resp.status().as_u16();
    let id = resp
        .headers()
        .get("x-amz-request-id")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = resp.text().await.unwrap();
    let code = text
        .split("<Code>")
        .nth(1)
        .and_then(|s| s.split("</Code>").next())
        .unwrap_or("")
        .to_owned();
    assert!(
        text.contains(&format!("<RequestId>{id}</RequestId>")) && !id.is_empty(),
        "{text}"
    );
    assert!(text.contains("<Message>"), "{text}");
    (status, code, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_refuses_strangers_narrow_tokens_and_moved_signatures() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    server.repo("alice/survey", Visibility::Private).await;
    server.repo("alice/open", Visibility::Public).await;
    server.repo("bob/notes", Visibility::Private).await;
    let s3 = gateway(&server).await;
    let folder = tempfile::tempdir().unwrap();
    client(
        &s3,
        Some(&alice),
        &["roundtrip", "alice.survey", folder.path().to_str().unwrap()],
    )
    .await;
    for key in ["main/data/a.csv"] {
        let mut cmd = Command::new(python_tool("python"));
        cmd.args([
            "-c",
            &format!(
                "import boto3\nboto3.client('s3', endpoint_url='{s3}', region_name='us-east-1').put_object(Bucket='alice.open', Key='{key}', Body=b'id\\n1\\n')"
            ),
        ]);
        with_token(&mut cmd, &s3, Some(&alice));
        tokio::task::spawn_blocking(move || run(&mut cmd))
            .await
            .unwrap();
    }

    // A stranger: alice's private dataset is not there for them; their own is.
    let v = client(&s3, Some(&bob), &["hostile", "alice.survey", "bob.notes"]).await;
    for op in ["put", "delete", "multipart", "read"] {
        assert_eq!(v[op], "NoSuchBucket 404", "{op}: {v}");
    }
    assert_eq!(v["other"], Value::Null, "{v}");
    assert_eq!(v["no_bucket"], "NoSuchBucket 404");
    assert_eq!(v["buckets"], serde_json::json!(["alice.open", "bob.notes"]));

    // A read-only token of alice's: reads, never writes; an objects-only token reaches no
    // dataset; a token for another dataset sees no other.
    let read_only = strata::cli::admin::create_token(
        &server.state,
        "alice",
        "ro",
        "dataset:alice/survey:read",
        None,
    )
    .await
    .unwrap();
    let v = client(
        &s3,
        Some(&read_only),
        &["hostile", "alice.survey", "alice.open"],
    )
    .await;
    for op in ["put", "delete", "multipart"] {
        assert_eq!(v[op], "AccessDenied 403", "{op}: {v}");
    }
    assert_eq!(v["read"], Value::Null, "{v}");
    assert_eq!(v["no_ref"], "NoSuchKey 404");
    assert!(
        v["dotdot"].as_str().unwrap().starts_with("InvalidArgument"),
        "{v}"
    );
    let objects_only = strata::cli::admin::create_token(
        &server.state,
        "alice",
        "obj",
        "obj:alice/survey:read",
        None,
    )
    .await
    .unwrap();
    let v = client(
        &s3,
        Some(&objects_only),
        &["hostile", "alice.survey", "alice.open"],
    )
    .await;
    assert_eq!(v["read"], "AccessDenied 403", "{v}");
    assert_eq!(v["put"], "AccessDenied 403", "{v}");

    // Unsigned: public datasets read, nothing written, private ones not there.
    let v = client(&s3, None, &["read", "alice.open", "main/data/a.csv"]).await;
    assert_eq!(v["hex"], hex::encode("id\n1\n"));
    let v = client(&s3, None, &["hostile", "alice.open", "alice.survey"]).await;
    assert_eq!(v["put"], "AccessDenied 403", "{v}");
    assert_eq!(v["other"], "AccessDenied 403", "{v}");
    assert_eq!(v["buckets"], serde_json::json!(["alice.open"]));

    // A presigned URL is good for its key only: moved to another key, or with its signature
    // changed, or after its token is revoked, it is refused (with a request id).
    let mut cmd = Command::new(python_tool("python"));
    cmd.args([
        "-c",
        &format!(
            "import boto3\nprint(boto3.client('s3', endpoint_url='{s3}', region_name='us-east-1').generate_presigned_url('get_object', Params={{'Bucket': 'alice.survey', 'Key': 'main/data/a.csv'}}, ExpiresIn=300))"
        ),
    ]);
    with_token(&mut cmd, &s3, Some(&alice));
    let url = tokio::task::spawn_blocking(move || run(&mut cmd))
        .await
        .unwrap()
        .trim()
        .to_owned();
    let http = reqwest::Client::new();
    assert_eq!(http.get(&url).send().await.unwrap().status(), 200);
    let moved = url.replace("/main/data/a.csv", "/main/data/blob.bin");
    let (status, code, _) = refused(http.get(&moved).send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (403, "SignatureDoesNotMatch"));
    let other_bucket = url.replace("/alice.survey/", "/alice.open/");
    let (status, code, _) = refused(http.get(&other_bucket).send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (403, "SignatureDoesNotMatch"));
    // A token nobody made (a random id), and one made before ids were derived.
    let (status, code, _) = refused(
        http.get(url.replace(&alice[..20], "stp_0123456789abcdef"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code.as_str()), (403, "InvalidAccessKeyId"));
    strata::cli::admin::revoke_token(&server.state, "alice", "test")
        .await
        .unwrap();
    let (status, code, _) = refused(http.get(&url).send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (403, "InvalidAccessKeyId"));
    // A date that is not one (the signature's, in a header or a presigned URL's query) is
    // refused as S3 refuses it; the gateway goes on (fuzz/regressions/s3_sigv4).
    let dated = format!(
        "{s3}/alice.survey/main/data/a.csv?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=\
         {}%2F20261126%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=%24261126T120000Z&\
         X-Amz-Expires=300&X-Amz-SignedHeaders=host&X-Amz-Signature={}",
        &alice[..20],
        "ab".repeat(32)
    );
    let (status, code, _) = refused(http.get(&dated).send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (400, "InvalidRequest"));
    let (status, code, _) = refused(
        http.get(format!("{s3}/alice.survey/main/data/a.csv"))
            .header("x-amz-date", "2$261126T120000Z")
            .header(
                "authorization",
                format!(
                    "AWS4-HMAC-SHA256 Credential={}/20261126/us-east-1/s3/aws4_request, \
                     SignedHeaders=host;x-amz-date, Signature={}",
                    &alice[..20],
                    "ab".repeat(32)
                ),
            )
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code.as_str()), (400, "InvalidRequest"));
    // Not S3 at all: the landing page of the gateway is S3's error, not strata's HTML.
    let (status, code, _) = refused(
        http.put(format!("{s3}/alice.survey/main/x"))
            .header("authorization", "Bearer nonsense")
            .body("x")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status / 100, 4, "{code}");
    // A browser form upload (POST Object) is refused before its body is read.
    let form = reqwest::multipart::Form::new()
        .text("key", "main/evil.txt")
        .part("file", reqwest::multipart::Part::bytes(vec![0u8; 1 << 20]));
    let (status, code, _) = refused(
        http.post(format!("{s3}/alice.open"))
            .multipart(form)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code.as_str()), (501, "NotImplemented"));

    // A bucket name is one dataset's: bob's `bob/x.y` takes `bob.x.y`, so nobody can make
    // `bob.x/y` (it would answer to the same bucket).
    let api = format!("{}/api/v1/datasets", server.url);
    let made = http
        .post(&api)
        .bearer_auth(&bob)
        .json(&serde_json::json!({"namespace": "bob", "name": "x.y", "visibility": "private"}))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 201);
    let squatter = server.user("bob.x").await;
    let (status, headers, v) = body(
        http.post(&api)
            .bearer_auth(&squatter)
            .json(&serde_json::json!({"namespace": "bob.x", "name": "y", "visibility": "public"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error_body(status, &headers, &v, 409);
    assert!(v["message"].as_str().unwrap().contains("bucket"), "{v}");
}
