//! Datasets in git. Each dataset is a bare repository at `{root}/{ns}/{name}.git` whose commits
//! hold a Frictionless `datapackage.json` and the LFS pointer files of its resources. This crate
//! writes and reads those repositories with gix: atomic commits with optimistic concurrency,
//! revisions, tags, branches, diffs and reverts. It knows nothing of HTTP or SQL.
//!
//! Every ref update goes through one compare-and-swap ([`Metastore::swap_ref`]): "move this ref
//! from A to B, or fail". Writers of one dataset in this process are serialised by a per-dataset
//! lock; writers in other processes (`git push`) are caught by the compare-and-swap. With a
//! [`RefLedger`] (several replicas), the ledger decides the swap and the ref files follow it.

mod diff;
mod error;
mod follow;
mod history;
mod ledger;
pub mod lfsconfig;
pub mod lines;
mod merge;
mod package;
mod reach;
mod recent;
mod refs;
mod rewrite;
mod snapshot;
mod trash;
mod write;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub use diff::{Diff, FieldChange, FileChange, FileChangeKind, ResourceChange};
pub use error::{Error, Result};
pub use gix::ObjectId;
pub use history::{DirEntry, DirListing, Files, Revision, TreeEntry};
pub use ledger::{RefLedger, RefListener};
pub use merge::{MergeMeta, PathSides, Sides};

pub use follow::Refs;
pub use package::{
    check_path, lfs_attribute_line, Package, Resource, DATAPACKAGE, GITATTRIBUTES, LFSCONFIG,
};
pub use reach::Reached;
pub use recent::Changed;
pub use refs::Tag;
pub use rewrite::{Edit, Rewrite};
pub use trash::Deleted;
pub use write::{Op, WriteMeta};

/// The branch a dataset is created with, and the one reads and writes use by default.
pub const DEFAULT_BRANCH: &str = "main";

/// Someone who authors a commit or a tag.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Person {
    pub name: String,
    pub email: String,
}

/// All datasets below one directory.
#[derive(Debug)]
pub struct Metastore {
    root: PathBuf,
    /// Who commits (the author is whoever asked for the write).
    committer: Person,
    writers: Mutex<HashMap<PathBuf, Arc<Mutex<()>>>>,
    /// The authority for refs when there are several replicas.
    ledger: Option<Arc<dyn RefLedger>>,
    /// Asked before a write moves a default branch.
    head_checks: Vec<Arc<dyn HeadCheck>>,
    /// Told of each ref move the files decide (none go through it with a ledger).
    listener: Option<Arc<dyn RefListener>>,
}

/// A check of what a write would make the head of a dataset's default branch, before the branch
/// moves (the server refuses policies that do not compile this way). An error refuses the write.
pub trait HeadCheck: Send + Sync + std::fmt::Debug {
    fn check(&self, ms: &Metastore, ds: DatasetId<'_>, commit: ObjectId, how: Write) -> Result<()>;
}

/// How a write reaches a branch: a commit (or a revert) on its head, or the merge of another
/// branch into it ([`Metastore::write_merge`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    Commit,
    Merge,
}

/// `{ns}/{name}` of a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatasetId<'a> {
    pub ns: &'a str,
    pub name: &'a str,
}

impl std::fmt::Display for DatasetId<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.ns, self.name)
    }
}

impl Metastore {
    pub fn new(root: impl Into<PathBuf>, committer: Person) -> Metastore {
        Metastore {
            root: root.into(),
            committer,
            writers: Mutex::new(HashMap::new()),
            ledger: None,
            head_checks: Vec::new(),
            listener: None,
        }
    }

    /// The same metastore, with `check` asked (after the checks added before it) before every
    /// write to a default branch.
    pub fn with_head_check(mut self, check: Arc<dyn HeadCheck>) -> Metastore {
        self.head_checks.push(check);
        self
    }

    /// Runs the [`HeadCheck`]s for a write of `commit` to `branch` (a full ref name).
    pub(crate) fn check_head(
        &self,
        ds: DatasetId<'_>,
        branch: &str,
        commit: ObjectId,
        how: Write,
    ) -> Result<()> {
        if branch != format!("refs/heads/{DEFAULT_BRANCH}") {
            return Ok(());
        }
        self.head_checks
            .iter()
            .try_for_each(|c| c.check(self, ds, commit, how))
    }

    /// The same metastore, with `ledger` deciding every ref update (see [`RefLedger`]).
    /// Tells `listener` of every ref move made without a ledger (with one, the ledger hears of
    /// each).
    pub fn with_ref_listener(mut self, listener: Arc<dyn RefListener>) -> Metastore {
        self.listener = Some(listener);
        self
    }

    pub fn with_ledger(mut self, ledger: Arc<dyn RefLedger>) -> Metastore {
        self.ledger = Some(ledger);
        self
    }

