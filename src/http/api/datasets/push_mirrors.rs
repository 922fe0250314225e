//! `…/push-mirrors`: the remotes a dataset is pushed to after each change
//! (`strata_core::mirrors::push`), its admins': add one, list them, read one, push now, remove.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ErrorBody;
use crate::http::error::ApiResult;
use crate::http::json::read_json;
use crate::http::state::AppState;
use strata_core::auth::Principal;
use strata_core::mirrors::push::{self, PushInput, PushMirror};

/// A push mirror's fields.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct PushBody {
    /// The remote's git URL: `https` to a public address, unless the server allows private ones.
    url: String,
    /// Its LFS endpoint, when not `{url}/info/lfs`.
    lfs_url: Option<String>,
    /// A token for the remote (`Authorization: Bearer`), or a user name and password.
    token: Option<String>,
    username: Option<String>,
    password: Option<String>,
    /// Force-push branches rewritten here (default: such a push fails and says so).
    #[serde(default)]
    force: bool,
    /// Seconds between pushes when nothing changed (default 3600).
    interval_secs: Option<u64>,
}

/// One push mirror.
#[derive(Serialize, ToSchema)]
pub struct PushOne {
    #[schema(value_type = Object)]
    push_mirror: PushMirror,
}

/// The dataset's push mirrors.
#[derive(Serialize, ToSchema)]
pub struct PushList {
    #[schema(value_type = Vec<Object>)]
    push_mirrors: Vec<PushMirror>,
}

/// Path parameters of one push mirror.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct PushPath {
    ns: String,
    name: String,
    /// The push mirror's id.
    id: i64,
}

fn id(raw: &str) -> ApiResult<i64> {
    super::positive_id(raw, "push mirror")
}

/// Adds a remote the dataset is pushed to after each change (dataset admins); the first push is
/// due at once.
#[utoipa::path(post, operation_id = "create_push_mirror", path = "/api/v1/datasets/{ns}/{name}/push-mirrors", tag = "mirrors",
    params(super::DatasetPath), request_body = PushBody,
    responses((status = 201, description = "Added", body = PushOne),
        (status = 403, description = "Not an admin of the dataset, or not an account", body = ErrorBody),
        (status = 404, description = "No such dataset", body = ErrorBody),
        (status = 422, description = "A URL that is not https or reaches a private address, bad credentials or interval, too many", body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<PushOne>)> {
    let input: PushInput = read_json(&headers, body, state.settings.max_json_body).await?;
    let push_mirror = push::create(&state, &who, (&ns, &name), input).await?;
    Ok((StatusCode::CREATED, Json(PushOne { push_mirror })))
}

/// Lists the dataset's push mirrors and how their pushes go (dataset admins).
#[utoipa::path(get, operation_id = "list_push_mirrors", path = "/api/v1/datasets/{ns}/{name}/push-mirrors", tag = "mirrors",
    params(super::DatasetPath),
    responses((status = 200, description = "The push mirrors, without their credentials", body = PushList),
        (status = 404, description = "No such dataset", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    who: Principal,
) -> ApiResult<Json<PushList>> {
    let push_mirrors = push::list(&state, &who, (&ns, &name)).await?;
    Ok(Json(PushList { push_mirrors }))
}

/// One push mirror (dataset admins).
#[utoipa::path(get, operation_id = "read_push_mirror", path = "/api/v1/datasets/{ns}/{name}/push-mirrors/{id}", tag = "mirrors",
    params(PushPath),
    responses((status = 200, description = "The push mirror", body = PushOne),
        (status = 404, description = "No such dataset or push mirror", body = ErrorBody)))]
pub async fn read(
    State(state): State<AppState>,
    Path((ns, name, raw)): Path<(String, String, String)>,
    who: Principal,
) -> ApiResult<Json<PushOne>> {
    let push_mirror = push::get(&state, &who, (&ns, &name), id(&raw)?).await?;
    Ok(Json(PushOne { push_mirror }))
}

/// Stops pushing the dataset to this remote (dataset admins).
#[utoipa::path(delete, operation_id = "delete_push_mirror", path = "/api/v1/datasets/{ns}/{name}/push-mirrors/{id}", tag = "mirrors",
    params(PushPath),
    responses((status = 204, description = "Removed"),
        (status = 404, description = "No such dataset or push mirror", body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Path((ns, name, raw)): Path<(String, String, String)>,
    who: Principal,
) -> ApiResult<StatusCode> {
    push::delete(&state, &who, (&ns, &name), id(&raw)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Pushes the dataset to this remote now (dataset admins), after the running push if one runs.
#[utoipa::path(post, operation_id = "push_push_mirror", path = "/api/v1/datasets/{ns}/{name}/push-mirrors/{id}/push", tag = "mirrors",
    params(PushPath),
    responses((status = 202, description = "A push is due", body = PushOne),
        (status = 404, description = "No such dataset or push mirror", body = ErrorBody)))]
pub async fn push_now(
    State(state): State<AppState>,
    Path((ns, name, raw)): Path<(String, String, String)>,
    who: Principal,
) -> ApiResult<(StatusCode, Json<PushOne>)> {
    let push_mirror = push::push_now(&state, &who, (&ns, &name), id(&raw)?).await?;
    Ok((StatusCode::ACCEPTED, Json(PushOne { push_mirror })))
}
