//! The OAuth 2.0 and OpenID Connect provider. Apps get the same RS256 JWTs the LFS and REST APIs
//! accept, acting for the user who consented and narrowed to the scopes they granted.
//!
//! - `authorize.rs`: the authorization endpoint and consent page (code flow, PKCE S256 required
//!   for public clients, exact redirect URIs, `state` and `nonce` passed through);
//! - `token.rs`: the token endpoint (authorization code, refresh with rotation and reuse
//!   detection, client credentials);
//! - `manage.rs`: revocation (RFC 7009), introspection (RFC 7662), userinfo, client registration
//!   and the dataset upload token for browsers.

mod authorize;
mod manage;

mod token;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::http::ctx;
use crate::http::pages::signed_in::{PageError, PageResult};
use crate::http::state::AppState;
use strata_core::db::OauthClient;
use strata_core::oauth::Refusal;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route(
            "/oauth/authorize",
            get(authorize::show).post(authorize::decide),
        )
        .route("/oauth/token", post(token::token))
        .route("/oauth/revoke", post(manage::revoke))
        .route("/oauth/introspect", post(manage::introspect))
        .route(
            "/oauth/userinfo",
            get(manage::userinfo).post(manage::userinfo),
        )
}

/// The provider's REST endpoints (client registration, upload tokens), in the OpenAPI document.
pub fn api_router() -> utoipa_axum::router::OpenApiRouter<AppState> {
    utoipa_axum::router::OpenApiRouter::new()
        .routes(utoipa_axum::routes!(manage::register, manage::list_clients))
        .routes(utoipa_axum::routes!(manage::upload_token))
}

async fn discovery(State(state): State<AppState>) -> Json<serde_json::Value> {
    let base = &state.settings.public_url;
    Json(json!({
        "issuer": state.jwt.issuer(),
        "authorization_endpoint": format!("{base}/oauth/authorize"),
        "token_endpoint": format!("{base}/oauth/token"),
        "userinfo_endpoint": format!("{base}/oauth/userinfo"),
        "jwks_uri": format!("{base}/.well-known/jwks.json"),
        "revocation_endpoint": format!("{base}/oauth/revoke"),
        "introspection_endpoint": format!("{base}/oauth/introspect"),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "scopes_supported": ["openid", "profile", "email", "offline_access", "groups", "roles", "dataset:{ns}/{name}:{read|write|admin}", "obj:{ns}/{name}/*:{read|write}"],
        "claims_supported": ["sub", "preferred_username", "email", "name", "nonce", "auth_time", "groups", "roles"],
    }))
}

/// An OAuth error response (RFC 6749 section 5.2), with the request id as everywhere else.
pub(crate) fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let rid = ctx::current().request_id;
    let mut response = (
        status,
        Json(json!({
            "error": error,
            "error_description": description,
            "message": description,
            "request_id": rid,
        })),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Basic realm=\"strata\""),
        );
    }
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

/// The answer to a refused token-endpoint request (RFC 6749 section 5.2).
pub(crate) fn refusal(r: &Refusal) -> Response {
    let status = if r.unauthenticated() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::BAD_REQUEST
    };
    oauth_error(status, r.code(), r.description())
}

/// The client a token-endpoint request authenticates as: HTTP Basic, or `client_id` (and
/// `client_secret`) in the form. Confidential clients must prove their secret.
pub(crate) async fn client_auth(
    state: &AppState,
    headers: &HeaderMap,
    form_id: Option<&str>,
    form_secret: Option<&str>,
) -> PageResult<OauthClient> {
    let basic = crate::http::extract::basic_credentials(headers)
        .map(|(id, secret)| (percent_decode(&id), percent_decode(&secret)));
    let (id, secret) = match (basic, form_id) {
        (Some((id, secret)), _) => (id, Some(secret)),
        (None, Some(id)) => (id.to_owned(), form_secret.map(str::to_owned)),
        (None, None) => return Err(PageError::Answer(refusal(&Refusal::InvalidClient))),
    };
    let found = strata_core::oauth::authenticate_client(state, &id, secret.as_deref()).await?;
    found.map_err(|r| PageError::Answer(refusal(&r)))
}

/// `application/x-www-form-urlencoded` decoding of one component (client ids and secrets in
/// HTTP Basic, RFC 6749 section 2.3.1).
fn percent_decode(s: &str) -> String {
    serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={s}"))
        .ok()
        .and_then(|mut v| v.pop())
        .map(|(_, v)| v)
        .unwrap_or_else(|| s.to_owned())
}
