//! The CKAN Action API subset CKAN's clients use (`ckanapi`, Datopian's `ckan-client`), under
//! `/api/3/action/{action}` and `/api/action/{action}` as CKAN answers both:
//!
//! | action | strata |
//! |---|---|
//! | `package_list`, `package_search` (`q`, `rows`, `start`) | the datasets the caller may read |
//! | `package_show`, `resource_show` (`id`) | a dataset (`{ns}/{name}`), a resource (`{ns}/{name}/{resource}`) |
//! | `package_create`, `package_update`, `package_patch` | a dataset created, its datapackage written |
//! | `authz_authorize` (`scopes`) | a JWT for LFS uploads (ckanext-authz-service's action) |
//!
//! Parameters come as a query (GET), JSON, or a form (`ckan-client` posts forms labelled JSON).
//! The API key is the `Authorization` header as CKAN takes it (the bare key: a strata token), or
//! `Bearer`/`Basic` as everywhere, or `X-CKAN-API-Key`. Answers are CKAN's envelope
//! (`{help, success, result}`); errors carry CKAN's `__type`, a message and the request id.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use crate::http::state::AppState;
use strata_core::auth::{authenticate, Action, Principal};
use strata_core::compat::ckan;
use strata_core::error::{Error, Kind};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/3/action/{action}", get(action).post(action))
        .route("/api/action/{action}", get(action).post(action))
}

/// The caller: the bare API key CKAN's clients send, or strata's own schemes.
async fn caller(state: &AppState, headers: &HeaderMap) -> Result<Principal, Error> {
    let key = headers
        .get("x-ckan-api-key")
        .or_else(|| headers.get(axum::http::header::AUTHORIZATION))
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty());
    let Some(key) = key else {
        return Ok(Principal::Anonymous);
    };
    if key.contains(' ') {
        return match crate::http::extract::bearer_or_basic(headers) {
            Ok(Some(secret)) => authenticate(state, &secret).await,
            Ok(None) => Ok(Principal::Anonymous),
            Err(e) => Err(Error::unauthorized(e.message)),
        };
    }
    authenticate(state, key).await
}

/// The action's parameters: the query of a GET; a POST's JSON, or its form.
fn params(method: &Method, query: Option<&str>, body: &[u8]) -> Result<Value, Error> {
    let form = |text: &[u8]| -> Result<Value, Error> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(text)
            .map_err(|e| Error::bad_request(format!("malformed parameters: {e}")))?;
        let mut out = Map::new();
        for (k, v) in pairs {
            match out.get_mut(&k) {
                Some(Value::Array(list)) => list.push(json!(v)),
                Some(other) => *other = json!([other.clone(), v]),
                None => {
                    out.insert(k, json!(v));
                }
            }
        }
        Ok(Value::Object(out))
    };
    if method == Method::GET || body.is_empty() {
        return form(query.unwrap_or("").as_bytes());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(Error::bad_request("the parameters are a JSON object")),
        Err(_) => form(body),
    }
}

fn text<'a>(p: &'a Value, key: &str) -> Result<&'a str, Error> {
    p[key]
        .as_str()
        .ok_or_else(|| Error::unprocessable(format!("{key}: missing value")))
}

fn number(p: &Value, key: &str, default: usize) -> Result<usize, Error> {
    match &p[key] {
        Value::Null => Ok(default),
        Value::Number(n) => n
            .as_u64()
            .map(|n| n as usize)
            .ok_or_else(|| Error::unprocessable(format!("{key}: a whole number"))),
        Value::String(s) => s
            .parse()
            .map_err(|_| Error::unprocessable(format!("{key}: a whole number"))),
        _ => Err(Error::unprocessable(format!("{key}: a whole number"))),
    }
}

/// Runs `name` with `p` for `who`.
async fn run(state: &AppState, who: &Principal, name: &str, p: &Value) -> Result<Value, Error> {
    match name {
        "package_list" => Ok(json!(ckan::list(state, who).await?)),
        "package_search" => {
            let rows = number(p, "rows", 10)?;
            let start = number(p, "start", 0)?;
            ckan::search(state, who, p["q"].as_str(), rows, start).await
        }
        "package_show" => {
            let gated = ckan::open(state, who, text(p, "id")?, Action::Read).await?;
            ckan::show(state, &gated).await
        }
        "resource_show" => ckan::resource_show(state, who, text(p, "id")?).await,
        "package_create" => ckan::create(state, who, p).await,
        "package_update" => ckan::update(state, who, p, false).await,
        "package_patch" => ckan::update(state, who, p, true).await,
        "authz_authorize" => {
            let scopes: Vec<String> = match &p["scopes"] {
                Value::Array(list) => list
                    .iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect(),
                Value::String(s) => s.split_whitespace().map(str::to_owned).collect(),
                _ => return Err(Error::unprocessable("scopes: a list of scopes")),
            };
            ckan::authorize(state, who, &scopes).await
        }
        other => Err(Error::bad_request(format!(
            "Action name not known: {other} (strata answers package_list, package_search, \
             package_show, resource_show, package_create, package_update, package_patch, \
             authz_authorize)"
        ))),
    }
}

async fn action(
    State(state): State<AppState>,
    Path(name): Path<String>,
    method: Method,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let help = format!(
        "{}/api/3/action/help_show?name={name}",
        state.settings.public_url
    );
    let outcome = async {
        let who = caller(&state, &headers).await?;
        let body = axum::body::to_bytes(body, state.settings.max_json_body)
            .await
            .map_err(|_| {
                Error::too_large(format!(
                    "the parameters have at most {} bytes",
                    state.settings.max_json_body
                ))
            })?;
        let p = params(&method, query.as_deref(), &body)?;
        run(&state, &who, &name, &p).await
    }
    .await;
    match outcome {
        Ok(result) => {
            Json(json!({"help": help, "success": true, "result": result})).into_response()
        }
        Err(e) => refused(e, &help),
    }
}

/// A domain error in CKAN's envelope: its `__type`, strata's message and request id.
fn refused(e: Error, help: &str) -> Response {
    let (status, kind) = match e.kind {
        Kind::NotFound | Kind::Gone | Kind::Moved => (StatusCode::NOT_FOUND, "Not Found Error"),
        Kind::Unauthenticated | Kind::Forbidden => (StatusCode::FORBIDDEN, "Authorization Error"),
        Kind::Invalid | Kind::Conflict => (StatusCode::CONFLICT, "Validation Error"),
        Kind::BadRequest | Kind::TooLarge => (StatusCode::BAD_REQUEST, "Bad request"),
        Kind::TooMany => (StatusCode::TOO_MANY_REQUESTS, "Too Many Requests"),
        Kind::Busy => (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable"),
        Kind::Quota => (StatusCode::INSUFFICIENT_STORAGE, "Insufficient Storage"),
        Kind::Upstream => (StatusCode::BAD_GATEWAY, "Bad Gateway"),
        Kind::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
    };
    let (message, extra) = (e.message, e.extra);
    let request_id = strata_core::context::current().request_id;
    tracing::info!(status = status.as_u16(), %message, "request refused");
    let body = json!({
        "help": help,
        "success": false,
        "error": {"__type": kind, "message": message, "detail": extra},
        "message": message,
        "request_id": request_id,
    });
    (status, Json(body)).into_response()
}
