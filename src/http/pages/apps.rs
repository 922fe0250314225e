//! App pages: `/apps` (the visitor's installed apps with their instances' status and log, and the
//! catalog), `/app-catalog/{app}` (what an app is and the scopes it asks for: installing it is the
//! consent), and the forms that install, uninstall, stop and share. "Open with" from a file page
//! goes through `/app-catalog/{app}/open`. The rules are in `strata_core::apps`.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::forms::see_other;
use super::layout::{error_page, render, Chrome};
use super::signed_in::{PageError, PageResult};
use crate::http::csrf::CsrfForm;
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use strata_core::apps::{self, installed};
use strata_core::db::SessionRow;

struct Installed {
    id: String,
    name: String,
    url: Option<String>,
    status: &'static str,
    needs_consent: bool,
    error: Option<String>,
    log: Vec<String>,
    shared_with: Vec<String>,
    runs: String,
    digest: Option<String>,
}

struct Available {
    id: String,
    name: String,
    description: String,
    installed: bool,
}

#[derive(Template)]
#[template(path = "apps.html")]
struct AppsPage {
    chrome: Chrome,
    served: bool,
    installed: Vec<Installed>,
    available: Vec<Available>,
}

#[derive(Template)]
#[template(path = "app.html")]
struct AppPage {
    chrome: Chrome,
    id: String,
    name: String,
    description: String,
    version: String,
    scopes: Vec<String>,
    scope_list: String,
    opens: String,
    installed: bool,
    /// Installed, but the app changed since the consent: the form asks again.
    needs_consent: bool,
}

async fn signed_in(state: &AppState, headers: &HeaderMap, here: &str) -> PageResult<SessionRow> {
    match crate::http::extract::session(state, headers).await? {
        Some((_, s)) => Ok(s),
        None => Err(PageError::Redirect(format!(
            "/login?{}",
            serde_urlencoded::to_string([("next", here)]).unwrap_or_default()
        ))),
    }
}

/// `GET /apps`.
pub async fn show(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let s = match signed_in(&state, &headers, "/apps").await {
        Ok(s) => s,
        Err(e) => return Ok(e.into_response()),
    };
    Ok(render(StatusCode::OK, &apps_page(&state, &s, None).await?))
}

async fn apps_page(state: &AppState, s: &SessionRow, error: Option<String>) -> ApiResult<AppsPage> {
    let user = &s.user;
    let catalog = apps::catalog(state).await?;
    let installed: Vec<Installed> = installed::installed(state, user)
        .await?
        .into_iter()
        .map(|i| Installed {
            id: i.row.app_id,
            name: i.entry.manifest.name,
            url: i.url,
            status: i.status,
            needs_consent: i.needs_consent,
            // The page says what consent means itself.
            error: i.error.filter(|_| !i.needs_consent),
            log: i.log,
            shared_with: i.shared_with,
            runs: i.runs,
            digest: i.digest,
        })
        .collect();
    let available = catalog
        .iter()
        .map(|e| Available {
            id: e.manifest.id.clone(),
            name: e.manifest.name.clone(),
            description: e.manifest.description.clone(),
            installed: installed.iter().any(|i| i.id == e.manifest.id),
        })
        .collect();
    let mut chrome = Chrome::new("Apps", Some(s), "apps");
    if let Some(e) = error {
        chrome = chrome.error(e);
    }
    Ok(AppsPage {
        chrome,
        served: state.apps.served(),
        installed,
        available,
    })
}

/// `GET /app-catalog/{app}`: the app and the consent to its scopes.
pub async fn app(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let here = format!("/app-catalog/{id}");
    let s = match signed_in(&state, &headers, &here).await {
        Ok(s) => s,
        Err(e) => return Ok(e.into_response()),
    };
    let entry = match apps::entry(&state, &id).await {
        Ok(e) => e,
        Err(e) => {
            let e = ApiError::from(e);
            return Ok(error_page(
                e.status,
                Chrome::new("App", Some(&s), "apps"),
                &e.message,
            ));
        }
    };
    let m = entry.manifest;
    let install = installed::install_of(&state, &s.user, &id).await?;
    let installed = install.is_some();
    let needs_consent = install.as_ref().is_some_and(apps::awaits_consent);
    let page = AppPage {
        chrome: Chrome::new(m.name.clone(), Some(&s), "apps"),
        id: m.id.clone(),
        description: m.description.clone(),
        version: m.version.clone(),
        scope_list: m.scopes.join(" "),
        scopes: m.scopes.clone(),
        opens: m
            .opens
            .iter()
            .map(|e| format!(".{e}"))
            .collect::<Vec<_>>()
            .join(", "),
        name: m.name,
        installed,
        needs_consent,
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Deserialize)]
pub struct AppForm {
    /// Install: the scopes shown on the consent page, space-separated.
    #[serde(default)]
    scopes: String,
    /// Share and unshare: the other user.
    #[serde(default)]
    user: String,
}

/// `POST /app-catalog/{app}/{install,uninstall,stop,share,unshare}`.
pub async fn act(
    State(state): State<AppState>,
    Path((id, action)): Path<(String, String)>,
    CsrfForm { signed_in, form }: CsrfForm<AppForm>,
) -> ApiResult<Response> {
    let s = signed_in.session;
    let user = &s.user;
    let done = match action.as_str() {
        "install" => {
            let scopes: Vec<String> = form.scopes.split_whitespace().map(str::to_owned).collect();
            apps::install(&state, user, &id, &scopes).await.map(|_| ())
        }
        "uninstall" => apps::uninstall(&state, user, &id).await,
        "decline" => apps::offers::decline(&state, user, &id).await,
        "stop" => {
            state.apps.supervisor.stop(&user.username, &id).await;
            Ok(())
        }
        "share" => apps::share(&state, user, &id, form.user.trim(), true).await,
        "unshare" => apps::share(&state, user, &id, form.user.trim(), false).await,
        _ => return Err(ApiError::not_found("no such endpoint")),
    };
    match done {
        Ok(()) => Ok(see_other("/apps", &[])),
        Err(e) => {
            let e = ApiError::from(e);
            let page = apps_page(&state, &s, Some(e.message.clone())).await?;
            Ok(render(e.status, &page))
        }
    }
}

#[derive(Deserialize)]
pub struct OpenQuery {
    dataset: String,
    path: String,
    rev: Option<String>,
}

/// `GET /app-catalog/{app}/open?dataset=&path=&rev=`: "open with", through the read gate.
pub async fn open(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<OpenQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let here = format!(
        "/app-catalog/{id}/open?{}",
        serde_urlencoded::to_string([("dataset", &q.dataset), ("path", &q.path)])
            .unwrap_or_default()
    );
    let s = match signed_in(&state, &headers, &here).await {
        Ok(s) => s,
        Err(e) => return Ok(e.into_response()),
    };
    let rev = q.rev.as_deref().filter(|r| !r.is_empty());
    match apps::open_with(&state, &s.user, &id, &q.dataset, &q.path, rev).await {
        Ok(to) => Ok(see_other(&to, &[])),
        Err(e) => {
            let e = ApiError::from(e);
            Ok(error_page(
                e.status,
                Chrome::new("Open with", Some(&s), "apps"),
                &e.message,
            ))
        }
    }
}
