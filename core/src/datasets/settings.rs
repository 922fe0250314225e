//! A dataset's administration: collaborators (users, or `team:{name}` of its organisation, with
//! read, write or admin), visibility, default-branch protection and history retention. The REST API and the settings
//! page both call these, on a dataset the caller passed the admin gate for; every change is
//! audited when a user made it (a bare JWT has no account to name).

use serde_json::json;

use super::gate::Gated;
use crate::audit::changed;
use crate::auth::Principal;
use crate::db::{Permission, Visibility};
use crate::error::{Error, Result};
use crate::orgs::{org_named, user_named};
use crate::Core;

/// `(kind, name, permission)` of each collaborator: `kind` is `user` or `team`.
pub async fn collaborators(core: &Core, repo: &Gated) -> Result<Vec<(String, String, String)>> {
    Ok(core.db.collaborators(repo.id).await?)
}

/// The user or team `target` names: a username, or `team:{name}` of the dataset's organisation.
async fn ids(core: &Core, repo: &Gated, target: &str) -> Result<(Option<i64>, Option<i64>)> {
    if let Some(team) = target.strip_prefix("team:") {
        let org = org_named(core, &repo.namespace).await?;
        let id = core
            .db
            .team_id(org.id, team)
            .await?
            .ok_or_else(|| Error::not_found(format!("team {team} not found")))?;
        Ok((None, Some(id)))
    } else {
        Ok((Some(user_named(core, target).await?.id), None))
    }
}

/// Gives `target` `permission` on the dataset.
pub async fn set_collaborator(
    core: &Core,
    who: &Principal,
    repo: &Gated,
    target: &str,
    permission: Permission,
) -> Result<()> {
    let (user_id, team_id) = ids(core, repo, target).await?;
    core.db
        .set_collaborator(repo.id, user_id, team_id, permission)
        .await?;
    changed(
        core,
        who,
        "dataset.collaborator.set",
        &format!("{}:{target}", repo.path()),
        json!({"permission": permission.as_str()}),
    )
    .await
}

/// Takes `target`'s grant away (404 when they had none).
pub async fn remove_collaborator(
    core: &Core,
    who: &Principal,
    repo: &Gated,
    target: &str,
) -> Result<()> {
    let (user_id, team_id) = ids(core, repo, target).await?;
    if !core
        .db
        .remove_collaborator(repo.id, user_id, team_id)
        .await?
    {
        return Err(Error::not_found(format!("{target} is not a collaborator")));
    }
    changed(
        core,
        who,
        "dataset.collaborator.remove",
        &format!("{}:{target}", repo.path()),
        json!({}),
    )
    .await
}

/// How the default branch is protected.
#[derive(Debug, Clone, Copy, Default)]
pub struct Protection {
    /// No force-push, no deletion, contracts checked on every write.
    pub default_branch: bool,
    /// Changes through merge requests only (`None`: unchanged).
    pub require_merge_request: Option<bool>,
    /// Approvals of other writers a merge into it needs, 0 to 10 (`None`: unchanged).
    pub required_approvals: Option<i64>,
}

/// Sets the default branch's protection.
pub async fn set_protection(
    core: &Core,
    who: &Principal,
    repo: &Gated,
    p: Protection,
) -> Result<()> {
    let approvals = p.required_approvals.unwrap_or(repo.required_approvals);
    if !(0..=10).contains(&approvals) {
        return Err(Error::unprocessable("required_approvals is 0 to 10"));
    }
    let merges = p
        .require_merge_request
        .unwrap_or(repo.require_merge_request != 0);
    core.db.set_protection(repo.id, p.default_branch).await?;
    core.db.set_merge_rules(repo.id, merges, approvals).await?;
    changed(
        core,
        who,
        "dataset.protection.set",
        &repo.path(),
        json!({
            "default_branch": p.default_branch,
            "require_merge_request": merges,
            "required_approvals": approvals,
        }),
    )
    .await
}

/// How many days of each branch's history the dataset keeps reachable for garbage collection
/// (`None`: all of it; refs' own revisions and tags are always kept). See `crate::gc`.
pub async fn retention(core: &Core, repo: &Gated) -> Result<Option<i64>> {
    Ok(core.db.retention(repo.id).await?)
}

/// Sets [`retention`]: 0 to 36,500 days, or `None`.
pub async fn set_retention(
    core: &Core,
    who: &Principal,
    repo: &Gated,
    keep_days: Option<i64>,
) -> Result<()> {
    let days = check_retention(keep_days)?;
    core.db.set_retention(repo.id, days).await?;
    changed(
        core,
        who,
        "dataset.retention.set",
        &repo.path(),
        json!({ "keep_days": days }),
    )
    .await
}

/// Changes who may read the dataset.
pub async fn set_visibility(
    core: &Core,
    who: &Principal,
    repo: &Gated,
    visibility: Visibility,
) -> Result<()> {
    core.db.set_visibility(repo.id, visibility).await?;
    changed(
        core,
        who,
        "dataset.visibility.set",
        &repo.path(),
        json!({"visibility": visibility.as_str()}),
    )
    .await
}

/// The longest retention a dataset can ask for, in days (a hundred years).
pub const MAX_RETENTION_DAYS: i64 = 36_500;

/// Checks a retention in days: 0 keeps only what refs point at, `None` all history.
pub fn check_retention(days: Option<i64>) -> Result<Option<i64>> {
    match days {
        Some(d) if !(0..=MAX_RETENTION_DAYS).contains(&d) => Err(Error::unprocessable(format!(
            "keep_days must be between 0 and {MAX_RETENTION_DAYS} (or null: keep all history)"
        ))),
        other => Ok(other),
    }
}
