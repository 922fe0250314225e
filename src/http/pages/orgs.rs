//! The organisation page: members and teams for every signed-in user, and for its owners forms
//! to add members, create teams and put members in them (the same operations as the REST API);
//! organisations are made from the settings page.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use askama::Template;

use super::forms::see_other;
use super::layout::{render, Chrome};
use super::signed_in::SignedIn;
use crate::http::csrf::CsrfForm;
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;
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

#[derive(Deserialize)]
pub struct NewOrg {
    name: String,
}

/// `POST /orgs`: makes an organisation owned by the visitor, then opens its page; a refusal
/// (a name taken or not allowed, a role that may not) shows the settings page again with the
/// name as typed.
pub async fn create(
    State(state): State<AppState>,
    CsrfForm { signed_in, form }: CsrfForm<NewOrg>,
) -> ApiResult<Response> {
    let s = signed_in.session;
    let name = form.name.trim();
    match orgs::create(&state, &s.user, name)
        .await
        .map_err(ApiError::from)
    {
        Ok(made) => Ok(see_other(&format!("/orgs/{}", made.name), &[])),
        Err(e) if e.status.is_client_error() => {
            super::settings::org_refused(&state, &s, e.status, &e.message, name).await
        }
        Err(e) => Err(e),
    }
}

pub async fn show(
    State(state): State<AppState>,
    Path(org): Path<String>,
    signed_in: SignedIn,
) -> ApiResult<Response> {
    org_page(&state, &signed_in.session, &org, StatusCode::OK, None).await
}

#[derive(Deserialize)]
pub struct OrgForm {
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
    org: &str,
    CsrfForm { signed_in, form }: CsrfForm<OrgForm>,
    what: &str,
) -> ApiResult<Response> {
    let s = signed_in.session;
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
    form: CsrfForm<OrgForm>,
) -> ApiResult<Response> {
    act(&state, &org, form, "member").await
}

pub async fn add_team(
    State(state): State<AppState>,
    Path(org): Path<String>,
    form: CsrfForm<OrgForm>,
) -> ApiResult<Response> {
    act(&state, &org, form, "team").await
}

pub async fn add_team_member(
    State(state): State<AppState>,
    Path(org): Path<String>,
    form: CsrfForm<OrgForm>,
) -> ApiResult<Response> {
    act(&state, &org, form, "team-member").await
}
