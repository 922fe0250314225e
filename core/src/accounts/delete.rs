//! Deleting an account, by its holder (who types their username to confirm it) or by a site
//! admin. Refused while it would leave something without an owner: datasets in the account's own
//! namespace (delete them first), organisations it alone owns, the server's last site admin.
//! Then every app instance of the account stops and what it kept is destroyed (its working
//! directory and token file, or its Kubernetes objects with its volume claim), instances it
//! published for organisations end, datasets it made in organisations and the webhooks it set on
//! them pass to another owner of each, and the account's row goes with everything keyed to it:
//! sessions, tokens (OAuth ones stop at once: they name the account), grants and consents, the
//! OAuth applications it registered (with every token issued through them), installs, shares,
//! memberships, its own webhooks, notifications, identities, its privacy budgets. Every check
//! and every heir is found first; the database changes are one transaction; then the instances
//! stop. Audited as `account.delete`.

use serde::Serialize;
use serde_json::json;

use crate::audit;
use crate::db::User;
use crate::error::{Error, Result};
use crate::Core;

/// What deleting an account did.
#[derive(Debug, Clone, Serialize)]
pub struct Deleted {
    pub username: String,
    /// The apps whose instances stopped and whose storage was destroyed.
    pub apps: Vec<String>,
    /// Datasets made in organisations, and the owner each passed to.
    pub handed_over: Vec<(String, String)>,
    /// The OAuth applications it registered, gone with it (their tokens with them).
    pub oauth_clients: Vec<String>,
}

/// Deletes `target`'s account for `by` (themselves, or a site admin; `None`: the server's
/// operator, `strata admin delete-user`), `confirm` being the target's username typed again.
pub async fn delete(
    core: &Core,
    by: Option<&User>,
    target: &str,
    confirm: &str,
) -> Result<Deleted> {
    if let Some(actor) = by {
        if actor.username != target && !actor.admin() {
            return Err(Error::forbidden(
                "only site admins delete other people's accounts",
            ));
        }
    }
    let user = core
        .db
        .user_by_name(target)
        .await?
        .ok_or_else(|| Error::not_found(format!("no account {target:?}")))?;
    if confirm != user.username {
        return Err(Error::unprocessable(format!(
            "type the username ({}) as confirm to delete the account: nothing was deleted",
            user.username
        )));
    }
    let owned = core.db.repos_owned_by(user.id).await?;
    let own: Vec<String> = owned
        .iter()
        .filter(|r| r.namespace.eq_ignore_ascii_case(&user.username))
        .map(|r| r.path())
        .collect();
    if !own.is_empty() {
        return Err(Error::conflict(format!(
            "{} still owns {} dataset(s): delete them first ({}{})",
            user.username,
            own.len(),
            own.iter().take(10).cloned().collect::<Vec<_>>().join(", "),
            if own.len() > 10 { ", …" } else { "" }
        )));
    }
    let alone = core.db.orgs_owned_alone(user.id).await?;
    if !alone.is_empty() {
        return Err(Error::conflict(format!(
            "{} is the only owner of {}: make someone else an owner, or delete the organisation, first",
            user.username,
            alone.join(", ")
        )));
    }
    if user.admin() && core.db.other_admins(user.id).await? == 0 {
        return Err(Error::conflict(
            "this is the server's last site admin: make someone else a site admin first",
        ));
    }
    // Who takes what the account holds in organisations: found before anything changes.
    let mut handed_over = Vec::new();
    let mut heirs = Vec::new();
    for repo in owned {
        let Some(heir) = core.db.other_org_owner(&repo.namespace, user.id).await? else {
            return Err(Error::conflict(format!(
                "{} has no other owner to take {}",
                repo.namespace,
                repo.path()
            )));
        };
        let name = core
            .db
            .user_by_id(heir)
            .await?
            .map(|u| u.username)
            .unwrap_or_default();
        heirs.push((repo.id, heir));
        handed_over.push((repo.path(), name));
    }
    let mut org_heirs = Vec::new();
    for org in core.db.orgs_of(user.id).await? {
        if let Some(heir) = core.db.other_org_owner(&org, user.id).await? {
            org_heirs.push((org, heir));
        }
    }
    let clients: Vec<String> = core
        .db
        .clients_of(user.id)
        .await?
        .into_iter()
        .map(|c| c.name)
        .collect();
    let installs = core.db.app_installs(user.id).await?;
    let published: Vec<(String, String)> = core
        .db
        .shared_apps()
        .await?
        .into_iter()
        .filter(|s| s.runs_as == user.id)
        .map(|s| (s.org, s.app_id))
        .collect();
    // One transaction: datasets and organisation webhooks handed over, the account gone.
    core.db.delete_account(user.id, &heirs, &org_heirs).await?;
    // Then what ran for it stops, and what it kept goes.
    core.apps.passes.clear();
    let mut apps = Vec::new();
    for install in installs {
        crate::apps::remove_instance(core, &user.username, &install.app_id).await;
        apps.push(install.app_id);
    }
    for (org, app) in published {
        crate::apps::remove_instance(core, &org, &app).await;
    }
    audit::record(
        core,
        "account.delete",
        Some(by.map_or("admin-cli", |a| a.username.as_str())),
        Some(&user.username),
        json!({"apps": apps, "handed_over": handed_over, "oauth_clients": clients}),
    )
    .await?;
    Ok(Deleted {
        username: user.username,
        apps,
        handed_over,
        oauth_clients: clients,
    })
}
