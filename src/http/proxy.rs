//! `/apps/{user}/{app}/…`: the reverse proxy in front of app instances. It authenticates the
//! visitor (a session, a token with the `*` scope, or on `--apps-origin` the app's own cookie),
//! lets through the owner and the people the owner shares the app with, starts the instance on
//! the first request (a browser sees a starting page, an API client `503` with `Retry-After`),
//! and streams requests and responses both ways, websockets included, with strata's cookies and
//! `Authorization` stripped. Traffic counts as the instance's activity.

use std::time::Duration;

use askama::Template;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use strata_apps::{Manifest, Prefix, Status};

use crate::apps::ticket::{self, Pass};
use crate::apps::{self, launch, Origin};
use crate::auth::Principal;
use crate::db::User;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{cookie, from_authorization, session};
use crate::http::pages::{render, Chrome};
use crate::state::AppState;

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

static CLIENT: std::sync::LazyLock<Client<HttpConnector, Body>> = std::sync::LazyLock::new(|| {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(5)));
    Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(connector)
});

async fn add_slash(Path((user, app)): Path<(String, String)>, uri: Uri) -> Response {
    let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
    let to = format!("{}{query}", launch::base_path(&user, &app));
    (StatusCode::PERMANENT_REDIRECT, [(header::LOCATION, to)]).into_response()
}

async fn forward_root(
    State(state): State<AppState>,
    Path((user, app)): Path<(String, String)>,
    req: Request,
) -> Response {
    proxy(state, user, app, String::new(), req).await
}

async fn forward(
    State(state): State<AppState>,
    Path((user, app, rest)): Path<(String, String, String)>,
    req: Request,
) -> Response {
    proxy(state, user, app, rest, req).await
}

/// Whether the request comes from a browser page load (it then gets pages, not JSON).
fn browser(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
        && !headers.contains_key(header::AUTHORIZATION)
}

