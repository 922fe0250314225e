//! `POST /oauth/token`: codes for tokens (with PKCE), refresh tokens that rotate (a reused one
//! revokes its whole family, and so does a replayed code), and client credentials for services.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{client_auth, oauth_error, random_secret, sha256_hex, ACCESS_TTL, REFRESH_TTL};
use crate::http::error::{ApiError, ApiResult};
use crate::http::pages::read_form;
use crate::http::state::AppState;
use strata_core::auth::Scopes;
use strata_core::db::{now, OauthClient, User};

#[derive(Deserialize)]
pub struct TokenForm {
    grant_type: String,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
    scope: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// The claims of an OpenID Connect id token.
#[derive(Serialize)]
struct IdClaims<'a> {
    iss: &'a str,
    sub: String,
    aud: &'a str,
    exp: i64,
    iat: i64,
    auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    preferred_username: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    /// With the `groups` scope: the user's organisations and teams (`org`, `org/team`).
    #[serde(skip_serializing_if = "Option::is_none")]
    groups: Option<Vec<String>>,
}

fn invalid_grant(description: &str) -> Response {
    oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", description)
}

pub async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let form: TokenForm = match read_form(body).await {
        Ok(f) => f,
        Err(e) => {
            return Ok(oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &e.message,
            ))
        }
    };
    let client = match client_auth(
        &state,
        &headers,
        form.client_id.as_deref(),
        form.client_secret.as_deref(),
    )
    .await?
    {
        Ok(c) => c,
        Err(response) => return Ok(response),
    };
    match form.grant_type.as_str() {
        "authorization_code" => code_grant(&state, &client, &form).await,
        "refresh_token" => refresh_grant(&state, &client, &form).await,
        "client_credentials" => client_credentials(&state, &client, &form).await,
        _ => Ok(oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "use authorization_code, refresh_token or client_credentials",
        )),
    }
}

async fn code_grant(
    state: &AppState,
    client: &OauthClient,
    form: &TokenForm,
) -> ApiResult<Response> {
    let Some(code) = form.code.as_deref() else {
        return Ok(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "code is required",
        ));
    };
    let hash = sha256_hex(code);
    let Some(row) = state.db.code(&hash).await? else {
        return Ok(invalid_grant("unknown code"));
    };
    if !state.db.use_code(&hash).await? {
        // A replay: whatever the first use got is revoked too.
        state.db.revoke_family(&row.family_id).await?;
        audit(
            state,
            "oauth.code_replay",
            &row.client_id,
            json!({"family": row.family_id}),
        )
        .await?;
        return Ok(invalid_grant(
            "the code was used already; the tokens it gave are revoked",
        ));
    }
    if row.client_id != client.client_id {
        return Ok(invalid_grant("the code was issued to another client"));
    }
    if row.expires_at < now() {
        return Ok(invalid_grant("the code has expired"));
    }
    if form
        .redirect_uri
        .as_deref()
        .is_some_and(|u| u != row.redirect_uri)
    {
        return Ok(invalid_grant(
            "redirect_uri differs from the authorization request",
        ));
    }
    if let Some(challenge) = &row.challenge {
        let verifier = form.code_verifier.as_deref().unwrap_or("");
        let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(verifier.as_bytes()));
        if verifier.len() < 43
            || verifier.len() > 128
            || !strata_core::auth::session::same_secret(&computed, challenge)
        {
            return Ok(invalid_grant(
                "the code_verifier does not match the code_challenge",
            ));
        }
    }
    let Some(user) = state.db.user_by_id(row.user_id).await? else {
        return Ok(invalid_grant("the user is gone"));
    };
    issue(
        state,
        client,
        &user,
        &row.family_id,
        &row.scope,
        Some((row.nonce.as_deref(), row.auth_time)),
    )
    .await
}

async fn refresh_grant(
    state: &AppState,
    client: &OauthClient,
    form: &TokenForm,
) -> ApiResult<Response> {
    let Some(token) = form.refresh_token.as_deref() else {
        return Ok(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "refresh_token is required",
        ));
    };
    let hash = sha256_hex(token);
    let Some(row) = state.db.refresh(&hash).await? else {
        return Ok(invalid_grant("unknown refresh token"));
    };
    if row.client_id != client.client_id {
        return Ok(invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    if row.revoked_at.is_some() {
        return Ok(invalid_grant("the refresh token was revoked"));
    }
    if row.used_at.is_some() {
        return refresh_reused(state, &row).await;
    }
    if row.expires_at < now() {
        return Ok(invalid_grant("the refresh token has expired"));
    }
    // Checked before the token is used: a refused request does not burn it.
    let scope = match form.scope.as_deref() {
        // A narrower scope may be asked for, never a wider one.
        Some(s)
            if s.split_whitespace()
                .all(|w| row.scope.split_whitespace().any(|g| g == w)) =>
        {
            s.to_owned()
        }
        Some(_) => {
            return Ok(oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                "a refresh cannot widen the scope",
            ))
        }
        None => row.scope.clone(),
    };
    if !state.db.use_refresh(&hash).await? {
        return refresh_reused(state, &row).await;
    }
    let Some(user) = (match row.user_id {
        Some(id) => state.db.user_by_id(id).await?,
        None => None,
    }) else {
        return Ok(invalid_grant("the user is gone"));
    };
    issue(state, client, &user, &row.family_id, &scope, None).await
}

