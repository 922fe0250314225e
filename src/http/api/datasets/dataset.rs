//! One dataset: create, read (at any revision), update its datapackage, delete.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::{dataset, DatasetPath, ErrorBody, Names, RevisionView};
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::read_json;
use crate::http::state::AppState;
use strata_core::auth::{Action, Principal};
use strata_core::datasets::{self, git, NewDataset};
use strata_core::db::rfc3339;
use strata_core::db::{Repo, Visibility};

/// A new dataset.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    namespace: String,
    name: String,
    /// `public`, `internal` or `private` (the default).
    #[serde(default)]
    #[schema(pattern = "^(public|internal|private)$")]
    visibility: Option<String>,
    /// The first revision's datapackage (default: `{"name": <name>, "resources": []}`).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    datapackage: Option<Value>,
    #[serde(default)]
    message: Option<String>,
}

/// A new dataset in the caller's namespace, with a first revision.
#[utoipa::path(post, path = "/api/v1/datasets", tag = "datasets",
    request_body = CreateBody,
    responses(
        (status = 201, description = "Created; `ETag` is the revision", body = DatasetView),
        (status = 401, description = "Authentication required", body = ErrorBody), (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 409, description = "A dataset of that name exists", body = ErrorBody),
        (status = 422, description = "Invalid name, visibility or datapackage", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let req: CreateBody = read_json(&headers, body, state.settings.max_json_body).await?;
    let visibility: Visibility = req
        .visibility
        .as_deref()
        .unwrap_or("private")
        .parse()
        .map_err(ApiError::unprocessable)?;
    let new = NewDataset {
        namespace: req.namespace,
        name: req.name,
        visibility,
        datapackage: req.datapackage,
        message: req.message,
    };
    let (repo, revision, package) = datasets::create_as(&state, &who, new).await?;
    let etag = revision.id.clone();
    let body = view(
        &repo,
        Some(revision.into()),
        Some(Value::Object(package.json)),
    );
    Ok(with_etag(StatusCode::CREATED, &etag, body))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RevQuery {
    /// A revision id, branch or tag (default: the head of `main`).
    rev: Option<String>,
}

/// The dataset and its datapackage at a revision (default: the head).
#[utoipa::path(get, path = "/api/v1/datasets/{ns}/{name}", tag = "datasets",
    params(DatasetPath, RevQuery),
    responses(
        (status = 200, description = "`ETag` is the revision", body = DatasetView),
        (status = 401, description = "Authentication required", body = ErrorBody), (status = 404, description = "No such dataset, revision or object (private datasets look missing too)", body = ErrorBody),
    ))]
