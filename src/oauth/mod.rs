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

pub use manage::create_client;
mod token;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::db::OauthClient;
use crate::error::ApiResult;
use crate::request_ctx;
use crate::state::AppState;

/// Lifetimes, in seconds.
const CODE_TTL: i64 = 60;
const ACCESS_TTL: i64 = 15 * 60;
const REFRESH_TTL: i64 = 30 * 24 * 3600;

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
        "scopes_supported": ["openid", "profile", "email", "offline_access", "dataset:{ns}/{name}:{read|write|admin}", "obj:{ns}/{name}/*:{read|write}"],
        "claims_supported": ["sub", "preferred_username", "email", "name", "nonce", "auth_time"],
    }))
}

/// An OAuth error response (RFC 6749 section 5.2), with the request id as everywhere else.
pub(crate) fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let rid = request_ctx::current().request_id;
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

pub(crate) fn sha256_hex(text: &str) -> String {
    strata_lfs::lower_hex(&Sha256::digest(text.as_bytes()))
}

pub(crate) fn random_secret() -> String {
    let raw: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

/// The client a token-endpoint request authenticates as: HTTP Basic, or `client_id` (and
/// `client_secret`) in the form. Confidential clients must prove their secret.
pub(crate) async fn client_auth(
    state: &AppState,
    headers: &HeaderMap,
    form_id: Option<&str>,
    form_secret: Option<&str>,
) -> ApiResult<Result<OauthClient, Response>> {
    let invalid = || {
        Err(oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client or wrong client secret",
        ))
    };
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        })
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|pair| {
            let (id, secret) = pair.split_once(':')?;
            let decode = |s: &str| percent_decode(s);
            Some((decode(id), decode(secret)))
        });
    let (id, secret) = match (basic, form_id) {
        (Some((id, secret)), _) => (id, Some(secret)),
        (None, Some(id)) => (id.to_owned(), form_secret.map(str::to_owned)),
        (None, None) => return Ok(invalid()),
    };
    let Some(client) = state.db.client(&id).await? else {
        return Ok(invalid());
    };
    if client.is_confidential() {
        let given = secret.as_deref().map(sha256_hex).unwrap_or_default();
        let stored = client.secret_hash.clone().unwrap_or_default();
        if stored.is_empty() || !crate::auth::session::same_secret(&given, &stored) {
            return Ok(invalid());
        }
    }
    Ok(Ok(client))
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

/// Whether `url` is plain http to this machine (127.0.0.1, [::1] or localhost).
fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Whether a redirect URI sent to the authorization endpoint is the `registered` one, compared
/// as URLs: scheme, host, port, path and query must be the same (the port may differ only for
/// loopback http, as RFC 8252 §7.3 asks for native apps); credentials and fragments never match.
fn redirect_matches(registered: &str, given: &str) -> bool {
    let (Ok(r), Ok(g)) = (url::Url::parse(registered), url::Url::parse(given)) else {
        return false;
    };
    let loopback = r.scheme() == "http" && is_loopback(&r);
    g.fragment().is_none()
        && g.username().is_empty()
        && g.password().is_none()
        && r.scheme() == g.scheme()
        && r.host() == g.host()
        && (r.port_or_known_default() == g.port_or_known_default() || loopback)
        && r.path() == g.path()
        && r.query() == g.query()
}

#[cfg(test)]
mod tests {
    use super::redirect_matches;

    #[test]
    fn redirect_uris_compare_as_urls() {
        let app = "https://app.example/cb";
        assert!(redirect_matches(app, "https://app.example/cb"));
        assert!(redirect_matches(app, "https://APP.example:443/cb"));
        for bad in [
            "https://app.example/cb/../evil",
            "https://app.example/cbx",
            "https://app.example/cb?x=1",
            "https://app.example.evil/cb",
            "https://app.example:8443/cb",
            "https://user@app.example/cb",
            "https://app.example/cb#frag",
            "http://app.example/cb",
            "https://app.example/CB",
            "not a url",
        ] {
            assert!(!redirect_matches(app, bad), "{bad}");
        }
        let native = "http://127.0.0.1/cb";
        assert!(redirect_matches(native, "http://127.0.0.1:53123/cb"));
        assert!(!redirect_matches(native, "http://127.0.0.2/cb"));
        assert!(!redirect_matches(
            native,
            "http://127.0.0.1.evil.example/cb"
        ));
    }
}
