//! strata: a Git-LFS-backed versioned storage server.
//!
//! [`app`] builds the axum router for an [`AppState`]; [`run`] serves it on a listener until a
//! shutdown signal. `main.rs` only parses the command line and calls these, so tests start the real
//! server on `127.0.0.1:0` the same way.

pub mod admin;
pub mod audit_api;
pub mod auth;
pub mod config;
pub mod datasets;
pub mod datasets_api;
pub mod db;
pub mod error;
pub mod git_http;
pub mod hook;
pub mod lfs_api;
pub mod names;
pub mod oauth;
pub mod orgs_api;
pub mod request_ctx;
pub mod router;
pub mod state;
pub mod storage;
pub mod web;

use std::future::Future;

pub use router::app;
pub use state::AppState;
use tokio::net::TcpListener;

/// Serves `state` on `listener` until `shutdown` resolves, then finishes in-flight requests.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let db = state.db.clone();
    // Expired sessions, codes, tokens and old login failures go once an hour.
    let janitor = tokio::spawn({
        let db = db.clone();
        async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
            loop {
                every.tick().await;
                match db.purge_expired().await {
                    Ok(n) if n > 0 => tracing::info!(rows = n, "purged expired rows"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "purging expired rows failed"),
                }
            }
        }
    });
    tracing::info!(addr = %listener.local_addr()?, public_url = %state.settings.public_url, "strata listening");
    let service = app(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(shutdown)
        .await?;
    janitor.abort();
    db.close().await;
    Ok(())
}
