//! Shared instances: an organisation's owner publishes one instance of an app for the
//! organisation's members, or for everyone (`public`), besides everyone's own instances. It is
//! served at the app's own host, `{app}.{apps origin}` (so it shares no origin with any other
//! instance or with strata), kept under the organisation's name (`/apps/{org}/{app}/`, its own
//! working directory, token file and Kubernetes objects), and acts with the publisher's consent:
//! a token of theirs narrowed to the scopes their install of the app consented to. Their
//! uninstall, or the organisation's removal, ends it. One shared instance per app on a server.

use serde_json::json;

use super::{entry, Apps, Origin};
use crate::db::{InstallRow, SharedAppRow, User};
use crate::error::{Error, Result};
use crate::Core;

/// Publishes `app` for the members of `org` (or, `public`, for everyone), acting with `user`'s
/// install of it; publishing again changes who may use it.
pub async fn publish(
    core: &Core,
    user: &User,
    org: &str,
    app: &str,
    public: bool,
) -> Result<SharedAppRow> {
    let org = crate::orgs::owned_org(core, user, org).await?;
    if !matches!(core.apps.origin, Origin::Separate(_)) {
        return Err(Error::conflict(
            "shared instances are served at their own host under --apps-origin, which this server does not set",
        ));
    }
    if app.starts_with("app-") {
        // Per-user instances' hosts start so (`app-{user}-{app}-{hash}`).
        return Err(Error::unprocessable(format!(
            "{app:?} cannot have a shared instance: its host would look like a personal instance's"
        )));
    }
    entry(core, app).await?;
    let install = core.db.app_install(user.id, app).await?.ok_or_else(|| {
        Error::conflict(format!(
            "install {app} first: a shared instance acts with your consent to its scopes"
        ))
    })?;
    if super::awaits_consent(&install) {
        return Err(super::consent_error(&user.username, app));
    }
    if public && !user.admin() {
        return Err(Error::forbidden(
            "only a site admin may make an app instance public: everyone on the internet could use it, with your consent",
        ));
    }
    let before = core.db.shared_app(app).await?;
    if !core.db.put_shared_app(app, org.id, public, user.id).await? {
        return Err(Error::conflict(format!(
            "{app} has a shared instance already, published by another organisation"
        )));
    }
    core.apps.passes.clear();
    // Published again by someone else: what ran with the other publisher's token and kept their
    // files ends before anyone reaches it with this one's.
    if before.is_some_and(|b| b.runs_as != user.id) {
        end(core, &org.name, app).await;
    }
    crate::audit::by(
        core,
        "app.publish",
        user,
        app,
        json!({ "org": org.name, "public": public }),
    )
    .await?;
    core.db
        .shared_app(app)
        .await?
        .ok_or_else(|| Error::internal("a published app vanished"))
}

/// Ends `org`'s shared instance of `app` (its owners, or a site admin).
pub async fn unpublish(core: &Core, user: &User, org: &str, app: &str) -> Result<()> {
    let org = crate::orgs::owned_org(core, user, org).await?;
    if !core.db.delete_shared_app(app, org.id).await? {
        return Err(Error::not_found(format!(
            "{} has no shared instance of {app:?}",
            org.name
        )));
    }
    end(core, &org.name, app).await;
    crate::audit::by(core, "app.unpublish", user, app, json!({ "org": org.name })).await
}

/// The shared instance of `app`, if `user` published it (there is one per app at most).
pub async fn published_by(core: &Core, user: &User, app: &str) -> Result<Option<SharedAppRow>> {
    Ok(core
        .db
        .shared_app(app)
        .await?
        .filter(|row| row.runs_as == user.id))
}

/// Ends what `user` published of `app` (they uninstalled it).
pub async fn unpublish_all(core: &Core, user: &User, app: &str) -> Result<()> {
    if let Some(row) = published_by(core, user, app).await? {
        if core.db.delete_shared_app(app, row.org_id).await? {
            end(core, &row.org, app).await;
        }
    }
    Ok(())
}

