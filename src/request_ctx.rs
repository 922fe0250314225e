//! Per-request context: a request id for every response and log line, and whether the request is
//! one of the LFS endpoints (whose errors use the LFS media type and `LFS-Authenticate`).

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

#[derive(Debug, Clone, Default)]
pub struct RequestCtx {
    pub request_id: String,
    pub lfs: bool,
    /// The peer's address (for throttling and the audit log).
    pub ip: String,
}

tokio::task_local! {
    static CTX: RequestCtx;
}

/// The context of the request being handled (empty outside of one).
pub fn current() -> RequestCtx {
    CTX.try_with(Clone::clone).unwrap_or_default()
}

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Middleware: assigns the request id, opens the request span, and sets `x-request-id` on the
/// response.
pub async fn layer(mut req: Request, next: Next) -> Response {
    let request_id = uuid::Uuid::new_v4().simple().to_string();
    let path = req.uri().path();
    let lfs = path.contains("/info/lfs") || path.starts_with("/_transfer/");
    let span =
        tracing::info_span!("request", id = %request_id, method = %req.method(), path = %path);
    let ip = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_default();
    let ctx = RequestCtx {
        request_id: request_id.clone(),
        lfs,
        ip,
    };
    req.extensions_mut().insert(ctx.clone());
    async move {
        let started = std::time::Instant::now();
        let mut response = CTX.scope(ctx, next.run(req)).await;
        tracing::debug!(
            status = response.status().as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "done"
        );
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert(REQUEST_ID_HEADER, v);
        }
        response
    }
    .instrument(span)
    .await
}
