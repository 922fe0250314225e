//! What the provider tells and takes back about tokens: revocation (RFC 7009), introspection
//! (RFC 7662), userinfo, client registration and listing, and the short-lived upload token a
//! signed-in browser gets for one dataset's LFS objects.

use serde_json::{json, Value};

use crate::audit;
use crate::auth::{secrets, Action, On, Principal, Scopes};
use crate::datasets::gate;
use crate::db::{now, OauthClient};
use crate::error::{Error, Result};
use crate::Core;

/// Revokes `token` for `client`: a refresh token revokes its family, an access token is denied
/// from now on. Unknown tokens, or another client's, change nothing (RFC 7009).
pub async fn revoke(core: &Core, client: &OauthClient, token: &str) -> Result<()> {
    if let Some(row) = core.db.refresh(&secrets::stored(token)).await? {
        if row.client_id == client.client_id {
            core.db.revoke_family(&row.family_id).await?;
        }
    } else if let Ok(claims) = core.jwt.verify(token) {
        if claims.client_id.as_deref() == Some(client.client_id.as_str()) {
            core.db.revoke_jti(&claims.jti, claims.exp).await?;
        }
    }
    let client_id = Some(client.client_id.as_str());
    audit::record(core, "oauth.revoke", client_id, None, json!({})).await
}

/// Whether `token` is active and what it is, as RFC 7662 words it. A client learns about its own
/// tokens only (section 4): anything else is inactive.
pub async fn introspect(core: &Core, client: &OauthClient, token: &str) -> Result<Value> {
    let inactive = || Ok(json!({"active": false}));
    if let Some(row) = core.db.refresh(&secrets::stored(token)).await? {
        if row.client_id != client.client_id
            || row.revoked_at.is_some()
            || row.used_at.is_some()
            || row.expires_at < now()
        {
            return inactive();
        }
        return Ok(
            json!({"active": true, "token_type": "refresh_token", "scope": row.scope,
                         "client_id": row.client_id, "exp": row.expires_at}),
        );
    }
    let Ok(claims) = core.jwt.verify(token) else {
        return inactive();
    };
    if claims.client_id.as_deref() != Some(client.client_id.as_str()) {
        return inactive();
    }
    let revoked = match (&claims.uid, &claims.fam) {
        (Some(_), fam) => {
            core.db
                .access_revoked(&claims.jti, fam.as_deref().unwrap_or(""))
                .await?
        }
        _ => false,
    };
    if revoked {
        return inactive();
    }
    Ok(json!({
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
}

/// The claims about the user behind `token`, an access token with the `openid` scope that is
/// not revoked; `None` for any other token.
pub async fn userinfo(core: &Core, token: &str) -> Result<Option<Value>> {
    let Ok(claims) = core.jwt.verify(token) else {
        return Ok(None);
    };
    let scopes = Scopes::parse(&claims.scope).unwrap_or_default();
    let (Some(uid), true) = (claims.uid, scopes.has_oidc("openid")) else {
        return Ok(None);
    };
    let family = claims.fam.as_deref().unwrap_or("");
    if core.db.access_revoked(&claims.jti, family).await? {
        return Ok(None);
    }
    let Some(user) = core.db.user_by_id(uid).await? else {
        return Ok(None);
    };
    let mut info = json!({"sub": user.username, "preferred_username": user.username});
    if scopes.has_oidc("profile") {
        info["name"] = json!(user.username);
    }
    if scopes.has_oidc("email") {
        info["email"] = json!(user.email);
    }
    if scopes.has_oidc("groups") {
        info["groups"] = json!(core.db.groups_of(user.id).await?);
    }
    if scopes.has_oidc("profile") || scopes.has_oidc("roles") {
        info["roles"] = json!(user.roles());
        let client = claims.client_id.as_deref().unwrap_or_default();
        if let Some(app) = crate::apps::roles_for_client(core, client, &user).await? {
            info["app_roles"] = json!(app);
        }
    }
    Ok(Some(info))
}

/// Registers an OAuth application owned by `who`: its `client_id` and, for a confidential client,
/// its secret (shown once). Engineers and the roles that may create datasets may register.
pub async fn register(
    core: &Core,
    who: &Principal,
    name: &str,
    redirect_uris: &[String],
    confidential: bool,
) -> Result<(String, Option<String>)> {
    let user = core
        .require(who, crate::auth::Need::RegisterClients)
        .await?;
    crate::auth::clients::create_client(&core.db, user, name, redirect_uris, confidential)
        .await?
        .map_err(Error::unprocessable)
}

/// `who`'s applications.
pub async fn clients(core: &Core, who: &Principal) -> Result<Vec<OauthClient>> {
    let user = core.require(who, crate::auth::Need::Account).await?;
    Ok(core.db.clients_of(user.id).await?)
}

/// How long an upload token lives, in seconds.
pub const UPLOAD_TTL: i64 = 15 * 60;

/// A token for the LFS objects of `ns/name` only (write when `who` may write them, else read),
/// for uploads from the browser: the token and its scope.
pub async fn upload_token(
    core: &Core,
    who: &Principal,
    ns: &str,
    name: &str,
) -> Result<(String, String)> {
    let Principal::User { user, family, .. } = who else {
        return Err(if who.is_anonymous() {
            Error::unauthorized("authentication required")
        } else {
            Error::forbidden("upload tokens are for users")
        });
    };
    // Minting needs a credential that reaches the dataset itself (a session, a `*` or `dataset:`
    // token): an `obj:` token, an upload token included, cannot mint another one, so a leaked
    // upload token dies within its 15 minutes.
    let repo = gate::dataset(core, who, ns, name, Action::Read).await?;
    // A minted token never exceeds the one that minted it: it reaches every object of the
    // dataset only if the caller's own credential does.
    let action = if repo.allows(On::Objects, Action::Write) {
        "write"
    } else if repo.allows(On::Objects, Action::Read) {
        "read"
    } else {
        return Err(Error::forbidden(
            "your token reaches only some objects of this dataset; it cannot mint a wider one",
        ));
    };
    let scope = format!("obj:{}/*:{action}", repo.path());
    let mut claims = core.jwt.claims(&user.username, &scope, UPLOAD_TTL);
    claims.uid = Some(user.id);
    // Minted from an OAuth grant: it dies with the grant.
    claims.fam = family.clone();
    let token = core.jwt.sign(&claims).map_err(Error::internal)?;
    Ok((token, scope))
}
