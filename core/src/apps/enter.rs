//! The app proxy's one question, "may this request go on to this app?", and its one decision
//! ([`Decision`]): pass (with the visitor, the owner, the install and the manifest), or where the
//! visitor goes instead: to sign in, to the owner's one spelling, over to the apps origin with a
//! ticket, or to the owner's consent. Everything it refuses is an [`Error`] (apps off, no such
//! install, not shared with the visitor, another app's host). Decisions are reused for a second
//! per credential and instance ([`super::Passes`]); the HTTP side only reads the request and
//! answers the decision (`crate::http::proxy`).

use strata_apps::Manifest;

use super::ticket::{self, Pass as Ticket};
use super::{awaits_consent, consent_error, entry, Apps, Origin, Pass};
use crate::auth::{self, session, Principal};
use crate::db::{InstallRow, User};
use crate::error::{Error, Result};
use crate::Core;

/// What identifies the visitor in a request.
#[derive(Debug, Clone)]
pub enum Credential {
    /// A token from the `Authorization` header (Bearer, or Basic's password).
    Token(String),
    /// The app's own cookie (read on the apps origin only).
    AppCookie(String),
    /// strata's session cookie (read on strata's origin only).
    Session(String),
    /// Nothing.
    None,
}

impl Credential {
    /// The key of the decision cache.
    fn key(&self) -> Option<String> {
        match self {
            Credential::Token(t) => Some(format!("token {t}")),
            Credential::AppCookie(c) => Some(format!("app {c}")),
            Credential::Session(s) => Some(format!("session {s}")),
            Credential::None => None,
        }
    }
}

/// One request to `owner`'s `app`, as the proxy read it.
pub struct Visit<'a> {
    pub owner: &'a str,
    pub app: &'a str,
    pub credential: Credential,
    /// The host the request was sent to (its authority or `Host`).
    pub host: &'a str,
    /// The path and query as sent, still encoded.
    pub target: &'a str,
}

/// The decision.
#[derive(Debug)]
pub enum Decision {
    /// On to the instance: (visitor, owner, install, manifest).
    Pass(Box<Pass>),
    /// Nobody is signed in: a browser goes to `to` (strata's sign-in page, or strata's origin,
    /// which hands out a ticket); an API client is told to authenticate.
    SignIn { to: String },
    /// The owner's name spelled another way: the same path under its one spelling.
    Moved { to: String },
    /// A browser with strata's session goes over to the apps origin with a ticket.
    Ticket { to: String },
    /// The install waits for its owner to consent again.
    NeedsConsent {
        owner: String,
        /// The consent page, when the visitor is the owner.
        consent_url: Option<String>,
        manifest: Box<Manifest>,
        error: Error,
    },
}

/// Decides `visit`.
pub async fn enter(core: &Core, visit: Visit<'_>) -> Result<Decision> {
    let apps = &core.apps;
    if apps.origin == Origin::Off {
        return Err(Error::not_found(
            "apps are not served by this server: its admin sets --apps-origin (or --apps-same-origin)",
        ));
    }
    let on_apps_origin = apps.host_label(visit.host).is_some();
    let key = visit.credential.key();
    let generation = apps.passes.generation();
    let cached = key
        .as_deref()
        .and_then(|k| apps.passes.get(k, visit.owner, visit.app));
    let pass = match cached {
        Some(pass) => pass,
        None => {
            let visitor = match visitor(core, &visit, on_apps_origin).await? {
                Ok(visitor) => visitor,
                Err(to) => return Ok(Decision::SignIn { to }),
            };
            let (owner, install, manifest) = usable(core, &visitor, visit.owner, visit.app).await?;
            let pass = (visitor, owner, install, manifest);
            if let Some(k) = key.as_deref() {
                apps.passes
                    .put(k, visit.owner, visit.app, generation, pass.clone());
            }
            pass
        }
    };
    let (visitor, owner, install, manifest) = &pass;
    if owner.username != visit.owner {
        return Ok(Decision::Moved {
            to: respelled(visit.target, &owner.username, visit.app),
        });
    }
    if !apps.serves_on(visit.host, &owner.username, visit.app) {
        return Err(Error::not_found("this host serves another app"));
    }
    if awaits_consent(install) {
        return Ok(Decision::NeedsConsent {
            owner: owner.username.clone(),
            consent_url: (visitor.id == owner.id)
                .then(|| format!("{}/app-catalog/{}", core.settings.public_url, manifest.id)),
            manifest: Box::new(manifest.clone()),
            error: consent_error(&owner.username, &manifest.id),
        });
    }
    if let (Origin::Separate(_), Credential::Session(id)) = (&apps.origin, &visit.credential) {
        if !on_apps_origin {
            return ticket_to(core, id, visitor, owner, visit.app, visit.target).await;
        }
    }
    Ok(Decision::Pass(Box::new(pass)))
}

