//! Writes: one atomic commit per call, based on a named parent revision. When the branch moved
//! since that parent, the write is applied on top of the new head only if none of the paths it
//! touches changed in between; otherwise it is refused as a conflict. Two writers on the same
//! parent never both win silently. A write that changes nothing (its tree is the one it builds
//! on) makes no revision: it answers the revision it would have built on.

use std::collections::BTreeSet;

use gix::objs::tree::EntryKind;
use gix::ObjectId;

use crate::error::{Error, Result};
use crate::history::changed_paths;
use crate::package::{check_path, read_package, Package, DATAPACKAGE, GITATTRIBUTES, LFSCONFIG};
use crate::refs::{check_ref_name, current, resolve};
use crate::{now, DatasetId, Metastore, Person};

/// One change of a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Writes a file (creating its directories). A file in the way of its directories, or a folder
    /// at its path, is a conflict unless the same commit deletes it.
    Put { path: String, data: Vec<u8> },
    /// Removes a file; removing a file that is not there is an error.
    Delete { path: String },
}

impl Op {
    fn path(&self) -> &str {
        match self {
            Op::Put { path, .. } | Op::Delete { path } => path,
        }
    }
}

/// What a write is based on and who makes it.
#[derive(Debug, Clone)]
pub struct WriteMeta<'a> {
    pub branch: &'a str,
    /// The revision the write builds on; `None` only for the first commit of a branch.
    pub parent: Option<ObjectId>,
    pub author: &'a Person,
    pub message: &'a str,
}

impl Metastore {
    /// Commits `ops` as one commit on `meta.branch`. Returns the new revision's id, or, when
    /// `ops` change nothing, the branch's head as it is (no revision is made, no ref moves).
    pub fn commit(&self, ds: DatasetId<'_>, meta: &WriteMeta<'_>, ops: &[Op]) -> Result<ObjectId> {
        check_ref_name("branch", meta.branch)?;
        if meta.message.trim().is_empty() {
            return Err(Error::Invalid("a commit needs a message".into()));
        }
        let seen = check_paths(ops)?;
        let path = self.repo_path(ds)?;
        let lock = self.lock(&path);
        let _guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        let repo = self.open(ds)?;
        let branch = format!("refs/heads/{}", meta.branch);
        let head = current(&repo, &branch)?;
        let base = rebase_target(&repo, meta, head, &seen)?;
        let base_tree = match base {
            Some(id) => repo.find_commit(id)?.tree_id()?.detach(),
            None => repo.empty_tree().id,
        };
        let tree = apply(&repo, base_tree, ops)?;
        if let (Some(base), true) = (base, tree == base_tree) {
            return Ok(base);
        }
        let id = self.write_commit(&repo, tree, base.into_iter().collect(), meta)?;
        let log = format!("commit: {}", meta.message.lines().next().unwrap_or(""));
        self.check_head(ds, &branch, id, crate::Write::Commit)?;
        self.swap_ref(&repo, &branch, head, Some(id), &log)?;
        Ok(id)
    }

    /// Replaces the datapackage: writes `datapackage.json`, a pointer per resource,
    /// `.gitattributes` and `.lfsconfig`, and removes the pointers of resources that are gone.
    pub fn update(
        &self,
        ds: DatasetId<'_>,
        meta: &WriteMeta<'_>,
        package: &Package,
        lfs_url: Option<&str>,
    ) -> Result<ObjectId> {
        let repo = self.open(ds)?;
        let mut ops = Vec::new();
        if let Some(parent) = meta.parent {
            let before = read_package(&repo, parent)?;
            let keep: BTreeSet<&str> = package.resources.iter().map(|r| r.path.as_str()).collect();
            for gone in before.iter().flat_map(|p| &p.resources) {
                if !keep.contains(gone.path.as_str()) {
                    ops.push(Op::Delete {
                        path: gone.path.clone(),
                    });
                }
            }
        }
        for (path, data) in package.files(lfs_url) {
            ops.push(Op::Put { path, data });
        }
        self.commit(ds, meta, &ops)
    }

