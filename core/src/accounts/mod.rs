//! Accounts in the browser: sign-up (open, by invitation, or closed), password login with its
//! throttling, and logout. Failed logins are throttled per username and per client address; the
//! answer and its timing are the same whether or not the username exists. Each refusal is an
//! [`Error`] whose kind says the status and whose message is meant for the person at the form.
//! Deleting an account: [`delete`].

use serde_json::json;

pub mod delete;

use crate::audit;
use crate::auth::{password, secrets, session};
use crate::config::Signup;
use crate::db::{now, User};
use crate::error::{Error, Result};
use crate::Core;

/// Failed logins within this window count towards the limits below.
pub const WINDOW_SECS: i64 = 15 * 60;
pub const MAX_FAILURES_PER_USER: i64 = 5;
pub const MAX_FAILURES_PER_IP: i64 = 50;

/// Whether the sign-up form is closed: `--signup admin`, or passwords turned off.
pub fn signup_closed(core: &Core) -> bool {
    core.settings.signup == Signup::Admin || !core.settings.password_login
}

/// What the sign-up form sends.
pub struct NewAccount<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub password: &'a str,
    /// The password typed again.
    pub password2: &'a str,
    /// The invitation code (`--signup invite`).
    pub invite: &'a str,
}

/// Makes an account from the sign-up form, with its password set, and starts its session: the
/// user and the session's id (its cookie's value).
pub async fn sign_up(core: &Core, form: NewAccount<'_>) -> Result<(User, String)> {
    if signup_closed(core) {
        return Err(Error::forbidden("Sign-up is closed on this server."));
    }
    let (username, email) = (form.username, form.email);
    let taken = || Error::conflict("That username is taken.");
    crate::names::check_namespace(username).map_err(|e| Error::unprocessable(e.to_string()))?;
    if core.db.org_by_name(username).await?.is_some() {
        return Err(taken());
    }
    if !email.contains('@') || email.len() > 254 || email.chars().any(char::is_whitespace) {
        return Err(Error::unprocessable("Enter a valid email address."));
    }
    password::check_new(form.password, username)
        .map_err(|e| Error::unprocessable(format!("Password: {e}.")))?;
    if form.password != form.password2 {
        return Err(Error::unprocessable("The two passwords differ."));
    }
    let bad_invite = || Error::forbidden("That invitation code is not valid.");
    let invite_hash = secrets::stored(form.invite.trim());
    let invited = core.settings.signup == Signup::Invite;
    if invited && !core.db.invitation_is_open(&invite_hash).await? {
        return Err(bad_invite());
    }
    if core.db.namespace_taken(username).await? {
        return Err(taken());
    }
    let user = match core.db.create_user(username, Some(email), false).await {
        Ok(user) => user,
        Err(crate::db::Error::Conflict) => return Err(taken()),
        Err(e) => return Err(e.into()),
    };
    if invited && !core.db.use_invitation(&invite_hash, user.id).await? {
        core.db.delete_user(user.id).await?;
        return Err(bad_invite());
    }
    let hash = core.hasher.hash(form.password.to_owned()).await?;
    core.db.set_password(user.id, &hash).await?;
    audit::record(core, "signup", Some(username), Some(username), json!({})).await?;
    let session = session::start(core, user.id).await?;
    Ok((user, session))
}

/// Signs `username` in with `password`: the user and a new session's id. The browser's old
/// session (`replaced`, its id hash), if any, ends: a new session id at every login.
pub async fn log_in(
    core: &Core,
    username: &str,
    password: &str,
    replaced: Option<&str>,
) -> Result<(User, String)> {
    if !core.settings.password_login {
        return Err(Error::forbidden(
            "Password sign-in is turned off on this server: use a sign-in provider.",
        ));
    }
    let ip = crate::context::current().ip;
    // Failures count against the account whatever the spelling (logins ignore case), in a key
    // space of their own (share-link password guesses are counted in the same table).
    let key = format!("login:{}", username.to_lowercase());
    let (by_user, by_ip) = core
        .db
        .login_failures(&key, &ip, now() - WINDOW_SECS)
        .await?;
    if by_user >= MAX_FAILURES_PER_USER || by_ip >= MAX_FAILURES_PER_IP {
        audit::record(core, "login.throttled", None, Some(username), json!({})).await?;
        return Err(Error::too_many(
            "Too many failed logins. Wait a few minutes, then try again.",
        ));
    }
    let found = core.db.user_with_password(username).await?;
    let stored = found.as_ref().and_then(|(_, h)| h.clone());
    let ok = core.hasher.verify(password.to_owned(), stored).await?;
    let user = match (ok, found) {
        (true, Some((user, _))) => user,
        _ => {
            core.db.record_login_failure(&key, &ip).await?;
            audit::record(core, "login.failure", None, Some(username), json!({})).await?;
            return Err(Error::unauthorized("Wrong username or password."));
        }
    };
    core.db.clear_login_failures(&key).await?;
    if let Some(old) = replaced {
        core.db.delete_session(old).await?;
    }
    let session = session::start(core, user.id).await?;
    let name = Some(user.username.as_str());
    audit::record(core, "login.success", name, name, json!({})).await?;
    Ok((user, session))
}

