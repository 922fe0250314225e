//! One write of files as one commit, for every surface that writes files (the REST commit API,
//! the file manager pages, restores): the paths it touches must be reachable by the caller (all of
//! them through a dataset grant, or each inside a write share), every object its pointers or its
//! datapackage name must be linked to the dataset, and LFS files get their `.gitattributes` line.
//! With encryption at rest on, file contents become LFS objects (sealed, or in an encrypting
//! bucket) before the commit, so git holds pointers only ([`seal_contents`]). The policies
//! decide the tables written, refusing or rewriting them (`crate::governance::write`). Content
//! the commit keeps in git counts toward the namespace's quota (refused past it, 507); a write
//! may not repoint `.lfsconfig` (`strata_metastore::lfsconfig`, 403); a commit that changes
//! nothing makes no revision and answers the head it would have built on.
//!
//! The one write path, on top of the rules a write must pass: it may use governed writes
//! (`governance`), the contracts (`contracts`), the table plane (for the column types of
//! the datapackage kept in step, [`describe`]) and everything below them. The drive, the REST and
//! Hub commit APIs and restores call it; it calls none of them.

pub mod describe;
pub mod ndjson;

use strata_lfs::Oid;
use strata_metastore::{
    lfs_attribute_line, DatasetId, Metastore, ObjectId, Op, Package, Revision, WriteMeta,
    DATAPACKAGE, DEFAULT_BRANCH, GITATTRIBUTES, LFSCONFIG,
};

use crate::auth::Principal;
use crate::datasets::gate::Gated;
use crate::datasets::{author, git_on};
use crate::error::{Error, Kind, Result};
use crate::Core;

/// A commit to make.
#[derive(Debug, Clone, Default)]
pub struct Change {
    pub summary: String,
    pub description: Option<String>,
    /// The revision the change is based on. `None` is the first commit of a branch, or with
    /// `at_head` the branch's head as it is when the commit is made.
    pub parent: Option<String>,
    pub at_head: bool,
    /// `None`: the default branch.
    pub branch: Option<String>,
    pub ops: Vec<Op>,
    /// Paths of `ops` that are LFS files and need a `.gitattributes` line.
    pub lfs_paths: Vec<String>,
    /// Objects the server vouches for in this change: stored for this request, or copied from a
    /// path the caller reaches. A caller who reaches only some paths may name no other object
    /// (knowing an oid must never be enough to read it through a share).
    pub vouched: Vec<Oid>,
    /// What happens to the datapackage's resources for the files written (not through a share).
    pub describe: self::describe::Describe,
    /// Files this change moves (from, to), whose resources move with them.
    pub moved: Vec<(String, String)>,
}

