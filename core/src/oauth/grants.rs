//! The token endpoint's grants: an authorization code for tokens (PKCE checked; a replayed code
//! revokes what the first use got), a refresh token for new ones (it rotates, may narrow the
//! scope but never widen it, and a reused one revokes its whole family), and client credentials
//! for services (acting for the user who registered the client, within that user's rights).

use base64::Engine;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{Granted, Refusal, ACCESS_TTL, REFRESH_TTL};
use crate::audit;
use crate::auth::{secrets, Scopes};
use crate::db::{now, OauthClient, RefreshRow, User};
use crate::error::{Error, Result};
use crate::Core;

/// What a grant hands out.
#[derive(Debug, Serialize)]
pub struct Tokens {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
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
    /// With the `profile` or `roles` scope: the user's platform roles.
    #[serde(skip_serializing_if = "Option::is_none")]
    roles: Option<Vec<&'static str>>,
    /// With those scopes, for the OAuth client an app's manifest names: the user's roles in the
    /// app, as the manifest maps them.
    #[serde(skip_serializing_if = "Option::is_none")]
    app_roles: Option<Vec<String>>,
}

fn invalid_grant(description: &str) -> Result<Granted<Tokens>> {
    Ok(Err(Refusal::InvalidGrant(description.to_owned())))
}

/// `grant_type=authorization_code`.
pub async fn code(
    core: &Core,
    client: &OauthClient,
    code: Option<&str>,
    redirect_uri: Option<&str>,
    code_verifier: Option<&str>,
) -> Result<Granted<Tokens>> {
    let Some(code) = code else {
        return Ok(Err(Refusal::InvalidRequest("code is required".into())));
    };
    let hash = secrets::stored(code);
    let Some(row) = core.db.code(&hash).await? else {
        return invalid_grant("unknown code");
    };
    if !core.db.use_code(&hash).await? {
        // A replay: whatever the first use got is revoked too.
        core.db.revoke_family(&row.family_id).await?;
        let detail = json!({"family": row.family_id});
        audit::record(
            core,
            "oauth.code_replay",
            Some(&row.client_id),
            None,
            detail,
        )
        .await?;
        return invalid_grant("the code was used already; the tokens it gave are revoked");
    }
    if row.client_id != client.client_id {
        return invalid_grant("the code was issued to another client");
    }
    if row.expires_at < now() {
        return invalid_grant("the code has expired");
    }
    if redirect_uri.is_some_and(|u| u != row.redirect_uri) {
        return invalid_grant("redirect_uri differs from the authorization request");
    }
    if let Some(challenge) = &row.challenge {
        let verifier = code_verifier.unwrap_or("");
        let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(verifier.as_bytes()));
        if verifier.len() < 43
            || verifier.len() > 128
            || !crate::auth::session::same_secret(&computed, challenge)
        {
            return invalid_grant("the code_verifier does not match the code_challenge");
        }
    }
    let Some(user) = core.db.user_by_id(row.user_id).await? else {
        return invalid_grant("the user is gone");
    };
    let id_token = Some((row.nonce.as_deref(), row.auth_time));
    issue(core, client, &user, &row.family_id, &row.scope, id_token)
        .await
        .map(Ok)
}

/// `grant_type=refresh_token`, optionally narrowed to `scope`.
pub async fn refresh(
    core: &Core,
    client: &OauthClient,
    token: Option<&str>,
    scope: Option<&str>,
) -> Result<Granted<Tokens>> {
    let Some(token) = token else {
        return Ok(Err(Refusal::InvalidRequest(
            "refresh_token is required".into(),
        )));
    };
    let hash = secrets::stored(token);
    let Some(row) = core.db.refresh(&hash).await? else {
        return invalid_grant("unknown refresh token");
    };
    if row.client_id != client.client_id {
        return invalid_grant("the refresh token was issued to another client");
    }
    if row.revoked_at.is_some() {
        return invalid_grant("the refresh token was revoked");
    }
    if row.used_at.is_some() {
        return reused(core, &row).await;
    }
    if row.expires_at < now() {
        return invalid_grant("the refresh token has expired");
    }
    // Checked before the token is used: a refused request does not burn it.
    let scope = match scope {
        // A narrower scope may be asked for, never a wider one.
        Some(s)
            if s.split_whitespace()
                .all(|w| row.scope.split_whitespace().any(|g| g == w)) =>
        {
            s.to_owned()
        }
        Some(_) => {
            return Ok(Err(Refusal::InvalidScope(
                "a refresh cannot widen the scope".into(),
            )))
        }
        None => row.scope.clone(),
    };
    if !core.db.use_refresh(&hash).await? {
        return reused(core, &row).await;
    }
    let Some(user) = (match row.user_id {
        Some(id) => core.db.user_by_id(id).await?,
        None => None,
    }) else {
        return invalid_grant("the user is gone");
    };
    issue(core, client, &user, &row.family_id, &scope, None)
        .await
        .map(Ok)
}

