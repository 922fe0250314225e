//! An authority for refs outside the repositories' own files, for several replicas sharing one
//! repositories directory (where git's lock files cannot be trusted). With a [`RefLedger`], the
//! ledger decides every compare-and-swap of [`Metastore::swap_ref`], and a repository's ref files
//! are a cache that [`Metastore::sync`] brings back to the ledger before any read: whatever a
//! replica wrote last to the files, what readers see is what the ledger says.

use gix::refs::transaction::RefEdit;
use gix::ObjectId;

use crate::{Error, Metastore, Result};

/// Where refs are decided. Datasets are named `ns/name`; refs by their full name (`refs/…`).
pub trait RefLedger: Send + Sync + std::fmt::Debug {
    /// The refs of `dataset`, or `None` until the ledger took it over.
    fn refs(&self, dataset: &str) -> Result<Option<Vec<(String, ObjectId)>>>;
    /// Takes `dataset` over with `refs` (its repository's); once taken over, this does nothing.
    fn adopt(&self, dataset: &str, refs: &[(String, ObjectId)]) -> Result<()>;
    /// Moves ref `name` from `old` to `new` (`None`: absent), or fails with [`Error::Conflict`]:
    /// it is not at `old`, or a new ref would be a directory of another (`a` and `a/b`), which
    /// the ref files could not hold.
    fn swap(
        &self,
        dataset: &str,
        name: &str,
        old: Option<ObjectId>,
        new: Option<ObjectId>,
    ) -> Result<()>;
    /// Forgets a deleted dataset.
    fn forget(&self, dataset: &str) -> Result<()>;
}

/// Hears of the ref moves the files decide, once made (`dataset` is `ns/name`).
pub trait RefListener: Send + Sync + std::fmt::Debug {
    fn moved(&self, dataset: &str, name: &str, old: Option<ObjectId>, new: Option<ObjectId>);
}

/// The branches and tags of a repository's files.
pub(crate) fn file_refs(repo: &gix::Repository) -> Result<Vec<(String, ObjectId)>> {
    let mut out = Vec::new();
    let platform = repo.references().map_err(Error::git)?;
    for prefix in ["refs/heads/", "refs/tags/"] {
        for r in platform.prefixed(prefix).map_err(Error::git)? {
            let r = r.map_err(Error::git)?;
            if let Some(id) = r.target().try_id() {
                out.push((r.name().as_bstr().to_string(), id.to_owned()));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Moves ref `name` in the files from `from` (what was seen there; `None`: absent) to `to`, the
/// ledger having decided already. When the file holds something else, someone newer wrote it:
/// it is left alone (a later sync settles it). A lock left by a dead writer (older than a
/// minute) is removed; one held by a live writer is waited for a while. `Ok(false)` when the
/// file was not written.
pub(crate) fn write_file_ref(
    repo: &gix::Repository,
    name: &str,
    from: Option<ObjectId>,
    to: Option<ObjectId>,
    message: &str,
) -> Result<bool> {
    let full: gix::refs::FullName = name
        .try_into()
        .map_err(|_| Error::Invalid(format!("{name:?} is not a valid ref name")))?;
    let change = crate::refs::ref_change(from, to, message);
    let lock = repo.path().join(format!("{name}.lock"));
    for _ in 0..40 {
        let edit = RefEdit {
            change: change.clone(),
            name: full.clone(),
            deref: false,
        };
        if repo.edit_reference(edit).is_ok() {
            return Ok(true);
        }
        // Unreadable counts as "not written": the next sync tries again.
        if crate::refs::current(repo, name).map_or(true, |now| now != from) {
            return Ok(false);
        }
        // The ref's own lock, or packed-refs' (taken to delete or check a packed ref).
        let locks = [lock.clone(), repo.path().join("packed-refs.lock")];
        let held: Vec<&std::path::PathBuf> = locks.iter().filter(|l| l.exists()).collect();
        if held.is_empty() {
            // Not a lock: a name another ref's directory or file is in the way of.
            return Ok(false);
        }
        for held in held {
            remove_if_stale(held);
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    Ok(false)
}

fn age(path: &std::path::Path) -> Option<std::time::Duration> {
    std::fs::metadata(path)
        .ok()?
        .modified()
        .ok()?
        .elapsed()
        .ok()
}

/// Removes a lock file left by a dead writer (untouched for a minute). It is first renamed to
/// a name of its own, so that of two replicas removing it, one does; and put back when what
/// was renamed turns out fresh (a live writer took the lock in between).
fn remove_if_stale(lock: &std::path::Path) {
    if age(lock).is_none_or(|a| a.as_secs() <= 60) {
        return;
    }
    let aside = lock.with_extension(format!("stale.{}", std::process::id()));
    if std::fs::rename(lock, &aside).is_err() {
        return;
    }
    if age(&aside).is_some_and(|a| a.as_secs() > 60) {
        let _ = std::fs::remove_file(&aside);
    } else {
        let _ = std::fs::rename(&aside, lock);
    }
}

impl Metastore {
    /// The ledger's name of the repository `repo` (`ns/name`), when there is a ledger.
    pub(crate) fn ledger_key(&self, repo: &gix::Repository) -> Option<String> {
        self.ledger.as_ref()?;
        self.dataset_key(repo)
    }

    /// The `ns/name` of dataset repository `repo`.
    pub(crate) fn dataset_key(&self, repo: &gix::Repository) -> Option<String> {
        let rel = repo.path().strip_prefix(&self.root).ok()?;
        let rel = rel.to_str()?.trim_end_matches('/');
        Some(rel.strip_suffix(".git").unwrap_or(rel).to_owned())
    }

    /// Brings the ref files of `repo` to what the ledger says (taking the dataset over first if
    /// the ledger does not hold it yet). Without a ledger, nothing to do.
    pub fn sync(&self, repo: &gix::Repository) -> Result<()> {
        let (Some(ledger), Some(key)) = (&self.ledger, self.ledger_key(repo)) else {
            return Ok(());
        };
        let files = file_refs(repo)?;
        let Some(wanted) = ledger.refs(&key)? else {
            ledger.adopt(&key, &files)?;
            return self.sync_to(repo, &files, ledger.refs(&key)?.unwrap_or_default());
        };
        self.sync_to(repo, &files, wanted)
    }

    /// Writes what differs, each file ref only from the value seen in it (a newer writer wins);
    /// deletions first, so a ref can become a directory of others. A ref that cannot be written
    /// now is left for the next sync: reads go on from the files.
    fn sync_to(
        &self,
        repo: &gix::Repository,
        files: &[(String, ObjectId)],
        wanted: Vec<(String, ObjectId)>,
    ) -> Result<()> {
        let seen = |name: &str| files.iter().find(|(n, _)| n == name).map(|(_, id)| *id);
        // A ref that cannot follow now (a live lock, an I/O error) is tried again next time.
        for (name, id) in files {
            if !wanted.iter().any(|(n, _)| n == name) {
                let _ = write_file_ref(repo, name, Some(*id), None, "sync from the ref ledger");
            }
        }
        for (name, id) in &wanted {
            if seen(name) != Some(*id) {
                let message = "sync from the ref ledger";
                let _ = write_file_ref(repo, name, seen(name), Some(*id), message);
            }
        }
        Ok(())
    }
}