/// Makes `change` as one commit by `who`; returns the new revision (the head it builds on when
/// the change changes nothing).
pub async fn commit(
    core: &Core,
    who: &Principal,
    repo: &Gated,
    change: Change,
) -> Result<Revision> {
    let Change {
        summary,
        description,
        parent,
        at_head,
        branch,
        mut ops,
        lfs_paths,
        vouched,
        describe,
        moved,
    } = change;
    let describe = match repo.limited() {
        true => self::describe::Describe::Off,
        false => describe,
    };
    if ops.is_empty() {
        return Err(Error::unprocessable("the commit has no operations"));
    }
    if repo.limited() {
        // A write share reaches files under its path on the default branch, nothing else.
        if branch.as_deref().is_some_and(|b| b != DEFAULT_BRANCH) {
            return Err(Error::forbidden(format!(
                "what is shared with you can be written on {DEFAULT_BRANCH} only"
            )));
        }
        if let Some(op) = ops.iter().find(|op| !repo.covers(op_path(op))) {
            return Err(Error::forbidden(format!(
                "{:?} is not shared with you for writing",
                op_path(op)
            )));
        }
    }
    let mut lfs_paths = lfs_paths;
    let mut vouched = vouched;
    seal_contents(core, repo, &mut ops, &mut lfs_paths, &mut vouched).await?;
    fill_from_pointers(&mut ops);
    // The policies decide the tables written (`actionType` write): refused, or rewritten.
    let base = parent.as_deref().or(branch.as_deref());
    let governed = crate::governance::write::govern(
        core,
        repo,
        base,
        branch.as_deref(),
        &mut ops,
        &mut lfs_paths,
        &mut vouched,
    )
    .await?;
    // Metadata never points at bytes that are not there: the objects of LFS files and of the
    // datapackage's resources must have been uploaded to this dataset.
    let mut objects: Vec<(Oid, u64)> = Vec::new();
    for op in &ops {
        if let Op::Put { path, data } = op {
            if let Some(pointer) = strata_lfs::pointer::lenient(data) {
                if repo.limited() && !vouched.contains(&pointer.oid) {
                    return Err(Error::forbidden(format!(
                        "{path:?} names an LFS object: through a share, upload files in the \
                         browser instead"
                    )));
                }
                objects.push((pointer.oid, pointer.size));
            }
            if path == DATAPACKAGE {
                // A resource without `bytes` or `hash` takes them from its pointer in the commit.
                let pointer_in_commit = |at: &str| {
                    ops.iter().find_map(|op| match op {
                        Op::Put { path, data } if path == at => strata_lfs::pointer::lenient(data),
                        _ => None,
                    })
                };
                let package = Package::from_bytes_in(data, pointer_in_commit)?;
                crate::datasets::packaged::jobs(&package.json)?;
                objects.extend(package.resources.iter().map(|r| (r.oid, r.size)));
            }
        }
    }
    if repo
        .check_linked(core, objects.iter().copied())
        .await
        .is_err()
    {
        // Files uploaded through Xet become the objects they were claimed to be, read back.
        crate::xet::land(core, repo, &objects).await?;
        repo.check_linked(core, objects.into_iter()).await?;
    }

    let message = governed.message(match description.as_deref() {
        Some(d) if !d.trim().is_empty() => format!("{summary}\n\n{d}"),
        _ => summary,
    });
    let applied = governed.applied;
    let meta_author = author(who);
    let branch = branch.unwrap_or_else(|| DEFAULT_BRANCH.to_owned());
    let on_default = branch == DEFAULT_BRANCH;
    // What the namespace may still take, for the content the commit keeps in git (measured
    // against its parent once the commit's files are all known).
    let room = crate::quotas::room(core, repo).await?;
    let own_url = crate::datasets::lfs_url(core, repo);
    let written = git_on(core, repo, move |ms, ds| {
        let parent = match parent {
            Some(p) => Some(ms.resolve(ds, Some(&p))?),
            None if at_head => match ms.resolve(ds, Some(&branch)) {
                Ok(head) => Some(head),
                Err(strata_metastore::Error::NotFound(_)) => None,
                Err(e) => return Err(e),
            },
            None => None,
        };
        check_lfsconfig(ms, ds, parent, &ops, &own_url)?;
        let paths = (lfs_paths.as_slice(), moved.as_slice());
        let tables = self::describe::follow(ms, ds, parent, paths, &mut ops, describe)?;
        route_through_lfs(ms, ds, parent, &lfs_paths, &mut ops)?;
        crate::governance::write::patch_package(ms, ds, parent, &mut ops, &applied)?;
        let kept = ms.added_bytes(ds, parent, &ops, crate::quotas::counts_in_git)?;
        if let Err(why) = room.admits(kept) {
            return Ok(Err(why));
        }
        let meta = WriteMeta {
            branch: &branch,
            parent,
            author: &meta_author,
            message: &message,
        };
        let id = ms.commit(ds, &meta, &ops)?;
        Ok(Ok((ms.revision(ds, &id.to_string())?, tables, kept)))
    })
    .await?;
    let (revision, tables, kept) = written.map_err(|why| Error::new(Kind::Quota, why))?;
    crate::quotas::kept_in_git(core, repo, kept).await;
    crate::datasets::policies::written(core, repo).await;
    if on_default && !tables.is_empty() {
        self::describe::type_tables(core, who, repo, &tables).await;
    }
    Ok(revision)
}

