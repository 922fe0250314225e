//! The organisation page: members and teams for every signed-in user, and for its owners forms
//! to add members, create teams and put members in them (the same operations as the REST API).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use askama::Template;

use super::{read_form, render, see_other, Chrome};
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use strata_core::auth::session;
use strata_core::db::SessionRow;
use strata_core::orgs::{self, join_team, new_team, set_member_role};

#[derive(Template)]
#[template(path = "org.html")]
struct OrgPage {
    chrome: Chrome,
    org: String,
    /// `(username, role)`.
    members: Vec<(String, String)>,
    /// `(team, its members joined by ", ")`.
    teams: Vec<(String, String)>,
    owner: bool,
}

/// The organisation page for `s`, with `error` shown at the top.
async fn org_page(
    state: &AppState,
    s: &SessionRow,
    org: &str,
    status: StatusCode,
    error: Option<&str>,
) -> ApiResult<Response> {
    let view = orgs::detail(state, &s.user, org).await?;
    let mut chrome = Chrome::new(format!("Organisation {}", view.name), Some(s), "");
    if let Some(error) = error {
        chrome = chrome.error(error);
    }
    Ok(render(
        status,
        &OrgPage {
            chrome,
            members: view
                .members
                .iter()
                .map(|(name, role)| (name.clone(), role.as_str().to_owned()))
                .collect(),
            teams: view
                .teams
                .iter()
                .map(|(team, members)| (team.clone(), members.join(", ")))
                .collect(),
            owner: view.yours,
            org: view.name,
        },
    ))
}

async fn session_or_login(
    state: &AppState,
    headers: &HeaderMap,
) -> ApiResult<Result<SessionRow, Response>> {
    Ok(match crate::http::extract::session(state, headers).await? {
        Some((_, s)) => Ok(s),
        None => Err(see_other("/login", &[])),
    })
}

pub async fn show(
    State(state): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let s = match session_or_login(&state, &headers).await? {
        Ok(s) => s,
        Err(redirect) => return Ok(redirect),
    };
    org_page(&state, &s, &org, StatusCode::OK, None).await
}

#[derive(Deserialize)]
pub struct OrgForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    team: String,
}

/// Runs one owner operation from a form, then shows the page again (with what went wrong).
async fn act(
    state: &AppState,
    headers: &HeaderMap,
    org: &str,
    body: Body,
    what: &str,
) -> ApiResult<Response> {
    let s = match session_or_login(state, headers).await? {
        Ok(s) => s,
        Err(redirect) => return Ok(redirect),
    };
    let form: OrgForm = read_form(body).await?;
    if !session::same_secret(&form.csrf, &s.csrf) {
        return Err(ApiError::forbidden("missing or wrong CSRF token"));
    }
    let done = match what {
        "member" => set_member_role(state, &s.user, org, form.username.trim(), &form.role).await,
        "team" => new_team(state, &s.user, org, form.team.trim()).await,
        _ => join_team(state, &s.user, org, form.team.trim(), form.username.trim()).await,
    };
    match done.map_err(ApiError::from) {
        Ok(()) => Ok(see_other(&format!("/orgs/{org}"), &[])),
        Err(e) if e.status.is_client_error() => {
            org_page(state, &s, org, e.status, Some(&e.message)).await
        }
        Err(e) => Err(e),
    }
}

pub async fn add_member(
    State(state): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    act(&state, &headers, &org, body, "member").await
}

pub async fn add_team(
    State(state): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    act(&state, &headers, &org, body, "team").await
}

pub async fn add_team_member(
    State(state): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    act(&state, &headers, &org, body, "team-member").await
}
