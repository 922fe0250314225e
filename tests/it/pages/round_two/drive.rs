//! The drive in Chromium and over HTTP: a dropped table opened in the table viewer, versions
//! without git words, the grid of thumbnails, a PDF in the browser's viewer, a writer through a
//! share dropping files; Starred and Recent listing only what may still be read.

use super::*;

/// The drive opens a dropped table in the table viewer and speaks of versions; a writer through a
/// share drops files too (through strata's own form, with its progress), into what is shared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drive_views_tables_and_a_share_writer_drops_files_in_chromium() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    server.user("bob").await;
    for who in ["alice", "bob"] {
        strata::cli::admin::set_password(&server.state, who, PASSWORD)
            .await
            .unwrap();
    }
    let base = server.url.clone();
    let driver = tokio::task::spawn_blocking(Driver::start).await.unwrap();
    let c = browser(&driver, &server.dir.path().join("profile-alice")).await;
    sign_in(&c, &base, "alice").await;
    c.goto(&format!("{base}/drive")).await.unwrap();
    click(&c, "form[action=\"/drive\"] button").await;
    let page = text(&c).await;
    assert!(!page.contains("git push"), "{page}");
    let csv = server.dir.path().join("budget.csv");
    std::fs::write(&csv, "month,amount\njan,10\nfeb,12\nmar,9\n").unwrap();
    drop_files(&c, "main", &[&csv]).await;
    wait_until(
        &c,
        "location.search.includes('undo=') && document.readyState === 'complete'",
        "location.href + ' ' + document.getElementById('upload-status').textContent",
    )
    .await;
    c.goto(&format!("{base}/datasets/alice/drive/files/budget.csv"))
        .await
        .unwrap();
    let headings = c
        .execute(
            "return [...document.querySelectorAll('#table-rows thead th a')].map(a => a.textContent)",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(headings, json!(["month", "amount"]));
    // A version of the drive: no commit ids, no "main".
    let (_, v) = call(
        &server,
        Method::GET,
        "/api/v1/datasets/alice/drive/revisions?limit=5",
        Some(&alice),
        None,
    )
    .await;
    let first = v["revisions"].as_array().unwrap().last().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    c.goto(&format!("{base}/datasets/alice/drive/revisions/{first}"))
        .await
        .unwrap();
    let page = text(&c).await;
    assert!(
        page.contains("Bring everything back to this version") && !page.contains(&first),
        "{page}"
    );

    // An image and a PDF dropped in: the grid shows the image's thumbnail and the PDF's kind;
    // the PDF opens in the browser's viewer, in a frame; starred and opened files are listed.
    let photo = server.dir.path().join("photo.png");
    std::fs::copy("docs/screenshots/file.png", &photo).unwrap();
    let report = server.dir.path().join("report.pdf");
    std::fs::write(&report, pdf()).unwrap();
    c.goto(&format!("{base}/datasets/alice/drive"))
        .await
        .unwrap();
    drop_files(&c, "main", &[&photo, &report]).await;
    wait_until(
        &c,
        "location.search.includes('undo=') && document.readyState === 'complete'",
        "location.href + ' ' + document.getElementById('upload-status').textContent",
    )
    .await;
    click(&c, "#view-grid").await;
    wait_until(
        &c,
        "(() => { const i = document.querySelector('#grid img'); return !!i && i.complete && i.naturalWidth === 240; })()",
        "document.querySelector('#grid') && document.querySelector('#grid').innerHTML",
    )
    .await;
    let tiles = c
        .execute(
            "return Object.fromEntries([...document.querySelectorAll('#grid .tile')].map(t => [t.querySelector('.tile-name').textContent, t.querySelector('.badge') ? t.querySelector('.badge').textContent : 'thumbnail']))",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(tiles["photo.png"], "thumbnail", "{tiles}");
    assert_eq!(
        (&tiles["report.pdf"], &tiles["budget.csv"]),
        (&json!("PDF"), &json!("CSV"))
    );
    c.goto(&format!("{base}/datasets/alice/drive/files/report.pdf"))
        .await
        .unwrap();
    // Served inline as a PDF only (a document that could hold no script even if taken for a
    // page), framed by strata's own pages only.
    let served = c
        .execute_async(
            "const done = arguments[0]; fetch(document.getElementById('pdf-preview').src).then(r => \
             done(['content-type', 'content-disposition', 'x-content-type-options', \
             'content-security-policy'].map(h => r.headers.get(h))))",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        served,
        json!([
            "application/pdf",
            "inline; filename=\"report.pdf\"; filename*=UTF-8''report.pdf",
            "nosniff",
            "default-src 'none'; object-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'self'"
        ])
    );
    c.enter_frame(0).await.unwrap();
    wait_until(
        &c,
        "document.contentType === 'application/pdf'",
        "document.contentType",
    )
    .await;
    c.enter_parent_frame().await.unwrap();
    click(&c, "#star-file button").await;
    assert!(text(&c).await.contains("Starred"));
    c.goto(&format!("{base}/drive/starred")).await.unwrap();
    let starred = text(&c).await;
    assert!(
        starred.contains("report.pdf") && !starred.contains("budget.csv"),
        "{starred}"
    );
    c.goto(&format!("{base}/drive/recent")).await.unwrap();
    let recent = c
        .execute(
            "return [...document.querySelectorAll('#recent tbody td:first-child')].map(t => t.textContent)",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(recent, json!(["report.pdf", "budget.csv"]));
    // Unstarred from the list.
    c.goto(&format!("{base}/drive/starred")).await.unwrap();
    click(&c, "#starred button").await;
    assert!(text(&c).await.contains("Nothing starred yet"));
    let _ = c.close().await;

    // Bob writes alice's inbox folder through a share: a drop uploads into it.
    let (status, v) = call(
        &server,
        Method::POST,
        "/api/v1/datasets",
        Some(&alice),
        Some(json!({"namespace": "alice", "name": "box", "visibility": "private"})),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    commit(
        &server,
        &alice,
        "alice/box",
        "Inbox",
        &[json!({"key": "file", "value": {"path": "inbox/.keep", "content": "", "encoding": "utf-8"}})],
    )
    .await;
    let (status, v) = call(
        &server,
        Method::POST,
        "/api/v1/datasets/alice/box/shares",
        Some(&alice),
        Some(json!({"path": "inbox", "user": "bob", "access": "write"})),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let c = browser(&driver, &server.dir.path().join("profile-bob")).await;
    sign_in(&c, &base, "bob").await;
    c.goto(&format!("{base}/datasets/alice/box?path=inbox"))
        .await
        .unwrap();
    assert!(c
        .find(Locator::Id("drop-zone"))
        .await
        .unwrap()
        .is_displayed()
        .await
        .unwrap());
    let note = server.dir.path().join("note.txt");
    std::fs::write(&note, "from bob\n").unwrap();
    c.execute("window.beforeDrop = true", vec![]).await.unwrap();
    drop_files(&c, "main", &[&note]).await;
    wait_until(
        &c,
        "!window.beforeDrop && document.readyState === 'complete' \
         && document.getElementById('files').textContent.includes('note.txt')",
        "document.getElementById('upload-status').textContent",
    )
    .await;
    let (status, _) = call(
        &server,
        Method::GET,
        "/api/v1/datasets/alice/box/raw/inbox/note.txt",
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let errors = console_errors(&c).await;
    assert!(errors.is_empty(), "{errors:?}");
    let _ = c.close().await;
}

/// Starred and Recent as a stranger would try them: nothing starred that the visitor may not
/// read, no way back to another site, and a share taken away takes its items off both lists;
/// a thumbnail is refused as the file's bytes would be, and for bytes that are no image.
#[tokio::test]
async fn starred_and_recent_list_only_what_may_still_be_read() {
    use crate::common::forms::Browser;
    let server = TestServer::start().await;
    let alice = alice_with(&server, "box").await;
    server.user("bob").await;
    strata::cli::admin::set_password(&server.state, "bob", PASSWORD)
        .await
        .unwrap();
    let png = std::fs::read("docs/screenshots/file.png").unwrap();
    let (photo, fake) = (
        lfs(&server, &alice, "alice/box", "in/photo.png", &png).await,
        lfs(
            &server,
            &alice,
            "alice/box",
            "in/fake.png",
            b"<svg onload=alert(1)>",
        )
        .await,
    );
    commit(&server, &alice, "alice/box", "Files", &[photo, fake]).await;
    let mut bob = Browser::new(&server.url);
    bob.login("bob", PASSWORD).await;
    let csrf = bob.get("/drive/starred").await.hidden("csrf");
    let star = |dataset: &'static str, path: &'static str, back: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("dataset", dataset.to_owned()),
            ("path", path.to_owned()),
            ("star", "on".to_owned()),
            ("back", back.to_owned()),
        ]
    };
    let post = |form: Vec<(&'static str, String)>| {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        serde_urlencoded::to_string(form).unwrap()
    };
    // Not shared with bob yet: refused as missing, nothing starred; no thumbnail either.
    let page = bob
        .send(
            client()
                .post(format!("{}/starred", server.url))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(post(star("alice/box", "in/photo.png", "/"))),
        )
        .await;
    assert_eq!(page.status, 404, "{}", page.text);
    assert!(page.text.contains("request_id"), "{}", page.text);
    let thumb = bob.get("/datasets/alice/box/thumbnails/in/photo.png").await;
    assert_eq!(thumb.status, 404);
    // Shared: starred (the way back only to this server), opened, listed.
    let (status, v) = call(
        &server,
        Method::POST,
        "/api/v1/datasets/alice/box/shares",
        Some(&alice),
        Some(json!({"path": "in", "user": "bob", "access": "read"})),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    for back in [
        "//evil.example/x",
        "/\t/evil.example",
        "https://evil.example/",
    ] {
        let page = bob
            .send(
                client()
                    .post(format!("{}/starred", server.url))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(post(star("alice/box", "in/photo.png", back))),
            )
            .await;
        assert_eq!(page.status, 303, "{}", page.text);
        assert_eq!(page.headers["location"], "/drive/starred", "{back:?}");
    }
    let thumb = bob.get("/datasets/alice/box/thumbnails/in/photo.png").await;
    assert_eq!(thumb.status, 200);
    assert_eq!(thumb.headers["content-type"], "image/jpeg");
    let fake = bob.get("/datasets/alice/box/thumbnails/in/fake.png").await;
    assert_eq!(fake.status, 422, "{}", fake.text);
    assert!(fake.text.contains("not an image"), "{}", fake.text);
    assert_eq!(
        bob.get("/datasets/alice/box/files/in/photo.png")
            .await
            .status,
        200
    );
    assert!(bob.get("/drive/starred").await.text.contains("photo.png"));
    assert!(bob.get("/drive/recent").await.text.contains("photo.png"));
    // The share taken away: off both lists, and the thumbnail refused again.
    let id = v["id"].as_i64().unwrap();
    let (status, _) = call(
        &server,
        Method::DELETE,
        &format!("/api/v1/datasets/alice/box/shares/{id}"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(status, 204);
    for list in ["/drive/starred", "/drive/recent"] {
        let page = bob.get(list).await;
        assert_eq!(page.status, 200);
        assert!(!page.text.contains("photo.png"), "{list}: {}", page.text);
    }
    assert_eq!(
        bob.get("/datasets/alice/box/thumbnails/in/photo.png")
            .await
            .status,
        404
    );
}
