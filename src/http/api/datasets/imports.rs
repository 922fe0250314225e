//! `…/imports`: objects under a prefix of an import source adopted as a dataset's files without
//! copying (`strata_core::imports`), its admins': start one, list them, read one.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ErrorBody;
use crate::http::error::ApiResult;
use crate::http::json::read_json;
use crate::http::state::AppState;
use strata_core::auth::Principal;
use strata_core::imports::{self, Import, Input};

/// What to import.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ImportBody {
    /// The import source (`--import-source NAME=…`), open to the dataset's namespace.
    source: String,
    /// The source's folder to import (default: all of it).
    prefix: Option<String>,
    /// The dataset's folder the files land in (default: its root).
    path: Option<String>,
    /// The branch (default: the default branch).
    branch: Option<String>,
    /// The commit's summary.
    message: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ImportOne {
    #[schema(value_type = Object)]
    import: Import,
}

#[derive(Serialize, ToSchema)]
pub struct ImportList {
    #[schema(value_type = Vec<Object>)]
    imports: Vec<Import>,
    /// The import sources open to the dataset's namespace (to the caller).
    sources: Vec<String>,
}

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct ImportPath {
    ns: String,
    name: String,
    id: i64,
}

fn id(raw: &str) -> ApiResult<i64> {
    super::positive_id(raw, "import")
}

/// Starts an import by reference (dataset admins): the objects under the prefix are hashed
/// where they are and committed as files of the folder, in one commit; nothing is copied.
#[utoipa::path(post, operation_id = "start_import", path = "/api/v1/datasets/{ns}/{name}/imports", tag = "mirrors",
    params(super::DatasetPath), request_body = ImportBody,
    responses((status = 202, description = "Queued: follow it at …/imports/{id}", body = ImportOne),
        (status = 403, description = "Not an admin of the dataset, a mirror, or a source not open to its namespace", body = ErrorBody),
        (status = 404, description = "No such dataset, branch or import source", body = ErrorBody),
        (status = 409, description = "An import is running, or the server seals its store", body = ErrorBody),
        (status = 422, description = "A prefix or path that is no folder", body = ErrorBody)))]
pub async fn start(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<ImportOne>)> {
    let input: Input = read_json(&headers, body, state.settings.max_json_body).await?;
    let import = imports::start(&state, &who, (&ns, &name), input).await?;
    Ok((StatusCode::ACCEPTED, Json(ImportOne { import })))
}

/// The dataset's latest imports, and the sources open to it (dataset admins).
#[utoipa::path(get, operation_id = "list_imports", path = "/api/v1/datasets/{ns}/{name}/imports", tag = "mirrors",
    params(super::DatasetPath),
    responses((status = 200, description = "Newest first", body = ImportList),
        (status = 404, description = "No such dataset", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    who: Principal,
) -> ApiResult<Json<ImportList>> {
    let (imports, sources) = imports::list(&state, &who, (&ns, &name)).await?;
    Ok(Json(ImportList { imports, sources }))
}

/// One import: its state, what it found and hashed, its commit or its error (dataset admins).
#[utoipa::path(get, operation_id = "read_import", path = "/api/v1/datasets/{ns}/{name}/imports/{id}", tag = "mirrors",
    params(ImportPath),
    responses((status = 200, description = "The import", body = ImportOne),
        (status = 404, description = "No such dataset or import", body = ErrorBody)))]
pub async fn read(
    State(state): State<AppState>,
    Path((ns, name, raw)): Path<(String, String, String)>,
    who: Principal,
) -> ApiResult<Json<ImportOne>> {
    let import = imports::get(&state, &who, (&ns, &name), id(&raw)?).await?;
    Ok(Json(ImportOne { import }))
}
