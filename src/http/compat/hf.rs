//! The Hugging Face Hub API subset `huggingface_hub` uses for datasets, with `HF_ENDPOINT`
//! pointed at strata and a strata token as the Hub token:
//!
//! | route | client call |
//! |---|---|
//! | `GET /api/datasets/{ns}/{name}[/revision/{rev}]` | `dataset_info`, `snapshot_download` |
//! | `GET /api/datasets/{ns}/{name}/tree/{rev}[/{path}]` | `list_repo_tree`, `list_repo_files` |
//! | `POST /api/datasets/{ns}/{name}/paths-info/{rev}` | `get_paths_info`, `HfFileSystem.info(refresh=True)` |
//! | `GET /api/datasets/{ns}/{name}/commits/{rev}` | `list_repo_commits` |
//! | `GET /api/datasets/{ns}/{name}/refs` | `list_repo_refs` |
//! | `GET`, `HEAD /datasets/{ns}/{name}/resolve/{rev}/{path}` | `hf_hub_download` |
//! | `POST /api/datasets/{ns}/{name}/preupload/{rev}`, `…/commit/{rev}` | `upload_file`, `upload_folder`, `create_commit` |
//! | `POST /datasets/{ns}/{name}.git/info/lfs/objects/batch` | the LFS upload before a commit (with Xet off) |
//! | `GET /api/datasets/{ns}/{name}/xet-{read,write}-token/{rev}`, `…/xet/v1/…` | uploads and downloads through Xet ([`super::xet`]) |
//! | `POST /api/repos/create`, `…/move`, `GET /api/whoami-v2`, `POST /api/validate-yaml` | `create_repo`, `move_repo`, `whoami`, `upload_folder` with a `README.md` ([`super::hf_repos`]) |
//! | `GET /datasets/{ns}/{name}/commit/{id}` | a commit's `commitUrl`: the revision page |
//! | `GET /api/datasets/{ns}/{name}/user-access-request/{status}`, `POST …/handle`, `…/grant` | gated datasets: `list_pending_access_requests` and the others, `accept_access_request`, `reject_access_request`, `cancel_access_request`, `grant_access` ([`super::hf_access`]) |
//!
//! Files are read through the same gate and `serve_file` as `…/raw/{path}`: a governed table
//! answers as it does there. Pages of lists follow with a `Link: <…>; rel="next"` header, as the
//! Hub's do. Errors are strata's (`{message, request_id}`), with the Hub's `X-Error-Code` when
//! a dataset, revision or file is not there ([`HubError`]), so the client raises
//! `RepositoryNotFoundError`, `RevisionNotFoundError` or `EntryNotFoundError`; a gated dataset
//! refuses with `GatedRepo`, so it raises `GatedRepoError`.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::http::api::datasets::commit::read_commit;
use crate::http::download::serve_file;
use crate::http::error::ApiError;
use crate::http::json::read_json;
use crate::http::state::AppState;
use strata_core::auth::{Action, Principal};
use strata_core::commits::Change;
use strata_core::compat::hf;
use strata_core::datasets::{gate, git_on};

/// Files up to this size that are text go inline in a commit; the rest through LFS.
const MAX_INLINE: u64 = 256 << 10;
/// The most bytes a commit's NDJSON holds (inline files are base64, a third larger).
const MAX_COMMIT: usize = 64 << 20;

/// An error as the Hub's clients read it: strata's, and when something is not there (404, or
/// 401 for a dataset the anonymous may not see), the Hub's `X-Error-Code` saying what.
pub struct HubError {
    error: ApiError,
    missing: Option<&'static str>,
}

pub(super) type HubResult<T> = Result<T, HubError>;

impl<E: Into<ApiError>> From<E> for HubError {
    fn from(e: E) -> HubError {
        HubError {
            error: e.into(),
            missing: None,
        }
    }
}

impl IntoResponse for HubError {
    fn into_response(self) -> Response {
        let status = self.error.status;
        let code = self.missing.filter(|code| {
            status == StatusCode::NOT_FOUND
                || (status == StatusCode::UNAUTHORIZED && *code == "RepoNotFound")
        });
        // A gated dataset's refusal: the client raises `GatedRepoError`.
        let gated = self.error.extra().is_some_and(|x| x.get("gated").is_some());
        let code = if gated { Some("GatedRepo") } else { code };
        let mut response = self.error.into_response();
        if let Some(code) = code {
            response
                .headers_mut()
                .insert("x-error-code", HeaderValue::from_static(code));
        }
        response
    }
}

/// `e`, where what is missing would be the dataset.
pub(super) fn no_repo(e: impl Into<ApiError>) -> HubError {
    HubError {
        error: e.into(),
        missing: Some("RepoNotFound"),
    }
}

