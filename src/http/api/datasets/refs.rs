//! Tags (annotated: create, list, read, edit or clear the description, rename, delete) and
//! branches (create from a revision, list, delete).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use strata_metastore::Tag;
use utoipa::ToSchema;

use super::{dataset, DatasetPath, ErrorBody, Names, PersonView};
use crate::http::error::ApiResult;
use crate::http::json::read_json;
use crate::http::state::AppState;
use strata_core::auth::{Action, Principal};
use strata_core::datasets::{git, refs};
use strata_core::db::rfc3339;

/// An annotated tag (or a lightweight one pushed with git: no tagger, no date).
#[derive(Serialize, ToSchema)]
pub struct TagView {
    name: String,
    /// The revision it names.
    revision: String,
    tagger: Option<PersonView>,
    /// RFC 3339.
    created: Option<String>,
    description: String,
}

#[derive(Serialize, ToSchema)]
pub struct TagList {
    tags: Vec<TagView>,
}

#[derive(Serialize, ToSchema)]
pub struct BranchView {
    name: String,
    revision: String,
}

#[derive(Serialize, ToSchema)]
pub struct BranchList {
    /// The default branch first.
    branches: Vec<BranchView>,
}

/// Path parameters naming a tag.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
struct TagPath {
    tag: String,
}

impl From<Tag> for TagView {
    fn from(t: Tag) -> TagView {
        TagView {
            name: t.name,
            revision: t.revision,
            tagger: t.tagger.map(Into::into),
            created: (t.created > 0).then(|| rfc3339(t.created)),
            description: t.description,
        }
    }
}

/// Tags, newest first.
#[utoipa::path(get, path = "/api/v1/datasets/{ns}/{name}/tags", tag = "datasets",
    params(DatasetPath), responses((status = 200, description = "OK", body = TagList), (status = 404, description = "No such dataset, revision or object (private datasets look missing too)", body = ErrorBody)))]
pub async fn list_tags(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    who: Principal,
) -> ApiResult<Json<TagList>> {
    let repo = dataset(&state, &who, &ns, &name, Action::Read).await?;
    let names = Names::of(&repo);
    let tags = git(&state, move |ms| ms.tags(names.id())).await?;
    Ok(Json(TagList {
        tags: tags.into_iter().map(Into::into).collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTag {
    name: String,
    /// A revision id, branch or tag (default: the head of the default branch).
    #[serde(default)]
    revision: Option<String>,
    #[serde(default)]
    description: String,
}

/// Tags a revision; a tag of that name is a conflict.
#[utoipa::path(post, path = "/api/v1/datasets/{ns}/{name}/tags", tag = "datasets",
    params(DatasetPath), request_body = CreateTag,
    responses((status = 201, description = "Created", body = TagView), (status = 404, description = "No such dataset, revision or object (private datasets look missing too)", body = ErrorBody),
        (status = 409, description = "Conflict", body = ErrorBody), (status = 422, description = "Invalid input", body = ErrorBody)))]
pub async fn create_tag(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<TagView>)> {
    let repo = dataset(&state, &who, &ns, &name, Action::Write).await?;
    let req: CreateTag = read_json(&headers, body, state.settings.max_json_body).await?;
    let tag = refs::create_tag(
        &state,
        &who,
        &repo,
        &req.name,
        req.revision.as_deref(),
        &req.description,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(tag.into())))
}

#[utoipa::path(get, path = "/api/v1/datasets/{ns}/{name}/tags/{tag}", tag = "datasets",
    params(DatasetPath, TagPath), responses((status = 200, description = "OK", body = TagView), (status = 404, description = "No such dataset, revision or object (private datasets look missing too)", body = ErrorBody),
        (status = 422, description = "Not a tag name git allows", body = ErrorBody)))]