/// The visitor, or (as `Ok(Err(to))`) where a browser goes to sign in.
async fn visitor(
    core: &Core,
    visit: &Visit<'_>,
    on_apps_origin: bool,
) -> Result<std::result::Result<User, String>> {
    let public = &core.settings.public_url;
    match &visit.credential {
        Credential::Token(secret) => match auth::authenticate(core, secret).await? {
            who @ Principal::User { .. } => {
                Ok(Ok(who.full_user().map_err(|_| star_only())?.clone()))
            }
            _ => Err(star_only()),
        },
        Credential::AppCookie(cookie) if on_apps_origin => {
            match ticket::visitor(core, cookie, visit.owner, visit.app).await {
                Some(visitor) => Ok(Ok(visitor)),
                None => Ok(Err(format!("{public}{}", visit.target))),
            }
        }
        Credential::Session(id) if !on_apps_origin => match session::lookup(core, id).await? {
            Some((_, s)) => Ok(Ok(s.user)),
            None => Ok(Err(sign_in(public, visit.target))),
        },
        // Back to strata's origin, which knows the session and hands out a ticket.
        _ if on_apps_origin => Ok(Err(format!("{public}{}", visit.target))),
        _ => Ok(Err(sign_in(public, visit.target))),
    }
}

fn star_only() -> Error {
    Error::forbidden("apps are reached with a session or a token with the * scope")
}

fn sign_in(public_url: &str, target: &str) -> String {
    let next = serde_urlencoded::to_string([("next", target)]).unwrap_or_default();
    format!("{public_url}/login?{next}")
}

/// `owner`'s install of `app` and its manifest, if `visitor` is the owner or someone the owner
/// shares it with. An install that waits for renewed consent comes back too.
async fn usable(
    core: &Core,
    visitor: &User,
    owner: &str,
    app: &str,
) -> Result<(User, InstallRow, Manifest)> {
    let nobody = || Error::not_found(format!("{owner} has no app {app:?} installed"));
    let owner = core.db.user_by_name(owner).await?.ok_or_else(nobody)?;
    let install = core
        .db
        .app_install(owner.id, app)
        .await?
        .ok_or_else(nobody)?;
    if visitor.id != owner.id && !core.db.app_shared_with(owner.id, app, visitor.id).await? {
        return Err(Error::forbidden(format!(
            "only {} and the people they share it with may use {}'s {app}",
            owner.username, owner.username
        )));
    }
    let manifest = entry(core, app).await?.manifest;
    Ok((owner, install, manifest))
}

/// `target` (`/apps/{any spelling}/{app}/rest?query`) under the owner's one spelling.
fn respelled(target: &str, owner: &str, app: &str) -> String {
    let (path, query) = target
        .split_once('?')
        .map_or((target, String::new()), |(p, q)| (p, format!("?{q}")));
    let after: String = path.splitn(4, '/').skip(3).collect();
    let rest = after.split_once('/').map_or("", |(_, r)| r);
    format!("/apps/{owner}/{app}/{rest}{query}")
}

