//! The S3 gateway with Debian's S3 tools (`rclone`, `s3cmd`: `scripts/test.sh` installs them; a
//! test fails, never skips, without them) and the details they check: `CreateBucket` (rclone
//! makes the bucket before an upload it listed nothing for), ETags that are S3's MD5s (s3cmd and
//! rclone verify them; boto3 sees them from every call), puts of the bytes a key holds making
//! no commit (`rclone sync` again), and reads that never serve active content inline
//! (`response-*` overrides on signed requests only; bytes confined as the main port's are).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};
use strata_core::db::Visibility;

use super::s3::{client, gateway, with_token};
use crate::common::*;

/// A tool from Debian's packages, which these tests need.
fn debian_tool(name: &str) -> PathBuf {
    let path = PathBuf::from("/usr/bin").join(name);
    assert!(
        path.exists(),
        "{name} is not installed: run scripts/test.sh, which installs it, or apt-get install {name}"
    );
    path
}

/// Runs `cmd` off the async workers; it must succeed. Its output.
async fn run_off(mut cmd: Command) -> String {
    tokio::task::spawn_blocking(move || run(&mut cmd))
        .await
        .unwrap()
}

/// rclone with an S3 remote `strata:` on the gateway, its settings S3's defaults (no
/// `no_check_bucket`), as `token`; its output.
async fn rclone(home: &Path, endpoint: &str, token: &str, args: &[&str]) -> String {
    let mut cmd = Command::new(debian_tool("rclone"));
    cmd.arg("--config")
        .arg(home.join("rclone.conf"))
        .args(args)
        .env("HOME", home)
        // A CA bundle (this machine sets one) makes rclone 1.60's S3 backend fail to start,
        // and the gateway here is plain HTTP.
        .env_remove("AWS_CA_BUNDLE")
        .env("RCLONE_CONFIG_STRATA_TYPE", "s3")
        .env("RCLONE_CONFIG_STRATA_PROVIDER", "Other")
        .env("RCLONE_CONFIG_STRATA_ACCESS_KEY_ID", &token[..20])
        .env("RCLONE_CONFIG_STRATA_SECRET_ACCESS_KEY", token)
        .env("RCLONE_CONFIG_STRATA_ENDPOINT", endpoint);
    run_off(cmd).await
}

/// s3cmd configured for the gateway (path-style, SigV4), as `token`; its output.
async fn s3cmd(home: &Path, endpoint: &str, token: &str, args: &[&str]) -> String {
    let host = endpoint.trim_start_matches("http://");
    let config = home.join("s3cfg");
    std::fs::write(
        &config,
        format!(
            "[default]\naccess_key = {}\nsecret_key = {token}\nhost_base = {host}\n\
             host_bucket = {host}\nuse_https = False\nsignature_v2 = False\n\
             bucket_location = us-east-1\n",
            &token[..20]
        ),
    )
    .unwrap();
    let mut cmd = Command::new(debian_tool("s3cmd"));
    cmd.arg("-c").arg(&config).args(args).env("HOME", home);
    run_off(cmd).await
}

