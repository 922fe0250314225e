//! Reading history: the revision list, one revision, the file tree, raw files (LFS files answered
//! with a redirect to a signed download URL) and the diff between two revisions.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use strata_lfs::pointer::Pointer;

use super::{dataset, Names, RevisionView};
use crate::auth::{Action, Principal};
use crate::datasets::git;
use crate::error::{ApiError, ApiResult};
use crate::lfs_api::batch::Issuer;
use crate::state::AppState;

const MAX_PAGE: usize = 1000;

#[derive(Deserialize)]
pub struct RevisionsQuery {
    rev: Option<String>,
    cursor: Option<String>,
    limit: Option<usize>,
    path: Option<String>,
}

/// `GET …/revisions?rev=&cursor=&limit=&path=`: newest first; `next_cursor` fetches the next page.
pub async fn revisions(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    Query(q): Query<RevisionsQuery>,
    who: Principal,
) -> ApiResult<Json<Value>> {
    let repo = dataset(&state, &who, &ns, &name, Action::Read).await?;
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::unprocessable(format!(
            "limit must be between 1 and {MAX_PAGE}"
        )));
    }
    if let Some(path) = q.path.as_deref() {
        strata_metastore::check_path(path.trim_end_matches('/'))
            .or_else(|e| {
                // The files strata writes itself have a history too.
                let own = [
                    strata_metastore::DATAPACKAGE,
                    strata_metastore::GITATTRIBUTES,
                ];
                if own.contains(&path) {
                    Ok(())
                } else {
                    Err(e)
                }
            })
            .map_err(ApiError::unprocessable)?;
    }
    let names = Names::of(&repo);
    let (list, next) = git(&state, move |ms| {
        ms.revisions(
            names.id(),
            q.rev.as_deref(),
            q.cursor.as_deref(),
            limit,
            q.path.as_deref().map(|p| p.trim_end_matches('/')),
        )
    })
    .await?;
    let revisions: Vec<RevisionView> = list.into_iter().map(Into::into).collect();
    Ok(Json(json!({ "revisions": revisions, "next_cursor": next })))
}

/// `GET …/revisions/{rev}`: one revision (a commit id, tag or branch).
pub async fn revision(
    State(state): State<AppState>,
    Path((ns, name, rev)): Path<(String, String, String)>,
    who: Principal,
) -> ApiResult<Json<RevisionView>> {
    let repo = dataset(&state, &who, &ns, &name, Action::Read).await?;
    let names = Names::of(&repo);
    let revision = git(&state, move |ms| ms.revision(names.id(), &rev)).await?;
    Ok(Json(revision.into()))
}

#[derive(Deserialize)]
pub struct RevQuery {
    rev: Option<String>,
}

/// `GET …/tree?rev=`: every file of a revision; LFS files with their oid and size.
pub async fn tree(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    Query(q): Query<RevQuery>,
    who: Principal,
) -> ApiResult<Json<Value>> {
    let repo = dataset(&state, &who, &ns, &name, Action::Read).await?;
    let names = Names::of(&repo);
    let (revision, entries) = git(&state, move |ms| ms.tree(names.id(), q.rev.as_deref())).await?;
    let files: Vec<Value> = entries
        .into_iter()
        .map(|e| match e.lfs {
            Some(p) => {
                json!({"path": e.path, "type": "lfs", "oid": p.oid.to_string(), "size": p.size})
            }
            None => json!({"path": e.path, "type": "file", "size": e.size}),
        })
        .collect();
    Ok(Json(json!({ "revision": revision, "files": files })))
}

/// `GET …/raw/{path}?rev=`: a file's bytes; for an LFS file, a redirect to a signed URL of its
/// object (which must have been uploaded to this dataset).
pub async fn raw(
    State(state): State<AppState>,
    Path((ns, name, path)): Path<(String, String, String)>,
    Query(q): Query<RevQuery>,
    who: Principal,
) -> ApiResult<Response> {
    let repo = dataset(&state, &who, &ns, &name, Action::Read).await?;
    let names = Names::of(&repo);
    let file = path.clone();
    let data = git(&state, move |ms| {
        ms.read_file(names.id(), q.rev.as_deref(), &file)
    })
    .await?;
    let pointer = (data.len() < strata_lfs::pointer::MAX_POINTER_LEN)
        .then(|| Pointer::parse(&data).ok())
        .flatten();
    let Some(pointer) = pointer else {
        let mut response = (StatusCode::OK, data).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        return Ok(response);
    };
    let linked = state.db.linked_objects(repo.id, &[pointer.oid]).await?;
    if linked.get(&pointer.oid) != Some(&pointer.size) {
        return Err(ApiError::not_found(format!(
            "{path} points at object {} which was never uploaded to {}",
            pointer.oid,
            repo.path()
        )));
    }
    let action = Issuer::new(&state, &repo)
        .download(&pointer.oid, pointer.size)
        .await?;
    let mut response = StatusCode::FOUND.into_response();
    let location =
        HeaderValue::from_str(&action.href).map_err(|e| ApiError::internal(e.to_string()))?;
    response.headers_mut().insert(header::LOCATION, location);
    Ok(response)
}

#[derive(Deserialize)]
pub struct DiffQuery {
    from: String,
    to: Option<String>,
}

/// `GET …/diff?from=&to=`: what changed between two revisions (`to` defaults to the head).
pub async fn diff(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    Query(q): Query<DiffQuery>,
    who: Principal,
) -> ApiResult<Json<strata_metastore::Diff>> {
    let repo = dataset(&state, &who, &ns, &name, Action::Read).await?;
    let names = Names::of(&repo);
    let to =
        q.to.unwrap_or_else(|| strata_metastore::DEFAULT_BRANCH.to_owned());
    let diff = git(&state, move |ms| ms.diff(names.id(), &q.from, &to)).await?;
    Ok(Json(diff))
}
