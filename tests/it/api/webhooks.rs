//! A dataset's webhooks refuse SSRF targets, unknown kinds, bad globs and unknown fields, and
//! strangers; ids naming nothing of the dataset are 404 (moved from `events/mod.rs`). Nothing is
//! delivered here: the in-process state runs no dispatcher.

use axum::http::Method;
use serde_json::{json, Value};

use crate::common::api::{api, unique, Api};
use crate::common::assert_error_body;

const API: &str = "/api/v1/datasets";

async fn call(
    api: &'static Api,
    method: Method,
    url: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = api.request(method, url).bearer(token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let (status, _, v) = r.send().await.parts();
    (status, v)
}

#[tokio::test]
async fn webhooks_refuse_bad_targets_and_strangers() {
    // Private addresses are not allowed here (the default).
    let api = api().await;
    let user = unique("alice");
    let alice = api.user(&user).await;
    let bob = api.user(&unique("bob")).await;
    call(
        api,
        Method::POST,
        API,
        &alice,
        Some(json!({"namespace": user, "name": "d", "visibility": "public"})),
    )
    .await;
    let hooks = format!("{API}/{user}/d/webhooks");
    for (body, want) in [
        (json!({"url": "http://hooks.example.com/x"}), 422),
        (json!({"url": "https://127.0.0.1/x"}), 422),
        (json!({"url": "https://localhost/x"}), 422),
        (
            json!({"url": "https://169.254.169.254/latest/meta-data/"}),
            422,
        ),
        (json!({"url": "https://10.0.0.7/x"}), 422),
        (json!({"url": "https://[::1]/x"}), 422),
        (json!({"url": "https://[::ffff:10.0.0.1]/x"}), 422),
        (json!({"url": "https://0.0.0.0/x"}), 422),
        (json!({"url": "file:///etc/passwd"}), 422),
        (json!({"url": "https://u:p@hooks.example.com/x"}), 422),
        (
            json!({"url": "https://hooks.example.com/x", "events": ["everything"]}),
            422,
        ),
        (
            json!({"url": "https://hooks.example.com/x", "paths": ["[oops"]}),
            422,
        ),
        (
            json!({"url": "https://hooks.example.com/x", "bogus": 1}),
            422,
        ),
        (json!({"events": []}), 422),
    ] {
        let (status, headers, v) = api
            .post(&hooks)
            .bearer(&alice)
            .json(&body)
            .send()
            .await
            .parts();
        assert_error_body(status, &headers, &v, want);
    }
    // A public https target is fine.
    let (status, v) = call(
        api,
        Method::POST,
        &hooks,
        &alice,
        Some(json!({"url": "https://hooks.example.com/x"})),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let id = v["webhook"]["id"].as_i64().unwrap();
    // bob reads the public dataset but administers nothing: no webhook is his to see or touch.
    for (method, url, want) in [
        (Method::GET, hooks.clone(), 403),
        (Method::GET, format!("{hooks}/{id}"), 403),
        (Method::DELETE, format!("{hooks}/{id}"), 403),
        (Method::POST, format!("{hooks}/{id}/rotate"), 403),
    ] {
        let (status, headers, v) = api.request(method, &url).bearer(&bob).send().await.parts();
        assert_error_body(status, &headers, &v, want);
    }
    // Ids that name nothing of this dataset.
    for url in [
        format!("{hooks}/nope"),
        format!("{hooks}/0"),
        format!("{hooks}/{}", id + 1),
        format!("{hooks}/{id}/deliveries/1/redeliver"),
    ] {
        let method = if url.ends_with("redeliver") {
            Method::POST
        } else {
            Method::GET
        };
        let (status, headers, v) = api
            .request(method, &url)
            .bearer(&alice)
            .send()
            .await
            .parts();
        assert_error_body(status, &headers, &v, 404);
    }
}
