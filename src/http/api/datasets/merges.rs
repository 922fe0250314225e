//! `…/merge-requests`: open, list, read, edit, close and reopen merge requests; resolve their
//! conflicts; approve them; merge them (a compare-and-swap on the target).

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{dataset, DatasetPath, ErrorBody, RevisionView};
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::{read_json, read_optional_json};
use crate::http::state::AppState;
use strata_core::auth::{Action, Principal};
use strata_core::changes::merges::{self, MergeRequest, Status};

/// A merge request's path parameters.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(super) struct MergePath {
    ns: String,
    name: String,
    /// The merge request's number in its dataset.
    number: i64,
}

/// A merge request's number: anything else names none.
pub(super) fn parse(number: &str) -> ApiResult<i64> {
    number
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ApiError::not_found(format!("there is no merge request {number:?}")))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBody {
    /// The branch to merge.
    source: String,
    /// The branch to merge it into (default: `main`).
    #[serde(default)]
    target: Option<String>,
    title: String,
    #[serde(default)]
    description: String,
}

/// Opens a merge request of one branch into another (writers of the whole dataset).
#[utoipa::path(post, operation_id = "open_merge_request", path = "/api/v1/datasets/{ns}/{name}/merge-requests", tag = "merge requests",
    params(DatasetPath), request_body = NewBody,
    responses((status = 201, description = "Opened: the merge request", body = Object),
        (status = 403, description = "Not a writer of the whole dataset", body = ErrorBody),
        (status = 404, description = "No such dataset or branch", body = ErrorBody),
        (status = 409, description = "One is open from that source into that target already", body = ErrorBody),
        (status = 422, description = "No title, the same branch twice, or nothing to merge", body = ErrorBody)))]
