//! The dataset pages driven over HTTP: tags (create, describe, delete) and settings (visibility,
//! protection, collaborators) with their refusals, and a big folder listed a page at a time.

use crate::common::*;
use serde_json::json;

#[tokio::test]
async fn dataset_tag_pages() {
    let server = server_with_alice().await;
    server.user("bob").await;
    strata::cli::admin::set_password(&server.state, "bob", PASSWORD)
        .await
        .unwrap();
    let token = strata::cli::admin::create_token(&server.state, "alice", "t", "*", None)
        .await
        .unwrap();
    let made = client()
        .post(format!("{}/api/v1/datasets", server.url))
        .bearer_auth(&token)
        .json(&json!({"namespace": "alice", "name": "survey", "visibility": "public"}))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 201);
    let mut alice = Browser::new(&server.url);
    alice.login("alice", PASSWORD).await;
    let page = alice.get("/datasets/alice/survey/tags").await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(page.text.contains("No tags yet"));
    let csrf = page.hidden("csrf");

    // Tag the head, with a description that is hostile text.
    let made = alice
        .post(
            "/datasets/alice/survey/tags",
            &[
                ("csrf", &csrf),
                ("name", "v1"),
                ("revision", ""),
                ("description", "<img src=x onerror=alert(1)>"),
            ],
        )
        .await;
    assert_eq!(made.status, 303, "{}", made.text);
    let page = alice.get("/datasets/alice/survey/tags").await;
    // Escaped (askama writes `<` as `&#60;`), never raw.
    assert!(
        page.text.contains("&#60;img src=x onerror=alert(1)&#62;"),
        "{}",
        page.text
    );
    assert!(!page.text.contains("<img src=x"));
    // The REST API sees the same tag.
    let (status, v) = {
        let r = client()
            .get(format!(
                "{}/api/v1/datasets/alice/survey/tags/v1",
                server.url
            ))
            .send()
            .await
            .unwrap();
        (r.status(), r.json::<serde_json::Value>().await.unwrap())
    };
    assert_eq!(status, 200);
    assert_eq!(v["description"], "<img src=x onerror=alert(1)>");

    // Refusals are shown on the page, and change nothing.
    for (name, status, says) in [("v1", 409, "exists"), ("bad..name", 422, "tag")] {
        let again = alice
            .post(
                "/datasets/alice/survey/tags",
                &[
                    ("csrf", &csrf),
                    ("name", name),
                    ("revision", ""),
                    ("description", ""),
                ],
            )
            .await;
        assert_eq!(again.status, status, "{name}: {}", again.text);
        assert!(again.text.contains("role=\"alert\"") && again.text.contains(says));
    }
    let wrong = alice
        .post(
            "/datasets/alice/survey/tags",
            &[
                ("csrf", "nope"),
                ("name", "v2"),
                ("revision", ""),
                ("description", ""),
            ],
        )
        .await;
    assert_eq!(wrong.status, 403);

    // Bob reads a public dataset but may not tag it or delete its tags.
    let mut bob = Browser::new(&server.url);
    bob.login("bob", PASSWORD).await;
    let page = bob.get("/datasets/alice/survey/tags").await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("v1") && !page.text.contains("New tag"));
    let bob_csrf = page.hidden("csrf");
    let refused = bob
        .post(
            "/datasets/alice/survey/tags/v1/delete",
            &[("csrf", &bob_csrf)],
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.text);

    // Alice edits the description, then deletes the tag.
    let edited = alice
        .post(
            "/datasets/alice/survey/tags/v1/description",
            &[("csrf", &csrf), ("description", "first release")],
        )
        .await;
    assert_eq!(edited.status, 303, "{}", edited.text);
    assert!(alice
        .get("/datasets/alice/survey/tags")
        .await
        .text
        .contains("value=\"first release\""));
    let gone = alice
        .post("/datasets/alice/survey/tags/v1/delete", &[("csrf", &csrf)])
        .await;
    assert_eq!(gone.status, 303);
    assert!(alice
        .get("/datasets/alice/survey/tags")
        .await
        .text
        .contains("No tags yet"));
}