    /// The directory holding every dataset's repository (`{root}/{ns}/{name}.git`).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the bare repository of `ds` lives.
    pub fn repo_path(&self, ds: DatasetId<'_>) -> Result<PathBuf> {
        for part in ds.ns.split('/').chain([ds.name]) {
            if part.is_empty()
                || part.starts_with('.')
                || part.contains(['\\', '\0'])
                || part.ends_with(".git")
            {
                return Err(Error::Invalid(format!("{ds} is not a valid dataset name")));
            }
        }
        Ok(self.root.join(ds.ns).join(format!("{}.git", ds.name)))
    }

    /// Creates the empty repository of a new dataset; its first write creates the default branch.
    pub fn create(&self, ds: DatasetId<'_>) -> Result<()> {
        let path = self.repo_path(ds)?;
        if path.exists() {
            return Err(Error::Conflict(format!("dataset {ds} exists already")));
        }
        std::fs::create_dir_all(path.parent().unwrap_or(&self.root))?;
        // Whatever a ledger still holds under this name (an earlier dataset's) is not this one's.
        if let Some(ledger) = &self.ledger {
            ledger.forget(&ds.to_string())?;
        }
        gix::init_bare(&path)?;
        // HEAD names the default branch whatever git's own default is.
        std::fs::write(
            path.join("HEAD"),
            format!("ref: refs/heads/{DEFAULT_BRANCH}\n"),
        )?;
        Ok(())
    }

    /// Deletes a dataset's repository and everything in it.
    pub fn delete(&self, ds: DatasetId<'_>) -> Result<()> {
        let path = self.repo_path(ds)?;
        let lock = self.lock(&path);
        let _guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(ledger) = &self.ledger {
            ledger.forget(&ds.to_string())?;
        }
        let removed = std::fs::remove_dir_all(&path);
        // Again once the files are gone: a replica that read the repository meanwhile may have
        // taken it over anew.
        if let Some(ledger) = &self.ledger {
            let _ = ledger.forget(&ds.to_string());
        }
        match removed {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(Error::NotFound(format!("dataset {ds} not found")))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Moves the repository of `from` to `to` (a new spelling of the same name too, through a
    /// name of its own). Its ref files are brought to the ledger first; the ledger's rows are
    /// the caller's to move under the new name (`strata_core::db::Db::rename_repo`).
    pub fn rename(&self, from: DatasetId<'_>, to: DatasetId<'_>) -> Result<()> {
        let (old, new) = (self.repo_path(from)?, self.repo_path(to)?);
        let lock = self.lock(&old);
        let _guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        let respelled = from.to_string().eq_ignore_ascii_case(&to.to_string());
        if new.exists() && !respelled {
            return Err(Error::Conflict(format!("dataset {to} exists already")));
        }
        self.open(from)?;
        std::fs::create_dir_all(new.parent().unwrap_or(&self.root))?;
        if respelled {
            let aside = old.with_extension(format!("renaming-{}", now()));
            std::fs::rename(&old, &aside)?;
            if let Err(e) = std::fs::rename(&aside, &new) {
                let _ = std::fs::rename(&aside, &old);
                return Err(e.into());
            }
        } else {
            std::fs::rename(&old, &new)?;
        }
        Ok(())
    }

    pub fn exists(&self, ds: DatasetId<'_>) -> bool {
        self.repo_path(ds).is_ok_and(|p| p.join("HEAD").exists())
    }

    /// Opens the repository of `ds`.
    pub fn open(&self, ds: DatasetId<'_>) -> Result<gix::Repository> {
        let path = self.repo_path(ds)?;
        if !path.join("HEAD").exists() {
            return Err(Error::NotFound(format!("dataset {ds} not found")));
        }
        let mut repo = gix::open(&path)?;
        // Datasets hold few, small objects; skip the object cache warm-up cost on every open.
        repo.object_cache_size_if_unset(4 * 1024 * 1024);
        // With a ledger, the ref files may be behind it (another replica wrote): catch up first.
        self.sync(&repo)?;
        Ok(repo)
    }

    /// The in-process write lock of the repository at `path`.
    fn lock(&self, path: &Path) -> Arc<Mutex<()>> {
        let mut writers = self.writers.lock().unwrap_or_else(|e| e.into_inner());
        writers.entry(path.to_owned()).or_default().clone()
    }
}

/// Unix seconds now.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Person {
    pub(crate) fn signature(&self, time: i64) -> gix::actor::Signature {
        gix::actor::Signature {
            name: self.name.as_str().into(),
            email: self.email.as_str().into(),
            time: gix::date::Time {
                seconds: time,
                offset: 0,
            },
        }
    }
}

/// The git blob id `data` has (what a file with these bytes is named by in a tree).
pub fn blob_id(data: &[u8]) -> String {
    gix::objs::compute_hash(gix::hash::Kind::Sha1, gix::objs::Kind::Blob, data)
        .map(|id| id.to_string())
        .unwrap_or_default()
}
