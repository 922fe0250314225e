//! Tags and branches as every surface writes them (the REST API and the tags page): made,
//! described, renamed and deleted here and nowhere else. A new tag or branch is made only where
//! every file it shows can still be read ([`check_whole`]); names are checked and the default
//! branch is never deleted by the metastore (`strata_metastore::refs`), whose compare-and-swap
//! moves every ref. The caller passed the write gate for the dataset.

use strata_metastore::{Tag, DEFAULT_BRANCH};

use crate::auth::Principal;
use crate::datasets::gate::Gated;
use crate::datasets::{author, git, git_on};
use crate::db::Repo;
use crate::error::{Error, Result};
use crate::Core;

/// Tags revision `rev` (default: the default branch's head) as `name`; a tag of that name is a
/// conflict.
pub async fn create_tag(
    core: &Core,
    who: &Principal,
    repo: &Gated,
    name: &str,
    rev: Option<&str>,
    description: &str,
) -> Result<Tag> {
    let rev = rev.unwrap_or(DEFAULT_BRANCH).to_owned();
    check_whole(core, repo, &rev).await?;
    let (tagger, name, description) = (author(who), name.to_owned(), description.to_owned());
    git_on(core, repo, move |ms, ds| {
        ms.create_tag(ds, &name, &rev, &tagger, &description)
    })
    .await
}

/// Sets (`Some("")` clears) the description of tag `tag`, or renames it; it keeps its revision.
pub async fn update_tag(
    core: &Core,
    repo: &Gated,
    tag: &str,
    description: Option<&str>,
    rename: Option<&str>,
) -> Result<Tag> {
    let (tag, description, rename) = (
        tag.to_owned(),
        description.map(str::to_owned),
        rename.map(str::to_owned),
    );
    git_on(core, repo, move |ms, ds| {
        ms.update_tag(ds, &tag, description.as_deref(), rename.as_deref())
    })
    .await
}

/// Deletes tag `tag`.
pub async fn delete_tag(core: &Core, repo: &Gated, tag: &str) -> Result<()> {
    let tag = tag.to_owned();
    git_on(core, repo, move |ms, ds| ms.delete_tag(ds, &tag)).await
}

/// Makes branch `name` at revision `rev` (default: the default branch's head); answers the
/// revision it points at.
pub async fn create_branch(
    core: &Core,
    repo: &Gated,
    name: &str,
    rev: Option<&str>,
) -> Result<String> {
    let rev = rev.unwrap_or(DEFAULT_BRANCH).to_owned();
    check_whole(core, repo, &rev).await?;
    let name = name.to_owned();
    git_on(core, repo, move |ms, ds| ms.create_branch(ds, &name, &rev)).await
}

/// Deletes branch `name` (never the default branch).
pub async fn delete_branch(core: &Core, repo: &Gated, name: &str) -> Result<()> {
    let name = name.to_owned();
    git_on(core, repo, move |ms, ds| ms.delete_branch(ds, &name)).await
}

/// Refuses a new tag or branch at revision `rev` of `repo` when its objects are no longer all
/// linked (garbage collection removed them past the dataset's retention, or they were erased):
/// a ref is only made where every file it shows can be read.
pub async fn check_whole(core: &Core, repo: &Repo, rev: &str) -> Result<()> {
    let (ns, name, at) = (repo.namespace.clone(), repo.name.clone(), rev.to_owned());
    let (_, files) = git(core, move |ms| {
        ms.tree(
            strata_metastore::DatasetId {
                ns: &ns,
                name: &name,
            },
            Some(&at),
        )
    })
    .await?;
    let named = files.iter().filter_map(|f| f.lfs).map(|p| (p.oid, p.size));
    let missing = core.db.missing_objects(repo.id, named).await?;
    if let Some(first) = missing.first() {
        return Err(Error::conflict(format!(
            "revision {rev} names {} object(s) no longer stored (garbage collection removed them \
             past the dataset's retention, or they were erased), {first} first: it cannot be \
             tagged or branched",
            missing.len()
        )));
    }
    Ok(())
}
