//! `/apps/{user}/{app}/…`: the reverse proxy in front of app instances. It authenticates the
//! visitor (a session, a token with the `*` scope, or on `--apps-origin` the app's own cookie),
//! lets through the owner and the people the owner shares the app with, starts the instance on
//! the first request (a browser sees a starting page, an API client `503` with `Retry-After`),
//! and streams requests and responses both ways, websockets included, with strata's cookies and
//! `Authorization` stripped (`forward.rs`). Traffic counts as the instance's activity.

use std::time::Duration;

use askama::Template;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use strata_apps::{Manifest, Status};

use crate::http::cookies::{self, SameSite};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{bearer_or_basic, session_cookie};
use crate::http::pages::layout::{render, Chrome};
use crate::http::state::AppState;
use strata_core::apps::enter::{self, Credential, Decision, Visit, COOKIE_SECS};
use strata_core::apps::{launch, shared};

mod forward;

/// The cookie of a visitor on `--apps-origin`, one per app path.
const APP_COOKIE: &str = "strata_app";
/// How long a request waits for a starting instance before it is told to come back.
const FIRST_WAIT: Duration = Duration::from_millis(1500);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/apps/{user}/{app}", any(add_slash))
        .route("/apps/{user}/{app}/", any(forward_root))
        .route("/apps/{user}/{app}/{*rest}", any(forward))
        .route("/_apps/enter", get(enter))
}

async fn add_slash(uri: Uri) -> Response {
    // The path as it came (still encoded), with its slash.
    let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
    let to = format!("{}/{query}", uri.path());
    (StatusCode::PERMANENT_REDIRECT, [(header::LOCATION, to)]).into_response()
}

async fn forward_root(
    State(state): State<AppState>,
    Path((user, app)): Path<(String, String)>,
    req: Request,
) -> Response {
    proxy(state, user, app, req).await
}

async fn forward(
    State(state): State<AppState>,
    Path((user, app, _)): Path<(String, String, String)>,
    req: Request,
) -> Response {
    proxy(state, user, app, req).await
}

/// Whether the request comes from a browser page load (it then gets pages, not JSON).
fn browser(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
        && !headers.contains_key(header::AUTHORIZATION)
}

/// Middleware: on the apps origin only apps are served (`/apps/…`, `/_apps/enter`, and the static
/// files their starting page uses). strata's pages and API answer 404 there, so no session of
/// strata's can ever live on that host, where every app's scripts run.
pub async fn apps_host_only(
    State(state): State<AppState>,
    req: Request,
    next: axum::middleware::Next,
) -> Response {
    let path = req.uri().path();
    // The starting and failure pages there use strata's stylesheet.
    let app_path =
        path.starts_with("/apps/") || path == "/_apps/enter" || path.starts_with("/static/");
    if !app_path && on_apps_origin(&state, req.headers(), req.uri()) {
        // A shared instance's own host leads to it.
        if path == "/" {
            let host = request_host(req.headers(), req.uri());
            match shared::home_at(&state.core, &host).await {
                Ok(Some(home)) => return see_other(home),
                Ok(None) => {}
                Err(e) => return ApiError::from(e).into_response(),
            }
        }
        return ApiError::not_found(
            "this host serves apps only: strata itself is at its public URL",
        )
        .into_response();
    }
    next.run(req).await
}

/// Whether the request reached the apps origin.
fn on_apps_origin(state: &AppState, headers: &HeaderMap, uri: &Uri) -> bool {
    state.apps.host_label(&request_host(headers, uri)).is_some()
}

/// The host a request was sent to: the URI's authority (HTTP/2), else its `Host` header.
fn request_host(headers: &HeaderMap, uri: &Uri) -> String {
    uri.authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| {
            headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned)
        })
        .unwrap_or_default()
}

/// What identifies the visitor: `Authorization`, else on the apps origin the app's cookie, else
/// strata's session cookie.
fn credential(state: &AppState, headers: &HeaderMap, uri: &Uri) -> ApiResult<Credential> {
    if headers.contains_key(header::AUTHORIZATION) {
        return Ok(match bearer_or_basic(headers)? {
            Some(secret) => Credential::Token(secret),
            None => Credential::None,
        });
    }
    let found = if on_apps_origin(state, headers, uri) {
        cookies::get(headers, APP_COOKIE).map(Credential::AppCookie)
    } else {
        session_cookie(headers).map(Credential::Session)
    };
    Ok(found.unwrap_or(Credential::None))
}

