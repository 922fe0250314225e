//! The pass to an instance: the request streamed to it through hyper-util's pooled client
//! (hop-by-hop headers, strata's cookies, `Authorization`, `X-CSRF-Token` and any header that
//! could be read as one strata sets, however spelt, dropped; `X-Forwarded-*`, `X-Strata-User`
//! and `X-Strata-Roles` (the visitor's platform roles, comma-separated) and `X-Strata-App-Roles` (those the manifest maps them to) added), its response streamed back (a stripped prefix put back on redirects and cookie paths;
//! `strata_*` cookies refused), websockets tunnelled after the 101, and every chunk either way
//! counted as the instance's activity.

use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use cookie::Cookie;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use strata_apps::{Manifest, Prefix};

use crate::http::error::ApiError;
use crate::http::state::AppState;
use strata_core::apps::launch;
use strata_core::db::User;

static CLIENT: std::sync::LazyLock<Client<HttpConnector, Body>> = std::sync::LazyLock::new(|| {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(5)));
    Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(connector)
});

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

/// Whether a header could be read as one strata sets for the app (`X-Strata-*`,
/// `X-Forwarded-*`, and `Forwarded`): names compared without case and with `_` read as `-`, as
/// CGI and WSGI servers do (`X_Strata_User` becomes `HTTP_X_STRATA_USER` too).
fn strata_header(name: &HeaderName) -> bool {
    let n = name.as_str().to_ascii_lowercase().replace('_', "-");
    n.starts_with("x-strata-") || n.starts_with("x-forwarded-") || n == "forwarded"
}

/// The `Cookie` header without strata's own cookies (every name that starts with `strata_`): the
/// app's `name=value` pairs.
fn app_cookies(headers: &HeaderMap) -> Option<HeaderValue> {
    let kept: Vec<String> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .filter(|c| !c.name().starts_with("strata_"))
        .map(|c| c.stripped().to_string())
        .collect();
    (!kept.is_empty())
        .then(|| HeaderValue::from_str(&kept.join("; ")).ok())
        .flatten()
}