    /// A new commit on top of `meta.parent` whose tree is that of revision `to`; `meta.parent`
    /// itself when its tree is that already (nothing to revert).
    pub fn revert(&self, ds: DatasetId<'_>, meta: &WriteMeta<'_>, to: &str) -> Result<ObjectId> {
        let path = self.repo_path(ds)?;
        let lock = self.lock(&path);
        let _guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        let repo = self.open(ds)?;
        let target_tree = repo
            .find_commit(resolve(&repo, Some(to))?)?
            .tree_id()?
            .detach();
        let branch = format!("refs/heads/{}", meta.branch);
        let head = current(&repo, &branch)?;
        let Some(parent) = meta.parent else {
            return Err(Error::Invalid("a revert needs the parent revision".into()));
        };
        if head != Some(parent) {
            return Err(Error::Conflict(format!(
                "{} has moved on from {parent}: fetch the new head and try again",
                meta.branch
            )));
        }
        if repo.find_commit(parent)?.tree_id()?.detach() == target_tree {
            return Ok(parent);
        }
        let id = self.write_commit(&repo, target_tree, vec![parent], meta)?;
        self.check_head(ds, &branch, id, crate::Write::Commit)?;
        self.swap_ref(&repo, &branch, head, Some(id), "revert")?;
        Ok(id)
    }

    /// The bytes the files `ops` put would add to git on top of revision `base` (`None`: on
    /// nothing): each one `counts` takes (by path, size and content) whose content is not at its
    /// path in `base` already.
    pub fn added_bytes(
        &self,
        ds: DatasetId<'_>,
        base: Option<ObjectId>,
        ops: &[Op],
        counts: impl Fn(&str, u64, &[u8]) -> bool,
    ) -> Result<u64> {
        let repo = self.open(ds)?;
        let tree = match base {
            Some(id) => Some(repo.find_commit(id)?.tree()?),
            None => None,
        };
        let mut total = 0u64;
        for op in ops {
            let Op::Put { path, data } = op else {
                continue;
            };
            let size = data.len() as u64;
            if !counts(path.as_str(), size, data.as_slice()) {
                continue;
            }
            let id = gix::objs::compute_hash(repo.object_hash(), gix::objs::Kind::Blob, data)
                .map_err(Error::git)?;
            let kept = match &tree {
                Some(tree) => tree
                    .lookup_entry_by_path(path.as_str())?
                    .is_some_and(|e| e.object_id() == id),
                None => false,
            };
            if !kept {
                total = total.saturating_add(size);
            }
        }
        Ok(total)
    }

    /// Writes a commit object (no ref changes): `meta`'s author, strata as committer, now.
    pub(crate) fn write_commit(
        &self,
        repo: &gix::Repository,
        tree: ObjectId,
        parents: Vec<ObjectId>,
        meta: &WriteMeta<'_>,
    ) -> Result<ObjectId> {
        let time = now();
        let commit = gix::objs::Commit {
            tree,
            parents: parents.into(),
            author: meta.author.signature(time),
            committer: self.committer.signature(time),
            encoding: None,
            message: meta.message.into(),
            extra_headers: Vec::new(),
        };
        Ok(repo.write_object(&commit)?.detach())
    }
}

/// The tree `base` becomes with `ops` applied (deletions first), written.
pub(crate) fn apply(repo: &gix::Repository, base: ObjectId, ops: &[Op]) -> Result<ObjectId> {
    check_kinds(repo, base, ops)?;
    let mut editor = repo.edit_tree(base)?;
    let tree = repo.find_tree(base)?;
    for op in ops {
        if let Op::Delete { path } = op {
            if tree.lookup_entry_by_path(path)?.is_none() {
                return Err(Error::NotFound(format!("{path:?} does not exist")));
            }
            editor.remove(path.as_str())?;
        }
    }
    for op in ops {
        if let Op::Put { path, data } = op {
            let blob = repo.write_blob(data)?;
            editor.upsert(path.as_str(), EntryKind::Blob, blob)?;
        }
    }
    Ok(editor.write()?.detach())
}

