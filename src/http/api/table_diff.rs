//! `GET /api/v1/datasets/{ns}/{name}/tables/{resource}/diff?from=&to=`: what changed in a table's
//! rows and columns between two revisions, as the caller may see it (`strata_core::tables::diff`).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ErrorBody;
use crate::http::error::ApiResult;
use crate::http::state::AppState;
use strata_core::auth::{Action, Principal};
use strata_core::datasets::gate;
use strata_core::tables::diff::{self, TableDiff};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(table_diff))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DiffQuery {
    /// The revision compared from: an id, branch or tag.
    from: String,
    /// The revision compared to (default: the head of the default branch).
    to: Option<String>,
    /// Changed rows to skip (default 0).
    offset: Option<u64>,
    /// Changed rows in the page, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// Why you read: policies see it as `context.intent`.
    intent: Option<String>,
}

/// The differences of a table between two revisions: columns added, removed and retyped; counts
/// of rows added, removed and changed, matched on the Table Schema's `primaryKey` (or as whole
/// rows when it declares none); and a page of those rows in key order with their changed cells.
/// Columns a policy removes are absent; redacted and hashed ones show that they changed, with
/// their transformed values only.
#[utoipa::path(get, path = "/api/v1/datasets/{ns}/{name}/tables/{resource}/diff", tag = "tables", operation_id = "table_diff",
    params(("ns" = String, Path), ("name" = String, Path), ("resource" = String, Path), DiffQuery),
    responses((status = 200, description = "`key`, `columns` (added, removed, retyped), `counts` (added, removed, changed), `rows` (change, key, before, after, changed), `governed`", body = Object),
        (status = 400, description = "A malformed query string", body = ErrorBody),
        (status = 403, description = "A policy denies it", body = ErrorBody),
        (status = 404, description = "No such dataset, revision or resource (at either revision)", body = ErrorBody),
        (status = 422, description = "Not a table, a limit out of range, or revisions sharing no column", body = ErrorBody),
        (status = 503, description = "Busy: try again", body = ErrorBody)))]
pub async fn table_diff(
    State(state): State<AppState>,
    Path((ns, name, resource)): Path<(String, String, String)>,
    query: Result<Query<DiffQuery>, QueryRejection>,
    who: Principal,
) -> ApiResult<Json<TableDiff>> {
    let Query(q) = query?;
    let gated = gate::shared(&state, &who, &ns, &name, Action::Read).await?;
    let req = diff::Request {
        resource,
        from: q.from,
        to: q.to,
        intent: q.intent,
        offset: q.offset.unwrap_or(0),
        limit: q.limit.unwrap_or(100),
    };
    Ok(Json(diff::diff(&state, &gated, &req).await?))
}
