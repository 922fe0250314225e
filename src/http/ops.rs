//! Operations: `/livez` (the process answers), `/readyz` (the database and the object store
//! answer, governance is not failing closed, and no shutdown began: a load balancer sends work
//! here), `/metrics` (Prometheus, OpenMetrics text). `/healthz` stays as the old name of `/livez`.

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
    let checks = state.readiness(CHECK_TIMEOUT).await;
    let ready = checks.ready();
    let word = |ok: bool| if ok { "ok" } else { "unreachable" };
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if ready { "ready" } else if checks.draining { "draining" } else { "not ready" },
        "checks": {
            "database": word(checks.database),
            "storage": word(checks.storage),
            // Governed reads denied (fail closed): say why.
            "governance": checks.governance.as_deref().unwrap_or("ok"),
        },
    });
    (status, [(header::CACHE_CONTROL, "no-store")], Json(body))
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    // Read at most once a minute, within a second (a slow database leaves the last values).
    let totals = match state.http().metrics.storage_due() {
        true => tokio::time::timeout(
            std::time::Duration::from_secs(1),
            strata_core::quotas::totals(&state),
        )
        .await
        .ok()
        .and_then(Result::ok),
        false => None,
    };
    let mirrors = tokio::time::timeout(
        std::time::Duration::from_secs(1),
        strata_core::mirrors::figures(&state),
    )
    .await
    .ok()
    .and_then(Result::ok);
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.http().metrics.encode(
            state.pool_stats(),
            &state.apps.counts(),
            state.tables.ahead.figures(),
            totals,
            (&state.mirrors.counts, mirrors),
        ),
    )
}
