//! The settings pages in Chromium: an organisation made by an engineer (a plain user told who
//! makes them, a name taken refused and kept as typed), a dataset renamed (the old address
//! leading to the new) and deleted only with its name typed again.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organisations_made_and_datasets_renamed_and_deleted_in_chromium() {
    let server = TestServer::start().await;
    let alice = alice_with(&server, "weather").await;
    let base = server.url.clone();
    let driver = tokio::task::spawn_blocking(Driver::start).await.unwrap();
    let c = browser(&driver, &server.dir.path().join("profile-alice")).await;
    sign_in(&c, &base, "alice").await;
    // An organisation made from the settings page, by an engineer (a plain user is told who
    // makes them); a name taken is refused, kept as typed.
    c.goto(&format!("{base}/settings")).await.unwrap();
    assert!(c.find(Locator::Id("no-new-org")).await.is_ok());
    let me = server
        .state
        .db
        .user_by_name("alice")
        .await
        .unwrap()
        .unwrap();
    server.state.db.set_role(me.id, "engineer").await.unwrap();
    c.goto(&format!("{base}/settings")).await.unwrap();
    type_into(&c, "#org-name", "weatherco").await;
    click(&c, "#new-org button[type=submit]").await;
    assert_eq!(c.current_url().await.unwrap().path(), "/orgs/weatherco");
    c.goto(&format!("{base}/settings")).await.unwrap();
    type_into(&c, "#org-name", "alice").await;
    click(&c, "#new-org button[type=submit]").await;
    assert!(text(&c).await.contains("is taken"));
    let kept = c
        .find(Locator::Id("org-name"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(kept.as_deref(), Some("alice"));
    assert!(text(&c).await.contains("weatherco"), "listed as hers");

    // Renamed from its settings page (a drive's name refused in words): the old address leads
    // to the new; renamed back for what follows.
    c.goto(&format!("{base}/datasets/alice/weather/settings"))
        .await
        .unwrap();
    for (to, at) in [
        ("drive", None),
        ("weather-2", Some("/datasets/alice/weather-2/settings")),
    ] {
        c.execute("window.confirm = () => true", vec![])
            .await
            .unwrap();
        fill(&c, "new_name", to).await;
        click(&c, "#rename-dataset button[type=submit]").await;
        match at {
            Some(at) => assert_eq!(c.current_url().await.unwrap().path(), at),
            None => assert!(text(&c).await.contains("name of a person's drive")),
        }
    }
    c.goto(&format!("{base}/datasets/alice/weather?path="))
        .await
        .unwrap();
    let url = c.current_url().await.unwrap();
    assert_eq!(
        (url.path(), url.query()),
        ("/datasets/alice/weather-2", Some("path="))
    );
    c.goto(&format!("{base}/datasets/alice/weather-2/settings"))
        .await
        .unwrap();
    c.execute("window.confirm = () => true", vec![])
        .await
        .unwrap();
    fill(&c, "new_name", "weather").await;
    click(&c, "#rename-dataset button[type=submit]").await;

    // A dataset deleted from its settings page, only with its name typed again.
    c.goto(&format!("{base}/datasets/alice/weather/settings"))
        .await
        .unwrap();
    c.execute("window.confirm = () => true", vec![])
        .await
        .unwrap();
    fill(&c, "confirm", "weathe").await;
    click(&c, "#delete-dataset button[type=submit]").await;
    assert!(text(&c).await.contains("type the dataset's name"));
    c.execute("window.confirm = () => true", vec![])
        .await
        .unwrap();
    fill(&c, "confirm", "weather").await;
    click(&c, "#delete-dataset button[type=submit]").await;
    assert_eq!(c.current_url().await.unwrap().path(), "/");
    let (status, _) = call(
        &server,
        Method::GET,
        "/api/v1/datasets/alice/weather",
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(status, 404);
    // The three refusals asked for above are the only errors.
    let errors = console_errors(&c).await;
    let unexpected: Vec<&String> = errors
        .iter()
        .filter(|e| !e.contains("409 (Conflict)") && !e.contains("422 (Unprocessable"))
        .collect();
    assert!(unexpected.is_empty() && errors.len() == 3, "{errors:?}");
    let _ = c.close().await;
}