pub async fn open(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<MergeRequest>)> {
    let repo = dataset(&state, &who, &ns, &name, Action::Write).await?;
    let req: NewBody = read_json(&headers, body, state.settings.max_json_body).await?;
    let new = merges::New {
        source: req.source,
        target: req.target,
        title: req.title,
        description: req.description,
    };
    let opened = merges::open(&state, &who, &repo, new).await?;
    Ok((StatusCode::CREATED, Json(opened)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `open` (the default), `merged`, `closed` or `all`.
    state: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct MergeList {
    #[schema(value_type = Vec<Object>)]
    merge_requests: Vec<MergeRequest>,
}

/// The dataset's merge requests, newest first (at most 500).
#[utoipa::path(get, operation_id = "list_merge_requests", path = "/api/v1/datasets/{ns}/{name}/merge-requests", tag = "merge requests",
    params(DatasetPath, ListQuery),
    responses((status = 200, description = "The merge requests", body = MergeList),
        (status = 404, description = "No such dataset", body = ErrorBody),
        (status = 422, description = "An unknown state", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    query: Result<Query<ListQuery>, QueryRejection>,
    who: Principal,
) -> ApiResult<Json<MergeList>> {
    let Query(q) = query?;
    let repo = dataset(&state, &who, &ns, &name, Action::Read).await?;
    let wanted = match q.state.as_deref() {
        None => Some("open"),
        Some("all") => None,
        Some(s) => Some(s),
    };
    let merge_requests = merges::list(&state, &repo, wanted).await?;
    Ok(Json(MergeList { merge_requests }))
}

/// A merge request and where it stands: the heads, each changed path and how it merges, the
/// tables merged row by row, the conflicts (row, column, base/ours/theirs; values withheld where
/// the caller's policies transform the table) with their resolutions, the approvals, and what
/// keeps it from being merged (`blockers`).
#[utoipa::path(get, operation_id = "read_merge_request", path = "/api/v1/datasets/{ns}/{name}/merge-requests/{number}", tag = "merge requests",
    params(MergePath),
    responses((status = 200, description = "The merge request's status", body = Object),
        (status = 404, description = "No such dataset or merge request", body = ErrorBody),
        (status = 503, description = "The server is busy", body = ErrorBody)))]
pub async fn read(
    State(state): State<AppState>,
    Path((ns, name, number)): Path<(String, String, String)>,
    who: Principal,
) -> ApiResult<Json<Status>> {
    let repo = dataset(&state, &who, &ns, &name, Action::Read).await?;
    Ok(Json(merges::status(&state, &repo, parse(&number)?).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditBody {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    description: Option<String>,
    /// `closed` to close it, `open` to reopen it.
    #[serde(default)]
    state: Option<String>,
}

/// Changes a merge request's title or description, closes or reopens it (writers).
#[utoipa::path(patch, operation_id = "edit_merge_request", path = "/api/v1/datasets/{ns}/{name}/merge-requests/{number}", tag = "merge requests",
    params(MergePath), request_body = EditBody,
    responses((status = 200, description = "The merge request", body = Object),
        (status = 403, description = "Not a writer", body = ErrorBody),
        (status = 404, description = "No such dataset or merge request", body = ErrorBody),
        (status = 409, description = "Merged already, or another is open for the same branches", body = ErrorBody),
        (status = 422, description = "Invalid body", body = ErrorBody)))]
pub async fn edit(
    State(state): State<AppState>,
    Path((ns, name, number)): Path<(String, String, String)>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<MergeRequest>> {
    let repo = dataset(&state, &who, &ns, &name, Action::Write).await?;
    let req: EditBody = read_json(&headers, body, state.settings.max_json_body).await?;
    Ok(Json(
        merges::edit(
            &state,
            &who,
            &repo,
            parse(&number)?,
            req.title,
            req.description,
            req.state,
        )
        .await?,
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolutionBody {
    /// The conflict's `id`.
    id: String,
    /// `ours` (the target's), `theirs` (the source's), `base`, or `value` (a cell only); null
    /// forgets the resolution.
    take: Option<String>,
    /// With `take: value`: the cell's value (null: empty).
    #[serde(default)]
    value: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveBody {
    resolutions: Vec<ResolutionBody>,
}

/// Resolves conflicts, all or none (writers). A resolution holds while its conflict is the
/// same: when either branch changes the conflicting values, it is a new conflict.
#[utoipa::path(put, operation_id = "resolve_merge_conflicts", path = "/api/v1/datasets/{ns}/{name}/merge-requests/{number}/resolutions", tag = "merge requests",
    params(MergePath), request_body = ResolveBody,
    responses((status = 200, description = "The merge request's status", body = Object),
        (status = 403, description = "Not a writer", body = ErrorBody),
        (status = 404, description = "No such dataset or merge request", body = ErrorBody),
        (status = 409, description = "The merge request is not open", body = ErrorBody),
        (status = 422, description = "An unknown conflict or a resolution it cannot take", body = ErrorBody)))]
pub async fn resolve(
    State(state): State<AppState>,
    Path((ns, name, number)): Path<(String, String, String)>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Status>> {
    let repo = dataset(&state, &who, &ns, &name, Action::Write).await?;
    let req: ResolveBody = read_json(&headers, body, state.settings.max_json_body).await?;
    let asked = req
        .resolutions
        .into_iter()
        .map(|r| merges::Resolve {
            id: r.id,
            take: r.take,
            value: r.value,
        })
        .collect();
    Ok(Json(
        merges::resolve(&state, &who, &repo, parse(&number)?, asked).await?,
    ))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ApproveBody {
    /// The source head the approver looked at: refused (409) when the source moved since.
    #[serde(default)]
    source_head: Option<String>,
}

/// Approves the merge request as it is (its source's head), as a writer other than its author.
#[utoipa::path(post, operation_id = "approve_merge_request", path = "/api/v1/datasets/{ns}/{name}/merge-requests/{number}/approval", tag = "merge requests",
    params(MergePath), request_body(content = ApproveBody, description = "Optional"),
    responses((status = 200, description = "The merge request's status", body = Object),
        (status = 403, description = "Not a writer, a bare token, or the author", body = ErrorBody),
        (status = 404, description = "No such dataset or merge request", body = ErrorBody),
        (status = 409, description = "The merge request is not open", body = ErrorBody)))]
pub async fn approve(
    State(state): State<AppState>,
    Path((ns, name, number)): Path<(String, String, String)>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Status>> {
    let repo = dataset(&state, &who, &ns, &name, Action::Write).await?;
    let req: ApproveBody = read_optional_json(&headers, body, state.settings.max_json_body).await?;
    Ok(Json(
        merges::approve(&state, &who, &repo, parse(&number)?, true, req.source_head).await?,
    ))
}

/// Withdraws the caller's approval.
#[utoipa::path(delete, operation_id = "withdraw_merge_approval", path = "/api/v1/datasets/{ns}/{name}/merge-requests/{number}/approval", tag = "merge requests",
    params(MergePath),
    responses((status = 200, description = "The merge request's status", body = Object),
        (status = 404, description = "No such dataset, merge request or approval", body = ErrorBody)))]
pub async fn unapprove(
    State(state): State<AppState>,
    Path((ns, name, number)): Path<(String, String, String)>,
    who: Principal,
) -> ApiResult<Json<Status>> {
    let repo = dataset(&state, &who, &ns, &name, Action::Write).await?;
    Ok(Json(
        merges::approve(&state, &who, &repo, parse(&number)?, false, None).await?,
    ))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct MergeBody {
    /// The target's head the merge was reviewed at: refused (409) when the target moved.
    #[serde(default)]
    target_head: Option<String>,
    /// The merge commit's message (default: "Merge {source} into {target} …").
    #[serde(default)]
    message: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Merged {
    #[schema(value_type = Object)]
    merge_request: MergeRequest,
    revision: RevisionView,
}

/// Merges the merge request: a merge commit on the target with both heads as parents, made
/// only if the target is still where it was (and at `target_head` when given), every conflict
/// is resolved, the approvals a protected target needs are there, and its contracts hold.
#[utoipa::path(post, operation_id = "merge_merge_request", path = "/api/v1/datasets/{ns}/{name}/merge-requests/{number}/merge", tag = "merge requests",
    params(MergePath), request_body = MergeBody,
    responses((status = 200, description = "Merged", body = Merged),
        (status = 403, description = "Not a writer, or approvals missing", body = ErrorBody),
        (status = 404, description = "No such dataset or merge request", body = ErrorBody),
        (status = 409, description = "The target moved, a conflict is not resolved, or it is not open", body = ErrorBody),
        (status = 422, description = "Nothing to merge, or the merged result breaks the contract (the violations in the body)", body = ErrorBody)))]
pub async fn merge(
    State(state): State<AppState>,
    Path((ns, name, number)): Path<(String, String, String)>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Merged>> {
    let repo = dataset(&state, &who, &ns, &name, Action::Write).await?;
    let req: MergeBody = read_json(&headers, body, state.settings.max_json_body).await?;
    let (merge_request, revision) = merges::merge(
        &state,
        &who,
        &repo,
        parse(&number)?,
        req.target_head,
        req.message,
    )
    .await?;
    Ok(Json(Merged {
        merge_request,
        revision: revision.into(),
    }))
}
