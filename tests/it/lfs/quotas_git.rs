//! Bytes kept in git count toward a namespace's quota as LFS objects do. With a 1 MiB quota, a
//! REST commit of a 2 MiB plain file, a Hugging Face Hub commit of eight 250 KiB inline files and
//! a push of a 2 MiB plain file are refused (507; the push with a message) and leave nothing
//! counted; smaller ones pass and count, per namespace and per dataset; a commit that brings
//! nothing new adds nothing.

use serde_json::{json, Value};
use strata_core::db::Visibility;

use crate::access::gates::try_run;
use crate::common::*;

const KIB: usize = 1024;

/// POSTs an NDJSON commit (a header naming alice/g's head as the parent, then `files` as
/// inline `file` lines) to `url`.
async fn commit(
    server: &TestServer,
    url: &str,
    token: &str,
    files: &[(String, usize, u8)],
) -> (u16, Value) {
    let parent = server.head(token, "alice/g").await;
    let mut lines =
        vec![json!({"key": "header", "value": {"summary": "files", "parent": parent}}).to_string()];
    for (path, size, byte) in files {
        let content = String::from_utf8(vec![*byte; *size]).unwrap();
        lines.push(json!({"key": "file", "value": {"path": path, "content": content}}).to_string());
    }
    let r = client()
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/x-ndjson")
        .body(lines.join("\n"))
        .send()
        .await
        .unwrap();
    let (status, _, v) = body(r).await;
    (status, v)
}

async fn used(server: &TestServer, token: &str) -> Value {
    let r = client()
        .get(format!("{}/api/v1/namespaces/alice/usage", server.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let (status, _, v) = body(r).await;
    assert_eq!(status, 200, "{v}");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_kept_in_git_count_and_are_refused_past_the_quota() {
    let server = TestServer::start_with(Backend::Local, |c| c.quota_bytes = 1 << 20).await;
    let alice = server.user("alice").await;
    server.repo("alice/g", Visibility::Private).await;
    let rest = format!("{}/api/v1/datasets/alice/g/commit", server.url);
    let hub = format!("{}/api/datasets/alice/g/commit/main", server.url);

    // A first revision, of an empty file.
    let (status, v) = commit(&server, &rest, &alice, &[("README.md".into(), 0, b'r')]).await;
    assert_eq!(status, 200, "{v}");
    // Past the quota: a REST commit's 2 MiB file, a Hub commit's eight 250 KiB files.
    let (status, v) = commit(
        &server,
        &rest,
        &alice,
        &[("big.txt".into(), 2048 * KIB, b'y')],
    )
    .await;
    assert_eq!(status, 507, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("over its storage quota"),
        "{v}"
    );
    let eight: Vec<(String, usize, u8)> = (0..8u8)
        .map(|i| (format!("part{i}.txt"), 250 * KIB, b'a' + i))
        .collect();
    let (status, v) = commit(&server, &hub, &alice, &eight).await;
    assert_eq!(status, 507, "{v}");
    assert_eq!(used(&server, &alice).await["used"], 0);

    // Within it: counted, per dataset too; the same content again adds nothing.
    let (status, v) = commit(
        &server,
        &rest,
        &alice,
        &[("notes.txt".into(), 100 * KIB, b'n')],
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = commit(&server, &hub, &alice, &[("hub.txt".into(), 50 * KIB, b'h')]).await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = commit(
        &server,
        &rest,
        &alice,
        &[("notes.txt".into(), 100 * KIB, b'n')],
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let u = used(&server, &alice).await;
    assert_eq!(u["used"], 150 * KIB, "{u}");
    assert_eq!(u["datasets"][0], json!(["g", 150 * KIB]), "{u}");

    // A push: a 2 MiB plain file is refused with a message, a 10 KiB one passes and counts.
    let home = server.dir.path().join("home");
    setup_home(&home, &server.url, &alice);
    run(git(&home, &home).args(["clone", "-q", &format!("{}/alice/g.git", server.url), "g"]));
    let work = home.join("g");
    std::fs::write(work.join("pushed-big.txt"), vec![b'p'; 2048 * KIB]).unwrap();
    run(git(&home, &work).args(["add", "pushed-big.txt"]));
    run(git(&home, &work).args(["commit", "-qm", "big"]));
    let (ok, out) = try_run(git(&home, &work).args(["push", "origin", "main"]));
    assert!(!ok, "the push passed:\n{out}");
    assert!(
        out.contains("over its storage quota") && out.contains("git lfs"),
        "{out}"
    );
    assert_eq!(used(&server, &alice).await["used"], 150 * KIB);
    run(git(&home, &work).args(["reset", "-q", "--hard", "HEAD~1"]));
    std::fs::write(work.join("pushed.txt"), vec![b'q'; 10 * KIB]).unwrap();
    run(git(&home, &work).args(["add", "pushed.txt"]));
    run(git(&home, &work).args(["commit", "-qm", "small"]));
    run(git(&home, &work).args(["push", "-q", "origin", "main"]));
    let u = used(&server, &alice).await;
    assert_eq!(u["used"], 160 * KIB, "{u}");
    // What is left of the quota bounds the next commit: 900 KiB more do not fit.
    let (status, v) = commit(
        &server,
        &rest,
        &alice,
        &[("more.txt".into(), 900 * KIB, b'm')],
    )
    .await;
    assert_eq!(status, 507, "{v}");
}
