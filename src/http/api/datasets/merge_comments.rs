//! `…/merge-requests/{number}/comments`: what readers of the whole dataset say about a merge
//! request, on the request itself, one of its files or one row of a file.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;

use super::merges::{parse, MergePath};
use super::{dataset, ErrorBody};
use crate::http::error::ApiResult;
use crate::http::json::read_json;
use crate::http::state::AppState;
use strata_core::auth::{Action, Principal};
use strata_core::changes::merges::{self, Comment};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommentBody {
    /// The comment: 1 to 10,000 characters.
    body: String,
    /// The file it is about (none: the request).
    #[serde(default)]
    path: String,
    /// The row of that file it is about: its key as the diff shows it.
    #[serde(default)]
    row: String,
}

/// The comments on a merge request, oldest first.
#[utoipa::path(get, operation_id = "list_merge_comments", path = "/api/v1/datasets/{ns}/{name}/merge-requests/{number}/comments", tag = "merge requests",
    params(MergePath),
    responses((status = 200, description = "The comments", body = Object),
        (status = 404, description = "No such dataset or merge request", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Path((ns, name, number)): Path<(String, String, String)>,
    who: Principal,
) -> ApiResult<Json<Vec<Comment>>> {
    let repo = dataset(&state, &who, &ns, &name, Action::Read).await?;
    Ok(Json(
        merges::comments(&state, &repo, parse(&number)?).await?,
    ))
}

/// Comments on a merge request (on one of its files or rows, when `path` and `row` say so); its
/// author is notified (`merge_request.commented`).
#[utoipa::path(post, operation_id = "add_merge_comment", path = "/api/v1/datasets/{ns}/{name}/merge-requests/{number}/comments", tag = "merge requests",
    params(MergePath), request_body = CommentBody,
    responses((status = 201, description = "The comment", body = Object),
        (status = 400, description = "Not a comment", body = ErrorBody),
        (status = 401, description = "Authentication required", body = ErrorBody),
        (status = 403, description = "A bare token", body = ErrorBody),
        (status = 404, description = "No such dataset or merge request", body = ErrorBody),
        (status = 409, description = "The merge request has the most comments it takes", body = ErrorBody),
        (status = 422, description = "Empty, too long, or a row without its file", body = ErrorBody)))]
pub async fn add(
    State(state): State<AppState>,
    Path((ns, name, number)): Path<(String, String, String)>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<Comment>)> {
    let repo = dataset(&state, &who, &ns, &name, Action::Read).await?;
    let req: CommentBody = read_json(&headers, body, state.settings.max_json_body).await?;
    let terms = (req.body.as_str(), req.path.as_str(), req.row.as_str());
    let made = merges::comment(&state, &who, &repo, parse(&number)?, terms).await?;
    Ok((StatusCode::CREATED, Json(made)))
}