pub(super) async fn pass_on(
    state: &AppState,
    owner: &str,
    visitor: Option<&User>,
    m: &Manifest,
    addr: std::net::SocketAddr,
    mut req: Request,
) -> Response {
    let prefix = launch::base_path(owner, &m.id);
    let query = req
        .uri()
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    // The path as the client sent it (still percent-encoded): under a stripped prefix, what
    // follows `/apps/{user}/{app}`.
    let raw = req.uri().path();
    let path = match m.prefix {
        Prefix::Keep => raw.to_owned(),
        Prefix::Strip => {
            let after: String = raw.splitn(4, '/').skip(3).collect();
            let rest = after.split_once('/').map_or("", |(_, r)| r);
            format!("/{rest}")
        }
    };
    let Ok(uri) = format!("http://{addr}{path}{query}").parse::<Uri>() else {
        return ApiError::bad_request("a path the app cannot be asked for").into_response();
    };
    let websocket = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let host = super::request_host(req.headers(), req.uri());
    let client_upgrade = websocket.then(|| hyper::upgrade::on(&mut req));
    let (mut parts, body) = req.into_parts();
    let mut headers = std::mem::take(&mut parts.headers);
    for h in HOP_BY_HOP {
        headers.remove(h);
    }
    // Whatever the client sent that could pass for what strata adds below.
    let spoofed: Vec<HeaderName> = headers
        .keys()
        .filter(|n| strata_header(n))
        .cloned()
        .collect();
    for name in spoofed {
        headers.remove(name);
    }
    let cookies = app_cookies(&headers);
    headers.remove(header::COOKIE);
    headers.remove(header::AUTHORIZATION);
    headers.remove(strata_core::auth::session::CSRF_HEADER);
    if let Some(c) = cookies {
        headers.insert(header::COOKIE, c);
    }
    if let Some(h) = (!host.is_empty())
        .then(|| HeaderValue::from_str(&host).ok())
        .flatten()
    {
        headers.insert(header::HOST, h.clone());
        headers.insert(HeaderName::from_static("x-forwarded-host"), h);
    }
    let ip = strata_core::context::current().ip;
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
    // Who asks (nobody, for an anonymous visitor of a public shared instance).
    if let Some(visitor) = visitor {
        if let Ok(v) = HeaderValue::from_str(&visitor.username) {
            headers.insert(HeaderName::from_static("x-strata-user"), v);
        }
        if let Ok(v) = HeaderValue::from_str(&visitor.roles().join(",")) {
            headers.insert(HeaderName::from_static("x-strata-roles"), v);
        }
        // The visitor's roles in the app, as its manifest maps them (none: an empty header).
        if let Ok(v) = HeaderValue::from_str(&m.roles.of(&visitor.roles()).join(",")) {
            headers.insert(HeaderName::from_static("x-strata-app-roles"), v);
        }
    }
    if websocket {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    }
    let mut upstream = hyper::Request::new(body);
    *upstream.method_mut() = parts.method;
    *upstream.uri_mut() = uri;
    *upstream.headers_mut() = headers;
    let answer = tokio::time::timeout(ANSWER_TIMEOUT, CLIENT.request(upstream)).await;
    let response = match answer {
        Err(_) => {
            return ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                format!(
                    "{} did not answer within {} s",
                    m.name,
                    ANSWER_TIMEOUT.as_secs()
                ),
            )
            .into_response()
        }
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            tracing::warn!(user = %owner, app = %m.id, error = %e, "the app did not answer");
            if matches!(m.runner, strata_apps::Runner::Kubernetes { .. }) {
                // Scaled down elsewhere (another replica's culling), or a replica the Deployment
                // still counted as ready while it was being scaled down: the next request scales
                // up and waits for it, so the client is told to come back (503, Retry-After).
                state.apps.supervisor.forget(owner, &m.id);
                if e.is_connect() {
                    let mut r = ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!("{} is starting again: try again shortly", m.name),
                    )
                    .into_response();
                    r.headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                    return r;
                }
            }
            return ApiError::new(
                StatusCode::BAD_GATEWAY,
                format!("{} did not answer: it may have stopped; try again", m.name),
            )
            .into_response();
        }
    };
    let (user, app) = (owner.to_owned(), m.id.clone());
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
            let (mut parts, _) = response.into_parts();
            rewrite_response(&mut parts.headers, m.prefix, &prefix, addr);
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
        .filter_map(|v| {
            let s = v.to_str().ok().filter(|s| app_may_set(s))?;
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

/// Whether an app may set this cookie: a name of its own (never empty, never `strata_…`, which
/// browsers would send back to strata), for its own host only: no `Domain` attribute at all (one
/// with an empty value too, which the crate's parser would pass over).
fn app_may_set(set_cookie: &str) -> bool {
    let Ok(cookie) = Cookie::parse(set_cookie) else {
        return false; // no `name=value`, or an empty name
    };
    let name = cookie.name();
    let domain = set_cookie.split(';').skip(1).any(|a| {
        a.split('=')
            .next()
            .is_some_and(|k| k.trim().eq_ignore_ascii_case("domain"))
    });
    !name.to_ascii_lowercase().starts_with("strata_")
        && !name.starts_with("__Host-strata")
        && !domain
}

/// `Path=/x` of a cookie set by a stripped-prefix app becomes `Path={prefix}x`. Rewritten in
/// place, every other attribute as the app wrote it (the crate would write back only those it
/// knows).
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

/// How long an app may take to start answering a request (its body may then stream on).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(300);

/// How long a websocket may carry nothing either way before it is closed.
const TUNNEL_IDLE: Duration = Duration::from_secs(3600);

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
        while let Ok(Ok(n)) = tokio::time::timeout(TUNNEL_IDLE, cr.read(&mut buf)).await {
            if n == 0 || aw.write_all(&buf[..n]).await.is_err() {
                break;
            }
            state.apps.supervisor.touch(user, app);
        }
        let _ = aw.shutdown().await;
    };
    let down = async {
        let mut buf = vec![0u8; 16 * 1024];
        while let Ok(Ok(n)) = tokio::time::timeout(TUNNEL_IDLE, ar.read(&mut buf)).await {
            if n == 0 || cw.write_all(&buf[..n]).await.is_err() {
                break;
            }
            state.apps.supervisor.touch(user, app);
        }
        let _ = cw.shutdown().await;
    };
    // Either side closing ends both; so does a tunnel silent for an hour (a vanished client).
    tokio::select! {
        _ = up => {}
        _ = down => {}
    }
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
