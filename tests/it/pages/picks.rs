//! The folder page's picked items over HTTP: several files and folders moved, renamed or deleted
//! as one revision, the notice naming it with an Undo that reverts it (only for its author, only
//! while it is the head), Share sending to the item's share dialog (which completes people and teams). Hostile picks throughout: a folder
//! with a file inside it, two items to one name, the datapackage, a stale Undo.

use super::cards::{api, commit, send};
use crate::common::*;
use serde_json::{json, Value};

fn picks(csrf: &str, op: &str, to: &str, paths: &[&str]) -> Vec<(String, String)> {
    let mut form = vec![
        ("csrf".to_owned(), csrf.to_owned()),
        ("folder".to_owned(), String::new()),
        ("op".to_owned(), op.to_owned()),
        ("to".to_owned(), to.to_owned()),
    ];
    for (i, p) in paths.iter().enumerate() {
        form.push((format!("p{}", i + 1), p.to_string()));
    }
    form
}

async fn files(server: &TestServer, token: &str) -> Vec<String> {
    let (_, v) = api(
        server,
        token,
        reqwest::Method::GET,
        "/datasets/alice/box/tree",
        Value::Null,
    )
    .await;
    let mut out: Vec<String> = v["files"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_owned())
        .filter(|p| !p.starts_with('.') && p != "datapackage.json")
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn picked_items_move_rename_delete_and_undo() {
    let server = server_with_alice().await;
    server.user("bob").await;
    let token = strata::cli::admin::create_token(&server.state, "alice", "t", "*", None)
        .await
        .unwrap();
    let (status, v) = api(
        &server,
        &token,
        reqwest::Method::POST,
        "/datasets",
        json!({"namespace": "alice", "name": "box"}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    commit(
        &server,
        &token,
        "alice/box",
        &[
            ("a.txt", "a"),
            ("b.txt", "b"),
            ("docs/c.txt", "c"),
            ("sub/d.txt", "d"),
        ],
    )
    .await;
    let (status, v) = api(
        &server,
        &token,
        reqwest::Method::POST,
        "/datasets/alice/box/branches",
        json!({"name": "draft<x>"}),
    )
    .await;
    assert_eq!(status, 422, "{v}");
    let (status, v) = api(
        &server,
        &token,
        reqwest::Method::POST,
        "/datasets/alice/box/branches",
        json!({"name": "draft"}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let mut alice = Browser::new(&server.url);
    alice.login("alice", PASSWORD).await;
    let page = alice.get("/datasets/alice/box").await;
    // The switcher: main is where the page is, draft a link away.
    assert!(
        page.text
            .contains("href=\"/datasets/alice/box?rev=main\" aria-current=\"page\"")
            && page.text.contains("href=\"/datasets/alice/box?rev=draft\""),
        "{}",
        page.text
    );
    assert!(
        page.text.contains("form=\"picked\" name=\"p1\""),
        "{}",
        page.text
    );
    let csrf = page.hidden("csrf");
    let url = "/datasets/alice/box/files";

    // Two files and a folder into `sub`: one revision, then its notice with an Undo.
    let r = alice
        .post(
            url,
            &send(&picks(&csrf, "move", "sub", &["a.txt", "b.txt", "docs"])),
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let back = r.headers["location"].to_str().unwrap().to_owned();
    assert!(back.starts_with("/datasets/alice/box?undo="), "{back}");
    assert_eq!(
        files(&server, &token).await,
        ["sub/a.txt", "sub/b.txt", "sub/d.txt", "sub/docs/c.txt"]
    );
    let page = alice.get(&back).await;
    assert!(page.text.contains("Done: Move 3 items."), "{}", page.text);
    let to = page.hidden("to");
    let parent = page.hidden("parent");
    let next = page.hidden("next");
    let undo = [
        ("csrf", csrf.as_str()),
        ("to", &to),
        ("parent", &parent),
        ("next", &next),
    ];
    // Bob, who may not write, is never offered it, and the notice is not his.
    let mut bob = Browser::new(&server.url);
    strata::cli::admin::set_password(&server.state, "bob", PASSWORD)
        .await
        .unwrap();
    bob.login("bob", PASSWORD).await;
    assert_eq!(bob.get(&back).await.status, 404);
    let r = alice.post("/datasets/alice/box/revert", &undo).await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(r.headers["location"], "/datasets/alice/box?undone=1");
    assert_eq!(
        files(&server, &token).await,
        ["a.txt", "b.txt", "docs/c.txt", "sub/d.txt"]
    );
    assert!(alice
        .get("/datasets/alice/box?undone=1")
        .await
        .text
        .contains("Undone."));
    // The same Undo again: the head moved on, refused, nothing lost.
    let r = alice.post("/datasets/alice/box/revert", &undo).await;
    assert_eq!(r.status, 409, "{}", r.text);
    // An Undo link for a revision that is no longer the head says nothing.
    assert!(!alice.get(&back).await.text.contains("Done:"));

    // Rename one (a name: same folder), delete two as one revision.
    let r = alice
        .post(
            url,
            &send(&picks(&csrf, "rename", "c2.txt", &["docs/c.txt"])),
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert!(r.headers["location"]
        .to_str()
        .unwrap()
        .starts_with("/datasets/alice/box?path=docs&undo="));
    let r = alice
        .post(url, &send(&picks(&csrf, "delete", "", &["a.txt", "docs"])))
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(files(&server, &token).await, ["b.txt", "sub/d.txt"]);
    let page = alice.get(r.headers["location"].to_str().unwrap()).await;
    assert!(page.text.contains("Done: Delete 2 items."), "{}", page.text);

    // Share: to that item's share dialog.
    let r = alice
        .post(url, &send(&picks(&csrf, "share", "", &["b.txt"])))
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(
        r.headers["location"],
        "/datasets/alice/box/share?path=b.txt"
    );
    // The sharing form completes the people and teams of alice's organisation, nobody else.
    server.user("carol").await;
    let (status, v) = api(
        &server,
        &token,
        reqwest::Method::POST,
        "/orgs",
        json!({"name": "lab"}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let (status, v) = api(
        &server,
        &token,
        reqwest::Method::PUT,
        "/orgs/lab/members/bob",
        json!({"role": "member"}),
    )
    .await;
    assert!(status < 300, "{status} {v}");
    let (status, v) = api(
        &server,
        &token,
        reqwest::Method::POST,
        "/orgs/lab/teams",
        json!({"name": "eng"}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let form = alice.get("/datasets/alice/box/share?path=b.txt").await;
    assert!(
        form.text.contains("name=\"path\" value=\"b.txt\""),
        "{}",
        form.text
    );
    assert!(
        form.text.contains("<option value=\"bob\">")
            && form.text.contains("<option value=\"team:lab/eng\">"),
        "{}",
        form.text
    );
    assert!(!form.text.contains("<option value=\"carol\">"));

    // Hostile picks: each refused with its reason, nothing changed.
    let before = files(&server, &token).await;
    for (form, status, says) in [
        (
            picks(&csrf, "move", "other", &["sub", "sub/d.txt"]),
            422,
            "pick one",
        ),
        (
            picks(&csrf, "rename", "sub", &["b.txt"]),
            409,
            "exists already",
        ),
        (
            picks(&csrf, "rename", "x.txt", &["b.txt", "sub"]),
            422,
            "one item",
        ),
        (
            picks(&csrf, "delete", "", &["datapackage.json"]),
            422,
            "file manager",
        ),
        (picks(&csrf, "move", "../up", &["b.txt"]), 422, ""),
        (
            picks(&csrf, "delete", "", &["nothing.txt"]),
            404,
            "not found",
        ),
        (picks(&csrf, "delete", "", &[]), 422, "nothing is picked"),
        (
            picks(&csrf, "explode", "", &["b.txt"]),
            422,
            "unknown action",
        ),
    ] {
        let r = alice.post(url, &send(&form)).await;
        assert_eq!(r.status, status, "{form:?}: {}", r.text);
        assert!(r.text.contains(says), "{form:?}: {}", r.text);
    }
    let many: Vec<String> = (0..1001).map(|i| format!("f{i}.txt")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let r = alice
        .post(url, &send(&picks(&csrf, "delete", "", &many)))
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(files(&server, &token).await, before);
    // Bob writes through a share of `sub` only: picks outside it are refused alike, whether
    // they exist or not, and nothing is looked up or written there.
    let (status, v) = api(
        &server,
        &token,
        reqwest::Method::POST,
        "/datasets/alice/box/shares",
        json!({"path": "sub", "user": "bob", "access": "write"}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let bob_csrf = bob.get("/datasets/alice/box?path=sub").await.hidden("csrf");
    let mut answers = Vec::new();
    for outside in ["b.txt", "nowhere.txt"] {
        let mut form = picks(&bob_csrf, "delete", "", &["sub/d.txt", outside]);
        form[1].1 = "sub".into();
        let r = bob.post(url, &send(&form)).await;
        assert_eq!(r.status, 403, "{outside}: {}", r.text);
        answers.push(r.text.contains("is not shared with you"));
        let mut form = picks(&bob_csrf, "move", "", &["sub/d.txt"]);
        form[1].1 = "sub".into();
        form[3].1 = outside.into();
        let r = bob.post(url, &send(&form)).await;
        assert_eq!(r.status, 403, "{outside}: {}", r.text);
    }
    assert_eq!(answers, [true, true]);
    assert_eq!(files(&server, &token).await, before);
    // Without the CSRF token: refused.
    let mut forged = picks("", "delete", "", &["b.txt"]);
    forged.remove(0);
    assert_eq!(alice.post(url, &send(&forged)).await.status, 403);
    assert_eq!(files(&server, &token).await, before);
}
