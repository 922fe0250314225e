//! The in-process API tier: requests to `strata::app` through `tower::ServiceExt::oneshot`, with
//! no socket and no server task, against one state the whole binary shares (see
//! `common::api`). Here are the tests that send nothing but HTTP requests of their own making
//! (REST, the LFS API and its signed transfer URLs, the Hub's commit API) to a plainly configured
//! server, moved from their areas, and the table of refusals over the REST API. Each test works
//! in namespaces of its own, so they run side by side.
//!
//! Run them alone with `cargo test --test it -- api::`.

mod access;
mod commits;
mod datasets;
mod keys;
mod lfs;
mod refusal_cases;
mod refusals;
mod rename;
mod sql;
mod table_diff;
mod tables;
mod transfers;
mod webhooks;

use axum::http::Method;
use serde_json::Value;

use crate::common::api::Api;
use crate::common::assert_error_body;

/// Sends `method path` with `token` and a JSON body; every refusal must carry a message and the
/// request id. Status and the body.
pub async fn call(
    api: &'static Api,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = api.request(method, path).bearer(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let (status, headers, v) = req.send().await.parts();
    if status >= 400 {
        assert_error_body(status, &headers, &v, status);
    }
    (status, v)
}
