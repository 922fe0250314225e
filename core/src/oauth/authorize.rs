//! The authorization endpoint's rules: a request is checked before anyone sees a consent page
//! (known client, a registered redirect URI compared as a URL, the code flow only, PKCE S256,
//! required of public clients, and a scope that is known and narrower than `*`), and an
//! allowed consent becomes a one-minute code bound to its client, redirect URI, scope,
//! PKCE challenge and nonce, in a grant family of its own. Consents are remembered per user and
//! client: a later request for scopes already allowed skips the page, until the user forgets it
//! (which revokes that client's grants for them too).

use std::collections::BTreeSet;

use serde_json::json;

use super::CODE_TTL;
use crate::audit;
use crate::auth::{clients, secrets, Scopes};
use crate::db::{OauthClient, User};
use crate::error::Result;
use crate::Core;

/// What an authorization request asks for.
pub struct Request<'a> {
    pub response_type: &'a str,
    pub client_id: &'a str,
    pub redirect_uri: Option<&'a str>,
    pub scope: Option<&'a str>,
    pub code_challenge: Option<&'a str>,
    pub code_challenge_method: Option<&'a str>,
}

/// A request that may be shown to the user.
pub struct Checked {
    pub client: OauthClient,
    pub redirect_uri: String,
    pub scope: String,
}

/// Why a request is refused.
pub enum Refused {
    /// Before the redirect URI is trusted: said on strata's own page.
    Page(&'static str),
    /// Sent back to the client's redirect URI as `error` and `error_description`.
    Redirect {
        redirect_uri: String,
        error: &'static str,
        description: &'static str,
    },
}

pub async fn check(
    core: &Core,
    req: &Request<'_>,
) -> Result<std::result::Result<Checked, Refused>> {
    let Some(client) = core.db.client(req.client_id).await? else {
        return Ok(Err(Refused::Page("Unknown client.")));
    };
    let registered: Vec<&str> = client.redirect_uris().collect();
    let redirect_uri = match req.redirect_uri {
        Some(uri) if registered.iter().any(|r| clients::redirect_matches(r, uri)) => uri.to_owned(),
        Some(_) => {
            return Ok(Err(Refused::Page(
                "The redirect URI is not registered for this client.",
            )))
        }
        None if registered.len() == 1 => registered[0].to_owned(),
        None => return Ok(Err(Refused::Page("The request needs a redirect_uri."))),
    };
    let fail = |error, description| {
        Ok(Err(Refused::Redirect {
            redirect_uri: redirect_uri.clone(),
            error,
            description,
        }))
    };
    if req.response_type != "code" {
        return fail(
            "unsupported_response_type",
            "only the code flow is supported",
        );
    }
    match (req.code_challenge, req.code_challenge_method) {
        (Some(c), Some("S256")) if c.len() == 43 => {}
        (Some(_), _) => {
            return fail(
                "invalid_request",
                "PKCE needs code_challenge_method S256 and a 43-character challenge",
            )
        }
        (None, _) if !client.is_confidential() => {
            return fail("invalid_request", "public clients must use PKCE (S256)")
        }
        (None, _) => {}
    }
    let scope = req.scope.unwrap_or("openid").to_owned();
    if Scopes::parse(&scope).is_err() || scope.split_whitespace().any(|s| s == "*") {
        return fail("invalid_scope", "unknown or too broad scope");
    }
    Ok(Ok(Checked {
        client,
        redirect_uri,
        scope,
    }))
}

/// Whether `user` allowed `checked`'s client every scope it asks for now before, so that the
/// consent page need not ask again (a consent remembered by [`allow`], until the user forgets it).
///
/// Only for a client whose identity its redirect URI proves (RFC 8252 §8.6): a confidential
/// one, or an `https` URI off this machine. A public client answering on a loopback port or a
/// custom scheme could be anything running there, so it is asked every time.
pub async fn remembered(core: &Core, user: &User, checked: &Checked) -> Result<bool> {
    let proven = checked.client.is_confidential()
        || url::Url::parse(&checked.redirect_uri).is_ok_and(|u| {
            u.scheme() == "https"
                && match u.host() {
                    Some(url::Host::Ipv4(ip)) => !ip.is_loopback(),
                    Some(url::Host::Ipv6(ip)) => !ip.is_loopback(),
                    Some(url::Host::Domain(d)) => !d.eq_ignore_ascii_case("localhost"),
                    None => false,
                }
        });
    if !proven {
        return Ok(false);
    }
    let Some(given) = core.db.consent(user.id, &checked.client.client_id).await? else {
        return Ok(false);
    };
    let given: BTreeSet<&str> = given.split_whitespace().collect();
    Ok(checked.scope.split_whitespace().all(|s| given.contains(s)))
}

/// The clients `user` allowed, with the scopes each was allowed.
pub async fn consents(core: &Core, user: &User) -> Result<Vec<crate::db::ConsentRow>> {
    Ok(core.db.consents_of(user.id).await?)
}

/// Forgets `user`'s consent to `client_id` and revokes that client's grants for them: its tokens
/// stop working, and its next sign-in asks again.
pub async fn forget(core: &Core, user: &User, client_id: &str) -> Result<()> {
    if !core.db.forget_consent(user.id, client_id).await? {
        return Err(crate::error::Error::not_found(
            "that application has no consent of yours",
        ));
    }
    let actor = Some(user.username.as_str());
    let detail = json!({ "client_id": client_id });
    audit::record(core, "oauth.consent.revoke", actor, Some(client_id), detail).await
}

/// `user` allowed `checked` (on the consent page, or `asked: false` through a consent
/// remembered): the code to send back to the client. The consent is remembered, its scopes
/// joined to those allowed before.
pub async fn allow(
    core: &Core,
    user: &User,
    checked: &Checked,
    (code_challenge, nonce): (Option<&str>, Option<&str>),
    asked: bool,
) -> Result<String> {
    let family = uuid::Uuid::new_v4().simple().to_string();
    let client_id = &checked.client.client_id;
    core.db
        .create_family(&family, client_id, Some(user.id))
        .await?;
    let code = secrets::random_hex(32);
    core.db
        .create_code(
            &secrets::stored(&code),
            &family,
            client_id,
            user.id,
            &checked.redirect_uri,
            &checked.scope,
            code_challenge,
            nonce,
            CODE_TTL,
        )
        .await?;
    let before = core
        .db
        .consent(user.id, client_id)
        .await?
        .unwrap_or_default();
    let scopes: BTreeSet<&str> = before
        .split_whitespace()
        .chain(checked.scope.split_whitespace())
        .collect();
    let joined = scopes.into_iter().collect::<Vec<_>>().join(" ");
    core.db
        .remember_consent(user.id, client_id, &joined)
        .await?;
    let detail = json!({"client_id": client_id, "scope": checked.scope, "asked": asked});
    let actor = Some(user.username.as_str());
    audit::record(core, "oauth.consent", actor, Some(client_id), detail).await?;
    Ok(code)
}
