//! Reachability: the LFS objects a dataset's refs still reach, for garbage collection. Every ref
//! counts (branches, tags, anything else under `refs/`); each ref's own revision always, and the
//! revisions behind it back to a cut-off (all of them without one). An object is named by an LFS
//! pointer (in any spelling git-lfs accepts) or by a resource of the root `datapackage.json`,
//! exactly what a push must have uploaded.

use std::collections::{HashMap, HashSet};

use gix::ObjectId;
use strata_lfs::pointer;
use strata_lfs::Oid;

use crate::error::{Error, Result};
use crate::package::{Package, DATAPACKAGE};
use crate::{DatasetId, Metastore};

/// What a dataset's refs reach.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reached {
    /// Every object named, with the size it is named with.
    pub objects: HashMap<Oid, u64>,
    /// The refs walked and the revisions whose trees were read.
    pub refs: usize,
    pub revisions: usize,
}

impl Metastore {
    /// The objects the refs of `ds` reach: each ref's revision, and the revisions behind it made
    /// (committed) at or after `since` (unix seconds; `None`: all of them). Fails closed: a
    /// missing repository, or a ref whose objects cannot be read, is an error, never "nothing".
    pub fn reached(&self, ds: DatasetId<'_>, since: Option<i64>) -> Result<Reached> {
        let repo = match self.open(ds) {
            Ok(repo) => repo,
            Err(Error::NotFound(_)) => {
                return Err(Error::Git(format!(
                    "the repository of {ds} is missing: nothing of it is collected"
                )))
            }
            Err(e) => return Err(e),
        };
        let mut tips = Vec::new();
        for r in repo.references()?.all()? {
            let mut r = r.map_err(Error::git)?;
            let name = r.name().as_bstr().to_string();
            let id = r
                .peel_to_id()
                .map_err(|e| Error::Git(format!("{name} cannot be read: {e}")))?
                .detach();
            let kind = self
                .object_kind(&repo, id)
                .map_err(|e| Error::Git(format!("{name} names {id}, which cannot be read: {e}")))?;
            // A ref that names no commit (a tag of a blob or tree) reaches no revision.
            if kind == gix::objs::Kind::Commit {
                tips.push(id);
            }
        }
        let mut out = Reached {
            refs: tips.len(),
            ..Reached::default()
        };
        let mut walker = Walker {
            repo: &repo,
            trees: HashSet::new(),
            blobs: HashSet::new(),
            objects: &mut out.objects,
        };
        let mut commits: HashSet<ObjectId> = HashSet::new();
        for tip in &tips {
            if commits.insert(*tip) {
                walker.commit(*tip)?;
            }
        }
        if !tips.is_empty() {
            for info in repo.rev_walk(tips).all()? {
                let info = info.map_err(Error::git)?;
                if commits.contains(&info.id) {
                    continue;
                }
                let commit = repo.find_commit(info.id)?;
                let time = commit.time().map_or(0, |t| t.seconds);
                if since.is_none_or(|s| time >= s) {
                    commits.insert(info.id);
                    walker.commit(info.id)?;
                }
            }
        }
        out.revisions = commits.len();
        Ok(out)
    }
}

impl Metastore {
    fn object_kind(&self, repo: &gix::Repository, id: ObjectId) -> Result<gix::objs::Kind> {
        Ok(repo.find_header(id)?.kind())
    }
}

/// Reads trees once each and blobs once each.
struct Walker<'a> {
    repo: &'a gix::Repository,
    trees: HashSet<ObjectId>,
    /// By id, and whether read as the root datapackage (the same bytes elsewhere are not).
    blobs: HashSet<(ObjectId, bool)>,
    objects: &'a mut HashMap<Oid, u64>,
}

impl Walker<'_> {
    fn commit(&mut self, id: ObjectId) -> Result<()> {
        let tree = self.repo.find_commit(id)?.tree_id()?.detach();
        self.tree(tree, true)
    }

    fn tree(&mut self, id: ObjectId, root: bool) -> Result<()> {
        if !self.trees.insert(id) {
            return Ok(());
        }
        let tree = self.repo.find_tree(id)?;
        let entries: Vec<(bool, bool, ObjectId, bool)> = tree
            .decode()?
            .entries
            .iter()
            .map(|e| {
                (
                    e.mode.is_tree(),
                    e.mode.is_blob(),
                    e.oid.to_owned(),
                    root && e.filename == DATAPACKAGE,
                )
            })
            .collect();
        for (is_tree, is_blob, oid, package) in entries {
            if is_tree {
                self.tree(oid, false)?;
            } else if is_blob && self.blobs.insert((oid, package)) {
                let data = self.repo.find_object(oid)?.detach().data;
                if let Some(p) = pointer::lenient(&data) {
                    self.objects.insert(p.oid, p.size);
                }
                if package {
                    // An invalid datapackage names nothing strata would have checked.
                    if let Ok(package) = Package::from_bytes(&data) {
                        for r in package.resources {
                            self.objects.insert(r.oid, r.size);
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

impl Metastore {
    /// The objects named by the revisions reachable from `tips` but not from `hidden` in the
    /// repository at `git_dir` (a fetch's staging repository, which borrows a dataset's objects):
    /// what a mirror must hold before its refs may move to `tips`. Tips that are tags are
    /// followed to what they tag; tips that reach no revision name nothing; hidden ids the
    /// repository lacks are passed over.
    pub fn introduced(
        &self,
        git_dir: &std::path::Path,
        tips: &[ObjectId],
        hidden: &[ObjectId],
    ) -> Result<HashMap<Oid, u64>> {
        let repo = gix::open(git_dir)?;
        let commits = |ids: &[ObjectId]| -> Result<Vec<ObjectId>> {
            let mut out = Vec::new();
            for id in ids {
                let object = repo
                    .find_object(*id)?
                    .peel_tags_to_end()
                    .map_err(Error::git)?;
                if object.kind == gix::objs::Kind::Commit {
                    out.push(object.id);
                }
            }
            Ok(out)
        };
        // Hidden ids this repository does not have (a remote's, ahead of it) hide nothing.
        let known: Vec<ObjectId> = hidden
            .iter()
            .filter(|id| repo.has_object(*id))
            .copied()
            .collect();
        let (tips, hidden) = (commits(tips)?, commits(&known)?);
        let mut objects = HashMap::new();
        if tips.is_empty() {
            return Ok(objects);
        }
        let mut walker = Walker {
            repo: &repo,
            trees: HashSet::new(),
            blobs: HashSet::new(),
            objects: &mut objects,
        };
        for info in repo.rev_walk(tips).with_hidden(hidden).all()? {
            let info = info.map_err(Error::git)?;
            walker.commit(info.id)?;
        }
        Ok(objects)
    }
}
