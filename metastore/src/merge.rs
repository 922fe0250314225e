//! Three-way merges of one branch into another: the two heads and their merge base, the files
//! that differ on either side since that base, and the merge commit (two parents) written as a
//! compare-and-swap on the target branch. What to do with a file both sides changed is the
//! caller's to decide (strata-core merges datapackages and tables); this module only moves git.

use std::collections::{BTreeMap, BTreeSet};

use gix::ObjectId;

use crate::error::{Error, Result};
use crate::refs::{check_ref_name, current, resolve};
use crate::write::{apply, check_paths, is_ancestor, Op};
use crate::{DatasetId, Metastore, Person, Write};

/// The revisions of a merge: the target's head (`ours`), the source's head (`theirs`) and their
/// merge base (none when the branches share no history).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sides {
    pub ours: ObjectId,
    pub theirs: ObjectId,
    pub base: Option<ObjectId>,
}

impl Sides {
    /// Whether the source's head is already part of the target's history.
    pub fn merged(&self) -> bool {
        self.base == Some(self.theirs)
    }
}

/// One file that differs on either side since the base: its blob at the base, in the target and
/// in the source (`None`: not there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathSides {
    pub path: String,
    pub base: Option<ObjectId>,
    pub ours: Option<ObjectId>,
    pub theirs: Option<ObjectId>,
}

impl PathSides {
    /// Only the source changed it: the merge takes the source's.
    pub fn theirs_only(&self) -> bool {
        self.ours == self.base && self.theirs != self.base
    }

    /// Both sides changed it, differently.
    pub fn both(&self) -> bool {
        self.ours != self.base && self.theirs != self.base && self.ours != self.theirs
    }
}

/// A merge commit to write.
#[derive(Debug, Clone)]
pub struct MergeMeta<'a> {
    /// The target branch (short name).
    pub branch: &'a str,
    /// The heads the merge was made for: the target must still be at `sides.ours`.
    pub sides: Sides,
    pub author: &'a Person,
    pub message: &'a str,
}

impl Metastore {
    /// The heads of branches `target` and `source` and their merge base.
    pub fn merge_sides(&self, ds: DatasetId<'_>, target: &str, source: &str) -> Result<Sides> {
        check_ref_name("branch", target)?;
        check_ref_name("branch", source)?;
        let repo = self.open(ds)?;
        let head = |branch: &str| {
            current(&repo, &format!("refs/heads/{branch}"))?
                .ok_or_else(|| Error::NotFound(format!("branch {branch} not found")))
        };
        let (ours, theirs) = (head(target)?, head(source)?);
        let base = repo
            .merge_base(ours, theirs)
            .map_err(|e| Error::Git(e.to_string()))?
            .map(|b| b.detach());
        Ok(Sides { ours, theirs, base })
    }

    /// The sides a merge commit `merged` was made for: its first parent (the target then), its
    /// second (the source then) and their merge base. A commit of one parent (a merge that only
    /// moved the target forward) had its parent as the target and base, and itself as the
    /// source.
    pub fn sides_of(&self, ds: DatasetId<'_>, merged: &str) -> Result<Sides> {
        let repo = self.open(ds)?;
        let id = resolve(&repo, Some(merged))?;
        let commit = repo.find_commit(id)?;
        let parents: Vec<ObjectId> = commit.parent_ids().map(|p| p.detach()).collect();
        match parents.as_slice() {
            [ours, theirs, ..] => {
                let base = repo
                    .merge_base(*ours, *theirs)
                    .map_err(|e| Error::Git(e.to_string()))?
                    .map(|b| b.detach());
                Ok(Sides {
                    ours: *ours,
                    theirs: *theirs,
                    base,
                })
            }
            [parent] => Ok(Sides {
                ours: *parent,
                theirs: id,
                base: Some(*parent),
            }),
            [] => Err(Error::Invalid(format!("{merged} has no parent"))),
        }
    }

