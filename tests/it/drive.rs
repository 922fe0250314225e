//! The drive and the file manager over HTTP: `/drive` makes `{user}/drive` on first use; upload
//! (multipart, hashed and stored as LFS objects), new folder, rename, delete, versions and
//! restore, recently deleted; each a commit. Then share links: password, rate limit on guesses,
//! nothing beside the linked folder, revocation. Hostile inputs throughout.

use crate::common::*;
use reqwest::multipart::{Form, Part};

async fn upload_files(
    b: &mut Browser,
    url: &str,
    csrf: &str,
    folder: &str,
    files: &[(&str, &[u8])],
) -> Page {
    let mut form = Form::new()
        .text("csrf", csrf.to_owned())
        .text("folder", folder.to_owned());
    for (name, data) in files {
        form = form.part(
            "file",
            Part::bytes(data.to_vec()).file_name(name.to_string()),
        );
    }
    b.send(client().post(format!("{url}/upload")).multipart(form))
        .await
}

async fn raw(server: &TestServer, token: &str, repo: &str, path: &str) -> (u16, Vec<u8>) {
    let r = client()
        .get(format!("{}/api/v1/datasets/{repo}/raw/{path}", server.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn drive_file_manager() {
    let server = server_with_alice().await;
    let bob_token = server.user("bob").await;
    strata::admin::set_password(&server.state, "bob", PASSWORD)
        .await
        .unwrap();
    let mut bob = Browser::new(&server.url);
    assert_eq!(bob.get("/drive").await.status, 303); // to the login page
    bob.login("bob", PASSWORD).await;
    let first = bob.get("/drive").await;
    assert_eq!(first.status, 303);
    assert_eq!(first.headers["location"], "/datasets/bob/drive");
    // A second visit finds the same drive.
    assert_eq!(
        bob.get("/drive").await.headers["location"],
        "/datasets/bob/drive"
    );
    let page = bob.get("/datasets/bob/drive").await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(page.text.contains("Upload files"));
    assert!(page.text.contains("aria-current=\"page\">Drive"));
    let csrf = page.hidden("csrf");
    let url = format!("{}/datasets/bob/drive", server.url);

    // Upload two files at the top; each is an LFS object, readable through the REST API.
    let csv = b"city,people\nOslo,700000\n<script>alert(1)</script>,1\n";
    let done = upload_files(
        &mut bob,
        &url,
        &csrf,
        "",
        &[("cities.csv", csv), ("notes.txt", b"first notes")],
    )
    .await;
    assert_eq!(done.status, 303, "{}", done.text);
    let page = bob.get("/datasets/bob/drive").await;
    assert!(page.text.contains(">cities.csv</a>"), "{}", page.text);
    assert!(page.text.contains(">notes.txt</a>"));
    assert_eq!(
        raw(&server, &bob_token, "bob/drive", "cities.csv").await,
        (200, csv.to_vec())
    );
    // The preview escapes what it shows.
    let file = bob.get("/datasets/bob/drive/files/cities.csv").await;
    assert!(file.text.contains("&#60;script&#62;"));
    assert!(!file.text.contains("<script>alert"));

    // A folder, a move into it, a rename.
    let made = bob
        .post(
            "/datasets/bob/drive/files",
            &[
                ("csrf", &csrf),
                ("op", "folder"),
                ("path", ""),
                ("to", "reports"),
            ],
        )
        .await;
    assert_eq!(made.status, 303, "{}", made.text);
    let page = bob.get("/datasets/bob/drive?path=reports").await;
    assert!(page.text.contains("This folder is empty"), "{}", page.text);
    let moved = bob
        .post(
            "/datasets/bob/drive/files",
            &[
                ("csrf", &csrf),
                ("op", "rename"),
                ("path", "cities.csv"),
                ("to", "reports/cities.csv"),
            ],
        )
        .await;
    assert_eq!(moved.status, 303, "{}", moved.text);
    assert_eq!(
        raw(&server, &bob_token, "bob/drive", "cities.csv").await.0,
        404
    );
    assert_eq!(
        raw(&server, &bob_token, "bob/drive", "reports/cities.csv")
            .await
            .1,
        csv.to_vec()
    );

    // A new version of the moved file, then the old one restored from the file's versions.
    let v2 = b"city,people\nBergen,290000\n";
    let done = upload_files(&mut bob, &url, &csrf, "reports", &[("cities.csv", v2)]).await;
    assert_eq!(done.status, 303, "{}", done.text);
    assert_eq!(
        raw(&server, &bob_token, "bob/drive", "reports/cities.csv")
            .await
            .1,
        v2.to_vec()
    );
    let file = bob
        .get("/datasets/bob/drive/files/reports/cities.csv")
        .await;
    assert!(file.text.contains("id=\"versions\""), "{}", file.text);
    let revs: Vec<String> = file
        .text
        .split("name=\"rev\" value=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_owned())
        .collect();
    assert!(!revs.is_empty(), "{}", file.text);
    let restored = bob
        .post(
            "/datasets/bob/drive/files",
            &[
                ("csrf", &csrf),
                ("op", "restore"),
                ("path", "reports/cities.csv"),
                ("rev", &revs[0]),
            ],
        )
        .await;
    assert_eq!(restored.status, 303, "{}", restored.text);
    assert_eq!(
        raw(&server, &bob_token, "bob/drive", "reports/cities.csv")
            .await
            .1,
        csv.to_vec()
    );

    // Delete, find it under recently deleted, restore it.
    let deleted = bob
        .post(
            "/datasets/bob/drive/files",
            &[("csrf", &csrf), ("op", "delete"), ("path", "notes.txt")],
        )
        .await;
    assert_eq!(deleted.status, 303, "{}", deleted.text);
    assert_eq!(
        raw(&server, &bob_token, "bob/drive", "notes.txt").await.0,
        404
    );
    let trash = bob.get("/datasets/bob/drive/trash").await;
    assert_eq!(trash.status, 200);
    assert!(trash.text.contains(">notes.txt</a>"), "{}", trash.text);
    assert!(
        !trash.text.contains("cities.csv"),
        "a move is not a deletion: {}",
        trash.text
    );
    let before = trash.hidden("rev");
    let back = bob
        .post(
            "/datasets/bob/drive/files",
            &[
                ("csrf", &csrf),
                ("op", "restore"),
                ("path", "notes.txt"),
                ("rev", &before),
            ],
        )
        .await;
    assert_eq!(back.status, 303);
    assert_eq!(
        raw(&server, &bob_token, "bob/drive", "notes.txt").await.1,
        b"first notes".to_vec()
    );
    assert!(!bob
        .get("/datasets/bob/drive/trash")
        .await
        .text
        .contains(">notes.txt</a>"));

    // Every action was a commit by bob.
    let history = bob.get("/datasets/bob/drive/history").await;
    for summary in [
        "Upload 2 files",
        "New folder reports",
        "Move cities.csv to reports/cities.csv",
        "Delete notes.txt",
        "Restore notes.txt",
    ] {
        assert!(
            history.text.contains(summary),
            "{summary}: {}",
            history.text
        );
    }

    // Hostile input: each refused with a message, nothing changed.
    let head = |b: &str| b.split("/revisions/").nth(1).map(|s| s[..40].to_owned());
    let before = head(&bob.get("/datasets/bob/drive/history").await.text);
    for (form, status) in [
        (
            vec![("csrf", "wrong"), ("op", "delete"), ("path", "notes.txt")],
            403,
        ),
        (
            vec![
                ("csrf", csrf.as_str()),
                ("op", "delete"),
                ("path", "missing.txt"),
            ],
            404,
        ),
        (
            vec![
                ("csrf", csrf.as_str()),
                ("op", "delete"),
                ("path", "../notes.txt"),
            ],
            422,
        ),
        (
            vec![
                ("csrf", csrf.as_str()),
                ("op", "delete"),
                ("path", "datapackage.json"),
            ],
            422,
        ),
        (
            vec![
                ("csrf", csrf.as_str()),
                ("op", "rename"),
                ("path", "notes.txt"),
                ("to", "reports/cities.csv"),
            ],
            409,
        ),
        (
            vec![
                ("csrf", csrf.as_str()),
                ("op", "rename"),
                ("path", "reports"),
                ("to", "reports/inner"),
            ],
            422,
        ),
        (
            vec![
                ("csrf", csrf.as_str()),
                ("op", "folder"),
                ("path", ""),
                ("to", ".."),
            ],
            422,
        ),
        (
            vec![
                ("csrf", csrf.as_str()),
                ("op", "folder"),
                ("path", ""),
                ("to", "reports"),
            ],
            409,
        ),
        (
            vec![
                ("csrf", csrf.as_str()),
                ("op", "restore"),
                ("path", "notes.txt"),
                ("rev", "nope"),
            ],
            404,
        ),
        (
            vec![
                ("csrf", csrf.as_str()),
                ("op", "explode"),
                ("path", "notes.txt"),
            ],
            422,
        ),
    ] {
        let page = bob.post("/datasets/bob/drive/files", &form).await;
        assert_eq!(page.status, status, "{form:?}: {}", page.text);
        assert!(page.text.contains("request"), "{}", page.text);
        assert_eq!(
            head(&bob.get("/datasets/bob/drive/history").await.text),
            before,
            "{form:?}"
        );
    }
    let forged = upload_files(&mut bob, &url, "wrong", "", &[("x.txt", b"x")]).await;
    assert_eq!(forged.status, 403);
    let bad_name = upload_files(&mut bob, &url, &csrf, "", &[("..", b"x")]).await;
    assert_eq!(bad_name.status, 422, "{}", bad_name.text);
    let nowhere = upload_files(&mut bob, &url, &csrf, "a/../b", &[("x.txt", b"x")]).await;
    assert_eq!(nowhere.status, 422, "{}", nowhere.text);
    assert_eq!(
        head(&bob.get("/datasets/bob/drive/history").await.text),
        before
    );
    // A path sent as a file name keeps only its last part.
    let done = upload_files(&mut bob, &url, &csrf, "", &[("../../etc/passwd", b"p")]).await;
    assert_eq!(done.status, 303);
    assert_eq!(
        raw(&server, &bob_token, "bob/drive", "passwd").await.1,
        b"p".to_vec()
    );

    // Someone else's drive: not even visible.
    let mut alice = Browser::new(&server.url);
    alice.login("alice", PASSWORD).await;
    let carol_token = server.user("carol").await;
    strata::admin::set_password(&server.state, "carol", PASSWORD)
        .await
        .unwrap();
    let mut carol = Browser::new(&server.url);
    carol.login("carol", PASSWORD).await;
    assert_eq!(carol.get("/datasets/bob/drive").await.status, 404);
    let carol_csrf = carol.get("/").await.hidden("csrf");
    let sneaky = upload_files(&mut carol, &url, &carol_csrf, "", &[("x.txt", b"x")]).await;
    assert_eq!(sneaky.status, 404, "{}", sneaky.text);
    let sneaky = carol
        .post(
            "/datasets/bob/drive/files",
            &[
                ("csrf", &carol_csrf),
                ("op", "delete"),
                ("path", "notes.txt"),
            ],
        )
        .await;
    assert_eq!(sneaky.status, 404);
    assert_eq!(
        raw(&server, &carol_token, "bob/drive", "notes.txt").await.0,
        404
    );
}

#[tokio::test]
async fn share_links() {
    let server = server_with_alice().await;
    let token = strata::admin::create_token(&server.state, "alice", "t", "*", None)
        .await
        .unwrap();
    let mut alice = Browser::new(&server.url);
    alice.login("alice", PASSWORD).await;
    let csrf = alice.get("/").await.hidden("csrf");
    let drive = alice.get("/drive").await;
    assert_eq!(drive.status, 303);
    let url = format!("{}/datasets/alice/drive", server.url);
    let done = upload_files(
        &mut alice,
        &url,
        &csrf,
        "",
        &[("private.txt", b"not shared")],
    )
    .await;
    assert_eq!(done.status, 303);
    alice
        .post(
            "/datasets/alice/drive/files",
            &[
                ("csrf", &csrf),
                ("op", "folder"),
                ("path", ""),
                ("to", "public"),
            ],
        )
        .await;
    let done = upload_files(
        &mut alice,
        &url,
        &csrf,
        "public",
        &[("a.csv", b"a,b\n1,2\n"), ("b.txt", b"bee")],
    )
    .await;
    assert_eq!(done.status, 303);

    // Refused links first.
    let settings = "/datasets/alice/drive/settings";
    for (form, status) in [
        (
            vec![("path", "missing"), ("password", ""), ("expires", "")],
            404,
        ),
        (
            vec![("path", "public"), ("password", "short"), ("expires", "")],
            422,
        ),
        (
            vec![
                ("path", "public"),
                ("password", ""),
                ("expires", "2001-01-01"),
            ],
            422,
        ),
        (
            vec![("path", "public"), ("password", ""), ("expires", "soon")],
            422,
        ),
        (
            vec![
                ("path", "public/../private.txt"),
                ("password", ""),
                ("expires", ""),
            ],
            422,
        ),
    ] {
        let mut full = vec![("csrf", csrf.as_str()), ("change", "link")];
        full.extend(form.iter().copied());
        let page = alice.post(settings, &full).await;
        assert_eq!(page.status, status, "{form:?}: {}", page.text);
    }

    let made = alice
        .post(
            settings,
            &[
                ("csrf", &csrf),
                ("change", "link"),
                ("path", "public"),
                ("password", "open sesame"),
                ("expires", "2099-12-31"),
            ],
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.text);
    let link = made
        .text
        .split(&format!("{}/s/", server.url))
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(link.len(), 48);
    // Shown once: not on the next visit.
    assert!(!alice.get(settings).await.text.contains(&link));

    let mut stranger = Browser::new(&server.url);
    let page = stranger.get(&format!("/s/{link}")).await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("type=\"password\""));
    assert!(!page.text.contains("a.csv"));
    assert_eq!(
        stranger.get(&format!("/s/{link}/raw/a.csv")).await.status,
        403
    );
    let wrong = stranger
        .post(&format!("/s/{link}"), &[("password", "guess")])
        .await;
    assert_eq!(wrong.status, 403);
    let right = stranger
        .post(&format!("/s/{link}"), &[("password", "open sesame")])
        .await;
    assert_eq!(right.status, 303);
    let page = stranger.get(&format!("/s/{link}")).await;
    assert!(page.text.contains(">a.csv</a>"), "{}", page.text);
    assert!(!page.text.contains("private.txt"));
    let file = stranger.get(&format!("/s/{link}/raw/a.csv")).await;
    assert_eq!((file.status, file.text.as_str()), (200, "a,b\n1,2\n"));
    for outside in [
        "/raw/%2E%2E%2Fprivate.txt",
        "/raw/private.txt",
        "?path=..%2Fprivate.txt",
    ] {
        let page = stranger.get(&format!("/s/{link}{outside}")).await;
        assert!(
            page.status == 404 || page.status == 422,
            "{outside}: {}",
            page.status
        );
        assert!(!page.text.contains("not shared"), "{outside}");
    }
    // Another browser without the password gets nothing; guessing is cut off.
    let mut guesser = Browser::new(&server.url);
    let mut statuses = Vec::new();
    for i in 0..12 {
        let p = guesser
            .post(
                &format!("/s/{link}"),
                &[("password", &format!("guess {i}"))],
            )
            .await;
        statuses.push(p.status);
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    // Even the right password waits out the window now.
    let locked = guesser
        .post(&format!("/s/{link}"), &[("password", "open sesame")])
        .await;
    assert_eq!(locked.status, 429);

    // A file link without a password.
    let made = alice
        .post(
            settings,
            &[
                ("csrf", &csrf),
                ("change", "link"),
                ("path", "public/b.txt"),
                ("password", ""),
                ("expires", ""),
            ],
        )
        .await;
    assert_eq!(made.status, 201);
    let file_link = made
        .text
        .split(&format!("{}/s/", server.url))
        .nth(1)
        .unwrap()[..48]
        .to_owned();
    let mut anyone = Browser::new(&server.url);
    let page = anyone.get(&format!("/s/{file_link}")).await;
    assert!(page.text.contains("Download"), "{}", page.text);
    assert_eq!(anyone.get(&format!("/s/{file_link}/raw")).await.text, "bee");
    assert_eq!(
        anyone.get(&format!("/s/{file_link}/raw/x")).await.status,
        404
    );
    assert_eq!(
        anyone.get(&format!("/s/{}", "0".repeat(48))).await.status,
        404
    );
    assert_eq!(anyone.get("/s/short").await.status, 404);

    // Revoked: gone at once, for everyone.
    let settings_page = alice.get(settings).await;
    let ids: Vec<String> = settings_page
        .text
        .split("name=\"change\" value=\"unlink\">")
        .skip(1)
        .map(|s| {
            s.split("value=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 2, "{}", settings_page.text);
    for id in &ids {
        let done = alice
            .post(
                settings,
                &[("csrf", &csrf), ("change", "unlink"), ("id", id)],
            )
            .await;
        assert_eq!(done.status, 303);
    }
    assert_eq!(stranger.get(&format!("/s/{link}")).await.status, 404);
    assert_eq!(
        stranger.get(&format!("/s/{link}/raw/a.csv")).await.status,
        404
    );
    assert_eq!(anyone.get(&format!("/s/{file_link}/raw")).await.status, 404);
    let (status, _, log) = body(
        client()
            .get(format!("{}/api/v1/audit", server.url))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert!(log.to_string().contains("dataset.link.revoke"));
}
