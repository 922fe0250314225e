//! Imports by reference, refused: by a stranger, from a source not open to the namespace or not
//! declared, with a prefix or folder that is no folder, while another runs; and imports that end
//! failed with nothing committed: a key a dataset cannot hold, an empty prefix, past the quota,
//! an object larger than the server takes.

use serde_json::json;

use super::{call, create, ended, source, start, API};
use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_and_failed_imports_change_nothing() {
    let bucket = tempfile::tempdir().unwrap();
    let b = bucket.path();
    for (path, data) in [
        ("ok/a.txt", &b"a"[..]),
        ("odd/datapackage.json", &b"{}"[..]),
        ("quota/q.bin", &[9u8; 3000][..]),
        ("empty/.keep", &b""[..]),
    ] {
        std::fs::create_dir_all(b.join(path).parent().unwrap()).unwrap();
        std::fs::write(b.join(path), data).unwrap();
    }
    std::fs::create_dir_all(b.join("slow")).unwrap();
    std::fs::write(b.join("slow/slow.bin"), vec![1u8; 48 << 20]).unwrap();
    // Larger than the server takes (sparse: never read).
    std::fs::create_dir_all(b.join("big")).unwrap();
    let large = std::fs::File::create(b.join("big/large.bin")).unwrap();
    large.set_len((64 << 20) + 1).unwrap();
    let sources = vec![source("lake", b, &["alice"]), source("closed", b, &[])];
    let server = TestServer::start_with(Backend::Local, |c| {
        c.import_sources = sources;
        c.max_object_size = 64 << 20;
        c.quota_bytes = 100_000_000;
    })
    .await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    create(&server, &alice, "alice", "data").await;
    let url = format!("{}{API}/alice/data/imports", server.url);
    let post = reqwest::Method::POST;
    let head = server.head(&alice, "alice/data").await;

    // A stranger sees no dataset; the refusals say why, with a request id.
    for (token, body, want, says) in [
        (&bob, json!({"source": "lake"}), 404, ""),
        (
            &alice,
            json!({"source": "closed"}),
            403,
            "not open to namespace",
        ),
        (&alice, json!({"source": "nope"}), 404, "no import source"),
        (
            &alice,
            json!({"source": "lake", "prefix": "../etc"}),
            422,
            "prefix",
        ),
        (
            &alice,
            json!({"source": "lake", "path": "a//b"}),
            422,
            "path",
        ),
        (
            &alice,
            json!({"source": "lake", "branch": "nowhere"}),
            404,
            "nowhere",
        ),
        (
            &alice,
            json!({"source": "lake", "message": ""}),
            422,
            "message",
        ),
    ] {
        let (s, v) = call(post.clone(), &url, token, Some(body.clone())).await;
        assert_eq!(s, want, "{body}: {v}");
        assert!(v["message"].as_str().unwrap().contains(says), "{body}: {v}");
        assert!(v["request_id"].is_string(), "{v}");
    }
    let (s, v) = call(
        post.clone(),
        &url,
        &alice,
        Some(json!({"source": "lake", "bucket": "x"})),
    )
    .await;
    assert!(s == 400 || s == 422, "{s} {v}");
    // The closed source is not offered.
    let (_, v) = call(reqwest::Method::GET, &url, &alice, None).await;
    assert_eq!(v["sources"], json!(["lake"]), "{v}");

    // Each of these ends failed, with its reason, and commits nothing.
    for (prefix, says) in [
        ("odd", "strata keeps that file itself"),
        ("nothing-here", "there is no object"),
        ("big", "more than the 67108864"),
    ] {
        let id = start(
            &server,
            &alice,
            "alice/data",
            json!({"source": "lake", "prefix": prefix}),
        )
        .await;
        let done = ended(&server, &alice, "alice/data", id).await;
        assert_eq!(done["state"], "failed", "{prefix}: {done}");
        assert!(
            done["error"].as_str().unwrap().contains(says),
            "{prefix}: {done}"
        );
        assert!(done["revision"].is_null());
        assert_eq!(
            server.head(&alice, "alice/data").await,
            head,
            "{prefix} committed"
        );
    }
    // A symbolic link planted in the source, to a file outside it (the server's signing key):
    // the import fails, nothing of it is read or committed.
    std::fs::create_dir_all(b.join("planted")).unwrap();
    std::os::unix::fs::symlink(server.dir.path().join("jwt.pem"), b.join("planted/key.pem"))
        .unwrap();
    std::os::unix::fs::symlink(server.dir.path(), b.join("planted/all")).unwrap();
    let id = start(
        &server,
        &alice,
        "alice/data",
        json!({"source": "lake", "prefix": "planted"}),
    )
    .await;
    let done = ended(&server, &alice, "alice/data", id).await;
    assert_eq!(done["state"], "failed", "{done}");
    let error = done["error"].as_str().unwrap();
    assert!(error.contains("symbolic link"), "{done}");
    // Named by the link planted, never by a file it leads to.
    assert!(
        error.contains("\"planted/all\"") || error.contains("\"planted/key.pem\""),
        "{done}"
    );
    assert!(
        !error.contains("strata.db") && !error.contains("objects/"),
        "{done}"
    );
    assert_eq!(server.head(&alice, "alice/data").await, head);
    std::fs::remove_dir_all(b.join("planted")).unwrap();

    // Past the quota.
    let quota = json!({"bytes": 2000});
    let admin = server.user_with("root", true, "*").await;
    let (s, v) = call(
        reqwest::Method::PUT,
        &format!("{}/api/v1/namespaces/alice/quota", server.url),
        &admin,
        Some(quota),
    )
    .await;
    assert!(s == 200 || s == 204, "{s} {v}");
    let id = start(
        &server,
        &alice,
        "alice/data",
        json!({"source": "lake", "prefix": "quota"}),
    )
    .await;
    let done = ended(&server, &alice, "alice/data", id).await;
    assert_eq!(done["state"], "failed", "{done}");
    assert!(done["error"].as_str().unwrap().contains("quota"), "{done}");
    assert_eq!(server.head(&alice, "alice/data").await, head);
    assert!(server
        .state
        .db
        .object_ref(&sha256_hex(&[9u8; 3000]))
        .await
        .unwrap()
        .is_none());

    // One import at a time per dataset (the first hashes 48 MiB meanwhile).
    let (s, v) = call(
        reqwest::Method::PUT,
        &format!("{}/api/v1/namespaces/alice/quota", server.url),
        &admin,
        Some(json!({"bytes": null})),
    )
    .await;
    assert!(s == 200 || s == 204, "{s} {v}");
    let first = start(
        &server,
        &alice,
        "alice/data",
        json!({"source": "lake", "prefix": "slow"}),
    )
    .await;
    let (s, v) = call(
        post.clone(),
        &url,
        &alice,
        Some(json!({"source": "lake", "prefix": "ok"})),
    )
    .await;
    assert_eq!(s, 409, "{v}");
    assert!(v["message"].as_str().unwrap().contains("running"), "{v}");
    let first = ended(&server, &alice, "alice/data", first).await;
    assert_eq!(first["state"], "done", "{first}");
    // A whole source holding a file too large fails as a whole.
    let head = server.head(&alice, "alice/data").await;
    let id = start(&server, &alice, "alice/data", json!({"source": "lake"})).await;
    let done = ended(&server, &alice, "alice/data", id).await;
    assert_eq!(done["state"], "failed", "{done}");
    assert_eq!(server.head(&alice, "alice/data").await, head);
}