/// Whether the request reached the apps origin (its `Host` is the one of `--apps-origin`).
fn on_apps_origin(state: &AppState, headers: &HeaderMap, uri: &Uri) -> bool {
    let Origin::Separate(url) = &state.apps.origin else {
        return false;
    };
    let host = uri
        .authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| {
            headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned)
        })
        .unwrap_or_default();
    let want = match url.port() {
        Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    };
    host.eq_ignore_ascii_case(&want)
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
        let key = state.jwt.derive("strata app passes");
        let pass = cookie(headers, APP_COOKIE).and_then(|c| ticket::verify(&key, "cookie", &c));
        if let Some(pass) = pass.filter(|p| p.owner == user && p.app == app) {
            if let Ok(Some(u)) = state.db.user_by_id(pass.visitor).await {
                return Ok(u);
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

fn redirect_or_401(headers: &HeaderMap, to: &str) -> Response {
    if browser(headers) {
        (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response()
    } else {
        ApiError::unauthorized("authentication required: a session, or a token with the * scope")
            .into_response()
    }
}

async fn proxy(state: AppState, user: String, app: String, rest: String, req: Request) -> Response {
    if state.apps.origin == Origin::Off {
        return ApiError::not_found(
            "apps are not served by this server: its admin sets --apps-origin (or --apps-same-origin)",
        )
        .into_response();
    }
    let visitor = match visitor(&state, req.headers(), req.uri(), &user, &app).await {
        Ok(v) => v,
        Err(response) => return response,
    };
    let (owner, install, manifest) = match apps::usable(&state, &visitor, &user, &app).await {
        Ok(found) => found,
        Err(e) => return ApiError::from(e).into_response(),
    };
    // A browser with a session on strata's origin goes over to the apps origin with a ticket.
    if let Origin::Separate(url) = &state.apps.origin {
        let authorized = req.headers().contains_key(header::AUTHORIZATION);
        if !authorized && !on_apps_origin(&state, req.headers(), req.uri()) {
            let key = state.jwt.derive("strata app passes");
            let pass = Pass {
                visitor: visitor.id,
                owner: owner.username.clone(),
                app: app.clone(),
            };
            let next = req.uri().path_and_query().map_or("/", |p| p.as_str());
            let query = serde_urlencoded::to_string([
                ("ticket", ticket::sign(&key, "ticket", &pass, 60).as_str()),
                ("next", next),
            ])
            .unwrap_or_default();
            let to = format!("{}_apps/enter?{query}", url.as_str());
            return (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response();
        }
    }
    let mut status = match launch::ensure(&state, &owner, &install, &manifest).await {
        Ok(rx) => rx,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let _ = tokio::time::timeout(FIRST_WAIT, status.wait_for(|s| *s != Status::Starting)).await;
    let now = status.borrow().clone();
    match now {
        Status::Ready { addr } => {
            state.apps.supervisor.touch(&owner.username, &app);
            pass_on(&state, &owner, &visitor, &manifest, addr, &rest, req).await
        }
        Status::Starting => starting(&state, &owner, &manifest, req.headers()),
        Status::Failed { error, log } => failed(&manifest, req.headers(), &error, &log),
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

/// Headers that belong to one connection and are never passed on (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The `Cookie` header without strata's own cookies.
fn app_cookies(headers: &HeaderMap) -> Option<HeaderValue> {
    let kept: Vec<&str> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|c| !c.is_empty() && !c.starts_with("strata_"))
        .collect();
    (!kept.is_empty())
        .then(|| HeaderValue::from_str(&kept.join("; ")).ok())
        .flatten()
}

async fn pass_on(
    state: &AppState,
    owner: &User,
    visitor: &User,
    m: &Manifest,
    addr: std::net::SocketAddr,
    rest: &str,
    mut req: Request,
) -> Response {
    let prefix = launch::base_path(&owner.username, &m.id);
    let query = req
        .uri()
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let path = match m.prefix {
        Prefix::Keep => req.uri().path().to_owned(),
        Prefix::Strip => format!("/{rest}"),
    };
    let Ok(uri) = format!("http://{addr}{path}{query}").parse::<Uri>() else {
        return ApiError::bad_request("a path the app cannot be asked for").into_response();
    };
    let websocket = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let host = req
        .uri()
        .authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| {
            req.headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned)
        });
    let client_upgrade = websocket.then(|| hyper::upgrade::on(&mut req));
    let (mut parts, body) = req.into_parts();
    let mut headers = std::mem::take(&mut parts.headers);
    for h in HOP_BY_HOP {
        headers.remove(h);
    }
    let cookies = app_cookies(&headers);
    headers.remove(header::COOKIE);
    headers.remove(header::AUTHORIZATION);
    headers.remove("x-csrf-token");
    if let Some(c) = cookies {
        headers.insert(header::COOKIE, c);
    }
    if let Some(h) = host.as_deref().and_then(|h| HeaderValue::from_str(h).ok()) {
        headers.insert(header::HOST, h.clone());
        headers.insert(HeaderName::from_static("x-forwarded-host"), h);
    }
    let ip = crate::context::current().ip;
    if let Ok(v) = HeaderValue::from_str(&ip) {
        headers.insert(HeaderName::from_static("x-forwarded-for"), v);
    }
    let proto = if state.settings.public_url.starts_with("https://") {
        "https"
    } else {
        "http"
    };
    headers.insert(
        HeaderName::from_static("x-forwarded-proto"),
        HeaderValue::from_static(proto),
    );
    if let Ok(v) = HeaderValue::from_str(prefix.trim_end_matches('/')) {
        headers.insert(HeaderName::from_static("x-forwarded-prefix"), v);
    }
    if let Ok(v) = HeaderValue::from_str(&visitor.username) {
        headers.insert(HeaderName::from_static("x-strata-user"), v);
    }
    if websocket {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    }
    let mut upstream = hyper::Request::new(body);
    *upstream.method_mut() = parts.method;
    *upstream.uri_mut() = uri;
    *upstream.headers_mut() = headers;
    let response = match CLIENT.request(upstream).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(user = %owner.username, app = %m.id, error = %e, "the app did not answer");
            if matches!(m.runner, strata_apps::Runner::Kubernetes { .. }) {
                // Scaled down elsewhere (another replica's culling): the next request scales up.
                state.apps.supervisor.forget(&owner.username, &m.id);
            }
            return ApiError::new(
                StatusCode::BAD_GATEWAY,
                format!("{} did not answer: it may have stopped; try again", m.name),
            )
            .into_response();
        }
    };
    let (user, app) = (owner.username.clone(), m.id.clone());
    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        if let Some(client_upgrade) = client_upgrade {
            let mut response = response;
            let app_upgrade = hyper::upgrade::on(&mut response);
            let state = state.clone();
            let (user, app) = (user.clone(), app.clone());
            tokio::spawn(async move {
                if let (Ok(client), Ok(app_side)) = (client_upgrade.await, app_upgrade.await) {
                    tunnel(&state, &user, &app, client, app_side).await;
                }
            });
            let (parts, _) = response.into_parts();
            return Response::from_parts(parts, Body::empty());
        }
    }
    let (mut parts, body) = response.into_parts();
    for h in HOP_BY_HOP {
        parts.headers.remove(h);
    }
    rewrite_response(&mut parts.headers, m.prefix, &prefix, addr);
    let state = state.clone();
    let body = Body::new(Touching {
        inner: body,
        touch: Box::new(move || state.apps.supervisor.touch(&user, &app)),
    });
    Response::from_parts(parts, body)
}

/// The app's response headers as the visitor should see them: no strata cookies set by the
/// app, and under a stripped prefix, redirects and cookie paths put back under it.
fn rewrite_response(
    headers: &mut HeaderMap,
    prefix_mode: Prefix,
    prefix: &str,
    addr: std::net::SocketAddr,
) {
    let cookies: Vec<HeaderValue> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter(|v| {
            !v.to_str()
                .is_ok_and(|s| s.trim_start().starts_with("strata_"))
        })
        .filter_map(|v| {
            let s = v.to_str().ok()?;
            if prefix_mode == Prefix::Strip {
                HeaderValue::from_str(&strip_cookie_path(s, prefix)).ok()
            } else {
                Some(v.clone())
            }
        })
        .collect();
    headers.remove(header::SET_COOKIE);
    for c in cookies {
        headers.append(header::SET_COOKIE, c);
    }
    if prefix_mode == Prefix::Strip {
        if let Some(loc) = headers.get(header::LOCATION).and_then(|v| v.to_str().ok()) {
            let local = format!("http://{addr}");
            let path = loc.strip_prefix(&local).unwrap_or(loc);
            if path.starts_with('/') && !path.starts_with("//") {
                let fixed = format!("{}{path}", prefix.trim_end_matches('/'));
                if let Ok(v) = HeaderValue::from_str(&fixed) {
                    headers.insert(header::LOCATION, v);
                }
            }
        }
    }
}

/// `Path=/x` of a cookie set by a stripped-prefix app becomes `Path={prefix}x`.
fn strip_cookie_path(cookie: &str, prefix: &str) -> String {
    cookie
        .split(';')
        .map(|part| {
            let t = part.trim();
            match t.split_once('=') {
                Some((k, v)) if k.eq_ignore_ascii_case("path") && v.starts_with('/') => {
                    format!(" Path={}{v}", prefix.trim_end_matches('/'))
                }
                _ => part.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join(";")
}

/// Copies a websocket's bytes both ways until either side closes; each chunk is activity.
async fn tunnel(
    state: &AppState,
    user: &str,
    app: &str,
    client: hyper::upgrade::Upgraded,
    app_side: hyper::upgrade::Upgraded,
) {
    use hyper_util::rt::TokioIo;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut cr, mut cw) = tokio::io::split(TokioIo::new(client));
    let (mut ar, mut aw) = tokio::io::split(TokioIo::new(app_side));
    let up = async {
        let mut buf = vec![0u8; 16 * 1024];
        while let Ok(n) = cr.read(&mut buf).await {
            if n == 0 || aw.write_all(&buf[..n]).await.is_err() {
                break;
            }
            state.apps.supervisor.touch(user, app);
        }
        let _ = aw.shutdown().await;
    };
    let down = async {
        let mut buf = vec![0u8; 16 * 1024];
        while let Ok(n) = ar.read(&mut buf).await {
            if n == 0 || cw.write_all(&buf[..n]).await.is_err() {
                break;
            }
            state.apps.supervisor.touch(user, app);
        }
        let _ = cw.shutdown().await;
    };
    tokio::join!(up, down);
}

/// A response body that records activity for each chunk it passes on (a long download or a
/// server-sent event stream keeps its instance alive).
struct Touching {
    inner: hyper::body::Incoming,
    touch: Box<dyn Fn() + Send + Sync>,
}

impl hyper::body::Body for Touching {
    type Data = bytes::Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, hyper::Error>>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        if let std::task::Poll::Ready(Some(Ok(_))) = &polled {
            (self.touch)();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
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
    let prefix = launch::base_path(&pass.owner, &pass.app);
    if !q.next.starts_with(&prefix) || q.next.contains("//") {
        return Err(ApiError::bad_request("next must be a path under the app"));
    }
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
        [(header::LOCATION, q.next), (header::SET_COOKIE, cookie)],
    )
        .into_response())
}
