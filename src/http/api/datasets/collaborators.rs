//! Who may use a dataset: its collaborators (users, or `team:{name}` of its organisation, with
//! read, write or admin), its visibility (public, internal, private) and default-branch
//! protection and history retention, over HTTP; the rules and the audit entries are in `strata_core::datasets::settings`.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ErrorBody;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::read_json;
use crate::http::state::AppState;
use strata_core::auth::{Action, Principal};
use strata_core::datasets::{gate, settings};
use strata_core::db::Visibility;

#[derive(Serialize, ToSchema)]
pub struct Collaborator {
    /// `user` or `team` (a team of the dataset's organisation).
    kind: String,
    name: String,
    /// read, write or admin.
    permission: String,
}

/// The collaborators of a dataset (those who administer it).
#[utoipa::path(get, path = "/api/v1/datasets/{ns}/{name}/collaborators", tag = "datasets",
    params(("ns" = String, Path), ("name" = String, Path)),
    responses((status = 200, description = "OK", body = Vec<Collaborator>),
        (status = 403, description = "You do not administer it", body = ErrorBody),
        (status = 404, description = "No such dataset", body = ErrorBody)))]
pub async fn list_collaborators(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    who: Principal,
) -> ApiResult<Json<Vec<Collaborator>>> {
    let repo = gate::dataset(&state, &who, &ns, &name, Action::Admin).await?;
    let list = settings::collaborators(&state, &repo)
        .await?
        .into_iter()
        .map(|(kind, name, permission)| Collaborator {
            kind,
            name,
            permission,
        })
        .collect();
    Ok(Json(list))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Permission {
    /// read, write or admin.
    permission: String,
}

/// Gives a user (or `team:{name}`) read, write or admin on a dataset.
#[utoipa::path(put, path = "/api/v1/datasets/{ns}/{name}/collaborators/{who}", tag = "datasets",
    params(("ns" = String, Path), ("name" = String, Path), ("who" = String, Path, description = "A username, or team:{name}")),
    request_body = Permission,
    responses((status = 204, description = "Done"), (status = 403, description = "You do not administer it", body = ErrorBody),
        (status = 404, description = "No such dataset, user or team", body = ErrorBody),
        (status = 422, description = "Unknown permission", body = ErrorBody)))]
pub async fn set_collaborator(
    State(state): State<AppState>,
    Path((ns, name, target)): Path<(String, String, String)>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<StatusCode> {
    let repo = gate::dataset(&state, &who, &ns, &name, Action::Admin).await?;
    let req: Permission = read_json(&headers, body, state.settings.max_json_body).await?;
    let permission: strata_core::db::Permission =
        req.permission.parse().map_err(ApiError::unprocessable)?;
    settings::set_collaborator(&state, &who, &repo, &target, permission).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Takes a collaborator's grant away.
#[utoipa::path(delete, path = "/api/v1/datasets/{ns}/{name}/collaborators/{who}", tag = "datasets",
    params(("ns" = String, Path), ("name" = String, Path), ("who" = String, Path)),
    responses((status = 204, description = "Done"), (status = 403, description = "You do not administer it", body = ErrorBody),
        (status = 404, description = "No such collaborator", body = ErrorBody)))]
pub async fn remove_collaborator(
    State(state): State<AppState>,
    Path((ns, name, target)): Path<(String, String, String)>,
    who: Principal,
) -> ApiResult<StatusCode> {
    let repo = gate::dataset(&state, &who, &ns, &name, Action::Admin).await?;
    settings::remove_collaborator(&state, &who, &repo, &target).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProtectionBody {
    /// Whether the default branch refuses force-pushes and deletion and checks its contracts
    /// on every write (default: true).
    default_branch: bool,
    /// Whether the protected default branch takes changes through merge requests only
    /// (omitted: unchanged).
    #[serde(default)]
    require_merge_request: Option<bool>,
    /// Approvals from writers other than the author a merge request into the protected
    /// default branch needs, 0 to 10 (omitted: unchanged).
    #[serde(default)]
    required_approvals: Option<i64>,
}

/// Turns the protection of the default branch on or off (dataset admins).
#[utoipa::path(put, path = "/api/v1/datasets/{ns}/{name}/protection", tag = "datasets",
    params(("ns" = String, Path), ("name" = String, Path)), request_body = ProtectionBody,
    responses((status = 204, description = "Done"), (status = 403, description = "You do not administer it", body = ErrorBody),
        (status = 404, description = "No such dataset", body = ErrorBody), (status = 422, description = "Invalid body", body = ErrorBody)))]
