//! The signed-in user's settings: change the password (which ends their other sessions), and
//! create, list and revoke personal access tokens (a new token is shown once).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use askama::Template;

use super::forms::see_other;
use super::layout::{render, Chrome};
use super::show::human_size;
use super::signed_in::SignedIn;
use crate::http::csrf::CsrfForm;
use crate::http::error::ApiResult;
use crate::http::state::AppState;
use strata_core::accounts;
use strata_core::db::rfc3339;
use strata_core::db::SessionRow;

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    chrome: Chrome,
    username: String,
    email: Option<String>,
    tokens: Vec<TokenRow>,
    apps: Vec<AppRow>,
    /// Applications this user allowed: `(name, client id, scopes, last allowed)`.
    consents: Vec<(String, String, String, String)>,
    /// `(name, secret, S3 access key id)` of a token made just now.
    new_token: Option<(String, String, String)>,
    /// `(client id, secret)` of an application registered just now.
    new_app: Option<(String, Option<String>)>,
    /// Provider accounts linked to this one, and `(id, name)` of the providers it may link.
    identities: Vec<IdentityRow>,
    linkable: Vec<(String, String)>,
    /// Whether an identity may be unlinked: another way in remains.
    can_unlink: bool,
    password_login: bool,
    has_password: bool,
    /// Stored bytes of this user's datasets, and their quota.
    storage: String,
    /// The organisations this user belongs to, and the new one's name as typed (after a
    /// refusal).
    orgs: Vec<String>,
    org_typed: String,
    /// Whether this user's role makes organisations (engineers and admins).
    makes_orgs: bool,
}

struct IdentityRow {
    provider: String,
    login: String,
    last_login: String,
    issuer: String,
    subject: String,
}

struct TokenRow {
    name: String,
    scopes: String,
    created: String,
    expires: String,
}

struct AppRow {
    name: String,
    client_id: String,
    kind: &'static str,
    redirect_uris: Vec<String>,
}

