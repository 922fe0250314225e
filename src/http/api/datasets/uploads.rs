//! Staged uploads (`strata_core::storage::StagedUpload`): the browser's way to put a file in
//! strata's storage (the local disk or a bucket) without hashing it first. Start one with its size, send its parts in any
//! order (several at once), ask which are still missing after a cut, and complete it: strata has
//! hashed the parts as they came and answers the object's oid, linked to the dataset and ready
//! for a commit's `lfsFile` line. An upload is its starter's alone (another writer's request
//! answers 404). Whole-dataset writers only (the session needs its
//! `X-CSRF-Token`, as for every write); sealed storage answers 422 (use the LFS batch API).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{dataset, DatasetPath, ErrorBody};
use crate::http::error::ApiResult;
use crate::http::json::read_json;
use crate::http::state::AppState;
use strata_core::auth::{Action, Principal};
use strata_core::storage::StagedUpload;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartUpload {
    /// The file's size in bytes.
    size: u64,
}

/// A part to send: `PUT` its bytes to `href`.
#[derive(Serialize, ToSchema)]
pub struct PartView {
    n: u32,
    pos: u64,
    len: u64,
    href: String,
}

/// An upload in progress and the parts it still needs.
#[derive(Serialize, ToSchema)]
pub struct UploadView {
    id: String,
    size: u64,
    missing: Vec<PartView>,
}

/// The finished upload's object.
#[derive(Serialize, ToSchema)]
pub struct UploadedView {
    /// The sha256 of the bytes, as an LFS oid.
    oid: String,
    size: u64,
}

fn view(ns: &str, name: &str, u: StagedUpload) -> UploadView {
    let base = format!("/api/v1/datasets/{ns}/{name}/uploads/{}", u.id);
    UploadView {
        missing: u
            .missing
            .into_iter()
            .map(|(n, pos, len)| PartView {
                n,
                pos,
                len,
                href: format!("{base}/parts/{n}"),
            })
            .collect(),
        id: u.id,
        size: u.size,
    }
}

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
struct UploadPath {
    ns: String,
    name: String,
    /// The upload's id.
    id: String,
}

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
struct PartPath {
    ns: String,
    name: String,
    id: String,
    /// The part's number, from 1.
    n: u32,
}

/// Starts an upload of `size` bytes; answers its parts.
#[utoipa::path(post, path = "/api/v1/datasets/{ns}/{name}/uploads", tag = "datasets",
    params(DatasetPath), request_body = StartUpload,
    responses((status = 201, description = "Started", body = UploadView),
        (status = 404, description = "No such dataset", body = ErrorBody),
        (status = 413, description = "Larger than this server takes", body = ErrorBody),
        (status = 422, description = "Sealed storage: use the LFS batch API", body = ErrorBody)))]
pub async fn start(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    who: Principal,
    headers: axum::http::HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<UploadView>)> {
    let repo = dataset(&state, &who, &ns, &name, Action::Write).await?;
    let req: StartUpload = read_json(&headers, body, state.settings.max_json_body).await?;
    let started = strata_core::drive::uploads::start(&state, &repo, &who.key(), req.size).await?;
    Ok((StatusCode::CREATED, Json(view(&ns, &name, started))))
}

/// The parts of an upload still missing (after a cut, send only these).
#[utoipa::path(get, path = "/api/v1/datasets/{ns}/{name}/uploads/{id}", tag = "datasets",
    params(UploadPath),
    responses((status = 200, description = "OK", body = UploadView),
        (status = 404, description = "No such upload (finished, purged, or another dataset's)", body = ErrorBody)))]
pub async fn status(
    State(state): State<AppState>,
    Path((ns, name, id)): Path<(String, String, String)>,
    who: Principal,
) -> ApiResult<Json<UploadView>> {
    let repo = dataset(&state, &who, &ns, &name, Action::Write).await?;
    let found = state.storage.stage_status(repo.id, &who.key(), &id).await?;
    Ok(Json(view(&ns, &name, found)))
}

/// Stores one part: exactly its length, or nothing.
#[utoipa::path(put, path = "/api/v1/datasets/{ns}/{name}/uploads/{id}/parts/{n}", tag = "datasets",
    params(PartPath), request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 204, description = "Stored"),
        (status = 404, description = "No such upload or part", body = ErrorBody),
        (status = 422, description = "Not the part's length", body = ErrorBody)))]
pub async fn part(
    State(state): State<AppState>,
    Path((ns, name, id, n)): Path<(String, String, String, u32)>,
    who: Principal,
    body: Body,
) -> ApiResult<StatusCode> {
    let repo = dataset(&state, &who, &ns, &name, Action::Write).await?;
    state
        .storage
        .stage_part(repo.id, &who.key(), (&id, n), body.into_data_stream())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Completes an upload whose parts are all stored: its oid, the object linked to the dataset.
#[utoipa::path(post, path = "/api/v1/datasets/{ns}/{name}/uploads/{id}/complete", tag = "datasets",
    params(UploadPath),
    responses((status = 200, description = "The object", body = UploadedView),
        (status = 404, description = "No such upload", body = ErrorBody),
        (status = 409, description = "Parts missing (`missing_parts`)", body = ErrorBody)))]
pub async fn complete(
    State(state): State<AppState>,
    Path((ns, name, id)): Path<(String, String, String)>,
    who: Principal,
) -> ApiResult<Json<UploadedView>> {
    let repo = dataset(&state, &who, &ns, &name, Action::Write).await?;
    let (oid, size) = strata_core::drive::uploads::complete(&state, &repo, &who.key(), &id).await?;
    Ok(Json(UploadedView {
        oid: oid.to_string(),
        size,
    }))
}

/// Throws an upload away.
#[utoipa::path(delete, path = "/api/v1/datasets/{ns}/{name}/uploads/{id}", tag = "datasets",
    params(UploadPath),
    responses((status = 204, description = "Gone"),
        (status = 404, description = "No such upload", body = ErrorBody)))]
pub async fn abort(
    State(state): State<AppState>,
    Path((ns, name, id)): Path<(String, String, String)>,
    who: Principal,
) -> ApiResult<StatusCode> {
    let repo = dataset(&state, &who, &ns, &name, Action::Write).await?;
    strata_core::drive::uploads::abort(&state, &repo, &who.key(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
