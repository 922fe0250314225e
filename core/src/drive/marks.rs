//! Starred and Recent, as a drive has them: a person stars files, folders and whole datasets,
//! and the files they open are noted. Both lists show only what the person may still read, each
//! item decided again by the read gate when the list is made.

use crate::auth::{Action, Principal};
use crate::datasets::gate::{self, Gated};
use crate::db::Mark;
use crate::error::{Error, Result};
use crate::Core;

/// The most a person may star (each listed).
pub const STARRED_MOST: usize = 500;
/// The most files Recent shows.
const RECENT_SHOWN: i64 = 100;
/// The longest path starred.
const PATH_MOST: usize = 1024;

/// One starred or recent item a person may read.
#[derive(Debug, Clone)]
pub struct Marked {
    /// `ns/name`.
    pub dataset: String,
    /// The file; a folder ends in `/`; `""` is the whole dataset.
    pub path: String,
    /// When it was starred, or last opened.
    pub when: i64,
}

/// The stored form of an item: a folder's path ends in `/`, a file's does not, the whole
/// dataset is `""`.
fn item(path: &str, folder: bool) -> String {
    let path = path.trim_matches('/');
    match folder && !path.is_empty() {
        true => format!("{path}/"),
        false => path.to_owned(),
    }
}

/// Stars (`on`) or unstars `path` (a folder when `folder`; `""`: the whole dataset) of
/// `dataset`, which the caller's read gate let `who` into for that path ([`unstar`] needs none).
pub async fn star(
    core: &Core,
    who: &Principal,
    dataset: &Gated,
    path: &str,
    folder: bool,
    on: bool,
) -> Result<()> {
    let Principal::User { user, .. } = who else {
        return Err(Error::unauthorized("sign in to star"));
    };
    if path.len() > PATH_MOST {
        return Err(Error::unprocessable(format!(
            "a path starred has at most {PATH_MOST} bytes"
        )));
    }
    let path = item(path, folder);
    if on && core.db.starred(user.id, STARRED_MOST as i64).await?.len() >= STARRED_MOST {
        return Err(Error::unprocessable(format!(
            "you have {STARRED_MOST} stars already: unstar some first"
        )));
    }
    core.db.star(user.id, dataset.id, &path, on).await?;
    Ok(())
}

/// Unstars `path` (a folder when `folder`; `""`: the whole dataset) of dataset `ns/name` for
/// `who`: their own mark, removed whether or not they may still read it (it was theirs to make).
pub async fn unstar(
    core: &Core,
    who: &Principal,
    (ns, name): (&str, &str),
    path: &str,
    folder: bool,
) -> Result<()> {
    let Principal::User { user, .. } = who else {
        return Err(Error::unauthorized("sign in to unstar"));
    };
    if let Some(repo) = core.db.repo_by_path(ns, name).await? {
        core.db
            .star(user.id, repo.id, &item(path, folder), false)
            .await?;
    }
    Ok(())
}

/// Whether `who` starred `path` (a folder when `folder`) of `dataset`.
pub async fn is_starred(
    core: &Core,
    who: &Principal,
    dataset: &Gated,
    path: &str,
    folder: bool,
) -> bool {
    match who {
        Principal::User { user, .. } => core
            .db
            .starred_one(user.id, dataset.id, &item(path, folder))
            .await
            .unwrap_or(false),
        _ => false,
    }
}

/// Notes that `who` opened file `path` of `dataset`. Best effort: a failure is logged, the page
/// goes on.
pub async fn seen(core: &Core, who: &Principal, dataset: &Gated, path: &str) {
    if let Principal::User { user, .. } = who {
        if let Err(e) = core.db.seen(user.id, dataset.id, &item(path, false)).await {
            tracing::warn!(error = %e, "could not note a recently opened file");
        }
    }
}

/// What `who` starred and may still read, newest first.
pub async fn starred(core: &Core, who: &Principal) -> Result<Vec<Marked>> {
    let Principal::User { user, .. } = who else {
        return Ok(Vec::new());
    };
    readable(
        core,
        who,
        core.db.starred(user.id, STARRED_MOST as i64).await?,
    )
    .await
}

/// The files `who` opened lately and may still read, newest first.
pub async fn recent(core: &Core, who: &Principal) -> Result<Vec<Marked>> {
    let Principal::User { user, .. } = who else {
        return Ok(Vec::new());
    };
    readable(core, who, core.db.recent(user.id, RECENT_SHOWN).await?).await
}

/// The marks whose item `who` may read now.
async fn readable(core: &Core, who: &Principal, marks: Vec<Mark>) -> Result<Vec<Marked>> {
    let mut out = Vec::new();
    for (repo_id, path, when) in marks {
        let Some(repo) = core.db.repo_by_id(repo_id).await? else {
            continue;
        };
        let (ns, name) = (&repo.namespace, &repo.name);
        let file = path.trim_end_matches('/');
        let gated = match file.is_empty() {
            true => gate::dataset(core, who, ns, name, Action::Read).await,
            false => gate::path(core, who, ns, name, file, Action::Read).await,
        };
        if gated.is_ok() {
            out.push(Marked {
                dataset: repo.path(),
                path,
                when,
            });
        }
    }
    Ok(out)
}
