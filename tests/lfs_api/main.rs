//! The LFS HTTP API against the real server, one module per area. Every LFS response body is
//! validated against the spec's JSON schemas. The helpers here are shared by the modules.

#[path = "../common/mod.rs"]
mod common;

mod auth;
mod batch;
mod locks;
mod transfers;

use common::*;
use serde_json::{json, Value};
use strata::db::Visibility;
use strata_lfs::Oid;

async fn body(resp: reqwest::Response) -> (u16, reqwest::header::HeaderMap, Value) {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn assert_error_body(status: u16, headers: &reqwest::header::HeaderMap, v: &Value, expected: u16) {
    assert_eq!(status, expected, "{v}");
    assert!(
        v["message"].as_str().is_some_and(|m| !m.is_empty()),
        "no message: {v}"
    );
    let rid = v["request_id"].as_str().expect("request_id");
    assert_eq!(headers["x-request-id"].to_str().unwrap(), rid);
}

/// Uploads `data` to `repo` through batch + PUT + verify, checking each step.
async fn upload(server: &TestServer, repo: &str, token: &str, data: &[u8]) -> Oid {
    let oid = Oid::of(data);
    let req = json!({"operation": "upload", "transfers": ["basic"], "objects": [{"oid": oid.to_string(), "size": data.len()}]});
    let (status, headers, v) =
        body(lfs_post(&server.batch_url(repo), Some(token), &req).await).await;
    assert_eq!(status, 200, "{v}");
    assert!(headers["content-type"].to_str().unwrap().starts_with(LFS));
    assert_schema("http-batch-response-schema.json", &v);
    let actions = &v["objects"][0]["actions"];
    let put = client()
        .put(actions["upload"]["href"].as_str().unwrap())
        .body(data.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200, "{}", put.text().await.unwrap());
    let verify = lfs_post(
        actions["verify"]["href"].as_str().unwrap(),
        None,
        &json!({"oid": oid.to_string(), "size": data.len()}),
    )
    .await;
    assert_eq!(verify.status(), 200);
    oid
}

async fn download_href(
    server: &TestServer,
    repo: &str,
    token: Option<&str>,
    oid: &Oid,
    size: usize,
) -> Value {
    let req = json!({"operation": "download", "objects": [{"oid": oid.to_string(), "size": size}]});
    let (status, _, v) = body(lfs_post(&server.batch_url(repo), token, &req).await).await;
    assert_eq!(status, 200, "{v}");
    assert_schema("http-batch-response-schema.json", &v);
    v["objects"][0].clone()
}