/// A refresh token used twice: someone else has it, so its whole family is revoked.
async fn reused(core: &Core, row: &RefreshRow) -> Result<Granted<Tokens>> {
    core.db.revoke_family(&row.family_id).await?;
    let detail = json!({"family": row.family_id});
    audit::record(
        core,
        "oauth.refresh_reuse",
        Some(&row.client_id),
        None,
        detail,
    )
    .await?;
    invalid_grant("the refresh token was used already; its family is revoked")
}

/// What the grant families of `client_credentials` start with (the families of a user's
/// consent are bare uuids).
pub const CLIENT_FAMILY: &str = "cc-";

/// `grant_type=client_credentials`: confidential clients only, with the dataset or object
/// scopes named (never `*`).
pub async fn client_credentials(
    core: &Core,
    client: &OauthClient,
    scope: Option<&str>,
) -> Result<Granted<Tokens>> {
    if !client.is_confidential() {
        return Ok(Err(Refusal::UnauthorizedClient(
            "public clients cannot use client credentials".into(),
        )));
    }
    let scope = scope.unwrap_or_default().to_owned();
    if scope.trim().is_empty()
        || Scopes::parse(&scope).is_err()
        || scope.split_whitespace().any(|s| s == "*")
    {
        return Ok(Err(Refusal::InvalidScope(
            "name the dataset or object scopes the service needs".into(),
        )));
    }
    // A service acts for the user who registered it, within that user's rights.
    let Some(owner) = core.db.user_by_id(client.owner_id).await? else {
        return invalid_grant("the client's owner is gone");
    };
    // Marked: the owner's consent to their own client, taken back, does not reach these.
    let family = format!("{CLIENT_FAMILY}{}", uuid::Uuid::new_v4().simple());
    core.db
        .create_family(&family, &client.client_id, Some(owner.id))
        .await?;
    let mut claims = core
        .jwt
        .claims(&format!("client:{}", client.client_id), &scope, ACCESS_TTL);
    claims.uid = Some(owner.id);
    claims.client_id = Some(client.client_id.clone());
    claims.fam = Some(family);
    let access = core.jwt.sign(&claims).map_err(Error::internal)?;
    Ok(Ok(Tokens {
        access_token: access,
        token_type: "Bearer",
        expires_in: ACCESS_TTL,
        refresh_token: None,
        scope,
        id_token: None,
    }))
}

/// Access token, refresh token and (with `openid`) an id token, for `user` via `client`.
async fn issue(
    core: &Core,
    client: &OauthClient,
    user: &User,
    family: &str,
    scope: &str,
    id_token: Option<(Option<&str>, i64)>,
) -> Result<Tokens> {
    let scopes = Scopes::parse(scope).map_err(Error::internal)?;
    let mut claims = core.jwt.claims(&user.username, scope, ACCESS_TTL);
    claims.uid = Some(user.id);
    claims.client_id = Some(client.client_id.clone());
    claims.fam = Some(family.to_owned());
    let access = core.jwt.sign(&claims).map_err(Error::internal)?;
    let refresh = secrets::random_hex(32);
    core.db
        .create_refresh(&secrets::stored(&refresh), family, scope, REFRESH_TTL)
        .await?;
    let mut tokens = Tokens {
        access_token: access,
        token_type: "Bearer",
        expires_in: ACCESS_TTL,
        refresh_token: Some(refresh),
        scope: scope.to_owned(),
        id_token: None,
    };
    if scopes.has_oidc("openid") {
        let (nonce, auth_time) = id_token.unwrap_or((None, claims.iat));
        let groups = if scopes.has_oidc("groups") {
            Some(core.db.groups_of(user.id).await?)
        } else {
            None
        };
        let roles_scope = scopes.has_oidc("profile") || scopes.has_oidc("roles");
        let id = IdClaims {
            iss: core.jwt.issuer(),
            sub: user.username.clone(),
            aud: &client.client_id,
            exp: claims.exp,
            iat: claims.iat,
            auth_time,
            nonce,
            preferred_username: &user.username,
            email: user.email.as_deref().filter(|_| scopes.has_oidc("email")),
            groups,
            roles: roles_scope.then(|| user.roles()),
            app_roles: match roles_scope {
                true => crate::apps::roles_for_client(core, &client.client_id, user).await?,
                false => None,
            },
        };
        tokens.id_token = Some(core.jwt.sign(&id).map_err(Error::internal)?);
    }
    let detail = json!({"user": user.username, "scope": scope});
    audit::record(core, "oauth.token", Some(&client.client_id), None, detail).await?;
    Ok(tokens)
}
