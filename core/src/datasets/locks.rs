//! Git LFS locks on a dataset's paths: who may take, list, verify and release them. Locks name
//! paths, not objects, so they need a grant on every object of the dataset (a token scoped to one
//! object cannot lock); releasing someone else's lock needs `force` and admin rights.

use crate::auth::{Action, On, Principal};
use crate::datasets::gate::{self, Gated, Reach};
use crate::db::{LockFilter, LockRow, NewLock};
use crate::error::{Error, Result};
use crate::Core;

/// The largest page of locks.
pub const MAX_LIMIT: i64 = 1000;
/// The page size when none is asked for.
pub const DEFAULT_LIMIT: i64 = 100;
const MAX_PATH_LEN: usize = 4096;

/// A page of locks and the cursor of the next one.
pub struct Page {
    pub locks: Vec<LockRow>,
    pub next_cursor: Option<String>,
}

/// Opens `ns/name` for `action` on its locks.
pub async fn open(
    core: &Core,
    who: &Principal,
    ns: &str,
    name: &str,
    action: Action,
) -> Result<Gated> {
    let gated = gate::open(core, who, ns, name, action, Reach::Objects).await?;
    if !gated.allows(On::Objects, action) {
        return Err(Error::forbidden(
            "locks need a token that reaches every object of the dataset",
        ));
    }
    Ok(gated)
}

/// Lock paths are repository-relative POSIX paths: no absolute paths, no `.`/`..` segments, no NUL.
pub fn check_path(path: &str) -> Result<()> {
    let bad = path.is_empty()
        || path.len() > MAX_PATH_LEN
        || path.starts_with('/')
        || path.contains('\0')
        || path.contains('\\')
        || path
            .split('/')
            .any(|seg| seg.is_empty() || seg == "." || seg == "..");
    if bad {
        return Err(Error::unprocessable(format!(
            "invalid lock path {path:?}: use a relative path inside the repository"
        )));
    }
    Ok(())
}

/// A page size: [`DEFAULT_LIMIT`] when none is given, else 1 to [`MAX_LIMIT`].
pub fn limit(value: Option<i64>) -> Result<i64> {
    match value {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(Error::unprocessable(format!(
            "limit must be between 1 and {MAX_LIMIT}, got {n}"
        ))),
    }
}

/// A paging cursor (empty: the first page).
pub fn cursor(value: Option<&str>) -> Result<Option<i64>> {
    value
        .filter(|c| !c.is_empty())
        .map(|c| {
            c.parse::<i64>()
                .map_err(|_| Error::unprocessable("invalid cursor"))
        })
        .transpose()
}

/// Takes a lock on `path` for `who`: `Ok(Err(existing))` when someone holds it already.
pub async fn create(
    core: &Core,
    repo: &Gated,
    who: &Principal,
    path: &str,
    ref_name: Option<&str>,
) -> Result<std::result::Result<LockRow, LockRow>> {
    check_path(path)?;
    let (key, name) = (who.key(), who.display_name());
    let new = NewLock {
        repo_id: repo.id,
        path,
        ref_name,
        owner_key: &key,
        owner_name: &name,
    };
    Ok(core.db.create_lock(new).await?)
}

/// A page of the dataset's locks matching `filter` (its `limit` checked by [`limit`]).
pub async fn list(core: &Core, repo: &Gated, filter: &LockFilter) -> Result<Page> {
    let mut locks = core.db.list_locks(repo.id, filter).await?;
    // Fetched with one extra row: its presence says there is a next page.
    let next_cursor = if locks.len() as i64 > filter.limit {
        locks.truncate(filter.limit as usize);
        locks.last().map(|r| r.id.to_string())
    } else {
        None
    };
    Ok(Page { locks, next_cursor })
}

/// A page of the dataset's locks, split into `who`'s and everyone else's.
pub async fn verify(
    core: &Core,
    repo: &Gated,
    who: &Principal,
    filter: &LockFilter,
) -> Result<(Vec<LockRow>, Vec<LockRow>, Option<String>)> {
    let page = list(core, repo, filter).await?;
    let me = who.key();
    let (ours, theirs) = page.locks.into_iter().partition(|r| r.owner_key == me);
    Ok((ours, theirs, page.next_cursor))
}

/// Releases lock `id` (as sent: an id that can't exist is not found). Someone else's lock needs
/// `force` and admin rights on the dataset.
pub async fn unlock(
    core: &Core,
    repo: &Gated,
    who: &Principal,
    id: &str,
    force: bool,
) -> Result<LockRow> {
    let not_found = || Error::not_found(format!("lock {id} not found"));
    let lock_id = id.parse::<i64>().map_err(|_| not_found())?;
    let lock = core
        .db
        .lock_by_id(repo.id, lock_id)
        .await?
        .ok_or_else(not_found)?;
    if lock.owner_key != who.key() {
        if !force {
            return Err(Error::forbidden(format!(
                "{} is locked by {}; only an administrator can force the unlock",
                lock.path, lock.owner_name
            )));
        }
        if !repo.allows(On::Dataset, Action::Admin) {
            return Err(Error::forbidden(
                "forcing an unlock needs admin rights on the repository",
            ));
        }
    }
    if !core.db.delete_lock(repo.id, lock_id).await? {
        return Err(not_found());
    }
    Ok(lock)
}

#[cfg(test)]
mod tests {
    use super::{check_path, cursor, limit};

    #[test]
    fn lock_paths() {
        for ok in ["a.bin", "dir/a.bin", "dir/..a", "ünï/cödé"] {
            assert!(check_path(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "./a",
            "a\\b",
            "a\0b",
        ] {
            assert!(check_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn limits_and_cursors() {
        assert_eq!(limit(None).unwrap(), 100);
        assert_eq!(limit(Some(1000)).unwrap(), 1000);
        assert!(limit(Some(0)).is_err() && limit(Some(1001)).is_err());
        assert_eq!(cursor(Some("")).unwrap(), None);
        assert_eq!(cursor(Some("7")).unwrap(), Some(7));
        assert!(cursor(Some("x")).is_err());
    }
}
