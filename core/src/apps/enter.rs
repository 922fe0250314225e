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
            // Who asks comes first: nobody learns which instances exist before signing in,
            // except that a public shared instance lets anyone in.
            let (visitor, target) = match visitor(core, &visit, on_apps_origin).await? {
                Ok(visitor) => (Some(visitor), target(core, visit.owner, visit.app).await?),
                Err(to) => {
                    let public = match visit.credential {
                        Credential::None => target(core, visit.owner, visit.app)
                            .await
                            .ok()
                            .filter(Target::public),
                        _ => None,
                    };
                    let Some(target) = public else {
                        return Ok(Decision::SignIn { to });
                    };
                    if !on_apps_origin {
                        // Anyone may use it, at its own host.
                        let origin = apps.shared_origin(visit.app).unwrap_or_default();
                        return Ok(Decision::Moved {
                            to: format!("{origin}{}", visit.target),
                        });
                    }
                    (None, target)
                }
            };
            if let Some(visitor) = &visitor {
                admitted(core, visitor, &target).await?;
            }
            let pass = Pass {
                visitor,
                owner: target.owner,
                runs_as: target.runs_as,
                install: target.install,
                manifest: target.manifest,
                shared: target.shared.is_some(),
            };
            if let Some(k) = key.as_deref() {
                apps.passes
                    .put(k, visit.owner, visit.app, generation, pass.clone());
            }
            pass
        }
    };
    if pass.owner != visit.owner {
        return Ok(Decision::Moved {
            to: respelled(visit.target, &pass.owner, visit.app),
        });
    }
    if !apps.serves_on(visit.host, &pass.owner, visit.app, pass.shared) {
        return Err(Error::not_found("this host serves another app"));
    }
    if awaits_consent(&pass.install) {
        let publisher = &pass.runs_as;
        return Ok(Decision::NeedsConsent {
            owner: publisher.username.clone(),
            consent_url: (pass.visitor.as_ref().map(|v| v.id) == Some(publisher.id)).then(|| {
                format!(
                    "{}/app-catalog/{}",
                    core.settings.public_url, pass.manifest.id
                )
            }),
            manifest: Box::new(pass.manifest.clone()),
            error: consent_error(&publisher.username, &pass.manifest.id),
        });
    }
    if let (Origin::Separate(_), Credential::Session(id), Some(visitor)) =
        (&apps.origin, &visit.credential, &pass.visitor)
    {
        if !on_apps_origin {
            return ticket_to(core, id, visitor, &pass, visit.target).await;
        }
    }
    Ok(Decision::Pass(Box::new(pass)))
}

/// The instance a request names: a user's own, or an organisation's shared one.
struct Target {
    /// The name it is kept under, as spelled here.
    owner: String,
    runs_as: User,
    install: InstallRow,
    manifest: Manifest,
    /// The shared instance's publication.
    shared: Option<crate::db::SharedAppRow>,
}

impl Target {
    /// Anyone may use it (a public shared instance).
    fn public(&self) -> bool {
        self.shared.as_ref().is_some_and(|s| s.is_public())
    }
}

/// `owner`'s install of `app`, or the shared instance of `app` kept under `owner`. An install
/// that waits for renewed consent comes back too.
async fn target(core: &Core, owner: &str, app: &str) -> Result<Target> {
    let nobody = || Error::not_found(format!("{owner} has no app {app:?} installed"));
    let manifest = || async { entry(core, app).await.map(|e| e.manifest) };
    if let Some(user) = core.db.user_by_name(owner).await? {
        let install = core
            .db
            .app_install(user.id, app)
            .await?
            .ok_or_else(nobody)?;
        return Ok(Target {
            owner: user.username.clone(),
            runs_as: user,
            install,
            manifest: manifest().await?,
            shared: None,
        });
    }
    let (row, publisher, install) = super::shared::instance(core, owner, app)
        .await?
        .ok_or_else(nobody)?;
    if core.apps.shared_origin(app).is_none() {
        return Err(Error::not_found(
            "shared instances are served at their own host under --apps-origin, which this server does not set",
        ));
    }
    Ok(Target {
        owner: row.org.clone(),
        runs_as: publisher,
        install,
        manifest: manifest().await?,
        shared: Some(row),
    })
}

/// Whether `visitor` may use `target`: its owner and those the owner shares it with; for a
/// shared instance, the organisation's members (anyone, when public).
async fn admitted(core: &Core, visitor: &User, target: &Target) -> Result<()> {
    let ok = match &target.shared {
        None => {
            visitor.id == target.runs_as.id
                || core
                    .db
                    .app_shared_with(target.runs_as.id, &target.manifest.id, visitor.id)
                    .await?
        }
        Some(row) => row.is_public() || core.db.org_role(row.org_id, visitor.id).await?.is_some(),
    };
    if ok {
        return Ok(());
    }
    let app = &target.manifest.id;
    match &target.shared {
        None => Err(Error::forbidden(format!(
            "only {0} and the people they share it with may use {0}'s {app}",
            target.owner
        ))),
        // An organisation's instance is not announced to those outside it.
        Some(row) => Err(Error::not_found(format!(
            "{} has no app {app:?} installed",
            row.org
        ))),
    }
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
    to: &Pass,
    target: &str,
) -> Result<Decision> {
    let (owner, app) = (to.owner.as_str(), to.manifest.id.as_str());
    let Some((session, _)) = session::lookup(core, session_id).await? else {
        return Err(Error::unauthorized("sign in to strata first"));
    };
    let pass = Ticket {
        visitor: visitor.id,
        session,
        owner: owner.to_owned(),
        app: app.to_owned(),
    };
    let key = core.jwt.derive("strata app passes");
    let query = serde_urlencoded::to_string([
        ("ticket", ticket::sign(&key, "ticket", &pass, 60).as_str()),
        ("next", target),
    ])
    .unwrap_or_default();
    let origin = if to.shared {
        core.apps.shared_origin(app)
    } else {
        core.apps.origin_of(&core.settings.public_url, owner, app)
    }
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
pub async fn admit(core: &Core, host: &str, ticket_value: &str, next: &str) -> Result<Admitted> {
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
    let shared = super::shared::instance(core, &pass.owner, &pass.app)
        .await?
        .is_some();
    if !apps.serves_on(host, &pass.owner, &pass.app, shared) {
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
        if host == want {
            return Some(String::new());
        }
        // One label before the apps host (`*.` or not): an instance's own host, or a shared one's.
        let suffix = format!(".{}", want.strip_prefix("*.").unwrap_or(&want));
        host.strip_suffix(&suffix)
            .filter(|label| !label.is_empty() && !label.contains('.'))
            .map(str::to_owned)
    }

    /// Whether a request to `host` may reach the instance of `app` kept under `owner`: on the
    /// apps origin, a shared instance answers on `{app}.…` only, a user's on its own host under a
    /// wildcard apps origin, else on the one apps origin. (On strata's origin, API clients reach
    /// any; browsers are sent over with a ticket.)
    pub fn serves_on(&self, host: &str, owner: &str, app: &str, shared: bool) -> bool {
        match self.host_label(host) {
            None => true,
            Some(label) if shared => label == app,
            Some(label) if self.per_instance() => label == super::instance_label(owner, app),
            Some(label) => label.is_empty(),
        }
    }
}
