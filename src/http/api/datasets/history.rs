//! Reading history: the revision list, one revision, the file tree, raw files (LFS files streamed
//! from storage after the read gate) and the diff between two revisions.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{dataset, DatasetPath, ErrorBody, Names, RevisionView};
use crate::http::download::serve_file;
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use strata_core::auth::{Action, Principal};
use strata_core::changes::diffs as changes;
use strata_core::datasets::{gate, git};

const MAX_PAGE: usize = 1000;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RevisionsQuery {
    /// Where the history starts: a revision id, branch or tag (default: `main`).
    rev: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Revisions per page, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// Only revisions that changed this file or directory.
    path: Option<String>,
}

/// One page of revisions.
#[derive(Serialize, ToSchema)]
pub struct RevisionPage {
    revisions: Vec<RevisionView>,
    /// Pass as `cursor` for the next page; `null` on the last one.
    next_cursor: Option<String>,
}

/// Revisions, newest first; `next_cursor` fetches the next page.
#[utoipa::path(get, path = "/api/v1/datasets/{ns}/{name}/revisions", tag = "datasets",
    params(DatasetPath, RevisionsQuery),
    responses((status = 200, description = "OK", body = RevisionPage), (status = 404, description = "No such dataset, revision or object (private datasets look missing too)", body = ErrorBody), (status = 422, description = "Invalid input", body = ErrorBody)))]
pub async fn revisions(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    Query(q): Query<RevisionsQuery>,
    who: Principal,
) -> ApiResult<Json<RevisionPage>> {
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
    Ok(Json(RevisionPage {
        revisions: list.into_iter().map(Into::into).collect(),
        next_cursor: next,
    }))
}

/// One revision, named by its id, a tag or a branch.
#[utoipa::path(get, path = "/api/v1/datasets/{ns}/{name}/revisions/{rev}", tag = "datasets",
    params(DatasetPath, ("rev" = String, Path, description = "A revision id, tag or branch")),
    responses((status = 200, description = "OK", body = RevisionView), (status = 404, description = "No such dataset, revision or object (private datasets look missing too)", body = ErrorBody)))]
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

/// The contract report of a revision: each table checked against its Table Schema's constraints,
/// keys and the package's tag rules; `violations` name the resource, the first rows (1 is the
/// first row after the header) and the column, never values (for a table the caller's policies
/// transform, filter or deny, only the rule). Stored when a write to a protected default branch
/// was checked; a writer may have a revision never checked checked now (and stored).
#[utoipa::path(get, path = "/api/v1/datasets/{ns}/{name}/revisions/{rev}/validation", tag = "datasets",
    params(DatasetPath, ("rev" = String, Path, description = "A revision id, branch or tag")),
    responses((status = 200, description = "The report: `revision`, `ok`, `tables` checked, `violations`", body = Object),
        (status = 404, description = "No such dataset or revision (private datasets look missing too), or a revision never checked asked for by a reader", body = ErrorBody),
        (status = 422, description = "The revision's contract cannot be read", body = ErrorBody),
        (status = 503, description = "The server is busy making other tables' views", body = ErrorBody)))]
