//! Organisations, teams and platform roles over REST: `/api/v1/orgs/{org}…` and
//! `/api/v1/users/{user}/role`. Every change is in the audit log. (Dataset collaborators and
//! visibility are in `datasets_api/collaborators.rs`.)

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::api::ErrorBody;
use crate::http::error::ApiResult;
use crate::http::json::read_json;
use crate::http::state::AppState;
use strata_core::auth::Need;
use strata_core::auth::Principal;
use strata_core::orgs;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_org))
        .routes(routes!(read_org))
        .routes(routes!(set_member, remove_member))
        .routes(routes!(create_team))
        .routes(routes!(add_team_member, remove_team_member))
        .routes(routes!(set_role))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrg {
    /// The organisation's name, which is also its namespace.
    name: String,
}

#[derive(Serialize, ToSchema)]
pub struct Member {
    pub username: String,
    /// `owner` or `member`.
    pub role: String,
}

#[derive(Serialize, ToSchema)]
pub struct TeamView {
    pub name: String,
    pub members: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct OrgView {
    pub name: String,
    pub members: Vec<Member>,
    pub teams: Vec<TeamView>,
}

impl From<strata_core::orgs::Detail> for OrgView {
    fn from(d: strata_core::orgs::Detail) -> OrgView {
        OrgView {
            name: d.name,
            members: d
                .members
                .into_iter()
                .map(|(username, role)| Member {
                    username,
                    role: role.as_str().to_owned(),
                })
                .collect(),
            teams: d
                .teams
                .into_iter()
                .map(|(name, members)| TeamView { name, members })
                .collect(),
        }
    }
}

/// Creates an organisation owned by the caller (engineers and admins).
#[utoipa::path(post, path = "/api/v1/orgs", tag = "orgs", request_body = NewOrg,
    responses((status = 201, description = "Created", body = OrgView),
        (status = 403, description = "Your role may not manage members", body = ErrorBody),
        (status = 409, description = "The namespace is taken", body = ErrorBody),
        (status = 422, description = "Invalid name", body = ErrorBody)))]
pub async fn create_org(
    State(state): State<AppState>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<OrgView>)> {
    let user = state.require(&who, Need::Account).await?;
    let req: NewOrg = read_json(&headers, body, state.settings.max_json_body).await?;
    let org = orgs::create(&state, user, &req.name).await?;
    Ok((StatusCode::CREATED, Json(org.into())))
}

/// An organisation with its members and teams (for signed-in users).
#[utoipa::path(get, path = "/api/v1/orgs/{org}", tag = "orgs", params(("org" = String, Path)),
    responses((status = 200, description = "OK", body = OrgView),
        (status = 401, description = "Authentication required", body = ErrorBody),
        (status = 404, description = "No such organisation", body = ErrorBody)))]
