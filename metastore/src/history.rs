//! Reading: a revision's datapackage, the revision list (newest first, cursor paging, optional
//! path filter), a revision's file tree with each LFS file's oid and size, and single files.

use gix::ObjectId;
use strata_lfs::pointer::Pointer;

use crate::error::{Error, Result};
use crate::package::read_package;
use crate::package::Package;
use crate::package::DATAPACKAGE;
use crate::refs::resolve;
use crate::{DatasetId, Metastore, Person};

/// One commit of a dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    pub id: String,
    pub parents: Vec<String>,
    pub author: Person,
    /// Unix seconds.
    pub time: i64,
    pub committer: Person,
    pub message: String,
}

/// A version of a file and the path the file had in it.
pub type Named = (Revision, String);

/// A file of a revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeEntry {
    pub path: String,
    /// The git blob's id.
    pub oid: String,
    /// Size of the file in git (for an LFS file, of its pointer).
    pub size: u64,
    /// For LFS files: the object the pointer names.
    pub lfs: Option<Pointer>,
}

/// One page of a folder's entries (see [`Metastore::list_dir`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirListing {
    /// How many entries the folder has in all.
    pub total: usize,
    pub entries: Vec<DirEntry>,
}

/// A file or folder directly inside a folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    pub name: String,
    /// Its path from the dataset's root.
    pub path: String,
    pub folder: bool,
    /// For a file: its size in git (for an LFS file, of its pointer).
    pub size: u64,
    /// For an LFS file: the object the pointer names.
    pub lfs: Option<Pointer>,
}

impl Metastore {
    /// The entries directly inside folder `dir` (`""`: the root) at revision `rev`, folders first
    /// and then files, each by name; `take` of them after skipping `skip`. Files whose path
    /// `hidden` names are left out before paging, so they count nowhere (`total` included). Only
    /// the returned files' blobs are read, so the first page of a folder of many files costs one
    /// tree read.
    pub fn list_dir(
        &self,
        ds: DatasetId<'_>,
        rev: Option<&str>,
        dir: &str,
        skip: usize,
        take: usize,
        hidden: impl Fn(&str) -> bool,
    ) -> Result<(String, DirListing)> {
        let repo = self.open(ds)?;
        let id = resolve(&repo, rev)?;
        let root = repo.find_commit(id)?.tree()?;
        let tree = if dir.is_empty() {
            root
        } else {
            root.lookup_entry_by_path(dir)?
                .filter(|e| e.mode().is_tree())
                .ok_or_else(|| Error::NotFound(format!("no folder {dir:?} at {id}")))?
                .object()?
                .into_tree()
        };
        let path_of = |name: &str| {
            if dir.is_empty() {
                name.to_owned()
            } else {
                format!("{dir}/{name}")
            }
        };
        let mut items: Vec<(bool, String, ObjectId)> = Vec::new();
        for entry in tree.iter() {
            let entry = entry.map_err(|e| Error::Git(e.to_string()))?;
            let mode = entry.mode();
            let name = entry.filename().to_string();
            if mode.is_tree() || (mode.is_blob() && !hidden(&path_of(&name))) {
                items.push((mode.is_tree(), name, entry.oid().to_owned()));
            }
        }
        items.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        let total = items.len();
        let mut entries = Vec::new();
        for (folder, name, oid) in items.into_iter().skip(skip).take(take) {
            let path = path_of(&name);
            let (size, lfs) = if folder {
                (0, None)
            } else {
                let object = repo.find_object(oid)?;
                let lfs = if object.data.len() < strata_lfs::pointer::MAX_POINTER_LEN {
                    Pointer::parse(&object.data).ok()
                } else {
                    None
                };
                (object.data.len() as u64, lfs)
            };
            entries.push(DirEntry {
                name,
                path,
                folder,
                size,
                lfs,
            });
        }
        Ok((id.to_string(), DirListing { total, entries }))
    }

    /// The revision `rev` names (default: the default branch's head) and its datapackage.
    pub fn fetch(&self, ds: DatasetId<'_>, rev: Option<&str>) -> Result<(Revision, Package)> {
        let repo = self.open(ds)?;
        let id = resolve(&repo, rev)?;
        let package = read_package(&repo, id)?
            .ok_or_else(|| Error::NotFound(format!("revision {id} has no datapackage.json")))?;
        Ok((revision(&repo, id)?, package))
    }

    /// The revision `rev` names and its datapackage, if it has one (a dataset pushed over git may
    /// have none; it still has revisions).
    pub fn fetch_any(
        &self,
        ds: DatasetId<'_>,
        rev: Option<&str>,
    ) -> Result<(Revision, Option<Package>)> {
        let repo = self.open(ds)?;
        let id = resolve(&repo, rev)?;
        Ok((revision(&repo, id)?, read_package(&repo, id)?))
    }

