//! Erasure that can be proven: files (or folders) removed from a dataset's whole history.
//!
//! Every revision any ref reaches is rewritten without them (`Metastore::rewrite_history`: the
//! same authors, times and messages; the datapackage's resources for them and their
//! `.gitattributes` lines go too) and every ref moves. The objects only they reached are erased:
//! unlinked and recorded (a signed URL or download naming one answers 410), their table views
//! and residency copies deleted, their bytes deleted (kept only while another dataset links the
//! same bytes, which the report says). The repository's old objects are pruned (reflogs expired,
//! `git gc --prune=now`). Under encryption every surviving object is sealed again under a new
//! data-key version and the older versions are destroyed, so no ciphertext left anywhere can be
//! opened. The report lists the revisions rewritten, refs moved, objects removed and key versions
//! destroyed. Clones and fetches made before cannot be reached: the report says so.

use std::collections::HashSet;

use serde::Serialize;
use serde_json::{json, Value};
use strata_lfs::Oid;
use strata_metastore::{check_path, DatasetId, Edit, DATAPACKAGE, GITATTRIBUTES, LFSCONFIG};

use crate::error::{Error, Result};
use crate::storage::Rekeyed;
use crate::Core;

/// The most paths one erasure takes.
pub const MAX_PATHS: usize = 100;

/// What an erasure did.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub dataset: String,
    pub paths: Vec<String>,
    /// Revisions rewritten (old id, new id), and refs moved (name, from, to).
    pub revisions_rewritten: Vec<(String, String)>,
    pub refs_moved: Vec<(String, String, String)>,
    pub objects_removed: Vec<Removed>,
    /// Table views and residency copies deleted with them.
    pub derived_removed: usize,
    /// Under encryption: the key version everything is sealed under now, how many objects were
    /// sealed again, and the versions destroyed.
    pub keys: Option<Rekeyed>,
    /// Whether the repository's old objects were pruned.
    pub history_pruned: bool,
    pub not_reached: &'static str,
}

/// An object erased.
#[derive(Debug, Clone, Serialize)]
pub struct Removed {
    pub oid: String,
    pub size: u64,
    /// Whether its bytes were deleted; `false` when other datasets link the same bytes
    /// (`linked_elsewhere` of them), which keep them.
    pub bytes_deleted: bool,
    pub linked_elsewhere: i64,
}

const NOT_REACHED: &str = "clones, fetches and downloads made before the erasure still hold what \
    they copied; strata cannot reach them. Commit messages are kept as they were.";

/// Erases `paths` (files, or folders and all in them) from the whole history of dataset
/// `ns/name`, for a site admin or the operator (`by`).
pub async fn erase(
    core: &Core,
    by: &str,
    ns: &str,
    name: &str,
    paths: &[String],
) -> Result<Report> {
    let paths = check(paths)?;
    let repo = core
        .db
        .repo_by_path(ns, name)
        .await?
        .ok_or_else(|| Error::not_found(format!("dataset {ns}/{name} not found")))?;
    let reached = || {
        let (ns, name) = (repo.namespace.clone(), repo.name.clone());
        crate::datasets::git(core, move |ms| {
            ms.reached(
                DatasetId {
                    ns: &ns,
                    name: &name,
                },
                None,
            )
        })
    };
    let before = reached().await?;
    let rewritten = {
        let (ns, name, erased) = (repo.namespace.clone(), repo.name.clone(), paths.clone());
        crate::datasets::git(core, move |ms| {
            let hit = |p: &str| {
                erased
                    .iter()
                    .any(|e| p == e || p.starts_with(&format!("{e}/")))
            };
            let wants = |p: &str| hit(p) || p == DATAPACKAGE || p == GITATTRIBUTES;
            let mut edit = |p: &str, data: &[u8]| -> strata_metastore::Result<Edit> {
                Ok(match p {
                    DATAPACKAGE => package_without(data, &hit),
                    GITATTRIBUTES => attributes_without(data, &hit),
                    _ => Edit::Drop,
                })
            };
            ms.rewrite_history(
                DatasetId {
                    ns: &ns,
                    name: &name,
                },
                &wants,
                &mut edit,
            )
        })
        .await?
    };
    let after = reached().await?;
    let gone: Vec<(Oid, u64)> = before
        .objects
        .iter()
        .filter(|(oid, _)| !after.objects.contains_key(oid))
        .map(|(o, s)| (*o, *s))
        .collect();
    let oids: Vec<String> = gone.iter().map(|(o, _)| o.to_string()).collect();
    let derived = core.db.erase_links(repo.id, &oids).await?;
    for (oid, store) in &derived {
        core.storage
            .delete_derived(repo.id, oid, store.as_deref())
            .await?;
    }
    let mut removed = Vec::new();
    for (oid, size) in gone {
        let text = oid.to_string();
        if core.storage.sealed() {
            core.storage.delete_bytes(repo.id, &oid).await?;
        }
        let elsewhere = core.db.links_of(&text).await?;
        let deleted = elsewhere == 0 && core.db.erase_object(&text).await?;
        if deleted {
            core.storage.delete_bytes(0, &oid).await?;
            core.db.gc_deleted(0, &text).await?;
        }
        removed.push(Removed {
            oid: text,
            size,
            bytes_deleted: deleted || (core.storage.sealed() && elsewhere == 0),
            linked_elsewhere: elsewhere,
        });
    }
    removed.sort_by(|a, b| a.oid.cmp(&b.oid));
    let history_pruned = prune(core, &repo.namespace, &repo.name).await;
    let keys = core.storage.rekey(repo.id).await?;
    let report = Report {
        dataset: repo.path(),
        paths,
        revisions_rewritten: rewritten.revisions,
        refs_moved: rewritten.refs,
        objects_removed: removed,
        derived_removed: derived.len(),
        keys,
        history_pruned,
        not_reached: NOT_REACHED,
    };
    crate::audit::record(
        core,
        "dataset.erase",
        Some(by),
        Some(&report.dataset),
        json!({
            "paths": report.paths,
            "revisions_rewritten": report.revisions_rewritten.len(),
            "refs_moved": report.refs_moved.len(),
            "objects_removed": report.objects_removed.iter().map(|r| &r.oid).collect::<Vec<_>>(),
            "key_versions_destroyed": report.keys.as_ref().map(|k| k.destroyed.clone()),
        }),
    )
    .await?;
    Ok(report)
}

