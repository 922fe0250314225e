//! Who is calling, read from the request: the `Authorization` header (HTTP Basic with a token as
//! the password, or `Bearer`) or the session cookie (read by `crate::http::cookies`), handed to
//! `strata_core::auth::authenticate`. One parser each for Basic credentials and the session
//! cookie, used by every surface.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use base64::Engine;

use crate::http::error::{ApiError, ApiResult};
pub use crate::http::session::{session, session_cookie};
use crate::http::state::AppState;
use strata_core::auth::{authenticate, Principal, Scopes};
use strata_core::db::SessionRow;

/// `(user, password)` of an `Authorization: Basic …` header, if it is one and well-formed.
pub fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let pair = String::from_utf8(raw).ok()?;
    let (user, password) = pair.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let who = if parts.headers.contains_key(AUTHORIZATION) {
            from_authorization(state, &parts.headers).await?
        } else {
            from_session(parts, state).await?
        };
        if !matches!(who, Principal::Anonymous) {
            strata_core::context::set_actor(&who.display_name());
        }
        Ok(who)
    }
}

/// The caller a request's `Authorization` header names (Basic with a token as the password, or
/// Bearer); anonymous without one. Surfaces without cookies (Arrow Flight) use this alone.
pub async fn from_authorization(state: &AppState, headers: &HeaderMap) -> ApiResult<Principal> {
    match bearer_or_basic(headers)? {
        Some(secret) => Ok(authenticate(state, &secret).await?),
        None => Ok(Principal::Anonymous),
    }
}

/// The secret in a request's `Authorization` header: Bearer's token, or Basic's password (the
/// username is not checked: the password alone identifies the token, so `_jwt:<token>` (giftless
/// clients) and `<anything>:<pat>` both work). `None` without the header.
pub fn bearer_or_basic(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("malformed Authorization header"))?;
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        let (_, password) = basic_credentials(headers)
            .ok_or_else(|| ApiError::unauthorized("malformed Basic credentials"))?;
        Ok(Some(password))
    } else if scheme.eq_ignore_ascii_case("bearer") {
        Ok(Some(rest.trim().to_owned()))
    } else {
        Err(ApiError::unauthorized(
            "unsupported authorization scheme: use Basic or Bearer",
        ))
    }
}

/// A browser session (cookie): the user with all their rights. Writes must also carry the
/// session's CSRF token in `X-CSRF-Token` (`crate::http::csrf::check_header`).
async fn from_session(parts: &Parts, state: &AppState) -> Result<Principal, ApiError> {
    let Some((_, session)) = session(state, &parts.headers).await? else {
        return Ok(Principal::Anonymous);
    };
    crate::http::csrf::check_header(parts, &session)?;
    session_principal(&session)
}

/// The principal of a browser session: its user, with all their rights.
pub fn session_principal(session: &SessionRow) -> Result<Principal, ApiError> {
    Ok(Principal::User {
        user: session.user.clone(),
        scopes: Scopes::parse("*").map_err(ApiError::internal)?,
        family: None,
    })
}

/// Who a page's visitor is: the signed-in user (as [`session_principal`]) or anonymous.
pub fn visitor(session: Option<&SessionRow>) -> Result<Principal, ApiError> {
    match session {
        Some(s) => session_principal(s),
        None => Ok(Principal::Anonymous),
    }
}

/// The repository name in a URL, without the optional `.git` suffix.
pub fn repo_name(segment: &str) -> &str {
    segment.strip_suffix(".git").unwrap_or(segment)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header::COOKIE;

    #[test]
    fn reads_only_well_formed_session_cookies() {
        let mut h = HeaderMap::new();
        let id = "a".repeat(64);
        h.insert(
            COOKIE,
            format!("x=1; {}={id}; y=2", strata_core::auth::session::COOKIE_NAME)
                .parse()
                .unwrap(),
        );
        assert_eq!(session_cookie(&h), Some(id));
        h.insert(
            COOKIE,
            format!("{}=../../etc", strata_core::auth::session::COOKIE_NAME)
                .parse()
                .unwrap(),
        );
        assert_eq!(session_cookie(&h), None);
    }

    #[test]
    fn parses_basic_credentials() {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, "Basic dTpwOnc=".parse().unwrap()); // u:p:w
        assert_eq!(basic_credentials(&h), Some(("u".into(), "p:w".into())));
        h.insert(AUTHORIZATION, "basic !!!".parse().unwrap());
        assert_eq!(basic_credentials(&h), None);
        h.insert(AUTHORIZATION, "Bearer x".parse().unwrap());
        assert_eq!(basic_credentials(&h), None);
    }
}