/// The REST API's answer to GET `path` as `token`.
async fn rest(server: &TestServer, token: &str, path: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{}/api/v1/datasets/{path}", server.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rclone_makes_buckets_and_syncs_nothing_twice() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    server.repo("alice/survey", Visibility::Private).await;
    server.repo("alice/open", Visibility::Public).await;
    let s3 = gateway(&server).await;
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    std::fs::write(home.join("rclone.conf"), "").unwrap();
    let up = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(up.path().join("sub")).unwrap();
    let blob: Vec<u8> = (0..300_000u32).map(|i| (i * 31 % 251) as u8).collect();
    std::fs::write(up.path().join("blob.bin"), &blob).unwrap();
    std::fs::write(up.path().join("notes.txt"), "kept in git\n").unwrap();
    std::fs::write(up.path().join("sub/a.csv"), "id,v\n1,a\n2,b\n").unwrap();
    let dir = up.path().to_str().unwrap();

    // A bucket nobody made: a new private dataset of alice's.
    rclone(home, &s3, &alice, &["mkdir", "strata:alice.fresh"]).await;
    let fresh = rest(&server, &alice, "alice/fresh").await;
    assert_eq!(fresh.status(), 200);
    let fresh: Value = fresh.json().await.unwrap();
    assert_eq!(fresh["visibility"], "private", "{fresh}");
    // Uploads with no listing before them: rclone asks to make the bucket first, which exists
    // (an empty one, and one with a commit).
    for target in ["strata:alice.fresh/main/up", "strata:alice.survey/main/up"] {
        rclone(home, &s3, &alice, &["copy", "--no-traverse", dir, target]).await;
    }
    let raw = rest(&server, &alice, "alice/survey/raw/up/blob.bin").await;
    assert_eq!(raw.bytes().await.unwrap().as_ref(), blob.as_slice());
    // Every file's hash checks: the ETags are MD5s.
    let checked = rclone(
        home,
        &s3,
        &alice,
        &["check", dir, "strata:alice.survey/main/up"],
    )
    .await;
    assert!(checked.contains("0 differences found"), "{checked}");
    assert!(!checked.contains("could not be checked"), "{checked}");

    // Nothing changed: sync and copy again make no commit.
    let before = server.head(&alice, "alice/survey").await;
    for verb in ["sync", "copy"] {
        rclone(
            home,
            &s3,
            &alice,
            &[verb, dir, "strata:alice.survey/main/up"],
        )
        .await;
        assert_eq!(server.head(&alice, "alice/survey").await, before, "{verb}");
    }
    // A change is a commit.
    std::fs::write(up.path().join("notes.txt"), "changed\n").unwrap();
    rclone(
        home,
        &s3,
        &alice,
        &["sync", dir, "strata:alice.survey/main/up"],
    )
    .await;
    assert_ne!(server.head(&alice, "alice/survey").await, before);
    let raw = rest(&server, &alice, "alice/survey/raw/up/notes.txt").await;
    assert_eq!(raw.text().await.unwrap(), "changed\n");

    // CreateBucket as S3 answers it: the caller's own, another's, a namespace not theirs or not
    // there, an unsigned caller.
    let made = |token: Option<&str>, bucket: &str| {
        let (s3, token, bucket) = (s3.clone(), token.map(str::to_owned), bucket.to_owned());
        async move { client(&s3, token.as_deref(), &["mkbucket", &bucket]).await["code"].clone() }
    };
    let (alice, bob) = (Some(alice.as_str()), Some(bob.as_str()));
    assert_eq!(
        made(alice, "alice.open").await,
        "BucketAlreadyOwnedByYou 409"
    );
    assert_eq!(made(bob, "alice.open").await, "BucketAlreadyExists 409");
    // Not told that a dataset it may not see exists.
    assert_eq!(made(bob, "alice.survey").await, "AccessDenied 403");
    assert_eq!(made(bob, "alice.new").await, "AccessDenied 403");
    assert_eq!(made(bob, "nobody.new").await, "InvalidBucketName 400");
    assert_eq!(made(None, "bob.new").await, "AccessDenied 403");
    assert_eq!(made(bob, "bob.new").await, Value::Null);
    assert_eq!(rest(&server, bob.unwrap(), "bob/new").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3cmd_puts_and_gets_with_matching_md5s() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    server.repo("alice/survey", Visibility::Private).await;
    let s3 = gateway(&server).await;
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let files: Vec<(&str, Vec<u8>)> = vec![
        (
            "small.bin",
            (0..100_000u32).map(|i| (i * 7 % 253) as u8).collect(),
        ),
        // More than one 5 MiB part.
        (
            "big.bin",
            (0..(7u32 << 20)).map(|i| (i * 13 % 241) as u8).collect(),
        ),
        ("notes.md", b"# Notes\nkept in git\n".to_vec()),
    ];
    for (name, data) in &files {
        let local = home.join(name);
        std::fs::write(&local, data).unwrap();
        let url = format!("s3://alice.survey/main/s3cmd/{name}");
        // (`--progress`: the parts' labels show even though the output is no terminal.)
        let put = s3cmd(
            home,
            &s3,
            &alice,
            &[
                "put",
                "--progress",
                "--multipart-chunk-size-mb=5",
                local.to_str().unwrap(),
                &url,
            ],
        )
        .await;
        assert!(!put.contains("MD5"), "{put}");
        if *name == "big.bin" {
            assert!(put.contains("part 2 of 2"), "{put}");
            // S3's ETag of two parts (s3cmd's `MD5 sum` shows it: it keeps no MD5 of its own
            // where strata keeps no metadata).
            let info = s3cmd(home, &s3, &alice, &["info", &url]).await;
            let sum = info.lines().find(|l| l.contains("MD5 sum:")).unwrap_or("");
            assert!(sum.trim_end().ends_with("-2"), "{info}");
        }
        let back = home.join(format!("back-{name}"));
        let got = s3cmd(
            home,
            &s3,
            &alice,
            &["get", "--force", &url, back.to_str().unwrap()],
        )
        .await;
        assert!(!got.contains("MD5"), "{got}");
        assert_eq!(&std::fs::read(&back).unwrap(), data, "{name}");
    }

    // An object stored by git-lfs has no MD5 strata knows: its ETag is none (and says so), and
    // s3cmd reads it without a warning.
    let api = format!("{}/api/v1/datasets", server.url);
    let http = reqwest::Client::new();
    let r = http
        .post(&api)
        .bearer_auth(&alice)
        .json(&json!({"namespace": "alice", "name": "lfs", "visibility": "public"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let data = b"pushed with git-lfs, not through S3\n".repeat(1000);
    let oid = upload(&server, "alice/lfs", &alice, &data).await;
    let head: Value = rest(&server, &alice, "alice/lfs")
        .await
        .json()
        .await
        .unwrap();
    let resource = json!({"name": "pushed", "path": "data/pushed.bin", "bytes": data.len(),
        "hash": format!("sha256:{oid}")});
    let r = http
        .put(format!("{api}/alice/lfs"))
        .bearer_auth(&alice)
        .json(
            &json!({"datapackage": {"name": "lfs", "resources": [resource]},
            "parent": head["revision"]["id"]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let etag = http
        .head(format!("{s3}/alice.lfs/main/data/pushed.bin"))
        .send()
        .await
        .unwrap()
        .headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(etag, format!("\"{oid}-1\""));
    let back = home.join("back-pushed.bin");
    let got = s3cmd(
        home,
        &s3,
        &alice,
        &[
            "get",
            "--force",
            "s3://alice.lfs/main/data/pushed.bin",
            back.to_str().unwrap(),
        ],
    )
    .await;
    assert!(!got.contains("MD5"), "{got}");
    assert_eq!(std::fs::read(&back).unwrap(), data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_etags_are_md5s_and_unchanged_puts_make_no_commit() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    server.repo("alice/survey", Visibility::Private).await;
    let s3 = gateway(&server).await;
    // The checks of ETag against MD5 are the script's asserts.
    let v = client(&s3, Some(&alice), &["etags", "alice.survey"]).await;
    assert_eq!(v["if_none_match"], "304 304");
    assert_eq!(v["if_none_match_parts"], "304 304");
    assert_eq!(v["if_match_sha256"], "PreconditionFailed 412");
    assert_eq!(v["put_if_match"], Value::Null);
    // The same bytes again, whole, in parts and copied onto themselves: the same ETags, no
    // commit.
    let before = server.head(&alice, "alice/survey").await;
    assert!(before.is_some());
    let again = client(&s3, Some(&alice), &["again", "alice.survey"]).await;
    for k in ["one", "readme", "parts"] {
        assert_eq!(again[k], v[k], "{k}");
    }
    assert_eq!(again["copy"], v["one"]);
    assert_eq!(server.head(&alice, "alice/survey").await, before);
    // Each answered with the revision the branch is at.
    assert_eq!(again["revisions"], json!([before]));
}

/// Puts `body` at `key` of `bucket` with boto3 as `token`.
async fn put(s3: &str, token: &str, bucket: &str, key: &str, body: &str) {
    let mut cmd = Command::new(python_tool("python"));
    cmd.args([
        "-c",
        "import boto3, os, sys\nboto3.client('s3', endpoint_url=os.environ['S3_ENDPOINT'], \
         region_name='us-east-1').put_object(Bucket=sys.argv[1], Key=sys.argv[2], \
         Body=sys.argv[3].encode())",
        bucket,
        key,
        body,
    ]);
    with_token(&mut cmd, s3, Some(token));
    run_off(cmd).await;
}

/// A header of `r` as text ("" when absent).
fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_serves_no_active_content_inline() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    server.repo("alice/open", Visibility::Public).await;
    let s3 = gateway(&server).await;
    let script = "<script>document.cookie</script>";
    put(
        &s3,
        &alice,
        "alice.open",
        "main/readme.md",
        &format!("# Hi\n{script}\n"),
    )
    .await;
    put(&s3, &alice, "alice.open", "main/page.html", script).await;
    put(
        &s3,
        &alice,
        "alice.open",
        "main/pic.svg",
        &format!("<svg xmlns=\"http://www.w3.org/2000/svg\">{script}</svg>"),
    )
    .await;
    let http = reqwest::Client::new();

    // Unsigned: overrides are refused, as S3 refuses them.
    for query in [
        "response-content-type=text%2Fhtml",
        "response-content-disposition=inline",
    ] {
        let r = http
            .get(format!("{s3}/alice.open/main/readme.md?{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{query}");
        assert!(!header(&r, "content-type").contains("html"), "{query}");
        let text = r.text().await.unwrap();
        assert!(text.contains("<Code>InvalidRequest</Code>"), "{text}");
    }
    // Unsigned reads: no active type, nothing sniffed, sandboxed.
    for key in ["readme.md", "page.html", "pic.svg"] {
        let r = http
            .get(format!("{s3}/alice.open/main/{key}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{key}");
        let shown = header(&r, "content-type");
        assert!(
            !shown.contains("html") && !shown.contains("svg"),
            "{key}: {shown}"
        );
        assert_eq!(header(&r, "x-content-type-options"), "nosniff", "{key}");
        assert_eq!(header(&r, "content-security-policy"), "sandbox", "{key}");
    }
    // Signed (a presigned URL): honoured, and an active type is an attachment all the same.
    let presigned = |key: &str, params: Value| {
        let (s3, alice, key) = (s3.clone(), alice.clone(), key.to_owned());
        async move {
            let v = client(
                &s3,
                Some(&alice),
                &["presign", "alice.open", &key, &params.to_string()],
            )
            .await;
            reqwest::get(v["url"].as_str().unwrap()).await.unwrap()
        }
    };
    let r = presigned(
        "main/readme.md",
        json!({"ResponseContentType": "text/html", "ResponseContentDisposition": "inline"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), "text/html");
    assert!(
        header(&r, "content-disposition").starts_with("attachment"),
        "{r:?}"
    );
    assert_eq!(header(&r, "content-security-policy"), "sandbox");
    assert_eq!(header(&r, "x-content-type-options"), "nosniff");
    let r = presigned(
        "main/pic.svg",
        json!({"ResponseContentType": "image/svg+xml"}),
    )
    .await;
    assert!(
        header(&r, "content-disposition").starts_with("attachment"),
        "{r:?}"
    );
    let r = presigned(
        "main/readme.md",
        json!({"ResponseContentType": "text/plain", "ResponseContentDisposition": "inline"}),
    )
    .await;
    assert_eq!(header(&r, "content-type"), "text/plain");
    assert_eq!(header(&r, "content-disposition"), "inline");

    // The main port's downloads keep the same rule.
    let r = rest(&server, &alice, "alice/open/raw/page.html").await;
    assert_eq!(r.status(), 200);
    assert!(header(&r, "content-disposition").starts_with("attachment"));
    assert_eq!(header(&r, "content-security-policy"), "sandbox");
    assert_eq!(header(&r, "x-content-type-options"), "nosniff");
}
