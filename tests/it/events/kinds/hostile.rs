//! Namespace webhooks and notifications refuse strangers and bad input.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_webhooks_and_notifications_refuse_strangers_and_bad_input() {
    let (s, carol) = setup().await;
    let base = s.server.url.clone();
    let hooks = |ns: &str| format!("{base}/api/v1/namespaces/{ns}/webhooks");
    let good = json!({"url": "http://127.0.0.1:9/x"});
    // Another user's namespace: 403; nobody's: 404; an organisation's, not its owner: 403.
    let (status, v) = call(
        reqwest::Method::POST,
        &hooks("alice"),
        &s.bob,
        Some(good.clone()),
    )
    .await;
    assert_eq!(status, 403, "{v}");
    let (status, v) = call(reqwest::Method::GET, &hooks("alice"), &s.bob, None).await;
    assert_eq!(status, 403, "{v}");
    let (status, v) = call(
        reqwest::Method::POST,
        &hooks("nobody"),
        &s.bob,
        Some(good.clone()),
    )
    .await;
    assert_eq!(status, 404, "{v}");
    let root = s.server.user_with("root", true, "*").await;
    let (status, v) = call(
        reqwest::Method::POST,
        &format!("{base}/api/v1/orgs"),
        &root,
        Some(json!({"name": "acme"})),
    )
    .await;
    assert!(status == 201 || status == 200, "{v}");
    let (status, v) = call(
        reqwest::Method::POST,
        &hooks("acme"),
        &s.bob,
        Some(good.clone()),
    )
    .await;
    assert_eq!(status, 403, "{v}");
    let (status, v) = call(
        reqwest::Method::POST,
        &hooks("acme"),
        &root,
        Some(good.clone()),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let acme_hook = v["webhook"]["id"].as_i64().unwrap();
    // alice's own; then a stranger's id through her namespace, and hers through his: 404.
    let (status, v) = call(
        reqwest::Method::POST,
        &hooks("Alice"),
        &s.alice,
        Some(good.clone()),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let mine = v["webhook"]["id"].as_i64().unwrap();
    let (status, _) = call(
        reqwest::Method::DELETE,
        &format!("{}/{acme_hook}", hooks("alice")),
        &s.alice,
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = call(
        reqwest::Method::DELETE,
        &format!("{}/{mine}", hooks("carol")),
        &carol,
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = call(
        reqwest::Method::DELETE,
        &format!("{}/{mine}", s.at("/webhooks")),
        &s.alice,
        None,
    )
    .await;
    assert_eq!(status, 404, "a namespace's webhook is no dataset's");
    let (status, v) = call(reqwest::Method::GET, &hooks("alice"), &s.alice, None).await;
    assert_eq!(status, 200);
    assert_eq!(v["webhooks"].as_array().unwrap().len(), 1, "{v}");
    // Unknown kinds, bad globs, no https (with private addresses allowed, loopback http is
    // fine; a metadata address never).
    for bad in [
        json!({"url": "http://127.0.0.1:9/x", "events": ["share.exploded"]}),
        json!({"url": "http://127.0.0.1:9/x", "paths": ["[z-a"]}),
        json!({"url": "http://0.0.0.0/x"}),
        json!({"url": "ftp://example.com/x"}),
    ] {
        let (status, v) = call(reqwest::Method::POST, &hooks("alice"), &s.alice, Some(bad)).await;
        assert_eq!(status, 422, "{v}");
    }
    // An object-scoped token is no account.
    let narrow = s.server.jwt("alice", "obj:alice/m/*:read", 300);
    let (status, v) = call(reqwest::Method::GET, &hooks("alice"), &narrow, None).await;
    assert_eq!(status, 403, "{v}");

    // Notifications: anonymous 401, a narrowed token 403, bad limits and too many ids 422.
    let url = format!("{base}/api/v1/notifications");
    let r = client().get(&url).send().await.unwrap();
    let (status, headers, v) = body(r).await;
    assert_error_body(status, &headers, &v, 401);
    let (status, v) = call(reqwest::Method::GET, &url, &narrow, None).await;
    assert_eq!(status, 403, "{v}");
    for q in ["?limit=0", "?limit=201"] {
        let (status, v) = call(reqwest::Method::GET, &format!("{url}{q}"), &s.alice, None).await;
        assert_eq!(status, 422, "{v}");
    }
    let (status, v) = call(
        reqwest::Method::GET,
        &format!("{url}?limit=abc"),
        &s.alice,
        None,
    )
    .await;
    assert_eq!(status, 400, "{v}");
    let ids: Vec<i64> = (1..=201).collect();
    let (status, v) = call(
        reqwest::Method::POST,
        &format!("{url}/read"),
        &s.alice,
        Some(json!({"ids": ids})),
    )
    .await;
    assert_eq!(status, 422, "{v}");
    let (status, v) = call(
        reqwest::Method::POST,
        &format!("{url}/read"),
        &s.alice,
        Some(json!({"ids": "all"})),
    )
    .await;
    assert!(status == 400 || status == 422, "{status} {v}");
}
