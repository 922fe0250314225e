//! Revocation (RFC 7009), introspection (RFC 7662), userinfo, client registration, and the
//! short-lived upload token a signed-in browser gets for one dataset's LFS objects.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::{client_auth, oauth_error, sha256_hex};
use crate::http::api::ErrorBody;
use crate::http::error::{ApiError, ApiResult};
use crate::http::lfs::read_json;
use crate::http::pages::read_form;
use crate::http::state::AppState;
use strata_core::auth::clients::create_client;
use strata_core::auth::{Action, On, Principal, Role, Scopes};
use strata_core::datasets::gate;
use strata_core::db::{now, OauthClient};

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
) -> ApiResult<Result<(TokenParam, OauthClient), Response>> {
    let form: TokenParam = read_form(body).await?;
    let (id, secret) = (form.client_id.as_deref(), form.client_secret.as_deref());
    Ok(client_auth(state, headers, id, secret)
        .await?
        .map(|c| (form, c)))
}

/// `POST /oauth/revoke`: a refresh token revokes its family; an access token is denied from now
/// on. Unknown tokens are fine (RFC 7009): the answer is 200 either way.
pub async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let (form, client) = match token_request(&state, &headers, body).await? {
        Ok(pair) => pair,
        Err(response) => return Ok(response),
    };
    if let Some(row) = state.db.refresh(&sha256_hex(&form.token)).await? {
        if row.client_id == client.client_id {
            state.db.revoke_family(&row.family_id).await?;
        }
    } else if let Ok(claims) = state.jwt.verify(&form.token) {
        if claims.client_id.as_deref() == Some(client.client_id.as_str()) {
            state.db.revoke_jti(&claims.jti, claims.exp).await?;
        }
    }
    let client_id = Some(client.client_id.as_str());
    strata_core::audit::record(&state, "oauth.revoke", client_id, None, json!({})).await?;
    Ok(StatusCode::OK.into_response())
}

/// `POST /oauth/introspect`: whether a token is active, and what it is (confidential clients).
pub async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let (form, client) = match token_request(&state, &headers, body).await? {
        Ok((form, c)) if c.is_confidential() => (form, c),
        Ok(_) => {
            return Ok(oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "introspection is for confidential clients",
            ))
        }
        Err(response) => return Ok(response),
    };
    let inactive = || Ok(Json(json!({"active": false})).into_response());
    if let Some(row) = state.db.refresh(&sha256_hex(&form.token)).await? {
        if row.client_id != client.client_id
            || row.revoked_at.is_some()
            || row.used_at.is_some()
            || row.expires_at < now()
        {
            return inactive();
        }
        return Ok(Json(json!({"active": true, "token_type": "refresh_token", "scope": row.scope, "client_id": row.client_id, "exp": row.expires_at})).into_response());
    }
    let Ok(claims) = state.jwt.verify(&form.token) else {
        return inactive();
    };
    // A client learns about its own tokens only (RFC 7662 §4): anything else is inactive.
    if claims.client_id.as_deref() != Some(client.client_id.as_str()) {
        return inactive();
    }
    let revoked = match (&claims.uid, &claims.fam) {
        (Some(_), fam) => {
            state
                .db
                .access_revoked(&claims.jti, fam.as_deref().unwrap_or(""))
                .await?
        }
        _ => false,
    };
    if revoked {
        return inactive();
    }
    Ok(Json(json!({
        "active": true,
        "token_type": "access_token",
        "scope": claims.scope,
        "client_id": claims.client_id,
        "username": claims.sub,
        "sub": claims.sub,
        "exp": claims.exp,
        "iat": claims.iat,
        "iss": claims.iss,
        "aud": claims.aud,
    }))
    .into_response())
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
    let Ok(claims) = state.jwt.verify(token) else {
        return denied();
    };
    let scopes = Scopes::parse(&claims.scope).unwrap_or_default();
    let (Some(uid), true) = (claims.uid, scopes.has_oidc("openid")) else {
        return denied();
    };
    if state
        .db
        .access_revoked(&claims.jti, claims.fam.as_deref().unwrap_or(""))
        .await?
    {
        return denied();
    }
    let Some(user) = state.db.user_by_id(uid).await? else {
        return denied();
    };
    let mut info = json!({"sub": user.username, "preferred_username": user.username});
    if scopes.has_oidc("profile") {
        info["name"] = json!(user.username);
    }
    if scopes.has_oidc("email") {
        info["email"] = json!(user.email);
    }
    if scopes.has_oidc("groups") {
        info["groups"] = json!(state.db.groups_of(user.id).await?);
    }
    Ok(Json(info).into_response())
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
    let user = who.full_user()?;
    if !Role::of(user).can_manage_apps() && !Role::of(user).can_create_datasets() {
        return Err(ApiError::forbidden(
            "your role may not register applications",
        ));
    }
    let req: NewClient = read_json(&headers, body, state.settings.max_json_body).await?;
    let (client_id, secret) = create_client(
        &state.db,
        user,
        &req.name,
        &req.redirect_uris,
        req.confidential,
    )
    .await?
    .map_err(ApiError::unprocessable)?;
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
    let user = who.full_user()?;
    let list: Vec<serde_json::Value> = state
        .db
        .clients_of(user.id)
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
    let Principal::User { user, family, .. } = &who else {
        return Err(if who.is_anonymous() {
            ApiError::unauthorized("authentication required")
        } else {
            ApiError::forbidden("upload tokens are for users")
        });
    };
    // Minting needs a credential that reaches the dataset itself (a session, a `*` or `dataset:`
    // token): an `obj:` token, an upload token included, cannot mint another one, so a leaked
    // upload token dies within its 15 minutes.
    let repo = gate::dataset(&state, &who, &ns, &name, Action::Read).await?;
    // A minted token never exceeds the one that minted it: it reaches every object of the
    // dataset only if the caller's own credential does.
    let action = if repo.allows(On::Objects, Action::Write) {
        "write"
    } else if repo.allows(On::Objects, Action::Read) {
        "read"
    } else {
        return Err(ApiError::forbidden(
            "your token reaches only some objects of this dataset; it cannot mint a wider one",
        ));
    };
    let scope = format!("obj:{}/*:{action}", repo.path());
    let mut claims = state.jwt.claims(&user.username, &scope, 15 * 60);
    claims.uid = Some(user.id);
    // Minted from an OAuth grant: it dies with the grant.
    claims.fam = family.clone();
    let token = state.jwt.sign(&claims).map_err(ApiError::internal)?;
    Ok(Json(
        json!({"token": token, "expires_in": 15 * 60, "scope": scope, "lfs_url": format!("{}/{}.git/info/lfs", state.settings.public_url, repo.path())}),
    ))
}
