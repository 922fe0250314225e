//! Deleting accounts over REST (`strata_core::accounts::delete`): `DELETE /api/v1/user` for your
//! own, `DELETE /api/v1/users/{user}` for a site admin (or yourself), each confirmed by the
//! username typed again.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::api::ErrorBody;
use crate::http::error::ApiResult;
use crate::http::json::read_json;
use crate::http::state::AppState;
use strata_core::accounts::delete::{self, Deleted};
use strata_core::auth::{Need, Principal};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(delete_own_account))
        .routes(routes!(delete_account))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Confirm {
    /// The account's username, typed again.
    confirm: String,
}

/// Deletes your account: every app instance you run stops and its storage is destroyed, datasets
/// you made in organisations pass to another owner, and your sessions, tokens, grants, shares and
/// memberships go. Refused while you own datasets of your own, own an organisation alone, or are
/// the last site admin. Needs a session or a `*` token.
#[utoipa::path(delete, path = "/api/v1/user", tag = "accounts", operation_id = "delete_own_account",
    request_body = Confirm,
    responses((status = 200, description = "Deleted: `username`, `apps`, `handed_over`", body = Object),
        (status = 403, description = "A token narrower than your rights", body = ErrorBody),
        (status = 409, description = "Something would be left without an owner", body = ErrorBody),
        (status = 422, description = "The confirmation is not your username", body = ErrorBody)))]
pub async fn delete_own_account(
    State(state): State<AppState>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Deleted>> {
    let user = state.require(&who, Need::Account).await?;
    let c: Confirm = read_json(&headers, body, 4096).await?;
    Ok(Json(
        delete::delete(&state, Some(user), &user.username, &c.confirm).await?,
    ))
}

/// Deletes an account, as `DELETE /api/v1/user` does (site admins, or the account's holder).
#[utoipa::path(delete, path = "/api/v1/users/{user}", tag = "accounts", operation_id = "delete_account",
    params(("user" = String, Path)), request_body = Confirm,
    responses((status = 200, description = "Deleted: `username`, `apps`, `handed_over`", body = Object),
        (status = 403, description = "Not a site admin", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
        (status = 409, description = "Something would be left without an owner", body = ErrorBody),
        (status = 422, description = "The confirmation is not the username", body = ErrorBody)))]
pub async fn delete_account(
    State(state): State<AppState>,
    Path(name): Path<String>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Deleted>> {
    let user = state.require(&who, Need::Account).await?;
    let c: Confirm = read_json(&headers, body, 4096).await?;
    Ok(Json(
        delete::delete(&state, Some(user), &name, &c.confirm).await?,
    ))
}