pub async fn set_protection(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<StatusCode> {
    let repo = gate::dataset(&state, &who, &ns, &name, Action::Admin).await?;
    let req: ProtectionBody = read_json(&headers, body, state.settings.max_json_body).await?;
    let protection = settings::Protection {
        default_branch: req.default_branch,
        require_merge_request: req.require_merge_request,
        required_approvals: req.required_approvals,
    };
    settings::set_protection(&state, &who, &repo, protection).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VisibilityBody {
    /// public, internal (signed-in users) or private.
    visibility: String,
}

/// Changes who may read a dataset.
#[utoipa::path(put, path = "/api/v1/datasets/{ns}/{name}/visibility", tag = "datasets",
    params(("ns" = String, Path), ("name" = String, Path)), request_body = VisibilityBody,
    responses((status = 204, description = "Done"), (status = 403, description = "You do not administer it", body = ErrorBody),
        (status = 404, description = "No such dataset", body = ErrorBody), (status = 422, description = "Unknown visibility", body = ErrorBody)))]
pub async fn set_visibility(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<StatusCode> {
    let repo = gate::dataset(&state, &who, &ns, &name, Action::Admin).await?;
    let req: VisibilityBody = read_json(&headers, body, state.settings.max_json_body).await?;
    let visibility: Visibility = req.visibility.parse().map_err(ApiError::unprocessable)?;
    settings::set_visibility(&state, &who, &repo, visibility).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionBody {
    /// Days of each branch's history garbage collection keeps (0 to 36500; refs' own revisions
    /// and tags are always kept); `null`: all history.
    keep_days: Option<i64>,
}

/// How much history a dataset keeps from garbage collection (dataset admins).
#[utoipa::path(get, path = "/api/v1/datasets/{ns}/{name}/retention", tag = "datasets",
    params(("ns" = String, Path), ("name" = String, Path)),
    responses((status = 200, description = "The retention", body = RetentionBody), (status = 403, description = "You do not administer it", body = ErrorBody),
        (status = 404, description = "No such dataset", body = ErrorBody)))]
pub async fn get_retention(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    who: Principal,
) -> ApiResult<Json<RetentionBody>> {
    let repo = gate::dataset(&state, &who, &ns, &name, Action::Admin).await?;
    let keep_days = settings::retention(&state, &repo).await?;
    Ok(Json(RetentionBody { keep_days }))
}

/// Sets how much history a dataset keeps from garbage collection (dataset admins).
#[utoipa::path(put, path = "/api/v1/datasets/{ns}/{name}/retention", tag = "datasets",
    params(("ns" = String, Path), ("name" = String, Path)), request_body = RetentionBody,
    responses((status = 204, description = "Done"), (status = 403, description = "You do not administer it", body = ErrorBody),
        (status = 404, description = "No such dataset", body = ErrorBody), (status = 422, description = "Out of range", body = ErrorBody)))]
pub async fn set_retention(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<StatusCode> {
    let repo = gate::dataset(&state, &who, &ns, &name, Action::Admin).await?;
    let req: RetentionBody = read_json(&headers, body, state.settings.max_json_body).await?;
    settings::set_retention(&state, &who, &repo, req.keep_days).await?;
    Ok(StatusCode::NO_CONTENT)
}
