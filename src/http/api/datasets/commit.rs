//! Writes other than a datapackage replacement: the atomic multi-file commit (NDJSON, in the style
//! of Hugging Face's commit API, read by [`ndjson`]) and revert.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::dataset::parent_of;
use super::{dataset, DatasetPath, ErrorBody, RevisionView};
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::read_json;
use crate::http::state::AppState;
use strata_core::auth::{Action, Principal};
use strata_core::commits::describe::Describe;
use strata_core::commits::ndjson;
use strata_core::commits::Change;
use strata_core::datasets::gate;

/// The revision a write made.
#[derive(Serialize, ToSchema)]
pub struct CommitResult {
    revision: RevisionView,
}

/// One commit of many file operations, all or nothing. The body is NDJSON: a `header` line
/// (`summary`, `description`, `parent`, `branch`, and `describe`: the LFS files become
/// datapackage resources), then `file` (`path`, `content`, `encoding`
/// utf-8 or base64), `lfsFile` (`path`, `oid`, `size`; the object must be uploaded to this
/// dataset) and `deletedFile` (`path`) lines.
#[utoipa::path(post, path = "/api/v1/datasets/{ns}/{name}/commit", tag = "datasets",
    params(DatasetPath),
    request_body(content = String, content_type = "application/x-ndjson"),
    responses((status = 200, description = "OK", body = CommitResult), (status = 404, description = "No such dataset, revision or object (private datasets look missing too)", body = ErrorBody),
        (status = 409, description = "The parent is stale and a touched path changed since", body = ErrorBody),
        (status = 413, description = "Too large", body = ErrorBody), (status = 422, description = "Invalid input", body = ErrorBody)))]
pub async fn commit(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<CommitResult>> {
    // Everyone who may write some path passes here; the commit checks each path it touches.
    let repo = gate::shared(&state, &who, &ns, &name, Action::Write).await?;
    let ndjson::Commit {
        header,
        ops,
        lfs_paths,
    } = read_commit(body, state.settings.max_json_body).await?;
    let change = Change {
        summary: header.summary,
        description: header.description,
        parent: parent_of(header.parent.as_deref(), &headers)?,
        at_head: false,
        branch: header.branch,
        ops,
        lfs_paths,
        // The REST API vouches for no object: through a share, LFS files are uploaded in the
        // browser.
        vouched: Vec::new(),
        describe: match header.describe {
            true => Describe::Add,
            false => Describe::Off,
        },
        moved: Vec::new(),
    };
    let revision = strata_core::commits::commit(&state, &who, &repo, change).await?;
    Ok(Json(CommitResult {
        revision: revision.into(),
    }))
}

/// A commit's NDJSON body ([`ndjson`]), read: at most `limit` bytes.
pub(crate) async fn read_commit(body: Body, limit: usize) -> ApiResult<ndjson::Commit> {
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::too_large(format!("request body is larger than {limit} bytes")))?;
    Ok(ndjson::parse(&bytes)?)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevertBody {
    /// The revision whose content the new commit restores.
    to: String,
    #[serde(default)]
    parent: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    branch: Option<String>,
}

/// A new commit on top of the parent whose content is that of revision `to`.
#[utoipa::path(post, path = "/api/v1/datasets/{ns}/{name}/revert", tag = "datasets",
    params(DatasetPath), request_body = RevertBody,
    responses((status = 200, description = "OK", body = CommitResult), (status = 404, description = "No such dataset, revision or object (private datasets look missing too)", body = ErrorBody),
        (status = 409, description = "Conflict", body = ErrorBody), (status = 422, description = "Invalid input", body = ErrorBody)))]
pub async fn revert(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<CommitResult>> {
    let repo = dataset(&state, &who, &ns, &name, Action::Write).await?;
    let req: RevertBody = read_json(&headers, body, state.settings.max_json_body).await?;
    let parent = parent_of(req.parent.as_deref(), &headers)?
        .ok_or_else(|| ApiError::unprocessable("name the parent revision (parent or If-Match)"))?;
    let revision =
        strata_core::commits::revert(&state, &who, &repo, req.to, parent, req.branch, req.message)
            .await?;
    Ok(Json(CommitResult {
        revision: revision.into(),
    }))
}