/// A refresh token used twice: someone else has it, so its whole family is revoked.
async fn refresh_reused(
    state: &AppState,
    row: &strata_core::db::RefreshRow,
) -> ApiResult<Response> {
    state.db.revoke_family(&row.family_id).await?;
    audit(
        state,
        "oauth.refresh_reuse",
        &row.client_id,
        json!({"family": row.family_id}),
    )
    .await?;
    Ok(invalid_grant(
        "the refresh token was used already; its family is revoked",
    ))
}

async fn client_credentials(
    state: &AppState,
    client: &OauthClient,
    form: &TokenForm,
) -> ApiResult<Response> {
    if !client.is_confidential() {
        return Ok(oauth_error(
            StatusCode::UNAUTHORIZED,
            "unauthorized_client",
            "public clients cannot use client credentials",
        ));
    }
    let scope = form.scope.clone().unwrap_or_default();
    if scope.trim().is_empty()
        || Scopes::parse(&scope).is_err()
        || scope.split_whitespace().any(|s| s == "*")
    {
        return Ok(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "name the dataset or object scopes the service needs",
        ));
    }
    // A service acts for the user who registered it, within that user's rights.
    let Some(owner) = state.db.user_by_id(client.owner_id).await? else {
        return Ok(invalid_grant("the client's owner is gone"));
    };
    let family = uuid::Uuid::new_v4().simple().to_string();
    state
        .db
        .create_family(&family, &client.client_id, Some(owner.id))
        .await?;
    let mut claims = state
        .jwt
        .claims(&format!("client:{}", client.client_id), &scope, ACCESS_TTL);
    claims.uid = Some(owner.id);
    claims.client_id = Some(client.client_id.clone());
    claims.fam = Some(family);
    let access = state.jwt.sign(&claims).map_err(ApiError::internal)?;
    Ok(no_store(
        json!({"access_token": access, "token_type": "Bearer", "expires_in": ACCESS_TTL, "scope": scope}),
    ))
}

/// Access token, refresh token and (with `openid`) an id token, for `user` via `client`.
async fn issue(
    state: &AppState,
    client: &OauthClient,
    user: &User,
    family: &str,
    scope: &str,
    id_token: Option<(Option<&str>, i64)>,
) -> ApiResult<Response> {
    let scopes = Scopes::parse(scope).map_err(ApiError::internal)?;
    let mut claims = state.jwt.claims(&user.username, scope, ACCESS_TTL);
    claims.uid = Some(user.id);
    claims.client_id = Some(client.client_id.clone());
    claims.fam = Some(family.to_owned());
    let access = state.jwt.sign(&claims).map_err(ApiError::internal)?;
    let refresh = random_secret();
    state
        .db
        .create_refresh(&sha256_hex(&refresh), family, scope, REFRESH_TTL)
        .await?;
    let mut body = json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": ACCESS_TTL,
        "refresh_token": refresh,
        "scope": scope,
    });
    if scopes.has_oidc("openid") {
        let (nonce, auth_time) = id_token.unwrap_or((None, claims.iat));
        let groups = if scopes.has_oidc("groups") {
            Some(state.db.groups_of(user.id).await?)
        } else {
            None
        };
        let id = IdClaims {
            iss: state.jwt.issuer(),
            sub: user.username.clone(),
            aud: &client.client_id,
            exp: claims.exp,
            iat: claims.iat,
            auth_time,
            nonce,
            preferred_username: &user.username,
            email: user.email.as_deref().filter(|_| scopes.has_oidc("email")),
            groups,
        };
        body["id_token"] = json!(state.jwt.sign(&id).map_err(ApiError::internal)?);
    }
    audit(
        state,
        "oauth.token",
        &client.client_id,
        json!({"user": user.username, "scope": scope}),
    )
    .await?;
    Ok(no_store(body))
}

fn no_store(body: serde_json::Value) -> Response {
    let mut response = (StatusCode::OK, Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    headers.insert(
        axum::http::header::PRAGMA,
        axum::http::HeaderValue::from_static("no-cache"),
    );
    response
}

async fn audit(
    state: &AppState,
    event: &str,
    client_id: &str,
    detail: serde_json::Value,
) -> ApiResult<()> {
    strata_core::audit::record(state, event, Some(client_id), None, detail).await?;
    Ok(())
}