pub async fn validation(
    State(state): State<AppState>,
    Path((ns, name, rev)): Path<(String, String, String)>,
    who: Principal,
) -> ApiResult<Json<strata_core::contracts::Report>> {
    let repo = dataset(&state, &who, &ns, &name, Action::Read).await?;
    Ok(Json(
        strata_core::contracts::report(&state, &repo, &rev).await?,
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RevQuery {
    /// A revision id, branch or tag (default: the head of `main`).
    rev: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TreeQuery {
    /// A revision id, branch or tag (default: the head of `main`).
    rev: Option<String>,
    /// Only this file or the files under this folder (what a path share reaches).
    path: Option<String>,
}

/// A file of a revision.
#[derive(Serialize, ToSchema)]
pub struct TreeFile {
    path: String,
    /// `lfs` for LFS pointer files, else `file`.
    #[serde(rename = "type")]
    kind: &'static str,
    /// For LFS files: the object's sha256.
    #[serde(skip_serializing_if = "Option::is_none")]
    oid: Option<String>,
    /// The object's size for LFS files, the file's otherwise.
    size: u64,
}

#[derive(Serialize, ToSchema)]
pub struct TreeView {
    revision: String,
    files: Vec<TreeFile>,
}

/// Every file of a revision, or with `path` those under a folder (or that one file); LFS files
/// with their oid and size. Whoever a folder or file is shared with lists it with `path`.
#[utoipa::path(get, path = "/api/v1/datasets/{ns}/{name}/tree", tag = "datasets",
    params(DatasetPath, TreeQuery),
    responses((status = 200, description = "OK", body = TreeView), (status = 404, description = "No such dataset, revision or object (private datasets look missing too)", body = ErrorBody)))]
pub async fn tree(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    Query(q): Query<TreeQuery>,
    who: Principal,
) -> ApiResult<Json<TreeView>> {
    let within = q.path.as_deref().unwrap_or("").trim_matches('/').to_owned();
    let repo = gate::path(&state, &who, &ns, &name, &within, Action::Read).await?;
    repo.check_rev(q.rev.as_deref())?;
    let names = Names::of(&repo);
    let (revision, entries) = git(&state, move |ms| ms.tree(names.id(), q.rev.as_deref())).await?;
    let inside = |p: &str| {
        within.is_empty()
            || p == within
            || p.strip_prefix(within.as_str())
                .is_some_and(|r| r.starts_with('/'))
    };
    let files = entries
        .into_iter()
        .filter(|e| inside(&e.path) && repo.covers(&e.path))
        .map(|e| match e.lfs {
            Some(p) => TreeFile {
                path: e.path,
                kind: "lfs",
                oid: Some(p.oid.to_string()),
                size: p.size,
            },
            None => TreeFile {
                path: e.path,
                kind: "file",
                oid: None,
                size: e.size,
            },
        })
        .collect();
    Ok(Json(TreeView { revision, files }))
}

/// A file's bytes, as an attachment with a content type by extension; for an LFS file, its
/// object's bytes (which must have been uploaded to this dataset), with `Range` support.
#[utoipa::path(get, path = "/api/v1/datasets/{ns}/{name}/raw/{path}", tag = "datasets",
    params(DatasetPath, ("path" = String, Path, description = "The file's path in the dataset"), RevQuery),
    responses(
        (status = 200, description = "The file's bytes, typed by its name (`text/csv` for a .csv, `application/octet-stream` where nothing says)", content_type = "*/*"),
        (status = 206, description = "The requested range of an LFS file's bytes"),
        (status = 404, description = "No such dataset, revision or object (private datasets look missing too)", body = ErrorBody),
    ))]
pub async fn raw(
    State(state): State<AppState>,
    Path((ns, name, path)): Path<(String, String, String)>,
    Query(q): Query<RevQuery>,
    who: Principal,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let repo = gate::path(&state, &who, &ns, &name, &path, Action::Read).await?;
    repo.check_rev(q.rev.as_deref())?;
    let names = Names::of(&repo);
    let (file, rev) = (path.clone(), q.rev.clone());
    let data = git(&state, move |ms| {
        ms.read_file(names.id(), rev.as_deref(), &file)
    })
    .await?;
    serve_file(&state, &repo, &path, q.rev.as_deref(), data, &headers).await
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DiffQuery {
    /// The older revision.
    from: String,
    /// The newer revision (default: the head of `main`).
    to: Option<String>,
    /// `true`: each file's content diff too (`content`: the lines of a text file that changed,
    /// with context; or `binary`, `unchanged`, `too_large`, `hidden` by a policy, `skipped`).
    #[serde(default)]
    content: bool,
    /// Only this file or folder (its path before or after).
    path: Option<String>,
}

/// What changed between two revisions: `metadata` and `resources` (`added`, `removed`, or
/// `changed` with the `fields` that differ, schema fields as `schema.fields.<name>`) from the
/// datapackage, and `files` (`added`, `modified`, `deleted`, `renamed` with `old_path`; the size
/// and LFS oid `before` and `after`; with `content=true` the content diff). Contents are read
/// through the read gate: a file a policy withholds or transforms is `hidden`.
#[utoipa::path(get, path = "/api/v1/datasets/{ns}/{name}/diff", tag = "datasets",
    params(DatasetPath, DiffQuery),
    responses((status = 200, description = "OK", body = Object), (status = 400, description = "A query parameter that cannot be read", body = ErrorBody), (status = 404, description = "No such dataset, revision or object (private datasets look missing too)", body = ErrorBody), (status = 422, description = "Invalid input", body = ErrorBody)))]
pub async fn diff(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    query: Result<Query<DiffQuery>, QueryRejection>,
    who: Principal,
) -> ApiResult<Json<changes::Compared>> {
    let Query(q) = query?;
    let repo = dataset(&state, &who, &ns, &name, Action::Read).await?;
    let to =
        q.to.unwrap_or_else(|| strata_metastore::DEFAULT_BRANCH.to_owned());
    let ask = changes::Ask {
        content: q.content,
        path: q.path,
        hide_plumbing: false,
    };
    Ok(Json(
        changes::compare(&state, &repo, &q.from, &to, &ask).await?,
    ))
}