/// `e`, where what is missing would be the revision.
fn no_revision(e: impl Into<ApiError>) -> HubError {
    HubError {
        error: e.into(),
        missing: Some("RevisionNotFound"),
    }
}

/// `e`, where what is missing would be the file or folder.
fn no_entry(e: impl Into<ApiError>) -> HubError {
    HubError {
        error: e.into(),
        missing: Some("EntryNotFound"),
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/datasets/{ns}/{name}", get(info))
        .route("/api/datasets/{ns}/{name}/revision/{rev}", get(info_at))
        .route("/api/datasets/{ns}/{name}/tree/{rev}", get(tree))
        .route("/api/datasets/{ns}/{name}/tree/{rev}/{*path}", get(tree_in))
        .route(
            "/api/datasets/{ns}/{name}/paths-info/{rev}",
            post(paths_info),
        )
        .route("/api/datasets/{ns}/{name}/commits/{rev}", get(commits))
        .route("/api/datasets/{ns}/{name}/refs", get(refs))
        .route("/datasets/{ns}/{name}/resolve/{rev}/{*path}", get(resolve))
        .route("/api/datasets/{ns}/{name}/preupload/{rev}", post(preupload))
        .route("/api/datasets/{ns}/{name}/commit/{rev}", post(commit))
        .route(
            "/datasets/{ns}/{name}/info/lfs/objects/batch",
            post(crate::http::lfs::batch::batch),
        )
        .route("/datasets/{ns}/{name}/commit/{id}", get(commit_page))
        .merge(super::hf_repos::router())
        .merge(super::hf_access::router())
}

/// A commit's `commitUrl`: its revision page.
async fn commit_page(Path((ns, name, id)): Path<(String, String, String)>) -> Response {
    let to = format!(
        "/datasets/{}/{}/revisions/{}",
        segment(&ns),
        segment(&name),
        segment(&id)
    );
    axum::response::Redirect::to(&to).into_response()
}

/// The revision `rev` as the gate should judge it: a reader of some paths only (a share) may
/// read `main`, and names its head by its commit id too (`snapshot_download` pins the commit
/// `dataset_info` gave it).
async fn rev_for(state: &AppState, repo: &gate::Gated, rev: String) -> HubResult<String> {
    let commit_id = rev.len() == 40 && rev.bytes().all(|b| b.is_ascii_hexdigit());
    if !repo.limited() || !commit_id {
        return Ok(rev);
    }
    let head = git_on(state, repo, |ms, ds| {
        Ok(ms.resolve(ds, Some("main"))?.to_string())
    })
    .await
    .map_err(no_revision)?;
    Ok(if head.eq_ignore_ascii_case(&rev) {
        "main".to_owned()
    } else {
        rev
    })
}

/// A revision or path as one URL path segment (`/` encoded too).
fn segment(s: &str) -> String {
    strata_core::names::url_path(s).replace('/', "%2F")
}

/// `Link: <url>; rel="next"`.
pub(super) fn with_next(mut response: Response, next: Option<String>) -> Response {
    if let Some(url) = next {
        if let Ok(v) = HeaderValue::from_str(&format!("<{url}>; rel=\"next\"")) {
            response.headers_mut().insert(header::LINK, v);
        }
    }
    response
}

async fn info(
    state: State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    who: Principal,
) -> HubResult<Json<hf::Info>> {
    info_at(state, Path((ns, name, "main".into())), who).await
}

async fn info_at(
    State(state): State<AppState>,
    Path((ns, name, rev)): Path<(String, String, String)>,
    who: Principal,
) -> HubResult<Json<hf::Info>> {
    let gated = hf::reader(&state, &who, &ns, &name)
        .await
        .map_err(no_repo)?;
    let rev = rev_for(&state, &gated, rev).await?;
    let info = hf::info(&state, &gated, &rev).await.map_err(no_revision)?;
    Ok(Json(info))
}

#[derive(Deserialize)]
struct TreeQuery {
    #[serde(default)]
    recursive: Option<String>,
    #[serde(default)]
    cursor: Option<usize>,
    /// The Hub adds last commits and security scans; strata has neither, and ignores it.
    #[serde(default)]
    #[allow(dead_code)]
    expand: Option<String>,
}

async fn tree(
    state: State<AppState>,
    Path((ns, name, rev)): Path<(String, String, String)>,
    who: Principal,
    q: Query<TreeQuery>,
) -> HubResult<Response> {
    listing(state, (ns, name, rev, String::new()), who, q).await
}

async fn tree_in(
    state: State<AppState>,
    Path(p): Path<(String, String, String, String)>,
    who: Principal,
    q: Query<TreeQuery>,
) -> HubResult<Response> {
    listing(state, p, who, q).await
}

async fn listing(
    State(state): State<AppState>,
    (ns, name, rev, path): (String, String, String, String),
    who: Principal,
    Query(q): Query<TreeQuery>,
) -> HubResult<Response> {
    let recursive = q
        .recursive
        .as_deref()
        .is_some_and(|r| r.eq_ignore_ascii_case("true") || r == "1");
    let cursor = q.cursor.unwrap_or(0);
    let listing = hf::Listing {
        path: path.clone(),
        recursive,
        cursor,
    };
    let gated = hf::reader(&state, &who, &ns, &name)
        .await
        .map_err(no_repo)?;
    let rev = rev_for(&state, &gated, rev).await?;
    let listed = hf::tree(&state, &gated, &rev, &listing)
        .await
        .map_err(no_revision)?;
    let (entries, next) = listed.ok_or_else(|| {
        no_entry(ApiError::not_found(format!(
            "there is no folder {path:?} at {rev}"
        )))
    })?;
    let next = next.map(|c| {
        let at = if path.is_empty() {
            String::new()
        } else {
            format!("/{}", strata_core::names::url_path(&path))
        };
        format!(
            "{}/api/datasets/{ns}/{name}/tree/{}{at}?recursive={recursive}&cursor={c}",
            state.settings.public_url,
            segment(&rev)
        )
    });
    Ok(with_next(Json(entries).into_response(), next))
}

/// `get_paths_info`: the paths asked about at `rev` the caller may read, each a file or a folder
/// (with `expand`, its last commit); those that are not there are left out.
async fn paths_info(
    State(state): State<AppState>,
    Path((ns, name, rev)): Path<(String, String, String)>,
    who: Principal,
    asked: super::hf_paths::PathsAsked,
) -> HubResult<Json<Vec<hf::Entry>>> {
    let gated = hf::reader(&state, &who, &ns, &name)
        .await
        .map_err(no_repo)?;
    let rev = rev_for(&state, &gated, rev).await?;
    let entries = hf::paths_info(&state, &gated, &rev, &asked.paths, asked.expand)
        .await
        .map_err(no_revision)?;
    Ok(Json(entries))
}

#[derive(Deserialize)]
struct CommitsQuery {
    #[serde(default)]
    cursor: Option<String>,
}

async fn commits(
    State(state): State<AppState>,
    Path((ns, name, rev)): Path<(String, String, String)>,
    who: Principal,
    Query(q): Query<CommitsQuery>,
) -> HubResult<Response> {
    let gated = hf::reader(&state, &who, &ns, &name)
        .await
        .map_err(no_repo)?;
    let (list, next) = hf::commits(&state, &gated, &rev, q.cursor)
        .await
        .map_err(no_revision)?;
    let next = next.map(|c| {
        format!(
            "{}/api/datasets/{ns}/{name}/commits/{}?cursor={}",
            state.settings.public_url,
            segment(&rev),
            segment(&c)
        )
    });
    Ok(with_next(Json(list).into_response(), next))
}

async fn refs(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    who: Principal,
) -> HubResult<Json<Value>> {
    let gated = hf::reader(&state, &who, &ns, &name)
        .await
        .map_err(no_repo)?;
    Ok(Json(hf::refs(&state, &gated).await?))
}

/// A file at a revision, with the headers `hf_hub_download` reads: `X-Repo-Commit` (the
/// revision's commit), `ETag` and, for an LFS file, `X-Linked-Etag` (its sha256) and
/// `X-Linked-Size`. `HEAD` answers the same headers.
async fn resolve(
    State(state): State<AppState>,
    Path((ns, name, rev, path)): Path<(String, String, String, String)>,
    who: Principal,
    method: Method,
    headers: HeaderMap,
) -> HubResult<Response> {
    // The dataset first: a path it does not reach, or a dataset not there, is one answer.
    hf::reader(&state, &who, &ns, &name)
        .await
        .map_err(no_repo)?;
    let repo = gate::path(&state, &who, &ns, &name, &path, Action::Read)
        .await
        .map_err(no_entry)?;
    let rev = rev_for(&state, &repo, rev).await?;
    repo.check_rev(Some(&rev)).map_err(no_revision)?;
    let at = rev.clone();
    let commit = git_on(&state, &repo, move |ms, ds| {
        Ok(ms.resolve(ds, Some(&at))?.to_string())
    })
    .await
    .map_err(no_revision)?;
    let (at, file) = (commit.clone(), path.clone());
    let data = git_on(&state, &repo, move |ms, ds| {
        ms.read_file(ds, Some(&at), &file)
    })
    .await
    .map_err(no_entry)?;
    let pointer = strata_lfs::pointer::lenient(&data);
    let etag = match &pointer {
        Some(p) => p.oid.to_string(),
        None => strata_lfs::Oid::of(&data).to_string(),
    };
    // A reader of some paths only is judged at `main` (the commit it named is its head).
    let judged = if repo.limited() {
        rev.as_str()
    } else {
        commit.as_str()
    };
    let mut response = if method == Method::HEAD {
        // `hf_hub_download` asks before each download: the same gate, no storage read.
        repo.read_file(&state, &path, Some(judged), pointer.as_ref())
            .await?;
        let size = pointer.as_ref().map_or(data.len() as u64, |p| p.size);
        let mut r = StatusCode::OK.into_response();
        r.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(size));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(crate::http::download::content_type_of(&path)),
        );
        r
    } else {
        serve_file(&state, &repo, &path, Some(judged), data, &headers).await?
    };
    let h = response.headers_mut();
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(HeaderName::from_static(name), v);
        }
    };
    set("x-repo-commit", &commit);
    set("etag", &format!("\"{etag}\""));
    if let Some(p) = &pointer {
        set("x-linked-etag", &format!("\"{etag}\""));
        set("x-linked-size", &p.size.to_string());
    }
    // Uploaded through Xet: `hf_hub_download` downloads it through Xet too (a whole-dataset
    // reader only; the reconstruction asks the gate again).
    if let (Some(p), false) = (&pointer, repo.limited()) {
        if let Some(hash) = strata_core::xet::hash_of(&state, repo.id, &p.oid).await? {
            let auth = format!(
                "<{}/api/datasets/{ns}/{name}/xet-read-token/{commit}>; rel=\"xet-auth\"",
                state.settings.public_url
            );
            set("x-xet-hash", &hash);
            set("link", &auth);
        }
    }
    Ok(response)
}