/// Stops the instance kept under `org` and removes what it kept.
async fn end(core: &Core, org: &str, app: &str) {
    core.apps.passes.clear();
    super::remove_instance(core, org, app).await;
}

/// `org`'s shared instances, for its members (and site admins).
pub async fn of_org(core: &Core, user: &User, org: &str) -> Result<Vec<SharedAppRow>> {
    let org = crate::orgs::org_named(core, org).await?;
    if !core
        .has(user, crate::auth::Need::InNamespace(&org.name))
        .await?
    {
        return Err(Error::not_found(format!(
            "organisation {} not found",
            org.name
        )));
    }
    Ok(core.db.shared_apps_of_org(org.id).await?)
}

/// The shared instances `user` may use: their organisations' and the public ones.
pub async fn for_user(core: &Core, user: &User) -> Result<Vec<SharedAppRow>> {
    Ok(core.db.shared_apps_for(user.id).await?)
}

/// The shared instance of `app` kept under `owner` (an organisation's name, any case), with the
/// publisher and their install, if there is one.
pub async fn instance(
    core: &Core,
    owner: &str,
    app: &str,
) -> Result<Option<(SharedAppRow, User, InstallRow)>> {
    let Some(row) = core.db.shared_app(app).await? else {
        return Ok(None);
    };
    if !row.org.eq_ignore_ascii_case(owner) {
        return Ok(None);
    }
    let Some(publisher) = core.db.user_by_id(row.runs_as).await? else {
        return Ok(None);
    };
    // A publisher no longer an owner of the organisation (removed, or a member now) speaks for
    // it no more: the instance is not served, and the token renewal stops it.
    let owns = publisher.admin()
        || core.db.org_role(row.org_id, publisher.id).await? == Some(crate::db::OrgRole::Owner);
    if !owns {
        return Ok(None);
    }
    let Some(install) = core.db.app_install(publisher.id, app).await? else {
        return Ok(None);
    };
    Ok(Some((row, publisher, install)))
}

/// The path prefix of `user`'s `app`.
pub fn base_path(user: &str, app: &str) -> String {
    format!("/apps/{user}/{app}/")
}

/// Whose token the instance kept under `owner` of `app` acts with, and the install it carries:
/// the owner's own install, or for a shared instance its publisher's. `None` when neither is
/// there any more.
pub async fn runner(core: &Core, owner: &str, app: &str) -> Result<Option<(User, InstallRow)>> {
    if let Some(user) = core.db.user_by_name(owner).await? {
        return Ok(core
            .db
            .app_install(user.id, app)
            .await?
            .map(|install| (user, install)));
    }
    Ok(instance(core, owner, app)
        .await?
        .map(|(_, publisher, install)| (publisher, install)))
}

impl Apps {
    /// The origin a shared instance of `app` is served from: `{app}.` before the apps origin's
    /// host (its `*.` left out), as a URL prefix without a trailing `/`.
    pub fn shared_origin(&self, app: &str) -> Option<String> {
        let Origin::Separate(url) = &self.origin else {
            return None;
        };
        let host = url.host_str()?;
        let host = host.strip_prefix("*.").unwrap_or(host);
        let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
        Some(format!("{}://{app}.{host}{port}", url.scheme()))
    }
}

/// Where `/` on a shared instance's host leads: its path, if `host` is one.
pub async fn home_at(core: &Core, host: &str) -> Result<Option<String>> {
    let Some(label) = core.apps.host_label(host).filter(|l| !l.is_empty()) else {
        return Ok(None);
    };
    // Public ones only: an organisation's instance is not announced to whoever asks.
    Ok(core
        .db
        .shared_app(&label)
        .await?
        .filter(|row| row.is_public())
        .map(|row| base_path(&row.org, &row.app_id)))
}
