//! Refusals over the REST API, as tables: for each endpoint, the hostile inputs (malformed JSON,
//! another media type, a body past the limit, names too long, dot segments in paths,
//! a dataset that does not exist, no token and a garbage one), each with the status the manual
//! gives it. Every refusal must also be what the manual says every error is: JSON, with a
//! message, and with the request id of its `x-request-id` header in the body; a 401 carries a
//! `WWW-Authenticate` challenge.
//!
//! Where the statuses come from: `docs/api.md` ("Errors": 401 no or bad credentials, 404 missing
//! or not visible, 413 over a size limit, 422 well-formed but unacceptable such as a bad ref
//! name; JSON bodies past `--max-json-body`, 4 MiB, get 413; a challenge on every 401), the
//! errors the OpenAPI document gives every operation with a body (413 too large, 415 another
//! media type, 422 not of its schema), and the existing tests (malformed JSON is 422 on the LFS
//! API and for NDJSON commits; an anonymous read of a private dataset is 401; `..` inside a raw
//! path and `path=../x` are 422). A table collects every mismatch and fails once, listing them.
//! The cases are in `refusal_cases.rs`; this file holds the fixture, the checks and the tests.

use axum::http::Method;
use serde_json::{json, Value};

use super::call;
use super::refusal_cases::{
    body_cases, credential_cases, name_cases, traversal_cases, unknown_cases,
};
use crate::common::api::{api, unique, Api};

/// Who asks.
#[derive(Clone, Copy)]
pub enum Who {
    Owner,
    /// A site admin (who may create organisations).
    Admin,
    Anonymous,
    /// An `Authorization` header as it is.
    Header(&'static str),
}

/// What the request carries.
#[derive(Clone)]
pub enum Payload {
    Empty,
    Json(Value),
    /// Bytes with a content type.
    Raw(&'static str, Vec<u8>),
}

pub struct Case {
    pub what: String,
    pub method: Method,
    pub path: String,
    pub who: Who,
    pub payload: Payload,
    pub want: u16,
}

/// The fixture: an owner with a private dataset `d` (one revision) and a public one `pub`.
pub struct Site {
    pub api: &'static Api,
    pub owner: String,
    pub token: String,
    pub admin: String,
    pub bob: String,
    pub head: String,
}

impl Site {
    pub fn ds(&self, name: &str, tail: &str) -> String {
        format!("/api/v1/datasets/{}/{name}{tail}", self.owner)
    }
}

async fn site() -> Site {
    let api = api().await;
    let owner = unique("owner");
    let token = api.user(&owner).await;
    let bob = unique("bob");
    api.user(&bob).await;
    let admin = api.user_with(&unique("root"), true, "*").await;
    for (name, visibility) in [("d", "private"), ("pub", "public")] {
        let body = json!({"namespace": owner, "name": name, "visibility": visibility});
        let (status, v) = call(api, &token, Method::POST, "/api/v1/datasets", Some(body)).await;
        assert_eq!(status, 201, "{v}");
    }
    let head = api
        .head(&token, &format!("{owner}/d"))
        .await
        .expect("a first revision");
    Site {
        api,
        owner,
        token,
        admin,
        bob,
        head,
    }
}

/// Sends `case`; what is wrong with its answer, if anything.
async fn check(s: &Site, case: &Case) -> Option<String> {
    let mut req = s.api.request_raw(case.method.clone(), &case.path);
    req = match case.who {
        Who::Owner => req.bearer(&s.token),
        Who::Admin => req.bearer(&s.admin),
        Who::Anonymous => req,
        Who::Header(h) => req.header("authorization", h),
    };
    req = match &case.payload {
        Payload::Empty => req,
        Payload::Json(v) => req.json(v),
        Payload::Raw(ct, bytes) => req.header("content-type", ct).body(bytes.clone()),
    };
    let reply = req.send().await;
    let mut wrong = Vec::new();
    if reply.status != case.want {
        wrong.push(format!("status {} (want {})", reply.status, case.want));
    }
    let header = |name: &str| reply.headers.get(name).and_then(|v| v.to_str().ok());
    if !header("content-type").is_some_and(|t| t.starts_with("application/json")) {
        wrong.push(format!("content type {:?}", header("content-type")));
    }
    let v: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
    if v["message"].as_str().unwrap_or_default().trim().is_empty() {
        wrong.push("no message".into());
    }
    match (header("x-request-id"), v["request_id"].as_str()) {
        (Some(h), Some(b)) if !h.is_empty() && h == b => {}
        (h, b) => wrong.push(format!("request id: header {h:?}, body {b:?}")),
    }
    if case.want == 401 && header("www-authenticate").is_none() {
        wrong.push("no WWW-Authenticate challenge".into());
    }
    (!wrong.is_empty()).then(|| {
        let body: String = reply.text().chars().take(200).collect();
        format!(
            "{} {} ({}): {} — {body}",
            case.method,
            case.path.chars().take(120).collect::<String>(),
            case.what,
            wrong.join("; ")
        )
    })
}

/// Runs `cases` and fails once with every mismatch.
async fn table(name: &str, s: &Site, cases: Vec<Case>) {
    let mut failures = Vec::new();
    for case in &cases {
        failures.extend(check(s, case).await);
    }
    eprintln!("{name}: {} cases", cases.len());
    assert!(
        failures.is_empty(),
        "{name}: {} of {} cases wrong:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn bad_bodies_are_refused_with_their_status() {
    let s = site().await;
    table("bodies", &s, body_cases(&s)).await;
}

#[tokio::test]
async fn names_too_long_are_refused() {
    let s = site().await;
    table("names", &s, name_cases(&s)).await;
}

#[tokio::test]
async fn dot_segments_in_paths_are_refused() {
    let s = site().await;
    table("traversal", &s, traversal_cases(&s)).await;
}

#[tokio::test]
async fn unknown_datasets_are_not_found() {
    let s = site().await;
    table("unknown", &s, unknown_cases(&s)).await;
}

#[tokio::test]
async fn missing_and_garbage_credentials_are_refused() {
    let s = site().await;
    table("credentials", &s, credential_cases(&s)).await;
}
