//! Shares over HTTP: a dataset's shares (`/api/v1/datasets/{ns}/{name}/shares`: list, create,
//! read, change, revoke; its admins only), what is shared with the caller
//! (`/api/v1/shared-with-me`) and the shares the caller made (`/api/v1/shares`). The rules and
//! audit entries are in `strata_core::sharing::shares`.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ErrorBody;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::read_json;
use crate::http::state::AppState;
use strata_core::auth::Need;
use strata_core::auth::{Action, Principal};
use strata_core::datasets::gate;
use strata_core::db::{rfc3339, ShareRow};
use strata_core::sharing::shares::{self, Access, Grantee, NewShare};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_shares, create_share))
        .routes(routes!(read_share, change_share, revoke_share))
        .routes(routes!(shared_with_me))
        .routes(routes!(my_shares))
}

#[derive(Serialize, ToSchema)]
pub struct ShareView {
    id: i64,
    /// `{ns}/{name}`.
    dataset: String,
    /// The file or folder shared; `""` for the whole dataset.
    path: String,
    /// `user` or `team`.
    grantee_kind: String,
    /// A username, or `{org}/{team}`.
    grantee: String,
    /// `read` or `write`.
    access: String,
    /// RFC 3339, or null for a share that does not expire.
    expires_at: Option<String>,
    /// Whether the expiry has passed (an expired share grants nothing).
    expired: bool,
    created_by: Option<String>,
    created_at: String,
}

impl From<ShareRow> for ShareView {
    fn from(s: ShareRow) -> ShareView {
        ShareView {
            expired: !s.live(),
            id: s.id,
            dataset: format!("{}/{}", s.namespace, s.name),
            path: s.path,
            grantee_kind: s.kind,
            grantee: s.grantee,
            access: s.access,
            expires_at: s.expires_at.map(rfc3339),
            created_by: s.created_by,
            created_at: rfc3339(s.created_at),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateShare {
    /// A file or folder of the default branch; empty or absent for the whole dataset.
    #[serde(default)]
    path: String,
    /// A username (give `user` or `team`, not both).
    user: Option<String>,
    /// A team, as `{org}/{team}`.
    team: Option<String>,
    /// `read` (default) or `write`.
    access: Option<String>,
    /// RFC 3339; absent or null: no expiry.
    expires_at: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeShare {
    /// `read` or `write` (default: unchanged).
    access: Option<String>,
    /// RFC 3339, or null to remove the expiry (absent: unchanged).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    expires_at: Option<Option<String>>,
}

/// A field that is present (maybe null), as opposed to absent (`None` through `default`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// An `expires_at` in RFC 3339, as unix seconds (the access and Delta Sharing APIs read theirs
/// with it too).
pub(crate) fn parse_time(text: &str) -> ApiResult<i64> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|e| {
            ApiError::unprocessable(format!("expires_at {text:?} is not an RFC 3339 time ({e})"))
        })
}

/// The shares of a dataset, expired ones included.
#[utoipa::path(get, path = "/api/v1/datasets/{ns}/{name}/shares", tag = "shares",
    params(("ns" = String, Path), ("name" = String, Path)),
    responses((status = 200, description = "OK", body = Vec<ShareView>),
        (status = 403, description = "You do not administer it", body = ErrorBody),
        (status = 404, description = "No such dataset", body = ErrorBody)))]
pub async fn list_shares(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    who: Principal,
) -> ApiResult<Json<Vec<ShareView>>> {
    let repo = gate::dataset(&state, &who, &ns, &name, Action::Admin).await?;
    let rows = shares::list(&state, &repo).await?;
    Ok(Json(rows.into_iter().map(ShareView::from).collect()))
}

/// Shares the dataset, or a file or folder of it, with a user or a team. Sharing the same path
/// with the same grantee again changes that share.
#[utoipa::path(post, path = "/api/v1/datasets/{ns}/{name}/shares", tag = "shares",
    params(("ns" = String, Path), ("name" = String, Path)),
    request_body = CreateShare,
    responses((status = 201, description = "Shared", body = ShareView),
        (status = 403, description = "You do not administer it", body = ErrorBody),
        (status = 404, description = "No such dataset, path, user or team", body = ErrorBody),
        (status = 422, description = "Invalid input", body = ErrorBody)))]
