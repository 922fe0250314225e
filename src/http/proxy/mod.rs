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

use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{cookie, from_authorization, session};
use crate::http::pages::layout::{render, Chrome};
use crate::http::state::AppState;
use strata_core::apps::ticket::{self, Pass};
use strata_core::apps::{self, launch, Origin};
use strata_core::auth::Principal;
use strata_core::db::User;

mod forward;

/// The cookie of a visitor on `--apps-origin`, one per app path.
const APP_COOKIE: &str = "strata_app";
/// How long a visitor's app cookie lasts.
const COOKIE_SECS: i64 = 8 * 3600;
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
        return ApiError::not_found(
            "this host serves apps only: strata itself is at its public URL",
        )
        .into_response();
    }
    next.run(req).await
}

/// Whether the request reached the apps origin (its `Host` is the one of `--apps-origin`, or
/// under a wildcard one, any instance's).
fn on_apps_origin(state: &AppState, headers: &HeaderMap, uri: &Uri) -> bool {
    apps_host(state, headers, uri).is_some()
}

/// On the apps origin, the request's host: `Some("")` for the one apps origin, `Some(label)` for
/// an instance's own origin under a wildcard `--apps-origin`; `None` elsewhere.
fn apps_host(state: &AppState, headers: &HeaderMap, uri: &Uri) -> Option<String> {
    let Origin::Separate(url) = &state.apps.origin else {
        return None;
    };
    let host = request_host(headers, uri)
        .unwrap_or_default()
        .to_ascii_lowercase();
    let want = match url.port() {
        Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    }
    .to_ascii_lowercase();
    match want.strip_prefix('*') {
        None => (host == want).then(String::new),
        Some(suffix) => host
            .strip_suffix(suffix)
            .filter(|label| !label.is_empty() && !label.contains('.'))
            .map(str::to_owned),
    }
}

/// The host a request was sent to: the URI's authority (HTTP/2), else its `Host` header.
fn request_host(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    uri.authority().map(|a| a.as_str().to_owned()).or_else(|| {
        headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned)
    })
}

/// Under a wildcard `--apps-origin`, whether the request's host is `owner`'s `app`'s own.
fn right_host(state: &AppState, headers: &HeaderMap, uri: &Uri, owner: &str, app: &str) -> bool {
    match apps_host(state, headers, uri) {
        Some(label) if state.apps.per_instance() => {
            label == strata_core::apps::instance_label(owner, app)
        }
        _ => true,
    }
}

/// Who is visiting, or the response that sends them to sign in.
async fn visitor(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    user: &str,
    app: &str,
) -> Result<User, Response> {
    if headers.contains_key(header::AUTHORIZATION) {
        let who = from_authorization(state, headers)
            .await
            .map_err(IntoResponse::into_response)?;
        return match who {
            Principal::User { .. } => who.full_user().cloned().map_err(|_| {
                ApiError::forbidden("apps are reached with a session or a token with the * scope")
                    .into_response()
            }),
            _ => Err(ApiError::forbidden(
                "apps are reached with a session or a token with the * scope",
            )
            .into_response()),
        };
    }
    let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    if on_apps_origin(state, headers, uri) {
        if let Some(c) = cookie(headers, APP_COOKIE) {
            if let Some(visitor) = ticket::visitor(state, &c, user, app).await {
                return Ok(visitor);
            }
        }
        // Back to strata's origin, which knows the session and hands out a ticket.
        let back = format!("{}{path_and_query}", state.settings.public_url);
        return Err(redirect_or_401(headers, &back));
    }
    match session(state, headers).await {
        Ok(Some((_, s))) => Ok(s.user),
        Ok(None) => {
            let login = format!(
                "{}/login?{}",
                state.settings.public_url,
                serde_urlencoded::to_string([("next", &path_and_query)]).unwrap_or_default()
            );
            Err(redirect_or_401(headers, &login))
        }
        Err(e) => Err(e.into_response()),
    }
}

/// What identifies the visitor in a request, as [`visitor`] reads it: `Authorization`, else on
/// the apps origin the app's cookie, else strata's session cookie.
fn credential(state: &AppState, headers: &HeaderMap, uri: &Uri) -> Option<String> {
    if let Some(v) = headers.get(header::AUTHORIZATION) {
        return v.to_str().ok().map(|v| format!("authorization {v}"));
    }
    if on_apps_origin(state, headers, uri) {
        cookie(headers, APP_COOKIE).map(|c| format!("app {c}"))
    } else {
        cookie(headers, strata_core::auth::session::COOKIE_NAME).map(|c| format!("session {c}"))
    }
}