/// Ends `user`'s session (`id_hash`).
pub async fn log_out(core: &Core, id_hash: &str, user: &User) -> Result<()> {
    session::end(core, id_hash).await?;
    let name = Some(user.username.as_str());
    audit::record(core, "logout", name, name, json!({})).await?;
    Ok(())
}

/// What the settings page shows of an account.
pub struct Overview {
    /// Personal access tokens not expired or revoked.
    pub tokens: Vec<crate::db::TokenRow>,
    /// OAuth applications the user registered.
    pub clients: Vec<crate::db::OauthClient>,
    /// Identities at sign-in providers linked to the account.
    pub identities: Vec<crate::db::Identity>,
    pub has_password: bool,
    /// Whether an identity may be unlinked: the account keeps another way in.
    pub can_unlink: bool,
}

pub async fn overview(core: &Core, user: &User) -> Result<Overview> {
    let tokens = core.db.live_tokens_of(user.id).await?;
    let clients = core.db.clients_of(user.id).await?;
    let identities = core.db.identities_of(user.id).await?;
    let has_password = has_password(core, user).await?;
    let can_unlink = identities.len() > 1 || (has_password && core.settings.password_login);
    Ok(Overview {
        tokens,
        clients,
        identities,
        has_password,
        can_unlink,
    })
}

async fn has_password(core: &Core, user: &User) -> Result<bool> {
    let found = core.db.user_with_password(&user.username).await?;
    Ok(found.and_then(|(_, h)| h).is_some())
}

/// Changes `user`'s password (`new`, typed twice) after checking `current`; an account made
/// through a sign-in provider has none yet, and its session sets one. Every other session of the
/// user (all but `keep`, an id hash) ends.
pub async fn change_password(
    core: &Core,
    user: &User,
    keep: &str,
    current: &str,
    new: &str,
    new2: &str,
) -> Result<()> {
    let stored = core
        .db
        .user_with_password(&user.username)
        .await?
        .and_then(|(_, h)| h);
    let ok = match stored {
        None => true,
        stored => core.hasher.verify(current.to_owned(), stored).await?,
    };
    if !ok {
        return Err(Error::forbidden("The current password is wrong."));
    }
    password::check_new(new, &user.username)
        .map_err(|e| Error::unprocessable(format!("New password: {e}.")))?;
    if new != new2 {
        return Err(Error::unprocessable("The two new passwords differ."));
    }
    let hash = core.hasher.hash(new.to_owned()).await?;
    core.db.set_password(user.id, &hash).await?;
    core.db.delete_other_sessions(user.id, keep).await?;
    let name = Some(user.username.as_str());
    audit::record(core, "password.change", name, name, json!({})).await
}

/// Makes a personal access token named `name` for `user` with `scopes`, expiring after
/// `expires_in_days` if given: its secret, shown once and stored hashed. The audit log names
/// `actor` as who made it (the user, or `admin-cli`).
pub async fn create_token(
    core: &Core,
    actor: &str,
    user: &User,
    name: &str,
    scopes: &str,
    expires_in_days: Option<i64>,
) -> Result<String> {
    let scopes =
        crate::auth::Scopes::parse(scopes).map_err(|e| Error::unprocessable(e.to_string()))?;
    if name.trim().is_empty() || name.len() > 100 {
        return Err(Error::unprocessable(
            "a token needs a name of 1 to 100 characters",
        ));
    }
    let secret = crate::auth::pat::generate(&core.jwt.derive(crate::auth::pat::PURPOSE));
    let expires_at = expires_in_days.map(|d| now() + d * 86400);
    let hash = crate::auth::pat::hash(&secret);
    match core
        .db
        .create_token(user.id, name, &hash, &scopes.to_string(), expires_at)
        .await
    {
        Ok(_) => {}
        Err(crate::db::Error::Conflict) => {
            return Err(Error::conflict(format!(
                "{} has a token named {name:?} already: revoke it or pick another name",
                user.username
            )))
        }
        Err(e) => return Err(e.into()),
    }
    let detail = json!({"name": name, "scopes": scopes.to_string()});
    let subject = Some(user.username.as_str());
    audit::record(core, "token.create", Some(actor), subject, detail).await?;
    Ok(secret)
}

/// Revokes `user`'s token `name`; whether there was one.
pub async fn revoke_token(core: &Core, user: &User, name: &str) -> Result<bool> {
    let revoked = core.db.revoke_token(user.id, name).await?;
    if revoked {
        let who = Some(user.username.as_str());
        audit::record(core, "token.revoke", who, who, json!({"name": name})).await?;
    }
    Ok(revoked)
}
