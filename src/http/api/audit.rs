//! `GET /api/v1/audit`: the append-only audit log of security events (logins and their failures,
//! sign-ups, password changes, tokens created and revoked, invitations), for administrators.

use axum::extract::{Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::api::ErrorBody;
use crate::http::error::ApiResult;
use crate::http::state::AppState;
use strata_core::auth::Principal;
use strata_core::db::rfc3339;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Entries older than this id (the `next_before` of the previous page).
    before: Option<i64>,
    /// Entries per page, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditEntryView {
    id: i64,
    /// RFC 3339.
    at: String,
    /// e.g. `login.success`, `login.failure`, `token.create`.
    event: String,
    actor: Option<String>,
    subject: Option<String>,
    ip: Option<String>,
    #[schema(value_type = Object)]
    detail: serde_json::Value,
}

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    entries: Vec<AuditEntryView>,
    next_before: Option<i64>,
}

/// The audit log, newest first. Administrators only.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    responses(
        (status = 200, description = "OK", body = AuditPage),
        (status = 422, description = "A limit out of bounds", body = ErrorBody),
        (status = 401, description = "Authentication required", body = ErrorBody),
        (status = 403, description = "Not an administrator", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    Query(q): Query<AuditQuery>,
    who: Principal,
) -> ApiResult<Json<AuditPage>> {
    let limit = q.limit.unwrap_or(100);
    let (rows, next_before) = strata_core::audit::page(&state, &who, q.before, limit).await?;
    let entries = rows
        .into_iter()
        .map(|r| AuditEntryView {
            id: r.id,
            at: rfc3339(r.at),
            event: r.event,
            actor: r.actor,
            subject: r.subject,
            ip: r.ip,
            detail: serde_json::from_str(&r.detail).unwrap_or_default(),
        })
        .collect();
    Ok(Json(AuditPage {
        entries,
        next_before,
    }))
}
