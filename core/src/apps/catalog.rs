//! The catalog: the manifests of `--apps-dir` (read at start, never changed through the API) and
//! the ones added through the API, with who may add which (admins and engineers; process-runner
//! apps, which run a command on this server, site admins only) and who may change or remove one
//! (whoever added it, or a site admin). A change of what an app runs or may do suspends its
//! installs until each owner consents again.

use std::path::{Path, PathBuf};

use serde_json::json;
use strata_apps::{Changes, Manifest, Runner};

use super::audit;
use crate::auth::Need;
use crate::db::User;
use crate::error::{Error, Result};
pub use crate::manifests::{catalog, entry, parse};
use crate::Core;

/// The manifests of a directory, checked; a bad one stops the start with its file's name.
pub(super) fn read_dir(dir: &Path, tags: bool) -> std::result::Result<Vec<Manifest>, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("--apps-dir {}: {e}", dir.display()))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    let mut out: Vec<Manifest> = Vec::new();
    for path in paths {
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let m = parse(&text)
            .and_then(|m| pinned(&m, tags).map(|()| m))
            .map_err(|e| format!("{}: {}", path.display(), e.message))?;
        if out.iter().any(|o| o.id == m.id) {
            return Err(format!("{}: app id {:?} is taken", path.display(), m.id));
        }
        out.push(m);
    }
    Ok(out)
}

/// A Kubernetes manifest's image must pin a digest, unless tags are allowed.
fn pinned(m: &Manifest, tags: bool) -> Result<()> {
    match &m.runner {
        Runner::Kubernetes { image, .. } if !tags && strata_apps::image_digest(image).is_none() => {
            Err(Error::unprocessable(format!(
                "runner.image {image:?} names no digest: pin it (name@sha256:…), so what runs is \
                 what was reviewed; tags need --apps-allow-image-tags"
            )))
        }
        _ => Ok(()),
    }
}

/// Whether `user` may change or remove the API-managed app `by` added: whoever added it, or a
/// site admin.
fn may_change(user: &User, id: &str, by: Option<i64>) -> Result<()> {
    if by == Some(user.id) || user.admin() {
        Ok(())
    } else {
        Err(Error::forbidden(format!(
            "app {id:?} was added by someone else: only they or a site admin may change or remove it"
        )))
    }
}

/// What adding a manifest did.
#[derive(Debug, Clone)]
pub struct Added {
    pub manifest: Manifest,
    /// A new app (else a change of one).
    pub created: bool,
    /// What changed, for a change.
    pub changes: Changes,
    /// The installs that now wait for their owners' renewed consent.
    pub suspended: u64,
}