/// The way over to the apps origin: a ticket for the visitor's session, good for a minute.
async fn ticket_to(
    core: &Core,
    session_id: &str,
    visitor: &User,
    owner: &User,
    app: &str,
    target: &str,
) -> Result<Decision> {
    let Some((session, _)) = session::lookup(core, session_id).await? else {
        return Err(Error::unauthorized("sign in to strata first"));
    };
    let pass = Ticket {
        visitor: visitor.id,
        session,
        owner: owner.username.clone(),
        app: app.to_owned(),
    };
    let key = core.jwt.derive("strata app passes");
    let query = serde_urlencoded::to_string([
        ("ticket", ticket::sign(&key, "ticket", &pass, 60).as_str()),
        ("next", target),
    ])
    .unwrap_or_default();
    let origin = core
        .apps
        .origin_of(&core.settings.public_url, &owner.username, app)
        .unwrap_or_default();
    Ok(Decision::Ticket {
        to: format!("{origin}/_apps/enter?{query}"),
    })
}

/// How long a visitor's app cookie lasts.
pub const COOKIE_SECS: i64 = 8 * 3600;

/// A visitor arriving on the apps origin with a ticket: the app cookie's value and where to go.
#[derive(Debug)]
pub struct Admitted {
    /// The app's path prefix (`/apps/{owner}/{app}/`), the cookie's path.
    pub prefix: String,
    /// Where to go: `next`, under that prefix.
    pub next: String,
    /// The cookie's value, good for [`COOKIE_SECS`].
    pub cookie: String,
    /// Whether the apps origin is HTTPS (the cookie is then `Secure`).
    pub secure: bool,
}

/// `GET /_apps/enter?ticket=…&next=…` on `host`: trades strata's ticket for the app's cookie.
pub fn admit(core: &Core, host: &str, ticket_value: &str, next: &str) -> Result<Admitted> {
    let apps = &core.apps;
    let Origin::Separate(url) = &apps.origin else {
        return Err(Error::not_found("no such endpoint"));
    };
    if apps.host_label(host).is_none() {
        return Err(Error::not_found("no such endpoint"));
    }
    let key = core.jwt.derive("strata app passes");
    let pass = ticket::verify(&key, "ticket", ticket_value)
        .ok_or_else(|| Error::forbidden("this link to the app expired: open the app again"))?;
    if !apps.serves_on(host, &pass.owner, &pass.app) {
        return Err(Error::not_found("this host serves another app"));
    }
    let prefix = super::launch::base_path(&pass.owner, &pass.app);
    let next = ticket::next_under(&prefix, next)
        .ok_or_else(|| Error::bad_request("next must be a path under the app"))?;
    Ok(Admitted {
        cookie: ticket::sign(&key, "cookie", &pass, COOKIE_SECS),
        secure: url.scheme() == "https",
        prefix,
        next,
    })
}

impl Apps {
    /// On the apps origin, the request's host label: `Some("")` for the one apps origin,
    /// `Some(label)` for an instance's own origin under a wildcard `--apps-origin`; `None`
    /// elsewhere (strata's own origin).
    pub fn host_label(&self, host: &str) -> Option<String> {
        let Origin::Separate(url) = &self.origin else {
            return None;
        };
        let host = host.to_ascii_lowercase();
        let want = match url.port() {
            Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_owned(),
        }
        .to_ascii_lowercase();
        match want.strip_prefix('*') {
            None => (host == want).then(String::new),
            Some(suffix) => host
                .strip_suffix(suffix)
                .filter(|label| !label.is_empty() && !label.contains('.'))
                .map(str::to_owned),
        }
    }

    /// Whether a request to `host` may reach `owner`'s `app`: under a wildcard apps origin, an
    /// instance answers on its own host only.
    pub fn serves_on(&self, host: &str, owner: &str, app: &str) -> bool {
        match self.host_label(host) {
            Some(label) if self.per_instance() => label == super::instance_label(owner, app),
            _ => true,
        }
    }
}
