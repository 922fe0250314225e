//! Quotas and usage. A namespace — a user's own datasets, or an organisation's — holds at most its
//! quota of stored bytes: the one a site admin set for it (`PUT /api/v1/namespaces/{ns}/quota`,
//! `strata admin quota`), or else `--quota-bytes` (0: none). Usage counts unique bytes: an object
//! linked to several datasets of the namespace counts once, and one the namespace holds already
//! adds nothing; the files its datasets keep in git itself (plain content rather than LFS
//! objects: REST and Hub commits, S3 puts of small text, pushes) count too ([`counts_in_git`]).
//! A write that would take a namespace past its quota is refused before any byte is stored: per
//! object in the LFS batch API (507, as the LFS spec allows), and 507 on the other write paths
//! (browser uploads, the S3 gateway, commits and pushes of content kept in git).
//!
//! Bytes on their way count as soon as they are admitted: the batch API reserves room for each
//! object it admits until the URLs it handed out expire, and browser and S3 multipart uploads for
//! their size while they run, each in one turn of the namespace ([`admit`], [`reserve`]), so
//! separate requests cannot all be admitted into the same room. A reservation counts until its
//! object is linked to one of the namespace's datasets (then the object counts, once), it is
//! released, or it expires; asking again for the same object counts it once. Views and governed
//! rewrites strata makes itself are not counted against anyone.

use std::time::Duration;

use serde::Serialize;
use serde_json::json;
use strata_lfs::Oid;

use crate::auth::Need;
use crate::db::{Repo, User};
use crate::error::{Error, Kind, Result};
use crate::Core;

/// A namespace's usage.
#[derive(Debug, Clone, Serialize)]
pub struct Usage {
    pub namespace: String,
    /// Unique stored bytes: objects, and what the datasets keep in git.
    pub used: u64,
    /// The quota (`None`: no limit).
    pub quota: Option<u64>,
    /// Each dataset and its bytes: its objects' (an object shared by two counts in both) and what
    /// it keeps in git.
    pub datasets: Vec<(String, u64)>,
}

/// The quota of `namespace`: set by an admin, or the server's default.
pub async fn quota_of(core: &Core, namespace: &str) -> Result<Option<u64>> {
    if let Some(b) = core.db.quota(namespace).await? {
        return Ok(Some(b.max(0) as u64));
    }
    Ok((core.settings.quota_bytes > 0).then_some(core.settings.quota_bytes))
}

/// `namespace`'s usage, for the namespace's user, its organisation's members and site admins
/// (anyone else: 404).
pub async fn usage(core: &Core, viewer: &User, namespace: &str) -> Result<Usage> {
    if !core.has(viewer, Need::InNamespace(namespace)).await? {
        return Err(Error::not_found(format!("namespace {namespace} not found")));
    }
    usage_of(core, namespace).await
}

/// `namespace`'s usage, unchecked (the command line, `/metrics`).
pub async fn usage_of(core: &Core, namespace: &str) -> Result<Usage> {
    Ok(Usage {
        namespace: namespace.to_owned(),
        used: core.db.namespace_bytes(namespace).await?.max(0) as u64,
        quota: quota_of(core, namespace).await?,
        datasets: core
            .db
            .dataset_bytes(namespace)
            .await?
            .into_iter()
            .map(|(n, b)| (n, b.max(0) as u64))
            .collect(),
    })
}

/// How long the batch API keeps room for an object it admitted: as long as the URLs it handed out
/// for it may be used.
pub fn batch_hold(core: &Core) -> Duration {
    core.settings.action_ttl + Duration::from_secs(crate::storage::SIGNATURE_GRACE_SECS as u64)
}

fn as_i64(bytes: u64) -> i64 {
    i64::try_from(bytes).unwrap_or(i64::MAX)
}