pub async fn read_org(
    State(state): State<AppState>,
    Path(org): Path<String>,
    who: Principal,
) -> ApiResult<Json<OrgView>> {
    // Members and teams are account-level information: a session or a `*` token.
    let user = state.require(&who, Need::Account).await?;
    Ok(Json(orgs::detail(&state, user, &org).await?.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberRole {
    /// `owner` or `member`.
    role: String,
}

/// Adds a member or changes their role (organisation owners).
#[utoipa::path(put, path = "/api/v1/orgs/{org}/members/{user}", tag = "orgs",
    params(("org" = String, Path), ("user" = String, Path)), request_body = MemberRole,
    responses((status = 204, description = "Done"), (status = 403, description = "Not an owner", body = ErrorBody),
        (status = 404, description = "No such organisation or user", body = ErrorBody),
        (status = 422, description = "Invalid role, or the last owner", body = ErrorBody)))]
pub async fn set_member(
    State(state): State<AppState>,
    Path((org, member)): Path<(String, String)>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<StatusCode> {
    let user = state.require(&who, Need::Account).await?;
    let req: MemberRole = read_json(&headers, body, state.settings.max_json_body).await?;
    orgs::set_member_role(&state, user, &org, &member, &req.role).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes a member (organisation owners).
#[utoipa::path(delete, path = "/api/v1/orgs/{org}/members/{user}", tag = "orgs",
    params(("org" = String, Path), ("user" = String, Path)),
    responses((status = 204, description = "Done"), (status = 403, description = "Not an owner", body = ErrorBody),
        (status = 404, description = "No such member", body = ErrorBody),
        (status = 422, description = "The last owner", body = ErrorBody)))]
pub async fn remove_member(
    State(state): State<AppState>,
    Path((org, member)): Path<(String, String)>,
    who: Principal,
) -> ApiResult<StatusCode> {
    let user = state.require(&who, Need::Account).await?;
    orgs::remove_member(&state, user, &org, &member).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTeam {
    name: String,
}

/// Creates a team in an organisation (organisation owners).
#[utoipa::path(post, path = "/api/v1/orgs/{org}/teams", tag = "orgs", params(("org" = String, Path)),
    request_body = NewTeam,
    responses((status = 201, description = "Created"), (status = 403, description = "Not an owner", body = ErrorBody),
        (status = 404, description = "No such organisation", body = ErrorBody),
        (status = 409, description = "The team exists", body = ErrorBody), (status = 422, description = "Invalid name", body = ErrorBody)))]
pub async fn create_team(
    State(state): State<AppState>,
    Path(org): Path<String>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<StatusCode> {
    let user = state.require(&who, Need::Account).await?;
    let req: NewTeam = read_json(&headers, body, state.settings.max_json_body).await?;
    orgs::new_team(&state, user, &org, &req.name).await?;
    Ok(StatusCode::CREATED)
}

/// Adds an organisation member to a team.
#[utoipa::path(put, path = "/api/v1/orgs/{org}/teams/{team}/members/{user}", tag = "orgs",
    params(("org" = String, Path), ("team" = String, Path), ("user" = String, Path)),
    responses((status = 204, description = "Done"), (status = 403, description = "Not an owner", body = ErrorBody),
        (status = 404, description = "No such team or user", body = ErrorBody),
        (status = 422, description = "Not a member of the organisation", body = ErrorBody)))]
pub async fn add_team_member(
    State(state): State<AppState>,
    Path((org, team, member)): Path<(String, String, String)>,
    who: Principal,
) -> ApiResult<StatusCode> {
    let user = state.require(&who, Need::Account).await?;
    orgs::join_team(&state, user, &org, &team, &member).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes a user from a team.
#[utoipa::path(delete, path = "/api/v1/orgs/{org}/teams/{team}/members/{user}", tag = "orgs",
    params(("org" = String, Path), ("team" = String, Path), ("user" = String, Path)),
    responses((status = 204, description = "Done"), (status = 403, description = "Not an owner", body = ErrorBody),
        (status = 404, description = "No such team member", body = ErrorBody)))]
pub async fn remove_team_member(
    State(state): State<AppState>,
    Path((org, team, member)): Path<(String, String, String)>,
    who: Principal,
) -> ApiResult<StatusCode> {
    let user = state.require(&who, Need::Account).await?;
    orgs::leave_team(&state, user, &org, &team, &member).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    /// admin, engineer, scientist, analyst or viewer.
    role: String,
}

/// Sets a user's platform role (site admins).
#[utoipa::path(put, path = "/api/v1/users/{user}/role", tag = "orgs", params(("user" = String, Path)),
    request_body = RoleBody,
    responses((status = 204, description = "Done"), (status = 403, description = "Not an administrator", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody), (status = 422, description = "Unknown role", body = ErrorBody)))]
pub async fn set_role(
    State(state): State<AppState>,
    Path(name): Path<String>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<StatusCode> {
    let user = state.require(&who, Need::Admin).await?;
    let req: RoleBody = read_json(&headers, body, state.settings.max_json_body).await?;
    orgs::set_platform_role(&state, user, &name, &req.role).await?;
    Ok(StatusCode::NO_CONTENT)
}
