//! What every write path does with strata's own files, and with writes that change nothing:
//! `.lfsconfig` keeps pointing every clone's git-lfs at the dataset (REST and Hub commits that
//! repoint or delete it are refused, 403, and so are pushes, with the reason; its other settings
//! may change); a `datapackage.json` pushed without `bytes` and `hash` takes them from the LFS
//! pointers of its commit (given ones that disagree with the pointer are refused). A REST or Hub
//! commit that changes nothing (answering the current revision, adding none) is in the API tier,
//! `api/commits.rs`.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use strata_core::db::Visibility;

use crate::access::gates::try_run;
use crate::common::*;

/// POSTs an NDJSON commit (a header naming `repo`'s head as the parent, then `lines`) to `url`.
async fn ndjson(
    server: &TestServer,
    repo: &str,
    url: &str,
    token: &str,
    lines: &[Value],
) -> (u16, Value) {
    let parent = server.head(token, repo).await;
    let mut text =
        json!({"key": "header", "value": {"summary": "a write", "parent": parent}}).to_string();
    for line in lines {
        text.push('\n');
        text.push_str(&line.to_string());
    }
    let r = client()
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/x-ndjson")
        .body(text)
        .send()
        .await
        .unwrap();
    let (status, _, v) = body(r).await;
    (status, v)
}

/// Clones `repo` into `home/dir` with the stock clients.
fn clone(server: &TestServer, home: &Path, repo: &str, dir: &str) -> PathBuf {
    run(git(home, home).args(["clone", "-q", &format!("{}/{repo}.git", server.url), dir]));
    home.join(dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lfsconfig_keeps_pointing_at_the_dataset() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    server.repo("alice/c", Visibility::Private).await;
    let own = server.lfs_url("alice/c");
    let rest = format!("{}/api/v1/datasets/alice/c/commit", server.url);
    let hub = format!("{}/api/datasets/alice/c/commit/main", server.url);
    let evil = "[lfs]\n\turl = https://evil.example/lfs\n";
    let put = json!({"key": "file", "value": {"path": ".lfsconfig", "content": evil}});
    let delete = json!({"key": "deletedFile", "value": {"path": ".lfsconfig"}});
    // A first revision, with the `.lfsconfig` strata writes with a datapackage.
    let readme = json!({"key": "file", "value": {"path": "README.md", "content": "# c\n"}});
    let config = format!("[lfs]\n\turl = {own}\n");
    let config = json!({"key": "file", "value": {"path": ".lfsconfig", "content": config}});
    let (status, v) = ndjson(&server, "alice/c", &rest, &alice, &[readme, config]).await;
    assert_eq!(status, 200, "{v}");
    let head = server.head(&alice, "alice/c").await;
    // REST and Hub commits that repoint it or delete it: refused, with the reason.
    for (url, line) in [
        (&rest, &put),
        (&hub, &put),
        (&rest, &delete),
        (&hub, &delete),
    ] {
        let (status, v) = ndjson(&server, "alice/c", url, &alice, std::slice::from_ref(line)).await;
        assert_eq!(status, 403, "{url} {line}: {v}");
        assert!(
            v["message"]
                .as_str()
                .is_some_and(|m| m.contains(".lfsconfig is strata's")),
            "{v}"
        );
    }
    assert_eq!(server.head(&alice, "alice/c").await, head);
    // Its other settings may change.
    let more = format!("[lfs]\n\turl = {own}\n\tlocksverify = false\n");
    let line = json!({"key": "file", "value": {"path": ".lfsconfig", "content": more}});
    let (status, v) = ndjson(&server, "alice/c", &rest, &alice, &[line]).await;
    assert_eq!(status, 200, "{v}");

    // A push that repoints it, or removes it: refused with the reason, the branch left alone.
    let home = server.dir.path().join("home");
    setup_home(&home, &server.url, &alice);
    let work = clone(&server, &home, "alice/c", "c");
    let head = server.head(&alice, "alice/c").await;
    std::fs::write(work.join(".lfsconfig"), evil).unwrap();
    commit_all(&home, &work, "elsewhere");
    // --no-verify: git-lfs's own pre-push hook would go to the new URL.
    let (ok, out) = try_run(git(&home, &work).args(["push", "--no-verify", "origin", "main"]));
    assert!(!ok, "the push passed:\n{out}");
    assert!(out.contains(".lfsconfig is strata's"), "{out}");
    run(git(&home, &work).args(["reset", "-q", "--hard", "HEAD~1"]));
    run(git(&home, &work).args(["rm", "-q", ".lfsconfig"]));
    run(git(&home, &work).args(["commit", "-qm", "no config"]));
    let (ok, out) = try_run(git(&home, &work).args(["push", "--no-verify", "origin", "main"]));
    assert!(!ok, "the push passed:\n{out}");
    assert!(out.contains("removes it"), "{out}");
    assert_eq!(server.head(&alice, "alice/c").await, head);
    // A push that leaves it be passes.
    run(git(&home, &work).args(["reset", "-q", "--hard", "HEAD~1"]));
    std::fs::write(work.join("README.md"), "# c, pushed\n").unwrap();
    commit_all(&home, &work, "readme");
    run(git(&home, &work).args(["push", "-q", "origin", "main"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_datapackage_without_bytes_and_hash_takes_them_from_its_pointers() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    server.repo("alice/d", Visibility::Private).await;
    let home = server.dir.path().join("home");
    setup_home(&home, &server.url, &alice);
    let work = clone(&server, &home, "alice/d", "d");
    // A table through git-lfs, and the datapackage `frictionless describe` would write: no
    // `bytes`, no `hash`.
    let table = b"id,name\n1,ann\n2,bo\n".to_vec();
    run(git(&home, &work).args(["lfs", "track", "table.csv"]));
    std::fs::write(work.join("table.csv"), &table).unwrap();
    let package = json!({"name": "d", "resources": [{
        "name": "table", "path": "table.csv", "type": "table", "scheme": "file",
        "format": "csv", "mediatype": "text/csv", "encoding": "utf-8",
        "schema": {"fields": [{"name": "id", "type": "integer"}, {"name": "name", "type": "string"}]}
    }]});
    std::fs::write(
        work.join("datapackage.json"),
        serde_json::to_vec_pretty(&package).unwrap(),
    )
    .unwrap();
    commit_all(&home, &work, "described");
    run(git(&home, &work).args(["push", "-q", "origin", "main"]));
    let r = client()
        .get(format!("{}/api/v1/datasets/alice/d", server.url))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    let (status, _, v) = body(r).await;
    assert_eq!(status, 200, "{v}");
    let resource = &v["datapackage"]["resources"][0];
    assert_eq!(
        resource["hash"],
        format!("sha256:{}", sha256_hex(&table)),
        "{v}"
    );
    assert_eq!(resource["bytes"], table.len(), "{v}");
    // Given, they must be the pointer's: a wrong size is refused, naming the pointer.
    let mut wrong = package.clone();
    wrong["resources"][0]["hash"] = json!(format!("sha256:{}", sha256_hex(&table)));
    wrong["resources"][0]["bytes"] = json!(table.len() + 1);
    std::fs::write(
        work.join("datapackage.json"),
        serde_json::to_vec_pretty(&wrong).unwrap(),
    )
    .unwrap();
    commit_all(&home, &work, "wrong size");
    let (ok, out) = try_run(git(&home, &work).args(["push", "origin", "main"]));
    assert!(!ok, "the push passed:\n{out}");
    assert!(out.contains("the LFS pointer there"), "{out}");
}
