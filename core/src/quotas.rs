//! Quotas and usage. A namespace — a user's own datasets, or an organisation's — holds at most its
//! quota of stored bytes: the one a site admin set for it (`PUT /api/v1/namespaces/{ns}/quota`,
//! `strata admin quota`), or else `--quota-bytes` (0: none). Usage counts unique bytes: an object
//! linked to several datasets of the namespace counts once, and one the namespace holds already
//! adds nothing. A write that would take a namespace past its quota is refused before any byte is
//! stored: per object in the LFS batch API (507, as the LFS spec allows), and 507 on the other
//! write paths (browser uploads, the S3 gateway). Views and governed rewrites strata makes itself
//! are not counted against anyone.

use serde::Serialize;
use serde_json::json;
use strata_lfs::Oid;

use crate::db::{Repo, User};
use crate::error::{Error, Kind, Result};
use crate::Core;

/// A namespace's usage.
#[derive(Debug, Clone, Serialize)]
pub struct Usage {
    pub namespace: String,
    /// Unique stored bytes.
    pub used: u64,
    /// The quota (`None`: no limit).
    pub quota: Option<u64>,
    /// Each dataset and its objects' bytes (an object shared by two counts in both).
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
    let allowed = viewer.admin()
        || viewer.username.eq_ignore_ascii_case(namespace)
        || match core.db.org_by_name(namespace).await? {
            Some(org) => core.db.org_role(org.id, viewer.id).await?.is_some(),
            None => false,
        };
    if !allowed {
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

/// Which of `objects` (to be added to `repo`, in order) fit its namespace's quota: for each, `Ok`
/// or the reason it does not. Objects the namespace holds already always fit.
pub async fn admit(
    core: &Core,
    repo: &Repo,
    objects: &[(Oid, u64)],
) -> Result<Vec<Result<(), String>>> {
    let Some(quota) = quota_of(core, &repo.namespace).await? else {
        return Ok(objects.iter().map(|_| Ok(())).collect());
    };
    let mut used = core.db.namespace_bytes(&repo.namespace).await?.max(0) as u64;
    let mut out = Vec::with_capacity(objects.len());
    let mut seen = std::collections::HashSet::new();
    for (oid, size) in objects {
        if !seen.insert(*oid) || core.db.in_namespace(&repo.namespace, oid).await? {
            out.push(Ok(()));
            continue;
        }
        if used.saturating_add(*size) > quota {
            out.push(Err(over(&repo.namespace, used, quota, *size)));
            continue;
        }
        used += size;
        out.push(Ok(()));
    }
    Ok(out)
}

/// Refuses `size` new bytes (`oid` when known) in `repo`'s namespace past its quota (507).
pub async fn check(core: &Core, repo: &Repo, oid: Option<&Oid>, size: u64) -> Result<()> {
    let Some(quota) = quota_of(core, &repo.namespace).await? else {
        return Ok(());
    };
    if let Some(oid) = oid {
        if core.db.in_namespace(&repo.namespace, oid).await? {
            return Ok(());
        }
    }
    let used = core.db.namespace_bytes(&repo.namespace).await?.max(0) as u64;
    if used.saturating_add(size) > quota {
        return Err(Error::new(
            Kind::Quota,
            over(&repo.namespace, used, quota, size),
        ));
    }
    Ok(())
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
    let bytes = bytes.map(|b| i64::try_from(b).unwrap_or(i64::MAX));
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
    /// Namespaces holding at least 90 % of their quota.
    pub near_quota: u64,
}

pub async fn totals(core: &Core) -> Result<Totals> {
    let (objects, bytes) = core.db.stored_totals().await?;
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
        near_quota,
    })
}