/// A new commit on `branch` (default: the default branch) on top of `parent`, whose content is
/// that of revision `to`: a revert that keeps history. Needs a grant on the whole dataset.
pub async fn revert(
    core: &Core,
    who: &Principal,
    repo: &Gated,
    to: String,
    parent: String,
    branch: Option<String>,
    message: Option<String>,
) -> Result<Revision> {
    if repo.limited() {
        return Err(Error::forbidden(
            "a revert changes the whole dataset: a share of some files cannot",
        ));
    }
    let meta_author = author(who);
    let branch = branch.unwrap_or_else(|| DEFAULT_BRANCH.to_owned());
    // The tables it brings back are decided as writes (a revert cannot rewrite them).
    let at = to.clone();
    let package = git_on(core, repo, move |ms, ds| {
        let mut json = match ms.fetch_any(ds, Some(&at)) {
            Ok((_, p)) => p.map(|p| p.json).unwrap_or_default(),
            Err(strata_metastore::Error::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        crate::datasets::packaged::at_files(&mut json, |path| {
            ms.read_file(ds, Some(&at), path).ok()
        });
        Ok(Some(json))
    })
    .await?;
    if let Some(package) = package {
        use crate::governance::moved::{moved, Unrewritable};
        moved(core, repo, Some(&branch), &package, Unrewritable::Revert).await?;
    }
    let revision = git_on(core, repo, move |ms, ds| {
        let parent = ms.resolve(ds, Some(&parent))?;
        let to = ms.resolve(ds, Some(&to))?.to_string();
        let message = message.unwrap_or_else(|| format!("Revert to {to}"));
        let meta = WriteMeta {
            branch: &branch,
            parent: Some(parent),
            author: &meta_author,
            message: &message,
        };
        let id = ms.revert(ds, &meta, &to)?;
        ms.revision(ds, &id.to_string())
    })
    .await?;
    crate::datasets::policies::written(core, repo).await;
    Ok(revision)
}

/// With encryption at rest on (`--encryption on` or `strict`), the content of every file a commit
/// writes in plain (REST `file` lines, restores and moves of plain files) is stored as an LFS
/// object of the dataset (sealed on the local disk and in strict mode; with the bucket's own
/// encryption otherwise) and committed as its pointer: git objects are never encrypted. The
/// server's own files (`datapackage.json`, `.gitattributes`, `.lfsconfig`), empty files and the
/// policy dataset (whose `.rego` files the server reads from git) stay as they are.
async fn seal_contents(
    core: &Core,
    repo: &Gated,
    ops: &mut [Op],
    lfs_paths: &mut Vec<String>,
    vouched: &mut Vec<Oid>,
) -> Result<()> {
    if core.settings.encryption == crate::config::Encryption::Off
        || core
            .governance
            .is_policy_dataset(&repo.namespace, &repo.name)
    {
        return Ok(());
    }
    for op in ops.iter_mut() {
        let Op::Put { path, data } = op else { continue };
        if data.is_empty()
            || crate::datasets::paths::plain_allowed(path)
            || strata_lfs::pointer::lenient(data).is_some()
        {
            continue;
        }
        crate::quotas::check(core, repo, None, data.len() as u64).await?;
        let bytes = bytes::Bytes::from(std::mem::take(data));
        let body =
            futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(bytes) });
        let (oid, size) = core.storage.ingest(repo.id, body, u64::MAX).await?;
        core.storage.link(repo.id, &oid, size).await?;
        *data = strata_lfs::pointer::Pointer { oid, size }
            .encode()
            .into_bytes();
        lfs_paths.push(path.clone());
        vouched.push(oid);
    }
    Ok(())
}

/// Refuses a write that would repoint `.lfsconfig` (strata's: every clone's git-lfs reads it) or
/// remove it: compared with the parent's, only settings other than where git-lfs goes may change,
/// or it may point at `own_url`, the dataset's own LFS endpoint.
fn check_lfsconfig(
    ms: &Metastore,
    ds: DatasetId<'_>,
    parent: Option<ObjectId>,
    ops: &[Op],
    own_url: &str,
) -> strata_metastore::Result<()> {
    let Some(op) = ops.iter().find(|op| op_path(op) == LFSCONFIG) else {
        return Ok(());
    };
    let before = match parent {
        Some(p) => match ms.read_file(ds, Some(&p.to_string()), LFSCONFIG) {
            Ok(bytes) => Some(bytes),
            Err(strata_metastore::Error::NotFound(_)) => None,
            Err(e) => return Err(e),
        },
        None => None,
    };
    let after = match op {
        Op::Put { data, .. } => Some(data.as_slice()),
        Op::Delete { .. } => None,
    };
    strata_metastore::lfsconfig::check_change(before.as_deref(), after, Some(own_url))
        .map_err(strata_metastore::Error::Forbidden)
}

fn op_path(op: &Op) -> &str {
    match op {
        Op::Put { path, .. } | Op::Delete { path } => path,
    }
}

