//! One sign-in through a provider, start to finish. The start records it (state hash, nonce,
//! PKCE verifier, where to go after, the account to link) for [`TTL_SECS`]; the callback takes
//! that record, so a state works once, then checks the provider's answer, signs the user in (or
//! links the identity) and starts a new session. Binding the state to the browser that started
//! it is the HTTP layer's part (a cookie).

use crate::auth::session;
use crate::db::{now, PendingLogin, User};
use crate::error::{Error, Result};
use crate::Core;

use super::{Begun, Provider};

/// How long a started sign-in may take.
pub const TTL_SECS: i64 = 600;

/// Starts a sign-in with `p` that comes back to `redirect`: where to send the browser, and the
/// state the callback must bring. `link_to` is the signed-in account that asked to link one.
pub async fn begin(
    core: &Core,
    p: &Provider,
    redirect: &str,
    next: String,
    link_to: Option<&User>,
) -> Result<Begun> {
    let begun = core.sso.client.begin(p, redirect).await?;
    let pending = PendingLogin {
        provider: p.id.clone(),
        nonce: begun.nonce.clone(),
        verifier: begun.verifier.clone(),
        next,
        link_user_id: link_to.map(|u| u.id),
        expires_at: now() + TTL_SECS,
    };
    let hash = crate::auth::secrets::stored(&begun.state);
    core.db.start_sso_login(&hash, &pending).await?;
    Ok(begun)
}

/// The provider's answer at the callback.
#[derive(Debug, Default)]
pub struct Answer<'a> {
    pub state: &'a str,
    pub code: Option<&'a str>,
    pub error: Option<&'a str>,
    pub error_description: Option<&'a str>,
}

/// The browser at the callback: its session, if signed in (the user and the session's id hash).
pub struct Browser<'a> {
    pub session: Option<(&'a User, &'a str)>,
}

/// How a finished sign-in ends.
#[derive(Debug)]
pub enum Finished {
    /// The identity is now linked to the signed-in account.
    Linked,
    /// Signed in: the new session's id (its cookie's value), and where the sign-in asked to go
    /// after.
    SignedIn { session: String, next: String },
}

/// Finishes the sign-in `answer.state` names: the record is taken whatever happens next.
pub async fn finish(
    core: &Core,
    p: &Provider,
    redirect: &str,
    answer: Answer<'_>,
    browser: Browser<'_>,
) -> Result<Finished> {
    let again = "Start again from the login page.";
    let pending = core
        .db
        .take_sso_login(&crate::auth::secrets::stored(answer.state))
        .await?;
    let Some(pending) = pending.filter(|l| l.provider == p.id && l.expires_at >= now()) else {
        return Err(Error::bad_request(format!(
            "This sign-in was used already or has expired. {again}"
        )));
    };
    if let Some(error) = answer.error {
        let detail: String = answer
            .error_description
            .unwrap_or("")
            .chars()
            .take(300)
            .collect();
        let error: String = error.chars().take(100).collect();
        return Err(Error::forbidden(format!(
            "{} did not sign you in ({error}) {detail}",
            p.name
        )));
    }
    let Some(code) = answer.code.filter(|c| !c.is_empty()) else {
        return Err(Error::bad_request("The sign-in answer has no code."));
    };
    if let Some(uid) = pending.link_user_id {
        // Linking is for the account that asked, still signed in here.
        if browser.session.map(|(u, _)| u.id) != Some(uid) {
            return Err(Error::forbidden(
                "Sign in to the account you want to link first.",
            ));
        }
    }
    let claims = core
        .sso
        .client
        .finish(p, redirect, code, &pending.nonce, &pending.verifier)
        .await?;
    let done = super::sign_in(core, p, &claims, pending.link_user_id).await?;
    if done.linked {
        return Ok(Finished::Linked);
    }
    // A new session id at every sign-in, as with passwords.
    if let Some((_, old)) = browser.session {
        core.db.delete_session(old).await?;
    }
    let session = session::start(core, done.user.id).await?;
    Ok(Finished::SignedIn {
        session,
        next: pending.next,
    })
}

/// Refuses to unlink `issuer`/`subject` from `user` when it is their only way in: no password
/// (or password sign-in is off) and no other linked provider that is still configured.
pub async fn another_way_in(core: &Core, user: &User, issuer: &str, subject: &str) -> Result<()> {
    let providers = core.sso.list();
    let configured = core
        .db
        .identities_of(user.id)
        .await?
        .into_iter()
        .filter(|i| i.issuer != issuer || i.subject != subject)
        .filter(|i| providers.iter().any(|p| p.issuer_key() == i.issuer))
        .count();
    let has_password = core.settings.password_login
        && core
            .db
            .user_with_password(&user.username)
            .await?
            .and_then(|(_, h)| h)
            .is_some();
    if configured == 0 && !has_password {
        return Err(Error::unprocessable(
            "this is your only way to sign in: set a password or link another account first",
        ));
    }
    Ok(())
}
