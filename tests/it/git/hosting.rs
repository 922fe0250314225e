//! git hosting end to end with the stock `git` and `git-lfs`: files uploaded through the batch API
//! and committed through REST come back byte-identical through `git clone` + `git lfs pull`; a
//! `git push` shows up in the REST revision list, and a REST commit is what the next `git pull`
//! brings; renamed, the old address keeps working for git and git-lfs. Permissions are the same
//! as everywhere else.

use crate::common;
use crate::common::*;
use serde_json::{json, Value};
use strata_core::db::Visibility;

async fn rest(
    server: &TestServer,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let mut req = client()
        .request(method, format!("{}/api/v1/datasets{path}", server.url))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let (status, _, v) = common::body(req.send().await.unwrap()).await;
    assert!(status < 300, "{path}: {status} {v}");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_and_git_see_the_same_history() {
    let server = TestServer::start().await;
    let token = server.user("alice").await;
    rest(
        &server,
        &token,
        reqwest::Method::POST,
        "",
        Some(json!({"namespace": "alice", "name": "survey"})),
    )
    .await;
    let mut data = b"id,value\n".to_vec();
    for i in 0..20_000u32 {
        data.extend(format!("{i},{}\n", i * 7 % 1000).as_bytes());
    }
    upload(&server, "alice/survey", &token, &data).await;
    let first = rest(&server, &token, reqwest::Method::GET, "/alice/survey", None).await;
    let parent = first["revision"]["id"].as_str().unwrap().to_owned();
    let pkg = json!({"name": "survey", "resources": [{
        "name": "samples", "path": "data/samples.csv", "bytes": data.len(),
        "hash": format!("sha256:{}", sha256_hex(&data)),
        "format": "csv", "mediatype": "text/csv",
        "schema": {"fields": [{"name": "id", "type": "integer"}, {"name": "value", "type": "integer"}]},
    }]});
    rest(
        &server,
        &token,
        reqwest::Method::PUT,
        "/alice/survey",
        Some(json!({"datapackage": pkg, "parent": parent})),
    )
    .await;

    let root = server.dir.path().to_owned();
    let url = server.url.clone();
    let want = data.clone();
    let pushed = tokio::task::spawn_blocking(move || {
        let home = root.join("home");
        setup_home(&home, &url, &token);
        let clone = root.join("clone");
        // Plain clone: the repository's .gitattributes and .lfsconfig are all git-lfs needs.
        run(git(&home, &root).args([
            "clone",
            "-q",
            &format!("{url}/alice/survey.git"),
            clone.to_str().unwrap(),
        ]));
        let got = std::fs::read(clone.join("data/samples.csv")).unwrap();
        assert!(got == want, "the LFS file came back different");
        run(git(&home, &clone).args(["lfs", "pull"]));
        let ls = run(git(&home, &clone).args(["lfs", "ls-files"]));
        assert!(ls.contains("data/samples.csv"), "{ls}");
        // The datapackage strata wrote, checked by the Frictionless reference validator against
        // the real files: descriptor, sizes, sha256 hashes and the table schema.
        let report = std::process::Command::new(python_tool("frictionless"))
            .args(["validate", "--json", "datapackage.json"])
            .current_dir(&clone)
            .output()
            .unwrap();
        let report: Value = serde_json::from_slice(&report.stdout).unwrap_or_else(|e| {
            panic!(
                "frictionless: {e}: {}",
                String::from_utf8_lossy(&report.stderr)
            )
        });
        assert_eq!(report["valid"], true, "{report:#}");

        // A push over HTTP.
        std::fs::write(clone.join("README.md"), "pushed with git\n").unwrap();
        run(git(&home, &clone).args(["add", "README.md"]));
        run(git(&home, &clone).args(["commit", "-q", "-m", "readme from git"]));
        run(git(&home, &clone).args(["push", "-q", "origin", "main"]));

        // A new LFS file: git-lfs uploads the object before the push, so the hook lets it in.
        run(git(&home, &clone).args(["lfs", "track", "*.bin"]));
        std::fs::write(clone.join("new.bin"), vec![7u8; 50_000]).unwrap();
        run(git(&home, &clone).args(["add", ".gitattributes", "new.bin"]));
        run(git(&home, &clone).args(["commit", "-q", "-m", "an LFS file from git"]));
        run(git(&home, &clone).args(["push", "-q", "origin", "main"]));
        // A pointer to bytes that were never uploaded is refused, and the branch stays put.
        let fake = strata_lfs::pointer::Pointer {
            oid: strata_lfs::Oid::of(b"never uploaded"),
            size: 14,
        };
        std::fs::write(clone.join("fake.dat"), fake.encode()).unwrap();
        run(git(&home, &clone).args(["add", "fake.dat"]));
        run(git(&home, &clone).args(["commit", "-q", "-m", "dangling pointer"]));
        let push = git(&home, &clone)
            // --no-verify: skip git-lfs's own client-side check, as a careless client would.
            .args(["push", "--no-verify", "origin", "main"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&push.stderr);
        assert!(!push.status.success(), "{stderr}");
        assert!(
            stderr.contains("never uploaded"),
            "STDERR: {stderr} STDOUT: {}",
            String::from_utf8_lossy(&push.stdout)
        );
        run(git(&home, &clone).args(["reset", "-q", "--hard", "HEAD~1"]));
        let head = run(git(&home, &clone).args(["rev-parse", "HEAD"]));
        (clone, home, head.trim().to_owned())
    })
    .await
    .unwrap();
    let (clone, home, head) = pushed;

    // The push is in the REST history, and REST commits build on it.
    let token = strata::cli::admin::create_token(&server.state, "alice", "second", "*", None)
        .await
        .unwrap();
    let v = rest(
        &server,
        &token,
        reqwest::Method::GET,
        "/alice/survey/revisions",
        None,
    )
    .await;
    assert_eq!(v["revisions"][0]["id"], head.as_str());
    assert_eq!(v["revisions"][0]["message"], "an LFS file from git\n");
    let extra = b"id\n1\n2\n3\n".to_vec();
    upload(&server, "alice/survey", &token, &extra).await;
    let ndjson = [
        json!({"key": "header", "value": {"summary": "notes from REST", "parent": head}}),
        json!({"key": "file", "value": {"path": "NOTES.md", "content": "from the API\n"}}),
        json!({"key": "lfsFile", "value": {"path": "extra/more data.csv", "oid": sha256_hex(&extra), "size": extra.len()}}),
    ]
    .iter()
    .map(Value::to_string)
    .collect::<Vec<_>>()
    .join("\n");
    let resp = client()
        .post(format!(
            "{}/api/v1/datasets/alice/survey/commit",
            server.url
        ))
        .bearer_auth(&token)
        .body(ndjson)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let pulled = tokio::task::spawn_blocking(move || {
        run(git(&home, &clone).args(["pull", "-q", "origin", "main"]));
        let notes = std::fs::read_to_string(clone.join("NOTES.md")).unwrap();
        assert_eq!(notes, "from the API\n");
        // An LFS file committed through the API is smudged like the others.
        let got = std::fs::read(clone.join("extra/more data.csv")).unwrap();
        assert_eq!(got, extra);
        (clone, home)
    })
    .await
    .unwrap();
    let (clone, home) = pulled;

    // Renamed: the clone's remote and its .lfsconfig still name alice/survey, and git and
    // git-lfs follow the redirects to alice/study for a push of a new LFS file and a new clone.
    rest(
        &server,
        &token,
        reqwest::Method::POST,
        "/alice/survey/rename",
        Some(json!({"name": "study"})),
    )
    .await;
    let root = server.dir.path().to_owned();
    let url = server.url.clone();
    let pushed = tokio::task::spawn_blocking(move || {
        std::fs::write(clone.join("after.bin"), vec![9u8; 40_000]).unwrap();
        run(git(&home, &clone).args(["add", "after.bin"]));
        run(git(&home, &clone).args(["commit", "-q", "-m", "after the rename"]));
        run(git(&home, &clone).args(["push", "-q", "origin", "main"]));
        let again = root.join("again");
        run(git(&home, &root).args([
            "clone",
            "-q",
            &format!("{url}/alice/survey.git"),
            again.to_str().unwrap(),
        ]));
        assert_eq!(
            std::fs::read(again.join("after.bin")).unwrap(),
            vec![9u8; 40_000]
        );
        run(git(&home, &clone).args(["rev-parse", "HEAD"]))
            .trim()
            .to_owned()
    })
    .await
    .unwrap();
    let v = rest(
        &server,
        &token,
        reqwest::Method::GET,
        "/alice/study/revisions",
        None,
    )
    .await;
    assert_eq!(v["revisions"][0]["id"], pushed.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_over_http_checks_permissions() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    server.repo("alice/open", Visibility::Public).await;
    server.repo("alice/closed", Visibility::Private).await;
    for name in ["open", "closed"] {
        let v = rest(
            &server,
            &alice,
            reqwest::Method::GET,
            &format!("/alice/{name}"),
            None,
        )
        .await;
        assert!(v["revision"].is_null());
        let body = json!({"key": "header", "value": {"summary": "init"}}).to_string()
            + "\n"
            + &json!({"key": "file", "value": {"path": "README.md", "content": "hi"}}).to_string();
        let resp = client()
            .post(format!(
                "{}/api/v1/datasets/alice/{name}/commit",
                server.url
            ))
            .bearer_auth(&alice)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
    let root = server.dir.path().to_owned();
    let url = server.url.clone();
    tokio::task::spawn_blocking(move || {
        let clone = |home: &std::path::Path, repo: &str, dest: &str| {
            git(home, home)
                .args(["clone", "-q", &format!("{url}/alice/{repo}.git"), dest])
                .output()
                .unwrap()
        };
        // Anonymous: the public dataset clones, the private one asks for credentials (and fails).
        let anon = root.join("anon");
        std::fs::create_dir_all(&anon).unwrap();
        assert!(clone(&anon, "open", "o1").status.success());
        let out = clone(&anon, "closed", "c1");
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("terminal prompts disabled")
                || String::from_utf8_lossy(&out.stderr).contains("Authentication failed"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );

        // Bob can read the public dataset but not push to it, and cannot see the private one.
        let bob_home = root.join("bob");
        setup_home(&bob_home, &url, &bob);
        assert!(!clone(&bob_home, "closed", "c2").status.success());
        assert!(clone(&bob_home, "open", "o2").status.success());
        let work = bob_home.join("o2");
        std::fs::write(work.join("x.txt"), "bob").unwrap();
        run(git(&bob_home, &work).args(["add", "x.txt"]));
        run(git(&bob_home, &work).args(["commit", "-q", "-m", "bob"]));
        let push = git(&bob_home, &work)
            .args(["push", "-q", "origin", "main"])
            .output()
            .unwrap();
        assert!(!push.status.success(), "bob pushed to alice's dataset");
        assert!(
            String::from_utf8_lossy(&push.stderr).contains("403"),
            "{}",
            String::from_utf8_lossy(&push.stderr)
        );

        // Alice can.
        let alice_home = root.join("alice");
        setup_home(&alice_home, &url, &alice);
        assert!(clone(&alice_home, "closed", "c3").status.success());
        let work = alice_home.join("c3");
        std::fs::write(work.join("y.txt"), "alice").unwrap();
        run(git(&alice_home, &work).args(["add", "y.txt"]));
        run(git(&alice_home, &work).args(["commit", "-q", "-m", "alice"]));
        run(git(&alice_home, &work).args(["push", "-q", "origin", "main"]));
    })
    .await
    .unwrap();
    // The dumb protocol is not served.
    let dumb = client()
        .get(format!("{}/alice/open.git/info/refs", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(dumb.status(), 403);
}
