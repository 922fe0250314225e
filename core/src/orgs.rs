//! Organisations and teams, the domain side: look-ups that answer 404 the same way everywhere,
//! ownership checks, creation, membership and team changes with their invariants (an organisation
//! keeps an owner; team members are organisation members), each written to the audit log. The
//! REST API (`strata::http::api::orgs`) and the organisation pages call these same functions.

use serde_json::json;

use crate::audit::by as audit;
use crate::auth::{Need, Role};
use crate::db::{Org, OrgRole, User};
use crate::error::{Error, Result};
use crate::Core;

/// An organisation as its members see it: members (owners first) and teams with their members.
#[derive(Debug, Clone)]
pub struct Detail {
    pub name: String,
    pub members: Vec<(String, OrgRole)>,
    /// `(team, its members by name)`, by team name.
    pub teams: Vec<(String, Vec<String>)>,
    /// Whether the viewer may change it (an owner, or a site admin).
    pub yours: bool,
}

pub async fn org_named(core: &Core, name: &str) -> Result<Org> {
    core.db
        .org_by_name(name)
        .await?
        .ok_or_else(|| Error::not_found(format!("organisation {name} not found")))
}

/// The organisation, if `user` owns it (or is a site admin).
pub async fn owned_org(core: &Core, user: &User, name: &str) -> Result<Org> {
    let org = org_named(core, name).await?;
    core.require_of(user, Need::OrgOwner(&org)).await?;
    Ok(org)
}

pub async fn user_named(core: &Core, name: &str) -> Result<User> {
    core.db
        .user_by_name(name)
        .await?
        .ok_or_else(|| Error::not_found(format!("user {name} not found")))
}

/// Organisation `name` with its members and teams, for a signed-in `viewer`.
pub async fn detail(core: &Core, viewer: &User, name: &str) -> Result<Detail> {
    let org = org_named(core, name).await?;
    let members = core.db.org_members(org.id).await?;
    let mut teams: Vec<(String, Vec<String>)> = Vec::new();
    for (team, member) in core.db.teams(org.id).await? {
        if teams.last().is_none_or(|(t, _)| *t != team) {
            teams.push((team, Vec::new()));
        }
        if let (Some((_, list)), Some(m)) = (teams.last_mut(), member) {
            list.push(m);
        }
    }
    Ok(Detail {
        yours: core.has(viewer, Need::OrgOwner(&org)).await?,
        name: org.name,
        members,
        teams,
    })
}

/// Whom `user` would share with, for the share form's completion: the people of the
/// organisations they belong to, and those organisations' teams (`team:org/team`), by name; with
/// `--people everyone`, every account too (the first [`DIRECTORY`] by name). Otherwise only who
/// they can already see on the organisations' pages: no directory of every account.
pub async fn people_near(core: &Core, user: &User) -> Result<Vec<String>> {
    let mut out = std::collections::BTreeSet::new();
    if core.settings.people == crate::config::People::Everyone {
        out.extend(
            core.db
                .usernames(DIRECTORY)
                .await?
                .into_iter()
                .filter(|m| *m != user.username),
        );
    }
    for name in of_user(core, user).await? {
        let d = detail(core, user, &name).await?;
        out.extend(
            d.members
                .into_iter()
                .map(|(m, _)| m)
                .filter(|m| *m != user.username),
        );
        out.extend(d.teams.into_iter().map(|(t, _)| format!("team:{name}/{t}")));
    }
    Ok(out.into_iter().collect())
}

/// The most accounts the share forms list with `--people everyone`.
const DIRECTORY: i64 = 5000;

/// The names of the organisations `user` belongs to, by name.
pub async fn of_user(core: &Core, user: &User) -> Result<Vec<String>> {
    Ok(core.db.orgs_of(user.id).await?)
}

/// Creates organisation `name` owned by `actor` (engineers and admins). The name is shared with
/// users, case-insensitively, and a namespace still holding datasets (of a deleted user, say) is
/// not taken over.
pub async fn create(core: &Core, actor: &User, name: &str) -> Result<Detail> {
    core.require_of(actor, Need::ManageMembers).await?;
    crate::names::check_namespace(name).map_err(|e| Error::unprocessable(e.to_string()))?;
    let taken = || Error::conflict(format!("the namespace {name} is taken"));
    if core.db.namespace_taken(name).await? {
        return Err(taken());
    }
    let org = match core.db.create_org(name, actor.id).await {
        Ok(org) => org,
        Err(crate::db::Error::Conflict) => return Err(taken()),
        Err(e) => return Err(e.into()),
    };
    audit(core, "org.create", actor, &org.name, json!({})).await?;
    detail(core, actor, &org.name).await
}

