//! Who is calling and what they may do. [`authenticate`] turns a secret (a personal access token
//! or a JWT, sent by the HTTP layer from `Authorization`) into a [`Principal`];
//! [`Principal::can`] is the permission check the gates (`crate::datasets::gate`) make.

pub mod access;
pub mod clients;
pub(crate) mod jwt_crypto;
pub mod keys;
pub mod need;
pub mod password;
pub mod pat;
pub mod scope;
pub mod sealed;
pub mod secrets;
pub mod session;

use crate::db::User;
use crate::error::Error;
pub use access::{Authorized, Role};
pub use need::Need;
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
    pub fn full_user(&self) -> Result<&User, Error> {
        match self {
            Principal::User { user, scopes, .. } if scopes.allows_everything() => Ok(user),
            Principal::Anonymous => Err(Error::unauthorized("authentication required")),
            _ => Err(Error::forbidden(
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
        let public_read = repo.is_public() && !repo.is_gated() && action == Action::Read;
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
        let public_read = repo.is_public() && !repo.is_gated() && action == Action::Read;
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

/// The principal a verified JWT's `claims` speak for: its user, within their rights, unless
/// its grant family was revoked meanwhile; without a user, a capability of exactly its scopes.
pub async fn principal_of(core: &crate::Core, claims: keys::Claims) -> Result<Principal, Error> {
    let db = &core.db;
    let scopes = claims
        .all_scopes()
        .map_err(|e| Error::unauthorized(format!("invalid token: {e}")))?;
    // An OAuth access token acts for its user, within the user's rights.
    if let Some(uid) = claims.uid {
        let family = claims.fam.as_deref().unwrap_or("");
        let revoked = db.access_revoked(&claims.jti, family).await?
            // An app's token lives as long as the install it was minted for.
            || (family.starts_with("app:") && !db.app_family_live(family).await?)
            // A registered workload's, as long as the workload.
            || (family.starts_with("wl:") && db.workload(family).await?.is_none());
        let user = db.user_by_id(uid).await?;
        return match user {
            Some(user) if !revoked => Ok(Principal::User {
                user,
                scopes,
                family: claims.fam,
            }),
            _ => Err(Error::unauthorized("invalid token: revoked")),
        };
    }
    Ok(Principal::Jwt {
        sub: claims.sub,
        scopes,
    })
}

/// Resolves a secret (personal access token or JWT) to a principal.
pub async fn authenticate(core: &crate::Core, secret: &str) -> Result<Principal, Error> {
    let (db, jwt) = (&core.db, &core.jwt);
    if pat::looks_like_pat(secret) {
        let Some((token, user)) = db.live_token(&pat::hash(secret)).await? else {
            return Err(Error::unauthorized("invalid, expired or revoked token"));
        };
        let scopes = Scopes::parse(&token.scopes).map_err(Error::internal)?;
        return Ok(Principal::User {
            user,
            scopes,
            family: None,
        });
    }
    if secret.split('.').count() == 3 {
        let claims = jwt
            .verify(secret)
            .map_err(|e| Error::unauthorized(format!("invalid token: {e}")))?;
        return principal_of(core, claims).await;
    }
    Err(Error::unauthorized(
        "invalid credentials: use a personal access token or a JWT as the password",
    ))
}
