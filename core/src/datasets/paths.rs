//! Paths in a dataset as every room sees them: what is at a path at a branch's head (a file, a
//! folder or nothing), the head of an existing branch a change may go to, and which files are
//! the server's own plumbing that listings hide. The file manager writes with these, and shares,
//! links and invitations check that what they name exists.

use strata_metastore::{DATAPACKAGE, GITATTRIBUTES, LFSCONFIG};

use crate::datasets::gate::Gated;
use crate::datasets::git_on;
use crate::error::{Error, Result};
use crate::Core;

/// A placeholder that keeps an empty folder in git; listings hide it.
pub const KEEP: &str = ".keep";

/// Files the file browser does not list: git plumbing strata writes itself (`.gitattributes`,
/// `.lfsconfig`), empty-folder placeholders, and in a drive its datapackage. Git and the REST API
/// still show them.
pub fn plumbing(path: &str, drive: bool) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name == KEEP || path == GITATTRIBUTES || path == LFSCONFIG || (drive && path == DATAPACKAGE)
}

/// The branch a file manager change goes to: `None` is the default branch.
pub type Branch<'a> = Option<&'a str>;

/// The head of `branch`, refused (404) unless it is an existing branch: a change never starts a
/// new branch, nor lands on a tag (nor on a commit whose id a branch's name spells). Through a
/// share only the default branch is reached.
pub async fn head_of(core: &Core, repo: &Gated, branch: Branch<'_>) -> Result<Option<String>> {
    repo.check_rev(branch)?;
    let branch = branch.map(str::to_owned);
    git_on(core, repo, move |ms, ds| match &branch {
        Some(b) => match ms.branches(ds)?.into_iter().find(|(name, _)| name == b) {
            Some((_, id)) => Ok(Some(id.to_string())),
            None => Err(strata_metastore::Error::NotFound(format!(
                "no branch {b:?}"
            ))),
        },
        None => match ms.resolve(ds, None) {
            Ok(id) => Ok(Some(id.to_string())),
            Err(strata_metastore::Error::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        },
    })
    .await
}

/// Refuses (404) a path that is neither a file nor a folder at the head (shares and links name
/// what exists).
pub async fn check_exists(core: &Core, repo: &Gated, path: &str) -> Result<()> {
    match stat(core, repo, None, path).await? {
        Some(_) => Ok(()),
        None => Err(Error::not_found(format!(
            "{path:?} is not a file or folder of {}",
            repo.path()
        ))),
    }
}

/// What `path` is at the head of `branch`: a folder (`true`), a file, or nothing (also in an
/// empty dataset).
pub async fn stat(
    core: &Core,
    repo: &Gated,
    branch: Branch<'_>,
    path: &str,
) -> Result<Option<bool>> {
    let head = match branch {
        Some(_) => head_of(core, repo, branch).await?,
        None => None,
    };
    stat_at(core, repo, head, path).await
}

/// What `path` is at commit `head` (`None`: the default branch's head).
pub async fn stat_at(
    core: &Core,
    repo: &Gated,
    head: Option<String>,
    path: &str,
) -> Result<Option<bool>> {
    let path = path.to_owned();
    git_on(core, repo, move |ms, ds| {
        match ms.stat(ds, head.as_deref(), &path) {
            Err(strata_metastore::Error::NotFound(_)) => Ok(None),
            other => other,
        }
    })
    .await
}

/// Files that stay plain git blobs under encryption: the server's own metadata.
pub fn plain_allowed(path: &str) -> bool {
    let base = path.rsplit('/').next().unwrap_or(path);
    path == DATAPACKAGE || path == strata_metastore::LFSCONFIG || base == ".gitattributes"
}
