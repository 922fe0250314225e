//! Shares with an e-mail address that has no account here yet: a dataset's admins invite the
//! address to a file, a folder or the whole dataset (read or write, optionally until an end
//! date), see and revoke the invitations, and the share is made for the account that next signs
//! in through a provider that verified that address (`crate::sso::accounts::sign_in`). An address
//! a person typed into their own profile proves nothing, so sign-up with a password does not
//! receive them.

use serde_json::json;

use super::shares::Access;
use crate::audit::by as audit;
use crate::auth::Principal;
use crate::datasets::gate::{check_path, Gated};
use crate::db::{InviteRow, User};
use crate::error::{Error, Result};
use crate::Core;

/// An address as invitations keep it (lower case), or why it is none.
pub fn address(text: &str) -> Result<String> {
    let email = text.trim().to_lowercase();
    let ok = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && matches!(email.split_once('@'), Some((local, domain))
            if !local.is_empty() && domain.contains('.') && !domain.contains('@')
                && !domain.starts_with('.') && !domain.ends_with('.'));
    if ok {
        Ok(email)
    } else {
        Err(Error::unprocessable(format!(
            "{text:?} is not an e-mail address"
        )))
    }
}

/// Invites `email` to `path` of the dataset (the caller passed its admin gate). Inviting the
/// same address to the same path again changes the invitation.
pub async fn invite(
    core: &Core,
    who: &Principal,
    repo: &Gated,
    email: &str,
    path: &str,
    (access, expires_at): (Access, Option<i64>),
) -> Result<InviteRow> {
    let email = address(email)?;
    let path = path.trim_matches('/').to_owned();
    check_path(&path)?;
    if expires_at.is_some_and(|t| t <= crate::db::now()) {
        return Err(Error::unprocessable("the expiry must be in the future"));
    }
    if !path.is_empty() {
        crate::datasets::paths::check_exists(core, repo, &path).await?;
    }
    let by = match who {
        Principal::User { user, .. } => Some(user),
        _ => None,
    };
    let id = core
        .db
        .put_invite(
            repo.id,
            &path,
            &email,
            (access.as_str(), expires_at),
            by.map(|u| u.id),
        )
        .await?;
    if let Some(user) = by {
        let detail = json!({"email": email, "access": access.as_str(), "expires_at": expires_at});
        audit(
            core,
            "dataset.share.invite",
            user,
            &format!("{}:{path}", repo.path()),
            detail,
        )
        .await?;
    }
    core.db
        .invites(repo.id)
        .await?
        .into_iter()
        .find(|i| i.id == id)
        .ok_or_else(|| Error::internal("the new invitation vanished"))
}

/// The dataset's invitations (its admins see them).
pub async fn list(core: &Core, repo: &Gated) -> Result<Vec<InviteRow>> {
    Ok(core.db.invites(repo.id).await?)
}

/// Withdraws an invitation.
pub async fn revoke(core: &Core, who: &Principal, repo: &Gated, id: i64) -> Result<()> {
    if !core.db.delete_invite(repo.id, id).await? {
        return Err(Error::not_found(format!("invitation {id} not found")));
    }
    if let Principal::User { user, .. } = who {
        audit(
            core,
            "dataset.share.uninvite",
            user,
            &repo.path(),
            json!({"invitation": id}),
        )
        .await?;
    }
    Ok(())
}

/// Turns the invitations to `email` (an address a provider verified for `user`) into shares
/// with `user`, each removed as it is delivered; expired ones, and those of a dataset `user`
/// owns, are dropped, and one for a path `user` has a share of already leaves that share as it
/// is. Returns how many shares were made.
pub async fn deliver(core: &Core, user: &User, email: &str) -> Result<usize> {
    let Ok(email) = address(email) else {
        return Ok(0);
    };
    let mut made = 0;
    for invite in core.db.invites_to(&email).await? {
        let expired = invite.expires_at.is_some_and(|t| t <= crate::db::now());
        let repo = core.db.repo_by_id(invite.repo_id).await?;
        let Some(repo) = repo.filter(|r| !expired && r.owner_id != user.id) else {
            core.db.take_invite(invite.id).await?;
            continue;
        };
        let has = core.db.shares(repo.id).await?.into_iter().any(|s| {
            s.kind == "user"
                && s.grantee.eq_ignore_ascii_case(&user.username)
                && s.path == invite.path
        });
        if has {
            core.db.take_invite(invite.id).await?;
            continue;
        }
        // The share first, then the invitation goes: a failure in between delivers it again at
        // the next sign-in (the same share), never loses it; of two sign-ins at once, the one
        // that removes it tells.
        let id = core
            .db
            .put_share(
                repo.id,
                &invite.path,
                Some(user.id),
                None,
                &invite.access,
                invite.expires_at,
                invite.created_by,
            )
            .await?;
        if !core.db.take_invite(invite.id).await? {
            continue;
        }
        let told = json!({"share": id, "path": invite.path, "grantee": user.username,
            "grantee_kind": "user", "access": invite.access, "expires_at": invite.expires_at,
            "invited": email});
        crate::events::record(core, None, "share.granted", &repo.path(), told).await;
        audit(
            core,
            "dataset.share.delivered",
            user,
            &format!("{}:{}", repo.path(), invite.path),
            json!({"invitation": invite.id, "email": email}),
        )
        .await?;
        made += 1;
    }
    Ok(made)
}
