//! Revocation (RFC 7009), introspection (RFC 7662), userinfo, client registration, and the
//! short-lived upload token a signed-in browser gets for one dataset's LFS objects.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::{client_auth, oauth_error};
use crate::http::api::ErrorBody;
use crate::http::error::ApiResult;
use crate::http::json::read_json;
use crate::http::pages::forms::read_form;
use crate::http::pages::signed_in::PageResult;
use crate::http::state::AppState;
use strata_core::auth::Need;
use strata_core::auth::Principal;
use strata_core::db::OauthClient;
use strata_core::oauth::tokens;

#[derive(Deserialize)]
pub struct TokenParam {
    token: String,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    client_secret: Option<String>,
}

/// The token a revocation or introspection request names, and the client that sends it.
async fn token_request(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> PageResult<(TokenParam, OauthClient)> {
    let form: TokenParam = read_form(body).await?;
    let (id, secret) = (form.client_id.as_deref(), form.client_secret.as_deref());
    let client = client_auth(state, headers, id, secret).await?;
    Ok((form, client))
}

/// `POST /oauth/revoke`: a refresh token revokes its family; an access token is denied from now
/// on. Unknown tokens are fine (RFC 7009): the answer is 200 either way.
pub async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let (form, client) = match token_request(&state, &headers, body).await {
        Ok(pair) => pair,
        Err(e) => return Ok(e.into_response()),
    };
    tokens::revoke(&state, &client, &form.token).await?;
    Ok(StatusCode::OK.into_response())
}

/// `POST /oauth/introspect`: whether a token is active, and what it is (confidential clients).
pub async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let (form, client) = match token_request(&state, &headers, body).await {
        Ok((form, c)) if c.is_confidential() => (form, c),
        Ok(_) => {
            return Ok(oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "introspection is for confidential clients",
            ))
        }
        Err(e) => return Ok(e.into_response()),
    };
    Ok(Json(tokens::introspect(&state, &client, &form.token).await?).into_response())
}

/// `GET|POST /oauth/userinfo`: the user behind an access token with the `openid` scope.
pub async fn userinfo(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let denied = || {
        Ok(oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "a valid access token with the openid scope is required",
        ))
    };
    match tokens::userinfo(&state, token).await? {
        Some(info) => Ok(Json(info).into_response()),
        None => denied(),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewClient {
    name: String,
    redirect_uris: Vec<String>,
    /// A confidential client (a server) gets a secret; a public one (a browser or native app)
    /// must use PKCE.
    #[serde(default)]
    confidential: bool,
}

/// Registers an OAuth application owned by the caller; the response holds its `client_id` and,
/// for a confidential client, the `client_secret` (shown once).
#[utoipa::path(post, path = "/api/v1/oauth/clients", tag = "oauth", request_body = NewClient,
    responses((status = 201, description = "Registered", body = Object),
        (status = 401, description = "Authentication required", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 422, description = "Invalid name or redirect URI", body = ErrorBody)))]
pub async fn register(
    State(state): State<AppState>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    state.require(&who, Need::Account).await?;
    let req: NewClient = read_json(&headers, body, state.settings.max_json_body).await?;
    let (name, uris) = (&req.name, &req.redirect_uris);
    let (client_id, secret) = tokens::register(&state, &who, name, uris, req.confidential).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "client_id": client_id,
            "client_secret": secret,
            "name": req.name.trim(),
            "redirect_uris": req.redirect_uris,
            "confidential": req.confidential,
        })),
    ))
}

/// The caller's applications (without secrets).
#[utoipa::path(get, path = "/api/v1/oauth/clients", tag = "oauth",
    responses((status = 200, description = "OK", body = Object),
        (status = 401, description = "Authentication required", body = ErrorBody)))]
pub async fn list_clients(
    State(state): State<AppState>,
    who: Principal,
) -> ApiResult<Json<serde_json::Value>> {
    let list: Vec<serde_json::Value> = tokens::clients(&state, &who)
        .await?
        .into_iter()
        .map(|c| json!({"client_id": c.client_id, "name": c.name, "redirect_uris": c.redirect_uris().collect::<Vec<_>>(), "confidential": c.is_confidential()}))
        .collect();
    Ok(Json(json!({ "clients": list })))
}

/// A 15-minute token for this dataset's LFS objects only (write when the caller may write, else
/// read), for uploads from the browser.
#[utoipa::path(post, path = "/api/v1/datasets/{ns}/{name}/upload-token", tag = "oauth",
    params(("ns" = String, Path), ("name" = String, Path)),
    responses((status = 200, description = "`token`, `expires_in`, `scope` and `lfs_url`", body = Object),
        (status = 401, description = "Authentication required", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such dataset", body = ErrorBody)))]
pub async fn upload_token(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    who: Principal,
) -> ApiResult<Json<serde_json::Value>> {
    let (token, scope) = tokens::upload_token(&state, &who, &ns, &name).await?;
    let repo = format!("{ns}/{name}");
    Ok(Json(
        json!({"token": token, "expires_in": tokens::UPLOAD_TTL, "scope": scope, "lfs_url": format!("{}/{repo}.git/info/lfs", state.settings.public_url)}),
    ))
}
