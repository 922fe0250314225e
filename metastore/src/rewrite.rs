//! History rewriting, for erasure: every revision any ref reaches is rewritten with some files
//! dropped or replaced, keeping each commit's author, committer, times and message (and each
//! annotated tag's tagger and message); revisions that did not change keep their ids; then every
//! ref that changed moves by compare-and-swap. The old objects stay in the repository until it is
//! pruned (the caller's business).

use std::collections::HashMap;

use gix::ObjectId;

use crate::error::{Error, Result};
use crate::{DatasetId, Metastore};

/// What to do with one file of one revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    Keep,
    Drop,
    Replace(Vec<u8>),
}

/// What a rewrite changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rewrite {
    /// Revisions rewritten: old id, new id.
    pub revisions: Vec<(String, String)>,
    /// Refs moved: full name, old target, new target.
    pub refs: Vec<(String, String, String)>,
}

impl Metastore {
    /// Rewrites every revision of `ds` any ref reaches: each file whose path `wants` is handed to
    /// `edit` (once per distinct content and path), which keeps, drops or replaces it. A folder
    /// left empty goes. Refs move last, each from the value read at the start: one that moved
    /// meanwhile (another replica's write) is a conflict, and the refs moved before it stay
    /// moved (running the rewrite again finishes it). Without `move_refs`, a plan: the new
    /// objects are written (unreachable) and the moves listed, but no ref moves.
    pub fn rewrite_history(
        &self,
        ds: DatasetId<'_>,
        wants: &dyn Fn(&str) -> bool,
        edit: &mut dyn FnMut(&str, &[u8]) -> Result<Edit>,
        move_refs: bool,
    ) -> Result<Rewrite> {
        let path = self.repo_path(ds)?;
        let lock = self.lock(&path);
        let _guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        let repo = self.open(ds)?;
        let mut refs = Vec::new();
        for r in repo.references()?.all()? {
            let r = r.map_err(Error::git)?;
            if let Some(id) = r.target().try_id() {
                refs.push((r.name().as_bstr().to_string(), id.to_owned()));
            }
        }
        let mut rw = Rewriter {
            repo: &repo,
            wants,
            edit,
            commits: HashMap::new(),
            trees: HashMap::new(),
            blobs: HashMap::new(),
            empty: repo.empty_tree().id,
        };
        let mut moves = Vec::new();
        for (name, old) in &refs {
            let new = rw.object(*old)?;
            if new != *old {
                moves.push((name.clone(), *old, new));
            }
        }
        let mut out = Rewrite {
            revisions: rw
                .commits
                .iter()
                .filter(|(old, new)| old != new)
                .map(|(old, new)| (old.to_string(), new.to_string()))
                .collect(),
            refs: Vec::new(),
        };
        out.revisions.sort();
        for (name, old, new) in moves {
            if move_refs {
                self.swap_ref(
                    &repo,
                    &name,
                    Some(old),
                    Some(new),
                    "erase: history rewritten",
                )?;
            }
            out.refs.push((name, old.to_string(), new.to_string()));
        }
        Ok(out)
    }
}

struct Rewriter<'a> {
    repo: &'a gix::Repository,
    wants: &'a dyn Fn(&str) -> bool,
    edit: &'a mut dyn FnMut(&str, &[u8]) -> Result<Edit>,
    commits: HashMap<ObjectId, ObjectId>,
    /// By tree and the path it is at (what is edited depends on the path).
    trees: HashMap<(ObjectId, String), ObjectId>,
    /// By blob and path: its replacement, or `None` when dropped.
    blobs: HashMap<(ObjectId, String), Option<ObjectId>>,
    empty: ObjectId,
}

