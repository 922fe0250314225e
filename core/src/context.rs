//! The context of the request being handled, for the whole task that serves it: its id (in every
//! log line and error body), the client's address (throttling, the audit log) and whether it is an
//! LFS endpoint. The HTTP layer sets it (`crate::http::ctx`); domain code reads it.

use std::future::Future;

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

/// Runs `fut` with `ctx` as the current context.
pub async fn scope<F: Future>(ctx: RequestCtx, fut: F) -> F::Output {
    CTX.scope(ctx, fut).await
}
