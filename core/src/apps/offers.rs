//! Default apps: a site admin names apps every account is offered. Each is offered once, with the
//! scopes it asks for, on the signed-in home page and at `GET /api/v1/user/apps/offers`, until
//! the user installs it (their consent, as every install) or declines it; nothing is installed
//! without that answer. An app the user's role may not install (`[roles] install`) is not offered.

use super::{catalog, Entry};
use crate::auth::Need;
use crate::db::User;
use crate::error::{Error, Result};
use crate::Core;

/// Names `id` a default app (`on`), or no longer (site admins).
pub async fn set_default(core: &Core, user: &User, id: &str, on: bool) -> Result<()> {
    core.require_of(user, Need::Admin).await?;
    catalog::entry(core, id).await?;
    core.db.set_default_app(id, user.id, on).await?;
    let detail = serde_json::json!({ "default": on });
    super::audit(core, "app.default", user, id, detail).await
}

/// The default apps, by id.
pub async fn defaults(core: &Core) -> Result<Vec<String>> {
    Ok(core.db.default_apps().await?)
}

/// The default apps offered to `user` now: in the catalog, installable by their role, neither
/// installed nor declined.
pub async fn offers(core: &Core, user: &User) -> Result<Vec<Entry>> {
    let defaults = core.db.default_apps().await?;
    if defaults.is_empty() {
        return Ok(Vec::new());
    }
    let installed: Vec<String> = core
        .db
        .app_installs(user.id)
        .await?
        .into_iter()
        .map(|r| r.app_id)
        .collect();
    let declined = core.db.declined_apps(user.id).await?;
    let roles = user.roles();
    Ok(catalog::catalog(core)
        .await?
        .into_iter()
        .filter(|e| {
            let id = &e.manifest.id;
            defaults.contains(id)
                && !installed.contains(id)
                && !declined.contains(id)
                && e.manifest.roles.may_install(&roles)
        })
        .collect())
}

/// `user` declines the offer of `id`: it is not offered again (installing it stays possible).
pub async fn decline(core: &Core, user: &User, id: &str) -> Result<()> {
    if !offers(core, user)
        .await?
        .iter()
        .any(|e| e.manifest.id == id)
    {
        return Err(Error::not_found(format!("{id:?} is not offered to you")));
    }
    Ok(core.db.decline_app(user.id, id).await?)
}
