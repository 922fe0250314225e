//! A dataset's settings page, for its admins: visibility, default-branch protection and
//! collaborators, through the admin gate and the same domain functions as the REST API
//! (`crate::datasets::settings`); every form carries the session's CSRF token.

use askama::Template;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::datasets::failed;
use super::{read_form, render, see_other, Chrome};
use crate::auth::{session, Action, Principal};
use crate::datasets::gate::{self, Gated};
use crate::datasets::settings;
use crate::db::{Permission, SessionRow, Visibility};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{session as session_of, session_principal};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "dataset_settings.html")]
struct SettingsPage {
    chrome: Chrome,
    dataset: String,
    visibility: &'static str,
    protected: bool,
    /// `(kind, name, permission)`.
    collaborators: Vec<(String, String, String)>,
}

async fn settings_page(
    state: &AppState,
    s: &SessionRow,
    repo: &Gated,
    status: StatusCode,
    error: Option<&str>,
) -> ApiResult<Response> {
    let mut chrome = Chrome::new(format!("Settings of {}", repo.path()), Some(s), "datasets");
    if let Some(error) = error {
        chrome = chrome.error(error);
    }
    let page = SettingsPage {
        chrome,
        dataset: repo.path(),
        visibility: repo.visibility.as_str(),
        protected: repo.protect_default_branch != 0,
        collaborators: settings::collaborators(state, repo).await?,
    };
    Ok(render(status, &page))
}

/// The signed-in admin of `{ns}/{name}`, or the page to answer instead.
async fn admin(
    state: &AppState,
    headers: &HeaderMap,
    ns: &str,
    name: &str,
) -> ApiResult<Result<(SessionRow, Principal, Gated), Response>> {
    let Some((_, s)) = session_of(state, headers).await? else {
        let next =
            serde_urlencoded::to_string([("next", format!("/datasets/{ns}/{name}/settings"))])
                .unwrap_or_default();
        return Ok(Err(see_other(&format!("/login?{next}"), &[])));
    };
    let who = session_principal(&s)?;
    match gate::dataset(state, &who, ns, name, Action::Admin).await {
        Ok(repo) => Ok(Ok((s, who, repo))),
        Err(e) => Ok(Err(failed(Some(&s), &format!("{ns}/{name}"), e))),
    }
}

/// `GET /datasets/{ns}/{name}/settings`.
pub async fn show(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    match admin(&state, &headers, &ns, &name).await? {
        Ok((s, _, repo)) => settings_page(&state, &s, &repo, StatusCode::OK, None).await,
        Err(page) => Ok(page),
    }
}

#[derive(Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    csrf: String,
    /// Which change: `visibility`, `protection`, `collaborator` or `remove`.
    change: String,
    #[serde(default)]
    visibility: String,
    /// A checkbox: present when checked.
    #[serde(default)]
    protect: Option<String>,
    /// A username, or `team:{name}`.
    #[serde(default)]
    who: String,
    #[serde(default)]
    permission: String,
}

/// `POST /datasets/{ns}/{name}/settings`: one change, then the page again (with what went
/// wrong, where it went wrong).
pub async fn change(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let (s, who, repo) = match admin(&state, &headers, &ns, &name).await? {
        Ok(parts) => parts,
        Err(page) => return Ok(page),
    };
    let form: SettingsForm = read_form(body).await?;
    if !session::same_secret(&form.csrf, &s.csrf) {
        return Err(ApiError::forbidden("missing or wrong CSRF token"));
    }
    let target = form.who.trim();
    let done = match form.change.as_str() {
        "visibility" => match form.visibility.parse::<Visibility>() {
            Ok(v) => settings::set_visibility(&state, &who, &repo, v).await,
            Err(e) => Err(crate::error::Error::unprocessable(e)),
        },
        "protection" => settings::set_protection(&state, &who, &repo, form.protect.is_some()).await,
        "collaborator" => match form.permission.parse::<Permission>() {
            Ok(p) => settings::set_collaborator(&state, &who, &repo, target, p).await,
            Err(e) => Err(crate::error::Error::unprocessable(e)),
        },
        "remove" => settings::remove_collaborator(&state, &who, &repo, target).await,
        other => Err(crate::error::Error::unprocessable(format!(
            "unknown change {other:?}"
        ))),
    };
    match done.map_err(ApiError::from) {
        Ok(()) => Ok(see_other(
            &format!("/datasets/{}/settings", repo.path()),
            &[],
        )),
        Err(e) if e.status.is_client_error() => {
            settings_page(&state, &s, &repo, e.status, Some(&e.message)).await
        }
        Err(e) => Err(e),
    }
}