async fn proxy(state: AppState, user: String, app: String, req: Request) -> Response {
    let (headers, uri) = (req.headers(), req.uri());
    let credential = match credential(&state, headers, uri) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let host = request_host(headers, uri);
    let visit = Visit {
        owner: &user,
        app: &app,
        credential,
        host: &host,
        target: uri.path_and_query().map_or("/", |p| p.as_str()),
    };
    let pass = match enter::enter(&state.core, visit).await {
        Ok(Decision::Pass(pass)) => pass,
        Ok(Decision::SignIn { to }) if browser(headers) => return see_other(to),
        Ok(Decision::SignIn { .. }) => {
            return ApiError::unauthorized(
                "authentication required: a session, or a token with the * scope",
            )
            .into_response()
        }
        Ok(Decision::Moved { to }) => {
            return (StatusCode::PERMANENT_REDIRECT, [(header::LOCATION, to)]).into_response()
        }
        Ok(Decision::Ticket { to }) => return see_other(to),
        Ok(Decision::NeedsConsent {
            owner,
            consent_url,
            manifest,
            error,
        }) => return needs_consent(&manifest, owner, consent_url, error, headers),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let pass = *pass;
    let (owner, manifest) = (&pass.owner, &pass.manifest);
    let show_log = pass.shows_log();
    let started = launch::ensure(&state.core, owner, &pass.runs_as, &pass.install, manifest).await;
    let mut status = match started {
        Ok(rx) => rx,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let _ = tokio::time::timeout(FIRST_WAIT, status.wait_for(|s| *s != Status::Starting)).await;
    let now = status.borrow().clone();
    match now {
        Status::Ready { addr } => {
            state.apps.supervisor.touch(owner, &app);
            forward::pass_on(&state, owner, pass.visitor.as_ref(), manifest, addr, req).await
        }
        Status::Starting => starting(&state, owner, manifest, req.headers(), show_log),
        Status::Failed { error, log } => {
            state.apps.supervisor.failure_shown(owner, &app);
            let log = if show_log { log } else { Vec::new() };
            failed(manifest, req.headers(), &error, &log)
        }
    }
}

fn see_other(to: String) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response()
}

#[derive(Template)]
#[template(path = "app_starting.html")]
struct StartingPage {
    chrome: Chrome,
    app: String,
    elapsed: u64,
    timeout: u64,
    log: Vec<String>,
}

#[derive(Template)]
#[template(path = "app_needs_consent.html")]
struct NeedsConsentPage {
    chrome: Chrome,
    app: String,
    owner: String,
    /// The consent page, for the owner.
    consent_url: Option<String>,
}

#[derive(Template)]
#[template(path = "app_failed.html")]
struct FailedPage {
    chrome: Chrome,
    error: String,
    log: Vec<String>,
}

fn starting(
    state: &AppState,
    owner: &str,
    m: &Manifest,
    headers: &HeaderMap,
    show_log: bool,
) -> Response {
    let listed = state.apps.supervisor.list();
    let me = listed.iter().find(|i| i.user == owner && i.app == m.id);
    let elapsed = me.map_or(0, |i| i.up_for.as_secs());
    let mut response = if browser(headers) {
        let page = StartingPage {
            chrome: Chrome::new(format!("Starting {}", m.name), None, "apps"),
            app: m.name.clone(),
            elapsed,
            timeout: m.start_timeout_secs,
            log: if show_log {
                state.apps.supervisor.log(owner, &m.id).unwrap_or_default()
            } else {
                Vec::new()
            },
        };
        render(StatusCode::SERVICE_UNAVAILABLE, &page)
    } else {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{} is starting: try again shortly", m.name),
        )
        .into_response()
    };
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// 409: the install waits for its owner's renewed consent; the owner's browser gets a page with
/// the way to the consent page.
fn needs_consent(
    m: &Manifest,
    owner: String,
    consent_url: Option<String>,
    error: strata_core::error::Error,
    headers: &HeaderMap,
) -> Response {
    let e = ApiError::from(error);
    if !browser(headers) {
        return e.into_response();
    }
    let page = NeedsConsentPage {
        chrome: Chrome::new(format!("{} needs consent", m.name), None, "apps"),
        app: m.name.clone(),
        owner,
        consent_url,
    };
    render(StatusCode::CONFLICT, &page)
}

fn failed(m: &Manifest, headers: &HeaderMap, error: &str, log: &[String]) -> Response {
    let message = format!("{} failed to start: {error}", m.name);
    if browser(headers) {
        let page = FailedPage {
            chrome: Chrome::new(format!("{} did not start", m.name), None, "apps"),
            error: message,
            log: log.to_vec(),
        };
        render(StatusCode::BAD_GATEWAY, &page)
    } else {
        let mut e = ApiError::new(StatusCode::BAD_GATEWAY, message);
        e = e.with_extra(serde_json::json!({ "log": log }));
        e.into_response()
    }
}

#[derive(serde::Deserialize)]
struct Enter {
    ticket: String,
    next: String,
}

/// `GET /_apps/enter?ticket=…&next=…` on the apps origin: trades strata's ticket for the app's
/// cookie and goes on to `next`, which must lie under that app.
async fn enter(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<Enter>,
) -> ApiResult<Response> {
    let host = request_host(&headers, &uri);
    let admitted = enter::admit(&state.core, &host, &q.ticket, &q.next).await?;
    let cookie = cookies::set(
        APP_COOKIE,
        &admitted.cookie,
        &admitted.prefix,
        SameSite::Lax,
        COOKIE_SECS,
        admitted.secure,
    );
    Ok((
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, admitted.next),
            (header::SET_COOKIE, cookie),
        ],
    )
        .into_response())
}
