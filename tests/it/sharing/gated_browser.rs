//! A gated dataset in headless Chromium, as its owner and a visitor use it: alice gates her
//! dataset on its access page; a stranger's visit goes to the access page (card, schemas, "sign
//! in to request access"); bob, signed in, is sent there from the dataset's page, fills the form
//! (markup in an answer stays text), sees his request pending; alice ticks it in her queue and
//! accepts it; bob is told (opening the notification marks it read), opens the files; his access runs out and the dataset's page sends him
//! back to ask again.

use fantoccini::Locator;
use reqwest::Method;
use serde_json::json;
use strata_core::db::{now, rfc3339};

use super::gated::{call, survey, CANARY};
use crate::common::chromium::*;
use crate::common::forms::PASSWORD;
use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_and_approve_in_chromium() {
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
    let a = browser(&driver, &server.dir.path().join("profile-alice")).await;
    let b = browser(&driver, &server.dir.path().join("profile-bob")).await;
    for c in [&a, &b] {
        c.set_window_size(1200, 900).await.unwrap();
    }

    // alice gates it from her queue page.
    sign_in(&a, &base, "alice").await;
    a.goto(&format!("{base}/datasets/alice/survey/settings/access"))
        .await
        .unwrap();
    assert!(text(&a).await.contains("No request waits"));
    a.find(Locator::Css("input[name=\"mode\"][value=\"manual\"]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    a.find(Locator::Css("textarea[name=\"message\"]"))
        .await
        .unwrap()
        .send_keys("Tell us who you are.")
        .await
        .unwrap();
    click(&a, "#gate-form button").await;
    assert!(
        text(&a).await.contains("gated (manual)"),
        "{}",
        text(&a).await
    );

    // A stranger is sent to the access page: the card and schemas, no value, a sign-in link.
    let r = client()
        .get(format!("{base}/datasets/alice/survey"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    assert_eq!(r.headers()["location"], "/datasets/alice/survey/access");
    let page = client()
        .get(format!("{base}/datasets/alice/survey/access"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Sign in to request access") && page.contains("What they said"));
    assert!(!page.contains(CANARY));

    // bob, signed in, goes to the dataset and lands on its access page.
    sign_in(&b, &base, "bob").await;
    b.goto(&format!("{base}/datasets/alice/survey"))
        .await
        .unwrap();
    let page = text(&b).await;
    assert!(
        b.current_url().await.unwrap().path().ends_with("/access"),
        "{page}"
    );
    assert!(
        page.contains("Tell us who you are.") && page.contains("answers.csv"),
        "{page}"
    );
    assert!(!page.contains(CANARY));
    fill(&b, "q_name", "<b>Bob</b>").await;
    fill(&b, "q_organization", "Uni").await;
    fill(&b, "q_purpose", "A thesis").await;
    click(&b, "#request-form button").await;
    let page = text(&b).await;
    assert!(page.contains("pending"), "{page}");
    screenshot(&b, "access-request").await;

    // alice's queue: his answers as text; ticked and accepted.
    a.goto(&format!("{base}/datasets/alice/survey/settings/access"))
        .await
        .unwrap();
    let page = text(&a).await;
    assert!(
        page.contains("<b>Bob</b>") && page.contains("A thesis"),
        "{page}"
    );
    a.find(Locator::Css("input[name=\"u_bob\"]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    screenshot(&a, "access-queue").await;
    click(&a, "button[name=\"status\"][value=\"accepted\"]").await;
    let page = text(&a).await;
    assert!(page.contains("1 request(s) accepted"), "{page}");
    assert!(page.contains("until revoked"), "{page}");

    // bob is told, and reads.
    let mut told = String::new();
    for _ in 0..100 {
        b.goto(&format!("{base}/notifications")).await.unwrap();
        told = text(&b).await;
        if told.contains("you may read alice/survey") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(told.contains("you may read alice/survey"), "{told}");
    // Opening it marks it read, and leads to the dataset.
    click(&b, "#notifications a").await;
    assert_eq!(
        b.current_url().await.unwrap().path(),
        "/datasets/alice/survey"
    );
    b.goto(&format!("{base}/notifications")).await.unwrap();
    assert!(text(&b).await.contains("Nothing unread"));
    b.goto(&format!("{base}/datasets/alice/survey/files/answers.csv"))
        .await
        .unwrap();
    assert!(text(&b).await.contains(CANARY));

    // His access runs out: the dataset's page sends him back to ask.
    let until = now() + 2;
    let (status, v) = call(
        &server,
        Method::POST,
        "/api/v1/datasets/alice/survey/access/requests/answer",
        Some(&alice),
        Some(json!({"users": ["bob"], "status": "accepted", "expires_at": rfc3339(until)})),
    )
    .await;
    assert_eq!(v[0]["status"], "accepted", "{status} {v}");
    while now() <= until {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    b.goto(&format!("{base}/datasets/alice/survey"))
        .await
        .unwrap();
    let page = text(&b).await;
    assert!(page.contains("access ran out"), "{page}");
    assert!(b.find(Locator::Css("#request-form")).await.is_ok());
    assert!(console_errors(&b).await.is_empty());
    let _ = a.close().await;
    let _ = b.close().await;
}
