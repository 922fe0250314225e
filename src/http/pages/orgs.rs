//! The organisation page: members and teams for every signed-in user, and for its owners forms
//! to add members, create teams and put members in them (the same operations as the REST API).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::{error_page, esc, page, read_form, see_other};
use crate::auth::session;
use crate::db::SessionRow;
use crate::http::api::orgs::org_view;
use crate::http::error::{ApiError, ApiResult};
use crate::orgs::{join_team, new_team, org_named, set_member_role};
use crate::state::AppState;

async fn render(state: &AppState, s: &SessionRow, org: &str) -> ApiResult<String> {
    let found = org_named(state, org).await?;
    let view = org_view(state, &found).await?;
    let owner =
        s.user.admin() || state.db.org_role(found.id, s.user.id).await?.as_deref() == Some("owner");
    let members: String = view
        .members
        .iter()
        .map(|m| format!("<li>{} ({})</li>", esc(&m.username), esc(&m.role)))
        .collect();
    let teams: String = view
        .teams
        .iter()
        .map(|t| {
            let names: Vec<String> = t.members.iter().map(|m| esc(m)).collect();
            format!(
                "<li><strong>{}</strong>: {}</li>",
                esc(&t.name),
                names.join(", ")
            )
        })
        .collect();
    let forms = if owner {
        let csrf = &s.csrf;
        let action = format!("/orgs/{}", esc(&found.name));
        format!(
            "<h2>Manage</h2>\
             <form method=\"post\" action=\"{action}/members\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <label>Username <input name=\"username\" required></label>\
             <label>Role <select name=\"role\"><option>member</option><option>owner</option></select></label>\
             <button type=\"submit\">Add member</button></form>\
             <form method=\"post\" action=\"{action}/teams\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <label>Team name <input name=\"team\" required></label><button type=\"submit\">Create team</button></form>\
             <form method=\"post\" action=\"{action}/teams/members\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <label>Team <input name=\"team\" required></label><label>Member <input name=\"username\" required></label>\
             <button type=\"submit\">Add to team</button></form>"
        )
    } else {
        String::new()
    };
    Ok(format!(
        "<h2>Members</h2><ul id=\"members\">{members}</ul><h2>Teams</h2><ul id=\"teams\">{teams}</ul>{forms}"
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
    let html = render(&state, &s, &org).await?;
    Ok(page(StatusCode::OK, &format!("Organisation {org}"), &html))
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
            let html = render(state, &s, org).await?;
            Ok(error_page(
                e.status,
                &format!("Organisation {org}"),
                &e.message,
                &html,
            ))
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