pub async fn read(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    Query(q): Query<RevQuery>,
    who: Principal,
) -> ApiResult<Response> {
    let repo = dataset(&state, &who, &ns, &name, Action::Read).await?;
    let names = Names::of(&repo);
    let rev = q.rev.clone();
    let fetched = git(&state, move |ms| ms.fetch_any(names.id(), rev.as_deref())).await;
    match fetched {
        Ok((revision, package)) => {
            let etag = revision.id.clone();
            let body = view(
                &repo,
                Some(revision.into()),
                package.map(|p| Value::Object(p.json)),
            );
            Ok(with_etag(StatusCode::OK, &etag, body))
        }
        // A dataset without revisions yet (created over git and never pushed to).
        Err(e) if e.kind == strata_core::error::Kind::NotFound && q.rev.is_none() => {
            Ok((StatusCode::OK, Json(view(&repo, None, None))).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// A new datapackage, built on a named parent revision.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateBody {
    #[schema(value_type = Object)]
    datapackage: Value,
    #[serde(default)]
    message: Option<String>,
    /// The revision this update builds on (or `If-Match`).
    #[serde(default)]
    parent: Option<String>,
    #[serde(default)]
    branch: Option<String>,
}

/// Replaces the datapackage in one commit on top of the named parent (`parent` or `If-Match`).
#[utoipa::path(put, path = "/api/v1/datasets/{ns}/{name}", tag = "datasets",
    params(DatasetPath), request_body = UpdateBody,
    responses(
        (status = 200, description = "OK", body = DatasetView),
        (status = 401, description = "Authentication required", body = ErrorBody), (status = 403, description = "Not allowed", body = ErrorBody), (status = 404, description = "No such dataset, revision or object (private datasets look missing too)", body = ErrorBody),
        (status = 409, description = "The parent is stale and the datapackage changed since", body = ErrorBody),
        (status = 413, description = "Too large", body = ErrorBody),
        (status = 422, description = "Invalid datapackage, or objects not uploaded to this dataset", body = ErrorBody),
    ))]
pub async fn update(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let repo = dataset(&state, &who, &ns, &name, Action::Write).await?;
    let req: UpdateBody = read_json(&headers, body, state.settings.max_json_body).await?;
    let parent = parent_of(req.parent.as_deref(), &headers)?;
    let (revision, package) = strata_core::commits::update_package(
        &state,
        &who,
        &repo,
        req.datapackage,
        parent,
        req.branch,
        req.message,
    )
    .await?;
    let etag = revision.id.clone();
    let body = view(
        &repo,
        Some(revision.into()),
        Some(Value::Object(package.json)),
    );
    Ok(with_etag(StatusCode::OK, &etag, body))
}

/// Deletes the dataset, its history and its object links.
#[utoipa::path(delete, path = "/api/v1/datasets/{ns}/{name}", tag = "datasets",
    params(DatasetPath),
    responses((status = 204, description = "Done"), (status = 401, description = "Authentication required", body = ErrorBody), (status = 403, description = "Not allowed", body = ErrorBody), (status = 404, description = "No such dataset, revision or object (private datasets look missing too)", body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    who: Principal,
) -> ApiResult<StatusCode> {
    let repo = dataset(&state, &who, &ns, &name, Action::Admin).await?;
    datasets::delete(&state, &repo).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A dataset's new name.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameBody {
    /// The new name, in the same namespace.
    name: String,
}

/// Renames the dataset in its namespace. Its old name leads to it from then on (`307` to the
/// same address under the new name, for whoever may see it) until a dataset takes that name.
#[utoipa::path(post, path = "/api/v1/datasets/{ns}/{name}/rename", tag = "datasets",
    params(DatasetPath),
    request_body = RenameBody,
    responses((status = 200, description = "Renamed (or already so named)", body = DatasetView), (status = 401, description = "Authentication required", body = ErrorBody), (status = 403, description = "Not allowed", body = ErrorBody), (status = 404, description = "No such dataset, revision or object (private datasets look missing too)", body = ErrorBody), (status = 409, description = "A dataset of that name (or of that S3 bucket name) exists", body = ErrorBody), (status = 422, description = "Not a dataset name, or a name that cannot change (a drive, the policy dataset)", body = ErrorBody)))]
pub async fn rename(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<DatasetView>> {
    let req: RenameBody = read_json(&headers, body, state.settings.max_json_body).await?;
    let repo = dataset(&state, &who, &ns, &name, Action::Admin).await?;
    let renamed = datasets::rename::rename(&state, &who, &repo, &req.name).await?;
    Ok(Json(view(&renamed, None, None)))
}

/// The parent revision a write names: the body's `parent`, else `If-Match` (an ETag of a read).
pub(super) fn parent_of(body: Option<&str>, headers: &HeaderMap) -> ApiResult<Option<String>> {
    if let Some(p) = body {
        return Ok(Some(p.to_owned()));
    }
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| ApiError::bad_request("malformed If-Match"))?
        .trim();
    let tag = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
    if tag.is_empty() || tag == "*" {
        return Err(ApiError::bad_request("If-Match must name a revision"));
    }
    Ok(Some(tag.to_owned()))
}

/// A dataset at one revision.
#[derive(Serialize, ToSchema)]
pub struct DatasetView {
    namespace: String,
    name: String,
    /// `public` or `private`.
    visibility: String,
    /// RFC 3339.
    created_at: String,
    /// `null` for a dataset without revisions yet.
    revision: Option<RevisionView>,
    #[schema(value_type = Option<Object>)]
    datapackage: Option<Value>,
}

fn view(repo: &Repo, revision: Option<RevisionView>, datapackage: Option<Value>) -> DatasetView {
    DatasetView {
        namespace: repo.namespace.clone(),
        name: repo.name.clone(),
        visibility: repo.visibility.to_string(),
        created_at: rfc3339(repo.created_at),
        revision,
        datapackage,
    }
}

fn with_etag(status: StatusCode, revision: &str, body: DatasetView) -> Response {
    let mut response = (status, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{revision}\"")) {
        response.headers_mut().insert(header::ETAG, v);
    }
    response
}
