//! `POST /{ns}/{repo}/info/lfs/objects/batch`: which objects to transfer, and how (`basic`, or
//! `multipart-basic` for uploads to the local disk: resumable parts, then a commit). Each
//! object's answer is the domain's (`strata_core::batch`).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use strata_lfs::wire::{BatchRequest, Operation};

use crate::http::error::ApiResult;
use crate::http::extract::repo_name;
use crate::http::json::{lfs_json, read_json};
use crate::http::state::AppState;
use strata_core::auth::Principal;

pub async fn batch(
    State(state): State<AppState>,
    Path((ns, repo)): Path<(String, String)>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let req: BatchRequest = read_json(&headers, body, state.settings.max_json_body).await?;
    let git_lfs = headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ua| ua.starts_with("git-lfs/"));
    let answer =
        strata_core::batch::answer(&state, &who, &ns, repo_name(&repo), &req, git_lfs).await?;
    let given = answer.objects.iter().filter(|o| o.actions.is_some());
    let (count, bytes) = given.fold((0, 0), |(n, b), o| (n + 1, b + o.size));
    let operation = match req.operation {
        Operation::Upload => "upload",
        Operation::Download => "download",
    };
    state.http().metrics.lfs(operation, count, bytes);
    Ok(lfs_json(StatusCode::OK, &answer))
}