/// What the settings page shows above its sections.
#[derive(Default)]
enum Shown {
    #[default]
    Nothing,
    Error(String),
    Notice(&'static str),
    Token(String, String),
    App(String, Option<String>),
    /// A new organisation refused: why, and its name as typed.
    Org(String, String),
}

async fn settings_page(
    state: &AppState,
    s: &SessionRow,
    status: StatusCode,
    shown: Shown,
) -> ApiResult<Response> {
    let overview = accounts::overview(state, &s.user).await?;
    let tokens = overview
        .tokens
        .into_iter()
        .map(|t| TokenRow {
            name: t.name,
            scopes: t.scopes,
            created: rfc3339(t.created_at),
            expires: t.expires_at.map(rfc3339).unwrap_or_else(|| "never".into()),
        })
        .collect();
    let apps = overview
        .clients
        .iter()
        .map(|c| AppRow {
            name: c.name.clone(),
            client_id: c.client_id.clone(),
            kind: if c.is_confidential() {
                "confidential"
            } else {
                "public (PKCE)"
            },
            redirect_uris: c.redirect_uris().map(str::to_owned).collect(),
        })
        .collect();
    let consents = strata_core::oauth::authorize::consents(state, &s.user)
        .await?
        .into_iter()
        .map(|c| (c.name, c.client_id, c.scope, rfc3339(c.updated_at)))
        .collect();
    let storage = storage_line(state, &s.user.username).await?;
    let orgs = strata_core::orgs::of_user(state, &s.user).await?;
    let need = strata_core::auth::Need::ManageMembers;
    let makes_orgs = state.has(&s.user, need).await?;
    let linked = &overview.identities;
    let providers = state.sso.list();
    let name_of = |id: &str| {
        providers
            .iter()
            .find(|p| p.id == id)
            .map_or_else(|| id.to_owned(), |p| p.name.clone())
    };
    let identities = linked
        .iter()
        .map(|i| IdentityRow {
            provider: name_of(&i.provider),
            login: i.login.clone(),
            last_login: rfc3339(i.last_login_at),
            issuer: i.issuer.clone(),
            subject: i.subject.clone(),
        })
        .collect();
    let linkable = providers
        .iter()
        .filter(|p| !linked.iter().any(|i| i.issuer == p.issuer_key()))
        .map(|p| (p.id.clone(), p.name.clone()))
        .collect();
    let can_unlink = overview.can_unlink;
    let mut chrome = Chrome::new("Settings", Some(s), "settings");
    let (mut new_token, mut new_app, mut org_typed) = (None, None, String::new());
    match shown {
        Shown::Nothing => {}
        Shown::Org(m, typed) => {
            chrome = chrome.error(m);
            org_typed = typed;
        }
        Shown::Error(m) => chrome = chrome.error(m),
        Shown::Notice(m) => chrome = chrome.notice(m),
        Shown::Token(name, secret) => {
            let key = strata_core::auth::pat::access_key_id(&secret).to_owned();
            new_token = Some((name, secret, key))
        }
        Shown::App(id, secret) => new_app = Some((id, secret)),
    }
    Ok(render(
        status,
        &SettingsPage {
            chrome,
            username: s.user.username.clone(),
            email: s.user.email.clone(),
            tokens,
            apps,
            consents,
            new_token,
            new_app,
            identities,
            linkable,
            can_unlink,
            password_login: state.settings.password_login,
            has_password: overview.has_password,
            storage,
            orgs,
            org_typed,
            makes_orgs,
        },
    ))
}

pub async fn show(State(state): State<AppState>, signed_in: SignedIn) -> ApiResult<Response> {
    let s = signed_in.session;
    settings_page(&state, &s, StatusCode::OK, Shown::Nothing).await
}

/// The settings page again, with why a new organisation was refused and its name as typed.
pub(super) async fn org_refused(
    state: &AppState,
    s: &SessionRow,
    status: StatusCode,
    message: &str,
    typed: &str,
) -> ApiResult<Response> {
    let shown = Shown::Org(message.to_owned(), typed.to_owned());
    settings_page(state, s, status, shown).await
}

/// The settings page again, with what was wrong.
async fn refused(
    state: &AppState,
    s: &SessionRow,
    status: StatusCode,
    message: &str,
) -> ApiResult<Response> {
    settings_page(state, s, status, Shown::Error(message.to_owned())).await
}

#[derive(Deserialize)]
pub struct PasswordForm {
    current: String,
    new: String,
    new2: String,
}

pub async fn password(
    State(state): State<AppState>,
    CsrfForm {
        signed_in: SignedIn {
            id_hash,
            session: s,
        },
        form,
    }: CsrfForm<PasswordForm>,
) -> ApiResult<Response> {
    let (current, new, new2) = (&form.current, &form.new, &form.new2);
    if let Err(e) = accounts::change_password(&state, &s.user, &id_hash, current, new, new2).await {
        let (status, message) = super::forms::refusal(e)?;
        return refused(&state, &s, status, &message).await;
    }
    let notice = Shown::Notice("Password changed. Your other sessions were ended.");
    settings_page(&state, &s, StatusCode::OK, notice).await
}

#[derive(Deserialize)]
pub struct TokenForm {
    name: String,
    scopes: String,
    #[serde(default)]
    expires_in_days: String,
}

pub async fn create_token(
    State(state): State<AppState>,
    CsrfForm {
        signed_in: SignedIn {
            id_hash: _,
            session: s,
        },
        form,
    }: CsrfForm<TokenForm>,
) -> ApiResult<Response> {
    let days = match form.expires_in_days.trim() {
        "" => None,
        d => match d.parse::<i64>() {
            Ok(n) if (1..=3650).contains(&n) => Some(n),
            _ => {
                let msg = "Expiry must be a whole number of days from 1 to 3650.";
                return refused(&state, &s, StatusCode::UNPROCESSABLE_ENTITY, msg).await;
            }
        },
    };
    let name = form.name.trim();
    let (actor, scopes) = (&s.user.username, form.scopes.trim());
    let created = accounts::create_token(&state, actor, &s.user, name, scopes, days).await;
    let secret = match created {
        Ok(secret) => secret,
        Err(e) => {
            let (status, message) = super::forms::refusal(e)?;
            return refused(&state, &s, status, &message).await;
        }
    };
    let shown = Shown::Token(name.to_owned(), secret);
    settings_page(&state, &s, StatusCode::OK, shown).await
}

#[derive(Deserialize)]
pub struct RevokeForm {
    name: String,
}

pub async fn revoke_token(
    State(state): State<AppState>,
    CsrfForm {
        signed_in: SignedIn {
            id_hash: _,
            session: s,
        },
        form,
    }: CsrfForm<RevokeForm>,
) -> ApiResult<Response> {
    accounts::revoke_token(&state, &s.user, &form.name).await?;
    Ok(see_other("/settings", &[]))
}

#[derive(Deserialize)]
pub struct ForgetForm {
    client_id: String,
}

/// Takes back the access given to an application: its tokens stop working, and its next sign-in
/// asks again.
pub async fn forget_app(
    State(state): State<AppState>,
    CsrfForm {
        signed_in: SignedIn {
            id_hash: _,
            session: s,
        },
        form,
    }: CsrfForm<ForgetForm>,
) -> ApiResult<Response> {
    match strata_core::oauth::authorize::forget(&state, &s.user, &form.client_id).await {
        Ok(()) => {
            let done = "Access taken back: its tokens stop working, and it asks again next time.";
            settings_page(&state, &s, StatusCode::OK, Shown::Notice(done)).await
        }
        Err(e) => {
            let (status, message) = super::forms::refusal(e)?;
            refused(&state, &s, status, &message).await
        }
    }
}

#[derive(Deserialize)]
pub struct AppForm {
    name: String,
    redirect_uris: String,
    #[serde(default)]
    confidential: Option<String>,
}

/// Registers an OAuth application; its id and (for a confidential one) secret are shown once.
pub async fn register_app(
    State(state): State<AppState>,
    CsrfForm {
        signed_in: SignedIn {
            id_hash: _,
            session: s,
        },
        form,
    }: CsrfForm<AppForm>,
) -> ApiResult<Response> {
    let uris: Vec<String> = form
        .redirect_uris
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    let confidential = form.confidential.is_some();
    let who = crate::http::extract::session_principal(&s)?;
    let made =
        strata_core::oauth::tokens::register(&state, &who, &form.name, &uris, confidential).await;
    let (client_id, secret) = match made {
        Ok(pair) => pair,
        Err(e) => {
            let (status, message) = super::forms::refusal(e)?;
            return refused(&state, &s, status, &message).await;
        }
    };
    settings_page(&state, &s, StatusCode::OK, Shown::App(client_id, secret)).await
}

/// What `namespace`'s datasets store, against its quota: "1.2 MB of 10 GB used".
pub(super) async fn storage_line(state: &AppState, namespace: &str) -> ApiResult<String> {
    let usage = strata_core::quotas::usage_of(state, namespace).await?;
    Ok(match usage.quota {
        Some(q) => format!("{} of {} used", human_size(usage.used), human_size(q)),
        None => format!("{} used", human_size(usage.used)),
    })
}