    /// The id of the revision `rev` names.
    pub fn resolve(&self, ds: DatasetId<'_>, rev: Option<&str>) -> Result<ObjectId> {
        resolve(&self.open(ds)?, rev)
    }

    pub fn revision(&self, ds: DatasetId<'_>, rev: &str) -> Result<Revision> {
        let repo = self.open(ds)?;
        let id = resolve(&repo, Some(rev))?;
        revision(&repo, id)
    }

    /// Revisions reachable from `rev`, newest first: at most `limit` of them, starting after
    /// `cursor` (the last id of the previous page). With `path`, only the revisions that changed
    /// that file or directory. The second value is the cursor of the next page, if there is one.
    pub fn revisions(
        &self,
        ds: DatasetId<'_>,
        rev: Option<&str>,
        cursor: Option<&str>,
        limit: usize,
        path: Option<&str>,
    ) -> Result<(Vec<Revision>, Option<String>)> {
        let repo = self.open(ds)?;
        let start = match resolve(&repo, rev) {
            Ok(id) => id,
            // An empty dataset has no revisions, which is not an error when listing them.
            Err(Error::NotFound(_)) if rev.is_none() => return Ok((Vec::new(), None)),
            Err(e) => return Err(e),
        };
        let cursor = parse_cursor(cursor)?;
        walk(&repo, start, cursor, limit, |id, parent| match path {
            Some(path) => Ok(at(&repo, id, path)? != at_parent(&repo, parent, path)?),
            None => Ok(true),
        })
    }

    /// The versions of file `path` reachable from `rev`, newest first: the revisions that changed
    /// it and have it as a file (not those that deleted it, or made it a folder), following it
    /// back through exact renames (on the first page: a cursor starts from `path` again), at most
    /// `limit` of them after `cursor`, as in [`Metastore::revisions`].
    pub fn versions(
        &self,
        ds: DatasetId<'_>,
        rev: Option<&str>,
        cursor: Option<&str>,
        limit: usize,
        path: &str,
    ) -> Result<(Vec<Revision>, Option<String>)> {
        let (named, next) = self.versions_named(ds, rev, cursor, limit, path)?;
        Ok((named.into_iter().map(|(r, _)| r).collect(), next))
    }

    /// [`Metastore::versions`], each with the path the file had in it (its older name, before a
    /// rename): where that version is read, downloaded and restored from.
    pub fn versions_named(
        &self,
        ds: DatasetId<'_>,
        rev: Option<&str>,
        cursor: Option<&str>,
        limit: usize,
        path: &str,
    ) -> Result<(Vec<Named>, Option<String>)> {
        let repo = self.open(ds)?;
        let start = resolve(&repo, rev)?;
        let cursor = parse_cursor(cursor)?;
        // The path it had: a revision that moved it (the same content, gone from another path)
        // hands the older revisions the path it came from.
        let path = std::cell::RefCell::new(path.to_owned());
        let mut named = std::collections::HashMap::new();
        let (list, next) = walk(&repo, start, cursor, limit, |id, parent| {
            let here = path.borrow().clone();
            let kept = match at(&repo, id, &here)? {
                Some((oid, true)) => {
                    let before = at_parent(&repo, parent, &here)?;
                    if let (None, Some(parent)) = (before, parent) {
                        if let Some(old) = moved_from(&repo, id, parent, oid)? {
                            *path.borrow_mut() = old;
                        }
                    }
                    Some((oid, true)) != before
                }
                _ => false,
            };
            if kept {
                named.insert(id.to_string(), here);
            }
            Ok(kept)
        })?;
        let list = list
            .into_iter()
            .map(|r| {
                let at = named.remove(&r.id).unwrap_or_default();
                (r, at)
            })
            .collect();
        Ok((list, next))
    }

    /// Calls `f` with each distinct `datapackage.json` of the commits reachable from `head` and
    /// not from `seen` (all of them without `seen`, or when `seen` is not a commit of this
    /// dataset: history was rewritten and collected), with one commit that holds it. One blob
    /// at a time is kept in memory.
    pub fn walk_packages(
        &self,
        ds: DatasetId<'_>,
        head: ObjectId,
        seen: Option<ObjectId>,
        mut f: impl FnMut(&str, &[u8]),
    ) -> Result<()> {
        let repo = self.open(ds)?;
        let hidden: Vec<ObjectId> = seen
            .filter(|id| repo.find_commit(*id).is_ok())
            .into_iter()
            .collect();
        let walk = repo.rev_walk([head]).with_hidden(hidden).all()?;
        let mut blobs = std::collections::HashSet::new();
        for info in walk {
            let info = info.map_err(Error::git)?;
            let tree = repo.find_commit(info.id)?.tree()?;
            let Some(entry) = tree.lookup_entry_by_path(DATAPACKAGE)? else {
                continue;
            };
            if blobs.insert(entry.oid().to_owned()) {
                f(&info.id.to_string(), &entry.object()?.data);
            }
        }
        Ok(())
    }

