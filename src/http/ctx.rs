//! Per-request context: a request id for every response and log line, and whether the request is
//! one of the LFS endpoints (whose errors use the LFS media type and `LFS-Authenticate`).
//!
//! The request span names the route's template and the path with its credentials taken out
//! ([`loggable_path`]); the query string, where signatures, tickets, OAuth codes and states
//! travel, is never recorded.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

pub use strata_core::context::{current, RequestCtx};

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Middleware: assigns the request id, opens the request span, and sets `x-request-id` on the
/// response.
pub async fn layer(
    axum::extract::State(state): axum::extract::State<crate::AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let request_id = uuid::Uuid::new_v4().simple().to_string();
    let path = req.uri().path();
    let lfs = path.contains("/info/lfs")
        || path.starts_with("/_transfer/")
        || (path.ends_with("/objects/batch") && !path.starts_with("/api/"));
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let ip = client_ip(peer, req.headers(), &state.settings.trusted_proxies)
        .map(|ip| ip.to_string())
        .unwrap_or_default();
    let ctx = RequestCtx {
        request_id: request_id.clone(),
        lfs,
        ip,
        actor: Default::default(),
        rewriting: false,
    };
    req.extensions_mut().insert(ctx.clone());
    // The route's template, never the path itself: metrics name no user or dataset.
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("unmatched", |m| m.as_str())
        .to_owned();
    let span = tracing::info_span!("request", id = %request_id, method = %req.method(),
        route = %route, path = %loggable_path(req.uri().path()));
    // Methods outside HTTP's own would each make a new label: counted as "other".
    let method: &'static str = match req.method().as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    };
    let uri = req.uri().clone();
    async move {
        let started = std::time::Instant::now();
        let mut response = strata_core::context::scope(ctx, next.run(req)).await;
        crate::http::moved::answer(&uri, &mut response);
        let elapsed = started.elapsed();
        let status = response.status().as_u16();
        tracing::debug!(status, elapsed_ms = elapsed.as_millis() as u64, "done");
        state
            .http()
            .metrics
            .request(method, &route, status, elapsed.as_secs_f64());
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert(REQUEST_ID_HEADER, v);
        }
        // A page may send uploads to the bucket too: its CSP says which one.
        if let Some(origin) = state.storage.part_origin() {
            let csp = response.headers_mut().get_mut("content-security-policy");
            if let Some(csp) = csp.filter(|v| **v == *crate::http::csp::CSP) {
                let with_bucket = crate::http::csp::csp(Some(origin));
                if let Ok(v) = HeaderValue::from_str(&with_bucket) {
                    *csp = v;
                }
            }
        }
        response
    }
    .instrument(span)
    .await
}

/// `path` as a log line may show it. A share link's secret (`/s/{secret}/…`) and a Delta Sharing
/// file's token (`/api/delta-sharing/files/{token}`) are the credentials strata takes in a path;
/// they become `{secret}` and `{token}`.
pub fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    if path.starts_with("/api/delta-sharing/files/") {
        return "/api/delta-sharing/files/{token}".into();
    }
    match path.strip_prefix("/s/") {
        Some(rest) => {
            let tail = rest.find('/').map_or("", |i| &rest[i..]);
            format!("/s/{{secret}}{tail}").into()
        }
        None => path.into(),
    }
}

/// The client's address: the peer's, or behind trusted proxies the last `X-Forwarded-For` entry
/// that none of them added (earlier entries are whatever the client claimed).
fn client_ip(
    peer: Option<std::net::IpAddr>,
    headers: &axum::http::HeaderMap,
    trusted: &[std::net::IpAddr],
) -> Option<std::net::IpAddr> {
    let mut ip = peer?;
    if !trusted.contains(&ip) {
        return Some(ip);
    }
    let forwarded: Vec<std::net::IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    for hop in forwarded.into_iter().rev() {
        ip = hop;
        if !trusted.contains(&hop) {
            break;
        }
    }
    Some(ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_link_secrets_never_reach_a_log() {
        assert_eq!(loggable_path("/s/abc123"), "/s/{secret}");
        assert_eq!(
            loggable_path("/s/abc123/raw/a/b.csv"),
            "/s/{secret}/raw/a/b.csv"
        );
        assert_eq!(loggable_path("/s/"), "/s/{secret}");
        assert_eq!(loggable_path("/datasets/s/x"), "/datasets/s/x");
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let mut h = axum::http::HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            "6.6.6.6, 1.2.3.4, 10.0.0.2".parse().unwrap(),
        );
        let proxy: std::net::IpAddr = "10.0.0.1".parse().unwrap();
        let inner: std::net::IpAddr = "10.0.0.2".parse().unwrap();
        let ip = |p: &str| p.parse::<std::net::IpAddr>().unwrap();
        // Not trusted: the header is ignored.
        assert_eq!(
            client_ip(Some(ip("9.9.9.9")), &h, &[proxy]),
            Some(ip("9.9.9.9"))
        );
        // Trusted chain: the last address the proxies did not add, not the client's claim.
        assert_eq!(
            client_ip(Some(proxy), &h, &[proxy, inner]),
            Some(ip("1.2.3.4"))
        );
        assert_eq!(
            client_ip(Some(proxy), &axum::http::HeaderMap::new(), &[proxy]),
            Some(proxy)
        );
    }
}
