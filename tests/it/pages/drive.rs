//! The drive and the file manager over HTTP: `/drive` makes `{user}/drive` when asked; upload
//! (multipart, hashed and stored as LFS objects), new folder, rename, delete, versions and
//! restore, recently deleted; each a commit. Hostile inputs throughout.

use crate::common::*;
use reqwest::multipart::{Form, Part};

pub async fn upload_files(
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
    strata::cli::admin::set_password(&server.state, "bob", PASSWORD)
        .await
        .unwrap();
    let mut bob = Browser::new(&server.url);
    assert_eq!(bob.get("/drive").await.status, 303); // to the login page
    bob.login("bob", PASSWORD).await;
    // The first visit offers to start the drive; a GET makes nothing.
    let first = bob.get("/drive").await;
    assert_eq!(first.status, 200);
    assert!(first.text.contains("Start my drive"));
    assert!(server
        .state
        .db
        .repo_by_path("bob", "drive")
        .await
        .unwrap()
        .is_none());
    let csrf = first.hidden("csrf");
    assert_eq!(bob.post("/drive", &[("csrf", "forged")]).await.status, 403);
    let made = bob.post("/drive", &[("csrf", &csrf)]).await;
    assert_eq!(made.status, 303, "{}", made.text);
    assert_eq!(made.headers["location"], "/datasets/bob/drive");
    // Later visits go straight to it; starting it again opens the same one.
    assert_eq!(
        bob.get("/drive").await.headers["location"],
        "/datasets/bob/drive"
    );
    assert_eq!(bob.post("/drive", &[("csrf", &csrf)]).await.status, 303);
    let page = bob.get("/datasets/bob/drive").await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(page.text.contains("Files to upload"));
    assert!(
        !page.text.contains("datapackage.json"),
        "a drive lists the user's files only"
    );
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
    // What bob's datasets store, on his drive (and nobody else's).
    let stored = csv.len() + b"first notes".len();
    assert!(
        page.text.contains(&format!("Storage: {stored} B used")),
        "{}",
        page.text
    );
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
    // Back on the file's page, which says what was done and offers to undo it.
    let location = restored.headers["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("/datasets/bob/drive/files/reports/cities.csv?undo="),
        "{location}"
    );
    let notice = bob.get(&location).await;
    assert!(
        notice.text.contains("Done: Restore reports/cities.csv")
            && notice.text.contains(">Undo</button>"),
        "{}",
        notice.text
    );
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
                ("from", "trash"),
                ("path", "notes.txt"),
                ("rev", &before),
            ],
        )
        .await;
    assert_eq!(back.status, 303);
    // From Recently deleted: back to the file's folder, with the notice and Undo.
    let location = back.headers["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("/datasets/bob/drive?undo="),
        "{location}"
    );
    let notice = bob.get(&location).await;
    assert!(
        notice.text.contains("Done: Restore notes.txt") && notice.text.contains(">Undo</button>"),
        "{}",
        notice.text
    );
    assert_eq!(
        raw(&server, &bob_token, "bob/drive", "notes.txt").await.1,
        b"first notes".to_vec()
    );
    assert!(!bob
        .get("/datasets/bob/drive/trash")
        .await
        .text
        .contains(">notes.txt</a>"));
    // Its versions are the revisions that have it, not the one that deleted it: each downloads,
    // and only the older one (not the current) offers a restore.
    let file = bob.get("/datasets/bob/drive/files/notes.txt").await;
    let versions = file
        .text
        .split("id=\"versions\"")
        .nth(1)
        .unwrap()
        .to_owned();
    assert!(
        versions.contains("Restore notes.txt")
            && versions.contains("Upload 2 files")
            && !versions.contains("Delete notes.txt"),
        "{versions}"
    );
    let downloads: Vec<&str> = versions
        .split("href=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap())
        .filter(|h| h.starts_with("/api/v1/"))
        .collect();
    assert_eq!(downloads.len(), 2, "{versions}");
    for href in downloads {
        let got = bob.get(href).await;
        assert_eq!(
            (got.status, got.text.as_str()),
            (200, "first notes"),
            "{href}"
        );
    }
    assert_eq!(versions.matches("name=\"rev\"").count(), 1, "{versions}");

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
        // A file never silently turns into a folder: no move or new folder inside a file.
        (
            vec![
                ("csrf", csrf.as_str()),
                ("op", "rename"),
                ("path", "notes.txt"),
                ("to", "reports/cities.csv/notes.txt"),
            ],
            409,
        ),
        (
            vec![
                ("csrf", csrf.as_str()),
                ("op", "folder"),
                ("path", "reports/cities.csv"),
                ("to", "inner"),
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
    let twice = upload_files(
        &mut bob,
        &url,
        &csrf,
        "",
        &[("t.txt", b"1"), ("t.txt", b"2")],
    )
    .await;
    assert_eq!(twice.status, 422, "{}", twice.text);
    let reserved = upload_files(&mut bob, &url, &csrf, "", &[("datapackage.json", b"{}")]).await;
    assert_eq!(reserved.status, 422, "{}", reserved.text);
    // Nor a file into a folder or a folder into a file by an upload.
    let into_file = upload_files(&mut bob, &url, &csrf, "notes.txt", &[("x.txt", b"x")]).await;
    assert_eq!(into_file.status, 409, "{}", into_file.text);
    assert!(into_file.text.contains("is a file"), "{}", into_file.text);
    let over_folder = upload_files(&mut bob, &url, &csrf, "", &[("reports", b"x")]).await;
    assert_eq!(over_folder.status, 409, "{}", over_folder.text);
    assert!(
        over_folder.text.contains("is a folder"),
        "{}",
        over_folder.text
    );
    let huge_token = "x".repeat(10_000);
    let huge = upload_files(&mut bob, &url, &huge_token, "", &[("x.txt", b"x")]).await;
    assert_eq!(huge.status, 413);
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

    // A viewer reads only: no drive for them.
    server.user("vera").await;
    strata::cli::admin::set_password(&server.state, "vera", PASSWORD)
        .await
        .unwrap();
    let alice_token = strata::cli::admin::create_token(&server.state, "alice", "roles", "*", None)
        .await
        .unwrap();
    let set = client()
        .put(format!("{}/api/v1/users/vera/role", server.url))
        .bearer_auth(&alice_token)
        .json(&serde_json::json!({"role": "viewer"}))
        .send()
        .await
        .unwrap();
    assert!(set.status().is_success());
    let mut vera = Browser::new(&server.url);
    vera.login("vera", PASSWORD).await;
    let vera_csrf = vera.get("/drive").await.hidden("csrf");
    assert_eq!(
        vera.post("/drive", &[("csrf", &vera_csrf)]).await.status,
        403
    );

    // Someone else's drive: not even visible.
    let mut alice = Browser::new(&server.url);
    alice.login("alice", PASSWORD).await;
    let carol_token = server.user("carol").await;
    strata::cli::admin::set_password(&server.state, "carol", PASSWORD)
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