/// Makes `member` an `owner` or `member` of `org`, for an owner of it (REST and pages).
pub async fn set_member_role(
    core: &Core,
    actor: &User,
    org: &str,
    member: &str,
    role: &str,
) -> Result<()> {
    let role: OrgRole = role.parse().map_err(Error::unprocessable)?;
    let org = owned_org(core, actor, org).await?;
    let target = user_named(core, member).await?;
    if role != OrgRole::Owner {
        last_owner_stays(core, &org, &target).await?;
    }
    core.db.set_org_member(org.id, target.id, role).await?;
    // Who may use (or publish) the organisation's shared app instances follows at once.
    core.apps.passes.clear();
    let subject = format!("{}/{}", org.name, target.username);
    audit(
        core,
        "org.member.set",
        actor,
        &subject,
        json!({"role": role.as_str()}),
    )
    .await
}

/// Refuses to take the owner role from `target` when they are `org`'s last owner.
async fn last_owner_stays(core: &Core, org: &Org, target: &User) -> Result<()> {
    if core.db.org_role(org.id, target.id).await? == Some(OrgRole::Owner)
        && core.db.owner_count(org.id).await? == 1
    {
        return Err(Error::unprocessable(
            "an organisation keeps at least one owner",
        ));
    }
    Ok(())
}

/// Removes `member` from `org` (and from its teams), for an owner of it.
pub async fn remove_member(core: &Core, actor: &User, org: &str, member: &str) -> Result<()> {
    let org = owned_org(core, actor, org).await?;
    let target = user_named(core, member).await?;
    last_owner_stays(core, &org, &target).await?;
    if !core.db.remove_org_member(org.id, target.id).await? {
        return Err(Error::not_found(format!(
            "{member} is not a member of {}",
            org.name
        )));
    }
    core.apps.passes.clear();
    let subject = format!("{}/{}", org.name, target.username);
    audit(core, "org.member.remove", actor, &subject, json!({})).await
}

/// Creates team `team` in `org`, for an owner of it (REST and pages).
pub async fn new_team(core: &Core, actor: &User, org: &str, team: &str) -> Result<()> {
    crate::names::check("team name", team).map_err(|e| Error::unprocessable(e.to_string()))?;
    let org = owned_org(core, actor, org).await?;
    match core.db.create_team(org.id, team).await {
        Ok(_) => {}
        Err(crate::db::Error::Conflict) => {
            return Err(Error::conflict(format!("team {team} exists")))
        }
        Err(e) => return Err(e.into()),
    }
    let subject = format!("{}/{team}", org.name);
    audit(core, "org.team.create", actor, &subject, json!({})).await
}

/// The organisation (owned by `user`), the team's id and the user named `member`.
async fn team_target(
    core: &Core,
    user: &User,
    org: &str,
    team: &str,
    member: &str,
) -> Result<(Org, i64, User)> {
    let org = owned_org(core, user, org).await?;
    let team_id = core
        .db
        .team_id(org.id, team)
        .await?
        .ok_or_else(|| Error::not_found(format!("team {team} not found")))?;
    let target = user_named(core, member).await?;
    Ok((org, team_id, target))
}

/// Adds organisation member `member` to `team`, for an owner of the organisation.
pub async fn join_team(
    core: &Core,
    actor: &User,
    org: &str,
    team: &str,
    member: &str,
) -> Result<()> {
    let (org, team_id, target) = team_target(core, actor, org, team, member).await?;
    if core.db.org_role(org.id, target.id).await?.is_none() {
        return Err(Error::unprocessable(format!(
            "{member} is not a member of {}",
            org.name
        )));
    }
    core.db.add_team_member(team_id, target.id).await?;
    let subject = format!("{}/{team}/{}", org.name, target.username);
    audit(core, "org.team.member.add", actor, &subject, json!({})).await
}

/// Takes `member` out of `team`, for an owner of the organisation.
pub async fn leave_team(
    core: &Core,
    actor: &User,
    org: &str,
    team: &str,
    member: &str,
) -> Result<()> {
    let (org, team_id, target) = team_target(core, actor, org, team, member).await?;
    if !core.db.remove_team_member(team_id, target.id).await? {
        return Err(Error::not_found(format!("{member} is not in team {team}")));
    }
    let subject = format!("{}/{team}/{}", org.name, target.username);
    audit(core, "org.team.member.remove", actor, &subject, json!({})).await
}

/// Sets user `name`'s platform role, for a site admin.
pub async fn set_platform_role(core: &Core, actor: &User, name: &str, role: &str) -> Result<()> {
    core.require_of(actor, Need::Admin).await?;
    let role: Role = role.parse().map_err(Error::unprocessable)?;
    let target = user_named(core, name).await?;
    core.db.set_role(target.id, role.as_str()).await?;
    let detail = json!({"role": role.as_str()});
    audit(core, "user.role.set", actor, &target.username, detail).await
}