/// Adds the LFS paths missing from the parent's `.gitattributes`, so that a clone smudges them
/// like every other LFS file (unless the commit writes `.gitattributes` itself).
pub(crate) fn route_through_lfs(
    ms: &Metastore,
    ds: DatasetId<'_>,
    parent: Option<ObjectId>,
    paths: &[String],
    ops: &mut Vec<Op>,
) -> strata_metastore::Result<()> {
    let own = ops
        .iter()
        .any(|op| matches!(op, Op::Put { path, .. } if path == GITATTRIBUTES));
    if paths.is_empty() || own {
        return Ok(());
    }
    let mut text = match parent {
        Some(p) => match ms.read_file(ds, Some(&p.to_string()), GITATTRIBUTES) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(strata_metastore::Error::NotFound(_)) => String::new(),
            Err(e) => return Err(e),
        },
        None => String::new(),
    };
    let before = text.len();
    for path in paths {
        let line = lfs_attribute_line(path);
        if !text.lines().any(|l| format!("{l}\n") == line) {
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&line);
        }
    }
    if text.len() != before {
        ops.push(Op::Put {
            path: GITATTRIBUTES.into(),
            data: text.into_bytes(),
        });
    }
    Ok(())
}

/// Replaces the datapackage of `branch` (default: the default branch) on top of `parent`, with
/// the pointers and `.gitattributes` lines its resources need. Tables it names with new objects
/// are governed writes (`actionType` write): refused, or rewritten with the datapackage following
/// them, as a commit's are. The new revision and the datapackage it holds.
pub async fn update_package(
    core: &Core,
    who: &Principal,
    repo: &Gated,
    json: serde_json::Value,
    parent: Option<String>,
    branch: Option<String>,
    message: Option<String>,
) -> Result<(Revision, strata_metastore::Package)> {
    let package = Package::from_json(json)?;
    crate::datasets::packaged::jobs(&package.json)?;
    repo.check_linked(core, package.resources.iter().map(|r| (r.oid, r.size)))
        .await?;
    let branch = branch.unwrap_or_else(|| DEFAULT_BRANCH.to_owned());
    let base = parent.clone().unwrap_or_else(|| branch.clone());
    let mut ops = vec![Op::Put {
        path: DATAPACKAGE.into(),
        data: package.to_bytes(),
    }];
    let (mut lfs_paths, mut vouched) = (Vec::new(), Vec::new());
    let governed = crate::governance::write::govern(
        core,
        repo,
        Some(&base),
        Some(&branch),
        &mut ops,
        &mut lfs_paths,
        &mut vouched,
    )
    .await?;
    let message = governed.message(message.unwrap_or_else(|| "Update datapackage".into()));
    let applied = governed.applied;
    let meta_author = author(who);
    let url = crate::datasets::lfs_url(core, repo);
    let (revision, package) = git_on(core, repo, move |ms, ds| {
        let parent = parent.map(|p| ms.resolve(ds, Some(&p))).transpose()?;
        crate::governance::write::patch_package(ms, ds, parent, &mut ops, &applied)?;
        let package = match ops.into_iter().find_map(|op| match op {
            Op::Put { path, data } if path == DATAPACKAGE => Some(data),
            _ => None,
        }) {
            Some(data) => Package::from_bytes(&data)?,
            None => package,
        };
        let meta = WriteMeta {
            branch: &branch,
            parent,
            author: &meta_author,
            message: &message,
        };
        let id = ms.update(ds, &meta, &package, Some(&url))?;
        ms.fetch(ds, Some(&id.to_string()))
    })
    .await?;
    crate::datasets::policies::written(core, repo).await;
    Ok((revision, package))
}

/// A datapackage written without `bytes` or `hash` for a resource takes them from the resource's
/// pointer in the same commit, before the policies see it: what they decide on (and what
/// `retag` compares) is what reads will see. A datapackage that does not parse is left as it is,
/// to be refused later in its own words.
fn fill_from_pointers(ops: &mut [Op]) {
    let pointers: std::collections::HashMap<String, strata_lfs::pointer::Pointer> = ops
        .iter()
        .filter_map(|op| match op {
            Op::Put { path, data } => strata_lfs::pointer::lenient(data).map(|p| (path.clone(), p)),
            _ => None,
        })
        .collect();
    for op in ops.iter_mut() {
        let Op::Put { path, data } = op else { continue };
        if path != DATAPACKAGE {
            continue;
        }
        let Ok(before) = serde_json::from_slice::<serde_json::Value>(data) else {
            continue;
        };
        let Ok(package) = Package::from_json_in(before.clone(), |p| pointers.get(p).copied())
        else {
            continue;
        };
        if serde_json::Value::Object(package.json.clone()) != before {
            *data = package.to_bytes();
        }
    }
}
