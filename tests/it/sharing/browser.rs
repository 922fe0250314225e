//! The drive and sharing in headless Chromium, as people use them: bob uploads to his drive
//! through the file input, renames, deletes and restores a version; alice shares a folder with
//! bob, who finds it under "Shared with me", reads a file in it, cannot open its sibling, and
//! loses access when alice revokes; a share link with a password and an end date.

use crate::common::chromium::*;
use crate::common::*;
use fantoccini::Locator;

/// The files table lists results.csv (the upload is done and the page reloaded).
const FILES_HAVE_RESULTS: &str =
    "document.getElementById('files') && document.getElementById('files').textContent.includes('results.csv')";
const UPLOAD_STATUS: &str = "document.getElementById('upload-status').textContent";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drive_and_sharing_in_chromium() {
    let server = server_with_alice().await;
    server.user("bob").await;
    strata::cli::admin::set_password(&server.state, "bob", PASSWORD)
        .await
        .unwrap();
    let driver = tokio::task::spawn_blocking(Driver::start).await.unwrap();
    let c = browser(&driver, &server.dir.path().join("profile-bob")).await;
    c.set_window_size(1200, 900).await.unwrap();
    let login = |c: fantoccini::Client, who: &'static str| {
        let url = server.url.clone();
        async move {
            c.goto(&format!("{url}/login")).await.unwrap();
            fill(&c, "username", who).await;
            fill(&c, "password", PASSWORD).await;
            click(&c, "form[action=\"/login\"] button").await;
            c
        }
    };
    let c = login(c, "bob").await;

    // Bob's drive: made on the first visit, with the upload form.
    c.goto(&format!("{}/drive", server.url)).await.unwrap();
    click(&c, "form[action=\"/drive\"] button").await;
    assert!(c
        .current_url()
        .await
        .unwrap()
        .path()
        .ends_with("/datasets/bob/drive"));
    assert!(text(&c).await.contains("This folder is empty"));
    let files = server.dir.path().join("uploads");
    std::fs::create_dir_all(&files).unwrap();
    let v1 = files.join("results.csv");
    std::fs::write(&v1, "trial,score\n1,0.5\n2,0.7\n").unwrap();
    let input = c.find(Locator::Css("#upload-files")).await.unwrap();
    input.send_keys(&v1.display().to_string()).await.unwrap();
    c.find(Locator::Css("form[action$=\"/upload\"] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // With script, the file goes from the browser straight to storage, then the page reloads.
    wait_until(&c, FILES_HAVE_RESULTS, UPLOAD_STATUS).await;
    screenshot(&c, "drive").await;

    // Two files dropped on the page (DevTools' drag events): uploaded as one revision with the
    // message typed, the one whose name is taken kept beside it, each with its progress bar.
    let notes = files.join("notes.txt");
    std::fs::write(&notes, "dropped\n").unwrap();
    fill(&c, "message", "Dropped in").await;
    c.execute("window.beforeDrop = true", vec![]).await.unwrap();
    drop_files(&c, "main", &[&notes, &v1]).await;
    wait_until(
        &c,
        "!window.beforeDrop && document.readyState === 'complete' \
         && document.getElementById('files').textContent.includes('results (1).csv')",
        UPLOAD_STATUS,
    )
    .await;
    let page = text(&c).await;
    assert!(
        page.contains("notes.txt") && page.contains("Dropped in"),
        "{page}"
    );

    // A second version of the same file, then the first one restored from its page.
    std::fs::write(&v1, "trial,score\n1,0.9\n").unwrap();
    let input = c.find(Locator::Css("#upload-files")).await.unwrap();
    input.send_keys(&v1.display().to_string()).await.unwrap();
    // The page reloads once the upload is committed: a mark on this window goes with it.
    c.execute("window.beforeUpload = true", vec![])
        .await
        .unwrap();
    // A file of that name is there: this time it is replaced (a new version), not kept beside.
    c.find(Locator::Css("input[name=\"clash\"][value=\"replace\"]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.find(Locator::Css("form[action$=\"/upload\"] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until(
        &c,
        "!window.beforeUpload && document.readyState === 'complete'",
        "'reloading'",
    )
    .await;
    c.goto(&format!(
        "{}/datasets/bob/drive/files/results.csv",
        server.url
    ))
    .await
    .unwrap();
    let page = text(&c).await;
    assert!(page.contains("0.9") && page.contains("Versions"), "{page}");
    // The confirmation dialog is script; accept it as a person would.
    c.execute("window.confirm = () => true", vec![])
        .await
        .unwrap();
    click(&c, "#versions form button").await;
    let page = text(&c).await;
    assert!(page.contains("0.7") && !page.contains("0.9"), "{page}");
    // The page says what was done, with Undo.
    assert!(
        page.contains("Done: Restore results.csv") && page.contains("Undo"),
        "{page}"
    );

    // Rename it, delete it, bring it back from Recently deleted.
    let to = c
        .find(Locator::Css(
            "form:has(input[value=\"rename\"]) input[name=\"to\"]",
        ))
        .await
        .unwrap();
    to.clear().await.unwrap();
    to.send_keys("final.csv").await.unwrap();
    click(&c, "form input[value=\"rename\"] ~ button").await;
    assert!(text(&c).await.contains("final.csv"));
    c.goto(&format!(
        "{}/datasets/bob/drive/files/final.csv",
        server.url
    ))
    .await
    .unwrap();
    c.execute("window.confirm = () => true", vec![])
        .await
        .unwrap();
    click(&c, "form input[value=\"delete\"] ~ button").await;
    // Back on the folder: what was done, with Undo; the file gone from the list.
    let page = text(&c).await;
    assert!(
        page.contains("Done: Delete final.csv.") && page.contains("Undo"),
        "{page}"
    );
    let listed = c
        .find(Locator::Id("files"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!listed.contains("final.csv"), "{listed}");
    c.goto(&format!("{}/datasets/bob/drive/trash", server.url))
        .await
        .unwrap();
    assert!(text(&c).await.contains("final.csv"));
    screenshot(&c, "recently-deleted").await;
    click(&c, "#deleted form button").await;
    // Back on its folder, listed again, with the notice and Undo.
    let page = text(&c).await;
    assert!(
        page.contains("Done: Restore final.csv") && page.contains("Undo"),
        "{page}"
    );
    c.find(Locator::LinkText("final.csv"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert!(text(&c).await.contains("0.7"));

    // Alice's dataset with a shared folder and a private sibling.
    let token = strata::cli::admin::create_token(&server.state, "alice", "t", "*", None)
        .await
        .unwrap();
    let api = format!("{}/api/v1/datasets", server.url);
    let made: serde_json::Value = client()
        .post(&api)
        .bearer_auth(&token)
        .json(&serde_json::json!({"namespace": "alice", "name": "study"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let parent = made["revision"]["id"].as_str().unwrap();
    let body = [
        serde_json::json!({"key": "header", "value": {"summary": "files", "parent": parent}}),
        serde_json::json!({"key": "file", "value": {"path": "shared/readme.txt", "content": "for bob"}}),
        serde_json::json!({"key": "file", "value": {"path": "private/salaries.csv", "content": "name,pay\n"}}),
    ]
    .iter()
    .map(|l| l.to_string())
    .collect::<Vec<_>>()
    .join("\n");
    let done = client()
        .post(format!("{api}/alice/study/commit"))
        .bearer_auth(&token)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    let a = browser(&driver, &server.dir.path().join("profile-alice")).await;
    a.set_window_size(1200, 900).await.unwrap();
    let a = login(a, "alice").await;
    // The folder's page has a Share button: its dialog shares that folder and nothing else.
    a.goto(&format!("{}/datasets/alice/study?path=shared", server.url))
        .await
        .unwrap();
    click(&a, "a.share-here").await;
    let page = text(&a).await;
    assert!(
        page.contains("Share “shared”") && page.contains("Not shared with anyone yet"),
        "{page}"
    );
    fill(&a, "who", "bob").await;
    click(&a, "#share-form button").await;
    let page = text(&a).await;
    assert!(
        page.contains("Shared: they find it under Shared with me."),
        "{page}"
    );
    let access = a
        .find(Locator::Id("who-has-access"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        access.contains("bob") && access.contains("this item") && access.contains("owner"),
        "{access}"
    );
    screenshot(&a, "sharing").await;

    // Bob finds it, reads inside it, and not beside it.
    c.goto(&format!("{}/shared", server.url)).await.unwrap();
    let page = text(&c).await;
    assert!(page.contains("alice/study: shared"), "{page}");
    screenshot(&c, "shared-with-me").await;
    c.find(Locator::LinkText("alice/study: shared"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert!(text(&c).await.contains("readme.txt"));
    c.find(Locator::LinkText("readme.txt"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert!(text(&c).await.contains("for bob"));
    // The breadcrumb names the dataset but links only where bob may go: every link opens.
    let crumbs = c.find(Locator::Css("nav.crumbs")).await.unwrap();
    assert_eq!(
        crumbs.text().await.unwrap(),
        "Datasets / alice/study / shared"
    );
    let mut hrefs = Vec::new();
    for a in crumbs.find_all(Locator::Css("a")).await.unwrap() {
        hrefs.push(a.attr("href").await.unwrap().unwrap());
    }
    assert_eq!(hrefs, ["/", "/datasets/alice/study?path=shared"]);
    for href in hrefs {
        c.goto(&format!("{}{href}", server.url)).await.unwrap();
        let page = text(&c).await;
        assert!(!page.contains("not shared with you"), "{href}: {page}");
    }
    c.goto(&format!(
        "{}/datasets/alice/study/files/private/salaries.csv",
        server.url
    ))
    .await
    .unwrap();
    let page = text(&c).await;
    assert!(
        page.contains("not shared with you") && !page.contains("name,pay"),
        "{page}"
    );

    // Alice revokes in the folder's dialog: bob's next request is refused.
    a.goto(&format!(
        "{}/datasets/alice/study/share?path=shared",
        server.url
    ))
    .await
    .unwrap();
    a.execute("window.confirm = () => true", vec![])
        .await
        .unwrap();
    click(&a, "#who-has-access tr.share form button").await;
    assert!(text(&a).await.contains("The share is revoked."));
    c.goto(&format!(
        "{}/datasets/alice/study/files/shared/readme.txt",
        server.url
    ))
    .await
    .unwrap();
    let page = text(&c).await;
    assert!(
        page.contains("not found") && !page.contains("for bob"),
        "{page}"
    );
    c.goto(&format!("{}/shared", server.url)).await.unwrap();
    assert!(text(&c).await.contains("Nothing is shared with you yet"));

    // A link with a password and an end date, made on the settings page, opened by someone
    // without an account.
    a.goto(&format!("{}/datasets/alice/study/settings", server.url))
        .await
        .unwrap();
    let link_form = "form:has(input[value=\"link\"])";
    for (name, value) in [
        ("path", "shared"),
        ("password", "open sesame"),
        ("expires", "12312099"),
    ] {
        let field = a
            .find(Locator::Css(&format!("{link_form} [name=\"{name}\"]")))
            .await
            .unwrap();
        field.send_keys(value).await.unwrap();
    }
    click(&a, &format!("{link_form} button")).await;
    let url = a
        .find(Locator::Css("#new-link"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(url.contains("/s/"), "{url}");
    assert!(text(&a).await.contains("2099-12-31"));
    let stranger = browser(&driver, &server.dir.path().join("profile-stranger")).await;
    stranger.goto(&url).await.unwrap();
    assert!(!text(&stranger).await.contains("readme.txt"));
    fill(&stranger, "password", "open sesame").await;
    click(&stranger, "form button").await;
    assert!(text(&stranger).await.contains("readme.txt"));
    screenshot(&stranger, "share-link").await;
    for b in [c, a, stranger] {
        b.close().await.unwrap();
    }
}