    /// Every file of revision `rev`, sorted by path, with the oid and size of LFS files.
    pub fn tree(&self, ds: DatasetId<'_>, rev: Option<&str>) -> Result<(String, Vec<TreeEntry>)> {
        let repo = self.open(ds)?;
        let id = resolve(&repo, rev)?;
        let tree = repo.find_commit(id)?.tree()?;
        let mut recorder = gix::traverse::tree::Recorder::default();
        tree.traverse().breadthfirst(&mut recorder)?;
        let mut out = Vec::new();
        for entry in recorder.records {
            if !entry.mode.is_blob() {
                continue;
            }
            // The size from the object's header; only what could be a pointer is read.
            let size = repo.find_header(entry.oid)?.size();
            let lfs = if size < strata_lfs::pointer::MAX_POINTER_LEN as u64 {
                Pointer::parse(&repo.find_object(entry.oid)?.data).ok()
            } else {
                None
            };
            out.push(TreeEntry {
                path: entry.filepath.to_string(),
                oid: entry.oid.to_string(),
                size,
                lfs,
            });
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok((id.to_string(), out))
    }

    /// What `path` is at revision `rev`: `Some(true)` a folder, `Some(false)` a file, `None`
    /// nothing. The root (`""`) is a folder.
    pub fn stat(&self, ds: DatasetId<'_>, rev: Option<&str>, path: &str) -> Result<Option<bool>> {
        if path.is_empty() {
            return Ok(Some(true));
        }
        let repo = self.open(ds)?;
        let id = resolve(&repo, rev)?;
        let tree = repo.find_commit(id)?.tree()?;
        Ok(tree.lookup_entry_by_path(path)?.and_then(|e| {
            let mode = e.mode();
            if mode.is_tree() {
                Some(true)
            } else if mode.is_blob() {
                Some(false)
            } else {
                None
            }
        }))
    }

    /// The bytes of file `path` at revision `rev` (for an LFS file, its pointer).
    pub fn read_file(&self, ds: DatasetId<'_>, rev: Option<&str>, path: &str) -> Result<Vec<u8>> {
        let (_, data) = self.files(ds, rev)?.upto(path, u64::MAX)?;
        Ok(data.unwrap_or_default())
    }

    /// The size of file `path` at revision `rev`, and its bytes when there are at most `limit`
    /// of them (a larger file is not read).
    pub fn read_file_upto(
        &self,
        ds: DatasetId<'_>,
        rev: Option<&str>,
        path: &str,
        limit: u64,
    ) -> Result<(u64, Option<Vec<u8>>)> {
        self.files(ds, rev)?.upto(path, limit)
    }

    /// The files of revision `rev`, to read one after another with the repository opened and
    /// the revision resolved once.
    pub fn files(&self, ds: DatasetId<'_>, rev: Option<&str>) -> Result<Files> {
        let repo = self.open(ds)?;
        let commit = resolve(&repo, rev)?;
        let tree = repo.find_commit(commit)?.tree_id()?.detach();
        Ok(Files { repo, commit, tree })
    }
}

/// The files of one revision ([`Metastore::files`]).
pub struct Files {
    repo: gix::Repository,
    commit: ObjectId,
    tree: ObjectId,
}

impl Files {
    /// The size of file `path`, and its bytes when there are at most `limit` of them (a larger
    /// file is not read).
    pub fn upto(&self, path: &str, limit: u64) -> Result<(u64, Option<Vec<u8>>)> {
        self.blob(path, limit).map(|(_, size, data)| (size, data))
    }