#[tokio::test]
async fn dataset_settings_page() {
    let server = server_with_alice().await;
    server.user("bob").await;
    strata::cli::admin::set_password(&server.state, "bob", PASSWORD)
        .await
        .unwrap();
    let token = strata::cli::admin::create_token(&server.state, "alice", "t", "*", None)
        .await
        .unwrap();
    let made = client()
        .post(format!("{}/api/v1/datasets", server.url))
        .bearer_auth(&token)
        .json(&json!({"namespace": "alice", "name": "secret"}))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 201);
    let mut alice = Browser::new(&server.url);
    alice.login("alice", PASSWORD).await;
    let mut bob = Browser::new(&server.url);
    bob.login("bob", PASSWORD).await;
    let page = alice.get("/datasets/alice/secret").await;
    assert!(page.text.contains("/datasets/alice/secret/settings"));
    assert_eq!(bob.get("/datasets/alice/secret").await.status, 404);

    let page = alice.get("/datasets/alice/secret/settings").await;
    assert_eq!(page.status, 200, "{}", page.text);
    let csrf = page.hidden("csrf");
    // Bob reads once he is a collaborator, and loses it when removed.
    let r = settings_post(
        &mut alice,
        &csrf,
        &[
            ("change", "collaborator"),
            ("who", "bob"),
            ("permission", "read"),
        ],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(bob.get("/datasets/alice/secret").await.status, 200);
    // A reader is not an admin: no settings page, no changes.
    assert_eq!(bob.get("/datasets/alice/secret/settings").await.status, 403);
    let bob_csrf = bob.get("/datasets/alice/secret").await.hidden("csrf");
    let r = bob
        .post(
            "/datasets/alice/secret/settings",
            &[
                ("csrf", &bob_csrf),
                ("change", "visibility"),
                ("visibility", "public"),
            ],
        )
        .await;
    assert_eq!(r.status, 403);
    let r = settings_post(&mut alice, &csrf, &[("change", "remove"), ("who", "bob")]).await;
    assert_eq!(r.status, 303);
    assert_eq!(bob.get("/datasets/alice/secret").await.status, 404);

    // Refusals show on the page: an unknown user, a made-up visibility, no CSRF token.
    let r = settings_post(
        &mut alice,
        &csrf,
        &[
            ("change", "collaborator"),
            ("who", "nobody"),
            ("permission", "read"),
        ],
    )
    .await;
    assert_eq!(r.status, 404);
    assert!(r.text.contains("role=\"alert\""), "{}", r.text);
    let r = settings_post(
        &mut alice,
        &csrf,
        &[("change", "visibility"), ("visibility", "everyone")],
    )
    .await;
    assert_eq!(r.status, 422);
    let r = alice
        .post(
            "/datasets/alice/secret/settings",
            &[
                ("csrf", "nope"),
                ("change", "visibility"),
                ("visibility", "public"),
            ],
        )
        .await;
    assert_eq!(r.status, 403);

    // Public: a stranger reads the page without signing in. Protection off, then on again.
    let r = settings_post(
        &mut alice,
        &csrf,
        &[("change", "visibility"), ("visibility", "public")],
    )
    .await;
    assert_eq!(r.status, 303);
    let anon = client()
        .get(format!("{}/datasets/alice/secret", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), 200);
    let r = settings_post(&mut alice, &csrf, &[("change", "protection")]).await;
    assert_eq!(r.status, 303);
    let repo = server
        .state
        .db
        .repo_by_path("alice", "secret")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(repo.protect_default_branch, 0);
    let r = settings_post(
        &mut alice,
        &csrf,
        &[("change", "protection"), ("protect", "on")],
    )
    .await;
    assert_eq!(r.status, 303);
    let repo = server
        .state
        .db
        .repo_by_path("alice", "secret")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(repo.protect_default_branch, 1);
    let events: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE event LIKE 'dataset.%' AND actor = 'alice'",
    )
    .fetch_one(server.state.db.pool())
    .await
    .unwrap();
    assert_eq!(events, 5);
}

/// One change on alice/secret's settings page.
async fn settings_post(b: &mut Browser, csrf: &str, fields: &[(&str, &str)]) -> Page {
    let mut all = vec![("csrf", csrf)];
    all.extend_from_slice(fields);
    b.post("/datasets/alice/secret/settings", &all).await
}