fn redirect_or_401(headers: &HeaderMap, to: &str) -> Response {
    if browser(headers) {
        (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response()
    } else {
        ApiError::unauthorized("authentication required: a session, or a token with the * scope")
            .into_response()
    }
}

async fn proxy(state: AppState, user: String, app: String, req: Request) -> Response {
    if state.apps.origin == Origin::Off {
        return ApiError::not_found(
            "apps are not served by this server: its admin sets --apps-origin (or --apps-same-origin)",
        )
        .into_response();
    }
    // The same credential for the same instance within a second: the answer of a moment ago.
    let credential = credential(&state, req.headers(), req.uri());
    let generation = state.apps.passes.generation();
    let cached = credential
        .as_deref()
        .and_then(|c| state.apps.passes.get(c, &user, &app));
    let (visitor, owner, install, manifest) = match cached {
        Some(found) => found,
        None => {
            let visitor = match visitor(&state, req.headers(), req.uri(), &user, &app).await {
                Ok(v) => v,
                Err(response) => return response,
            };
            let (owner, install, manifest) = match apps::usable(&state, &visitor, &user, &app).await
            {
                Ok(found) => found,
                Err(e) => return ApiError::from(e).into_response(),
            };
            let found = (visitor, owner, install, manifest);
            if let Some(c) = credential.as_deref() {
                state
                    .apps
                    .passes
                    .put(c, &user, &app, generation, found.clone());
            }
            found
        }
    };
    // One spelling of each user in the path (names compare case-insensitively).
    if owner.username != user {
        let raw = req.uri().path();
        let after: String = raw.splitn(4, '/').skip(3).collect();
        let rest = after.split_once('/').map_or("", |(_, r)| r);
        let query = req
            .uri()
            .query()
            .map(|q| format!("?{q}"))
            .unwrap_or_default();
        let to = format!("/apps/{}/{app}/{rest}{query}", owner.username);
        return (StatusCode::PERMANENT_REDIRECT, [(header::LOCATION, to)]).into_response();
    }
    // Under a wildcard apps origin, an instance answers on its own host only.
    if !right_host(&state, req.headers(), req.uri(), &owner.username, &app) {
        return ApiError::not_found("this host serves another app").into_response();
    }
    // The manifest changed what runs or what it may do: nothing passes until the owner consents.
    if apps::awaits_consent(&install) {
        return needs_consent(&state, &visitor, &owner, &manifest, req.headers());
    }
    // A browser with a session on strata's origin goes over to the apps origin with a ticket.
    if let Origin::Separate(_) = &state.apps.origin {
        let authorized = req.headers().contains_key(header::AUTHORIZATION);
        if !authorized && !on_apps_origin(&state, req.headers(), req.uri()) {
            let key = state.jwt.derive("strata app passes");
            let session = match session(&state, req.headers()).await {
                Ok(Some((hash, _))) => hash,
                _ => return ApiError::unauthorized("sign in to strata first").into_response(),
            };
            let pass = Pass {
                visitor: visitor.id,
                session,
                owner: owner.username.clone(),
                app: app.clone(),
            };
            let next = req.uri().path_and_query().map_or("/", |p| p.as_str());
            let query = serde_urlencoded::to_string([
                ("ticket", ticket::sign(&key, "ticket", &pass, 60).as_str()),
                ("next", next),
            ])
            .unwrap_or_default();
            let origin = state
                .apps
                .origin_of(&state.settings.public_url, &owner.username, &app)
                .unwrap_or_default();
            let to = format!("{origin}/_apps/enter?{query}");
            return (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response();
        }
    }
    let mut status = match launch::ensure(&state.core, &owner, &install, &manifest).await {
        Ok(rx) => rx,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let _ = tokio::time::timeout(FIRST_WAIT, status.wait_for(|s| *s != Status::Starting)).await;
    let now = status.borrow().clone();
    match now {
        Status::Ready { addr } => {
            state.apps.supervisor.touch(&owner.username, &app);
            forward::pass_on(&state, &owner, &visitor, &manifest, addr, req).await
        }
        Status::Starting => starting(&state, &owner, &manifest, req.headers()),
        Status::Failed { error, log } => {
            state.apps.supervisor.failure_shown(&owner.username, &app);
            failed(&manifest, req.headers(), &error, &log)
        }
    }
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

fn starting(state: &AppState, owner: &User, m: &Manifest, headers: &HeaderMap) -> Response {
    let listed = state.apps.supervisor.list();
    let me = listed
        .iter()
        .find(|i| i.user == owner.username && i.app == m.id);
    let elapsed = me.map_or(0, |i| i.up_for.as_secs());
    let mut response = if browser(headers) {
        let page = StartingPage {
            chrome: Chrome::new(format!("Starting {}", m.name), None, "apps"),
            app: m.name.clone(),
            elapsed,
            timeout: m.start_timeout_secs,
            log: state
                .apps
                .supervisor
                .log(&owner.username, &m.id)
                .unwrap_or_default(),
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
    state: &AppState,
    visitor: &User,
    owner: &User,
    m: &Manifest,
    headers: &HeaderMap,
) -> Response {
    let e = ApiError::from(apps::consent_error(&owner.username, &m.id));
    if !browser(headers) {
        return e.into_response();
    }
    let page = NeedsConsentPage {
        chrome: Chrome::new(format!("{} needs consent", m.name), None, "apps"),
        app: m.name.clone(),
        owner: owner.username.clone(),
        consent_url: (visitor.id == owner.id)
            .then(|| format!("{}/app-catalog/{}", state.settings.public_url, m.id)),
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
    if !on_apps_origin(&state, &headers, &uri) {
        return Err(ApiError::not_found("no such endpoint"));
    }
    let key = state.jwt.derive("strata app passes");
    let pass = ticket::verify(&key, "ticket", &q.ticket)
        .ok_or_else(|| ApiError::forbidden("this link to the app expired: open the app again"))?;
    if !right_host(&state, &headers, &uri, &pass.owner, &pass.app) {
        return Err(ApiError::not_found("this host serves another app"));
    }
    let prefix = launch::base_path(&pass.owner, &pass.app);
    let next = ticket::next_under(&prefix, &q.next)
        .ok_or_else(|| ApiError::bad_request("next must be a path under the app"))?;
    let secure = if let Origin::Separate(url) = &state.apps.origin {
        if url.scheme() == "https" {
            "; Secure"
        } else {
            ""
        }
    } else {
        ""
    };
    let value = ticket::sign(&key, "cookie", &pass, COOKIE_SECS);
    let cookie = format!(
        "{APP_COOKIE}={value}; Path={prefix}; HttpOnly; SameSite=Lax; Max-Age={COOKIE_SECS}{secure}"
    );
    Ok((
        StatusCode::SEE_OTHER,
        [(header::LOCATION, next), (header::SET_COOKIE, cookie)],
    )
        .into_response())
}
