//! Tags (annotated: create, list, read, edit or clear the description, rename, delete) and
//! branches (create from a revision, list, delete).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use strata_metastore::{Person, Tag};

use super::{dataset, Names};
use crate::auth::{Action, Principal};
use crate::datasets::{author, git};
use crate::error::ApiResult;
use crate::lfs_api::{read_json, rfc3339};
use crate::state::AppState;

#[derive(Serialize)]
pub struct TagView {
    name: String,
    revision: String,
    tagger: Option<Person>,
    created: Option<String>,
    description: String,
}

impl From<Tag> for TagView {
    fn from(t: Tag) -> TagView {
        TagView {
            name: t.name,
            revision: t.revision,
            tagger: t.tagger,
            created: (t.created > 0).then(|| rfc3339(t.created)),
            description: t.description,
        }
    }
}

pub async fn list_tags(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    who: Principal,
) -> ApiResult<Json<Value>> {
    let repo = dataset(&state, &who, &ns, &name, Action::Read).await?;
    let names = Names::of(&repo);
    let tags = git(&state, move |ms| ms.tags(names.id())).await?;
    let tags: Vec<TagView> = tags.into_iter().map(Into::into).collect();
    Ok(Json(json!({ "tags": tags })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTag {
    name: String,
    /// A revision id, branch or tag (default: the head of the default branch).
    #[serde(default)]
    revision: Option<String>,
    #[serde(default)]
    description: String,
}

pub async fn create_tag(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<TagView>)> {
    let repo = dataset(&state, &who, &ns, &name, Action::Write).await?;
    let req: CreateTag = read_json(&headers, body, state.settings.max_json_body).await?;
    let names = Names::of(&repo);
    let tagger = author(&who);
    let rev = req
        .revision
        .unwrap_or_else(|| strata_metastore::DEFAULT_BRANCH.to_owned());
    let tag = git(&state, move |ms| {
        ms.create_tag(names.id(), &req.name, &rev, &tagger, &req.description)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(tag.into())))
}

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

#[derive(Deserialize)]
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

pub async fn update_tag(
    State(state): State<AppState>,
    Path((ns, name, tag)): Path<(String, String, String)>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<TagView>> {
    let repo = dataset(&state, &who, &ns, &name, Action::Write).await?;
    let req: UpdateTag = read_json(&headers, body, state.settings.max_json_body).await?;
    let names = Names::of(&repo);
    let description = req.description.map(|d| d.unwrap_or_default());
    let updated = git(&state, move |ms| {
        ms.update_tag(
            names.id(),
            &tag,
            description.as_deref(),
            req.name.as_deref(),
        )
    })
    .await?;
    Ok(Json(updated.into()))
}

pub async fn delete_tag(
    State(state): State<AppState>,
    Path((ns, name, tag)): Path<(String, String, String)>,
    who: Principal,
) -> ApiResult<StatusCode> {
    let repo = dataset(&state, &who, &ns, &name, Action::Write).await?;
    let names = Names::of(&repo);
    git(&state, move |ms| ms.delete_tag(names.id(), &tag)).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_branches(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    who: Principal,
) -> ApiResult<Json<Value>> {
    let repo = dataset(&state, &who, &ns, &name, Action::Read).await?;
    let names = Names::of(&repo);
    let branches = git(&state, move |ms| ms.branches(names.id())).await?;
    let list: Vec<Value> = branches
        .into_iter()
        .map(|(name, revision)| json!({"name": name, "revision": revision}))
        .collect();
    Ok(Json(json!({ "branches": list })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBranch {
    name: String,
    #[serde(default)]
    revision: Option<String>,
}

pub async fn create_branch(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let repo = dataset(&state, &who, &ns, &name, Action::Write).await?;
    let req: CreateBranch = read_json(&headers, body, state.settings.max_json_body).await?;
    let names = Names::of(&repo);
    let rev = req
        .revision
        .unwrap_or_else(|| strata_metastore::DEFAULT_BRANCH.to_owned());
    let branch = req.name.clone();
    let revision = git(&state, move |ms| {
        ms.create_branch(names.id(), &branch, &rev)
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"name": req.name, "revision": revision})),
    ))
}

pub async fn delete_branch(
    State(state): State<AppState>,
    Path((ns, name, branch)): Path<(String, String, String)>,
    who: Principal,
) -> ApiResult<StatusCode> {
    let repo = dataset(&state, &who, &ns, &name, Action::Write).await?;
    let names = Names::of(&repo);
    git(&state, move |ms| ms.delete_branch(names.id(), &branch)).await?;
    Ok(StatusCode::NO_CONTENT)
}
