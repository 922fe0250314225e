//! Erasure for site admins (`strata_core::erase`): `POST /api/v1/admin/datasets/{ns}/{name}/erase`
//! removes files or folders, or a table's rows by primary key, from a dataset's whole history and
//! answers the report.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::api::ErrorBody;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::read_json;
use crate::http::state::AppState;
use strata_core::auth::{Need, Principal};
use strata_core::erase::{self, Report};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(erase_paths))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EraseBody {
    /// Files or folders to remove from every revision (1 to 100); or `rows`.
    #[serde(default)]
    paths: Option<Vec<String>>,
    /// Rows to remove from every version of a CSV table with a `primaryKey`.
    #[serde(default)]
    rows: Option<RowsBody>,
    /// The dataset's `ns/name` typed again: erasure cannot be undone.
    confirm: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RowsBody {
    /// The table (a resource name at the head of `main`).
    resource: String,
    /// Each row by its primary key: an object naming every key column (1 to 10,000).
    #[schema(value_type = Vec<Object>)]
    keys: Vec<serde_json::Map<String, serde_json::Value>>,
}

/// Erases files or folders from a dataset's whole history: every revision rewritten, every ref
/// moved, the objects only they reached deleted (their signed URLs answer 410), the repository
/// pruned, and under encryption everything sealed again under a new key version with the old
/// ones destroyed (site admins).
#[utoipa::path(post, path = "/api/v1/admin/datasets/{ns}/{name}/erase", tag = "admin", operation_id = "erase_paths",
    params(("ns" = String, Path), ("name" = String, Path)), request_body = EraseBody,
    responses((status = 200, description = "The report: revisions rewritten, refs moved, objects removed, key versions destroyed", body = Object),
        (status = 403, description = "Not a site admin", body = ErrorBody),
        (status = 404, description = "No such dataset", body = ErrorBody),
        (status = 409, description = "A ref moved meanwhile: run it again to finish", body = ErrorBody),
        (status = 422, description = "No paths, a bad path, strata's own file, or the confirmation does not match", body = ErrorBody)))]
pub async fn erase_paths(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Report>> {
    let user = state.require(&who, Need::Admin).await?;
    let req: EraseBody = read_json(&headers, body, 64 * 1024).await?;
    if req.confirm != format!("{ns}/{name}") {
        return Err(ApiError::unprocessable(format!(
            "confirm with the dataset's name, {ns}/{name}: erasure cannot be undone"
        )));
    }
    // Detached from the request: a client that goes away does not stop it half-way.
    let (by, ctx) = (user.username.clone(), strata_core::context::current());
    let work = tokio::spawn(strata_core::context::scope(ctx, async move {
        match (req.paths, req.rows) {
            (Some(paths), None) => erase::erase(&state, &by, &ns, &name, &paths).await,
            (None, Some(rows)) => {
                erase::erase_rows(&state, &by, &ns, &name, &rows.resource, &rows.keys).await
            }
            _ => Err(strata_core::error::Error::unprocessable(
                "name either paths (files or folders) or rows (a table's rows by key)",
            )),
        }
    }));
    let report = work
        .await
        .map_err(|e| ApiError::from(strata_core::error::Error::internal(e)))??;
    Ok(Json(report))
}
