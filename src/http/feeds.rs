//! A region feed as a remote (`strata_core::mirrors::feed`): `/_feeds/{id}.git` serves git
//! fetches (`info/refs` brings the feed up to date first, then `git http-backend` serves its own
//! repository, read-only) and its LFS endpoint (`info/lfs/objects/batch` and the downloads it
//! hands out) to the feed's token alone, never to an account.

use axum::body::Body;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use strata_lfs::wire::BatchRequest;

use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{bearer_or_basic, repo_name};
use crate::http::json::{lfs_json, read_json};
use crate::http::state::AppState;
use strata_core::mirrors::feed;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/_feeds/{feed}/info/refs", get(info_refs))
        .route("/_feeds/{feed}/git-upload-pack", post(upload_pack))
        .route("/_feeds/{feed}/info/lfs/objects/batch", post(batch))
        .route("/_feeds/{feed}/info/lfs/objects/{oid}", get(download))
}

/// The feed's id from its path segment (`{id}.git` or `{id}`).
fn id(segment: &str) -> ApiResult<i64> {
    repo_name(segment)
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ApiError::not_found(format!("no region feed {segment:?}")))
}

async fn info_refs(
    State(state): State<AppState>,
    Path(segment): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    request: Request,
) -> ApiResult<Response> {
    if query.as_deref() != Some("service=git-upload-pack") {
        return Err(ApiError::forbidden(
            "a region feed is fetched with git's smart HTTP protocol, never pushed to",
        ));
    }
    let token = bearer_or_basic(&headers)?;
    let (root, path) = feed::fetchable(&state, id(&segment)?, token.as_deref(), true).await?;
    backend(&state, root, format!("{path}/info/refs"), request).await
}

async fn upload_pack(
    State(state): State<AppState>,
    Path(segment): Path<String>,
    headers: HeaderMap,
    request: Request,
) -> ApiResult<Response> {
    let token = bearer_or_basic(&headers)?;
    let (root, path) = feed::fetchable(&state, id(&segment)?, token.as_deref(), false).await?;
    backend(&state, root, format!("{path}/git-upload-pack"), request).await
}

async fn batch(
    State(state): State<AppState>,
    Path(segment): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let token = bearer_or_basic(&headers)?;
    let req: BatchRequest = read_json(&headers, body, state.settings.max_json_body).await?;
    let answer = feed::batch(&state, id(&segment)?, token.as_deref(), &req).await?;
    Ok(lfs_json(StatusCode::OK, &answer))
}

async fn download(
    State(state): State<AppState>,
    Path((segment, oid)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let token = bearer_or_basic(&headers)?;
    let (repo_id, oid) = feed::download(&state, id(&segment)?, token.as_deref(), &oid).await?;
    crate::http::download::serve_object(&state, repo_id, &oid, &headers, None).await
}

/// `git http-backend` on the feed's repository: fetches only (no hooks, no pushes, no object
/// but what its refs reach).
async fn backend(
    state: &AppState,
    root: std::path::PathBuf,
    path_info: String,
    request: Request,
) -> ApiResult<Response> {
    let (parts, body) = request.into_parts();
    let mut cmd = crate::http::git::cgi_command(&root, path_info, &parts);
    cmd.env("GIT_CONFIG_COUNT", "2")
        .env("GIT_CONFIG_KEY_0", "http.receivepack")
        .env("GIT_CONFIG_VALUE_0", "false")
        .env("GIT_CONFIG_KEY_1", "core.hooksPath")
        .env("GIT_CONFIG_VALUE_1", "/dev/null")
        .env("HOME", &root);
    crate::http::git::run(state, cmd, &parts.method, body, || {}).await
}
