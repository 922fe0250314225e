//! Who is calling and what they may do. [`Principal`] is extracted from the `Authorization` header
//! (HTTP Basic with a personal access token or a JWT as password, or `Bearer`); [`Principal::can`]
//! is the one permission check every entry point uses.

pub mod access;
pub mod keys;
pub mod password;
pub mod pat;
pub mod scope;
pub mod session;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::Engine;

use crate::db::User;
use crate::error::ApiError;
use crate::state::AppState;
pub use access::{Authorized, Role};
pub use scope::{Action, On, Scopes};

/// The caller of a request.
#[derive(Debug, Clone)]
pub enum Principal {
    Anonymous,
    /// A user, through a session, a personal access token or an OAuth access token, restricted
    /// to `scopes`.
    User {
        user: User,
        scopes: Scopes,
        /// The OAuth grant family the token came from: tokens minted from it carry it too, so
        /// that revoking the grant revokes them.
        family: Option<String>,
    },
    /// A strata-signed JWT: a capability that grants exactly its scopes, whoever holds it.
    Jwt {
        sub: String,
        scopes: Scopes,
    },
}

impl Principal {
    pub fn is_anonymous(&self) -> bool {
        matches!(self, Principal::Anonymous)
    }

    /// The user behind a credential with all of their rights (a session, or a token with the `*`
    /// scope): what account-level operations (organisations, roles, applications) need.
    pub fn full_user(&self) -> Result<&User, ApiError> {
        match self {
            Principal::User { user, scopes, .. } if scopes.allows_everything() => Ok(user),
            Principal::Anonymous => Err(ApiError::unauthorized("authentication required")),
            _ => Err(ApiError::forbidden(
                "this needs a session or a personal access token with the * scope",
            )),
        }
    }

    /// A stable identity, used for lock ownership.
    pub fn key(&self) -> String {
        match self {
            Principal::Anonymous => "anonymous".into(),
            Principal::User { user, .. } => format!("user:{}", user.id),
            Principal::Jwt { sub, .. } => format!("jwt:{sub}"),
        }
    }

    /// The name shown to other people.
    pub fn display_name(&self) -> String {
        match self {
            Principal::Anonymous => "anonymous".into(),
            Principal::User { user, .. } => user.username.clone(),
            Principal::Jwt { sub, .. } => sub.clone(),
        }
    }

    /// The permission check: may this caller do `action` on `on` (the dataset, all its objects,
    /// or one object) of `repo`? The gates (`crate::datasets::gate`) are its only callers.
    pub fn can(&self, repo: &Authorized, on: On<'_>, action: Action) -> bool {
        let public_read = repo.is_public() && action == Action::Read;
        match self {
            Principal::Anonymous => public_read,
            Principal::User { scopes, .. } => {
                repo.user_grant.is_some_and(|r| r.covers(action))
                    && scopes.allows(&repo.path(), on, action)
            }
            Principal::Jwt { scopes, .. } => public_read || scopes.allows(&repo.path(), on, action),
        }
    }

    /// Whether the caller may do `action` to at least some object of `repo`.
    pub fn can_some_object(&self, repo: &Authorized, action: Action) -> bool {
        let public_read = repo.is_public() && action == Action::Read;
        match self {
            Principal::Anonymous => public_read,
            Principal::User { scopes, .. } => {
                repo.user_grant.is_some_and(|r| r.covers(action))
                    && scopes.allows_some_object(&repo.path(), action)
            }
            Principal::Jwt { scopes, .. } => {
                public_read || scopes.allows_some_object(&repo.path(), action)
            }
        }
    }

    /// The caller's scopes (`*` for a session, none for anonymous callers).
    pub fn scopes(&self) -> Option<&Scopes> {
        match self {
            Principal::Anonymous => None,
            Principal::User { scopes, .. } | Principal::Jwt { scopes, .. } => Some(scopes),
        }
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(AUTHORIZATION) else {
            return from_session(parts, state).await;
        };
        let value = value
            .to_str()
            .map_err(|_| ApiError::unauthorized("malformed Authorization header"))?;
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        let secret = if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(rest.trim())
                .ok()
                .and_then(|raw| String::from_utf8(raw).ok())
                .ok_or_else(|| ApiError::unauthorized("malformed Basic credentials"))?;
            // The username is not checked: the password alone identifies the token, so
            // `_jwt:<token>` (giftless clients) and `<anything>:<pat>` both work.
            let (_user, password) = decoded
                .split_once(':')
                .ok_or_else(|| ApiError::unauthorized("malformed Basic credentials"))?;
            password.to_owned()
        } else if scheme.eq_ignore_ascii_case("bearer") {
            rest.trim().to_owned()
        } else {
            return Err(ApiError::unauthorized(
                "unsupported authorization scheme: use Basic or Bearer",
            ));
        };
        authenticate(state, &secret).await
    }
}

/// A browser session (cookie): the user with all their rights. Writes must also carry the
/// session's CSRF token in `X-CSRF-Token`, which another site cannot read or send.
async fn from_session(parts: &Parts, state: &AppState) -> Result<Principal, ApiError> {
    let Some((_, session)) = session::current(state, &parts.headers).await? else {
        return Ok(Principal::Anonymous);
    };
    let safe = matches!(parts.method.as_str(), "GET" | "HEAD" | "OPTIONS");
    if !safe {
        let sent = parts
            .headers
            .get(session::CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !session::same_secret(sent, &session.csrf) {
            return Err(ApiError::forbidden(
                "a write with a session cookie needs the session's X-CSRF-Token",
            ));
        }
    }
    Ok(Principal::User {
        user: session.user,
        scopes: Scopes::parse("*").map_err(ApiError::internal)?,
        family: None,
    })
}

/// Resolves a secret (personal access token or JWT) to a principal.
pub async fn authenticate(state: &AppState, secret: &str) -> Result<Principal, ApiError> {
    if pat::looks_like_pat(secret) {
        let Some((token, user)) = state.db.live_token(&pat::hash(secret)).await? else {
            return Err(ApiError::unauthorized("invalid, expired or revoked token"));
        };
        let scopes = Scopes::parse(&token.scopes).map_err(ApiError::internal)?;
        return Ok(Principal::User {
            user,
            scopes,
            family: None,
        });
    }
    if secret.split('.').count() == 3 {
        let claims = state
            .jwt
            .verify(secret)
            .map_err(|e| ApiError::unauthorized(format!("invalid token: {e}")))?;
        let scopes = claims
            .all_scopes()
            .map_err(|e| ApiError::unauthorized(format!("invalid token: {e}")))?;
        // An OAuth access token acts for its user, within the user's rights.
        if let Some(uid) = claims.uid {
            let revoked = state
                .db
                .access_revoked(&claims.jti, claims.fam.as_deref().unwrap_or(""))
                .await?;
            let user = state.db.user_by_id(uid).await?;
            return match user {
                Some(user) if !revoked => Ok(Principal::User {
                    user,
                    scopes,
                    family: claims.fam,
                }),
                _ => Err(ApiError::unauthorized("invalid token: revoked")),
            };
        }
        return Ok(Principal::Jwt {
            sub: claims.sub,
            scopes,
        });
    }
    Err(ApiError::unauthorized(
        "invalid credentials: use a personal access token or a JWT as the password",
    ))
}
