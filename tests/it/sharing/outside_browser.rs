//! The "Share outside" panel in headless Chromium: alice puts her table in a new Delta Sharing
//! share, makes a recipient and is shown its profile file once; the profile's token lists the
//! share over the protocol and reads the table's metadata (the one column shared), and the panel
//! counts that use; a hostile recipient name is refused
//! with the reason; rotating shows a new profile and stops the old token; revoking stops the new
//! one. Bob, who does not manage alice's namespace, is refused the panel.

use fantoccini::Locator;
use serde_json::Value;

use super::gated::survey;
use crate::common::chromium::*;
use crate::common::forms::PASSWORD;
use crate::common::*;

/// The protocol's share listing with `token`: status and body.
async fn shares_with(base: &str, token: &str) -> (u16, Value) {
    let r = client()
        .get(format!("{base}/api/delta-sharing/shares"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The bearer token of the profile file the page shows.
async fn shown_token(c: &fantoccini::Client) -> String {
    let text = c
        .find(Locator::Css("#profile-text"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    let profile: Value = serde_json::from_str(&text).unwrap();
    assert!(profile["endpoint"]
        .as_str()
        .unwrap()
        .ends_with("/api/delta-sharing"));
    profile["bearerToken"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_outside_panel_in_chromium() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    server.user("bob").await;
    for who in ["alice", "bob"] {
        strata::cli::admin::set_password(&server.state, who, PASSWORD)
            .await
            .unwrap();
    }
    survey(&server, &alice).await;
    let base = server.url.clone();
    let driver = tokio::task::spawn_blocking(Driver::start).await.unwrap();
    let c = browser(&driver, &server.dir.path().join("profile-alice")).await;
    c.set_window_size(1200, 900).await.unwrap();
    sign_in(&c, &base, "alice").await;
    let panel = format!("{base}/datasets/alice/survey/share-outside");
    c.goto(&format!("{base}/datasets/alice/survey"))
        .await
        .unwrap();
    click(&c, "a[href$=\"/share-outside\"]").await;
    assert!(text(&c)
        .await
        .contains("No table of this dataset is in a share yet"));

    // The table into a new share, one column of it.
    fill(&c, "share", "partners").await;
    fill(&c, "columns", "id").await;
    click(&c, "#share-table-form button").await;
    let page = text(&c).await;
    assert!(
        page.contains("Shared as partners.default.answers"),
        "{page}"
    );

    // A recipient with a hostile name is refused, saying why; then a good one.
    fill(&c, "name", "acme\"><b>x").await;
    c.execute(
        "document.querySelector('#recipient-form input[name=name]').removeAttribute('pattern')",
        vec![],
    )
    .await
    .unwrap();
    click(&c, "#recipient-form button").await;
    let page = text(&c).await;
    assert!(page.contains("must be 1 to 128 letters"), "{page}");
    // (The refusal is a 422, which the console reports; nothing else may be there.)
    let errors = console_errors(&c).await;
    assert!(
        errors.iter().all(|e| e.contains("status of 422")),
        "{errors:?}"
    );
    fill(&c, "name", "acme").await;
    fill(&c, "organization", "ACME Corp").await;
    fill(&c, "purpose", "audit").await;
    click(&c, "#recipient-form button").await;
    let token = shown_token(&c).await;
    screenshot(&c, "share-outside").await;
    let href = c
        .find(Locator::Css("#profile-download"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert!(href.starts_with("data:application/json"), "{href}");

    // The token reads the share and the table's metadata; the panel counts the read.
    let (status, v) = shares_with(&base, &token).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["items"][0]["name"], "partners", "{v}");
    let r = client()
        .get(format!(
            "{base}/api/delta-sharing/shares/partners/schemas/default/tables/answers/metadata"
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let lines = r.text().await.unwrap();
    let meta: Value = lines
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|l| l.get("metaData").is_some())
        .unwrap();
    let schema: Value =
        serde_json::from_str(meta["metaData"]["schemaString"].as_str().unwrap()).unwrap();
    let fields: Vec<&str> = schema["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["id"], "{lines}");
    c.goto(&panel).await.unwrap();
    let page = text(&c).await;
    assert!(
        page.contains("1 query") && page.contains("ACME Corp: audit"),
        "{page}"
    );
    assert!(
        c.find(Locator::Css("#profile-text")).await.is_err(),
        "the profile is shown once"
    );

    // Rotated: a new profile, the old token refused. Revoked: the new one too.
    c.execute("window.confirm = () => true", vec![])
        .await
        .unwrap();
    click(
        &c,
        "form:has(input[name=\"change\"][value=\"rotate\"]) button",
    )
    .await;
    let rotated = shown_token(&c).await;
    assert_ne!(rotated, token);
    assert_eq!(shares_with(&base, &token).await.0, 401);
    assert_eq!(shares_with(&base, &rotated).await.0, 200);
    c.execute("window.confirm = () => true", vec![])
        .await
        .unwrap();
    click(
        &c,
        "form:has(input[name=\"change\"][value=\"revoke\"]) button",
    )
    .await;
    assert!(text(&c).await.contains("acme is revoked"));
    assert_eq!(shares_with(&base, &rotated).await.0, 401);
    let errors = console_errors(&c).await;
    assert!(errors.is_empty(), "{errors:?}");

    // Bob manages nothing of alice's.
    let (cookie, _) = browser_session(&base, "bob", PASSWORD).await;
    let r = client()
        .get(&panel)
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert!(matches!(r.status().as_u16(), 403 | 404), "{}", r.status());
    let _ = c.close().await;
}