/// Adds an app to the catalog from its TOML manifest, or changes the API-managed one of the same
/// id (only whoever added it, or a site admin). Process-runner apps run a command on this server:
/// only site admins add them. A change of what runs or what it may do ([`Changes::consent`])
/// suspends every install until its owner consents again: their instances stop and their tokens
/// stop working.
pub async fn add(core: &Core, user: &User, text: &str) -> Result<Added> {
    core.require_of(user, Need::ManageApps).await?;
    if text.len() > 64 * 1024 {
        return Err(Error::too_large("an app manifest is at most 64 KiB"));
    }
    let m = parse(text)?;
    pinned(&m, core.apps.allow_image_tags)?;
    if matches!(m.runner, Runner::Process { .. }) && !core.has(user, Need::Admin).await? {
        return Err(Error::forbidden(
            "a process app runs a command on this server as strata's own user: only site admins \
             may add one (engineers add apps with kind = \"kubernetes\")",
        ));
    }
    if core.apps.dir.iter().any(|d| d.id == m.id) {
        return Err(Error::conflict(format!(
            "app {:?} comes from the server's --apps-dir: change it there",
            m.id
        )));
    }
    if let Some(client) = &m.roles.client {
        // The roles its tokens carry are the manifest's to say: only for a client of the
        // manifest's author (or any, for a site admin), named by one app only.
        let owned = core.db.client(client).await?;
        let admin = core.has(user, Need::Admin).await?;
        match owned {
            Some(c) if c.owner_id == user.id || admin => {}
            _ => {
                return Err(Error::forbidden(format!(
                    "roles.client: {client} is no OAuth client of yours"
                )))
            }
        }
        let taken = catalog(core).await?.into_iter().any(|e| {
            e.manifest.id != m.id && e.manifest.roles.client.as_deref() == Some(client.as_str())
        });
        if taken {
            return Err(Error::conflict(format!(
                "roles.client: another app names {client} already"
            )));
        }
    }
    let Some((old_text, by)) = core.db.app_manifest_row(&m.id).await? else {
        if !core.db.insert_app_manifest(&m.id, text, user.id).await? {
            return Err(Error::conflict(format!(
                "app {:?} was added meanwhile: look at it and try again",
                m.id
            )));
        }
        core.apps.passes.clear();
        audit(
            core,
            "app.add",
            user,
            &m.id,
            json!({ "version": m.version, "runner": runner_kind(&m), "scopes": m.scopes }),
        )
        .await?;
        return Ok(Added {
            manifest: m,
            created: true,
            changes: Changes::default(),
            suspended: 0,
        });
    };
    may_change(user, &m.id, by)?;
    let changes = match parse(&old_text) {
        Ok(old) => Changes::between(&old, &m),
        // What it was cannot be told any more: everyone consents again.
        Err(_) => Changes {
            consent: vec!["runner", "scopes"],
            other: Vec::new(),
        },
    };
    if !core.db.replace_app_manifest(&m.id, &old_text, text).await? {
        return Err(Error::conflict(format!(
            "app {:?} changed meanwhile: look at it and try again",
            m.id
        )));
    }
    let suspended = if changes.need_consent() {
        let n = core.db.suspend_app_installs(&m.id).await?;
        core.apps.passes.clear();
        for i in core.apps.supervisor.list() {
            if i.app == m.id {
                core.apps.supervisor.stop(&i.user, &i.app).await;
            }
        }
        n
    } else {
        core.apps.passes.clear();
        0
    };
    audit(
        core,
        "app.change",
        user,
        &m.id,
        json!({
            "version": m.version,
            "runner": runner_kind(&m),
            "scopes": m.scopes,
            "changed": changes.consent.iter().chain(&changes.other).collect::<Vec<_>>(),
            "needs_consent": changes.consent,
            "suspended_installs": suspended,
        }),
    )
    .await?;
    Ok(Added {
        manifest: m,
        created: false,
        changes,
        suspended,
    })
}

fn runner_kind(m: &Manifest) -> &'static str {
    match m.runner {
        Runner::Process { .. } => "process",
        Runner::Kubernetes { .. } => "kubernetes",
    }
}

/// Removes an API-managed app (only whoever added it, or a site admin): its installs go, and its
/// instances on this replica stop.
pub async fn remove(core: &Core, user: &User, id: &str) -> Result<()> {
    core.require_of(user, Need::ManageApps).await?;
    if core.apps.dir.iter().any(|d| d.id == id) {
        return Err(Error::conflict(format!(
            "app {id:?} comes from the server's --apps-dir: remove it there"
        )));
    }
    let Some((_, by)) = core.db.app_manifest_row(id).await? else {
        return Err(Error::not_found(format!("no app {id:?} in the catalog")));
    };
    may_change(user, id, by)?;
    if !core.db.delete_app_manifest(id).await? {
        return Err(Error::not_found(format!("no app {id:?} in the catalog")));
    }
    core.apps.passes.clear();
    for i in core.apps.supervisor.list() {
        if i.app == id {
            core.apps.supervisor.stop(&i.user, &i.app).await;
        }
    }
    audit(core, "app.remove", user, id, json!({})).await
}
