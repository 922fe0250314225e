//! Shares: a dataset's admins give a user or a team read or write on the whole dataset or on one
//! file or folder in it, optionally until an expiry; they change and revoke them. The gates
//! evaluate shares on every request (`crate::auth::access`, `gate::shared`), so a revocation takes
//! effect at once. The REST API and the pages call these; every change is audited.

use serde_json::json;

use crate::audit::changed;
use crate::auth::{On, Principal, Scopes};
use crate::datasets::gate::{check_path, Gated};
use crate::db::{ShareRow, User};
use crate::error::{Error, Result};
use crate::orgs::{org_named, user_named};
use crate::Core;

/// What a share lets its grantee do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

impl Access {
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
        }
    }
}

impl std::str::FromStr for Access {
    type Err = Error;
    fn from_str(s: &str) -> Result<Access> {
        match s {
            "read" => Ok(Access::Read),
            "write" => Ok(Access::Write),
            _ => Err(Error::unprocessable(format!(
                "unknown access {s:?}: use read or write"
            ))),
        }
    }
}

/// Who a share is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grantee {
    User(String),
    /// `{org}/{team}`.
    Team(String),
}

/// A share to make.
#[derive(Debug, Clone)]
pub struct NewShare {
    /// A file or folder of the default branch; `""` for the whole dataset.
    pub path: String,
    pub grantee: Grantee,
    pub access: Access,
    /// Unix seconds; `None` never expires.
    pub expires_at: Option<i64>,
}

/// Every share of the dataset, expired ones included (admins only: the caller passed the admin
/// gate).
pub async fn list(core: &Core, repo: &Gated) -> Result<Vec<ShareRow>> {
    Ok(core.db.shares(repo.id).await?)
}

/// One share of the dataset.
pub async fn get(core: &Core, repo: &Gated, id: i64) -> Result<ShareRow> {
    core.db
        .share(repo.id, id)
        .await?
        .ok_or_else(|| Error::not_found(format!("share {id} not found")))
}

fn check_expiry(expires_at: Option<i64>) -> Result<()> {
    if expires_at.is_some_and(|t| t <= crate::db::now()) {
        return Err(Error::unprocessable("the expiry must be in the future"));
    }
    Ok(())
}

/// Shares `new.path` of the dataset with `new.grantee`. Sharing the same path with the same
/// grantee again changes that share.
pub async fn create(core: &Core, who: &Principal, repo: &Gated, new: NewShare) -> Result<ShareRow> {
    let path = new.path.trim_matches('/').to_owned();
    check_path(&path)?;
    check_expiry(new.expires_at)?;
    let (user_id, team_id, shown) = match &new.grantee {
        Grantee::User(name) => {
            let user = user_named(core, name).await?;
            if user.id == repo.owner_id {
                return Err(Error::unprocessable(format!(
                    "{} owns {} already",
                    user.username,
                    repo.path()
                )));
            }
            (Some(user.id), None, user.username)
        }
        Grantee::Team(full) => {
            let (org, team) = full.split_once('/').ok_or_else(|| {
                Error::unprocessable(format!("{full:?} is not a team: write it as org/team"))
            })?;
            let org = org_named(core, org).await?;
            let id = core
                .db
                .team_id(org.id, team)
                .await?
                .ok_or_else(|| Error::not_found(format!("team {full} not found")))?;
            (None, Some(id), format!("{}/{team}", org.name))
        }
    };
    if !path.is_empty() {
        crate::datasets::paths::check_exists(core, repo, &path).await?;
    }
    // The same share made again, unchanged: no event (nor a notification) of it.
    let unchanged = core.db.shares(repo.id).await?.iter().any(|s| {
        s.path == path
            && s.grantee.eq_ignore_ascii_case(&shown)
            && s.access == new.access.as_str()
            && s.expires_at == new.expires_at
    });
    let id = core
        .db
        .put_share(
            repo.id,
            &path,
            user_id,
            team_id,
            new.access.as_str(),
            new.expires_at,
            actor(who).map(|u| u.id),
        )
        .await?;
    let kind = match new.grantee {
        Grantee::User(_) => "user",
        Grantee::Team(_) => "team",
    };
    let told = json!({"share": id, "path": path, "grantee": shown, "grantee_kind": kind,
        "access": new.access.as_str(), "expires_at": new.expires_at});
    if !unchanged {
        crate::events::record(core, Some(who), "share.granted", &repo.path(), told).await;
    }
    changed(
        core,
        who,
        "dataset.share.create",
        &format!("{}:{path}", repo.path()),
        json!({"grantee": shown, "access": new.access.as_str(), "expires_at": new.expires_at}),
    )
    .await?;
    get(core, repo, id).await
}

/// Changes a share's access and expiry.
pub async fn change(
    core: &Core,
    who: &Principal,
    repo: &Gated,
    id: i64,
    access: Access,
    expires_at: Option<i64>,
) -> Result<ShareRow> {
    let share = get(core, repo, id).await?;
    if expires_at != share.expires_at {
        check_expiry(expires_at)?;
    }
    core.db
        .update_share(share.id, access.as_str(), expires_at)
        .await?;
    changed(
        core,
        who,
        "dataset.share.change",
        &format!("{}:{}", repo.path(), share.path),
        json!({"grantee": share.grantee, "access": access.as_str(), "expires_at": expires_at}),
    )
    .await?;
    get(core, repo, id).await
}

/// Revokes a share; its grantee loses access with their next request.
pub async fn revoke(core: &Core, who: &Principal, repo: &Gated, id: i64) -> Result<()> {
    let share = get(core, repo, id).await?;
    core.db.delete_share(repo.id, id).await?;
    let told = json!({"share": id, "path": share.path, "grantee": share.grantee,
        "grantee_kind": share.kind, "access": share.access});
    crate::events::record(core, Some(who), "share.revoked", &repo.path(), told).await;
    changed(
        core,
        who,
        "dataset.share.revoke",
        &format!("{}:{}", repo.path(), share.path),
        json!({"grantee": share.grantee}),
    )
    .await
}

/// The live shares `user` holds (directly or through a team) that `scopes` reach.
pub async fn shared_with(core: &Core, user: &User, scopes: &Scopes) -> Result<Vec<ShareRow>> {
    let rows = core.db.shared_with(user.id).await?;
    Ok(rows
        .into_iter()
        .filter(|s| {
            scopes.allows(
                &format!("{}/{}", s.namespace, s.name),
                On::Dataset,
                crate::auth::Action::Read,
            )
        })
        .collect())
}

/// The shares `user` made, on datasets they still administer or not.
pub async fn made_by(core: &Core, user: &User) -> Result<Vec<ShareRow>> {
    Ok(core.db.shares_made_by(user.id).await?)
}

fn actor(who: &Principal) -> Option<&User> {
    match who {
        Principal::User { user, .. } => Some(user),
        _ => None,
    }
}
