//! Operations: `/livez` (the process answers), `/readyz` (the database and the object store
//! answer, governance is not failing closed, and no shutdown began: a load balancer sends work
//! here), `/metrics` (Prometheus, OpenMetrics text). `/healthz` stays as the old name of `/livez`.

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::http::state::AppState;

/// How long a readiness check waits for the database or the store.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/livez", get(livez))
        .route("/healthz", get(livez))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

async fn livez() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let draining = state.http().draining.load(Ordering::Relaxed);
    let (database, storage, governance) = tokio::join!(
        state.db.ping(CHECK_TIMEOUT),
        state.storage.ping(CHECK_TIMEOUT),
        tokio::time::timeout(CHECK_TIMEOUT, state.governance.failing(&state)),
    );
    let word = |ok: bool| if ok { "ok" } else { "unreachable" };
    // Governed reads denied (fail closed): say why.
    let governance =
        governance.unwrap_or_else(|_| Some("the policy dataset did not answer in time".into()));
    let ready = !draining && database && storage && governance.is_none();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if ready { "ready" } else if draining { "draining" } else { "not ready" },
        "checks": {
            "database": word(database),
            "storage": word(storage),
            "governance": governance.as_deref().unwrap_or("ok"),
        },
    });
    (status, [(header::CACHE_CONTROL, "no-store")], Json(body))
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state
            .http()
            .metrics
            .encode(state.db.pool_stats(), &state.apps.counts()),
    )
}
