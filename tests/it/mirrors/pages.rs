//! A mirror in headless Chromium: bob sets his dataset up to follow a dataset of another strata
//! from its settings (a private address refused with the reason shown), sees the hook secret
//! once, then the mirror's banner on the dataset's page with no upload or branch forms; syncs
//! it now and stops it from the settings.

use serde_json::json;

use super::{call, commit_lfs, mirror_server, settled, API};
use crate::common::forms::PASSWORD;
use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirror_set_up_and_shown_in_chromium() {
    use crate::common::chromium::*;

    let source = TestServer::start().await;
    let mirror = mirror_server().await;
    let src = source.user("alice").await;
    let dst = mirror.user("bob").await;
    strata::cli::admin::set_password(&mirror.state, "bob", PASSWORD)
        .await
        .unwrap();
    let post = reqwest::Method::POST;
    let (s, v) = call(
        post.clone(),
        &format!("{}{API}", source.url),
        &src,
        Some(json!({"namespace": "alice", "name": "data"})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    commit_lfs(
        &source,
        &src,
        "alice/data",
        "main",
        &[("a.txt", b"mirrored bytes\n")],
    )
    .await;
    let (s, v) = call(
        post,
        &format!("{}{API}", mirror.url),
        &dst,
        Some(json!({"namespace": "bob", "name": "copy"})),
    )
    .await;
    assert_eq!(s, 201, "{v}");

    let base = mirror.url.clone();
    let driver = tokio::task::spawn_blocking(Driver::start).await.unwrap();
    let c = browser(&driver, &mirror.dir.path().join("profile")).await;
    sign_in(&c, &base, "bob").await;
    c.goto(&format!("{base}/datasets/bob/copy/settings"))
        .await
        .unwrap();
    // An address nobody may reach: refused, the reason shown.
    fill(&c, "url", "https://0.0.0.0/x.git").await;
    click(&c, "#set-mirror button").await;
    let page = text(&c).await;
    assert!(page.contains("cannot be connected to"), "{page}");
    // The source: set up, the hook secret shown once.
    let since = strata_core::db::now();
    fill(&c, "url", &format!("{}/alice/data.git", source.url)).await;
    fill(&c, "token", &src).await;
    click(&c, "#set-mirror button").await;
    let page = text(&c).await;
    assert!(page.contains("It is shown this once"), "{page}");
    assert!(page.contains("whsec_"), "{page}");
    assert!(!page.contains(&src), "the token is never shown");
    screenshot(&c, "mirror-settings").await;
    let m = settled(&mirror, &dst, "bob/copy", since).await;
    assert_eq!(m["state"], "ok", "{m}");

    // The dataset's page: the banner, the mirrored file, no forms that would write.
    c.goto(&format!("{base}/datasets/bob/copy")).await.unwrap();
    let page = text(&c).await;
    assert!(page.contains("Mirror of"), "{page}");
    assert!(page.contains("in step"), "{page}");
    assert!(page.contains("a.txt"), "{page}");
    let forms = c
        .execute(
            "return [!!document.querySelector('form[action$=\"/upload\"]'), !!document.getElementById('new-branch-link')]",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(forms, json!([false, false]));
    screenshot(&c, "mirror").await;

    // Sync now, then stop mirroring: the section offers to set one up again.
    c.goto(&format!("{base}/datasets/bob/copy/settings"))
        .await
        .unwrap();
    assert!(!text(&c).await.contains("whsec_"), "shown once only");
    click(&c, "#mirror-status button[value=sync]").await;
    assert!(text(&c).await.contains("This dataset follows"));
    click(&c, "#mirror-status button[value=stop]").await;
    let page = text(&c).await;
    assert!(page.contains("Mirror this remote"), "{page}");
    let (s, _) = call(
        reqwest::Method::GET,
        &format!("{}{API}/bob/copy/mirror", mirror.url),
        &dst,
        None,
    )
    .await;
    assert_eq!(s, 404);
}