    /// [`Files::upto`] with the file's git blob id.
    pub fn blob(&self, path: &str, limit: u64) -> Result<(String, u64, Option<Vec<u8>>)> {
        let tree = self.repo.find_tree(self.tree)?;
        let blob = tree
            .lookup_entry_by_path(path)?
            .filter(|e| e.mode().is_blob())
            .map(|e| e.object_id())
            .ok_or_else(|| Error::NotFound(format!("{path:?} not found at {}", self.commit)))?;
        let size = self.repo.find_header(blob)?.size();
        if size > limit {
            return Ok((blob.to_string(), size, None));
        }
        let data = self.repo.find_object(blob)?.detach().data;
        Ok((blob.to_string(), size, Some(data)))
    }
}

fn parse_cursor(cursor: Option<&str>) -> Result<Option<ObjectId>> {
    cursor
        .map(|c| {
            ObjectId::from_hex(c.as_bytes())
                .map_err(|_| Error::Invalid(format!("invalid cursor {c:?}")))
        })
        .transpose()
}

/// Commits reachable from `start`, newest first, that `keep(commit, first parent)` accepts: at
/// most `limit` after `cursor`, and the cursor of the next page if there is one.
fn walk(
    repo: &gix::Repository,
    start: ObjectId,
    cursor: Option<ObjectId>,
    limit: usize,
    mut keep: impl FnMut(ObjectId, Option<ObjectId>) -> Result<bool>,
) -> Result<(Vec<Revision>, Option<String>)> {
    let walk = repo
        .rev_walk([start])
        .sorting(gix::revision::walk::Sorting::ByCommitTime(
            gix::traverse::commit::simple::CommitTimeOrder::NewestFirst,
        ))
        .all()?;
    let mut skipping = cursor.is_some();
    let mut out = Vec::new();
    let mut more = false;
    for info in walk {
        let info = info.map_err(Error::git)?;
        if skipping {
            skipping = Some(info.id) != cursor;
            continue;
        }
        if !keep(info.id, info.parent_ids.first().copied())? {
            continue;
        }
        if out.len() == limit {
            more = true;
            break;
        }
        out.push(revision(repo, info.id)?);
    }
    if skipping {
        return Err(Error::Invalid(
            "the cursor is not a revision of this listing".into(),
        ));
    }
    let next = if more {
        out.last().map(|r| r.id.clone())
    } else {
        None
    };
    Ok((out, next))
}

/// Where blob `oid` was in `parent` when commit `id` has it at a new path: a file of `parent`
/// holding the same content at a path `id` no longer has (an exact rename).
fn moved_from(
    repo: &gix::Repository,
    id: ObjectId,
    parent: ObjectId,
    oid: ObjectId,
) -> Result<Option<String>> {
    let mut files = gix::traverse::tree::Recorder::default();
    repo.find_commit(parent)?
        .tree()?
        .traverse()
        .breadthfirst(&mut files)?;
    let tree = repo.find_commit(id)?.tree()?;
    for f in files.records {
        if f.oid == oid && f.mode.is_blob() {
            let old = f.filepath.to_string();
            if tree.lookup_entry_by_path(&old)?.is_none() {
                return Ok(Some(old));
            }
        }
    }
    Ok(None)
}

/// What commit `id` has at `path` (a file or a directory): its object, and whether it is a file.
fn at(repo: &gix::Repository, id: ObjectId, path: &str) -> Result<Option<(ObjectId, bool)>> {
    let tree = repo.find_commit(id)?.tree()?;
    Ok(tree
        .lookup_entry_by_path(path)?
        .map(|e| (e.object_id(), e.mode().is_blob())))
}

fn at_parent(
    repo: &gix::Repository,
    parent: Option<ObjectId>,
    path: &str,
) -> Result<Option<(ObjectId, bool)>> {
    match parent {
        Some(p) => at(repo, p, path),
        None => Ok(None),
    }
}

/// The paths of files that differ between the trees of two commits.
pub(crate) fn changed_paths(
    repo: &gix::Repository,
    from: ObjectId,
    to: ObjectId,
) -> Result<Vec<String>> {
    let old = repo.find_commit(from)?.tree()?;
    let new = repo.find_commit(to)?.tree()?;
    let changes = repo.diff_tree_to_tree(&old, &new, gix::diff::Options::default())?;
    let mut paths = Vec::new();
    for change in changes {
        use gix::object::tree::diff::ChangeDetached as C;
        match change {
            C::Addition { location, .. }
            | C::Deletion { location, .. }
            | C::Modification { location, .. } => paths.push(location.to_string()),
            C::Rewrite {
                source_location,
                location,
                ..
            } => {
                paths.push(source_location.to_string());
                paths.push(location.to_string());
            }
        }
    }
    Ok(paths)
}

pub(crate) fn revision(repo: &gix::Repository, id: ObjectId) -> Result<Revision> {
    let commit = repo.find_commit(id)?;
    let decoded = commit.decode()?;
    let person = |s: gix::actor::SignatureRef<'_>| Person {
        name: s.name.to_string(),
        email: s.email.to_string(),
    };
    let author = decoded.author()?;
    Ok(Revision {
        id: id.to_string(),
        parents: decoded.parents().map(|p| p.to_string()).collect(),
        time: author.time().map_or(0, |t| t.seconds),
        author: person(author),
        committer: person(decoded.committer()?),
        message: decoded.message.to_string(),
    })
}