/// The paths, checked: relative, not the server's own files, at most [`MAX_PATHS`].
fn check(paths: &[String]) -> Result<Vec<String>> {
    if paths.is_empty() || paths.len() > MAX_PATHS {
        return Err(Error::unprocessable(format!(
            "name 1 to {MAX_PATHS} paths to erase"
        )));
    }
    let mut out = Vec::new();
    for p in paths {
        let p = p.trim_end_matches('/');
        check_path(p).map_err(Error::unprocessable)?;
        if [DATAPACKAGE, GITATTRIBUTES, LFSCONFIG].contains(&p) {
            return Err(Error::unprocessable(format!(
                "{p} is strata's own file and cannot be erased: erase the files it names"
            )));
        }
        out.push(p.to_owned());
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The datapackage without the resources whose path is erased (unchanged when none is).
fn package_without(data: &[u8], hit: &dyn Fn(&str) -> bool) -> Edit {
    let Ok(mut value) = serde_json::from_slice::<Value>(data) else {
        return Edit::Keep;
    };
    let Some(resources) = value.get_mut("resources").and_then(Value::as_array_mut) else {
        return Edit::Keep;
    };
    let before = resources.len();
    resources.retain(|r| {
        let erased = |v: &Value| v.as_str().is_some_and(hit);
        match r.get("path") {
            Some(Value::Array(parts)) => !parts.iter().any(erased),
            Some(p) => !erased(p),
            None => true,
        }
    });
    if resources.len() == before {
        return Edit::Keep;
    }
    let mut text = serde_json::to_vec_pretty(&value).unwrap_or_default();
    text.push(b'\n');
    Edit::Replace(text)
}

/// `.gitattributes` without the lines naming an erased path (their names may say too much).
fn attributes_without(data: &[u8], hit: &dyn Fn(&str) -> bool) -> Edit {
    let text = String::from_utf8_lossy(data);
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| {
            let pattern = l.split_whitespace().next().unwrap_or("");
            !hit(pattern.trim_start_matches('/'))
        })
        .collect();
    if kept.len() == text.lines().count() {
        return Edit::Keep;
    }
    let mut out = kept.join("\n");
    out.push('\n');
    Edit::Replace(out.into_bytes())
}

/// Expires the repository's reflogs and prunes every object no ref reaches; whether it worked.
async fn prune(core: &Core, ns: &str, name: &str) -> bool {
    let Ok(path) = core.metastore.repo_path(DatasetId { ns, name }) else {
        return false;
    };
    for args in [
        &[
            "reflog",
            "expire",
            "--expire=now",
            "--expire-unreachable=now",
            "--all",
        ][..],
        &["-c", "gc.autoDetach=false", "gc", "--prune=now", "--quiet"][..],
    ] {
        let mut git = tokio::process::Command::new("git");
        git.arg("-C").arg(&path).args(args);
        let done = match core.children.spawn(&mut git) {
            Ok(mut group) => group.wait().await,
            Err(e) => Err(e),
        };
        if !done.is_ok_and(|s| s.success()) {
            tracing::warn!(repo = %path.display(), ?args, "pruning after an erasure failed");
            return false;
        }
    }
    true
}

/// Of `oids`, those erased from dataset `repo_id` (their downloads answer 410).
pub async fn erased(core: &Core, repo_id: i64, oids: &[Oid]) -> Result<HashSet<Oid>> {
    let list: Vec<String> = oids.iter().map(Oid::to_string).collect();
    Ok(core
        .db
        .erased(repo_id, &list)
        .await?
        .into_iter()
        .filter_map(|o| o.parse().ok())
        .collect())
}