pub async fn create_share(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<ShareView>)> {
    let repo = gate::dataset(&state, &who, &ns, &name, Action::Admin).await?;
    let req: CreateShare = read_json(&headers, body, state.settings.max_json_body).await?;
    let grantee = match (req.user, req.team) {
        (Some(u), None) => Grantee::User(u),
        (None, Some(t)) => Grantee::Team(t),
        _ => {
            return Err(ApiError::unprocessable(
                "name exactly one grantee: user or team",
            ))
        }
    };
    let access = req.access.as_deref().unwrap_or("read").parse::<Access>()?;
    let expires_at = req.expires_at.as_deref().map(parse_time).transpose()?;
    let row = shares::create(
        &state,
        &who,
        &repo,
        NewShare {
            path: req.path,
            grantee,
            access,
            expires_at,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(row.into())))
}

/// One share of a dataset.
#[utoipa::path(get, path = "/api/v1/datasets/{ns}/{name}/shares/{id}", tag = "shares",
    params(("ns" = String, Path), ("name" = String, Path), ("id" = i64, Path)),
    responses((status = 200, description = "OK", body = ShareView),
        (status = 404, description = "No such dataset or share", body = ErrorBody)))]
pub async fn read_share(
    State(state): State<AppState>,
    Path((ns, name, id)): Path<(String, String, String)>,
    who: Principal,
) -> ApiResult<Json<ShareView>> {
    let repo = gate::dataset(&state, &who, &ns, &name, Action::Admin).await?;
    Ok(Json(
        shares::get(&state, &repo, share_id(&id)?).await?.into(),
    ))
}

/// Changes a share's access or expiry.
#[utoipa::path(patch, path = "/api/v1/datasets/{ns}/{name}/shares/{id}", tag = "shares",
    params(("ns" = String, Path), ("name" = String, Path), ("id" = i64, Path)),
    request_body = ChangeShare,
    responses((status = 200, description = "Changed", body = ShareView),
        (status = 404, description = "No such dataset or share", body = ErrorBody),
        (status = 422, description = "Invalid input", body = ErrorBody)))]
pub async fn change_share(
    State(state): State<AppState>,
    Path((ns, name, id)): Path<(String, String, String)>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<ShareView>> {
    let repo = gate::dataset(&state, &who, &ns, &name, Action::Admin).await?;
    let req: ChangeShare = read_json(&headers, body, state.settings.max_json_body).await?;
    let current = shares::get(&state, &repo, share_id(&id)?).await?;
    let access = match req.access {
        Some(a) => a.parse::<Access>()?,
        None => current.access.parse::<Access>()?,
    };
    let expires_at = match req.expires_at {
        None => current.expires_at,
        Some(None) => None,
        Some(Some(t)) => Some(parse_time(&t)?),
    };
    let row = shares::change(&state, &who, &repo, current.id, access, expires_at).await?;
    Ok(Json(row.into()))
}

/// Revokes a share: its grantee loses access with their next request.
#[utoipa::path(delete, path = "/api/v1/datasets/{ns}/{name}/shares/{id}", tag = "shares",
    params(("ns" = String, Path), ("name" = String, Path), ("id" = i64, Path)),
    responses((status = 204, description = "Revoked"),
        (status = 404, description = "No such dataset or share", body = ErrorBody)))]
pub async fn revoke_share(
    State(state): State<AppState>,
    Path((ns, name, id)): Path<(String, String, String)>,
    who: Principal,
) -> ApiResult<StatusCode> {
    let repo = gate::dataset(&state, &who, &ns, &name, Action::Admin).await?;
    shares::revoke(&state, &who, &repo, share_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn share_id(text: &str) -> ApiResult<i64> {
    text.parse()
        .map_err(|_| ApiError::not_found(format!("share {text:?} not found")))
}

/// What others shared with the caller or the caller's teams, and has not expired.
#[utoipa::path(get, path = "/api/v1/shared-with-me", tag = "shares",
    responses((status = 200, description = "OK", body = Vec<ShareView>),
        (status = 401, description = "Not signed in", body = ErrorBody)))]
pub async fn shared_with_me(
    State(state): State<AppState>,
    who: Principal,
) -> ApiResult<Json<Vec<ShareView>>> {
    let Principal::User { user, scopes, .. } = &who else {
        return Err(ApiError::unauthorized(
            "sign in, or use a personal access token",
        ));
    };
    let rows = shares::shared_with(&state, user, scopes).await?;
    Ok(Json(rows.into_iter().map(ShareView::from).collect()))
}

/// The shares the caller made, on every dataset.
#[utoipa::path(get, path = "/api/v1/shares", tag = "shares",
    responses((status = 200, description = "OK", body = Vec<ShareView>),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "The token is narrower than the account", body = ErrorBody)))]
pub async fn my_shares(
    State(state): State<AppState>,
    who: Principal,
) -> ApiResult<Json<Vec<ShareView>>> {
    let user = state.require(&who, Need::Account).await?;
    let rows = shares::made_by(&state, user).await?;
    Ok(Json(rows.into_iter().map(ShareView::from).collect()))
}
