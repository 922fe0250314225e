//! Registered workloads over REST (`strata_core::workloads`): `POST /api/v1/user/workloads`
//! declares one and answers its token once, `GET` lists them, `DELETE …/{name}` ends one and its
//! tokens.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ErrorBody;
use crate::http::error::ApiResult;
use crate::http::json::read_json;
use crate::http::state::AppState;
use strata_core::auth::Principal;
use strata_core::workloads::{self, Declared, Workload};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register, list))
        .routes(routes!(delete))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    /// 1 to 40 of a-z, 0-9 and -: policies see it as `input.subject.app`.
    name: String,
    /// Why it reads: `input.context.intent` when a request names none.
    intent: Option<String>,
    /// The datasets it reads, `ns/name` (its token reads these only).
    datasets: Vec<String>,
    /// How it reads them (`arrow-flight`, `rest`, `sql`, `s3`…).
    protocol: Option<String>,
    /// How long its token lives, in days (default 30, at most 365).
    ttl_days: Option<i64>,
}

/// Registers a workload, as a FybrikApplication declares one, and answers its token (once): read
/// access to the declared datasets only, within your rights. Needs a session or a `*` token.
#[utoipa::path(post, path = "/api/v1/user/workloads", tag = "governance", operation_id = "register_workload",
    request_body = Registration,
    responses((status = 201, description = "The workload with its `token`", body = Object),
        (status = 400, description = "A malformed declaration", body = ErrorBody),
        (status = 403, description = "A token narrower than your rights", body = ErrorBody),
        (status = 409, description = "You have a workload of that name", body = ErrorBody)))]
pub async fn register(
    State(state): State<AppState>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<Workload>)> {
    let r: Registration = read_json(&headers, body, 64 * 1024).await?;
    let d = Declared {
        name: r.name,
        intent: r.intent,
        datasets: r.datasets,
        protocol: r.protocol,
        ttl_days: r.ttl_days.unwrap_or(30),
    };
    Ok((
        StatusCode::CREATED,
        Json(workloads::register(&state, &who, d).await?),
    ))
}

/// Your registered workloads (without tokens).
#[utoipa::path(get, path = "/api/v1/user/workloads", tag = "governance", operation_id = "workloads",
    responses((status = 200, description = "OK", body = Vec<Object>)))]
pub async fn list(State(state): State<AppState>, who: Principal) -> ApiResult<Json<Vec<Workload>>> {
    Ok(Json(workloads::list(&state, &who).await?))
}

/// Deletes a workload: its tokens stop working at once.
#[utoipa::path(delete, path = "/api/v1/user/workloads/{name}", tag = "governance", operation_id = "delete_workload", params(("name" = String, Path)),
    responses((status = 204, description = "Deleted"),
        (status = 404, description = "No such workload of yours", body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
    who: Principal,
) -> ApiResult<StatusCode> {
    workloads::delete(&state, &who, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
