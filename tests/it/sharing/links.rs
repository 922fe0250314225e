//! Share links over HTTP: made on the settings page (refusals first), opened without an account,
//! behind a password (wrong guesses counted, then 429), nothing beside the linked folder or file,
//! revocation at once, audited.

use crate::common::*;
use crate::pages::drive::upload_files;

#[tokio::test]
async fn share_links() {
    let server = server_with_alice().await;
    let token = strata::cli::admin::create_token(&server.state, "alice", "t", "*", None)
        .await
        .unwrap();
    let mut alice = Browser::new(&server.url);
    alice.login("alice", PASSWORD).await;
    let csrf = alice.get("/").await.hidden("csrf");
    let drive = alice.post("/drive", &[("csrf", &csrf)]).await;
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
    // Shown again on every visit of its admins, to copy (derived from a kept nonce).
    assert!(alice.get(settings).await.text.contains(&link));

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
