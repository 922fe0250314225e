//! Garbage collection for site admins (`strata_core::gc`): `POST /api/v1/admin/gc` runs one (or,
//! with `dry_run`, reports what one would do and why), `GET /api/v1/admin/gc` lists the latest
//! runs, `GET /api/v1/admin/gc/{id}` one with its items.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::api::ErrorBody;
use crate::http::error::ApiResult;
use crate::http::json::read_json;
use crate::http::state::AppState;
use strata_core::auth::{Need, Principal};
use strata_core::gc::{self, Report, RunSummary};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(run, list))
        .routes(routes!(one))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct GcBody {
    /// Only report what would be marked and removed, and why (default: false).
    #[serde(default)]
    dry_run: bool,
    /// Seconds between marking an object and deleting it (default: the server's
    /// `--gc-grace-secs`); 0 deletes what is unreachable now.
    #[serde(default)]
    grace_secs: Option<u64>,
    /// How gently it runs, 0 to 20: after each piece of work it waits this many times as long
    /// as the work took (default 3; 0: flat out).
    #[serde(default)]
    pace: Option<f64>,
}

/// Runs garbage collection now, or with `dry_run` reports what it would do (site admins).
#[utoipa::path(post, path = "/api/v1/admin/gc", tag = "admin", operation_id = "run_gc",
    request_body = GcBody,
    responses((status = 200, description = "The run's report: counts, and the items marked or removed with why", body = Object),
        (status = 403, description = "Not a site admin", body = ErrorBody),
        (status = 409, description = "A run is going on already", body = ErrorBody)))]
pub async fn run(
    State(state): State<AppState>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Report>> {
    let user = state.require(&who, Need::Admin).await?;
    let req: GcBody = read_json(&headers, body, 4096).await?;
    let options = gc::Options {
        dry_run: req.dry_run,
        grace: req
            .grace_secs
            .map_or(state.settings.gc_grace, std::time::Duration::from_secs),
        pace: req.pace.unwrap_or(gc::PACE),
    };
    Ok(Json(gc::run(&state, &options, Some(&user.username)).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunsQuery {
    /// How many runs, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
}

/// The latest garbage collection runs, newest first, without their items (site admins).
#[utoipa::path(get, path = "/api/v1/admin/gc", tag = "admin", operation_id = "list_gc_runs",
    params(RunsQuery),
    responses((status = 200, description = "Runs: state, times, who started them, their reports' counts", body = Vec<Object>),
        (status = 403, description = "Not a site admin", body = ErrorBody),
        (status = 422, description = "A limit out of bounds", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Query(q): Query<RunsQuery>,
    who: Principal,
) -> ApiResult<Json<Vec<RunSummary>>> {
    state.require(&who, Need::Admin).await?;
    Ok(Json(gc::runs(&state, q.limit.unwrap_or(20)).await?))
}

/// One garbage collection run with its report's items (site admins).
#[utoipa::path(get, path = "/api/v1/admin/gc/{id}", tag = "admin", operation_id = "get_gc_run",
    params(("id" = i64, Path)),
    responses((status = 200, description = "The run", body = Object),
        (status = 403, description = "Not a site admin", body = ErrorBody),
        (status = 404, description = "No such run", body = ErrorBody)))]
pub async fn one(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    who: Principal,
) -> ApiResult<Json<RunSummary>> {
    state.require(&who, Need::Admin).await?;
    Ok(Json(gc::run_by_id(&state, id).await?))
}
