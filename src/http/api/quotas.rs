//! Usage and quotas over REST (`strata_core::quotas`): `GET /api/v1/namespaces/{ns}/usage` for
//! the namespace's user, its organisation's members and site admins; `PUT
//! /api/v1/namespaces/{ns}/quota` for site admins.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::api::ErrorBody;
use crate::http::error::ApiResult;
use crate::http::json::read_json;
use crate::http::state::AppState;
use strata_core::auth::{Need, Principal};
use strata_core::quotas::{self, Usage};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(namespace_usage))
        .routes(routes!(set_quota))
}

/// A namespace's stored bytes (unique objects), its quota and each dataset's bytes.
#[utoipa::path(get, path = "/api/v1/namespaces/{ns}/usage", tag = "accounts", operation_id = "namespace_usage",
    params(("ns" = String, Path)),
    responses((status = 200, description = "`namespace`, `used`, `quota` (null: none), `datasets`", body = Object),
        (status = 404, description = "No such namespace, or not yours to see", body = ErrorBody)))]
pub async fn namespace_usage(
    State(state): State<AppState>,
    Path(ns): Path<String>,
    who: Principal,
) -> ApiResult<Json<Usage>> {
    let user = state.require(&who, Need::Account).await?;
    Ok(Json(quotas::usage(&state, user, &ns).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuotaBody {
    /// Stored bytes the namespace may hold; `null` for the server's default (`--quota-bytes`).
    bytes: Option<u64>,
}

/// Sets a namespace's quota (site admins).
#[utoipa::path(put, path = "/api/v1/namespaces/{ns}/quota", tag = "accounts", operation_id = "set_namespace_quota",
    params(("ns" = String, Path)), request_body = QuotaBody,
    responses((status = 204, description = "Set"),
        (status = 403, description = "Not a site admin", body = ErrorBody),
        (status = 404, description = "No such namespace", body = ErrorBody)))]
pub async fn set_quota(
    State(state): State<AppState>,
    Path(ns): Path<String>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<StatusCode> {
    let user = state.require(&who, Need::Admin).await?;
    let q: QuotaBody = read_json(&headers, body, 4096).await?;
    quotas::set(&state, user, &ns, q.bytes).await?;
    Ok(StatusCode::NO_CONTENT)
}