/// Which of `objects` (to be added to `repo`, in order) fit its namespace's quota: for each, `Ok`
/// or the reason it does not. Objects the namespace holds already, or has room reserved for,
/// always fit; each other one that fits gets room reserved for [`batch_hold`], in the same turn
/// of the namespace as the decision.
pub async fn admit(
    core: &Core,
    repo: &Repo,
    objects: &[(Oid, u64)],
) -> Result<Vec<Result<(), String>>> {
    let Some(quota) = quota_of(core, &repo.namespace).await? else {
        return Ok(objects.iter().map(|_| Ok(())).collect());
    };
    let wanted: Vec<(String, i64)> = objects
        .iter()
        .map(|(oid, size)| (oid.to_string(), as_i64(*size)))
        .collect();
    let until = crate::db::now() + batch_hold(core).as_secs() as i64;
    let decided = core
        .db
        .reserve(&repo.namespace, as_i64(quota), &wanted, until)
        .await?;
    Ok(decided
        .into_iter()
        .zip(objects)
        .map(|(d, (_, size))| {
            d.map_err(|used| over(&repo.namespace, used.max(0) as u64, quota, *size))
        })
        .collect())
}

/// Reserves room for `size` bytes whose oid nobody knows yet (an upload under way) under `key`,
/// for `hold`, or refuses them past the namespace's quota (507). Reserving a key again keeps
/// its room.
pub async fn reserve(core: &Core, repo: &Repo, key: &str, size: u64, hold: Duration) -> Result<()> {
    let Some(quota) = quota_of(core, &repo.namespace).await? else {
        return Ok(());
    };
    let until = crate::db::now() + hold.as_secs() as i64;
    let wanted = [(key.to_owned(), as_i64(size))];
    match core
        .db
        .reserve(&repo.namespace, as_i64(quota), &wanted, until)
        .await?
        .pop()
    {
        Some(Err(used)) => Err(Error::new(
            Kind::Quota,
            over(&repo.namespace, used.max(0) as u64, quota, size),
        )),
        _ => Ok(()),
    }
}

/// Gives up the room reserved under `key` (the upload ended: its object, if any, is linked).
pub async fn release(core: &Core, repo: &Repo, key: &str) -> Result<()> {
    core.db.release(&repo.namespace, key).await?;
    Ok(())
}

/// The room reserved under `key` becomes object `oid`'s, once the upload's bytes hashed to it:
/// it counts until the object is linked (then the object does).
pub async fn convert(core: &Core, repo: &Repo, key: &str, oid: &Oid) -> Result<()> {
    core.db
        .convert_reservation(&repo.namespace, key, oid)
        .await?;
    Ok(())
}

/// Refuses `size` new bytes (`oid` when known) in `repo`'s namespace past its quota (507). Room
/// reserved for bytes on their way counts.
pub async fn check(core: &Core, repo: &Repo, oid: Option<&Oid>, size: u64) -> Result<()> {
    room(core, repo).await?.admits_new(core, oid, size).await
}

/// What a namespace may still take, read once, for a write that learns how many bytes it adds
/// only as it is made (a commit's content kept in git).
#[derive(Debug, Clone)]
pub struct Room {
    namespace: String,
    used: u64,
    quota: Option<u64>,
}

impl Room {
    /// `Ok` when `size` more bytes fit, or the reason they do not.
    pub fn admits(&self, size: u64) -> std::result::Result<(), String> {
        match self.quota {
            Some(quota) if size > 0 && self.used.saturating_add(size) > quota => {
                Err(over(&self.namespace, self.used, quota, size))
            }
            _ => Ok(()),
        }
    }

    /// [`Room::admits`] as the domain's error (507).
    pub fn check(&self, size: u64) -> Result<()> {
        self.admits(size).map_err(|m| Error::new(Kind::Quota, m))
    }

    async fn admits_new(&self, core: &Core, oid: Option<&Oid>, size: u64) -> Result<()> {
        if self.quota.is_none() {
            return Ok(());
        }
        if let Some(oid) = oid {
            if core.db.in_namespace(&self.namespace, oid).await? {
                return Ok(());
            }
        }
        self.check(size)
    }
}

/// `repo`'s namespace's room: what it uses now (stored bytes and live reservations) against its
/// quota.
pub async fn room(core: &Core, repo: &Repo) -> Result<Room> {
    let quota = quota_of(core, &repo.namespace).await?;
    let used = match quota {
        Some(_) => core.db.namespace_used(&repo.namespace).await?.max(0) as u64,
        None => 0,
    };
    Ok(Room {
        namespace: repo.namespace.clone(),
        used,
        quota,
    })
}

/// strata's own files (`datapackage.json`, `.lfsconfig`, `.gitattributes`) up to this size keep
/// nothing that counts: a commit or push of LFS files is never refused for the line it adds to
/// `.gitattributes`. Larger, they count whole.
pub const OWN_FILES_FREE: u64 = 64 << 10;