/// The commit a write applies to: the parent itself, or the branch's newer head when none of the
/// `touched` paths changed since the parent.
fn rebase_target(
    repo: &gix::Repository,
    meta: &WriteMeta<'_>,
    head: Option<ObjectId>,
    touched: &BTreeSet<&str>,
) -> Result<Option<ObjectId>> {
    match (meta.parent, head) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err(Error::Conflict(format!(
            "{} already has revisions: name the parent this write builds on",
            meta.branch
        ))),
        (Some(_), None) => Err(Error::NotFound(format!("branch {} not found", meta.branch))),
        (Some(parent), Some(head)) if parent == head => Ok(Some(head)),
        (Some(parent), Some(head)) => {
            if !is_ancestor(repo, parent, head)? {
                return Err(Error::Conflict(format!(
                    "{parent} is not a revision of {}",
                    meta.branch
                )));
            }
            let changed = changed_paths(repo, parent, head)?;
            let clash: Vec<&str> = touched
                .iter()
                .copied()
                .filter(|p| changed.iter().any(|c| overlaps(c, p)))
                .collect();
            if clash.is_empty() {
                Ok(Some(head))
            } else {
                Err(Error::Conflict(format!(
                    "{} changed since {parent} and so did {}: fetch the new head and try again",
                    meta.branch,
                    clash.join(", ")
                )))
            }
        }
    }
}

/// Checks each path `ops` write (the server's own files aside) and that none appears twice; the
/// paths touched.
pub(crate) fn check_paths(ops: &[Op]) -> Result<BTreeSet<&str>> {
    let mut seen = BTreeSet::new();
    for op in ops {
        let path = op.path();
        if ![DATAPACKAGE, GITATTRIBUTES, LFSCONFIG].contains(&path) {
            check_path(path).map_err(Error::Invalid)?;
        }
        if !seen.insert(path) {
            return Err(Error::Invalid(format!(
                "{path:?} appears twice in one commit"
            )));
        }
    }
    Ok(seen)
}

/// Refuses a commit that would silently turn a file into a folder or a folder into a file: a
/// file put inside a path that is a file, a file put where a folder is, or both in one commit.
/// Deleting the file (or every file of the folder) in the same commit says it is meant.
fn check_kinds(repo: &gix::Repository, base: ObjectId, ops: &[Op]) -> Result<()> {
    let tree = repo.find_tree(base)?;
    let deleted: BTreeSet<&str> = ops
        .iter()
        .filter_map(|op| match op {
            Op::Delete { path } => Some(path.as_str()),
            Op::Put { .. } => None,
        })
        .collect();
    let puts: BTreeSet<&str> = ops
        .iter()
        .filter_map(|op| match op {
            Op::Put { path, .. } => Some(path.as_str()),
            Op::Delete { .. } => None,
        })
        .collect();
    for path in &puts {
        for (end, _) in path.match_indices('/') {
            let folder = &path[..end];
            if puts.contains(folder) {
                return Err(Error::Invalid(format!(
                    "{folder:?} cannot be both a file and a folder in one commit"
                )));
            }
            if deleted.contains(folder) {
                continue;
            }
            match tree.lookup_entry_by_path(folder)? {
                Some(e) if !e.mode().is_tree() => {
                    return Err(Error::Conflict(format!(
                        "{folder:?} is a file: {path:?} cannot go inside it"
                    )))
                }
                Some(_) => {}
                None => break,
            }
        }
        let Some(entry) = tree.lookup_entry_by_path(path)? else {
            continue;
        };
        if entry.mode().is_tree() {
            let mut files = gix::traverse::tree::Recorder::default();
            entry
                .object()?
                .into_tree()
                .traverse()
                .breadthfirst(&mut files)?;
            let kept = files.records.iter().any(|f| {
                !f.mode.is_tree() && !deleted.contains(format!("{path}/{}", f.filepath).as_str())
            });
            if kept {
                return Err(Error::Conflict(format!(
                    "{path:?} is a folder: a file cannot take its place"
                )));
            }
        }
    }
    Ok(())
}

/// Whether one path is the other or lies inside it.
fn overlaps(a: &str, b: &str) -> bool {
    let inside = |x: &str, dir: &str| {
        x.len() > dir.len() && x.starts_with(dir) && x.as_bytes()[dir.len()] == b'/'
    };
    a == b || inside(a, b) || inside(b, a)
}

pub(crate) fn is_ancestor(
    repo: &gix::Repository,
    ancestor: ObjectId,
    of: ObjectId,
) -> Result<bool> {
    Ok(matches!(repo.merge_base(ancestor, of), Ok(Some(base)) if base.detach() == ancestor))
}