    /// Every file whose blob differs between the base and either head, in path order.
    pub fn merge_paths(&self, ds: DatasetId<'_>, sides: &Sides) -> Result<Vec<PathSides>> {
        let repo = self.open(ds)?;
        let files = |rev: Option<ObjectId>| -> Result<BTreeMap<String, ObjectId>> {
            let Some(rev) = rev else {
                return Ok(BTreeMap::new());
            };
            let tree = repo.find_commit(rev)?.tree()?;
            let mut files = gix::traverse::tree::Recorder::default();
            tree.traverse().breadthfirst(&mut files)?;
            Ok(files
                .records
                .into_iter()
                .filter(|e| !e.mode.is_tree())
                .map(|e| (e.filepath.to_string(), e.oid))
                .collect())
        };
        let (base, ours, theirs) = (
            files(sides.base)?,
            files(Some(sides.ours))?,
            files(Some(sides.theirs))?,
        );
        let paths: BTreeSet<&String> = base
            .keys()
            .chain(ours.keys())
            .chain(theirs.keys())
            .collect();
        Ok(paths
            .into_iter()
            .filter_map(|p| {
                let sides = PathSides {
                    path: p.clone(),
                    base: base.get(p).copied(),
                    ours: ours.get(p).copied(),
                    theirs: theirs.get(p).copied(),
                };
                (sides.ours != sides.base || sides.theirs != sides.base).then_some(sides)
            })
            .collect())
    }

    /// The bytes of blob `id` of `ds`, if it holds at most `limit` bytes (`None` otherwise).
    pub fn blob_upto(
        &self,
        ds: DatasetId<'_>,
        id: ObjectId,
        limit: u64,
    ) -> Result<Option<Vec<u8>>> {
        let repo = self.open(ds)?;
        let header = repo.find_header(id)?;
        if header.size() > limit {
            return Ok(None);
        }
        let data = repo.find_blob(id)?.data.clone();
        Ok(Some(data))
    }

    /// Writes the merge of `meta.sides.theirs` into branch `meta.branch`: the target's tree with
    /// `ops` applied, committed with the two heads as parents. The target must still be at
    /// `meta.sides.ours` (a conflict otherwise: nothing is written).
    pub fn write_merge(
        &self,
        ds: DatasetId<'_>,
        meta: &MergeMeta<'_>,
        ops: &[Op],
    ) -> Result<ObjectId> {
        if meta.message.trim().is_empty() {
            return Err(Error::Invalid("a merge needs a message".into()));
        }
        check_paths(ops)?;
        let path = self.repo_path(ds)?;
        let lock = self.lock(&path);
        let _guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        let repo = self.open(ds)?;
        let branch = format!("refs/heads/{}", meta.branch);
        let head = current(&repo, &branch)?;
        let Sides { ours, theirs, .. } = meta.sides;
        if head != Some(ours) {
            return Err(Error::Conflict(format!(
                "{} moved since the merge was prepared (it was at {ours}, it is at {}): look at \
                 the merge again",
                meta.branch,
                head.map_or_else(|| "nothing".to_owned(), |h| h.to_string())
            )));
        }
        if is_ancestor(&repo, theirs, ours)? {
            return Err(Error::Invalid(format!(
                "{theirs} is already merged into {}",
                meta.branch
            )));
        }
        // The source must still hold what the merge was made of.
        let _ = resolve(&repo, Some(&theirs.to_string()))?;
        let base_tree = repo.find_commit(ours)?.tree_id()?.detach();
        let tree = apply(&repo, base_tree, ops)?;
        let write = crate::WriteMeta {
            branch: meta.branch,
            parent: Some(ours),
            author: meta.author,
            message: meta.message,
        };
        let id = self.write_commit(&repo, tree, vec![ours, theirs], &write)?;
        self.check_head(ds, &branch, id, Write::Merge)?;
        let first = meta.message.lines().next().unwrap_or("");
        self.swap_ref(&repo, &branch, head, Some(id), &format!("merge: {first}"))?;
        Ok(id)
    }
}
