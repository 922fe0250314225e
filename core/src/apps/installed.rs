//! The apps a user installed, as the Apps page and `/api/v1/user/apps` show them: each with its
//! catalog entry, its instance's status (or that it waits for renewed consent), where it is
//! served, its last start's log, whom it is shared with, and what runs with its digest.

use crate::apps::{awaits_consent, catalog, consent_error, launch, Entry};
use crate::db::{InstallRow, User};
use crate::error::{Error, Result};
use crate::Core;

/// One installed app.
pub struct Installed {
    pub row: InstallRow,
    pub entry: Entry,
    /// `stopped`, `starting`, `running`, `paused` or `failed` (on this replica), or `needs
    /// consent`.
    pub status: &'static str,
    /// The manifest changed what runs or what it may do since the consent: nothing starts until
    /// the user installs it again.
    pub needs_consent: bool,
    /// The error of a failed start, or why it needs consent.
    pub error: Option<String>,
    /// `/apps/{user}/{app}/` on the apps' origin; none when this server serves no apps.
    pub url: Option<String>,
    /// The log of a start that failed or is under way.
    pub log: Vec<String>,
    /// Users the instance is shared with.
    pub shared_with: Vec<String>,
    /// What runs: the image (Kubernetes) or the executable's path as the manifest names it.
    pub runs: String,
    /// Its digest: the pinned image's, or the sha256 of the executable the instance was last
    /// started from on this replica (else the manifest's pin, if any).
    pub digest: Option<String>,
}

/// `row` (an install of `username`) as it stands.
pub async fn describe(core: &Core, username: &str, row: InstallRow) -> Result<Installed> {
    let entry = catalog::entry(core, &row.app_id).await?;
    describe_with(core, username, row, entry).await
}

async fn describe_with(
    core: &Core,
    username: &str,
    row: InstallRow,
    entry: Entry,
) -> Result<Installed> {
    let needs_consent = awaits_consent(&row);
    let (status, error) = if needs_consent {
        (
            "needs consent",
            Some(consent_error(username, &row.app_id).message),
        )
    } else {
        core.apps.state(username, &row.app_id)
    };
    let url = core
        .apps
        .origin_of(&core.settings.public_url, username, &row.app_id)
        .map(|b| format!("{b}{}", launch::base_path(username, &row.app_id)));
    let log = core
        .apps
        .supervisor
        .log(username, &row.app_id)
        .unwrap_or_default();
    let shared_with = core.db.app_sharees(row.user_id, &row.app_id).await?;
    let (runs, digest) = match &entry.manifest.runner {
        strata_apps::Runner::Kubernetes { image, .. } => (
            image.clone(),
            strata_apps::image_digest(image).map(str::to_owned),
        ),
        strata_apps::Runner::Process {
            command, sha256, ..
        } => {
            let started = core
                .apps
                .digests
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&(username.to_owned(), row.app_id.clone()))
                .cloned();
            (
                command.clone(),
                started.or_else(|| sha256.as_ref().map(|h| format!("sha256:{h}"))),
            )
        }
    };
    Ok(Installed {
        row,
        entry,
        status,
        needs_consent,
        error,
        url,
        log,
        shared_with,
        runs,
        digest,
    })
}

/// Everything `user` installed that the catalog still has.
pub async fn installed(core: &Core, user: &User) -> Result<Vec<Installed>> {
    let catalog = catalog::catalog(core).await?;
    let mut out = Vec::new();
    for row in core.db.app_installs(user.id).await? {
        let Some(entry) = catalog.iter().find(|e| e.manifest.id == row.app_id) else {
            continue;
        };
        out.push(describe_with(core, &user.username, row, entry.clone()).await?);
    }
    Ok(out)
}

/// `user`'s install of `app`, if there is one.
pub async fn install_of(core: &Core, user: &User, app: &str) -> Result<Option<InstallRow>> {
    Ok(core.db.app_install(user.id, app).await?)
}

/// `user`'s install of `app` as it stands (404 when not installed).
pub async fn installed_one(core: &Core, user: &User, app: &str) -> Result<Installed> {
    let row = install_of(core, user, app)
        .await?
        .ok_or_else(|| not_installed(app))?;
    describe(core, &user.username, row).await
}

/// Stops `user`'s instance of `app`; the log of its last start (404 when not installed).
pub async fn stop(core: &Core, user: &User, app: &str) -> Result<Vec<String>> {
    if install_of(core, user, app).await?.is_none() {
        return Err(not_installed(app));
    }
    let log = core
        .apps
        .supervisor
        .log(&user.username, app)
        .unwrap_or_default();
    core.apps.supervisor.stop(&user.username, app).await;
    Ok(log)
}

fn not_installed(app: &str) -> Error {
    Error::not_found(format!("you have not installed {app:?}"))
}