impl Rewriter<'_> {
    /// A ref's target rewritten: a commit, or an annotated tag (written again around its
    /// rewritten target); anything else as it is.
    fn object(&mut self, id: ObjectId) -> Result<ObjectId> {
        let object = self.repo.find_object(id)?;
        match object.kind {
            gix::objs::Kind::Commit => self.commit(id),
            gix::objs::Kind::Tag => {
                let mut tag: gix::objs::Tag = object.into_tag().decode()?.into_owned()?;
                let target = self.object(tag.target)?;
                if target == tag.target {
                    return Ok(id);
                }
                tag.target = target;
                tag.signature = None;
                Ok(self.repo.write_object(&tag)?.detach())
            }
            _ => Ok(id),
        }
    }

    /// `id` and its ancestors rewritten, parents first (no recursion: histories are deep).
    fn commit(&mut self, id: ObjectId) -> Result<ObjectId> {
        let mut stack = vec![(id, false)];
        while let Some((c, ready)) = stack.pop() {
            if self.commits.contains_key(&c) {
                continue;
            }
            let commit = self.repo.find_commit(c)?;
            let parents: Vec<ObjectId> = commit.parent_ids().map(|p| p.detach()).collect();
            if !ready {
                stack.push((c, true));
                stack.extend(
                    parents
                        .iter()
                        .filter(|p| !self.commits.contains_key(*p))
                        .map(|p| (*p, false)),
                );
                continue;
            }
            let mut owned: gix::objs::Commit = commit.decode()?.into_owned()?;
            let new_parents: Vec<ObjectId> = parents.iter().map(|p| self.commits[p]).collect();
            let tree = self.tree(owned.tree, "")?;
            if tree == owned.tree && new_parents == parents {
                self.commits.insert(c, c);
                continue;
            }
            owned.tree = tree;
            owned.parents = new_parents.into();
            // A signature would no longer hold.
            owned
                .extra_headers
                .retain(|(k, _)| k != "gpgsig" && k != "gpgsig-sha256");
            let new = self.repo.write_object(&owned)?.detach();
            self.commits.insert(c, new);
        }
        Ok(self.commits[&id])
    }

    fn tree(&mut self, id: ObjectId, prefix: &str) -> Result<ObjectId> {
        let key = (id, prefix.to_owned());
        if let Some(done) = self.trees.get(&key) {
            return Ok(*done);
        }
        let tree: gix::objs::Tree = self.repo.find_tree(id)?.decode()?.into_owned();
        let mut changed = false;
        let mut entries = Vec::with_capacity(tree.entries.len());
        for mut e in tree.entries {
            let path = if prefix.is_empty() {
                e.filename.to_string()
            } else {
                format!("{prefix}/{}", e.filename)
            };
            if e.mode.is_tree() {
                let new = self.tree(e.oid, &path)?;
                if new != e.oid {
                    changed = true;
                    if new == self.empty {
                        continue;
                    }
                    e.oid = new;
                }
            } else if e.mode.is_blob() && (self.wants)(&path) {
                match self.blob(e.oid, &path)? {
                    None => {
                        changed = true;
                        continue;
                    }
                    Some(new) if new != e.oid => {
                        changed = true;
                        e.oid = new;
                    }
                    Some(_) => {}
                }
            }
            entries.push(e);
        }
        let new = match (changed, entries.is_empty()) {
            (false, _) => id,
            (true, true) => self.empty,
            (true, false) => self
                .repo
                .write_object(&gix::objs::Tree { entries })?
                .detach(),
        };
        self.trees.insert(key, new);
        Ok(new)
    }

    fn blob(&mut self, id: ObjectId, path: &str) -> Result<Option<ObjectId>> {
        let key = (id, path.to_owned());
        if let Some(done) = self.blobs.get(&key) {
            return Ok(*done);
        }
        let data = self.repo.find_object(id)?.detach().data;
        let new = match (self.edit)(path, &data)? {
            Edit::Keep => Some(id),
            Edit::Drop => None,
            Edit::Replace(bytes) => Some(self.repo.write_blob(&bytes)?.detach()),
        };
        self.blobs.insert(key, new);
        Ok(new)
    }
}
