//! Writes other than a datapackage replacement: the atomic multi-file commit (NDJSON, in the style
//! of Hugging Face's commit API) and revert.
//!
//! ```text
//! {"key": "header", "value": {"summary": "…", "description": "…", "parent": "<rev>", "branch": "main"}}
//! {"key": "file", "value": {"path": "README.md", "content": "…", "encoding": "utf-8" | "base64"}}
//! {"key": "lfsFile", "value": {"path": "data/a.csv", "oid": "<sha256>", "size": 123}}
//! {"key": "deletedFile", "value": {"path": "old.csv"}}
//! ```

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use base64::Engine;
use serde::{Deserialize, Serialize};
use strata_lfs::pointer::Pointer;
use strata_lfs::Oid;
use strata_metastore::Op;
use utoipa::ToSchema;

use super::dataset::parent_of;
use super::{dataset, DatasetPath, ErrorBody, RevisionView};
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::read_json;
use crate::http::state::AppState;
use strata_core::auth::{Action, Principal};
use strata_core::datasets::commit::Change;
use strata_core::datasets::describe::Describe;
use strata_core::datasets::gate;

/// Most operations in one commit.
const MAX_OPS: usize = 10_000;

#[derive(Deserialize)]
#[serde(tag = "key", content = "value", rename_all = "camelCase")]
enum Line {
    Header(Header),
    File {
        path: String,
        content: String,
        #[serde(default)]
        encoding: Option<String>,
    },
    LfsFile {
        path: String,
        oid: String,
        size: u64,
        /// Hugging Face's clients name the hash (`sha256`, the only one).
        #[serde(default)]
        algo: Option<String>,
    },
    DeletedFile {
        path: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Header {
    pub(crate) summary: String,
    #[serde(default)]
    pub(crate) description: Option<String>,
    #[serde(default, alias = "parentCommit")]
    pub(crate) parent: Option<String>,
    #[serde(default)]
    pub(crate) branch: Option<String>,
    /// The LFS files written become datapackage resources, tables with their inferred column
    /// types (what the browser's upload asks for).
    #[serde(default)]
    pub(crate) describe: bool,
}

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
    let (header, ops, lfs_paths) = read_commit(body, state.settings.max_json_body).await?;
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
    let revision = strata_core::datasets::commit::commit(&state, &who, &repo, change).await?;
    Ok(Json(CommitResult {
        revision: revision.into(),
    }))
}

/// A commit's NDJSON body, read: its header, its operations, and the paths of those that are LFS
/// files. Bounded by `limit` bytes and [`MAX_OPS`] operations.
pub(crate) async fn read_commit(
    body: Body,
    limit: usize,
) -> ApiResult<(Header, Vec<Op>, Vec<String>)> {
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::too_large(format!("request body is larger than {limit} bytes")))?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| ApiError::unprocessable("the commit must be UTF-8 NDJSON"))?;
    let mut lines = text.lines().filter(|l| !l.trim().is_empty()).enumerate();
    let parse = |(i, line): (usize, &str)| {
        serde_json::from_str::<Line>(line)
            .map_err(|e| ApiError::unprocessable(format!("line {}: {e}", i + 1)))
    };
    let Some(Line::Header(header)) = lines.next().map(parse).transpose()? else {
        return Err(ApiError::unprocessable(
            "the first line must be {\"key\": \"header\", …}",
        ));
    };
    let mut ops = Vec::new();
    let mut lfs_paths: Vec<String> = Vec::new();
    for item in lines {
        let at = item.0 + 1;
        let op = match parse(item)? {
            Line::Header(_) => {
                return Err(ApiError::unprocessable(format!(
                    "line {at}: a second header"
                )))
            }
            Line::File {
                path,
                content,
                encoding,
            } => {
                let data = match encoding.as_deref() {
                    None | Some("utf-8") => content.into_bytes(),
                    Some("base64") => base64::engine::general_purpose::STANDARD
                        .decode(content)
                        .map_err(|e| ApiError::unprocessable(format!("line {at}: {e}")))?,
                    Some(other) => {
                        return Err(ApiError::unprocessable(format!(
                            "line {at}: unknown encoding {other:?}: use utf-8 or base64"
                        )))
                    }
                };
                Op::Put { path, data }
            }
            Line::LfsFile {
                path,
                oid,
                size,
                algo,
            } => {
                if algo.as_deref().is_some_and(|a| a != "sha256") {
                    return Err(ApiError::unprocessable(format!(
                        "line {at}: LFS objects are named by sha256"
                    )));
                }
                let oid: Oid = oid
                    .parse()
                    .map_err(|e| ApiError::unprocessable(format!("line {at}: invalid oid: {e}")))?;
                lfs_paths.push(path.clone());
                let data = Pointer { oid, size }.encode().into_bytes();
                Op::Put { path, data }
            }
            Line::DeletedFile { path } => Op::Delete { path },
        };
        ops.push(op);
        if ops.len() > MAX_OPS {
            return Err(ApiError::too_large(format!(
                "a commit may hold at most {MAX_OPS} operations"
            )));
        }
    }
    Ok((header, ops, lfs_paths))
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
    let revision = strata_core::datasets::commit::revert(
        &state,
        &who,
        &repo,
        req.to,
        parent,
        req.branch,
        req.message,
    )
    .await?;
    Ok(Json(CommitResult {
        revision: revision.into(),
    }))
}