pub async fn read_tag(
    State(state): State<AppState>,
    Path((ns, name, tag)): Path<(String, String, String)>,
    who: Principal,
) -> ApiResult<Json<TagView>> {
    let repo = dataset(&state, &who, &ns, &name, Action::Read).await?;
    let names = Names::of(&repo);
    let tag = git(&state, move |ms| ms.tag(names.id(), &tag)).await?;
    Ok(Json(tag.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTag {
    /// The new description; `""` or `null` clears it, absent keeps it.
    #[serde(default, deserialize_with = "present")]
    description: Option<Option<String>>,
    /// A new name for the tag.
    #[serde(default)]
    name: Option<String>,
}

/// Tells a field set to `null` (`Some(None)`) from a missing one (`None`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// Edits or clears a tag's description, or renames it; it keeps its revision.
#[utoipa::path(patch, path = "/api/v1/datasets/{ns}/{name}/tags/{tag}", tag = "datasets",
    params(DatasetPath, TagPath), request_body = UpdateTag,
    responses((status = 200, description = "OK", body = TagView), (status = 404, description = "No such dataset, revision or object (private datasets look missing too)", body = ErrorBody),
        (status = 409, description = "The new name is taken", body = ErrorBody), (status = 422, description = "Invalid input", body = ErrorBody)))]
pub async fn update_tag(
    State(state): State<AppState>,
    Path((ns, name, tag)): Path<(String, String, String)>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<TagView>> {
    let repo = dataset(&state, &who, &ns, &name, Action::Write).await?;
    let req: UpdateTag = read_json(&headers, body, state.settings.max_json_body).await?;
    let description = req.description.map(|d| d.unwrap_or_default());
    let updated = refs::update_tag(
        &state,
        &repo,
        &tag,
        description.as_deref(),
        req.name.as_deref(),
    )
    .await?;
    Ok(Json(updated.into()))
}

#[utoipa::path(delete, path = "/api/v1/datasets/{ns}/{name}/tags/{tag}", tag = "datasets",
    params(DatasetPath, TagPath), responses((status = 204, description = "Done"), (status = 404, description = "No such dataset, revision or object (private datasets look missing too)", body = ErrorBody)))]
pub async fn delete_tag(
    State(state): State<AppState>,
    Path((ns, name, tag)): Path<(String, String, String)>,
    who: Principal,
) -> ApiResult<StatusCode> {
    let repo = dataset(&state, &who, &ns, &name, Action::Write).await?;
    refs::delete_tag(&state, &repo, &tag).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/datasets/{ns}/{name}/branches", tag = "datasets",
    params(DatasetPath), responses((status = 200, description = "OK", body = BranchList), (status = 404, description = "No such dataset, revision or object (private datasets look missing too)", body = ErrorBody)))]
pub async fn list_branches(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    who: Principal,
) -> ApiResult<Json<BranchList>> {
    let repo = dataset(&state, &who, &ns, &name, Action::Read).await?;
    let names = Names::of(&repo);
    let branches = git(&state, move |ms| ms.branches(names.id())).await?;
    let branches = branches
        .into_iter()
        .map(|(name, revision)| BranchView { name, revision })
        .collect();
    Ok(Json(BranchList { branches }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBranch {
    name: String,
    #[serde(default)]
    revision: Option<String>,
}

/// Creates a branch at a revision (default: the head of `main`).
#[utoipa::path(post, path = "/api/v1/datasets/{ns}/{name}/branches", tag = "datasets",
    params(DatasetPath), request_body = CreateBranch,
    responses((status = 201, description = "Created", body = BranchView), (status = 404, description = "No such dataset, revision or object (private datasets look missing too)", body = ErrorBody),
        (status = 409, description = "Conflict", body = ErrorBody), (status = 422, description = "Invalid input", body = ErrorBody)))]
pub async fn create_branch(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<BranchView>)> {
    let repo = dataset(&state, &who, &ns, &name, Action::Write).await?;
    let req: CreateBranch = read_json(&headers, body, state.settings.max_json_body).await?;
    let revision = refs::create_branch(&state, &repo, &req.name, req.revision.as_deref()).await?;
    Ok((
        StatusCode::CREATED,
        Json(BranchView {
            name: req.name,
            revision,
        }),
    ))
}

/// Deletes a branch (not the default one).
#[utoipa::path(delete, path = "/api/v1/datasets/{ns}/{name}/branches/{branch}", tag = "datasets",
    params(DatasetPath, ("branch" = String, Path)),
    responses((status = 204, description = "Done"), (status = 404, description = "No such dataset, revision or object (private datasets look missing too)", body = ErrorBody), (status = 422, description = "Invalid input", body = ErrorBody)))]
pub async fn delete_branch(
    State(state): State<AppState>,
    Path((ns, name, branch)): Path<(String, String, String)>,
    who: Principal,
) -> ApiResult<StatusCode> {
    let repo = dataset(&state, &who, &ns, &name, Action::Write).await?;
    refs::delete_branch(&state, &repo, &branch).await?;
    Ok(StatusCode::NO_CONTENT)
}
