//! A file's versions from before it was renamed, in headless Chromium: its page lists them with
//! the name they had, and each opens, downloads and restores from that name (they answered 404
//! when the links used the current name at the old revision). The dataset's page links to Compare
//! and to a new branch and renders a README kept in storage (as browser uploads keep it);
//! deleting picked files asks first.

use fantoccini::Locator;
use reqwest::Method;
use serde_json::{json, Value};

use crate::common::chromium::*;
use crate::common::forms::PASSWORD;
use crate::common::*;
use crate::sharing::gated::call;

/// Commits `lines` (NDJSON after a header on the head of `main`) to `alice/notes`.
async fn commit(server: &TestServer, token: &str, summary: &str, lines: &[Value]) {
    let (_, v) = call(
        server,
        Method::GET,
        "/api/v1/datasets/alice/notes",
        Some(token),
        None,
    )
    .await;
    let mut body = vec![json!({"key": "header", "value": {"summary": summary,
        "parent": v["revision"]["id"]}})
    .to_string()];
    body.extend(lines.iter().map(Value::to_string));
    let r = client()
        .post(format!("{}/api/v1/datasets/alice/notes/commit", server.url))
        .bearer_auth(token)
        .header("content-type", "application/x-ndjson")
        .body(body.join("\n"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

fn file(path: &str, content: &str) -> Value {
    json!({"key": "file", "value": {"path": path, "content": content, "encoding": "utf-8"}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_from_before_a_rename_open_download_and_restore_in_chromium() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    strata::cli::admin::set_password(&server.state, "alice", PASSWORD)
        .await
        .unwrap();
    let (status, v) = call(
        &server,
        Method::POST,
        "/api/v1/datasets",
        Some(&alice),
        Some(json!({"namespace": "alice", "name": "notes", "visibility": "private"})),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    commit(
        &server,
        &alice,
        "First",
        &[file("notes.txt", "the first words\n")],
    )
    .await;
    commit(
        &server,
        &alice,
        "Second",
        &[file("notes.txt", "the second words\n")],
    )
    .await;
    commit(
        &server,
        &alice,
        "Renamed",
        &[
            json!({"key": "deletedFile", "value": {"path": "notes.txt"}}),
            file("renamed.txt", "the second words\n"),
        ],
    )
    .await;

    // A README uploaded as an LFS object, as the browser uploads it.
    let readme = b"# Field notes\n\nKept *since* 2026.\n";
    let oid = upload(&server, "alice/notes", &alice, readme).await;
    commit(
        &server,
        &alice,
        "README",
        &[json!({"key": "lfsFile",
        "value": {"path": "README.md", "oid": oid.to_string(), "size": readme.len()}})],
    )
    .await;

    let base = server.url.clone();
    let driver = tokio::task::spawn_blocking(Driver::start).await.unwrap();
    let c = browser(&driver, &server.dir.path().join("profile-alice")).await;
    sign_in(&c, &base, "alice").await;
    c.goto(&format!("{base}/datasets/alice/notes/files/renamed.txt"))
        .await
        .unwrap();
    let page = text(&c).await;
    assert!(page.contains("(then notes.txt)"), "{page}");
    let rows = c
        .find_all(Locator::Css("#versions tbody tr"))
        .await
        .unwrap();
    // The rename, the second and the first version.
    assert_eq!(rows.len(), 3, "{page}");

    // The oldest version opens under the name it had.
    let oldest = rows.last().unwrap();
    let href = oldest
        .find(Locator::Css("td a.mono"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert!(href.contains("/files/notes.txt?rev="), "{href}");
    let download = oldest
        .find(Locator::Css("a[download]"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    let r = client()
        .get(format!("{base}{download}"))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{download}");
    assert_eq!(r.text().await.unwrap(), "the first words\n");
    c.goto(&format!("{base}{href}")).await.unwrap();
    assert!(text(&c).await.contains("the first words"));

    // Restored from there: the current renamed.txt holds it.
    c.goto(&format!("{base}/datasets/alice/notes/files/renamed.txt"))
        .await
        .unwrap();
    c.execute("window.confirm = () => true", vec![])
        .await
        .unwrap();
    let restore = "#versions tbody tr:last-child form button";
    click(&c, restore).await;
    let r = client()
        .get(format!(
            "{base}/api/v1/datasets/alice/notes/raw/renamed.txt"
        ))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "the first words\n");

    // The dataset's page renders the README kept in storage, links to Compare, and its
    // switcher to a new branch.
    c.goto(&format!("{base}/datasets/alice/notes"))
        .await
        .unwrap();
    let shown = c
        .find(Locator::Css("#readme"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        shown.contains("Field notes") && shown.contains("Kept since 2026."),
        "{shown}"
    );
    assert!(
        c.find(Locator::Css("#readme em")).await.is_ok(),
        "rendered as Markdown"
    );
    click(&c, "#compare-link").await;
    assert_eq!(
        c.current_url().await.unwrap().path(),
        "/datasets/alice/notes/diff"
    );
    c.back().await.unwrap();
    c.find(Locator::Css("#switcher summary"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    click(&c, "#new-branch-link").await;
    let url = c.current_url().await.unwrap();
    assert_eq!(
        (url.path(), url.fragment()),
        ("/datasets/alice/notes/tags", Some("new-branch"))
    );

    // Deleting picked items asks first; declined, nothing is deleted.
    c.goto(&format!("{base}/datasets/alice/notes"))
        .await
        .unwrap();
    c.find(Locator::Css("input[type=checkbox][value=\"renamed.txt\"]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.execute(
        "window.asked = 0; window.confirm = () => { window.asked += 1; return false; }",
        vec![],
    )
    .await
    .unwrap();
    c.find(Locator::Css("#picked button[value=\"delete\"]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let asked = c.execute("return window.asked", vec![]).await.unwrap();
    assert_eq!(asked, json!(1));
    let r = client()
        .get(format!(
            "{base}/api/v1/datasets/alice/notes/raw/renamed.txt"
        ))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "declined: still there");
    assert!(console_errors(&c).await.is_empty());
    let _ = c.close().await;
}
