//! Organisations and teams, the domain side: look-ups that answer 404 the same way everywhere,
//! ownership checks, membership and team changes with their invariants (an organisation keeps an
//! owner; team members are organisation members), each written to the audit log. The REST API
//! (`crate::http::api::orgs`) and the organisation pages call these same functions.

use serde_json::json;

use crate::db::{is_unique_violation, Org, User};
use crate::error::{Error, Result};
use crate::Core;

pub async fn audit(
    state: &Core,
    event: &str,
    actor: &User,
    subject: &str,
    detail: serde_json::Value,
) -> Result<()> {
    crate::audit::record(state, event, Some(&actor.username), Some(subject), detail).await
}

pub async fn org_named(state: &Core, name: &str) -> Result<Org> {
    state
        .db
        .org_by_name(name)
        .await?
        .ok_or_else(|| Error::not_found(format!("organisation {name} not found")))
}

/// The organisation, if `user` owns it (or is a site admin).
pub async fn owned_org(state: &Core, user: &User, name: &str) -> Result<Org> {
    let org = org_named(state, name).await?;
    let role = state.db.org_role(org.id, user.id).await?;
    if user.admin() || role.as_deref() == Some("owner") {
        Ok(org)
    } else {
        Err(Error::forbidden(format!(
            "only owners of {name} may change it"
        )))
    }
}

pub async fn user_named(state: &Core, name: &str) -> Result<User> {
    state
        .db
        .user_by_name(name)
        .await?
        .ok_or_else(|| Error::not_found(format!("user {name} not found")))
}

/// Makes `member` an `owner` or `member` of `org`, for an owner of it (REST and pages).
pub async fn set_member_role(
    state: &Core,
    actor: &User,
    org: &str,
    member: &str,
    role: &str,
) -> Result<()> {
    if !["owner", "member"].contains(&role) {
        return Err(Error::unprocessable("role must be owner or member"));
    }
    let org = owned_org(state, actor, org).await?;
    let target = user_named(state, member).await?;
    let current = state.db.org_role(org.id, target.id).await?;
    if current.as_deref() == Some("owner")
        && role != "owner"
        && state.db.owner_count(org.id).await? == 1
    {
        return Err(Error::unprocessable(
            "an organisation keeps at least one owner",
        ));
    }
    state.db.set_org_member(org.id, target.id, role).await?;
    let subject = format!("{}/{}", org.name, target.username);
    audit(
        state,
        "org.member.set",
        actor,
        &subject,
        json!({"role": role}),
    )
    .await
}

/// Creates team `team` in `org`, for an owner of it (REST and pages).
pub async fn new_team(state: &Core, actor: &User, org: &str, team: &str) -> Result<()> {
    crate::names::check("team name", team).map_err(|e| Error::unprocessable(e.to_string()))?;
    let org = owned_org(state, actor, org).await?;
    match state.db.create_team(org.id, team).await {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => {
            return Err(Error::conflict(format!("team {team} exists")))
        }
        Err(e) => return Err(e.into()),
    }
    audit(
        state,
        "org.team.create",
        actor,
        &format!("{}/{team}", org.name),
        json!({}),
    )
    .await
}

pub async fn team_target(
    state: &Core,
    user: &User,
    org: &str,
    team: &str,
    member: &str,
) -> Result<(Org, i64, User)> {
    let org = owned_org(state, user, org).await?;
    let team_id = state
        .db
        .team_id(org.id, team)
        .await?
        .ok_or_else(|| Error::not_found(format!("team {team} not found")))?;
    let target = user_named(state, member).await?;
    if state.db.org_role(org.id, target.id).await?.is_none() {
        return Err(Error::unprocessable(format!(
            "{member} is not a member of {}",
            org.name
        )));
    }
    Ok((org, team_id, target))
}

/// Adds organisation member `member` to `team`, for an owner of the organisation.
pub async fn join_team(
    state: &Core,
    actor: &User,
    org: &str,
    team: &str,
    member: &str,
) -> Result<()> {
    let (org, team_id, target) = team_target(state, actor, org, team, member).await?;
    state.db.add_team_member(team_id, target.id).await?;
    let subject = format!("{}/{team}/{}", org.name, target.username);
    audit(state, "org.team.member.add", actor, &subject, json!({})).await
}
