//! "Open with": the links a file page offers (the visitor's apps that open its type) and where
//! one goes, after the read gate let the visitor read that file and the app's consented scopes
//! reach it; the app then reads the file through the API with its token.

use super::{catalog, entry, launch, Origin};
use crate::auth::Scopes;
use crate::db::User;
use crate::error::{Error, Result};
use crate::Core;

/// "Open with": where `user`'s `app` opens `path` of `dataset` (`ns/name`) at `rev`, after the
/// read gate let the user read that file and the app's consented scopes reach it (the app reads
/// it through the API with its token).
pub async fn open_with(
    core: &Core,
    user: &User,
    app: &str,
    dataset: &str,
    path: &str,
    rev: Option<&str>,
) -> Result<String> {
    let base = core
        .apps
        .origin_of(&core.settings.public_url, &user.username, app)
        .ok_or_else(|| Error::not_found("apps are not served by this server"))?;
    let install = core
        .db
        .app_install(user.id, app)
        .await?
        .ok_or_else(|| Error::not_found(format!("you have not installed {app:?}")))?;
    if super::awaits_consent(&install) {
        return Err(super::consent_error(&user.username, app));
    }
    let manifest = entry(core, app).await?.manifest;
    let (ns, name) = dataset
        .split_once('/')
        .ok_or_else(|| Error::bad_request("dataset is ns/name"))?;
    let who = crate::auth::Principal::User {
        user: user.clone(),
        scopes: Scopes::parse("*").map_err(Error::internal)?,
        family: None,
    };
    let repo =
        crate::datasets::gate::path(core, &who, ns, name, path, crate::auth::Action::Read).await?;
    repo.check_rev(rev)?;
    let (r, p) = (rev.map(str::to_owned), path.to_owned());
    let data = crate::datasets::git_on(core, &repo, move |ms, ds| {
        ms.read_file(ds, r.as_deref(), &p)
    })
    .await?;
    let pointer = strata_lfs::pointer::lenient(&data);
    repo.read_file(core, path, rev, pointer.as_ref()).await?;
    let ext = path
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    if !manifest.opens.contains(&ext) {
        return Err(Error::unprocessable(format!(
            "{} does not open .{ext} files",
            manifest.name
        )));
    }
    let scopes = Scopes::parse(&install.scopes).map_err(Error::internal)?;
    if !scopes.allows(
        &repo.path(),
        crate::auth::On::Dataset,
        crate::auth::Action::Read,
    ) {
        return Err(Error::forbidden(format!(
            "{} was not given read access to {}: its scopes are {}",
            manifest.name,
            repo.path(),
            install.scopes
        )));
    }
    let enc = |s: &str| -> String { url::form_urlencoded::byte_serialize(s.as_bytes()).collect() };
    let rev_q = rev.map(|r| format!("?rev={}", enc(r))).unwrap_or_default();
    let file_url = format!(
        "{}/api/v1/datasets/{}/raw/{}{rev_q}",
        core.settings.public_url,
        repo.path(),
        crate::names::url_path(path)
    );
    let target = strata_apps::manifest::expand(
        &manifest.open,
        &[
            ("dataset", &enc(&repo.path())),
            ("path", &enc(path)),
            ("rev", &enc(rev.unwrap_or(""))),
            ("file_url", &enc(&file_url)),
        ],
    );
    Ok(format!(
        "{base}{}{}",
        launch::base_path(&user.username, app).trim_end_matches('/'),
        target
    ))
}

/// "Open with" links for `path` of `dataset`: `user`'s installed apps that open its file type,
/// as (name, link); empty when this server serves no apps.
pub async fn openers(
    core: &Core,
    user: &User,
    dataset: &str,
    path: &str,
    rev: Option<&str>,
) -> Vec<(String, String)> {
    if core.apps.origin == Origin::Off {
        return Vec::new();
    }
    let ext = path
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    let (Ok(rows), Ok(catalog)) = (core.db.app_installs(user.id).await, catalog(core).await) else {
        return Vec::new();
    };
    let mut query = vec![("dataset", dataset), ("path", path)];
    if let Some(r) = rev {
        query.push(("rev", r));
    }
    let query = serde_urlencoded::to_string(query).unwrap_or_default();
    rows.iter()
        .filter_map(|r| catalog.iter().find(|e| e.manifest.id == r.app_id))
        .filter(|e| e.manifest.opens.contains(&ext))
        .map(|e| {
            (
                e.manifest.name.clone(),
                format!("/app-catalog/{}/open?{query}", e.manifest.id),
            )
        })
        .collect()
}