#[tokio::test]
async fn a_big_folder_is_listed_a_page_at_a_time() {
    let server = TestServer::start().await;
    let token = server.user("alice").await;
    let api = format!("{}/api/v1/datasets", server.url);
    let made: serde_json::Value = client()
        .post(&api)
        .bearer_auth(&token)
        .json(&serde_json::json!({"namespace": "alice", "name": "many", "visibility": "public"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let parent = made["revision"]["id"].as_str().unwrap();
    let mut body = vec![
        serde_json::json!({"key": "header", "value": {"summary": "many files", "parent": parent}}),
    ];
    for i in 0..450 {
        body.push(serde_json::json!({"key": "file", "value": {"path": format!("big/f{i:03}.txt"), "content": "x"}}));
    }
    body.push(
        serde_json::json!({"key": "file", "value": {"path": "big/sub/inner.txt", "content": "y"}}),
    );
    // A folder with a file the pages hide (an empty folder's placeholder sorts first).
    body.push(serde_json::json!({"key": "file", "value": {"path": "full/.keep", "content": ""}}));
    for i in 0..201 {
        body.push(serde_json::json!({"key": "file", "value": {"path": format!("full/g{i:03}.txt"), "content": "x"}}));
    }
    let body: Vec<String> = body.iter().map(|l| l.to_string()).collect();
    let r = client()
        .post(format!("{api}/alice/many/commit"))
        .bearer_auth(&token)
        .header("content-type", "application/x-ndjson")
        .body(body.join("\n"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let get = |query: &'static str| {
        let url = format!("{}/datasets/alice/many?{query}", server.url);
        async move {
            let r = client().get(url).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    // Folders first, then files by name; 200 a page.
    let (status, html) = get("path=big").await;
    assert_eq!(status, 200);
    assert_eq!(
        html.matches("/datasets/alice/many/files/big/f").count(),
        199
    );
    assert!(
        html.contains(">sub/<") && html.contains("1–200 of 451") && html.contains("rel=\"next\"")
    );
    let (_, html) = get("path=big&page=3").await;
    assert_eq!(html.matches("/datasets/alice/many/files/big/f").count(), 51);
    assert!(
        html.contains("401–451 of 451")
            && html.contains("rel=\"prev\"")
            && !html.contains("rel=\"next\"")
    );
    assert!(html.contains("big/f449.txt"));
    // Hidden files count nowhere: following the pages shows every visible file exactly once.
    let mut seen = Vec::new();
    let mut query = "path=full".to_owned();
    for page in 1.. {
        let r = client()
            .get(format!("{}/datasets/alice/many?{query}", server.url))
            .send()
            .await
            .unwrap();
        let html = r.text().await.unwrap();
        assert!(!html.contains(".keep"), "{html}");
        let on_page: Vec<String> = html
            .split("/datasets/alice/many/files/full/")
            .skip(1)
            .map(|s| s.split('"').next().unwrap().to_owned())
            .collect();
        let first = 200 * (page - 1) + 1;
        let range = format!("{first}–{} of 201", first + on_page.len() - 1);
        assert!(html.contains(&range), "{range}: {html}");
        seen.extend(on_page);
        match html
            .split("rel=\"next\" href=\"/datasets/alice/many?")
            .nth(1)
        {
            Some(rest) => query = rest.split('"').next().unwrap().replace("&amp;", "&"),
            None => break,
        }
        assert!(page < 3, "more pages than entries");
    }
    let want: Vec<String> = (0..201).map(|i| format!("g{i:03}.txt")).collect();
    assert_eq!(seen, want);
    let (_, html) = get("path=full&page=3").await;
    assert!(html.contains("none on page 3"), "{html}");
    // A folder that is not there is an error page, not an empty listing.
    let (status, html) = get("path=nowhere").await;
    assert_eq!(status, 404);
    assert!(html.contains("role=\"alert\""));
}

#[tokio::test]
async fn branch_and_revert_pages() {
    let server = server_with_alice().await;
    let token = strata::cli::admin::create_token(&server.state, "alice", "t", "*", None)
        .await
        .unwrap();
    server.user("bob").await;
    let api = format!("{}/api/v1/datasets", server.url);
    let made: serde_json::Value = client()
        .post(&api)
        .bearer_auth(&token)
        .json(&json!({"namespace": "alice", "name": "log", "visibility": "public"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let first = made["revision"]["id"].as_str().unwrap().to_owned();
    let lines = format!(
        "{}\n{}\n",
        json!({"key": "header", "value": {"summary": "add a file", "parent": first}}),
        json!({"key": "file", "value": {"path": "a.txt", "content": "v2"}})
    );
    let second: serde_json::Value = client()
        .post(format!("{api}/alice/log/commit"))
        .bearer_auth(&token)
        .body(lines)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let second = second["revision"]["id"].as_str().unwrap().to_owned();
    let mut alice = Browser::new(&server.url);
    alice.login("alice", PASSWORD).await;

    // Branches: create from a revision, refuse bad names, delete; main cannot go.
    let page = alice.get("/datasets/alice/log/tags").await;
    let csrf = page.hidden("csrf");
    assert!(page.text.contains("New branch"));
    let made = alice
        .post(
            "/datasets/alice/log/branches",
            &[("csrf", &csrf), ("name", "draft"), ("revision", &first)],
        )
        .await;
    assert_eq!(made.status, 303, "{}", made.text);
    let (_, _, branches) = body(
        client()
            .get(format!("{api}/alice/log/branches"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(branches.to_string().contains(&first), "{branches}");
    for (name, status) in [("draft", 409), ("../x", 422), ("", 422)] {
        let again = alice
            .post(
                "/datasets/alice/log/branches",
                &[("csrf", &csrf), ("name", name), ("revision", "")],
            )
            .await;
        assert_eq!(again.status, status, "{name}: {}", again.text);
    }
    let forged = alice
        .post(
            "/datasets/alice/log/branches/draft/delete",
            &[("csrf", "x")],
        )
        .await;
    assert_eq!(forged.status, 403);
    let main = alice
        .post(
            "/datasets/alice/log/branches/main/delete",
            &[("csrf", &csrf)],
        )
        .await;
    assert!(main.status == 422 || main.status == 409, "{}", main.text);
    let gone = alice
        .post(
            "/datasets/alice/log/branches/draft/delete",
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(gone.status, 303);
    assert!(!alice
        .get("/datasets/alice/log/tags")
        .await
        .text
        .contains(">draft<"));

    // Revert main to the first revision from its page; a stale head is refused.
    let page = alice
        .get(&format!("/datasets/alice/log/revisions/{first}"))
        .await;
    assert!(
        page.text.contains("Revert main to this revision"),
        "{}",
        page.text
    );
    assert_eq!(page.hidden("parent"), second);
    let stale = alice
        .post(
            "/datasets/alice/log/revert",
            &[("csrf", &csrf), ("to", &first), ("parent", &first)],
        )
        .await;
    assert_eq!(stale.status, 409, "{}", stale.text);
    let done = alice
        .post(
            "/datasets/alice/log/revert",
            &[("csrf", &csrf), ("to", &first), ("parent", &second)],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.text);
    let raw = client()
        .get(format!("{api}/alice/log/raw/a.txt"))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 404);
    // The head's own page offers no revert; readers who do not write see none.
    let head = done.headers["location"].to_str().unwrap().to_owned();
    assert!(!alice.get(&head).await.text.contains("Revert main"));
    strata::cli::admin::set_password(&server.state, "bob", PASSWORD)
        .await
        .unwrap();
    let mut bob = Browser::new(&server.url);
    bob.login("bob", PASSWORD).await;
    let page = bob
        .get(&format!("/datasets/alice/log/revisions/{first}"))
        .await;
    assert_eq!(page.status, 200);
    assert!(!page.text.contains("Revert main"));
    let bob_csrf = page.hidden("csrf");
    let refused = bob
        .post(
            "/datasets/alice/log/revert",
            &[("csrf", &bob_csrf), ("to", &second), ("parent", &first)],
        )
        .await;
    assert_eq!(refused.status, 403);
    let refused = bob
        .post(
            "/datasets/alice/log/branches",
            &[("csrf", &bob_csrf), ("name", "mine"), ("revision", "")],
        )
        .await;
    assert_eq!(refused.status, 403);
}