/// Whether a file kept in git at `path`, `size` bytes beginning with `head` (its first 1024 bytes,
/// or all of it), counts toward its namespace's usage: every file but an LFS pointer (its object
/// counts, once, as an object) and strata's own small files ([`OWN_FILES_FREE`]). A blob that
/// only begins like a pointer is stored whole by git, and counts.
pub fn counts_in_git(path: &str, size: u64, head: &[u8]) -> bool {
    use strata_metastore::{DATAPACKAGE, GITATTRIBUTES, LFSCONFIG};
    let pointer = size < strata_lfs::pointer::MAX_POINTER_LEN as u64
        && strata_lfs::pointer::lenient(head).is_some();
    let own =
        path == DATAPACKAGE || path == LFSCONFIG || path.rsplit('/').next() == Some(GITATTRIBUTES);
    size > 0 && !pointer && !(own && size <= OWN_FILES_FREE)
}

/// Counts `bytes` a write kept in `repo`'s git repository toward its namespace (the write was
/// made: a failure to count is logged, not answered).
pub async fn kept_in_git(core: &Core, repo: &Repo, bytes: u64) {
    if bytes == 0 {
        return;
    }
    if let Err(e) = core.db.add_git_bytes(repo.id, as_i64(bytes)).await {
        tracing::warn!(dataset = %repo.path(), error = %e, "the bytes a write kept in git were not counted");
    }
}

fn over(namespace: &str, used: u64, quota: u64, size: u64) -> String {
    format!(
        "{namespace} is over its storage quota: it holds {used} of {quota} bytes and this needs \
         {size} more (delete data, or ask a site admin for more)"
    )
}

/// Sets `namespace`'s quota (`None`: back to the server's default), for a site admin.
pub async fn set(core: &Core, actor: &User, namespace: &str, bytes: Option<u64>) -> Result<()> {
    if !actor.admin() {
        return Err(Error::forbidden("only site admins set quotas"));
    }
    store(core, &actor.username, namespace, bytes).await
}

/// [`set`] for the server's operator (`strata admin quota`).
pub async fn set_by_operator(core: &Core, namespace: &str, bytes: Option<u64>) -> Result<()> {
    store(core, "admin-cli", namespace, bytes).await
}

async fn store(core: &Core, by: &str, namespace: &str, bytes: Option<u64>) -> Result<()> {
    let known = core.db.user_by_name(namespace).await?.is_some()
        || core.db.org_by_name(namespace).await?.is_some();
    if !known {
        return Err(Error::not_found(format!("namespace {namespace} not found")));
    }
    let bytes = bytes
        .map(|b| {
            i64::try_from(b)
                .map_err(|_| Error::unprocessable(format!("a quota is at most {} bytes", i64::MAX)))
        })
        .transpose()?;
    core.db.set_quota(namespace, bytes, by).await?;
    crate::audit::record(
        core,
        "quota.set",
        Some(by),
        Some(namespace),
        json!({ "bytes": bytes }),
    )
    .await
}

/// The whole server's storage, for `/metrics` (no namespace named).
#[derive(Debug, Clone, Copy, Default)]
pub struct Totals {
    /// Objects stored and their bytes (each once).
    pub objects: u64,
    pub bytes: u64,
    /// Bytes of Xet xorbs, and of the files they make (the dedup ratio is the second over the
    /// first).
    pub xet_stored: u64,
    pub xet_files: u64,
    /// Namespaces holding at least 90 % of their quota.
    pub near_quota: u64,
}

pub async fn totals(core: &Core) -> Result<Totals> {
    let (objects, bytes) = core.db.stored_totals().await?;
    let (xet_stored, xet_files) = core.db.xet_totals().await?;
    let default = core.settings.quota_bytes;
    let near_quota = core
        .db
        .namespaces_usage()
        .await?
        .into_iter()
        .filter(|(_, used, set)| {
            let quota = set.map_or(default, |q| q.max(0) as u64);
            quota > 0 && (*used).max(0) as u128 * 10 >= quota as u128 * 9
        })
        .count() as u64;
    Ok(Totals {
        objects: objects.max(0) as u64,
        bytes: bytes.max(0) as u64,
        xet_stored: xet_stored.max(0) as u64,
        xet_files: xet_files.max(0) as u64,
        near_quota,
    })
}
