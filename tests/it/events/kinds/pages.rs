//! The webhooks and notifications pages in headless Chromium.

use super::*;

/// alice adds a webhook on her dataset's webhooks page (kinds ticked, a glob), sees its secret
/// once, pauses it; a bad URL is refused with the form kept. bob, told of a share, sees the
/// header's badge, reads the notification on its page and marks it read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_and_notifications_pages_in_chromium() {
    use crate::common::chromium::*;
    use fantoccini::Locator;

    let (s, _) = setup().await;
    let base = s.server.url.clone();
    for user in ["alice", "bob"] {
        strata::cli::admin::set_password(&s.server.state, user, PASSWORD)
            .await
            .unwrap();
    }
    let driver = tokio::task::spawn_blocking(Driver::start).await.unwrap();
    let c = browser(&driver, &s.server.dir.path().join("profile")).await;
    sign_in(&c, &base, "alice").await;

    // From the dataset's settings to its webhooks page.
    c.goto(&format!("{base}/datasets/alice/m/settings"))
        .await
        .unwrap();
    click(&c, "a[href='/datasets/alice/m/settings/webhooks']").await;
    assert!(text(&c).await.contains("No webhooks yet"));
    // A URL that reaches no allowed address: refused, the form kept.
    fill(&c, "url", "http://0.0.0.0/hook").await;
    c.find(Locator::Css("input[name=event][value='share.granted']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    click(&c, "#add-webhook button[value=add]").await;
    let page = text(&c).await;
    assert!(page.contains("No webhooks yet"), "{page}");
    let kept = c
        .execute(
            "return [document.querySelector('input[name=url]').value, document.querySelector(\"input[value='share.granted']\").checked]",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(kept, json!(["http://0.0.0.0/hook", true]));
    // A good one: added, its secret shown once.
    fill(&c, "url", "http://127.0.0.1:9/hook").await;
    fill(&c, "paths", "data/**, t.csv").await;
    click(&c, "#add-webhook button[value=add]").await;
    let page = text(&c).await;
    assert!(page.contains("It is shown this once"), "{page}");
    assert!(page.contains("whsec_"), "{page}");
    assert!(page.contains("http://127.0.0.1:9/hook"), "{page}");
    assert!(page.contains("data/**, t.csv"), "{page}");
    screenshot(&c, "webhooks").await;
    // Paused with its button; reloaded, the secret is gone.
    click(&c, "section.webhook button[value=pause]").await;
    let page = text(&c).await;
    assert!(page.contains("paused by an admin"), "{page}");
    assert!(!page.contains("whsec_"), "{page}");
    let (status, v) = call(reqwest::Method::GET, &s.at("/webhooks"), &s.alice, None).await;
    assert_eq!(status, 200);
    assert_eq!(v["webhooks"][0]["active"], false, "{v}");
    assert_eq!(v["webhooks"][0]["events"], json!(["share.granted"]), "{v}");
    assert_eq!(
        v["webhooks"][0]["paths"],
        json!(["data/**", "t.csv"]),
        "{v}"
    );

    // alice shares t.csv with bob; bob signs in: the badge, the page, marked read.
    let (status, v) = call(
        reqwest::Method::POST,
        &s.at("/shares"),
        &s.alice,
        Some(json!({"path": "t.csv", "user": "bob", "access": "read"})),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    wait_notified(&s, &s.bob, 1).await;
    c.delete_all_cookies().await.unwrap();
    sign_in(&c, &base, "bob").await;
    let badge = c
        .find(Locator::Css("header a.bell .badge"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(badge.starts_with('1'), "{badge}");
    click(&c, "header a.bell").await;
    let page = text(&c).await;
    assert!(page.contains("1 unread notification"), "{page}");
    assert!(
        page.contains("alice shared t.csv of alice/m with you (read)"),
        "{page}"
    );
    screenshot(&c, "notifications").await;
    click(&c, "#mark-all-read").await;
    let page = text(&c).await;
    assert!(page.contains("Nothing unread"), "{page}");
    assert!(c.find(Locator::Css("header a.bell .badge")).await.is_err());
    // The notification leads to the shared file.
    click(&c, "#notifications a").await;
    let url = c.current_url().await.unwrap();
    assert_eq!(url.path(), "/datasets/alice/m/files/t.csv");
    // The refused form's answer (422) is the one expected; nothing else (no CSP violation, no
    // missing asset, no script error).
    let errors: Vec<String> = console_errors(&c)
        .await
        .into_iter()
        .filter(|e| !e.contains("/settings/webhooks - Failed to load resource: the server responded with a status of 422"))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    c.close().await.unwrap();
}