#[derive(Deserialize)]
struct PreuploadBody {
    files: Vec<PreuploadFile>,
    /// What the client's `.gitignore` says; strata ignores nothing.
    #[serde(default, rename = "gitIgnore")]
    #[allow(dead_code)]
    git_ignore: Option<String>,
}

#[derive(Deserialize)]
struct PreuploadFile {
    path: String,
    /// The file's first bytes, base64.
    #[serde(default)]
    sample: String,
    size: u64,
}

/// How each file of a coming commit is to be sent: `lfs` (through the LFS batch API, into
/// object storage) or `regular` (inline in the commit: small text).
async fn preupload(
    State(state): State<AppState>,
    Path((ns, name, rev)): Path<(String, String, String)>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> HubResult<Json<Value>> {
    let repo = gate::shared(&state, &who, &ns, &name, Action::Write)
        .await
        .map_err(no_repo)?;
    repo.check_rev(Some(&rev)).map_err(no_revision)?;
    let req: PreuploadBody = read_json(&headers, body, state.settings.max_json_body).await?;
    if req.files.len() > 1000 {
        return Err(ApiError::too_large("at most 1,000 files at once").into());
    }
    let mut files = Vec::new();
    for f in req.files {
        let sample = base64::engine::general_purpose::STANDARD
            .decode(&f.sample)
            .map_err(|e| ApiError::unprocessable(format!("{}: sample: {e}", f.path)))?;
        files.push(json!({
            "path": f.path,
            "uploadMode": hf::upload_mode(&f.path, &sample, f.size, MAX_INLINE),
            "shouldIgnore": false,
        }));
    }
    Ok(Json(json!({"files": files})))
}

/// A commit, in the Hub's NDJSON (strata's own commit format is shaped like it): on branch
/// `rev`, at its head unless the header names a `parentCommit`.
async fn commit(
    State(state): State<AppState>,
    Path((ns, name, rev)): Path<(String, String, String)>,
    who: Principal,
    body: Body,
) -> HubResult<Json<Value>> {
    let repo = gate::shared(&state, &who, &ns, &name, Action::Write)
        .await
        .map_err(no_repo)?;
    // A branch that is not there is the Hub's 404 (create it first), not a new one.
    let at = rev.clone();
    git_on(&state, &repo, move |ms, ds| ms.resolve(ds, Some(&at)))
        .await
        .map_err(no_revision)?;
    let strata_core::commits::ndjson::Commit {
        header,
        ops,
        lfs_paths,
    } = read_commit(body, MAX_COMMIT).await?;
    let change = Change {
        summary: header.summary,
        description: header.description,
        at_head: header.parent.is_none(),
        parent: header.parent,
        branch: Some(rev),
        ops,
        lfs_paths,
        vouched: Vec::new(),
        describe: strata_core::commits::describe::Describe::Off,
        moved: Vec::new(),
    };
    let revision = strata_core::commits::commit(&state, &who, &repo, change).await?;
    Ok(Json(json!({
        "commitUrl": format!("{}/datasets/{ns}/{name}/commit/{}", state.settings.public_url, revision.id),
        "commitOid": revision.id,
        "success": true,
    })))
}
