//! `…/mirror`: a dataset that follows a git + LFS remote (`strata_core::mirrors`). Its admins
//! set it up or change it (`PUT`), stop it (`DELETE`) and ask for a sync (`POST …/sync`); its
//! readers see how it is doing (`GET`); the remote's webhook, signed the Standard Webhooks way
//! with the mirror's secret, asks for a sync (`POST …/hook`).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{DatasetPath, ErrorBody};
use crate::http::error::ApiResult;
use crate::http::json::read_json;
use crate::http::state::AppState;
use strata_core::auth::Principal;
use strata_core::mirrors::{self, Input, Mirror, Signed};

/// What a mirror follows.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct MirrorBody {
    /// The remote's git URL (`https://host/ns/name.git`): `https` to a public address, unless
    /// the server allows private ones (`--mirrors-allow-private`).
    url: String,
    /// Its LFS endpoint, when not `{url}/info/lfs`.
    lfs_url: Option<String>,
    /// A token for the remote (sent as `Authorization: Bearer`).
    token: Option<String>,
    /// Or a user name and password (HTTP Basic).
    username: Option<String>,
    password: Option<String>,
    /// Seconds between scheduled syncs (default 3600; at least the server's minimum).
    interval_secs: Option<u64>,
    /// A paused mirror is not synced.
    #[serde(default)]
    paused: bool,
    /// The secret the remote's webhook signs with (a strata webhook's `whsec_…`); default: one
    /// made here and answered once.
    hook_secret: Option<String>,
}

/// A mirror, and the secret its remote's webhook signs with (only when it was just created).
#[derive(Serialize, ToSchema)]
pub struct MirrorSet {
    #[schema(value_type = Object)]
    mirror: Mirror,
    /// `whsec_…`: the Standard Webhooks secret for the remote's webhook to `…/mirror/hook`.
    #[serde(skip_serializing_if = "Option::is_none")]
    hook_secret: Option<String>,
}

/// How a mirror is doing.
#[derive(Serialize, ToSchema)]
pub struct MirrorStatus {
    #[schema(value_type = Object)]
    mirror: Mirror,
}

/// Makes the dataset follow a remote, or changes what it follows (dataset admins). Its branches
/// and tags become the remote's at the first sync, due at once; writers may no longer change it.
#[utoipa::path(put, operation_id = "set_mirror", path = "/api/v1/datasets/{ns}/{name}/mirror", tag = "mirrors",
    params(DatasetPath), request_body = MirrorBody,
    responses((status = 201, description = "Now a mirror: with the hook secret, shown this once", body = MirrorSet),
        (status = 200, description = "Changed", body = MirrorSet),
        (status = 403, description = "Not an admin of the dataset, or not an account", body = ErrorBody),
        (status = 404, description = "No such dataset", body = ErrorBody),
        (status = 422, description = "A URL that is not https or reaches a private address, bad credentials or interval", body = ErrorBody)))]
pub async fn set(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<MirrorSet>)> {
    let input: Input = read_json(&headers, body, state.settings.max_json_body).await?;
    let (mirror, hook_secret) = mirrors::put(&state, &who, (&ns, &name), input).await?;
    let status = if hook_secret.is_some() {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(MirrorSet {
            mirror,
            hook_secret,
        }),
    ))
}

/// How the mirror is doing: its remote, state, lag, last error and refs (dataset readers).
#[utoipa::path(get, operation_id = "read_mirror", path = "/api/v1/datasets/{ns}/{name}/mirror", tag = "mirrors",
    params(DatasetPath),
    responses((status = 200, description = "The mirror, without its credentials or secret", body = MirrorStatus),
        (status = 404, description = "No such dataset, or it is no mirror", body = ErrorBody)))]
pub async fn read(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    who: Principal,
) -> ApiResult<Json<MirrorStatus>> {
    let mirror = mirrors::get(&state, &who, (&ns, &name)).await?;
    Ok(Json(MirrorStatus { mirror }))
}

/// Stops mirroring (dataset admins): the dataset keeps what it has and is writable again.
#[utoipa::path(delete, operation_id = "delete_mirror", path = "/api/v1/datasets/{ns}/{name}/mirror", tag = "mirrors",
    params(DatasetPath),
    responses((status = 204, description = "No longer a mirror"),
        (status = 403, description = "Not an admin of the dataset", body = ErrorBody),
        (status = 404, description = "No such dataset, or it is no mirror", body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    who: Principal,
) -> ApiResult<StatusCode> {
    mirrors::delete(&state, &who, (&ns, &name)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Asks for a sync now (dataset admins), after the running one if one is.
#[utoipa::path(post, operation_id = "sync_mirror", path = "/api/v1/datasets/{ns}/{name}/mirror/sync", tag = "mirrors",
    params(DatasetPath),
    responses((status = 202, description = "A sync is due", body = MirrorStatus),
        (status = 403, description = "Not an admin of the dataset", body = ErrorBody),
        (status = 404, description = "No such dataset, or it is no mirror", body = ErrorBody)))]
pub async fn sync(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    who: Principal,
) -> ApiResult<(StatusCode, Json<MirrorStatus>)> {
    let mirror = mirrors::sync_now(&state, &who, (&ns, &name)).await?;
    Ok((StatusCode::ACCEPTED, Json(MirrorStatus { mirror })))
}

/// The remote's webhook: a delivery signed with the mirror's hook secret (`webhook-id`,
/// `webhook-timestamp`, `webhook-signature`) asks for a sync. No credentials needed.
#[utoipa::path(post, operation_id = "mirror_hook", path = "/api/v1/datasets/{ns}/{name}/mirror/hook", tag = "mirrors",
    params(DatasetPath),
    responses((status = 204, description = "A sync is due"),
        (status = 401, description = "Not signed with the mirror's secret, too old, or no such mirror", body = ErrorBody)))]
pub async fn hook(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    let signed = Signed {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
    };
    let body = String::from_utf8_lossy(&body);
    mirrors::hook(&state, (&ns, &name), signed, &body).await?;
    Ok(StatusCode::NO_CONTENT)
}
