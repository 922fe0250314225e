//! The OAuth 2.0 and OpenID Connect provider, the domain side: which client a request is, and
//! the grants (`grants.rs`: authorization code with PKCE, refresh tokens that rotate with reuse
//! detection, client credentials). Apps get the same RS256 JWTs the LFS and REST APIs accept,
//! acting for the user who consented and narrowed to the scopes they granted. The endpoints are
//! `strata::http::oauth`.

pub mod authorize;
pub mod grants;
pub mod tokens;

use crate::auth::secrets;
use crate::db::OauthClient;
use crate::error::Result;
use crate::Core;

/// Lifetimes, in seconds.
pub const CODE_TTL: i64 = 60;
pub const ACCESS_TTL: i64 = 15 * 60;
pub const REFRESH_TTL: i64 = 30 * 24 * 3600;

/// A refusal of the token endpoint, by the name RFC 6749 (section 5.2) gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    InvalidRequest(String),
    InvalidClient,
    InvalidGrant(String),
    InvalidScope(String),
    UnauthorizedClient(String),
    UnsupportedGrantType,
}

impl Refusal {
    /// The error code of the response.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::InvalidRequest(_) => "invalid_request",
            Refusal::InvalidClient => "invalid_client",
            Refusal::InvalidGrant(_) => "invalid_grant",
            Refusal::InvalidScope(_) => "invalid_scope",
            Refusal::UnauthorizedClient(_) => "unauthorized_client",
            Refusal::UnsupportedGrantType => "unsupported_grant_type",
        }
    }

    /// Whether the client failed to authenticate (401, with a challenge); the rest are 400.
    pub fn unauthenticated(&self) -> bool {
        matches!(
            self,
            Refusal::InvalidClient | Refusal::UnauthorizedClient(_)
        )
    }

    /// The description for the client's developer.
    pub fn description(&self) -> &str {
        match self {
            Refusal::InvalidRequest(d)
            | Refusal::InvalidGrant(d)
            | Refusal::InvalidScope(d)
            | Refusal::UnauthorizedClient(d) => d,
            Refusal::InvalidClient => "unknown client or wrong client secret",
            Refusal::UnsupportedGrantType => {
                "use authorization_code, refresh_token or client_credentials"
            }
        }
    }
}

/// The answer of a grant: tokens, or a refusal.
pub type Granted<T> = std::result::Result<T, Refusal>;

/// The client `id` proves to be: a confidential client must give its secret.
pub async fn authenticate_client(
    core: &Core,
    id: &str,
    secret: Option<&str>,
) -> Result<Granted<OauthClient>> {
    let Some(client) = core.db.client(id).await? else {
        return Ok(Err(Refusal::InvalidClient));
    };
    if client.is_confidential() {
        let given = secret.map(secrets::stored).unwrap_or_default();
        let stored = client.secret_hash.clone().unwrap_or_default();
        if stored.is_empty() || !crate::auth::session::same_secret(&given, &stored) {
            return Ok(Err(Refusal::InvalidClient));
        }
    }
    Ok(Ok(client))
}
